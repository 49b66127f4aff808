/*
 * vhost_user_proto.h - the vhost-user wire protocol (QEMU's
 * docs/interop/vhost-user.rst), shared by the backend and the frontend.
 *
 * Messages are a 12-byte header (request, flags, payload size) and a
 * payload whose layout depends on the request; file descriptors travel as
 * SCM_RIGHTS ancillary data. All numbers are in host byte order. What
 * each request may carry, and its name, are in vhost_user_codec.c.
 */
#ifndef VIO_VHOST_USER_PROTO_H
#define VIO_VHOST_USER_PROTO_H

#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_RESET_DEVICE = 34,
	VU_VRING_KICK = 35,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_REQUEST_MAX
};

/* Backend-to-frontend requests on the backend channel. */
enum vu_backend_request {
	VU_BACKEND_IOTLB_MSG = 1,
	VU_BACKEND_CONFIG_CHANGE_MSG = 2,
};

#define VU_VERSION            0x1u
#define VU_VERSION_MASK       0x3u
#define VU_FLAG_REPLY         (1u << 2)
#define VU_FLAG_NEED_REPLY    (1u << 3)

/* Virtio feature bit 30, reused: the backend speaks protocol features. */
#define VU_F_PROTOCOL_FEATURES 30
/* Virtio feature bit 26, reused: log every write to guest memory (dirty
 * logging for live migration, into the SET_LOG_BASE bitmap). */
#define VU_F_LOG_ALL 26
/* SET_VRING_ADDR flags: log the ring's used area writes at log_guest_addr. */
#define VU_VRING_F_LOG (1u << 0)
/* The dirty log's page: one bit per this many bytes of guest memory. */
#define VU_LOG_PAGE 4096u

enum vu_protocol_feature {
	VU_PROTOCOL_F_MQ = 0,
	VU_PROTOCOL_F_LOG_SHMFD = 1,
	VU_PROTOCOL_F_RARP = 2,
	VU_PROTOCOL_F_REPLY_ACK = 3,
	VU_PROTOCOL_F_MTU = 4,
	VU_PROTOCOL_F_BACKEND_REQ = 5,
	VU_PROTOCOL_F_CROSS_ENDIAN = 6,
	VU_PROTOCOL_F_CRYPTO_SESSION = 7,
	VU_PROTOCOL_F_PAGEFAULT = 8,
	VU_PROTOCOL_F_CONFIG = 9,
	VU_PROTOCOL_F_BACKEND_SEND_FD = 10,
	VU_PROTOCOL_F_HOST_NOTIFIER = 11,
	VU_PROTOCOL_F_INFLIGHT_SHMFD = 12,
	VU_PROTOCOL_F_RESET_DEVICE = 13,
	VU_PROTOCOL_F_INBAND_NOTIFICATIONS = 14,
	VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
	VU_PROTOCOL_F_STATUS = 16,
};

/* SET_VRING_KICK/CALL/ERR payload: queue index in bits 0..7, no fd in 8. */
#define VU_VRING_IDX_MASK     0xffu
#define VU_VRING_NOFD         (1u << 8)

/* SET_MEM_TABLE carries at most this many regions (and fds). */
#define VU_MEM_TABLE_MAX      8
/* No message carries more fds than this. */
#define VU_MAX_FDS            8
/* Config space payload limit. */
#define VU_CONFIG_MAX         256

struct vu_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;         /* VHOST_VRING_F_LOG (bit 0) */
	uint64_t desc;          /* frontend user addresses */
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vu_mem_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MEM_TABLE_MAX];
};

struct vu_mem_single {
	uint64_t padding;
	struct vu_mem_region region;
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VU_CONFIG_MAX];
};
#define VU_CONFIG_HDR 12u

struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

/* SET_LOG_BASE with LOG_SHMFD: where the bitmap is in the fd. */
struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

union vu_payload {
	uint64_t u64;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem_table mem;
	struct vu_mem_single mem_reg;
	struct vu_config config;
	struct vu_inflight inflight;
	struct vu_log log;
};

#endif
