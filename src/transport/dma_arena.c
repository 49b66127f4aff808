/*
 * dma_arena.c - the driver-side transports' DMA memory allocator (see
 * vio/transport/dma_arena.h): one bitmap of 64-byte chunks, first fit.
 * The loopback transport and the vhost-user frontend both use it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vio/transport/dma_arena.h"

#define CHUNK VIO__DMA_CHUNK

static int chunk_used(const struct vio__dma_arena *a, size_t i)
{
	return (a->map[i / 64] >> (i % 64)) & 1;
}

static void chunks_mark(struct vio__dma_arena *a, size_t first, size_t n, int used)
{
	for (size_t i = first; i < first + n; i++) {
		if (used)
			a->map[i / 64] |= UINT64_C(1) << (i % 64);
		else
			a->map[i / 64] &= ~(UINT64_C(1) << (i % 64));
	}
}

int vio__dma_arena_init(struct vio__dma_arena *a, void *base, size_t len, uint64_t dev_base,
			size_t max_align)
{
	memset(a, 0, sizeof(*a));
	a->chunks = len / CHUNK;
	a->map = calloc(a->chunks / 64 + 1, sizeof(uint64_t));
	if (!a->map)
		return -ENOMEM;
	a->base = base;
	a->len = a->chunks * CHUNK;
	a->dev_base = dev_base;
	a->max_align = max_align;
	return 0;
}

void vio__dma_arena_fini(struct vio__dma_arena *a)
{
	free(a->map);
	memset(a, 0, sizeof(*a));
}

void *vio__dma_arena_alloc(struct vio__dma_arena *a, size_t size, size_t align, uint64_t *dma)
{
	size_t n, step;

	if (!a->map || size == 0 || size > a->len || align == 0 || (align & (align - 1)) ||
	    align > a->max_align)
		return NULL;
	n = (size + CHUNK - 1) / CHUNK;
	step = align > CHUNK ? align / CHUNK : 1;
	for (size_t start = 0; start + n <= a->chunks; start += step) {
		size_t i = 0;

		while (i < n && !chunk_used(a, start + i))
			i++;
		if (i < n)
			continue;
		chunks_mark(a, start, n, 1);
		memset(a->base + start * CHUNK, 0, n * CHUNK);
		*dma = a->dev_base + start * CHUNK;
		return a->base + start * CHUNK;
	}
	return NULL;
}

void vio__dma_arena_free(struct vio__dma_arena *a, void *p, size_t size)
{
	const uint8_t *b = p;
	size_t off, n;

	/* Not ours, or not as alloc gave it: a caller bug, but never one
	 * that corrupts the map. */
	if (!a->map || !b || b < a->base || b >= a->base + a->len)
		return;
	off = (size_t)(b - a->base);
	n = (size + CHUNK - 1) / CHUNK;
	if (off % CHUNK || size == 0 || size > a->len - off)
		return;
	chunks_mark(a, off / CHUNK, n, 0);
}

uint64_t vio__dma_arena_addr(const struct vio__dma_arena *a, const void *p)
{
	const uint8_t *b = p;

	if (!a->map || !b || b < a->base || b >= a->base + a->len)
		return UINT64_MAX;
	return a->dev_base + (uint64_t)(b - a->base);
}
