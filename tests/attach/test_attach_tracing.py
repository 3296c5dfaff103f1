"""Tracepoints, raw tracepoints and BTF tracepoints observing a child process; the
hooks this kernel refuses (kprobes, fentry/fexit, LSM) fail with a clear error."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys

import pytest
from attach_support import read_u64

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import LinkType, ProgType
from pybpf.kernel import KernelProgram
from pybpf.kernel.attach import (
    attach, attach_fentry, attach_kprobe, attach_raw_tracepoint, attach_tp_btf,
    attach_tracepoint, kprobes_available,
)
from pybpf.kernel.attach.trampoline import load_btf_program, trampolines_available

pytestmark = pytest.mark.kernel

OPENER = """
import sys
sys.stdin.readline()
for name in sys.argv[1:]:
    try:
        open(name).close()
    except OSError:
        pass
"""
RETURN_ZERO = bytes.fromhex("b700000000000000" "9500000000000000")


def _watch(obj, pid: int) -> None:
    obj.maps["config"].update(struct.pack("<I", 0), struct.pack("<I", pid))


def _run_child(script: str, args: list[str], before_go) -> None:
    child = subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                             text=True)
    try:
        before_go(child.pid)
        child.communicate("go\n", timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_tracepoint_reports_openat_file_names(load_bpf, tmp_path):
    obj = load_bpf("openat")
    names = [str(tmp_path / "first.txt"), str(tmp_path / "missing" / "second")]
    (tmp_path / "first.txt").write_text("x")
    with attach_tracepoint(obj.programs["on_openat"], "syscalls", "sys_enter_openat") as link:
        assert link.info().type == LinkType.PERF_EVENT
        _run_child(OPENER, names, lambda pid: _watch(obj, pid))
        events = [e.split(b"\0", 1)[0].decode() for e in obj.ringbuf_events("names")]
    # The child opened many files while starting; ours come last, in order.
    assert events[-2:] == names


def test_tracepoint_through_dispatcher_and_errors():
    prog = KernelProgram.load(ProgType.TRACEPOINT, RETURN_ZERO)
    with prog:
        with attach(prog, "sched:sched_process_exec") as link:
            assert "sched:sched_process_exec" in link.description
        with pytest.raises(BpfSyscallError) as info:
            attach_tracepoint(prog, "syscalls", "sys_enter_no_such_call")
        assert info.value.errno == errno.ENOENT
        assert "sys_enter_no_such_call" in str(info.value)
        assert "available_events" in str(info.value)


def test_raw_tp_and_tp_btf_see_a_syscall(load_bpf):
    obj = load_bpf("syscall_ids")
    _watch(obj, os.getpid())
    getppid = 110 if os.uname().machine == "x86_64" else 173
    with attach_raw_tracepoint(obj.programs["raw_sys_enter"], "sys_enter") as raw, \
            attach_tp_btf(obj.programs["btf_sys_enter"]) as btf:
        assert raw.info().details == {"tp_name": "sys_enter"}
        assert btf.info().type in (LinkType.RAW_TRACEPOINT, LinkType.TRACING)
        for _ in range(3):
            os.getppid()
        seen_raw = read_u64(obj.maps["raw_seen"], getppid)
        seen_btf = read_u64(obj.maps["btf_seen"], getppid)
    assert seen_raw >= 3 and seen_btf >= 3
    os.getppid()  # detached: no more counting
    assert read_u64(obj.maps["raw_seen"], getppid) == seen_raw


def test_raw_tp_unknown_name():
    prog = KernelProgram.load(ProgType.RAW_TRACEPOINT, RETURN_ZERO)
    with prog, pytest.raises(BpfSyscallError) as info:
        attach_raw_tracepoint(prog, "no_such_tracepoint_pybpf")
    assert info.value.errno == errno.ENOENT and "no_such_tracepoint_pybpf" in str(info.value)


def test_tp_btf_from_instructions():
    prog = load_btf_program("tp_btf", "sched_process_exec")
    with prog, attach(prog) as link:
        assert link.info().details.get("tp_name") == "sched_process_exec"


def test_kprobe_error_names_alternatives():
    ok, reason = kprobes_available()
    prog = KernelProgram.load(ProgType.KPROBE, RETURN_ZERO)
    with prog:
        if ok:  # this kernel has kprobes: prove one attaches instead
            with attach_kprobe(prog, "do_sys_openat2"):
                pytest.skip("kprobes work here; attached one to do_sys_openat2")
        with pytest.raises(BpfSyscallError) as info:
            attach_kprobe(prog, "do_sys_openat2")
        text = str(info.value)
        assert info.value.errno == errno.EOPNOTSUPP
        assert "kprobes are not compiled into this kernel (no kprobe PMU / kprobe_events)" \
            in text or "legacy kprobe_events" in text
        assert "attach_tracepoint" in text and "fentry" in text
        with pytest.raises(BpfSyscallError):  # the dispatcher reaches the same error
            attach(prog, "do_sys_openat2")


@pytest.mark.parametrize("kind", ["fentry", "fexit", "lsm"])
def test_trampoline_error_names_alternatives(kind):
    ok, _ = trampolines_available()
    target = "file_open" if kind == "lsm" else "do_unlinkat"
    if ok:
        prog = load_btf_program(kind, target)
        with prog:
            try:
                link = attach(prog, attach_type={"fentry": "TRACE_FENTRY",
                                                 "fexit": "TRACE_FEXIT"}.get(kind))
            except BpfSyscallError as e:  # e.g. no LSM BPF in the boot's lsm= list
                pytest.skip(f"{kind} loads here but does not attach: {e}")
            link.close()
        pytest.skip(f"{kind} programs load and attach on this kernel")
    with pytest.raises(BpfSyscallError) as info:
        load_btf_program(kind, target)
    text = str(info.value)
    assert info.value.errno == errno.EPERM
    assert kind in text and "lockdown" in text
    assert ("tp_btf" in text and "raw_tp" in text) if kind != "lsm" else "cgroup" in text


def test_attach_fentry_refuses_a_non_tracing_program():
    prog = KernelProgram.load(ProgType.RAW_TRACEPOINT, RETURN_ZERO)
    with prog, pytest.raises(BpfSyscallError) as info:
        attach_fentry(prog)
    assert "fentry" in str(info.value) and "tp_btf" in str(info.value)
