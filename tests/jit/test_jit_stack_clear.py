"""Each run starts on a zeroed stack; a verified program's run clears only the bytes the
verifier found it may use (its stack depth), and none when it found no read of a byte
the run did not write first; an unverified one's the whole frame."""

from __future__ import annotations

import jit_support  # noqa: F401  (skips without llvmlite)
from pybpf.asm import assemble
from pybpf.elf.spec import ObjectSpec, ProgramSpec
from pybpf.isa.uapi import ProgType
from pybpf.jit.machine import JitMachine
from pybpf.verifier import verify
from pybpf.vm.compiler import MAX_STACK

# Reads the stack slot at r10-40 (uninitialised: root may) before writing it.
READ_THEN_WRITE = """
    r0 = *(u64 *)(r10 - 40)
    r1 = 7
    *(u64 *)(r10 - 40) = r1
    *(u64 *)(r10 - 16) = r1
    exit
"""


def loaded(source: str, **options):
    spec = ObjectSpec()
    spec.programs["p"] = ProgramSpec("p", "xdp", ProgType.XDP, assemble(source))
    return spec.load(engine="jit", **options).programs["p"]


# Writes before it reads; a helper (bpf_map_lookup_elem) reads a key it wrote.
WRITE_THEN_READ = """
    r1 = 7
    *(u64 *)(r10 - 40) = r1
    r0 = *(u64 *)(r10 - 40)
    exit
"""

# bpf_probe_read_kernel_str(r10 - 16, 16, r3): the helper may write only part of its
# buffer (up to the string's end), which the program then reads.
PARTIAL_HELPER_WRITE = """
    r1 = r10
    r1 += -16
    r2 = 16
    r3 = 0
    call 115
    r0 = *(u64 *)(r10 - 8)
    exit
"""


def test_verifier_reports_the_deepest_stack_byte():
    result = verify(assemble(READ_THEN_WRITE), prog_type=ProgType.XDP)
    assert result.accepted, result.log
    assert result.stack_depth == 40


def test_verifier_reports_reads_of_bytes_not_written():
    def reads(source: str, priv: str = "root", prog_type: int = ProgType.XDP) -> bool:
        result = verify(assemble(source), prog_type=prog_type, priv=priv)
        assert result.accepted, result.log
        return result.reads_uninit_stack

    assert reads(READ_THEN_WRITE)
    assert not reads(WRITE_THEN_READ) and not reads(WRITE_THEN_READ, "cap_bpf")
    assert reads(PARTIAL_HELPER_WRITE, "root", ProgType.KPROBE)


def test_a_run_that_reads_only_what_it_wrote_clears_nothing():
    prog = loaded(WRITE_THEN_READ)
    assert prog.runner.machine.stack_used == 0
    assert [prog.test_run(data=bytes(64)).retval for _ in range(2)] == [7, 7]


def test_a_verified_run_clears_its_stack_depth_only():
    prog = loaded(READ_THEN_WRITE)
    assert prog.runner.machine.stack_used == 40
    assert [prog.test_run(data=bytes(64)).retval for _ in range(3)] == [0, 0, 0]
    # repeat: every run of the loop starts on a cleared stack too
    assert prog.test_run(data=bytes(64), repeat=100).retval == 0


def test_an_unverified_machine_clears_the_whole_frame():
    machine = JitMachine(assemble("""
        r1 = r10
        r1 += -512
        r0 = *(u64 *)(r1 + 0)
        r2 = 9
        *(u64 *)(r1 + 0) = r2
        exit
    """))
    assert machine.stack_used == MAX_STACK
    assert [machine.run().r0 for _ in range(2)] == [0, 0]
