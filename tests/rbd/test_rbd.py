#!/usr/bin/env python3
"""test_rbd.py - libvio's Ceph RBD storage against a real one-node cluster, as TAP.

    test_rbd.py CEPH_NODE_SH TEST_RBD_STORAGE VHOST_USER_BLK VIO_PERF

Starts one throwaway cluster (scripts/ceph-node.sh: one mon, one memstore
OSD, auth none) with the images every part needs, then:

  1. test_rbd_storage: the storage's ops driven directly (read, write,
     flush, discard, write-zeroes, a snapshot read-only, bad names, two
     queues on two threads, the OSD stopped under I/O); each of its cases
     is one line here.
  2. vhost-user-blk --rbd, when the daemon has the option: vio-perf
     --verify, a snapshot served read-only, the OSD stopped under vio-perf.

The cluster is torn down at the end whatever happened (every process
killed, the directory removed). Without root or the Ceph packages it says
why and fails: it never skips.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

NODE_SH, STORAGE_TEST, DAEMON, VIO_PERF = sys.argv[1:5]
results = []


def tap(ok, name, diag=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    if not ok and diag:
        for line in diag.rstrip().splitlines()[-30:]:
            print("# " + line)
    sys.stdout.flush()


def finish():
    print("1..%d" % len(results))
    sys.exit(0 if all(results) else 1)


def missing():
    if os.geteuid() != 0:
        return "not root: the Ceph daemons need root here"
    for b in ("ceph-mon", "ceph-osd", "ceph", "monmaptool", "rbd"):
        if not shutil.which(b):
            return "%s not found: install ceph-mon ceph-osd ceph-common (scripts/deps.sh)" % b
    return None


why = missing()
if why:
    tap(False, "Ceph node: " + why)
    finish()

top = tempfile.mkdtemp(prefix="vio-rbd-test-")
cdir = os.path.join(top, "ceph")
t0 = time.monotonic()
up = subprocess.run([NODE_SH, "start", cdir, "rbd/img", "64M", "rbd/snapimg", "16M",
                     "rbd/vub", "32M", "rbd/vubsnap", "8M"],
                    capture_output=True, text=True, timeout=120)
if up.returncode != 0:
    tap(False, "Ceph node starts", up.stdout + up.stderr)
    subprocess.run([NODE_SH, "teardown", cdir], timeout=60)
    shutil.rmtree(top, ignore_errors=True)
    finish()
conf = up.stdout.strip()
tap(True, "Ceph node up in %.1f s" % (time.monotonic() - t0))

try:
    # 1. The storage through its ops.
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    # Under TSan: Ceph's libraries are not instrumented (tsan.supp says why).
    supp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tsan.supp")
    env["TSAN_OPTIONS"] = (env.get("TSAN_OPTIONS", "") + ":suppressions=" + supp).lstrip(":")
    try:
        p = subprocess.run([STORAGE_TEST, conf, NODE_SH, cdir], capture_output=True,
                           text=True, timeout=180, env=env)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, err, rc = (e.stdout or b"").decode(), (e.stderr or b"").decode(), -1
    seen = 0
    for line in out.splitlines():
        m = re.match(r"^(ok|not ok) \d+ - (.*)$", line)
        if m:
            seen += 1
            tap(m.group(1) == "ok", "storage: " + m.group(2), out + err)
    if seen == 0 or rc != 0:
        tap(False, "storage: test_rbd_storage ran to the end (exit %d)" % rc, out + err)

    # 2. The daemon (once vhost-user-blk has --rbd).
    has_rbd = "--rbd" in subprocess.run([DAEMON, "--help"], capture_output=True,
                                        text=True, timeout=10).stdout
    if has_rbd:
        import test_rbd_daemon
        test_rbd_daemon.run(tap, DAEMON, VIO_PERF, NODE_SH, cdir, conf, top)
    else:
        tap(False, "daemon: vhost-user-blk has no --rbd yet")
finally:
    t1 = time.monotonic()
    down = subprocess.run([NODE_SH, "teardown", cdir], capture_output=True, text=True,
                          timeout=60)
    tap(down.returncode == 0 and not os.path.exists(cdir),
        "Ceph node torn down in %.1f s" % (time.monotonic() - t1), down.stderr)
    shutil.rmtree(top, ignore_errors=True)
finish()
