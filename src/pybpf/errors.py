"""Every error pybpf raises: one base, one subclass per layer.

Where a builtin fits, the subclass inherits it too, so ordinary Python code catches
what it expects (a bad key size is a ``ValueError``; anything with an errno is an
``OSError`` carrying the kernel's errno). Each error says where it happened.
"""

from __future__ import annotations

import errno as _errno
import os


class BpfError(Exception):
    """Base of every pybpf error."""


class BpfDecodeError(BpfError, ValueError):
    """Malformed bytecode: names the instruction (slot) index and the reason."""

    def __init__(self, reason: str, index: int | None = None):
        self.reason = reason
        self.index = index
        where = f"instruction {index}: " if index is not None else ""
        super().__init__(f"{where}{reason}")


class AsmError(BpfError, ValueError):
    """Assembly text that cannot be assembled: names line, column and what was expected."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 source: str | None = None, filename: str | None = None):
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.filename = filename
        where = filename or "<asm>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        text = f"{where}: {message}"
        if source is not None and column is not None:
            text += f"\n    {source}\n    {' ' * (column - 1)}^"
        super().__init__(text)


class ElfError(BpfError, ValueError):
    """A malformed or unsupported ELF object: names the section and offset."""


class CompileError(BpfError):
    """C source that clang could not compile; carries clang's diagnostics."""

    def __init__(self, message: str, diagnostics: str = ""):
        self.diagnostics = diagnostics
        super().__init__(message + (f"\n{diagnostics}" if diagnostics else ""))


class BpfRuntimeError(BpfError):
    """A fault while a program runs: names the instruction index where it happened."""

    def __init__(self, message: str, pc: int | None = None):
        self.message = message
        self.pc = pc
        where = f"instruction {pc}: " if pc is not None else ""
        super().__init__(f"{where}{message}")


class BpfMemoryError(BpfRuntimeError):
    """An out-of-region, partially overlapping, null or read-only memory access."""

    def __init__(self, message: str, pc: int | None = None, address: int | None = None,
                 size: int | None = None, region: str | None = None):
        self.address = address
        self.size = size
        self.region = region
        super().__init__(message, pc)


class BpfHelperError(BpfRuntimeError):
    """A helper call that cannot be made: unknown id, or the helper failed."""


class BpfLimitError(BpfRuntimeError):
    """A run that exceeded a limit: instruction budget, call depth, stack, tail calls."""


class BpfSyscallError(BpfError, OSError):
    """A failed bpf(2) call; ``errno`` is the kernel's."""

    def __init__(self, err: int, message: str):
        BpfError.__init__(self)
        OSError.__init__(self, err, f"{message}: {os.strerror(err)} ({_errno.errorcode.get(err, err)})")


class BpfMapError(BpfSyscallError):
    """A map operation refused as the kernel would refuse it; same errno on every engine."""


class BpfValueError(BpfError, ValueError):
    """A value of the right type but wrong shape: a map key or value of the wrong size."""


class BpfTypeError(BpfError, TypeError):
    """An argument of the wrong type: a map key that is not bytes-like, a non-program in a
    prog_array."""


class MapSizeError(BpfMapError, BpfValueError):
    """A map key or value of the wrong size: a ValueError, and an OSError with EINVAL (what
    bpf(2) says when it reads the wrong number of bytes), the same on every engine."""

    def __init__(self, message: str):
        BpfMapError.__init__(self, _errno.EINVAL, message)


class PcapError(BpfError, ValueError):
    """A capture that cannot be read: names the file and, where it applies, the record.

    ``record`` is the 0-based index of the packet record (pcap) or block (pcapng).
    """

    def __init__(self, path: str, message: str, record: int | None = None):
        self.path = path
        self.record = record
        where = f"{path}: record {record}: " if record is not None else f"{path}: "
        super().__init__(where + message)


class PacketRunError(BpfError):
    """The engine could not run the program on one packet: names the packet (0-based)."""

    def __init__(self, index: int, cause: BaseException):
        self.index = index
        self.cause = cause
        super().__init__(f"packet {index}: {cause}")


class FilterError(BpfError, ValueError):
    """A filter expression libpcap would refuse, with libpcap's message.

    ``message`` is libpcap's text (``syntax error``, ``unknown host 'nosuch'``,
    ``expression rejects all packets``...); ``column`` is the 1-based column in the
    expression where the problem was noticed, or None when it concerns the whole filter."""

    def __init__(self, message: str, column: int | None = None, expression: str | None = None):
        self.message = message
        self.column = column
        self.expression = expression
        text = message
        if column is not None:
            text += f" (column {column})"
        super().__init__(text)


class VerifierError(BpfError):
    """A program the verifier rejected: keeps the whole log and the first error line."""

    def __init__(self, message: str, log: str = "", error: str | None = None,
                 insn: int | None = None, errno: int | None = None):
        self.log = log
        self.error = error
        self.insn = insn
        self.errno = errno
        self.source_line = None    # the C line of ``insn``, where the object has line info
        super().__init__(message)


__all__ = [
    "BpfError", "BpfDecodeError", "AsmError", "ElfError", "CompileError",
    "BpfRuntimeError", "BpfMemoryError", "BpfHelperError", "BpfLimitError",
    "BpfSyscallError", "BpfMapError", "BpfValueError", "BpfTypeError", "MapSizeError",
    "PcapError", "PacketRunError", "FilterError", "VerifierError",
]
