/* vio/spec/rng.h - wire format of the rng device (placeholder, being written). */
#ifndef VIO_SPEC_RNG_H
#define VIO_SPEC_RNG_H
#endif
