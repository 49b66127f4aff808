/*
 * mem.c - the region table: the only code that turns the other side's
 * addresses into host pointers.
 *
 * Every check against a peer's address happens here, once: that the range
 * does not wrap past 2^64, that every byte of it lies in some region, and
 * (when the range spans regions) that the regions are adjacent. The table
 * is kept sorted by address so a lookup is a binary search; regions never
 * overlap, which add() enforces.
 *
 * Arithmetic convention: a range is [addr, addr + len) with len > 0, and
 * its last byte is addr + len - 1. We compare last bytes rather than
 * end addresses so that a region ending exactly at 2^64 is representable.
 */
#include "vio/mem.h"

#include "../vio_libc.h"

void vio_mem_init(struct vio_mem *m, struct vio_mem_region *table, unsigned cap)
{
	m->regions = table;
	m->n = 0;
	m->cap = table ? cap : 0;
	m->log = NULL;
	m->log_pages = 0;
}

/* Index of the region containing `addr`, or -1. */
static int find(const struct vio_mem *m, uint64_t addr)
{
	unsigned lo = 0, hi = m->n;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct vio_mem_region *r = &m->regions[mid];

		if (addr < r->addr)
			hi = mid;
		else if (addr - r->addr >= r->size)
			lo = mid + 1;
		else
			return (int)mid;
	}
	return -1;
}

int vio_mem_add(struct vio_mem *m, uint64_t addr, uint64_t size, void *host)
{
	uint64_t last;
	unsigned i;

	if (size == 0 || host == NULL)
		return -EINVAL;
	if (addr + (size - 1) < addr)
		return -EINVAL;                 /* wraps past 2^64 */
	if ((uintptr_t)host + (uintptr_t)(size - 1) < (uintptr_t)host ||
	    size - 1 > (uint64_t)UINTPTR_MAX)
		return -EINVAL;                 /* not addressable here */
	last = addr + (size - 1);

	/* Find the insertion point and check both neighbours for overlap. */
	for (i = 0; i < m->n && m->regions[i].addr < addr; i++)
		;
	if (i > 0) {
		const struct vio_mem_region *p = &m->regions[i - 1];
		if (p->addr + (p->size - 1) >= addr)
			return -EEXIST;
	}
	if (i < m->n && m->regions[i].addr <= last)
		return -EEXIST;
	if (m->n >= m->cap)
		return -ENOSPC;

	memmove(&m->regions[i + 1], &m->regions[i], (m->n - i) * sizeof(m->regions[0]));
	m->regions[i].addr = addr;
	m->regions[i].size = size;
	m->regions[i].host = host;
	m->n++;
	return 0;
}

int vio_mem_remove(struct vio_mem *m, uint64_t addr, uint64_t size)
{
	int i = find(m, addr);

	if (i < 0 || m->regions[i].addr != addr || m->regions[i].size != size)
		return -ENOENT;
	memmove(&m->regions[i], &m->regions[i + 1], (m->n - (unsigned)i - 1) * sizeof(m->regions[0]));
	m->n--;
	return 0;
}

void vio_mem_clear(struct vio_mem *m)
{
	m->n = 0;
}

int vio_mem_translate(const struct vio_mem *m, uint64_t addr, uint64_t len,
		      struct vio_iov *iov, unsigned cap, unsigned *n)
{
	unsigned k = 0;
	int i;

	*n = 0;
	if (len == 0)
		return 0;
	if (addr + (len - 1) < addr)
		return -EOVERFLOW;

	i = find(m, addr);
	if (i < 0)
		return -EFAULT;
	for (;;) {
		const struct vio_mem_region *r = &m->regions[i];
		uint64_t off = addr - r->addr;
		uint64_t chunk = r->size - off;

		if (chunk > len)
			chunk = len;
		if (k == cap)
			return -ENOBUFS;
		iov[k].base = (uint8_t *)r->host + off;
		iov[k].len = (size_t)chunk;
		k++;
		len -= chunk;
		if (len == 0)
			break;
		/* The rest must start exactly where this region ends. */
		addr += chunk;
		if ((unsigned)i + 1 >= m->n || m->regions[i + 1].addr != addr)
			return -EFAULT;
		i++;
	}
	*n = k;
	return 0;
}

int vio__mem_translate_slow(const struct vio_mem *m, unsigned *hint, uint64_t addr, uint64_t len,
			    struct vio_iov *iov, unsigned cap, unsigned *n)
{
	int r = vio_mem_translate(m, addr, len, iov, cap, n);

	if (r == 0 && len != 0)
		*hint = (unsigned)find(m, addr);
	return r;
}

void *vio_mem_ptr(const struct vio_mem *m, uint64_t addr, uint64_t len)
{
	const struct vio_mem_region *r;
	int i;

	if (len == 0 || addr + (len - 1) < addr)
		return NULL;
	i = find(m, addr);
	if (i < 0)
		return NULL;
	r = &m->regions[i];
	if (len - 1 > r->size - 1 - (addr - r->addr))
		return NULL;                    /* runs past the region's end */
	return (uint8_t *)r->host + (addr - r->addr);
}

int vio_mem_check(const struct vio_mem *m, uint64_t addr, uint64_t len)
{
	int i;

	if (len == 0)
		return 0;
	if (addr + (len - 1) < addr)
		return -EOVERFLOW;
	i = find(m, addr);
	if (i < 0)
		return -EFAULT;
	for (;;) {
		const struct vio_mem_region *r = &m->regions[i];
		uint64_t chunk = r->size - (addr - r->addr);

		if (chunk >= len)
			return 0;
		len -= chunk;
		addr += chunk;
		if ((unsigned)i + 1 >= m->n || m->regions[i + 1].addr != addr)
			return -EFAULT;
		i++;
	}
}

/* Copies between buf and [addr, addr+len), region by region, after
 * checking the whole range so that a failing copy touches nothing. */
static int copy(const struct vio_mem *m, uint64_t addr, void *buf, size_t len, bool to_mem)
{
	uint8_t *p = buf;
	int i, r;

	r = vio_mem_check(m, addr, len);
	if (r || len == 0)
		return r;
	i = find(m, addr);
	while (len) {
		const struct vio_mem_region *reg = &m->regions[i];
		uint64_t off = addr - reg->addr;
		size_t chunk = reg->size - off < len ? (size_t)(reg->size - off) : len;

		if (to_mem)
			memcpy((uint8_t *)reg->host + off, p, chunk);
		else
			memcpy(p, (uint8_t *)reg->host + off, chunk);
		p += chunk;
		addr += chunk;
		len -= chunk;
		i++;
	}
	return 0;
}

int vio_mem_read(const struct vio_mem *m, uint64_t addr, void *dst, size_t len)
{
	return copy(m, addr, dst, len, false);
}

int vio_mem_write(const struct vio_mem *m, uint64_t addr, const void *src, size_t len)
{
	int r = copy(m, addr, (void *)src, len, true);

	/* After the copy: the log's owner may read and clear the bits at any
	 * moment, and a page marked before it changed could be sent before
	 * the change and never again. */
	if (r == 0)
		vio_mem_log_write(m, addr, len);
	return r;
}

static size_t iov_copy(const struct vio_iov *iov, unsigned n, size_t off,
		       uint8_t *buf, size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t chunk;

		if (off >= iov[i].len) {
			off -= iov[i].len;
			continue;
		}
		chunk = iov[i].len - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_iov)
			memcpy((uint8_t *)iov[i].base + off, buf + done, chunk);
		else
			memcpy(buf + done, (uint8_t *)iov[i].base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t vio_iov_to_buf(const struct vio_iov *iov, unsigned n, size_t off, void *dst, size_t len)
{
	return iov_copy(iov, n, off, dst, len, false);
}

size_t vio_iov_from_buf(const struct vio_iov *iov, unsigned n, size_t off, const void *src, size_t len)
{
	return iov_copy(iov, n, off, (uint8_t *)src, len, true);
}

size_t vio_iov_length(const struct vio_iov *iov, unsigned n)
{
	size_t total = 0;

	for (unsigned i = 0; i < n; i++)
		total += iov[i].len;
	return total;
}

/* ------------------------------------------------------------------------ */
/* Dirty log                                                                */

uint64_t vio_mem_end(const struct vio_mem *m)
{
	const struct vio_mem_region *r;

	if (m->n == 0)
		return 0;
	r = &m->regions[m->n - 1];      /* sorted: the last ends highest */
	/* A region ending at 2^64 cannot be said in 64 bits: UINT64_MAX is
	 * as good, no log is that large. */
	return r->addr + (r->size - 1) == UINT64_MAX ? UINT64_MAX : r->addr + r->size;
}

int vio_mem_log_set(struct vio_mem *m, void *bitmap, uint64_t bytes)
{
	if (!bitmap) {
		m->log = NULL;
		m->log_pages = 0;
		return 0;
	}
	if (bytes == 0 || bytes > UINT64_MAX / 8)
		return -EINVAL;
	if (bytes < vio_mem_log_bytes_for(vio_mem_end(m)))
		return -ENOSPC;
	m->log = bitmap;
	m->log_pages = bytes * 8;
	return 0;
}

/* Sets the bits of pages first..last (inclusive), clipped to the bitmap.
 * fetch_or, not a plain store: the VMM clears bits in the same bytes
 * while we set others. Whole bytes in the middle take one operation. */
static void mark_pages(uint8_t *log, uint64_t npages, uint64_t first, uint64_t last)
{
	/* npages < 2^64, so first + 8 cannot wrap below. */
	if (first >= npages)
		return;
	if (last >= npages)
		last = npages - 1;
	while (first <= last) {
		uint64_t byte = first / 8;
		unsigned bit = (unsigned)(first % 8);
		uint64_t n = last - first + 1;
		uint8_t mask;

		if (bit == 0 && n >= 8) {
			mask = 0xff;
			first += 8;
		} else {
			unsigned k = 8 - bit < n ? 8 - bit : (unsigned)n;

			mask = (uint8_t)(((1u << k) - 1) << bit);
			first += k;
		}
		/* Relaxed: the bits carry no other data; whoever reads the
		 * log synchronises with us through the vhost-user protocol
		 * (the rings are stopped before the last read). */
		__atomic_fetch_or(&log[byte], mask, __ATOMIC_RELAXED);
	}
}

void vio__mem_log_range(const struct vio_mem *m, uint64_t addr, uint64_t len)
{
	uint64_t last;

	if (len == 0)
		return;
	last = addr + (len - 1);
	if (last < addr)
		last = UINT64_MAX;
	mark_pages(m->log, m->log_pages, addr / VIO_MEM_LOG_PAGE, last / VIO_MEM_LOG_PAGE);
}

void vio__mem_log_host(const struct vio_mem *m, const void *p, size_t len)
{
	uintptr_t hp = (uintptr_t)p;

	/* Regions are sorted by address, not by host pointer, and there are
	 * few: a scan. Only with logging on. */
	while (len) {
		unsigned i;

		for (i = 0; i < m->n; i++) {
			const struct vio_mem_region *r = &m->regions[i];
			uintptr_t off = hp - (uintptr_t)r->host;

			if (hp >= (uintptr_t)r->host && off <= r->size - 1) {
				size_t chunk = r->size - off < len ? (size_t)(r->size - off) : len;

				vio__mem_log_range(m, r->addr + off, chunk);
				hp += chunk;
				len -= chunk;
				break;
			}
		}
		if (i == m->n)
			return;         /* not ours: nothing to log */
	}
}

void vio_mem_log_iov(const struct vio_mem *m, const struct vio_iov *iov, unsigned n, size_t len)
{
	if (!m->log)
		return;
	for (unsigned i = 0; i < n && len; i++) {
		size_t chunk = iov[i].len < len ? iov[i].len : len;

		vio__mem_log_host(m, iov[i].base, chunk);
		len -= chunk;
	}
}

void vio_mem_log_all(const struct vio_mem *m)
{
	if (!m->log)
		return;
	for (unsigned i = 0; i < m->n; i++)
		vio__mem_log_range(m, m->regions[i].addr, m->regions[i].size);
}
