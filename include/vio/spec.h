/*
 * vio/spec.h - the wire format of virtio, and nothing else.
 *
 * This header is the bottom layer of libvio: little-endian field types that
 * cannot be used by accident as plain integers, the split and packed ring
 * structures, feature bits, status bits and device ids, as the OASIS virtio
 * 1.x specification defines them. It has no functions with side effects and
 * depends only on the C11 freestanding headers (in a hosted build also on
 * <errno.h> and <sys/types.h>, see below).
 *
 * Byte order: virtio 1.x is little-endian on the wire. Legacy (0.9.5)
 * devices, which did not negotiate VIRTIO_F_VERSION_1, use the guest's
 * native byte order. The vio_le* types wrap the raw storage in a struct, so
 * `desc.len + 1` does not compile; every access goes through vio_get*() and
 * vio_set*(), which take a `legacy` flag that picks native order.
 */
#ifndef VIO_SPEC_H
#define VIO_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Errors are negative errno values, and a few calls return ssize_t. A
 * hosted build takes both from the C library. A freestanding one (no libc:
 * -ffreestanding, __STDC_HOSTED__ == 0) gets them here: Linux's errno
 * numbers (asm-generic), which vio_strerror() knows, and ssize_t as the
 * signed type of size_t's width, as every POSIX ABI has it. Code linked
 * with a freestanding libvio must compare against these values.
 */
#if __STDC_HOSTED__
#include <errno.h>
#include <sys/types.h>
#else
typedef __PTRDIFF_TYPE__ ssize_t;
#define EPERM           1
#define ENOENT          2
#define EINTR           4
#define EIO             5
#define E2BIG           7
#define EBADF           9
#define EAGAIN          11
#define EWOULDBLOCK     EAGAIN
#define ENOMEM          12
#define EFAULT          14
#define EBUSY           16
#define EEXIST          17
#define ENODEV          19
#define EINVAL          22
#define ENOSPC          28
#define EROFS           30
#define EPIPE           32
#define ERANGE          34
#define ENOSYS          38
#define ENODATA         61
#define EPROTO          71
#define EOVERFLOW       75
#define EMSGSIZE        90
#define EOPNOTSUPP      95
#define ENOTSUP         EOPNOTSUPP
#define ECONNRESET      104
#define ENOBUFS         105
#define ETIMEDOUT       110
#define ECANCELED       125
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Little-endian wire types                                                 */

typedef struct { uint16_t raw; } vio_le16;
typedef struct { uint32_t raw; } vio_le32;
typedef struct { uint64_t raw; } vio_le64;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define VIO_HOST_LITTLE_ENDIAN 1
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VIO_HOST_LITTLE_ENDIAN 0
#else
#error "libvio needs the compiler to say the host byte order (__BYTE_ORDER__)"
#endif

/*
 * Wire value <-> host value. On a little-endian host both byte orders are
 * the identity, so the legacy flag costs nothing there.
 */
static inline uint16_t vio_get16(bool legacy, vio_le16 v)
{
#if VIO_HOST_LITTLE_ENDIAN
	(void)legacy;
	return v.raw;
#else
	return legacy ? v.raw : __builtin_bswap16(v.raw);
#endif
}

static inline uint32_t vio_get32(bool legacy, vio_le32 v)
{
#if VIO_HOST_LITTLE_ENDIAN
	(void)legacy;
	return v.raw;
#else
	return legacy ? v.raw : __builtin_bswap32(v.raw);
#endif
}

static inline uint64_t vio_get64(bool legacy, vio_le64 v)
{
#if VIO_HOST_LITTLE_ENDIAN
	(void)legacy;
	return v.raw;
#else
	return legacy ? v.raw : __builtin_bswap64(v.raw);
#endif
}

static inline vio_le16 vio_set16(bool legacy, uint16_t v)
{
	vio_le16 r;
#if VIO_HOST_LITTLE_ENDIAN
	(void)legacy;
	r.raw = v;
#else
	r.raw = legacy ? v : __builtin_bswap16(v);
#endif
	return r;
}

static inline vio_le32 vio_set32(bool legacy, uint32_t v)
{
	vio_le32 r;
#if VIO_HOST_LITTLE_ENDIAN
	(void)legacy;
	r.raw = v;
#else
	r.raw = legacy ? v : __builtin_bswap32(v);
#endif
	return r;
}

static inline vio_le64 vio_set64(bool legacy, uint64_t v)
{
	vio_le64 r;
#if VIO_HOST_LITTLE_ENDIAN
	(void)legacy;
	r.raw = v;
#else
	r.raw = legacy ? v : __builtin_bswap64(v);
#endif
	return r;
}

/* Plain little-endian (modern-only fields such as config space). */
#define vio_le16_to_cpu(v) vio_get16(false, (v))
#define vio_le32_to_cpu(v) vio_get32(false, (v))
#define vio_le64_to_cpu(v) vio_get64(false, (v))
#define vio_cpu_to_le16(v) vio_set16(false, (v))
#define vio_cpu_to_le32(v) vio_set32(false, (v))
#define vio_cpu_to_le64(v) vio_set64(false, (v))

/* Words for a negative errno value returned by any libvio call. */
const char *vio_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Device status (virtio 1.x 2.1)                                           */

#define VIO_STATUS_ACKNOWLEDGE        0x01u
#define VIO_STATUS_DRIVER             0x02u
#define VIO_STATUS_DRIVER_OK          0x04u
#define VIO_STATUS_FEATURES_OK        0x08u
#define VIO_STATUS_NEEDS_RESET        0x40u
#define VIO_STATUS_FAILED             0x80u

/* ------------------------------------------------------------------------ */
/* Feature bits independent of the device type (virtio 1.x 6)               */

#define VIO_F_NOTIFY_ON_EMPTY         24
#define VIO_F_ANY_LAYOUT              27
#define VIO_F_INDIRECT_DESC           28
#define VIO_F_EVENT_IDX               29
#define VIO_F_BAD_FEATURE             30 /* legacy: never offered by a device */
#define VIO_F_VERSION_1               32
#define VIO_F_ACCESS_PLATFORM         33
#define VIO_F_RING_PACKED             34
#define VIO_F_IN_ORDER                35
#define VIO_F_ORDER_PLATFORM          36
#define VIO_F_SR_IOV                  37
#define VIO_F_NOTIFICATION_DATA       38
#define VIO_F_NOTIF_CONFIG_DATA       39
#define VIO_F_RING_RESET              40

/* Bit number -> mask. */
#define VIO_BIT(nr) (UINT64_C(1) << (nr))

static inline bool vio_has_feature(uint64_t features, unsigned nr)
{
	return nr < 64 && (features & VIO_BIT(nr)) != 0;
}

/* ------------------------------------------------------------------------ */
/* Device ids (virtio 1.x 5)                                                */

enum vio_device_id {
	VIO_ID_INVALID    = 0,
	VIO_ID_NET        = 1,
	VIO_ID_BLOCK      = 2,
	VIO_ID_CONSOLE    = 3,
	VIO_ID_RNG        = 4,
	VIO_ID_BALLOON    = 5,
	VIO_ID_IOMEM      = 6,
	VIO_ID_RPMSG      = 7,
	VIO_ID_SCSI       = 8,
	VIO_ID_9P         = 9,
	VIO_ID_RPROC_SERIAL = 11,
	VIO_ID_CAIF       = 12,
	VIO_ID_GPU        = 16,
	VIO_ID_INPUT      = 18,
	VIO_ID_VSOCK      = 19,
	VIO_ID_CRYPTO     = 20,
	VIO_ID_IOMMU      = 23,
	VIO_ID_MEM        = 24,
	VIO_ID_SOUND      = 25,
	VIO_ID_FS         = 26,
	VIO_ID_PMEM       = 27,
	VIO_ID_I2C        = 34,
	VIO_ID_SCMI       = 32,
	VIO_ID_GPIO       = 41,
};

/* ------------------------------------------------------------------------ */
/* Split virtqueue (virtio 1.x 2.7; legacy 0.9.5 "vring")                   */

#define VIO_SPLIT_MAX_SIZE            32768u

/* Descriptor flags. */
#define VIO_DESC_F_NEXT               1u
#define VIO_DESC_F_WRITE              2u
#define VIO_DESC_F_INDIRECT           4u

/* avail->flags: the driver asks the device not to interrupt. */
#define VIO_AVAIL_F_NO_INTERRUPT      1u
/* used->flags: the device asks the driver not to kick. */
#define VIO_USED_F_NO_NOTIFY          1u

struct vio_split_desc {
	vio_le64 addr;
	vio_le32 len;
	vio_le16 flags;
	vio_le16 next;
};

/* Driver area. With EVENT_IDX, ring[size] holds used_event. */
struct vio_split_avail {
	vio_le16 flags;
	vio_le16 idx;
	vio_le16 ring[];
};

struct vio_split_used_elem {
	vio_le32 id;
	vio_le32 len;
};

/* Device area. With EVENT_IDX, the le16 after ring[size] holds avail_event. */
struct vio_split_used {
	vio_le16 flags;
	vio_le16 idx;
	struct vio_split_used_elem ring[];
};

/* Alignment the modern layout requires of each area (2.7, table 2.2). */
#define VIO_SPLIT_DESC_ALIGN          16u
#define VIO_SPLIT_AVAIL_ALIGN         2u
#define VIO_SPLIT_USED_ALIGN          4u

/* The legacy layout puts all three in one block, the used ring aligned to
 * this (VIRTIO_PCI_VRING_ALIGN, and the page size of the seed). */
#define VIO_LEGACY_VRING_ALIGN        4096u

static inline size_t vio_split_desc_size(unsigned size)
{
	return sizeof(struct vio_split_desc) * (size_t)size;
}

/* flags + idx + ring[size] + used_event */
static inline size_t vio_split_avail_size(unsigned size)
{
	return sizeof(vio_le16) * (3 + (size_t)size);
}

/* flags + idx + ring[size] + avail_event */
static inline size_t vio_split_used_size(unsigned size)
{
	return sizeof(vio_le16) * 3 + sizeof(struct vio_split_used_elem) * (size_t)size;
}

/* The seed's vring_size(): bytes of one legacy block of `size` entries. */
static inline size_t vio_split_legacy_size(unsigned size, size_t align)
{
	size_t used_off = (vio_split_desc_size(size) + vio_split_avail_size(size) + align - 1) & ~(align - 1);
	return used_off + vio_split_used_size(size);
}

/*
 * vring_need_event() from the seed's EVENT_IDX patch: given that the other
 * side asked to be notified when the index passes `event`, and the index
 * moved from `old` to `new`, is a notification due? Wrap-safe in 16 bits.
 */
static inline bool vio_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* ------------------------------------------------------------------------ */
/* Packed virtqueue (virtio 1.x 2.8)                                        */

#define VIO_PACKED_MAX_SIZE           32768u

#define VIO_PACKED_DESC_F_AVAIL       (1u << 7)
#define VIO_PACKED_DESC_F_USED        (1u << 15)

/* Event suppression flags. */
#define VIO_PACKED_EVENT_ENABLE       0x0u
#define VIO_PACKED_EVENT_DISABLE      0x1u
#define VIO_PACKED_EVENT_DESC         0x2u
/* off_wrap: bit 15 is the wrap counter, bits 0..14 the descriptor offset. */
#define VIO_PACKED_EVENT_WRAP_SHIFT   15

struct vio_packed_desc {
	vio_le64 addr;
	vio_le32 len;
	vio_le16 id;
	vio_le16 flags;
};

struct vio_packed_event {
	vio_le16 off_wrap;
	vio_le16 flags;
};

#define VIO_PACKED_DESC_ALIGN         16u
#define VIO_PACKED_EVENT_ALIGN        4u

#ifdef __cplusplus
}
#endif

/* Per-device-type wire formats: config layouts, request headers, bits. */
#include "vio/spec/rng.h"
#include "vio/spec/console.h"
#include "vio/spec/balloon.h"
#include "vio/spec/blk.h"
#include "vio/spec/net.h"

/* Transport register layouts (virtio 1.x 4.1, 4.2). */
#include "vio/spec/pci.h"
#include "vio/spec/mmio.h"

#endif /* VIO_SPEC_H */
