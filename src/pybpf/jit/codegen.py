"""Translate a program to LLVM IR: one LLVM function per BPF function, blocks from the CFG.

The program is cut into basic blocks as the interpreter cuts it (its leaders,
:func:`pybpf.vm.compiler._leaders`, plus every function entry), so each block charges
the same number of instructions to the budget and a run stops at the same place. Each BPF function (the
main program and every bpf-to-bpf call or pseudo-func target) becomes an internal LLVM
function over the blocks reachable from its entry without crossing a call::

    {r0..r5} bpf_f<pc>(ctx, r0, r1, ..., r9, level, depth)

Registers live in allocas that SROA promotes; r10 is the frame's stack end, read once
from the context (writes to it fault, as in the interpreter). A callee gets the caller's
registers and hands back r0-r5, which is what the interpreter's shared locals do; r6-r9
stay the caller's. ``level`` is the frame's index (0: the program) and ``depth`` the
combined stack depth, both checked at each call as the interpreter checks them.
``r0 = bpf_entry<pc>(ctx)`` starts a run (or a callback) at a function, with r1..r5
taken from the context (and, for a run, the stacks the last run used zeroed first).

Anything that fails writes a status into the context and branches to the function's
``bail`` block, which returns; every call site checks the status (see :mod:`.abi`).

The IR is written as text (:class:`IRWriter`): building llvmlite ``ir`` objects and
printing them took most of a compile's Python time. Values are operand strings (``%t7``,
a constant); their types are the caller's to know (i64 unless said otherwise). The
llvmlite types below describe the context and helper signatures to the shared runtime
(:mod:`.runtime`, :mod:`.natives`), which is built once with llvmlite.
"""

from __future__ import annotations

from typing import Callable, Iterable

from llvmlite import ir

from pybpf.errors import BpfHelperError, BpfLimitError, BpfRuntimeError
from pybpf.isa import Instruction, Kind, to_signed
from pybpf.isa.opcodes import Form
from pybpf.jit import abi
from pybpf.vm import compiler, semantics
from pybpf.vm.compiler import MAX_CALL_FRAMES, MAX_STACK, Program

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
CTX_T = I64.as_pointer()
HELPER_T = ir.FunctionType(I64, [CTX_T] + [I64] * 7)
M64 = semantics.M64
RET = "{i64, i64, i64, i64, i64, i64}"       # what a BPF function returns: r0-r5
# Branch weights for error paths: the metadata a conditional branch names.
UNLIKELY, LIKELY = "!0", "!1"          # (taken, not taken) = (1, 2000) and (2000, 1)
_METADATA = ('!0 = !{!"branch_weights", i32 1, i32 2000}\n'
             '!1 = !{!"branch_weights", i32 2000, i32 1}\n')

_JUMPS = {"jeq": "eq", "jne": "ne", "jgt": "ugt", "jge": "uge", "jlt": "ult", "jle": "ule",
          "jsgt": "sgt", "jsge": "sge", "jslt": "slt", "jsle": "sle"}


def c64(value: int) -> ir.Constant:
    """An i64 constant for the llvmlite-built runtime."""
    return ir.Constant(I64, value & M64)


def declaration(name: str, ftype: ir.FunctionType, attributes: str = "") -> str:
    """The ``declare`` line of a function of llvmlite type ``ftype``."""
    args = ", ".join(str(arg) for arg in ftype.args)
    return f"declare {ftype.return_type} @{name}({args}) {attributes}".rstrip()


class IRWriter:
    """A function's IR as lines of text: instructions into the current block, values named
    ``%t<n>``, blocks labelled ``b<n>`` (or as the caller names them)."""

    def __init__(self, mb: "ModuleBuilder"):
        self.mb = mb
        self.out: list[str] = []
        self.temps = 0
        self.label = ""

    def op(self, text: str) -> str:
        """Emit an instruction with a result; its name."""
        self.temps += 1
        name = f"%t{self.temps}"
        self.out.append(f"  {name} = {text}")
        return name

    def emit(self, text: str) -> None:
        """Emit an instruction without a result."""
        self.out.append("  " + text)

    def new_label(self) -> str:
        self.mb.labels += 1
        return f"b{self.mb.labels}"

    def start(self, label: str) -> None:
        """Begin block ``label`` (the one before must have ended)."""
        self.out.append(label + ":")
        self.label = label

    def br(self, label: str) -> None:
        self.out.append(f"  br label %{label}")

    def cbr(self, cond: str, yes: str, no: str, weights: str = "") -> None:
        """Branch on ``cond`` (an i1); ``weights`` the metadata of UNLIKELY or LIKELY."""
        prof = f", !prof {weights}" if weights else ""
        self.out.append(f"  br i1 {cond}, label %{yes}, label %{no}{prof}")

    def slot(self, index: int) -> str:
        """A pointer to context slot ``index``."""
        return self.op(f"getelementptr inbounds i64, ptr %ctx, i64 {index}")

    def load_slot(self, index: int) -> str:
        return self.op(f"load i64, ptr {self.slot(index)}")

    def store_slot(self, index: int, value: str | int) -> None:
        self.emit(f"store i64 {value}, ptr {self.slot(index)}")

    def trunc(self, value: str, bits: int) -> str:
        """The low ``bits`` of an i64."""
        return value if bits == 64 else self.op(f"trunc i64 {value} to i{bits}")

    def zext(self, value: str, bits: int) -> str:
        """An i<bits> zero-extended to i64."""
        return value if bits == 64 else self.op(f"zext i{bits} {value} to i64")


class ModuleBuilder:
    """The LLVM module of one program."""

    def __init__(self, prog: Program, const_pcs: Iterable[int], name: str = "bpf",
                 native_helpers: Iterable[int] = (), trusted: Iterable[int] | None = None,
                 stack_used: int = MAX_STACK,
                 map_shapes: Iterable[tuple[int, tuple[int, ...]]] = (),
                 map_calls: dict[int, int] | None = None, unguarded_copies: bool = False):
        self.prog = prog
        # Loop-free functions get a copy with no budget checks, run when the budget at
        # entry covers all their instructions (see _budget_bound): the full tier's
        self.unguarded_copies = unguarded_copies
        # The shapes of the maps the known map calls use, by lddw pc (see .mapcalls)
        self.map_shapes = dict(map_shapes)
        self.stack_used = stack_used     # the bytes at the top of each frame a run clears
        self.name = name
        self.const_pcs = frozenset(const_pcs)
        self.native_helpers = frozenset(native_helpers)   # ids called natively (.natives)
        # Unchecked code of a verified program (see JitMachine's ``trusted``), or None:
        # the loads, stores and atomics at these pcs go to native memory in bounds (no
        # checks: see .memops), and the map helpers' arguments are proven (their trusted
        # variants).
        self.trusted = frozenset(trusted) if trusted is not None else None
        from pybpf.jit.mapcalls import known_map_calls, stack_arguments   # (they build
        from pybpf.jit.memops import access_sites                         # on this module)

        # Map helper calls on a resolved map (see .mapcalls), their arguments checked
        # inline (unless proven: unchecked code; on the stack: against the frame). (A
        # machine found the calls already: ``map_calls``.)
        self.map_calls = known_map_calls(prog, self.const_pcs) if map_calls is None \
            else map_calls
        self.stack_args = stack_arguments(prog, self.map_calls)
        self.sites = access_sites(prog, self.trusted, self.map_calls)   # access cache
        self.messages: list[tuple[type, str]] = []
        self._message_index: dict[tuple[type, str], int] = {}
        # Function entries start blocks too (the interpreter's leaders miss a pseudo-func
        # target that follows a non-branching instruction).
        leaders = sorted(set(compiler._leaders(prog, False)) | set(prog.functions))
        # The functions a call or a pseudo-func lddw may reach (other than by their entry).
        self.callees = {at + 1 + (insn.imm if form.kind is Kind.CALL else to_signed(insn.imm, 32))
                        for at, (insn, form) in prog.by_pc.items()
                        if (form.kind is Kind.CALL and form.op == "local")
                        or (form.kind is Kind.LDDW and form.op == "func")}
        self.stop = {start: (leaders[i + 1] if i + 1 < len(leaders) else prog.length)
                     for i, start in enumerate(leaders)}
        self.labels = 0
        self.declarations: dict[str, str] = {}     # symbol: its declare line

    def message(self, cls: type, text: str) -> int:
        key = (cls, text)
        index = self._message_index.get(key)
        if index is None:
            index = self._message_index[key] = len(self.messages)
            self.messages.append(key)
        return index

    def runtime(self, name: str) -> str:
        """The shared runtime's function ``name`` (:mod:`.runtime`), declared."""
        if name not in self.declarations:
            from pybpf.jit import runtime

            self.declarations[name] = declaration(name, runtime.SIGNATURES[name],
                                                  "cold nounwind")
        return "@" + name

    def native_helper(self, hid: int) -> str | None:
        """The runtime's native implementation of helper ``hid`` (its symbol), when this
        program may use it (its helper registry has the standard helper there)."""
        if hid not in self.native_helpers:
            return None
        trusted = self.trusted is not None and hid in abi.TRUSTED_HELPERS
        name = (abi.TRUSTED_HELPERS if trusted else abi.NATIVE_HELPERS)[hid]
        if name not in self.declarations:
            self.declarations[name] = declaration(name, HELPER_T, "nounwind")
        return name

    def trusted_helper(self, hid: int) -> str:
        """The trusted variant of map helper ``hid`` (abi.TRUSTED_HELPERS), declared."""
        name = abi.TRUSTED_HELPERS[hid]
        if name not in self.declarations:
            self.declarations[name] = declaration(name, HELPER_T, "nounwind")
        return name

    def declare(self, symbol: str, line: str) -> str:
        """``@symbol``, declared by ``line`` (once)."""
        self.declarations.setdefault(symbol, line)
        return "@" + symbol

    def intrinsic(self, name: str, bits: int) -> str:
        """``llvm.bswap`` and the like on i<bits>, declared."""
        symbol = f"{name}.i{bits}"
        if symbol not in self.declarations:
            self.declarations[symbol] = f"declare i{bits} @{symbol}(i{bits})"
        return "@" + symbol

    def build(self) -> tuple[str, dict[int, str], list[tuple[type, str]]]:
        """The module's IR text, the entry function name of each BPF function, messages."""
        parts = [f"; ModuleID = '{self.name}'"]
        names = {}
        for pc in self.prog.functions:
            parts.append(FunctionBuilder(self, pc).build())
            bound = self._budget_bound(pc) if self.unguarded_copies else None
            if bound is not None:
                parts.append(FunctionBuilder(self, pc, guarded=False).build())
            names[pc] = f"bpf_entry{pc}"
            parts.append(self._entry(pc, names[pc], bound))
        parts.extend(self.declarations.values())
        parts.append(_METADATA)
        return "\n".join(parts), names, self.messages

    def _clear_stacks(self, w: "IRWriter") -> None:
        """When the context asks (a run, not a callback): zero the first ``stack_used``
        bytes of each stack frame the last run used."""
        w.cbr(w.op(f"icmp ne i64 {w.load_slot(abi.CLEAR)}, 0"), "clear", "body")
        w.start("clear")
        stacks = w.op(f"inttoptr i64 {w.load_slot(abi.STACKS)} to ptr")
        deepest = w.load_slot(abi.DEEPEST)
        w.store_slot(abi.DEEPEST, 0)
        w.store_slot(abi.CLEAR, 0)
        w.br("clear_loop")
        w.start("clear_loop")
        w.emit("%level = phi i64 [0, %clear], [%following, %clear_loop]")
        frame = w.op(f"getelementptr inbounds i64, ptr {stacks}, i64 %level")
        end = w.op(f"load i64, ptr {frame}")
        base = w.op(f"inttoptr i64 {w.op(f'sub i64 {end}, {self.stack_used}')} to ptr")
        w.emit(f"call void @llvm.memset.p0.i64(ptr {base}, i8 0, i64 {self.stack_used}, "
               f"i1 false)")
        w.emit("%following = add i64 %level, 1")
        w.cbr(w.op(f"icmp ugt i64 %following, {deepest}"), "body", "clear_loop")
        self.declarations["llvm.memset.p0.i64"] = \
            "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)"

    def _budget_bound(self, pc: int) -> int | None:
        """The most instructions a run of the function at ``pc`` may execute, when that
        is its length: it jumps only forward, calls no function, and no helper that may
        run BPF code (a callback) - only helpers with native code, which cannot. None
        otherwise. (A run started with that much budget left never runs out: its budget
        checks cannot fail.)"""
        functions = sorted(self.prog.functions)
        end = next((f for f in functions if f > pc), self.prog.length)
        count = 0
        for at in range(pc, end):
            step = self.prog.by_pc.get(at)
            if step is None:
                continue
            insn, form = step
            count += 1
            kind = form.kind
            if kind is Kind.CALL and (form.op != "helper" or insn.imm not in self.native_helpers):
                return None
            if kind in (Kind.CALLX, Kind.MAY_GOTO) or (kind is Kind.LDDW and form.op == "func"):
                return None
            if kind is Kind.EXIT:
                continue
            after = [] if kind in (Kind.JA, Kind.GOTOL) else [at + form.slots]
            if any(not at < t < end for t in compiler._targets(at, insn, form) + after):
                return None            # (backward, or out of the function: not bounded)
        return count

    def _entry(self, pc: int, name: str, bound: int | None = None) -> str:
        """``r0 = bpf_entry<pc>(ctx)``: zero the stacks the last run used when asked,
        then run the function on r1..r5 from the context at frame level 0 (its copy
        without budget checks when it has one and the budget covers ``bound``)."""
        w = IRWriter(self)
        w.out.append(f"define i64 @{name}(ptr noalias %ctx) {{")
        w.start("entry")
        if not self.stack_used:     # a run reads no stack byte it did not write
            w.store_slot(abi.CLEAR, 0)
            w.br("body")
        else:
            self._clear_stacks(w)
        w.start("body")
        args = ", ".join(f"i64 {w.load_slot(abi.ARGS + i)}" for i in range(5))
        call = (f"(ptr %ctx, i64 0, {args}, i64 0, i64 0, i64 0, i64 0, i64 0, "
                f"i64 {self.prog.stack_depth[pc]})")
        if bound is None:
            result = w.op(f"call {RET} @bpf_f{pc}{call}")
        else:
            w.cbr(w.op(f"icmp sge i64 {w.load_slot(abi.BUDGET)}, {bound}"), "free", "guarded")
            w.start("free")
            free = w.op(f"call {RET} @bpf_f{pc}_free{call}")
            w.br("run")
            w.start("guarded")
            guarded = w.op(f"call {RET} @bpf_f{pc}{call}")
            w.br("run")
            w.start("run")
            result = w.op(f"phi {RET} [{free}, %free], [{guarded}, %guarded]")
        r0 = w.op(f"extractvalue {RET} {result}, 0")
        # A native tail call unwound the program (ST_EXIT): its successor's r0 is the run's.
        w.cbr(w.op(f"icmp eq i64 {w.load_slot(abi.STATUS)}, {abi.ST_EXIT}"), "tail_exit",
              "done")
        w.start("done")
        w.emit(f"ret i64 {r0}")
        w.start("tail_exit")
        w.store_slot(abi.STATUS, abi.ST_OK)
        w.emit(f"ret i64 {w.load_slot(abi.REGS)}")
        w.out.append("}")
        return "\n".join(w.out)


class FunctionBuilder(IRWriter):
    """The LLVM function of one BPF function: its blocks, registers and budget."""

    def __init__(self, mb: ModuleBuilder, entry: int, guarded: bool = True):
        super().__init__(mb)
        self.prog = mb.prog
        self.entry = entry
        self.guarded = guarded      # (False: the copy that checks no budget, see _entry)
        args = ", ".join(f"i64 %a{i}" for i in range(10))
        # A function only its entry calls is inlined there (the full tier's inliner): the
        # entry's constant arguments then fold into it.
        inline = " alwaysinline" if entry not in mb.callees else ""
        name = f"bpf_f{entry}" if guarded else f"bpf_f{entry}_free"
        self.out.append(f"define internal {RET} @{name}(ptr noalias %ctx, {args}, "
                        f"i64 %level, i64 %depth) nounwind{inline} {{")
        self.start("entry")
        for i in range(10):
            self.emit(f"%r{i} = alloca i64")
        self.emit("%loops = alloca i64")
        self.emit("%budget = alloca i64")
        for i in range(10):
            self.emit(f"store i64 %a{i}, ptr %r{i}")
        self.emit(f"store i64 {abi.MAX_LOOPS}, ptr %loops")
        stacks = self.op(f"inttoptr i64 {self.load_slot(abi.STACKS)} to ptr")
        frame = self.op(f"getelementptr inbounds i64, ptr {stacks}, i64 %level")
        self.emit(f"%r10 = load i64, ptr {frame}")
        # The access cache and the resolved lddw constants stay where they are for a run
        # (the cache's entries change: each access loads its own): their addresses are
        # loaded once, off the path to the first map call.
        self.emit(f"%cache = inttoptr i64 {self.load_slot(abi.ACCESS_CACHE)} to ptr")
        self.emit(f"%consts = inttoptr i64 {self.load_slot(abi.CONSTS)} to ptr")
        self.sync_in()
        # Blocks made out of line (a branch to a place that faults) go after the rest.
        self.tail: list[str] = ["bail:", f"  ret {RET} undef"]     # callers see the status
        self.bail = "bail"
        self.blocks: dict[int, str] = {}
        self.work: list[int] = []

    # -- small pieces the instruction modules use ---------------------------------------------

    def reg(self, i: int) -> str:
        return "%r10" if i == 10 else self.op(f"load i64, ptr %r{i}")

    def set_reg(self, i: int, value: str, bits: int = 64) -> None:
        """r<i> = ``value``, an i<bits> zero-extended."""
        self.emit(f"store i64 {self.zext(value, bits)}, ptr %r{i}")

    def sync_out(self) -> None:
        """Store the budget for a callee (or Python) to see."""
        self.store_slot(abi.BUDGET, self.op("load i64, ptr %budget"))

    def sync_in(self) -> None:
        self.emit(f"store i64 {self.load_slot(abi.BUDGET)}, ptr %budget")

    def check_status(self) -> None:
        """After a call that may fail: return at once when it did."""
        ok = self.op(f"icmp eq i64 {self.load_slot(abi.STATUS)}, 0")
        cont = self.new_label()
        self.cbr(ok, cont, self.bail, LIKELY)
        self.start(cont)

    def fail(self, status: int, pc: int, **slots: str | int) -> None:
        """Record a failure and return; the current block ends here."""
        for name, value in slots.items():
            self.store_slot(getattr(abi, name), value)
        self.store_slot(abi.PC, pc)
        self.store_slot(abi.STATUS, status)
        self.br(self.bail)

    def fail_static(self, cls: type, text: str, pc: int) -> None:
        self.fail(abi.ST_STATIC, pc, MESSAGE=self.mb.message(cls, text))

    def guard(self, bad: str, on_bad: Callable[[], None]) -> None:
        """Branch to a block running ``on_bad()`` (which must end it) when ``bad``."""
        fail_bb, cont = self.new_label(), self.new_label()
        self.cbr(bad, fail_bb, cont, UNLIKELY)
        self.start(fail_bb)
        on_bad()
        self.start(cont)

    # -- blocks ---------------------------------------------------------------------------

    def block(self, pc: int) -> str:
        label = self.blocks.get(pc)
        if label is None:
            label = self.blocks[pc] = f"pc{pc}"
            self.work.append(pc)
        return label

    def target(self, target: int, source: int) -> str:
        """The block to branch to for ``target``: its block, or one that faults."""
        if target in self.prog.by_pc:
            return self.block(target)
        saved = self.out, self.label
        self.out = self.tail
        label = self.new_label()
        self.start(label)
        self.goto(target, source)
        self.out, self.label = saved
        return label

    def goto(self, target: int, source: int) -> None:
        """Continue at ``target``, or fault as the interpreter does when it is no instruction."""
        prog = self.prog
        if target in prog.by_pc:
            self.br(self.block(target))
        elif 0 <= target < prog.length:
            self.fail_static(BpfRuntimeError, f"jump into the middle of lddw at {target}", source)
        elif target == prog.length:
            self.fail_static(BpfRuntimeError, "fell off the end of the program (no exit)", source)
        else:
            self.fail_static(BpfRuntimeError, f"jump out of range to {target}", source)

    def build(self) -> str:
        """The function's text."""
        self.br(self.block(self.entry))
        while self.work:
            self._emit_block(self.work.pop())
        self.out.extend(self.tail)
        self.out.append("}")
        return "\n".join(self.out)

    def _emit_block(self, start: int) -> None:
        by_pc = self.prog.by_pc
        stop = self.mb.stop[start]
        count, pc = 0, start
        while pc < stop:
            insn, form = by_pc[pc]
            count += 1
            if compiler._ends_block(form):
                break
            pc += form.slots
        self.start(self.blocks[start])
        self._charge(count, start)
        pc = last = start
        while pc < stop:
            insn, form = by_pc[pc]
            if compiler._ends_block(form):
                self._control(pc, insn, form)
                return
            if not self._straight(pc, insn, form):
                return
            last, pc = pc, pc + form.slots
        self.goto(pc, last)

    def _charge(self, count: int, start: int) -> None:
        left = self.op(f"sub i64 {self.op('load i64, ptr %budget')}, {count}")
        self.emit(f"store i64 {left}, ptr %budget")
        if self.guarded:
            self.guard(self.op(f"icmp slt i64 {left}, 0"),
                       lambda: self.fail(abi.ST_BUDGET, start))

    # -- instructions -----------------------------------------------------------------------

    def _straight(self, pc: int, insn: Instruction, form: Form) -> bool:
        """Emit an instruction that does not end its block; False when it always faults."""
        from pybpf.jit import alu, memops

        kind = form.kind
        if 10 in semantics.writes_register(insn, form):
            self.fail_static(BpfRuntimeError, "r10 (the frame pointer) is read-only", pc)
            return False
        if kind in (Kind.ALU, Kind.NEG, Kind.MOVSX, Kind.END):
            alu.emit(self, insn, form)
        elif kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ, Kind.STORE, Kind.STORE_IMM,
                      Kind.STORE_REL, Kind.ATOMIC):
            memops.emit(self, insn, form, pc)
        elif kind in (Kind.LD_ABS, Kind.LD_IND):
            memops.packet(self, insn, form, pc)
        elif kind is Kind.LDDW:
            return self._lddw(pc, insn, form)
        elif kind is Kind.CALL:
            if form.op != "helper":
                self.fail_static(BpfHelperError,
                                 f"kfunc call (btf id {insn.imm}) needs the kernel", pc)
                return False
            hid = insn.imm & 0xFFFFFFFF
            native = self.mb.native_helper(hid)
            if pc in self.mb.map_calls and native is not None:
                from pybpf.jit import mapcalls

                mapcalls.emit(self, hid, pc, self.mb.trusted_helper(hid), native)
            else:
                self.helper_call(str(hid), pc, native)
        elif kind is Kind.ADDR_SPACE_CAST:
            self.fail_static(BpfRuntimeError,
                             f"addr_space_cast (imm {insn.imm:#x}) needs an arena map", pc)
            return False
        else:
            raise AssertionError(f"{form.name} is control flow")
        return True

    def _lddw(self, pc: int, insn: Instruction, form: Form) -> bool:
        if form.op == "imm64":
            self.set_reg(insn.dst, str(insn.imm & M64))
        elif form.op == "func":
            target = pc + 1 + to_signed(insn.imm, 32)
            if target not in self.prog.by_pc:
                self.goto(target, pc)
                return False
            self.set_reg(insn.dst, self.op(f"add i64 {self.load_slot(abi.CODE)}, {8 * target}"))
        elif pc in self.mb.const_pcs:
            address = self.op(f"getelementptr inbounds i64, ptr %consts, i64 {pc}")
            self.set_reg(insn.dst, self.op(f"load i64, ptr {address}"))
        else:
            self.fail_static(BpfRuntimeError, f"lddw with src_reg {form.op} needs a loaded "
                                              f"object to resolve it", pc)
            return False
        return True

    def helper_call(self, hid: str, pc: int, native: str | None = None) -> None:
        """r0 = helper(r1..r5), native (the runtime's symbol ``native``) or through the
        Python callback; unwind if it failed."""
        regs = ", ".join(f"i64 {self.reg(i)}" for i in range(1, 6))
        args = f"(ptr %ctx, i64 {hid}, i64 {pc}, {regs})"
        if native is not None and native in abi.INFALLIBLE:
            self.set_reg(0, self.op(f"call i64 @{native}{args}"))
            return
        self.sync_out()
        callback = f"@{native}" if native is not None else \
            self.op(f"inttoptr i64 {self.load_slot(abi.HELPER_CB)} to ptr")
        r0 = self.op(f"call i64 {callback}{args}")
        self.check_status()
        self.sync_in()
        self.set_reg(0, r0)

    def _control(self, pc: int, insn: Instruction, form: Form) -> None:
        kind = form.kind
        nxt = pc + form.slots
        if kind is Kind.JUMP:
            cond = self._condition(insn, form)
            self.cbr(cond, self.target(pc + 1 + insn.off, pc), self.target(nxt, pc))
        elif kind is Kind.JA:
            self.goto(pc + 1 + insn.off, pc)
        elif kind is Kind.GOTOL:
            self.goto(pc + 1 + insn.imm, pc)
        elif kind is Kind.MAY_GOTO:
            loops = self.op("load i64, ptr %loops")
            more = self.new_label()
            self.cbr(self.op(f"icmp eq i64 {loops}, 0"), self.target(pc + 1 + insn.off, pc),
                     more)
            self.start(more)
            self.emit(f"store i64 {self.op(f'sub i64 {loops}, 1')}, ptr %loops")
            self.goto(nxt, pc)
        elif kind is Kind.EXIT:
            self.sync_out()
            top, ret = self.new_label(), self.new_label()
            self.cbr(self.op("icmp eq i64 %level, 0"), top, ret)
            self.start(top)           # the run's final registers, for RunResult.regs
            for i in range(11):
                self.store_slot(abi.REGS + i, self.reg(i))
            self.br(ret)
            self.start(ret)
            out = "undef"
            for i in range(6):
                out = self.op(f"insertvalue {RET} {out}, i64 {self.reg(i)}, {i}")
            self.emit(f"ret {RET} {out}")
        elif kind is Kind.CALL:        # local: helpers and kfuncs do not end blocks
            target = pc + 1 + insn.imm
            if target not in self.prog.by_pc:
                self.goto(target, pc)
            else:
                self._local_call(target, nxt, pc)
        elif kind is Kind.CALLX:
            self._callx(insn, nxt, pc)
        else:
            raise AssertionError(f"{form.name} does not end a block")

    def _condition(self, insn: Instruction, form: Form) -> str:
        """The i1 a conditional jump branches on."""
        width = form.width
        a = self.trunc(self.reg(insn.dst), width)
        if form.source_is_reg:
            x = self.trunc(self.reg(insn.src), width)
        else:
            x = str(insn.imm & ((1 << width) - 1))
        if form.op == "jset":
            return self.op(f"icmp ne i{width} {self.op(f'and i{width} {a}, {x}')}, 0")
        return self.op(f"icmp {_JUMPS[form.op]} i{width} {a}, {x}")

    def _local_call(self, target: int, nxt: int, pc: int) -> None:
        """Call the BPF function at ``target`` in a new frame, as the interpreter does."""
        self.guard(self.op(f"icmp uge i64 %level, {MAX_CALL_FRAMES - 1}"),
                   lambda: self.fail_static(
                       BpfLimitError, f"call depth exceeds {MAX_CALL_FRAMES} frames", pc))
        depth = self.op(f"add i64 %depth, {self.prog.stack_depth[target]}")
        frames = self.op("add i64 %level, 2")
        self.guard(self.op(f"icmp sgt i64 {depth}, {MAX_STACK}"),
                   lambda: self.fail(abi.ST_STACK, pc, FAULT_ADDR=depth, FAULT_SIZE=frames))
        self.sync_out()
        level = self.op("add i64 %level, 1")
        deepest = self.load_slot(abi.DEEPEST)
        deeper = self.op(f"icmp ugt i64 {level}, {deepest}")
        self.store_slot(abi.DEEPEST, self.op(f"select i1 {deeper}, i64 {level}, i64 {deepest}"))
        regs = ", ".join(f"i64 {self.reg(i)}" for i in range(10))
        result = self.op(f"call {RET} @bpf_f{target}(ptr %ctx, {regs}, i64 {level}, "
                         f"i64 {depth})")
        self.check_status()
        self.sync_in()
        for i in range(6):
            self.set_reg(i, self.op(f"extractvalue {RET} {result}, {i}"))
        self.goto(nxt, pc)

    def _callx(self, insn: Instruction, nxt: int, pc: int) -> None:
        """Call through a register: a function's code address, else a helper id."""
        address = self.reg(insn.dst)
        helper = self.new_label()
        relative = self.op(f"sub i64 {address}, {self.load_slot(abi.CODE)}")
        cases = [(entry, self.new_label()) for entry in self.prog.functions]
        table = " ".join(f"i64 {8 * entry}, label %{label}" for entry, label in cases)
        self.emit(f"switch i64 {relative}, label %{helper} [{table}]")
        for entry, label in cases:
            self.start(label)
            self._local_call(entry, nxt, pc)
        self.start(helper)
        self.helper_call(address, pc)
        self.goto(nxt, pc)
