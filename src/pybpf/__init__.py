"""pybpf: a complete eBPF system in Python."""

from pybpf.errors import (
    AsmError, BpfDecodeError, BpfError, BpfHelperError, BpfLimitError, BpfMapError,
    BpfMemoryError, BpfRuntimeError, BpfSyscallError, CompileError, ElfError, VerifierError,
)

__version__ = "0.1.0"

__all__ = [
    "AsmError", "BpfDecodeError", "BpfError", "BpfHelperError", "BpfLimitError", "BpfMapError",
    "BpfMemoryError", "BpfRuntimeError", "BpfSyscallError", "CompileError", "ElfError",
    "VerifierError",
]
