"""Random eBPF programs the kernel verifier accepts, for differential testing.

One generator, two front ends: :func:`generate` takes anything with ``randint(a, b)``
and ``choice(seq)`` (a ``random.Random(seed)`` for the bench), and :func:`programs` is a
Hypothesis strategy that feeds the same generator from Hypothesis draws (so failures
shrink).

A program is::

    r0 = <lddw constant> ... r9 = <lddw constant>    ; every register written first
    <a few stack slots stored>                        ; so later loads read known bytes
    <body>                                            ; ALU, stack memory, forward branches
    <a few loads of stored slots>                     ; memory effects become register values
    exit

Rules kept so the verifier accepts every program, on every path:

* r10 is only ever a memory base, never written or used as an operand (so no register
  holds a pointer, and the final r0-r9 are plain numbers on any engine);
* shifts by an immediate use amounts below the operand width, division and modulo by an
  immediate use a non-zero one (by a register anything goes: the kernel defines x/0);
* memory is the 512-byte stack at offsets aligned to the access size, and a slot is read
  (load or atomic) only when every byte of it was stored on every path reaching the read
  (the verifier lets root read unset stack, but its bytes differ between engines);
* jumps only go forward, and every instruction is reachable: branches are if/else shapes,
  an ``if`` arm may end in ``exit``.

The body is generated from the ISA table (:mod:`pybpf.isa.opcodes`), so every ALU,
conditional jump, load, store and atomic form it lists is exercised (not calls, legacy
packet loads, ``may_goto`` or ``addr_space_cast``, which need more than a stack).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol, Sequence, TypeVar

from pybpf.isa import FORMS, Instruction, Kind

T = TypeVar("T")
U64 = (1 << 64) - 1
STACK_SIZE = 512
REGS = range(10)  # r0-r9: r10 is never an operand

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
EDGE_U64 = (0, 1, 2, U64, U64 - 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000,
            0xFFFFFFFF80000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0x8000000000000001,
            31, 32, 63, 64, 0x80, 0xFF, 0x8000, 0xFFFF, 0xFFFFFFFFFFFF8000, 0x00FF00FF00FF00FF)
EDGE_IMM = (0, 1, -1, 2, -2, INT32_MAX, INT32_MIN, 0x80, 0xFF, 0x8000, 0xFFFF, -0x8000, 31, 32,
            63, 64, 0x7F, -0x80)

ALU_FORMS = tuple(f for f in FORMS if f.kind in (Kind.ALU, Kind.NEG, Kind.MOVSX, Kind.END))
JUMP_FORMS = tuple(f for f in FORMS if f.kind is Kind.JUMP)
LOAD_FORMS = tuple(f for f in FORMS if f.kind in (Kind.LOAD, Kind.LOADSX))
STORE_FORMS = tuple(f for f in FORMS if f.kind in (Kind.STORE, Kind.STORE_IMM))
ATOMIC_FORMS = tuple(f for f in FORMS if f.kind is Kind.ATOMIC)
ACQ_REL_FORMS = tuple(f for f in FORMS if f.kind in (Kind.LOAD_ACQ, Kind.STORE_REL))
_SHIFTS = ("lsh", "rsh", "arsh")
_DIVS = ("div", "mod", "sdiv", "smod")


class Chooser(Protocol):
    """The randomness the generator needs; ``random.Random`` is one."""

    def randint(self, a: int, b: int) -> int: ...
    def choice(self, seq: Sequence[T]) -> T: ...


@dataclass(frozen=True)
class GenOptions:
    """What the generator may emit."""

    max_insns: int = 48          # body size budget (prologue and final loads not counted)
    max_depth: int = 3           # nesting of if/else
    memory: bool = True          # stack loads and stores
    atomics: bool = True         # read-modify-write atomics (32 and 64 bit)
    acquire_release: bool = True  # load-acquire / store-release (kernel 6.15+)


@dataclass
class _Jump:
    """A forward jump whose target is a label, resolved once the program is complete."""

    form: str
    dst: int
    src: int
    imm: int
    label: int


class _Generator:
    def __init__(self, rng: Chooser, options: GenOptions):
        self.rng = rng
        self.opt = options
        self.items: list[Instruction | _Jump] = []
        self.labels: dict[int, int] = {}  # label -> item index it marks
        self.budget = options.max_insns
        mem_forms = LOAD_FORMS + STORE_FORMS
        if options.atomics:
            mem_forms += ATOMIC_FORMS
        if options.acquire_release:
            mem_forms += ACQ_REL_FORMS
        self.mem_forms = mem_forms if options.memory else ()

    # --- values ---------------------------------------------------------------------

    def value64(self) -> int:
        rng = self.rng
        if rng.randint(0, 1):
            return rng.choice(EDGE_U64)
        bits = rng.choice((8, 16, 32, 64))
        value = rng.randint(0, (1 << bits) - 1)
        return (-value & U64) if rng.randint(0, 3) == 0 else value

    def imm32(self) -> int:
        rng = self.rng
        if rng.randint(0, 1):
            return rng.choice(EDGE_IMM)
        return rng.randint(INT32_MIN, INT32_MAX)

    def reg(self) -> int:
        return self.rng.choice(REGS)

    def pick(self, choices: Sequence[tuple[int, Callable[..., T]]], *args: Any) -> T:
        total = sum(weight for weight, _ in choices)
        n = self.rng.randint(0, total - 1)
        for weight, fn in choices:
            if n < weight:
                return fn(*args)
            n -= weight
        raise AssertionError("unreachable")

    # --- emitting -------------------------------------------------------------------

    def emit(self, insn: Instruction | _Jump) -> None:
        self.items.append(insn)
        self.budget -= 1

    def new_label(self) -> int:
        label = len(self.labels)
        self.labels[label] = -1
        return label

    def place(self, label: int) -> None:
        self.labels[label] = len(self.items)

    # --- statements; each takes and returns the set of initialised stack bytes ------

    def alu(self, init: int) -> int:
        form = self.rng.choice(ALU_FORMS)
        if form.kind in (Kind.NEG, Kind.END):
            self.emit(Instruction.make(form.name, self.reg()))
        elif form.source_is_reg:  # ALU reg and MOVSX
            self.emit(Instruction.make(form.name, self.reg(), self.reg()))
        else:
            if form.op in _SHIFTS:
                imm = self.rng.randint(0, form.width - 1)
            else:
                imm = self.imm32()
                if imm == 0 and form.op in _DIVS:
                    imm = self.rng.choice((1, -1, 3, INT32_MIN))
            self.emit(Instruction.make(form.name, self.reg(), imm=imm))
        return init

    def lddw(self, init: int) -> int:
        self.emit(Instruction.make("lddw", self.reg(), imm=self.value64()))
        return init

    def memory(self, init: int) -> int:
        form = self.rng.choice(self.mem_forms)
        size = form.size
        reads = form.kind not in (Kind.STORE, Kind.STORE_IMM, Kind.STORE_REL)
        if reads:
            offsets = _stored_offsets(init, size)
            if not offsets:  # nothing stored yet that this read could use: store instead
                return self.store(init, 8)
            off = self.rng.choice(offsets)
        else:
            off = self.rng.randint(-STACK_SIZE // size, -1) * size
        if form.kind in (Kind.LOAD, Kind.LOADSX, Kind.LOAD_ACQ):
            self.emit(Instruction.make(form.name, self.reg(), 10, off=off))
        elif form.kind is Kind.STORE_IMM:
            self.emit(Instruction.make(form.name, 10, off=off, imm=self.imm32()))
        else:  # STORE, STORE_REL, ATOMIC
            self.emit(Instruction.make(form.name, 10, self.reg(), off=off))
        return init | _mask(off, size) if not reads else init

    def store(self, init: int, size: int | None = None) -> int:
        size = size or self.rng.choice((1, 2, 4, 8))
        off = self.rng.randint(-STACK_SIZE // size, -1) * size
        if self.rng.randint(0, 1):
            self.emit(Instruction.make(f"stx{size * 8}", 10, self.reg(), off=off))
        else:
            self.emit(Instruction.make(f"st{size * 8}", 10, off=off, imm=self.imm32()))
        return init | _mask(off, size)

    def branch(self, init: int, depth: int) -> int:
        """``if (cond) goto else; <then> [exit | goto end]; else: <else>; end:``."""
        form = self.rng.choice(JUMP_FORMS)
        skip, end = self.new_label(), self.new_label()
        src = self.reg() if form.source_is_reg else 0
        imm = 0 if form.source_is_reg else self.imm32()
        self.emit(_Jump(form.name, self.reg(), src, imm, skip))
        then_init: int | None = self.block(init, depth + 1, self.rng.randint(1, 6))
        shape = self.rng.randint(0, 3)  # 0, 1: plain if; 2: if/else; 3: then ends in exit
        if shape == 3:
            self.emit(Instruction.make("exit"))
            then_init = None
        if shape == 2:
            self.emit(_Jump(self.rng.choice(("ja", "gotol")), 0, 0, 0, end))
        self.place(skip)
        else_init = init
        if shape == 2:
            else_init = self.block(init, depth + 1, self.rng.randint(1, 6))
        self.place(end)
        # Bytes known stored after the join: those stored on every path that reaches it.
        return else_init if then_init is None else then_init & else_init

    def block(self, init: int, depth: int, length: int) -> int:
        choices: list[tuple[int, Callable[..., int]]] = [(50, self.alu), (4, self.lddw)]
        if self.mem_forms:
            choices.append((25, self.memory))
        can_branch = depth < self.opt.max_depth
        for _ in range(length):
            if self.budget <= 0:
                break
            # Choices are drawn so that 0 is the simplest: Hypothesis shrinks toward it.
            if can_branch and self.budget > 4 and self.rng.randint(0, 99) >= 88:
                init = self.branch(init, depth)
            else:
                init = self.pick(choices, init)
        return init

    def program(self) -> list[Instruction]:
        for reg in REGS:
            self.items.append(Instruction.make("lddw", reg, imm=self.value64()))
        init = 0
        if self.mem_forms:
            for _ in range(self.rng.randint(1, 6)):
                init = self.store(init, 8)
        init = self.block(init, 0, self.rng.randint(1, self.opt.max_insns))
        if self.mem_forms:  # make the final memory visible in registers
            offsets = _stored_offsets(init, 8)
            for _ in range(self.rng.randint(0, 3) if offsets else 0):
                self.items.append(Instruction.make("ldx64", self.reg(), 10,
                                                   off=self.rng.choice(offsets)))
        self.items.append(Instruction.make("exit"))
        return self.resolve()

    def resolve(self) -> list[Instruction]:
        slot_of_item, pc = [], 0
        for item in self.items:
            slot_of_item.append(pc)
            pc += item.slots if isinstance(item, Instruction) else 1
        out = []
        for index, item in enumerate(self.items):
            if isinstance(item, _Jump):
                delta = slot_of_item[self.labels[item.label]] - (slot_of_item[index] + 1)
                if item.form == "gotol":
                    item = Instruction.make("gotol", imm=delta)
                else:
                    item = Instruction.make(item.form, item.dst, item.src, off=delta,
                                            imm=item.imm)
            out.append(item)
        return out


def _mask(off: int, size: int) -> int:
    """The bits of stack bytes [off, off + size) (off is negative, from r10)."""
    return ((1 << size) - 1) << (off + STACK_SIZE)


# Bit i set for every stack byte i that starts an aligned access of the given size.
_ALIGNED = {size: sum(1 << i for i in range(0, STACK_SIZE, size)) for size in (1, 2, 4, 8)}


def _stored_offsets(init: int, size: int) -> list[int]:
    """Aligned offsets of every ``size``-byte access whose bytes are all in ``init``."""
    run = init  # bit i: bytes i .. i+width-1 are all stored, width doubling up to size
    width = 1
    while width < size:
        run &= run >> width
        width *= 2
    run &= _ALIGNED[size]
    offsets = []
    while run:
        low = run & -run
        offsets.append(low.bit_length() - 1 - STACK_SIZE)
        run ^= low
    return offsets


def generate(rng: Chooser, options: GenOptions | None = None, **overrides: Any) -> list[Instruction]:
    """One random program: a list of instructions ending in ``exit``.

    ``overrides`` are :class:`GenOptions` fields (``max_insns=20, atomics=False``, ...).
    """
    opts = replace(options or GenOptions(), **overrides)
    return _Generator(rng, opts).program()


class _Draws:
    """A Chooser backed by Hypothesis draws, so generated programs shrink."""

    def __init__(self, draw: Callable[[Any], Any]):
        from hypothesis import strategies as st

        self._draw = draw
        self._st = st

    def randint(self, a: int, b: int) -> int:
        return self._draw(self._st.integers(a, b))

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self._draw(self._st.integers(0, len(seq) - 1))]


def programs(options: GenOptions | None = None, **overrides: Any):  # -> SearchStrategy
    """A Hypothesis strategy of programs from :func:`generate`."""
    from hypothesis import strategies as st

    @st.composite
    def _programs(draw: Callable[[Any], Any]) -> list[Instruction]:
        return generate(_Draws(draw), options, **overrides)

    return _programs()


__all__ = ["EDGE_IMM", "EDGE_U64", "Chooser", "GenOptions", "generate", "programs"]
