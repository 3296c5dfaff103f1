"""Live comparisons with llvm-mc-19 and llvm-objdump-19 (skipped when they are absent).

A seeded random set of instructions goes both ways: pybpf's text through llvm-mc must give
pybpf's bytes, and pybpf's bytes through llvm-objdump must give pybpf's text.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pybpf.asm import llvm
from pybpf.isa import FORMS, Instruction, Kind, encode

TOOLS = ("llvm-mc-19", "llvm-objdump-19", "llvm-objcopy-19")
_missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"{', '.join(_missing)} not installed")

_OBJDUMP_LINE = re.compile(r"^\s*\d+:\t(.*?)(?: <[^<>]*>)?$")
# llvm-mc-19 has no spelling for these; llvm-objdump-19 prints them wrongly or not at all.
UNKNOWN_TO_LLVM19 = {f.name for f in FORMS if f.kind in (Kind.LOAD_ACQ, Kind.STORE_REL)} | {
    "call_kfunc"}


def _mc(tmp_path: Path, source: str) -> Path:
    src = tmp_path / "in.s"
    obj = tmp_path / "in.o"
    src.write_text(source)
    subprocess.run(["llvm-mc-19", "-triple", "bpf", "-mcpu=v4", "-filetype=obj", str(src),
                    "-o", str(obj)], check=True, capture_output=True, text=True)
    return obj


def _text_bytes(obj: Path) -> bytes:
    out = obj.with_suffix(".bin")
    subprocess.run(["llvm-objcopy-19", "-O", "binary", "--only-section=.text", str(obj),
                    str(out)], check=True)
    return out.read_bytes()


def _objdump(obj: Path) -> list[str]:
    res = subprocess.run(["llvm-objdump-19", "-d", "--mcpu=v4", "--no-show-raw-insn", str(obj)],
                         check=True, capture_output=True, text=True)
    return [m.group(1) for m in map(_OBJDUMP_LINE.match, res.stdout.splitlines()) if m]


def _random_insn(rng: random.Random, form, *, for_llvm_mc: bool) -> Instruction:
    ops = form.operands
    dst = 0 if form.kind in (Kind.LD_ABS, Kind.LD_IND) else rng.randint(0, 10)
    src = rng.randint(0, 10)
    off = rng.choice([0, -1, 1, 0x7FFF, -0x8000, rng.randint(-0x8000, 0x7FFF)])
    imm = rng.choice([0, -1, 1, 0x7FFFFFFF, -0x80000000, rng.randint(-(1 << 31), (1 << 31) - 1)])
    if form.kind is Kind.LDDW:
        imm = rng.choice([0, (1 << 64) - 1, 1 << 63, rng.randint(0, (1 << 64) - 1)])
        if form.src:
            imm &= 0xFFFFFFFF  # llvm's ld_pseudo has no upper half
    elif form.kind is Kind.LD_IND:
        imm = 0  # llvm's skb[rN] has no immediate
    elif form.kind is Kind.GOTOL and for_llvm_mc:
        imm = rng.randint(-0x8000, 0x7FFF)  # llvm-mc-19 takes 16 bits for gotol
    return Instruction.make(form.name, dst=dst if "dst" in ops else 0,
                            src=src if "src" in ops else None,
                            off=off if "off" in ops else None,
                            imm=imm if "imm" in ops else None)


def _sample(seed: int, count: int, *, for_llvm_mc: bool) -> list[Instruction]:
    rng = random.Random(seed)
    skip = set(UNKNOWN_TO_LLVM19)
    if for_llvm_mc:
        skip.add("call_local")  # pybpf's "call pc+N" is not LLVM syntax
    forms = [f for f in FORMS if f.name not in skip]
    insns = [_random_insn(rng, f, for_llvm_mc=for_llvm_mc) for f in forms]
    insns += [_random_insn(rng, rng.choice(forms), for_llvm_mc=for_llvm_mc)
              for _ in range(count - len(insns))]
    rng.shuffle(insns)
    return insns


def test_llvm_mc_assembles_our_text_to_our_bytes(tmp_path):
    insns = _sample(1, 3000, for_llvm_mc=True)
    text = "\n".join(llvm.disassemble(insns)) + "\n"
    assert _text_bytes(_mc(tmp_path, text)) == encode(insns)
    assert encode(llvm.assemble(text)) == encode(insns)


def test_llvm_objdump_prints_our_text_for_our_bytes(tmp_path):
    insns = _sample(2, 3000, for_llvm_mc=False)
    data = encode(insns)
    source = "".join(".byte " + ",".join(str(b) for b in data[i:i + 8]) + "\n"
                     for i in range(0, len(data), 8))
    expected = _objdump(_mc(tmp_path, source))
    ours = []
    for insn, text in zip(insns, llvm.disassemble(insns)):
        if insn.form.name == "call_local":  # objdump prints it like a helper call
            text = "call " + text[len("call pc"):].lstrip("+")
        ours.append(text)
    assert ours == expected


# Lines llvm-mc-19 accepts, in the spellings people write; pybpf must give the same bytes.
VARIANTS = """
r0 = 5
r0 = -5
r0 = - 5
r0 = 0xffffffff
w0 = 0x80000000
r0 = 0X1F
r0 = 017
r0 = 0b101
r0 = 0B11
r0 = 'a'
r0 = 5ll
r0 = 0x10UL
w3 = xchg32_32(r7 + 0x14efw3)
r0 = 1+2
r0 += 5 * 2
r0 = 2 * (1 + 2)
r0 = 1 << 4 | 1
r0 = 1 + ~1
r0 = -7 / 2
r0=*(u32*)(r1+4)
  r0  =  *  ( u32 * ) ( r1 + 4 )
\tr1\t+=\tr2
r1 + = r2
r1 s >>= 3
r1 s>>=3
if r1 > = r2 goto +1
if r1>r2 goto+1
goto 5
goto - 5
*(u64 *)(r10 8) = r1
r0 = *(u32 *)(r1 + 1 + 2)
r1 = *(u8 *)(r2 + 0)
*(u16 *)(r1 + 0) = r2
*(u32 *)(r1 + 0) = r2
lock *(u32 *)(r1 + 0) += r2
IF r1 > r2 goto +1
Exit
R0 = 1
W0 = 1
MAY_GOTO +1
Callx r1
LOCK *(u64 *)(r1 + 0) += r2
r0 = 1 # comment
r0 = 1 // comment
/* c */ r0 = 1
r0 = 1 /* d */
r0 = 1; r1 = 2 ;; exit
r1 = 5 ll
r1 = -1 ll
r1 = 0x8000000000000000 ll
r1 = 0xffffffffffffffff ll
ld_pseudo r1, 1, 5
ld_pseudo r1, 1, -1
ld_pseudo r1, 0, 5
r0 = *(u8 *)skb[-1]
r0 = *(u8 *)skb[0xffffffff]
r0 = *(u16 *)skb[r1]
call -1
call 0xffffffff
r1 = addr_space_cast(r2, 5, 7)
gotol -5
may_goto -1
w0 = (s8) w1
r0 = -0
1:
if r0 > 2 goto 1b
goto 1f
1: exit
lbl: r0 = 1
goto lbl
call lbl
a: b: r0 = 1
goto b
"""


def test_variants_give_llvm_bytes(tmp_path):
    assert _text_bytes(_mc(tmp_path, VARIANTS)) == encode(llvm.assemble(VARIANTS))


# Lines llvm-mc-19 rejects; pybpf rejects them too.
REJECTED = [
    "r0 = w1", "w0 = r1", "r0 = -r1", "w1 = -w2", "r0 = be16 r1", "w0 = be16 w0",
    "r0 = (s8) w1", "w0 = (s32)w1", "r0 = *(u8 *)skb[r1 + r2]", "r0 = *(u64 *)skb[5]",
    "w0 = *(s8 *)(r1 + 0)", "w0 = *(u64 *)(r1 + 0)", "*(u64 *)(r1 + 0) = w2",
    "lock *(u8 *)(r1 + 0) += r2", "lock *(u64 *)(r1 + 0) += w2", "lock *(u64 *)(r1 + 0) -= r2",
    "lock *(u32 *)(r1 + 0) &= r2", "r0 = atomic_fetch_add((u32 *)(r1 + 0), r0)",
    "w2 = atomic_fetch_add((u64 *)(r1 + 0), w2)", "r2 = xchg32_32(r1 + 0, r2)",
    "w2 = xchg_64(r1 + 0, w2)", "r0 = cmpxchg32_32(r1 + 0, r0, r2)",
    "r3 = cmpxchg_64(r1 + 0, r3, r2)", "w1 = 5 ll", "ld_pseudo w1, 1, 5",
    "w1 = addr_space_cast(w2, 0, 1)", "callx w3", "r0 = *(u64 *)(r1 + 0x8000)",
    "r0 = *(u64 *)(r1 + -8)", "r0 = *(u64 *)(r1)", "goto +0x8000", "r0 = (5)", "r0 = ~1",
    "r0 = 09", "r0 = 0x", "r0 = 1 ll ll", "r0 = 1 @ x", "r0 = 1 ; c", "r0 s<<= 1",
    "*(u8 *)(w1 + 0) = w2", "r0 = bswap16 w0", "if r1 == w1 goto +1",
]


@pytest.mark.parametrize("line", REJECTED)
def test_rejected_by_both(tmp_path, line):
    with pytest.raises(subprocess.CalledProcessError):
        _mc(tmp_path, line + "\n")
    with pytest.raises(Exception) as e:
        llvm.assemble(line)
    assert type(e.value).__name__ == "AsmError"
