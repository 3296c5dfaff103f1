"""What the JIT tests share: the machines to compare and a run that reports errors as
values, so the JIT and the interpreter can be compared outcome for outcome."""

from __future__ import annotations

from typing import Any, Sequence

import pytest

pytest.importorskip("llvmlite", reason="the jit engine needs llvmlite")

from pybpf.errors import BpfError  # noqa: E402
from pybpf.jit import JitMachine  # noqa: E402
from pybpf.vm import Machine  # noqa: E402

MACHINES = {"interp": Machine, "jit": JitMachine}


def outcome(cls: type, insns: Sequence[Any], *, mem: bytes | None = None, **kw: Any) -> tuple:
    """('ok', r0, regs, mem) or ('error', class name, message) of one run."""
    try:
        machine = cls(list(insns), **{k: v for k, v in kw.items() if k != "args"})
        result = machine.run(*kw.get("args", ()), mem=mem)
    except BpfError as e:
        return ("error", type(e).__name__, _without_addresses(str(e)))
    return ("ok", result.r0, result.regs[:10] if result.regs else None, result.mem)


def _without_addresses(text: str) -> str:
    """Error text with host addresses blanked (each machine has its own buffers)."""
    import re

    return re.sub(r"0x[0-9a-f]{6,}", "ADDR", text)
