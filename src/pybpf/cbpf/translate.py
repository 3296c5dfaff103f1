"""Classic BPF → eBPF, as the kernel converts a socket filter (``bpf_convert_filter``).

The result is an ordinary ``BPF_PROG_TYPE_SOCKET_FILTER`` program that the verifier
accepts: where the kernel's own conversion reads ``struct sk_buff`` directly or calls
internal helpers, this one reads the ``__sk_buff`` context and calls public helpers.

Registers, as in the kernel: A = r0, X = r7, the context r6 (``ld [k]`` / ``ld [x + k]``
become eBPF ``LD_ABS`` / ``LD_IND``, which read the skb through r6 and end the program
with 0 when the load does not fit, exactly as cBPF), r8 a temporary, and ``M[k]`` the
stack word at ``r10 - 4*(k+1)``. Every ALU operation is 32-bit, so A and X stay
zero-extended and 64-bit compares equal cBPF's 32-bit ones; a jump immediate with the
top bit set goes through r8 (eBPF sign-extends immediates). Conditional jumps become one
``jxx`` when a target is the next instruction (``jeq``/``jgt``/``jge`` with the true
target next are inverted to ``jne``/``jle``/``jlt``), else ``jxx`` then ``ja``.

Ancillary loads: PROTOCOL / VLAN_TPID read ``__sk_buff.protocol`` / ``vlan_proto`` and
swap them to host order; PKTTYPE, IFINDEX, MARK, QUEUE, RXHASH (``hash``), VLAN_TAG
(``vlan_tci``), VLAN_TAG_PRESENT read their ``__sk_buff`` fields; CPU and RANDOM call
``bpf_get_smp_processor_id`` / ``bpf_get_prandom_u32``; ALU_XOR_X is ``A ^= X``.
HATYPE (the device type), PAY_OFFSET (the flow dissector) and NLATTR/NLATTR_NEST (netlink
attribute walks) have no equivalent a loaded program can use: :class:`BpfError`.
"""

from __future__ import annotations

from typing import Sequence

from pybpf.cbpf.check import check
from pybpf.cbpf.insn import (
    A, ABS, ALU, B, BPF_CLASS, BPF_MODE, BPF_OP, BPF_SIZE, BPF_SRC, DIV, H, IMM, IND, JA,
    JEQ, JGE, JGT, JMP, JSET, K, LD, LDX, LEN, MEM, MISC, MOD, MSH, NEG, RET, SKF_AD_ALU_XOR_X,
    SKF_AD_CPU, SKF_AD_HATYPE, SKF_AD_IFINDEX, SKF_AD_MARK, SKF_AD_NLATTR, SKF_AD_NLATTR_NEST,
    SKF_AD_PAY_OFFSET, SKF_AD_PKTTYPE, SKF_AD_PROTOCOL, SKF_AD_QUEUE, SKF_AD_RANDOM,
    SKF_AD_RXHASH, SKF_AD_VLAN_TAG, SKF_AD_VLAN_TAG_PRESENT, SKF_AD_VLAN_TPID, ST, STX, TAX,
    TXA, W, X, CInsn, ancillary_offset, as_program, is_conditional_jump,
)
from pybpf.errors import BpfError
from pybpf.isa import Instruction
from pybpf.isa.uapi import HelperId

R_A, R_X, R_CTX, R_TMP, R_FP = 0, 7, 6, 8, 10
_SKB = {"len": 0, "pkt_type": 4, "mark": 8, "queue_mapping": 12, "protocol": 16,
        "vlan_present": 20, "vlan_tci": 24, "vlan_proto": 28, "ifindex": 40, "hash": 68}
_ALU_NAMES = {0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and",
              0x60: "lsh", 0x70: "rsh", 0x90: "mod", 0xA0: "xor"}
_JMP_NAMES = {JEQ: "jeq", JGT: "jgt", JGE: "jge", JSET: "jset"}
_INVERTED = {JEQ: "jne", JGT: "jle", JGE: "jlt"}
_BITS = {W: 32, H: 16, B: 8}
_FIELD_LOADS = {SKF_AD_PKTTYPE: "pkt_type", SKF_AD_IFINDEX: "ifindex", SKF_AD_MARK: "mark",
                SKF_AD_QUEUE: "queue_mapping", SKF_AD_RXHASH: "hash",
                SKF_AD_VLAN_TAG: "vlan_tci", SKF_AD_VLAN_TAG_PRESENT: "vlan_present"}
_UNSUPPORTED = {SKF_AD_HATYPE: "SKF_AD_HATYPE (the device type)",
                SKF_AD_PAY_OFFSET: "SKF_AD_PAY_OFFSET (the flow dissector's payload offset)",
                SKF_AD_NLATTR: "SKF_AD_NLATTR (a netlink attribute search)",
                SKF_AD_NLATTR_NEST: "SKF_AD_NLATTR_NEST (a nested netlink attribute search)"}


def _s32(k: int) -> int:
    k &= 0xFFFFFFFF
    return k - (1 << 32) if k & 0x80000000 else k


def _make(name: str, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Instruction:
    return Instruction.make(name, dst, src, off, imm)


def _ld_ctx(dst: int, field: str) -> Instruction:
    return _make("ldx32", dst, R_CTX, _SKB[field])


def _scratch(k: int) -> int:
    return -4 * (k + 1)


def _straight(insn: CInsn, pc: int) -> list[Instruction]:
    """The eBPF of one non-jump instruction."""
    code, k = insn.code, insn.k & 0xFFFFFFFF
    cls, mode = BPF_CLASS(code), BPF_MODE(code)
    if cls == LD and mode == ABS:
        anc = ancillary_offset(k)
        if anc is None:
            return [_make(f"ldabs{_BITS[BPF_SIZE(code)]}", imm=_s32(k))]
        return _ancillary(anc, pc)
    if cls == LD and mode == IND:
        return [_make(f"ldind{_BITS[BPF_SIZE(code)]}", src=R_X, imm=_s32(k))]
    if code == LDX | B | MSH:
        # X = 4 * (pkt[k] & 0xf); LD_ABS writes r0, so A waits in r8 (the kernel parks it in X).
        return [_make("mov64_reg", R_TMP, R_A), _make("ldabs8", imm=_s32(k)),
                _make("and32_imm", R_A, imm=0xF), _make("lsh32_imm", R_A, imm=2),
                _make("mov64_reg", R_X, R_A), _make("mov64_reg", R_A, R_TMP)]
    if code in (LD | IMM, LDX | IMM):
        return [_make("mov32_imm", R_A if cls == LD else R_X, imm=_s32(k))]
    if code in (LD | W | LEN, LDX | W | LEN):
        return [_ld_ctx(R_A if cls == LD else R_X, "len")]
    if code in (LD | MEM, LDX | MEM):
        return [_make("ldx32", R_A if cls == LD else R_X, R_FP, _scratch(k))]
    if code in (ST, STX):
        return [_make("stx32", R_FP, R_A if cls == ST else R_X, _scratch(k))]
    if code == MISC | TAX:
        return [_make("mov64_reg", R_X, R_A)]
    if code == MISC | TXA:
        return [_make("mov64_reg", R_A, R_X)]
    if code == ALU | NEG:
        return [_make("neg32", R_A)]
    if cls == ALU:
        op, name = BPF_OP(code), _ALU_NAMES[BPF_OP(code)]
        if BPF_SRC(code) == K:
            return [_make(f"{name}32_imm", R_A, imm=_s32(k))]
        guard = []
        if op in (DIV, MOD):        # cBPF: division by X = 0 ends the filter with 0
            guard = [_make("jne_imm", R_X, off=2, imm=0), _make("mov32_imm", R_A, imm=0),
                     _make("exit")]
        return guard + [_make(f"{name}32_reg", R_A, R_X)]
    if code == RET | K:
        return [_make("mov32_imm", R_A, imm=_s32(k)), _make("exit")]
    if code == RET | A:
        return [_make("exit")]
    raise BpfError(f"instruction {pc}: opcode {code:#x} cannot be translated")  # pragma: no cover


def _ancillary(anc: int, pc: int) -> list[Instruction]:
    if anc in _UNSUPPORTED:
        raise BpfError(f"instruction {pc}: {_UNSUPPORTED[anc]} has no eBPF equivalent for a "
                       f"loaded socket filter")
    if anc in (SKF_AD_PROTOCOL, SKF_AD_VLAN_TPID):
        field = "protocol" if anc == SKF_AD_PROTOCOL else "vlan_proto"
        return [_ld_ctx(R_A, field), _make("be16", R_A)]
    if anc in _FIELD_LOADS:
        return [_ld_ctx(R_A, _FIELD_LOADS[anc])]
    if anc == SKF_AD_CPU:
        return [_make("call", imm=HelperId.get_smp_processor_id)]
    if anc == SKF_AD_RANDOM:
        return [_make("call", imm=HelperId.get_prandom_u32)]
    if anc == SKF_AD_ALU_XOR_X:
        return [_make("xor32_reg", R_A, R_X)]
    raise BpfError(f"instruction {pc}: unknown ancillary load {anc}")  # pragma: no cover


def _jump_shape(insn: CInsn) -> tuple[list[Instruction], list[tuple[str, int | None]]]:
    """A conditional jump's prefix (r8 = k) and its jumps as (form name, target or None)."""
    code, k = insn.code, insn.k & 0xFFFFFFFF
    op = BPF_OP(code)
    prefix: list[Instruction] = []
    kind = "reg" if BPF_SRC(code) == X else "imm"
    if kind == "imm" and k & 0x80000000:
        prefix = [_make("mov32_imm", R_TMP, imm=_s32(k))]
        kind = "reg"
    if insn.jf == 0:
        return prefix, [(f"{_JMP_NAMES[op]}_{kind}", insn.jt)]
    if insn.jt == 0 and op in _INVERTED:
        return prefix, [(f"{_INVERTED[op]}_{kind}", insn.jf)]
    return prefix, [(f"{_JMP_NAMES[op]}_{kind}", insn.jt), ("ja", insn.jf)]


def _reachable(insns: list[CInsn]) -> list[int]:
    """The instructions some path from the first reaches, in order: the verifier refuses
    unreachable code, which a classic filter may have (the kernel's own conversion is never
    verified), so it is left out."""
    seen, todo = {0}, [0]
    while todo:
        pc = todo.pop()
        insn = insns[pc]
        if insn.code == JMP | JA:
            nxt = [pc + 1 + insn.k]
        elif is_conditional_jump(insn.code):
            nxt = [pc + 1 + insn.jt, pc + 1 + insn.jf]
        elif BPF_CLASS(insn.code) == RET:
            nxt = []
        else:
            nxt = [pc + 1]
        for t in nxt:
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return sorted(seen)


def to_ebpf(program: Sequence[CInsn] | bytes) -> list[Instruction]:
    """The eBPF socket filter equivalent to ``program`` (checked first, as the kernel does)."""
    insns = as_program(program)
    check(insns)
    prologue = [_make("mov32_imm", R_A), _make("mov32_imm", R_X), _make("mov64_reg", R_CTX, 1)]
    live = _reachable(insns)
    bodies: dict[int, list[Instruction]] = {}
    shapes: dict[int, tuple[list[Instruction], list[tuple[str, int | None]]]] = {}
    for pc in live:
        insn = insns[pc]
        if insn.code == JMP | JA:
            shapes[pc] = ([], [("ja", insn.k)])
        elif is_conditional_jump(insn.code):
            shapes[pc] = _jump_shape(insn)
        else:
            bodies[pc] = _straight(insn, pc)
    # Addresses: each translation's size is known before any offset is.
    start: dict[int, int] = {}
    addr = len(prologue)
    for pc in live:
        start[pc] = addr
        addr += len(shapes[pc][0]) + len(shapes[pc][1]) if pc in shapes else len(bodies[pc])
    out = list(prologue)
    for pc in live:
        insn = insns[pc]
        if pc not in shapes:
            out.extend(bodies[pc])
            continue
        prefix, jumps = shapes[pc]
        out.extend(prefix)
        for name, rel in jumps:
            target = start[pc + 1 + rel]
            off = target - (len(out) + 1)
            if not -(1 << 15) <= off < (1 << 15):
                raise BpfError(f"instruction {pc}: jump offset {off} does not fit in 16 bits")
            if name == "ja":
                out.append(_make("ja", off=off))
            else:
                src = R_X if BPF_SRC(insn.code) == X else R_TMP
                if name.endswith("_imm"):
                    out.append(_make(name, R_A, off=off, imm=_s32(insn.k)))
                else:
                    out.append(_make(name, R_A, src, off=off))
    return out


__all__ = ["to_ebpf"]
