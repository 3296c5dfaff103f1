"""Filters installed in the kernel (each in a forked child) do what ``Filter.evaluate`` says.

The kernel is the oracle here: getppid(2) ignores its arguments, so calling it through
syscall(2) with chosen 64-bit arguments and reading back the errno shows the kernel's decision
for each (nr, args) sample.
"""

from __future__ import annotations

import ctypes
import errno
import os
import random
import signal

import pytest

from pybpf.cbpf.seccomp import X32_SYSCALL_BIT, Action, Arg, Filter, host_arch, syscall_number
from pybpf.errors import BpfValueError

seccomp_support = pytest.importorskip("seccomp_support")
run_in_child = seccomp_support.run_in_child

pytestmark = pytest.mark.skipif(host_arch() not in ("x86_64", "aarch64"),
                                reason=f"no syscall table for {host_arch()}")

LIBC = ctypes.CDLL(None, use_errno=True)


def raw_syscall(nr: int, *args: int) -> tuple[int, int]:
    """(result, errno) of syscall(nr, args...), arguments passed as full 64-bit registers."""
    ctypes.set_errno(0)
    rc = LIBC.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a) for a in args))
    return rc, ctypes.get_errno() if rc == -1 else 0


def _status(status: int, report: str) -> None:
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, report


def test_denied_syscall_fails_with_errno_and_allowed_ones_work():
    getppid = syscall_number("getppid", host_arch())

    def child():
        Filter(default=Action.ALLOW).deny("getppid", errno=errno.EACCES).install()
        return raw_syscall(getppid), raw_syscall(syscall_number("getpid", host_arch()))[0] > 0

    parent = os.getpid()
    status, report = run_in_child(lambda: raw_syscall(getppid)[0] == parent)
    _status(status, report)
    assert report == "True"                  # unfiltered: the child's parent is us
    status, report = run_in_child(child)
    _status(status, report)
    assert report == repr(((-1, errno.EACCES), True))


def test_mkdir_denied_by_mode(tmp_path):
    """mkdir with mode 0o700 fails with EACCES; other modes, and everything else, are allowed
    (glibc's mkdir() may use mkdir or mkdirat: both are filtered, on the mode argument)."""
    f = Filter(default=Action.ALLOW).deny("mkdirat", Arg(2, bits=32) == 0o700, errno=errno.EACCES)
    if host_arch() == "x86_64":
        f.deny("mkdir", Arg(1, bits=32) == 0o700, errno=errno.EACCES)

    def child():
        f.install()
        out = []
        for name, mode in (("a", 0o700), ("b", 0o755), ("c", 0o700)):
            try:
                os.mkdir(tmp_path / name, mode)
                out.append(0)
            except OSError as exc:
                out.append(exc.errno)
        return out

    status, report = run_in_child(child)
    _status(status, report)
    assert report == repr([errno.EACCES, 0, errno.EACCES])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_kill_process_kills_with_sigsys():
    def child():
        Filter(default=Action.ALLOW).add_rule(Action.KILL_PROCESS, "getppid").install()
        os.getppid()
        return "survived"

    status, report = run_in_child(child)
    assert os.WIFSIGNALED(status), (status, report)
    assert os.WTERMSIG(status) == signal.SIGSYS
    assert report == ""


def test_allowlist_default_errno():
    getppid, getpid = syscall_number("getppid", host_arch()), syscall_number("getpid", host_arch())
    needed = ["write", "exit_group", "exit", "brk", "mmap", "munmap", "mremap", "madvise",
              "futex", "rt_sigprocmask", "rt_sigaction", "getpid"]

    def child():
        Filter(default=Action.ERRNO(errno.ENOSYS)).allow(needed).install()
        return raw_syscall(getppid), raw_syscall(getpid)[0] > 0

    status, report = run_in_child(child)
    _status(status, report)
    assert report == repr(((-1, errno.ENOSYS), True))


def _random_rules(rng: random.Random) -> Filter:
    # every other call is allowed: the child's Python needs them
    f = Filter(default=Action.ALLOW, bad_arch=Action.ERRNO(201))
    for n in range(rng.randint(1, 8)):
        cmps = []
        for i in rng.sample(range(6), rng.randint(0, 3)):
            v = rng.choice([0, 1, 5, 0xFFFFFFFF, 1 << 32, (1 << 32) + 5, (1 << 64) - 1,
                            rng.randrange(1 << 64)])
            op = rng.choice(["==", "!=", "<", "<=", ">", ">=", "&"])
            arg = Arg(i, bits=rng.choice([32, 64]))
            if arg.bits == 32:
                v &= 0xFFFFFFFF
            if op == "&":
                m = rng.choice([0xF, 0xFFFF0000FFFF0000, rng.randrange(1 << 64)]) & arg.mask
                cmps.append((arg & m) == (v & m))
            else:
                cmps.append({"==": arg == v, "!=": arg != v, "<": arg < v, "<=": arg <= v,
                             ">": arg > v, ">=": arg >= v}[op])
        action = Action.ALLOW if rng.random() < 0.3 else Action.ERRNO(n + 1)
        f.add_rule(action, "getppid", *cmps)
    return f.add_rule(Action.ERRNO(200), "getppid")      # getppid's own default


def _args(rng: random.Random, f: Filter) -> tuple[int, ...]:
    consts = [c.value for r in f.rules for c in r.comparisons]
    out = []
    for _ in range(6):
        v = rng.choice(consts) if consts and rng.random() < 0.6 else rng.randrange(1 << 64)
        out.append((v + rng.choice([0, 0, 1, -1, 1 << 32])) % (1 << 64))
    return tuple(out)


@pytest.mark.parametrize("seed", range(4))
def test_kernel_decisions_match_evaluate(seed):
    """Random argument rules on getppid: the installed filter's answer for each sample is what
    Filter.evaluate computes, including x32 numbers (bad_arch) and -1 (the default: allowed, so
    the kernel answers ENOSYS)."""
    rng = random.Random(seed)
    getppid = syscall_number("getppid", host_arch())
    for _ in range(8):
        f = _random_rules(rng)
        cases = [(getppid, _args(rng, f)) for _ in range(100)]
        if host_arch() == "x86_64":
            cases += [(X32_SYSCALL_BIT | getppid, ()), (0xFFFFFFFF, ())]
        expected = []
        for nr, args in cases:
            action = f.evaluate(nr, args)
            if action == Action.ALLOW:
                expected.append(errno.ENOSYS if nr == 0xFFFFFFFF else 0)
            else:
                expected.append(action.data)

        def child():
            f.install()
            return [raw_syscall(nr if nr != 0xFFFFFFFF else -1, *args)[1] for nr, args in cases]

        status, report = run_in_child(child)
        _status(status, report)
        got = eval(report)  # noqa: S307 - our own child's repr of a list of ints
        assert got == expected, [(hex(nr), [hex(a) for a in args], g, e)
                                 for (nr, args), g, e in zip(cases, got, expected) if g != e]


def test_install_refuses_a_foreign_arch():
    other = "aarch64" if host_arch() == "x86_64" else "x86_64"
    with pytest.raises(BpfValueError, match="cannot be installed"):
        Filter(default=Action.ALLOW, arch=other).install()
