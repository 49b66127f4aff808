/*
 * vio/devices/balloon.h - the memory balloon device (virtio id 5).
 *
 * The embedder (a VMM, a daemon, a test) sets a target with
 * vio_balloon_dev_set_target(); the driver then gives that many 4 KiB
 * pages of its memory to the device, which checks every frame number
 * against the driver's memory regions, remembers the page and releases
 * its backing with madvise(MADV_DONTNEED), so the host gets the memory
 * back. Pages the driver takes back (deflate) leave the set; touching them
 * again faults in fresh zeroed memory. With STATS_VQ the device keeps the
 * driver's last memory statistics and asks for new ones on request.
 *
 * A freestanding build (no OS) has no madvise: pages are only recorded
 * (released_bytes stays 0) and the inflate hook is where memory goes
 * back; it takes 4 KiB host pages, locks with a spinlock and needs the
 * allocator hooks of struct vio_balloon_dev_opts.
 *
 * Everything the driver sends is untrusted: a frame number outside its
 * memory is ignored and counted, a malformed buffer (writable parts, a
 * length that is not a whole number of entries) is returned unprocessed
 * and counted; nothing the driver does makes the device touch memory
 * outside the regions.
 *
 * The set of ballooned pages is a bitmap per memory region, allocated
 * when the driver sets DRIVER_OK (control path, never while processing
 * queues) and dropped on reset, when every page is the driver's again.
 *
 * Concurrency: the inflate and deflate queues share the page set, and a
 * transport may process them on different threads (vhost-user has a lock
 * per queue), so the device serialises its queues, its model ops and the
 * calls below with a lock of its own; the getters may be called from any
 * thread. Hooks run under that lock and must not call back into the
 * device. vio_balloon_dev_set_target() also writes config space, which the
 * transport reads under its control-plane lock: call it where the
 * transport allows device-side config changes (loopback: on the device's
 * thread, with no driver-side control call in progress).
 */
#ifndef VIO_DEVICES_BALLOON_H
#define VIO_DEVICES_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "vio/core.h"

/* The device's lock (private): a mutex where there is an OS to sleep on,
 * a spinlock in a freestanding build. */
#if __STDC_HOSTED__
#include <pthread.h>
typedef pthread_mutex_t vio__balloon_lock;
#else
typedef struct { int held; } vio__balloon_lock;
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The balloon feature bits the device implements. */
#define VIO_BALLOON_DEV_FEATURES (VIO_BIT(VIO_BALLOON_F_MUST_TELL_HOST) | \
				  VIO_BIT(VIO_BALLOON_F_STATS_VQ) | \
				  VIO_BIT(VIO_BALLOON_F_DEFLATE_ON_OOM))

/* iovec capacity per popped buffer: a longer chain is a ring error. */
#define VIO_BALLOON_DEV_SEGS 64

/*
 * Optional embedder hooks. `spans` is the page as host memory (more than
 * one span only when the page crosses from one region into the next).
 */
struct vio_balloon_dev_hooks {
	/* A page entered the balloon. Return 0 to have the device release
	 * it with madvise(MADV_DONTNEED) (right for private anonymous guest
	 * memory), or 1 when the hook dealt with the memory itself (e.g.
	 * punched a hole in a shared memfd, or wants to keep it). */
	int (*inflate)(void *opaque, uint32_t pfn, const struct vio_iov *spans, unsigned n);
	/* A page left the balloon: the driver may use it again. */
	void (*deflate)(void *opaque, uint32_t pfn, const struct vio_iov *spans, unsigned n);
	/* The driver wrote `actual`. */
	void (*actual)(void *opaque, uint32_t actual);
	/* A new statistics buffer arrived (read it with vio_balloon_dev_stats). */
	void (*stats)(void *opaque);
	void *opaque;
};

struct vio_balloon_dev_opts {
	/* Features to offer: balloon bits (a subset of
	 * VIO_BALLOON_DEV_FEATURES) and ring/transport bits (VERSION_1,
	 * EVENT_IDX, INDIRECT_DESC, RING_PACKED, ...). */
	uint64_t features;
	bool legacy_ok;             /* serve drivers without VERSION_1 */
	unsigned queue_size;        /* 0: 128 */
	struct vio_balloon_dev_hooks hooks;
	vio_log_fn *log;            /* optional: why a buffer was refused */
	void *log_opaque;
	/* Optional: memory for the page set (control path, at DRIVER_OK),
	 * both or neither; size is what was asked for. Without them calloc
	 * and free; a freestanding build has neither, so init fails with
	 * -EINVAL unless they are given. */
	void *(*alloc)(void *opaque, size_t size);
	void (*free)(void *opaque, void *p, size_t size);
	void *alloc_opaque;
};

/* What the driver did, for the embedder and for tests. */
struct vio_balloon_dev_counters {
	uint64_t inflated;          /* pages that entered the set */
	uint64_t deflated;          /* pages that left it */
	uint64_t released_bytes;    /* bytes given back with madvise */
	uint64_t bad_pfns;          /* frame numbers outside the driver's memory */
	uint64_t duplicate_pfns;    /* inflates of a page already in the set */
	uint64_t unknown_pfns;      /* deflates of a page not in the set */
	uint64_t bad_buffers;       /* malformed buffers returned unprocessed */
	uint64_t stats_buffers;     /* well-formed statistics buffers received */
};

/* The driver's last statistics. */
struct vio_balloon_stats {
	uint64_t val[VIO_BALLOON_S_NR];
	uint32_t present;           /* bit t set: val[t] came from the driver */
	uint64_t seq;               /* statistics buffers taken so far */
};

/* One region's slice of the ballooned-page set (private). */
struct vio__balloon_range {
	uint64_t first_pfn;         /* 64-bit: regions may lie above 2^44 */
	uint64_t npages;
	uint64_t bit;               /* index of its first bit in the bitmap */
};

struct vio_balloon_dev {
	struct vio_dev_model dev;         /* give this to a transport */

	/* private */
	vio__balloon_lock lock;     /* everything below, and the queues */
	struct vio__alloc alloc;
	struct vio_dev_queue queues[3];
	struct vio_balloon_config config;
	struct vio_balloon_dev_hooks hooks;
	uint32_t target;            /* num_pages as the device set it */
	uint32_t actual;            /* latched from the driver's writes */
	size_t host_page;           /* madvise granularity */
	struct vio__balloon_range *ranges;
	unsigned nranges, ranges_cap;
	uint64_t *bitmap;
	size_t bitmap_words;
	uint64_t pages;             /* pages in the set */
	struct vio_iov out[2][VIO_BALLOON_DEV_SEGS], in[2][VIO_BALLOON_DEV_SEGS];
	struct vio_iov stats_out[VIO_BALLOON_DEV_SEGS], stats_in[VIO_BALLOON_DEV_SEGS];
	struct vio_elem stats_elem; /* the held statistics buffer */
	bool stats_held;
	bool stats_first;           /* legacy: the first buffer is not initialised */
	struct vio_balloon_stats stats;
	struct vio_balloon_dev_counters counters;
};

/*
 * Sets up the device (vio_dev_init included); then hand &bd->dev to a
 * transport. Returns 0, or: -ENOTSUP for balloon feature bits it does not
 * implement; -EINVAL for opts NULL (there is no default feature set: the
 * caller picks the features to offer), a bad queue size or allocator
 * hooks (one without the other, or none in a freestanding build);
 * vio_dev_init()'s error.
 */
int vio_balloon_dev_init(struct vio_balloon_dev *bd, const struct vio_balloon_dev_opts *opts);
/* Frees the page set and the lock. The transport must be done with the
 * device. */
void vio_balloon_dev_fini(struct vio_balloon_dev *bd);

/*
 * Asks the driver to hold `pages` 4 KiB pages: num_pages changes, the
 * config generation moves and the driver gets a config interrupt.
 * -ERANGE (nothing changes) when pages does not fit the 32-bit field.
 */
int vio_balloon_dev_set_target(struct vio_balloon_dev *bd, uint64_t pages);
uint32_t vio_balloon_dev_target(struct vio_balloon_dev *bd);

/* What the driver last wrote to `actual` (it may differ from the set:
 * the driver reports, the device observes). */
uint32_t vio_balloon_dev_actual(struct vio_balloon_dev *bd);

/* Pages in the set, and the same in bytes (64-bit). */
uint64_t vio_balloon_dev_pages(struct vio_balloon_dev *bd);
uint64_t vio_balloon_dev_bytes(struct vio_balloon_dev *bd);

/* Is the page with this frame number in the balloon? */
bool vio_balloon_dev_has_page(struct vio_balloon_dev *bd, uint32_t pfn);

/* Copies the counters. */
void vio_balloon_dev_counters(struct vio_balloon_dev *bd, struct vio_balloon_dev_counters *out);

/*
 * Returns the held statistics buffer to the driver, asking it for fresh
 * statistics. -ENOTSUP without STATS_VQ negotiated, -EAGAIN when the
 * device holds no buffer (the driver has not answered the last request),
 * -EIO when the queue is not running.
 */
int vio_balloon_dev_request_stats(struct vio_balloon_dev *bd);

/* Copies the last statistics: 0, or -ENODATA when none arrived yet. */
int vio_balloon_dev_stats(struct vio_balloon_dev *bd, struct vio_balloon_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_BALLOON_H */
