/*
 * test_net_drv_malformed.c - a hostile device against the net driver, one
 * test per lie (net_drv_fixture.h forges used entries straight into the
 * ring where the device-side ring would refuse to tell them). Each case
 * that breaks the spec's MUSTs breaks the receive queue: rx_burst returns
 * -EIO now and later, vio_net_drv_error() says why in a sentence, a log
 * line says so too, and nothing is read past a buffer (the suite also
 * runs under ASan). The cases the driver tolerates deliver or ignore.
 */
#include "forge.h"
#include "net_drv_fixture.h"

static uint8_t data[3000];

static struct vio_net_drv_frame frame(uint8_t *out, uint32_t cap)
{
	return (struct vio_net_drv_frame){ .data = out, .cap = cap };
}

/* rx_burst fails with -EIO now and on the next call, and both the error
 * and the log carry `why`. */
static void expect_broken(struct nfx *fx, unsigned pair, const char *why)
{
	uint8_t out[4000];
	struct vio_net_drv_frame f = frame(out, sizeof(out));
	const char *err;

	assert_int_equal(vio_net_drv_rx_burst(ND(fx), pair, &f, 1), -EIO);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), pair, &f, 1), -EIO);
	err = vio_net_drv_error(ND(fx), pair);
	assert_non_null(err);
	if (!strstr(err, why))
		fail_msg("error \"%s\" does not mention \"%s\"", err, why);
	nd_assert_logged(fx, why);
	nd_assert_logged(fx, "broken");
}

static void t_used_len_beyond_buffer(void **state)
{
	struct nfx *fx = *state;
	struct nd_rx rx = { .data = data, .len = 100, .num_buffers = -1 };

	nfx_up(fx);
	rx.used_len[0] = 70000;
	dev_rx_frame(fx, 0, &rx);
	expect_broken(fx, 0, "more bytes than the buffer holds");
}

static void t_used_len_beyond_buffer_mrg(void **state)
{
	struct nfx *fx = *state;
	struct nd_rx rx = { .data = data, .len = 1500, .num_buffers = -1 };

	fx->offer = NF(MRG_RXBUF);
	fx->opts.rx_buf_bytes = 512;
	nfx_up(fx);
	rx.used_len[1] = 513; /* the second buffer of the frame */
	assert_int_equal(dev_rx_frame(fx, 0, &rx), 3);
	expect_broken(fx, 0, "more bytes than the buffer holds");
}

static void t_used_len_shorter_than_header(void **state)
{
	struct nfx *fx = *state;
	struct nd_rx rx = { .data = data, .len = 100, .num_buffers = -1 };

	fx->offer = NF(MRG_RXBUF);
	nfx_up(fx);
	rx.used_len[0] = 5;
	dev_rx_frame(fx, 0, &rx);
	expect_broken(fx, 0, "shorter than the virtio-net header");
}

static void t_used_len_shorter_than_header_nomrg(void **state)
{
	struct nfx *fx = *state;
	struct nd_rx rx = { .data = data, .len = 100, .num_buffers = -1 };

	nfx_up(fx);
	rx.used_len[0] = VIO_NET_HDR_LEN_MRG - 1;
	dev_rx_frame(fx, 0, &rx);
	expect_broken(fx, 0, "shorter than the virtio-net header");
}

static void t_num_buffers_zero(void **state)
{
	struct nfx *fx = *state;
	struct nd_rx rx = { .data = data, .len = 100, .num_buffers = 0 };

	fx->offer = NF(MRG_RXBUF);
	nfx_up(fx);
	dev_rx_frame(fx, 0, &rx);
	expect_broken(fx, 0, "num_buffers 0");
}

/* More buffers than the ring holds: the frame could never be whole. */
static void t_num_buffers_past_posted(void **state)
{
	struct nfx *fx = *state;
	struct nd_rx rx = { .data = data, .len = 100, .num_buffers = ND_QMAX + 1 };

	fx->offer = NF(MRG_RXBUF);
	nfx_up(fx);
	dev_rx_frame(fx, 0, &rx);
	expect_broken(fx, 0, "more receive buffers than");
}

/* num_buffers larger than what the device published, but within what it
 * holds: the rest may still come, so the driver keeps the buffers it has
 * and returns 0 at once (no wait, no spin), without breaking anything. */
static void t_num_buffers_more_than_published(void **state)
{
	struct nfx *fx = *state;
	uint8_t out[4000];
	struct vio_net_drv_frame f = frame(out, sizeof(out));
	struct nd_rx rx = { .data = data, .len = 300, .num_buffers = 5 };

	fx->offer = NF(MRG_RXBUF);
	fx->opts.rx_buf_bytes = 128;
	nfx_up(fx);
	assert_int_equal(dev_rx_frame(fx, 0, &rx), 3);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 0);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 0);
	assert_null(vio_net_drv_error(ND(fx), 0));
	/* The three buffers stay with the driver until the frame is whole. */
	assert_int_equal(dev_rx_avail(fx, 0), ND_QMAX - 3);
}

/* Without MRG_RXBUF num_buffers is not the driver's business. */
static void t_num_buffers_ignored_without_mrg(void **state)
{
	struct nfx *fx = *state;
	uint8_t out[200];
	struct vio_net_drv_frame f = frame(out, sizeof(out));
	struct nd_rx rx = { .data = data, .len = 100, .num_buffers = 999 };

	nfx_up(fx);
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	dev_rx_frame(fx, 0, &rx);
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 0, &f, 1), 1);
	assert_int_equal(f.len, 100);
	assert_int_equal(f.num_buffers, 1);
	assert_memory_equal(out, data, 100);
}

/* A used entry naming a buffer that was never posted. */
static void t_used_id_never_posted(void **state)
{
	struct nfx *fx = *state;
	struct vio_drvq *q;

	nfx_up(fx);
	q = &ND(fx)->vqs[0].q;
	vt_forge_used(q, 0, q->size, 1);
	expect_broken(fx, 0, "used id beyond the queue size"); /* the ring's sentence */
	assert_true(vio_drvq_is_broken(q));
}

/* Transmit used lengths mean nothing: a device writing any is ignored. */
static void t_tx_used_len_ignored(void **state)
{
	struct nfx *fx = *state;
	struct vio_net_drv_frame f = { .data = data, .len = 60 };

	nfx_up(fx);
	fx->nd.tx_hold = true;
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, &f, 1), 1);
	dev_tx_complete_len(fx, 0, 5000);
	assert_int_equal(vio_net_drv_tx_reap(ND(fx), 0), 1);
	assert_null(vio_net_drv_error(ND(fx), 0));
}

/* One pair broken leaves the other working. */
static void t_other_pair_unaffected(void **state)
{
	struct nfx *fx = *state;
	uint8_t out[200];
	struct vio_net_drv_frame f = frame(out, sizeof(out));
	struct nd_rx bad = { .data = data, .len = 100, .num_buffers = 0 };
	struct nd_rx good = { .data = data, .len = 100, .num_buffers = -1 };

	fx->offer = NF(MRG_RXBUF) | NF(CTRL_VQ) | NF(MQ);
	fx->pairs = 2;
	nfx_up(fx);
	dev_rx_frame(fx, 0, &bad);
	dev_rx_frame(fx, 1, &good);
	expect_broken(fx, 0, "num_buffers 0");
	assert_int_equal(vio_net_drv_rx_burst(ND(fx), 1, &f, 1), 1);
	assert_null(vio_net_drv_error(ND(fx), 1));
	/* Sending on the broken pair still works: only its rx queue broke. */
	f = (struct vio_net_drv_frame){ .data = data, .len = 60 };
	assert_int_equal(vio_net_drv_tx_burst(ND(fx), 0, &f, 1), 1);
}

static const struct nd_test tests[] = {
	T(t_used_len_beyond_buffer),
	T(t_used_len_beyond_buffer_mrg),
	T(t_used_len_shorter_than_header),
	T(t_used_len_shorter_than_header_nomrg),
	T(t_num_buffers_zero),
	T(t_num_buffers_past_posted),
	T(t_num_buffers_more_than_published),
	T(t_num_buffers_ignored_without_mrg),
	T(t_used_id_never_posted),
	T(t_tx_used_len_ignored),
	T(t_other_pair_unaffected),
};

int main(void)
{
	return nd_run("net_drv_malformed", tests, ARRAY_LEN(tests));
}
