/* blk.c - placeholder, being written. */
#include "vio/drivers.h"
