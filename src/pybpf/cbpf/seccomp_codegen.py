"""Code generation for :mod:`pybpf.cbpf.seccomp`: a Filter's rules as classic BPF.

The arch check comes first (with x32's syscall bit refused on x86_64, as libseccomp
does), then per syscall its rules in order, each argument comparison on the two 32-bit
halves of the argument; jumps beyond 255 instructions go through ``ja`` trampolines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pybpf.cbpf import insn as I
from pybpf.cbpf.insn import CInsn, jump, stmt
from pybpf.cbpf.seccomp import OFF_ARCH, OFF_ARGS, OFF_NR, X32_SYSCALL_BIT, Comparison, Rule
from pybpf.errors import BpfValueError

if TYPE_CHECKING:
    from pybpf.cbpf.seccomp import Filter

# -- code generation ----------------------------------------------------------------------
# Jumps name labels; _assemble resolves them and turns a conditional jump whose target is
# more than 255 instructions away into a near one through ``ja`` (32-bit offset) trampolines.

@dataclass
class _Jmp:
    op: int                 # JEQ, JGT, JGE, JSET (with K), or JA
    k: int = 0
    jt: object = None       # a label, or None: the next instruction
    jf: object = None


class _Label:
    pass


def _assemble(items: list) -> list[CInsn]:
    while True:
        pos, n = {}, 0
        for item in items:
            if isinstance(item, _Label):
                pos[item] = n
            else:
                n += 1
        out: list[CInsn] = []
        for i, item in enumerate(items):
            if isinstance(item, _Label):
                continue
            if not isinstance(item, _Jmp):
                out.append(item)
                continue
            here = len(out) + 1
            jt = pos[item.jt] - here if item.jt is not None else 0
            jf = pos[item.jf] - here if item.jf is not None else 0
            if item.op == I.JA:
                out.append(stmt(I.JMP | I.JA, jt))
            elif jt <= 255 and jf <= 255:
                out.append(jump(I.JMP | item.op | I.K, item.k, jt, jf))
            else:
                far, after = _Label(), _Label()
                items[i:i + 1] = [_Jmp(item.op, item.k, None, far), _Jmp(I.JA, 0, item.jt or after),
                                  far, _Jmp(I.JA, 0, item.jf or after), after]
                break
        else:
            return out


def _load(offset: int, mask: int) -> list:
    code = [stmt(I.LD | I.W | I.ABS, offset)]
    if mask != 0xFFFFFFFF:
        code.append(stmt(I.ALU | I.AND | I.K, mask))
    return code


def _comparison(c: Comparison, fail: _Label) -> list:
    """Code that falls through when ``c`` holds and jumps to ``fail`` when it does not.

    A 64-bit value is decided by its high word unless the high words are equal; then the low
    words decide, compared unsigned like the whole values."""
    ok = _Label()
    lo_off, hi_off = OFF_ARGS + 8 * c.index, OFF_ARGS + 8 * c.index + 4   # little-endian
    vl, vh = c.value & 0xFFFFFFFF, c.value >> 32
    ml, mh = c.mask & 0xFFFFFFFF, c.mask >> 32
    lo_test = {"==": _Jmp(I.JEQ, vl, None, fail), "!=": _Jmp(I.JEQ, vl, fail, None),
               ">": _Jmp(I.JGT, vl, None, fail), ">=": _Jmp(I.JGE, vl, None, fail),
               "<": _Jmp(I.JGE, vl, fail, None), "<=": _Jmp(I.JGT, vl, fail, None)}[c.op]
    code: list = []
    if c.bits == 64 and mh == 0 and vh != 0:       # the high word is 0, so it decides alone
        return [_Jmp(I.JA, 0, fail)] if c.op in ("==", ">", ">=") else []
    if c.bits == 64 and mh != 0:
        code += _load(hi_off, mh)
        if c.op == "==":
            code.append(_Jmp(I.JEQ, vh, None, fail))
        elif c.op == "!=":
            code.append(_Jmp(I.JEQ, vh, None, ok))
        elif c.op in (">", ">="):
            code += [_Jmp(I.JGT, vh, ok, None), _Jmp(I.JEQ, vh, None, fail)]
        else:
            code += [_Jmp(I.JGT, vh, fail, None), _Jmp(I.JEQ, vh, None, ok)]
    code += _load(lo_off, ml)
    code += [lo_test, ok]
    return code


def compile_rules(f: "Filter") -> list[CInsn]:
    bad_arch = _Label()
    ret = lambda action: stmt(I.RET | I.K, action.value)   # noqa: E731
    code: list = [stmt(I.LD | I.W | I.ABS, OFF_ARCH), _Jmp(I.JEQ, f.audit_arch, None, bad_arch),
                  stmt(I.LD | I.W | I.ABS, OFF_NR)]
    if f.arch == "x86_64":     # x32 calls share the arch; -1 (a tracer's "skip") goes on
        dispatch = _Label()
        code += [_Jmp(I.JGE, X32_SYSCALL_BIT, None, dispatch),
                 _Jmp(I.JEQ, 0xFFFFFFFF, None, bad_arch), dispatch]
    groups: dict[int, list[Rule]] = {}
    for rule in f.rules:
        groups.setdefault(rule.nr, []).append(rule)
    for nr, rules in groups.items():
        if f.arch == "x86_64" and X32_SYSCALL_BIT <= nr != 0xFFFFFFFF:
            continue                           # never reached: such calls get bad_arch
        next_syscall = _Label()
        code.append(_Jmp(I.JEQ, nr, None, next_syscall))
        for rule in rules:
            next_rule = _Label()
            for c in rule.comparisons:
                code += _comparison(c, next_rule)
            code += [ret(rule.action), next_rule]
            if not rule.comparisons:
                break                          # later rules for this call are unreachable
        else:
            code.append(ret(f.default))
        code.append(next_syscall)              # A still holds nr: rule blocks end in ret
    code += [ret(f.default), bad_arch, ret(f.bad_arch)]
    program = _assemble(code)
    if len(program) > I.MAXINSNS:
        raise BpfValueError(f"the filter needs {len(program)} instructions; the kernel "
                            f"accepts at most {I.MAXINSNS}")
    return program
