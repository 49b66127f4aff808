/*
 * vio/transport.h - transports: what joins a driver to a device.
 *
 * A transport carries the control plane (status, features, config, queue
 * setup) and the notifications in both directions, and on the driver side
 * provides the DMA memory the device can address. Devices and drivers
 * never see which one they run on. One header per transport:
 *
 *   vio/transport/loopback.h             a device and its driver in one
 *                                        process (direct or threaded)
 *   vio/transport/vhost_user_backend.h   device side of vhost-user: serves
 *                                        a struct vio_dev_model to QEMU & co.
 *   vio/transport/pci.h                  driver side of virtio-pci over a
 *                                        platform (vfio/uio, a model)
 *   vio/transport/vhost_user_frontend.h  driver side of vhost-user: libvio's
 *                                        drivers over any backend
 *   vio/transport/pci_dev.h              device side of virtio-pci: a register model a VMM embeds
 *   vio/transport/mmio.h                 virtio-mmio: register model for VMMs, and driver side
 *
 * This header includes them all; include only the one you use if you like.
 */
#ifndef VIO_TRANSPORT_H
#define VIO_TRANSPORT_H

#include "vio/transport/loopback.h"
#include "vio/transport/pci.h"
#include "vio/transport/pci_dev.h"
#include "vio/transport/vhost_user_backend.h"
#include "vio/transport/vhost_user_frontend.h"
#include "vio/transport/mmio.h"

#endif /* VIO_TRANSPORT_H */
