/* vio/drivers/blk.h - the blk driver (placeholder, being written). */
#ifndef VIO_DRIVERS_BLK_H
#define VIO_DRIVERS_BLK_H
#include "vio/core.h"
#endif
