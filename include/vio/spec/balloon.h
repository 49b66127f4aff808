/* vio/spec/balloon.h - wire format of the balloon device (placeholder, being written). */
#ifndef VIO_SPEC_BALLOON_H
#define VIO_SPEC_BALLOON_H
#endif
