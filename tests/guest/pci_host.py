#!/usr/bin/env python3
"""pci_host.py - the host's half of tests/guest/pci_drv.sh.

The guest (tests/guest/vio_pci_check.c) drives QEMU's own virtio-pci
devices with libvio's drivers; this program is what those devices are
connected to on the host, and it checks what arrives there:

  serve     Runs alongside one QEMU boot. Before QEMU starts it listens on
            the unix socket of the virtconsole's chardev (QEMU connects as
            a client) and binds the UDP port of QEMU's socket netdev, then
            writes the ports to --ready. Then, each on a thread of its own:
              console  reads the bytes the guest's console driver sends,
                       checks them against the pattern, and sends the
                       guest its own pattern back;
              net      receives the frames the guest's net driver sends
                       (one UDP datagram per frame), checks count and
                       contents, and sends frames back to the guest's MAC;
              link     over QMP: once the guest prints VIO-NET-LINK-READY,
                       set_link off, and once it prints VIO-NET-LINK-DOWN,
                       set_link on (the guest checks it saw both);
              balloon  over QMP: once the guest prints VIO-BALLOON-READY
                       on its serial console, asks for a smaller balloon
                       target, waits until query-balloon reports it, waits
                       for the guest's VIO-BALLOON-INFLATED, asks for the
                       full size again and waits for that too.
            Each verdict is a line "HOST-CHECK NAME PASS|FAIL DETAIL" on
            stdout. It returns when QEMU has gone (its QMP socket closed)
            or at --timeout.
  image     Checks the blk image after the guest: the pattern the guest
            wrote at its offset, and zeros where the guest discarded.

The patterns, lengths and counts here are the guest program's: change
them in both places (vio_pci_check.c, "what the host checks").
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

# --- shared with vio_pci_check.c ------------------------------------------

BLK_DATA_OFF = 1 << 20          # bytes: the pattern the guest writes and keeps
BLK_DATA_LEN = 256 << 10
BLK_DISCARD_OFF = 4 << 20       # written, then discarded by the guest
BLK_DISCARD_LEN = 1 << 20
BLK_ZERO_OFF = 6 << 20          # zeroed by the guest's WRITE_ZEROES
BLK_ZERO_LEN = 256 << 10

NET_G2H_FRAMES = 32             # frames the guest sends (ethertype 0x88b5)
NET_H2G_FRAMES = 32             # frames the host sends back (ethertype 0x88b6)
NET_G2H_TYPE = 0x88b5
NET_H2G_TYPE = 0x88b6
HOST_MAC = bytes.fromhex("525400aabbcc")
GUEST_MAC = bytes.fromhex("525400123456")   # pci_drv.sh's mac= for virtio-net-pci

CON_G2H_LEN = 6000              # bytes the guest's console sends
CON_H2G_LEN = 5000              # bytes the host sends back


def mix32(x):
    """The 32-bit mixing function of the blk pattern (vio_pci_check.c)."""
    x &= 0xffffffff
    x = (x * 0x9E3779B1) & 0xffffffff
    x ^= x >> 15
    x = (x * 0x85EBCA77) & 0xffffffff
    x ^= x >> 13
    return x


def blk_pattern(off, length, seed):
    """Bytes [off, off + length) of the disk as the guest writes them: one
    mixed 32-bit little-endian word per 4 bytes of disk offset."""
    assert off % 4 == 0 and length % 4 == 0
    return b"".join(struct.pack("<I", mix32(((off + i) >> 2) ^ seed))
                    for i in range(0, length, 4))


def net_frame_len(i, mul):
    return 60 + (i * mul) % 1455


def net_g2h_payload(i, n):
    """Bytes after the 14-byte Ethernet header of the guest's frame i."""
    head = b"VIOG" + struct.pack(">HH", i, n)
    body = bytes(((i * 31 + j * 7) & 0xff) for j in range(n - 14 - len(head)))
    return head + body


def net_h2g_payload(i, n):
    head = b"VIOH" + struct.pack(">HH", i, n)
    body = bytes(((i * 13 + j * 3 + 1) & 0xff) for j in range(n - 14 - len(head)))
    return head + body


def con_g2h(n):
    return bytes(((j * 11 + 3) & 0xff) for j in range(n))


def con_h2g(n):
    return bytes(((j * 5 + 7) & 0xff) for j in range(n))

# --------------------------------------------------------------------------


out_lock = threading.Lock()
stop = threading.Event()
console_conn = []          # the console connection, once QEMU made it


def verdict(name, ok, detail):
    with out_lock:
        print("HOST-CHECK %s %s %s" % (name, "PASS" if ok else "FAIL", detail), flush=True)


def note(msg):
    with out_lock:
        print("pci_host: " + msg, file=sys.stderr, flush=True)


class Serial:
    """The guest's serial console, as QEMU writes it to a file."""

    def __init__(self, path):
        self.path = path

    def text(self):
        try:
            with open(self.path, "rb") as f:
                return f.read().decode("latin-1").replace("\r", "")
        except OSError:
            return ""

    def wait_line(self, prefix, timeout, *others):
        """Waits for a line holding prefix (or one of others); returns
        it, or None at the timeout or when the guest finished (VIO-DONE)
        without it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not stop.is_set():
            text = self.text()
            for line in text.split("\n"):
                if any(p in line for p in (prefix,) + others):
                    return line
            if "\nVIO-DONE" in text:
                return None
            time.sleep(0.1)
        return None


class Qmp:
    def __init__(self, path, timeout):
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
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
                raise RuntimeError("%s: %s" % (command, r["error"]))
            return r.get("return")

    def wait_closed(self, timeout):
        """Returns True once QEMU closed the socket (it exited)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except socket.timeout:
            return False
        except OSError:
            return True


def balloon_actual(qmp):
    return qmp.cmd("query-balloon")["actual"]


def wait_actual(qmp, want, timeout):
    end = time.monotonic() + timeout
    got = None
    while time.monotonic() < end:
        got = balloon_actual(qmp)
        if got == want:
            return True, got
        time.sleep(0.2)
    return False, got


def run_link(qmp, serial, timeout):
    """Takes the guest's link down once it is ready, and up again once it
    saw that. The guest checks what it saw (net-link); a guest that skips
    this (its net device failed) goes on to the balloon."""
    line = serial.wait_line("VIO-NET-LINK-READY", timeout, "VIO-BALLOON-READY")
    if line is None or "VIO-NET-LINK-READY" not in line:
        note("the guest did not get to the link check")
        return
    qmp.cmd("set_link", name="n0", up=False)
    if serial.wait_line("VIO-NET-LINK-DOWN", 40) is None:
        note("the guest did not say VIO-NET-LINK-DOWN")
    qmp.cmd("set_link", name="n0", up=True)


def run_balloon(qmp, serial, ram_mib, balloon_mib, timeout):
    mib = 1 << 20
    full = ram_mib * mib
    small = (ram_mib - balloon_mib) * mib
    if serial.wait_line("VIO-BALLOON-READY", timeout) is None:
        verdict("balloon-inflate-qemu", False, "the guest never said VIO-BALLOON-READY")
        verdict("balloon-deflate-qemu", False, "not reached")
        return
    before = balloon_actual(qmp)
    qmp.cmd("balloon", value=small)
    ok, got = wait_actual(qmp, small, 40)
    verdict("balloon-inflate-qemu", ok and before == full,
            "query-balloon actual %d MiB (was %d MiB), asked %d MiB"
            % ((got or 0) // mib, before // mib, small // mib))
    if serial.wait_line("VIO-BALLOON-INFLATED", 40) is None:
        note("the guest did not say VIO-BALLOON-INFLATED; asking for the full size anyway")
    qmp.cmd("balloon", value=full)
    ok, got = wait_actual(qmp, full, 40)
    verdict("balloon-deflate-qemu", ok,
            "query-balloon actual %d MiB, asked %d MiB" % ((got or 0) // mib, full // mib))


def run_console(lsock, deadline):
    name = "console-guest-to-host"
    lsock.settimeout(max(1, deadline - time.monotonic()))
    try:
        conn, _ = lsock.accept()
    except OSError as e:
        verdict(name, False, "QEMU never connected to the console socket (%s)" % e)
        return
    console_conn.append(conn)
    got = b""
    conn.settimeout(0.5)
    while len(got) < CON_G2H_LEN and time.monotonic() < deadline and not stop.is_set():
        try:
            data = conn.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        got += data
    want = con_g2h(CON_G2H_LEN)
    if got == want:
        verdict(name, True, "%d bytes, as sent" % len(got))
    elif len(got) < CON_G2H_LEN:
        verdict(name, False, "%d of %d bytes arrived" % (len(got), CON_G2H_LEN))
        return
    else:
        bad = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), len(want))
        verdict(name, False, "%d bytes, first difference at byte %d" % (len(got), bad))
    try:
        conn.sendall(con_h2g(CON_H2G_LEN))
        note("console: sent %d bytes to the guest" % CON_H2G_LEN)
        # Keep the connection open: closing it could cut what QEMU has not
        # read yet. The thread ends with the program.
        while not stop.is_set():
            try:
                if not conn.recv(65536):
                    break
            except socket.timeout:
                continue
    except OSError as e:
        note("console: %s" % e)


def run_net(usock, qemu_port, deadline):
    name = "net-guest-to-host"
    frames = {}
    others = 0
    errors = []
    guest_mac = None
    usock.settimeout(0.5)
    while len(frames) < NET_G2H_FRAMES and time.monotonic() < deadline and not stop.is_set():
        try:
            f, _ = usock.recvfrom(65536)
        except socket.timeout:
            continue
        if len(f) < 22 or struct.unpack(">H", f[12:14])[0] != NET_G2H_TYPE or f[14:18] != b"VIOG":
            others += 1
            continue
        i, n = struct.unpack(">HH", f[18:22])
        if i >= NET_G2H_FRAMES or n != net_frame_len(i, 45):
            errors.append("frame seq %d length field %d" % (i, n))
            continue
        if len(f) != n:
            errors.append("frame %d: %d bytes, expected %d" % (i, len(f), n))
        elif f[14:] != net_g2h_payload(i, n):
            errors.append("frame %d: payload differs" % i)
        elif f[0:6] != b"\xff" * 6:
            errors.append("frame %d: destination %s" % (i, f[0:6].hex()))
        elif f[6:12] != GUEST_MAC:
            errors.append("frame %d: source %s, not QEMU's mac=" % (i, f[6:12].hex(":")))
        if i in frames:
            errors.append("frame %d twice" % i)
        frames[i] = f
        guest_mac = f[6:12]
    ok = len(frames) == NET_G2H_FRAMES and not errors
    verdict(name, ok, "%d of %d frames%s%s" % (
        len(frames), NET_G2H_FRAMES, ", " + "; ".join(errors[:3]) if errors else "",
        ", %d other datagrams" % others if others else ""))
    if guest_mac is None:
        note("net: no frame from the guest, so none sent back")
        return
    for i in range(NET_H2G_FRAMES):
        n = net_frame_len(i, 97)
        frame = guest_mac + HOST_MAC + struct.pack(">H", NET_H2G_TYPE) + net_h2g_payload(i, n)[0:]
        assert len(frame) == n
        usock.sendto(frame, ("127.0.0.1", qemu_port))
        # A burst larger than the guest's receive ring would be dropped
        # by QEMU; the ring holds far more than 32, but stay gentle.
        time.sleep(0.005)
    note("net: sent %d frames to %s" % (NET_H2G_FRAMES, guest_mac.hex(":")))


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serve(a):
    deadline = time.monotonic() + a.timeout
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(a.console)
    lsock.listen(1)
    usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    usock.bind(("127.0.0.1", 0))
    host_port = usock.getsockname()[1]
    qemu_port = free_udp_port()
    with open(a.ready + ".tmp", "w") as f:
        f.write("%d %d\n" % (host_port, qemu_port))
    os.rename(a.ready + ".tmp", a.ready)

    threads = [threading.Thread(target=run_console, args=(lsock, deadline), daemon=True),
               threading.Thread(target=run_net, args=(usock, qemu_port, deadline), daemon=True)]
    for t in threads:
        t.start()
    serial = Serial(a.serial)
    try:
        qmp = Qmp(a.qmp, 60)
    except Exception as e:
        verdict("qmp", False, "cannot reach QEMU's QMP socket: %s" % e)
        return
    try:
        run_link(qmp, serial, max(1, deadline - time.monotonic()))
        run_balloon(qmp, serial, a.ram_mib, a.balloon_mib, max(1, deadline - time.monotonic()))
        # The guest waits for this before it powers off (QMP needs QEMU).
        if console_conn and serial.wait_line("VIO-WAIT-HOST", max(1, deadline - time.monotonic())):
            try:
                console_conn[0].sendall(b"DONE")
            except OSError as e:
                note("console: DONE not sent: %s" % e)
        qmp.wait_closed(max(1, deadline - time.monotonic()))
    except Exception as e:      # a verdict, not a traceback nobody reads
        note("QMP: %r" % e)
        verdict("qmp", False, "%r" % e)
    stop.set()
    for t in threads:
        t.join(2)


def image(a):
    with open(a.image, "rb") as f:
        f.seek(BLK_DATA_OFF)
        data = f.read(BLK_DATA_LEN)
        f.seek(BLK_DISCARD_OFF)
        disc = f.read(BLK_DISCARD_LEN)
        f.seek(BLK_ZERO_OFF)
        zero = f.read(BLK_ZERO_LEN)
    want = blk_pattern(BLK_DATA_OFF, BLK_DATA_LEN, a.seed)
    if data == want:
        verdict("blk-image-data", True, "%d KiB at %d KiB hold the guest's pattern"
                % (BLK_DATA_LEN >> 10, BLK_DATA_OFF >> 10))
    else:
        bad = next((i for i in range(len(data)) if data[i] != want[i]), len(data))
        verdict("blk-image-data", False, "first difference at byte %d of %d KiB at %d KiB"
                % (bad, BLK_DATA_LEN >> 10, BLK_DATA_OFF >> 10))
    nz = sum(1 for i in range(0, len(disc), 4096) if disc[i:i + 4096].count(0) != 4096)
    verdict("blk-image-discarded", nz == 0 and len(disc) == BLK_DISCARD_LEN,
            "%d of %d 4-KiB blocks at %d KiB not zero after the guest's discard"
            % (nz, BLK_DISCARD_LEN // 4096, BLK_DISCARD_OFF >> 10))
    nz = sum(1 for i in range(0, len(zero), 4096) if zero[i:i + 4096].count(0) != 4096)
    verdict("blk-image-zeroed", nz == 0 and len(zero) == BLK_ZERO_LEN,
            "%d of %d 4-KiB blocks at %d KiB not zero after the guest's write-zeroes"
            % (nz, BLK_ZERO_LEN // 4096, BLK_ZERO_OFF >> 10))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--console", required=True, help="unix socket to listen on for the virtconsole")
    s.add_argument("--qmp", required=True, help="QEMU's QMP socket")
    s.add_argument("--serial", required=True, help="the file QEMU writes the serial console to")
    s.add_argument("--ready", required=True, help="written with 'HOSTPORT QEMUPORT' when listening")
    s.add_argument("--ram-mib", type=int, default=512)
    s.add_argument("--balloon-mib", type=int, default=16)
    s.add_argument("--timeout", type=float, default=150)
    i = sub.add_parser("image")
    i.add_argument("--image", required=True)
    i.add_argument("--seed", type=int, required=True)
    a = p.parse_args()
    if a.mode == "serve":
        serve(a)
    else:
        image(a)


if __name__ == "__main__":
    main()
