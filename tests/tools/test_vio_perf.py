#!/usr/bin/env python3
"""test_vio_perf.py - vio-perf against libvio's vhost-user-blk daemon, as TAP.

    test_vio_perf.py VIO_PERF VHOST_USER_BLK VU_BLK_HOSTILE

Starts the daemon (built in the same tree; meson passes both paths) on a
file in a temporary directory and runs vio-perf against it: verify mode
for every workload on both ring layouts, the JSON result, exit statuses
(a wrong socket, a backend killed mid-run, a read-only device, a device
smaller than a block, usage errors), and that --verify notices data that
changed under it: a write-phase run, then bytes of the backing file
changed with pwrite, then a read-phase run with the same seed.

With qemu-storage-daemon installed, a few runs go against it too (a
backend nobody here wrote); without it those are skipped.

A hostile backend (VU_BLK_HOSTILE, tests/tools/vu_blk_hostile.c) presents
config values a real device would not: a capacity whose byte count wraps
64 bits, blk_size 0, MQ with num_queues 0. vio-perf must refuse each with
exit 2 and a message naming the value, on both ring layouts, and never
run (or exit 0) on a device it misread.

Every subprocess has a timeout: a hang fails its test instead of the
suite. No test asserts on timing.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

VIO_PERF, DAEMON, HOSTILE = sys.argv[1], sys.argv[2], sys.argv[3]
RUN_TIMEOUT = 120       # seconds: a hang guard, not a measurement
START_TIMEOUT = 20
TMP = tempfile.mkdtemp(prefix="vio-perf-test-")
DISK_BYTES = 8 << 20

results = []            # (ok, name, diagnostics)


def tap(ok, name, diag=""):
    results.append((ok, name, diag))
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    if not ok and diag:
        for line in diag.rstrip().splitlines()[-25:]:
            print("# " + line)
    sys.stdout.flush()


def skip(name, why):
    results.append((True, name, ""))
    print("ok %d - %s # SKIP %s" % (len(results), name, why))
    sys.stdout.flush()


def listening(path):
    """Is a socket listening on path? (/proc/net/unix: flag __SO_ACCEPTCON.)
    Asked without connecting: a probe connection would be a frontend to
    the daemon, and one that connects behind it could find it busy."""
    with open("/proc/net/unix") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


def wait_socket(path, proc):
    """Until the daemon listens on path."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("daemon exited with %d" % proc.returncode)
        if listening(path):
            return
        time.sleep(0.05)
    raise RuntimeError("daemon did not listen on %s" % path)


class Daemon:
    """libvio's vhost-user-blk serving a file of its own (or, with
    null=True, a null disk of that size)."""
    seq = 0

    def __init__(self, size=DISK_BYTES, extra=(), name=None, null=False):
        Daemon.seq += 1
        tag = name or "d%d" % Daemon.seq
        self.img = os.path.join(TMP, tag + ".img")
        self.sock = os.path.join(TMP, tag + ".sock")
        if null:
            disk = "--null=%d" % size
        else:
            disk = "--blk-file=" + self.img
            with open(self.img, "wb") as f:
                f.truncate(size)
        self.log = open(os.path.join(TMP, tag + ".log"), "w+")
        self.proc = subprocess.Popen(
            [DAEMON, "--socket-path=" + self.sock, disk, "--quiet"] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_socket(self.sock, self.proc)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def poke(self, offset, data):
        """Changes the backing file behind the device's back."""
        fd = os.open(self.img, os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)


class Hostile(Daemon):
    """vu_blk_hostile: a vhost-user-blk backend with the config its
    arguments give (--capacity=SECTORS, --blk-size=N, --num-queues=N, ...)."""

    def __init__(self, *args):
        Daemon.seq += 1
        tag = "hostile%d" % Daemon.seq
        self.sock = os.path.join(TMP, tag + ".sock")
        self.log = open(os.path.join(TMP, tag + ".log"), "w+")
        self.proc = subprocess.Popen(
            [HOSTILE, "--socket-path=" + self.sock, "--quiet"] + list(args),
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_socket(self.sock, self.proc)


class Qsd:
    """qemu-storage-daemon exporting a file as vhost-user-blk."""

    def __init__(self, num_queues=2):
        self.img = os.path.join(TMP, "qsd.img")
        self.sock = os.path.join(TMP, "qsd.sock")
        with open(self.img, "wb") as f:
            f.truncate(DISK_BYTES)
        self.log = open(os.path.join(TMP, "qsd.log"), "w+")
        self.proc = subprocess.Popen(
            ["qemu-storage-daemon", "--blockdev",
             "driver=file,node-name=f0,filename=" + self.img,
             "--export", "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
             "addr.path=%s,writable=on,num-queues=%d" % (self.sock, num_queues)],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_socket(self.sock, self.proc)

    stop = Daemon.stop


def perf(sock, *args, timeout=RUN_TIMEOUT):
    """Runs vio-perf: (exit status, stdout, stderr); status None on a hang."""
    cmd = [VIO_PERF, "--socket=" + sock, "--quiet"] + list(args)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or "", "hung: " + " ".join(cmd)


def perf_json(sock, *args):
    rc, out, err = perf(sock, "--json", *args)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + "\nstdout: " + out


def check(name, cond, diag):
    tap(bool(cond), name, diag if not cond else "")


RWS = ["randread", "randwrite", "read", "write", "randrw", "rw"]
KEYS = ["rw", "bs", "qd", "queues", "threads", "seconds", "ios", "iops", "mbps", "lat_us",
        "kicks_per_io", "calls_per_io", "errors", "verify_errors"]


def t_verify_matrix(d):
    """Every workload verifies: qd 1 and 32, 2 queues on 2 threads, both rings."""
    blocks = DISK_BYTES // 4096
    for ring in ("split", "packed"):
        for qd in (1, 32):
            for rw in RWS:
                rc, j, err = perf_json(d.sock, "--verify", "--rw=" + rw, "--qd=%d" % qd,
                                       "--queues=2", "--threads=2", "--ring=" + ring)
                mixed = rw in ("randrw", "rw")
                # write pass + read pass (+ the mixed pass) over every block
                want = blocks * (3 if mixed else 2)
                ok = (rc == 0 and j is not None and j["verify_errors"] == 0 and
                      j["errors"] == 0 and j["ios"] == want and j["ring"] == ring and
                      j["queues"] == 2 and j["threads"] == 2)
                check("verify %s qd=%d queues=2 threads=2 %s" % (rw, qd, ring), ok,
                      "rc=%s json=%s\n%s" % (rc, j, err))


def t_verify_variants(d):
    """Ring and notification variants, block sizes, busy polling."""
    variants = [
        ("no event_idx, no indirect", ["--no-event-idx", "--no-indirect"]),
        ("no indirect, qd 128, packed", ["--no-indirect", "--qd=128", "--ring=packed"]),
        ("poll", ["--poll", "--queues=2"]),
        ("bs 64k", ["--bs=64k"]),
        ("bs 512, size 1m", ["--bs=512", "--size=1m"]),
        ("1 queue, 1 thread", ["--queues=1"]),
        ("4 queues on 2 threads", ["--queues=4", "--threads=2", "--rw=randrw"]),
    ]
    for name, args in variants:
        rc, j, err = perf_json(d.sock, "--verify", *args)
        ok = rc == 0 and j is not None and j["verify_errors"] == 0 and j["ios"] > 0
        check("verify " + name, ok, "rc=%s json=%s\n%s" % (rc, j, err))


def t_json(d):
    rc, j, err = perf_json(d.sock, "--time=1", "--rw=randread", "--qd=8")
    check("json: exit 0 and parses", rc == 0 and j is not None, "rc=%s\n%s" % (rc, err))
    if j is None:
        return
    check("json: has every key", all(k in j for k in KEYS),
          "missing: %s" % [k for k in KEYS if k not in j])
    check("json: ios > 0, iops > 0, mbps > 0", j["ios"] > 0 and j["iops"] > 0 and j["mbps"] > 0,
          str(j))
    check("json: echoes the options",
          (j["rw"], j["bs"], j["qd"], j["queues"], j["threads"]) == ("randread", 4096, 8, 1, 1),
          str(j))
    lat = j["lat_us"]
    check("json: latency p50 <= p99 <= p99.9 <= max, all > 0",
          0 < lat["p50"] <= lat["p99"] <= lat["p99_9"] <= lat["max"], str(lat))
    check("json: randread only reads", j["reads"] == j["ios"] and j["writes"] == 0, str(j))
    check("json: iops is ios / seconds",
          j["seconds"] > 0 and abs(j["iops"] - j["ios"] / j["seconds"]) <= 0.01 * j["iops"] + 1,
          str(j))
    # At least one kick and one interrupt per batch of 8, at most one per I/O.
    check("json: 0 < kicks_per_io <= 1 and 0 < calls_per_io <= 1",
          0 < j["kicks_per_io"] <= 1 and 0 < j["calls_per_io"] <= 1, str(j))
    check("json: no errors, status ok",
          j["errors"] == 0 and j["verify_errors"] == 0 and j["status"] == "ok", str(j))
    # libvio's device offers IN_ORDER; the driver takes it unless told not to.
    check("json: in_order negotiated with libvio's daemon", j.get("in_order") is True, str(j))
    rc, j, err = perf_json(d.sock, "--time=1", "--qd=8", "--no-in-order")
    check("json: --no-in-order leaves it off",
          rc == 0 and j is not None and j.get("in_order") is False, "rc=%s %s\n%s" % (rc, j, err))


def t_count(d):
    rc, j, err = perf_json(d.sock, "--count=5000", "--rw=randwrite", "--qd=16", "--queues=2")
    check("--count: exactly that many I/Os, all writes",
          rc == 0 and j is not None and j["ios"] == 5000 and j["writes"] == 5000,
          "rc=%s %s\n%s" % (rc, j, err))
    rc, j, err = perf_json(d.sock, "--count=3000", "--rw=rw", "--rwmixread=100")
    check("--rwmixread=100: a mixed workload that only reads",
          rc == 0 and j is not None and j["reads"] == 3000 and j["writes"] == 0,
          "rc=%s %s\n%s" % (rc, j, err))
    rc, j, err = perf_json(d.sock, "--count=2000", "--qd=1")
    # One request at a time: each needs at most one kick and one interrupt
    # (fewer when the backend is still looking at the ring when it comes).
    check("qd 1: kicks and interrupts, at most one of each per I/O",
          rc == 0 and j is not None and 0 < j["kicks_per_io"] <= 1 and
          0 < j["calls_per_io"] <= 1, "rc=%s %s\n%s" % (rc, j, err))
    rc, j, err = perf_json(d.sock, "--count=20000", "--poll", "--qd=4")
    # Polling asks the backend for no interrupts (EVENT_IDX lets it send
    # one now and then).
    check("--poll: (almost) no interrupts",
          rc == 0 and j is not None and j["poll"] and j["calls_per_io"] < 0.1,
          "rc=%s %s\n%s" % (rc, j, err))


def t_human(d):
    rc, out, err = perf(d.sock, "--count=1000")
    check("human output: summary with IOPS, latency, kicks and interrupts per I/O",
          rc == 0 and "IOPS" in out and "p99.9" in out and "kicks per I/O" in out and
          "interrupts (calls) per I/O" in out, "rc=%s\n%s\n%s" % (rc, out, err))
    cmd = [VIO_PERF, "--socket=" + d.sock, "--time=3.5"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    lines = [l for l in p.stderr.splitlines() if "IOPS" in l and "MB/s" in l]
    check("progress: a plain line per second on a non-tty stderr",
          p.returncode == 0 and len(lines) >= 2 and "\r" not in p.stderr, p.stderr)


def t_back_to_back(d):
    """Sessions one after the other on one daemon: each new session's kick
    eventfd may reuse the number of the last one's, and the daemon must
    still hear it (it once kept a stale epoll registration and hung)."""
    bad = []
    for i in range(30):
        rc, j, err = perf_json(d.sock, "--count=50", "--qd=1")
        if rc != 0 or not j or j["ios"] != 50:
            bad.append("run %d: rc=%s %s %s" % (i, rc, j and j["status"], err))
            break
    check("30 back-to-back sessions on one daemon all complete", not bad, "\n".join(bad))


def t_single_thread():
    """--single-thread: the daemon's main loop waits on every queue's kick
    fd, added to its epoll set once when it comes and taken out when it
    goes. Verify on both rings with two queues, then sessions back to back
    (each brings new kick fds, often with the last one's numbers), then
    --busy-poll on top."""
    d = Daemon(extra=["--num-queues=2", "--single-thread"], name="single")
    for ring in ("split", "packed"):
        rc, j, err = perf_json(d.sock, "--verify", "--rw=randrw", "--queues=2", "--threads=2",
                               "--ring=" + ring)
        check("--single-thread: verify randrw, 2 queues, %s" % ring,
              rc == 0 and j and j["verify_errors"] == 0 and j["errors"] == 0,
              "rc=%s %s\n%s" % (rc, j, err))
    bad = []
    for i in range(10):
        rc, j, err = perf_json(d.sock, "--count=50", "--qd=1", "--queues=2")
        if rc != 0 or not j or j["ios"] != 50:
            bad.append("run %d: rc=%s %s %s" % (i, rc, j and j["status"], err))
            break
    check("--single-thread: 10 back-to-back sessions all complete", not bad, "\n".join(bad))
    d.stop()
    b = Daemon(extra=["--single-thread", "--busy-poll"], name="single-busy")
    rc, j, err = perf_json(b.sock, "--verify", "--size=1m")
    b.stop()
    check("--single-thread --busy-poll: verify", rc == 0 and j and j["verify_errors"] == 0,
          "rc=%s %s\n%s" % (rc, j, err))


def t_corruption(d):
    """Write phase, bytes changed in the file, read phase: caught, and named."""
    seed = "--seed=4242"
    rc, j, err = perf_json(d.sock, "--verify", "--verify-phase=write", seed, "--size=1m",
                           "--rw=randwrite", "--queues=2")
    check("corruption: write phase ok", rc == 0 and j and j["writes"] == 256,
          "rc=%s %s\n%s" % (rc, j, err))
    rc, j, err = perf_json(d.sock, "--verify", "--verify-phase=read", seed, "--size=1m")
    check("corruption: untouched data reads back clean",
          rc == 0 and j and j["verify_errors"] == 0 and j["reads"] == 256,
          "rc=%s %s\n%s" % (rc, j, err))
    d.poke(4096 * 10 + 700, b"\xde\xad\xbe\xef")     # data inside block 10
    d.poke(4096 * 77, bytes(512))                     # block 77's first sector zeroed
    rc, j, err = perf_json(d.sock, "--verify", "--verify-phase=read", seed, "--size=1m")
    check("corruption: read phase exits 1 with 2 mismatching blocks",
          rc == 1 and j and j["verify_errors"] == 2, "rc=%s %s\n%s" % (rc, j, err))
    check("corruption: the messages name the blocks",
          "byte 40960" in err and "byte 315392" in err and "verify FAILED" in err, err)
    rc, j, err = perf_json(d.sock, "--verify", "--verify-phase=read", "--seed=4243",
                           "--size=64k")
    check("corruption: another run's data (wrong seed) is noticed",
          rc == 1 and j and j["verify_errors"] == 16 and "seed 4242" in err,
          "rc=%s %s\n%s" % (rc, j, err))


def t_killed_backend():
    d = Daemon(name="victim")
    cmd = [VIO_PERF, "--socket=" + d.sock, "--time=60", "--json", "--quiet", "--queues=1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    try:
        out, err = p.communicate(timeout=30)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = None
    d.stop()
    check("killed backend: no hang, exit 1", rc == 1, "rc=%s\n%s" % (rc, err))
    check("killed backend: says the backend went away", "went away" in err, err)
    try:
        j = json.loads(out)
    except ValueError:
        j = None
    check("killed backend: partial result with status disconnected",
          j is not None and j["status"] == "disconnected", out)


def t_killed_backend_poll():
    d = Daemon(name="victim2")
    cmd = [VIO_PERF, "--socket=" + d.sock, "--time=60", "--quiet", "--poll", "--queues=1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    try:
        _, err = p.communicate(timeout=30)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        rc = None
    d.stop()
    check("killed backend while polling: no hang, exit 1", rc == 1, "rc=%s\n%s" % (rc, err))


def t_connection_errors(d):
    rc, _, err = perf(os.path.join(TMP, "nobody.sock"), "--time=1")
    check("wrong socket: exit 2, says why", rc == 2 and "cannot connect" in err, err)
    plain = os.path.join(TMP, "plain.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(plain)      # bound, never listening: connection refused
    rc, _, err = perf(plain, "--time=1")
    s.close()
    check("socket nobody listens on: exit 2", rc == 2 and "refused" in err, err)
    rc, _, err = perf(d.sock, "--queues=5")
    check("more queues than the backend has: exit 2, says so",
          rc == 2 and "queue" in err, err)


def t_device_errors():
    ro = Daemon(extra=["--read-only"], name="ro")
    rc, _, err = perf(ro.sock, "--rw=randwrite", "--time=1")
    check("read-only device, write workload: exit 2, says read-only",
          rc == 2 and "read-only" in err, err)
    rc, _, err = perf(ro.sock, "--rw=randrw", "--verify")
    check("read-only device, verify: exit 2", rc == 2 and "read-only" in err, err)
    rc, j, err = perf_json(ro.sock, "--rw=randread", "--count=500")
    check("read-only device, read workload: works",
          rc == 0 and j and j["ios"] == 500, "rc=%s\n%s" % (rc, err))
    ro.stop()
    tiny = Daemon(size=4096, name="tiny")
    rc, _, err = perf(tiny.sock, "--bs=8k", "--time=1")
    check("device smaller than bs: exit 2, says so", rc == 2 and "smaller than" in err, err)
    rc, j, err = perf_json(tiny.sock, "--bs=4k", "--verify")
    check("device of exactly one block: verify works",
          rc == 0 and j and j["ios"] == 2, "rc=%s\n%s" % (rc, err))
    rc, _, err = perf(tiny.sock, "--size=1m", "--time=1")
    check("--size beyond the device: exit 2", rc == 2 and "larger than" in err, err)
    tiny.stop()


def t_null_backend():
    """The daemon's null disk: fast paths work, nothing is stored."""
    n = Daemon(size=16 << 20, name="null", null=True)
    rc, j, err = perf_json(n.sock, "--count=20000", "--qd=32", "--poll")
    check("null disk: randread runs, no errors",
          rc == 0 and j and j["ios"] == 20000 and j["errors"] == 0, "rc=%s %s\n%s" % (rc, j, err))
    rc, j, err = perf_json(n.sock, "--count=5000", "--rw=randwrite", "--qd=32")
    check("null disk: writes succeed", rc == 0 and j and j["writes"] == 5000,
          "rc=%s %s\n%s" % (rc, j, err))
    # Reads return zeroes, not what was written: verify must notice.
    rc, j, err = perf_json(n.sock, "--verify", "--size=1m")
    check("null disk: verify finds every block wrong (exit 1)",
          rc == 1 and j and j["verify_errors"] == (1 << 20) // 4096, "rc=%s %s\n%s" % (rc, j, err))
    n.stop()
    for bad in ("--null=12x", "--null=100", "--null=", "--null=-1", "--null= -1",
                "--ram=1q"):
        p = subprocess.run([DAEMON, "--socket-path=" + os.path.join(TMP, "never.sock"), bad],
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
        check("daemon refuses %s: exit 2 with a message" % bad,
              p.returncode == 2 and "size" in p.stderr, p.stderr)


def t_usage(d):
    cases = [
        ("no --socket", [VIO_PERF]),
        ("bad --rw", [VIO_PERF, "--socket=" + d.sock, "--rw=sideways"]),
        ("--bs not a multiple of 512", [VIO_PERF, "--socket=" + d.sock, "--bs=1000"]),
        ("--qd=0", [VIO_PERF, "--socket=" + d.sock, "--qd=0"]),
        ("--threads above --queues", [VIO_PERF, "--socket=" + d.sock, "--threads=2"]),
        ("bad --ring", [VIO_PERF, "--socket=" + d.sock, "--ring=round"]),
        ("--rwmixread above 100", [VIO_PERF, "--socket=" + d.sock, "--rwmixread=101"]),
        ("--verify-phase=read without --seed",
         [VIO_PERF, "--socket=" + d.sock, "--verify", "--verify-phase=read"]),
        ("unknown option", [VIO_PERF, "--socket=" + d.sock, "--frobnicate"]),
    ]
    for name, cmd in cases:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        check("usage error, %s: exit 2 with a message" % name,
              p.returncode == 2 and p.stderr.startswith("vio-perf:"), p.stderr)
    p = subprocess.run([VIO_PERF, "--help"], capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    check("--help: exit 0, lists the options",
          p.returncode == 0 and "--rwmixread" in p.stdout and "--verify" in p.stdout, p.stdout)


HOSTILE_TIMEOUT = 30    # seconds: each of these must end at once, not hang


def t_hostile():
    """Config values a real device would not give: refused before any I/O,
    exit 2, the value named; never a run over a size that wrapped."""
    wraps = (1 << 55) + 8      # 2^64 + 4096 bytes: wraps to 4096
    cases = [
        ("capacity 2^55+8 sectors", ["--capacity=%d" % wraps],
         [str(wraps), "capacity", "refused"]),
        ("capacity 2^64-1 sectors", ["--capacity=%d" % ((1 << 64) - 1)],
         [str((1 << 64) - 1), "capacity", "refused"]),
        ("blk_size 0", ["--blk-size=0"], ["invalid block size 0", "refused"]),
        ("blk_size 3000", ["--blk-size=3000"], ["invalid block size 3000", "refused"]),
        ("num_queues 0", ["--num-queues=0"], ["num_queues 0", "refused"]),
    ]
    for ring in ("split", "packed"):
        for name, args, words in cases:
            h = Hostile(*args)
            # No --verify: the device stores nothing, and a run over a
            # misread size must fail by itself, not by a verify mismatch.
            rc, out, err = perf(h.sock, "--ring=" + ring, "--count=100",
                                timeout=HOSTILE_TIMEOUT)
            h.stop()
            check("hostile backend, %s, %s: exit 2, says why" % (name, ring),
                  rc == 2 and all(w in err for w in words) and out == "",
                  "rc=%s stdout=%r\n%s" % (rc, out, err))
        # The edges that are valid still run: the largest capacity whose
        # byte count fits, 64 KiB blocks, a second queue.
        h = Hostile("--capacity=%d" % ((1 << 55) - 1), "--blk-size=65536", "--num-queues=2",
                    "--queues=2")
        rc, j, err = perf_json(h.sock, "--ring=" + ring, "--count=2000", "--queues=2",
                               "--bs=64k")
        h.stop()
        check("hostile backend, largest capacity, 64k blocks, 2 queues, %s: runs" % ring,
              rc == 0 and j and j["ios"] == 2000 and j["ring"] == ring,
              "rc=%s %s\n%s" % (rc, j, err))
    for bad in ("--capacity=-1", "--capacity= 1", "--capacity=18446744073709551616",
                "--blk-size=4294967296", "--num-queues=65536", "--queues=0", "--capacity",
                "--frobnicate=1"):
        p = subprocess.run([HOSTILE, "--socket-path=" + os.path.join(TMP, "never.sock"), bad],
                           capture_output=True, text=True, timeout=HOSTILE_TIMEOUT)
        check("vu_blk_hostile refuses %s: exit 2 with a message" % bad,
              p.returncode == 2 and p.stderr != "", p.stderr)


def t_qsd():
    names = ["qemu-storage-daemon: verify randrw, 2 queues, 2 threads",
             "qemu-storage-daemon: json run",
             "qemu-storage-daemon: --ring=packed not offered: exit 2"]
    if not shutil.which("qemu-storage-daemon"):
        for n in names:
            skip(n, "qemu-storage-daemon not installed")
        return
    q = Qsd()
    rc, j, err = perf_json(q.sock, "--verify", "--rw=randrw", "--queues=2", "--threads=2")
    check(names[0], rc == 0 and j and j["verify_errors"] == 0 and j["queues"] == 2,
          "rc=%s %s\n%s" % (rc, j, err))
    rc, j, err = perf_json(q.sock, "--count=2000", "--qd=16")
    check(names[1], rc == 0 and j and j["ios"] == 2000 and j["in_order"] is False,
          "rc=%s %s\n%s" % (rc, j, err))
    rc, _, err = perf(q.sock, "--ring=packed", "--time=1")
    check(names[2], rc == 2 and "RING_PACKED" in err, err)
    q.stop()


def main():
    print("TAP version 13")
    d = None
    try:
        d = Daemon(extra=["--num-queues=4"], name="main")
        t_verify_matrix(d)
        t_verify_variants(d)
        t_json(d)
        t_count(d)
        t_human(d)
        t_back_to_back(d)
        t_corruption(d)
        t_connection_errors(d)
        t_usage(d)
        t_single_thread()
        t_killed_backend()
        t_killed_backend_poll()
        t_device_errors()
        t_null_backend()
        t_hostile()
        t_qsd()
    except Exception as e:  # a broken fixture is a failure, not a crash
        tap(False, "fixture", repr(e))
    finally:
        if d:
            d.stop()
        shutil.rmtree(TMP, ignore_errors=True)
    print("1..%d" % len(results))
    return 0 if all(ok for ok, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
