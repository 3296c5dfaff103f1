"""Socket lookups and their references: bpf_sk_lookup_tcp/udp and bpf_skc_lookup_tcp
return a possibly-NULL socket holding a reference, bpf_sk_release drops it, and a socket
pointer reads ``struct bpf_sock`` fields only (bpf_sock_is_valid_access).

Each case carries the kernel's first error line (None: accepted); the live kernel is asked
the same question where bpf(2) works.
"""

from __future__ import annotations

import pytest
from verify_support import PT, Case, kernel_verdict

from pybpf.asm import assemble
from pybpf.verifier import verify

# tuple = 12 zeroed bytes at fp-16 (bpf_sock_tuple.ipv4), r2 = &tuple, r3 = its size
_TUPLE = """
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
"""


def _prog(body: str, lookup: int = 84) -> bytes:
    """A lookup (helper ``lookup``) on the zero tuple, then ``body``; r0 = 0 at ``out``."""
    text = f"{_TUPLE}call {lookup}\n{body}\nout:\nr0 = 0\nexit\n"
    return b"".join(insn.encode() for insn in assemble(text))


def _code(text: str) -> bytes:
    return b"".join(insn.encode() for insn in assemble(text))


_SOCK_RO = ("R1 type=sock_or_null expected=sock_common, sock, tcp_sock, xdp_sock, ptr_, "
            "trusted_ptr_")

CASES = [
    Case("release", _prog("if r0 == 0 goto out\nr1 = r0\ncall 86"), None, PT.SCHED_CLS),
    Case("release_xdp", _prog("if r0 == 0 goto out\nr1 = r0\ncall 86"), None, PT.XDP),
    Case("release_udp", _prog("if r0 == 0 goto out\nr1 = r0\ncall 86", 85), None,
         PT.SCHED_CLS),
    Case("leak", _prog("r0 = 0"), "Unreleased reference id=2 alloc_insn=8", PT.SCHED_CLS),
    Case("leak_after_check", _prog("if r0 == 0 goto out\nr0 = 0\nexit"),
         "Unreleased reference id=2 alloc_insn=8", PT.SCHED_CLS),
    Case("release_unchecked", _prog("r1 = r0\ncall 86"), _SOCK_RO, PT.SCHED_CLS),
    Case("release_twice", _prog("if r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall 86\n"
                                "r1 = r6\ncall 86"), "R1 type=scalar expected=sock_common, "
         "sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_", PT.SCHED_CLS),
    Case("read_state", _prog("if r0 == 0 goto out\nr6 = *(u32 *)(r0 + 72)\nr1 = r0\n"
                             "call 86"), None, PT.SCHED_CLS),
    Case("read_dst_port_half", _prog("if r0 == 0 goto out\nr6 = *(u16 *)(r0 + 48)\nr1 = r0\n"
                                     "call 86"), None, PT.SCHED_CLS),
    Case("read_padding", _prog("if r0 == 0 goto out\nr6 = *(u16 *)(r0 + 50)\nr1 = r0\n"
                               "call 86"), "R0 invalid sock access off=50 size=2",
         PT.SCHED_CLS),
    Case("read_u64", _prog("if r0 == 0 goto out\nr6 = *(u64 *)(r0 + 0)\nr1 = r0\ncall 86"),
         "R0 invalid sock access off=0 size=8", PT.SCHED_CLS),
    Case("read_unchecked", _prog("r6 = *(u32 *)(r0 + 4)"),
         "R0 invalid mem access 'sock_or_null'", PT.SCHED_CLS),
    Case("write", _prog("if r0 == 0 goto out\nr1 = 0\n*(u32 *)(r0 + 4) = r1"),
         "R0 cannot write into sock", PT.SCHED_CLS),
    Case("pointer_arithmetic", _prog("if r0 == 0 goto out\nr0 += 4"),
         "R0 pointer arithmetic on sock prohibited", PT.SCHED_CLS),
    Case("skc_release", _prog("if r0 == 0 goto out\nr1 = r0\ncall 86", 99), None,
         PT.SCHED_CLS),
    Case("skc_read_type", _prog("if r0 == 0 goto out\nr6 = *(u32 *)(r0 + 8)\nr1 = r0\n"
                                "call 86", 99), "R0 invalid sock_common access off=8 size=4",
         PT.SCHED_CLS),
    Case("tuple_too_big", _prog("if r0 == 0 goto out\nr1 = r0\ncall 86").replace(
        bytes.fromhex("b70300000c000000"), bytes.fromhex("b703000014000000")),
         "invalid read from stack R2 off=-16 size=20", PT.SCHED_CLS),
    Case("socket_filter", _prog("r0 = 0"),
         "program of this type cannot use helper bpf_sk_lookup_tcp#84", PT.SOCKET_FILTER),
    # __sk_buff->sk: a sock_common that may be NULL (a u64 load only)
    Case("skb_sk_checked", _code("r1 = *(u64 *)(r1 + 168)\nif r1 == 0 goto out\n"
                                 "r0 = *(u32 *)(r1 + 4)\nexit\nout:\nr0 = 0\nexit"), None,
         PT.SCHED_CLS),
    Case("skb_sk_unchecked", _code("r1 = *(u64 *)(r1 + 168)\nr0 = *(u32 *)(r1 + 4)\nexit"),
         "R1 invalid mem access 'sock_common_or_null'", PT.SCHED_CLS),
    Case("skb_sk_narrow", _code("r0 = *(u32 *)(r1 + 168)\nexit"),
         "invalid bpf_context access off=168 size=4", PT.SCHED_CLS),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_recorded_kernel_answer(case: Case) -> None:
    res = verify(case.code, prog_type=case.prog_type, maps=case.maps)
    assert res.accepted == (case.error is None), res.log
    assert res.error == case.error


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_live_kernel(case: Case) -> None:
    accepted, error, _log = kernel_verdict(case)
    assert (accepted, error) == (case.error is None, case.error)


@pytest.mark.parametrize("priv, error", [("root", "R6 invalid mem access 'scalar'"),
                                         ("cap_bpf", "R6 !read_ok")])
def test_released_socket_is_unusable(priv: str, error: str) -> None:
    """release_reference invalidates every copy: an unknown scalar for a loader allowed to
    leak pointers, unreadable otherwise (mark_reg_invalid)."""
    code = _prog("if r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall 86\nr0 = *(u32 *)(r6 + 4)")
    res = verify(code, priv=priv, prog_type=PT.SCHED_CLS)
    assert res.error == error


def test_log_names_the_socket_types() -> None:
    res = verify(_prog("if r0 == 0 goto out\nr1 = r0\ncall 86"), prog_type=PT.SCHED_CLS,
                 log_level=2)
    assert "R0=sock_or_null(id=2,ref_obj_id=2)" in res.log
    assert "R0=sock(ref_obj_id=2)" in res.log, res.log
