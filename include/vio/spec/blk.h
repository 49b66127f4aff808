/* vio/spec/blk.h - wire format of the blk device (placeholder, being written). */
#ifndef VIO_SPEC_BLK_H
#define VIO_SPEC_BLK_H
#endif
