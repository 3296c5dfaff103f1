"""The BPF ISA conformance suite, and pybpf's own cases, through the plugin as a subprocess.

Each test does what bpf_conformance_runner does for one file: assemble the ``-- asm``
section, start the plugin with the memory as its first argument (each byte as two hex
digits and two spaces), write the bytecode to its stdin in the same encoding followed by
a newline, and compare the r0 it prints (parsed as hex) with ``-- result``.

pybpf's own cases (``data/*.data``) may instead have ``-- error``: the plugin must exit
non-zero and print one line containing that text (the upstream runner compares the whole
line; pybpf's memory errors carry host addresses, so a fragment is matched here).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.asm.ubpf import assemble
from pybpf.conformance import encode_hex, parse_test_file
from pybpf.isa import encode

HERE = Path(__file__).resolve().parent
SUITE_DIR = HERE.parents[1].parent / "shared" / "bpf_conformance" / "tests"
SUITE_FILES = sorted(SUITE_DIR.glob("*.data"))
OWN_FILES = sorted((HERE / "data").glob("*.data"))
PLUGIN = [sys.executable, "-m", "pybpf.conformance"]
OUTPUT = re.compile(r"0x[0-9a-f]+\n")


def run_plugin(program: bytes, memory: bytes, command=None, options=()) -> subprocess.CompletedProcess:
    """Start the plugin the way the suite's runner does."""
    args = [*(command or PLUGIN), *([encode_hex(memory)] if memory else []), *options]
    return subprocess.run(args, input=encode_hex(program) + "\n", capture_output=True, text=True,
                          timeout=60)


def check(path: Path, command=None) -> None:
    case = parse_test_file(path)
    program = encode(assemble(case.asm, filename=str(path)))
    proc = run_plugin(program, case.memory, command)
    assert "Traceback" not in proc.stderr
    if case.error is not None:
        assert proc.returncode == 1, proc.stdout
        assert proc.stdout == ""
        assert proc.stderr.endswith("\n") and proc.stderr.count("\n") == 1, proc.stderr
        assert case.error in proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    assert OUTPUT.fullmatch(proc.stdout), proc.stdout
    assert int(proc.stdout, 16) == case.result, f"r0 = {proc.stdout.strip()}, expected {case.result:#x}"


@pytest.mark.skipif(not SUITE_FILES, reason=f"no conformance suite at {SUITE_DIR}")
@pytest.mark.parametrize("path", SUITE_FILES, ids=lambda p: p.stem)
def test_suite(path):
    check(path)


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.stem)
def test_own_case(path):
    check(path)


def test_own_cases_are_there():
    assert len(OWN_FILES) >= 150


def test_console_script():
    """The installed pybpf-conformance-plugin speaks the same protocol."""
    script = shutil.which("pybpf-conformance-plugin")
    if script is None:
        pytest.skip("pybpf-conformance-plugin is not on PATH (pip install -e .)")
    check(HERE / "data" / "env-memory-length.data", command=[script])
