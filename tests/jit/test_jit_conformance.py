"""The BPF ISA conformance suite (313 programs) and pybpf's own cases, on JitMachine.

Each ``.data`` file is assembled and run in-process as the conformance plugin runs it
(memory at r1, its length in r2, helper 5 "unwind"), and r0 compared with ``-- result``;
a case with ``-- error`` must fail with that text in the plugin's one-line message. The
interpreter is run on the same case too, and must fail or succeed the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jit_support import without_addresses
from pybpf.asm.ubpf import assemble
from pybpf.conformance import _category, _helpers, parse_test_file
from pybpf.errors import BpfError
from pybpf.isa import decode, encode
from pybpf.jit import JitMachine
from pybpf.vm import Machine

HERE = Path(__file__).resolve().parent
SUITE_DIR = HERE.parents[1].parent / "shared" / "bpf_conformance" / "tests"
SUITE_FILES = sorted(SUITE_DIR.glob("*.data"))
OWN_FILES = sorted((HERE.parent / "conformance" / "data").glob("*.data"))


def plugin_outcome(cls: type, path: Path) -> tuple[str, object]:
    """('ok', r0) or ('error', the plugin's one-line message)."""
    case = parse_test_file(path)
    try:
        insns = decode(encode(assemble(case.asm, filename=str(path))))
        result = cls(insns, helpers=_helpers()).run(mem=case.memory or None)
    except BpfError as e:
        return "error", f"{_category(e)}: {' '.join(str(e).split())}"
    return "ok", result.r0


def check(path: Path) -> None:
    case = parse_test_file(path)
    kind, value = plugin_outcome(JitMachine, path)
    if case.error is not None:
        assert kind == "error" and case.error in value, value
    else:
        assert (kind, value) == ("ok", case.result), f"expected {case.result:#x}"
    interp = plugin_outcome(Machine, path)
    if kind == "error":
        assert interp[0] == "error"
        assert without_addresses(interp[1]) == without_addresses(value)


@pytest.mark.skipif(not SUITE_FILES, reason=f"no conformance suite at {SUITE_DIR}")
@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_suite(path):
    check(path)


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.stem)
def test_own_case(path):
    check(path)


def test_whole_suite_is_there():
    if not SUITE_FILES:
        pytest.skip(f"no conformance suite at {SUITE_DIR}")
    assert len(SUITE_FILES) == 313
