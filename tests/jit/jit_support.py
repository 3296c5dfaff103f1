"""What the JIT tests share: the machines to compare, and error text without the host
addresses (each machine has its own buffers)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("llvmlite", reason="the jit engine needs llvmlite")

from pybpf.jit import JitMachine  # noqa: E402
from pybpf.vm import Machine  # noqa: E402

MACHINES = {"interp": Machine, "jit": JitMachine}


def without_addresses(text: str) -> str:
    return re.sub(r"0x[0-9a-f]{6,}", "ADDR", text)
