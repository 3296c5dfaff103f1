"""LLVM through llvmlite: a target machine for the host, an -O2 pipeline, ORC LLJIT.

Code comes in two tiers. ``FAST`` is what a new program gets: registers promoted out of
memory (SROA) and LLVM's fast instruction selector and register allocator (code
generation at -O0), about a fifth of the full compile time, for code that runs slower.
``FULL`` is the -O2 pipeline and code generation at -O2, for a program that runs a lot
(:class:`pybpf.jit.machine.JitMachine` decides when). Both come from the same IR, so they
behave the same and can be swapped between runs.

Compiled programs are cached in memory by what the code depends on (the bytecode and
which ``lddw`` slots have resolved constants, not their values, which the code reads from
the run context), so loading the same program twice compiles it once.

Behind the memory cache is a disk cache shared by processes (:mod:`pybpf.cc._cache`,
kind ``jit``: ``$PYBPF_CACHE_DIR/jit``, else ``~/.cache/pybpf/jit``): the object file and
what linking it needs (entry function names by pc, the static fault messages with their
exception classes by name), keyed by the memory key plus the LLVM version, the host's
triple, CPU and features, and a hash of the source of the modules that generate code, so a
new LLVM, another CPU or a change to the code generator misses. A torn or corrupt entry is
a miss. The optimised IR is not stored: ``Compiled.ir`` of a program loaded from disk is
made again when first asked for. ``PYBPF_JIT_DISK_CACHE=0`` (or :func:`set_disk_cache`)
turns the disk cache off; :func:`cache_stats` counts hits, misses and compiles. A request
for the fast tier takes the full tier when it is at hand, in memory or on disk.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

_lock = threading.RLock()
FAST, FULL = "fast", "full"
TIERS = (FAST, FULL)          # worst to best
_CODEGEN_OPT = {FAST: 0, FULL: 2}
_target_machines: dict[str, Any] = {}
CACHE_SIZE = 512


def _llvm() -> Any:
    import llvmlite.binding as llvm

    return llvm


def target_machine(fresh: bool = False, tier: str = FULL) -> Any:
    """The host's target machine (its triple, CPU and features), generating code at the
    ``tier``'s level (-O0 for ``FAST``, -O2 for ``FULL``).

    An LLJIT owns (and frees) the target machine it is given, so each gets a ``fresh``
    one; the shared ones serve the optimiser, object emission and assembly listings.
    """
    tm = None if fresh else _target_machines.get(tier)
    if tm is None:
        llvm = _llvm()
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        tm = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=_CODEGEN_OPT[tier], codemodel="jitdefault", jit=True)
        if not fresh:
            _target_machines[tier] = tm
    return tm


class _Library:
    """One program's code in an LLJIT instance; unloaded when its last user drops it."""

    def __init__(self, jit: Any, tracker: Any):
        self.jit = jit              # the LLJIT must outlive the code it holds
        self.tracker = tracker

    def __del__(self) -> None:
        tracker, self.tracker = self.tracker, None
        if tracker is not None and not sys.is_finalizing():   # at exit the process goes anyway
            tracker.close()


class Compiled:
    """A program's native code at one tier: entry addresses by function pc, and the
    messages of the faults known at compile time (status ST_STATIC indexes them).

    ``ir`` is the optimised IR (as far as the tier optimises); for code loaded from the
    disk cache it is made again (by ``regenerate``) when first asked for. ``names`` are the
    entry functions' symbols and ``obj`` the object file, kept only until the disk cache
    has stored it."""

    def __init__(self, entries: dict[int, int], messages: list[tuple[type, str]],
                 ir: str = "", library: Any = None, *, names: dict[int, str] | None = None,
                 obj: bytes | None = None, regenerate: Callable[[], str] | None = None,
                 tier: str = FULL):
        self.entries = entries
        self.tier = tier
        self.messages = messages
        self._ir = ir
        self.library = library          # keeps the code loaded
        self.names = names or {}
        self.obj = obj
        self._regenerate = regenerate

    @property
    def ir(self) -> str:
        if not self._ir and self._regenerate is not None:
            self._ir, self._regenerate = self._regenerate(), None
        return self._ir

    def __repr__(self) -> str:
        return (f"Compiled(entries={self.entries!r}, messages={self.messages!r}, "
                f"tier={self.tier!r})")

    def native_asm(self) -> str:
        """The host assembly (for looking at what the JIT made)."""
        llvm = _llvm()
        with _lock:
            return target_machine(tier=self.tier).emit_assembly(llvm.parse_assembly(self.ir))


# LLVM's -O2 function simplification passes, minus the loop and vectoriser passes code
# translated from BPF has little use for, after the always-inliner (a program's main
# function goes into its entry: see .codegen). llvmlite's ready-made -O2 pipeline
# (PassBuilder.getModulePassManager) is not used: building it leaks about 30 KB each
# time, and the fuzz bench compiles hundreds of thousands of programs. One pass manager
# serves many modules, so it holds function passes and stateless module passes only
# (dead-argument elimination, for one, keeps state between runs and asserts).
_PASSES = ("always_inliner", "sroa", "instruction_combine", "simplify_cfg", "sccp",
           "jump_threading", "instruction_combine", "new_gvn", "dead_store_elimination",
           "aggressive_dce", "simplify_cfg", "instruction_combine", "simplify_cfg")
# For big programs (thousands of blocks) some of those passes (the second instcombine,
# GVN) grow quadratically; a light pipeline keeps their compile time near linear.
_LIGHT_PASSES = ("always_inliner", "sroa", "instruction_combine", "simplify_cfg",
                 "dead_store_elimination", "aggressive_dce", "simplify_cfg")
# The fast tier: registers out of their allocas (code generation at -O0 keeps every
# alloca in memory), nothing else; its code generator is the one that saves the time.
_FAST_PASSES = ("sroa",)
LARGE_SLOTS = 2048         # program slots from which the light pipeline is used
LARGE = "large"
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

    def optimise(self, module: Any, passes: str = FULL) -> None:
        """Run a pipeline on ``module``: ``FULL``, ``LARGE`` (for big programs) or
        ``FAST``."""
        llvm = _llvm()
        if self.pipeline is None or self.uses >= _RENEW:
            pto = llvm.create_pipeline_tuning_options(speed_level=2)
            pb = llvm.create_pass_builder(target_machine(), pto)
            managers = {}
            for pipeline, names in ((FULL, _PASSES), (LARGE, _LIGHT_PASSES),
                                    (FAST, _FAST_PASSES)):
                mpm = managers[pipeline] = llvm.create_new_module_pass_manager()
                for name in names:
                    getattr(mpm, f"add_{name}_pass")()
            self.pipeline, self.uses = (pto, pb, managers), 0
        self.uses += 1
        _, pb, managers = self.pipeline
        managers[passes].run(module, pb)

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
            obj = _runtime_object(runtime.module_ir())
            jit = llvm.create_lljit_compiler(target_machine(fresh=True))
            builder = llvm.JITLibraryBuilder().add_object_img(obj) \
                .add_current_process()         # memcmp, memcpy, memset
            names = runtime.exported()
            for name in names:
                builder.export_symbol(name)
            tracker = builder.link(jit, "bpf_runtime")
            _runtime = (jit, tracker, {name: tracker[name] for name in names})
    return _runtime[2]


def _runtime_object(text: str) -> bytes:
    """The runtime module's object code: from the disk cache (keyed by its IR text), else
    optimised and emitted (and stored)."""
    key = None
    if disk_cache_enabled():
        from pybpf.cc._cache import make_key

        key = make_key(["jit-runtime", *fingerprint(), text.encode()])
        entry = disk_cache().lookup(key)
        if entry is not None:
            _stats["disk_hits"] += 1
            return entry[0]
        _stats["disk_misses"] += 1
    llvm = _llvm()
    tm = target_machine()
    module = llvm.parse_assembly(text)
    module.triple, module.data_layout = tm.triple, str(tm.target_data)
    module.verify()
    _toolchain.optimise(module)
    obj = tm.emit_object(module)
    module.close()
    _stats["compiles"] += 1
    if key is not None:
        disk_cache().put(key, obj)
        _stats["disk_writes"] += 1
    return obj


def compile_ir(ir_text: str, entry_names: dict[int, str],
               messages: list[tuple[type, str]], size: int = 0,
               tier: str = FULL) -> Compiled:
    """Optimise a module for ``tier``, make host code and load it; the entry functions'
    addresses.

    ``size`` (the program's length in slots) picks the light pipeline for big programs."""
    llvm = _llvm()
    with _lock:
        tm = target_machine(tier=tier)
        module = llvm.parse_assembly(ir_text)
        module.triple = tm.triple
        module.data_layout = str(tm.target_data)
        module.verify()
        _toolchain.optimise(module, FAST if tier == FAST else
                            LARGE if size >= LARGE_SLOTS else FULL)
        obj = tm.emit_object(module)
        optimised = str(module)
        module.close()
        library, addresses = _toolchain.link(obj, list(entry_names.values()))
    entries = {pc: addresses[name] for pc, name in entry_names.items()}
    return Compiled(entries, messages, optimised, library, names=dict(entry_names), obj=obj,
                    tier=tier)


def link_object(obj: bytes, entry_names: dict[int, str], messages: list[tuple[type, str]],
                regenerate: Callable[[], str] | None = None, tier: str = FULL) -> Compiled:
    """Load an object file made by :func:`compile_ir` (from the disk cache)."""
    with _lock:
        library, addresses = _toolchain.link(obj, list(entry_names.values()))
    entries = {pc: addresses[name] for pc, name in entry_names.items()}
    return Compiled(entries, messages, "", library, names=dict(entry_names),
                    regenerate=regenerate, tier=tier)


_cache: "OrderedDict[Any, Compiled]" = OrderedDict()
_STAT_NAMES = ("memory_hits", "disk_hits", "disk_misses", "disk_errors", "disk_writes",
               "compiles")
_stats = dict.fromkeys(_STAT_NAMES, 0)


def cached(key: Any, build: Callable[[str], Compiled], tier: str = FULL) -> Compiled:
    """The compiled program for ``key`` at ``tier`` or better: from memory, else from the
    disk cache, else ``build(tier)`` (and stored on disk). Least recently used out of
    memory."""
    better = TIERS[TIERS.index(tier):][::-1]        # best first
    with _lock:
        for have in better:
            hit = _cache.get((key, have))
            if hit is not None:
                _cache.move_to_end((key, have))
                _stats["memory_hits"] += 1
                return hit
    compiled = None
    for have in better:
        disk_key = _disk_key((key, have))
        if disk_key is None:
            break
        compiled = _disk_load(disk_key, build, have)
        if compiled is not None:
            break
    if compiled is None:
        compiled = build(tier)
        with _lock:
            _stats["compiles"] += 1
        disk_key = _disk_key((key, tier))
        if disk_key is not None and compiled.obj is not None:
            _disk_store(disk_key, compiled)
    compiled.obj = None
    with _lock:
        _cache[(key, compiled.tier)] = compiled
        if compiled.tier == FULL:       # (machines running the fast tier keep theirs)
            _cache.pop((key, FAST), None)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def cache_clear() -> None:
    """Forget the compiled programs held in memory (the disk cache stays)."""
    with _lock:
        _cache.clear()


def cache_stats() -> dict[str, int]:
    """Counts since the process started (or :func:`cache_stats_reset`): ``memory_hits``,
    ``disk_hits``, ``disk_misses`` (no usable entry; a fast-tier request looks for the
    full tier first), ``disk_errors`` (an entry that was there but unreadable, corrupt or
    would not link), ``disk_writes``, ``compiles``."""
    with _lock:
        return dict(_stats)


def cache_stats_reset() -> None:
    with _lock:
        _stats.update(dict.fromkeys(_STAT_NAMES, 0))


# -- the disk cache -------------------------------------------------------------------------

_disk_enabled: bool | None = None     # None: from $PYBPF_JIT_DISK_CACHE on first use
_fingerprint: list[Any] | None = None
# The source whose change changes generated code: the JIT's modules, what codegen reads
# (instruction table and semantics, the interpreter's block leaders), the error classes.
_CODEGEN_SOURCES = ("jit/*.py", "vm/compiler.py", "vm/semantics.py", "isa/*.py", "errors.py")
DISK_FORMAT = 2              # 2: keys name the tier


def set_disk_cache(enabled: bool | None) -> None:
    """Turn the disk cache on or off for this process (None: as the environment says)."""
    global _disk_enabled
    _disk_enabled = enabled


def disk_cache_enabled() -> bool:
    global _disk_enabled
    if _disk_enabled is None:
        _disk_enabled = os.environ.get("PYBPF_JIT_DISK_CACHE", "1").lower() not in (
            "0", "no", "off", "false")
    return _disk_enabled


def disk_cache() -> Any:
    """The disk cache (a :class:`pybpf.cc._cache.Cache` of kind ``jit``), rooted where the
    environment says now."""
    from pybpf.cc._cache import Cache

    return Cache(kind="jit")


def codegen_source_hash() -> str:
    """A hash of the source of the modules that decide what code is generated."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for pattern in _CODEGEN_SOURCES:
        for path in sorted(root.glob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint() -> list[Any]:
    """What the object code depends on besides the program: LLVM, the host, the code
    generator's source."""
    global _fingerprint
    if _fingerprint is None:
        llvm = _llvm()
        target_machine()                # initialises the native target
        _fingerprint = [DISK_FORMAT, list(llvm.llvm_version_info), llvm.get_process_triple(),
                        llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
                        codegen_source_hash()]
    return _fingerprint


def _plain(part: Any) -> Any:
    """A key part as JSON-able data (bytes hashed, sets sorted), or raise TypeError."""
    if isinstance(part, (bytes, bytearray)):
        return hashlib.sha256(part).hexdigest()
    if isinstance(part, (frozenset, set)):
        return sorted(_plain(p) for p in part)
    if isinstance(part, (tuple, list)):
        return [_plain(p) for p in part]
    if part is None or isinstance(part, (bool, int, str)):
        return part
    raise TypeError(f"no disk key for {type(part).__name__}")


def _disk_key(key: Any) -> str | None:
    if not disk_cache_enabled():
        return None
    try:
        from pybpf.cc._cache import make_key

        return make_key(["jit", *fingerprint(), _plain(key)])
    except (TypeError, OSError):
        return None


def _disk_load(disk_key: str, build: Callable[[str], Compiled], tier: str) -> Compiled | None:
    entry = disk_cache().lookup(disk_key)
    if entry is None:
        with _lock:
            _stats["disk_misses"] += 1
        return None
    obj, meta = entry
    try:
        names, messages = _decode_meta(meta)
        compiled = link_object(obj, names, messages, regenerate=lambda: build(tier).ir,
                               tier=tier)
    except Exception:       # noqa: BLE001 - a bad entry is a miss: compile instead
        with _lock:
            _stats["disk_errors"] += 1
        return None
    with _lock:
        _stats["disk_hits"] += 1
    return compiled


def _disk_store(disk_key: str, compiled: Compiled) -> None:
    meta = {"entries": {str(pc): name for pc, name in compiled.names.items()},
            "messages": [[cls.__name__, text] for cls, text in compiled.messages]}
    assert compiled.obj is not None
    disk_cache().put(disk_key, compiled.obj, meta=meta)
    with _lock:
        _stats["disk_writes"] += 1


def _decode_meta(meta: Any) -> tuple[dict[int, str], list[tuple[type, str]]]:
    """Entry names by pc and the messages (classes looked up in :mod:`pybpf.errors`);
    ValueError for anything malformed."""
    from pybpf import errors

    if not isinstance(meta, dict) or not isinstance(meta.get("entries"), dict) \
            or not isinstance(meta.get("messages"), list):
        raise ValueError("malformed jit cache entry")
    names = {int(pc): name for pc, name in meta["entries"].items()}
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names.values()):
        raise ValueError("malformed jit cache entry: entry names")
    messages = []
    for item in meta["messages"]:
        cls_name, text = item
        cls = getattr(errors, cls_name, None)
        if not (isinstance(cls, type) and issubclass(cls, errors.BpfError)
                and isinstance(text, str)):
            raise ValueError(f"malformed jit cache entry: message class {cls_name!r}")
        messages.append((cls, text))
    return names, messages


def cache_size() -> int:
    """How many programs are cached."""
    return len(_cache)
