"""LLVM through llvmlite: a target machine for the host, an -O2 pipeline, ORC LLJIT.

Compiled programs are cached in memory by what the code depends on (the bytecode and
which ``lddw`` slots have resolved constants, not their values, which the code reads from
the run context), so loading the same program twice compiles it once.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

_lock = threading.RLock()
_target_machine: Any = None
CACHE_SIZE = 512


def _llvm() -> Any:
    import llvmlite.binding as llvm

    return llvm


def target_machine(fresh: bool = False) -> Any:
    """The host's target machine (its triple, CPU and features), code generation at -O2.

    An LLJIT owns (and frees) the target machine it is given, so each gets a ``fresh``
    one; the shared one serves the optimiser, object emission and assembly listings.
    """
    global _target_machine
    if _target_machine is None or fresh:
        llvm = _llvm()
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        tm = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=2, codemodel="jitdefault", jit=True)
        if fresh:
            return tm
        _target_machine = tm
    return _target_machine


class _Library:
    """One program's code in an LLJIT instance; unloaded when its last user drops it."""

    def __init__(self, jit: Any, tracker: Any):
        self.jit = jit              # the LLJIT must outlive the code it holds
        self.tracker = tracker

    def __del__(self) -> None:
        tracker, self.tracker = self.tracker, None
        if tracker is not None and not sys.is_finalizing():   # at exit the process goes anyway
            tracker.close()


@dataclass
class Compiled:
    """A program's native code: entry addresses by function pc, and the messages of the
    faults known at compile time (status ST_STATIC indexes them)."""

    entries: dict[int, int]
    messages: list[tuple[type, str]]
    ir: str = field(repr=False, default="")
    library: Any = field(repr=False, default=None)   # keeps the code loaded

    def native_asm(self) -> str:
        """The host assembly (for looking at what the JIT made)."""
        llvm = _llvm()
        with _lock:
            return target_machine().emit_assembly(llvm.parse_assembly(self.ir))


# LLVM's -O2 function simplification passes, minus the loop and vectoriser passes code
# translated from BPF has little use for. llvmlite's ready-made -O2 pipeline
# (PassBuilder.getModulePassManager) is not used: building it leaks about 30 KB each
# time, and the fuzz bench compiles hundreds of thousands of programs. One pass manager
# serves many modules, so it holds function passes only (module passes such as
# dead-argument elimination keep state between runs and assert).
_PASSES = ("sroa", "instruction_combine", "simplify_cfg", "sccp", "jump_threading",
           "instruction_combine", "new_gvn", "dead_store_elimination", "aggressive_dce",
           "simplify_cfg", "instruction_combine", "simplify_cfg")
# For big programs (thousands of blocks) some of those passes (the second instcombine,
# GVN) grow quadratically; a light pipeline keeps their compile time near linear.
_LIGHT_PASSES = ("sroa", "instruction_combine", "simplify_cfg", "dead_store_elimination",
                 "aggressive_dce", "simplify_cfg")
LARGE = 2048               # program slots from which the light pipeline is used
_RENEW = 200               # pass builders accumulate state: make a fresh one this often
_LIBRARIES_PER_JIT = 256   # and a fresh LLJIT (an old one goes with its last program)


class _Toolchain:
    """The optimiser and the JIT linker, renewed now and then to keep memory flat."""

    def __init__(self) -> None:
        self.uses = 0
        self.libraries = 0
        self.serial = 0
        self.pipeline: Any = None
        self.jit: Any = None

    def optimise(self, module: Any, light: bool = False) -> None:
        llvm = _llvm()
        if self.pipeline is None or self.uses >= _RENEW:
            pto = llvm.create_pipeline_tuning_options(speed_level=2)
            pb = llvm.create_pass_builder(target_machine(), pto)
            managers = []
            for passes in (_PASSES, _LIGHT_PASSES):
                mpm = llvm.create_new_module_pass_manager()
                for name in passes:
                    getattr(mpm, f"add_{name}_pass")()
                managers.append(mpm)
            self.pipeline, self.uses = (pto, pb, managers), 0
        self.uses += 1
        _, pb, managers = self.pipeline
        managers[1 if light else 0].run(module, pb)

    def link(self, obj: bytes, names: list[str]) -> tuple[_Library, dict[str, int]]:
        llvm = _llvm()
        if self.jit is None or self.libraries >= _LIBRARIES_PER_JIT:
            self.jit, self.libraries = llvm.create_lljit_compiler(target_machine(fresh=True)), 0
        self.libraries += 1
        self.serial += 1
        builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
        for name, address in runtime_symbols().items():
            builder.import_symbol(name, address)
        for name in names:
            builder.export_symbol(name)
        tracker = builder.link(self.jit, f"bpf{self.serial}")
        return _Library(self.jit, tracker), {name: tracker[name] for name in names}


_toolchain = _Toolchain()
_runtime: tuple[Any, Any, dict[str, int]] | None = None


def runtime_symbols() -> dict[str, int]:
    """The shared runtime's functions (compiled once, kept for the process's life)."""
    global _runtime
    if _runtime is None:
        from pybpf.jit import runtime

        llvm = _llvm()
        with _lock:
            tm = target_machine()
            module = llvm.parse_assembly(runtime.module_ir())
            module.triple, module.data_layout = tm.triple, str(tm.target_data)
            module.verify()
            _toolchain.optimise(module)
            jit = llvm.create_lljit_compiler(target_machine(fresh=True))
            builder = llvm.JITLibraryBuilder().add_object_img(tm.emit_object(module)) \
                .add_current_process()         # memcmp, memcpy, memset
            names = runtime.exported()
            for name in names:
                builder.export_symbol(name)
            tracker = builder.link(jit, "bpf_runtime")
            _runtime = (jit, tracker, {name: tracker[name] for name in names})
    return _runtime[2]


def compile_ir(ir_text: str, entry_names: dict[int, str],
               messages: list[tuple[type, str]], size: int = 0) -> Compiled:
    """Optimise a module, make host code and load it; the entry functions' addresses.

    ``size`` (the program's length in slots) picks the light pipeline for big programs."""
    llvm = _llvm()
    with _lock:
        tm = target_machine()
        module = llvm.parse_assembly(ir_text)
        module.triple = tm.triple
        module.data_layout = str(tm.target_data)
        module.verify()
        _toolchain.optimise(module, light=size >= LARGE)
        obj = tm.emit_object(module)
        optimised = str(module)
        module.close()
        library, addresses = _toolchain.link(obj, list(entry_names.values()))
    entries = {pc: addresses[name] for pc, name in entry_names.items()}
    return Compiled(entries, messages, optimised, library)


_cache: "OrderedDict[Any, Compiled]" = OrderedDict()


def cached(key: Any, build: Callable[[], Compiled]) -> Compiled:
    """The compiled program for ``key``, building it on a miss (least recently used out)."""
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    compiled = build()
    with _lock:
        _cache[key] = compiled
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def cache_clear() -> None:
    with _lock:
        _cache.clear()


def cache_size() -> int:
    """How many programs are cached."""
    return len(_cache)
