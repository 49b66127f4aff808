/*
 * layouts.h - the ring layouts every suite runs over, in one place: a
 * test table crosses its cases with these rows, and OR-s a row's feature
 * bits into the features of each case it runs.
 */
#ifndef VT_LAYOUTS_H
#define VT_LAYOUTS_H

#include <stdint.h>

#include "vio/spec.h"

struct layout {
	const char *name;       /* in the case's name: "... [split]" */
	uint64_t features;      /* OR-ed into every case of the row */
};

static const struct layout layouts[] __attribute__((unused)) = {
	{ "split", 0 },
	{ "packed", VIO_BIT(VIO_F_RING_PACKED) },
};

#endif
