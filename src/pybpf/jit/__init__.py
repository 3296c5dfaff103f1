"""The JIT: eBPF programs compiled to native code through LLVM (llvmlite).

``JitMachine`` has the interpreter Machine's contract (same results, same errors, the
same Memory, helpers and program types); ``pybpf.jit.engine.load`` is the ``jit`` engine.
Modules, by stage: :mod:`.codegen` (functions, blocks, control flow, calls), :mod:`.alu`
and :mod:`.memops` (instructions by class), :mod:`.abi` (the run context native code and
Python share), :mod:`.backend` (LLVM: optimise, load, cache), :mod:`.machine`.
llvmlite is imported on first use, so ``import pybpf`` stays fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JitMachine", "load", "jit_available"]


def jit_available() -> tuple[bool, str]:
    """Whether the JIT can run here (llvmlite importable), and if not, why."""
    try:
        import llvmlite.binding  # noqa: F401
    except ImportError as e:
        return False, f"the jit engine needs llvmlite (pip install 'llvmlite>=0.44'): {e}"
    return True, ""


def __getattr__(name: str) -> Any:
    if name == "JitMachine":
        from pybpf.jit.machine import JitMachine

        return JitMachine
    if name == "load":
        from pybpf.jit.engine import load

        return load
    raise AttributeError(name)
