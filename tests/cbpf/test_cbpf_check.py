"""The kernel's checks of a socket filter: a corpus of programs, what SO_ATTACH_FILTER said
about each on Linux 6.18 (recorded here, so the checker is tested without root), and a live
comparison with the running kernel."""

from __future__ import annotations

import errno

import pytest

from pybpf.cbpf import CInsn, assemble, check
from pybpf.cbpf.check import is_valid
from pybpf.cbpf.insn import MAXINSNS, SKF_AD_OFF, SKF_NET_OFF
from pybpf.errors import BpfDecodeError

import cbpf_support as S

RET0 = CInsn(0x06, 0, 0, 0)
AD = SKF_AD_OFF & 0xFFFFFFFF

# name -> (program, kernel verdict: 0 accepted / errno, index check() names or None)
CORPUS: dict[str, tuple[list[CInsn], int, int | None]] = {
    "ret": ([RET0], 0, None),
    "empty": ([], errno.EINVAL, 0),
    "max length": ([CInsn(0x00)] * (MAXINSNS - 1) + [RET0], 0, None),
    "too long": ([CInsn(0x00)] * MAXINSNS + [RET0], errno.EINVAL, MAXINSNS),
    "no ret at end": ([CInsn(0x00)], errno.EINVAL, 0),
    "ends in ja": ([RET0, CInsn(0x05, 0, 0, 0)], errno.EINVAL, 1),
    "unknown opcode": ([CInsn(0xFF), RET0], errno.EINVAL, 0),
    "ldx [k] (seccomp only)": ([CInsn(0x21, 0, 0, 0), RET0], errno.EINVAL, 0),
    "ret x": ([CInsn(0x0E)], errno.EINVAL, 0),
    "ld with size h imm": ([CInsn(0x08, 0, 0, 1), RET0], errno.EINVAL, 0),
    "ld dw abs": ([CInsn(0x38, 0, 0, 1), RET0], errno.EINVAL, 0),
    "ldx #len": ([CInsn(0x81), RET0], 0, None),
    "div #0": ([CInsn(0x34, 0, 0, 0), RET0], errno.EINVAL, 0),
    "mod #0": ([CInsn(0x94, 0, 0, 0), RET0], errno.EINVAL, 0),
    "div x": ([CInsn(0x3C), RET0], 0, None),
    "lsh #31": ([CInsn(0x64, 0, 0, 31), RET0], 0, None),
    "lsh #32": ([CInsn(0x64, 0, 0, 32), RET0], errno.EINVAL, 0),
    "rsh #40": ([CInsn(0x74, 0, 0, 40), RET0], errno.EINVAL, 0),
    "st M[16]": ([CInsn(0x02, 0, 0, 16), RET0], errno.EINVAL, 0),
    "ld M[15] unwritten": ([CInsn(0x60, 0, 0, 15), RET0], errno.EINVAL, 0),
    "st then ld": ([CInsn(0x02, 0, 0, 3), CInsn(0x61, 0, 0, 3), RET0], 0, None),
    "written on one path only": (assemble("""
        ldb [0]
        jeq #1, w, r
     w: st M[2]
     r: ld M[2]
        ret a"""), errno.EINVAL, 3),
    "written on both paths": (assemble("""
        ldb [0]
        jeq #1, w, v
     w: st M[2]
        ja r
     v: stx M[2]
     r: ld M[2]
        ret a"""), 0, None),
    "written after ret is still known (linear pass)": (
        [CInsn(0x02, 0, 0, 1), RET0, CInsn(0x60, 0, 0, 1), CInsn(0x16)], 0, None),
    "unreachable read of an unwritten cell": (
        [RET0, CInsn(0x60, 0, 0, 1), CInsn(0x16)], errno.EINVAL, 1),
    "ja past the end": ([CInsn(0x05, 0, 0, 1), RET0], errno.EINVAL, 0),
    "ja backward": ([RET0, CInsn(0x05, 0, 0, 0xFFFFFFFE), RET0], errno.EINVAL, 1),
    "ja to the last": ([CInsn(0x05, 0, 0, 1), RET0, RET0], 0, None),
    "jt past the end": ([CInsn(0x15, 1, 0, 0), RET0], errno.EINVAL, 0),
    "jf past the end": ([CInsn(0x15, 0, 5, 0), RET0, RET0], errno.EINVAL, 0),
    "jset x ok": ([CInsn(0x4D, 0, 1, 0), RET0, RET0], 0, None),
    "jne opcode (eBPF only)": ([CInsn(0x55, 0, 0, 0), RET0], errno.EINVAL, 0),
    "every ancillary": ([CInsn(0x20, 0, 0, AD + off) for off in range(0, 64, 4)] + [RET0], 0,
                        None),
    "ancillary gap": ([CInsn(0x20, 0, 0, AD + 2), RET0], errno.EINVAL, 0),
    "ancillary past the end": ([CInsn(0x30, 0, 0, AD + 64), RET0], errno.EINVAL, 0),
    "top of the ancillary area": ([CInsn(0x30, 0, 0, 0xFFFFFFFF), RET0], errno.EINVAL, 0),
    "ind load in the ancillary area": ([CInsn(0x40, 0, 0, AD + 2), RET0], 0, None),
    "msh in the ancillary area": ([CInsn(0xB1, 0, 0, AD + 2), RET0], 0, None),
    "SKF_NET_OFF load": ([CInsn(0x30, 0, 0, SKF_NET_OFF & 0xFFFFFFFF), RET0], 0, None),
    "below SKF_LL_OFF": ([CInsn(0x30, 0, 0, 0x80000000), RET0], 0, None),
    "first error wins": ([CInsn(0xFF), CInsn(0x34, 0, 0, 0)], errno.EINVAL, 0),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_check_matches_the_recorded_kernel_verdict(name: str) -> None:
    program, verdict, index = CORPUS[name]
    if verdict == 0:
        check(program)
        assert is_valid(program)
        return
    with pytest.raises(BpfDecodeError) as info:
        check(program)
    assert info.value.index == index, info.value


@pytest.mark.kernel
def test_the_kernel_still_says_the_same() -> None:
    from pybpf.cbpf.socket import kernel_accepts

    for name, (program, verdict, _) in CORPUS.items():
        ok, err = kernel_accepts(program)
        assert (0 if ok else err) == verdict, name


@pytest.mark.kernel
def test_random_programs_agree_with_the_kernel() -> None:
    """Random short programs of valid-looking opcodes: check() and SO_ATTACH_FILTER agree."""
    import random

    from pybpf.cbpf.insn import SOCKET_FILTER_CODES
    from pybpf.cbpf.socket import kernel_accepts

    rng = random.Random(7)
    codes = sorted(SOCKET_FILTER_CODES) + [0x0E, 0x21, 0x55, 0x08]
    agreed = accepted = 0
    for _ in range(1500):
        n = rng.randint(1, 8)
        prog = [CInsn(rng.choice(codes), rng.choice([0, 0, 1, 2, 7]), rng.choice([0, 0, 1, 3]),
                      rng.choice([0, 1, 2, 15, 16, 31, 32, AD + 4, AD + 6, 0xFFFFFFFF]))
                for _ in range(n)]
        if rng.random() < 0.7:
            prog[-1] = CInsn(rng.choice([0x06, 0x16]), 0, 0, 1)
        ok, _ = kernel_accepts(prog)
        assert ok == is_valid(prog), prog
        agreed += 1
        accepted += ok
    assert agreed == 1500 and accepted > 50


@pytest.mark.skipif(not S.have_tcpdump(), reason="tcpdump is not installed")
def test_tcpdump_programs_pass() -> None:
    for expression in S.EXPRESSIONS:
        check(S.tcpdump_program(expression))
