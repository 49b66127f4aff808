/* vio/devices/balloon.h - the balloon device (placeholder, being written). */
#ifndef VIO_DEVICES_BALLOON_H
#define VIO_DEVICES_BALLOON_H
#include "vio/core.h"
#endif
