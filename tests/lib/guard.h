/*
 * guard.h - guest memory with tripwires, for tests of the device side.
 *
 * A guarded region is its own mmap:
 *
 *   [guard page][canary page][skew][body ... to a page end][canary page][guard page]
 *
 * The body is what a test registers as guest memory. The canary bytes
 * around it are mapped but not registered and hold VT_CANARY, so a stray
 * write shows as a changed canary (vt_guarded_canaries_ok); the guard
 * pages are PROT_NONE, so a stray access further out faults at once. A
 * sealed region's body is PROT_NONE too: memory a hostile driver names
 * but that must never be touched (a read faults).
 */
#ifndef VT_GUARD_H
#define VT_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VT_CANARY 0x5c

struct vt_guarded {
	uint8_t *map;
	size_t map_len;
	uint8_t *body;          /* the bytes registered as guest memory */
	size_t len;
	bool sealed;            /* body is PROT_NONE: must never be touched */
};

/* Maps len bytes at skew bytes into a page (zeroed unless sealed); a test
 * failure (cmocka) when the mapping cannot be made. */
void vt_guarded_map(struct vt_guarded *g, size_t len, size_t skew, bool sealed);
/* Unmaps (a region never mapped is fine) and clears *g. */
void vt_guarded_unmap(struct vt_guarded *g);
/* Do the canary bytes on both sides of the body still hold VT_CANARY?
 * (true for a region not mapped in this test) */
bool vt_guarded_canaries_ok(const struct vt_guarded *g);

#endif
