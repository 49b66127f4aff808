/* vio/drivers/rng.h - the rng driver (placeholder, being written). */
#ifndef VIO_DRIVERS_RNG_H
#define VIO_DRIVERS_RNG_H
#include "vio/core.h"
#endif
