/*
 * ok_control.c - the control case: everything the bad_*.c cases do wrong,
 * done right through vio_get*() and vio_set*(), must compile cleanly
 * (warnings as errors, -pedantic-errors). It also shows that the public
 * headers are self-contained, pedantic C11.
 */
#include "vio/mem.h"
#include "vio/ring.h"
#include "vio/spec.h"

uint32_t vio_cf_control(struct vio_split_desc *d, struct vio_split_avail *avail, bool legacy);

uint32_t vio_cf_control(struct vio_split_desc *d, struct vio_split_avail *avail, bool legacy)
{
	vio_le32 a = vio_set32(legacy, 1), b = vio_cpu_to_le32(2);
	uint16_t flags = vio_get16(legacy, d->flags);
	uint32_t sum = 0;

	d->addr = vio_set64(legacy, UINT64_C(0x1000));
	d->len = vio_set32(legacy, vio_get32(legacy, d->len) + 1);
	d->flags = vio_set16(legacy, flags | VIO_DESC_F_NEXT);
	avail->idx = vio_set16(legacy, (uint16_t)(vio_get16(legacy, avail->idx) + 1));
	if (vio_get16(legacy, d->flags) & VIO_DESC_F_WRITE)
		sum += 1;
	if (vio_get32(legacy, a) == vio_le32_to_cpu(b))
		sum += 2;
	switch (vio_get16(legacy, d->next)) {
	case 0:
		sum += 4;
		break;
	default:
		break;
	}
	return sum + (uint32_t)vio_get64(legacy, d->addr);
}
