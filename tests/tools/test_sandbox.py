#!/usr/bin/env python3
"""test_sandbox.py - the vhost-user daemons' sandbox and seccomp filter, as TAP.

    test_sandbox.py VHOST_USER_BLK VHOST_USER_RNG VHOST_USER_NET

Looked at from outside, the way an operator would check it:

  - with the defaults (--sandbox=namespace --seccomp=kill) the process that
    serves is a child of the one started, in pid, mount, net and IPC
    namespaces of its own (/proc/PID/ns/* differ from the parent's), its
    root is an empty directory with only its own /proc in it, it has no
    capabilities (CapEff and CapBnd 0), NoNewPrivs 1 and Seccomp 2; the
    socket is 0600; SIGTERM and SIGINT reach it through the parent, SIGUSR1
    prints its stats, it ends with status 0 and the socket is removed;
  - killing the parent with SIGKILL takes the child with it;
  - --fd is served from inside the sandbox; a failure inside the sandbox
    gives the parent its exit status;
  - --sandbox=chroot: same namespaces as the parent, an empty root;
    --sandbox=none --seccomp=none: one process, no filter;
  - --socket-group: 0660 and that group; a group that does not exist and
    bad --sandbox/--seccomp values are refused;
  - as nobody, --sandbox=namespace adds a user namespace and works the same;
  - --help and --print-capabilities work where no sandbox could be made
    (run as nobody with RLIMIT_NPROC 0: fork fails, which a normal start
    shows);
  - --sandbox-selftest: once a frontend has started a queue and kicked
    it, a queue thread calls getcwd, outside every allowlist. Under kill
    the daemon dies of SIGSYS (the parent dies of it too, after saying
    so); under log the call goes ahead and the kernel's log (dmesg) has an
    audit line with the child's pid and getcwd's number; under trap the
    call fails with ENOSYS and the daemon names it. Under log and trap the
    daemon goes on serving.
"""
import grp
import json
import os
import resource
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

BLK, RNG, NET = sys.argv[1:4]
TMP = tempfile.mkdtemp(prefix="vud-sandbox-")
os.chmod(TMP, 0o755)        # nobody reaches TMP/nobody (t_help_caps_unsandboxed)
IMG = os.path.join(TMP, "disk.img")
DAEMONS = {"vhost-user-blk": [BLK, "--blk-file=" + IMG],
           "vhost-user-rng": [RNG],
           "vhost-user-net": [NET, "--reflect"]}
SYS_GETCWD = 79         # x86_64

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL = 8, 9, 12, 13
VERSION, REPLY = 1, 1 << 2
F_VERSION_1 = 1 << 32
HDR = struct.Struct("<III")

results = []


def tap(ok, name, diag=""):
    results.append(bool(ok))
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    if not ok and diag:
        for line in str(diag).rstrip().splitlines()[-25:]:
            print("# " + line)
    sys.stdout.flush()


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def status_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def no_leak_check():
    """The environment for a daemon that LeakSanitizer cannot check (ASan
    builds): it stops the threads from a tracer it forks and finds them
    in /proc, and a chroot has no /proc, and RLIMIT_NPROC 0 no fork."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    return env


class Daemon:
    seq = 0

    def __init__(self, name, extra=(), wait=True, env=None):
        Daemon.seq += 1
        self.name = name
        self.sock = os.path.join(TMP, "s%d.sock" % Daemon.seq)
        self.log = open(os.path.join(TMP, "s%d.log" % Daemon.seq), "w+")
        self.proc = subprocess.Popen(DAEMONS[name] + ["--socket-path=" + self.sock] + list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.worker = None
        if not wait:
            return
        deadline = time.monotonic() + 20
        while "listening on" not in self.text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s did not start: %s" % (name, self.text()))
            time.sleep(0.02)
        kids = children_of(self.proc.pid)
        self.worker = kids[0] if len(kids) == 1 else self.proc.pid

    def text(self):
        with open(self.log.name) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, within=10):
        """Sends sig (if still running); the exit status (None: had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.log.close()


class Frontend:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(5.0)
        self.s.connect(path)

    def send(self, req, payload=b"", fds=()):
        data = HDR.pack(req, VERSION, len(payload)) + payload
        if fds:
            socket.send_fds(self.s, [data], list(fds))
        else:
            self.s.sendall(data)

    def get_u64(self, req):
        self.send(req)
        buf = b""
        while len(buf) < HDR.size + 8:
            got = self.s.recv(HDR.size + 8 - len(buf))
            if not got:
                raise EOFError("the daemon closed the connection")
            buf += got
        r, flags, size = HDR.unpack(buf[:HDR.size])
        if r != req or not flags & REPLY or size != 8:
            raise RuntimeError("bad reply %d %#x %d" % (r, flags, size))
        return struct.unpack("<Q", buf[HDR.size:])[0]

    def start_and_kick(self):
        """Queue 0 started over a memfd (no protocol features: it runs once
        it has a kick fd), then one kick."""
        self.send(SET_OWNER)
        self.send(SET_FEATURES, struct.pack("<Q", F_VERSION_1))
        mem = os.memfd_create("sandbox-test-guest")
        call = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        kick = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        try:
            os.ftruncate(mem, 65536)
            uva = 0x7f0000000000
            self.send(SET_MEM_TABLE, struct.pack("<II4Q", 1, 0, 0, 65536, uva, 0), [mem])
            self.send(SET_VRING_NUM, struct.pack("<II", 0, 8))
            self.send(SET_VRING_ADDR, struct.pack("<II4Q", 0, 0, uva, uva + 0x2000, uva + 0x1000, 0))
            self.send(SET_VRING_CALL, struct.pack("<Q", 0), [call])
            self.send(SET_VRING_KICK, struct.pack("<Q", 0), [kick])
            self.get_u64(GET_FEATURES)      # all of the above handled
            os.eventfd_write(kick, 1)
        finally:
            for fd in (mem, call, kick):
                os.close(fd)

    def close(self):
        self.s.close()


def served(path):
    try:
        fe = Frontend(path)
        try:
            return bool(fe.get_u64(GET_FEATURES) & F_VERSION_1)
        finally:
            fe.close()
    except (OSError, EOFError, RuntimeError):
        return False


def ns_of(pid):
    return {n: os.readlink("/proc/%d/ns/%s" % (pid, n)) for n in ("mnt", "net", "pid", "ipc")}


def root_entries(pid):
    return sorted(os.listdir("/proc/%d/root" % pid))


# ---------------------------------------------------------------------------

def t_namespace(name):
    d = Daemon(name)
    try:
        parent, w = d.proc.pid, d.worker
        st = status_of(w)
        mine, theirs = ns_of(parent), ns_of(w)
        same = [n for n in mine if mine[n] == theirs[n]]
        tap(w != parent and not same,
            "%s: the default sandbox serves from a child in new pid, mount, net, IPC namespaces"
            % name, "parent %d worker %d: %s / %s" % (parent, w, mine, theirs))
        root = root_entries(w)
        rst, slash = os.stat("/proc/%d/root" % w), os.stat("/")
        with open("/proc/%d/mountinfo" % w) as f:
            mounts = [line.split() for line in f]
        top = [m for m in mounts if m[4] == "/"]
        tap(root == ["proc"] and (rst.st_dev, rst.st_ino) != (slash.st_dev, slash.st_ino) and
            len(top) == 1 and top[0][5].split(",")[0] == "ro" and "tmpfs" in top[0] and
            len(mounts) == 2,
            "%s: its root is an empty read-only tmpfs holding only its /proc, and nothing "
            "else is mounted" % name, "%r %r" % (root, mounts))
        entries = os.listdir("/proc/%d/root/proc" % w)
        pids = sorted(e for e in entries if e.isdigit())
        tap(pids == ["1"] and "sys" not in entries and "sysrq-trigger" not in entries,
            "%s: its /proc shows its own pid namespace's processes only (no /proc/sys)" % name,
            repr(sorted(entries)))
        tap(st["CapEff"] == "0" * 16 and st["CapBnd"] == "0" * 16 and st["CapPrm"] == "0" * 16,
            "%s: no capabilities, bounding set empty" % name,
            "CapEff %s CapPrm %s CapBnd %s" % (st["CapEff"], st["CapPrm"], st["CapBnd"]))
        tap(st["NoNewPrivs"] == "1" and st["Seccomp"] == "2",
            "%s: NoNewPrivs 1, Seccomp 2 (filter)" % name,
            "NoNewPrivs %s Seccomp %s" % (st["NoNewPrivs"], st["Seccomp"]))
        threads = os.listdir("/proc/%d/task" % w)
        filtered = [t for t in threads
                    if status_of_task(w, t).get("Seccomp") != "2"]
        tap(len(threads) >= 2 and not filtered,
            "%s: every thread is filtered (TSYNC)" % name,
            "%d threads, unfiltered %s" % (len(threads), filtered))
        sst = os.stat(d.sock)
        tap(stat.S_IMODE(sst.st_mode) == 0o600 and sst.st_uid == os.geteuid(),
            "%s: the socket is 0600" % name, oct(sst.st_mode))
        tap(served(d.sock), "%s: serves a frontend from inside" % name, d.text())
        os.kill(parent, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while "queue 0:" not in d.text() and time.monotonic() < deadline:
            time.sleep(0.05)
        tap("queue 0:" in d.text(), "%s: SIGUSR1 to the parent prints the child's stats" % name,
            d.text())
    finally:
        rc = d.stop()
    tap(rc == 0 and not os.path.exists(d.sock) and not os.path.exists("/proc/%d" % d.worker),
        "%s: SIGTERM: the child ends, status 0, the socket is removed" % name,
        "status %s, socket left %s\n%s" % (rc, os.path.exists(d.sock), d.text()))


def status_of_task(pid, tid):
    try:
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {"Seccomp": "2"}     # gone meanwhile


def t_sigint():
    d = Daemon("vhost-user-rng")
    rc = d.stop(signal.SIGINT)
    tap(rc == 0 and not os.path.exists(d.sock), "SIGINT to the parent ends the daemon, status 0",
        "status %s\n%s" % (rc, d.text()))


def t_parent_killed():
    d = Daemon("vhost-user-rng")
    w = d.worker
    d.stop(signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/%d" % w) and time.monotonic() < deadline:
        time.sleep(0.05)
    tap(w != d.proc.pid and not os.path.exists("/proc/%d" % w),
        "the parent SIGKILLed: the sandboxed child goes with it", "child %d" % w)


def t_fd():
    """--fd: the connected socket is served from inside the sandbox; when
    the frontend leaves, the daemon ends with status 0."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    p = subprocess.Popen([RNG, "--fd=%d" % theirs.fileno()], pass_fds=[theirs.fileno()],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    theirs.close()
    ours.settimeout(5.0)
    try:
        ours.sendall(HDR.pack(GET_FEATURES, VERSION, 0))
        reply = b""
        while len(reply) < HDR.size + 8:
            got = ours.recv(HDR.size + 8 - len(reply))
            if not got:
                break
            reply += got
        kids = children_of(p.pid)
        ok = (len(reply) == HDR.size + 8 and
              struct.unpack("<Q", reply[HDR.size:])[0] & F_VERSION_1 and len(kids) == 1 and
              status_of(kids[0])["Seccomp"] == "2")
    except OSError as e:
        ok = False
        reply = repr(e).encode()
    ours.close()
    try:
        rc = p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = None
    err = p.stderr.read()
    p.stderr.close()
    tap(ok and rc == 0, "--fd: served from inside the sandbox; the frontend leaves, status 0",
        "reply %r status %s\n%s" % (reply, rc, err))


def t_child_status():
    # --fd naming no open file: the loop cannot watch it, inside the
    # sandbox, after the fork.
    p = subprocess.run([RNG, "--fd=99"], capture_output=True, text=True, timeout=10)
    tap(p.returncode == 1 and "fcntl (F_DUPFD_CLOEXEC)" in p.stderr,
        "a failure inside the sandbox: the parent ends with the child's status 1",
        "status %s\n%s" % (p.returncode, p.stderr))


def t_chroot():
    d = Daemon("vhost-user-blk", ["--sandbox=chroot"], env=no_leak_check())
    try:
        w, parent = d.worker, d.proc.pid
        st = status_of(w)
        mine, theirs = ns_of(parent), ns_of(w)
        tap(w != parent and mine == theirs and root_entries(w) == [],
            "--sandbox=chroot: a child, same namespaces, an empty root",
            "%s %s %s" % (mine, theirs, root_entries(w)))
        tap(st["CapEff"] == "0" * 16 and st["CapBnd"] == "0" * 16 and
            st["NoNewPrivs"] == "1" and st["Seccomp"] == "2",
            "--sandbox=chroot: no capabilities, NoNewPrivs, seccomp", repr(st))
        tap(served(d.sock), "--sandbox=chroot: serves", d.text())
    finally:
        rc = d.stop()
    left = [e for e in os.listdir("/tmp") if e.startswith("vhost-user-sandbox-")]
    tap(rc == 0 and not os.path.exists(d.sock) and not left,
        "--sandbox=chroot: SIGTERM, status 0, socket removed, no directory left in /tmp",
        "status %s, left %s\n%s" % (rc, left, d.text()))


def t_none():
    d = Daemon("vhost-user-rng", ["--sandbox=none", "--seccomp=none"])
    try:
        st = status_of(d.proc.pid)
        tap(children_of(d.proc.pid) == [] and st["Seccomp"] == "0" and
            ns_of(d.proc.pid) == ns_of(os.getpid()),
            "--sandbox=none --seccomp=none: one process, no filter, our namespaces", repr(st))
        tap(served(d.sock), "--sandbox=none: serves", d.text())
    finally:
        rc = d.stop()
    tap(rc == 0 and not os.path.exists(d.sock),
        "--sandbox=none: the daemon removes its socket itself", "status %s" % rc)
    # --sandbox=none with the filter on: the socket's unlink is allowed then.
    d = Daemon("vhost-user-rng", ["--sandbox=none"])
    st = status_of(d.proc.pid)
    rc = d.stop()
    tap(rc == 0 and st["Seccomp"] == "2" and not os.path.exists(d.sock),
        "--sandbox=none --seccomp=kill: filtered, and still removes its socket at exit",
        "status %s Seccomp %s\n%s" % (rc, st["Seccomp"], d.text()))


def t_socket_group():
    g = None
    for cand in ("nogroup", "daemon", "users"):
        try:
            g = grp.getgrnam(cand)
            break
        except KeyError:
            pass
    if g is None:
        tap(False, "--socket-group: no group to test with (nogroup, daemon, users)")
        return
    d = Daemon("vhost-user-rng", ["--socket-group=" + g.gr_name])
    sst = os.stat(d.sock)
    rc = d.stop()
    tap(rc == 0 and stat.S_IMODE(sst.st_mode) == 0o660 and sst.st_gid == g.gr_gid,
        "--socket-group=%s: the socket is 0660 and of that group" % g.gr_name,
        "mode %o gid %d" % (sst.st_mode, sst.st_gid))
    d = Daemon("vhost-user-rng", ["--socket-group=no-such-group-here"], wait=False)
    rc = d.stop(signal.SIGTERM, within=10) if d.proc.wait(10) is None else d.proc.returncode
    tap(rc == 1 and "no group" in d.text() and not os.path.exists(d.sock),
        "--socket-group with an unknown group: refused, exit 1, no socket left",
        "status %s\n%s" % (rc, d.text()))


def t_bad_values():
    for opt in ("--sandbox=jail", "--seccomp=maybe", "--socket-group="):
        p = subprocess.run([RNG, "--socket-path=" + os.path.join(TMP, "bad.sock"), opt],
                           capture_output=True, text=True, timeout=10)
        tap(p.returncode == 2 and p.stderr != "", "%s is refused (exit 2)" % opt,
            "exit %d: %s" % (p.returncode, p.stderr))


def as_nobody_without_fork():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def t_help_caps_unsandboxed():
    for name, argv in DAEMONS.items():
        h = subprocess.run([argv[0], "--help"], capture_output=True, text=True, timeout=10,
                           preexec_fn=as_nobody_without_fork, env=no_leak_check())
        c = subprocess.run([argv[0], "--print-capabilities"], capture_output=True, text=True,
                           timeout=10, preexec_fn=as_nobody_without_fork, env=no_leak_check())
        try:
            caps = json.loads(c.stdout)
        except ValueError:
            caps = {}
        tap(h.returncode == 0 and "--sandbox=" in h.stdout and "--seccomp=" in h.stdout and
            "--sandbox-selftest" in h.stdout and "--socket-group" in h.stdout and
            c.returncode == 0 and "type" in caps,
            "%s: --help (listing the sandbox options) and --print-capabilities work where "
            "no sandbox can be made" % name,
            "help %d caps %d: %s %s" % (h.returncode, c.returncode, h.stderr, c.stdout))
    # The fixture has teeth: a normal start there cannot fork its sandbox.
    os.mkdir(os.path.join(TMP, "nobody"), 0o777)
    os.chmod(os.path.join(TMP, "nobody"), 0o777)
    p = subprocess.run([RNG, "--socket-path=" + os.path.join(TMP, "nobody", "x.sock")],
                       capture_output=True, text=True, timeout=10,
                       preexec_fn=as_nobody_without_fork, env=no_leak_check())
    tap(p.returncode == 1 and "fork: Resource temporarily unavailable" in p.stderr,
        "as nobody with RLIMIT_NPROC 0 a normal start fails: its sandbox cannot fork",
        "exit %d: %s" % (p.returncode, p.stderr))


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def t_unprivileged():
    """As nobody, --sandbox=namespace makes a user namespace as well."""
    d = os.path.join(TMP, "nobody-ns")
    os.mkdir(d)
    os.chmod(d, 0o777)
    sock = os.path.join(d, "r.sock")
    log = open(os.path.join(TMP, "nobody-ns.log"), "w+")
    # No leak check in ASan builds: the parent cannot go back to its own
    # pid namespace without CAP_SYS_ADMIN there, so LeakSanitizer's tracer
    # cannot be forked at its exit.
    p = subprocess.Popen([RNG, "--socket-path=" + sock], stdout=log, stderr=subprocess.STDOUT,
                         preexec_fn=as_nobody, env=no_leak_check())
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and p.poll() is None:
            with open(log.name) as f:
                if "listening on" in f.read():
                    break
            time.sleep(0.02)
        kids = children_of(p.pid)
        w = kids[0] if kids else p.pid
        st = status_of(w)
        mine, theirs = ns_of(p.pid), ns_of(w)
        user_differs = (os.readlink("/proc/%d/ns/user" % w) !=
                        os.readlink("/proc/%d/ns/user" % os.getpid()))
        ok = (len(kids) == 1 and user_differs and st["Uid"].split()[0] == "65534" and
              st["CapEff"] == "0" * 16 and st["Seccomp"] == "2" and
              all(mine[n] != theirs[n] for n in mine) and served(sock))
        diag = "%s %s %s" % (mine, theirs, {k: st.get(k) for k in ("Uid", "CapEff", "Seccomp")})
    except Exception as e:  # noqa: BLE001 - the verdict below says what went wrong
        ok, diag = False, repr(e)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        log.close()
    with open(log.name) as f:
        text = f.read()
    tap(ok and rc == 0 and not os.path.exists(sock),
        "as nobody: the sandbox adds a user namespace (uid 65534 mapped to itself), no "
        "capabilities, seccomp, serves, SIGTERM ends it with status 0 and removes the socket",
        "%s\nstatus %s\n%s" % (diag, rc, text))


def dmesg():
    p = subprocess.run(["dmesg"], capture_output=True, text=True)
    return p.stdout if p.returncode == 0 else None


def audit_line(text, pid):
    """The kernel's line for a seccomp action on getcwd by pid (audit type
    1326, printed by the kernel when no audit daemon takes it)."""
    for line in (text or "").splitlines():
        if ("pid=%d " % pid) in line and ("syscall=%d " % SYS_GETCWD) in line and "1326" in line:
            return line
    return None


def t_selftest_kill(name):
    d = Daemon(name, ["--sandbox-selftest"])
    w = d.worker
    fe = Frontend(d.sock)
    try:
        fe.start_and_kick()
        rc = d.proc.wait(10)
    except Exception as e:  # noqa: BLE001 - any failure here is the test's verdict
        rc = repr(e)
    finally:
        fe.close()
        d.stop()
    text = d.text()
    tap(rc == -signal.SIGSYS and "calling getcwd" in text and "signal 31" in text
        and "getcwd returned" not in text and not os.path.exists(d.sock),
        "%s --seccomp=kill: getcwd from a queue thread kills the daemon with SIGSYS "
        "(the parent dies of it too; the socket is removed)" % name,
        "status %s (want %d), worker %d\n%s" % (rc, -signal.SIGSYS, w, text))
    line = audit_line(dmesg(), w)
    tap(line is not None and "sig=31" in line,
        "%s --seccomp=kill: the kernel logged the kill (sig=31, syscall=%d, the child's pid)"
        % (name, SYS_GETCWD), "no line for pid %d in dmesg" % w)


def t_selftest_log():
    if dmesg() is None:
        tap(False, "--seccomp=log: dmesg is not readable here: cannot check the kernel's log")
        return
    d = Daemon("vhost-user-rng", ["--sandbox-selftest", "--seccomp=log"])
    w = d.worker
    fe = Frontend(d.sock)
    try:
        fe.start_and_kick()
        deadline = time.monotonic() + 5
        while "getcwd returned" not in d.text() and time.monotonic() < deadline:
            time.sleep(0.05)
        line = None
        while line is None and time.monotonic() < deadline:
            line = audit_line(dmesg(), w)
            time.sleep(0.05)
    finally:
        fe.close()
    ok_serving = served(d.sock)
    rc = d.stop()
    text = d.text()
    tap("getcwd returned 2" in text and ok_serving and rc == 0,
        "--seccomp=log: getcwd goes ahead (returns '/', length 2), the daemon serves on and "
        "ends with status 0", "status %s served %s\n%s" % (rc, ok_serving, text))
    tap(line is not None and "sig=0" in line,
        "--seccomp=log: the kernel logged it (audit type 1326, sig=0, syscall=%d, pid %d)"
        % (SYS_GETCWD, w), "no line in dmesg (with an audit daemon running the kernel "
        "sends these to its log instead)" if line is None else line)


def t_selftest_trap():
    d = Daemon("vhost-user-rng", ["--sandbox-selftest", "--seccomp=trap"])
    fe = Frontend(d.sock)
    try:
        fe.start_and_kick()
        deadline = time.monotonic() + 5
        while "getcwd returned" not in d.text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        fe.close()
    ok_serving = served(d.sock)
    rc = d.stop()
    text = d.text()
    tap("forbidden system call %d (getcwd)" % SYS_GETCWD in text and
        "getcwd returned -1: Function not implemented" in text and ok_serving and rc == 0,
        "--seccomp=trap: the SIGSYS handler names getcwd, which fails with ENOSYS; the daemon "
        "serves on and ends with status 0", "status %s served %s\n%s" % (rc, ok_serving, text))


def t_selftest_off():
    # Without --sandbox-selftest the same frontend does not kill it.
    d = Daemon("vhost-user-rng")
    fe = Frontend(d.sock)
    try:
        fe.start_and_kick()
        time.sleep(0.3)
        alive = d.proc.poll() is None
    finally:
        fe.close()
    rc = d.stop()
    tap(alive and rc == 0 and "self-test" not in d.text(),
        "without --sandbox-selftest the same queue start and kick are served", d.text())


def main():
    print("TAP version 13")
    try:
        with open(IMG, "wb") as f:
            f.truncate(1 << 20)
        for name in DAEMONS:
            t_namespace(name)
        t_sigint()
        t_parent_killed()
        t_fd()
        t_child_status()
        t_chroot()
        t_none()
        t_socket_group()
        t_bad_values()
        t_help_caps_unsandboxed()
        t_unprivileged()
        for name in DAEMONS:
            t_selftest_kill(name)
        t_selftest_log()
        t_selftest_trap()
        t_selftest_off()
    except Exception as e:  # a broken fixture is a failure, not a crash
        tap(False, "fixture", repr(e))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
