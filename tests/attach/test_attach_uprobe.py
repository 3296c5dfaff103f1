"""uprobes, uretprobes and USDT on a small C program the test compiles (cc -O0)."""

from __future__ import annotations

import errno
import platform
import shutil
import subprocess

import pytest
from attach_support import DATA, read_u64

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import LinkType
from pybpf.kernel.attach import attach, attach_uprobe, attach_usdt, usdt_probes
from pybpf.kernel.attach.uprobe import symbol_offset

pytestmark = pytest.mark.kernel

CALLS = 5   # triple(1..5): arguments sum to 15, results to 45


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> str:
    if platform.machine() != "x86_64":
        pytest.skip("the probe programs read x86-64 pt_regs")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the probed program")
    out = tmp_path_factory.mktemp("uprobe") / "target"
    subprocess.run([cc, "-O0", "-g", "-o", str(out), str(DATA / "target.c")], check=True)
    return str(out)


def _run(target: str) -> int:
    """Run the target once (it waits for a line, then calls triple 1..CALLS); its output."""
    done = subprocess.run([target, str(CALLS)], input="go\n", capture_output=True, text=True,
                          timeout=20, check=True)
    return int(done.stdout)


def test_uprobe_counts_calls_and_uretprobe_reads_results(load_bpf, target):
    obj = load_bpf("uprobe_count")
    stats = obj.maps["stats"]
    with attach_uprobe(obj.programs["on_entry"], target, "triple") as entry, \
            attach_uprobe(obj.programs["on_return"], target, "triple", retprobe=True):
        assert entry.info().type == LinkType.PERF_EVENT
        assert _run(target) == 45
    assert [read_u64(stats, i) for i in range(4)] == [CALLS, 15, CALLS, 45]
    _run(target)  # detached
    assert read_u64(stats, 0) == CALLS


def test_uprobe_pid_filter_and_dispatcher(load_bpf, target):
    obj = load_bpf("uprobe_count")
    child = subprocess.Popen([target, str(CALLS)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        # Only the child: a second run of the same binary is not counted.
        with attach(obj.programs["on_entry"], f"{target}:triple", pid=child.pid):
            _run(target)
            assert read_u64(obj.maps["stats"], 0) == 0
            out, _ = child.communicate("go\n", timeout=20)
        assert int(out) == 45
        assert read_u64(obj.maps["stats"], 0) == CALLS
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_usdt_probe_with_semaphore(load_bpf, target):
    (probe,) = usdt_probes(target)
    assert (probe.provider, probe.name) == ("pybpf_test", "tick")
    assert probe.semaphore and probe.semaphore_offset
    assert len(probe.args) == 1 and probe.args[0].size == 4 and probe.args[0].signed
    obj = load_bpf("uprobe_count")
    # The tick probe only runs while its semaphore is non-zero, which the kernel does
    # while the uprobe (with ref_ctr_offset) is attached.
    with attach_usdt(obj.programs["on_usdt"], target, "pybpf_test", "tick"):
        _run(target)
    assert read_u64(obj.maps["stats"], 4) == CALLS
    _run(target)
    assert read_u64(obj.maps["stats"], 4) == CALLS


def test_uprobe_on_a_shared_library_symbol():
    # libc's offsets come from its segments, not its addresses (a shared object).
    from pybpf.kernel.attach.uprobe import resolve_binary
    try:
        libc = resolve_binary("libc.so.6")
    except BpfSyscallError as e:
        pytest.skip(str(e))
    assert symbol_offset(libc, "getpid") > 0


def test_uprobe_errors(load_bpf, target):
    prog = load_bpf("uprobe_count").programs["on_entry"]
    with pytest.raises(BpfSyscallError) as info:
        attach_uprobe(prog, target, "no_such_function")
    assert info.value.errno == errno.ENOENT and "no_such_function" in str(info.value)
    with pytest.raises(BpfSyscallError) as info:
        attach_usdt(prog, target, "pybpf_test", "tock")
    assert "pybpf_test:tick" in str(info.value)  # names the probes that exist
