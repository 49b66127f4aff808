/*
 * verify.h - the data pattern of vio-perf --verify, and the orders it
 * visits blocks in.
 *
 * Every 512-byte sector of a written block starts with a tag (magic, the
 * sector's byte offset on the device, the run's seed and the block's
 * generation) and is filled after it with a pseudo-random stream derived
 * from the tag. So a read-back check tells apart data that is wrong, data
 * from another place (a misdirected write or read), data from another run
 * and a stale generation, and says which.
 */
#ifndef VIO_PERF_VERIFY_H
#define VIO_PERF_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VERIFY_MAGIC UINT64_C(0x6672657065696f76) /* "voieperf" */

/* What a sector should hold, or what a bad one was found to hold. */
struct verify_tag {
	uint64_t offset;                /* bytes from the start of the device */
	uint64_t seed;
	uint32_t gen;
};

/* Fills len bytes (a multiple of 512) for the block at byte `offset`. */
void verify_fill(void *buf, size_t len, uint64_t offset, uint64_t seed, uint32_t gen);

/*
 * Checks a block read from `offset`. true when every sector is as written;
 * else false, with *bad_off the device offset of the first bad sector and
 * *found what its tag says (found->offset is UINT64_MAX when there is no
 * tag at all, e.g. zeroes).
 */
bool verify_check(const void *buf, size_t len, uint64_t offset, uint64_t seed, uint32_t gen,
		  uint64_t *bad_off, struct verify_tag *found);

/* A fixed pseudo-random permutation of [0, n): every block exactly once, in
 * an order that jumps around the device. */
struct perm {
	uint64_t n, mask, mul, add;
	unsigned shift;
};

void perm_init(struct perm *p, uint64_t n, uint64_t seed);
uint64_t perm_at(const struct perm *p, uint64_t i);

/* splitmix64: a good 64-bit mix, also the stream generator above. */
static inline uint64_t mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

#endif /* VIO_PERF_VERIFY_H */
