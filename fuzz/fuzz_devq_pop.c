/*
 * fuzz_devq_pop.c - libFuzzer target: the device side of a virtqueue over
 * guest memory the input controls entirely.
 *
 * The device side is libvio's widest door for untrusted input: a guest
 * (or a vhost-user frontend) writes descriptor tables, avail rings and
 * indirect tables, and the device follows them. The input (format in
 * fuzz_input.h) picks the queue size and features, a
 * region table with adjacent regions, holes and regions at the top of the
 * 64-bit space, where the ring areas sit, and every byte of guest memory.
 * A short script of device calls then runs, and the queue is drained; the
 * harness and the invariants it checks are in devq_harness.c, shared with
 * fuzz_inflight.
 *
 * Two binaries share this source, one per ring layout, so that each gets
 * its own fuzzing time: fuzz_devq_pop forces the split layout and
 * fuzz_devq_pop_packed (-DFUZZ_LAYOUT_PACKED) the packed one, whatever
 * the input's layout bit says.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devq_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_devq ctx;
	struct fz_devq *c = &ctx;
	struct fz f = { data, size };

	memset(c, 0, sizeof(*c));
	fz_devq_parse(c, &f);
	fz_devq_fill_memory(c, &f);
	if (vio_devq_init(&c->q, &c->cfg) == 0) {
		fz_devq_started(c);
		for (unsigned i = 0; i < c->nops; i++)
			fz_devq_op(c, c->ops[i][0], c->ops[i][1], c->ops[i][2], c->ops[i][3]);
		fz_devq_drain(c);
	}
	fz_devq_free(c);
	return 0;
}
