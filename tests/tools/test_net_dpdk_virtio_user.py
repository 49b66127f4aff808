#!/usr/bin/env python3
"""test_net_dpdk_virtio_user.py - DPDK's virtio driver against vhost-user-net, as TAP.

    test_net_dpdk_virtio_user.py VHOST_USER_NET DPDK_TESTPMD

DPDK's virtio-user PMD (a virtio-net driver nobody here wrote) drives
libvio's vhost-user-net daemon with the reflect port: dpdk-testpmd sends a
first burst (--tx-first) and then forwards whatever it receives back out
(--forward-mode=io), so the frames go round between DPDK's driver and
libvio's device until testpmd is stopped. Split and packed rings, with
IN_ORDER (DPDK's in-order paths: a split device that moves the used index
by one per batch instead of by the batch's size runs DPDK's transmit ring
dry after a few thousand frames, and testpmd counts the rest TX-dropped).
Checks: testpmd received frames (each one a frame libvio's device took
from DPDK's transmit ring and put in its receive ring) and kept doing so
(tens of thousands, none TX-dropped), libvio's daemon counted them,
nothing was dropped at the device, and the daemon ends with status 0 on
SIGTERM. Without dpdk-testpmd every case fails, saying why.

The loop is watched for RUN_SECONDS from its first frame, not from
testpmd's launch: testpmd takes seconds to start (2 s on a quiet 2-cpu
machine, more than 6 s under load), and a fixed sleep from the launch
sent SIGINT before forwarding began when the machine was busy, so
testpmd only sent its --tx-first burst and got it back (32 frames,
TX-dropped 0) - what a loop that stops after one round trip looks like.
The first frame is seen in the daemon's stats (its stderr is not
buffered; testpmd's stdout to a pipe is).
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DAEMON, TESTPMD = sys.argv[1], sys.argv[2]
RUN_SECONDS = 4
# How long testpmd may take to start and send its first burst.
START_SECONDS = 60
# Frames a loop that keeps going passes in RUN_SECONDS even on a busy
# 2-cpu machine (millions when quiet); a dead one stops near 4,000.
MIN_FRAMES = 20000
results = []


def tap(ok, name, diag=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name)
          + (" # " + diag if diag else ""))
    sys.stdout.flush()


def pmd_dir():
    found = glob.glob("/usr/lib/*/dpdk/pmds-*/librte_net_virtio.so")
    return os.path.dirname(found[0]) if found else None


def wait_socket(path, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.02)
    return False


def daemon_tx(path):
    """The frames the daemon's stats lines say it took from DPDK so far."""
    with open(path) as f:
        tx = [int(x) for x in re.findall(r"pair 0: tx (\d+) frames", f.read())]
    return max(tx) if tx else 0


def wait_first_frame(tp, log_path):
    """Seconds until the daemon took DPDK's first frames (forwarding has
    begun), or None if testpmd ended or START_SECONDS passed first."""
    start = time.time()
    while time.time() - start < START_SECONDS and tp.poll() is None:
        if daemon_tx(log_path) > 0:
            return time.time() - start
        time.sleep(0.1)
    return None


def run(packed):
    name = "packed" if packed else "split"
    tmp = tempfile.mkdtemp(prefix="vio-dpdk-")
    sock = os.path.join(tmp, "net.sock")
    log = open(os.path.join(tmp, "daemon.log"), "w+")
    daemon = subprocess.Popen([DAEMON, "--socket-path=" + sock, "--reflect", "--stats-interval=1"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_socket(sock):
            tap(False, "%s: vhost-user-net listens" % name)
            return
        pmds = pmd_dir()
        vdev = "net_virtio_user0,path=%s,queues=1,queue_size=256,in_order=1%s" % (
            sock, ",packed_vq=1" if packed else "")
        cmd = [TESTPMD, "-l", "0,1", "--no-huge", "-m", "1024", "--no-pci",
               "--file-prefix", "vio-vu-%d-%s" % (os.getpid(), name),
               "-d", os.path.join(pmds, "librte_net_virtio.so"),
               "-d", os.path.join(pmds, "librte_mempool_ring.so"),
               "--vdev", vdev, "--", "--forward-mode=io", "--tx-first",
               "--stats-period", "1", "--nb-cores=1", "--total-num-mbufs=8192"]
        tp = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        began = wait_first_frame(tp, log.name)
        if began is not None:
            time.sleep(RUN_SECONDS)
        tp.send_signal(signal.SIGINT)
        try:
            out, _ = tp.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            tp.kill()
            out, _ = tp.communicate()
        rx = [int(x) for x in re.findall(r"RX-packets:\s+(\d+)", out)]
        got = max(rx) if rx else 0
        tap(got >= 32, "%s: DPDK's virtio-user received the frames libvio's device reflected"
            % name, "%d frames" % got if got else "testpmd said: " + out[-300:].replace("\n", " | "))
        dropped = [int(x) for x in re.findall(r"TX-dropped:\s+(\d+)", out)]
        tap(got >= MIN_FRAMES and not any(dropped),
            "%s: the loop kept going (IN_ORDER used entries taken as DPDK reads them)" % name,
            "%d frames in %d s from the first, TX-dropped %s; %s" % (
                got, RUN_SECONDS, max(dropped) if dropped else "not reported",
                "the daemon's stats showed the first %.1f s after testpmd's launch" % began
                if began is not None else "none reached the daemon in %d s" % START_SECONDS))
        time.sleep(1.2)             # one more stats line from the daemon
        log.seek(0)
        text = log.read()
        tx = [int(x) for x in re.findall(r"pair 0: tx (\d+) frames", text)]
        # The stats line names a drop counter only when it is not 0.
        drops = re.findall(r"tx-(?:header|writable|size|csum|gso) \d+", text)
        counted = max(tx) if tx else 0
        tap(counted >= got > 0, "%s: libvio's daemon counted every frame DPDK sent"
            % name, "daemon %d, testpmd received %d" % (counted, got))
        tap(len(tx) > 0 and not drops,
            "%s: no frame from DPDK's driver refused as malformed" % name,
            "drops: %s" % drops[-1:] if drops else "" if tx else "no stats line")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            st = daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            st = "killed after 10 s"
        tap(st == 0, "%s: vhost-user-net ends with status 0 on SIGTERM" % name, "status %s" % st)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if not shutil.which(TESTPMD) and not os.access(TESTPMD, os.X_OK) or pmd_dir() is None:
    for n in ("split", "packed"):
        tap(False, "%s: DPDK virtio-user against vhost-user-net" % n,
            "dpdk-testpmd or DPDK's PMDs missing: install dpdk-dev (scripts/deps.sh)")
else:
    run(False)
    run(True)
print("1..%d" % len(results))
sys.exit(0 if all(results) else 1)
