/*
 * verify.c - vio-perf's verify pattern and block permutation (verify.h).
 */
#include <string.h>

#include "verify.h"

#define SECTOR 512u
#define TAG_WORDS 4u    /* magic, offset, seed, gen */

/* The tag and the stream are stored little-endian whatever the host, so a
 * device written on one machine checks on another. */
static void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Word w of the sector at `offset`: the tag, then the stream. */
static uint64_t sector_word(uint64_t offset, uint64_t seed, uint32_t gen, unsigned w)
{
	switch (w) {
	case 0: return VERIFY_MAGIC;
	case 1: return offset;
	case 2: return seed;
	case 3: return gen;
	default: return mix64(offset ^ mix64(seed ^ ((uint64_t)gen << 32) ^ w));
	}
}

void verify_fill(void *buf, size_t len, uint64_t offset, uint64_t seed, uint32_t gen)
{
	uint8_t *p = buf;

	for (size_t s = 0; s < len; s += SECTOR)
		for (unsigned w = 0; w < SECTOR / 8; w++)
			put64(p + s + 8 * w, sector_word(offset + s, seed, gen, w));
}

bool verify_check(const void *buf, size_t len, uint64_t offset, uint64_t seed, uint32_t gen,
		  uint64_t *bad_off, struct verify_tag *found)
{
	const uint8_t *p = buf;

	for (size_t s = 0; s < len; s += SECTOR) {
		const uint8_t *q = p + s;

		for (unsigned w = 0; w < SECTOR / 8; w++) {
			if (get64(q + 8 * w) == sector_word(offset + s, seed, gen, w))
				continue;
			*bad_off = offset + s;
			if (get64(q) == VERIFY_MAGIC) {
				found->offset = get64(q + 8);
				found->seed = get64(q + 16);
				found->gen = (uint32_t)get64(q + 24);
			} else {
				found->offset = UINT64_MAX;
				found->seed = 0;
				found->gen = 0;
			}
			return false;
		}
	}
	return true;
}

/*
 * Bijections of [0, 2^k) (multiply by an odd number, add, xor with a right
 * shift) composed, then cycle-walked down to [0, n): values at or above n
 * are mapped again until they land inside, which keeps it a permutation
 * and, since 2^k < 2n, takes under two steps on average.
 */
void perm_init(struct perm *p, uint64_t n, uint64_t seed)
{
	unsigned k = 1;

	while (k < 63 && (UINT64_C(1) << k) < n)
		k++;
	p->n = n;
	p->mask = (UINT64_C(1) << k) - 1;
	p->mul = (mix64(seed) | 1) & p->mask;
	p->add = mix64(seed + 1) & p->mask;
	p->shift = k / 2 ? k / 2 : 1;
	if (p->mul == 0)
		p->mul = 1;
}

static uint64_t perm_step(const struct perm *p, uint64_t x)
{
	for (unsigned r = 0; r < 2; r++) {
		x = (x * p->mul + p->add) & p->mask;
		x ^= x >> p->shift;
	}
	return x;
}

uint64_t perm_at(const struct perm *p, uint64_t i)
{
	uint64_t x = perm_step(p, i);

	while (x >= p->n)
		x = perm_step(p, x);
	return x;
}
