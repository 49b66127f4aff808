#!/usr/bin/env python3
"""test_vio_conform.py - vio-conform against libvio's daemons, qemu-storage-daemon
and a backend with deliberate faults, as TAP.

    test_vio_conform.py VIO_CONFORM VHOST_USER_BLK VHOST_USER_RNG VHOST_USER_NET VU_BLK_FAULTY

  - libvio's vhost-user-blk, -rng and -net pass every case (exit 0), and the
    JSON report lists every case --list names, each with a verdict;
  - qemu-storage-daemon (Debian's QEMU) is run through every case: the run
    completes and reports a verdict for each case (its findings are facts
    about qsd, printed as TAP diagnostics, not failures here); without qsd
    the test fails and says so;
  - vu_blk_faulty, one fault at a time, is caught with the right verdict:
    a crash is CRASHED, a spinning thread SPUN, a write past a buffer
    WROTE-OUTSIDE, fds kept LEAKED-FDS, a queue thread that sleeps HUNG;
  - --socket with --pid reaches a backend started here; usage errors exit 2.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CONFORM, BLK, RNG, NET, FAULTY = sys.argv[1:6]
TMP = tempfile.mkdtemp(prefix="vio-conform-test-")
results = []


def tap(ok, name, diag=""):
    results.append(ok)
    print(("ok" if ok else "not ok") + " %d - %s" % (len(results), name))
    for line in diag.splitlines():
        print("# " + line)
    sys.stdout.flush()


def conform(args, timeout=300):
    out = os.path.join(TMP, "report.json")
    if os.path.exists(out):
        os.unlink(out)
    p = subprocess.run([CONFORM, "--json=" + out] + args, capture_output=True, text=True,
                       timeout=timeout)
    report = None
    if os.path.exists(out):
        with open(out) as f:
            report = json.load(f)
    return p, report


def case_names():
    p = subprocess.run([CONFORM, "--list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


NAMES = case_names()


def whole(report):
    return report is not None and [c["name"] for c in report["cases"]] == NAMES and \
        all(c["verdict"] for c in report["cases"])


def bad_cases(report):
    return ["%s: %s %s" % (c["name"], c["verdict"], c["detail"])
            for c in report["cases"] if not c["ok"]]


# libvio's daemons: every case passes.
for name, cmd in (("vhost-user-blk", [BLK, "--ram=64M"]),
                  ("vhost-user-rng", [RNG]),
                  ("vhost-user-net", [NET, "--reflect"])):
    p, report = conform(["--quiet", "--exec=" + " ".join(cmd + ["--socket-path={socket}"])])
    ok = p.returncode == 0 and whole(report) and not bad_cases(report)
    tap(ok, "libvio %s passes every vio-conform case (%d cases)" % (name, len(NAMES)),
        p.stdout + p.stderr if not ok else p.stdout.splitlines()[-1])

# qemu-storage-daemon: a run through every case, findings reported.
qsd = shutil.which("qemu-storage-daemon")
if not qsd:
    tap(False, "qemu-storage-daemon through every case",
        "qemu-storage-daemon is not installed (Debian: qemu-system-common)")
else:
    img = os.path.join(TMP, "qsd.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    cmd = ("%s --blockdev driver=file,node-name=f0,filename=%s --export type=vhost-user-blk,"
           "id=e0,node-name=f0,addr.type=unix,addr.path={socket},writable=on" % (qsd, img))
    p, report = conform(["--quiet", "--type=blk", "--exec=" + cmd])
    ok = p.returncode in (0, 1) and whole(report)
    diag = p.stdout.splitlines()[-1] if p.stdout else p.stderr
    if report:
        diag += "\nqemu-storage-daemon findings:\n" + "\n".join(bad_cases(report))
    tap(ok, "qemu-storage-daemon through every case, each with a verdict", diag)

# A backend with one fault at a time: the right verdict.
for fault, verdict in (("crash", "CRASHED"), ("spin", "SPUN"), ("overwrite", "WROTE-OUTSIDE"),
                       ("leak", "LEAKED-FDS"), ("hang", "HUNG")):
    p, report = conform(["--only=blk-write-read", "--type=blk",
                         "--exec=%s --socket-path={socket} --fault=%s --sandbox=none --seccomp=none"
                         % (FAULTY, fault)])
    got = [c["verdict"] for c in report["cases"] if c["name"] == "blk-write-read"] \
        if report else []
    tap(p.returncode == 1 and got == [verdict],
        "a backend that does '%s' is reported %s" % (fault, verdict),
        "exit %d, verdict %s\n%s" % (p.returncode, got, p.stdout + p.stderr))

# --socket and --pid: a backend started here.
sock = os.path.join(TMP, "rng.sock")
d = subprocess.Popen([RNG, "--socket-path=" + sock], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
try:
    for _ in range(500):
        if os.path.exists(sock):
            break
        subprocess.run(["sleep", "0.01"])
    p, report = conform(["--socket=" + sock, "--pid=%d" % d.pid, "--type=rng"])
    tap(p.returncode == 0 and whole(report) and d.poll() is None,
        "--socket with --pid reaches a running backend", p.stdout + p.stderr)
finally:
    d.terminate()
    d.wait()

p = subprocess.run([CONFORM], capture_output=True, text=True)
tap(p.returncode == 2 and "usage" in p.stderr, "no backend named: usage, exit 2")
p = subprocess.run([CONFORM, "--exec=x", "--socket=y"], capture_output=True, text=True)
tap(p.returncode == 2, "--exec and --socket together: exit 2")
p = subprocess.run([CONFORM, "--type=scsi", "--socket=y"], capture_output=True, text=True)
tap(p.returncode == 2, "--type=scsi: exit 2")

shutil.rmtree(TMP, ignore_errors=True)
print("1..%d" % len(results))
sys.exit(0 if all(results) else 1)
