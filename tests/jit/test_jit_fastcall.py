"""Calling a JitMachine (``machine(r1, ..., r5) -> r0``): the fast call's builtin gives
what ``run`` gives, and takes the ordinary path whenever the fast one would not be safe
(a run ending with a status, a changed region table, a new budget, state to mirror)."""

from __future__ import annotations

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
from pybpf.asm import assemble
from pybpf.env import Env
from pybpf.errors import BpfLimitError, BpfMemoryError
from pybpf.jit.machine import JitMachine
from pybpf.vm import Machine
from pybpf.vm.memory import Region

ADD = "r0 = r1\nr0 += r2\nr0 += r3\nr0 += r4\nr0 += r5\nexit"
LOAD = "r0 = *(u64 *)(r1 + 0)\nexit"
LOOP = "r0 = 0\nloop:\nr0 += 1\nif r0 < r1 goto loop\nexit"


def machine(source: str, full: bool = True) -> JitMachine:
    m = JitMachine(assemble(source))
    if full:
        m.tier_up()
    return m


@pytest.mark.parametrize("full", [True, False])
def test_calls_give_what_run_gives(full):
    m = machine(ADD, full)
    for args in ((), (1,), (1, 2, 3, 4, 5), (-1, 2), (1 << 64, 7), ((1 << 70) + 3, 0, 0, 0, 1)):
        for _ in range(3):              # the first call arms the fast path, the others use it
            assert m(*args) == m.run(*[a & ((1 << 64) - 1) for a in args]).r0


def test_bad_arguments_raise():
    m = machine(ADD)
    m(1)
    with pytest.raises(ValueError, match="at most 5"):
        m(1, 2, 3, 4, 5, 6)
    with pytest.raises(TypeError):
        m("1")
    assert m(1, 2) == 3


def test_faults_raise_as_run_raises():
    m = machine(LOAD)
    for _ in range(3):
        with pytest.raises(BpfMemoryError, match="null pointer read") as info:
            m(0)
        assert info.value.pc == 0


def test_a_removed_region_is_not_read():
    """A region gone from the Memory changes its table: the call takes the ordinary path,
    which refuses the address, instead of reading freed memory."""
    m = machine(LOAD)
    region = m.memory.add(Region("data", (1234).to_bytes(8, "little")))
    for _ in range(3):
        assert m(region.address) == 1234
    m.memory.remove(region)
    with pytest.raises(BpfMemoryError):
        m(region.address)


def test_the_budget_is_the_machines():
    m = machine(LOOP)
    assert m(10) == 10 and m(10) == 10
    m.budget = 20
    with pytest.raises(BpfLimitError, match="budget of 20"):
        m(100)
    m.budget = None
    assert m(1000) == 1000


def test_programs_with_mirrored_state_take_the_ordinary_path():
    """A program whose native helper uses the Env (prandom) keeps the Env in step."""
    jit = JitMachine(assemble("call 7\nexit"), env=Env(seed=3))
    jit.tier_up()
    interp = Machine(assemble("call 7\nexit"), env=Env(seed=3))
    got = [jit() for _ in range(4)] + [jit.run().r0]
    assert got == [interp.run().r0 for _ in range(5)]
    assert len(set(got)) == 5
