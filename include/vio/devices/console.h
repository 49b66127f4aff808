/* vio/devices/console.h - the console device (placeholder, being written). */
#ifndef VIO_DEVICES_CONSOLE_H
#define VIO_DEVICES_CONSOLE_H
#include "vio/core.h"
#endif
