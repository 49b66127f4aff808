/*
 * test_blk_malformed.c - one test per broken request. A "raw" driver binds
 * instead of the blk driver and posts hand-made chains with vio_drvq_add()
 * on its queue; the test checks the status byte and used length the device
 * returns, that the backing store was not touched, that a log line says
 * why, and that the device still serves a good request afterwards. These
 * use only the public ring API, so they run on every layout too.
 *
 * Siblings, all in tests/loopback/: test_blk_data.c (data through every
 * backend), test_blk_driver.c (the driver's features and life cycle),
 * test_blk_malformed.c (broken requests posted raw), test_blk_backend.c
 * (backend errors and rare answers), test_blk_device.c (the device alone);
 * the matrix and the fixture are blk_fixture.{c,h}.
 */

#include "blk_fixture.h"

static void backing_fill(struct fx *fx, uint64_t off, uint8_t v, size_t len)
{
	if (fx->ram) {
		memset(fx->ram + off, v, len);
	} else {
		uint8_t *b = malloc(len);
		int fd = open(fx->path, O_RDWR | O_CLOEXEC);

		assert_non_null(b);
		assert_true(fd >= 0);
		memset(b, v, len);
		assert_int_equal(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
		close(fd);
		free(b);
	}
}

/* Malformed requests, posted raw                                           */
/* Scratch layout in fx->m (DMA memory). */
#define R_HDR    0u

#define R_PAY    512u       /* segments */
#define R_DATA   8192u      /* up to 32 KiB of data */
#define R_STATUS 61440u
#define R_SPARE  61952u     /* a second data area */
#define STATUS_UNSET 0xeeu

static struct vio_sg rsg(struct fx *fx, size_t off, uint32_t len)
{
	return (struct vio_sg){ fx->m_dma + off, len };
}

static void put_hdr(struct fx *fx, uint32_t type, uint64_t sector)
{
	struct vio_blk_req_hdr h = {
		.type = vio_cpu_to_le32(type),
		.ioprio = vio_cpu_to_le32(0),
		.sector = vio_cpu_to_le64(sector),
	};

	memcpy(fx->m + R_HDR, &h, sizeof(h));
}

static void put_seg(struct fx *fx, unsigned i, uint64_t sector, uint32_t n, uint32_t flags)
{
	struct vio_blk_discard_write_zeroes s = {
		.sector = vio_cpu_to_le64(sector),
		.num_sectors = vio_cpu_to_le32(n),
		.flags = vio_cpu_to_le32(flags),
	};

	memcpy(fx->m + R_PAY + i * sizeof(s), &s, sizeof(s));
}

/* Posts one chain on queue 0, waits until the device returns it. */
static uint32_t raw_run(struct fx *fx, const struct vio_sg *out, unsigned nout,
			const struct vio_sg *in, unsigned nin)
{
	struct vio_drv_vq *vq = &fx->rawvqs[0];
	int token;
	void *t;
	uint32_t len;

	fx->m[R_STATUS] = STATUS_UNSET;
	assert_int_equal(vio_drvq_add(&vq->q, out, nout, in, nin, &token), 0);
	vio_drv_vq_kick(vq);
	for (int tries = 0; tries < TIMEOUT_MS / 10; tries++) {
		int r = vio_drvq_get_buf(&vq->q, &t, &len);

		if (r == 0) {
			assert_ptr_equal(t, &token);
			return len;
		}
		assert_int_equal(r, -EAGAIN);
		vio_drv_wait(D(fx), 10);
	}
	fail_msg("the device did not return the request");
	return 0;
}

/* The usual shapes: header, then data, then status. */
static uint32_t raw_in(struct fx *fx, uint64_t sector, uint32_t len)
{
	struct vio_sg out[1] = { rsg(fx, R_HDR, 16) };
	struct vio_sg in[2] = { rsg(fx, R_DATA, len), rsg(fx, R_STATUS, 1) };

	put_hdr(fx, VIO_BLK_T_IN, sector);
	return raw_run(fx, out, 1, in, 2);
}

static uint32_t raw_out(struct fx *fx, uint64_t sector, uint32_t len)
{
	struct vio_sg out[2] = { rsg(fx, R_HDR, 16), rsg(fx, R_DATA, len) };
	struct vio_sg in[1] = { rsg(fx, R_STATUS, 1) };

	put_hdr(fx, VIO_BLK_T_OUT, sector);
	return raw_run(fx, out, 2, in, 1);
}

/* A request of `type` whose data is the first nseg segments at R_PAY. */
static uint32_t raw_segs(struct fx *fx, uint32_t type, uint32_t bytes)
{
	struct vio_sg out[2] = { rsg(fx, R_HDR, 16), rsg(fx, R_PAY, bytes) };
	struct vio_sg in[1] = { rsg(fx, R_STATUS, 1) };

	put_hdr(fx, type, 0);
	return raw_run(fx, out, bytes ? 2 : 1, in, 1);
}

static uint32_t raw_bare(struct fx *fx, uint32_t type)
{
	struct vio_sg out[1] = { rsg(fx, R_HDR, 16) };
	struct vio_sg in[1] = { rsg(fx, R_STATUS, 1) };

	put_hdr(fx, type, 0);
	return raw_run(fx, out, 1, in, 1);
}

/* The request was answered `st` with only the status byte written, a log
 * line mentions `why`, and the disk is unchanged (all 0x77). */
static void expect_refused(struct fx *fx, uint32_t used, uint8_t st, const char *why)
{
	uint8_t b[4096];

	assert_int_equal(used, 1);
	assert_int_equal(fx->m[R_STATUS], st);
	assert_logged(fx, why);
	backing_read(fx, 0, b, sizeof(b));
	check_value(b, sizeof(b), 0x77);
	backing_read(fx, DISK_BYTES - sizeof(b), b, sizeof(b));
	check_value(b, sizeof(b), 0x77);
}

/* The device is still healthy: not NEEDS_RESET, and a good read works. */
static void expect_healthy(struct fx *fx)
{
	assert_false(vio_dev_get_status(&fx->blk.dev) & VIO_STATUS_NEEDS_RESET);
	assert_int_equal(raw_in(fx, 0, SECTOR), SECTOR + 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	check_value(fx->m + R_DATA, SECTOR, 0x77);
}

static void raw_up(struct fx *fx)
{
	fx->raw = true;
	fx_up(fx);
	backing_fill(fx, 0, 0x77, DISK_BYTES);
}

static void m_short_header(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_OUT, 0);
	out[0] = rsg(fx, R_HDR, 8);
	in[0] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 1, in, 1), VIO_BLK_S_IOERR, "header of 8 bytes");
	expect_healthy(fx);
}

static void m_missing_status(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;
	struct vio_sg out[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_FLUSH, 0);
	out[0] = rsg(fx, R_HDR, 16);
	assert_int_equal(raw_run(fx, out, 1, NULL, 0), 0);
	assert_int_equal(fx->m[R_STATUS], STATUS_UNSET);
	assert_logged(fx, "without a device-writable status byte");
	stats(fx, 0, &s);
	assert_int_equal(s.unanswered, 1);
	assert_int_equal(s.flushes, 0);
	expect_healthy(fx);
}

/* A write whose status byte is device-readable: the chain has nothing
 * writable, so the device cannot answer, and must not write the disk. */
static void m_readable_status_write(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[3];
	uint8_t b[SECTOR];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_OUT, 0);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	out[0] = rsg(fx, R_HDR, 16);
	out[1] = rsg(fx, R_DATA, SECTOR);
	out[2] = rsg(fx, R_STATUS, 1);
	assert_int_equal(raw_run(fx, out, 3, NULL, 0), 0);
	assert_int_equal(fx->m[R_STATUS], STATUS_UNSET);
	backing_read(fx, 0, b, sizeof(b));
	check_value(b, sizeof(b), 0x77);
	assert_logged(fx, "status byte");
	expect_healthy(fx);
}

/* A read whose "status" is readable: readable bytes after the header make
 * it a read with readable data; the answer lands in the last writable byte. */
static void m_readable_status_read(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[2], in[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_IN, 0);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	out[0] = rsg(fx, R_HDR, 16);
	out[1] = rsg(fx, R_STATUS, 1);
	in[0] = rsg(fx, R_DATA, SECTOR);
	assert_int_equal(raw_run(fx, out, 2, in, 1), 1);
	assert_int_equal(fx->m[R_DATA + SECTOR - 1], VIO_BLK_S_IOERR);
	check_value(fx->m + R_DATA, SECTOR - 1, 0x11); /* no data was read */
	assert_logged(fx, "device-readable bytes besides the header");
	expect_healthy(fx);
}

static void m_sector_out_of_range(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	expect_refused(fx, raw_in(fx, DISK_SECTORS, SECTOR), VIO_BLK_S_IOERR, "past the capacity");
	expect_refused(fx, raw_out(fx, DISK_SECTORS - 1, 2 * SECTOR), VIO_BLK_S_IOERR,
		       "past the capacity");
	expect_healthy(fx);
}

/* Sector numbers whose byte offset or end wraps 64 bits. */
static void m_sector_overflow(void **state)
{
	static const uint64_t sectors[] = {
		UINT64_MAX, UINT64_MAX - 1, UINT64_C(1) << 55, (UINT64_MAX >> 9) + 1,
	};
	struct fx *fx = *state;

	raw_up(fx);
	for (unsigned i = 0; i < ARRAY_LEN(sectors); i++) {
		expect_refused(fx, raw_out(fx, sectors[i], 2 * SECTOR), VIO_BLK_S_IOERR,
			       "past the capacity");
		expect_refused(fx, raw_in(fx, sectors[i], 2 * SECTOR), VIO_BLK_S_IOERR,
			       "past the capacity");
	}
	expect_healthy(fx);
}

static void m_len_not_sector_multiple(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	memset(fx->m + R_DATA, 0x11, 1024);
	expect_refused(fx, raw_in(fx, 0, 100), VIO_BLK_S_IOERR, "not whole 512-byte sectors");
	check_value(fx->m + R_DATA, 100, 0x11);
	expect_refused(fx, raw_out(fx, 0, 700), VIO_BLK_S_IOERR, "not whole 512-byte sectors");
	expect_healthy(fx);
}

static void m_read_with_readable_data(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[2], in[1];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_IN, 0);
	out[0] = rsg(fx, R_HDR, 16);
	out[1] = rsg(fx, R_DATA, SECTOR);
	in[0] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 2, in, 1), VIO_BLK_S_IOERR,
		       "512 device-readable bytes besides the header");
	expect_healthy(fx);
}

static void m_write_with_writable_data(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[2];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_OUT, 0);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	out[0] = rsg(fx, R_HDR, 16);
	in[0] = rsg(fx, R_DATA, SECTOR);
	in[1] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 1, in, 2), VIO_BLK_S_IOERR,
		       "512 device-writable bytes besides the status");
	check_value(fx->m + R_DATA, SECTOR, 0x11);
	expect_healthy(fx);
}

static void m_unknown_type(void **state)
{
	static const uint32_t types[] = {
		99, VIO_BLK_T_SCSI_CMD, VIO_BLK_T_SCSI_CMD_OUT, VIO_BLK_T_GET_LIFETIME,
		VIO_BLK_T_SECURE_ERASE, VIO_BLK_T_BARRIER | VIO_BLK_T_OUT, VIO_BLK_T_FLUSH_OUT,
		UINT32_MAX,
	};
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	raw_up(fx);
	for (unsigned i = 0; i < ARRAY_LEN(types); i++)
		expect_refused(fx, raw_bare(fx, types[i]), VIO_BLK_S_UNSUPP, "UNSUPP");
	stats(fx, 0, &s);
	assert_int_equal(s.unsupp, ARRAY_LEN(types));
	expect_healthy(fx);
}

static void m_get_id_short_buffer(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[2];

	raw_up(fx);
	put_hdr(fx, VIO_BLK_T_GET_ID, 0);
	memset(fx->m + R_DATA, 0x11, 32);
	out[0] = rsg(fx, R_HDR, 16);
	in[0] = rsg(fx, R_DATA, 10);
	in[1] = rsg(fx, R_STATUS, 1);
	expect_refused(fx, raw_run(fx, out, 1, in, 2), VIO_BLK_S_IOERR,
		       "GET_ID buffer of 10 bytes");
	check_value(fx->m + R_DATA, 32, 0x11);
	expect_healthy(fx);
}

/* The used length counts what the device wrote: data and status. */
static void m_used_length(void **state)
{
	struct fx *fx = *state;
	struct vio_sg out[1], in[2];

	raw_up(fx);
	assert_int_equal(raw_in(fx, 4, 3 * SECTOR), 3 * SECTOR + 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	assert_int_equal(raw_out(fx, 4, SECTOR), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	put_hdr(fx, VIO_BLK_T_GET_ID, 0);
	out[0] = rsg(fx, R_HDR, 16);
	in[0] = rsg(fx, R_DATA, 64);
	in[1] = rsg(fx, R_STATUS, 1);
	assert_int_equal(raw_run(fx, out, 1, in, 2), VIO_BLK_ID_BYTES + 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	assert_memory_equal(fx->m + R_DATA, SERIAL, sizeof(SERIAL));
	assert_int_equal(raw_bare(fx, VIO_BLK_T_FLUSH), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
}

/* Descriptor boundaries do not matter: a header split in two, header and
 * data in one descriptor, data and status in one. */
static void m_any_layout(void **state)
{
	struct fx *fx = *state;
	uint8_t *wide = NULL;
	struct vio_sg out[3], in[2];
	uint8_t b[2 * SECTOR];

	raw_up(fx);
	/* Write: header in two pieces, data in one. */
	put_hdr(fx, VIO_BLK_T_OUT, 2);
	memset(fx->m + R_DATA, 0x21, 2 * SECTOR);
	out[0] = rsg(fx, R_HDR, 8);
	out[1] = rsg(fx, R_HDR + 8, 8);
	out[2] = rsg(fx, R_DATA, 2 * SECTOR);
	in[0] = rsg(fx, R_STATUS, 1);
	assert_int_equal(raw_run(fx, out, 3, in, 1), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	backing_read(fx, 2 * SECTOR, b, sizeof(b));
	check_value(b, sizeof(b), 0x21);
	/* Write: header and data in one descriptor. */
	wide = fx->m + R_SPARE;
	put_hdr(fx, VIO_BLK_T_OUT, 6);
	memcpy(wide, fx->m + R_HDR, 16);
	memset(wide + 16, 0x31, SECTOR);
	out[0] = rsg(fx, R_SPARE, 16 + SECTOR);
	assert_int_equal(raw_run(fx, out, 1, in, 1), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	backing_read(fx, 6 * SECTOR, b, SECTOR);
	check_value(b, SECTOR, 0x31);
	/* Read: data and status in one descriptor, then split across two. */
	put_hdr(fx, VIO_BLK_T_IN, 6);
	out[0] = rsg(fx, R_HDR, 16);
	memset(fx->m + R_DATA, 0, SECTOR + 1);
	in[0] = rsg(fx, R_DATA, SECTOR + 1);
	assert_int_equal(raw_run(fx, out, 1, in, 1), SECTOR + 1);
	check_value(fx->m + R_DATA, SECTOR, 0x31);
	assert_int_equal(fx->m[R_DATA + SECTOR], VIO_BLK_S_OK);
	memset(fx->m + R_DATA, 0, 2 * SECTOR);
	put_hdr(fx, VIO_BLK_T_IN, 2);
	in[0] = rsg(fx, R_DATA, 300);
	in[1] = rsg(fx, R_DATA + 300, 2 * SECTOR - 300 + 1);
	assert_int_equal(raw_run(fx, out, 1, in, 2), 2 * SECTOR + 1);
	check_value(fx->m + R_DATA, 2 * SECTOR, 0x21);
	assert_int_equal(fx->m[R_DATA + 2 * SECTOR], VIO_BLK_S_OK);
}

static void m_read_only_device(void **state)
{
	struct fx *fx = *state;

	fx->dopts.read_only = true;
	raw_up(fx);
	memset(fx->m + R_DATA, 0x11, SECTOR);
	expect_refused(fx, raw_out(fx, 0, SECTOR), VIO_BLK_S_IOERR, "read-only device");
	put_seg(fx, 0, 0, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_IOERR, "read-only");
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 16), VIO_BLK_S_IOERR, "read-only");
	expect_healthy(fx);
}

static void m_discard_too_many_segments(void **state)
{
	struct fx *fx = *state;

	fx->dopts.max_discard_seg = 4;
	raw_up(fx);
	for (unsigned i = 0; i < 5; i++)
		put_seg(fx, i, i * 8, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 5 * 16), VIO_BLK_S_UNSUPP,
		       "5 segments, the device takes at most 4");
	expect_healthy(fx);
}

static void m_discard_beyond_capacity(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	/* The bad one second: nothing runs when any segment is bad. */
	put_seg(fx, 0, 0, 8, 0);
	put_seg(fx, 1, DISK_SECTORS - 1, 2, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 32), VIO_BLK_S_IOERR,
		       "past the capacity");
	put_seg(fx, 1, UINT64_MAX, 1, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 32), VIO_BLK_S_IOERR,
		       "past the capacity");
	expect_healthy(fx);
}

static void m_discard_too_many_sectors(void **state)
{
	struct fx *fx = *state;

	fx->dopts.max_discard_sectors = 64;
	raw_up(fx);
	put_seg(fx, 0, 0, 65, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_IOERR,
		       "covers 65 sectors, the device takes at most 64");
	expect_healthy(fx);
}

static void m_discard_bad_flags(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	put_seg(fx, 0, 0, 8, VIO_BLK_WZ_F_UNMAP);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_UNSUPP,
		       "unmap on a discard");
	put_seg(fx, 0, 0, 8, 2);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 16), VIO_BLK_S_UNSUPP, "flags 0x2");
	expect_healthy(fx);
}

static void m_discard_bad_segment_bytes(void **state)
{
	struct fx *fx = *state;

	raw_up(fx);
	put_seg(fx, 0, 0, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 20), VIO_BLK_S_IOERR,
		       "20 bytes of segments");
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 0), VIO_BLK_S_IOERR,
		       "0 bytes of segments");
	expect_healthy(fx);
}

/* Several good segments: exactly those ranges become zero. */
static void m_discard_segments_ok(void **state)
{
	struct fx *fx = *state;
	uint8_t b[16 * SECTOR];

	raw_up(fx);
	put_seg(fx, 0, 2, 1, 0);
	put_seg(fx, 1, 5, 2, 0);
	put_seg(fx, 2, 10, 0, 0); /* empty: nothing to do */
	assert_int_equal(raw_segs(fx, VIO_BLK_T_DISCARD, 48), 1);
	assert_int_equal(fx->m[R_STATUS], VIO_BLK_S_OK);
	backing_read(fx, 0, b, sizeof(b));
	for (unsigned s = 0; s < 16; s++)
		check_value(b + s * SECTOR, SECTOR, s == 2 || s == 5 || s == 6 ? 0 : 0x77);
}

static void m_feature_not_negotiated(void **state)
{
	struct fx *fx = *state;

	/* Everything but FLUSH, DISCARD and WRITE_ZEROES. */
	fx->raw_features = ~(VIO_BIT(VIO_BLK_F_FLUSH) | VIO_BIT(VIO_BLK_F_CONFIG_WCE) |
			     VIO_BIT(VIO_BLK_F_DISCARD) | VIO_BIT(VIO_BLK_F_WRITE_ZEROES));
	raw_up(fx);
	put_seg(fx, 0, 0, 8, 0);
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_DISCARD, 16), VIO_BLK_S_UNSUPP,
		       "VIRTIO_BLK_F_DISCARD not negotiated");
	expect_refused(fx, raw_segs(fx, VIO_BLK_T_WRITE_ZEROES, 16), VIO_BLK_S_UNSUPP,
		       "VIRTIO_BLK_F_WRITE_ZEROES not negotiated");
	expect_refused(fx, raw_bare(fx, VIO_BLK_T_FLUSH), VIO_BLK_S_UNSUPP,
		       "FLUSH without VIRTIO_BLK_F_FLUSH");
	expect_healthy(fx);
}

/* A flood of bad requests mixed with good ones, in one round. */
/*
 * Eight reads of a sector posted together and kicked once; those in
 * `bad` (a bit per request) carry a 4-byte header, the others a good one;
 * each has its own status byte. Every request must come back, in order
 * when `ordered`, with its exact used length and status. Returns how many
 * used entries the device wrote for them (split; 0 for packed): the used
 * ring's slots are marked first, and the index moves by one per request
 * whatever the entries (with IN_ORDER an entry may stand for a batch).
 */
static unsigned eight_reads(struct fx *fx, unsigned bad, bool ordered)
{
	struct vio_drv_vq *vq = &fx->rawvqs[0];
	const uint16_t before = vq->q.packed ? 0 : vio_le16_to_cpu(vq->q.u.split.used->idx);
	const uint32_t mark = 0xffffffffu;
	unsigned entries = 0;
	int tokens[8];
	unsigned got = 0;

	if (!vq->q.packed)
		for (unsigned k = 0; k < vq->q.size; k++)
			vq->q.u.split.used->ring[k].id = vio_cpu_to_le32(mark);

	put_hdr(fx, VIO_BLK_T_IN, 0);
	for (unsigned i = 0; i < 8; i++) {
		struct vio_sg out = rsg(fx, R_HDR, bad & (1u << i) ? 4 : 16);
		struct vio_sg in[2] = { rsg(fx, R_DATA + i * SECTOR, SECTOR),
					rsg(fx, R_STATUS + i, 1) };

		fx->m[R_STATUS + i] = STATUS_UNSET;
		assert_int_equal(vio_drvq_add(&vq->q, &out, 1, in, 2, &tokens[i]), 0);
	}
	vio_drv_vq_kick(vq);
	for (int tries = 0; got < 8 && tries < TIMEOUT_MS / 10; tries++) {
		void *t;
		uint32_t len;

		while (vio_drvq_get_buf(&vq->q, &t, &len) == 0) {
			unsigned i = (unsigned)((int *)t - tokens);
			bool b = bad & (1u << i);

			assert_true(i < 8);
			if (ordered)
				assert_int_equal(i, got);
			assert_int_equal(len, b ? 1 : SECTOR + 1);
			assert_int_equal(fx->m[R_STATUS + i], b ? VIO_BLK_S_IOERR : VIO_BLK_S_OK);
			got++;
		}
		if (got < 8)
			vio_drv_wait(D(fx), 10);
	}
	assert_int_equal(got, 8);
	if (vq->q.packed)
		return 0;
	assert_int_equal((uint16_t)(vio_le16_to_cpu(vq->q.u.split.used->idx) - before), 8);
	for (unsigned k = 0; k < 8; k++)
		entries += vio_le32_to_cpu(vq->q.u.split.used->ring[(uint16_t)(before + k) %
								   vq->q.size].id) != mark;
	return entries;
}

/* Good and bad requests in one batch: each answered on its own. */
static void m_mixed_batch(void **state)
{
	struct fx *fx = *state;
	struct vio_blk_queue_stats s;

	raw_up(fx);
	eight_reads(fx, 0x55, false);   /* even ones bad */
	stats(fx, 0, &s);
	assert_int_equal(s.reads, 4);
	assert_int_equal(s.ioerr, 4);
	expect_healthy(fx);
}

/* raw_up() with IN_ORDER offered, then eight_reads(), in order. */
static unsigned in_order_round(struct fx *fx, unsigned bad)
{
	unsigned moved;

	fx->dopts.ring_features |= VIO_BIT(VIO_F_IN_ORDER);
	raw_up(fx);
	assert_true(vio_has_feature(fx->rawvqs[0].q.features, VIO_F_IN_ORDER));
	moved = eight_reads(fx, bad, true);
	expect_healthy(fx);
	return moved;
}

/* With IN_ORDER, a round of requests each written in full is returned
 * with one used entry (direct mode: the device runs all eight in the
 * kick, in one round). */
static void m_in_order_round_one_used_entry(void **state)
{
	struct fx *fx = *state;
	unsigned used = in_order_round(fx, 0);

	if (!fx->row->mode->threaded && !fx->rawvqs[0].q.packed)
		assert_int_equal(used, 1);
}

/* ... but a round where one request is not written in full (a refused
 * header: only the status byte) gets an entry per request, so the driver
 * sees each exact length. */
static void m_in_order_round_short_request(void **state)
{
	struct fx *fx = *state;
	unsigned used = in_order_round(fx, 1u << 0);

	if (!fx->rawvqs[0].q.packed)
		assert_int_equal(used, 8);
}

/* Run on RAM. */
static const struct named_test ram_tests[] = {
	T(m_short_header),
	T(m_missing_status),
	T(m_readable_status_write),
	T(m_readable_status_read),
	T(m_sector_out_of_range),
	T(m_sector_overflow),
	T(m_len_not_sector_multiple),
	T(m_read_with_readable_data),
	T(m_write_with_writable_data),
	T(m_unknown_type),
	T(m_get_id_short_buffer),
	T(m_used_length),
	T(m_any_layout),
	T(m_read_only_device),
	T(m_discard_too_many_segments),
	T(m_discard_beyond_capacity),
	T(m_discard_too_many_sectors),
	T(m_discard_bad_flags),
	T(m_discard_bad_segment_bytes),
	T(m_discard_segments_ok),
	T(m_feature_not_negotiated),
	T(m_mixed_batch),
	T(m_in_order_round_one_used_entry),
	T(m_in_order_round_short_request),
};

int main(void)
{
	static const struct blk_tables t = {
		.ram = ram_tests, .nram = ARRAY_LEN(ram_tests),
	};

	return blk_run("lb_blk_malformed", &t);
}
