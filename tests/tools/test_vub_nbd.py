#!/usr/bin/env python3
"""test_vub_nbd.py - vhost-user-blk --nbd=URI driven by vio-perf, as TAP.

    test_vub_nbd.py VIO_PERF VHOST_USER_BLK

The daemon serves NBD exports from servers this script starts: nbdkit's
memory plugin (plain, read-only, with its error filter, killed and
restarted on the same socket) and qemu-nbd on a qcow2 file. vio-perf
checks every byte (--verify) on two queues, sees IOERR where the server
fails (exit status 1), and the daemon survives each fault: after the
server comes back, a verify run passes again on the same daemon.

Without nbdkit or qemu-nbd the cases that need them fail, saying why.
Every subprocess has a timeout: a hang fails its case, not the suite.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

VIO_PERF, DAEMON = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="vub-nbd-test-")
NBD_SOCK = os.path.join(TMP, "nbd.sock")
VU_SOCK = os.path.join(TMP, "vu.sock")
URI = "nbd+unix:///?socket=" + NBD_SOCK
RUN_TIMEOUT = 60
results = []
procs = []


def tap(ok, name, diag=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    if not ok and diag:
        for line in diag.rstrip().splitlines()[-25:]:
            print("# " + line)
    sys.stdout.flush()


def unix_listening(path):
    """Listening without connecting (/proc/net/unix, __SO_ACCEPTCON): a
    probe connection would be the daemon's frontend, and vio-perf behind
    it could find the daemon busy. (nbdkit takes any number, so it is
    probed by connecting.)"""
    with open("/proc/net/unix") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


def listening(path):
    if path == VU_SOCK:
        return unix_listening(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_listening(path, proc, what):
    end = time.monotonic() + 10
    while not listening(path):
        if proc.poll() is not None:
            raise RuntimeError("%s exited (status %s) before listening on %s"
                               % (what, proc.returncode, path))
        if time.monotonic() > end:
            raise RuntimeError("%s not listening on %s after 10 s" % (what, path))
        time.sleep(0.02)


def start(argv, sock, what):
    if os.path.exists(sock):
        os.unlink(sock)
    # stderr to a file: a pipe nobody reads could fill and stall the process
    log = open(os.path.join(TMP, "%s.%d.log" % (what, len(procs))), "w")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    procs.append(p)
    wait_listening(sock, p, what)
    return p


def stop(p):
    if p and p.poll() is None:
        p.kill()
    if p:
        p.wait(timeout=10)


def nbdkit(*extra):
    if not shutil.which("nbdkit"):
        raise RuntimeError("nbdkit not found: install nbdkit (scripts/deps.sh)")
    opts = [a for a in extra if a.startswith("-")]
    params = [a for a in extra if not a.startswith("-")]
    return start(["nbdkit", "-f", "--exit-with-parent", "-U", NBD_SOCK] + opts +
                 ["memory", "size=16M"] + params, NBD_SOCK, "nbdkit")


def daemon(*extra):
    return start([DAEMON, "--socket-path=" + VU_SOCK, "--nbd=" + URI, "--quiet"] +
                 list(extra), VU_SOCK, "vhost-user-blk")


def perf(*args):
    r = subprocess.run([VIO_PERF, "--socket=" + VU_SOCK, "--quiet"] + list(args),
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return r.returncode, r.stdout + r.stderr


def case(name, fn):
    ps = len(procs)
    try:
        ok, diag = fn()
    except Exception as e:      # a server that did not start, a timeout
        ok, diag = False, "%s: %s" % (type(e).__name__, e)
    for p in procs[ps:]:
        stop(p)
    del procs[ps:]
    tap(ok, name, diag)


def verify_two_queues():
    nbdkit()
    daemon("--num-queues=2")
    rc, out = perf("--verify", "--rw=randrw", "--queues=2", "--qd=32", "--time=1")
    return rc == 0 and "0 mismatches" in out, out


def verify_packed():
    nbdkit()
    daemon()
    rc, out = perf("--verify", "--ring=packed", "--qd=128", "--bs=64k", "--time=1")
    return rc == 0 and "0 mismatches" in out, out


def qemu_nbd_qcow2():
    for prog in ("qemu-nbd", "qemu-img"):
        if not shutil.which(prog):
            return False, "%s not found: install qemu-utils (scripts/deps.sh)" % prog
    img = os.path.join(TMP, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", img, "16M"], check=True,
                   timeout=30)
    start(["qemu-nbd", "-t", "-k", NBD_SOCK, "-f", "qcow2", img], NBD_SOCK, "qemu-nbd")
    daemon("--num-queues=2")
    rc, out = perf("--verify", "--rw=randrw", "--queues=2", "--time=1")
    return rc == 0 and "0 mismatches" in out, out


def read_only_export():
    nbdkit("-r")
    d = daemon()
    rc_r, out_r = perf("--rw=randread", "--count=2000")
    rc_w, out_w = perf("--rw=randwrite", "--count=100")
    alive = d.poll() is None
    # The device offers VIRTIO_BLK_F_RO: vio-perf refuses to write (2).
    return (rc_r == 0 and rc_w == 2 and "read-only" in out_w and alive,
            out_r + out_w)


def server_errors():
    nbdkit("--filter=error", "error=EIO", "error-pread-rate=100%")
    d = daemon()
    rc_r, out_r = perf("--rw=randread", "--count=200")
    rc_w, out_w = perf("--rw=randwrite", "--count=200")
    alive = d.poll() is None
    return rc_r == 1 and rc_w == 0 and alive, out_r + out_w


def server_restart():
    n = nbdkit()
    d = daemon("--nbd-timeout=500")
    rc0, out0 = perf("--verify", "--time=1")
    stop(n)
    procs.remove(n)
    t0 = time.monotonic()
    rc1, out1 = perf("--rw=randread", "--count=64")
    gone_s = time.monotonic() - t0
    alive = d.poll() is None
    nbdkit()
    # back: within the backoff cap (5 s) the storage reconnects
    end = time.monotonic() + 10
    rc2, out2 = 1, ""
    while time.monotonic() < end:
        rc2, out2 = perf("--verify", "--time=1")
        if rc2 == 0:
            break
        time.sleep(0.2)
    ok = rc0 == 0 and rc1 == 1 and gone_s < 10 and alive and rc2 == 0 and d.poll() is None
    return ok, "before %d, server away %d (%.1f s), after %d\n%s%s%s" % (
        rc0, rc1, gone_s, rc2, out0, out1, out2)


def bad_uri():
    if os.path.exists(NBD_SOCK):
        os.unlink(NBD_SOCK)
    r = subprocess.run([DAEMON, "--socket-path=" + VU_SOCK, "--nbd=" + URI],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return r.returncode == 1 and "--nbd=" in r.stderr, r.stderr


CASES = [
    ("vio-perf --verify, 2 queues, on nbdkit memory", verify_two_queues),
    ("vio-perf --verify, packed ring, qd 128, 64 KiB, on nbdkit memory", verify_packed),
    ("vio-perf --verify, 2 queues, on qemu-nbd qcow2", qemu_nbd_qcow2),
    ("read-only export: a read-only device (VIRTIO_BLK_F_RO), reads work", read_only_export),
    ("server answers EIO to reads: vio-perf sees IOERR, writes work", server_errors),
    ("server killed: IOERR within the timeout, daemon alive; restarted: verify passes",
     server_restart),
    ("no server: the daemon exits 1 naming --nbd", bad_uri),
]

print("1..%d" % len(CASES))
try:
    for name, fn in CASES:
        case(name, fn)
finally:
    for p in procs:
        stop(p)
    shutil.rmtree(TMP, ignore_errors=True)
sys.exit(0 if all(results) else 1)
