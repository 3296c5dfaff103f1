"""Link life cycle (pin, reopen, detach, info), perf events, network-namespace links, and
the dispatcher's errors."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time

import pytest
from attach_support import read_u64

from pybpf.errors import BpfError, BpfSyscallError
from pybpf.isa.uapi import AttachType, LinkType, ProgType
from pybpf.kernel import KernelProgram
from pybpf.kernel.attach import (
    BpfLink, PerfEventAttr, attach, attach_cgroup, attach_netns, attach_perf_event,
    attach_raw_tracepoint, attach_socket, attach_tc, attach_tracepoint, attach_uprobe,
    attach_xdp, bpffs, in_netns, perf_event_open,
)

pytestmark = pytest.mark.kernel

RETURN_ZERO = bytes.fromhex("b700000000000000" "9500000000000000")
RETURN_ONE = bytes.fromhex("b700000001000000" "9500000000000000")


def test_pin_reopen_and_detach(veth_pair):
    # A netns link: it supports BPF_LINK_DETACH, which detaches even while pinned.
    prog = KernelProgram.load(ProgType.SK_LOOKUP, RETURN_ONE,
                              expected_attach_type=AttachType.SK_LOOKUP)
    path = os.path.join(bpffs(), f"pybpf-test-link-{os.getpid()}")
    link = attach_netns(prog, AttachType.SK_LOOKUP, veth_pair.ns_a)
    try:
        link.pin(path)
        link_id, prog_id = link.info().id, link.info().prog_id
        link.close()  # pinned: still attached
        again = BpfLink.open_pinned(path)
        assert (again.info().id, again.info().prog_id) == (link_id, prog_id)
        assert again.info().details["netns_ino"] != 0
        again.detach()
        with BpfLink.open_pinned(path) as third:  # the pin is left, the hook is gone
            assert third.info().details["netns_ino"] == 0
    finally:
        if os.path.exists(path):
            os.unlink(path)
        prog.close()


def test_pinned_raw_tp_link_outlives_close():
    prog = KernelProgram.load(ProgType.RAW_TRACEPOINT, RETURN_ZERO)
    path = os.path.join(bpffs(), f"pybpf-test-rawtp-{os.getpid()}")
    try:
        with prog, attach_raw_tracepoint(prog, "sched_switch") as link:
            link.pin(path)
            link_id = link.info().id
        with BpfLink.open_pinned(path) as again:
            assert again.info().id == link_id
            assert again.info().details == {"tp_name": "sched_switch"}
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_pin_outside_bpffs_says_where(tmp_path):
    prog = KernelProgram.load(ProgType.RAW_TRACEPOINT, RETURN_ZERO)
    with prog, attach_raw_tracepoint(prog, "sched_switch") as link:
        with pytest.raises(BpfSyscallError) as info:
            link.pin(tmp_path / "link")
        assert "bpffs" in str(info.value)


def test_non_link_attachments_say_they_cannot_pin(load_bpf):
    import socket
    prog = load_bpf("socket_filter").programs["keep_k"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, attach_socket(prog, s) as link:
        with pytest.raises(BpfError, match="cannot be pinned"):
            link.pin("/sys/fs/bpf/x")


def test_perf_event_program_counts_samples(load_bpf):
    obj = load_bpf("perf_sample")
    # PERF_TYPE_SOFTWARE / PERF_COUNT_SW_TASK_CLOCK of this process, a sample every 100 us.
    event = perf_event_open(PerfEventAttr(type=1, config=1, sample_period=100_000),
                            pid=0, cpu=-1)
    with event, attach_perf_event(obj.programs["on_sample"], event) as link:
        assert link.info().type == LinkType.PERF_EVENT
        end = time.process_time() + 0.05
        while time.process_time() < end:
            pass
        assert read_u64(obj.maps["stats"], 0) > 0


def test_sk_lookup_on_a_network_namespace(veth_pair):
    prog = KernelProgram.load(ProgType.SK_LOOKUP, RETURN_ONE,
                              expected_attach_type=AttachType.SK_LOOKUP)
    with prog:
        with attach_netns(prog, AttachType.SK_LOOKUP, veth_pair.ns_a) as link:
            info = link.info()
            assert info.type == LinkType.NETNS
            assert info.details["attach_type"] == AttachType.SK_LOOKUP
            assert info.details["netns_ino"] == os.stat(f"/run/netns/{veth_pair.ns_a}").st_ino
        with in_netns(veth_pair.ns_b):  # the dispatcher: this thread's namespace
            with attach(prog) as link:
                ino = os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/net").st_ino
                assert link.info().details["netns_ino"] == ino


def test_dispatcher_needs_targets_and_hooks():
    prog = KernelProgram.load(ProgType.CGROUP_SKB, RETURN_ONE)
    with prog, pytest.raises(BpfSyscallError, match="attach_type"):
        attach(prog, "/sys/fs/cgroup")
    xdp = KernelProgram.load(ProgType.XDP, RETURN_ZERO)
    with xdp, pytest.raises(BpfSyscallError, match="no target"):
        attach(xdp)


@pytest.mark.parametrize("attach_fn, args, wants", [
    (attach_xdp, ("lo",), "XDP"),
    (attach_tc, ("lo", "egress"), "SCHED_CLS"),
    (attach_tracepoint, ("sched", "sched_switch"), "TRACEPOINT"),
    (attach_raw_tracepoint, ("sched_switch",), "RAW_TRACEPOINT"),
    (attach_uprobe, ("/bin/true", "main"), "KPROBE"),
    (attach_cgroup, ("/", "egress"), "CGROUP_SKB"),
])
def test_wrong_program_type_is_refused_before_attaching(attach_fn, args, wants):
    prog = KernelProgram.load(ProgType.SOCKET_FILTER, RETURN_ZERO)
    with prog, pytest.raises(BpfSyscallError) as info:
        attach_fn(prog, *args)
    assert info.value.errno == errno.EINVAL
    assert wants in str(info.value) and "not SOCKET_FILTER" in str(info.value)


def test_section_names_carry_hook_and_target():
    prog = KernelProgram.load(ProgType.TRACEPOINT, RETURN_ZERO)
    with prog, attach(prog, section="tracepoint/sched/sched_process_exit") as link:
        assert "sched:sched_process_exit" in link.description
        subprocess.run(["true"], check=True)
