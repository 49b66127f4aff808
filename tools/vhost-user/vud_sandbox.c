/*
 * vud_sandbox.c - the vhost-user daemons' sandbox (vud_sandbox.h): the
 * supervising parent, namespaces or chroot, capabilities, and the seccomp
 * allowlists, the shared loop's and each daemon's.
 *
 * Why fork. A new pid namespace only takes the children of the process
 * that asks for it, and a process with threads cannot fork safely, so
 * vud forks once, before any thread exists (virtiofsd does the same). The
 * parent keeps nothing but the child's pid: it waits, forwards the
 * signals an operator sends, and once the child has ended removes the
 * sockets (their paths mean nothing in the child's empty root) and ends
 * the same way. The child dies with the parent (PR_SET_PDEATHSIG): a
 * daemon killed with SIGKILL leaves no worker behind.
 *
 * Why the signals stay blocked in the child. The child is the init of
 * its pid namespace, and the kernel drops a signal sent to such an init
 * whose action is the default: a SIGTERM that came between the fork and
 * vud's signalfd would be lost. Blocked, it waits in the queue until the
 * signalfd reads it.
 *
 * The allowlists were made by running every daemon's test suite and the
 * sanitizer builds with the filter trapping (each forbidden call named on
 * stderr), then the guest tests with it killing. --seccomp=log serves
 * less well for that: the kernel's audit lines in dmesg ("audit:
 * type=1326 ... syscall=N") are rate-limited to 10 per 5 s, the rest
 * only counted ("kauditd_printk_skb: N callbacks suppressed"). A call a
 * daemon makes only before vud_sandbox_seal() needs no entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <cap-ng.h>
#include <seccomp.h>

#include "vud_sandbox.h"

struct vud_allowlist {
	const char *const *calls;       /* names (libseccomp's), NULL-terminated */
	bool tap_ioctl;                 /* ioctl(TUNSETOFFLOAD) */
};

/* The shared loop (vud.c), the vhost-user backend and glibc, as the
 * daemons run them after setup. Grouped by who needs them. */
static const char *const loop_calls[] = {
	/* fds: the epoll loops, eventfds, timerfds, the frontend's socket */
	"read", "write", "readv", "writev", "close", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "epoll_ctl", "poll", "ppoll", "accept4", "listen", "recvmsg",
	"sendmsg", "recvfrom", "sendto", "fcntl", "timerfd_settime", "timerfd_gettime",
	/* vhost-user: kick reads (RWF_NOWAIT), guest memory, the inflight
	 * area (a memfd), fd checks (fstat; /proc/self/fd and fdinfo, read) */
	"preadv2", "mmap", "munmap", "mremap", "madvise", "mprotect", "memfd_create",
	"ftruncate", "fstat", "newfstatat", "statx", "readlink", "readlinkat", "lseek",
	/* threads and time: futexes, memory, clocks, signals, exit */
	"futex", "brk", "clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday",
	"clock_getres", "sched_yield", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
	"getpid", "gettid", "getrandom", "exit", "exit_group", "restart_syscall",
	/* a thread's first calls, which may come after TSYNC */
	"set_robust_list", "rseq",
	NULL,
};

/* The block device: io_uring (its ring restricted to what it submits,
 * src/devices/blk_uring_restrict.c), and the synchronous path. */
static const char *const blk_calls[] = {
	"io_uring_enter", "preadv", "pwritev", "pwritev2", "pread64", "pwrite64",
	"fallocate", "fdatasync", "fsync", NULL,
};

static const char *const no_calls[] = { NULL };

/* Sanitizer builds (the test suite's ASan, UBSan and TSan runs): what the
 * runtime does at exit. LeakSanitizer stops every thread from a tracer
 * it clones (ptrace, /proc/self/task), which no release build needs. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VUD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(undefined_behavior_sanitizer)
#define VUD_SANITIZER 1
#endif
#endif
#ifdef VUD_SANITIZER
static const char *const sanitizer_calls[] = {
	"prctl", "sched_getaffinity", "clone", "getppid", "rt_sigaction", "ptrace", "wait4",
	"waitid", "getdents", "getdents64", "open", "kill", "sigaltstack", "setrlimit",
	"getrlimit", "prlimit64", NULL,
};
#else
static const char *const sanitizer_calls[] = { NULL };
#endif

const struct vud_allowlist vud_allow_blk = { .calls = blk_calls };
const struct vud_allowlist vud_allow_rng = { .calls = no_calls };
/* The tap port: reads, writes and polls (in the loop's list), and
 * TUNSETOFFLOAD when the driver's receive offloads change. */
const struct vud_allowlist vud_allow_net = { .calls = no_calls, .tap_ioctl = true };

static const char *sb_name = "vhost-user";      /* the daemon's, for log lines */
static bool in_child;                            /* the parent removes the sockets */

int vud_sandbox_parse(struct vud_sandbox_opts *s, const char *a, const char *argv0)
{
	static const char *const modes[] = { "namespace", "chroot", "none" };
	static const char *const actions[] = { "kill", "log", "trap", "none" };

	if (!strncmp(a, "--sandbox=", 10)) {
		for (unsigned i = 0; i < 3; i++)
			if (!strcmp(a + 10, modes[i])) {
				s->mode = (enum vud_sandbox_mode)i;
				return 1;
			}
		fprintf(stderr, "%s: bad --sandbox value '%s' (namespace, chroot or none)\n", argv0,
			a + 10);
		return -1;
	}
	if (!strncmp(a, "--seccomp=", 10)) {
		for (unsigned i = 0; i < 4; i++)
			if (!strcmp(a + 10, actions[i])) {
				s->seccomp = (enum vud_seccomp_action)i;
				return 1;
			}
		fprintf(stderr, "%s: bad --seccomp value '%s' (kill, log, trap or none)\n", argv0,
			a + 10);
		return -1;
	}
	if (!strncmp(a, "--socket-group=", 15)) {
		if (!a[15]) {
			fprintf(stderr, "%s: --socket-group wants a group name\n", argv0);
			return -1;
		}
		s->socket_group = a + 15;
		return 1;
	}
	if (!strcmp(a, "--sandbox-selftest")) {
		s->selftest = true;
		return 1;
	}
	return 0;
}

static int fail(const char *what)
{
	fprintf(stderr, "%s: error: sandbox: %s: %s\n", sb_name, what, strerror(errno));
	return -1;
}

int vud_sandbox_socket(const struct vud_sandbox_opts *s, const char *name, const char *path)
{
	struct group *g;
	char *end;
	gid_t gid;

	sb_name = name;
	if (!s->socket_group)
		return 0;
	errno = 0;
	g = getgrnam(s->socket_group);
	if (g) {
		gid = g->gr_gid;
	} else {
		unsigned long v = strtoul(s->socket_group, &end, 10);

		if (*end || s->socket_group[0] < '0' || s->socket_group[0] > '9') {
			fprintf(stderr, "%s: error: --socket-group: no group '%s'\n", name,
				s->socket_group);
			return -1;
		}
		gid = (gid_t)v;
	}
	if (fchownat(AT_FDCWD, path, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail("chgrp of the socket (--socket-group)");
	if (chmod(path, 0660) < 0)
		return fail("chmod of the socket");
	return 0;
}

bool vud_sandbox_parent_unlinks(void)
{
	return in_child;
}

/* ------------------------------------------------------------------------ */
/* The child: namespaces or chroot, capabilities                            */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/*
 * The pid namespace, for the child to come. Root has it for the asking;
 * anyone else gets it inside a user namespace of their own, where the
 * daemon's uid and gid map to themselves (files it opened stay its own).
 */
static int unshare_pid(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();

	if (unshare(CLONE_NEWPID) == 0)
		return 0;
	if (errno != EPERM)
		return fail("unshare (pid namespace)");
	if (unshare(CLONE_NEWUSER | CLONE_NEWPID) < 0)
		return fail("unshare (user and pid namespaces; --sandbox=namespace wants root or "
			    "unprivileged user namespaces, else use --sandbox=none)");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", map) < 0)
		return fail("writing uid_map");
	if (write_file("/proc/self/setgroups", "deny\n") < 0 && errno != ENOENT)
		return fail("writing setgroups");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if (write_file("/proc/self/gid_map", map) < 0)
		return fail("writing gid_map");
	return 0;
}

/*
 * Mount, network and IPC namespaces, and an empty tmpfs as the root, read
 * only, with a /proc of the new pid namespace in it (process directories
 * only: no /proc/sys, no sysrq-trigger). /tmp is only the place the tmpfs
 * is mounted before it becomes the root: in the new mount namespace,
 * nothing of this shows outside.
 */
static int enter_namespaces(void)
{
	const unsigned long nosuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;

	if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) < 0)
		return fail("unshare (mount, net and IPC namespaces)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail("making the mounts private");
	if (mount("tmpfs", "/tmp", "tmpfs", nosuid, "size=16k,nr_inodes=16,mode=0755") < 0)
		return fail("mounting an empty tmpfs on /tmp");
	if (mkdir("/tmp/proc", 0555) < 0)
		return fail("mkdir /proc in the new root");
	if (mount("proc", "/tmp/proc", "proc", nosuid, "subset=pid,hidepid=2") < 0 &&
	    mount("proc", "/tmp/proc", "proc", nosuid, NULL) < 0)
		return fail("mounting /proc in the new root");
	/* pivot_root(2)'s own recipe: the old root lands on top of the new
	 * one, and goes with the umount. */
	if (chdir("/tmp") < 0)
		return fail("chdir into the new root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		return fail("unmounting the old root");
	if (chdir("/") < 0)
		return fail("chdir /");
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | nosuid, NULL) < 0)
		return fail("making the new root read-only");
	return 0;
}

/*
 * An empty directory as the root: made, entered, removed, and only then
 * made the root. A removed directory takes no new entries, and nothing is
 * left behind on the host.
 */
static int enter_chroot(void)
{
	char dir[] = "/tmp/vhost-user-sandbox-XXXXXX";

	if (!mkdtemp(dir))
		return fail("mkdtemp for the chroot");
	if (chdir(dir) < 0) {
		fail("chdir into the chroot");
		rmdir(dir);
		return -1;
	}
	if (rmdir(dir) < 0)
		return fail("rmdir of the chroot");
	if (chroot(".") < 0)
		return fail("chroot");
	if (chdir("/") < 0)
		return fail("chdir /");
	return 0;
}

/* Every capability, the bounding set too where we may (CAP_SETPCAP). */
static int drop_capabilities(void)
{
	capng_select_t what = CAPNG_SELECT_BOTH;

	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP))
		what = CAPNG_SELECT_CAPS;
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(what) < 0) {
		fprintf(stderr, "%s: error: sandbox: cannot drop capabilities (libcap-ng)\n", sb_name);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("PR_SET_NO_NEW_PRIVS");
	return 0;
}

static int child_enter(const struct vud_sandbox_opts *s)
{
	int r = s->mode == VUD_SANDBOX_NAMESPACE ? enter_namespaces() : enter_chroot();

	return r < 0 ? -1 : drop_capabilities();
}

/* ------------------------------------------------------------------------ */
/* The parent                                                               */

/* Waits for the child, forwarding the operator's signals; its wait status. */
static int supervise(pid_t child, const sigset_t *fwd)
{
	for (;;) {
		siginfo_t si;
		int st, sig = sigwaitinfo(fwd, &si);

		if (sig < 0)
			continue;       /* EINTR: nothing else can fail here */
		if (sig != SIGCHLD) {
			kill(child, sig);
			continue;
		}
		if (waitpid(child, &st, WNOHANG) == child)
			return st;
	}
}

/* The child died of sig: so does the parent, without a core of its own. */
static void reraise(int sig)
{
	const struct rlimit none = { 0, 0 };
	sigset_t one;

	fprintf(stderr, "%s: error: the sandboxed daemon was killed by signal %d (%s)%s\n",
		sb_name, sig, strsignal(sig),
		sig == SIGSYS ? ": a system call outside its seccomp allowlist" : "");
	setrlimit(RLIMIT_CORE, &none);
	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
}

int vud_sandbox_enter(const struct vud_sandbox_opts *s, const char *name,
		      const char *const *paths, unsigned n, int *status)
{
	sigset_t fwd;
	struct pollfd pf;
	int alive[2], st, own_pid_ns;
	pid_t child;

	sb_name = name;
	if (s->mode == VUD_SANDBOX_NONE)
		return 0;
	/* The parent's own pid namespace, to go back to for its children
	 * after the fork (see below). */
	own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (s->mode == VUD_SANDBOX_NAMESPACE && unshare_pid() < 0) {
		if (own_pid_ns >= 0)
			close(own_pid_ns);
		return -1;
	}
	sigemptyset(&fwd);
	sigaddset(&fwd, SIGINT);
	sigaddset(&fwd, SIGTERM);
	sigaddset(&fwd, SIGUSR1);
	sigaddset(&fwd, SIGCHLD);
	/* The child learns from this pipe whether the parent died before
	 * PR_SET_PDEATHSIG was in place (getppid() says 0 across a pid
	 * namespace): the parent's end closes when it goes. */
	alive[0] = alive[1] = -1;
	if (sigprocmask(SIG_BLOCK, &fwd, NULL) < 0) {
		fail("sigprocmask");
		goto undo;
	}
	if (pipe2(alive, O_CLOEXEC) < 0) {
		fail("pipe2");
		goto undo;
	}
	child = fork();
	if (child < 0) {
		fail("fork");
		goto undo;
	}
	if (child == 0) {
		sigset_t chld;

		if (own_pid_ns >= 0)
			close(own_pid_ns);
		in_child = true;
		close(alive[1]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			return fail("PR_SET_PDEATHSIG");
		pf = (struct pollfd){ .fd = alive[0], .events = POLLIN };
		if (poll(&pf, 1, 0) > 0)
			_exit(1);       /* the parent is gone already */
		close(alive[0]);
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		return child_enter(s) < 0 ? -1 : 0;
	}
	close(alive[0]);
	/* Once the child (the init of the new namespace) has gone, a fork
	 * into that namespace fails with ENOMEM; the parent's next children
	 * (a sanitizer's tracer at exit, say) go to its own instead. As a
	 * non-root user that is not allowed, and not needed. */
	if (own_pid_ns >= 0) {
		if (setns(own_pid_ns, CLONE_NEWPID) < 0 && errno != EPERM)
			fail("setns (back to the parent's pid namespace)");
		close(own_pid_ns);
	}
	st = supervise(child, &fwd);
	close(alive[1]);
	for (unsigned i = 0; i < n; i++)
		if (unlink(paths[i]) < 0 && errno != ENOENT)
			fprintf(stderr, "%s: warning: unlink %s: %s\n", name, paths[i],
				strerror(errno));
	if (WIFSIGNALED(st))
		reraise(WTERMSIG(st));
	/* The signals stay blocked: a SIGTERM now must not change the
	 * status the child ended with. */
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	return 1;
undo:
	for (int i = 0; i < 2; i++)
		if (alive[i] >= 0)
			close(alive[i]);
	if (own_pid_ns >= 0)
		close(own_pid_ns);
	return -1;
}

/* ------------------------------------------------------------------------ */
/* seccomp                                                                  */

#define MAX_NR 512
static char *sys_names[MAX_NR];          /* --seccomp=trap: resolved before, not in the handler */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		buf[at++] = *s++;
	return at;
}

/* --seccomp=trap: says which call, with async-signal-safe calls only. The
 * call itself fails with ENOSYS. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char buf[200], num[12];
	const int nr = si->si_syscall;
	size_t at = 0, k = sizeof(num);
	unsigned v = nr < 0 ? 0u : (unsigned)nr;
	ssize_t w;

	(void)sig;
	/* The call did not run; what it returns is whatever the handler
	 * leaves in the return register of the interrupted context. */
#if defined(__x86_64__)
	((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	((ucontext_t *)uc)->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#else
	(void)uc;
#endif
	num[--k] = '\0';
	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v && k);
	at = put_str(buf, at, sizeof(buf), sb_name);
	at = put_str(buf, at, sizeof(buf), ": error: seccomp: forbidden system call ");
	at = put_str(buf, at, sizeof(buf), num + k);
	at = put_str(buf, at, sizeof(buf), " (");
	at = put_str(buf, at, sizeof(buf),
		     nr >= 0 && nr < MAX_NR && sys_names[nr] ? sys_names[nr] : "?");
	at = put_str(buf, at, sizeof(buf), "), failed with ENOSYS\n");
	w = write(STDERR_FILENO, buf, at);
	(void)w;
}

static int allow(scmp_filter_ctx ctx, const char *call)
{
	int nr = seccomp_syscall_resolve_name(call);

	if (nr == __NR_SCMP_ERROR)
		return 0;       /* not a call on this architecture */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0) {
		fprintf(stderr, "%s: error: seccomp: cannot allow %s\n", sb_name, call);
		return -1;
	}
	return 0;
}

/* One argument comparison (libseccomp's SCMP_A* macros leave fields for
 * the compiler to complain about). */
static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	struct scmp_arg_cmp c = { .arg = arg, .op = op, .datum_a = a, .datum_b = b };

	return c;
}

static int add_rules(scmp_filter_ctx ctx, const struct vud_sandbox_opts *s)
{
	const int masked = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_PATH | O_TMPFILE;
	int r = 0;

	for (const char *const *c = loop_calls; *c; c++)
		r |= allow(ctx, *c);
	for (const char *const *c = s->allow ? s->allow->calls : no_calls; *c; c++)
		r |= allow(ctx, *c);
	for (const char *const *c = sanitizer_calls; *c; c++)
		r |= allow(ctx, *c);
	/* /proc/self/fdinfo, read only (glibc's open() is openat). */
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
			      arg_cmp(2, SCMP_CMP_MASKED_EQ, masked, O_RDONLY));
	/* raise() and abort(): this process only (tgkill's first argument). */
	r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
			      arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
	if (s->allow && s->allow->tap_ioctl)
		r |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      arg_cmp(1, SCMP_CMP_EQ, TUNSETOFFLOAD, 0));
	/* Without a sandbox, the daemon itself removes its sockets at exit. */
	if (s->mode == VUD_SANDBOX_NONE)
		r |= allow(ctx, "unlink") | allow(ctx, "unlinkat");
	return r ? -1 : 0;
}

int vud_sandbox_seal(const struct vud_sandbox_opts *s, const char *name)
{
	static const uint32_t actions[] = {
		[VUD_SECCOMP_KILL] = SCMP_ACT_KILL_PROCESS,
		[VUD_SECCOMP_LOG] = SCMP_ACT_LOG,
		[VUD_SECCOMP_TRAP] = SCMP_ACT_TRAP,
	};
	scmp_filter_ctx ctx;
	int r;

	sb_name = name;
	if (s->seccomp == VUD_SECCOMP_NONE)
		return 0;
	if (s->seccomp == VUD_SECCOMP_TRAP) {
		struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

		for (int nr = 0; nr < MAX_NR; nr++)
			sys_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, NULL) < 0)
			return fail("sigaction (SIGSYS)");
	}
	ctx = seccomp_init(actions[s->seccomp]);
	if (!ctx) {
		fprintf(stderr, "%s: error: seccomp: seccomp_init failed\n", name);
		return -1;
	}
	/* Every thread at once (they are started), and NO_NEW_PRIVS. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!r)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	/* A binary tree of syscall numbers rather than a list (libseccomp
	 * 2.5); without it the filter is the same, only longer to run. */
	if (!r)
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (!r)
		r = add_rules(ctx, s);
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r) {
		fprintf(stderr, "%s: error: seccomp: cannot install the filter: %s\n", name,
			strerror(r < 0 ? -r : EINVAL));
		return -1;
	}
	return 0;
}

void vud_sandbox_selftest(const struct vud_sandbox_opts *s)
{
	static bool done;
	char buf[256];
	long r;

	if (!s->selftest || __atomic_exchange_n(&done, true, __ATOMIC_RELAXED))
		return;
	fprintf(stderr, "%s: sandbox self-test: calling getcwd, which the allowlist forbids\n",
		sb_name);
	r = syscall(SYS_getcwd, buf, sizeof(buf));
	fprintf(stderr, "%s: sandbox self-test: getcwd returned %ld%s%s\n", sb_name, r,
		r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
}
