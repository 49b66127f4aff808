/* vio/devices/blk.h - the blk device (placeholder, being written). */
#ifndef VIO_DEVICES_BLK_H
#define VIO_DEVICES_BLK_H
#include "vio/core.h"
#endif
