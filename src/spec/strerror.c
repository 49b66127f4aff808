/*
 * vio_strerror(): words for the negative errno values libvio returns.
 *
 * Freestanding on purpose (the core has no libc dependency beyond the
 * compiler's headers), so the table is ours rather than strerror()'s, and
 * it describes what each code means *in libvio*.
 */
#include "vio/spec.h"

const char *vio_strerror(int err)
{
	/* Negate in unsigned arithmetic: -INT_MIN does not fit an int. */
	unsigned e = err < 0 ? 0u - (unsigned)err : (unsigned)err;

	switch (e) {
	case 0:         return "success";
	case EINVAL:    return "invalid argument";
	case EIO:       return "the other side broke the virtio rules; queue broken or stopped";
	case EFAULT:    return "address outside the shared memory regions";
	case EOVERFLOW: return "address range wraps around";
	case ENOBUFS:   return "more spans than the caller's iovec capacity";
	case ENOSPC:    return "no room";
	case EAGAIN:    return "nothing to do now; try again later";
	case EEXIST:    return "overlaps something that already exists";
	case ENOENT:    return "no such entry";
	case ENOTSUP:   return "not supported";
	case EPROTO:    return "protocol violation by the peer";
	case EMSGSIZE:  return "message size wrong for its type";
	case E2BIG:     return "too large";
	case ERANGE:    return "value out of range";
	case EBUSY:     return "busy";
	case ENODEV:    return "no such device";
	case EPERM:     return "operation not permitted";
	case ENOMEM:    return "out of memory";
	case ECONNRESET: return "peer disconnected";
	default:        return "unknown error";
	}
}
