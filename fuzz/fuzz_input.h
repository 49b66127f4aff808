/*
 * fuzz_input.h - how the fuzz targets read their input, and the byte
 * formats they expect.
 *
 * Shared by the targets and by gen_seeds.c, so the seed corpus follows the
 * format when it changes. A target reads its input front to back; past
 * the end every read gives zero, so any byte string is a valid input and
 * libFuzzer never wastes runs on rejected ones.
 *
 * fuzz_devq_pop, fuzz_devq_pop_packed (all multi-byte fields little-endian;
 * the first binary forces the split layout, the second packed, whatever
 * the FZ_F_PACKED bit says, so each layout gets its own fuzzing time):
 *   u8   queue size: bit 7 clear: 1 << (value % 9); set: the next u16, raw
 *   u8   features: FZ_F_* below
 *   u8   regions: 1 + value % FZ_MAX_REGIONS, then per region
 *          u8 mode (FZ_R_*), u16 size (1 + value % FZ_REGION_MAX), u8 gap
 *   3x   ring area placement (descriptors, driver area, device area):
 *          u8 region, u16 offset (bit 15 set: used raw, else rounded down
 *          to 16)
 *   u8   bit 0: resume at the bases below; u16 avail_base, u16 used_base
 *   u8   out_cap, u8 in_cap (1 + value % FZ_MAX_IOV each)
 *   u8   op count, then that many FZ_DOP_* ops of 4 bytes: op, a, b, c
 *   ...  the rest: guest memory, copied into region 0, 1, ... in turn
 *
 * fuzz_inflight, fuzz_inflight_packed (the layout forced the same way): the
 * fuzz_devq_pop format, whose ops may also be FZ_IOP_* (op % FZ_IOP_COUNT),
 * with this between the ops and guest memory:
 *   u8   log length (FZ_LOG_*), u8 extra entries for FZ_LOG_LARGER
 *   ...  the log region, every byte of it (its length follows from the
 *        above and the queue size)
 *
 * fuzz_drvq_get_buf, fuzz_drvq_get_buf_packed (the fake device writes the
 * split used ring, or the packed descriptor ring and device event
 * structure):
 *   u8   queue size: 1 << (value % 9); packed with bit 7 set:
 *        1 + (value & 0x7f), so not only powers of two
 *   u8   features: FZ_F_EVENT_IDX, FZ_F_INDIRECT, FZ_F_VERSION_1 (always on
 *        for packed), FZ_F_IN_ORDER
 *   u8   bit 0: VIO_LEN_CLAMP (else VIO_LEN_BROKEN)
 *   u8   indirect_max: value % 18
 *   ...  ops until the input ends: u8 FZ_QOP_* (value % FZ_QOP_COUNT) and
 *        its arguments, listed with the enum
 *
 * fuzz_vu_frontend: a setup byte (FZ_FE_* bits), then records (messages
 * from the backend, on the main socket or the backend channel, with fds;
 * and actions of the driver side), described at the top of
 * fuzz_vu_frontend.c; the constants are below.
 */
#ifndef VIO_FUZZ_INPUT_H
#define VIO_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Feature byte. */
#define FZ_F_EVENT_IDX      0x01u
#define FZ_F_INDIRECT       0x02u
#define FZ_F_VERSION_1      0x04u
#define FZ_F_NOTIFY_EMPTY   0x08u
#define FZ_F_PACKED         0x10u
#define FZ_F_IN_ORDER       0x20u

/* Regions: where each one goes relative to the one before. */
#define FZ_MAX_REGIONS      4
#define FZ_REGION_MAX       16384u
#define FZ_BASE             UINT64_C(0x100000)  /* first region, modes 0..2 */
enum {
	FZ_R_ADJACENT,  /* starts where the previous one ends */
	FZ_R_HOLE,      /* (gap + 1) * 16 bytes after it */
	FZ_R_FAR,       /* (gap + 1) << 24 bytes after it */
	FZ_R_TOP,       /* ends gap bytes below 2^64 */
	FZ_R_MODES
};

#define FZ_MAX_IOV          16
#define FZ_MAX_HELD         8

/* fuzz_devq_pop ops: (a, b, c) are the three argument bytes. */
enum {
	FZ_DOP_POP,         /* into held slot a % FZ_MAX_HELD */
	FZ_DOP_PUSH,        /* held slot a; b picks len: 0, in_len, in_len + 1, or c */
	FZ_DOP_FILL,        /* as PUSH, without publishing */
	FZ_DOP_FILL_IN_ORDER,
	FZ_DOP_FLUSH,
	FZ_DOP_NEED_INTERRUPT,
	FZ_DOP_KICK_DISABLE,
	FZ_DOP_KICK_ENABLE,
	FZ_DOP_HAS_AVAIL,
	FZ_DOP_PUBLISH,     /* the driver makes 1 + a % 8 more entries available:
			     * split: moves avail->idx on; packed: sets the
			     * AVAIL/USED bits of that many descriptors from the
			     * device's position, for their wrap counters */
	FZ_DOP_POKE,        /* byte c at offset a + (b >> 2) * 256 of area b % 3 */
	FZ_DOP_COUNT
};

/* fuzz_inflight: the FZ_DOP_* ops, and these. */
enum {
	FZ_IOP_LOG_POKE = FZ_DOP_COUNT, /* byte c at offset (a | b << 8) of the log,
					 * modulo its length: the frontend owns it */
	FZ_IOP_RESTART,     /* the device dies between two calls; a new one
			     * resumes the queue with the same log, at the
			     * positions the old one had reached */
	FZ_IOP_COUNT
};

/* fuzz_inflight: how long the log region is (the byte % FZ_LOG_MODES). */
enum {
	FZ_LOG_EXACT,       /* header and one entry per descriptor */
	FZ_LOG_ALIGNED,     /* vio_inflight_queue_bytes(): rounded up to 64 */
	FZ_LOG_SHORT,       /* one byte less than FZ_LOG_EXACT: init must refuse */
	FZ_LOG_LARGER,      /* made for a larger queue: size + extra entries */
	FZ_LOG_MODES
};

/* fuzz_drvq_get_buf ops and their arguments. "The device's position" is
 * used->idx as the fake device last wrote it (split) or where it writes its
 * next used descriptor (packed, with its own wrap counter). */
enum {
	FZ_QOP_ADD,         /* u8 out_n, u8 in_n (% 9 each), u16 len per segment
			     * (0xffff means 0xffffffff) */
	FZ_QOP_GET_BUF,
	FZ_QOP_COMPLETE,    /* u8 pick: the pick-th outstanding buffer the device
			     * has not completed (bit 7: any outstanding one; a
			     * raw id when none), u8 len mode (% 4: capacity,
			     * capacity + 1, mode >> 2, or a u32 that follows);
			     * writes the used entry at the device's position
			     * and publishes it (split: used->idx += 1; packed:
			     * flags with both bits at the device's wrap
			     * counter, then the position skips the buffer's
			     * descriptors, with IN_ORDER those of every earlier
			     * buffer not yet completed too) */
	FZ_QOP_ENTRY,       /* u8 ahead, u32 id, u32 len: a used entry (packed:
			     * id and len of the descriptor) that many ahead of
			     * the device's position, not published */
	FZ_QOP_SET_IDX,     /* s8 delta: split: used->idx += delta; packed: the
			     * device's position moves, its wrap counter with it */
	FZ_QOP_EVENTS,      /* u16, u16: split: used->flags, avail_event;
			     * packed: device event flags, off_wrap */
	FZ_QOP_KICK,
	FZ_QOP_DISABLE_CB,
	FZ_QOP_ENABLE_CB,
	FZ_QOP_ENABLE_CB_DELAYED,
	FZ_QOP_POLL,        /* enable_cb_prepare, then poll */
	FZ_QOP_HAS_USED,
	FZ_QOP_FLAGS,       /* u8 ahead, u16 v: packed: raw flags of the
			     * descriptor that many ahead of the device's
			     * position; split: used->idx = v */
	FZ_QOP_COUNT
};

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

/* fuzz_vu_frontend: the setup byte. */
#define FZ_FE_RNG           0x01u       /* the rng device and driver, else blk */
#define FZ_FE_TWO_QUEUES    0x02u       /* num_queues 2 (without MQ), else 1 */
#define FZ_FE_QMAX64        0x04u       /* queue_max 64, else 8 */
/* Protocol features the frontend does not use: 0 none, 1 INFLIGHT_SHMFD,
 * 2 REPLY_ACK, 3 STATUS and RESET_DEVICE. */
#define FZ_FE_PF_OFF(n)     ((unsigned)(n) << 3)
/* Ring features it does not carry: 0 none, 1 RING_PACKED, 2 EVENT_IDX and
 * INDIRECT_DESC, 3 VERSION_1 (the driver goes legacy). */
#define FZ_FE_F_OFF(n)      ((unsigned)(n) << 5)

/* fuzz_vu_frontend: a record's tag byte. */
#define FZ_FE_MAIN          0u          /* main socket, current connection */
#define FZ_FE_CHAN          1u          /* backend channel */
#define FZ_FE_NEXT          2u          /* main socket, next connection */
#define FZ_FE_ACTION        3u          /* then u8 FZ_FE_A_* and its arguments */
#define FZ_FE_FDS(n)        ((unsigned)(n) << 2)  /* 0, 1, 2 fds; 3: nine */
#define FZ_FE_BUILT         0x10u       /* u8 request, u8 flags, u16 len, payload */
#define FZ_FE_HELD          0x20u       /* sent at the frontend's next transport op */
#define FZ_FE_MSG_MAX       600u        /* bytes of one message record */

/* fuzz_vu_frontend: fd kinds (u8 per fd, after the bytes). */
enum {
	FZ_FE_FD_MEMFD,         /* then u32: its size in bytes */
	FZ_FE_FD_MEMFD_PAGES,   /* then u8: its size in 4 KiB pages */
	FZ_FE_FD_EVENTFD,
	FZ_FE_FD_PIPE,          /* the read end of a pipe */
};

/* fuzz_vu_frontend: actions (value % FZ_FE_A_COUNT) and their arguments. */
enum {
	FZ_FE_A_CONNECT,
	FZ_FE_A_BIND,
	FZ_FE_A_DISPATCH,
	FZ_FE_A_POLL,
	FZ_FE_A_CONFIG_READ,    /* u8 off, u8 len */
	FZ_FE_A_CONFIG_WRITE,   /* u8 off, u8 len, len bytes */
	FZ_FE_A_GENERATION,
	FZ_FE_A_STATUS,
	FZ_FE_A_UNBIND,
	FZ_FE_A_RECONNECT,
	FZ_FE_A_DISCONNECT,
	FZ_FE_A_IO,             /* u8 what, u8 sector */
	FZ_FE_A_POKE,           /* u32 off, u8 len, len bytes */
	FZ_FE_A_SIGNAL,         /* u8 queue (bit 7: its error eventfd) */
	FZ_FE_A_SHUT,
	FZ_FE_A_ABORT,
	FZ_FE_A_CLOSE,
	FZ_FE_A_COUNT
};

/* Copies up to len bytes; returns how many there were. */
static inline size_t fz_take(struct fz *f, void *dst, size_t len)
{
	if (len > f->n)
		len = f->n;
	memcpy(dst, f->p, len);
	f->p += len;
	f->n -= len;
	return len;
}

/* Fills len bytes: what the input has left, then zeroes. */
static inline void fz_fill(struct fz *f, void *dst, size_t len)
{
	size_t k = fz_take(f, dst, len);

	memset((uint8_t *)dst + k, 0, len - k);
}

#endif
