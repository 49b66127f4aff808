/*
 * nbd_bench.c - the NBD storage driven directly, with no virtio in
 * between: what one client connection and the server manage together.
 *
 * bench/vhost-user-blk.sh prints it as the server's own figure next to
 * qemu-storage-daemon and libvio's daemon on the same NBD server: neither
 * daemon can beat it, since both end in an NBD client on one connection
 * per queue. It runs one queue on the calling thread, keeps `depth`
 * requests of `bs` bytes at random aligned offsets in flight for
 * `seconds`, and prints "IOPS <n>".
 *
 * usage: nbd_bench URI read|write DEPTH SECONDS [BS] [SPANS]
 *        (SPANS > 1 splits each buffer in that many equal spans: the
 *        storage's bounce path)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vio/devices/blk_nbd.h"

#define MAXD 1024
#define MAXS 64

static struct vio_blk_storage st;
static struct vio_blk_storage_queue *q;
static struct vio_blk_storage_req reqs[MAXD];
static struct vio_iov iovs[MAXD][MAXS];
static uint64_t done_n, errs, nblocks, rng = 88172645463325252ull;
static unsigned bs, spans;
static int stopping;
static uint8_t op;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void prep(struct vio_blk_storage_req *r)
{
	r->op = op;
	r->flags = 0;
	r->off = (xorshift() % nblocks) * bs;
	r->len = bs;
	r->res = 1;
}

static void done(void *opaque, struct vio_blk_storage_req *r)
{
	(void)opaque;
	done_n++;
	if (r->res)
		errs++;
	if (stopping)
		return;
	prep(r);
	struct vio_blk_storage_req *rp = r;
	st.ops->submit(q, &rp, 1);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: nbd_bench URI read|write DEPTH SECONDS [BS] [SPANS]\n");
		return 2;
	}
	op = strcmp(argv[2], "write") == 0 ? VIO_BLK_STORAGE_WRITE : VIO_BLK_STORAGE_READ;
	unsigned depth = (unsigned)atoi(argv[3]);
	double secs = atof(argv[4]);
	bs = argc > 5 ? (unsigned)atoi(argv[5]) : 4096;
	spans = argc > 6 ? (unsigned)atoi(argv[6]) : 1;
	if (!depth || depth > MAXD || !bs || bs % 512 || !spans || spans > MAXS || bs % spans) {
		fprintf(stderr, "nbd_bench: bad depth, block size or spans\n");
		return 2;
	}
	struct vio_blk_nbd_opts o = { .uri = argv[1] };
	int r = vio_blk_storage_nbd_open(&st, &o);
	if (r < 0) {
		fprintf(stderr, "nbd_bench: open %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	nblocks = st.size / bs;
	r = st.ops->queue_open(&st, 0, depth, done, NULL, &q);
	if (r < 0) {
		fprintf(stderr, "nbd_bench: queue_open: %s\n", strerror(-r));
		return 1;
	}
	uint8_t *mem = aligned_alloc(4096, (size_t)depth * bs);
	if (!mem)
		return 1;
	memset(mem, 0x5a, (size_t)depth * bs);
	struct vio_blk_storage_req *rp[MAXD];
	for (unsigned i = 0; i < depth; i++) {
		for (unsigned k = 0; k < spans; k++)
			iovs[i][k] = (struct vio_iov){ .base = mem + (size_t)i * bs + k * (bs / spans),
						       .len = bs / spans };
		reqs[i].iov = iovs[i];
		reqs[i].iovcnt = spans;
		prep(&reqs[i]);
		rp[i] = &reqs[i];
	}
	double start = now_s(), end = start + secs;
	st.ops->submit(q, rp, depth);
	int fd = st.ops->queue_fd(q);
	uint64_t at_end = 0;
	while (done_n < at_end + depth || !stopping) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, 100);
		st.ops->process(q);
		if (!stopping && now_s() >= end) {
			stopping = 1;
			at_end = done_n;
			end = now_s();
		}
	}
	printf("IOPS %.0f errors %llu\n", (double)at_end / (end - start), (unsigned long long)errs);
	st.ops->queue_close(q);
	st.ops->close(&st);
	free(mem);
	return errs ? 1 : 0;
}
