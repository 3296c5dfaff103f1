"""Sound before complete: a program the verifier accepts never faults in the interpreter."""

from __future__ import annotations

import random

from pybpf.errors import BpfMemoryError, BpfRuntimeError
from pybpf.isa import Instruction, Kind
from pybpf.testing.progen import generate
from pybpf.verifier import verify
from pybpf.vm import Machine

N = 300


def _mutate(insns: list[Instruction], rng: random.Random) -> list[Instruction]:
    out = list(insns)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(out))
        insn = out[i]
        kind = insn.form.kind
        if kind in (Kind.LOAD, Kind.LOADSX):
            out[i] = Instruction(insn.opcode, insn.dst, rng.randrange(11),
                                 rng.choice((insn.off, rng.randrange(-530, 16))), insn.imm)
        elif kind in (Kind.STORE, Kind.STORE_IMM, Kind.ATOMIC):
            out[i] = Instruction(insn.opcode, rng.randrange(11), insn.src,
                                 rng.choice((insn.off, rng.randrange(-530, 16))), insn.imm)
    return out


def test_generated_programs_accepted_and_safe() -> None:
    rng = random.Random(1234)
    for _ in range(N):
        insns = generate(rng)
        res = verify(insns, log_level=0)
        assert res.accepted, res.error
        Machine(list(insns)).run()


def test_mutated_programs_never_fault_when_accepted() -> None:
    rng = random.Random(99)
    accepted = rejected = 0
    for _ in range(N):
        insns = _mutate(generate(rng), rng)
        for priv in ("root", "cap_bpf"):
            res = verify(insns, log_level=0, priv=priv)
            if not res.accepted:
                rejected += 1
                continue
            accepted += 1
            try:
                Machine(list(insns)).run()
            except BpfMemoryError as e:    # any fault is a verifier bug
                raise AssertionError(f"accepted program faulted: {e}\n{insns}") from e
            except BpfRuntimeError:
                pass
    assert accepted and rejected
