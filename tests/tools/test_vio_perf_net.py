#!/usr/bin/env python3
"""test_vio_perf_net.py - vio-perf --net against vhost-user-net backends, as TAP.

    test_vio_perf_net.py libvio VIO_PERF VHOST_USER_NET VU_NET_FAULTY
    test_vio_perf_net.py dpdk VIO_PERF DPDK_TESTPMD

libvio: vio-perf's net mode against libvio's vhost-user-net --reflect
(started here as a process): split and packed, one and two queue pairs,
--verify, poll and --notify; every frame sent comes back intact (received
== sent, nothing lost, corrupt or duplicate), the JSON has its fields, and
the counters agree with each other. Then against VU_NET_FAULTY
(tests/tools/vu_net_faulty.c), a reflecting backend that drops every Nth
frame and flips a byte of every Mth: vio-perf must count exactly the frames
the backend says it dropped and corrupted, and exit 1 with --verify; and
one that sends every 53rd frame after the next: reordered must count
exactly those. A backend killed mid-run ends the run with exit 1; usage
errors exit 2.

dpdk: the same load against DPDK's vhost PMD in dpdk-testpmd (io
forwarding: a backend nobody here wrote), split and packed, with --verify.
Without DPDK's PMDs the case fails, saying why.

Speed is never asserted: only that frames moved (> 0 Mpps) and that the
counts add up. Every subprocess has a timeout.
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MODE, VIO_PERF = sys.argv[1], sys.argv[2]
RUN_TIMEOUT = 60
TMP = tempfile.mkdtemp(prefix="vio-perf-net-")
FIELDS = ("mode", "frame_size", "queue_pairs", "ring", "verify", "seconds", "sent", "received",
          "lost", "corrupt", "duplicate", "reordered", "mpps", "gbps", "kicks", "calls",
          "kicks_per_packet", "calls_per_packet", "notifications_per_packet", "status")
results = []


def tap(ok, name, diag="", todo=None):
    results.append(ok or todo is not None)
    line = ("ok" if ok else "not ok") + " %d - %s" % (len(results), name)
    if todo:
        line += " # TODO " + todo
    print(line)
    if not ok and diag:
        for d in str(diag).rstrip().splitlines()[-20:]:
            print("# " + d)
    sys.stdout.flush()


def wait_socket(path, proc, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("backend exited with %d" % proc.returncode)
        if os.path.exists(path):
            return
        time.sleep(0.02)
    raise RuntimeError("no socket at %s" % path)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out or ""


def perf(sock, *args, timeout=RUN_TIMEOUT):
    """Runs vio-perf --net --json; (exit status, parsed JSON or None, stderr)."""
    p = subprocess.run([VIO_PERF, "--net", "--socket=" + sock, "--json", "--quiet"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = None
    return p.returncode, res, p.stderr


def start(cmd, sock):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_socket(sock, proc)
    return proc


def counts_add_up(r):
    return r["received"] + r["lost"] + r["corrupt"] == r["sent"] and r["sent"] > 0


# --------------------------------------------------------------------------
# libvio's daemon

def reflect_case(daemon, ring, pairs, notify=False):
    name = "%s, %d pair%s%s" % (ring, pairs, "s" if pairs > 1 else "",
                                ", notify" if notify else "")
    sock = os.path.join(TMP, "reflect-%s-%d-%d.sock" % (ring, pairs, notify))
    proc = start([daemon, "--socket-path=" + sock, "--reflect", "--quiet",
                  "--queue-pairs=%d" % pairs], sock)
    try:
        args = ["--ring=" + ring, "--queue-pairs=%d" % pairs, "--time=1", "--verify"]
        if notify:
            args.append("--notify")
        rc, r, err = perf(sock, *args)
    finally:
        st, out = stop(proc)
    if r is None:
        tap(False, name + ": vio-perf printed its JSON", "exit %d\n%s" % (rc, err))
        return
    missing = [f for f in FIELDS if f not in r]
    tap(not missing and r["mode"] == "net" and r["ring"] == ring and r["queue_pairs"] == pairs
        and r["verify"] is True and r["poll"] is (not notify),
        name + ": the JSON has every field and says what ran", "missing %s: %s" % (missing, r))
    tap(counts_add_up(r) and r["duplicate"] == 0 and r["mpps"] > 0 and r["status"] == "ok",
        name + ": frames went round and the counts add up (received + lost + corrupt == sent)",
        json.dumps(r))
    clean = r["received"] == r["sent"] and r["lost"] == 0 and r["corrupt"] == 0
    tap(clean and rc == 0, name + ": --verify: every frame back intact, exit 0",
        "exit %d, %s\n%s" % (rc, json.dumps(r), err))
    if notify:
        tap(r["calls"] > 0, name + ": sleeping on the call eventfd counts calls", json.dumps(r))
    else:
        tap(r["calls_per_packet"] < 0.01,
            name + ": polling keeps the backend's interrupts suppressed", json.dumps(r))
    tap(st == 0, name + ": the daemon ends with status 0", "status %s: %s" % (st, out[-500:]))


def faulty_case(faulty, verify):
    name = "faulty backend (drops 1/97, corrupts 1/41)%s" % (", --verify" if verify else "")
    sock = os.path.join(TMP, "faulty-%d.sock" % verify)
    proc = start([faulty, "--socket-path=" + sock, "--quiet", "--drop-every=97",
                  "--corrupt-every=41"], sock)
    try:
        rc, r, err = perf(sock, "--time=1", "--window=64", *(["--verify"] if verify else []))
    finally:
        st, out = stop(proc)
    words = out.split()
    try:
        dropped = int(words[words.index("dropped") + 1])
        corrupted = int(words[words.index("corrupted") + 1])
    except (ValueError, IndexError):
        tap(False, name + ": the backend says what it did", out[-500:])
        return
    if r is None:
        tap(False, name + ": vio-perf printed its JSON", "exit %d\n%s" % (rc, err))
        return
    tap(dropped > 0 and r["lost"] == dropped and counts_add_up(r),
        name + ": lost counts exactly the frames the backend dropped",
        "backend dropped %d; %s" % (dropped, json.dumps(r)))
    if verify:
        tap(corrupted > 0 and r["corrupt"] == corrupted,
            name + ": corrupt counts exactly the frames the backend changed",
            "backend corrupted %d; %s" % (corrupted, json.dumps(r)))
        tap(rc == 1 and "verify FAILED" in err, name + ": --verify fails the run (exit 1)",
            "exit %d\n%s" % (rc, err))
    else:
        # Without --verify the payload is not read: the changed byte is
        # invisible, and what is counted corrupt must come from --verify.
        tap(r["corrupt"] == 0 and r["received"] == r["sent"] - dropped,
            name + ": without --verify the payload is not checked",
            "backend corrupted %d; %s" % (corrupted, json.dumps(r)))


def reorder_case(faulty):
    name = "faulty backend (sends 1/53 after the frame behind it), --verify"
    sock = os.path.join(TMP, "reorder.sock")
    proc = start([faulty, "--socket-path=" + sock, "--quiet", "--reorder-every=53"], sock)
    try:
        rc, r, err = perf(sock, "--time=1", "--window=64", "--verify")
    finally:
        st, out = stop(proc)
    words = out.split()
    try:
        reordered = int(words[words.index("reordered") + 1])
        held = int(words[words.index("held") + 1])
    except (ValueError, IndexError):
        tap(False, name + ": the backend says what it did", out[-500:])
        return
    if r is None:
        tap(False, name + ": vio-perf printed its JSON", "exit %d\n%s" % (rc, err))
        return
    # The backend's counts start at its first frame, vio-perf's first probe
    # (which comes back at once from this backend): probes are never the
    # 53rd frame here.
    tap(reordered > 0 and r["reordered"] == reordered and r["corrupt"] == 0
        and r["duplicate"] == 0,
        name + ": reordered counts exactly the frames the backend sent late",
        "backend reordered %d; %s" % (reordered, json.dumps(r)))
    # A frame still held back when the run ended never came back.
    tap(r["lost"] == held and rc == (1 if held else 0),
        name + ": nothing lost but a frame still held at the end; exit status agrees",
        "held %d, exit %d; %s\n%s" % (held, rc, json.dumps(r), err))


def killed_case(daemon):
    name = "backend killed mid-run"
    sock = os.path.join(TMP, "killed.sock")
    proc = start([daemon, "--socket-path=" + sock, "--reflect", "--quiet"], sock)
    p = subprocess.Popen([VIO_PERF, "--net", "--socket=" + sock, "--time=30", "--json",
                          "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1)
    proc.kill()
    proc.wait()
    t0 = time.monotonic()
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        tap(False, name + ": vio-perf ends instead of hanging", err)
        return
    took = time.monotonic() - t0
    try:
        status = json.loads(out)["status"]
    except (ValueError, KeyError):
        status = None
    tap(p.returncode == 1 and status == "disconnected" and took < 15,
        name + ": vio-perf ends with exit 1, status disconnected",
        "exit %d after %.1f s, status %s\n%s" % (p.returncode, took, status, err))


def usage_cases():
    for args, what in ((["--frame-size=10"], "a frame below 60 bytes"),
                       (["--frame-size=2000"], "a frame above 1518 bytes"),
                       (["--ring=ring"], "an unknown ring"),
                       (["--queue-size=100"], "a ring size not a power of two")):
        p = subprocess.run([VIO_PERF, "--net", "--socket=/nonexistent"] + args,
                           capture_output=True, text=True, timeout=RUN_TIMEOUT)
        tap(p.returncode == 2 and "bad value" in p.stderr, "usage: %s is refused (exit 2)" % what,
            "exit %d: %s" % (p.returncode, p.stderr))
    p = subprocess.run([VIO_PERF, "--net", "--socket=" + os.path.join(TMP, "nobody.sock")],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    tap(p.returncode == 2 and "cannot connect" in p.stderr, "no backend: exit 2, says why",
        "exit %d: %s" % (p.returncode, p.stderr))


def paced_case(daemon):
    name = "--rate=0.05 for 1 s"
    sock = os.path.join(TMP, "paced.sock")
    proc = start([daemon, "--socket-path=" + sock, "--reflect", "--quiet"], sock)
    try:
        rc, r, err = perf(sock, "--time=1", "--rate=0.05", "--verify")
    finally:
        stop(proc)
    # At most the pace allows (plus one burst); at least a fifth of it on a
    # machine however busy. Not a speed test: the pace's upper bound.
    ok = r is not None and rc == 0 and 10000 <= r["sent"] <= 50000 + 32 \
        and r["received"] == r["sent"]
    tap(ok, name + ": no more frames than the pace allows, all back",
        "exit %d %s %s" % (rc, json.dumps(r), err))


# --------------------------------------------------------------------------
# DPDK's vhost PMD

def dpdk_case(testpmd, pmds, packed):
    ring = "packed" if packed else "split"
    sock = os.path.join(TMP, "dpdk-%s.sock" % ring)
    cmd = [testpmd, "-l", "0,1", "--no-huge", "-m", "1024", "--no-pci",
           "--file-prefix", "vio-perf-net-%d-%s" % (os.getpid(), ring),
           "-d", os.path.join(pmds, "librte_net_vhost.so"),
           "-d", os.path.join(pmds, "librte_mempool_ring.so"),
           "--vdev", "net_vhost0,iface=%s,queues=1" % sock, "--",
           "--forward-mode=io", "--auto-start", "--stats-period", "1", "--nb-cores=1",
           "--total-num-mbufs=8192"]
    proc = start(cmd, sock)
    try:
        rc, r, err = perf(sock, "--ring=" + ring, "--time=1", "--verify")
    finally:
        stop(proc, signal.SIGINT)
    name = "DPDK vhost PMD (testpmd io), %s" % ring
    if r is None:
        tap(False, name + ": vio-perf printed its JSON", "exit %d\n%s" % (rc, err))
        return
    tap(r["ring"] == ring and r["mpps"] > 0 and counts_add_up(r),
        name + ": frames went round, the counts add up", json.dumps(r))
    tap(rc == 0 and r["received"] == r["sent"] and r["corrupt"] == 0 and r["duplicate"] == 0,
        name + ": --verify: every frame back intact, exit 0", "exit %d %s\n%s"
        % (rc, json.dumps(r), err))


try:
    if MODE == "libvio":
        daemon, faulty = sys.argv[3], sys.argv[4]
        for ring in ("split", "packed"):
            for pairs in (1, 2):
                reflect_case(daemon, ring, pairs)
        reflect_case(daemon, "split", 1, notify=True)
        reflect_case(daemon, "packed", 1, notify=True)
        faulty_case(faulty, True)
        faulty_case(faulty, False)
        reorder_case(faulty)
        killed_case(daemon)
        paced_case(daemon)
        usage_cases()
    elif MODE == "dpdk":
        testpmd = sys.argv[3]
        found = glob.glob("/usr/lib/*/dpdk/pmds-*/librte_net_vhost.so")
        if not found:
            tap(False, "DPDK's vhost PMD", "not installed: install dpdk-dev (scripts/deps.sh)")
        else:
            for packed in (False, True):
                dpdk_case(testpmd, os.path.dirname(found[0]), packed)
    else:
        sys.exit("usage: test_vio_perf_net.py libvio|dpdk VIO_PERF ...")
finally:
    shutil.rmtree(TMP, ignore_errors=True)
print("1..%d" % len(results))
sys.exit(0 if all(results) else 1)
