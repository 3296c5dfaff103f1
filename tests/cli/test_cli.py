"""The pybpf command: input detection, asm/disasm/run, errors without tracebacks."""

import json
import subprocess
import sys

import pytest

from pybpf.cli.main import main, parse_hex
from pybpf.errors import BpfError
from pybpf.isa import Instruction, encode

I = Instruction.make
PROG = encode([I("ldx8", dst=0, src=1, off=1), I("add64_reg", dst=0, src=2), I("exit")])


@pytest.fixture
def prog_file(tmp_path):
    path = tmp_path / "prog.bin"
    path.write_bytes(PROG)
    return path


def test_run_raw_with_mem_prints_r0_hex(prog_file, capsys):
    assert main(["run", str(prog_file), "--mem", "0a 0b\n0c"]) == 0
    assert capsys.readouterr().out.strip() == "0xe"          # mem[1] + len = 0x0b + 3


def test_run_stats_and_json(prog_file, capsys):
    assert main(["run", str(prog_file), "--mem", "0a0b", "--stats"]) == 0
    captured = capsys.readouterr()
    assert "instructions executed: 3" in captured.err
    assert "instructions per second" in captured.err
    assert main(["run", str(prog_file), "--mem", "0a0b", "-j"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["r0"] == 0x0D and out["executed"] == 3 and out["mem"] == "0a0b"


def test_run_budget(tmp_path, capsys):
    path = tmp_path / "loop.bin"
    path.write_bytes(encode([I("ja", off=-1)]))
    assert main(["run", str(path), "--budget", "50"]) == 1
    err = capsys.readouterr().err
    assert "instruction budget of 50 exhausted" in err and "Traceback" not in err


def test_bad_input_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "bad.bin"
    path.write_bytes(b"\x95" + bytes(8))
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "not a multiple of 8" in err and "Traceback" not in err
    assert main(["run", str(tmp_path / "missing.bin")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_memory_fault_reported(prog_file, capsys):
    assert main(["run", str(prog_file), "--mem", "01"]) == 1
    err = capsys.readouterr().err
    assert "instruction 0" in err and "out-of-bounds read of 1 bytes" in err and "region mem" in err


def test_mem_hex_parsing():
    assert parse_hex("aa  bb\ncc") == b"\xaa\xbb\xcc"
    assert parse_hex("0xaabb") == b"\xaa\xbb"
    with pytest.raises(BpfError, match="character 'z'"):
        parse_hex("aazz")
    with pytest.raises(BpfError, match="odd number"):
        parse_hex("abc")


def test_elf_and_c_inputs_get_clear_errors(tmp_path, capsys):
    elf = tmp_path / "x.o"
    elf.write_bytes(b"\x7fELF" + bytes(60))
    assert main(["disasm", str(elf)]) == 1
    assert "ELF" in capsys.readouterr().err
    c = tmp_path / "x.c"
    c.write_text("int x;")
    assert main(["run", str(c)]) == 1
    assert "C" in capsys.readouterr().err


def test_debug_shows_traceback(prog_file):
    with pytest.raises(BpfError):
        main(["--debug", "run", str(prog_file), "--mem", "01"])


def test_console_script_runs_as_subprocess(prog_file):
    out = subprocess.run([sys.executable, "-m", "pybpf.cli.main", "run", str(prog_file),
                          "--mem", "0102"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0x4"


def test_asm_then_disasm_round_trip(tmp_path, capsys):
    src = tmp_path / "p.s"
    src.write_text("r1 = 0x123456789 ll\nif w1 s> -3 goto +1\nw0 = (s8)w1\nexit\n")
    out = tmp_path / "p.bin"
    assert main(["asm", str(src), "-o", str(out)]) == 0
    assert len(out.read_bytes()) == 5 * 8
    assert main(["disasm", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":", 1)[0].strip() for line in lines] == ["0", "2", "3", "4"]
    assert lines[0].endswith("r1 = 0x123456789 ll")
    assert lines[1].endswith("if w1 s> -0x3 goto +0x1")
    (tmp_path / "q.s").write_text("\n".join(line.split(": ", 1)[1] for line in lines) + "\n")
    assert main(["asm", str(tmp_path / "q.s"), "-o", str(tmp_path / "q.bin")]) == 0
    assert (tmp_path / "q.bin").read_bytes() == out.read_bytes()


def test_asm_error_points_at_line_and_column(tmp_path, capsys):
    src = tmp_path / "bad.s"
    src.write_text("r0 = 1\nr0 += r11\nexit\n")
    assert main(["asm", str(src)]) == 1
    err = capsys.readouterr().err
    assert f"{src}:2:" in err and "r11" in err and "Traceback" not in err


def test_run_assembly_with_trace(tmp_path, capsys):
    src = tmp_path / "t.s"
    src.write_text("r0 = 7\nr0 *= 6\nexit\n")
    assert main(["run", str(src), "--trace"]) == 0
    out = capsys.readouterr().out
    assert "r0 *= 0x6" in out and "r0=0x2a" in out and out.strip().endswith("0x2a")
