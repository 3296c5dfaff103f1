"""The full tier's copy of a loop-free function without budget checks: used only when
the budget at entry covers every instruction of the function, so a run that may run out
takes the checked code and stops where the interpreter stops."""

from __future__ import annotations

import itertools

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
from pybpf.asm import assemble
from pybpf.errors import BpfLimitError
from pybpf.jit import JitMachine, backend
from pybpf.vm import Machine

_seeds = itertools.count(0x7B0D_0000)

# 12 instructions, forward jumps only, a native helper call.
LOOP_FREE = """
r0 = {seed}
r6 = r1
if r6 > 5 goto big
r0 += 1
r0 += 2
goto out
big:
r0 += 3
call 7
r0 = r6
out:
r0 += 4
exit
"""

WITH_LOOP = """
r0 = {seed}
loop:
r0 += 1
if r0 < r1 goto loop
exit
"""


@pytest.fixture(autouse=True)
def no_disk_cache():
    backend.set_disk_cache(False)
    yield
    backend.set_disk_cache(None)


def _module(source: str, copies: bool) -> str:
    from pybpf.jit.codegen import ModuleBuilder

    machine = JitMachine(assemble(source.format(seed=next(_seeds))))
    return ModuleBuilder(machine.program, frozenset(machine.constants),
                         native_helpers=machine.native_helpers,
                         unguarded_copies=copies).build()[0]


def test_a_loop_free_program_gets_an_unchecked_copy_and_a_loop_does_not():
    full = _module(LOOP_FREE, True)
    assert "@bpf_f0_free(" in full and "icmp sge i64" in full
    assert "_free" not in _module(LOOP_FREE, False)     # (the fast tier's)
    assert "_free" not in _module(WITH_LOOP, True)


@pytest.mark.parametrize("arg", [1, 9])
def test_budgets_around_the_bound_run_as_the_interpreter(arg):
    """Budgets below the function's length take the checked code (and may run out
    where the interpreter does); at or above it, the copy: the same results."""
    for budget in range(0, 15):
        source = LOOP_FREE.format(seed=7)
        jit = JitMachine(assemble(source), budget=budget)
        jit.tier_up()
        interp = Machine(assemble(source), budget=budget)
        try:
            want = interp.run(arg)
        except BpfLimitError as e:
            with pytest.raises(BpfLimitError) as info:
                jit.run(arg)
            assert str(info.value) == str(e), budget
            continue
        got = jit.run(arg)
        assert (got.r0, got.executed) == (want.r0, want.executed), budget
