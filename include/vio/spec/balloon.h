/*
 * vio/spec/balloon.h - wire format of the traditional memory balloon device
 * (virtio 1.x, "Traditional Memory Balloon Device", device id 5).
 *
 * The host asks for memory by writing a page count into num_pages; the
 * guest gives pages by posting arrays of 32-bit page frame numbers on the
 * inflate queue, takes them back through the deflate queue and reports
 * how many it holds in `actual`. Frame numbers always count 4096-byte
 * pages, whatever the page size of either side (a historical choice of
 * the seed driver). With STATS_VQ the guest also reports memory
 * statistics as packed (tag, value) pairs.
 *
 * Byte order: the config fields are little-endian even for legacy devices
 * (the spec's exception to the legacy rule); the frame numbers and the
 * statistics follow the usual rule (native order for legacy).
 */
#ifndef VIO_SPEC_BALLOON_H
#define VIO_SPEC_BALLOON_H

#include <stddef.h>
#include <stdint.h>

#include "vio/spec.h" /* vio_le* (this header is also included from there) */

/* Feature bits. libvio implements the first three; the others are
 * defined so nobody reuses their numbers, and are never offered. */
#define VIO_BALLOON_F_MUST_TELL_HOST    0 /* deflate before reusing a page */
#define VIO_BALLOON_F_STATS_VQ          1 /* statsq exists */
#define VIO_BALLOON_F_DEFLATE_ON_OOM    2 /* the guest may deflate under memory pressure */
#define VIO_BALLOON_F_FREE_PAGE_HINT    3 /* free_page_vq, free_page_hint_cmd_id */
#define VIO_BALLOON_F_PAGE_POISON       4 /* poison_val */
#define VIO_BALLOON_F_PAGE_REPORTING    5 /* reporting_vq */

/* Queue indices. statsq exists only with STATS_VQ; the indices of the
 * later queues are fixed whether or not the ones before them exist. */
#define VIO_BALLOON_Q_INFLATE           0
#define VIO_BALLOON_Q_DEFLATE           1
#define VIO_BALLOON_Q_STATS             2
#define VIO_BALLOON_Q_FREE_PAGE         3
#define VIO_BALLOON_Q_REPORTING         4

/* The unit of num_pages, actual and the frame numbers. */
#define VIO_BALLOON_PFN_SHIFT           12
#define VIO_BALLOON_PAGE_SIZE           (UINT32_C(1) << VIO_BALLOON_PFN_SHIFT)

/*
 * Config space. num_pages is written by the device (the target), actual
 * by the driver (what it holds). The last two fields exist only with
 * FREE_PAGE_HINT and PAGE_POISON respectively: a device offering neither
 * exposes just the first 8 bytes (VIO_BALLOON_CONFIG_BASE_LEN).
 */
struct vio_balloon_config {
	vio_le32 num_pages;
	vio_le32 actual;
	vio_le32 free_page_hint_cmd_id;
	vio_le32 poison_val;
};

#define VIO_BALLOON_CONFIG_BASE_LEN     offsetof(struct vio_balloon_config, free_page_hint_cmd_id)

/* Reserved free_page_hint_cmd_id values. */
#define VIO_BALLOON_CMD_ID_STOP         0
#define VIO_BALLOON_CMD_ID_DONE         1

/* Statistics tags. Values are bytes, except the fault and hugetlb counts. */
#define VIO_BALLOON_S_SWAP_IN           0
#define VIO_BALLOON_S_SWAP_OUT          1
#define VIO_BALLOON_S_MAJFLT            2
#define VIO_BALLOON_S_MINFLT            3
#define VIO_BALLOON_S_MEMFREE           4
#define VIO_BALLOON_S_MEMTOT            5
#define VIO_BALLOON_S_AVAIL             6
#define VIO_BALLOON_S_CACHES            7
#define VIO_BALLOON_S_HTLB_PGALLOC      8
#define VIO_BALLOON_S_HTLB_PGFAIL       9
#define VIO_BALLOON_S_NR                10 /* tags defined here */

/*
 * One statistic: 10 bytes, no padding, so the value is unaligned in the
 * buffer. Read it with memcpy into this struct (never through a pointer
 * into the buffer) and then vio_get16/vio_get64.
 */
struct __attribute__((packed)) vio_balloon_stat {
	vio_le16 tag;
	vio_le64 val;
};

#define VIO_BALLOON_STAT_SIZE           10u

_Static_assert(sizeof(struct vio_balloon_config) == 16, "balloon config is 16 bytes");
_Static_assert(sizeof(struct vio_balloon_stat) == VIO_BALLOON_STAT_SIZE,
	       "a balloon statistic is 10 packed bytes");

/* Pages to bytes without 32-bit overflow: UINT32_MAX pages is ~16 TiB. */
static inline uint64_t vio_balloon_pages_to_bytes(uint64_t pages)
{
	return pages << VIO_BALLOON_PFN_SHIFT;
}

#endif /* VIO_SPEC_BALLOON_H */
