"""The conformance plugin's protocol: arguments, hex encoding, output and error lines."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf import conformance
from pybpf.conformance import PluginError, decode_hex, encode_hex, main, parse_test_file

EXIT_2 = "b7  00  00  00  02  00  00  00  95  00  00  00  00  00  00  00  "   # mov r0, 2; exit


def run(argv, stdin="", monkeypatch=None, capsys=None):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def plugin(monkeypatch, capsys):
    return lambda argv, stdin="": run(argv, stdin, monkeypatch, capsys)


# -- hex encoding -------------------------------------------------------------------------

def test_encode_hex_is_the_runners_format():
    assert encode_hex(b"\xaa\x0b") == "aa  0b  "
    assert encode_hex(b"") == ""


def test_decode_hex():
    assert decode_hex("aa  0b  \n") == b"\xaa\x0b"
    assert decode_hex("AA b c") == b"\xaa\x0b\x0c"
    with pytest.raises(PluginError, match=r"invalid program: byte 1 is 'xyz'"):
        decode_hex("00 xyz", "program")
    with pytest.raises(PluginError, match="byte 0 is '100'"):
        decode_hex("100")


# -- protocol ------------------------------------------------------------------------------

def test_runs_program_from_stdin(plugin):
    assert plugin([], EXIT_2 + "\n") == (0, "0x2\n", "")


def test_memory_argument_and_r0_format(plugin):
    # ldxdw r0, [r1]; exit — the memory is the first argument.
    prog = encode_hex(bytes.fromhex("7910000000000000" "9500000000000000"))
    status, out, err = plugin([encode_hex(b"\xff" * 8)], prog + "\n")
    assert (status, out, err) == (0, "0xffffffffffffffff\n", "")


def test_plugin_options_follow_memory(plugin):
    """The runner passes [memory, plugin options..., --elf]; unknown --options are ignored."""
    prog = encode_hex(bytes.fromhex("bf20000000000000" "9500000000000000"))  # mov r0, r2
    assert plugin(["01  02  03  ", "--jit", "--interpret"], prog)[:2] == (0, "0x3\n")
    assert plugin(["--jit", ""], prog)[:2] == (0, "0x0\n")   # no memory: r2 = 0


def test_program_option(plugin):
    assert plugin(["--program", EXIT_2])[:2] == (0, "0x2\n")


def test_debug_prints_disassembly_to_stderr(plugin):
    status, out, err = plugin(["--debug"], EXIT_2)
    assert (status, out) == (0, "0x2\n")
    assert "   0: mov %r0, 2" in err and "   1: exit" in err


def _elf(program_hex: str) -> str:
    from pybpf.elf.writer import write_program
    from pybpf.isa import decode

    return encode_hex(write_program(decode(decode_hex(program_hex)), section="socket"))


def test_elf_input_runs_its_code_section(plugin):
    assert plugin(["--elf"], _elf(EXIT_2)) == (0, "0x2\n", "")


def test_elf_after_memory_and_options(plugin):
    prog = encode_hex(bytes.fromhex("bf20000000000000" "9500000000000000"))  # mov r0, r2
    assert plugin(["01  02  ", "--debug", "--elf"], _elf(prog))[:2] == (0, "0x2\n")


def test_elf_that_is_not_an_object(plugin):
    status, out, err = plugin(["--elf"], EXIT_2)
    assert (status, out) == (1, "")
    assert err.startswith("invalid program: ") and err.count("\n") == 1


@pytest.mark.parametrize("stdin, message", [
    ("zz\n", "invalid program: byte 0 is 'zz'"),
    ("\n", "invalid program: no instructions on stdin"),
])
def test_bad_program_text(plugin, stdin, message):
    status, out, err = plugin([], stdin)
    assert (status, out) == (1, "")
    assert err == message + (", expected two hex digits" if "byte" in message else "") + "\n"


@pytest.mark.parametrize("code, message", [
    ("95 00 00", "invalid program: instruction 0: length 3 is not a multiple of 8"),
    ("ff 00 00 00 00 00 00 00", "invalid program: instruction 0: unknown opcode 0xff"),
    ("18 00 00 00 00 00 00 00", "invalid program: instruction 0: truncated lddw"),
])
def test_invalid_bytecode(plugin, code, message):
    status, out, err = plugin([], code)
    assert (status, out) == (1, "")
    assert err.startswith(message) and err.count("\n") == 1


def test_bad_memory(plugin):
    status, _, err = plugin(["0g  "], EXIT_2)
    assert status == 1 and err == "invalid memory: byte 0 is '0g', expected two hex digits\n"


def test_stray_argument(plugin):
    status, _, err = plugin(["00  ", "extra"], EXIT_2)
    assert status == 2 and err == "unexpected argument 'extra' (memory must come first)\n"


def test_program_option_needs_a_value(plugin):
    assert plugin(["--program"], "")[0] == 2


def test_help(plugin):
    status, out, _ = plugin(["--help"])
    assert status == 0 and out.startswith("usage: pybpf-conformance-plugin")


def test_fault_is_one_line(plugin):
    # ldxw r0, [r1+4] with 4 bytes of memory
    prog = encode_hex(bytes.fromhex("6110040000000000" "9500000000000000"))
    status, out, err = plugin(["01  02  03  04  "], prog)
    assert (status, out) == (1, "")
    assert err.startswith("memory error: instruction 0: ") and err.count("\n") == 1
    assert "read of 4 bytes" in err


def test_unexpected_exception_is_one_line(plugin, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("bad\nthing")

    monkeypatch.setattr(conformance, "run_program", boom)
    status, out, err = plugin([], EXIT_2)
    assert (status, out, err) == (1, "", "internal error: RuntimeError: bad thing\n")


def test_no_traceback_as_a_subprocess():
    proc = subprocess.run([sys.executable, "-m", "pybpf.conformance", "--elf"], input="00\n",
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("invalid program: ")
    assert "Traceback" not in proc.stderr


# -- .data files -----------------------------------------------------------------------------

def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "case.data"
    path.write_text(text)
    return path


def test_parse_test_file(tmp_path):
    case = parse_test_file(_write(tmp_path, (
        "# comment -- not a section\n-- asm\nmov %r0, 1 # a comment\nexit\n"
        "-- mem\n00 01\nff\n-- no register offset\ncall instruction\n-- result\n0x10\n")))
    assert case.asm.splitlines()[2:4] == ["mov %r0, 1 # a comment", "exit"]
    assert case.memory == b"\x00\x01\xff" and case.result == 16 and case.error is None
    assert case.raw is None


def test_parse_raw_error_and_decimal_result(tmp_path):
    case = parse_test_file(_write(tmp_path, (
        "-- asm\nexit\n-- raw\n0x0000000000000095\n-- result\n42\n-- error\nboom\n")))
    assert case.raw == bytes.fromhex("9500000000000000")
    assert (case.result, case.error) == (42, "boom")


def test_parse_c_section_is_ignored(tmp_path):
    case = parse_test_file(_write(tmp_path, "-- c\nint x;\n-- asm\nexit\n-- result\n0x0\n"))
    assert case.asm.strip() == "exit"


@pytest.mark.parametrize("text, message", [
    ("-- asm\nexit\n-- bogus\n", "unknown section '-- bogus'"),
    ("-- asm\nexit\n", "neither '-- result' nor '-- error'"),
])
def test_parse_errors(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        parse_test_file(_write(tmp_path, text))
