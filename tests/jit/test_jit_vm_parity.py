"""The interpreter's own tests (tests/vm), run again with JitMachine in place of Machine.

Each selected test function of tests/vm is called with ``Machine`` replaced by the class
under test in its module and in ``vm_support`` (the one-call ``run_prog``), over both
machines; its pytest parameters are expanded here. Tests of what only the interpreter
has (tracing) are left out.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path

import pytest

from jit_support import MACHINES

VM_TESTS = Path(__file__).resolve().parents[1] / "vm"
if str(VM_TESTS) not in sys.path:
    sys.path.insert(0, str(VM_TESTS))

MODULES = ("test_alu", "test_jumps", "test_calls_and_limits", "test_memory_access",
           "test_helpers_core", "test_robustness")
SKIP = {"test_trace_records_each_step_and_changed_registers"}    # tracing is the interpreter's


def _cases() -> list:
    cases = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, func in vars(module).items():
            if not attr.startswith("test_") or not inspect.isfunction(func) or attr in SKIP:
                continue
            for kwargs, label in _expand(func):
                cases.append(pytest.param(name, attr, kwargs, id=f"{name}.{attr}{label}"))
    return cases


def _expand(func) -> list[tuple[dict, str]]:
    """The keyword arguments of each case of the function's parametrize marks."""
    combos: list[tuple[dict, str]] = [({}, "")]
    for mark in getattr(func, "pytestmark", []):
        if mark.name != "parametrize":
            continue
        names, values = mark.args[0], mark.args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        expanded = []
        for kwargs, label in combos:
            for i, value in enumerate(values):
                value = value.values if hasattr(value, "values") else value
                value = value if len(names) > 1 else (value,)
                expanded.append(({**kwargs, **dict(zip(names, value))}, f"{label}[{i}]"))
        combos = expanded
    return combos


@pytest.mark.parametrize("machine", sorted(MACHINES))
@pytest.mark.parametrize("module_name,test_name,kwargs", _cases())
def test_vm_case(machine, module_name, test_name, kwargs, monkeypatch):
    import vm_support

    module = importlib.import_module(module_name)
    cls = MACHINES[machine]
    monkeypatch.setattr(vm_support, "Machine", cls)
    if hasattr(module, "Machine"):
        monkeypatch.setattr(module, "Machine", cls)
    getattr(module, test_name)(**kwargs)
