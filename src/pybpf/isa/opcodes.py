"""The eBPF instruction set, written down once.

Every valid instruction form of RFC 9669 and of the Linux kernel is one row of
:data:`FORMS`. A row says which opcode byte it has, which other fields tell it apart
from its siblings (the offset of ``sdiv``, the immediate of an atomic, the ``src_reg``
of ``lddw`` and ``call``), which fields are operands, and what the instruction means
(``kind`` and ``op``). The decoder, encoder, assemblers, disassemblers, interpreter and
verifier all read this table; none of them keeps its own list of opcodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pybpf.isa.uapi import (
    BPF_PSEUDO_BTF_ID, BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE,
)

# Instruction classes (low 3 bits of the opcode).
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)

# Load/store size (bits 3-4) and mode (bits 5-7).
SIZE_W, SIZE_H, SIZE_B, SIZE_DW = 0x00, 0x08, 0x10, 0x18
MODE_IMM, MODE_ABS, MODE_IND, MODE_MEM, MODE_MEMSX, MODE_ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0
SIZE_BYTES = {SIZE_W: 4, SIZE_H: 2, SIZE_B: 1, SIZE_DW: 8}
SIZE_OF_BYTES = {v: k for k, v in SIZE_BYTES.items()}

# Source operand (bit 3) of ALU and JMP classes.
SRC_K, SRC_X = 0x00, 0x08

# ALU operations (bits 4-7).
ALU_OPS = {
    "add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "or": 0x40, "and": 0x50,
    "lsh": 0x60, "rsh": 0x70, "neg": 0x80, "mod": 0x90, "xor": 0xA0, "mov": 0xB0,
    "arsh": 0xC0, "end": 0xD0,
}
# Jump operations (bits 4-7).
JMP_OPS = {
    "ja": 0x00, "jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40, "jne": 0x50,
    "jsgt": 0x60, "jsge": 0x70, "call": 0x80, "exit": 0x90, "jlt": 0xA0, "jle": 0xB0,
    "jslt": 0xC0, "jsle": 0xD0, "jcond": 0xE0,
}
CONDITIONAL_JUMPS = ("jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "jlt", "jle", "jslt", "jsle")

# Atomic operations: the immediate of BPF_STX | BPF_ATOMIC.
ATOMIC_FETCH = 0x01
ATOMIC_OPS = {"add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xA0}
ATOMIC_XCHG = 0xE0 | ATOMIC_FETCH
ATOMIC_CMPXCHG = 0xF0 | ATOMIC_FETCH
ATOMIC_LOAD_ACQ = 0x100
ATOMIC_STORE_REL = 0x110

# src_reg values of lddw (BPF_LD | BPF_IMM | BPF_DW), as the kernel's uapi defines them.
PSEUDO_NONE = 0
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_BTF_ID = BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_BTF_ID
PSEUDO_FUNC, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE = BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE
LDDW_SRC_NAMES = {
    PSEUDO_NONE: "imm64", PSEUDO_MAP_FD: "map_fd", PSEUDO_MAP_VALUE: "map_value",
    PSEUDO_BTF_ID: "btf_id", PSEUDO_FUNC: "func", PSEUDO_MAP_IDX: "map_idx",
    PSEUDO_MAP_IDX_VALUE: "map_idx_value",
}
# src_reg values of call.
CALL_HELPER, CALL_LOCAL, CALL_KFUNC = 0, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL
# The offset of BPF_ALU64 | BPF_MOV | BPF_X that marks addr_space_cast.
ADDR_SPACE_CAST = 1
# The src_reg of BPF_JMP | BPF_JCOND that marks may_goto.
MAY_GOTO = 0

OPCODE_LDDW = LD | MODE_IMM | SIZE_DW
OPCODE_CALL = JMP | JMP_OPS["call"] | SRC_K
OPCODE_CALLX = JMP | JMP_OPS["call"] | SRC_X
OPCODE_EXIT = JMP | JMP_OPS["exit"]
OPCODE_JA = JMP | JMP_OPS["ja"]


class Kind(Enum):
    """What an instruction does, in the terms the interpreter and printers need."""

    ALU = "alu"              # dst = dst OP src|imm
    NEG = "neg"              # dst = -dst
    MOVSX = "movsx"          # dst = (sN) src
    ADDR_SPACE_CAST = "addr_space_cast"
    END = "end"              # byte order conversion: op is "le", "be" or "bswap"
    JUMP = "jump"            # conditional jump on dst OP src|imm
    JA = "ja"                # goto +off
    GOTOL = "gotol"          # goto +imm
    MAY_GOTO = "may_goto"
    CALL = "call"            # helper, local or kfunc call (op says which)
    CALLX = "callx"          # call through the dst register
    EXIT = "exit"
    LDDW = "lddw"            # 64-bit immediate load (op names the src_reg form)
    LD_ABS = "ld_abs"        # legacy packet load at imm
    LD_IND = "ld_ind"        # legacy packet load at src + imm
    LOAD = "load"            # dst = *(uN *)(src + off)
    LOADSX = "loadsx"        # dst = *(sN *)(src + off)
    STORE_IMM = "store_imm"  # *(uN *)(dst + off) = imm
    STORE = "store"          # *(uN *)(dst + off) = src
    ATOMIC = "atomic"        # lock *(uN *)(dst + off) OP= src (op says which; fetch flag)
    LOAD_ACQ = "load_acquire"
    STORE_REL = "store_release"


@dataclass(frozen=True)
class Form:
    """One valid instruction form: an opcode byte plus whatever else tells it apart.

    ``off``, ``imm`` and ``src`` are the fixed values of discriminating fields (``None``:
    the field is an operand or unused). ``operands`` names the fields the instruction
    reads; every field that is neither fixed nor an operand must be zero.
    """

    name: str
    opcode: int
    kind: Kind
    op: str
    group: str
    width: int = 64                  # ALU/JMP operand width, or access size in bytes * 8
    operands: frozenset[str] = frozenset()
    off: int | None = None
    imm: int | None = None
    src: int | None = None
    fetch: bool = False

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    @property
    def source_is_reg(self) -> bool:
        return bool(self.opcode & SRC_X) and self.cls in (ALU, ALU64, JMP, JMP32)

    @property
    def size(self) -> int:
        """Access size in bytes of a memory instruction."""
        return self.width // 8

    @property
    def slots(self) -> int:
        """How many 8-byte slots the instruction occupies."""
        return 2 if self.kind is Kind.LDDW else 1


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


def _build() -> list[Form]:
    forms: list[Form] = []
    add = forms.append

    # ALU and ALU64.
    for cls, width in ((ALU, 32), (ALU64, 64)):
        sfx = "32" if width == 32 else "64"
        for op in ("add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "mod", "xor", "mov", "arsh"):
            if op in ("mul", "div", "mod"):
                group = f"divmul{width}"
            else:
                group = f"base{width}"
            add(Form(f"{op}{sfx}_imm", cls | ALU_OPS[op] | SRC_K, Kind.ALU, op, group, width,
                     _ops("dst", "imm"), off=0))
            add(Form(f"{op}{sfx}_reg", cls | ALU_OPS[op] | SRC_X, Kind.ALU, op, group, width,
                     _ops("dst", "src"), off=0))
        for op, base in (("sdiv", "div"), ("smod", "mod")):
            group = f"divmul{width}"
            add(Form(f"{op}{sfx}_imm", cls | ALU_OPS[base] | SRC_K, Kind.ALU, op, group, width,
                     _ops("dst", "imm"), off=1))
            add(Form(f"{op}{sfx}_reg", cls | ALU_OPS[base] | SRC_X, Kind.ALU, op, group, width,
                     _ops("dst", "src"), off=1))
        add(Form(f"neg{sfx}", cls | ALU_OPS["neg"] | SRC_K, Kind.NEG, "neg", f"base{width}", width,
                 _ops("dst")))
        for bits in ((8, 16) if width == 32 else (8, 16, 32)):
            add(Form(f"movsx{sfx}_{bits}", cls | ALU_OPS["mov"] | SRC_X, Kind.MOVSX, "movsx",
                     f"base{width}", width, _ops("dst", "src"), off=bits))
    add(Form("addr_space_cast", ALU64 | ALU_OPS["mov"] | SRC_X, Kind.ADDR_SPACE_CAST,
             "addr_space_cast", "arena", 64, _ops("dst", "src", "imm"), off=ADDR_SPACE_CAST))

    # Byte order: ALU|END|K = to little endian, ALU|END|X = to big endian, ALU64|END|K = bswap.
    for bits in (16, 32, 64):
        add(Form(f"le{bits}", ALU | ALU_OPS["end"] | SRC_K, Kind.END, "le", "base32", bits,
                 _ops("dst"), imm=bits))
        add(Form(f"be{bits}", ALU | ALU_OPS["end"] | SRC_X, Kind.END, "be", "base32", bits,
                 _ops("dst"), imm=bits))
        add(Form(f"bswap{bits}", ALU64 | ALU_OPS["end"] | SRC_K, Kind.END, "bswap", "base32", bits,
                 _ops("dst"), imm=bits))

    # Jumps.
    for cls, width in ((JMP, 64), (JMP32, 32)):
        sfx = "" if width == 64 else "32"
        group = "base64" if width == 64 else "base32"
        for op in CONDITIONAL_JUMPS:
            add(Form(f"{op}{sfx}_imm", cls | JMP_OPS[op] | SRC_K, Kind.JUMP, op, group, width,
                     _ops("dst", "imm", "off")))
            add(Form(f"{op}{sfx}_reg", cls | JMP_OPS[op] | SRC_X, Kind.JUMP, op, group, width,
                     _ops("dst", "src", "off")))
    add(Form("ja", OPCODE_JA, Kind.JA, "ja", "base32", 64, _ops("off")))
    add(Form("gotol", JMP32 | JMP_OPS["ja"], Kind.GOTOL, "ja", "base32", 32, _ops("imm")))
    add(Form("may_goto", JMP | JMP_OPS["jcond"], Kind.MAY_GOTO, "may_goto", "base32", 64,
             _ops("off"), src=MAY_GOTO))
    add(Form("call", OPCODE_CALL, Kind.CALL, "helper", "base32", 64, _ops("imm"), src=CALL_HELPER))
    add(Form("call_local", OPCODE_CALL, Kind.CALL, "local", "base32", 64, _ops("imm"), src=CALL_LOCAL))
    # A kfunc call's offset selects the module BTF (an fd_array index); 0 is vmlinux.
    add(Form("call_kfunc", OPCODE_CALL, Kind.CALL, "kfunc", "base32", 64, _ops("imm", "off"),
             src=CALL_KFUNC))
    add(Form("callx", OPCODE_CALLX, Kind.CALLX, "callx", "callx", 64, _ops("dst")))
    add(Form("exit", OPCODE_EXIT, Kind.EXIT, "exit", "base32"))

    # 64-bit immediate loads, one form per src_reg the kernel defines.
    for src, what in LDDW_SRC_NAMES.items():
        name = "lddw" if src == PSEUDO_NONE else f"lddw_{what}"
        add(Form(name, OPCODE_LDDW, Kind.LDDW, what, "base64", 64, _ops("dst", "imm"), src=src))

    # Legacy packet access.
    for size in (SIZE_W, SIZE_H, SIZE_B):
        bits = SIZE_BYTES[size] * 8
        add(Form(f"ldabs{bits}", LD | MODE_ABS | size, Kind.LD_ABS, "ld_abs", "packet", bits,
                 _ops("imm")))
        add(Form(f"ldind{bits}", LD | MODE_IND | size, Kind.LD_IND, "ld_ind", "packet", bits,
                 _ops("src", "imm")))

    # Loads and stores.
    for size, nbytes in SIZE_BYTES.items():
        bits = nbytes * 8
        group = "base64" if nbytes == 8 else "base32"
        add(Form(f"ldx{bits}", LDX | MODE_MEM | size, Kind.LOAD, "load", group, bits,
                 _ops("dst", "src", "off")))
        if nbytes != 8:
            add(Form(f"ldxs{bits}", LDX | MODE_MEMSX | size, Kind.LOADSX, "loadsx", group, bits,
                     _ops("dst", "src", "off")))
        add(Form(f"st{bits}", ST | MODE_MEM | size, Kind.STORE_IMM, "store_imm", group, bits,
                 _ops("dst", "off", "imm")))
        add(Form(f"stx{bits}", STX | MODE_MEM | size, Kind.STORE, "store", group, bits,
                 _ops("dst", "src", "off")))
        # Load-acquire and store-release exist for every size.
        add(Form(f"load_acquire{bits}", STX | MODE_ATOMIC | size, Kind.LOAD_ACQ, "load_acquire",
                 f"atomic{max(bits, 32)}", bits, _ops("dst", "src", "off"), imm=ATOMIC_LOAD_ACQ))
        add(Form(f"store_release{bits}", STX | MODE_ATOMIC | size, Kind.STORE_REL, "store_release",
                 f"atomic{max(bits, 32)}", bits, _ops("dst", "src", "off"), imm=ATOMIC_STORE_REL))

    # Read-modify-write atomics, 32 and 64 bit.
    for size, bits in ((SIZE_W, 32), (SIZE_DW, 64)):
        opcode = STX | MODE_ATOMIC | size
        group = f"atomic{bits}"
        for op, code in ATOMIC_OPS.items():
            add(Form(f"atomic{bits}_{op}", opcode, Kind.ATOMIC, op, group, bits,
                     _ops("dst", "src", "off"), imm=code))
            add(Form(f"atomic{bits}_fetch_{op}", opcode, Kind.ATOMIC, op, group, bits,
                     _ops("dst", "src", "off"), imm=code | ATOMIC_FETCH, fetch=True))
        add(Form(f"atomic{bits}_xchg", opcode, Kind.ATOMIC, "xchg", group, bits,
                 _ops("dst", "src", "off"), imm=ATOMIC_XCHG, fetch=True))
        add(Form(f"atomic{bits}_cmpxchg", opcode, Kind.ATOMIC, "cmpxchg", group, bits,
                 _ops("dst", "src", "off"), imm=ATOMIC_CMPXCHG, fetch=True))
    return forms


FORMS: tuple[Form, ...] = tuple(_build())
FORMS_BY_NAME: dict[str, Form] = {f.name: f for f in FORMS}
FORMS_BY_OPCODE: dict[int, tuple[Form, ...]] = {}
for _form in FORMS:
    FORMS_BY_OPCODE[_form.opcode] = FORMS_BY_OPCODE.get(_form.opcode, ()) + (_form,)
del _form

CONFORMANCE_GROUPS = ("base32", "base64", "atomic32", "atomic64", "divmul32", "divmul64",
                      "packet", "callx")


def form_for(opcode: int, src: int, off: int, imm: int) -> Form | None:
    """The form an encoded instruction has, or None when no form matches its fields."""
    for form in FORMS_BY_OPCODE.get(opcode, ()):
        if form.off is not None and form.off != off:
            continue
        if form.imm is not None and form.imm != imm:
            continue
        if form.src is not None and form.src != src:
            continue
        return form
    return None
