"""The seccomp filter builder: actions, argument comparisons, the cBPF it emits and running it.

The reference for every generated program is ``Filter.decide`` (the rules evaluated in
Python, first match wins); the kernel (test_seccomp_install) and libseccomp
(test_seccomp_libseccomp) check the same programs from outside.
"""

from __future__ import annotations

import errno
import random
import struct

import pytest

from pybpf.cbpf import insn as I
from pybpf.cbpf.insn import CInsn, jump, stmt
from pybpf.cbpf.seccomp import (AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64,
                                X32_SYSCALL_BIT, Action, Arg, Comparison, Filter, check_seccomp,
                                run_filter, seccomp_data)
from pybpf.errors import BpfDecodeError, BpfValueError

M64 = (1 << 64) - 1


# -- actions --------------------------------------------------------------------------------

@pytest.mark.parametrize("action,value,text", [
    (Action.ALLOW, 0x7FFF0000, "Action.ALLOW"), (Action.KILL_PROCESS, 0x80000000, "Action.KILL_PROCESS"),
    (Action.KILL_THREAD, 0, "Action.KILL_THREAD"), (Action.TRAP, 0x00030000, "Action.TRAP"),
    (Action.LOG, 0x7FFC0000, "Action.LOG"), (Action.USER_NOTIF, 0x7FC00000, "Action.USER_NOTIF"),
    (Action.ERRNO(13), 0x0005000D, "Action.ERRNO(13)"), (Action.TRACE(7), 0x7FF00007, "Action.TRACE(7)"),
    (Action(0x12340000), 0x12340000, "Action(0x12340000)"),
])
def test_action_values(action, value, text):
    assert int(action) == action.value == value
    assert repr(action) == text
    assert Action(value) == action and hash(Action(value)) == hash(action)


def test_action_limits():
    assert Action.ERRNO(4095).data == 4095 and Action.TRACE(0xFFFF).data == 0xFFFF
    for bad in (lambda: Action.ERRNO(4096), lambda: Action.ERRNO(-1), lambda: Action.TRACE(1 << 16),
                lambda: Action(1 << 32), lambda: Filter(default=0x7FFF0000)):
        with pytest.raises(BpfValueError):
            bad()
    assert Action(0x12340000).kind == "UNKNOWN" and Action.ERRNO(1).kind == "ERRNO"


# -- comparisons ----------------------------------------------------------------------------

def test_comparisons_build_and_mean_what_they_say():
    assert (Arg(1) & 0o3 == 0o1) == Comparison(1, "==", 1, 3)
    assert (3 == Arg(0)) == Comparison(0, "==", 3, M64)          # reflected
    assert (5 < Arg(2)) == Comparison(2, ">", 5, M64)
    assert (Arg(0) == -1).value == M64                            # two's complement
    assert (Arg(0, bits=32) == -1) == Comparison(0, "==", 0xFFFFFFFF, 0xFFFFFFFF, 32)
    assert (Arg(0) & 0xF0 & 0x3C == 0x30).mask == 0x30
    c = Arg(0, bits=32) == 1
    assert c.matches([0xDEAD_BEEF_0000_0001]) and not (Arg(0) == 1).matches([0xDEAD_BEEF_0000_0001])
    assert repr(Arg(1) & 3 != 1) == "Arg(1) & 0x3 != 0x1"


def test_bad_comparisons():
    for bad in (lambda: Arg(6), lambda: Arg(-1), lambda: Arg(0, bits=16), lambda: Arg(0) == 1 << 64,
                lambda: Arg(0, bits=32) == 1 << 32, lambda: Arg(0) == "x", lambda: Arg(0) == True,
                lambda: (Arg(0) & 0xF0) == 0x1FF, lambda: (Arg(0) & 0xF0) != 0x100):
        with pytest.raises(BpfValueError):
            bad()
    with pytest.raises(BpfValueError, match="not an argument comparison"):
        Filter().allow("read", True)
    with pytest.raises(BpfValueError, match="not a system call"):
        Filter().allow(True)
    with pytest.raises(TypeError):
        hash(Arg(0))


# -- decisions ------------------------------------------------------------------------------

def test_rules_in_order_first_match_wins():
    f = (Filter(default=Action.KILL_PROCESS, arch="x86_64")
         .deny("openat", Arg(2) & 0o3 == 0o1, errno=errno.EROFS)
         .allow("openat")
         .deny("openat", errno=errno.EPERM)          # unreachable
         .allow(["read", "write"]).allow(0x3C))      # a raw number: exit
    assert f.evaluate("openat", (0, 0, 0o101)) == Action.ERRNO(errno.EROFS)
    assert f.evaluate("openat", (0, 0, 0o100)) == Action.ALLOW
    assert f.evaluate("read") == f.evaluate("write") == f.evaluate("exit") == Action.ALLOW
    assert f.evaluate("close") == Action.KILL_PROCESS
    assert [r.name for r in f.rules] == ["openat", "openat", "openat", "read", "write", "exit"]
    assert Action.ERRNO(errno.EPERM).value not in {i.k for i in f.to_cbpf()}


def test_arch_checks():
    f = Filter(default=Action.ALLOW, arch="x86_64", bad_arch=Action.KILL_THREAD).deny("read")
    assert f.evaluate("read") == Action.ERRNO(errno.EPERM)
    assert f.evaluate("read", arch="aarch64") == Action.KILL_THREAD
    assert f.evaluate(3, arch=AUDIT_ARCH_I386) == Action.KILL_THREAD
    assert f.evaluate(X32_SYSCALL_BIT | 0) == Action.KILL_THREAD          # x32 read
    assert f.evaluate(0x80000000) == Action.KILL_THREAD
    assert f.evaluate(-1) == Action.ALLOW                                 # a tracer's skip
    g = Filter(default=Action.ALLOW, arch="aarch64", bad_arch=Action.TRAP).deny("read")
    assert g.evaluate("read") == Action.ERRNO(errno.EPERM)                # read is 63 there
    assert g.evaluate(63, arch=AUDIT_ARCH_AARCH64) == Action.ERRNO(errno.EPERM)
    assert g.evaluate(0, arch=AUDIT_ARCH_X86_64) == Action.TRAP
    assert g.evaluate(X32_SYSCALL_BIT | 63) == Action.ALLOW               # no x32 on arm64
    assert [i.code for i in g.to_cbpf()].count(I.JMP | I.JGE | I.K) == 0


def _random_filter(rng: random.Random, arch: str, rules: int) -> Filter:
    actions = [Action.ALLOW, Action.KILL_PROCESS, Action.ERRNO(1), Action.ERRNO(2), Action.LOG,
               Action.TRACE(3), Action.TRAP]
    f = Filter(default=rng.choice(actions), arch=arch, bad_arch=rng.choice(actions))
    nrs = [rng.randrange(10) for _ in range(3)]
    for _ in range(rules):
        cmps = []
        for _ in range(rng.choice([0, 1, 2, 3, 4])):        # the same argument may repeat
            a = Arg(rng.randrange(3), bits=rng.choice([32, 64, 64]))
            if rng.random() < 0.3:
                a = a & (rng.choice([0xFF, 0xFFFF_0000_0000_FFFF, rng.randrange(1 << 64)]) & a.mask)
            v = rng.choice([0, 1, 0xFFFFFFFF, 1 << 32, M64, rng.randrange(1 << 64)]) & a.mask
            op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
            if op in ("==", "!="):
                v &= a.mask
            cmps.append({"==": a == v, "!=": a != v, "<": a < v, "<=": a <= v, ">": a > v,
                         ">=": a >= v}[op])
        f.add_rule(rng.choice(actions), rng.choice(nrs), *cmps)
    return f


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_cbpf_matches_the_rules(arch):
    rng = random.Random(arch)
    checked = 0
    for _ in range(150):
        f = _random_filter(rng, arch, rng.randint(1, 12))
        check_seccomp(f.to_cbpf())
        consts = [c.value for r in f.rules for c in r.comparisons] or [0]
        for _ in range(60):
            nr = rng.choice([r.nr for r in f.rules] + [rng.randrange(12)])
            args = tuple((rng.choice(consts) + rng.choice([0, 0, 1, -1, 1 << 32, -(1 << 32)])) & M64
                         if rng.random() < 0.7 else rng.randrange(1 << 64) for _ in range(6))
            assert f.evaluate(nr, args) == f.decide(nr, args), (f.rules, nr, args)
            checked += 1
    assert checked == 150 * 60


def test_far_jumps_go_through_trampolines():
    """Hundreds of rules on one call put the 'next call' target beyond a jf's 255 reach."""
    f = Filter(default=Action.ALLOW, arch="x86_64")
    for i in range(120):
        f.add_rule(Action.ERRNO(i + 1), "ioctl", Arg(1) == 0x5400 + i, Arg(2) > i << 32)
    f.deny("close", Arg(0) == 7)
    prog = f.to_cbpf()
    check_seccomp(prog)
    assert any(i.code == I.JMP | I.JA for i in prog)
    assert f.evaluate("close", (7,)) == Action.ERRNO(1)
    assert f.evaluate("close", (8,)) == Action.ALLOW
    assert f.evaluate("ioctl", (0, 0x5400 + 99, (99 << 32) + 1)) == Action.ERRNO(100)
    assert f.evaluate("ioctl", (0, 0x5400 + 99, 99 << 32)) == Action.ALLOW
    assert f.evaluate("read", arch="aarch64") == Action.KILL_PROCESS


def test_too_many_instructions():
    f = Filter(default=Action.ALLOW, arch="x86_64")
    for i in range(600):
        f.add_rule(Action.ERRNO(1), "ioctl", Arg(1) == i, Arg(2) == i)
    with pytest.raises(BpfValueError, match="at most 4096"):
        f.to_cbpf()


def test_export_forms():
    f = Filter(default=Action.ALLOW, arch="x86_64").deny("read")
    prog = f.to_cbpf()
    assert bytes(f) == f.to_bytes() == I.encode(prog)
    assert prog[:2] == [stmt(I.LD | I.W | I.ABS, 4), jump(I.JMP | I.JEQ | I.K, AUDIT_ARCH_X86_64, 0, prog[1].jf)]
    assert prog[-1] == stmt(I.RET | I.K, Action.KILL_PROCESS.value)       # bad_arch
    prog.append(CInsn(0))                        # the filter keeps its own copy
    assert f.to_cbpf()[-1] != CInsn(0)
    f.allow("write")                             # and rebuilds it after a change
    assert f.evaluate("write") == Action.ALLOW


# -- seccomp_data and run_filter --------------------------------------------------------------

def test_seccomp_data_layout():
    data = seccomp_data(-1, AUDIT_ARCH_X86_64, (1, M64, 1 << 32), instruction_pointer=0x401000)
    assert len(data) == 64
    assert struct.unpack("<iIQ6Q", data) == (-1, AUDIT_ARCH_X86_64, 0x401000, 1, M64, 1 << 32, 0, 0, 0)
    assert seccomp_data(0xFFFFFFFF, 0, ()) == seccomp_data(-1, 0, ())
    with pytest.raises(BpfValueError):
        seccomp_data(0, 0, (0,) * 7)


def test_run_filter_hand_written():
    """X, scratch memory, ld #len and word loads in host order."""
    prog = [stmt(I.LD | I.W | I.ABS, 16), stmt(I.ST, 3), stmt(I.LD | I.W | I.LEN),
            stmt(I.MISC | I.TAX), stmt(I.LD | I.MEM, 3), stmt(I.ALU | I.ADD | I.X),
            stmt(I.ALU | I.LSH | I.K, 4), stmt(I.RET | I.A)]
    assert run_filter(prog, seccomp_data(0, 0, (0x0102_0304_0000_0005,))) == (5 + 64) << 4
    assert run_filter(I.encode(prog), seccomp_data(0, 0, (1,))) == 65 << 4
    with pytest.raises(BpfValueError):
        run_filter(prog, b"\0" * 63)


@pytest.mark.parametrize("bad,where", [
    ([stmt(I.LD | I.W | I.ABS, 64), stmt(I.RET | I.A)], 0),          # past seccomp_data
    ([stmt(I.LD | I.W | I.ABS, 2), stmt(I.RET | I.A)], 0),           # unaligned
    ([stmt(I.LD | I.H | I.ABS, 0), stmt(I.RET | I.A)], 0),           # half-word load
    ([stmt(I.LD | I.W | I.IND, 0), stmt(I.RET | I.A)], 0),           # packet-relative
    ([stmt(I.LD | I.IMM, 1), stmt(I.ALU | I.MOD | I.K, 3), stmt(I.RET | I.A)], 1),  # no mod
    ([stmt(I.LDX | I.B | I.MSH, 0), stmt(I.RET | I.A)], 0),
    ([stmt(I.LD | I.IMM, 1)], 0),                                     # no final ret
])
def test_check_seccomp_refuses(bad, where):
    with pytest.raises(BpfDecodeError) as info:
        check_seccomp(bad)
    assert info.value.index is not None
    with pytest.raises(ValueError):
        run_filter(bad, seccomp_data(0, 0))


def test_assembler_reaches_far_true_and_false_targets():
    from pybpf.cbpf.seccomp_codegen import _assemble, _Jmp, _Label

    pad = [stmt(I.LD | I.IMM, 0)] * 270
    t, f = _Label(), _Label()
    ret_t, ret_f = [t, stmt(I.RET | I.K, 2)], [f, stmt(I.RET | I.K, 3)]
    for body in ([*pad, *ret_t, *pad, *ret_f],          # both far
                 [*ret_f, *pad, *ret_t],                # only the true target far
                 [*ret_t, *pad, *ret_f]):               # only the false target far
        prog = _assemble([stmt(I.LD | I.W | I.ABS, 16), _Jmp(I.JEQ, 7, t, f), *body])
        check_seccomp(prog)
        assert max(max(i.jt, i.jf) for i in prog) <= 255
        assert run_filter(prog, seccomp_data(0, 0, (7,))) == 2
        assert run_filter(prog, seccomp_data(0, 0, (8,))) == 3
