/*
 * test_storage.h - a storage (vio/devices/blk_storage.h) whose completions
 * the test controls, for the blk device's asynchronous path.
 *
 * A RAM disk underneath. Every request submit() gets is held pending (or,
 * with `immediate`, completed inside submit(), as RAM's are) until the
 * test completes it with ts_complete() (any pending one, in any order,
 * with any result) from any thread; the queue's eventfd then becomes
 * readable and process() runs the data part and calls done(). Each queue
 * records what it was asked (op and flags, in submit order) and the most
 * requests it ever held at once, so a test can check FUA emulation and
 * that the device kept to its depth.
 */
#ifndef TEST_STORAGE_H
#define TEST_STORAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vio/devices/blk_storage.h"

#define TS_MAX_PENDING 1024
#define TS_MAX_LOG 4096
#define TS_MAX_QUEUES 4

struct ts_op {
	uint8_t op, flags;
	uint64_t off, len;
};

struct ts_queue {
	struct ts *ts;
	unsigned qi, depth;
	vio_blk_storage_done_fn *done;
	void *done_opaque;
	int efd;
	/* under ts->lock */
	struct vio_blk_storage_req *pending[TS_MAX_PENDING];  /* submit order */
	unsigned npending;
	struct vio_blk_storage_req *ready[TS_MAX_PENDING];    /* ts_complete order */
	int ready_res[TS_MAX_PENDING];
	unsigned nready;
	unsigned max_held;              /* most pending + ready at once */
	struct ts_op log[TS_MAX_LOG];
	unsigned nlog;
	unsigned processed;             /* process() calls */
};

struct ts {
	struct vio_blk_storage s;       /* hand &s to the device */
	uint8_t *ram;
	bool immediate;                 /* complete inside submit() */
	int fail_op;                    /* -1, or an op that fails with fail_res */
	int fail_res;
	pthread_mutex_t lock;
	struct ts_queue q[TS_MAX_QUEUES];
	unsigned nq;
};

/* A storage of `size` bytes with caps; 0 or -errno. */
int ts_init(struct ts *ts, uint64_t size, uint32_t caps);
void ts_fini(struct ts *ts);

/* Requests held pending on queue qi. */
unsigned ts_pending(struct ts *ts, unsigned qi);
/* Completes the pending request at position k (in submit order, among
 * those still pending) with res (0: the data part runs). */
void ts_complete(struct ts *ts, unsigned qi, unsigned k, int res);
/* Completes every pending request with 0. */
void ts_complete_all(struct ts *ts, unsigned qi);
/* The op log of queue qi: entry i, and how many. */
unsigned ts_nlog(struct ts *ts, unsigned qi);
struct ts_op ts_log(struct ts *ts, unsigned qi, unsigned i);
unsigned ts_max_held(struct ts *ts, unsigned qi);

#endif
