/*
 * vio/transport/vhost_user.h - what both vhost-user transports share: the
 * limits of one connection (QEMU's vhost-user.rst, as libvio implements
 * it). The backend (device side) is in vhost_user_backend.h, the frontend
 * (driver side) in vhost_user_frontend.h.
 */
#ifndef VIO_TRANSPORT_VHOST_USER_H
#define VIO_TRANSPORT_VHOST_USER_H

#define VIO_VU_MAX_QUEUES 64            /* queues of one device */
#define VIO_VU_MAX_MEM_SLOTS 32         /* memory regions of one connection */

/* Protocol feature bits a caller may name in protocol_features_off (as
 * VIO_BIT(n)); the rest are in the transport's private header. */
#define VIO_VU_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15

#endif /* VIO_TRANSPORT_VHOST_USER_H */
