/* vio/drivers/balloon.h - the balloon driver (placeholder, being written). */
#ifndef VIO_DRIVERS_BALLOON_H
#define VIO_DRIVERS_BALLOON_H
#include "vio/core.h"
#endif
