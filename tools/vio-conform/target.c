/*
 * target.c - the backend under test, seen from the outside.
 *
 * With --exec, vio-conform starts the backend itself (a shell command line
 * in which {socket} becomes a socket path in a scratch directory; its
 * output goes to backend.log there), so it can restart it after a case
 * that killed or wedged it and tell how it ended (exit status, signal).
 * With --socket it only connects, and learns the process from --pid when
 * given (liveness, CPU time and fds then work too). CPU time and fds are
 * those of the process and all its descendants: a daemon may run as the
 * child of a supervisor (libvio's sandboxed daemons do).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conform.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* cmd with every {socket} replaced by path. */
static int expand(char *out, size_t cap, const char *cmd, const char *path)
{
	size_t o = 0;

	for (const char *p = cmd; *p;) {
		const char *s = !strncmp(p, "{socket}", 8) ? path : NULL;
		size_t n = s ? strlen(s) : 1;

		if (o + n + 1 > cap)
			return -ENAMETOOLONG;
		memcpy(out + o, s ? s : p, n);
		o += n;
		p += s ? 8 : 1;
	}
	out[o] = 0;
	return 0;
}

int vc_target_start(struct vc_target *t)
{
	char cmd[4096], log[300];
	struct stat st;
	int fd;

	if (!t->exec)
		return 0;
	if (!t->dir[0]) {
		snprintf(t->dir, sizeof(t->dir), "/tmp/vio-conform.XXXXXX");
		if (!mkdtemp(t->dir))
			return -errno;
		snprintf(t->socket_path, sizeof(t->socket_path), "%s/vhost-user.sock", t->dir);
	}
	unlink(t->socket_path);
	strcpy(cmd, "exec ");
	if (expand(cmd + 5, sizeof(cmd) - 5, t->exec, t->socket_path))
		return -ENAMETOOLONG;
	snprintf(log, sizeof(log), "%s/backend.log", t->dir);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	t->ended = false;
	t->ended_how[0] = 0;
	t->pid = fork();
	if (t->pid < 0) {
		close(fd);
		return -errno;
	}
	if (t->pid == 0) {
		setpgid(0, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fd);
	t->child = true;
	for (int i = 0; i < 1000; i++) {       /* up to 10 s for the socket */
		if (stat(t->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (!vc_target_alive(t))
			return -ECHILD;
		sleep_ms(10);
	}
	return -ETIMEDOUT;
}

void vc_target_stop(struct vc_target *t)
{
	if (!t->child || t->ended || t->pid <= 0)
		return;
	kill(t->pid, SIGTERM);
	for (int i = 0; i < 300 && vc_target_alive(t); i++)
		sleep_ms(10);
	if (vc_target_alive(t)) {
		kill(-t->pid, SIGKILL);
		kill(t->pid, SIGKILL);
		for (int i = 0; i < 300 && vc_target_alive(t); i++)
			sleep_ms(10);
	}
}

bool vc_target_alive(struct vc_target *t)
{
	int st;

	if (t->pid <= 0)
		return true;    /* unknown: assume so, the probe will tell */
	if (t->ended)
		return false;
	if (t->child) {
		pid_t r = waitpid(t->pid, &st, WNOHANG);

		if (r == 0)
			return true;
		t->ended = true;
		t->exit_status = st;
		if (r < 0)
			snprintf(t->ended_how, sizeof(t->ended_how), "gone");
		else if (WIFSIGNALED(st))
			snprintf(t->ended_how, sizeof(t->ended_how), "killed by signal %d (%s)",
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
		else
			snprintf(t->ended_how, sizeof(t->ended_how), "exited with status %d",
				 WEXITSTATUS(st));
		return false;
	}
	if (kill(t->pid, 0) == 0 || errno == EPERM)
		return true;
	t->ended = true;
	snprintf(t->ended_how, sizeof(t->ended_how), "gone");
	return false;
}

/* Reads /proc/PID/stat: parent pid and CPU time in clock ticks. */
static int proc_stat(pid_t pid, pid_t *ppid, unsigned long *ticks)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	const char *p;
	ssize_t n;
	int fd, pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');  /* the name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &pp, &ut,
			 &st) != 3)
		return -1;
	*ppid = pp;
	*ticks = ut + st;
	return 0;
}

/*
 * The backend's processes: its pid and every descendant (a daemon may run
 * as a child of a supervisor, as libvio's sandboxed daemons do, or fork
 * workers). Fills pids (at most cap) and returns how many.
 */
static unsigned family(pid_t root, pid_t *pids, unsigned cap)
{
	unsigned n = 0, grew;
	struct dirent *e;
	DIR *d;

	if (root <= 0 || cap == 0)
		return 0;
	pids[n++] = root;
	do {            /* until no process has a parent in the set */
		grew = 0;
		d = opendir("/proc");
		if (!d)
			return n;
		while ((e = readdir(d)) && n < cap) {
			unsigned long ticks;
			pid_t pid = (pid_t)atoi(e->d_name), pp;
			bool have = false, child = false;

			if (pid <= 0 || proc_stat(pid, &pp, &ticks))
				continue;
			for (unsigned i = 0; i < n; i++) {
				have |= pids[i] == pid;
				child |= pids[i] == pp;
			}
			if (child && !have) {
				pids[n++] = pid;
				grew++;
			}
		}
		closedir(d);
	} while (grew && n < cap);
	return n;
}

long vc_target_cpu_ms(const struct vc_target *t)
{
	pid_t pids[64], pp;
	unsigned long sum = 0, ticks;
	unsigned n = family(t->pid, pids, 64);

	if (n == 0)
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (proc_stat(pids[i], &pp, &ticks) == 0)
			sum += ticks;
	return (long)(sum * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

int vc_target_nfds(const struct vc_target *t)
{
	pid_t pids[64];
	unsigned np = family(t->pid, pids, 64);
	int n = 0;

	if (np == 0)
		return -1;
	for (unsigned i = 0; i < np; i++) {
		char path[64];
		struct dirent *e;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pids[i]);
		d = opendir(path);
		if (!d)
			continue;
		while ((e = readdir(d)))
			n += e->d_name[0] != '.';
		closedir(d);
	}
	return n;
}

int vc_target_connect(struct vc_target *t, int timeout_ms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (strlen(t->socket_path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, t->socket_path);
	for (int waited = 0;; waited += 10) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (s < 0)
			return -errno;
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
			return s;
		int e = errno;

		close(s);
		if ((e != ENOENT && e != ECONNREFUSED && e != EAGAIN) || waited >= timeout_ms ||
		    !vc_target_alive(t))
			return -e;
		sleep_ms(10);
	}
}
