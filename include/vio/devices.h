/*
 * vio/devices.h - device types, written only against the device model
 * (vio/core.h). Each fills a struct vio_dev_model that any transport can carry.
 *
 *   rng      entropy from getrandom()
 *   console  one port; the backend is a pair of file descriptors
 *   balloon  the seed's memory balloon: tracks and releases ballooned pages
 *   blk      block device on RAM or a file (io_uring, or preadv/pwritev)
 *   net      network device behind a port (the reflect port included)
 */
#ifndef VIO_DEVICES_H
#define VIO_DEVICES_H

#include "vio/core.h"
#include "vio/devices/rng.h"
#include "vio/devices/console.h"
#include "vio/devices/balloon.h"
#include "vio/devices/blk.h"
#include "vio/devices/net.h"

#endif /* VIO_DEVICES_H */
