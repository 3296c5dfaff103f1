"""``pybpf.verify``: the public entry point and its result."""

from __future__ import annotations

import errno as _errno
import struct
from dataclasses import dataclass, field
from typing import Any, Sequence

from pybpf.errors import VerifierError
from pybpf.isa.uapi import ProgType
from pybpf.verifier.cfg import (CfgError, Slot, check_cfg, check_opcodes, check_subprogs,
                                find_subprogs)
from pybpf.verifier.explain import explain
from pybpf.verifier.globals import GlobalFunc, global_functions
from pybpf.verifier.log import stats_line
from pybpf.verifier.mem import VerifyFail
from pybpf.verifier.regs import (
    PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_STACK,
)
from pybpf.verifier.walk import MapInfo, Verifier

MAX_INSNS = 1_000_000
PRIVS = ("root", "cap_bpf")
# The pointers whose memory is pybpf's native memory (not a context or socket that Python
# answers for).
NATIVE_MEMORY = frozenset({PTR_TO_STACK, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_PACKET,
                           PTR_TO_PACKET_META, PTR_TO_MEM})
PACKET_MEMORY = frozenset({PTR_TO_PACKET, PTR_TO_PACKET_META})


@dataclass
class VerifyResult:
    """What the verifier decided: ``accepted``, the kernel-format ``log``, the first error
    line (``error``), the failing instruction (``insn``), statistics, and pybpf's own
    explanation (``source_line``, ``path``, ``hint``) of a rejection."""

    accepted: bool
    log: str = ""
    error: str | None = None
    insn: int | None = None
    errno: int | None = None
    stats: dict = field(default_factory=dict)
    program: str = ""
    source_line: Any = None
    path: list = field(default_factory=list)
    hint: str = ""
    slots: list = field(default_factory=list, repr=False)
    # Accepted: the pointer types each memory access met (loads, stores, atomics, and
    # the memory helpers read and write), by insn: what the JIT relies on.
    access_types: dict = field(default_factory=dict, repr=False)
    # Accepted: the deepest stack byte any function's frame uses (below it a run never
    # reads or writes its stack).
    stack_depth: int = 0
    # Accepted: whether a run may read stack bytes it did not write (root may; a helper
    # may leave part of a buffer unwritten): else what a stack held before a run is
    # never seen.
    reads_uninit_stack: bool = True

    @property
    def native_access(self) -> frozenset[int]:
        """The insns whose every memory access is to native memory (stack, map key/value,
        packet, ringbuf memory), proven in bounds: what ``unchecked`` JIT code accesses
        without checks."""
        return frozenset(i for i, types in self.access_types.items() if types <= NATIVE_MEMORY)

    @property
    def packet_access(self) -> frozenset[int]:
        """The insns with an access that may be to packet memory."""
        return frozenset(i for i, types in self.access_types.items() if types & PACKET_MEMORY)

    def __bool__(self) -> bool:
        return self.accepted

    def raise_for_error(self) -> None:
        if not self.accepted:
            raise self.to_error()

    def to_error(self) -> VerifierError:
        where = f" at instruction {self.insn}" if self.insn is not None else ""
        name = _errno.errorcode.get(self.errno or 0, str(self.errno))
        what = self.error if self.error is not None else (self.hint or "no reason given")
        err = VerifierError(f"verifier rejected the program{where}: {what} ({name})",
                            log=self.log, error=self.error, insn=self.insn, errno=self.errno)
        err.source_line = self.source_line
        return err


# --- inputs ---------------------------------------------------------------------------------

_RAW_INSN = struct.Struct("<BBhi")


def raw_slots(code: bytes) -> list[Slot]:
    """8-byte little-endian instructions, undecoded (lddw halves stay separate)."""
    make = tuple.__new__
    return [make(Slot, (op, regs & 0xF, regs >> 4, off, imm))
            for op, regs, off, imm in _RAW_INSN.iter_unpack(code[:len(code) - len(code) % 8])]


def slots_of(insns: Sequence[Any]) -> list[Slot]:
    """Slots of decoded :class:`pybpf.isa.Instruction` values (lddw split back in two)."""
    out: list[Slot] = []
    append, make = out.append, tuple.__new__
    for insn in insns:
        opcode = insn.opcode
        if opcode == 0x18:
            imm = insn.imm & ((1 << 64) - 1)
            lo, hi = imm & 0xFFFFFFFF, imm >> 32
            append(make(Slot, (0x18, insn.dst, insn.src, insn.off, _s32(lo))))
            append(make(Slot, (0, 0, 0, 0, _s32(hi))))
        else:
            append(make(Slot, (opcode, insn.dst, insn.src, insn.off, insn.imm)))
    return out


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def map_info(spec: Any, name: str | None = None) -> MapInfo:
    """A :class:`MapInfo` from a MapSpec or a JSON-like dict."""
    if isinstance(spec, dict):
        from pybpf.isa.uapi import MapType
        t = spec.get("type", "hash")
        mtype = MapType[t.upper()] if isinstance(t, str) else MapType(int(t))
        return MapInfo(spec.get("name", name or ""), mtype, int(spec.get("key_size", 0)),
                       int(spec.get("value_size", 0)), int(spec.get("max_entries", 1)),
                       int(spec.get("flags", 0)))
    rdonly = getattr(spec, "section", "").startswith(".rodata")
    return MapInfo(spec.name[:15] if spec.name else "", spec.type, spec.key_size,
                   spec.value_size, spec.max_entries, spec.flags,
                   data=getattr(spec, "data", None), rdonly=rdonly)


def _program_maps(prog: Any, obj: Any) -> dict[int, MapInfo]:
    """Slot index of each map lddw → the map it names (ProgramSpec.insns ``reference``)."""
    out: dict[int, MapInfo] = {}
    if obj is None:
        return out
    cache: dict[str, MapInfo] = {}
    slot = 0
    for insn in prog.insns:
        if insn.opcode == 0x18 and insn.src in (1, 2, 5, 6) and insn.reference:
            spec = obj.maps.get(insn.reference)
            if spec is not None:
                if insn.reference not in cache:
                    info = map_info(spec)
                    kernel_name = _kernel_map_name(insn.reference)
                    info.name = kernel_name
                    cache[insn.reference] = info
                out[slot] = cache[insn.reference]
        slot += insn.slots
    return out


def _kernel_map_name(name: str) -> str:
    """The name the kernel shows (libbpf truncates to 15 chars; .rodata → <obj>.rodata)."""
    return name[:15]


def _slot_source_lines(prog: Any) -> list | None:
    lines = getattr(prog, "source_lines", None)
    if not lines or not any(lines):
        return None
    out: list = []
    for insn, line in zip(prog.insns, lines):
        out.append(line)
        if insn.slots == 2:
            out.append(line)
    return out


# --- the entry point -----------------------------------------------------------------------

def verify(prog: Any, log_level: int = 1, priv: str = "root", *, prog_type: int | None = None,
           attach_type: int | None = None, maps: Sequence[Any] | None = None,
           license: str | None = None, func_info: bool = False,
           global_funcs: dict[int, GlobalFunc] | None = None,
           ) -> "VerifyResult | dict[str, VerifyResult]":
    """Verify a program as the kernel would.

    ``prog``: a ProgramSpec, a loaded Program, bytes of raw instructions, or a list of
    Instructions; an ObjectSpec / Object gives a dict of results by program name.
    ``prog_type`` overrides (or, for raw input, gives) the program type; ``maps`` are the
    maps an lddw with src_reg 5/6 refers to by index (MapSpecs or dicts); ``func_info``:
    raw input comes with BTF function info (a program from an ELF object has it when the
    object has it), which the kernel requires of programs with callbacks;
    ``global_funcs``: for raw input, its global subprograms (see
    :func:`pybpf.verifier.globals.global_functions`; an ELF program's come from its BTF).
    """
    if priv not in PRIVS:
        raise ValueError(f"priv must be one of {PRIVS}, not {priv!r}")
    if isinstance(prog, (bytes, bytearray, memoryview)) and not hasattr(prog, "spec"):
        slots = raw_slots(bytes(prog))
        if len(prog) % 8:
            return _reject(f"invalid program length {len(prog)} (not a multiple of 8)", None,
                           22, log_level)
    else:
        from pybpf.elf.spec import ObjectSpec, ProgramSpec

        if hasattr(prog, "spec") and isinstance(getattr(prog, "spec"), ObjectSpec):
            prog = prog.spec
        if isinstance(prog, ObjectSpec):
            return {name: _verify_spec(p, prog, log_level, priv, prog_type, attach_type)
                    for name, p in prog.programs.items()}
        if isinstance(prog, ProgramSpec):
            return _verify_spec(prog, None, log_level, priv, prog_type, attach_type)
        if hasattr(prog, "spec") and isinstance(getattr(prog, "spec"), ProgramSpec):
            obj = getattr(getattr(prog, "_object", None), "spec", None)
            return _verify_spec(prog.spec, obj, log_level, priv, prog_type, attach_type)
        slots = slots_of(list(prog))
    infos = {}
    if maps:
        listed = [map_info(m) for m in maps]
        for i, s in enumerate(slots):
            if s.opcode == 0x18 and s.src in (5, 6) and 0 <= s.imm < len(listed):
                infos[i] = listed[s.imm]
    return run(slots, int(prog_type if prog_type is not None else ProgType.SOCKET_FILTER),
               attach_type or 0, infos, log_level, priv, license is None or _gpl(license),
               func_info=func_info, global_funcs=global_funcs)


def _gpl(license: str) -> bool:
    return license in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                       "Dual MIT/GPL", "Dual MPL/GPL")


def _verify_spec(prog: Any, obj: Any, log_level: int, priv: str, prog_type: int | None,
                 attach_type: int | None) -> VerifyResult:
    slots = slots_of(prog.insns)
    maps = _program_maps(prog, obj)
    t = prog_type if prog_type is not None else prog.type
    a = attach_type if attach_type is not None else (prog.attach_type or 0)
    btf = getattr(obj, "btf", None)
    result = run(slots, int(t), int(a), maps, log_level, priv, _gpl(prog.license),
                 source_lines=_slot_source_lines(prog), func_info=bool(prog.func_info),
                 global_funcs=global_functions(btf, prog.func_info))
    result.program = prog.name
    if not result.accepted and result.insn is not None:
        lines = _slot_source_lines(prog)
        if lines and 0 <= result.insn < len(lines):
            result.source_line = lines[result.insn]
    return result


def _reject(message: str, insn: int | None, errno: int, log_level: int,
            log: str = "", stats: str | None = None) -> VerifyResult:
    if stats is None:
        stats = stats_line(0, 0, 0, 0)
    text = log + (message + "\n" if message else "") + stats if log_level else ""
    return VerifyResult(False, text, message, insn, errno,
                        {"processed": 0, "max_states_per_insn": 0, "total_states": 0,
                         "peak_states": 0})


# Program types that need CAP_PERFMON to load at all (the kernel's is_perfmon_prog_type):
# without it BPF_PROG_LOAD fails with EPERM before the verifier runs.
_PERFMON_PROG_TYPES = frozenset({
    ProgType.KPROBE, ProgType.TRACEPOINT, ProgType.PERF_EVENT, ProgType.RAW_TRACEPOINT,
    ProgType.RAW_TRACEPOINT_WRITABLE, ProgType.TRACING, ProgType.LSM, ProgType.STRUCT_OPS,
    ProgType.EXT,
})


def run(slots: list[Slot], prog_type: int, attach_type: int, maps: dict[int, MapInfo],
        log_level: int = 1, priv: str = "root", gpl: bool = True,
        source_lines: list | None = None, func_info: bool = False,
        global_funcs: dict[int, GlobalFunc] | None = None) -> VerifyResult:
    """Verify raw slots: control flow first, then every path. ``func_info``: the program
    comes with BTF function info (the kernel wants it for callbacks); ``global_funcs``: its
    global subprograms, verified on their own."""
    if not slots:
        return _reject("", None, 22, 0)
    if priv != "root" and prog_type in _PERFMON_PROG_TYPES:
        res = _reject(None, None, _errno.EPERM, 0)
        res.hint = "this program type needs CAP_PERFMON to be loaded"
        return res
    res = _run(slots, prog_type, attach_type, maps, log_level, priv, gpl, source_lines,
               func_info, global_funcs)
    res.slots = slots
    return res


def _run(slots: list[Slot], prog_type: int, attach_type: int, maps: dict[int, MapInfo],
         log_level: int, priv: str, gpl: bool, source_lines: list | None,
         func_info: bool = False,
         global_funcs: dict[int, GlobalFunc] | None = None) -> VerifyResult:
    if len(slots) > MAX_INSNS:
        return _reject(f"BPF program is too large: {len(slots)} instructions (limit "
                       f"{MAX_INSNS})", None, 7, log_level)
    functions = ""        # (at level 2 the kernel lists the subprograms once it has them)
    try:
        subprogs = find_subprogs(slots)
        if log_level >= 2:
            functions = "".join(f"func#{i} @{start}\n" for i, start in enumerate(subprogs))
        check_subprogs(slots, subprogs)
        check_opcodes(slots, maps)
        prune, _loops, jmp_points = check_cfg(slots, subprogs)
    except CfgError as e:
        res = _reject(e.message, e.insn, e.errno, log_level, log=functions)
        explain(res, slots, None)
        return res
    v = Verifier(slots, prog_type, attach_type, maps=maps, priv=priv, log_level=log_level,
                 gpl=gpl, prune=prune, subprogs=subprogs, source_lines=source_lines,
                 global_funcs=global_funcs, jmp_points=jmp_points)
    v.func_info = func_info
    error = None
    try:
        v.run()
        v.check_max_stack_depth()
    except VerifyFail as e:
        error = e
    except RecursionError:     # pragma: no cover - defensive
        error = VerifyFail("pybpf verifier: program too complex", None, 7)
    stats = {"processed": v.insn_processed, "max_states_per_insn": v.max_states_per_insn,
             "total_states": v.total_states, "peak_states": v.peak_states}
    if error is None:
        text = (v.log.text() + v.stats()) if log_level else ""
        if log_level == 1:
            text = v.stats()
        return VerifyResult(True, text, None, None, None, stats, access_types={
            i: frozenset(types) for i, types in v.access_types.items()},
            stack_depth=max(v.stack_depth.values(), default=0),
            reads_uninit_stack=v.reads_uninit_stack)
    if log_level:
        v.log.level = max(v.log.level, 1)
        v.log(error.message + ("\n" if error.newline else "") + error.after)
    text = (v.log.text() + v.stats()) if log_level else ""
    res = VerifyResult(False, text, error.message, error.insn, error.errno, stats)
    res.path = v.paths.decisions(getattr(v.state, "path", -1))
    explain(res, slots, v)
    return res


__all__ = ["VerifyResult", "map_info", "raw_slots", "run", "slots_of", "verify"]
