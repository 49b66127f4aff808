#!/usr/bin/env python3
"""migrate_host.py - the host's half of tests/guest/migrate.sh: one live
migration of a running guest from one QEMU to another, driven over QMP.

migrate.sh starts the daemons and the two QEMUs (the destination with
`-incoming defer`), each with its serial console on a unix socket and its
QMP monitor on another; this program then:

  1. reads both consoles into console-src.log / console-dst.log;
  2. waits for the guest (tests/guest/migrate_init.sh) to say it is at
     work (VIO-MIG-WRITING, or VIO-MIG-NET-UP; then --pinger starts);
  3. lets it work a second, asks the destination to listen
     (migrate-incoming) and the source to migrate (migrate, bandwidth
     unlimited), and polls query-migrate; with --kill-pid it SIGKILLs that
     process (the source's daemon) as soon as the migration is active;
  4. reports the outcome (a completed migration, or with --kill-pid one
     that failed or was cancelled while the source guest runs on), starts
     --restart (a new source daemon) in the kill case, lets the guest work
     two more seconds where it now runs, and writes STOP on that guest's
     console; the guest checks its work and prints VIO-CHECK lines and
     VIO-DONE;
  5. with --image, checks every block of the image file as the guest did
     (the number of writes comes from the guest's mig-blk-verify line).

Each verdict is a line "MIG-CHECK NAME PASS|FAIL DETAIL" on stdout (the
guest's VIO-CHECK lines are in the console logs); notes go to stderr.
The block layout is migrate_init.sh's: change both together.
"""
import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

BS = 65536        # migrate_init.sh: BS, NB, FIRST
NB = 64
FIRST = 16


def verdict(name, ok, detail):
    print("MIG-CHECK %s %s %s" % (name, "PASS" if ok else "FAIL", detail), flush=True)


def note(msg):
    print("migrate_host: %s" % msg, file=sys.stderr, flush=True)


def connect_unix(path, timeout):
    end = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


class Console:
    """A guest's serial console on a QEMU socket chardev: everything it
    prints goes to a log file and is kept for wait_for()."""

    def __init__(self, path, log):
        self.sock = connect_unix(path, 30)
        self.log = open(log, "wb")
        self.data = b""
        self.closed = False          # QEMU went away
        self.lock = threading.Lock()
        threading.Thread(target=self.reader, daemon=True).start()

    def reader(self):
        while True:
            try:
                d = self.sock.recv(65536)
            except OSError:
                d = b""
            if not d:
                self.closed = True
                return
            with self.lock:
                self.data += d
            self.log.write(d)
            self.log.flush()

    def text(self):
        with self.lock:
            return self.data.decode("latin-1").replace("\r", "")

    def wait_for(self, pattern, timeout):
        """The first line matching the regular expression, or None (at
        the timeout, or once QEMU has gone)."""
        end = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while time.monotonic() < end:
            closed = self.closed
            m = rx.search(self.text())
            if m:
                return m.group(0)
            if closed:
                return None
            time.sleep(0.1)
        return None

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")


class Qmp:
    def __init__(self, path, timeout):
        self.sock = connect_unix(path, timeout)
        self.buf = b""
        self.recv()                      # the greeting
        self.cmd("qmp_capabilities")

    def recv(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, command, **args):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.recv()
            if "event" in r:
                continue
            if "error" in r:
                raise RuntimeError("%s: %s" % (command, r["error"].get("desc", r["error"])))
            return r.get("return")


def image_blocks(image):
    """{block: (write number, data intact)} for the blocks holding a header."""
    out = {}
    with open(image, "rb") as f:
        for b in range(NB):
            f.seek((FIRST + b) * BS)
            blk = f.read(BS)
            head = blk[:63].decode("latin-1").split()
            if len(head) == 3 and head[0] == "VIOMIG" and head[1].isdigit():
                out[b] = (int(head[1]), hashlib.md5(blk[64:]).hexdigest() == head[2])
    return out


def image_max_write(image):
    blocks = image_blocks(image)
    return max((w for w, _ in blocks.values()), default=-1)


def check_image(image, total):
    """Every block of the image file holds its last write, intact."""
    blocks = image_blocks(image)
    for b in range(NB):
        want = (total - 1 - b) // NB * NB + b
        if b not in blocks:
            return False, "block %d has no header" % b
        w, intact = blocks[b]
        if w != want:
            return False, "block %d holds write %d, the last one to it was %d" % (b, w, want)
        if not intact:
            return False, "block %d (write %d): data does not match its md5" % (b, w)
    return True, "%d blocks hold their last write (of %d) intact" % (NB, total)


def alive(pid):
    """A process that exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def query_status(qmp):
    try:
        return qmp.cmd("query-status")["status"]
    except (OSError, EOFError, RuntimeError) as e:
        return "unreachable (%s)" % e


pinger = []        # the --pinger process, once started


def stop_pinger():
    """SIGINT ends the pinger (ping then prints its summary)."""
    for p in pinger:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=("blk", "net"), required=True)
    p.add_argument("--src-qmp", required=True)
    p.add_argument("--dst-qmp", required=True)
    p.add_argument("--src-serial", required=True)
    p.add_argument("--dst-serial", required=True)
    p.add_argument("--uri", required=True, help="the migration stream, e.g. unix:PATH")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--image", help="the blk image file, checked after the guest")
    p.add_argument("--kill-pid", type=int, help="SIGKILL this pid once the migration is active")
    p.add_argument("--src-daemon", type=int, action="append", default=[],
                   help="a source daemon's pid: the switch-over waits for none to be gone")
    p.add_argument("--restart", help="shell command run after the failed migration (kill case)")
    p.add_argument("--pinger", help="shell command started once the guest's network is up;"
                   " SIGINT ends it, its output goes to OUT_DIR/ping.log")
    p.add_argument("--timeout", type=float, default=280)
    a = p.parse_args()
    kill = a.kill_pid is not None
    deadline = time.monotonic() + a.timeout

    def left():
        return max(1.0, deadline - time.monotonic())

    src_con = Console(a.src_serial, os.path.join(a.out_dir, "console-src.log"))
    dst_con = Console(a.dst_serial, os.path.join(a.out_dir, "console-dst.log"))
    src = Qmp(a.src_qmp, 30)
    dst = Qmp(a.dst_qmp, 30)

    marker = "^VIO-MIG-WRITING" if a.mode == "blk" else "^VIO-MIG-NET-UP"
    t_boot = time.monotonic()
    if not src_con.wait_for(marker, min(180, left())):
        verdict("guest-at-work", False, "no %s on the source's console" % marker[1:])
        return
    verdict("guest-at-work", True, "%s after %.1f s" % (marker[1:], time.monotonic() - t_boot))
    if a.pinger:
        pinger.append(subprocess.Popen(a.pinger, shell=True, start_new_session=True,
                                       stdout=open(os.path.join(a.out_dir, "ping.log"), "w"),
                                       stderr=subprocess.STDOUT))
    time.sleep(2 if a.mode == "net" else 1)

    w_before = image_max_write(a.image) if a.image else None
    dst.cmd("migrate-incoming", uri=a.uri)
    # Unlimited bandwidth: QEMU's default (128 MiB/s in 7.2) would make a
    # TCG guest's mostly idle memory the slow part.
    src.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40})
    # QEMU 7.2 completes a migration whose vhost-user backend died on the
    # way (the dirty pages that backend wrote are then unknown): the
    # switch-over is the management's to allow. It pauses before it, and
    # this program, as the management, lets it go on only while every
    # source daemon lives, and otherwise cancels.
    src.cmd("migrate-set-capabilities",
            capabilities=[{"capability": "pause-before-switchover", "state": True}])
    t0 = time.monotonic()
    src.cmd("migrate", uri=a.uri)
    killed_at = None
    info = {}
    status = "none"
    policy = "no pause"
    while time.monotonic() < deadline:
        info = src.cmd("query-migrate")
        status = info.get("status", "none")
        if kill and killed_at is None and status == "active":
            os.kill(a.kill_pid, signal.SIGKILL)
            killed_at = time.monotonic() - t0
            note("source daemon %d SIGKILLed %.2f s into the migration (%s MB sent)" %
                 (a.kill_pid, killed_at, info.get("ram", {}).get("transferred", 0) >> 20))
        if status == "pre-switchover":
            dead = [pid for pid in a.src_daemon if not alive(pid)]
            if dead:
                policy = "paused before switch-over, source daemon %s gone: cancelled" % dead
                src.cmd("migrate_cancel")
            else:
                policy = "paused before switch-over, source daemons alive: continued"
                src.cmd("migrate-continue", state="pre-switchover")
            note(policy)
            # Until the status moves on.
            while src.cmd("query-migrate").get("status") == "pre-switchover":
                time.sleep(0.01)
            continue
        if status in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.02)
    took = time.monotonic() - t0
    note("query-migrate at the end: %s" % json.dumps(info))
    ram = info.get("ram", {})
    detail = "status %s after %.1f s, %d MiB sent, downtime %s ms, total %s ms; %s" % (
        status, took, ram.get("transferred", 0) >> 20, info.get("downtime", "?"),
        info.get("total-time", "?"), policy)
    if info.get("error-desc"):
        detail += ", error: %s" % info["error-desc"]

    if not kill:
        verdict("migration-completed", status == "completed", detail)
        if status != "completed":
            if status not in ("failed", "cancelled"):
                src.cmd("migrate_cancel")
            return
        w_done = image_max_write(a.image) if a.image else None
        # The destination runs the guest now, the source is left paused.
        end = time.monotonic() + 10
        while query_status(dst) != "running" and time.monotonic() < end:
            time.sleep(0.1)
        st_dst, st_src = query_status(dst), query_status(src)
        verdict("destination-runs", st_dst == "running" and st_src == "postmigrate",
                "destination %s, source %s" % (st_dst, st_src))
        try:
            src.cmd("quit")
        except (OSError, EOFError, RuntimeError):
            pass
        if st_dst != "running":
            return                       # the guest is gone
        guest_con, guest_qmp = dst_con, dst
    else:
        verdict("source-daemon-killed-during-migration", killed_at is not None,
                "%.2f s into it" % killed_at if killed_at is not None else "the migration never became active")
        verdict("migration-failed-cleanly", status in ("failed", "cancelled"), detail)
        st_src = query_status(src)
        verdict("source-guest-runs", st_src == "running", "source %s, destination %s" % (
            st_src, query_status(dst)))
        if status not in ("failed", "cancelled", "completed"):
            try:
                src.cmd("migrate_cancel")
            except (OSError, EOFError, RuntimeError):
                pass
        if a.restart:
            subprocess.Popen(a.restart, shell=True)
        w_done = image_max_write(a.image) if a.image else None
        guest_con, guest_qmp = src_con, src
        # The destination has nothing to run.
        try:
            dst.cmd("quit")
        except (OSError, EOFError, RuntimeError):
            pass

    if kill and a.image:
        # The guest's writes go on through the new daemon (QEMU's chardev
        # reconnects to it; requests the dead one held come back through
        # the inflight log).
        end = time.monotonic() + 30
        w = w_done
        while time.monotonic() < end:
            w = image_max_write(a.image)
            if w >= w_done + 8:
                break
            time.sleep(0.2)
        verdict("writes-resume-on-new-daemon", w >= w_done + 8,
                "last write in the image %d when the migration ended, %d now" % (w_done, w))
    time.sleep(2)
    stop_pinger()
    t_stop = time.monotonic()
    guest_con.send("STOP")
    done = guest_con.wait_for("^VIO-DONE", min(60, left()))
    verdict("guest-finished", done is not None,
            "VIO-DONE %.1f s after STOP" % (time.monotonic() - t_stop) if done else
            "no VIO-DONE within 60 s of STOP; status %s" % query_status(guest_qmp))

    if a.image:
        m = re.search(r"^VIO-CHECK mig-blk-verify \S+ .*writes (\d+)$", guest_con.text(), re.M)
        if not m:
            verdict("image-blocks", False, "the guest did not say how many writes it made")
        else:
            total = int(m.group(1))
            ok, why = check_image(a.image, total)
            verdict("image-blocks", ok, why)
            # Writes went on through the migration: some before it began,
            # and some after it ended, where the guest ran then. (It
            # takes under a second here: how many fell inside is noted,
            # not required.)
            verdict("writes-across-migration", 0 <= w_before <= w_done < total - 1,
                    "last write in the image when it began %d, when it ended %d, in all %d" % (
                        w_before, w_done, total))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:   # a broken run must still end in a verdict
        verdict("host-helper", False, repr(e))
        sys.exit(1)
    finally:
        stop_pinger()
