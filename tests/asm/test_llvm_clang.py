"""Code clang-19 compiled from C: pybpf's disassembly against llvm-objdump-19's.

The stored fixtures (see data/README.md) always run; when clang-19 and llvm-objdump-19 are
installed the C sources are compiled again and compared live as well.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pybpf.asm import llvm
from pybpf.isa import Instruction, decode, encode

DATA = Path(__file__).parent / "data"
PROGRAMS = {"xdp_stats": ["xdp"], "subprog": [".text", "tc"]}
_INSN_LINE = re.compile(r"^\s*\d+:\t(.*?)(?: <[^<>]*>)?$")
_RELOC_LINE = re.compile(r"^\s+[0-9a-f]+:\s+R_BPF_")


def objdump_sections(text: str) -> dict[str, list[str]]:
    """Instruction text per section of ``llvm-objdump -dr`` output, relocation lines and
    ``<symbol+offset>`` annotations dropped."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("Disassembly of section "):
            current = sections.setdefault(line[len("Disassembly of section "):-1], [])
        elif current is not None and not _RELOC_LINE.match(line):
            m = _INSN_LINE.match(line)
            if m:
                current.append(m.group(1))
    return sections


def ours(insns: list[Instruction]) -> list[str]:
    """pybpf's text, with ``call pc+N`` (a local call) written as objdump writes it."""
    out = []
    for insn, text in zip(insns, llvm.disassemble(insns)):
        if insn.form.name == "call_local":
            text = "call " + text[len("call pc"):].lstrip("+")
        out.append(text)
    return out


CASES = [(prog, section) for prog, sections in PROGRAMS.items() for section in sections]


@pytest.mark.parametrize("prog,section", CASES, ids=[f"{p}:{s}" for p, s in CASES])
def test_fixture_disassembly_matches_objdump(prog, section):
    expected = objdump_sections((DATA / f"{prog}.objdump.txt").read_text())[section]
    code = (DATA / f"{prog}.{section.lstrip('.')}.bin").read_bytes()
    insns = decode(code)
    assert ours(insns) == expected
    # ... and the text assembles back to the same bytes.
    assert encode(llvm.assemble("\n".join(llvm.disassemble(insns)))) == code


def test_fixtures_use_v4_instructions():
    names = set()
    for prog, section in CASES:
        names |= {i.form.name for i in decode((DATA / f"{prog}.{section.lstrip('.')}.bin")
                                                 .read_bytes())}
    for expected in ("call_local", "call", "lddw", "atomic64_add", "atomic64_fetch_or",
                     "atomic64_cmpxchg", "atomic64_xchg", "bswap16", "bswap64", "movsx64_8",
                     "movsx64_32", "ldxs8", "sdiv32_reg", "exit"):
        assert expected in names, expected


_TOOLS = ("clang-19", "llvm-objdump-19", "llvm-objcopy-19")
_missing = [t for t in _TOOLS if shutil.which(t) is None]


@pytest.mark.skipif(bool(_missing), reason=f"{', '.join(_missing)} not installed")
@pytest.mark.parametrize("prog", PROGRAMS)
def test_live_clang_build(tmp_path, prog):
    obj = tmp_path / f"{prog}.o"
    subprocess.run(["clang-19", "-target", "bpf", "-O2", "-mcpu=v4", "-c",
                    str(DATA / f"{prog}.c"), "-o", str(obj)], check=True)
    dump = subprocess.run(["llvm-objdump-19", "-dr", "--mcpu=v4", "--no-show-raw-insn", str(obj)],
                          check=True, capture_output=True, text=True).stdout
    sections = objdump_sections(dump)
    assert set(sections) == set(PROGRAMS[prog])
    for section, expected in sections.items():
        out = tmp_path / "code.bin"
        subprocess.run(["llvm-objcopy-19", "-O", "binary", f"--only-section={section}",
                        str(obj), str(out)], check=True)
        assert ours(decode(out.read_bytes())) == expected
