"""The bpf_conformance plugin: run one conformance test program on the pybpf interpreter.

The suite's runner (``bpf_conformance_runner --plugin_path pybpf-conformance-plugin``)
starts the plugin once per test as::

    pybpf-conformance-plugin [MEMHEX] [PLUGIN OPTIONS...] [--elf]

``MEMHEX``, present only when the test has memory, is every byte as two lowercase hex
digits followed by two spaces (``"aa  bb  "``). The program's bytecode arrives on stdin in
the same encoding followed by one newline (with ``--elf``: an ELF object, same encoding;
``--program HEX`` passes it as an argument instead, as the uBPF and libbpf plugins allow).

At run time r1 points to a writable copy of the memory (0 when there is none), r2 holds
its length and r10 the top of a 512-byte stack. Helper 5 ("unwind") returns r1, and ends
the program with r0 = 0 when r1 is 0. Programs run unverified.

On success the plugin prints r0 as ``0x...`` (lowercase hex, the runner parses it with
``stoull(s, nullptr, 16)``) and exits 0. When the program cannot be run or faults, it
prints one line to stderr (the runner takes stderr when stdout is empty and compares it,
trailing whitespace stripped, with the test's ``-- error`` line) and exits 1; bad
arguments exit 2. It never prints a traceback.

This module also reads the suite's ``.data`` files (:func:`parse_test_file`), for tests.
"""

from __future__ import annotations

import os
import re
import struct
import sys
from dataclasses import dataclass
from typing import Sequence

__all__ = ["DataFile", "decode_hex", "encode_hex", "main", "parse_test_file", "run_program"]

USAGE = """\
usage: pybpf-conformance-plugin [MEMHEX] [--debug] [--elf] [--program HEX]

Runs one BPF ISA conformance test program on the pybpf interpreter: bytecode as hex
bytes on stdin (or --program), memory as hex bytes in MEMHEX; prints r0 in hex.
"""

_HEX_BYTE = re.compile(r"[0-9a-fA-F]{1,2}")
U64 = (1 << 64) - 1


class PluginError(ValueError):
    """A problem to report on one line; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------------------
# The hex encoding of the protocol
# ---------------------------------------------------------------------------------------

def encode_hex(data: bytes) -> str:
    """The runner's encoding: each byte as two lowercase hex digits and two spaces."""
    return "".join(f"{b:02x}  " for b in data)


def decode_hex(text: str, what: str = "input") -> bytes:
    """Bytes from whitespace-separated hex bytes; raises PluginError naming the bad one."""
    out = bytearray()
    for i, token in enumerate(text.split()):
        if not _HEX_BYTE.fullmatch(token):
            raise PluginError(f"invalid {what}: byte {i} is {token!r}, expected two hex digits")
        out.append(int(token, 16))
    return bytes(out)


# ---------------------------------------------------------------------------------------
# The plugin
# ---------------------------------------------------------------------------------------

@dataclass
class _Args:
    memory: str | None = None
    program: str | None = None
    elf: bool = False
    debug: bool = False


def _parse_args(argv: Sequence[str]) -> _Args | None:
    """The runner's argument order; None when help was asked for."""
    args = _Args()
    rest = [a for a in argv if a != ""]     # the runner splits plugin options on ' '
    if rest and rest[0] in ("-h", "--help"):
        return None
    if rest and not rest[0].startswith("--"):
        args.memory = rest.pop(0)
    while rest:
        arg = rest.pop(0)
        if arg == "--elf":
            args.elf = True
        elif arg == "--debug":
            args.debug = True
        elif arg == "--program":
            if not rest:
                raise PluginError("--program needs the program as hex bytes", 2)
            args.program = rest.pop(0)
        elif arg in ("-h", "--help"):
            return None
        elif arg.startswith("--"):
            continue                         # other runners' options (--jit, ...) are ignored
        else:
            raise PluginError(f"unexpected argument {arg!r} (memory must come first)", 2)
    return args


def _helpers():
    from pybpf.vm import HelperRegistry, ProgramExit

    helpers = HelperRegistry()

    @helpers.helper(5, "unwind")
    def unwind(call, r1, r2, r3, r4, r5):  # noqa: ARG001 - the helper ABI passes all five
        if r1 == 0:
            raise ProgramExit(0)
        return r1

    return helpers


def bytecode_from_elf(data: bytes) -> bytes:
    """The code of the object's first executable section that has any (the runner's ELF
    holds the test program alone, with no relocations to apply)."""
    from pybpf.elf.elffile import read_elf

    for section in read_elf(data).sections:
        if section.executable and section.size:
            return section.data
    raise PluginError("invalid program: the ELF object has no code section")


def run_program(program: bytes, memory: bytes | None, debug: bool = False) -> int:
    """Decode and run conformance bytecode on the interpreter; r0 as an unsigned int.

    Raises BpfDecodeError for malformed bytecode, BpfRuntimeError subclasses for faults.
    """
    from pybpf.isa import decode

    insns = decode(program)
    if debug:
        from pybpf.asm.ubpf import disassemble

        for i, text in enumerate(disassemble(insns)):
            print(f"{i:4}: {text}", file=sys.stderr)
    from pybpf.vm import Machine

    result = Machine(insns, helpers=_helpers()).run(mem=memory or None)
    return result.r0 & U64


def _category(exc: BaseException) -> str:
    from pybpf import errors

    for cls, name in ((errors.BpfDecodeError, "invalid program"),
                      (errors.ElfError, "invalid program"),
                      (errors.BpfMemoryError, "memory error"),
                      (errors.BpfHelperError, "helper error"),
                      (errors.BpfLimitError, "limit exceeded"),
                      (errors.BpfRuntimeError, "runtime error")):
        if isinstance(exc, cls):
            return name
    return "internal error"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the plugin; returns the exit status (prints r0, or one line of error)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = _parse_args(argv)
        if args is None:
            sys.stdout.write(USAGE)
            return 0
        memory = decode_hex(args.memory, "memory") if args.memory is not None else b""
        text = args.program if args.program is not None else sys.stdin.read()
        program = decode_hex(text, "program")
        if args.elf:
            program = bytecode_from_elf(program)
        if not program:
            raise PluginError("invalid program: no instructions on stdin")
        r0 = run_program(program, memory, args.debug)
    except PluginError as e:
        print(_one_line(str(e)), file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - a plugin reports every failure on one line
        from pybpf.errors import BpfError

        category = _category(e)
        message = str(e) if isinstance(e, BpfError) else f"{type(e).__name__}: {e}"
        print(_one_line(f"{category}: {message}"), file=sys.stderr)
        return 1
    print(f"{r0:#x}")
    return 0


# ---------------------------------------------------------------------------------------
# The suite's .data files
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataFile:
    """One conformance test file.

    ``asm`` keeps the file's line numbers (lines outside the ``-- asm`` section are
    blank), so assembler errors point into the ``.data`` file. ``result`` is the expected
    r0 (None when the test expects an error); ``error`` the expected error text; ``raw``
    the expected encoding from ``-- raw`` (None when absent).
    """

    path: str
    asm: str
    memory: bytes
    result: int | None
    error: str | None
    raw: bytes | None


_SECTIONS = ("asm", "result", "mem", "raw", "no register offset", "error")


def parse_test_file(path: str | os.PathLike[str]) -> DataFile:
    """Read a ``.data`` file the way the suite's test parser does.

    A line's ``#`` starts a comment; a line containing ``--`` starts a section (``asm``,
    ``mem``, ``result``, ``error``, ``raw``; ``c`` and ``no register offset`` are ignored);
    ``result`` and ``error`` keep their last line. Raises ValueError for an unknown
    section or a file with neither result nor error.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    section = None
    asm: list[str] = []
    mem: list[str] = []
    raw: list[str] = []
    result = error = None
    for lineno, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if "--" in code:
            name = code.split("--", 1)[1].strip()
            if name in _SECTIONS:
                section = name
            elif name == "c":
                section = None
            else:
                raise ValueError(f"{path}:{lineno}: unknown section {code.strip()!r}")
            continue
        if section == "asm":
            asm.extend([""] * (lineno - 1 - len(asm)))
            asm.append(line)
        elif not code.strip():
            continue
        elif section == "result":
            result = code.strip()
        elif section == "mem":
            mem.append(code)
        elif section == "raw":
            raw.append(code)
        elif section == "error":
            error = code.strip()
    if result is None and error is None:
        raise ValueError(f"{path}: neither '-- result' nor '-- error'")
    value = None if result is None else int(result, 16 if "0x" in result else 10)
    raw_bytes = None
    if raw:
        raw_bytes = b"".join(struct.pack("<Q", int(w, 16 if w.startswith("0x") else 10))
                             for w in " ".join(raw).split())
    return DataFile(path, "\n".join(asm) + "\n", decode_hex(" ".join(mem), "memory"), value,
                    error, raw_bytes)


if __name__ == "__main__":
    sys.exit(main())
