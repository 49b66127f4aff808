#!/usr/bin/env python3
"""test_vu_blk_storage.py - the blk device's asynchronous storage path in
libvio's vhost-user-blk daemon, in every way the daemon serves a queue.
    test_vu_blk_storage.py VIO_PERF VHOST_USER_BLK
The daemon serves a file through io_uring: requests are submitted and
complete later, on the queue's storage fd (an eventfd registered with the
ring), which the daemon polls beside the kicks. vio-perf --verify writes
every block and reads it back, at queue depth 64 on a device depth of 16
(so the device is full and refills as completions free slots), on both
ring layouts, in each serving mode: a thread per queue, --single-thread,
--busy-poll (per thread and single-threaded) and adaptive polling
(--poll-us). A mode that does not poll the storage fd stalls (vio-perf
reports it and exits non-zero); one that loses a completion or uses one
twice fails the verify. The file lives in the build tree (a disk
filesystem): on tmpfs the daemon would use preadv and test nothing here,
so the daemon's own line must say "file via io_uring" or the test fails.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

VIO_PERF, DAEMON = sys.argv[1], sys.argv[2]
TIMEOUT = 60
TMP = tempfile.mkdtemp(prefix="vu-blk-storage-", dir=os.getcwd())
DISK = 4 << 20
n = 0
failed = 0


def tap(ok, name, diag=""):
    global n, failed
    n += 1
    failed += 0 if ok else 1
    print(("ok" if ok else "not ok") + " %d - %s" % (n, name))
    if not ok:
        for line in diag.rstrip().splitlines()[-20:]:
            print("# " + line)
    sys.stdout.flush()


def listening(path):
    with open("/proc/net/unix") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                return True
    return False


def run_mode(name, extra, rings=("split", "packed"), queues=1):
    img = os.path.join(TMP, "disk.img")
    sock = os.path.join(TMP, "blk.sock")
    log = os.path.join(TMP, "daemon.log")
    with open(img, "wb") as f:
        f.truncate(DISK)
    with open(log, "w") as lf:
        d = subprocess.Popen([DAEMON, "--socket-path=" + sock, "--blk-file=" + img, "--depth=16",
                              "--num-queues=%d" % queues] + extra, stdout=lf, stderr=lf)
    try:
        deadline = time.monotonic() + 10
        while not listening(sock) and time.monotonic() < deadline and d.poll() is None:
            time.sleep(0.02)
        with open(log) as lf:
            head = lf.read()
        if "file via io_uring" not in head:
            tap(False, "%s: the daemon serves the file through io_uring" % name, head)
            return
        for ring in rings:
            try:
                p = subprocess.run([VIO_PERF, "--socket=" + sock, "--json", "--verify",
                                    "--qd=64", "--ring=" + ring, "--queues=%d" % queues,
                                    "--rw=randrw"],
                                   capture_output=True, text=True, timeout=TIMEOUT)
                rc, out, err = p.returncode, p.stdout, p.stderr
            except subprocess.TimeoutExpired:
                rc, out, err = -1, "", "vio-perf hung"
            try:
                j = json.loads(out)
            except ValueError:
                j = None
            ok = (rc == 0 and j is not None and j["verify_errors"] == 0 and j["errors"] == 0
                  and j["ios"] > 0)
            tap(ok, "%s, %s: verify at qd 64 on device depth 16" % (name, ring),
                "rc=%s json=%s\n%s" % (rc, j, err))
    finally:
        d.terminate()
        try:
            d.wait(10)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        rc = d.returncode
        with open(log) as lf:
            tail = lf.read()
        tap(rc == 0 and "error" not in tail.lower(),
            "%s: the daemon ends cleanly" % name, "exit %s\n%s" % (rc, tail))


def main():
    try:
        run_mode("a thread per queue", [])
        run_mode("a thread per queue, two queues", [], rings=("packed",), queues=2)
        run_mode("--single-thread", ["--single-thread"])
        run_mode("--busy-poll", ["--busy-poll"])
        run_mode("--busy-poll --single-thread", ["--busy-poll", "--single-thread"])
        run_mode("adaptive polling (--poll-us=200)", ["--poll-us=200"])
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
