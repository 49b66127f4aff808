/*
 * pair.c - see pair.h. Allocation is fine here: this is test code.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pair.h"

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int vt_pair_init(struct vt_pair *p, unsigned size, uint64_t features, const struct vt_pair_opts *o)
{
	static const struct vt_pair_opts defaults;
	size_t off_desc, off_drv, off_dev, off_ind, off_buf, ring_end;
	struct vio_drvq_config dc;
	struct vio_devq_config vc;
	int r;

	if (!o)
		o = &defaults;
	memset(p, 0, sizeof(*p));
	p->size = size;
	p->features = features;
	if (!vio_ring_size_valid(features, size))
		return -EINVAL;

	if (o->legacy_layout) {
		struct vio_ring_addrs a;
		vio_ring_legacy_layout(0, size, VIO_LEGACY_VRING_ALIGN, &a);
		off_desc = a.desc;
		off_drv = a.driver;
		off_dev = a.device;
		ring_end = vio_split_legacy_size(size, VIO_LEGACY_VRING_ALIGN);
	} else {
		/* Place the areas apart, each at its own alignment plus a gap,
		 * as a modern driver may. */
		off_desc = 0;
		off_drv = align_up(off_desc + vio_ring_desc_bytes(features, size) + 64,
				   vio_ring_driver_align(features));
		off_dev = align_up(off_drv + vio_ring_driver_bytes(features, size) + 64, 4096);
		ring_end = off_dev + vio_ring_device_bytes(features, size);
	}
	off_ind = align_up(ring_end, 4096);
	off_buf = align_up(off_ind + (size_t)size * o->indirect_max * 16, 4096);
	p->buf_len = o->buf_bytes ? o->buf_bytes : (1u << 20);
	p->arena_len = align_up(off_buf + p->buf_len, 4096);
	p->arena = aligned_alloc(4096, p->arena_len);
	if (!p->arena)
		return -ENOMEM;
	memset(p->arena, 0xa5, p->arena_len);

	vio_mem_init(&p->mem, p->regions, 8);
	r = vio_mem_add(&p->mem, VT_GUEST_BASE, p->arena_len, p->arena);
	if (r)
		return r;

	p->addrs.desc = VT_GUEST_BASE + off_desc;
	p->addrs.driver = VT_GUEST_BASE + off_drv;
	p->addrs.device = VT_GUEST_BASE + off_dev;
	p->desc = (void *)(p->arena + off_desc);
	p->avail = (void *)(p->arena + off_drv);
	p->used = (void *)(p->arena + off_dev);
	p->pdesc = (void *)(p->arena + off_desc);
	p->driver_event = (void *)(p->arena + off_drv);
	p->device_event = (void *)(p->arena + off_dev);
	p->indirect = o->indirect_max ? p->arena + off_ind : NULL;
	p->buf = p->arena + off_buf;

	p->slots = calloc(size, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;

	memset(&dc, 0, sizeof(dc));
	dc.size = size;
	dc.features = features;
	dc.len_policy = o->len_policy;
	dc.desc = p->desc;
	dc.driver = p->avail;
	dc.device = p->used;
	dc.dma = p->addrs;
	dc.indirect = p->indirect;
	dc.indirect_dma = p->indirect ? vt_gpa(p, p->indirect) : 0;
	dc.indirect_max = o->indirect_max;
	dc.slots = p->slots;
	dc.notify = o->notify;
	dc.opaque = o->opaque;
	r = vio_drvq_init(&p->drv, &dc);
	if (r)
		return r;

	memset(&vc, 0, sizeof(vc));
	vc.size = size;
	vc.features = features;
	vc.addrs = p->addrs;
	vc.mem = &p->mem;
	return vio_devq_init(&p->dev, &vc);
}

int vt_pair_dev_reinit(struct vt_pair *p)
{
	struct vio_devq_config vc;

	memset(&vc, 0, sizeof(vc));
	vc.size = p->size;
	vc.features = p->features;
	vc.addrs = p->addrs;
	vc.mem = &p->mem;
	vc.resume = true;
	vc.avail_base = vio_devq_avail_base(&p->dev);
	vc.used_base = vio_devq_used_base(&p->dev);
	return vio_devq_init(&p->dev, &vc);
}

void vt_pair_fini(struct vt_pair *p)
{
	free(p->arena);
	free(p->slots);
	memset(p, 0, sizeof(*p));
}

uint64_t vt_gpa(const struct vt_pair *p, const void *host)
{
	return VT_GUEST_BASE + (uint64_t)((const uint8_t *)host - p->arena);
}

void *vt_hva(const struct vt_pair *p, uint64_t gpa)
{
	return p->arena + (gpa - VT_GUEST_BASE);
}

struct vio_sg vt_sg(const struct vt_pair *p, size_t off, uint32_t len)
{
	struct vio_sg sg = { vt_gpa(p, p->buf + off), len };
	return sg;
}
