/* vio/spec/console.h - wire format of the console device (placeholder, being written). */
#ifndef VIO_SPEC_CONSOLE_H
#define VIO_SPEC_CONSOLE_H
#endif
