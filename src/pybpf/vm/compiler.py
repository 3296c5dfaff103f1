"""Compile a program, once, into one Python function that runs it.

The program is cut into basic blocks; each block becomes straight-line Python over
registers held in local variables (the statements come from :mod:`pybpf.vm.semantics`);
a loop dispatches on ``pc`` to the next block through a binary tree of comparisons.
Each block first charges its length to the instruction budget. Control flow (jumps,
bpf-to-bpf calls with their frames, callx, exit, may_goto) is generated here.

With ``trace=True`` every instruction is its own block and reports the registers after
it runs, which is how ``--trace`` sees each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pybpf.isa import Instruction, Kind, to_signed
from pybpf.isa.opcodes import Form
from pybpf.vm import semantics

MAX_CALL_FRAMES = 8          # the kernel's MAX_CALL_FRAMES: main program plus 7 nested calls
MAX_STACK = 512              # per frame, and combined along a call chain
MAX_LOOPS = 8 * 1024 * 1024  # BPF_MAX_LOOPS: may_goto's budget per frame
STACK_ROUND = 16             # the kernel rounds each frame's depth to 16 when JIT-compiled

_JUMP_CONDITIONS = {
    "jeq": "{a} == {b}", "jne": "{a} != {b}", "jgt": "{a} > {b}", "jge": "{a} >= {b}",
    "jlt": "{a} < {b}", "jle": "{a} <= {b}", "jset": "{a} & {b}",
    "jsgt": "({a} ^ {s}) > ({b} ^ {s})", "jsge": "({a} ^ {s}) >= ({b} ^ {s})",
    "jslt": "({a} ^ {s}) < ({b} ^ {s})", "jsle": "({a} ^ {s}) <= ({b} ^ {s})",
}


@dataclass
class Program:
    """A decoded program laid out by slot: what the compiler and the machine work from."""

    insns: list[Instruction]
    by_pc: dict[int, tuple[Instruction, Form]]
    length: int                      # in slots
    functions: list[int]             # entry pcs: 0 and every local call / pseudo-func target
    stack_depth: dict[int, int]      # entry pc -> rounded stack depth of that function

    @classmethod
    def from_insns(cls, insns: Sequence[Instruction]) -> "Program":
        by_pc: dict[int, tuple[Instruction, Form]] = {}
        pc = 0
        for insn in insns:
            by_pc[pc] = (insn, insn.form)
            pc += insn.slots
        functions = {0}
        for at, (insn, form) in by_pc.items():
            if (form.kind is Kind.CALL and form.op == "local") or \
                    (form.kind is Kind.LDDW and form.op == "func"):
                target = at + 1 + (insn.imm if form.kind is Kind.CALL else to_signed(insn.imm, 32))
                if target in by_pc:
                    functions.add(target)
        entries = sorted(functions)
        depth = {}
        for i, entry in enumerate(entries):
            end = entries[i + 1] if i + 1 < len(entries) else pc
            deepest = 0
            for at in range(entry, end):
                item = by_pc.get(at)
                if item is None:
                    continue
                insn, form = item
                base = insn.src if form.kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ) else insn.dst
                if form.kind in _MEMORY_KINDS and base == 10 and insn.off < 0:
                    deepest = max(deepest, -insn.off)
            depth[entry] = -(-deepest // STACK_ROUND) * STACK_ROUND
        return cls(list(insns), by_pc, pc, entries, depth)


_MEMORY_KINDS = (Kind.LOAD, Kind.LOADSX, Kind.STORE, Kind.STORE_IMM, Kind.ATOMIC,
                 Kind.LOAD_ACQ, Kind.STORE_REL)


def _targets(pc: int, insn: Instruction, form: Form) -> list[int]:
    """Where control may go after the instruction at pc (besides returning)."""
    kind = form.kind
    if kind is Kind.JUMP or kind is Kind.MAY_GOTO:
        return [pc + 1 + insn.off, pc + 1]
    if kind is Kind.JA:
        return [pc + 1 + insn.off]
    if kind is Kind.GOTOL:
        return [pc + 1 + insn.imm]
    if kind is Kind.CALL and form.op == "local":
        return [pc + 1 + insn.imm, pc + 1]
    if kind is Kind.CALLX or kind is Kind.EXIT:
        return [pc + 1]
    return []


def _leaders(prog: Program, trace: bool) -> list[int]:
    if trace:
        return sorted(prog.by_pc)
    # Every function entry starts a block: a callback (a BPF_PSEUDO_FUNC target) may
    # follow an instruction that does not branch, and must be entered at its first one.
    leaders = {0, *prog.functions}
    for pc, (insn, form) in prog.by_pc.items():
        leaders.update(t for t in _targets(pc, insn, form) if t in prog.by_pc)
        if _ends_block(form) and pc + form.slots in prog.by_pc:
            leaders.add(pc + form.slots)
    return sorted(leaders)


class _Emitter:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


def _goto(prog: Program, target: int, source_pc: int) -> str:
    """The statement that continues at ``target``, or faults if it is not an instruction."""
    if target in prog.by_pc:
        return f"pc = {target}"
    if 0 <= target < prog.length:
        return f"raise FAULT('jump into the middle of lddw at {target}', {source_pc})"
    if target == prog.length:
        return f"raise FAULT('fell off the end of the program (no exit)', {source_pc})"
    return f"raise FAULT('jump out of range to {target}', {source_pc})"


def _control(prog: Program, pc: int, insn: Instruction, form: Form,
             step: str | None = None) -> list[str]:
    """Statements for an instruction that ends a block by transferring control.

    ``step`` (trace mode) is the statement reporting the registers after the instruction.
    """
    kind = form.kind
    nxt = pc + form.slots
    if kind is Kind.JUMP:
        if form.source_is_reg:
            b = f"r{insn.src}" if form.width == 64 else f"(r{insn.src} & M32)"
        else:
            b = hex(insn.imm & (semantics.M64 if form.width == 64 else semantics.M32))
        a = f"r{insn.dst}" if form.width == 64 else f"(r{insn.dst} & M32)"
        s = "S64" if form.width == 64 else "S32"
        cond = _JUMP_CONDITIONS[form.op].format(a=a, b=b, s=s)
        taken, fall = _goto(prog, pc + 1 + insn.off, pc), _goto(prog, nxt, pc)
        return [f"if {cond}:", f"    {taken}", "else:", f"    {fall}"]
    if kind is Kind.JA:
        return [_goto(prog, pc + 1 + insn.off, pc)]
    if kind is Kind.GOTOL:
        return [_goto(prog, pc + 1 + insn.imm, pc)]
    if kind is Kind.MAY_GOTO:
        return ["if loops == 0:", f"    {_goto(prog, pc + 1 + insn.off, pc)}", "else:",
                "    loops -= 1", f"    {_goto(prog, nxt, pc)}"]
    if kind is Kind.EXIT:
        traced = [f"    {step}"] if step else []
        return ["if frames:",
                "    pc, r6, r7, r8, r9, r10, loops, depth = frames.pop()",
                *traced,
                "else:",
                *traced,
                "    return (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10), count"]
    if kind is Kind.CALL and form.op == "local":
        target = pc + 1 + insn.imm
        if target not in prog.by_pc:
            return [_goto(prog, target, pc)]
        return _local_call(str(target), str(prog.stack_depth.get(target, 0)), nxt, pc)
    if kind is Kind.CALLX:
        lines = [f"_t = r{insn.dst}", "_f = FUNCS.get(_t)", "if _f is None:",
                 f"    CALL.pc = {pc}",
                 f"    r0 = HELPER(_t, {pc})(CALL, r1, r2, r3, r4, r5) & M64",
                 f"    pc = {nxt}" if nxt in prog.by_pc else
                 f"    {_goto(prog, nxt, pc)}",
                 "else:"]
        lines += ["    " + line for line in _local_call("_f", "DEPTH[_f]", nxt, pc)]
        return lines
    raise AssertionError(f"{form.name} is not control flow")


def _local_call(target: str, depth: str, nxt: int, pc: int) -> list[str]:
    return [
        f"if len(frames) >= {MAX_CALL_FRAMES - 1}:",
        f"    raise LIMIT('call depth exceeds {MAX_CALL_FRAMES} frames', {pc})",
        f"frames.append(({nxt}, r6, r7, r8, r9, r10, loops, depth))",
        f"depth += {depth}",
        f"if depth > {MAX_STACK}:",
        f"    raise LIMIT('combined stack size ' + str(depth) + ' of ' + str(len(frames) + 1) + "
        f"' frames exceeds {MAX_STACK} bytes', {pc})",
        "r10 = stacks[len(frames)]",
        f"loops = {MAX_LOOPS}",
        f"pc = {target}",
    ]


def _straight(prog: Program, pc: int, insn: Instruction, form: Form,
              constants: dict[int, int]) -> list[str]:
    """Statements for an instruction that does not end its block."""
    kind = form.kind
    if 10 in semantics.writes_register(insn, form):
        return [f"raise FAULT('r10 (the frame pointer) is read-only', {pc})"]
    if kind is Kind.LDDW:
        if form.op == "imm64":
            return [f"r{insn.dst} = {insn.imm:#x}"]
        if form.op == "func":
            target = pc + 1 + to_signed(insn.imm, 32)
            if target not in prog.by_pc:
                return [_goto(prog, target, pc)]
            return [f"r{insn.dst} = CODE + {target * 8}"]
        if pc in constants:
            return [f"r{insn.dst} = {constants[pc] & semantics.M64:#x}"]
        return [f"raise FAULT('lddw with src_reg {form.op} needs a loaded object to resolve it', "
                f"{pc})"]
    if kind is Kind.CALL:
        if form.op == "helper":
            return [f"CALL.pc = {pc}", f"r0 = H{insn.imm & 0xFFFFFFFF}(CALL, r1, r2, r3, r4, r5) & M64"]
        return [f"raise HELPER_ERROR('kfunc call (btf id {insn.imm}) needs the kernel', {pc})"]
    lines = semantics.statements(insn, form)
    return [line.replace("PC", str(pc)) for line in lines]


def _ends_block(form: Form) -> bool:
    return form.kind in (Kind.JUMP, Kind.JA, Kind.GOTOL, Kind.MAY_GOTO, Kind.EXIT,
                         Kind.CALLX) or (form.kind is Kind.CALL and form.op == "local")


def generate(prog: Program, constants: dict[int, int] | None = None, *,
             trace: bool = False) -> str:
    """Python source of ``def run(r1, r2, r3, r4, r5, r10, budget, pc, stacks)`` for the program.

    ``constants`` gives the value of each ``lddw`` whose src_reg refers to a map, BTF
    object or the like, by pc; the loader that created the maps resolves them.
    """
    constants = constants or {}
    leaders = _leaders(prog, trace)
    blocks: list[tuple[int, list[str]]] = []
    for i, start in enumerate(leaders):
        stop = leaders[i + 1] if i + 1 < len(leaders) else prog.length
        body: list[str] = []
        count = 0
        pc = start
        ended = False
        while pc < stop:
            insn, form = prog.by_pc[pc]
            count += 1
            if _ends_block(form):
                step = f"TRACE({pc}, (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10))"
                if form.kind is Kind.EXIT:
                    body += _control(prog, pc, insn, form, step if trace else None)
                else:
                    body += _control(prog, pc, insn, form)
                    if trace:
                        body.append(step)
                ended = True
                break
            body += _straight(prog, pc, insn, form, constants)
            if trace:
                body.append(f"TRACE({pc}, (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10))")
            last = pc
            pc += form.slots
        if not ended:
            body.append(_goto(prog, pc, last))
        head = [f"count += {count}",
                "if count > budget:",
                f"    raise LIMIT('instruction budget of ' + str(budget) + ' exhausted', {start})"]
        blocks.append((start, head + body))

    out = _Emitter()
    # ``pc``/``stacks`` let a helper run a callback function (bpf_loop) on stacks of its own.
    out.emit(0, "def run(r1, r2, r3, r4, r5, r10, budget, pc=0, stacks=STACKS):")
    out.emit(1, "r0 = r6 = r7 = r8 = r9 = 0")
    out.emit(1, "count = 0")
    out.emit(1, "depth = DEPTH[pc]")
    out.emit(1, f"loops = {MAX_LOOPS}")
    out.emit(1, "frames = []")
    out.emit(1, "while True:")
    _dispatch(out, blocks, 2)
    return "\n".join(out.lines) + "\n"


def _dispatch(out: _Emitter, blocks: list[tuple[int, list[str]]], indent: int) -> None:
    """A binary tree of ``pc <`` comparisons whose leaves are the blocks."""
    if len(blocks) == 1:
        for line in blocks[0][1]:
            out.emit(indent, line)
        return
    mid = len(blocks) // 2
    out.emit(indent, f"if pc < {blocks[mid][0]}:")
    _dispatch(out, blocks[:mid], indent + 1)
    out.emit(indent, "else:")
    _dispatch(out, blocks[mid:], indent + 1)
