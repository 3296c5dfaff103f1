"""engine="kernel": the same Object as the interpreter, through bpf(2)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

import pybpf

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
COUNTERS = ROOT / "tests" / "engine" / "data" / "counters.c"
FRAME = b"\x02" * 12 + b"\x08\x00" + bytes(46)


@pytest.fixture(scope="module")
def counters() -> bytes:
    return pybpf.compile(COUNTERS)


def test_same_object_api(counters):
    env = pybpf.Env(cpus=os.cpu_count(), kernel_pin_cpu=True)
    with pybpf.load(counters, engine="kernel", env=env) as obj:
        prog = obj.programs["count_xdp"]
        assert (prog.engine, prog.type, prog.section) == ("kernel", pybpf.ProgType.XDP, "xdp")
        r = prog.test_run(data=FRAME, repeat=3)
        assert r.retval == 2 and r.data == FRAME and r.r0 is None and r.duration_ns >= 0
        assert obj.maps["by_len"].typed()[60] == {"packets": 3, "bytes": 180}
        per_cpu = obj.maps["per_cpu"].lookup(bytes(4))
        assert len(per_cpu) == os.cpu_count() and per_cpu[0] == (3).to_bytes(8, "little")
        assert obj.maps["by_len"].lookup((1).to_bytes(4, "little")) is None


def test_rodata_is_set_before_load_and_frozen(counters):
    with pybpf.load(counters, engine="kernel", rodata={"drop_len": 50}) as obj:
        assert obj.programs["count_xdp"].test_run(data=FRAME).retval == 1   # 60 >= 50
        with pytest.raises(pybpf.BpfMapError) as info:
            obj.maps[".rodata"].update(bytes(4), bytes(obj.maps[".rodata"].value_size))
        assert info.value.errno == errno.EPERM


def test_map_errors_match_the_userspace_maps(counters):
    for engine in ("interp", "kernel"):
        with pybpf.load(counters, engine=engine) as obj:
            m = obj.maps["by_len"]
            m.update(bytes(4), bytes(16))
            with pytest.raises(pybpf.BpfMapError) as info:
                m.update(bytes(4), bytes(16), flags=pybpf.BPF_NOEXIST)
            assert info.value.errno == errno.EEXIST, engine
            with pytest.raises(pybpf.MapSizeError):
                m.update(bytes(3), bytes(16))
            with pytest.raises(pybpf.BpfTypeError):
                m.update("key", bytes(16))


def test_verifier_rejection_points_at_the_c_line():
    elf = pybpf.compile(ROOT / "tests" / "kernel" / "data" / "bad_access.c")
    with pytest.raises(pybpf.VerifierError) as info:
        pybpf.load(elf, engine="kernel")
    e = info.value
    assert e.errno == errno.EACCES
    assert "invalid access to packet" in e.error
    assert e.insn is not None and e.log
    assert e.source_line is not None and "data[20]" in e.source_line.text
    assert "bad_access.c:9" in str(e)


def test_log_level_keeps_the_verifier_log(counters):
    with pybpf.load(counters, engine="kernel", log_level=2) as obj:
        assert "processed" in obj.programs["count_xdp"].verifier_log


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _cycles(elf: bytes, n: int) -> None:
    for _ in range(n):
        with pybpf.load(elf, engine="kernel") as obj:
            obj.programs["count_socket"].test_run(data=FRAME)


def test_load_unload_cycles_leak_no_fd(counters):
    _cycles(counters, 5)
    before = _open_fds()
    _cycles(counters, 300)
    assert _open_fds() == before


@pytest.mark.slow
def test_ten_thousand_cycles_leak_no_fd(counters):
    before = _open_fds()
    _cycles(counters, 10_000)
    assert _open_fds() == before


def test_program_attach_to_a_socket(counters):
    import socket

    with pybpf.load(counters, engine="kernel") as obj:
        recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        recv.bind(("127.0.0.1", 0))
        with recv, obj.programs["count_socket"].attach(recv):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as send:
                send.sendto(b"x" * 10, recv.getsockname())
                recv.settimeout(0.5)
                try:
                    recv.recv(100)
                except OSError:
                    pass
        assert len(obj.maps["by_len"]) == 1        # the program saw the datagram


def test_attach_needs_the_kernel_engine(counters):
    with pytest.raises(pybpf.BpfError, match="engine='kernel'"):
        pybpf.load(counters).programs["count_socket"].attach(None)


@pytest.fixture
def pin_dir():
    from pybpf.kernel.introspect import ensure_bpffs

    path = Path(ensure_bpffs()) / f"pybpf-test-{os.getpid()}"
    path.mkdir()
    yield path
    for pin in os.listdir(path):
        os.unlink(path / pin)
    path.rmdir()


def test_pinning_by_name_reuses_the_map(counters, pin_dir):
    spec = pybpf.open(counters)
    spec.maps["by_len"].pinning = 1                 # LIBBPF_PIN_BY_NAME
    with spec.load(engine="kernel", pin_root=str(pin_dir)) as first:
        first.programs["count_xdp"].test_run(data=FRAME)
        assert os.listdir(pin_dir) == ["by_len"]
        with spec.load(engine="kernel", pin_root=str(pin_dir)) as second:
            assert second.maps["by_len"].typed()[60] == {"packets": 1, "bytes": 60}
            second.programs["count_xdp"].test_run(data=FRAME)
        assert first.maps["by_len"].typed()[60] == {"packets": 2, "bytes": 120}
    spec.maps["by_len"].max_entries = 8
    with pytest.raises(pybpf.BpfError, match="incompatible"):
        spec.load(engine="kernel", pin_root=str(pin_dir))


def test_maps_and_programs_from_pins_and_ids(counters, pin_dir):
    with pybpf.load(counters, engine="kernel") as obj:
        obj.maps["by_len"].pin(pin_dir / "m")
        obj.programs["count_xdp"].pin(pin_dir / "p")
        m = pybpf.Map.from_pin(pin_dir / "m")
        assert m.id == obj.maps["by_len"].id and m.key_size == 4
        prog = pybpf.Program.from_pin(pin_dir / "p")
        assert prog.type == pybpf.ProgType.XDP and prog.name == "count_xdp"
        assert prog.test_run(data=FRAME).retval == 2
        assert m.lookup((60).to_bytes(4, "little"))[:8] == (1).to_bytes(8, "little")
        from pybpf.kernel.introspect import prog_info

        again = pybpf.Program.from_id(prog_info(prog.runner.program.fd).id)
        assert again.test_run(data=FRAME).retval == 2
        for p in (prog, again):
            p.runner.close()
        m.close()
        with pytest.raises(pybpf.BpfError, match="not a map"):
            pybpf.Map.from_pin(pin_dir / "p")


@pytest.mark.parametrize("engine", ["interp", "kernel"])
def test_test_run_flags_and_cpu_as_the_kernel_takes_them(engine, counters):
    elf = pybpf.compile(ROOT / "tests" / "kernel" / "data" / "on_cpu.c")
    last = (os.cpu_count() or 1) - 1
    with pybpf.load(elf, engine=engine) as obj:
        prog = obj.programs["which_cpu"]
        assert prog.test_run(flags=1, cpu=last).retval == last      # BPF_F_TEST_RUN_ON_CPU
        with pytest.raises(pybpf.BpfSyscallError) as info:
            prog.test_run(cpu=last or 1)                             # cpu without the flag
        assert info.value.errno == errno.EINVAL
    with pybpf.load(counters, engine=engine) as obj:
        with pytest.raises(pybpf.BpfSyscallError) as info:
            obj.programs["count_xdp"].test_run(data=FRAME, flags=1)
        assert info.value.errno == errno.EINVAL


@pytest.mark.parametrize("engine", ["interp", "kernel"])
def test_batch_operations_on_both_engines(engine, counters):
    with pybpf.load(counters, engine=engine) as obj:
        m = obj.maps["by_len"]
        items = {i.to_bytes(4, "little"): bytes([i]) * 16 for i in range(1, 40)}
        assert m.update_batch(items) == 39
        assert dict(m.lookup_batch()) == items
        assert m.delete_batch([(1).to_bytes(4, "little"), (2).to_bytes(4, "little")]) == 2
        with pytest.raises(pybpf.BpfMapError) as info:
            m.delete_batch([(3).to_bytes(4, "little"), (1).to_bytes(4, "little")])
        assert info.value.errno == errno.ENOENT and info.value.done == 1
        rest = dict(m.lookup_and_delete_batch())
        assert len(rest) == 36 and len(m) == 0
        per_cpu = obj.maps["per_cpu"]
        assert all(len(v) == per_cpu.cpus for _, v in per_cpu.lookup_batch())


def test_trace_pipe_is_the_same_api_on_both_engines():
    elf = pybpf.compile(ROOT / "tests" / "engine" / "data" / "calls.c")
    for engine in ("interp", "kernel"):
        with pybpf.load(elf, engine=engine) as obj:
            obj.programs["run_calls"].test_run(data=bytes(20))
            if engine == "kernel":
                obj.trace_pipe.wait(2.0)
            assert "len 20 acc 91" in obj.trace_pipe, engine
