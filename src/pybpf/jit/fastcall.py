"""A native Python callable that runs a compiled program: the call path with no ctypes.

A ctypes foreign call, the slice assignment that sets the run context's slots and the
two clock reads around it cost a Python caller about a microsecond per run. This module
compiles one small function against CPython's C API (``METH_FASTCALL``: it gets the
argument objects as an array) and wraps it in a builtin function object bound to one
machine's run context, so a call costs what calling a builtin costs:

``fast(r1, ..., r5) -> r0`` converts the arguments (ints, masked to 64 bits, as ``run``
takes them; another type raises TypeError), sets the slots a run starts with (status,
budget, the stack-clearing flag, arguments, tail call state), reads the monotonic clock
around the call of the program's entry (the time goes to ``abi.ELAPSED``) and returns
r0 as an int.

Everything else is the machine's ordinary path, a Python callable in the run context
(``abi.FAST_SLOW``) called with the same arguments, whose result is returned: a run that
ended with a status (a fault, a helper's exit, a tail call Python follows: then
``abi.STATUS`` is set), more than five arguments, or a region table that is not the one
the machine adopted (the Memory's change counter at ``abi.CHANGES`` moved on from
``abi.CHANGES_SEEN``, which the machine also sets to a value the counter never has while
its runs need Python's preparation: load views to forget, state to mirror).

The entry address and the budget come from the run context too (``abi.FAST_ENTRY``,
``abi.FAST_BUDGET``), so the one function serves every machine.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

from pybpf.jit import abi

NAME = "bpf_fastcall"
_METH_FASTCALL = 0x80
_CLOCK_MONOTONIC = 1
_API = ("PyLong_AsUnsignedLongLongMask", "PyLong_FromUnsignedLongLong", "PyErr_Occurred",
        "PyLong_AsVoidPtr", "PyObject_Vectorcall")


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p),
                ("ml_flags", ctypes.c_int), ("ml_doc", ctypes.c_char_p)]


def _ir() -> str:
    """The function in LLVM IR (opaque pointers; 64-bit host)."""
    lines = [
        "declare i64 @PyLong_AsUnsignedLongLongMask(ptr)",
        "declare ptr @PyLong_FromUnsignedLongLong(i64)",
        "declare ptr @PyErr_Occurred()",
        "declare ptr @PyLong_AsVoidPtr(ptr)",
        "declare ptr @PyObject_Vectorcall(ptr, ptr, i64, ptr)",
        "declare i32 @clock_gettime(i32, ptr)",
        "",
        "define internal i64 @now() {",
        "  %ts = alloca [2 x i64], align 8",
        f"  call i32 @clock_gettime(i32 {_CLOCK_MONOTONIC}, ptr %ts)",
        "  %s = load i64, ptr %ts, align 8",
        "  %np = getelementptr inbounds [2 x i64], ptr %ts, i64 0, i64 1",
        "  %n = load i64, ptr %np, align 8",
        "  %ns = mul i64 %s, 1000000000",
        "  %t = add i64 %ns, %n",
        "  ret i64 %t",
        "}",
        "",
        f"define ptr @{NAME}(ptr %self, ptr %args, i64 %nargs) {{",
        "entry:",
        "  %ctx = call ptr @PyLong_AsVoidPtr(ptr %self)",
        "  %many = icmp ugt i64 %nargs, 5",
        f"  %changes_p = getelementptr inbounds i64, ptr %ctx, i64 {abi.CHANGES}",
        "  %changes_at = load ptr, ptr %changes_p, align 8",
        "  %changes = load i64, ptr %changes_at, align 8",
        f"  %seen_p = getelementptr inbounds i64, ptr %ctx, i64 {abi.CHANGES_SEEN}",
        "  %seen = load i64, ptr %seen_p, align 8",
        "  %stale = icmp ne i64 %changes, %seen",
        "  %other = or i1 %many, %stale",
        "  br i1 %other, label %slow, label %arg0",
    ]
    for k in range(5):
        nxt = f"arg{k + 1}" if k < 4 else "run"
        lines += [
            f"arg{k}:",
            f"  %has{k} = icmp ugt i64 %nargs, {k}",
            f"  br i1 %has{k}, label %conv{k}, label %zero{k}",
            f"conv{k}:",
            f"  %ap{k} = getelementptr inbounds ptr, ptr %args, i64 {k}",
            f"  %a{k} = load ptr, ptr %ap{k}, align 8",
            f"  %v{k} = call i64 @PyLong_AsUnsignedLongLongMask(ptr %a{k})",
            f"  %neg{k} = icmp eq i64 %v{k}, -1",
            f"  br i1 %neg{k}, label %check{k}, label %store{k}",
            f"check{k}:",
            f"  %err{k} = call ptr @PyErr_Occurred()",
            f"  %failed{k} = icmp ne ptr %err{k}, null",
            f"  br i1 %failed{k}, label %error, label %store{k}",
            f"zero{k}:",
            f"  br label %store{k}",
            f"store{k}:",
            f"  %x{k} = phi i64 [ %v{k}, %conv{k} ], [ %v{k}, %check{k} ], [ 0, %zero{k} ]",
            f"  %sp{k} = getelementptr inbounds i64, ptr %ctx, i64 {abi.ARGS + k}",
            f"  store i64 %x{k}, ptr %sp{k}, align 8",
            f"  br label %{nxt}",
        ]

    def slot(name: str, index: int) -> list[str]:
        return [f"  %{name} = getelementptr inbounds i64, ptr %ctx, i64 {index}"]

    lines += ["run:"]
    lines += slot("budget_p", abi.FAST_BUDGET) + ["  %budget = load i64, ptr %budget_p, align 8"]
    for name, index, value in (("status_p", abi.STATUS, "0"), ("pc_p", abi.PC, "0"),
                               ("left_p", abi.BUDGET, "%budget"), ("clear_p", abi.CLEAR, "1"),
                               ("tails_p", abi.TAIL_COUNT, "0"),
                               ("caller_p", abi.CALLER_CTX, "0")):
        lines += slot(name, index) + [f"  store i64 {value}, ptr %{name}, align 8"]
    lines += slot("entry_p", abi.FAST_ENTRY) + [
        "  %entry_fn = load ptr, ptr %entry_p, align 8",
        "  %t0 = call i64 @now()",
        "  %r0 = call i64 %entry_fn(ptr %ctx)",
        "  %t1 = call i64 @now()",
        "  %elapsed = sub i64 %t1, %t0",
    ] + slot("elapsed_p", abi.ELAPSED) + [
        "  store i64 %elapsed, ptr %elapsed_p, align 8",
        "  %status = load i64, ptr %status_p, align 8",
        "  %ok = icmp eq i64 %status, 0",
        "  br i1 %ok, label %done, label %slow",
        "done:",
        "  %result = call ptr @PyLong_FromUnsignedLongLong(i64 %r0)",
        "  ret ptr %result",
        "slow:",
    ] + slot("slow_p", abi.FAST_SLOW) + [
        "  %slow_fn = load ptr, ptr %slow_p, align 8",
        "  %answer = call ptr @PyObject_Vectorcall(ptr %slow_fn, ptr %args, i64 %nargs, ptr null)",
        "  ret ptr %answer",
        "error:",
        "  ret ptr null",
        "}",
    ]
    return "\n".join(lines) + "\n"


_lock = threading.Lock()
_compiled: Any = None     # (LLJIT, resource tracker, method def): alive for the process


def _method() -> _MethodDef:
    """The method definition of the compiled function (compiled on first use)."""
    global _compiled
    with _lock:
        if _compiled is None:
            from pybpf.jit.backend import _llvm, target_machine

            llvm = _llvm()
            tm = target_machine()
            module = llvm.parse_assembly(_ir())
            module.triple, module.data_layout = tm.triple, str(tm.target_data)
            module.verify()
            obj = tm.emit_object(module)
            module.close()
            jit = llvm.create_lljit_compiler(target_machine(fresh=True))
            builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
            for name in _API:
                builder.import_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name),
                                                        ctypes.c_void_p).value)
            builder.export_symbol(NAME)
            tracker = builder.link(jit, "bpf_fastcall")
            method = _MethodDef(NAME.encode(), tracker[NAME], _METH_FASTCALL, None)
            _compiled = (jit, tracker, method)
        return _compiled[2]


_new_function = ctypes.pythonapi.PyCFunction_NewEx
_new_function.restype = ctypes.py_object
_new_function.argtypes = [ctypes.POINTER(_MethodDef), ctypes.py_object, ctypes.c_void_p]


def bind(context_address: int) -> Any:
    """The callable for the run context at ``context_address`` (whose FAST_* slots the
    machine keeps, and keeps the object in FAST_SLOW alive)."""
    return _new_function(ctypes.byref(_method()), int(context_address), None)
