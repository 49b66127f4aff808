/*
 * vhost_user_fe_net.h - private: the vhost-user frontend's net part
 * (vhost_user_fe_net.c), the config space and control queue it serves for
 * a net backend that has neither (vio/transport/vhost_user_frontend.h,
 * "Net devices"), and the two calls of the frontend it uses.
 */
#ifndef VIO_VHOST_USER_FE_NET_H
#define VIO_VHOST_USER_FE_NET_H

#include "vio/transport/vhost_user_frontend.h"

/* Implemented in vhost_user_frontend.c. */
int vio__vu_fe_vring_enable(struct vio_vu_frontend *fe, unsigned qi, bool on);
void vio__vu_fe_log(struct vio_vu_frontend *fe, enum vio_log_level level, const char *fmt, ...)
	VIO_PRINTF(3, 4);

/* First handshake, once protocol features and the backend's queue count
 * are known: decides what is served here, sets fe->presented and, with
 * the control queue served here, fe->num_queues. Any device: a non-net
 * device presents what the backend offers. */
void vio__vu_fe_net_setup(struct vio_vu_frontend *fe);

/* The driver's features as the backend gets them. */
uint64_t vio__vu_fe_net_backend_features(const struct vio_vu_frontend *fe, uint64_t driver_features);

/* The backend's queues the session needs (a reconnect's backend must have
 * them): the data queues when the control queue is served here. */
unsigned vio__vu_fe_net_backend_queues(const struct vio_vu_frontend *fe);

/* Config space served here: 0 or -errno (-EINVAL out of range, -EPERM a
 * write to anything but the MAC). */
int vio__vu_fe_net_config(struct vio_vu_frontend *fe, bool write, unsigned off, void *buf,
			  unsigned len);

/* Is queue qi the control queue served here (never sent to the backend)? */
bool vio__vu_fe_net_local_queue(const struct vio_vu_frontend *fe, unsigned qi);

/* Should ring qi start enabled? (With MQ and the control queue served
 * here, only the pairs VQ_PAIRS_SET enabled.) */
bool vio__vu_fe_net_ring_enabled(const struct vio_vu_frontend *fe, unsigned qi);

/* The control queue served here goes live (DRIVER_OK, or enabled after
 * it) / was kicked / the device was reset. */
int vio__vu_fe_net_ctrl_start(struct vio_vu_frontend *fe);
void vio__vu_fe_net_ctrl_kick(struct vio_vu_frontend *fe);
void vio__vu_fe_net_reset(struct vio_vu_frontend *fe);

#endif
