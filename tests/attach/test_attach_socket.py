"""Socket filters: SO_ATTACH_BPF on a loopback UDP socket keeps one kind of datagram."""

from __future__ import annotations

import errno
import socket

import pytest

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import ProgType
from pybpf.kernel import KernelProgram
from pybpf.kernel.attach import attach, attach_socket

pytestmark = pytest.mark.kernel


def _udp_pair() -> tuple[socket.socket, socket.socket]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return rx, tx


def _drain(rx: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(rx.recv(100))
        except socket.timeout:
            return got


def test_socket_filter_drops_non_matching(load_bpf):
    prog = load_bpf("socket_filter").programs["keep_k"]
    rx, tx = _udp_pair()
    with rx, tx:
        with attach_socket(prog, rx) as link:
            for payload in (b"Keep 1", b"drop 1", b"Keep 2", b"drop 2"):
                tx.sendto(payload, rx.getsockname())
            assert _drain(rx) == [b"Keep 1", b"Keep 2"]
            assert "socket filter" in repr(link)
        assert link.closed
        # Detached: everything arrives again.
        for payload in (b"Keep 3", b"drop 3"):
            tx.sendto(payload, rx.getsockname())
        assert _drain(rx) == [b"Keep 3", b"drop 3"]


def test_socket_filter_through_dispatcher_and_gc(load_bpf):
    prog = load_bpf("socket_filter").programs["keep_k"]
    rx, tx = _udp_pair()
    with rx, tx:
        link = attach(prog, rx.fileno())
        tx.sendto(b"nope", rx.getsockname())
        assert _drain(rx) == []
        del link  # garbage collection detaches
        tx.sendto(b"nope", rx.getsockname())
        assert _drain(rx) == [b"nope"]


def test_wrong_program_type_is_named():
    # An XDP program cannot be a socket filter: the error says so.
    prog = KernelProgram.load(ProgType.XDP, bytes.fromhex("b7000000020000009500000000000000"))
    with prog, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(BpfSyscallError) as info:
            attach_socket(prog, s)
        assert info.value.errno == errno.EINVAL
        assert "socket" in str(info.value)
        assert "SOCKET_FILTER" in str(info.value) and "not XDP" in str(info.value)
