"""cgroup skb egress: count the bytes a child process sends after it is moved into a
cgroup the test creates."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys

import pytest
from attach_support import read_u64

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import AttachType, LinkType
from pybpf.kernel.attach import attach, attach_cgroup

pytestmark = pytest.mark.kernel

SENDER = """
import socket, sys
port, count, size = map(int, sys.argv[1:4])
sys.stdin.readline()                 # wait until the test has moved us into the cgroup
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(count):
    s.sendto(b"x" * size, ("127.0.0.1", port))
"""


def _run_sender_in(cgroup, port: int, count: int, size: int) -> None:
    child = subprocess.Popen([sys.executable, "-c", SENDER, str(port), str(count), str(size)],
                             stdin=subprocess.PIPE, text=True)
    try:
        (cgroup / "cgroup.procs").write_text(str(child.pid))
        child.communicate("go\n", timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0


@pytest.mark.parametrize("method", ["link", "prog_attach"])
def test_cgroup_skb_counts_child_egress_bytes(load_bpf, cgroup_dir, method):
    obj = load_bpf("cgroup_bytes")
    prog = obj.programs["count_egress"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        if method == "link":
            link = attach(prog, str(cgroup_dir), attach_type="egress")
            info = link.info()
            assert info.type == LinkType.CGROUP
            assert info.details["attach_type"] == AttachType.CGROUP_INET_EGRESS
        else:
            link = attach_cgroup(prog, cgroup_dir, AttachType.CGROUP_INET_EGRESS,
                                 method="prog_attach")
        with link:
            _run_sender_in(cgroup_dir, port, count=4, size=100)
            # Each datagram leaves as an IPv4 packet: 20 (IP) + 8 (UDP) + 100 bytes.
            assert read_u64(obj.maps["stats"], 0) == 4
            assert read_u64(obj.maps["stats"], 1) == 4 * (20 + 8 + 100)
        _run_sender_in(cgroup_dir, port, count=2, size=10)  # detached: not counted
        assert read_u64(obj.maps["stats"], 0) == 4


def test_cgroup_errors(load_bpf, tmp_path):
    prog = load_bpf("cgroup_bytes").programs["count_egress"]
    with pytest.raises(BpfSyscallError) as info:  # an ordinary directory is no cgroup
        attach_cgroup(prog, tmp_path, "egress")
    assert info.value.errno == errno.EBADF and "cgroup v2" in str(info.value)
    with pytest.raises(BpfSyscallError) as info:
        attach_cgroup(prog, tmp_path, "sideways")
    assert "egress" in str(info.value)
