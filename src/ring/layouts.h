/*
 * layouts.h - the layout-specific halves of the public ring calls
 * (private to src/ring/). ring.c checks what both layouts share and
 * dispatches here by q->packed; split_drv.c, split_dev.c, packed_drv.c
 * and packed_dev.c implement them and never call back into ring.c.
 */
#ifndef VIO_RING_LAYOUTS_H
#define VIO_RING_LAYOUTS_H

#include "vio/ring.h"

/* split_drv.c */
int vio__split_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg);
int vio__split_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		   const struct vio_sg *in, unsigned in_n, void *token);
int vio__split_add_staged(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
			  const struct vio_sg *in, unsigned in_n, void *token);
bool vio__split_kick_prepare(struct vio_drvq *q);
int vio__split_get_buf(struct vio_drvq *q, void **token, uint32_t *len);
bool vio__split_has_used(struct vio_drvq *q);
void vio__split_disable_cb(struct vio_drvq *q);
uint32_t vio__split_enable_cb_prepare(struct vio_drvq *q);
bool vio__split_poll(struct vio_drvq *q, uint32_t pos);
bool vio__split_enable_cb_delayed(struct vio_drvq *q);
uint16_t vio__split_resume_base(const struct vio_drvq *q);

/* split_dev.c */
int vio__split_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg);
int vio__split_pop(struct vio_devq *q, struct vio_elem *e);
int vio__split_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio__split_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len);
void vio__split_log_elem(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio__split_flush(struct vio_devq *q);
bool vio__split_need_interrupt(struct vio_devq *q);
void vio__split_kick_disable(struct vio_devq *q);
bool vio__split_kick_enable(struct vio_devq *q);
bool vio__split_has_avail(struct vio_devq *q);

/* packed_drv.c */
int vio__packed_drv_init(struct vio_drvq *q, const struct vio_drvq_config *cfg);
int vio__packed_add(struct vio_drvq *q, const struct vio_sg *out, unsigned out_n,
		    const struct vio_sg *in, unsigned in_n, void *token);
bool vio__packed_kick_prepare(struct vio_drvq *q);
int vio__packed_get_buf(struct vio_drvq *q, void **token, uint32_t *len);
bool vio__packed_has_used(struct vio_drvq *q);
void vio__packed_disable_cb(struct vio_drvq *q);
uint32_t vio__packed_enable_cb_prepare(struct vio_drvq *q);
bool vio__packed_poll(struct vio_drvq *q, uint32_t pos);
bool vio__packed_enable_cb_delayed(struct vio_drvq *q);
uint16_t vio__packed_resume_base(const struct vio_drvq *q);

/* packed_dev.c */
int vio__packed_dev_init(struct vio_devq *q, const struct vio_devq_config *cfg);
int vio__packed_pop(struct vio_devq *q, struct vio_elem *e);
int vio__packed_fill(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio__packed_fill_in_order(struct vio_devq *q, const struct vio_elem *last, uint32_t len);
void vio__packed_log_elem(struct vio_devq *q, const struct vio_elem *e, uint32_t len);
int vio__packed_flush(struct vio_devq *q);
bool vio__packed_need_interrupt(struct vio_devq *q);
void vio__packed_kick_disable(struct vio_devq *q);
bool vio__packed_kick_enable(struct vio_devq *q);
bool vio__packed_has_avail(struct vio_devq *q);
uint16_t vio__packed_avail_base(const struct vio_devq *q);
uint16_t vio__packed_used_base(const struct vio_devq *q);

#endif
