/*
 * dev_chain.c - the device side's chain handling that is not per
 * descriptor: set-up common to both layouts and finding an indirect
 * table. The per-descriptor half is inline in dev_chain.h.
 */
#include "dev_chain.h"

void vio__dev_init_common(struct vio_devq *q, const struct vio_devq_config *cfg)
{
	q->size = cfg->size;
	q->features = cfg->features;
	q->legacy = !vio_has_feature(cfg->features, VIO_F_VERSION_1);
	q->event_idx = vio_has_feature(cfg->features, VIO_F_EVENT_IDX);
	q->indirect_ok = vio_has_feature(cfg->features, VIO_F_INDIRECT_DESC);
	q->notify_on_empty = vio_has_feature(cfg->features, VIO_F_NOTIFY_ON_EMPTY);
	q->in_order = vio_has_feature(cfg->features, VIO_F_IN_ORDER);
	q->packed = vio_has_feature(cfg->features, VIO_F_RING_PACKED);
	q->mem = cfg->mem;
	q->indirect_max = cfg->indirect_max > cfg->size ? cfg->indirect_max : cfg->size;
	/* Ring writes are logged where the queue's areas are, until the
	 * transport says otherwise (vio_devq_log_ring). */
	q->log_ring = true;
	q->log_device = cfg->addrs.device;
	q->log_desc = cfg->addrs.desc;
}

int vio__dev_indirect_table(struct vio_devq *q, const struct vio__desc *ind, bool chained,
			    const void **table, unsigned *entries)
{
	if (!q->indirect_ok)
		return dev_fail(q, -EIO, "indirect descriptor without INDIRECT_DESC");
	if (ind->flags & VIO_DESC_F_NEXT)
		return dev_fail(q, -EIO, "indirect descriptor with NEXT set");
	if (chained && q->packed)
		return dev_fail(q, -EIO, "indirect descriptor inside a chain");
	if (ind->len == 0 || ind->len % 16)
		return dev_fail(q, -EIO, "indirect table length not a non-zero multiple of 16");
	*entries = ind->len / 16;
	if (*entries > q->indirect_max)
		return dev_fail(q, -EIO, "indirect table longer than the queue allows");
	*table = vio_mem_ptr(q->mem, ind->addr, ind->len);
	if (*table && (uintptr_t)*table % 8 == 0)
		return 0;
	*table = NULL;
	/* Not one aligned span here (it crosses regions, or the mapping is
	 * misaligned): all of it must still be in guest memory, and then it is
	 * read entry by entry. */
	if (vio_mem_check(q->mem, ind->addr, ind->len) < 0)
		return dev_fail(q, -EFAULT, "indirect table outside guest memory");
	return 0;
}

/* Marks up to *left bytes of [addr, addr + len) and counts them off. */
static void log_prefix(struct vio_devq *q, uint64_t addr, uint32_t len, uint64_t *left)
{
	uint64_t n = len < *left ? len : *left;

	vio_mem_log_write(q->mem, addr, n);
	*left -= n;
}

void vio__dev_log_desc(struct vio_devq *q, const struct vio__desc *d, bool packed_layout,
		       uint64_t *left)
{
	unsigned entries, i = 0;

	if (!(d->flags & VIO_DESC_F_INDIRECT)) {
		if (d->flags & VIO_DESC_F_WRITE)
			log_prefix(q, d->addr, d->len, left);
		return;
	}
	entries = d->len / 16;
	if (entries > q->indirect_max)
		entries = q->indirect_max;
	/* Packed tables are in order; split ones chain by `next`. At most
	 * `entries` steps either way. */
	for (unsigned n = 0; n < entries && *left; n++) {
		uint8_t raw[16];
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;

		if (vio_mem_read(q->mem, d->addr + (uint64_t)i * 16, raw, sizeof(raw)))
			return;
		/* addr, len, then split: flags, next; packed: id, flags. */
		memcpy(&addr, raw, 8);
		memcpy(&len, raw + 8, 4);
		memcpy(&flags, raw + (packed_layout ? 14 : 12), 2);
		memcpy(&next, raw + 14, 2);
		addr = vio_get64(q->legacy, (vio_le64){ addr });
		len = vio_get32(q->legacy, (vio_le32){ len });
		flags = vio_get16(q->legacy, (vio_le16){ flags });
		next = vio_get16(q->legacy, (vio_le16){ next });
		if (flags & VIO_DESC_F_WRITE)
			log_prefix(q, addr, len, left);
		if (packed_layout) {
			i++;
		} else {
			if (!(flags & VIO_DESC_F_NEXT) || next >= entries)
				return;
			i = next;
		}
	}
}
