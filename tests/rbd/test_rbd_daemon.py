"""test_rbd_daemon.py - vhost-user-blk --rbd as a process, driven by vio-perf.

Imported by test_rbd.py once its Ceph node is up (images rbd/vub 32 MiB and
rbd/vubsnap 8 MiB); run() reports through the caller's tap().

  - vio-perf --verify (randrw, two queues) against --rbd=rbd/vub;
  - a write phase with one daemon, a read phase with a new one: the data
    lives in the cluster, not in the daemon;
  - a snapshot served read-only: the data of the snapshot, writes refused,
    the daemon alive afterwards;
  - the OSD stopped under I/O, once, with two daemons on it: the default
    (30 s op timeout) waits, so vio-perf --verify ends clean; with
    --rbd-timeout=2 the requests fail (vio-perf exits 1) and the daemon
    survives; after the OSD is back vio-perf --verify passes on both.

Every subprocess has a timeout: a hang fails its test.
"""
import json
import os
import signal
import subprocess
import time


def listening(path):
    with open("/proc/net/unix") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


class Daemon:
    def __init__(self, daemon, top, name, args):
        self.sock = os.path.join(top, name + ".sock")
        self.log = os.path.join(top, name + ".log")
        self.name = name
        self.p = subprocess.Popen([daemon, "--socket-path=" + self.sock] + args,
                                  stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("%s exited with %d: %s" % (name, self.p.returncode,
                                                                self.text()))
            if listening(self.sock):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s did not listen within 30 s: %s" % (name, self.text()))

    def text(self):
        with open(self.log) as f:
            return f.read()

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        """SIGTERM; True when it ended with status 0 within 10 s."""
        if self.p.poll() is not None:
            return False
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(10) == 0
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return False


def perf(vio_perf, sock, *args, timeout=90, background=False):
    cmd = [vio_perf, "--socket=" + sock, "--json", "--quiet"] + list(args)
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return -1, "", "vio-perf timed out: %s" % e


def result(out):
    try:
        return json.loads(out)
    except ValueError:
        return {}


def run(tap, daemon, vio_perf, node_sh, cdir, conf, top):
    ceph = ["--ceph-conf=" + conf]
    node = lambda what: subprocess.run([node_sh, what, cdir], capture_output=True, text=True,
                                       timeout=90)

    # vio-perf --verify, two queues, reads and writes mixed.
    try:
        d = Daemon(daemon, top, "vub", ["--rbd=rbd/vub", "--num-queues=2"] + ceph)
    except RuntimeError as e:
        tap(False, "daemon: vhost-user-blk --rbd=rbd/vub starts", str(e))
        return
    tap("32 MiB" in d.text() or "65536 sectors" in d.text(),
        "daemon: the disk is the image's size (65536 sectors)", d.text())
    rc, out, err = perf(vio_perf, d.sock, "--verify", "--rw=randrw", "--queues=2", "--qd=16",
                        "--time=2", "--size=8M", "--seed=11")
    r = result(out)
    tap(rc == 0 and r.get("verify_errors", 1) == 0 and r.get("errors", 1) == 0,
        "daemon: vio-perf --verify randrw, 2 queues, qd 16 (%s I/Os)" % r.get("ios", "?"),
        err + out + d.text())

    # Written through one daemon, read through the next.
    rc, out, err = perf(vio_perf, d.sock, "--verify", "--verify-phase=write", "--rw=write",
                        "--bs=64k", "--size=4M", "--seed=21")
    ok_w = rc == 0
    tap(d.stop() and ok_w, "daemon: write phase, then SIGTERM ends the daemon cleanly",
        err + d.text())
    d = Daemon(daemon, top, "vub2", ["--rbd=rbd/vub"] + ceph)
    rc, out, err = perf(vio_perf, d.sock, "--verify", "--verify-phase=read", "--rw=read",
                        "--bs=64k", "--size=4M", "--seed=21")
    tap(rc == 0 and result(out).get("verify_errors", 1) == 0,
        "daemon: a new daemon reads back what the last one wrote (the data is in the cluster)",
        err + out + d.text())
    d.stop()

    # A snapshot is served read-only, with the snapshot's data.
    d = Daemon(daemon, top, "vubsnap-w", ["--rbd=rbd/vubsnap"] + ceph)
    rc, out, err = perf(vio_perf, d.sock, "--verify", "--verify-phase=write", "--rw=write",
                        "--bs=64k", "--seed=31")
    d.stop()
    snap = subprocess.run(["rbd", "-c", conf, "snap", "create", "rbd/vubsnap@s1"],
                          capture_output=True, text=True, timeout=60)
    d = Daemon(daemon, top, "vubsnap-w2", ["--rbd=rbd/vubsnap"] + ceph)
    perf(vio_perf, d.sock, "--verify", "--verify-phase=write", "--rw=write", "--bs=64k",
         "--seed=32")       # the image moves on; the snapshot must not
    d.stop()
    d = Daemon(daemon, top, "vubsnap", ["--rbd=rbd/vubsnap@s1"] + ceph)
    tap(rc == 0 and snap.returncode == 0 and "read-only" in d.text(),
        "daemon: --rbd=POOL/IMAGE@SNAP says read-only", snap.stderr + d.text())
    rc, out, err = perf(vio_perf, d.sock, "--verify", "--verify-phase=read", "--rw=read",
                        "--bs=64k", "--seed=31")
    tap(rc == 0 and result(out).get("verify_errors", 1) == 0,
        "daemon: the snapshot reads back the data it was taken with", err + out)
    rc, out, err = perf(vio_perf, d.sock, "--rw=randwrite", "--time=1", "--qd=4")
    r = result(out)
    tap(rc != 0 and d.alive(),
        "daemon: writes to the snapshot fail (vio-perf exit %d, errors %s) and the daemon lives"
        % (rc, r.get("errors", "-")), err + out)
    rc, out, err = perf(vio_perf, d.sock, "--verify", "--verify-phase=read", "--rw=read",
                        "--bs=64k", "--seed=31")
    tap(rc == 0, "daemon: the snapshot's data is unchanged after the writes", err + out)
    d.stop()

    # The OSD stopped under I/O, with two daemons: one waits (default), one
    # times out (--rbd-timeout=2).
    dw = Daemon(daemon, top, "vub-wait", ["--rbd=rbd/vub"] + ceph)
    dt = Daemon(daemon, top, "vub-2s", ["--rbd=rbd/img", "--rbd-timeout=2"] + ceph)
    pw = perf(vio_perf, dw.sock, "--verify", "--rw=randrw", "--qd=16", "--time=7", "--size=8M",
              "--seed=41", background=True)
    pt = perf(vio_perf, dt.sock, "--rw=randrw", "--qd=16", "--time=7", "--size=8M",
              background=True)
    time.sleep(1.5)
    t0 = time.monotonic()
    st = node("stop-osd")
    time.sleep(4)
    up = node("start-osd")
    down_for = time.monotonic() - t0
    tap(st.returncode == 0 and up.returncode == 0,
        "daemon: the OSD stopped and started again under I/O (down %.1f s)" % down_for,
        st.stderr + up.stderr)
    try:
        out, err = pw.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        pw.kill()
        out, err = pw.communicate()
    r = result(out)
    tap(pw.returncode == 0 and r.get("verify_errors", 1) == 0 and r.get("errors", 1) == 0,
        "daemon: default timeout: requests waited for the OSD, vio-perf --verify clean "
        "(exit %s, p99 %s us)" % (pw.returncode, r.get("lat_us", {}).get("p99", "?")),
        err + out + dw.text())
    try:
        out, err = pt.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        pt.kill()
        out, err = pt.communicate()
    r = result(out)
    tap(pt.returncode == 1 and dt.alive(),
        "daemon: --rbd-timeout=2: requests failed (vio-perf exit %s, errors %s), daemon alive"
        % (pt.returncode, r.get("errors", "?")), err + out + dt.text())
    for dd in (dw, dt):
        rc, out, err = perf(vio_perf, dd.sock, "--verify", "--rw=randrw", "--qd=16", "--time=1",
                            "--size=8M", "--seed=42")
        tap(rc == 0 and result(out).get("verify_errors", 1) == 0,
            "daemon: %s: I/O resumes after the OSD is back (vio-perf --verify)" % dd.name,
            err + out + dd.text())
        tap(dd.stop(), "daemon: %s stops cleanly on SIGTERM" % dd.name, dd.text())
