"""pybpf disasm of objects and C (with source lines), pybpf asm --elf."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pybpf
from pybpf.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SOCKET_DNS = ROOT / "examples" / "socket_dns.c"


def test_disasm_c_interleaves_source_lines(capsys):
    assert main(["disasm", str(SOCKET_DNS)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "socket_dns (section socket):"
    assert out[1].startswith("; ") and "skb->protocol" in out[1]
    assert out[2].startswith("    0: ")
    # a map reference names the map
    assert any(line.endswith("; verdicts") and "ld_pseudo" in line for line in out)
    # a source line is printed once per run of its instructions
    sources = [line for line in out if line.startswith(";")]
    assert all(a != b for a, b in zip(sources, sources[1:]))


def test_disasm_object_json_and_no_source(tmp_path, capsys):
    obj = tmp_path / "dns.o"
    obj.write_bytes(pybpf.compile(SOCKET_DNS))
    assert main(["disasm", str(obj), "-j"]) == 0
    programs = json.loads(capsys.readouterr().out)
    assert [p["program"] for p in programs] == ["socket_dns"]
    first = programs[0]["insns"][0]
    assert first["index"] == 0 and "skb->protocol" in first["source"]
    assert main(["disasm", str(obj), "--no-source"]) == 0
    assert not any(line.startswith(";") for line in capsys.readouterr().out.splitlines())


def test_disasm_unknown_program(capsys):
    assert main(["disasm", str(SOCKET_DNS), "--prog", "nope"]) == 1
    assert "has no program 'nope' (it has: socket_dns)" in capsys.readouterr().err


def test_asm_elf_writes_an_object_pybpf_loads(tmp_path, capsys):
    src = tmp_path / "two.s"
    src.write_text("r0 = *(u32 *)(r1 + 0)\nr0 += 2\nexit\n")
    out = tmp_path / "two.o"
    assert main(["asm", "--elf", "--section", "socket", str(src), "-o", str(out)]) == 0
    obj = pybpf.load(out)
    prog = obj.programs["two"]
    assert prog.type == pybpf.ProgType.SOCKET_FILTER
    assert prog.test_run(data=bytes(60)).retval == 60 - 14 + 2     # skb->len + 2


@pytest.mark.kernel
def test_asm_elf_object_loads_in_the_kernel(tmp_path):
    from pybpf.kernel.libbpf import LibbpfObject

    src = tmp_path / "k.s"
    src.write_text("r0 = 2\nexit\n")
    out = tmp_path / "k.o"
    assert main(["asm", "--elf", "--section", "xdp", str(src), "-o", str(out)]) == 0
    with LibbpfObject(out) as kernel:
        assert kernel.test_run("k", bytes(60)).retval == 2


@pytest.mark.parametrize("argv, message", [
    (["--elf"], "--elf writes an object file: give it with -o FILE"),
    (["--elf", "--section", "bogus", "-o", "x.o"], "section 'bogus': unknown program section"),
])
def test_asm_elf_errors(tmp_path, capsys, argv, message):
    src = tmp_path / "a.s"
    src.write_text("r0 = 0\nexit\n")
    assert main(["asm", str(src), *argv]) == 1
    assert message in capsys.readouterr().err
