"""The kernel's checks of a classic socket filter, before it ever runs.

``check(program)`` refuses what ``SO_ATTACH_FILTER`` refuses with EINVAL
(``bpf_check_basics_ok``, ``bpf_check_classic`` and ``check_load_and_stores`` in
net/core/filter.c), naming the first offending instruction. The rules, in the kernel's
order:

* 1 to BPF_MAXINSNS (4096) instructions;
* every opcode in the socket-filter table (no ``ldx [k]``, no ``ret x``, no ``ld`` with an
  odd size or mode);
* ``div``/``mod`` by the constant 0, ``lsh``/``rsh`` by a constant >= 32, scratch cells
  ``M[k]`` with k >= 16, a ``ja`` that leaves the program (jumps are unsigned: always
  forward), conditional targets past the end;
* an absolute load at an offset in the ancillary area (``k >= SKF_AD_OFF`` unsigned) that
  is not a known ancillary field;
* the last instruction is a ``ret``;
* no scratch cell is read before it is written on every path that reaches the read. The
  kernel's analysis is one linear pass (a jump's targets get the cells known written at
  the jump; after a ``ret`` the known set carries on to the next instruction), and so is
  this one, so both accept and refuse the same programs.
"""

from __future__ import annotations

from typing import Sequence

from pybpf.cbpf.insn import (
    ABS, ALU, DIV, JA, JMP, LD, LD_MEM, LDX_MEM, LSH, MAXINSNS, MEMWORDS, MOD, RET_A, RET_K,
    RSH, SKF_AD_OFF, SOCKET_FILTER_CODES, ST, STX, CInsn, K, ancillary_offset, as_program,
    BPF_CLASS, BPF_MODE, is_conditional_jump,
)
from pybpf.errors import BpfDecodeError

_MEM_CODES = (LD_MEM, LDX_MEM, ST, STX)


def check(program: Sequence[CInsn] | bytes) -> None:
    """Raise :class:`BpfDecodeError` (reason, instruction index) where the kernel says EINVAL."""
    insns = as_program(program)
    n = len(insns)
    if n == 0:
        raise BpfDecodeError("empty program", 0)
    if n > MAXINSNS:
        raise BpfDecodeError(f"{n} instructions: more than BPF_MAXINSNS ({MAXINSNS})", MAXINSNS)
    for pc, insn in enumerate(insns):
        _check_one(insn, pc, n)
    if insns[-1].code not in (RET_K, RET_A):
        raise BpfDecodeError("the last instruction is not a ret", n - 1)
    check_load_and_stores(insns)


def _check_one(insn: CInsn, pc: int, n: int) -> None:
    code, k = insn.code, insn.k & 0xFFFFFFFF
    if code not in SOCKET_FILTER_CODES:
        raise BpfDecodeError(f"opcode {code:#x} is not allowed in a socket filter", pc)
    if code in (ALU | DIV | K, ALU | MOD | K) and k == 0:
        raise BpfDecodeError("division by the constant 0", pc)
    if code in (ALU | LSH | K, ALU | RSH | K) and k >= 32:
        raise BpfDecodeError(f"shift by the constant {k} (>= 32)", pc)
    if code in _MEM_CODES and k >= MEMWORDS:
        raise BpfDecodeError(f"scratch cell M[{k}] does not exist (BPF_MEMWORDS is {MEMWORDS})",
                             pc)
    if code == JMP | JA and k >= n - pc - 1:
        raise BpfDecodeError(f"ja +{k} jumps past the end of the program", pc)
    if is_conditional_jump(code) and (pc + insn.jt + 1 >= n or pc + insn.jf + 1 >= n):
        raise BpfDecodeError(f"jump target (jt {insn.jt}, jf {insn.jf}) past the end of the "
                             f"program", pc)
    if BPF_CLASS(code) == LD and BPF_MODE(code) == ABS and k >= (SKF_AD_OFF & 0xFFFFFFFF) \
            and ancillary_offset(k) is None:
        raise BpfDecodeError(f"unknown ancillary load at SKF_AD_OFF+{k - (SKF_AD_OFF & 0xFFFFFFFF)}",
                             pc)


def check_load_and_stores(program: Sequence[CInsn]) -> None:
    """The kernel's scratch-memory rule: ``ld M[k]``/``ldx M[k]`` only after ``M[k]`` was
    written on every path reaching it (assumes the structural checks passed)."""
    n = len(program)
    masks = [0xFFFF] * n
    valid = 0
    for pc, insn in enumerate(program):
        valid &= masks[pc]
        code = insn.code
        if code in (ST, STX):
            valid |= 1 << insn.k
        elif code in (LD_MEM, LDX_MEM):
            if not valid & (1 << insn.k):
                raise BpfDecodeError(f"M[{insn.k}] may be read before it is written", pc)
        elif code == JMP | JA:
            masks[pc + 1 + insn.k] &= valid
            valid = 0xFFFF
        elif is_conditional_jump(code):
            masks[pc + 1 + insn.jt] &= valid
            masks[pc + 1 + insn.jf] &= valid
            valid = 0xFFFF


def is_valid(program: Sequence[CInsn] | bytes) -> bool:
    """Whether the kernel would accept ``program`` as a socket filter."""
    try:
        check(program)
    except BpfDecodeError:
        return False
    return True


__all__ = ["check", "check_load_and_stores", "is_valid"]
