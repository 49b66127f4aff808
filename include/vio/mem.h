/*
 * vio/mem.h - the one place where the other side's addresses become pointers.
 *
 * A device reads and writes driver memory by address: guest-physical
 * addresses under a VMM, offsets into shared memfd regions over vhost-user.
 * A vio_mem holds a table of regions (address, size, host pointer) and turns
 * (address, length) into host spans, refusing anything that is not wholly
 * inside the regions: holes, ranges that wrap past 2^64, zero-sized or
 * overlapping regions. A range may cross from one region into the next
 * adjacent one; translate() then returns several spans.
 *
 * No other code in libvio turns an address from a peer into a pointer.
 *
 * The table is caller-allocated (vio_mem_init takes the array) and kept
 * sorted by address, so lookups are a binary search. Readers may run on
 * several threads at once; changing the table (add/remove) must not race
 * with readers: the caller stops the queues first, as vhost-user requires.
 *
 * Dirty logging (live migration): a vio_mem may carry a log, a bitmap with
 * one bit per 4 KiB page of the other side's address space (bit k of byte
 * k / 8 for page k, as vhost-user's LOG_SHMFD log is laid out). While one
 * is set, vio_mem_write() marks the pages it wrote, and the device side of
 * the ring marks what it writes into rings and buffers (ring.h); a device
 * that writes guest memory some other way marks it with
 * vio_mem_log_write(). Bits are only ever set, atomically: the owner of the
 * log (the VMM) reads and clears them while we write. Without a log the
 * cost is one test of a pointer.
 */
#ifndef VIO_MEM_H
#define VIO_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One host span. Same layout as POSIX struct iovec (checked where used). */
struct vio_iov {
	void *base;
	size_t len;
};

struct vio_mem_region {
	uint64_t addr;  /* first address, in the other side's address space */
	uint64_t size;  /* bytes, > 0 */
	void *host;     /* where those bytes are mapped here */
};

struct vio_mem {
	/* private: use the functions below */
	struct vio_mem_region *regions; /* sorted by addr, no overlaps */
	unsigned n;
	unsigned cap;
	uint8_t *log;           /* dirty bitmap, NULL: not logging */
	uint64_t log_pages;     /* pages the bitmap covers (8 per byte) */
};

/* Page size of the dirty log: one bit stands for this many bytes. */
#define VIO_MEM_LOG_PAGE 4096u

/* Starts an empty table that can hold up to `cap` regions in `table`. */
void vio_mem_init(struct vio_mem *m, struct vio_mem_region *table, unsigned cap);

/*
 * Adds a region. Errors: -EINVAL for size 0, a NULL host pointer, or a range
 * that wraps (addr + size - 1 past 2^64, or host + size past the address
 * space); -EEXIST when it overlaps a region already in the table; -ENOSPC
 * when the table is full.
 */
int vio_mem_add(struct vio_mem *m, uint64_t addr, uint64_t size, void *host);

/* Removes the region that starts at `addr` and has `size` bytes: -ENOENT if
 * there is none. */
int vio_mem_remove(struct vio_mem *m, uint64_t addr, uint64_t size);

/* Removes every region. */
void vio_mem_clear(struct vio_mem *m);

static inline unsigned vio_mem_count(const struct vio_mem *m) { return m->n; }
static inline const struct vio_mem_region *vio_mem_region_at(const struct vio_mem *m, unsigned i)
{
	return i < m->n ? &m->regions[i] : NULL;
}

/*
 * Turns [addr, addr+len) into host spans, one per region crossed, written to
 * iov[0..*n). len == 0 succeeds with *n == 0. Errors: -EOVERFLOW when
 * addr + len wraps past 2^64; -EFAULT when any byte lies outside every
 * region; -ENOBUFS when more than `cap` spans would be needed. On error
 * *n is 0 and nothing useful is in iov.
 */
int vio_mem_translate(const struct vio_mem *m, uint64_t addr, uint64_t len,
		      struct vio_iov *iov, unsigned cap, unsigned *n);

int vio__mem_translate_slow(const struct vio_mem *m, unsigned *hint, uint64_t addr, uint64_t len,
			    struct vio_iov *iov, unsigned cap, unsigned *n);

/*
 * vio_mem_translate() for a caller that translates many addresses in the
 * same region (a queue walking its buffers): *hint, any value at first and
 * private to one thread, remembers the region of the last translation, and
 * a range inside that region costs a few instructions instead of a search.
 * Results and errors are exactly vio_mem_translate()'s.
 */
static inline int vio_mem_translate_hint(const struct vio_mem *m, unsigned *hint, uint64_t addr,
					 uint64_t len, struct vio_iov *iov, unsigned cap,
					 unsigned *n)
{
	if (*hint < m->n && len != 0 && cap != 0) {
		const struct vio_mem_region *r = &m->regions[*hint];
		uint64_t off = addr - r->addr;  /* wraps huge when addr < r->addr */

		if (off < r->size && len <= r->size - off) {
			iov->base = (uint8_t *)r->host + off;
			iov->len = (size_t)len;
			*n = 1;
			return 0;
		}
	}
	return vio__mem_translate_slow(m, hint, addr, len, iov, cap, n);
}

/*
 * The host pointer for [addr, addr+len) when it lies inside one region, or
 * NULL (hole, wrap, or a range that crosses into another region). For ring
 * areas, which must be contiguous here. len must be > 0.
 */
void *vio_mem_ptr(const struct vio_mem *m, uint64_t addr, uint64_t len);

/* Is all of [addr, addr+len) inside the regions (any number of adjacent
 * ones)? 0, -EFAULT or -EOVERFLOW; len 0 is always fine. */
int vio_mem_check(const struct vio_mem *m, uint64_t addr, uint64_t len);

/* Copy between a flat buffer and [addr, addr+len), across regions if need
 * be. The whole range is checked before a byte moves. Errors as
 * vio_mem_check. */
int vio_mem_read(const struct vio_mem *m, uint64_t addr, void *dst, size_t len);
int vio_mem_write(const struct vio_mem *m, uint64_t addr, const void *src, size_t len);

/* Copy between a flat buffer and an iovec array, starting `off` bytes into
 * the iovecs. Returns the number of bytes copied (short when the iovecs
 * end first). For devices filling or reading the spans a pop returned. */
size_t vio_iov_to_buf(const struct vio_iov *iov, unsigned n, size_t off, void *dst, size_t len);
size_t vio_iov_from_buf(const struct vio_iov *iov, unsigned n, size_t off, const void *src, size_t len);
size_t vio_iov_length(const struct vio_iov *iov, unsigned n);

/* ------------------------------------------------------------------------ */
/* Dirty log                                                                */

/* Bytes of bitmap needed to log every address below `end` (one past the
 * highest byte), rounded up to whole bytes: ceil(ceil(end / 4096) / 8). */
static inline uint64_t vio_mem_log_bytes_for(uint64_t end)
{
	uint64_t pages = end / VIO_MEM_LOG_PAGE + (end % VIO_MEM_LOG_PAGE != 0);

	return pages / 8 + (pages % 8 != 0);
}

/* One past the highest address of any region (0 for an empty table): the
 * address space a log must cover. */
uint64_t vio_mem_end(const struct vio_mem *m);

/*
 * Starts logging into `bitmap` of `bytes` bytes (it covers addresses below
 * bytes * 8 * 4096), or stops with bitmap NULL. The bitmap must stay
 * mapped until logging stops. Errors: -EINVAL for a bitmap of 0 bytes (or
 * more than 2^61); -ENOSPC when it is too small for the regions (vio_mem_end()).
 * Context: like add/remove, never while a queue uses the table.
 */
int vio_mem_log_set(struct vio_mem *m, void *bitmap, uint64_t bytes);

static inline bool vio_mem_logging(const struct vio_mem *m)
{
	return m->log != NULL;
}

void vio__mem_log_range(const struct vio_mem *m, uint64_t addr, uint64_t len);
void vio__mem_log_host(const struct vio_mem *m, const void *p, size_t len);

/*
 * Marks the pages of [addr, addr + len) dirty, if logging; pages past the
 * end of the bitmap are ignored (vio_mem_log_set() checked the regions, so
 * only a range outside them can go there). Any thread, any time the table
 * is not being changed.
 */
static inline void vio_mem_log_write(const struct vio_mem *m, uint64_t addr, uint64_t len)
{
	if (m->log)
		vio__mem_log_range(m, addr, len);
}

/* The same for host memory [p, p + len) inside the regions (a span a
 * translation returned): the pages of the addresses it stands for. Bytes
 * outside every region are ignored. */
static inline void vio_mem_log_host(const struct vio_mem *m, const void *p, size_t len)
{
	if (m->log)
		vio__mem_log_host(m, p, len);
}

/* Marks every region's pages (a write the caller cannot place). */
void vio_mem_log_all(const struct vio_mem *m);

/* Marks the first `len` bytes of the spans iov[0..n), in order. */
void vio_mem_log_iov(const struct vio_mem *m, const struct vio_iov *iov, unsigned n, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* VIO_MEM_H */
