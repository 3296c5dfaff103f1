"""Each run starts on a zeroed stack; a verified program's run clears only the bytes the
verifier found it may use (its stack depth), an unverified one's the whole frame."""

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


def test_verifier_reports_the_deepest_stack_byte():
    result = verify(assemble(READ_THEN_WRITE), prog_type=ProgType.XDP)
    assert result.accepted, result.log
    assert result.stack_depth == 40


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
