/*
 * format.c - vio_format(), the printf subset libvio's log lines use.
 *
 * The core is freestanding (no libc but memcpy, memmove and memset), yet
 * drivers and device types say in their log lines which value they
 * refused and why. This is the one formatter they share: only what those
 * lines use (%s %c %d %u %x, l/ll/z, the # flag, %%), so it stays small
 * enough to read at a glance. gcc and clang check every call's arguments
 * against the format (VIO_PRINTF), as they would for snprintf.
 */
#include "vio/core.h"

/* Where the output goes: bytes past cap - 1 are counted, not stored. */
struct out {
	char *buf;
	size_t cap;
	size_t n;
};

static void put(struct out *o, char c)
{
	if (o->n + 1 < o->cap)
		o->buf[o->n] = c;
	o->n++;
}

static void put_str(struct out *o, const char *s)
{
	while (*s)
		put(o, *s++);
}

static void put_num(struct out *o, unsigned long long v, unsigned base, const char *prefix)
{
	char digits[24]; /* 2^64 - 1 has 20 decimal digits */
	unsigned n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	put_str(o, prefix);
	while (n)
		put(o, digits[--n]);
}

/* Length modifiers: none, l, ll or z. */
enum len { LEN_INT, LEN_LONG, LEN_LLONG, LEN_SIZE };

static unsigned long long get_unsigned(va_list *ap, enum len len)
{
	switch (len) {
	case LEN_LONG:
		return va_arg(*ap, unsigned long);
	case LEN_LLONG:
		return va_arg(*ap, unsigned long long);
	case LEN_SIZE:
		return va_arg(*ap, size_t);
	default:
		return va_arg(*ap, unsigned);
	}
}

static long long get_signed(va_list *ap, enum len len)
{
	switch (len) {
	case LEN_LONG:
		return va_arg(*ap, long);
	case LEN_LLONG:
		return va_arg(*ap, long long);
	case LEN_SIZE:
		return va_arg(*ap, __PTRDIFF_TYPE__); /* the signed size_t */
	default:
		return va_arg(*ap, int);
	}
}

size_t vio_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct out o = { buf, cap, 0 };
	va_list args;

	va_copy(args, ap);
	while (*fmt) {
		const char *start = fmt;
		bool alt = false;
		enum len len = LEN_INT;

		if (*fmt != '%') {
			put(&o, *fmt++);
			continue;
		}
		fmt++;
		if (*fmt == '#') {
			alt = true;
			fmt++;
		}
		if (*fmt == 'l') {
			len = LEN_LONG;
			if (*++fmt == 'l') {
				len = LEN_LLONG;
				fmt++;
			}
		} else if (*fmt == 'z') {
			len = LEN_SIZE;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(args, const char *);

			put_str(&o, s ? s : "(null)");
			break;
		}
		case 'c':
			put(&o, (char)va_arg(args, int));
			break;
		case 'd': {
			long long v = get_signed(&args, len);

			/* Negated in unsigned arithmetic: -LLONG_MIN does not fit. */
			if (v < 0)
				put_num(&o, 0ull - (unsigned long long)v, 10, "-");
			else
				put_num(&o, (unsigned long long)v, 10, "");
			break;
		}
		case 'u':
			put_num(&o, get_unsigned(&args, len), 10, "");
			break;
		case 'x': {
			unsigned long long v = get_unsigned(&args, len);

			put_num(&o, v, 16, alt && v ? "0x" : "");
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default:
			/* Not ours: copy it out as written (a lone '%' at the
			 * end included) and take no argument. */
			while (start < fmt)
				put(&o, *start++);
			if (!*fmt)
				continue;
			put(&o, *fmt);
			break;
		}
		fmt++;
	}
	va_end(args);
	if (cap)
		buf[o.n < cap ? o.n : cap - 1] = '\0';
	return o.n;
}

size_t vio_format(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vio_vformat(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

void vio_vlogf(vio_log_fn *fn, void *opaque, enum vio_log_level level, const char *prefix,
	       const char *fmt, va_list ap)
{
	char msg[VIO_LOG_LINE_MAX];
	size_t n = 0;

	if (!fn)
		return;
	if (prefix) {
		n = vio_format(msg, sizeof(msg), "%s", prefix);
		if (n >= sizeof(msg))
			n = sizeof(msg) - 1;
	}
	vio_vformat(msg + n, sizeof(msg) - n, fmt, ap);
	fn(opaque, level, msg);
}

void vio_logf(vio_log_fn *fn, void *opaque, enum vio_log_level level, const char *prefix,
	      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vio_vlogf(fn, opaque, level, prefix, fmt, ap);
	va_end(ap);
}
