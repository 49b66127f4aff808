/*
 * vio/spec/rng.h - wire format of the entropy (rng) device, virtio 1.x 5.4.
 *
 * The entropy device is the smallest virtio device there is: one queue,
 * no feature bits, no config space. The driver posts device-writable
 * buffers; the device fills each with random bytes (at least one, possibly
 * fewer than the buffer holds) and reports how many in the used length.
 * This header only names the queue so that devices and drivers agree on it.
 */
#ifndef VIO_SPEC_RNG_H
#define VIO_SPEC_RNG_H

/* Virtqueues. */
#define VIO_RNG_QUEUE_REQUEST         0u
#define VIO_RNG_NUM_QUEUES            1u

#endif /* VIO_SPEC_RNG_H */
