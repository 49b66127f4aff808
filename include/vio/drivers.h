/*
 * vio/drivers.h - drivers for the device types, written only against the
 * driver model (vio/core.h). Each registers a struct vio_driver on a
 * vio_bus and never learns which transport carries its device.
 */
#ifndef VIO_DRIVERS_H
#define VIO_DRIVERS_H

#include "vio/core.h"
#include "vio/drivers/rng.h"
#include "vio/drivers/console.h"
#include "vio/drivers/balloon.h"
#include "vio/drivers/blk.h"
#include "vio/drivers/net.h"

#endif /* VIO_DRIVERS_H */
