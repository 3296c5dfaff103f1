"""A classic filter as an eBPF program for XDP or tc, with direct packet access.

The kernel translates cBPF for sockets with LD_ABS/LD_IND, which XDP refuses; here every
packet load becomes a bounds check against ``data_end`` and a plain load, so the result
passes the verifier at any hook. The verdict follows the hook: a filter's non-zero return
(its snapshot length) becomes XDP_PASS or TC_ACT_OK, zero XDP_DROP or TC_ACT_SHOT, and a
load past the packet ends in the drop verdict as classic BPF returns 0.

Registers: A in w6, X in w7, data in r8, data_end in r9, M[i] at r10 - 4*(i+1).
"""

from __future__ import annotations

from typing import Sequence

from pybpf.cbpf import insn as C
from pybpf.cbpf.insn import CInsn
from pybpf.errors import BpfError
from pybpf.isa import Instruction
from pybpf.isa.instruction import to_signed
from pybpf.isa.uapi import HelperId

I = Instruction.make
HOOKS = ("xdp", "tc")
VERDICTS = {"xdp": (1, 2), "tc": (2, 0)}          # (drop, accept): XDP_DROP/PASS, SHOT/OK
_CTX_DATA = {"xdp": (0, 4), "tc": (76, 80)}        # offsets of data, data_end in the ctx
MAX_OFFSET = 0xFFFF                                 # bound on A/X-relative packet offsets
_ALU = {C.ADD: "add", C.SUB: "sub", C.MUL: "mul", C.DIV: "div", C.MOD: "mod", C.OR: "or",
        C.AND: "and", C.LSH: "lsh", C.RSH: "rsh", C.XOR: "xor"}
_JMP = {C.JEQ: "jeq", C.JGT: "jgt", C.JGE: "jge", C.JSET: "jset"}
_SIZES = {C.W: (4, "ldx32", "be32"), C.H: (2, "ldx16", "be16"), C.B: (1, "ldx8", None)}
# Linux ancillary loads (SKF_AD_OFF + n) each hook can express: a context field at an
# offset (byte-swapped where the kernel gives the value in host order), or a helper.
_SKB_FIELDS = {0: (16, "be16"), 4: (4, None), 8: (40, None), 20: (8, None), 24: (12, None),
               32: (68, None), 44: (24, None), 48: (20, None), 60: (28, "be16")}
_ANCILLARY = {
    "tc": {**{n: ("ctx", off, swap) for n, (off, swap) in _SKB_FIELDS.items()},
           36: ("helper", HelperId.get_smp_processor_id, None),
           40: ("xor", 0, None), 56: ("helper", HelperId.get_prandom_u32, None)},
    "xdp": {8: ("ctx", 12, None), 24: ("ctx", 16, None),
            36: ("helper", HelperId.get_smp_processor_id, None), 40: ("xor", 0, None),
            56: ("helper", HelperId.get_prandom_u32, None)},
}
_ANCILLARY_NAMES = {0: "protocol", 4: "pkttype", 8: "ifindex", 12: "nlattr", 16: "nlattr_nest",
                    20: "mark", 24: "queue", 28: "hatype", 32: "rxhash", 36: "cpu",
                    40: "alu_xor_x", 44: "vlan_tag", 48: "vlan_tag_present",
                    52: "pay_offset", 56: "random", 60: "vlan_tpid"}


class _Jump:
    """A jump whose target is a cBPF index or a verdict label, resolved at the end."""

    __slots__ = ("form", "dst", "src", "imm", "target")

    def __init__(self, form: str, target: object, dst: int = 0, src: int | None = None,
                 imm: int | None = None):
        self.form, self.target, self.dst, self.src, self.imm = form, target, dst, src, imm


def to_hook(program: Sequence[CInsn], hook: str) -> list[Instruction]:
    """``program`` (a checked classic filter) as eBPF for ``hook`` ("xdp" or "tc")."""
    if hook not in HOOKS:
        raise BpfError(f"cannot emit a filter for hook {hook!r}: choose one of "
                       f"{', '.join(HOOKS)} (sockets take the kernel's own translation)")
    drop, accept = VERDICTS[hook]
    data_off, end_off = _CTX_DATA[hook]
    out: list[Instruction | _Jump] = [
        I("ldx32", dst=8, src=1, off=data_off),
        I("ldx32", dst=9, src=1, off=end_off),
    ]
    if any(_reads_ctx(insn) for insn in program):
        out.append(I("stx64", dst=10, src=1, off=-72))    # ctx saved below M[] for later
    out += [I("mov32_imm", dst=6, imm=0), I("mov32_imm", dst=7, imm=0)]
    starts: list[int] = []
    for index, insn in enumerate(program):
        starts.append(len(out))
        out += _one(insn, index, hook, drop, accept)
    labels = {"drop": len(out)}
    out += [I("mov64_imm", dst=0, imm=drop), I("exit")]
    labels["accept"] = len(out)
    out += [I("mov64_imm", dst=0, imm=accept), I("exit")]
    return _resolve(out, starts, labels)


def _reads_ctx(insn: CInsn) -> bool:
    mode = C.BPF_MODE(insn.code)
    return C.BPF_CLASS(insn.code) in (C.LD, C.LDX) and (
        mode == C.LEN or (mode == C.ABS and to_signed(insn.k, 32) < 0))


__all__ = ["HOOKS", "VERDICTS", "to_hook"]


def _one(insn: CInsn, index: int, hook: str, drop: int, accept: int
         ) -> list[Instruction | _Jump]:
    code, k = insn.code, insn.k
    cls = C.BPF_CLASS(code)
    where = f"instruction {index}"
    if cls == C.RET:
        if C.BPF_RVAL(code) == C.A:
            return [_Jump("jeq32_imm", "drop", dst=6, imm=0), _Jump("ja", "accept")]
        return [_Jump("ja", "accept" if k else "drop")]
    if cls in (C.LD, C.LDX):
        dst = 6 if cls == C.LD else 7
        mode = C.BPF_MODE(code)
        if mode == C.IMM:
            return [I("mov32_imm", dst=dst, imm=to_signed(k, 32))]
        if mode == C.MEM:
            return [I("ldx32", dst=dst, src=10, off=-4 * (k + 1))]
        if mode == C.LEN:
            return _length(dst, hook)
        if mode == C.MSH and cls == C.LDX:
            return _load_abs(1, k, 7, hook, where) + [
                I("and32_imm", dst=7, imm=0xF), I("lsh32_imm", dst=7, imm=2)]
        if mode == C.ABS:
            return _load_abs(_SIZES[C.BPF_SIZE(code)][0], k, dst, hook, where)
        if mode == C.IND:
            return _load_ind(_SIZES[C.BPF_SIZE(code)][0], k, dst)
        raise BpfError(f"{where}: load mode {mode:#x} is not a classic BPF load")
    if cls in (C.ST, C.STX):
        return [I("stx32", dst=10, src=6 if cls == C.ST else 7, off=-4 * (k + 1))]
    if cls == C.ALU:
        return _alu(code, k, where)
    if cls == C.JMP:
        return _jmp(code, k, index, insn.jt, insn.jf)
    if cls == C.MISC:
        if C.BPF_MISCOP(code) == C.TAX:
            return [I("mov32_reg", dst=7, src=6)]
        return [I("mov32_reg", dst=6, src=7)]
    raise BpfError(f"{where}: unknown class {cls}")


def _length(dst: int, hook: str) -> list[Instruction]:
    if hook == "tc":                                  # skb->len: the whole packet
        return [I("ldx64", dst=1, src=10, off=-72), I("ldx32", dst=dst, src=1, off=0)]
    return [I("mov64_reg", dst=dst, src=9), I("sub64_reg", dst=dst, src=8),
            I("mov32_reg", dst=dst, src=dst)]


def _load_abs(size: int, k: int, dst: int, hook: str, where: str) -> list[Instruction | _Jump]:
    offset = to_signed(k, 32)
    if offset < 0:
        return _ancillary(offset, dst, hook, where)
    if offset + size > MAX_OFFSET + 1:
        return [_Jump("ja", "drop")]
    return [I("mov64_reg", dst=1, src=8), I("add64_imm", dst=1, imm=offset),
            *_checked_load(size, dst)]


def _load_ind(size: int, k: int, dst: int) -> list[Instruction | _Jump]:
    # X + k as classic BPF computes it (32 bits), bounded so the verifier can follow it.
    return [I("mov32_reg", dst=1, src=7), I("add32_imm", dst=1, imm=to_signed(k, 32)),
            _Jump("jgt32_imm", "drop", dst=1, imm=MAX_OFFSET),
            I("add64_reg", dst=1, src=8), *_checked_load(size, dst)]


def _checked_load(size: int, dst: int) -> list[Instruction | _Jump]:
    """r1 points into the packet: check r1 + size <= data_end, load, make it big-endian."""
    _, load, swap = {1: _SIZES[C.B], 2: _SIZES[C.H], 4: _SIZES[C.W]}[size]
    code: list[Instruction | _Jump] = [
        I("mov64_reg", dst=2, src=1), I("add64_imm", dst=2, imm=size),
        _Jump("jgt_reg", "drop", dst=2, src=9), I(load, dst=dst, src=1, off=0)]
    if swap:
        code.append(I(swap, dst=dst))
    return code


def _ancillary(offset: int, dst: int, hook: str, where: str) -> list[Instruction]:
    if offset < C.SKF_AD_OFF or offset >= C.SKF_AD_OFF + 0x100:
        raise BpfError(f"{where}: negative offset {offset} (SKF_NET_OFF/SKF_LL_OFF loads) "
                       f"cannot be expressed at the {hook} hook")
    field = offset - C.SKF_AD_OFF
    how = _ANCILLARY[hook].get(field)
    if how is None:
        name = _ANCILLARY_NAMES.get(field, f"#{field}")
        raise BpfError(f"{where}: the Linux ancillary load {name} (SKF_AD_OFF + {field}) "
                       f"cannot be expressed at the {hook} hook")
    kind, value, swap = how
    if kind == "xor":                                 # SKF_AD_ALU_XOR_X: A ^= X
        return [I("xor32_reg", dst=6, src=7)]
    if kind == "ctx":
        code = [I("ldx64", dst=1, src=10, off=-72), I("ldx32", dst=dst, src=1, off=value)]
        return code + ([I(swap, dst=dst)] if swap else [])
    return [I("call", imm=int(value)), I("mov32_reg", dst=dst, src=0)]


def _alu(code: int, k: int, where: str) -> list[Instruction | _Jump]:
    op = C.BPF_OP(code)
    if op == C.NEG:
        return [I("neg32", dst=6)]
    name = _ALU.get(op)
    if name is None:
        raise BpfError(f"{where}: unknown ALU operation {op:#x}")
    if C.BPF_SRC(code) == C.X:
        guard: list[Instruction | _Jump] = []
        if op in (C.DIV, C.MOD):                      # classic BPF: division by X = 0 drops
            guard = [_Jump("jeq32_imm", "drop", dst=7, imm=0)]
        return guard + [I(f"{name}32_reg", dst=6, src=7)]
    if op in (C.DIV, C.MOD) and k == 0:
        raise BpfError(f"{where}: division by constant zero")
    return [I(f"{name}32_imm", dst=6, imm=to_signed(k, 32))]


def _jmp(code: int, k: int, index: int, jt: int, jf: int) -> list[Instruction | _Jump]:
    op = C.BPF_OP(code)
    if op == C.JA:
        return [_Jump("ja", index + 1 + k)]
    name = _JMP[op]
    taken, fall = index + 1 + jt, index + 1 + jf
    if C.BPF_SRC(code) == C.X:
        first = _Jump(f"{name}32_reg", taken, dst=6, src=7)
    else:
        first = _Jump(f"{name}32_imm", taken, dst=6, imm=to_signed(k, 32))
    return [first] if fall == index + 1 else [first, _Jump("ja", fall)]


def _resolve(code: list[Instruction | _Jump], starts: list[int],
             labels: dict[str, int]) -> list[Instruction]:
    """Jumps to their eBPF offsets (every instruction here is one slot)."""
    out: list[Instruction] = []
    for pos, item in enumerate(code):
        if isinstance(item, Instruction):
            out.append(item)
            continue
        target = labels[item.target] if isinstance(item.target, str) else \
            starts[item.target] if item.target < len(starts) else labels["drop"]
        off = target - pos - 1
        if item.form == "ja":
            out.append(I("ja", off=off))
        elif item.src is not None:
            out.append(I(item.form, dst=item.dst, src=item.src, off=off))
        else:
            out.append(I(item.form, dst=item.dst, imm=item.imm, off=off))
    return out
