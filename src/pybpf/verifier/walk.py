"""The main walk: abstract interpretation of every path (the kernel's ``do_check``).

One :class:`Verifier` per program. Paths are explored depth first; a conditional jump
whose outcome is unknown pushes the taken branch and continues with the fall-through.
At prune points (jump targets, conditional jumps, calls) the current state is compared
with checkpoints already fully explored there (``is_state_visited``); a match ends the
path. Every check raises :class:`VerifyFail` with the kernel's message.
"""

from __future__ import annotations

from typing import Any

from pybpf.verifier import tnum as tn
from pybpf.verifier.alu import byteswap, neg, scalar_alu
from pybpf.verifier.calls import check_helper_call
from pybpf.verifier.cfg import OPCODE_LDDW, Slot, live_registers, loop_components
from pybpf.verifier.ctx import ctx_rules
from pybpf.verifier.log import Log, alignment, format_insn, format_state, stats_line
from pybpf.verifier.globals import CTX_ARG, SCALAR_ARG, GlobalFunc
from pybpf.verifier.mem import (
    READ, WRITE, VerifyFail, check_mem_access, fail, helper_mem_access,
)
from pybpf.verifier.regs import (
    BPF_MAX_VAR_OFF, CONST_PTR_TO_MAP, MAX_PACKET_OFF, NOT_INIT, NOT_INIT_REG, PTR_TO_CTX,
    PTR_TO_FUNC, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_PACKET, PTR_TO_PACKET_END,
    PTR_TO_PACKET_META, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_STACK, S32_MAX, S32_MIN,
    S64_MAX, S64_MIN, SCALAR, U32, U64, Reg, bounds_sane, bounds_sync, coerce_to_size_sx,
    known_scalar, mark_unknown, not_init, pointer, s32, s64, unknown_scalar, zext_32_to_64,
)
from pybpf.verifier.precision import mark_chain_precision, propagate_precision
from pybpf.verifier.state import (
    EXACT, RANGE_WITHIN, Paths, State, entry_frame, frame_key, maybe_looping, states_equal,
    widen_imprecise_scalars,
)
from pybpf.vm.helpers import protos as P
from pybpf.vm.progtypes import _TABLE

COMPLEXITY_LIMIT = 1_000_000
CALLBACK_HELPERS = {164: "for_each_map_elem", 181: "loop"}
_NOSPEC_RECOVERABLE = (1, 13, 22)
# type_is_sk_pointer: atomics may not touch what these point to
_SK_TYPES = (PTR_TO_SOCK_COMMON, PTR_TO_SOCKET)
# pointers known not to be NULL, so that comparing one with 0 decides the branch
_NOT_NULL_TYPES = frozenset({PTR_TO_MAP_VALUE, PTR_TO_MAP_KEY, PTR_TO_MEM, CONST_PTR_TO_MAP,
                             "sock", "sock_common", "tcp_sock"})    # EPERM, EACCES, EINVAL (error_recoverable_with_nospec)
MAX_CALL_FRAMES = 8
_ALU_NAMES = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
              0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xA0: "xor", 0xB0: "mov",
              0xC0: "arsh", 0xD0: "end"}
_ALU_STR = {0x00: "+=", 0x10: "-=", 0x20: "*=", 0x30: "/=", 0x40: "|=", 0x50: "&=",
            0x60: "<<=", 0x70: ">>=", 0x90: "%=", 0xA0: "^=", 0xB0: "=", 0xC0: "s>>="}
JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, JLT, JLE, JSLT, JSLE = (
    0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0)
JSET_X = 0x48  # the reverse of JSET (kernel: BPF_JSET | BPF_X), used for the false branch
_FLIP = {JGT: JLT, JGE: JLE, JLT: JGT, JLE: JGE, JSGT: JSLT, JSGE: JSLE, JSLT: JSGT,
         JSLE: JSGE, JEQ: JEQ, JNE: JNE, JSET: JSET}
_REV = {JEQ: JNE, JNE: JEQ, JGT: JLE, JLE: JGT, JGE: JLT, JLT: JGE, JSGT: JSLE, JSLE: JSGT,
        JSGE: JSLT, JSLT: JSGE, JSET: JSET_X}


class MapInfo:
    """What the verifier knows of a map an lddw refers to."""

    def __init__(self, name: str, type: int, key_size: int, value_size: int,
                 max_entries: int, flags: int = 0, data: bytes | None = None,
                 rdonly: bool = False):
        self.name, self.type = name, type
        self.key_size, self.value_size, self.max_entries = key_size, value_size, max_entries
        self.flags, self.data = flags, data
        self.rdonly = rdonly or bool(flags & (1 << 7))


class Checkpoint:
    __slots__ = ("state", "branches", "parent", "miss", "hit", "insn", "key")

    def __init__(self, state: State, parent: "Checkpoint | None", insn: int):
        self.state = state
        self.branches = 1
        self.parent = parent
        self.miss = 0
        self.hit = 0
        self.insn = insn
        self.key: tuple | None = None     # frame_key(state), computed when first needed


class Insn:
    """One instruction at a slot index: the raw fields, lddw's 64-bit imm joined."""

    __slots__ = ("opcode", "dst", "src", "off", "imm", "imm2", "operand", "alu_name")

    def __init__(self, s: Slot, imm2: int = 0):
        self.opcode, self.dst, self.src, self.off, self.imm = s
        self.imm2 = imm2
        self.operand: Reg | None = None
        # an ALU op's name for scalar_alu, set once its fields have passed the checks
        self.alu_name: str | None = None

    def imm_reg(self) -> Reg:
        """The immediate as a constant scalar source operand (zero-extended for a 32-bit
        ALU op, sign-extended otherwise), made on the first visit and shared by the later
        ones: the checks only read a source operand, never write it."""
        r = self.operand
        if r is None:
            r = self.operand = known_scalar(self.imm & U32 if self.opcode & 7 == 4 else self.imm)
        return r


class Verifier:
    def __init__(self, slots: list[Slot], prog_type: int, attach_type: int = 0, *,
                 maps: dict[int, MapInfo] | None = None, priv: str = "root",
                 log_level: int = 1, gpl: bool = True, prune: set[int] | None = None,
                 subprogs: list[int] | None = None, source_lines: list | None = None,
                 global_funcs: dict[int, GlobalFunc] | None = None,
                 jmp_points: set[int] | None = None):
        self.slots = slots
        # global subprograms (by first insn): verified on their own, after the main program
        self.global_funcs = global_funcs or {}
        self.globals_called: set[int] = set()
        self.in_global = False          # walking a global subprogram on its own
        self.returned = False           # the last step returned from a called function
        self.insns: list[Insn] = list(map(Insn, slots))
        # helper calls that call a callback (bpf_loop, bpf_for_each_map_elem): prune
        # points where a checkpoint is always made (the kernel's force checkpoints)
        self.callback_calls: set[int] = set()
        self.may_gotos: set[int] = set()         # may_goto insns: force checkpoints too
        last = len(slots) - 1
        for i, (code, _dst, src, _off, imm) in enumerate(slots):
            if code == 0x18:
                if i < last:
                    insn = self.insns[i]
                    insn.imm = (imm & U32) | ((slots[i + 1].imm & U32) << 32)
                    insn.imm2 = slots[i + 1].imm
            elif code == 0x85 and src == 0 and imm in CALLBACK_HELPERS:
                self.callback_calls.add(i)
            elif code == 0xE5:
                self.may_gotos.add(i)
        self.prog_type = int(prog_type)
        self.attach_type = int(attach_type or 0)
        self.ctx = ctx_rules(self.prog_type, self.attach_type)
        self.known_prog_type = self.prog_type in _TABLE
        self.maps = maps or {}
        self.priv = priv
        self.perfmon = priv == "root"
        self.allow_ptr_leaks = self.perfmon
        self.allow_uninit_stack = self.perfmon
        # Whether a run may read stack bytes it has not written (see uninit_stack_ok)
        self.reads_uninit_stack = False
        self.bypass_spec_v1 = self.perfmon
        self.gpl = gpl
        self.log = Log(log_level)
        self.prune_points = (prune or set()) | self.callback_calls
        self.subprogs = subprogs or [0]
        # (see cfg.check_cfg; a helper call that calls a callback is one too)
        self.jmp_points = (jmp_points or set()) | self.callback_calls
        self.cur_hist: State | None = None     # the state the current insn has an entry in
        self.came_from = -1                     # the insn the path came to this one from
        self._components: list[int] | None = None
        # loops (by call chain, see _scc_callchain) entered and not yet left: the
        # checkpoint that entered each (logged only)
        self.scc_entries: dict[tuple[int, ...], Checkpoint | None] = {}
        self.source_lines = source_lines
        self.id_gen = 0
        self.insn_processed = 0
        self.total_states = 0
        self.peak_states = 0
        self.cur_states = 0
        self.max_states_per_insn = 0
        self.explored: dict[int, list[Checkpoint]] = {}
        self.stack: list[State] = []
        self.scratched_regs: set[int] = set()
        self.scratched_slots: set[int] = set()
        self.all_scratched = True
        self.insn_idx = 0
        self.prev_insn_idx = -1
        self.jmps_processed = 0
        self.prev_jmps_processed = 0
        self.prev_insn_processed = 0
        self.max_stack_depth: dict[int, int] = {}
        # The pointer types each memory access met, by insn (what unchecked JIT code trusts)
        self.access_types: dict[int, set[str]] = {}
        # Spectre v1/v4 (cap_bpf): instructions a speculative path must not execute
        # (``nospec``: it would fail there) or go past (``nospec_result``)
        self.func_info = True    # the program has BTF func_info (set by the caller)
        # registers live before each insn, computed when pruning first compares states
        self.live_regs: list[int] | None = None
        self.stack_depth: dict[int, int] = {}     # deepest stack byte used, by subprog
        self.nospec: set[int] = set()
        self.nospec_result: set[int] = set()
        self.error: VerifyFail | None = None
        self.paths = Paths()
        self.prev_linfo = None

    def push_hist(self, stack: tuple[int, int] | None = None) -> None:
        """``push_jmp_history``: the current instruction in the path's history (once; a
        stack slot it spilled to or filled from joins its entry)."""
        st = self.state
        if self.cur_hist is st and st.hist and st.hist[-1][0] == self.insn_idx:
            if stack is not None:
                st.hist[-1] = (self.insn_idx, st.hist[-1][1], stack)
            return
        st.hist.append((self.insn_idx, self.came_from, stack))
        self.cur_hist = st

    def reference_leak(self, what: str) -> VerifyFail:
        """``check_resource_leak``: every reference still held, then what would leak it."""
        lines = [f"Unreleased reference id={r.id} alloc_insn={r.insn}" for r in self.state.refs]
        return VerifyFail(lines[0], errno=22,
                          after="".join(f"{line}\n" for line in lines[1:])
                          + f"{what} would lead to reference leak\n")

    # --- small services used by the check modules -----------------------------------------
    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    def scratch_reg(self, r: int) -> None:
        self.scratched_regs.add(r)

    def scratch_slot(self, spi: int) -> None:
        self.scratched_slots.add(spi)

    def uninit_stack_ok(self, written: bool = False) -> bool:
        """``allow_uninit_stack``, noting when it lets a run read stack bytes that run did
        not write (``written``: all of them are written over, not read): such a program
        sees what the stack held before, so its runs must start on a zeroed stack."""
        if self.allow_uninit_stack and not written:
            self.reads_uninit_stack = True
        return self.allow_uninit_stack

    def frame_of(self, reg: Reg):
        return self.state.frames[reg.frameno]

    def is_pointer_value(self, reg: Reg) -> bool:
        return reg.is_pointer and not self.allow_ptr_leaks

    def map_rdonly(self, m: Any) -> bool:
        return bool(m is not None and m.rdonly)

    def acquire_reference(self, insn: int) -> int:
        from pybpf.verifier.state import Ref
        rid = self.new_id()
        self.state.refs.append(Ref(rid, insn))
        return rid

    def release_reference(self, rid: int) -> None:
        refs = self.state.refs
        for i, r in enumerate(refs):
            if r.id == rid:
                del refs[i]
                break
        else:
            raise fail("verifier internal error: reference not found", 14)
        for reg in self.state.all_regs():
            if reg.ref_obj_id == rid:
                self.mark_invalid(reg)

    def clear_pkt_pointers(self) -> None:
        for reg in self.state.all_regs():
            if reg.is_pkt or reg.type == PTR_TO_PACKET_END:
                self.mark_invalid(reg)

    def mark_invalid(self, reg: Reg) -> None:
        """mark_reg_invalid: a pointer that is no longer valid becomes unreadable, or an
        unknown scalar for a loader allowed to leak pointers."""
        if self.allow_ptr_leaks:
            mark_unknown(reg)
        else:
            reg.assign(not_init())

    # --- register operands (check_reg_arg) ---------------------------------------------------
    def read_reg(self, r: int) -> Reg:
        if r > 10:
            raise fail(f"R{r} is invalid", 22)
        reg = self.state.frames[-1].regs[r]
        self.scratched_regs.add(r)
        if reg.type == NOT_INIT:
            raise fail(f"R{r} !read_ok")
        return reg

    def write_reg(self, r: int) -> Reg:
        if r > 10:
            raise fail(f"R{r} is invalid", 22)
        if r == 10:
            raise fail("frame pointer is read only")
        self.scratched_regs.add(r)
        regs = self.state.frames[-1].regs
        reg = regs[r]
        if reg is NOT_INIT_REG:       # about to be written in place: make it its own
            reg = regs[r] = not_init()
        return reg

    # --- the walk -----------------------------------------------------------------------------
    def run(self) -> None:
        """The main program, then each global subprogram it calls, on its own."""
        if self.log.level >= 2:
            for i, start in enumerate(self.subprogs):
                self.log(f"func#{i} @{start}\n")
            self._log_live_registers()
        self._walk(0)
        done: set[int] = set()
        while self.globals_called - done:
            start = min(self.globals_called - done)
            done.add(start)
            func = self.global_funcs[start]
            number = self.subprogs.index(start)
            self.log(f"Validating {func.name}() func#{number}...\n")
            self.all_scratched = True
            self._walk(start, func)
            self.log(f"Func#{number} ('{func.name}') is safe for any args that match its "
                     f"prototype\n")

    def _live_registers(self) -> list[int]:
        """The registers live before each instruction, helper calls reading the arguments
        of the prototypes this program may call (as the loader's privileges have them)."""
        return live_registers(self.slots, lambda hid: P.func_proto(
            hid, self.prog_type, perfmon=self.perfmon, bpf_capable=True))

    def _log_live_registers(self) -> None:
        """``compute_live_registers``' table at log level 2: for each instruction its loop
        (strongly connected component) number, if any, and the registers live before it."""
        if self.live_regs is None:
            self.live_regs = self._live_registers()
        components = self.components
        self.log("Live regs before insn:\n")
        idx = 0
        while idx < len(self.slots):
            live = "".join(str(r) if self.live_regs[idx] >> r & 1 else "." for r in range(10))
            scc = f"{components[idx]:3d} " if components[idx] else "    "
            self.log(f"{scc}{idx:3d}: {live} "
                     f"{format_insn(self.insns[idx], self.allow_ptr_leaks)}\n")
            idx += 2 if self.slots[idx][0] == OPCODE_LDDW else 1

    def _walk(self, start: int, func: GlobalFunc | None = None) -> None:
        """Every path from ``start``: the main program (R1 the context), or a global
        subprogram with registers made from its parameters."""
        st = State()
        st.frames.append(entry_frame(0, -1, self.subprogs.index(start)
                                     if start in self.subprogs else 0))
        if func is None:
            st.regs[1] = pointer(PTR_TO_CTX)
        else:
            for regno, arg in enumerate(func.args, 1):
                if arg == SCALAR_ARG:
                    st.regs[regno] = unknown_scalar()
                elif arg == CTX_ARG:
                    st.regs[regno] = pointer(PTR_TO_CTX)
                else:
                    st.regs[regno] = pointer(PTR_TO_MEM, maybe_null=True, mem_size=arg)
                    st.regs[regno].id = self.new_id()
        self.in_global = func is not None
        self.insn_idx, self.prev_insn_idx = start, -1
        self.state = st
        self.parent_cp: Checkpoint | None = None
        st.parent = None
        do_print_state = False
        log = self.log
        prune_points, nospec, nospec_result = self.prune_points, self.nospec, self.nospec_result
        step = self._step
        jmp_points = self.jmp_points
        while True:
            idx = self.insn_idx
            self.insn_processed += 1
            if self.insn_processed > COMPLEXITY_LIMIT:
                raise VerifyFail(f"BPF program is too large. Processed {self.insn_processed} "
                                 f"insn", idx, 7)
            self.state.last_insn_idx = self.came_from = self.prev_insn_idx
            self.cur_hist = None
            if idx in prune_points:
                if self._is_state_visited(idx):
                    if log.level:
                        if do_print_state:
                            log(f"\nfrom {self.prev_insn_idx} to {idx}"
                                f"{_SPECULATIVE if self.state.speculative else ''}: safe\n")
                        else:
                            log(f"{idx}: safe\n")
                    if not self._pop():
                        break
                    do_print_state = True
                    continue
            if idx in jmp_points:
                self.push_hist()
            if log.level:
                if log.level >= 2 and do_print_state:
                    log(f"\nfrom {self.prev_insn_idx} to {idx}"
                        f"{_SPECULATIVE if self.state.speculative else ''}:")
                    log(format_state(self.state, True) + "\n")
                    if do_print_state == _RETURNED:   # (a popped state stays scratched:
                        self._clean()                 # the kernel prints it once more)
                    do_print_state = False
                if self._scratched():
                    self._print_insn_state()
                self._linfo(idx)
                log.prev_log_pos = log.pos
                line = f"{idx}: {format_insn(self.insns[idx], self.allow_ptr_leaks)}\n"
                log(line)
                log.prev_insn_print_pos = len(line)
                log.prev_log_pos = log.pos
            self.prev_insn_idx = idx
            if self.state.speculative:
                if idx in nospec:
                    nxt = None        # a barrier stops this speculative path here
                else:
                    try:
                        nxt = step(idx)
                    except VerifyFail as e:
                        if e.errno not in _NOSPEC_RECOVERABLE:
                            if e.insn is None:
                                e.insn = idx
                            raise
                        # under speculation only: put a barrier before this instruction
                        nospec.add(idx)
                        nxt = None
                    if idx in nospec_result:
                        nxt = None
            else:
                try:
                    nxt = step(idx)
                except VerifyFail as e:
                    if e.insn is None:
                        e.insn = idx
                    raise
            if nxt is None:       # path done
                self.all_scratched = True
                if not self._pop():
                    break
                do_print_state = True
                continue
            if self.returned:
                self.returned = False
                do_print_state = _RETURNED
            self.insn_idx = nxt

    def _linfo(self, idx: int) -> None:
        if not self.source_lines:
            return
        line = self.source_lines[idx] if idx < len(self.source_lines) else None
        if line is None or line is self.prev_linfo:
            return
        self.prev_linfo = line
        text = (getattr(line, "text", "") or "").lstrip()
        name = str(getattr(line, "file", "")).rsplit("/", 1)[-1]
        self.log(f"; {text} @ {name}:{getattr(line, 'line', 0)}\n")

    def _scratched(self) -> bool:
        return self.all_scratched or bool(self.scratched_regs) or bool(self.scratched_slots)

    def _clean(self) -> None:
        self.all_scratched = False
        self.scratched_regs = set()
        self.scratched_slots = set()

    def _print_insn_state(self) -> None:
        log = self.log
        if log.prev_log_pos and log.prev_log_pos == log.pos:
            log.reset(log.pos - 1)
            log(" " * max(1, alignment(log.prev_insn_print_pos)) + ";")
        else:
            log(f"{self.insn_idx}:")
        log(format_state(self.state, self.all_scratched, self.scratched_regs,
                         self.scratched_slots) + "\n")
        self._clean()

    # --- branches and pruning -----------------------------------------------------------
    def _push(self, target: int, from_idx: int, taken_state: State) -> None:
        taken_state.insn_idx = target
        taken_state.prev_insn_idx = from_idx
        taken_state.log_pos = self.log.pos
        taken_state.parent = self.parent_cp
        if self.parent_cp is not None:
            self.parent_cp.branches += 1
        self.stack.append(taken_state)
        if len(self.stack) > 8192:
            raise fail(f"The sequence of {len(self.stack)} jumps is too complex.", 14)

    def _finish_path(self) -> None:
        cp = self.parent_cp
        while cp is not None:
            cp.branches -= 1
            if cp.branches > 0:
                break
            if self.log.level >= 2:
                self._maybe_exit_scc(cp)
            cp = cp.parent

    @property
    def components(self) -> list[int]:
        """Each insn's loop (strongly connected component: ``compute_scc``), or 0."""
        if self._components is None:
            self._components = loop_components(self.slots)
        return self._components

    def _scc_callchain(self, st: State, idx: int) -> tuple[int, ...] | None:
        """``compute_scc_callchain``: the call sites down to the first frame whose insn
        (``idx`` in the innermost) is in a loop, and that loop; None outside loops."""
        frames, comp = st.frames, self.components
        chain = []
        for i in range(len(frames)):
            insn = frames[i + 1].callsite if i + 1 < len(frames) else idx
            if comp[insn]:
                return (*chain, comp[insn])
            chain.append(insn)
        return None

    def _maybe_enter_scc(self, cp: Checkpoint) -> None:
        """A checkpoint in a loop that no unfinished visit of it started: the loop is
        entered (logged as the kernel's ``SCC enter``; it is left when every path from
        this checkpoint is done)."""
        chain = self._scc_callchain(cp.state, cp.insn)
        if chain is not None and self.scc_entries.get(chain) is None:
            self.scc_entries[chain] = cp
            self.log(f"SCC enter ({','.join(map(str, chain))})\n")

    def _maybe_exit_scc(self, cp: Checkpoint) -> None:
        chain = self._scc_callchain(cp.state, cp.insn)
        if chain is not None and self.scc_entries.get(chain) is cp:
            self.scc_entries[chain] = None
            self.log(f"SCC exit ({','.join(map(str, chain))})\n")

    def _pop(self) -> bool:
        self._finish_path()
        if not self.stack:
            return False
        st = self.stack.pop()
        if self.log.level and self.log.level < 2:
            self.log.reset(st.log_pos)
        self.state = st
        self.parent_cp = st.parent
        self.insn_idx = st.insn_idx
        self.prev_insn_idx = st.prev_insn_idx
        self.all_scratched = True
        return True

    def _is_state_visited(self, idx: int) -> bool:
        """The kernel's ``is_state_visited``: prune when a finished checkpoint here is at
        least as general as the current state; report an infinite loop when an unfinished
        one (``branches > 0``: the current path descends from it) equals it exactly;
        otherwise maybe remember the current state as a new checkpoint."""
        cur = self.state
        lst = self.explored.get(idx)
        if lst is None:
            lst = self.explored[idx] = []
        calls_callback = idx in self.callback_calls
        may_goto = idx in self.may_gotos
        force_new = calls_callback or may_goto or len(cur.hist) > 40
        jmps = self.jmps_processed - self.prev_jmps_processed
        insns = self.insn_processed - self.prev_insn_processed
        add = force_new or (jmps >= 2 and insns >= 8)
        # in a loop: add checkpoints only every 20 jumps or 100 instructions
        loop_add = force_new or jmps >= 20 or insns >= 100
        states_cnt = 0
        evict = None
        live = self.live_regs
        if live is None and lst:
            live = self.live_regs = self._live_registers()
        pruned, hit = False, None
        # newest first, as the kernel's list (new states are added at its head)
        for i in range(len(lst) - 1, -1, -1):
            cp = lst[i]
            states_cnt += 1
            if may_goto and cp.state.may_goto_depth != cur.may_goto_depth and \
                    states_equal(cp.state, cur, RANGE_WITHIN, live=live, idx=idx):
                # one more trip round a may_goto loop, as general as one before: the
                # loop converges (its runtime budget ends it)
                cp.hit += 1
                pruned, hit = True, cp
                break
            if cp.branches > 0:
                if calls_callback:
                    # another visit of the callback reached a state already seen
                    if states_equal(cp.state, cur, RANGE_WITHIN, live=live, idx=idx):
                        cp.hit += 1
                        pruned, hit = True, cp
                        break
                else:
                    # states_maybe_looping: the current frame's registers are the same
                    if cp.key is None:
                        cp.key = frame_key(cp.state)
                    if maybe_looping(cp.key, cur) and states_equal(
                            cp.state, cur, EXACT, live=live, idx=idx):
                        raise VerifyFail(
                            f"infinite loop detected at insn {idx}", errno=22,
                            after=f"cur state:{format_state(cur, True)}\n"
                                  f"old state:{format_state(cp.state, True)}\n")
                if not loop_add:
                    add = False
            elif states_equal(cp.state, cur, live=live, idx=idx):
                cp.hit += 1
                pruned, hit = True, cp
                break
            if add:
                cp.miss += 1
            n = 64 if calls_callback and cp.branches > 0 else 3
            if cp.miss > cp.hit * n + n:
                if evict is None:
                    evict = []
                evict.append(i)
        if evict:
            for i in evict:           # descending indices
                # the parent chain may keep the checkpoint, never its key: drop that
                lst[i].key = None
                del lst[i]
            self.cur_states -= len(evict)
        if pruned:
            # what the checkpoint's continuation needed precise, this path needs too
            if idx in self.jmp_points:
                self.push_hist()
            propagate_precision(self, hit.state)
            return True
        self.max_states_per_insn = max(self.max_states_per_insn, states_cnt)
        if not add:
            return False
        self.prev_jmps_processed = self.jmps_processed
        self.prev_insn_processed = self.insn_processed
        snap = cur.copy()
        cp = Checkpoint(snap, self.parent_cp, idx)
        self.parent_cp = cp
        if self.log.level >= 2:
            self._maybe_enter_scc(cp)
        cur.hist = []
        cur.first_insn_idx = idx
        lst.append(cp)
        self.total_states += 1
        self.cur_states += 1
        self.peak_states = max(self.peak_states, self.cur_states)
        return False

    # --- one instruction --------------------------------------------------------------------
    def _step(self, idx: int) -> int | None:
        insn = self.insns[idx]
        cls = insn.opcode & 7
        if cls in (4, 7):
            self._alu(insn)
            return idx + 1
        if cls == 1:                       # LDX
            return self._ldx(insn, idx)
        if cls == 3:                       # STX
            return self._stx(insn, idx)
        if cls == 2:                       # ST
            if insn.opcode & 0xE0 != 0x60 or insn.src:
                raise fail("BPF_ST uses reserved fields", 22)
            self.read_reg(insn.dst)
            check_mem_access(self, insn.dst, insn.off, _size(insn.opcode), WRITE, None,
                             imm=insn.imm)
            return idx + 1
        if cls == 0:                       # LD
            mode = insn.opcode & 0xE0
            if mode == 0x00:
                return self._ld_imm(insn, idx)
            if mode in (0x20, 0x40):
                self._ld_abs(insn)
                return idx + 1
            raise fail("invalid BPF_LD mode", 22)
        return self._jmp(insn, idx)

    # --- ALU -----------------------------------------------------------------------------
    def _alu(self, insn: Insn) -> None:
        code = insn.opcode
        op = code & 0xF0
        wide = (code & 7) == 7
        width = 64 if wide else 32
        is_x = bool(code & 0x08)
        regs = self.state.regs
        if op in (0x80, 0xD0):
            if op == 0x80:
                if is_x or insn.src or insn.off or insn.imm:
                    raise fail("BPF_NEG uses reserved fields", 22)
            elif insn.src or insn.off or insn.imm not in (16, 32, 64) or (wide and is_x):
                raise fail("BPF_END uses reserved fields", 22)
            r = self.read_reg(insn.dst)
            if self.is_pointer_value(r):
                raise fail(f"R{insn.dst} pointer arithmetic prohibited")
            d = self.write_reg(insn.dst)
            if d.is_pointer:
                mark_unknown(d)
            if op == 0x80:
                neg(d, width)
            else:
                byteswap(d, "le" if (not is_x and not wide) else "be", insn.imm)
            return
        if op == 0xB0:
            self._mov(insn, wide, is_x)
            return
        name = insn.alu_name
        if name is None:
            # the checks of the instruction's own fields: the same on every visit
            if op > 0xD0:
                raise fail(f"invalid BPF_ALU opcode {op:x}", 22)
            if is_x:
                if insn.imm or insn.off not in (0, 1) or \
                        (insn.off == 1 and op not in (0x30, 0x90)):
                    raise fail("BPF_ALU uses reserved fields", 22)
            elif insn.src or insn.off not in (0, 1) or (insn.off == 1 and op not in (0x30, 0x90)):
                raise fail("BPF_ALU uses reserved fields", 22)
            name = _ALU_NAMES[op]
            if op in (0x30, 0x90) and insn.off == 1:
                name = "s" + name
            insn.alu_name = name
        if is_x:
            self.read_reg(insn.src)
        self.read_reg(insn.dst)
        if not is_x:
            if op in (0x30, 0x90) and insn.imm == 0:
                raise fail("div by zero", 22)
            if op in (0x60, 0x70, 0xC0) and not 0 <= insn.imm < width:
                raise fail(f"invalid shift {insn.imm}", 22)
        dst = self.write_reg(insn.dst)
        src = regs[insn.src] if is_x else insn.imm_reg()
        if is_x:       # the scalar a pointer moves by; a precise result's other operand
            if src.type != SCALAR:
                if dst.type == SCALAR:
                    mark_chain_precision(self, insn.dst)
            elif dst.type != SCALAR or dst.precise:
                mark_chain_precision(self, insn.src)
        if dst.type != SCALAR or src.type != SCALAR:
            self._ptr_alu(insn, dst, src, op, wide, is_x)
            return
        scalar_alu(name, dst, src.copy() if src is dst else src, width)

    def _mov(self, insn: Insn, wide: bool, is_x: bool) -> None:
        if is_x:
            if not wide:
                if insn.off not in (0, 8, 16) or insn.imm:
                    raise fail("BPF_MOV uses reserved fields", 22)
            elif insn.off == 1:
                raise fail("pybpf does not verify addr_space_cast (arena) yet", 524)
            elif insn.off not in (0, 8, 16, 32) or insn.imm:
                raise fail("BPF_MOV uses reserved fields", 22)
            src = self.read_reg(insn.src)
        else:
            if insn.src or insn.off:
                raise fail("BPF_MOV uses reserved fields", 22)
            src = None
        dst = self.write_reg(insn.dst)
        if src is None:
            dst.assign(insn.imm_reg())
            return
        if wide:
            if insn.off == 0:
                if src.type == SCALAR and not src.id and not src.is_const():
                    src.id = self.new_id()
                dst.assign(src)
                return
            if self.is_pointer_value(src):
                raise fail(f"R{insn.src} sign-extension part of pointer")
            if src.type == SCALAR:
                no_sext = src.umax < (1 << (insn.off - 1))
                if no_sext and not src.id and not src.is_const():
                    src.id = self.new_id()
                dst.assign(src)
                if not no_sext:
                    dst.id = 0
                coerce_to_size_sx(dst, insn.off // 8)
                if not no_sext:
                    dst.id = 0
            else:
                mark_unknown(dst)
            return
        if self.is_pointer_value(src):
            raise fail(f"R{insn.src} partial copy of pointer")
        if src.type == SCALAR:
            if insn.off == 0:
                fits = src.umax.bit_length() <= 32
                if fits and not src.id and not src.is_const():
                    src.id = self.new_id()
                dst.assign(src)
                if not fits:
                    dst.id = 0
            else:
                no_sext = src.umax < (1 << (insn.off - 1))
                if no_sext and not src.id and not src.is_const():
                    src.id = self.new_id()
                dst.assign(src)
                if not no_sext:
                    dst.id = 0
                v = dst.copy()
                v.var_off = tn.subreg(v.var_off)
                coerce_to_size_sx(v, insn.off // 8)
                dst.assign(v)
                dst.var_off = tn.subreg(dst.var_off)
                dst.u32min, dst.u32max = 0, U32
                dst.s32min, dst.s32max = S32_MIN, S32_MAX
                from pybpf.verifier.regs import update_32
                update_32(dst)
                dst.s32min = max(dst.s32min, -(1 << (insn.off - 1)))
                dst.s32max = min(dst.s32max, (1 << (insn.off - 1)) - 1)
        else:
            mark_unknown(dst)
        zext_32_to_64(dst)
        bounds_sync(dst)

    def _ptr_alu(self, insn: Insn, dst: Reg, src: Reg, op: int, wide: bool, is_x: bool) -> None:
        regno = insn.dst
        opname = _ALU_STR.get(op, "?")
        if dst.type != SCALAR and src.type != SCALAR:
            if op == 0x10 and self.allow_ptr_leaks:
                mark_unknown(dst)
                return
            raise fail(f"R{regno} pointer {opname} pointer prohibited")
        if dst.type == SCALAR:         # scalar += pointer
            ptr, off = src, dst.copy()
        else:
            ptr, off = dst, src
        known = off.is_const()
        if (known and (off.smin != off.smax or off.umin != off.umax)) or off.smin > off.smax \
                or off.umin > off.umax:
            mark_unknown(dst)
            return
        if not wide:
            if op == 0x10 and self.allow_ptr_leaks:
                mark_unknown(dst)
                return
            raise fail(f"R{regno} 32-bit pointer arithmetic prohibited")
        if ptr.maybe_null:
            raise fail(f"R{regno} pointer arithmetic on {ptr.type_str()} prohibited, "
                       f"null-check it first")
        t = ptr.type
        if t == CONST_PTR_TO_MAP and not (known and off.smin == 0 and op == 0x00):
            raise fail(f"R{regno} pointer arithmetic on {ptr.type_str()} prohibited")
        if t in (PTR_TO_PACKET_END, "sock_common", "sock", "flow_keys") and not \
                (t == "flow_keys" and known):
            raise fail(f"R{regno} pointer arithmetic on {ptr.type_str()} prohibited")
        if op not in (0x00, 0x10):
            if op in (0x40, 0x50, 0xA0):
                raise fail(f"R{regno} bitwise operator {opname} on pointer prohibited")
            raise fail(f"R{regno} pointer arithmetic with {opname} operator prohibited")
        if op == 0x10 and dst.type == SCALAR:
            raise fail(f"R{regno} tried to subtract pointer from scalar")
        if op == 0x10 and t == PTR_TO_STACK:
            raise fail(f"R{regno} subtraction from stack pointer prohibited")
        self._sane_offset(off, ptr)
        self._sane_offset(ptr, ptr)
        if not self.bypass_spec_v1 and is_x:
            # sanitize_ptr_alu: a register offset (even a known one) is masked against the
            # pointer's limit; the limits are checked on non-speculative paths
            if not self.state.speculative:
                self._sanitize_limits(insn, dst, ptr, off, op, known)
        if not self.bypass_spec_v1 and not known and is_x:
            # simulate the masked offset (0) a mispredicting CPU may use, speculatively
            spec = self.state.copy()
            spec.speculative = True
            if dst is not ptr:
                spec.regs[regno] = ptr.copy()
            self._push(self.insn_idx + 1, self.insn_idx, spec)
        res = ptr.copy()
        res.s32min, res.s32max, res.u32min, res.u32max = S32_MIN, S32_MAX, 0, U32
        if op == 0x00:
            if known and -(1 << 31) <= ptr.off + off.smin < (1 << 31):
                res.off = ptr.off + off.smin
            else:
                smin, smax = ptr.smin + off.smin, ptr.smax + off.smax
                if not (S64_MIN <= smin <= S64_MAX and S64_MIN <= smax <= S64_MAX):
                    smin, smax = S64_MIN, S64_MAX
                umin, umax = ptr.umin + off.umin, ptr.umax + off.umax
                if umax > U64:
                    umin, umax = 0, U64
                res.smin, res.smax, res.umin, res.umax = smin, smax, umin, umax
                res.var_off = tn.add(ptr.var_off, off.var_off)
                if ptr.is_pkt:
                    res.id = self.new_id()
                    res.range = 0
        else:
            if known and -(1 << 31) <= ptr.off - off.smin < (1 << 31):
                res.off = ptr.off - off.smin
            else:
                smin, smax = ptr.smin - off.smax, ptr.smax - off.smin
                if not (S64_MIN <= smin <= S64_MAX and S64_MIN <= smax <= S64_MAX):
                    smin, smax = S64_MIN, S64_MAX
                if ptr.umin < off.umax:
                    umin, umax = 0, U64
                else:
                    umin, umax = ptr.umin - off.umax, ptr.umax - off.umin
                res.smin, res.smax, res.umin, res.umax = smin, smax, umin, umax
                res.var_off = tn.sub(ptr.var_off, off.var_off)
                if ptr.is_pkt:
                    res.id = self.new_id()
                    if off.smin < 0:
                        res.range = 0
        self._sane_offset(res, ptr)
        bounds_sync(res)
        dst.assign(res)
        if not self.bypass_spec_v1:
            if dst.type == PTR_TO_STACK:
                if not dst.var_off.is_const():
                    raise fail(f"R{regno} variable stack access prohibited for !root, "
                               f"var_off={dst.var_off} off={dst.off}")
                o = dst.off + s64(dst.var_off.value)
                if o >= 0 or o < -512:
                    raise fail(f"R{regno} stack pointer arithmetic goes out of range, "
                               f"prohibited for !root; off={o}")
            elif dst.type == PTR_TO_MAP_VALUE:
                # sanitize_check_bounds: the moved pointer must stay inside the value
                # (the error is check_map_access's own)
                from pybpf.verifier.mem import check_mem_region
                check_mem_region(self, dst, regno, dst.off, 1, dst.map.value_size)

    @staticmethod
    def _sanitize_limits(insn: Insn, dst: Reg, ptr: Reg, off: Reg, op: int,
                         known: bool) -> None:
        """sanitize_ptr_alu's checks and retrieve_ptr_limit, with sanitize_err's words
        (which name the scalar's register, the pointer's, or the destination)."""
        off_regno = insn.src if dst is ptr else insn.dst
        ptr_regno = insn.dst if dst is ptr else insn.src
        tail = "pointer arithmetic with it prohibited for !root"
        if not known and (off.smin < 0) != (off.smax < 0):
            raise fail(f"R{off_regno} has unknown scalar with mixed signed bounds, {tail}")
        off_is_neg = off.smin < 0
        mask_to_left = (op == 0x00 and off_is_neg) or (op == 0x10 and not off_is_neg)
        if ptr.type == PTR_TO_STACK:
            limit_max = 512 + int(mask_to_left)
            limit = -(ptr.var_off.value + ptr.off) & U32
        elif ptr.type == PTR_TO_MAP_VALUE:
            limit_max = ptr.map.value_size
            limit = ((ptr.smin if mask_to_left else ptr.umax) + ptr.off) & U32
        else:
            raise fail(f"R{ptr_regno} has pointer with unsupported alu operation, {tail}")
        if limit >= limit_max:
            verb = "add" if op == 0x00 else "sub"
            raise fail(f"R{insn.dst} tried to {verb} beyond pointer bounds, {tail}")

    def _sane_offset(self, reg: Reg, ptr: Reg) -> None:
        name = ptr.type_str()
        if reg.var_off.is_const():
            val = s64(reg.var_off.value)
            if val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF:
                raise fail(f"math between {name} pointer and {val} is not allowed")
        if reg.off >= BPF_MAX_VAR_OFF or reg.off <= -BPF_MAX_VAR_OFF:
            raise fail(f"{name} pointer offset {reg.off} is not allowed")
        if reg.smin == S64_MIN:
            raise fail(f"math between {name} pointer and register with unbounded min value "
                       f"is not allowed")
        if reg.smin >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            raise fail(f"value {reg.smin} makes {name} pointer be out of bounds")

    # --- loads and stores ---------------------------------------------------------------
    def _ldx(self, insn: Insn, idx: int) -> int:
        mode = insn.opcode & 0xE0
        if mode not in (0x60, 0x80) or insn.imm:
            raise fail("BPF_LDX uses reserved fields", 22)
        self.read_reg(insn.src)
        self.write_reg(insn.dst)
        src = insn.src
        check_mem_access(self, src, insn.off, _size(insn.opcode), READ, insn.dst,
                         signed=mode == 0x80)
        self.scratch_reg(insn.dst)
        return idx + 1

    def _stx(self, insn: Insn, idx: int) -> int:
        mode = insn.opcode & 0xE0
        if mode == 0xC0:
            return self._atomic(insn, idx)
        if mode != 0x60 or insn.imm:
            raise fail("BPF_STX uses reserved fields", 22)
        self.read_reg(insn.src)
        self.read_reg(insn.dst)
        check_mem_access(self, insn.dst, insn.off, _size(insn.opcode), WRITE, insn.src)
        return idx + 1

    def _atomic(self, insn: Insn, idx: int) -> int:
        size = _size(insn.opcode)
        imm = insn.imm
        if imm == 0x100:              # load-acquire: dst = *(src + off)
            self.read_reg(insn.src)
            self.write_reg(insn.dst)
            if self.state.regs[insn.src].type in (PTR_TO_CTX, "flow_keys", *_SK_TYPES) or \
                    self.state.regs[insn.src].is_pkt:
                raise fail(f"BPF_ATOMIC loads from R{insn.src} "
                           f"{self.state.regs[insn.src].type_str()} is not allowed")
            check_mem_access(self, insn.src, insn.off, size, READ, insn.dst)
            return idx + 1
        if imm == 0x110:              # store-release: *(dst + off) = src
            self.read_reg(insn.src)
            self.read_reg(insn.dst)
            if self.state.regs[insn.dst].type in (PTR_TO_CTX, "flow_keys", *_SK_TYPES) or \
                    self.state.regs[insn.dst].is_pkt:
                raise fail(f"BPF_ATOMIC stores into R{insn.dst} "
                           f"{self.state.regs[insn.dst].type_str()} is not allowed")
            check_mem_access(self, insn.dst, insn.off, size, WRITE, insn.src)
            return idx + 1
        if imm not in (0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1):
            raise fail(f"BPF_ATOMIC uses invalid atomic opcode {imm:02x}", 22)
        if size not in (4, 8):
            raise fail("invalid atomic operand size", 22)
        src = self.read_reg(insn.src)
        dst = self.read_reg(insn.dst)
        if imm == 0xF1:
            r0 = self.read_reg(0)
            if self.is_pointer_value(r0):
                raise fail("R0 leaks addr into mem")
        if self.is_pointer_value(src):
            raise fail(f"R{insn.src} leaks addr into mem")
        if dst.type in (PTR_TO_CTX, PTR_TO_PACKET, PTR_TO_PACKET_META, "flow_keys",
                        *_SK_TYPES):
            raise fail(f"BPF_ATOMIC stores into R{insn.dst} {dst.type_str()} is not allowed")
        load_reg = 0 if imm == 0xF1 else (insn.src if imm & 1 else None)
        # can the memory be read (and, fetching, the old value filled into load_reg, as a
        # load would: a known stack value stays known), then written
        check_mem_access(self, insn.dst, insn.off, size, READ, None, strict=True)
        if load_reg is not None:
            check_mem_access(self, insn.dst, insn.off, size, READ, load_reg, strict=True)
        check_mem_access(self, insn.dst, insn.off, size, WRITE, None, strict=True)
        return idx + 1

    def _ld_imm(self, insn: Insn, idx: int) -> int:
        if insn.opcode != 0x18:
            raise fail("invalid BPF_LD_IMM insn", 22)
        if insn.off:
            raise fail("BPF_LD_IMM uses reserved fields", 22)
        dst = self.write_reg(insn.dst)
        src = insn.src
        if src == 0:
            dst.assign(known_scalar(insn.imm))
        elif src in (1, 5):          # (the map is there: see cfg.check_opcodes)
            dst.assign(pointer(CONST_PTR_TO_MAP, map=self.maps[idx]))
        elif src in (2, 6):
            dst.assign(pointer(PTR_TO_MAP_VALUE, map=self.maps[idx]))
            dst.off = insn.imm2 & U32
        elif src == 4:
            if not self.func_info:
                raise fail("missing btf func_info", 22)
            dst.assign(pointer(PTR_TO_FUNC))
            dst.subprog = idx + (insn.imm & U32 if insn.imm & U32 < (1 << 31) else
                                 (insn.imm & U32) - (1 << 32)) + 1
        else:
            raise fail("pybpf does not verify ksym (BTF id) loads yet", 524)
        return idx + 2

    def _ld_abs(self, insn: Insn) -> None:
        if not self.ctx.ld_abs():
            raise fail("BPF_LD_[ABS|IND] instructions not allowed for this program type", 22)
        mode = insn.opcode & 0xE0
        if insn.dst or insn.off or (insn.opcode & 0x18) == 0x18 or (mode == 0x20 and insn.src):
            raise fail("BPF_LD_[ABS|IND] uses reserved fields", 22)
        r6 = self.read_reg(6)
        if self.state.refs:
            raise fail("BPF_LD_[ABS|IND] would lead to reference leak", 22)
        if r6.type != PTR_TO_CTX:
            raise fail("at the time of BPF_LD_ABS|IND R6 != pointer to skb", 22)
        if mode == 0x40:
            self.read_reg(insn.src)
        if r6.off:
            raise fail(f"dereference of modified ctx ptr R6 off={r6.off} disallowed")
        regs = self.state.regs
        for r in range(1, 6):
            regs[r] = NOT_INIT_REG
            self.scratch_reg(r)
        regs[0] = unknown_scalar()
        self.scratch_reg(0)

    # --- jumps, calls, exit --------------------------------------------------------------
    def _jmp(self, insn: Insn, idx: int) -> int | None:
        code = insn.opcode
        op = code & 0xF0
        cls = code & 7
        self.jmps_processed += 1
        if op == 0x80:
            if code & 0x08 or insn.off and insn.src != 2 or insn.dst or \
                    (insn.src not in (0, 1, 2)) or cls == 6:
                raise fail("BPF_CALL uses reserved fields", 22)
            if insn.src == 1:
                return self._pseudo_call(insn, idx)
            if insn.src == 2:
                raise fail("pybpf does not verify kfunc calls yet", 524)
            check_helper_call(self, insn, idx)
            if insn.imm == 12:      # bpf_tail_call: falls through when the call fails
                pass
            return idx + 1
        if op == 0x90:
            if code & 0x08 or insn.imm or insn.src or insn.dst or cls == 6:
                raise fail("BPF_EXIT uses reserved fields", 22)
            return self._exit(idx)
        if op == 0x00:
            if cls == 5:
                if code & 0x08 or insn.imm or insn.src or insn.dst:
                    raise fail("BPF_JA uses reserved fields", 22)
                return idx + insn.off + 1
            if code & 0x08 or insn.off or insn.src or insn.dst:
                raise fail("BPF_JA uses reserved fields", 22)
            return idx + insn.imm + 1
        if op == 0xE0 and cls == 5:
            return self._may_goto(insn, idx)
        if op > 0xD0:
            raise fail(f"invalid BPF_JMP/JMP32 opcode {op:x}", 22)
        return self._cond_jmp(insn, idx, op, cls == 6)

    def _may_goto(self, insn: Insn, idx: int) -> int:
        """may_goto: the current state takes the jump, the fall-through (one more trip,
        ``may_goto_depth`` deeper, its imprecise scalars widened against the last visit)
        is explored later."""
        if insn.src or insn.dst or insn.imm:
            raise fail(f"invalid may_goto imm {insn.imm}", 22)
        queued = self.state.copy()
        queued.may_goto_depth += 1
        # the previous trip's checkpoint here (this visit always made one: skip it)
        this = self.parent_cp
        prev = self._find_prev_entry(idx, this.parent) if this is not None and \
            this.insn == idx else None
        if prev is not None:
            widen_imprecise_scalars(prev, queued)
        self._push(idx + 1, idx, queued)
        return idx + insn.off + 1

    def _cond_jmp(self, insn: Insn, idx: int, op: int, is32: bool) -> int | None:
        regs = self.state.regs
        if insn.opcode & 0x08:
            if insn.imm:
                raise fail("BPF_JMP/JMP32 uses reserved fields", 22)
            src = self.read_reg(insn.src)
            dst0 = regs[insn.dst]
            if not (src.is_pkt or src.type == PTR_TO_PACKET_END) or not (
                    dst0.is_pkt or dst0.type == PTR_TO_PACKET_END):
                if self.is_pointer_value(src):
                    raise fail(f"R{insn.src} pointer comparison prohibited")
        else:
            if insn.src:
                raise fail("BPF_JMP/JMP32 uses reserved fields", 22)
            src = insn.imm_reg()
        dst = self.read_reg(insn.dst)
        same = bool(insn.opcode & 0x08) and insn.src == insn.dst and dst.type == SCALAR
        pred = self._branch_taken(dst, src, op, is32)
        target = idx + insn.off + 1
        if pred >= 0:       # the branch is decided by the values: they must stay so
            if dst.type == SCALAR:
                mark_chain_precision(self, insn.dst)
            if insn.opcode & 0x08 and src.type == SCALAR:
                mark_chain_precision(self, insn.src)
        if pred >= 0 and not self.bypass_spec_v1:
            # sanitize_speculative_path: the CPU may still mispredict the direction
            spec = self.state.copy()
            spec.speculative = True
            sregs = spec.regs
            mark_unknown(sregs[insn.dst])
            if insn.opcode & 0x08:
                mark_unknown(sregs[insn.src])
            self._push(idx + 1 if pred == 1 else target, idx, spec)
        if pred >= 0:
            if self.log.level:      # (the kernel prints it here: at this insn's index)
                self._print_insn_state()
            self._record(idx, pred == 1)
            return target if pred == 1 else idx + 1
        other = self.state.copy()
        oregs = other.regs
        if same:
            pass        # a register against itself: no refinement (reg_set_min_max)
        elif insn.opcode & 0x08:
            self._set_min_max(oregs[insn.dst], oregs[insn.src], dst, src, op, is32)
        else:
            fake_t, fake_f = src.copy(), src.copy()
            self._set_min_max(oregs[insn.dst], fake_t, dst, fake_f, op, is32)
        if insn.opcode & 0x08 and src.type == SCALAR and src.id:
            self._sync_linked(self.state, src)
            self._sync_linked(other, oregs[insn.src])
        if dst.type == SCALAR and dst.id:
            self._sync_linked(self.state, dst)
            self._sync_linked(other, oregs[insn.dst])
        if (not is32 and not insn.opcode & 0x08 and insn.imm == 0 and op in (JEQ, JNE)
                and dst.maybe_null):
            rid = dst.id
            self._mark_ptr_or_null(self.state, rid, op == JNE)
            self._mark_ptr_or_null(other, rid, op == JEQ)
        elif not self._match_pkt(insn, op, dst, regs[insn.src] if insn.opcode & 0x08 else None,
                                 self.state, other) and self.is_pointer_value(dst):
            raise fail(f"R{insn.dst} pointer comparison prohibited")
        other.path = self.paths.add(self.state.path, idx, True)
        self.state.path = self.paths.add(self.state.path, idx, False)
        self._push(target, idx, other)
        if self.log.level:      # (the fall-through's state, here: as the kernel prints it)
            self._print_insn_state()
        return idx + 1

    def _record(self, idx: int, taken: bool) -> None:
        self.state.path = self.paths.add(self.state.path, idx, taken)

    def _mark_ptr_or_null(self, st: State, rid: int, is_null: bool) -> None:
        ref = None
        for reg in st.all_regs():
            if reg.maybe_null and reg.id == rid:
                if is_null:
                    ref = reg.ref_obj_id or ref
                    reg.assign(known_scalar(0))
                else:
                    reg.maybe_null = False
                    reg.id = 0      # a reference lives on in ref_obj_id
        if is_null and ref:
            st.refs = [r for r in st.refs if r.id != ref]

    def _sync_linked(self, st: State, known: Reg) -> None:
        for reg in st.all_regs():
            if reg is not known and reg.type == SCALAR and reg.id == known.id:
                reg.assign(known)

    def _match_pkt(self, insn: Insn, op: int, dst: Reg, src: Reg | None, this: State,
                   other: State) -> bool:
        if src is None or insn.opcode & 7 == 6:
            return False
        d_pkt = dst.type == PTR_TO_PACKET and src.type == PTR_TO_PACKET_END or \
            dst.type == PTR_TO_PACKET_META and src.type == PTR_TO_PACKET and src.off == 0 \
            and src.var_off.is_const() and src.var_off.value == 0
        s_pkt = dst.type == PTR_TO_PACKET_END and src.type == PTR_TO_PACKET or \
            dst.type == PTR_TO_PACKET and dst.off == 0 and dst.var_off.is_const() and \
            dst.var_off.value == 0 and src.type == PTR_TO_PACKET_META
        # (find_good_pkt_pointers on the branch where the pointer is inside the packet,
        # mark_pkt_end on the other, where it is past or at the end)
        d, s = insn.dst, insn.src
        if op == JGT:
            if d_pkt:
                self._good_pkt(this, dst, False)
                _mark_pkt_end(other, d, True)
            elif s_pkt:
                self._good_pkt(other, src, True)
                _mark_pkt_end(this, s, False)
            else:
                return False
        elif op == JLT:
            if d_pkt:
                self._good_pkt(other, dst, True)
                _mark_pkt_end(this, d, False)
            elif s_pkt:
                self._good_pkt(this, src, False)
                _mark_pkt_end(other, s, True)
            else:
                return False
        elif op == JGE:
            if d_pkt:
                self._good_pkt(this, dst, True)
                _mark_pkt_end(other, d, False)
            elif s_pkt:
                self._good_pkt(other, src, False)
                _mark_pkt_end(this, s, True)
            else:
                return False
        elif op == JLE:
            if d_pkt:
                self._good_pkt(other, dst, False)
                _mark_pkt_end(this, d, True)
            elif s_pkt:
                self._good_pkt(this, src, True)
                _mark_pkt_end(other, s, False)
            else:
                return False
        else:
            return False
        return True

    def _good_pkt(self, st: State, reg: Reg, right_open: bool) -> None:
        if reg.off < 0 or (reg.off == 0 and right_open):
            return
        if reg.umax > MAX_PACKET_OFF or reg.umax + reg.off > MAX_PACKET_OFF:
            return
        new_range = reg.off + (1 if right_open else 0)
        for r in st.all_regs():
            if r.type == reg.type and r.id == reg.id:
                r.range = max(r.range, new_range)

    def _branch_taken(self, d: Reg, s: Reg, op: int, is32: bool) -> int:
        if d.type == SCALAR and s.type == SCALAR:
            return _scalar_branch_taken(d, s, op, is32)
        if (d.is_pkt or d.type == PTR_TO_PACKET_END) and (s.is_pkt or s.type == PTR_TO_PACKET_END):
            return _pkt_branch_taken(d, s, op)
        if d.is_pointer or s.is_pointer:
            if not s.is_const(32 if is32 else 64):
                op = _FLIP[op]
                d, s = s, d
            if not s.is_const(32 if is32 else 64) or s.const_value(32 if is32 else 64):
                return -1
            if d.maybe_null or d.type not in _NOT_NULL_TYPES:   # reg_not_null
                return -1
            return {JEQ: 0, JNE: 1}.get(op, -1)
        return _scalar_branch_taken(d, s, op, is32)

    def _set_min_max(self, t1: Reg, t2: Reg, f1: Reg, f2: Reg, op: int, is32: bool) -> None:
        if f1.type != SCALAR or f2.type != SCALAR:
            return
        _refine(f1, f2, _REV[op], is32)
        bounds_sync(f1)
        bounds_sync(f2)
        _refine(t1, t2, op, is32)
        bounds_sync(t1)
        bounds_sync(t2)
        for r in (f1, f2, t1, t2):
            if not bounds_sane(r):
                # contradictory bounds: a branch no run takes (the kernel's deductions,
                # sharper than pybpf's in places, may even see that). As the kernel's
                # reg_bounds_sanity_check does outside its selftests: the register is
                # made unbounded (nothing is assumed of it) and the walk goes on.
                r.mark_unbounded()

    def _pseudo_call(self, insn: Insn, idx: int) -> int:
        st = self.state
        if len(st.frames) >= MAX_CALL_FRAMES:
            raise fail(f"the call stack of {len(st.frames) + 1} frames is too deep", 7)
        target = idx + insn.imm + 1
        if st.active_lock is not None:
            raise fail("function calls are not allowed while holding a lock", 22)
        if target in self.global_funcs:
            return self._call_global(idx, target)
        caller = st.cur
        callee = entry_frame(len(st.frames), idx, self.subprogs.index(target)
                             if target in self.subprogs else 0)
        for r in range(1, 6):
            callee.regs[r] = caller.regs[r].copy()
        for r in range(6):            # clear_caller_saved_regs: R0 is the callee's to give
            caller.regs[r] = NOT_INIT_REG
        st.frames.append(callee)
        self.all_scratched = True
        if self.log.level:
            self.log(f"caller:\n{format_state(st, True, frame=caller)}\n"
                     f"callee:\n{format_state(st, True, frame=callee)}\n")
        return target

    def _log_return(self, callee: Any, to: int) -> None:
        """prepare_func_exit's log: the frames a function returns from and to."""
        if self.log.level:
            self.log(f"returning from callee:\n{format_state(self.state, True, frame=callee)}\n"
                     f"to caller at {to}:\n{format_state(self.state, True)}\n")
        self.returned = True      # the state is printed again where the caller goes on

    def _call_global(self, idx: int, target: int) -> int:
        """A call of a global subprogram (check_func_call): its arguments checked against
        its parameters (btf_check_subprog_call), R0 an unknown scalar after it; the
        function itself is verified on its own later."""
        func = self.global_funcs[target]
        if func.unsupported:
            raise fail(func.unsupported, 22)
        regs = self.state.regs
        for regno, arg in enumerate(func.args, 1):
            reg = self.read_reg(regno)
            if arg == SCALAR_ARG:
                if reg.type != SCALAR:
                    raise fail(f"R{regno} is not a scalar", 22)
            elif arg == CTX_ARG:
                if reg.type != PTR_TO_CTX:
                    raise fail(f"arg#{regno - 1} expects pointer to ctx", 22)
            elif not (reg.type == SCALAR and reg.is_const() and reg.const_value() == 0):
                helper_mem_access(self, regno, arg, READ, True, None)      # check_mem_reg
                helper_mem_access(self, regno, arg, WRITE, True, None)
        self.log(f"Func#{self.subprogs.index(target)} ('{func.name}') is global and assumed "
                 f"valid.\n")
        self.globals_called.add(target)
        for r in range(1, 6):
            regs[r] = NOT_INIT_REG
        regs[0] = unknown_scalar()
        self.scratched_regs.update(range(6))      # clear_caller_saved_regs
        return idx + 1

    def push_callback(self, idx: int, target: int, helper: int) -> None:
        """``push_callback_call``: queue a visit of the callback ``target`` as called by
        the helper at ``idx`` (the caller's registers as they are before the call); the
        current path goes on after the call. When the callback exits, its path returns
        to the call instruction, which calls it again until the states converge."""
        st = self.state
        if len(st.frames) >= MAX_CALL_FRAMES:
            raise fail(f"the call stack of {len(st.frames) + 1} frames is too deep", 7)
        cb = st.copy()
        caller = cb.cur
        callee = entry_frame(len(cb.frames), idx, self.subprogs.index(target)
                             if target in self.subprogs else 0)
        regs = callee.regs
        if CALLBACK_HELPERS[helper] == "loop":
            # callback(u32 index, void *ctx)
            regs[1] = unknown_scalar()
            regs[2] = caller.regs[3].copy()
        else:
            # callback(map, key, value, ctx)
            m = caller.regs[1].map
            regs[1] = caller.regs[1].copy()
            regs[2] = pointer(PTR_TO_MAP_KEY, map=m)
            regs[3] = pointer(PTR_TO_MAP_VALUE, map=m)
            regs[4] = caller.regs[3].copy()
        callee.callback_ret = (0, 1)
        cb.frames.append(callee)
        caller.callback_depth += 1
        self._push(target, idx, cb)
        st.cur.callback_depth = 0

    def _find_prev_entry(self, idx: int, before: Any = None) -> State | None:
        """The checkpoint at ``idx`` on the current path with the same call chain (the
        first one from checkpoint ``before`` back, by default the newest)."""
        cur = self.state
        cp = self.parent_cp if before is None else before
        while cp is not None:
            old = cp.state
            if cp.insn == idx and len(old.frames) == len(cur.frames) and all(
                    a.callsite == b.callsite for a, b in zip(old.frames, cur.frames)):
                return old
            cp = cp.parent
        return None

    def _exit(self, idx: int) -> int | None:
        st = self.state
        if len(st.frames) > 1:
            # prepare_func_exit: R0 goes back as it is (not read here: an uninitialised
            # one fails where the caller reads it), a callback's must be a scalar in range
            r0 = st.cur.regs[0]
            if r0.type == PTR_TO_STACK:
                raise fail("cannot return stack pointer to the caller", 22)
            if st.cur.callback_ret is not None:
                if r0.type != SCALAR:
                    raise fail("R0 not a scalar value", 13)
                mark_chain_precision(self, 0)        # (its range decides)
                lo, hi = st.cur.callback_ret
                if not (lo <= r0.smin and r0.smax <= hi):
                    raise fail(_invalid_scalar("At callback return", r0, lo, hi), 22)
                callee = st.frames.pop()
                self.all_scratched = True
                self._log_return(callee, callee.callsite)
                prev = self._find_prev_entry(callee.callsite)
                if prev is not None:
                    widen_imprecise_scalars(prev, st)
                return callee.callsite
            callee = st.frames.pop()
            caller = st.cur
            caller.regs[0] = r0 if r0 is NOT_INIT_REG else r0.copy()
            for r in range(1, 6):
                caller.regs[r] = NOT_INIT_REG
            self.all_scratched = True
            self._log_return(callee, callee.callsite + 1)
            return callee.callsite + 1
        if st.active_lock is not None:
            raise fail("BPF_EXIT instruction in main prog cannot be used inside "
                       "bpf_spin_lock-ed region", 22)
        if st.refs:
            raise self.reference_leak("BPF_EXIT instruction in main prog")
        r0 = self.read_reg(0)
        if self.in_global:
            if r0.type != SCALAR:
                raise fail(f"At subprogram exit the register R0 is not a scalar value "
                           f"({r0.type_str()})", 22)
            return None
        if self.is_pointer_value(r0):
            raise fail("R0 leaks addr as return value")
        rng = self.ctx.return_range()
        if rng is not None:
            if r0.type != SCALAR:
                raise fail(f"At program exit the register R0 is not a known value "
                           f"({r0.type_str()})", 22)
            mark_chain_precision(self, 0)            # (its range decides)
            lo, hi = rng
            if not (lo <= r0.smin and r0.smax <= hi):
                raise fail(_invalid_scalar("At program exit", r0, lo, hi), 22)
        return None

    def check_max_stack_depth(self) -> None:
        """``check_max_stack_depth``, after the walk: along every chain of calls in the
        call graph (bpf-to-bpf calls and callbacks), the frames' stack sizes (each
        rounded up to 16 bytes, as with the JIT) must add up to at most 512 bytes."""
        bounds = self.subprogs + [len(self.slots)]

        def visit(k: int, frame: int, depth: int) -> None:
            depth += (self.stack_depth.get(k, 0) + 15) // 16 * 16
            if depth > 512:
                raise VerifyFail(f"combined stack size of {frame + 1} calls is {depth}. "
                                 f"Too large", None, 13)
            for i in range(bounds[k], bounds[k + 1]):
                s = self.slots[i]
                if (s.opcode == 0x85 and s.src == 1) or (s.opcode == 0x18 and s.src == 4):
                    target = i + s.imm + 1
                    if target in self.subprogs:
                        visit(self.subprogs.index(target), frame + 1, depth)

        visit(0, 0, 0)

    def stats(self) -> str:
        return stats_line(self.insn_processed, self.max_states_per_insn, self.total_states,
                          self.peak_states)


BEYOND_PKT_END, AT_PKT_END = -2, -1       # a packet pointer's range past / at pkt_end


def _mark_pkt_end(st: State, regno: int, beyond: bool) -> None:
    """``mark_pkt_end``: the packet pointer in ``regno`` is past pkt_end (``beyond``: by
    at least a byte) or at it; nothing through it is in the packet."""
    reg = st.regs[regno]
    if reg.type == PTR_TO_PACKET:          # (pkt_meta: not tracked, as in the kernel)
        reg = st.cur.regs[regno] = reg.copy()
        reg.range = BEYOND_PKT_END if beyond else AT_PKT_END


def _pkt_branch_taken(d: Reg, s: Reg, op: int) -> int:
    """``is_pkt_ptr_branch_taken``: a comparison with pkt_end that a pointer known to be
    past or at pkt_end decides (1 taken, 0 not, -1 unknown)."""
    if s.type == PTR_TO_PACKET_END:
        pkt = d
    elif d.type == PTR_TO_PACKET_END:
        pkt, op = s, _FLIP[op]
    else:
        return -1
    if pkt.range >= 0:
        return -1
    if op in (JLE, JGT) and pkt.range == BEYOND_PKT_END:
        return int(op == JGT)
    if op in (JLT, JGE) and pkt.range in (BEYOND_PKT_END, AT_PKT_END):
        return int(op == JGE)
    return -1


_SPECULATIVE = " (speculative execution)"
_RETURNED = "returned"      # do_print_state after a function's return (not a popped branch)


def _invalid_scalar(where: str, r0: Reg, lo: int, hi: int) -> str:
    """``verbose_invalid_scalar``'s line for R0 outside [lo, hi]."""
    text = f"{where} the register R0 has"
    unknown = True
    if r0.smin > S64_MIN:
        text += f" smin={r0.smin}"
        unknown = False
    if r0.smax < S64_MAX:
        text += f" smax={r0.smax}"
        unknown = False
    if unknown:
        text += " unknown scalar value"
    return text + f" should have been in [{lo}, {hi}]"


def _size(opcode: int) -> int:
    return {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}[opcode & 0x18]


def _scalar_branch_taken(r1: Reg, r2: Reg, op: int, is32: bool) -> int:
    if is32:
        t1, t2 = tn.subreg(r1.var_off), tn.subreg(r2.var_off)
        umin1, umax1, umin2, umax2 = r1.u32min, r1.u32max, r2.u32min, r2.u32max
        smin1, smax1, smin2, smax2 = r1.s32min, r1.s32max, r2.s32min, r2.s32max
    else:
        t1, t2 = r1.var_off, r2.var_off
        umin1, umax1, umin2, umax2 = r1.umin, r1.umax, r2.umin, r2.umax
        smin1, smax1, smin2, smax2 = r1.smin, r1.smax, r2.smin, r2.smax
    if op == JEQ or op == JNE:
        eq = op == JEQ
        if t1.mask == 0 and t2.mask == 0:
            return int((t1.value == t2.value) == eq)
        if umin1 > umax2 or umax1 < umin2 or smin1 > smax2 or smax1 < smin2:
            return 0 if eq else 1
        if not is32 and (r1.u32min > r2.u32max or r1.u32max < r2.u32min or
                         r1.s32min > r2.s32max or r1.s32max < r2.s32min):
            return 0 if eq else 1
        return -1
    if op == JSET:
        if not t2.is_const():
            t1, t2 = t2, t1
        if not t2.is_const():
            return -1
        if (~t1.mask & t1.value) & t2.value:
            return 1
        if not ((t1.mask | t1.value) & t2.value):
            return 0
        return -1
    if op == JGT:
        return 1 if umin1 > umax2 else 0 if umax1 <= umin2 else -1
    if op == JSGT:
        return 1 if smin1 > smax2 else 0 if smax1 <= smin2 else -1
    if op == JLT:
        return 1 if umax1 < umin2 else 0 if umin1 >= umax2 else -1
    if op == JSLT:
        return 1 if smax1 < smin2 else 0 if smin1 >= smax2 else -1
    if op == JGE:
        return 1 if umin1 >= umax2 else 0 if umax1 < umin2 else -1
    if op == JSGE:
        return 1 if smin1 >= smax2 else 0 if smax1 < smin2 else -1
    if op == JLE:
        return 1 if umax1 <= umin2 else 0 if umin1 > umax2 else -1
    if op == JSLE:
        return 1 if smax1 <= smin2 else 0 if smin1 > smax2 else -1
    return -1


def _refine(r1: Reg, r2: Reg, op: int, is32: bool) -> None:
    """``regs_refine_cond_op``: what ``r1 OP r2`` being true says about both."""
    if op in (JGE, JGT, JSGE, JSGT):
        op = _FLIP[op]
        r1, r2 = r2, r1
    if op == JEQ:
        if is32:
            lo, hi = max(r1.u32min, r2.u32min), min(r1.u32max, r2.u32max)
            slo, shi = max(r1.s32min, r2.s32min), min(r1.s32max, r2.s32max)
            r1.u32min = r2.u32min = lo
            r1.u32max = r2.u32max = hi
            r1.s32min = r2.s32min = slo
            r1.s32max = r2.s32max = shi
            t = tn.intersect(tn.subreg(r1.var_off), tn.subreg(r2.var_off))
            r1.var_off = tn.with_subreg(r1.var_off, t)
            r2.var_off = tn.with_subreg(r2.var_off, t)
        else:
            lo, hi = max(r1.umin, r2.umin), min(r1.umax, r2.umax)
            slo, shi = max(r1.smin, r2.smin), min(r1.smax, r2.smax)
            r1.umin = r2.umin = lo
            r1.umax = r2.umax = hi
            r1.smin = r2.smin = slo
            r1.smax = r2.smax = shi
            t = tn.intersect(r1.var_off, r2.var_off)
            r1.var_off = r2.var_off = t
        return
    bits = 32 if is32 else 64
    if op == JNE:
        if not r2.is_const(bits):
            r1, r2 = r2, r1
        if not r2.is_const(bits):
            return
        val = r2.const_value(bits)
        if is32:
            if r1.u32min == val:
                r1.u32min += 1
            if r1.u32max == val:
                r1.u32max -= 1
            if r1.s32min == s32(val):
                r1.s32min += 1
            if r1.s32max == s32(val):
                r1.s32max -= 1
        else:
            if r1.umin == val:
                r1.umin += 1
            if r1.umax == val:
                r1.umax -= 1
            if r1.smin == s64(val):
                r1.smin += 1
            if r1.smax == s64(val):
                r1.smax -= 1
        return
    if op in (JSET, JSET_X):
        if not r2.is_const(bits):
            r1, r2 = r2, r1
        if not r2.is_const(bits):
            return
        val = r2.const_value(bits)
        if op == JSET:
            if not val or val & (val - 1):     # only a single bit is learnt
                return
            if is32:
                r1.var_off = tn.with_subreg(r1.var_off, tn.or_(tn.subreg(r1.var_off),
                                                               tn.const(val)))
            else:
                r1.var_off = tn.or_(r1.var_off, tn.const(val))
        else:
            if is32:
                r1.var_off = tn.with_subreg(r1.var_off, tn.and_(tn.subreg(r1.var_off),
                                                                tn.const(~val & U32)))
            else:
                r1.var_off = tn.and_(r1.var_off, tn.const(~val & U64))
        return
    if op == JLE:
        if is32:
            r1.u32max = min(r1.u32max, r2.u32max)
            r2.u32min = max(r1.u32min, r2.u32min)
        else:
            r1.umax = min(r1.umax, r2.umax)
            r2.umin = max(r1.umin, r2.umin)
    elif op == JLT:
        if is32:
            r1.u32max = min(r1.u32max, r2.u32max - 1)
            r2.u32min = max(r1.u32min + 1, r2.u32min)
        else:
            r1.umax = min(r1.umax, r2.umax - 1)
            r2.umin = max(r1.umin + 1, r2.umin)
    elif op == JSLE:
        if is32:
            r1.s32max = min(r1.s32max, r2.s32max)
            r2.s32min = max(r1.s32min, r2.s32min)
        else:
            r1.smax = min(r1.smax, r2.smax)
            r2.smin = max(r1.smin, r2.smin)
    elif op == JSLT:
        if is32:
            r1.s32max = min(r1.s32max, r2.s32max - 1)
            r2.s32min = max(r1.s32min + 1, r2.s32min)
        else:
            r1.smax = min(r1.smax, r2.smax - 1)
            r2.smin = max(r1.smin + 1, r2.smin)


__all__ = ["MapInfo", "Verifier"]
