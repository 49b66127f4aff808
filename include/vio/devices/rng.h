/* vio/devices/rng.h - the rng device (placeholder, being written). */
#ifndef VIO_DEVICES_RNG_H
#define VIO_DEVICES_RNG_H
#include "vio/core.h"
#endif
