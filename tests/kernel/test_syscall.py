"""The ctypes bpf(2) layer: maps, program load and test run, verifier errors, fd ownership.

Tests marked ``kernel`` skip (with the kernel's reason) where bpf(2) does not work; the
rest check pure-Python parts (log parsing, messages) and run anywhere.
"""

from __future__ import annotations

import errno
import gc
import os
import struct

import pytest

from pybpf.errors import BpfMapError, BpfSyscallError, VerifierError
from pybpf.isa import Instruction
from pybpf.isa.uapi import BPF_ANY, BPF_EXIST, BPF_NOEXIST, Cmd, MapType, ProgType
from pybpf.kernel import Fd, KernelMap, KernelProgram, kernel_available, parse_verifier_log
from pybpf.kernel.maps import possible_cpus
from pybpf.kernel.syscall import ENOTSUPP, describe_failure

make = Instruction.make
kernel = pytest.mark.kernel
PACKET = bytes(range(64))


def key(n: int) -> bytes:
    return struct.pack("<I", n)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def errno_of(excinfo: pytest.ExceptionInfo) -> int:
    return excinfo.value.errno


# --- maps ---------------------------------------------------------------------------------


@kernel
def test_hash_map_element_operations_and_errnos() -> None:
    with KernelMap(MapType.HASH, 4, 8, 2, name="t_hash") as m:
        m.update(key(1), b"A" * 8)
        assert m.lookup(key(1)) == b"A" * 8
        with pytest.raises(BpfMapError) as e:
            m.lookup(key(9))
        assert errno_of(e) == errno.ENOENT and isinstance(e.value, OSError)
        assert m.get(key(9)) is None and m.get(key(9), b"x") == b"x"
        with pytest.raises(BpfMapError) as e:
            m.update(key(1), b"B" * 8, BPF_NOEXIST)
        assert errno_of(e) == errno.EEXIST
        with pytest.raises(BpfMapError) as e:
            m.update(key(7), b"B" * 8, BPF_EXIST)
        assert errno_of(e) == errno.ENOENT
        m.update(key(1), b"B" * 8, BPF_EXIST)
        m.update(key(2), b"C" * 8, BPF_ANY)
        with pytest.raises(BpfMapError) as e:  # max_entries=2: full
            m.update(key(3), b"D" * 8)
        assert errno_of(e) == errno.E2BIG
        assert "full" in str(e.value)
        with pytest.raises(BpfMapError) as e:
            m.update(key(1), b"E" * 8, 0x99)  # undefined flag bits
        assert errno_of(e) == errno.EINVAL
        assert sorted(m.keys()) == [key(1), key(2)]
        m.delete(key(1))
        with pytest.raises(BpfMapError) as e:
            m.delete(key(1))
        assert errno_of(e) == errno.ENOENT
        assert m.lookup(key(1 + 1)) == b"C" * 8


@kernel
def test_next_key_walks_every_key_then_returns_none() -> None:
    with KernelMap(MapType.HASH, 4, 4, 16) as m:
        assert m.next_key(None) is None  # empty
        for i in range(10):
            m.update(key(i), key(i * i))
        seen = []
        k = m.next_key()
        while k is not None:
            seen.append(k)
            k = m.next_key(k)
        assert sorted(seen) == [key(i) for i in range(10)]
        # A key that is not in a hash map restarts the walk at the first key.
        assert m.next_key(key(99)) == seen[0]


@kernel
def test_array_map_errnos() -> None:
    with KernelMap(MapType.ARRAY, 4, 8, 2) as m:
        assert m.lookup(key(1)) == bytes(8)  # arrays are preallocated and zeroed
        with pytest.raises(BpfMapError) as e:
            m.lookup(key(2))
        assert errno_of(e) == errno.ENOENT
        with pytest.raises(BpfMapError) as e:
            m.update(key(2), bytes(8))
        assert errno_of(e) == errno.E2BIG
        with pytest.raises(BpfMapError) as e:
            m.update(key(0), bytes(8), BPF_NOEXIST)  # every index exists
        assert errno_of(e) == errno.EEXIST
        with pytest.raises(BpfMapError) as e:
            m.delete(key(0))
        assert errno_of(e) == errno.EINVAL
        assert list(m.keys()) == [key(0), key(1)]


@kernel
def test_percpu_values_have_one_slot_per_possible_cpu() -> None:
    with KernelMap(MapType.PERCPU_ARRAY, 4, 4, 1) as m:
        value = m.lookup(key(0))
        assert len(value) == 8 * possible_cpus() == m.value_buffer_size
        m.update(key(0), bytes(range(len(value))))
        assert m.lookup(key(0)) == bytes(range(len(value)))


@kernel
def test_wrong_sizes_are_refused_before_the_kernel_sees_them() -> None:
    with KernelMap(MapType.HASH, 4, 8, 2) as m:
        with pytest.raises(BpfMapError) as e:
            m.lookup(b"\0\0\0")
        assert errno_of(e) == errno.EINVAL and "3 bytes" in str(e.value)
        with pytest.raises(BpfMapError):
            m.update(key(0), b"short")


@kernel
def test_map_create_with_no_entries_is_einval() -> None:
    with pytest.raises(BpfMapError) as e:
        KernelMap(MapType.ARRAY, 4, 8, 0)
    assert errno_of(e) == errno.EINVAL
    assert "creating a BPF map" in str(e.value)


def test_object_names_are_checked() -> None:
    with pytest.raises(ValueError):
        KernelMap(MapType.ARRAY, 4, 8, 1, name="x" * 16)
    with pytest.raises(ValueError):
        KernelMap(MapType.ARRAY, 4, 8, 1, name="no spaces")


# --- programs -----------------------------------------------------------------------------

RET_0X12345678 = [make("mov64_imm", 0, imm=0x12345678), make("exit")]


@kernel
def test_program_loads_and_test_runs_with_known_retval() -> None:
    with KernelProgram.load(ProgType.SOCKET_FILTER, RET_0X12345678) as prog:
        run = prog.test_run(PACKET, repeat=10)
        assert run.retval == 0x12345678
        assert run.duration_ns >= 0
        # Surprise recorded from the kernel: a socket filter's test run hands back the
        # packet with its 14-byte Ethernet header zeroed; the rest is unchanged.
        assert run.data_out[14:] == PACKET[14:] and len(run.data_out) == len(PACKET)
        assert run.ctx_out is None


@kernel
def test_retval_is_the_low_32_bits_of_r0() -> None:
    prog = [make("lddw", 0, imm=0xDEADBEEF_00000002), make("exit")]
    with KernelProgram.load(ProgType.SOCKET_FILTER, prog) as p:
        assert p.test_run(PACKET).retval == 2


@kernel
def test_program_bytes_load_like_instructions() -> None:
    code = struct.pack("<BBhi", 0xB7, 0, 0, 5) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    with KernelProgram.load(ProgType.SOCKET_FILTER, code) as p:
        assert p.test_run(PACKET).retval == 5


@kernel
def test_small_output_buffer_is_grown_to_what_the_kernel_asks() -> None:
    with KernelProgram.load(ProgType.SOCKET_FILTER, RET_0X12345678) as p:
        run = p.test_run(PACKET, data_out_size=4)
        assert len(run.data_out) == len(PACKET)


@kernel
def test_test_run_errors() -> None:
    with KernelProgram.load(ProgType.SOCKET_FILTER, RET_0X12345678) as p:
        with pytest.raises(BpfSyscallError) as e:
            p.test_run(bytes(10))  # shorter than an Ethernet header
        assert errno_of(e) == errno.EINVAL
    tracepoint = [make("mov64_imm", 0, imm=0), make("exit")]
    with KernelProgram.load(ProgType.TRACEPOINT, tracepoint) as p:
        with pytest.raises(BpfSyscallError) as e:
            p.test_run(PACKET)
        assert errno_of(e) == ENOTSUPP
        assert "does not support BPF_PROG_TEST_RUN" in str(e.value)


@kernel
def test_log_level_keeps_the_log_of_an_accepted_program() -> None:
    with KernelProgram.load(ProgType.SOCKET_FILTER, RET_0X12345678, log_level=2) as p:
        assert "processed 2 insns" in p.log
        assert "(b7) r0 = 305419896" in p.log
    with KernelProgram.load(ProgType.SOCKET_FILTER, RET_0X12345678) as p:
        assert p.log == ""


@kernel
@pytest.mark.parametrize("log_level", [0, 1, 2])
def test_verifier_rejection_carries_log_error_and_instruction(log_level: int) -> None:
    prog = [make("mov64_imm", 0, imm=0), make("mov64_imm", 1, imm=3),
            make("jeq_imm", 1, imm=3, off=1), make("mov64_imm", 3, imm=0),
            make("mov64_reg", 0, 3),  # r3 is unset on the path that jumped here
            make("exit")]
    with pytest.raises(VerifierError) as e:
        KernelProgram.load(ProgType.SOCKET_FILTER, prog, log_level=log_level)
    err = e.value
    assert err.error == "R3 !read_ok"
    assert err.insn == 4
    assert err.errno == errno.EACCES
    assert "R3 !read_ok" in err.log and "processed" in err.log
    assert "instruction 4" in str(err) and "R3 !read_ok" in str(err)


@kernel
def test_verifier_rejection_before_the_walk_names_the_instruction() -> None:
    prog = [make("mov64_imm", 0, imm=0), make("exit"), make("exit")]
    with pytest.raises(VerifierError) as e:
        KernelProgram.load(ProgType.SOCKET_FILTER, prog)
    assert (e.value.error, e.value.insn, e.value.errno) == ("unreachable insn 2", 2, errno.EINVAL)


@kernel
def test_refusal_without_a_verifier_log_is_a_syscall_error() -> None:
    with pytest.raises(BpfSyscallError) as e:  # BPF_PROG_TYPE_UNSPEC: refused before verifying
        KernelProgram.load(ProgType.UNSPEC, RET_0X12345678)
    assert errno_of(e) == errno.EINVAL and not isinstance(e.value, VerifierError)


@kernel
def test_verifier_log_grows_past_a_small_buffer() -> None:
    prog = [make("mov64_imm", 0, imm=0)] * 200 + [make("mov64_reg", 0, 2), make("exit")]
    with pytest.raises(VerifierError) as e:
        KernelProgram.load(ProgType.SOCKET_FILTER, prog, log_level=2, log_size=256)
    assert e.value.error == "R2 !read_ok" and e.value.insn == 200


@kernel
def test_no_descriptor_leaks() -> None:
    gc.collect()
    before = open_fds()
    for _ in range(1000):
        prog = KernelProgram.load(ProgType.SOCKET_FILTER, RET_0X12345678)
        prog.test_run(PACKET)
        prog.close()
    for _ in range(200):  # dropped without close: the finaliser closes
        KernelProgram.load(ProgType.SOCKET_FILTER, RET_0X12345678)
        KernelMap(MapType.HASH, 4, 4, 1)
    for _ in range(100):  # rejected loads (two attempts each with log_level=0)
        with pytest.raises(VerifierError):
            KernelProgram.load(ProgType.SOCKET_FILTER, [make("exit")])
    gc.collect()
    assert open_fds() == before


def test_fd_close_is_idempotent_and_owned() -> None:
    r, w = os.pipe()
    os.close(w)
    fd = Fd(r)
    assert fd.fileno() == r and not fd.closed
    with fd:
        pass
    assert fd.closed
    fd.close()  # again: nothing happens
    with pytest.raises(ValueError):
        fd.fileno()
    with pytest.raises(OSError):
        os.fstat(r)  # really closed
    r2, w2 = os.pipe()
    os.close(w2)
    detached = Fd(r2).detach()
    os.fstat(detached)  # still open: ownership was handed back
    os.close(detached)


@kernel
def test_kernel_available_reports_why_not_when_privileges_are_dropped() -> None:
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        if f.read().strip() == "0":
            pytest.skip("unprivileged BPF is enabled here: nobody may create maps")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: become nobody, which loses every capability
        try:
            os.setuid(65534)
            kernel_available.cache_clear()
            ok, reason = kernel_available()
            os.write(write, f"{ok}|{reason}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as f:
        ok, reason = f.read().split("|", 1)
    assert ok == "False"
    assert reason == "bpf(2) refused: EPERM: not permitted: creating BPF maps needs root or CAP_BPF"


def test_failure_messages_say_what_failed() -> None:
    assert describe_failure(Cmd.PROG_LOAD, errno.EPERM) == \
        "not permitted: loading BPF programs needs root or CAP_BPF"
    err = BpfMapError(errno.ENOENT, describe_failure(Cmd.MAP_LOOKUP_ELEM, errno.ENOENT))
    assert str(err) == ("[Errno 2] no such key in the map: No such file or directory (ENOENT)")


def test_kernel_available_answers() -> None:
    ok, reason = kernel_available()
    assert isinstance(ok, bool) and reason.startswith("bpf(2)")


# --- verifier log parsing (recorded logs, no kernel needed) --------------------------------

LOG_LEVEL2_BRANCH = """\
func#0 @0
Live regs before insn:
      0: ...3...... (b7) r0 = 0
      1: ...3...... (b7) r1 = 3
      2: .1.3...... (15) if r1 == 0x3 goto pc+1
      3: .......... (b7) r3 = 0
      4: ...3...... (bf) r0 = r3
      5: 0......... (95) exit
0: R1=ctx() R10=fp0
0: (b7) r0 = 0                        ; R0=0
1: (b7) r1 = 3                        ; R1=3
2: (15) if r1 == 0x3 goto pc+1
mark_precise: frame0: last_idx 2 first_idx 0 subseq_idx -1 
mark_precise: frame0: regs=r1 stack= before 1: (b7) r1 = 3
2: R1=3
4: (bf) r0 = r3
R3 !read_ok
processed 4 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""

LOG_JUMP_OUT = """\
jump out of range from insn 1 to 7
processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""

LOG_NO_EXIT = """\
func#0 @0
last insn is not an exit or jmp
processed 0 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""

LOG_STACK = """\
0: R1=ctx() R10=fp0
0: (b7) r0 = 0                        ; R0=0
1: (7b) *(u64 *)(r10 -520) = r0
invalid write to stack R10 off=-520 size=8
processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


@pytest.mark.parametrize("log, error, insn", [
    (LOG_LEVEL2_BRANCH, "R3 !read_ok", 4),
    (LOG_JUMP_OUT, "jump out of range from insn 1 to 7", 1),
    (LOG_NO_EXIT, "last insn is not an exit or jmp", None),
    (LOG_STACK, "invalid write to stack R10 off=-520 size=8", 1),
    ("", None, None),
])
def test_parse_verifier_log(log: str, error: str | None, insn: int | None) -> None:
    assert parse_verifier_log(log) == (error, insn)
