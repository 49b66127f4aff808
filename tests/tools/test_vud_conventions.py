#!/usr/bin/env python3
"""test_vud_conventions.py - the daemons' conventions and their log, as TAP.

    test_vud_conventions.py VHOST_USER_RNG VHOST_USER_BLK VHOST_USER_NET

What test_vud.py (hostile frontends) leaves out, tested as a user runs the
daemons:

  - --fd=N: a socket the test made (a socketpair) is served, and the daemon
    ends by itself, status 0, when the test closes its end;
  - --print-capabilities: its output parsed as JSON, the type and the
    features list checked;
  - --stats-json: one JSON object per queue on stdout per SIGUSR1 (and per
    --stats-interval, for one daemon), every key of the schema (tools/vhost-user/vud_stats.h)
    there, the kicks the test made counted, no text stats on stderr;
  - a flood: 100,000 malformed vhost-user messages on one connection (four
    kinds, each one refused with one log line, none ending the connection);
    the log stays under 200 lines, the suppressed counts plus the lines
    logged add up to exactly 100,000, and the daemon still answers
    GET_FEATURES on that connection afterwards;
  - the same with 100,000 blk requests with a short header, posted on a
    raw split ring the test writes itself, and a good read after them;
  - --log-timestamps: an RFC 3339 UTC time in front of each line;
  - --syslog: lines arrive as syslog datagrams (facility daemon, the level
    as priority) on a /dev/log the test provides (a private mount
    namespace, as root), and none on stderr.

The installed discovery files are checked by test_install.sh.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_vud as vud  # noqa: E402  (its Daemon, Frontend and ring set-up; argv 1, 2 match)
from test_vud import (Daemon, Frontend, tap, start_ring, results,  # noqa: E402
                      GET_FEATURES, SET_FEATURES, SET_VRING_NUM, HDR, VERSION, F_VERSION_1)

RNG, BLK, NET = sys.argv[1], sys.argv[2], sys.argv[3]
vud.DAEMONS["vhost-user-net"] = [NET, "--reflect"]
TMP = vud.TMP
FLOOD = 100000
LOG_BOUND = 200


def t_fd(name):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log = open(os.path.join(TMP, "fd-%s.log" % name), "w+")
    proc = subprocess.Popen(vud.DAEMONS[name] + ["--fd=%d" % b.fileno()], pass_fds=[b.fileno()],
                            stdout=log, stderr=subprocess.STDOUT)
    b.close()
    fe = Frontend.__new__(Frontend)
    fe.s = a
    a.settimeout(5.0)
    try:
        features = fe.get_u64(GET_FEATURES)
    except (OSError, EOFError, RuntimeError) as e:
        features = repr(e)
    a.close()
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "did not end"
    log.seek(0)
    text = log.read()
    log.close()
    tap(isinstance(features, int) and features & F_VERSION_1 and rc == 0,
        "%s --fd: serves the socket it was given, ends with 0 when that frontend leaves" % name,
        "features %s, status %s\n%s" % (features, rc, text))


def t_print_capabilities(name, want_type, want_features):
    p = subprocess.run(vud.DAEMONS[name][:1] + ["--print-capabilities"], capture_output=True,
                       text=True, timeout=10)
    try:
        caps = json.loads(p.stdout)
        ok = (p.returncode == 0 and caps.get("type") == want_type and
              isinstance(caps.get("features"), list) and
              all(isinstance(f, str) for f in caps["features"]) and
              set(want_features) <= set(caps["features"]))
    except ValueError as e:
        ok, caps = False, repr(e)
    tap(ok, "%s --print-capabilities: JSON, type %s, features %s"
        % (name, want_type, want_features or "[]"),
        "status %d\nstdout %s\nparsed %s\nstderr %s" % (p.returncode, p.stdout, caps, p.stderr))


SCHEMA_KEYS = {"schema", "daemon", "port", "queue", "time", "state", "counters"}


def json_lines(text):
    out = []
    for line in text.splitlines():
        out.append(json.loads(line))
    return out


class SplitDaemon(Daemon):
    """A Daemon whose stdout goes to a file of its own (self.out)."""

    def __init__(self, name, extra=()):
        Daemon.seq += 1
        self.name = name
        self.sock = os.path.join(TMP, "s%d.sock" % Daemon.seq)
        self.log = open(os.path.join(TMP, "s%d.log" % Daemon.seq), "w+")
        self.out = open(os.path.join(TMP, "s%d.out" % Daemon.seq), "w+")
        self.proc = subprocess.Popen(vud.DAEMONS[name] + ["--socket-path=" + self.sock] +
                                     list(extra), stdout=self.out, stderr=self.log)
        deadline = time.monotonic() + vud.START_TIMEOUT
        while not vud.listening(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("%s did not start: %s" % (name, self.logtext()))
            time.sleep(0.02)


def t_stats_json(name, nq, device_counter, interval):
    """SIGUSR1, and with interval an --stats-interval=1 tick too."""
    d = SplitDaemon(name, ["--stats-json"] + (["--stats-interval=1"] if interval else []))
    out = d.out
    fe = Frontend(d.sock)
    kick = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    err = ""
    objs = []
    try:
        start_ring(fe, False, kick)
        for _ in range(3):
            os.eventfd_write(kick, 1)
            time.sleep(0.05)
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGUSR1)
        time.sleep(1.3 if interval else 0.3)    # and, with interval, one tick
    except Exception as e:  # noqa: BLE001
        err = repr(e)
    finally:
        fe.close()
        os.close(kick)
    ok = d.terminate()
    out.seek(0)
    text = out.read()
    out.close()
    try:
        objs = json_lines(text)
    except ValueError as e:
        err += " not JSON: " + repr(e)
    queue0 = [o for o in objs if o.get("queue") == 0]
    rounds = 2 if interval else 1
    good = (ok and not err and len(objs) >= rounds * nq and len(queue0) >= rounds and
            all(set(o) == SCHEMA_KEYS and o["schema"] == 1 and o["daemon"] == name and
                o["port"] == 0 and isinstance(o["time"], float) and
                abs(o["time"] - time.time()) < 60 and o["state"] in ("running", "stopped") and
                all(isinstance(v, int) and v >= 0 for v in o["counters"].values())
                for o in objs) and
            {o["queue"] for o in objs} == set(range(nq)) and
            all({"kicks", "interrupts", "interrupts_suppressed", device_counter} <=
                set(o["counters"]) for o in queue0) and
            queue0[0]["state"] == "running" and queue0[0]["counters"]["kicks"] >= 1 and
            "kicks" not in d.logtext())
    tap(good, "%s --stats-json: a JSON object per queue on stdout on SIGUSR1%s, "
        "the schema's keys, kicks counted, no text stats"
        % (name, " and per --stats-interval" if interval else ""),
        "%s\nstdout:\n%s\nstderr:\n%s" % (err, text[-3000:], d.logtext()))


def t_stats_json_switch():
    """vhost-user-net --switch: each port's queues, then an object of the
    port's own (queue null, state "port") with the switch's counters."""
    socks = [os.path.join(TMP, "sw%d.sock" % k) for k in range(2)]
    out = open(os.path.join(TMP, "sw.out"), "w+")
    err = open(os.path.join(TMP, "sw.err"), "w+")
    proc = subprocess.Popen([NET, "--switch", "--stats-json"] +
                            ["--socket-path=" + s for s in socks], stdout=out, stderr=err)
    deadline = time.monotonic() + vud.START_TIMEOUT
    while not all(vud.listening(s) for s in socks) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGUSR1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "did not end"
    out.seek(0)
    text = out.read()
    err.seek(0)
    errtext = err.read()
    out.close()
    err.close()
    try:
        objs = json_lines(text)
    except ValueError as e:
        objs = []
        errtext += "\nnot JSON: " + repr(e)
    ports = [o for o in objs if o.get("queue") is None]
    tap(rc == 0 and len(objs) == 2 * 4 and [o["port"] for o in ports] == [0, 1] and
        all(o["state"] == "port" and "switch_in_frames" in o["counters"] for o in ports) and
        all(set(o) == SCHEMA_KEYS for o in objs) and
        any(o.get("queue") == 0 and "rx_frames" in o["counters"] and
            o["counters"].get("pair") == 0 for o in objs),
        "vhost-user-net --switch --stats-json: each port's queues, then the port's own object "
        "(queue null) with the switch's counters", "status %s\n%s\n%s" % (rc, text, errtext))


def flood_messages():
    """FLOOD malformed messages, four kinds in turn, each refused by the
    backend with one log line and the connection kept."""
    kinds = [
        HDR.pack(200, VERSION, 0),                                  # unknown request
        HDR.pack(SET_VRING_NUM, VERSION, 8) + struct.pack("<II", 1000, 8),  # no such ring
        HDR.pack(SET_OWNER, VERSION | 0x80, 0),                     # unknown flag
        HDR.pack(SET_FEATURES, VERSION, 4) + b"\0\0\0\0",           # short payload
    ]
    return b"".join(kinds[i % 4] for i in range(FLOOD))


def t_flood(name):
    d = Daemon(name)
    fe = Frontend(d.sock, timeout=60)
    t0 = time.monotonic()
    err = ""
    features = None
    try:
        fe.s.sendall(flood_messages())
        features = fe.get_u64(GET_FEATURES)     # after all of them, on the same connection
    except (OSError, EOFError, RuntimeError) as e:
        err = repr(e)
    took = time.monotonic() - t0
    fe.close()
    ok = d.terminate()
    log = d.logtext().splitlines()
    malformed = [ln for ln in log if re.search(
        r"is not supported|SET_VRING_NUM for queue|SET_OWNER with flags|"
        r"SET_FEATURES with a 4-byte payload", ln) and "suppressed" not in ln]
    counts = [int(m.group(1)) for m in
              (re.search(r"(\d+) (?:similar|more) messages suppressed", ln) for ln in log) if m]
    tap(ok and not err and isinstance(features, int) and features & F_VERSION_1 and
        len(log) < LOG_BOUND and len(malformed) + sum(counts) == FLOOD,
        "%s: %d malformed messages: %d log lines (under %d), %d logged + %d counted "
        "as suppressed = %d, and GET_FEATURES answered after them (%.1f s)"
        % (name, FLOOD, len(log), LOG_BOUND, len(malformed), sum(counts),
           len(malformed) + sum(counts), took),
        "%s\n%s" % (err, "\n".join(log[:60])))


# The raw ring of t_blk_ring_flood: split, 256 entries, in 64 KiB of memfd
# the daemon maps (guest addresses from 0, the frontend's at UVA).
QSIZE, UVA, MEM = 256, 0x7f0000000000, 65536
DESC, AVAIL, USED, HDRS, STATUS, DATA = 0x0, 0x1000, 0x2000, 0x4000, 0x5000, 0x6000
SET_OWNER, SET_MEM_TABLE, SET_VRING_ADDR, SET_VRING_KICK, SET_VRING_CALL = 3, 5, 9, 12, 13
F_NEXT, F_WRITE = 1, 2


def blk_ring(fe):
    """Queue 0 of a blk daemon on a ring this test writes; (mmap, kick fd)."""
    import mmap
    offered = fe.get_u64(GET_FEATURES)
    if not offered & F_VERSION_1:
        raise RuntimeError("VERSION_1 not offered (%#x)" % offered)
    fe.send(SET_OWNER)
    fe.send(SET_FEATURES, struct.pack("<Q", F_VERSION_1))
    mem = os.memfd_create("vud-test-ring")
    os.ftruncate(mem, MEM)
    mm = mmap.mmap(mem, MEM)
    call = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    kick = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    fe.send(SET_MEM_TABLE, struct.pack("<II4Q", 1, 0, 0, MEM, UVA, 0), [mem])
    fe.send(SET_VRING_NUM, struct.pack("<II", 0, QSIZE))
    fe.send(SET_VRING_ADDR, struct.pack("<II4Q", 0, 0, UVA + DESC, UVA + USED, UVA + AVAIL, 0))
    fe.send(SET_VRING_CALL, struct.pack("<Q", 0), [call])
    fe.send(SET_VRING_KICK, struct.pack("<Q", 0), [kick])
    fe.get_u64(GET_FEATURES)        # all of the above handled
    os.close(mem)
    os.close(call)
    return mm, kick


def blk_round(mm, kick, avail_idx, chains):
    """Posts chains (lists of (addr, len, writable)) as one batch, kicks,
    and waits until the device has used them all. Returns the new avail
    index."""
    d = 0
    for n, chain in enumerate(chains):
        head = d
        for k, (addr, length, writable) in enumerate(chain):
            flags = (F_WRITE if writable else 0) | (F_NEXT if k + 1 < len(chain) else 0)
            struct.pack_into("<QIHH", mm, DESC + 16 * d, addr, length, flags,
                             d + 1 if flags & F_NEXT else 0)
            d += 1
        struct.pack_into("<H", mm, AVAIL + 4 + 2 * ((avail_idx + n) % QSIZE), head)
    avail_idx = (avail_idx + len(chains)) & 0xffff
    struct.pack_into("<H", mm, AVAIL + 2, avail_idx)
    os.eventfd_write(kick, 1)
    deadline = time.monotonic() + 10
    while struct.unpack_from("<H", mm, USED + 2)[0] != avail_idx:
        if time.monotonic() > deadline:
            raise RuntimeError("the device used %d of avail %d"
                               % (struct.unpack_from("<H", mm, USED + 2)[0], avail_idx))
        time.sleep(0.0002)
    return avail_idx


def t_blk_ring_flood():
    """FLOOD blk requests whose header is 8 bytes (16 are needed), each
    answered IOERR with a log line by the device, through a raw ring; then
    a good read."""
    name = "vhost-user-blk"
    d = Daemon(name)
    fe = Frontend(d.sock, timeout=10)
    err, status, t0 = "", None, time.monotonic()
    try:
        mm, kick = blk_ring(fe)
        bad = [[(HDRS + 16 * i, 8, False), (STATUS + i, 1, True)] for i in range(QSIZE // 2)]
        idx, sent = 0, 0
        while sent < FLOOD:
            batch = bad[:min(len(bad), FLOOD - sent)]
            idx = blk_round(mm, kick, idx, batch)
            sent += len(batch)
        struct.pack_into("<IIQ", mm, HDRS, 0, 0, 0)        # VIRTIO_BLK_T_IN, sector 0
        mm[STATUS] = 0xff
        blk_round(mm, kick, idx, [[(HDRS, 16, False), (DATA, 512, True), (STATUS, 1, True)]])
        status = mm[STATUS]
        os.close(kick)
        mm.close()
    except (OSError, EOFError, RuntimeError) as e:
        err = repr(e)
    took = time.monotonic() - t0
    fe.close()
    ok = d.terminate()
    log = d.logtext().splitlines()
    refused = [ln for ln in log if "blk: queue 0: request" in ln and "suppressed" not in ln]
    counts = [int(m.group(1)) for m in
              (re.search(r"(\d+) (?:similar|more) messages suppressed", ln) for ln in log) if m]
    tap(ok and not err and status == 0 and len(log) < LOG_BOUND and
        len(refused) + sum(counts) == FLOOD,
        "%s: %d requests with a short header through a raw ring: %d log lines (under %d), "
        "%d logged + %d counted as suppressed, and a read after them succeeds (%.1f s)"
        % (name, FLOOD, len(log), LOG_BOUND, len(refused), sum(counts), took),
        "%s status %s\n%s" % (err, status, "\n".join(log[:60])))


def t_timestamps(name):
    d = Daemon(name, ["--log-timestamps"])
    ok = d.terminate()
    lines = d.logtext().splitlines()
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z %s: " % name)
    tap(ok and len(lines) >= 2 and all(stamp.match(ln) for ln in lines) and
        any("listening on" in ln for ln in lines),
        "%s --log-timestamps: every line starts with an RFC 3339 UTC time" % name,
        "\n".join(lines))


def t_syslog(name):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        tap(False, "%s --syslog: needs root and unshare(1) for a private /dev/log" % name)
        return
    dev = os.path.join(TMP, "dev")
    os.mkdir(dev)
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(os.path.join(dev, "log"))
    sink.settimeout(0.2)
    sock = os.path.join(TMP, "syslog.sock")
    errlog = open(os.path.join(TMP, "syslog.stderr"), "w+")
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount --bind "$0" /dev && exec "$@"', dev] + vud.DAEMONS[name] +
        ["--socket-path=" + sock, "--syslog"], stdout=errlog, stderr=subprocess.STDOUT)
    got = []
    try:
        deadline = time.monotonic() + vud.START_TIMEOUT
        while not vud.listening(sock) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        fe = Frontend(sock)
        fe.send(200)                            # refused: an error line
        fe.get_u64(GET_FEATURES)
        fe.close()
        time.sleep(0.2)
    except (OSError, EOFError, RuntimeError) as e:
        got.append("fixture: " + repr(e))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "did not end"
    while True:
        try:
            got.append(sink.recv(4096).decode(errors="replace"))
        except (socket.timeout, BlockingIOError):
            break
    sink.close()
    errlog.seek(0)
    stderr = errlog.read()
    errlog.close()
    # <PRI>: facility daemon (3) * 8 + level: 30 info, 27 error.
    tagged = re.compile(r"^<(\d+)>.*%s\[\d+\]: " % name)
    info = [m for m in got if tagged.match(m) and m.startswith("<30>") and "listening on" in m]
    error = [m for m in got if tagged.match(m) and m.startswith("<27>") and "is not supported" in m]
    tap(rc == 0 and info and error and "listening on" not in stderr and
        "is not supported" not in stderr,
        "%s --syslog: lines go to /dev/log as facility daemon with their level, not to stderr"
        % name, "status %s\nsyslog:\n%s\nstderr:\n%s" % (rc, "\n".join(got), stderr))


def main():
    print("TAP version 13")
    try:
        for name in ("vhost-user-rng", "vhost-user-blk", "vhost-user-net"):
            t_fd(name)
        t_print_capabilities("vhost-user-rng", "rng", [])
        t_print_capabilities("vhost-user-blk", "block", ["read-only", "blk-file"])
        t_print_capabilities("vhost-user-net", "net", [])
        t_stats_json("vhost-user-rng", 1, "malformed", True)
        t_stats_json("vhost-user-blk", 1, "requests", False)
        t_stats_json("vhost-user-net", 3, "rx_frames", False)
        t_stats_json_switch()
        t_flood("vhost-user-rng")
        t_flood("vhost-user-blk")
        t_blk_ring_flood()
        t_timestamps("vhost-user-rng")
        t_syslog("vhost-user-rng")
    except Exception as e:  # a broken fixture is a failure, not a crash
        tap(False, "fixture", repr(e))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
