/*
 * vio/spec/console.h - wire format of the console device, virtio 1.x 5.3.
 *
 * Port 0 always has a receiveq (device to driver) and a transmitq (driver
 * to device). With MULTIPORT, a pair of control queues and further port
 * queues follow; libvio serves one port only, but the whole wire format is
 * named here so that a later multiport device or a parser can use it.
 *
 * Config space field order: the specification puts `rows` before `cols`.
 * Linux had them the other way round for many years (until its commit
 * 5326ab737a47) and QEMU follows Linux's header, so a peer built against
 * either may disagree about which is which. libvio follows the spec.
 */
#ifndef VIO_SPEC_CONSOLE_H
#define VIO_SPEC_CONSOLE_H

#include "vio/spec.h"

/* Feature bits. */
#define VIO_CONSOLE_F_SIZE            0  /* rows and cols are valid */
#define VIO_CONSOLE_F_MULTIPORT       1  /* max_nr_ports valid, control queues exist */
#define VIO_CONSOLE_F_EMERG_WRITE     2  /* emerg_wr is valid */

/* Virtqueues of port 0, and the control queues (MULTIPORT only). Port n > 0
 * uses 2 + 2n (receive) and 3 + 2n (transmit). */
#define VIO_CONSOLE_QUEUE_RX          0u
#define VIO_CONSOLE_QUEUE_TX          1u
#define VIO_CONSOLE_QUEUE_CTRL_RX     2u
#define VIO_CONSOLE_QUEUE_CTRL_TX     3u

/* Config space (legacy: guest-native byte order, see vio_get16()). */
struct vio_console_config {
	vio_le16 rows;
	vio_le16 cols;
	vio_le32 max_nr_ports;
	vio_le32 emerg_wr;      /* driver writes a character; the low byte is output */
};

#define VIO_CONSOLE_CONFIG_SIZE       12u

#ifndef __cplusplus
_Static_assert(sizeof(struct vio_console_config) == VIO_CONSOLE_CONFIG_SIZE,
	       "virtio_console_config is 12 bytes on the wire");
#endif

/* Control messages on the control queues (MULTIPORT). */
struct vio_console_control {
	vio_le32 id;            /* port number */
	vio_le16 event;         /* VIO_CONSOLE_* below */
	vio_le16 value;         /* extra information for the event */
};

#define VIO_CONSOLE_DEVICE_READY      0u  /* driver: ready for control messages */
#define VIO_CONSOLE_DEVICE_ADD        1u  /* device: a new port */
#define VIO_CONSOLE_DEVICE_REMOVE     2u  /* device: a port is gone */
#define VIO_CONSOLE_PORT_READY        3u  /* driver: the port is set up */
#define VIO_CONSOLE_CONSOLE_PORT      4u  /* device: this port is a console */
#define VIO_CONSOLE_RESIZE            5u  /* device: struct vio_console_resize follows */
#define VIO_CONSOLE_PORT_OPEN         6u  /* both: value 1 open, 0 closed */
#define VIO_CONSOLE_PORT_NAME         7u  /* device: the UTF-8 name follows, no NUL */

/* Follows a VIO_CONSOLE_RESIZE control message. */
struct vio_console_resize {
	vio_le16 cols;
	vio_le16 rows;
};

#endif /* VIO_SPEC_CONSOLE_H */
