"""pybpf: a complete eBPF system in Python.

``import pybpf`` stays light: the loaders, maps and engines are imported on first use.
"""

from __future__ import annotations

from typing import Any

from pybpf.env import Env, Route, Task
from pybpf.errors import (
    AsmError, BpfDecodeError, BpfError, BpfHelperError, BpfLimitError, BpfMapError,
    BpfMemoryError, BpfRuntimeError, BpfSyscallError, BpfTypeError, BpfValueError, CompileError,
    ElfError, FilterError, MapSizeError, PacketRunError, PcapError, VerifierError,
)
from pybpf.isa.uapi import BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, MapType, ProgType

__version__ = "0.1.0"

_LAZY = {
    "compile": ("pybpf._api", "compile"),
    "open": ("pybpf._api", "open"),
    "load": ("pybpf._api", "load"),
    "verify": ("pybpf.verifier", "verify"),
    "Object": ("pybpf.engine", "Object"),
    "Program": ("pybpf.engine", "Program"),
    "Map": ("pybpf.kernel.objmap", "KernelObjectMap"),
    "TestRunResult": ("pybpf.engine", "TestRunResult"),
    "ObjectSpec": ("pybpf.elf.spec", "ObjectSpec"),
    "ProgramSpec": ("pybpf.elf.spec", "ProgramSpec"),
    "MapSpec": ("pybpf.elf.spec", "MapSpec"),
    "RingBuffer": ("pybpf.maps", "RingBuffer"),
    "PerfBuffer": ("pybpf.maps", "PerfBuffer"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'pybpf' has no attribute {name!r}") from None
    import importlib

    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = [
    "AsmError", "BPF_ANY", "BPF_EXIST", "BPF_F_LOCK", "BPF_NOEXIST", "BpfDecodeError", "BpfError",
    "BpfHelperError", "BpfLimitError", "BpfMapError", "BpfMemoryError", "BpfRuntimeError",
    "BpfSyscallError", "BpfTypeError", "BpfValueError", "CompileError", "ElfError", "Env",
    "FilterError",
    "Map", "MapSizeError", "MapSpec", "MapType", "PacketRunError", "PcapError", "Object", "ObjectSpec", "PerfBuffer", "ProgType",
    "Program", "ProgramSpec", "Route", "RingBuffer", "Task", "TestRunResult", "VerifierError",
    "compile", "load", "open", "verify",
]
