/* vio/drivers/console.h - the console driver (placeholder, being written). */
#ifndef VIO_DRIVERS_CONSOLE_H
#define VIO_DRIVERS_CONSOLE_H
#include "vio/core.h"
#endif
