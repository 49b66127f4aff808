/*
 * vhost-user-blk - libvio's block device as a vhost-user backend.
 *
 *   vhost-user-blk --socket-path=/tmp/blk.sock --blk-file=disk.img
 *   qemu-system-x86_64 ... -chardev socket,id=c0,path=/tmp/blk.sock \
 *       -device vhost-user-blk-pci,chardev=c0
 *
 * A file (io_uring, or preadv/pwritev where io_uring is unavailable), a
 * RAM disk, a null disk that stores nothing, an NBD export (--nbd=URI,
 * libnbd: vio/devices/blk_nbd.h) or a Ceph RBD image
 * (--rbd=POOL/IMAGE[@SNAP], librbd: vio/devices/blk_rbd.h); read-only, several queues, queue size and serial are options.
 * Every disk is a storage under the blk device (vio/devices/blk_storage.h):
 * one that lives elsewhere (an NBD export, a Ceph image) is opened into
 * `storage` below and named with VIO_BLK_BACKEND_STORAGE; the daemon's
 * queue threads poll each queue's storage fd beside its kicks (vud.c).
 * Follows the vhost-user backend program conventions (vud.c).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vio/devices.h"
#include "vio/devices/blk_nbd.h"
#include "vio/devices/blk_rbd.h"
#include "vud.h"

static const char caps[] =
	"{\n  \"type\": \"block\",\n  \"features\": [\n    \"read-only\",\n    \"blk-file\"\n  ]\n}";

static void usage(const char *argv0)
{
	printf("usage: %s --socket-path=PATH | --fd=N (--blk-file=PATH | --ram=SIZE | --null=SIZE |"
	       " --nbd=URI)"
	       " [options]\n\n%s"
	       "  --blk-file=PATH        serve this file or block device\n"
	       "  --ram=SIZE             serve a RAM disk of SIZE bytes (K, M, G suffixes)\n"
	       "  --null=SIZE            a disk of SIZE bytes that stores nothing: reads return\n"
	       "                         zeroes, writes are dropped (for measuring the rest)\n"
	       "  --nbd=URI              serve an NBD export through libnbd: nbd://HOST[:PORT]/EXPORT\n"
	       "                         or nbd+unix:///EXPORT?socket=PATH (read-only if the\n"
	       "                         export is; reconnects with backoff when it is lost)\n"
	       "  --nbd-timeout=MS       an NBD request unanswered this long fails (default 30000)\n"
	       "  --rbd=POOL/IMAGE[@SNAP] serve a Ceph RBD image (librbd); a snapshot is read-only\n"
	       "  --ceph-conf=PATH       the cluster's ceph.conf (default: librados' search,\n"
	       "                         $CEPH_CONF, /etc/ceph/ceph.conf, ...)\n"
	       "  --ceph-id=ID           the Ceph client id, without \"client.\" (default admin)\n"
	       "  --rbd-timeout=SECONDS  a request the cluster has not answered by then fails\n"
	       "                         (IOERR); 0 waits forever (default 30)\n"
	       "  --read-only            refuse writes (offers VIRTIO_BLK_F_RO)\n"
	       "  --num-queues=N         request queues (default 1)\n"
	       "  --queue-size=N         largest queue offered (power of two, default 256)\n"
	       "  --serial=STRING        the disk's id string (GET_ID)\n"
	       "  --no-io-uring          use preadv/pwritev even where io_uring works\n"
	       "  --depth=N              requests in flight per queue at most (default 128\n"
	       "                         with io_uring or a remote storage, else 16)\n",
	       argv0, vud_common_usage);
}

/* A byte count with an optional K, M or G suffix; 0 for anything else
 * (which the device then refuses as a size). */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned shift = 0;
	uint64_t v;

	/* strtoull would take leading blanks and a minus sign ("-1" is
	 * UINT64_MAX): a size starts with a digit. */
	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || v > UINT64_MAX >> shift)
		return 0;
	return v << shift;
}

/* POOL/IMAGE[@SNAP] into o's pool, image and snapshot (pointing into buf);
 * false for anything else (no pool, no image, an empty snapshot name,
 * a namespace: POOL/NS/IMAGE is not supported). */
static bool parse_rbd(const char *spec, char *buf, size_t len, struct vio_blk_rbd_opts *o)
{
	char *slash, *at;

	if (strlen(spec) >= len)
		return false;
	strcpy(buf, spec);
	slash = strchr(buf, '/');
	if (!slash || slash == buf || !slash[1] || strchr(slash + 1, '/'))
		return false;
	*slash = 0;
	o->pool = buf;
	o->image = slash + 1;
	at = strchr(o->image, '@');
	if (at) {
		*at = 0;
		if (!at[1] || at == o->image)
			return false;
		o->snapshot = at + 1;
	}
	return *o->image != 0;
}

static void stats(void *opaque, unsigned qi, char *buf, size_t len)
{
	struct vio_blk_queue_stats s;

	if (vio_blk_dev_stats(opaque, qi, &s))
		return;
	snprintf(buf, len, "requests %llu read %llu B written %llu B ioerr %llu unsupp %llu "
		 "rounds %llu (largest %llu)",
		 (unsigned long long)s.requests, (unsigned long long)s.bytes_read,
		 (unsigned long long)s.bytes_written, (unsigned long long)s.ioerr,
		 (unsigned long long)s.unsupp, (unsigned long long)s.batches,
		 (unsigned long long)s.max_batch);
}

/* The same numbers for --stats-json, and what the line leaves out. */
static void counters(void *opaque, unsigned qi, struct vud_counter *c, unsigned *n, unsigned max)
{
	struct vio_blk_queue_stats s;

	if (vio_blk_dev_stats(opaque, qi, &s))
		return;
	vud_counter_add(c, n, max, "requests", s.requests);
	vud_counter_add(c, n, max, "reads", s.reads);
	vud_counter_add(c, n, max, "writes", s.writes);
	vud_counter_add(c, n, max, "flushes", s.flushes);
	vud_counter_add(c, n, max, "discards", s.discards);
	vud_counter_add(c, n, max, "write_zeroes", s.write_zeroes);
	vud_counter_add(c, n, max, "get_ids", s.get_ids);
	vud_counter_add(c, n, max, "bytes_read", s.bytes_read);
	vud_counter_add(c, n, max, "bytes_written", s.bytes_written);
	vud_counter_add(c, n, max, "ioerr", s.ioerr);
	vud_counter_add(c, n, max, "unsupp", s.unsupp);
	vud_counter_add(c, n, max, "unanswered", s.unanswered);
	vud_counter_add(c, n, max, "rounds", s.batches);
	vud_counter_add(c, n, max, "largest_round", s.max_batch);
}

static struct vud_counters_ops counters_ops = { .queue = counters };

int main(int argc, char **argv)
{
	static struct vio_blk_dev blk;
	/* A storage of its own kind, opened by its option (backend STORAGE);
	 * closed after the device is gone. */
	static struct vio_blk_storage storage;
	struct vio_blk_dev_opts bo = {
		.backend = VIO_BLK_BACKEND_FILE,
		.fd = -1,
		.ring_features = VIO_BLK_DEV_RING_FEATURES,
		.legacy_ok = true,
		.log = vud_log,
	};
	struct vud_opts o;
	struct vio_blk_nbd_opts nbd = { .log = vud_log };
	static char rbd_spec[512];
	struct vio_blk_rbd_opts rbdo = { .log = vud_log };
	const char *rbd_arg = NULL;
	bool have_disk = false;
	int r;

	/* An NBD or RBD disk needs, after setup, what the sandbox takes
	 * away: the network (and for nbd+unix a path) to reconnect, and for
	 * librbd the threads librados started before the sandbox's fork.
	 * So those disks run unsandboxed, and asking for a sandbox with them
	 * is refused rather than half honoured. */
	bool net_disk = false, sandbox_asked = false;

	for (int i = 1; i < argc; i++) {
		net_disk |= !strncmp(argv[i], "--nbd=", 6) || !strncmp(argv[i], "--rbd=", 6);
		sandbox_asked |= (!strncmp(argv[i], "--sandbox=", 10) && strcmp(argv[i], "--sandbox=none")) ||
				 (!strncmp(argv[i], "--seccomp=", 10) && strcmp(argv[i], "--seccomp=none"));
	}
	r = vud_parse(&argc, argv, &o, caps, usage);
	if (r)
		return r > 0 ? 0 : 2;
	o.sandbox.allow = &vud_allow_blk;
	if (net_disk) {
		if (sandbox_asked) {
			fprintf(stderr, "%s: --nbd and --rbd run unsandboxed (their client libraries need "
				"the network and their own threads after setup): give --sandbox=none "
				"--seccomp=none, or neither\n", argv[0]);
			return 2;
		}
		o.sandbox.mode = VUD_SANDBOX_NONE;
		o.sandbox.seccomp = VUD_SECCOMP_NONE;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strncmp(a, "--blk-file=", 11)) {
			bo.backend = VIO_BLK_BACKEND_FILE;
			bo.path = a + 11;
			have_disk = true;
		} else if (!strncmp(a, "--ram=", 6)) {
			bo.backend = VIO_BLK_BACKEND_RAM;
			bo.size = parse_size(a + 6);
			have_disk = true;
		} else if (!strncmp(a, "--null=", 7)) {
			bo.backend = VIO_BLK_BACKEND_NULL;
			bo.size = parse_size(a + 7);
			have_disk = true;
		} else if (!strncmp(a, "--nbd=", 6)) {
			bo.backend = VIO_BLK_BACKEND_STORAGE;
			nbd.uri = a + 6;
			have_disk = true;
		} else if (!strncmp(a, "--nbd-timeout=", 14)) {
			nbd.timeout_ms = (uint32_t)strtoul(a + 14, NULL, 0);
		} else if (!strncmp(a, "--rbd=", 6)) {
			bo.backend = VIO_BLK_BACKEND_STORAGE;
			rbd_arg = a + 6;
			have_disk = true;
		} else if (!strncmp(a, "--ceph-conf=", 12)) {
			rbdo.conf = a + 12;
		} else if (!strncmp(a, "--ceph-id=", 10)) {
			rbdo.id = a + 10;
		} else if (!strncmp(a, "--rbd-timeout=", 14)) {
			char *end;
			long t = strtol(a + 14, &end, 10);

			if (*end || end == a + 14 || t < 0 || t > 86400) {
				fprintf(stderr, "%s: --rbd-timeout wants seconds (0: wait forever)\n",
					argv[0]);
				return 2;
			}
			rbdo.op_timeout = t ? (int)t : -1;
		} else if (!strcmp(a, "--read-only")) {
			bo.read_only = true;
		} else if (!strncmp(a, "--num-queues=", 13)) {
			bo.num_queues = (unsigned)strtoul(a + 13, NULL, 0);
		} else if (!strncmp(a, "--queue-size=", 13)) {
			bo.queue_size = (unsigned)strtoul(a + 13, NULL, 0);
		} else if (!strncmp(a, "--serial=", 9)) {
			bo.serial = a + 9;
		} else if (!strcmp(a, "--no-io-uring")) {
			bo.no_io_uring = true;
		} else if (!strncmp(a, "--depth=", 8)) {
			bo.depth = (unsigned)strtoul(a + 8, NULL, 0);
		} else {
			fprintf(stderr, "%s: unknown option %s\n", argv[0], a);
			usage(argv[0]);
			return 2;
		}
	}
	if (!have_disk) {
		fprintf(stderr, "%s: give --blk-file=PATH, --ram=SIZE, --null=SIZE, --nbd=URI or "
			"--rbd=POOL/IMAGE\n", argv[0]);
		return 2;
	}
	if (nbd.uri && rbd_arg) {
		fprintf(stderr, "%s: --nbd and --rbd name two disks: give one\n", argv[0]);
		return 2;
	}
	if (nbd.uri && bo.backend == VIO_BLK_BACKEND_STORAGE && !storage.ops) {
		r = vio_blk_storage_nbd_open(&storage, &nbd);
		if (r) {
			fprintf(stderr, "%s: --nbd=%s: %s\n", argv[0], nbd.uri, vio_strerror(r));
			return 1;
		}
	}
	if (rbd_arg) {
		if (!parse_rbd(rbd_arg, rbd_spec, sizeof(rbd_spec), &rbdo)) {
			fprintf(stderr, "%s: --rbd wants POOL/IMAGE or POOL/IMAGE@SNAP, not '%s'\n",
				argv[0], rbd_arg);
			return 2;
		}
		rbdo.read_only = bo.read_only;
		/* librados starts its threads here, and a thread inherits its
		 * creator's signal mask: block now what vud_run() later blocks
		 * and reads from its signalfd, or a SIGTERM may land on a
		 * librados thread and kill the daemon instead of stopping it. */
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGUSR1);
		sigaddset(&mask, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &mask, NULL);
		r = vio_blk_storage_rbd_open(&storage, &rbdo);
		if (r) {
			fprintf(stderr, "%s: cannot open RBD image %s: %s\n", argv[0], rbd_arg,
				vio_strerror(r));
			return 1;
		}
	}
	if (bo.backend == VIO_BLK_BACKEND_STORAGE)
		bo.storage = &storage;
	if ((bo.backend == VIO_BLK_BACKEND_RAM || bo.backend == VIO_BLK_BACKEND_NULL) &&
	    bo.size < VIO_BLK_SECTOR_SIZE) {
		fprintf(stderr, "%s: --%s wants a size of at least 512 bytes (K, M, G suffixes)\n",
			argv[0], bo.backend == VIO_BLK_BACKEND_RAM ? "ram" : "null");
		return 2;
	}
	r = vio_blk_dev_init(&blk, &bo);
	if (r) {
		fprintf(stderr, "%s: cannot create the device: %s\n", argv[0], vio_strerror(r));
		if (storage.ops && storage.ops->close)
			storage.ops->close(&storage);
		return 1;
	}
	if (!o.quiet)
		fprintf(stderr, "vhost-user-blk: %llu sectors, %s%s, %u queue(s)\n",
			(unsigned long long)vio_blk_dev_capacity(&blk),
			bo.backend == VIO_BLK_BACKEND_RAM ? "RAM" :
			bo.backend == VIO_BLK_BACKEND_NULL ? "null (stores nothing)" :
			bo.backend == VIO_BLK_BACKEND_STORAGE ? (storage.name ? storage.name : "storage") :
			vio_blk_dev_uses_io_uring(&blk) ? "file via io_uring" : "file via preadv/pwritev",
			bo.read_only || storage.read_only ? ", read-only" : "", blk.nq);
	o.counters = &counters_ops;
	r = vud_run(&blk.dev, &o, "vhost-user-blk", stats, &blk);
	vio_blk_dev_fini(&blk);
	if (storage.ops && storage.ops->close)
		storage.ops->close(&storage);
	return r;
}
