#!/usr/bin/env python3
"""test_vud.py - libvio's vhost-user daemons against hostile frontends, as TAP.

    test_vud.py VHOST_USER_RNG VHOST_USER_BLK

Each daemon runs as its users run it (--socket-path, waiting for the next
frontend after one leaves) and meets a frontend written here, in a few
lines of vhost-user, that misbehaves the way a compromised VMM could:

  - it sends requests and never reads the replies;
  - it stops in the middle of a message and stays connected;
  - it is stalled like that when the daemon gets SIGTERM;
  - it hands over a kick fd that is readable with nothing to take (a pipe
    at end of file, a semaphore eventfd counting down from 2^64), split
    and packed, with a thread per queue and with --single-thread;
  - it replaces a kick fd and then kicks the old one, which it still
    holds (a daemon that kept listening to it would spin on it);
  - it connects while the daemon is out of file descriptors (the soft
    RLIMIT_NOFILE lowered under it with prlimit), so that accept4 fails
    with EMFILE for as long as that lasts.

The daemon must drop such a frontend within its timeout (5 s) and serve the
next one, end on SIGTERM, and never spin: over 1.5 s with the hostile kick
fd in place, or accept4 failing, it may use at most half of that in cpu
time (an idle daemon uses almost none; one spinning uses all of one cpu).
Once it has fds again it serves the frontend that waited. The bounds
are generous and nothing here measures speed.
"""
import itertools
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

DAEMONS = {"vhost-user-rng": [sys.argv[1]],
           "vhost-user-blk": [sys.argv[2], "--ram=1M"]}
TMP = tempfile.mkdtemp(prefix="vud-test-")
START_TIMEOUT = 20
DROP_WITHIN = 20        # seconds: the daemon's 5 s timeout, and slack
SPIN_WINDOW = 1.5       # seconds of cpu time watched

# vhost-user
GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL = 8, 9, 12, 13
VERSION, REPLY = 1, 1 << 2
F_VERSION_1, F_RING_PACKED = 1 << 32, 1 << 34
HDR = struct.Struct("<III")

results = []


def tap(ok, name, diag=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    if not ok and diag:
        for line in diag.rstrip().splitlines()[-25:]:
            print("# " + line)
    sys.stdout.flush()


def listening(path):
    """Is a socket listening on path? (/proc/net/unix, without connecting.)"""
    with open("/proc/net/unix") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


def worker_of(pid):
    """The process that serves: a sandboxed daemon (the default) is a
    parent waiting for the child it forked into the sandbox
    (vud_sandbox.c); without a sandbox, pid itself."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        return int(d)
            except (OSError, ValueError, IndexError):
                pass
    return pid


class Daemon:
    seq = 0

    def __init__(self, name, extra=()):
        Daemon.seq += 1
        self.name = name
        self.sock = os.path.join(TMP, "d%d.sock" % Daemon.seq)
        self.log = open(os.path.join(TMP, "d%d.log" % Daemon.seq), "w+")
        self.proc = subprocess.Popen(
            DAEMONS[name] + ["--socket-path=" + self.sock] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        # The socket listens from before the sandbox; "listening on" comes
        # once setup is over (threads, seccomp).
        while not listening(self.sock) or "listening on" not in self.logtext():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s did not start: %s" % (name, self.logtext()))
            time.sleep(0.02)
        self.pid = worker_of(self.proc.pid)

    def logtext(self):
        with open(self.log.name) as f:
            return f.read()

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def terminate(self, within=10):
        """SIGTERM; True when the daemon ended by itself with status 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(within) == 0
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False
        finally:
            self.log.close()


class Frontend:
    def __init__(self, path, timeout=5.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)

    def close(self):
        self.s.close()

    def send(self, req, payload=b"", fds=()):
        data = HDR.pack(req, VERSION, len(payload)) + payload
        if fds:
            socket.send_fds(self.s, [data], list(fds))
        else:
            self.s.sendall(data)

    def read(self, n):
        buf = b""
        while len(buf) < n:
            got = self.s.recv(n - len(buf))
            if not got:
                raise EOFError("the daemon closed the connection")
            buf += got
        return buf

    def get_u64(self, req):
        self.send(req)
        r, flags, size = HDR.unpack(self.read(HDR.size))
        payload = self.read(size)
        if r != req or not flags & REPLY or size != 8:
            raise RuntimeError("bad reply %d %#x %d" % (r, flags, size))
        return struct.unpack("<Q", payload)[0]


def served(d):
    """Does the daemon answer a new frontend's GET_FEATURES now?"""
    try:
        fe = Frontend(d.sock, timeout=1.0)
    except OSError:
        return False
    try:
        return bool(fe.get_u64(GET_FEATURES) & F_VERSION_1)
    except (OSError, EOFError, RuntimeError):
        return False        # queued behind a frontend, or turned away
    finally:
        fe.close()


def served_within(d, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if served(d):
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------

def t_replies_never_read(name):
    d = Daemon(name)
    fe = Frontend(d.sock)
    sent = 0
    fe.s.setblocking(False)
    # Requests for as long as the daemon takes them: once our side is full
    # of replies it waits for room for the next and stops reading, until
    # it gives up on us and closes the connection.
    deadline = time.monotonic() + DROP_WITHIN
    while time.monotonic() < deadline:
        try:
            fe.s.send(HDR.pack(GET_FEATURES, VERSION, 0))
            sent += 1
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break           # dropped
    ok = served_within(d, DROP_WITHIN)
    log = d.logtext()
    fe.close()
    ok = d.terminate() and ok
    tap(ok and "does not read its replies" in log,
        "%s: a frontend that never reads its replies is dropped, the next is served"
        % name, "sent %d requests\n%s" % (sent, log))


def t_stalled_message(name):
    d = Daemon(name)
    fe = Frontend(d.sock)
    fe.get_u64(GET_FEATURES)
    fe.s.sendall(HDR.pack(SET_FEATURES, VERSION, 8)[:5])
    ok = served_within(d, DROP_WITHIN)
    log = d.logtext()
    fe.close()
    ok = d.terminate() and ok
    tap(ok and "stopped in the middle of a message" in log,
        "%s: a frontend that stops mid-message is dropped, the next is served" % name, log)


def t_sigterm_while_stalled(name):
    d = Daemon(name)
    fe = Frontend(d.sock)
    fe.get_u64(GET_FEATURES)
    fe.s.sendall(HDR.pack(SET_FEATURES, VERSION, 8) + b"\0\0")
    time.sleep(0.2)
    ok = d.terminate(within=DROP_WITHIN)
    fe.close()
    tap(ok, "%s: SIGTERM ends the daemon while a frontend stalls mid-message" % name,
        d.logtext())


def start_ring(fe, packed, kick_fd):
    """Queue 0 over 64 KiB of memfd, no protocol features (rings start
    enabled), the given kick fd. Nothing of this has a reply."""
    offered = fe.get_u64(GET_FEATURES)
    features = F_VERSION_1 | (F_RING_PACKED if packed else 0)
    if features & ~offered:
        raise RuntimeError("features %#x not offered (%#x)" % (features, offered))
    fe.send(SET_OWNER)
    fe.send(SET_FEATURES, struct.pack("<Q", features))
    mem = os.memfd_create("vud-test-guest")
    call = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    try:
        os.ftruncate(mem, 65536)
        uva = 0x7f0000000000
        fe.send(SET_MEM_TABLE, struct.pack("<II4Q", 1, 0, 0, 65536, uva, 0), [mem])
        fe.send(SET_VRING_NUM, struct.pack("<II", 0, 8))
        fe.send(SET_VRING_ADDR, struct.pack("<II4Q", 0, 0, uva, uva + 0x2000, uva + 0x1000, 0))
        fe.send(SET_VRING_CALL, struct.pack("<Q", 0), [call])
        fe.send(SET_VRING_KICK, struct.pack("<Q", 0), [kick_fd])
        fe.get_u64(GET_FEATURES)    # all of the above handled
    finally:
        os.close(mem)
        os.close(call)


def odd_kick(kind):
    """An fd that stays readable with nothing to take; (fd, fds to close)."""
    if kind == "pipe at end of file":
        r, w = os.pipe()
        os.close(w)
        return r, [r]
    fd = os.eventfd(0, os.EFD_SEMAPHORE | os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    os.eventfd_write(fd, (1 << 64) - 2)
    return fd, [fd]


def t_kick_spin(name, packed, kind, extra=()):
    d = Daemon(name, extra)
    fe = Frontend(d.sock)
    kick, opened = odd_kick(kind)
    try:
        start_ring(fe, packed, kick)
        for fd in opened:
            os.close(fd)
        opened = []
        c0, t0 = d.cpu_seconds(), time.monotonic()
        time.sleep(SPIN_WINDOW)
        cpu, wall = d.cpu_seconds() - c0, time.monotonic() - t0
        alive = d.proc.poll() is None
    finally:
        for fd in opened:
            os.close(fd)
        fe.close()
    ok = d.terminate()
    tap(ok and alive and cpu < wall / 2,
        "%s: a kick fd %s does not spin the daemon (%s%s)"
        % (name, "that is a " + kind, "packed" if packed else "split",
           ", " + " ".join(extra) if extra else ""),
        "cpu %.2f s in %.2f s\n%s" % (cpu, wall, d.logtext()))


def t_replaced_kick(name, extra=()):
    d = Daemon(name, extra)
    fe = Frontend(d.sock)
    old = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    new = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    try:
        start_ring(fe, False, old)
        time.sleep(0.2)             # a queue thread is watching old by now
        fe.send(SET_VRING_KICK, struct.pack("<Q", 0), [new])
        fe.get_u64(GET_FEATURES)    # handled: old is the daemon's no more
        os.eventfd_write(old, 1)    # and it stays readable: nobody reads it
        c0, t0 = d.cpu_seconds(), time.monotonic()
        time.sleep(SPIN_WINDOW)
        cpu, wall = d.cpu_seconds() - c0, time.monotonic() - t0
        alive = d.proc.poll() is None
    finally:
        os.close(old)
        os.close(new)
        fe.close()
    ok = d.terminate()
    tap(ok and alive and cpu < wall / 2,
        "%s: a replaced kick fd kicked afterwards does not spin the daemon%s"
        % (name, " (" + " ".join(extra) + ")" if extra else ""),
        "cpu %.2f s in %.2f s\n%s" % (cpu, wall, d.logtext()))


def t_accept_out_of_fds(name):
    d = Daemon(name)
    pid = d.pid
    # Everything the daemon makes is made before it listens: from here
    # on its next fd is the lowest free number, and with the soft limit
    # there accept4 fails with EMFILE.
    used = set(int(f) for f in os.listdir("/proc/%d/fd" % pid))
    lowest_free = next(i for i in itertools.count() if i not in used)
    limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, limits[1]))
    fe = None
    try:
        fe = Frontend(d.sock)       # waits in the listen backlog
        c0, t0 = d.cpu_seconds(), time.monotonic()
        time.sleep(SPIN_WINDOW)
        cpu, wall = d.cpu_seconds() - c0, time.monotonic() - t0
        resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
        try:
            served_then = bool(fe.get_u64(GET_FEATURES) & F_VERSION_1)
        except (OSError, EOFError, RuntimeError):
            served_then = False
    finally:
        if fe:
            fe.close()
    log = d.logtext()
    ok = d.terminate()
    tap(ok and cpu < wall / 2 and served_then and "accept4" in log,
        "%s: accept4 failing with EMFILE does not spin the daemon, the frontend that "
        "waited is served after" % name,
        "cpu %.2f s in %.2f s, served %s, fd limit %d\n%s"
        % (cpu, wall, served_then, lowest_free, log))


def main():
    print("TAP version 13")
    try:
        for name in DAEMONS:
            t_replies_never_read(name)
            t_stalled_message(name)
            t_sigterm_while_stalled(name)
            for packed in (False, True):
                for kind in ("pipe at end of file", "semaphore eventfd"):
                    t_kick_spin(name, packed, kind)
            t_kick_spin(name, False, "pipe at end of file", ["--single-thread"])
            t_replaced_kick(name)
            t_replaced_kick(name, ["--single-thread"])
            t_accept_out_of_fds(name)
    except Exception as e:  # a broken fixture is a failure, not a crash
        tap(False, "fixture", repr(e))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
