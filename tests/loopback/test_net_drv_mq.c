/*
 * test_net_drv_mq.c - multiqueue: two queue pairs, each owned by a thread
 * of its own with no lock between them, the test device echoing every
 * transmitted frame back on the same pair's receive queue. Each thread
 * checks that every frame it sent comes back once, in order, with its
 * bytes; the suite runs under TSan too. The control call (VQ_PAIRS_SET)
 * is made before the threads start, on the driver's thread.
 */
#include <sched.h>

#include "net_drv_fixture.h"

#define ROUNDS 3000u
#define BATCH 4u
#define FRAME 200u

struct worker {
	struct nfx *fx;
	unsigned pair;
	unsigned sent, got, bad;
	pthread_t th;
};

static void tag(uint8_t *p, unsigned pair, unsigned seq)
{
	for (unsigned i = 0; i < FRAME; i++)
		p[i] = (uint8_t)(seq * 31 + i + pair * 101);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct vio_drv_device *dev = ND(w->fx);
	uint8_t tx[BATCH][FRAME], rx[BATCH][FRAME + 64];

	for (unsigned round = 0; round < ROUNDS; round++) {
		struct vio_net_drv_frame f[BATCH];
		unsigned want = w->got + BATCH;
		int r;

		for (unsigned i = 0; i < BATCH; i++) {
			tag(tx[i], w->pair, w->sent + i);
			f[i] = (struct vio_net_drv_frame){ .data = tx[i], .len = FRAME };
		}
		r = vio_net_drv_tx_burst(dev, w->pair, f, BATCH);
		if (r != (int)BATCH) {
			w->bad++;
			break;
		}
		w->sent += BATCH;
		for (unsigned tries = 0; w->got < want && tries < 10000; tries++) {
			for (unsigned i = 0; i < BATCH; i++)
				f[i] = (struct vio_net_drv_frame){ .data = rx[i], .cap = sizeof(rx[i]) };
			r = vio_net_drv_rx_burst(dev, w->pair, f, want - w->got);
			if (r < 0) {
				w->bad++;
				return NULL;
			}
			for (int i = 0; i < r; i++, w->got++) {
				uint8_t exp[FRAME];

				tag(exp, w->pair, w->got);
				if (f[i].len != FRAME || memcmp(rx[i], exp, FRAME))
					w->bad++;
			}
			if (w->got < want)
				sched_yield();
		}
		if (w->got != want) {
			w->bad++;
			break;
		}
	}
	return NULL;
}

static void t_two_pairs_two_threads(void **state)
{
	struct nfx *fx = *state;
	struct worker w[2];
	struct vio_net_drv_stats s;

	fx->offer = NF(CTRL_VQ) | NF(MQ) | NF(MRG_RXBUF);
	fx->pairs = 2;
	nfx_up(fx);
	fx->nd.echo = true;
	assert_int_equal(vio_net_drv_num_pairs(ND(fx)), 2);
	assert_int_equal(vio_net_drv_set_pairs(ND(fx), 2), 0);
	for (unsigned i = 0; i < 2; i++) {
		w[i] = (struct worker){ .fx = fx, .pair = i };
		assert_int_equal(pthread_create(&w[i].th, NULL, work, &w[i]), 0);
	}
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_join(w[i].th, NULL), 0);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(w[i].bad, 0);
		assert_int_equal(w[i].sent, ROUNDS * BATCH);
		assert_int_equal(w[i].got, ROUNDS * BATCH);
		assert_int_equal(fx->nd.echo_drops[i], 0);
		assert_null(vio_net_drv_error(ND(fx), i));
		vio_net_drv_pair_stats(ND(fx), i, &s);
		assert_int_equal(s.rx_frames, ROUNDS * BATCH);
		assert_int_equal(s.tx_frames, ROUNDS * BATCH);
	}
}

static const struct nd_test tests[] = {
	T(t_two_pairs_two_threads),
};

int main(void)
{
	return nd_run("net_drv_mq", tests, ARRAY_LEN(tests));
}
