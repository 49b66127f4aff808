/*
 * vio/devices/console.h - the console device: one port whose backend is a
 * pair of file descriptors.
 *
 * Bytes read from in_fd go to the driver through the receiveq (queue 0);
 * bytes the driver puts in the transmitq (queue 1) are written to out_fd.
 * Written only against the device model: embed a struct vio_console_dev,
 * call vio_console_dev_init(), hand &con.dev to any transport.
 *
 * The device runs no loop. Its owner (a daemon, a test) watches the fds
 * and tells it what happened:
 *   - in_fd readable:  vio_console_dev_input_ready();
 *   - out_fd writable: vio_console_dev_output_ready();
 * and asks vio_console_dev_wants_input()/_wants_output() which of the two
 * to watch at all, after every call into the device (kick dispatch
 * included). Kicks arrive through the transport as usual.
 *
 * Input: in_fd must be non-blocking (init checks). Bytes are read straight
 * into the driver's receive buffers, never staged here: while the driver
 * has no receive buffer posted, nothing is read, the bytes wait in the fd
 * (pipe or socket buffer), and wants_input() is false; the driver's next
 * receiveq kick resumes reading. The device holds at most one receive
 * buffer while in_fd has nothing to read. At end of file (or a read
 * error, which is logged) input stops until the device is reset; every
 * byte before it has been delivered.
 *
 * Output: out_fd may be blocking (the device thread then blocks in
 * write) or not. A transmit buffer is completed only when all of its
 * bytes are written: on a partial write or EAGAIN the device keeps it,
 * remembers how far it got, stops taking further transmit buffers (so
 * order is kept), and wants_output() becomes true; output_ready() or the
 * next transmitq kick continues. A write error other than EAGAIN/EINTR
 * (EPIPE, ...) is logged once and output is discarded from then on, so
 * the driver never hangs on a dead backend. Writes to a socket use
 * MSG_NOSIGNAL; for a pipe whose reader is gone the caller must ignore
 * SIGPIPE (daemons do) or the process dies before the device sees EPIPE.
 *
 * Malformed requests (virtio 1.x 5.3.6.1: the driver MUST NOT put a
 * device-readable buffer in a receiveq, nor a device-writable one in a
 * transmitq) are completed with length 0 and logged, and nothing is read
 * from or written to the fds for them. A malformed ring makes the device
 * NEEDS_RESET (vio_dev_check()).
 *
 * Features: VIO_CONSOLE_F_SIZE when opts give a size (vio_console_dev_set_size()
 * changes it later), VIO_CONSOLE_F_EMERG_WRITE on request: a driver write to
 * emerg_wr (allowed at any time, even before the device is set up) puts
 * its low byte on out_fd, best effort (dropped and counted if out_fd would
 * block). MULTIPORT is never offered. Config space is read-only apart from
 * emerg_wr, which reads back as 0.
 *
 * Concurrency: the receive side (receiveq kicks, input_ready(),
 * wants_input()) and the transmit side (transmitq kicks, output_ready(),
 * wants_output()) share no state, so a transport that serialises per queue
 * may run them on two threads: call input_ready()/wants_input() under the
 * receiveq's serialisation and output_ready()/wants_output() under the
 * transmitq's. An emergency write may come from the control path at any
 * time; it only shares out_fd with the transmit side (single-byte writes,
 * atomic at the fd). set_size() and init/fini need the control plane's
 * serialisation (every queue stopped or locked). With the loopback
 * transport, wrap calls from the device thread in vio_loopback_lock().
 */
#ifndef VIO_DEVICES_CONSOLE_H
#define VIO_DEVICES_CONSOLE_H

#include "vio/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest queue the device offers; also the default. */
#define VIO_CONSOLE_DEV_QUEUE_MAX     256u
/* Spans one buffer may map to: two per descriptor of the longest chain
 * (and within IOV_MAX, as they go straight to readv/writev). */
#define VIO_CONSOLE_DEV_SPANS         (2u * VIO_CONSOLE_DEV_QUEUE_MAX)

struct vio_console_dev_opts {
	int in_fd;                  /* bytes for the driver; -1: none */
	int out_fd;                 /* bytes from the driver; -1: discard */
	/* Ring features to offer beyond VERSION_1: any of INDIRECT_DESC,
	 * EVENT_IDX, NOTIFY_ON_EMPTY, ANY_LAYOUT, RING_PACKED, IN_ORDER,
	 * RING_RESET. */
	uint64_t features;
	bool legacy_ok;             /* also serve drivers without VERSION_1 */
	unsigned queue_size;        /* power of two <= VIO_CONSOLE_DEV_QUEUE_MAX; 0: the maximum */
	uint16_t cols, rows;        /* both non-zero: offer VIO_CONSOLE_F_SIZE */
	bool emerg_write;           /* offer VIO_CONSOLE_F_EMERG_WRITE */
};

/* Counters, read-only for callers: written by the device's queue thread,
 * read from any thread with vio_stat_read() (vio/ring.h). */
struct vio_console_dev_stats {
	uint64_t rx_bytes;          /* bytes delivered to the driver */
	uint64_t rx_bufs;           /* receive buffers completed (malformed included) */
	uint64_t tx_bytes;          /* bytes written to out_fd (or discarded) */
	uint64_t tx_bufs;           /* transmit buffers completed (malformed included) */
	uint64_t tx_blocked;        /* times a write would have blocked */
	uint64_t rx_malformed;      /* receive buffers with device-readable parts */
	uint64_t tx_malformed;      /* transmit buffers with device-writable parts */
	uint64_t emerg_bytes;       /* emergency writes put on out_fd */
	uint64_t emerg_dropped;     /* emergency writes that would have blocked */
};

/* One buffer the device has popped and not yet completed. */
struct vio_console_held {
	struct vio_elem elem;
	bool held;
	unsigned idx;               /* first span not yet done (tx) */
	struct vio_iov out[VIO_CONSOLE_DEV_SPANS];
	struct vio_iov in[VIO_CONSOLE_DEV_SPANS];
};

struct vio_console_dev {
	struct vio_dev_model dev;         /* give &dev to the transport */
	struct vio_console_dev_stats stats;

	/* private */
	struct vio_dev_queue queues[2];
	struct vio_console_config config;
	int in_fd, out_fd;
	bool out_is_socket;
	bool in_done;               /* EOF or error on in_fd */
	bool out_dead;              /* write error on out_fd: discarding (atomic) */
	bool tx_blocked;            /* waiting for out_fd to take more */
	uint16_t cols, rows;
	struct vio_console_held rx, tx;
};

/*
 * Fills in c->dev (device id 3, queues receiveq and transmitq) and puts it
 * in its reset state. The fds stay the caller's (never closed here). opts
 * NULL: the defaults, a console with no input that discards its output
 * (in_fd and out_fd -1, every other option 0). Returns 0 or: -EINVAL for a
 * bad queue size, an unknown feature, an in_fd that is not O_NONBLOCK, or
 * vio_dev_init()'s error; -EBADF for an fd that is not open (in a
 * freestanding build, which has no fds, for any fd but -1: there the
 * console has no input and discards its output).
 */
int vio_console_dev_init(struct vio_console_dev *c, const struct vio_console_dev_opts *opts);
void vio_console_dev_fini(struct vio_console_dev *c);

/* in_fd is readable (or at EOF): read into the posted receive buffers. */
void vio_console_dev_input_ready(struct vio_console_dev *c);
/* out_fd is writable: continue a blocked transmit. */
void vio_console_dev_output_ready(struct vio_console_dev *c);

/* Should the owner poll in_fd for reading / out_fd for writing now? */
bool vio_console_dev_wants_input(struct vio_console_dev *c);
bool vio_console_dev_wants_output(const struct vio_console_dev *c);

/* A new console size (VIO_CONSOLE_F_SIZE): updates config space and sends
 * a config change notification. -ENOTSUP when SIZE was not offered,
 * -EINVAL for a zero dimension. */
int vio_console_dev_set_size(struct vio_console_dev *c, uint16_t cols, uint16_t rows);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DEVICES_CONSOLE_H */
