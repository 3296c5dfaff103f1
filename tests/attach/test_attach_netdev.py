"""XDP and tc on a veth pair between two network namespaces the tests create."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import struct

import pytest
from attach_support import read_u64

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import LinkType
from pybpf.kernel.attach import BpfLink, attach, attach_tc, attach_xdp, in_netns

pytestmark = pytest.mark.kernel


def _receiver(pair, port: int) -> socket.socket:
    with in_netns(pair.ns_b):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((pair.ip_b, port))
    s.settimeout(0.3)
    return s


def _sender(pair) -> socket.socket:
    with in_netns(pair.ns_a):
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def _tx_checksum_off(ifname: str) -> None:
    """ETHTOOL_STXCSUM 0: UDP then puts a full software checksum in each datagram before
    tc egress sees it, and the receiving end verifies it (no CHECKSUM_PARTIAL shortcut)."""
    SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
    value = ctypes.create_string_buffer(struct.pack("II", ETHTOOL_STXCSUM, 0))
    ifreq = struct.pack("16sP", ifname.encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def _drain(s: socket.socket) -> list[bytes]:
    got = []
    while True:
        try:
            got.append(s.recv(100))
        except socket.timeout:
            return got


@pytest.mark.parametrize("method", ["link", "netlink"])
def test_xdp_generic_drops_and_counts_a_flow(load_bpf, veth_pair, method):
    if method == "netlink":
        pytest.importorskip("pyroute2", reason="the netlink fallback needs pyroute2")
    obj = load_bpf("xdp_drop_port")
    pair = veth_pair
    dropped_rx, passed_rx, tx = _receiver(pair, 9999), _receiver(pair, 9998), _sender(pair)
    with dropped_rx, passed_rx, tx:
        link = attach_xdp(obj.programs["drop_9999"], pair.dev_b, mode="generic",
                          netns=pair.ns_b, method=method)
        with link:
            for i in range(3):
                tx.sendto(b"to 9999 %d" % i, (pair.ip_b, 9999))
                tx.sendto(b"to 9998 %d" % i, (pair.ip_b, 9998))
            assert _drain(passed_rx) == [b"to 9998 0", b"to 9998 1", b"to 9998 2"]
            assert _drain(dropped_rx) == []
            assert read_u64(obj.maps["counts"], 0) == 3
            assert read_u64(obj.maps["counts"], 1) == 3
            if method == "link":
                assert isinstance(link, BpfLink)
                info = link.info()
                assert info.type == LinkType.XDP
                with in_netns(pair.ns_b):
                    assert info.details["ifindex"] == socket.if_nametoindex(pair.dev_b)
        # Detached: the flow gets through.
        tx.sendto(b"after", (pair.ip_b, 9999))
        assert _drain(dropped_rx) == [b"after"]


def test_xdp_errors_name_the_interface_and_mode(load_bpf, veth_pair):
    prog = load_bpf("xdp_drop_port").programs["drop_9999"]
    with pytest.raises(BpfSyscallError) as info:
        attach_xdp(prog, "pybpf-no-such", netns=veth_pair.ns_b)
    assert info.value.errno == errno.ENODEV and "pybpf-no-such" in str(info.value)
    with attach_xdp(prog, veth_pair.dev_b, mode="generic", netns=veth_pair.ns_b):
        with pytest.raises(BpfSyscallError) as info:  # a second one on the same hook
            attach_xdp(prog, veth_pair.dev_b, mode="generic", netns=veth_pair.ns_b,
                       method="link")
        assert info.value.errno in (errno.EBUSY, errno.EEXIST)
        assert "already attached" in str(info.value)


@pytest.mark.parametrize("method", ["link", "netlink"])
def test_tc_egress_rewrites_udp_port(load_bpf, veth_pair, method):
    if method == "netlink":
        pytest.importorskip("pyroute2", reason="the netlink fallback needs pyroute2")
    obj = load_bpf("tc_rewrite_port")
    pair = veth_pair
    rx_7000, rx_7001, tx = _receiver(pair, 7000), _receiver(pair, 7001), _sender(pair)
    with in_netns(pair.ns_a):
        _tx_checksum_off(pair.dev_a)
    with rx_7000, rx_7001, tx:
        # The sender's egress, in namespace a; through the dispatcher for the link case.
        if method == "link":
            with in_netns(pair.ns_a):
                link = attach(obj.programs["rewrite_7000"], pair.dev_a, direction="egress")
            assert link.info().type == LinkType.TCX
        else:
            link = attach_tc(obj.programs["rewrite_7000"], pair.dev_a, "egress",
                             netns=pair.ns_a, method="netlink")
        with link:
            for i in range(2):
                tx.sendto(b"hello %d" % i, (pair.ip_b, 7000))
            # Delivered to 7001 means the UDP checksum was fixed: a bad one is dropped.
            assert _drain(rx_7001) == [b"hello 0", b"hello 1"]
            assert _drain(rx_7000) == []
            assert read_u64(obj.maps["stats"], 0) == 2
        tx.sendto(b"direct", (pair.ip_b, 7000))
        assert _drain(rx_7000) == [b"direct"]
