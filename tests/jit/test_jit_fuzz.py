"""Differential fuzzing: random programs on JitMachine and the interpreter must agree.

Two sources (see :mod:`pybpf.jit.fuzz`): verifier-clean programs from
:func:`pybpf.testing.progen.generate` (ALU, stack memory, atomics, acquire/release,
branches), compared on r0-r10 and memory; and instruction soup, which also faults, loops
into the budget, falls off the end, writes r10, calls helpers and functions, compared on
the error class, instruction index and message as well. Seeds are fixed: the default run
takes a few hundred of each, ``-m slow`` thousands.
"""

from __future__ import annotations

import random

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
from pybpf.asm.ubpf import disassemble
from pybpf.jit.fuzz import compare, soup
from pybpf.testing import GenOptions, generate


def campaign(source: str, indexes) -> list[str]:
    reports = []
    for i in indexes:
        rng = random.Random(f"jit-{source}/{i}")
        insns = generate(rng, GenOptions()) if source == "progen" else soup(rng)
        status, interp, jit = compare(insns)
        assert status != "unstable", f"program {i} depends on buffer addresses"
        if status == "differ":
            listing = "\n".join(f"  {k}: {text}" for k, text in enumerate(disassemble(insns)))
            reports.append(f"{source} program {i}:\n  interp {interp}\n  jit    {jit}\n{listing}")
    return reports


def test_progen_programs_agree():
    assert campaign("progen", range(250)) == []


def test_instruction_soup_agrees():
    assert campaign("soup", range(400)) == []


def test_soup_reaches_faults_and_successes():
    """The soup is worth running: it hits the error paths and the normal exit."""
    kinds = set()
    for i in range(200):
        _, interp, _ = compare(soup(random.Random(f"jit-soup/{i}")))
        kinds.add(interp.kind)
    assert {"ok", "BpfMemoryError", "BpfRuntimeError", "BpfLimitError",
            "BpfHelperError"} <= kinds


@pytest.mark.slow
def test_progen_long():
    assert campaign("progen", range(250, 5_000)) == []


@pytest.mark.slow
def test_soup_long():
    assert campaign("soup", range(400, 10_000)) == []
