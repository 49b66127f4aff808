/*
 * vio/spec/blk.h - wire format of the virtio block device (device id 2).
 *
 * What a driver and a block device exchange, as virtio 1.x "Block Device"
 * defines it: the config space layout, the feature bits, and the request
 * that travels on every request queue:
 *
 *   struct vio_blk_req_hdr   device-readable: type, ioprio, sector
 *   data                     readable (OUT, DISCARD, WRITE_ZEROES segments)
 *                            or writable (IN, GET_ID), absent for FLUSH
 *   u8 status                device-writable, always the last byte
 *
 * Sectors are always 512 bytes on the wire, whatever blk_size says. Legacy
 * (no VERSION_1) devices use the guest's native byte order for both the
 * config space and the request header: read them with vio_get*(legacy, ...).
 * This header is data only, like vio/spec.h, which includes it.
 */
#ifndef VIO_SPEC_BLK_H
#define VIO_SPEC_BLK_H

#include <stddef.h>
#include <stdint.h>

#include "vio/spec.h"

/* ------------------------------------------------------------------------ */
/* Feature bits                                                             */

#define VIO_BLK_F_SIZE_MAX            1   /* size_max: largest data segment */
#define VIO_BLK_F_SEG_MAX             2   /* seg_max: data segments per request */
#define VIO_BLK_F_GEOMETRY            4   /* geometry is valid */
#define VIO_BLK_F_RO                  5   /* read-only device */
#define VIO_BLK_F_BLK_SIZE            6   /* blk_size is valid */
#define VIO_BLK_F_FLUSH               9   /* FLUSH requests (legacy name: WCE) */
#define VIO_BLK_F_TOPOLOGY            10  /* topology is valid */
#define VIO_BLK_F_CONFIG_WCE          11  /* writeback is driver-writable */
#define VIO_BLK_F_MQ                  12  /* num_queues is valid */
#define VIO_BLK_F_DISCARD             13  /* DISCARD requests and their limits */
#define VIO_BLK_F_WRITE_ZEROES        14  /* WRITE_ZEROES requests and their limits */
#define VIO_BLK_F_LIFETIME            15  /* GET_LIFETIME requests */
#define VIO_BLK_F_SECURE_ERASE        16  /* SECURE_ERASE requests and their limits */
#define VIO_BLK_F_ZONED               17  /* zoned block device */

/* Legacy interface only: defined so they can be named, never offered. */
#define VIO_BLK_F_BARRIER             0   /* VIO_BLK_T_BARRIER ordering */
#define VIO_BLK_F_SCSI                7   /* SCSI packet commands */

/* ------------------------------------------------------------------------ */
/* Config space                                                             */

struct vio_blk_geometry {
	vio_le16 cylinders;
	uint8_t heads;
	uint8_t sectors;
};

struct vio_blk_topology {
	uint8_t physical_block_exp;   /* log2(physical block / logical block) */
	uint8_t alignment_offset;     /* first aligned logical block */
	vio_le16 min_io_size;         /* suggested minimum I/O, in blocks */
	vio_le32 opt_io_size;         /* optimal (suggested maximum) I/O, in blocks */
};

/*
 * Fields other than capacity are meaningful only when their feature is
 * offered (see the comments). Secure erase fields come last; zoned
 * characteristics, which would follow them, are not modelled here.
 */
struct vio_blk_config {
	vio_le64 capacity;                      /* 512-byte sectors, always valid */
	vio_le32 size_max;                      /* SIZE_MAX */
	vio_le32 seg_max;                       /* SEG_MAX */
	struct vio_blk_geometry geometry;       /* GEOMETRY */
	vio_le32 blk_size;                      /* BLK_SIZE */
	struct vio_blk_topology topology;       /* TOPOLOGY */
	uint8_t writeback;                      /* CONFIG_WCE: 1 writeback, 0 writethrough */
	uint8_t unused0;
	vio_le16 num_queues;                    /* MQ */
	vio_le32 max_discard_sectors;           /* DISCARD */
	vio_le32 max_discard_seg;               /* DISCARD */
	vio_le32 discard_sector_alignment;      /* DISCARD */
	vio_le32 max_write_zeroes_sectors;      /* WRITE_ZEROES */
	vio_le32 max_write_zeroes_seg;          /* WRITE_ZEROES */
	uint8_t write_zeroes_may_unmap;         /* WRITE_ZEROES */
	uint8_t unused1[3];
	vio_le32 max_secure_erase_sectors;      /* SECURE_ERASE */
	vio_le32 max_secure_erase_seg;          /* SECURE_ERASE */
	vio_le32 secure_erase_sector_alignment; /* SECURE_ERASE */
};

_Static_assert(offsetof(struct vio_blk_config, size_max) == 8, "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, geometry) == 16, "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, blk_size) == 20, "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, topology) == 24, "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, writeback) == 32, "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, num_queues) == 34, "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, max_discard_sectors) == 36,
	       "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, max_write_zeroes_sectors) == 48,
	       "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, write_zeroes_may_unmap) == 56,
	       "virtio_blk_config layout");
_Static_assert(offsetof(struct vio_blk_config, max_secure_erase_sectors) == 60,
	       "virtio_blk_config layout");
_Static_assert(sizeof(struct vio_blk_config) == 72, "virtio_blk_config layout");

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

/* The device-readable header at the start of every request. */
struct vio_blk_req_hdr {
	vio_le32 type;          /* VIO_BLK_T_* */
	vio_le32 ioprio;        /* "reserved" in virtio 1.x; a priority hint in legacy */
	vio_le64 sector;        /* IN/OUT: first 512-byte sector; 0 otherwise */
};

_Static_assert(sizeof(struct vio_blk_req_hdr) == 16, "virtio_blk_req header layout");

#define VIO_BLK_T_IN                  0u    /* read: data is device-writable */
#define VIO_BLK_T_OUT                 1u    /* write: data is device-readable */
#define VIO_BLK_T_FLUSH               4u    /* make completed writes stable */
#define VIO_BLK_T_GET_ID              8u    /* device id string into data */
#define VIO_BLK_T_GET_LIFETIME        10u   /* struct vio_blk_lifetime into data */
#define VIO_BLK_T_DISCARD             11u   /* segments: ranges to deallocate */
#define VIO_BLK_T_WRITE_ZEROES        13u   /* segments: ranges to zero */
#define VIO_BLK_T_SECURE_ERASE        14u   /* segments: ranges to erase */

/* Legacy interface only. */
#define VIO_BLK_T_SCSI_CMD            2u
#define VIO_BLK_T_SCSI_CMD_OUT        3u
#define VIO_BLK_T_FLUSH_OUT           5u    /* a synonym of FLUSH */
#define VIO_BLK_T_BARRIER             0x80000000u /* flag OR-ed into type */

/* The status byte. */
#define VIO_BLK_S_OK                  0u
#define VIO_BLK_S_IOERR               1u    /* device or driver error */
#define VIO_BLK_S_UNSUPP              2u    /* request not supported */

/* Sectors on the wire. */
#define VIO_BLK_SECTOR_SHIFT          9
#define VIO_BLK_SECTOR_SIZE           (1u << VIO_BLK_SECTOR_SHIFT)

/* GET_ID: a NUL-padded ASCII string; exactly this long means no NUL. */
#define VIO_BLK_ID_BYTES              20u

/* One range of a DISCARD, WRITE_ZEROES or SECURE_ERASE request; the data
 * of such a request is an array of these. */
struct vio_blk_discard_write_zeroes {
	vio_le64 sector;
	vio_le32 num_sectors;
	vio_le32 flags;         /* VIO_BLK_WZ_F_* */
};

_Static_assert(sizeof(struct vio_blk_discard_write_zeroes) == 16, "discard segment layout");

/* WRITE_ZEROES only: the device may deallocate the range, as long as it
 * then reads back as zeroes. Set in a DISCARD it makes the request UNSUPP. */
#define VIO_BLK_WZ_F_UNMAP            1u

/* GET_LIFETIME reply. */
struct vio_blk_lifetime {
	vio_le16 pre_eol_info;
	vio_le16 device_lifetime_est_typ_a;
	vio_le16 device_lifetime_est_typ_b;
};

#endif /* VIO_SPEC_BLK_H */
