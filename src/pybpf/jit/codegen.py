"""Translate a program to LLVM IR: one LLVM function per BPF function, blocks from the CFG.

The program is cut into basic blocks as the interpreter cuts it (its leaders,
:func:`pybpf.vm.compiler._leaders`, plus every function entry), so each block charges
the same number of instructions to the budget and a run stops at the same place. Each BPF function (the
main program and every bpf-to-bpf call or pseudo-func target) becomes an internal LLVM
function over the blocks reachable from its entry without crossing a call::

    {r0..r5} bpf_f<pc>(ctx, r0, r1, ..., r9, level, depth)

Registers live in allocas that mem2reg promotes; r10 is the frame's stack end, read once
from the context (writes to it fault, as in the interpreter). A callee gets the caller's
registers and hands back r0-r5, which is what the interpreter's shared locals do; r6-r9
stay the caller's. ``level`` is the frame's index (0: the program) and ``depth`` the
combined stack depth, both checked at each call as the interpreter checks them.
``r0 = bpf_entry<pc>(ctx)`` starts a run (or a callback) at a function, with r1..r5
taken from the context (and, for a run, the stacks the last run used zeroed first).

Anything that fails writes a status into the context and branches to the function's
``bail`` block, which returns; every call site checks the status (see :mod:`.abi`).
"""

from __future__ import annotations

from typing import Iterable

from llvmlite import ir

from pybpf.errors import BpfHelperError, BpfLimitError, BpfRuntimeError
from pybpf.isa import Instruction, Kind, to_signed
from pybpf.isa.opcodes import Form
from pybpf.jit import abi
from pybpf.vm import compiler, semantics
from pybpf.vm.compiler import MAX_CALL_FRAMES, MAX_STACK, Program

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
CTX_T = I64.as_pointer()
RET_T = ir.LiteralStructType([I64] * 6)
FN_T = ir.FunctionType(RET_T, [CTX_T] + [I64] * 12)
ENTRY_T = ir.FunctionType(I64, [CTX_T])
HELPER_T = ir.FunctionType(I64, [CTX_T] + [I64] * 7)
M64 = semantics.M64
UNLIKELY = (1, 2000)       # branch weights (taken, not taken) for error paths

_JUMPS = {"jeq": ("u", "=="), "jne": ("u", "!="), "jgt": ("u", ">"), "jge": ("u", ">="),
          "jlt": ("u", "<"), "jle": ("u", "<="), "jsgt": ("s", ">"), "jsge": ("s", ">="),
          "jslt": ("s", "<"), "jsle": ("s", "<=")}


def c64(value: int) -> ir.Constant:
    return ir.Constant(I64, value & M64)


class ModuleBuilder:
    """The LLVM module of one program."""

    def __init__(self, prog: Program, const_pcs: Iterable[int], name: str = "bpf",
                 native_helpers: Iterable[int] = ()):
        from pybpf.jit import runtime

        self.prog = prog
        self.const_pcs = frozenset(const_pcs)
        self.native_helpers = frozenset(native_helpers)   # ids called natively (.natives)
        self.module = ir.Module(name=name)
        self.messages: list[tuple[type, str]] = []
        self._message_index: dict[tuple[type, str], int] = {}
        # Function entries start blocks too (the interpreter's leaders miss a pseudo-func
        # target that follows a non-branching instruction).
        leaders = sorted(set(compiler._leaders(prog, False)) | set(prog.functions))
        self.stop = {start: (leaders[i + 1] if i + 1 < len(leaders) else prog.length)
                     for i, start in enumerate(leaders)}
        self.functions: dict[int, ir.Function] = {}
        for pc in prog.functions:
            fn = ir.Function(self.module, FN_T, f"bpf_f{pc}")
            fn.linkage = "internal"
            fn.attributes.add("nounwind")
            fn.args[0].add_attribute("noalias")
            self.functions[pc] = fn
        self.runtime = runtime.declare(self.module)
        self._intrinsics: dict[tuple[str, int], ir.Function] = {}

    def message(self, cls: type, text: str) -> int:
        key = (cls, text)
        index = self._message_index.get(key)
        if index is None:
            index = self._message_index[key] = len(self.messages)
            self.messages.append(key)
        return index

    def native_helper(self, hid: int) -> ir.Function | None:
        """The runtime's native implementation of helper ``hid``, when this program may
        use it (its helper registry has the standard helper there)."""
        if hid not in self.native_helpers:
            return None
        name = abi.NATIVE_HELPERS[hid]
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, HELPER_T, name)
            fn.attributes.add("nounwind")
        return fn

    def intrinsic(self, name: str, bits: int) -> ir.Function:
        key = (name, bits)
        fn = self._intrinsics.get(key)
        if fn is None:
            fn = self._intrinsics[key] = self.module.declare_intrinsic(name, [ir.IntType(bits)])
        return fn

    def build(self) -> tuple[str, dict[int, str], list[tuple[type, str]]]:
        """The module's IR text, the entry function name of each BPF function, messages."""
        names = {}
        for pc in self.prog.functions:
            FunctionBuilder(self, pc).build()
            names[pc] = self._entry(pc)
        return str(self.module), names, self.messages

    def _entry(self, pc: int) -> str:
        """``r0 = bpf_entry<pc>(ctx)``: zero the stacks the last run used when asked,
        then run the function on r1..r5 from the context at frame level 0."""
        name = f"bpf_entry{pc}"
        fn = ir.Function(self.module, ENTRY_T, name)
        ctx = fn.args[0]
        ctx.add_attribute("noalias")
        entry, clear, loop, body = (fn.append_basic_block(n) for n in
                                    ("entry", "clear", "clear_loop", "body"))
        b = ir.IRBuilder(entry)

        def slot(i: int) -> ir.Value:
            return b.gep(ctx, [c64(i)], inbounds=True)

        b.cbranch(b.icmp_unsigned("!=", b.load(slot(abi.CLEAR)), c64(0)), clear, body)
        b.position_at_end(clear)
        stacks = b.inttoptr(b.load(slot(abi.STACKS)), I64.as_pointer())
        deepest = b.load(slot(abi.DEEPEST))
        b.store(c64(0), slot(abi.DEEPEST))
        b.store(c64(0), slot(abi.CLEAR))
        b.branch(loop)
        b.position_at_end(loop)
        level = b.phi(I64)
        level.add_incoming(c64(0), clear)
        end = b.load(b.gep(stacks, [level], inbounds=True))
        base = b.inttoptr(b.sub(end, c64(MAX_STACK)), I8.as_pointer())
        memset = self.module.declare_intrinsic("llvm.memset", [I8.as_pointer(), I64])
        b.call(memset, [base, ir.Constant(I8, 0), c64(MAX_STACK), ir.Constant(I1, 0)])
        following = b.add(level, c64(1))
        level.add_incoming(following, loop)
        b.cbranch(b.icmp_unsigned(">", following, deepest), body, loop)
        b.position_at_end(body)
        zero = c64(0)
        args = [b.load(slot(abi.ARGS + i)) for i in range(5)]
        call = [ctx, zero, *args, zero, zero, zero, zero, zero, c64(self.prog.stack_depth[pc])]
        r0 = b.extract_value(b.call(self.functions[pc], call), 0)
        # A native tail call unwound the program (ST_EXIT): its successor's r0 is the run's.
        exited, normal = fn.append_basic_block("tail_exit"), fn.append_basic_block("done")
        b.cbranch(b.icmp_unsigned("==", b.load(slot(abi.STATUS)), c64(abi.ST_EXIT)), exited,
                  normal)
        b.position_at_end(normal)
        b.ret(r0)
        b.position_at_end(exited)
        b.store(c64(abi.ST_OK), slot(abi.STATUS))
        b.ret(b.load(slot(abi.REGS)))
        return name


class FunctionBuilder:
    """The LLVM function of one BPF function: its blocks, registers and budget."""

    def __init__(self, mb: ModuleBuilder, entry: int):
        self.mb = mb
        self.prog = mb.prog
        self.fn = fn = mb.functions[entry]
        self.ctx = fn.args[0]
        self.level, self.depth = fn.args[11], fn.args[12]
        b = self.builder = ir.IRBuilder(fn.append_basic_block("entry"))
        self.regs = [b.alloca(I64, name=f"r{i}") for i in range(10)]
        self.loops = b.alloca(I64, name="loops")
        self.budget = b.alloca(I64, name="budget")
        for i in range(10):
            b.store(fn.args[1 + i], self.regs[i])
        b.store(c64(abi.MAX_LOOPS), self.loops)
        stacks = b.inttoptr(self.load_slot(abi.STACKS), I64.as_pointer())
        self.r10 = b.load(b.gep(stacks, [self.level], inbounds=True), name="r10")
        self.sync_in()
        self.bail = fn.append_basic_block("bail")
        ir.IRBuilder(self.bail).ret(ir.Constant(RET_T, ir.Undefined))   # callers see the status
        self.blocks: dict[int, ir.Block] = {}
        self.work: list[int] = []
        b.branch(self.block(entry))

    # -- small pieces the instruction modules use ---------------------------------------------

    def slot(self, index: int) -> ir.Value:
        return self.builder.gep(self.ctx, [c64(index)], inbounds=True)

    def load_slot(self, index: int) -> ir.Value:
        return self.builder.load(self.slot(index))

    def store_slot(self, index: int, value: ir.Value | int) -> None:
        self.builder.store(c64(value) if isinstance(value, int) else value, self.slot(index))

    def reg(self, i: int) -> ir.Value:
        return self.r10 if i == 10 else self.builder.load(self.regs[i])

    def set_reg(self, i: int, value: ir.Value) -> None:
        if value.type != I64:
            value = self.builder.zext(value, I64)
        self.builder.store(value, self.regs[i])

    def new_block(self, name: str = "") -> ir.Block:
        return self.fn.append_basic_block(name)

    def sync_out(self) -> None:
        """Store the budget for a callee (or Python) to see."""
        self.store_slot(abi.BUDGET, self.builder.load(self.budget))

    def sync_in(self) -> None:
        self.builder.store(self.load_slot(abi.BUDGET), self.budget)

    def check_status(self) -> None:
        """After a call that may fail: return at once when it did."""
        b = self.builder
        ok = b.icmp_unsigned("==", self.load_slot(abi.STATUS), c64(0))
        cont = self.new_block("ok")
        b.cbranch(ok, cont, self.bail).set_weights([UNLIKELY[1], UNLIKELY[0]])
        b.position_at_end(cont)

    def fail(self, status: int, pc: int, **slots: ir.Value | int) -> None:
        """Record a failure and return; the current block ends here."""
        for name, value in slots.items():
            self.store_slot(getattr(abi, name), value)
        self.store_slot(abi.PC, pc)
        self.store_slot(abi.STATUS, status)
        self.builder.branch(self.bail)

    def fail_static(self, cls: type, text: str, pc: int) -> None:
        self.fail(abi.ST_STATIC, pc, MESSAGE=self.mb.message(cls, text))

    def guard(self, bad: ir.Value, on_bad) -> None:
        """Branch to a block running ``on_bad()`` (which must end it) when ``bad``."""
        b = self.builder
        fail_bb, cont = self.new_block("fail"), self.new_block("cont")
        b.cbranch(bad, fail_bb, cont).set_weights(list(UNLIKELY))
        b.position_at_end(fail_bb)
        on_bad()
        b.position_at_end(cont)

    # -- blocks ---------------------------------------------------------------------------

    def block(self, pc: int) -> ir.Block:
        bb = self.blocks.get(pc)
        if bb is None:
            bb = self.blocks[pc] = self.fn.append_basic_block(f"pc{pc}")
            self.work.append(pc)
        return bb

    def target(self, target: int, source: int) -> ir.Block:
        """The block to branch to for ``target``: its block, or one that faults."""
        if target in self.prog.by_pc:
            return self.block(target)
        saved = self.builder.block
        bb = self.new_block(f"bad{target}")
        self.builder.position_at_end(bb)
        self.goto(target, source)
        self.builder.position_at_end(saved)
        return bb

    def goto(self, target: int, source: int) -> None:
        """Continue at ``target``, or fault as the interpreter does when it is no instruction."""
        prog = self.prog
        if target in prog.by_pc:
            self.builder.branch(self.block(target))
        elif 0 <= target < prog.length:
            self.fail_static(BpfRuntimeError, f"jump into the middle of lddw at {target}", source)
        elif target == prog.length:
            self.fail_static(BpfRuntimeError, "fell off the end of the program (no exit)", source)
        else:
            self.fail_static(BpfRuntimeError, f"jump out of range to {target}", source)

    def build(self) -> None:
        while self.work:
            self._emit_block(self.work.pop())

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
        self.builder.position_at_end(self.blocks[start])
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
        b = self.builder
        left = b.sub(b.load(self.budget), c64(count))
        b.store(left, self.budget)
        self.guard(b.icmp_signed("<", left, c64(0)), lambda: self.fail(abi.ST_BUDGET, start))

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
            self.helper_call(c64(insn.imm & 0xFFFFFFFF), pc,
                             self.mb.native_helper(insn.imm & 0xFFFFFFFF))
        elif kind is Kind.ADDR_SPACE_CAST:
            self.fail_static(BpfRuntimeError,
                             f"addr_space_cast (imm {insn.imm:#x}) needs an arena map", pc)
            return False
        else:
            raise AssertionError(f"{form.name} is control flow")
        return True

    def _lddw(self, pc: int, insn: Instruction, form: Form) -> bool:
        if form.op == "imm64":
            self.set_reg(insn.dst, c64(insn.imm))
        elif form.op == "func":
            target = pc + 1 + to_signed(insn.imm, 32)
            if target not in self.prog.by_pc:
                self.goto(target, pc)
                return False
            self.set_reg(insn.dst, self.builder.add(self.load_slot(abi.CODE), c64(8 * target)))
        elif pc in self.mb.const_pcs:
            b = self.builder
            consts = b.inttoptr(self.load_slot(abi.CONSTS), I64.as_pointer())
            self.set_reg(insn.dst, b.load(b.gep(consts, [c64(pc)], inbounds=True)))
        else:
            self.fail_static(BpfRuntimeError, f"lddw with src_reg {form.op} needs a loaded "
                                              f"object to resolve it", pc)
            return False
        return True

    def helper_call(self, hid: ir.Value, pc: int, native: ir.Function | None = None) -> None:
        """r0 = helper(r1..r5), native or through the Python callback; unwind if it failed."""
        b = self.builder
        args = [self.ctx, hid, c64(pc)] + [self.reg(i) for i in range(1, 6)]
        if native is not None and native.name in abi.INFALLIBLE:
            self.set_reg(0, b.call(native, args))
            return
        self.sync_out()
        callback = native if native is not None else \
            b.inttoptr(self.load_slot(abi.HELPER_CB), HELPER_T.as_pointer())
        r0 = b.call(callback, args)
        self.check_status()
        self.sync_in()
        self.set_reg(0, r0)

    def _control(self, pc: int, insn: Instruction, form: Form) -> None:
        b = self.builder
        kind = form.kind
        nxt = pc + form.slots
        if kind is Kind.JUMP:
            b.cbranch(self._condition(insn, form), self.target(pc + 1 + insn.off, pc),
                      self.target(nxt, pc))
        elif kind is Kind.JA:
            self.goto(pc + 1 + insn.off, pc)
        elif kind is Kind.GOTOL:
            self.goto(pc + 1 + insn.imm, pc)
        elif kind is Kind.MAY_GOTO:
            loops = b.load(self.loops)
            more = self.new_block("more")
            b.cbranch(b.icmp_unsigned("==", loops, c64(0)), self.target(pc + 1 + insn.off, pc),
                      more)
            b.position_at_end(more)
            b.store(b.sub(loops, c64(1)), self.loops)
            self.goto(nxt, pc)
        elif kind is Kind.EXIT:
            self.sync_out()
            top, ret = self.new_block("exit_top"), self.new_block("exit")
            b.cbranch(b.icmp_unsigned("==", self.level, c64(0)), top, ret)
            b.position_at_end(top)          # the run's final registers, for RunResult.regs
            for i in range(11):
                self.store_slot(abi.REGS + i, self.reg(i))
            b.branch(ret)
            b.position_at_end(ret)
            out = ir.Constant(RET_T, None)
            for i in range(6):
                out = b.insert_value(out, self.reg(i), i)
            b.ret(out)
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

    def _condition(self, insn: Instruction, form: Form) -> ir.Value:
        b = self.builder
        a = self.reg(insn.dst)
        if form.source_is_reg:
            x = self.reg(insn.src)
        else:
            x = c64(insn.imm)
        if form.width == 32:
            a, x = b.trunc(a, I32), b.trunc(x, I32)
        if form.op == "jset":
            return b.icmp_unsigned("!=", b.and_(a, x), ir.Constant(a.type, 0))
        sign, op = _JUMPS[form.op]
        return b.icmp_signed(op, a, x) if sign == "s" else b.icmp_unsigned(op, a, x)

    def _local_call(self, target: int, nxt: int, pc: int) -> None:
        """Call the BPF function at ``target`` in a new frame, as the interpreter does."""
        b = self.builder
        self.guard(b.icmp_unsigned(">=", self.level, c64(MAX_CALL_FRAMES - 1)),
                   lambda: self.fail_static(
                       BpfLimitError, f"call depth exceeds {MAX_CALL_FRAMES} frames", pc))
        depth = b.add(self.depth, c64(self.prog.stack_depth[target]))
        frames = b.add(self.level, c64(2))
        self.guard(b.icmp_signed(">", depth, c64(MAX_STACK)),
                   lambda: self.fail(abi.ST_STACK, pc, FAULT_ADDR=depth, FAULT_SIZE=frames))
        self.sync_out()
        level = b.add(self.level, c64(1))
        deepest = self.load_slot(abi.DEEPEST)
        self.store_slot(abi.DEEPEST, b.select(b.icmp_unsigned(">", level, deepest), level, deepest))
        args = [self.ctx] + [self.reg(i) for i in range(10)]
        result = b.call(self.mb.functions[target], args + [level, depth])
        self.check_status()
        self.sync_in()
        for i in range(6):
            self.set_reg(i, b.extract_value(result, i))
        self.goto(nxt, pc)

    def _callx(self, insn: Instruction, nxt: int, pc: int) -> None:
        """Call through a register: a function's code address, else a helper id."""
        b = self.builder
        address = self.reg(insn.dst)
        helper = self.new_block("callx_helper")
        relative = b.sub(address, self.load_slot(abi.CODE))
        switch = b.switch(relative, helper)
        for entry in self.prog.functions:
            bb = self.new_block(f"callx{entry}")
            switch.add_case(c64(8 * entry), bb)
            b.position_at_end(bb)
            self._local_call(entry, nxt, pc)
        b.position_at_end(helper)
        self.helper_call(address, pc)
        self.goto(nxt, pc)
