/*
 * drv_slots.c - the driver side's bookkeeping that is not per buffer:
 * setting up the slots, handing buffers back after a reset, and walking
 * the IN_ORDER list when a new device takes the queue over. The per-buffer
 * half is inline in drv_slots.h.
 */
#include "drv_slots.h"

#include "event.h"

void vio__drv_init_common(struct vio_drvq *q, const struct vio_drvq_config *cfg)
{
	q->size = cfg->size;
	q->features = cfg->features;
	q->legacy = !vio_has_feature(cfg->features, VIO_F_VERSION_1);
	q->event_idx = vio_has_feature(cfg->features, VIO_F_EVENT_IDX);
	q->indirect_ok = vio_has_feature(cfg->features, VIO_F_INDIRECT_DESC) && cfg->indirect_max > 1;
	q->in_order = vio_has_feature(cfg->features, VIO_F_IN_ORDER);
	q->packed = vio_has_feature(cfg->features, VIO_F_RING_PACKED);
	q->len_policy = cfg->len_policy;
	q->slots = cfg->slots;
	q->notify = cfg->notify;
	q->opaque = cfg->opaque;
	q->indirect = cfg->indirect;
	q->indirect_dma = cfg->indirect_dma;
	q->indirect_max = cfg->indirect_max;
	q->order_head = q->order_tail = VIO__NONE;
	for (unsigned i = 0; i < q->size; i++)
		q->slots[i] = (struct vio_drvq_slot){ .next = (uint16_t)(i + 1), .order = VIO__NONE };
	q->free_head = 0;
	q->num_free = q->size;
}

void *vio__drv_detach_one(struct vio_drvq *q)
{
	for (unsigned i = 0; i < q->size; i++) {
		void *token;
		uint32_t len;

		if (!q->slots[i].token)
			continue;
		drv_hand_out(q, (uint16_t)i, 0, &token, &len);
		q->batch_pending = false;
		q->order_head = q->order_tail = VIO__NONE; /* never used again */
		return token;
	}
	return NULL;
}

bool vio__drv_order_skip_to(const struct vio_drvq *q, uint16_t *cursor, uint16_t id,
			    uint16_t *pos, bool *wrap)
{
	for (unsigned steps = 0; *cursor < q->size && steps < q->size; steps++) {
		uint16_t c = *cursor;

		*cursor = q->slots[c].order;
		if (pos)
			advance(pos, wrap, q->slots[c].ndescs, q->size);
		if (c == id)
			return true;
	}
	return false;
}

unsigned vio__drv_order_len(const struct vio_drvq *q, uint16_t cursor)
{
	unsigned n = 0;

	while (cursor < q->size && n < q->size) {
		cursor = q->slots[cursor].order;
		n++;
	}
	return n;
}
