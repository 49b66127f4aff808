/* blk.c - placeholder, being written. */
#include "vio/devices.h"
