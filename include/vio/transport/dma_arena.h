/*
 * vio/transport/dma_arena.h - the DMA memory of a driver-side transport,
 * carved up for vio_drv_dma_alloc(). Private to the transports: it is in a
 * public header only because struct vio_loopback and struct
 * vio_vu_frontend hold one.
 *
 * One block of memory the device can address (the loopback arena, the
 * vhost-user frontend's memfd) at a device address of the transport's
 * choosing. Allocation is deliberately simple, a bitmap of 64-byte chunks
 * searched first fit: it serves the control path (rings, request slots,
 * buffers set up once), never the data path. The bitmap lives outside the
 * memory, where the device cannot reach it. Not thread-safe: the
 * transport serialises (loopback: under its lock; the vhost-user
 * frontend: on the driver's thread).
 */
#ifndef VIO_TRANSPORT_DMA_ARENA_H
#define VIO_TRANSPORT_DMA_ARENA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VIO__DMA_CHUNK 64u

struct vio__dma_arena {
	uint8_t *base;                  /* host address of the memory */
	size_t len;                     /* a multiple of VIO__DMA_CHUNK */
	uint64_t dev_base;              /* the device address of base */
	size_t max_align;               /* largest alignment granted */
	uint64_t *map;                  /* one bit per chunk in use */
	size_t chunks;
};

/* Takes [base, base + len) (len rounded down to whole chunks; base aligned
 * to at least max_align) at device address dev_base. 0 or -ENOMEM.
 * Context (init and fini): before any other use of a, and after the last. */
int vio__dma_arena_init(struct vio__dma_arena *a, void *base, size_t len, uint64_t dev_base,
			size_t max_align);
void vio__dma_arena_fini(struct vio__dma_arena *a);

/* size bytes (zeroed) aligned to align (a power of two up to max_align),
 * their device address in *dma; NULL when it does not fit or the request
 * is not one the arena grants. Context: serialised with every other alloc
 * and free on a. */
void *vio__dma_arena_alloc(struct vio__dma_arena *a, size_t size, size_t align, uint64_t *dma);

/* Gives back what alloc returned; a pointer that is not the start of a
 * chunk in the arena, or a size reaching past it, changes nothing.
 * Context: as alloc. */
void vio__dma_arena_free(struct vio__dma_arena *a, void *p, size_t size);

/* The device address of p, or UINT64_MAX when p is not in the arena.
 * Context: any thread (it reads only what init set). */
uint64_t vio__dma_arena_addr(const struct vio__dma_arena *a, const void *p);

#ifdef __cplusplus
}
#endif

#endif /* VIO_TRANSPORT_DMA_ARENA_H */
