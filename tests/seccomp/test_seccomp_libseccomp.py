"""pybpf's seccomp programs decide like libseccomp's on the same rules.

Rule sets are generated at random (seeded); each is exported by libseccomp (``seccomp_export_bpf``)
and by pybpf, and both programs run on the same ``struct seccomp_data`` samples with pybpf's
evaluator. Instruction equality is not required, only equal decisions.

pybpf tries a system call's rules in order; libseccomp has no order. A sample that matches
rules with different actions is ambiguous: it is checked only against pybpf's own first-match
reference (``Filter.decide``), and counted.
"""

from __future__ import annotations

import random

import pytest

from pybpf.cbpf.seccomp import (AUDIT_ARCH_I386, ARCHES, X32_SYSCALL_BIT, Action, Arg, Filter,
                                run_filter, seccomp_data)
from pybpf.cbpf.seccomp_tables import AARCH64

seccomp_support = pytest.importorskip("seccomp_support")
try:
    ORACLE = seccomp_support.LibSeccomp()
except OSError as exc:                                  # pragma: no cover - libseccomp missing
    pytest.skip(f"libseccomp is not available: {exc}", allow_module_level=True)

NAMES = sorted(AARCH64)          # every aarch64 name is also an x86_64 one
M64 = (1 << 64) - 1
INTERESTING = [0, 1, 2, 3, 7, 0x80, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32,
               (1 << 32) + 1, 0x1_FFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 1 << 63, M64 - 1, M64]


def _actions(rng: random.Random) -> Action:
    return rng.choice([Action.ALLOW, Action.KILL_PROCESS, Action.KILL_THREAD, Action.TRAP,
                       Action.LOG, Action.USER_NOTIF, Action.ERRNO(rng.choice([1, 13, 4094])),
                       Action.TRACE(rng.randrange(0x10000))])


def _value(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.choice(INTERESTING)
    if r < 0.7:
        return rng.randrange(256)
    if r < 0.85:
        return rng.randrange(1 << 32) << 32 | rng.choice([0, 1, 0xFFFFFFFF])
    return rng.randrange(1 << 64)


def _comparison(rng: random.Random, index: int):
    op = rng.choice(["==", "!=", "<", "<=", ">", ">=", "&"])
    if op == "&":
        mask = rng.choice([3, 0o3, 0xF0, 0xFFFFFFFF, 0xFFFFFFFF00000000, 1 << 40 | 1,
                           rng.randrange(1, 1 << 64)])
        return (Arg(index) & mask) == (_value(rng) & mask)
    arg, value = Arg(index), _value(rng)
    return {"==": arg == value, "!=": arg != value, "<": arg < value, "<=": arg <= value,
            ">": arg > value, ">=": arg >= value}[op]


# Rule-set shapes. libseccomp 2.5.4 builds one decision tree per system call and, when rules of
# one call compare the same argument with ranges, can emit code that compares the wrong word
# (the accumulator holds another word than the jump assumes; see test_libseccomp_bug_recorded).
# Where its answers are reliable, decisions must agree exactly:
#   single:   one rule per system call, any comparisons (one per argument, libseccomp's rule);
#   equality: several rules per call, any actions, only == and masked == comparisons;
#   disjoint: several rules per call, any comparisons, no argument compared by two rules.
# "any" is unrestricted: pybpf must still give the rules' answer, and libseccomp must agree on
# nearly every sample (its misses are checked to be its own wrong answers).
SHAPES = ("single", "equality", "disjoint", "any")


def random_filter(rng: random.Random, shape: str) -> Filter:
    f = Filter(default=_actions(rng), arch=rng.choice(list(ARCHES)), bad_arch=_actions(rng))
    for name in rng.sample(NAMES, rng.randint(1, 6)):
        free = rng.sample(range(6), 6)
        for _ in range(1 if shape == "single" else rng.randint(1, 4)):
            if shape == "disjoint":
                k = min(len(free), rng.choice([0, 1, 1, 2]))
                indexes, free = free[:k], free[k:]
            else:
                indexes = rng.sample(range(6), rng.choice([0, 1, 1, 2, 2, 3]))
            cmps = []
            for i in indexes:
                c = _comparison(rng, i)
                while shape == "equality" and c.op != "==":
                    c = _comparison(rng, i)
                cmps.append(c)
            f.add_rule(_actions(rng), name, *cmps)
    return f


def _near(rng: random.Random, consts: list[int]) -> int:
    if not consts or rng.random() < 0.2:
        return _value(rng)
    v = rng.choice(consts)
    return rng.choice([v, v + 1, v - 1, v ^ (1 << 32), v ^ 1, v | 0xFFFFFFFF, v & 0xFFFFFFFF,
                       v ^ (rng.randrange(1, 1 << 32) << 32)]) & M64


def samples(rng: random.Random, f: Filter, count: int):
    rule_nrs = sorted({r.nr for r in f.rules})
    consts = [[c.value for r in f.rules for c in r.comparisons if c.index == i]
              + [c.mask for r in f.rules for c in r.comparisons if c.index == i] for i in range(6)]
    arch_audit = ARCHES[f.arch][0]
    other = [a for a, _ in ARCHES.values() if a != arch_audit] + [AUDIT_ARCH_I386]
    for _ in range(count):
        r = rng.random()
        if r < 0.75:
            nr = rng.choice(rule_nrs)
        elif r < 0.9:
            nr = rng.randrange(460)
        else:
            nr = rng.choice([X32_SYSCALL_BIT, X32_SYSCALL_BIT | rng.choice(rule_nrs), 0xFFFFFFFF,
                             0x80000000, 0x3FFFFFFF, rng.randrange(1 << 32)])
        arch = arch_audit if rng.random() < 0.9 else rng.choice(other)
        args = tuple(_near(rng, consts[i]) for i in range(6))
        yield nr, arch, args


def _ambiguous(f: Filter, nr: int, args: tuple[int, ...]) -> bool:
    return len({r.action for r in f.rules if r.nr == nr and r.matches(args)}) > 1


RULE_SETS = 150      # per shape
SAMPLES = 150


@pytest.mark.parametrize("shape", SHAPES)
def test_decisions_agree_with_libseccomp(shape):
    rng = random.Random(f"seccomp-{shape}")
    stats = dict(filters=0, samples=0, ambiguous=0, refused=0, bad_arch=0, libseccomp_wrong=0)
    for _ in range(RULE_SETS):
        f = random_filter(rng, shape)
        try:
            theirs = ORACLE.export(f, optimize=rng.choice([1, 2]))
        except OSError:          # libseccomp refuses, e.g., the same comparisons twice
            stats["refused"] += 1
            continue
        ours = f.to_cbpf()
        stats["filters"] += 1
        for nr, arch, args in samples(rng, f, SAMPLES):
            data = seccomp_data(nr, arch, args)
            got = Action(run_filter(ours, data))
            if arch == ARCHES[f.arch][0]:
                assert got == f.decide(nr, args), (f.rules, nr, args)
                if _ambiguous(f, nr, args):
                    stats["ambiguous"] += 1
                    continue
            else:
                assert got == f.bad_arch
                stats["bad_arch"] += 1
            want = Action(run_filter(theirs, data))
            stats["samples"] += 1
            if shape == "any" and got != want:
                stats["libseccomp_wrong"] += 1   # got is the rules' only possible answer
                continue
            assert got == want, (f.arch, f.default, f.bad_arch, f.rules, hex(nr), hex(arch),
                                 [hex(a) for a in args])
    print(shape, stats)
    # the comparison must actually have compared something
    assert stats["filters"] >= RULE_SETS * 3 // 4
    assert stats["samples"] >= stats["filters"] * SAMPLES // 2
    assert stats["libseccomp_wrong"] <= stats["samples"] // 100


def test_libseccomp_bug_recorded():
    """libseccomp 2.5.4 answers the default for kcmp(0, 0xa46d675300000001): after the first
    rule's high word test it compares the second rule's high-word constant against the low word
    it has loaded. Any value >= 0x4be03db0dc2574bd matches the second rule, so ALLOW is right."""
    f = (Filter(default=Action.LOG, arch="x86_64").allow("kcmp", Arg(1) <= 0xa46d675300000000)
         .allow("kcmp", Arg(1) >= 0x4be03db0dc2574bd))
    data = seccomp_data(312, ARCHES["x86_64"][0], (0, 0xa46d675300000001))
    assert f.evaluate("kcmp", (0, 0xa46d675300000001)) == Action.ALLOW
    theirs = Action(run_filter(ORACLE.export(f), data))
    if ORACLE.version() == (2, 5, 4):
        assert theirs == Action.LOG          # what libseccomp 2.5.4 (Debian 12) answers
    else:
        assert theirs in (Action.LOG, Action.ALLOW)


def test_fixed_rules_agree_with_libseccomp():
    """A hand-written filter with every comparison, both arches, and the edge numbers."""
    for arch in ARCHES:
        f = (Filter(default=Action.ERRNO(38), arch=arch, bad_arch=Action.KILL_THREAD)
             .allow("read").allow("write", Arg(0) == 1).allow("write", Arg(0) == 2)
             .deny("openat", (Arg(2) & 0o3) == 0o1, errno=13)
             .add_rule(Action.TRAP, "mmap", Arg(1) > 1 << 32, Arg(2) != 7)
             .add_rule(Action.LOG, "fcntl", Arg(1) >= 0xFFFFFFFF)
             .add_rule(Action.TRACE(7), "close", Arg(0) < 3)
             .add_rule(Action.KILL_PROCESS, "ptrace", Arg(0) <= 0x1_0000_0000))
        theirs = ORACLE.export(f)
        rng = random.Random(arch)
        for nr, arch_value, args in samples(rng, f, 2000):
            data = seccomp_data(nr, arch_value, args)
            assert run_filter(f.to_cbpf(), data) == run_filter(theirs, data)
