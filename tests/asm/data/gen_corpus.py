"""Write corpus.s: every BPF instruction llvm-mc-19 accepts, with varied operands and syntax.

Deterministic (fixed seed) and independent of pybpf.asm: the spellings are written out
here, so the reference bytes and objdump text made from corpus.s by LLVM (see README.md)
check pybpf's assembler and disassembler rather than agree with them by construction.

    python tests/asm/data/gen_corpus.py > tests/asm/data/corpus.s
"""

from __future__ import annotations

import random

rng = random.Random(19)

ALU = {"add": "+=", "sub": "-=", "mul": "*=", "div": "/=", "or": "|=", "and": "&=",
       "lsh": "<<=", "rsh": ">>=", "mod": "%=", "xor": "^=", "mov": "=", "arsh": "s>>=",
       "sdiv": "s/=", "smod": "s%="}
JMP = ["==", ">", ">=", "&", "!=", "s>", "s>=", "<", "<=", "s<", "s<="]
IMM32_EDGES = [0, 1, -1, 0x7FFFFFFF, -0x80000000, 0xFFFFFFFF, 0x80000000, 0x7FFF, -0x8000, 0xFF,
               -0x100, 42, 1000000]
IMM64_EDGES = [0, 1, -1, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF,
               -0x8000000000000000, 0x100000000, 0xFFFFFFFF, 0x123456789ABCDEF0, -0x123456789]
OFF_EDGES = [0, 1, -1, 0x7FFF, -0x8000, 8, -8, 16, -512, 0x1000]
SIZES = ["u8", "u16", "u32", "u64"]


def num(v: int) -> str:
    """A number as decimal or hex, either sign."""
    style = rng.random()
    if style < 0.45:
        return str(v)
    text = f"{abs(v):#x}" if style < 0.9 else f"{abs(v):#X}".replace("0X", "0x")
    return ("-" if v < 0 else "") + text


def imm32() -> int:
    return rng.choice(IMM32_EDGES) if rng.random() < 0.5 else rng.randint(-(1 << 31), (1 << 31) - 1)


def imm64() -> int:
    return rng.choice(IMM64_EDGES) if rng.random() < 0.5 else rng.randint(0, (1 << 64) - 1)


def off16() -> int:
    return rng.choice(OFF_EDGES) if rng.random() < 0.5 else rng.randint(-(1 << 15), (1 << 15) - 1)


def reg(prefix: str = "r") -> str:
    return f"{prefix}{rng.randint(0, 10)}"


def mem(base: str | None = None) -> str:
    off = off16()
    sign = "-" if off < 0 else "+"
    return f"{base or reg()} {sign} {num(abs(off))}"


def jmp_target() -> str:
    v = off16()
    return ("+" if v >= 0 else "-") + num(abs(v))


def squeeze(line: str) -> str:
    """Occasionally vary the whitespace the way llvm-mc still accepts."""
    r = rng.random()
    if r < 0.08:
        return line.replace(" = ", "=").replace(" + ", "+").replace(" - ", "-")
    if r < 0.16:
        return "\t" + line.replace(" ", "  ")
    return line


def lines() -> list[str]:
    out: list[str] = []
    add = out.append

    # ALU, 32 and 64 bit, register and immediate, several times each.
    for _ in range(2):
        for width in ("w", "r"):
            for op, sym in ALU.items():
                add(f"{reg(width)} {sym} {reg(width)}")
                add(f"{reg(width)} {sym} {num(imm32())}")
    for width in ("w", "r"):
        for _ in range(3):
            d = reg(width)
            add(f"{d} = -{d}")
    for bits in (8, 16):
        for _ in range(2):
            add(f"{reg('w')} = (s{bits}){reg('w')}")
    for bits in (8, 16, 32):
        for _ in range(2):
            add(f"{reg()} = (s{bits}){reg()}")
    for kind in ("le", "be", "bswap"):
        for bits in (16, 32, 64):
            d = reg()
            add(f"{d} = {kind}{bits} {d}")
    for a, b in ((0, 1), (1, 0), (0, 0), (0xFFFF, 0x1234), (5, 7)):
        add(f"{reg()} = addr_space_cast({reg()}, {num(a)}, {num(b)})")

    # Conditional jumps with numeric offsets.
    for width in ("r", "w"):
        for op in JMP:
            for _ in range(3):
                add(f"if {reg(width)} {op} {reg(width)} goto {jmp_target()}")
                add(f"if {reg(width)} {op} {num(imm32())} goto {jmp_target()}")
    for v in (0, 1, -1, 0x7FFF, -0x8000, 100, -100):
        add(f"goto {'+' if v >= 0 else '-'}{num(abs(v))}")
        add(f"gotol {'+' if v >= 0 else '-'}{num(abs(v))}")
        add(f"may_goto {'+' if v >= 0 else '-'}{num(abs(v))}")
    for v in (0, 1, 12, 0x7FFFFFFF, -1, 0xFFFFFFFF, 195, 1000):
        add(f"call {num(v)}")
    for _ in range(3):
        add(f"callx {reg()}")
    add("exit")

    # 64-bit immediates and the other lddw forms.
    for v in IMM64_EDGES:
        add(f"{reg()} = {num(v)} ll")
    for _ in range(6):
        add(f"{reg()} = {num(imm64())} ll")
    for src in range(1, 7):
        for v in (0, 1, 0xFFFFFFFF, rng.randint(0, 0xFFFFFFFF)):
            add(f"ld_pseudo {reg()}, {src}, {num(v)}")

    # Legacy packet access.
    for size in SIZES[:3]:
        for v in (0, 14, -1, 0x7FFFFFFF, -0x80000000):
            add(f"r0 = *({size} *)skb[{num(v)}]")
        for _ in range(2):
            add(f"r0 = *({size} *)skb[{reg()}]")

    # Loads, sign-extending loads, stores.
    for _ in range(5):
        for size in SIZES:
            dst = reg("r" if size == "u64" or rng.random() < 0.3 else "w")
            add(f"{dst} = *({size} *)({mem()})")
            add(f"*({size} *)({mem()}) = {num(imm32())}")
            src = reg("r" if size == "u64" or rng.random() < 0.3 else "w")
            add(f"*({size} *)({mem()}) = {src}")
        for size in ("s8", "s16", "s32"):
            add(f"{reg()} = *({size} *)({mem()})")

    # Atomics.
    for _ in range(2):
        for width, size in (("w", "u32"), ("r", "u64")):
            for sym in ("+=", "|=", "&=", "^="):
                add(f"lock *({size} *)({mem()}) {sym} {reg(width)}")
            for op in ("add", "or", "and", "xor"):
                r = reg(width)
                add(f"{r} = atomic_fetch_{op}(({size} *)({mem()}), {r})")
            r = reg(width)
            xchg = "xchg32_32" if width == "w" else "xchg_64"
            add(f"{r} = {xchg}({mem()}, {r})")
            cmpx = "cmpxchg32_32" if width == "w" else "cmpxchg_64"
            add(f"{width}0 = {cmpx}({mem()}, {width}0, {reg(width)})")
        add(f"lock *(u32 *)({mem()}) += {reg('r')}")  # legacy XADDW spelling

    return out


def main() -> None:
    body = lines()
    rng.shuffle(body)
    print("# Generated by gen_corpus.py: every BPF instruction llvm-mc-19 -mcpu=v4 accepts.")
    print("# Reference bytes and disassembly come from LLVM; see README.md.")
    print("start:")
    labels = ["start"]
    # llvm-mc-19 takes a block comment before an instruction but not after a register
    # operand, so block comments go first.
    comments = ["  # note", "  // note", "", "", "", "", "", ""]
    i = 0
    n = 0
    while i < len(body):
        # Every so often: a label, a jump or local call to one, or two statements on a line.
        r = rng.random()
        if r < 0.04:
            name = f"L{n}" if rng.random() < 0.5 else f".Ltmp{n}"
            n += 1
            labels.append(name)
            print(f"{name}:")
        elif r < 0.10:
            target = rng.choice(labels + ["fwd_end"])
            kind = rng.choice(["goto", "gotol", "if r1 > r2 goto", "if w3 s< -5 goto", "may_goto"])
            print(f"  {kind} {target}")
        elif r < 0.12:
            print(f"  call {rng.choice(['func_a', 'func_b'])}")
        elif r < 0.15 and i + 1 < len(body):
            print(f"  {body[i]}; {body[i + 1]}")
            i += 2
            continue
        lead = "/* note */ " if rng.random() < 0.03 else ""
        print(f"  {lead}{squeeze(body[i])}{rng.choice(comments)}")
        i += 1
    print("fwd_end:")
    print("  exit")
    print("func_a:")
    print("  r0 = 0")
    print("  exit")
    print("func_b:")
    print("  r0 = 1")
    print("  call func_a")
    print("  exit")


if __name__ == "__main__":
    main()
