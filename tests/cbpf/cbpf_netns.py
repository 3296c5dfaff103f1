"""A network namespace with a veth pair, and AF_PACKET sockets in it: the kernel's own
verdict for a socket filter on real frames.

Frames go out of ``va`` through an AF_PACKET socket and arrive on ``vb``, where two
AF_PACKET sockets listen: one without a filter (to know when every frame has arrived) and
one with the filter under test. Every frame has a distinct length as received (after the
kernel took a VLAN tag off), and ``PACKET_AUXDATA`` tells each received frame's original
length, so a verdict that truncates the frame (``ret #k``, ``ret a``) still names it.
"""

from __future__ import annotations

import ctypes

import os
import select
import socket
import struct
import subprocess
import time
from typing import Callable, Sequence

from pybpf.cbpf.machine import as_received

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET, PACKET_AUXDATA, PACKET_IGNORE_OUTGOING = 263, 8, 23
SO_RCVBUFFORCE = 33
_AUX = struct.Struct("=IIIHHHH")        # struct tpacket_auxdata
_libc = ctypes.CDLL(None, use_errno=True)


def available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return False, "ip netns does not work here"
    return True, ""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class VethPair:
    """``ip netns add``; veth va <-> vb (MACs 02:..:01 / 02:..:02); IPv6 off (no stray
    router solicitations); sockets opened inside with setns and back."""

    def __init__(self, mac_a: bytes, mac_b: bytes):
        self.name = f"pybpf-cbpf-{os.getpid()}"
        self.mac_a, self.mac_b = mac_a, mac_b

    def __enter__(self) -> "VethPair":
        _ip("netns", "add", self.name)
        try:
            subprocess.run(["ip", "netns", "exec", self.name, "sysctl", "-q", "-w",
                            "net.ipv6.conf.all.disable_ipv6=1",
                            "net.ipv6.conf.default.disable_ipv6=1"], check=True,
                           capture_output=True)
            n = ("-n", self.name)
            _ip(*n, "link", "add", "va", "address", self.mac_a.hex(":"), "type", "veth",
                "peer", "name", "vb", "address", self.mac_b.hex(":"))
            _ip(*n, "link", "set", "va", "up")
            _ip(*n, "link", "set", "vb", "up")
            _ip(*n, "link", "set", "lo", "up")
            self.sender = self._socket("va")
            self.reference = self._socket("vb")
            self.ifindex_b = self._inside(lambda: socket.if_nametoindex("vb"))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for attr in ("sender", "reference"):
            s = getattr(self, attr, None)
            if s is not None:
                s.close()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def _inside(self, fn: Callable[[], object]) -> object:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/var/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            try:
                return fn()
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(own)
            os.close(target)

    def _socket(self, dev: str) -> socket.socket:
        def make() -> socket.socket:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
            s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
            return s
        s = self._inside(make)
        self._dev = dev
        return s

    def receiver(self, attach: Callable[[socket.socket], None]) -> socket.socket:
        """An AF_PACKET socket on vb with a filter: attached before binding, so that no
        frame gets in unfiltered."""
        s = self._socket("vb")
        attach(s)
        self._inside(lambda: s.bind(("vb", ETH_P_ALL)))
        return s

    def verdicts(self, attach: Callable[[socket.socket], None],
                 frames: Sequence[bytes]) -> list[int]:
        """For each frame: how many bytes the filtered socket got (0: dropped)."""
        received = {len(as_received(f)[0]): i for i, f in enumerate(frames)}
        assert len(received) == len(frames), "frames need distinct received lengths"
        if not hasattr(self, "_bound"):
            self._inside(lambda: self.reference.bind(("vb", ETH_P_ALL)))
            self._inside(lambda: self.sender.bind(("va", ETH_P_ALL)))
            self._bound = True
        _drain(self.reference)
        out = [0] * len(frames)
        with self.receiver(attach) as filtered:
            fence = next(n for n in range(1514, 60, -1) if n not in received)
            for f in frames:
                self.sender.send(f)
            self.sender.send(self.mac_b + self.mac_a + b"\x88\xb5" + bytes(fence - 14))
            deadline = time.monotonic() + 10
            while True:
                got = _read(self.reference, deadline)
                if got is None:
                    raise TimeoutError("the fence frame did not arrive")
                if got[0] == fence:
                    break
            while (got := _read(filtered, 0)) is not None:
                length, snap = got
                if length in received:
                    out[received[length]] = snap
        return out


def _read(s: socket.socket, deadline: float) -> tuple[int, int] | None:
    """(original length, bytes received) of the next frame, None when none came in time."""
    while True:
        timeout = max(0.0, deadline - time.monotonic()) if deadline else 0.0
        if not select.select([s], [], [], timeout)[0]:
            return None
        try:
            data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(_AUX.size), socket.MSG_DONTWAIT)
        except BlockingIOError:
            continue
        for level, kind, payload in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA:
                _, tp_len, tp_snaplen, *_ = _AUX.unpack_from(payload)
                return tp_len, tp_snaplen
        return len(data), len(data)


def _drain(s: socket.socket) -> None:
    while _read(s, 0) is not None:
        pass


__all__ = ["VethPair", "available"]

