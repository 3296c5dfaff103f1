"""``JitMachine``: a program compiled to native code, with the interpreter's contract.

``JitMachine(insns).run(mem=b"...")`` gives the same :class:`RunResult` (r0, memory) and
raises the same errors as :class:`pybpf.vm.Machine`, so an engine can use either. The
program's native code (see :mod:`.codegen`) reads everything machine-specific from a
run context (:mod:`.abi`); helpers, context-field accesses and packet loads that native
code does not do call back into Python through ctypes. ``regs`` are the final r0-r10 (None
when a helper ended the program) and ``executed`` counts the instructions charged to the
budget, block by block as the interpreter counts them (callbacks included).

A machine starts with the fast tier of code (see :mod:`.backend`) unless the full tier is
already cached, and moves to the full tier when it turns out to be hot: ``HOT_RUNS`` runs
in all start a full-tier compile in a background thread (LLVM calls release the GIL),
which the machine switches to between runs; a single call that runs that much (a repeat
count, a native batch of packets) or a tail call target (:meth:`JitMachine.native_target`)
waits for the full tier first, so what is measured and driven natively is full-tier code.
``PYBPF_JIT_TIER=full`` starts every machine at the full tier.
"""

from __future__ import annotations

import atexit
import ctypes
import operator
import os
import struct
import threading
import time
import weakref
from array import array
from collections import deque
from typing import Any, Iterable, Sequence

from pybpf.errors import BpfDecodeError, BpfError, BpfHelperError, BpfLimitError, BpfRuntimeError
from pybpf.isa import Instruction, decode, encode
from pybpf.isa.opcodes import CALL_HELPER, OPCODE_CALL
from pybpf.jit import abi, fastcall
from pybpf.jit.backend import FAST, FULL, Compiled, cached, compile_ir
from pybpf.maps._base import HANDLE_SIZE, map_at
from pybpf.vm import compiler
from pybpf.vm.helpers import DEFAULT_HELPERS, CallContext, HelperRegistry, ProgramExit, TailCall
from pybpf.vm.helpers import net
from pybpf.vm.machine import DEFAULT_BUDGET, MAX_TAIL_CALLS, RunResult
from pybpf.vm.memory import Memory, Region
from pybpf.vm.progtypes.skb import Redirect, SkbState

M64 = (1 << 64) - 1
_M32 = 0xFFFFFFFF
_UNLIMITED = 1 << 62
_DISARMED = M64        # abi.CHANGES_SEEN when the fast call must take the ordinary path
_USE_DEFAULT: Any = object()
_GUARD = 64
_FRAMES = compiler.MAX_CALL_FRAMES
_STACK = compiler.MAX_STACK
_REGS = struct.Struct("11Q")
_EMPTY = [0] * abi.ENTRY_WORDS
_NO_RECENT = [0] * (abi.RECENT_NEXT - abi.RECENT)
_ZEROS = (0,) * 5
HOT_RUNS = 1000         # runs after which a machine is worth full-tier code
PRELOADS = 16           # context loads a machine learns to answer before a run (see _preload)


class RegionTable:
    """The native copy of a Memory's region table, shared by the machines using it.

    Synchronised before each run and after each helper call: unchanged (one C-level
    comparison of the region lists), or the entries between the unchanged head and tail
    replaced (a run's ``mem`` region, or a program type's context and packet regions,
    come and go: one slice of the array moves). ``version`` counts changes so each machine knows when to
    point its context at the array again and forget the regions it remembered.
    """

    def __init__(self, memory: Memory):
        self.memory = memory
        self.snapshot: list[Region] = []
        self.flat = array("Q", _EMPTY)
        self.count = 0
        self.address = self.flat.buffer_info()[0]
        self.version = 0
        # The load views of the context regions in the table (see abi), by region id, and
        # what forgets each: its bytes, and as many zeros (a memoryview's slice assignment
        # is a plain memcpy; ctypes.memset is a foreign call, several times slower).
        self.views: dict[int, ctypes.Array] = {}
        self._wipes: dict[int, tuple[memoryview, bytes]] = {}

    def _entry(self, r: Region) -> array:
        flags = (abi.RF_WRITABLE if r.writable else 0) | \
            (abi.RF_PYTHON if r.access is not None else 0) | \
            (abi.RF_MAP if r.kind == "map" else 0)
        view = 0
        if r.access is not None and r.access.pure_loads:
            buffer = self.views.get(id(r))
            if buffer is None:
                buffer = self.views[id(r)] = (ctypes.c_uint64 * (r.size * abi.VIEW_WORDS))()
                self._wipes[id(r)] = (memoryview(buffer).cast("B"), bytes(ctypes.sizeof(buffer)))
            view = ctypes.addressof(buffer)
        return array("Q", (r.address, r.end, flags, view))

    def forget_views(self) -> None:
        """Python may have changed what context loads give: native code asks again."""
        for view, zeros in self._wipes.values():
            view[:] = zeros

    def remember(self, region: Region, offset: int, size: int, value: int) -> None:
        """Keep a context load's value in the region's view (when it has one)."""
        buffer = self.views.get(id(region))
        if buffer is not None and size in (1, 2, 4, 8):
            record = offset * abi.VIEW_WORDS
            buffer[record] |= size
            buffer[record + size.bit_length()] = value

    def preload(self, region: Region, loads: Iterable[tuple[int, int]]) -> None:
        """Keep in the region's view (when it has one) the value of each load (offset,
        size: 1, 2, 4 or 8) of it that its access answers now; one it refuses is left
        out."""
        buffer = self.views.get(id(region))
        if buffer is None:
            return
        load = region.access.load       # type: ignore[union-attr]
        for offset, size in loads:
            try:
                value = load(offset, size, None)
            except Exception:   # noqa: BLE001 - not kept: the program's own load raises it
                continue
            record = offset * abi.VIEW_WORDS
            buffer[record] |= size
            buffer[record + size.bit_length()] = value & M64

    def sync(self) -> int:
        regions = self.memory._regions
        old = self.snapshot
        if regions == old:
            return self.version
        n, m = len(regions), len(old)
        i = 0
        while i < n and i < m and regions[i] is old[i]:
            i += 1
        j = 0
        while j < n - i and j < m - i and regions[n - 1 - j] is old[m - 1 - j]:
            j += 1
        middle = array("Q")                 # what replaces old[i:m-j]
        for r in regions[i:n - j]:
            middle += self._entry(r)
        flat = self.flat
        w = abi.ENTRY_WORDS
        flat[w * i:w * (m - j)] = middle
        if not flat:
            flat.extend(_EMPTY)         # keep a valid address for an empty table
        if self.views:                  # drop the views of regions that left
            present = {id(r) for r in regions if r.access is not None}
            for key in [k for k in self.views if k not in present]:
                del self.views[key], self._wipes[key]
        self.snapshot = list(regions)
        self.count = n
        self.address = flat.buffer_info()[0]
        self.version += 1
        return self.version


_tables: "weakref.WeakKeyDictionary[Memory, RegionTable]" = weakref.WeakKeyDictionary()


def region_table(memory: Memory) -> RegionTable:
    table = _tables.get(memory)
    if table is None:
        table = _tables[memory] = RegionTable(memory)
    return table


def _stack_set(memory: Memory, prefix: str) -> tuple[list[Region], ctypes.Array]:
    """Eight 512-byte stack regions (each its own guarded buffer, as the interpreter's),
    and the array of their end addresses native code reads."""
    regions = [memory.add(Region(f"{prefix}[{i}]", _STACK, kind="stack"))
               for i in range(_FRAMES)]
    return regions, (ctypes.c_uint64 * _FRAMES)(*[r.end for r in regions])


def compile_program(program: compiler.Program, code: bytes, const_pcs: frozenset[int],
                    name: str = "bpf", native_helpers: frozenset[int] = frozenset(),
                    tier: str = FULL, trusted: frozenset[int] | None = None,
                    stack_used: int = _STACK,
                    map_shapes: tuple[tuple[int, tuple[int, ...]], ...] = (),
                    map_calls: dict[int, int] | None = None) -> Compiled:
    """The native code of a program at ``tier`` or better (from the cache when the same
    bytecode was compiled with the same native helpers, trusted accesses and stack use;
    ``trusted`` None: checked code; ``stack_used``: the bytes of each frame a run clears
    first (0: none); ``map_shapes``: see .mapcalls.map_shapes; ``map_calls``: known_map_calls of
    the program, when the caller has them - they follow from the code and constants)."""
    def build(tier: str) -> Compiled:
        try:
            from pybpf.jit.codegen import ModuleBuilder
        except ImportError as e:
            from pybpf.jit import jit_available

            raise BpfError(jit_available()[1] or str(e)) from e

        text, entries, messages = ModuleBuilder(program, const_pcs, name, native_helpers,
                                                trusted, stack_used, map_shapes,
                                                map_calls, tier == FULL).build()
        return compile_ir(text, entries, messages, program.length, tier)

    return cached((code, const_pcs, native_helpers, trusted, stack_used, map_shapes), build,
                  tier)


def first_tier() -> str:
    """The tier a new machine starts with: ``$PYBPF_JIT_TIER`` (``fast`` or ``full``),
    fast by default."""
    tier = os.environ.get("PYBPF_JIT_TIER", FAST).lower()
    return tier if tier in (FAST, FULL) else FAST


class _TierWorker:
    """The background thread that compiles hot machines' full tier, one at a time.

    A daemon thread, stopped at exit with what is still queued dropped (it only speeds
    up machines that are about to go); a job holds its machine weakly."""

    def __init__(self) -> None:
        self.jobs: deque[weakref.ref[JitMachine]] = deque()
        self.wake = threading.Condition()
        self.thread: threading.Thread | None = None
        self.stopping = False

    def submit(self, machine: "JitMachine") -> None:
        with self.wake:
            if self.stopping:
                return
            self.jobs.append(weakref.ref(machine))
            if self.thread is None:
                self.thread = threading.Thread(target=self._work, name="pybpf-jit-tier",
                                               daemon=True)
                self.thread.start()
                atexit.register(self.stop)
            self.wake.notify()

    def _work(self) -> None:
        while True:
            with self.wake:
                while not self.jobs and not self.stopping:
                    self.wake.wait()
                if self.stopping:
                    return
                machine = self.jobs.popleft()()
            if machine is not None:
                try:
                    machine.tier_up()
                except Exception:   # noqa: BLE001 - it keeps its fast code; a caller that
                    pass            # waits for the full tier compiles again and sees why
                del machine

    def stop(self) -> None:
        with self.wake:
            self.stopping = True
            self.jobs.clear()
            self.wake.notify()
        if self.thread is not None:
            self.thread.join()


_worker = _TierWorker()


def _forget_worker() -> None:
    """A forked child has none of its parent's threads: it starts a worker of its own."""
    global _worker
    _worker = _TierWorker()


os.register_at_fork(after_in_child=_forget_worker)


# Every machine by the address of its run context: a native tail call's target is known
# to Python by its context (FAULT_CTX, CALLER_CTX).
_by_context: "weakref.WeakValueDictionary[int, JitMachine]" = weakref.WeakValueDictionary()

_repeat_fn: Any = None


def _repeat_function() -> Any:
    """The runtime's ``bpf_repeat`` loop as a ctypes function."""
    global _repeat_fn
    if _repeat_fn is None:
        from pybpf.jit import drivers
        from pybpf.jit.backend import runtime_symbols

        _repeat_fn = abi.RepeatFunction(runtime_symbols()[drivers.REPEAT])
    return _repeat_fn


def native_helper_ids(helpers: HelperRegistry) -> frozenset[int]:
    """The helpers a program with this registry may call natively: those whose
    implementation is the standard one (a private registry's helper 1 is its own)."""
    out = set()
    for hid in abi.NATIVE_HELPERS:
        spec, standard = helpers.get(hid), DEFAULT_HELPERS.get(hid)
        if spec is not None and standard is not None and spec.func is standard.func:
            out.add(hid)
    return frozenset(out)


# The PH_SKB_* bits an skb's (kind, type name) is offered (net.offers: by those two only).
_skb_offers: dict[tuple[str, str], int] = {}


def packet_helpers_offered(state: Any) -> int:
    """The abi.PH_* bits of the native packet helpers a program-type state offers: what
    the Python helpers would accept (the rest go to them, to decide)."""
    kind = getattr(state, "kind", None)
    if kind == "xdp":
        return (abi.PH_XDP | (0 if state.frags else abi.PH_XDP_TAIL)
                | (abi.PH_XDP_META if state.meta_supported else 0))
    if not isinstance(state, SkbState) or state.buf is None:
        return 0
    key = (kind, state.type_name)
    bits = _skb_offers.get(key)
    if bits is None:
        bits = _skb_offers[key] = (
            (abi.PH_SKB_LOAD if net.offers(state, *net.LOAD_BYTES_OFFER) else 0)
            | (abi.PH_SKB_STORE if net.offers(state, *net.STORE_BYTES_OFFER) else 0)
            | (abi.PH_CSUM if net.offers(state, *net.CSUM_REPLACE_OFFER) else 0))
    return bits


class JitMachine:
    """A program compiled to native code, ready to run; a drop-in for :class:`Machine`."""

    def __init__(self, program: Sequence[Instruction] | bytes, *,
                 helpers: HelperRegistry | None = None, memory: Memory | None = None,
                 budget: int | None = DEFAULT_BUDGET, constants: dict[int, int] | None = None,
                 env: Any = None, name: str = "prog", trusted: Iterable[int] | None = None,
                 packet_access: Iterable[int] | None = None, stack_used: int | None = None):
        insns = decode(program) if isinstance(program, (bytes, bytearray, memoryview)) \
            else list(program)
        if not insns:
            raise BpfDecodeError("empty program")
        self.name = name
        self.insns = insns
        self.program = compiler.Program.from_insns(insns)
        self.helpers = helpers if helpers is not None else DEFAULT_HELPERS
        self.memory = memory if memory is not None else Memory()
        self._budget = budget
        self.env = env
        self.constants = dict(constants or {})
        code = encode(insns)
        native = native_helper_ids(self.helpers)
        used = {i.imm for i in insns if i.opcode == OPCODE_CALL and i.src == CALL_HELPER}
        native = native & used
        self.native_helpers = native      # the helpers this program calls natively
        self.uses_env = bool(native & abi.ENV_HELPERS)
        self.uses_packet = bool(native & abi.PACKET_HELPERS)
        self.mirrored = self.uses_env or self.uses_packet   # state copied around runs
        self._code = code
        self._tier_lock = threading.Lock()
        # Code this machine ran before its current tier: a run may still be in it when the
        # background thread switches tiers, so it stays loaded as long as the machine.
        self._retired: list[Compiled] = []
        # Unchecked code (``unchecked=True``: a verified program): the pcs of the accesses
        # the verifier proved in bounds of native memory, compiled with no checks, as are
        # the map helpers' arguments. None: everything checked (the default).
        self.trusted = frozenset(trusted) if trusted is not None else None
        # The pcs whose accesses the verifier found may be to packet memory (None: not
        # verified, any may): a batch runs a program storing to none on packets in place.
        self.packet_access = frozenset(packet_access) if packet_access is not None else None
        # The bytes of each stack frame whose old contents a run may read (the verifier's
        # stack depth, or 0 when it found no read of a byte not written first; None: not
        # verified, all of it): what a run zeroes before it starts, as each run starts on
        # a zeroed stack (the rest stays zero, as nothing writes it, or is never read).
        self.stack_used = _STACK if stack_used is None else \
            min(_STACK, -(-stack_used // 8) * 8)
        # The map helper calls on maps the loader resolved, and those maps' shapes
        # (constants to the code: see .mapcalls, which needs llvmlite to be imported).
        from pybpf.jit.mapcalls import known_map_calls, map_shapes

        self._map_calls = known_map_calls(self.program, self.constants)
        self._map_shapes = map_shapes(self._map_calls, {
            pc: m.handle.read(0, HANDLE_SIZE) for pc, address in self.constants.items()
            if (m := map_at(address)) is not None})
        self.compiled = compile_program(self.program, code, frozenset(self.constants), name,
                                        native, first_tier(), self.trusted, self.stack_used,
                                        self._map_shapes, self._map_calls)
        self._hot = HOT_RUNS if self.compiled.tier != FULL else -1
        self.code_region = self.memory.add(Region(f"{name}.text", code, writable=False,
                                                  kind="code"))
        self.stacks, self._stack_ends = _stack_set(self.memory, f"{name}.stack")
        self.call = CallContext(self.memory, env, program=self)
        self._table = region_table(self.memory)
        self._table_version = -1
        # The context loads (offset, size) runs made through Python, the address of the
        # current run's context (its r1), and the context region _preload found last.
        self._ctx_loads: set[tuple[int, int]] = set()
        self._run_ctx = 0
        self._preloaded: Region | None = None
        self._callback_stacks: list[tuple[list[Region], ctypes.Array]] = []
        self._callback_level = 0
        self._scratch: Region | None = None
        self._packet: Region | None = None
        self._pending: BaseException | None = None
        # During a batch (see .batch): brings Python's view of the context up to the
        # packet native code is running, before any callback acts on it.
        self.batch_sync: Any = None
        self._helper_funcs: dict[int, Any] = {}
        self._consts = (ctypes.c_uint64 * max(self.program.length, 1))()
        for pc, value in self.constants.items():
            if 0 <= pc < self.program.length:
                self._consts[pc] = value & M64
        # ctypes callbacks must outlive every run: keep them on the machine.
        self._callbacks = (abi.HelperCallback(self._helper_cb), abi.MemoryCallback(self._memory_cb),
                           abi.PacketCallback(self._packet_cb))
        ctx = self._ctx = abi.Context()
        self._ctx_address = ctypes.addressof(ctx)
        ctx[abi.CONSTS] = ctypes.addressof(self._consts)
        ctx[abi.CODE] = self.code_region.address
        ctx[abi.STACKS] = ctypes.addressof(self._stack_ends)
        self._access_cache_set()
        ctx[abi.MEMORY_ID] = id(self.memory) & M64
        _by_context[self._ctx_address] = self
        for slot, callback in zip((abi.HELPER_CB, abi.MEMORY_CB, abi.PACKET_CB), self._callbacks):
            ctx[slot] = ctypes.cast(callback, ctypes.c_void_p).value
        self.budget = budget
        # The fast call (see .fastcall): its ordinary path is kept alive here (the context
        # only borrows it), and it is armed by the first call that can use it.
        self._slow_call = self._call_slow
        ctx[abi.FAST_SLOW] = id(self._slow_call)
        ctx[abi.CHANGES], ctx[abi.CHANGES_SEEN] = self.memory.version_address, _DISARMED
        self._fast = fastcall.bind(self._ctx_address)
        self._use(self.compiled)

    def _use(self, compiled: Compiled) -> None:
        """Run ``compiled`` from now on (the entry points every way in reads)."""
        self._entries = {pc: abi.EntryFunction(address)
                         for pc, address in compiled.entries.items()}
        self._entry_addresses = dict(compiled.entries)
        self._entry0 = self._entries[0]
        self._ctx[abi.FAST_ENTRY] = self._entry_addresses[0]
        self.compiled = compiled

    @property
    def budget(self) -> int | None:
        """The instructions a run may execute (None: no limit)."""
        return self._budget

    @budget.setter
    def budget(self, value: int | None) -> None:
        self._budget = value
        self._ctx[abi.FAST_BUDGET] = _UNLIMITED if value is None else min(value, _UNLIMITED)

    # Calling the machine runs the program: ``machine(r1, ..., r5) -> r0``. The callable is
    # the fast call's builtin function (reached through C-level attribute access, so no
    # Python frame stands between the caller and it).
    __call__ = property(operator.attrgetter("_fast"),
                        doc="Run the program with r1..r5 = the arguments (ints, at most 5) "
                            "and return r0: ``run``'s fastest form (no RunResult; the CPU "
                            "is the last run's). Faults raise as ``run`` raises them.")

    def _call_slow(self, *args: int) -> int:
        """The fast call's ordinary path: finish a run that ended with a status, or make
        the run ``run`` makes; then arm the fast path if this machine's runs can take it
        (full-tier code, nothing to mirror, no load views to forget: a plain program)."""
        ctx = self._ctx
        if ctx[abi.STATUS]:
            try:
                self._raise(ctx[abi.FAST_BUDGET])
            except (ProgramExit, TailCall) as ending:
                return self._finish(ending, args[0] if args else 0)[0]
            finally:
                self.call.tail_calls = 0
        r0 = self.run(*args).r0
        ctx[abi.CHANGES_SEEN] = _DISARMED
        if (self.compiled.tier == FULL and not self.mirrored and self._packet is None
                and self._table.sync() == self._table_version and not self._table.views):
            self.call.tail_calls = 0
            ctx[abi.CHANGES_SEEN] = self.memory.version
        return r0

    def native_target(self) -> tuple[int, int, int]:
        """(entry address, run context, memory id) for a prog array's jump table: the
        full tier's entry, which the table keeps whatever this machine runs later."""
        self.tier_up()
        return self._entry_addresses[0], self._ctx_address, self._ctx[abi.MEMORY_ID]

    # -- tiers ------------------------------------------------------------------------------

    @property
    def tier(self) -> str:
        """The tier of the code runs use now (``fast`` or ``full``)."""
        return self.compiled.tier

    def tier_up(self) -> None:
        """Move to the full tier now, compiling it (or waiting for the background
        compile under way) if need be."""
        if self.compiled.tier == FULL:
            return
        with self._tier_lock:
            if self.compiled.tier == FULL:
                return
            full = compile_program(self.program, self._code, frozenset(self.constants),
                                   self.name, self.native_helpers, FULL, self.trusted,
                                   self.stack_used, self._map_shapes, self._map_calls)
            self._retired.append(self.compiled)
            self._use(full)
            self._hot = -1

    def _heat(self, runs: int) -> None:
        """Count ``runs`` about to happen at the fast tier: a call with ``HOT_RUNS`` of
        them gets the full tier first, and the runs crossing ``HOT_RUNS`` in all have it
        compiled in the background."""
        if runs >= HOT_RUNS:
            self.tier_up()
        elif self._hot > 0:
            self._hot -= runs
            if self._hot <= 0:
                self._hot_later()

    def _hot_later(self) -> None:
        """The full tier from the background thread, once. ``_hot`` stays negative from
        here on: nothing more to count."""
        self._hot = -1
        if self.compiled.tier != FULL:
            _worker.submit(self)

    # -- what the JIT made ----------------------------------------------------------------

    def source(self) -> str:
        """The optimised LLVM IR of the program."""
        return self.compiled.ir

    def native_asm(self) -> str:
        return self.compiled.native_asm()

    # -- running --------------------------------------------------------------------------

    def run(self, *args: int, mem: bytes | bytearray | None = None,
            packet: bytes | Region | None = None, trace: bool = False,
            budget: int | None = _USE_DEFAULT, repeat: int = 1) -> RunResult:
        """Run the program: the interpreter's ``Machine.run`` contract (no tracing).

        ``repeat`` runs happen in one native loop (see :mod:`.drivers`) unless a run needs
        Python to finish it (a tail call, a helper that ends the program)."""
        if (mem is None and repeat == 1 and budget is _USE_DEFAULT and not trace
                and len(args) <= 5 and not isinstance(packet, (bytes, bytearray))):
            return self._run_one(args, packet)
        if self.compiled.tier != FULL:
            self._heat(max(repeat, 1))
        if trace:
            raise BpfError("the jit engine cannot trace a run; use the interpreter")
        regs = list(args) + [0] * (5 - len(args))
        if len(regs) > 5:
            raise ValueError("a program takes at most 5 arguments (r1-r5)")
        mem_region = None
        if mem is not None:
            mem_region = self.memory.add(Region("mem", bytes(mem), kind="mem"))
            regs[0], regs[1] = mem_region.address if len(mem) else 0, len(mem)
        if isinstance(packet, (bytes, bytearray)):
            packet = Region("packet", bytes(packet), writable=False, kind="packet")
        limit = self.budget if budget is _USE_DEFAULT else budget
        limit = _UNLIMITED if limit is None else min(limit, _UNLIMITED)
        start = time.perf_counter_ns()
        try:
            self._set_packet(packet)
            r0, final, left = self._execute(regs, limit, max(repeat, 1))
        finally:
            self._set_packet(None)
            out = mem_region.read() if mem_region is not None else None
            if mem_region is not None:
                self.memory.remove(mem_region)
        elapsed = time.perf_counter_ns() - start
        return RunResult(r0, final, limit - left, elapsed, out)

    def _run_one(self, args: tuple[int, ...], packet: Region | None) -> RunResult:
        """``run(*args, packet=packet)``, one run on the machine's budget: the steps of
        ``_execute``, ``_in_env`` and ``_enter``, with as little Python as possible around
        the native call (this is the path a Python caller's overhead is made of: a call's,
        a test_run's)."""
        limit = self._budget
        limit = _UNLIMITED if limit is None else min(limit, _UNLIMITED)
        self._hot -= 1
        if not self._hot:
            self._hot_later()
        # _ready's steps, inline
        table, ctx, call = self._table, self._ctx, self.call
        if table.sync() != self._table_version:
            self._adopt_table()
        if table.views:
            self._fresh_views(args[0] if args else 0)
        if packet is not None or self._packet is not None:
            self._set_packet(packet)
        call.tail_calls = 0
        ctx[0:10] = (abi.ST_OK, 0, limit, 1, *args, *_ZEROS[len(args):], call.cpu)
        ctx[abi.TAIL_COUNT] = ctx[abi.CALLER_CTX] = 0
        start = time.perf_counter_ns()
        try:
            if self.mirrored:
                r0 = self._in_env(self._entry0, self._ctx_address)
            else:
                r0 = self._entry0(self._ctx_address)
            if ctx[abi.STATUS]:
                try:
                    self._raise(limit)
                except (ProgramExit, TailCall) as ending:
                    r0, final, left = self._finish(ending, args[0] if args else 0)
            else:
                final, left = _REGS.unpack_from(ctx, abi.REGS * 8), ctx[abi.BUDGET]
        finally:
            if packet is not None:
                self._set_packet(None)
        return RunResult(r0, final, limit - left, time.perf_counter_ns() - start)

    def _set_packet(self, packet: Region | None) -> None:
        self._packet = packet
        ctx = self._ctx
        if packet is not None and type(packet) is Region:
            ctx[abi.PACKET_NATIVE], ctx[abi.PACKET_ADDR], ctx[abi.PACKET_LEN] = \
                1, packet.address, packet.size
        else:
            ctx[abi.PACKET_NATIVE] = 0

    def _execute(self, regs: list[int], limit: int,
                 repeat: int = 1) -> tuple[int, tuple[int, ...] | None, int]:
        """Run ``repeat`` times, following tail calls; the last run's (r0, final registers
        or None, budget left)."""
        while True:
            self.call.tail_calls = 0
            try:
                if repeat > 1:
                    repeat -= self._in_env(self._repeat, regs, limit, repeat - 1)
                return self._run_once(regs, limit)
            except (ProgramExit, TailCall) as ending:     # a run the native loop raised,
                result = self._finish(ending, regs[0])    # or a tail call through Python
            repeat -= 1
            if repeat < 1:
                return result

    def _run_once(self, regs: Sequence[int], limit: int) -> tuple[int, tuple[int, ...] | None, int]:
        """One run from the entry: (r0, final registers or None when a helper ended it,
        budget left). A tail call through Python leaves as TailCall."""
        try:
            r0 = self._in_env(self._enter, 0, regs, limit, 1)
        except ProgramExit as stop:
            return stop.r0 & M64, None, self._ctx[abi.BUDGET]
        return r0, _REGS.unpack_from(self._ctx, abi.REGS * 8), self._ctx[abi.BUDGET]

    def _finish(self, ending: ProgramExit | TailCall,
                r1: int) -> tuple[int, tuple[int, ...] | None, int]:
        """The outcome of a run that ended in Python: a helper's exit, or a tail call
        whose chain Python follows."""
        if isinstance(ending, ProgramExit):
            return ending.r0 & M64, None, self._ctx[abi.BUDGET]
        return self._follow(ending, r1)

    def _in_env(self, run: Any, *args: Any) -> Any:
        """``run(*args)`` with the Env's clock and prandom state, and the program type's
        packet state, copied in and out around it, when native helpers use them."""
        if not self.mirrored:
            return run(*args)
        if self.uses_env:
            self._env_in()
        if self.uses_packet:
            self._packet_in()
        try:
            return run(*args)
        finally:
            if self.uses_env:
                self._env_out()
            if self._ctx[abi.PKT_CHANGED]:
                self._packet_out()

    def _repeat(self, regs: list[int], limit: int, count: int) -> int:
        """Up to ``count`` runs in the native loop; how many finished normally (the next
        one, if any, ended with a status: it is raised here)."""
        self._ready(regs, limit, 1)
        done = _repeat_function()(self._ctx_address, self._entry_addresses[0], count, limit)
        if done < count:
            self._raise(limit)
        return done

    def _follow(self, tail: TailCall, r1: int) -> tuple[int, tuple[int, ...] | None, int]:
        """The rest of a run after its first tail call: the chain of targets, each in the
        same invocation (same context, CPU, environment and packet)."""
        machine: JitMachine = self
        packet = self._packet
        try:
            while True:
                target = tail.target
                if not isinstance(target, JitMachine):
                    raise BpfRuntimeError(f"tail call target {target!r} is not a program of "
                                          f"the jit engine", machine.call.pc) from None
                current = machine.call
                if current.tail_calls + 1 > MAX_TAIL_CALLS:
                    raise BpfLimitError(f"more than {MAX_TAIL_CALLS} chained tail calls",
                                        current.pc) from None
                target.call.tail_calls = current.tail_calls + 1
                target.call.ctx, target.call.cpu = current.ctx, current.cpu
                target.call.env, target.call.runtime = current.env, current.runtime
                left = machine._ctx[abi.BUDGET]
                if target is not machine:
                    machine._set_packet(None)
                target._set_packet(packet)
                machine = target
                try:
                    return machine._run_once([r1, 0, 0, 0, 0], left)
                except TailCall as next_tail:
                    tail = next_tail
        finally:
            if machine is not self:         # the next run (of a repeat) starts here again
                machine._set_packet(None)
                self._set_packet(packet)
            self.call.tail_calls = 0        # (a fast call's Python tail call counts from 0)

    def _enter(self, entry: int, regs: Sequence[int], budget: int, clear: int = 0) -> int:
        """Call the native function at ``entry``; raise what it recorded, if anything.
        ``clear``: zero the stacks the last run used first (a run, not a callback)."""
        self._ready(regs, budget, clear)
        r0 = self._entries[entry](self._ctx_address)
        if self._ctx[abi.STATUS]:
            self._raise(budget)
        return r0

    def _ready(self, regs: Sequence[int], budget: int, clear: int) -> None:
        """The context as a call from Python needs it: the region table current, slots
        STATUS .. CPU set, and for a run (``clear``) no context loads remembered and the
        tail call count its own."""
        ctx = self._ctx
        self._sync_table()
        if clear:
            self._fresh_views(regs[0])
        ctx[0:10] = (abi.ST_OK, 0, budget, clear, *regs, self.call.cpu)   # STATUS .. CPU
        if clear:
            ctx[abi.TAIL_COUNT], ctx[abi.CALLER_CTX] = self.call.tail_calls, 0

    def _fresh_views(self, r1: int) -> None:
        """A run starts at ``r1``: no context load is remembered from before it, but the
        loads of its context that runs of this machine made before are answered already
        (outside a batch, whose driver tells the view about each packet itself)."""
        self._table.forget_views()
        self._run_ctx = r1
        if self._ctx_loads and self.batch_sync is None:
            self._preload(r1)

    def _preload(self, address: int) -> None:
        """Keep in the load view of the context region at ``address`` the value of each
        context load earlier runs made through Python (at most PRELOADS of them).

        What a native load finds in the view is what Python would answer at that point of
        the run: a context's loads have no effect and their values change only when
        Python runs (a helper, a context store: then the views are forgotten) or when a
        native packet helper moves the packet (which tells the view); so a load answered
        now, at the start, gives what the program's own load would. One Python refuses
        now is left to the program's load, which then fails as it would have.

        The region is the one found last when it is still there, i.e. in the region table
        (just synchronised): a program type gives each run the regions of the last one."""
        region = self._preloaded
        if region is None or region.address != address or id(region) not in self._table.views:
            region = self.memory.find(address)
            if region is None or region.address != address:
                return
            self._preloaded = region
        if region.access is not None:
            self._table.preload(region, self._ctx_loads)

    def _sync_table(self) -> None:
        """Bring the native region table up to the Memory's (see RegionTable.sync)."""
        if self._table.sync() != self._table_version:
            self._adopt_table()

    def _env_in(self) -> None:
        """Copy the Env's clock and prandom state to where native helpers advance them."""
        env = self.call.env
        if env is None:
            from pybpf.env import Env

            env = self.call.env = Env()
        s1, s2, s3, s4 = env.rnd_state
        self._ctx[abi.CLOCK:abi.RND + 2] = (env.clock_ns & M64, env.clock_step_ns & M64,
                                             env.boot_offset_ns & M64, s1 | s2 << 32,
                                             s3 | s4 << 32)

    def _env_out(self) -> None:
        env = self.call.env
        clock, _, _, a, b = self._ctx[abi.CLOCK:abi.RND + 2]
        env.clock_ns = clock
        env.rnd_state = (a & _M32, a >> 32, b & _M32, b >> 32)

    def _packet_in(self) -> None:
        """Copy the run's packet (its program type's state) to where native packet
        helpers read and move it, and which of them its state offers (none in a batch,
        whose driver moves the packet itself)."""
        ctx, state = self._ctx, self.call.ctx
        allow = packet_helpers_offered(state) if self.batch_sync is None else 0
        if allow:
            buf = state.buf
            ctx[abi.PKT_FRAME] = buf.address
            ctx[abi.PKT_META:abi.PKT_END + 1] = (
                (state.data_meta, state.data, state.data_end) if state.kind == "xdp"
                else (buf.data, buf.data, buf.tail))
        ctx[abi.PKT_ALLOW], ctx[abi.PKT_CHANGED], ctx[abi.PKT_REDIRECT] = allow, 0, 0

    def _packet_out(self) -> None:
        """Bring the program type's state up to what native packet helpers did."""
        ctx, state = self._ctx, self.call.ctx
        ctx[abi.PKT_CHANGED] = 0
        if state.kind == "xdp":
            state.data_meta, state.data, state.data_end = ctx[abi.PKT_META:abi.PKT_END + 1]
        redirect, ctx[abi.PKT_REDIRECT] = ctx[abi.PKT_REDIRECT], 0
        if redirect:
            state.redirect = Redirect(ctx[abi.PKT_REDIRECT + 1], 0) \
                if redirect == abi.REDIRECT_SET else None

    def _adopt_table(self) -> None:
        """Point the context at the current region table and forget remembered regions
        (one may be gone)."""
        ctx, table = self._ctx, self._table
        ctx[abi.REGIONS], ctx[abi.NREGIONS] = table.address, table.count
        ctx[abi.RECENT:abi.RECENT_NEXT] = _NO_RECENT
        ctx[abi.VIEW] = ctx[abi.VIEW_SIZE] = 0      # its region may be gone
        ctypes.memmove(self._access_cache, self._access_reset, ctypes.sizeof(self._access_cache))
        self._table_version = table.version

    def _access_cache_set(self) -> None:
        """The access cache (see abi.ACCESS_CACHE), one entry per checked access site, and
        what resets it: every entry names stack 0, which is always there and so a safe
        region to remember (an access elsewhere just misses it)."""
        from pybpf.jit.memops import access_sites

        sites = max(len(access_sites(self.program, self.trusted, self._map_calls)), 1)
        home = self.stacks[0]
        self._access_cache = (ctypes.c_uint64 * (2 * sites))()
        self._access_reset = (ctypes.c_uint64 * (2 * sites))(*[home.address, home.size] * sites)
        ctx = self._ctx
        ctx[abi.ACCESS_CACHE] = ctypes.addressof(self._access_cache)
        ctx[abi.ACCESS_RESET] = ctypes.addressof(self._access_reset)
        ctx[abi.ACCESS_BYTES] = ctypes.sizeof(self._access_cache)

    def _raise(self, budget: int) -> None:
        ctx = self._ctx
        status, pc = ctx[abi.STATUS], ctx[abi.PC]
        ctx[abi.STATUS] = abi.ST_OK
        origin, ctx[abi.FAULT_CTX] = ctx[abi.FAULT_CTX], 0
        if origin and origin != self._ctx_address:   # in a program a native tail call ran
            machine = _by_context.get(origin)
            if machine is None:
                raise BpfRuntimeError(f"jit: a tail call target's context {origin:#x} is gone",
                                      pc)
            self.call.tail_calls = machine.call.tail_calls
            machine._ctx[abi.STATUS] = status
            machine._raise(budget)
        if status == abi.ST_PYTHON:
            error, self._pending = self._pending, None
            assert error is not None
            raise error.with_traceback(error.__traceback__)
        if status == abi.ST_MEMORY:
            raise self.memory.fault(ctx[abi.FAULT_ADDR], ctx[abi.FAULT_SIZE], pc,
                                    bool(ctx[abi.FAULT_WRITE]))
        if status == abi.ST_BUDGET:
            raise BpfLimitError(f"instruction budget of {budget} exhausted", pc)
        if status == abi.ST_STATIC:
            cls, text = self.compiled.messages[ctx[abi.MESSAGE]]
            raise cls(text, pc)
        if status == abi.ST_STACK:
            raise BpfLimitError(f"combined stack size {ctx[abi.FAULT_ADDR]} of "
                                f"{ctx[abi.FAULT_SIZE]} frames exceeds {_STACK} bytes", pc)
        raise BpfRuntimeError(f"jit: unknown status {status}", pc)

    # -- callbacks from native code (they never raise: they record and return) -----------

    def _fail(self, error: BaseException) -> int:
        self._pending = error
        self._ctx[abi.STATUS] = abi.ST_PYTHON
        return 0

    def _helper_cb(self, _ctx: int, hid: int, pc: int, r1: int, r2: int, r3: int, r4: int,
                   r5: int) -> int:
        try:
            if self._ctx[abi.CALLER_CTX]:
                self._adopt_caller()
            if self._ctx[abi.BATCH]:
                self._batch_python(True)
            ctx = self._ctx
            if ctx[abi.PKT_CHANGED]:
                self._packet_out()
            call = self.call
            call.pc = pc
            func = self._helper_funcs.get(hid)
            if func is None:
                spec = self.helpers.get(hid)
                if spec is None:
                    raise BpfHelperError(f"unknown helper {self.helpers.describe(hid)}: not "
                                         f"implemented", pc)
                func = self._helper_funcs[hid] = spec.func
            if self.uses_env:
                self._env_out()
                r0 = func(call, r1, r2, r3, r4, r5) & M64
                self._env_in()
            else:
                r0 = func(call, r1, r2, r3, r4, r5) & M64
            if ctx[abi.PKT_ALLOW]:
                self._packet_in()
            self._table.forget_views()
            self._sync_table()
            return r0
        except BaseException as e:  # noqa: BLE001 - re-raised by _raise after unwinding
            return self._fail(e)

    def _memory_cb(self, _ctx: int, address: int, size: int, pc: int, store: int,
                   value: int) -> int:
        try:
            if self._ctx[abi.CALLER_CTX]:
                self._adopt_caller()
            if self._ctx[abi.BATCH]:
                self._batch_python(bool(store))
            if self._ctx[abi.PKT_CHANGED]:
                self._packet_out()
            region = self.memory.find(address, size)
            if region is None or region.access is None:
                raise self.memory.fault(address, size, pc, bool(store))
            offset = address - region.address
            if store:
                region.access.store(offset, size, value, pc)
                self._table.forget_views()
                value = 0
            else:
                value = region.access.load(offset, size, pc) & M64
                self._table.remember(region, offset, size, value)
                if (region.address == self._run_ctx and region.access.pure_loads
                        and size in (1, 2, 4, 8) and len(self._ctx_loads) < PRELOADS):
                    self._ctx_loads.add((offset, size))     # (see _preload)
            self._sync_table()
            return value
        except BaseException as e:  # noqa: BLE001
            return self._fail(e)

    def _packet_cb(self, _ctx: int, offset: int, size: int, pc: int) -> int:
        """A legacy packet load native code left to Python: the interpreter's rules."""
        try:
            if self._ctx[abi.CALLER_CTX]:
                self._adopt_caller()
            if self._ctx[abi.BATCH]:
                self._batch_python(True)
            packet = self._packet
            if offset & (1 << 63):
                offset -= 1 << 64
            if packet is None:
                raise ProgramExit(0)
            if offset < 0:
                relative = getattr(packet, "read_relative", None)
                data = relative(offset, size) if relative is not None else None
                if data is None:
                    raise ProgramExit(0)
                return int.from_bytes(data, "big")
            if offset + size > packet.size:
                raise ProgramExit(0)
            return int.from_bytes(packet.read(offset, size), "big")
        except BaseException as e:  # noqa: BLE001
            return self._fail(e)

    def _adopt_caller(self) -> None:
        """Entered by a native tail call: this run's Python state (context, CPU, Env,
        packet, batch) is the caller's, as a tail call through Python would set it."""
        caller = _by_context.get(self._ctx[abi.CALLER_CTX])
        if caller is None or caller is self:
            return
        if caller._ctx[abi.CALLER_CTX]:
            caller._adopt_caller()
        mine, theirs = self.call, caller.call
        mine.ctx, mine.cpu, mine.env, mine.runtime = theirs.ctx, theirs.cpu, theirs.env, \
            theirs.runtime
        mine.tail_calls = self._ctx[abi.TAIL_COUNT]
        self.batch_sync = caller.batch_sync
        self._packet = caller._packet

    def _batch_python(self, changes: bool) -> None:
        """A callback during a batch: Python's state follows the packet being run; one
        that may change state sends the batch back to Python after this packet."""
        if self.batch_sync is not None:
            self.batch_sync()
        if changes:
            self._ctx[abi.BATCH] = abi.BATCH_PYTHON

    # -- what helpers use -----------------------------------------------------------------

    def scratch(self, size: int) -> Region:
        """A read-only region of at least ``size`` bytes that helpers hand to callbacks."""
        region = self._scratch
        if region is None or region.size < size:
            if region is not None:
                self.memory.remove(region)
            region = self._scratch = self.memory.add(
                Region(f"{self.name}.scratch", max(size, 64), writable=False, kind="scratch"))
        return region

    def call_function(self, address: int, *args: int) -> int:
        """Run the BPF function at code ``address`` with r1.. = ``args``; return its r0.

        As in the interpreter: callbacks run on stacks of their own (one set per nesting
        level); their instructions count against the run's budget.
        """
        entry = (address - self.code_region.address) // 8
        if address % 8 or entry not in self._entries:
            raise BpfRuntimeError(f"callback address {address:#x} is not a function of "
                                  f"{self.name}", self.call.pc)
        level = self._callback_level
        if level >= _FRAMES:
            raise BpfLimitError(f"callbacks nested more than {_FRAMES} deep", self.call.pc)
        while len(self._callback_stacks) <= level:
            n = len(self._callback_stacks)
            self._callback_stacks.append(_stack_set(self.memory, f"{self.name}.callback[{n}].stack"))
        ends = self._callback_stacks[level][1]
        regs = list(args) + [0] * (5 - len(args))
        ctx = self._ctx
        pc, saved = self.call.pc, ctx[abi.STACKS]
        ctx[abi.STACKS] = ctypes.addressof(ends)
        self._callback_level += 1
        try:
            return self._enter(entry, regs, ctx[abi.BUDGET])
        finally:
            self._callback_level -= 1
            ctx[abi.STACKS] = saved
            self.call.pc = pc
