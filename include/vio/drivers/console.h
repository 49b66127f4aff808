/*
 * vio/drivers/console.h - the console driver: port 0 as a byte stream.
 *
 * Written only against the driver model: register a struct
 * vio_console_driver on a bus with vio_console_drv_register(); each console
 * device the bus sees is probed. MULTIPORT is not negotiated.
 *
 * Receive: `rx_bufs` buffers of `rx_buf_bytes` (preallocated DMA memory)
 * are kept posted in the receiveq. Filled ones queue up in arrival order;
 * vio_console_drv_read() takes bytes from them and posts each buffer again
 * as soon as it is empty. While the caller does not read, the buffers run
 * out and the device stops taking input: nothing is lost, the backend
 * holds it. on_input (optional) runs whenever new bytes are ready.
 *
 * Transmit: vio_console_drv_write() copies into `tx_bufs` preallocated
 * buffers of `tx_buf_bytes` and posts them; it returns once every byte is
 * handed to the device (not necessarily written out by it yet:
 * vio_console_drv_flush() waits for that). The used length of transmit
 * buffers is ignored, as the spec advises for legacy devices that report
 * the whole buffer.
 *
 * Each buffer is posted as `segs` segments (more than one exercises chains
 * and, when negotiated, indirect tables).
 *
 * Concurrency: one thread per device; on_input runs on that thread, from
 * inside the driver's calls or vio_drv_wait(), and may read and write.
 */
#ifndef VIO_DRIVERS_CONSOLE_H
#define VIO_DRIVERS_CONSOLE_H

#include "vio/core.h" /* ssize_t comes with vio/spec.h */

#ifdef __cplusplus
extern "C" {
#endif

struct vio_console_drv_opts {
	unsigned queue_size;    /* 0: the device's maximum */
	uint32_t rx_buf_bytes;  /* 0: 4096 */
	unsigned rx_bufs;       /* 0: 16 (capped at the queue size) */
	uint32_t tx_buf_bytes;  /* 0: 4096 */
	unsigned tx_bufs;       /* 0: 16 (capped at the queue size) */
	unsigned segs;          /* segments per buffer; 0: 1 (capped at the buffer
				 * sizes and at the queue size) */
	void (*on_input)(struct vio_drv_device *dev, void *opaque);
	void *opaque;
	uint64_t features_off;  /* VIO_BIT()s of features not to negotiate (without
				 * VERSION_1, RING_PACKED and IN_ORDER go too) */
};

/* The driver. Caller-allocated, one per bus; fill it with
 * vio_console_drv_register(). */
struct vio_console_driver {
	struct vio_driver drv;
	struct vio_console_drv_opts opts;
	/* private */
	uint32_t ids_[2];
};

/* Fills d from opts (NULL: the defaults) and registers it on bus: every
 * console device on the bus, now or later, gets probed. Returns 0 or
 * vio_bus_register_driver()'s error. */
int vio_console_drv_register(struct vio_bus *bus, struct vio_console_driver *d,
			     const struct vio_console_drv_opts *opts);
/* Unbinds d from its devices (remove) and forgets it. */
void vio_console_drv_unregister(struct vio_bus *bus, struct vio_console_driver *d);

/*
 * Hands n bytes to the device, waiting at most timeout_ms (-1: no limit)
 * for transmit buffers to come back. Returns n, or fewer when the time
 * ran out after some were handed over, or a negative errno when none
 * were: -EAGAIN (timeout 0 and no free buffer), -ETIMEDOUT, -EIO (the
 * device broke a ring), -ENODEV (no console driver bound). n == 0
 * returns 0.
 */
ssize_t vio_console_drv_write(struct vio_drv_device *dev, const void *buf, size_t n,
			      int timeout_ms);

/* Waits until the device has used every transmit buffer: 0, -ETIMEDOUT,
 * -EIO or -ENODEV. */
int vio_console_drv_flush(struct vio_drv_device *dev, int timeout_ms);

/*
 * Reads up to n bytes, waiting at most timeout_ms (-1: no limit) for the
 * first one; returns as soon as some are there, like read(2). Errors:
 * -EAGAIN (timeout 0 and nothing buffered), -ETIMEDOUT, -EIO, -ENODEV.
 * n == 0 returns 0.
 */
ssize_t vio_console_drv_read(struct vio_drv_device *dev, void *buf, size_t n, int timeout_ms);

/* Bytes that a read would return now without waiting. */
size_t vio_console_drv_readable(struct vio_drv_device *dev);

/* Reaps used buffers and reposts receive buffers, without waiting. (The
 * timeouts above are measured on the transport's clock: struct
 * vio_drv_deadline.) */
void vio_console_drv_poll(struct vio_drv_device *dev);

/* VIO_CONSOLE_F_EMERG_WRITE: one character through config space, no
 * queues involved. -ENOTSUP when the feature was not negotiated. */
int vio_console_drv_emerg_write(struct vio_drv_device *dev, uint8_t ch);

/* VIO_CONSOLE_F_SIZE: the console's size. -ENOTSUP when not negotiated. */
int vio_console_drv_get_size(struct vio_drv_device *dev, uint16_t *cols, uint16_t *rows);

#ifdef __cplusplus
}
#endif

#endif /* VIO_DRIVERS_CONSOLE_H */
