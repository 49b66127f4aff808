/*
 * vud_sandbox.h - the vhost-user daemons' sandbox: namespaces or chroot,
 * capabilities dropped, and a seccomp allowlist per daemon.
 *
 * A vhost-user daemon maps the whole of a guest's memory and parses what a
 * frontend and a guest write. If either ever gets code running in it, the
 * process must hold nothing worth having. vud.c calls this in four steps:
 *
 *   vud_sandbox_socket()   right after binding each listen socket: mode
 *                          0600, or 0660 and the group of --socket-group.
 *                          The sockets listen from then on: a frontend
 *                          that comes early waits in the backlog.
 *   vud_sandbox_enter()    before any thread exists, once everything
 *                          opened by path is open (the image file,
 *                          /dev/net/tun, the listen sockets bound):
 *                          forks; the parent stays outside, forwards
 *                          SIGTERM, SIGINT and SIGUSR1 to the child, waits
 *                          for it, removes the sockets and ends as it
 *                          ended. The child goes on into new pid, mount,
 *                          network and IPC namespaces with an empty,
 *                          read-only tmpfs as its root (and its own /proc,
 *                          process directories only), or chroots into an
 *                          empty directory; then drops every capability,
 *                          the bounding set too, and sets NO_NEW_PRIVS.
 *   vud_sandbox_seal()     after setup (threads started, no frontend
 *                          message read yet): the seccomp filter, in
 *                          every thread at once (TSYNC). vud says
 *                          "listening on" once it is in.
 *   vud_sandbox_selftest() from a queue thread after a kick, with
 *                          --sandbox-selftest: one system call outside
 *                          the allowlist, so an operator sees the filter
 *                          act (killed, logged or trapped).
 *
 * What still needs a path afterwards, and what happens to it:
 *   - the sockets' unlink at exit: done by the parent, outside;
 *   - /proc/self/fd and /proc/self/fdinfo, which the vhost-user backend
 *     reads to tell eventfds and semaphore eventfds from other fds: the
 *     namespace sandbox mounts a /proc of its own pid namespace
 *     (subset=pid); under chroot there is none and those checks are
 *     skipped (the backend gives such fds the benefit of the doubt);
 *   - io_uring, eventfds, memfds for the inflight area, mmap of guest
 *     memory: fds only, no paths.
 */
#ifndef VUD_SANDBOX_H
#define VUD_SANDBOX_H

#include <stdbool.h>

/* Zero is the default of each: a memset vud_opts is namespace + kill. */
enum vud_sandbox_mode {
	VUD_SANDBOX_NAMESPACE = 0,
	VUD_SANDBOX_CHROOT,
	VUD_SANDBOX_NONE,
};

enum vud_seccomp_action {
	VUD_SECCOMP_KILL = 0,   /* the process dies of SIGSYS */
	VUD_SECCOMP_LOG,        /* the call goes ahead; the kernel logs it (dmesg/audit) */
	VUD_SECCOMP_TRAP,       /* the call fails with ENOSYS; a SIGSYS handler says which */
	VUD_SECCOMP_NONE,
};

/* What a daemon needs beyond the shared loop's calls (vud_sandbox.c). */
struct vud_allowlist;
extern const struct vud_allowlist vud_allow_blk;
extern const struct vud_allowlist vud_allow_rng;
extern const struct vud_allowlist vud_allow_net;

struct vud_sandbox_opts {
	enum vud_sandbox_mode mode;
	enum vud_seccomp_action seccomp;
	const char *socket_group;               /* --socket-group, or NULL */
	bool selftest;                          /* --sandbox-selftest */
	const struct vud_allowlist *allow;      /* set by the daemon; NULL: the loop's only */
};

#define VUD_SANDBOX_USAGE \
	"  --sandbox=namespace|chroot|none\n" \
	"                         namespace (default): new pid, mount, net and IPC\n" \
	"                         namespaces, an empty read-only root; chroot: an empty\n" \
	"                         directory as root; both drop every capability\n" \
	"  --seccomp=kill|log|trap|none\n" \
	"                         a system call outside the daemon's allowlist kills it\n" \
	"                         (default), is logged by the kernel, or fails and is\n" \
	"                         reported by a SIGSYS handler\n" \
	"  --socket-group=NAME    the socket is 0660 and of group NAME (default: 0600)\n" \
	"  --sandbox-selftest     the first queue thread to see a kick issues one system\n" \
	"                         call outside the allowlist (getcwd): a check that the\n" \
	"                         filter is live\n"

/*
 * One command-line argument: 1 taken, 0 not one of ours, -1 bad value
 * (message printed, prefixed with argv0). Context: option parsing.
 */
int vud_sandbox_parse(struct vud_sandbox_opts *s, const char *arg, const char *argv0);

/*
 * A listen socket just bound at path: 0600 (bind ran under umask 0177),
 * or chgrp --socket-group and 0660. 0 or -1 (logged). Context: before
 * vud_sandbox_enter.
 */
int vud_sandbox_socket(const struct vud_sandbox_opts *s, const char *name, const char *path);

/*
 * Enters the sandbox (see the top). paths are the sockets the parent
 * removes once the child has ended (n of them, may be 0). Returns 0 in the
 * process that goes on to serve (the sandboxed child, or the only process
 * with --sandbox=none), 1 in the parent once the child has ended
 * (*status: its exit status; a child killed by a signal is re-raised
 * instead, so the parent dies of it as well), or -1 (logged). Context:
 * single-threaded; signals not yet blocked by vud.
 */
int vud_sandbox_enter(const struct vud_sandbox_opts *s, const char *name,
		      const char *const *paths, unsigned n, int *status);

/* Whether the parent, outside, removes the sockets (the child must not try). */
bool vud_sandbox_parent_unlinks(void);

/*
 * Installs the seccomp filter in every thread of the process (TSYNC) and
 * sets NO_NEW_PRIVS. 0 or -1 (logged). Context: main thread, after every
 * thread is started, before the first frontend message.
 */
int vud_sandbox_seal(const struct vud_sandbox_opts *s, const char *name);

/*
 * With --sandbox-selftest, the first call in the process issues getcwd(),
 * which no allowlist holds; later calls do nothing. Context: any thread.
 */
void vud_sandbox_selftest(const struct vud_sandbox_opts *s);

#endif
