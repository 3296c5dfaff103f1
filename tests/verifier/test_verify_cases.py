"""Fixed programs with the kernel's recorded verdict and first error line; the live kernel
is asked the same question where bpf(2) works."""

from __future__ import annotations

import pytest
from verify_support import CASES, Case, kernel_verdict

from pybpf.verifier import verify


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_recorded_kernel_answer(case: Case) -> None:
    res = verify(case.code, prog_type=case.prog_type, maps=case.maps, attach_type=case.attach)
    assert res.accepted == (case.error is None), res.log
    assert res.error == case.error
    assert res.log.rstrip().splitlines()[-1].startswith("processed ")
    if case.error is not None:
        assert case.error in res.log.splitlines()


@pytest.mark.kernel
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_matches_live_kernel(case: Case) -> None:
    accepted, error, _log = kernel_verdict(case)
    assert (accepted, error) == (case.error is None, case.error)


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["div_by_zero", "bad_shift", "bad_reg", "r0_uninit",
                                  "null_deref", "ctx_write", "stack_partial_fill"])
def test_level1_log_is_the_kernels(name: str) -> None:
    """Straight-line rejections: the whole level-1 log is identical to the kernel's."""
    case = next(c for c in CASES if c.name == name)
    res = verify(case.code, prog_type=case.prog_type, maps=case.maps, log_level=1)
    _, _, klog = kernel_verdict(case)
    if case.maps:   # the kernel prints the map's address in the lddw line
        klog = "\n".join(line for line in klog.splitlines() if "(18)" not in line)
        mine = "\n".join(line for line in res.log.splitlines() if "(18)" not in line)
        assert mine == klog.rstrip("\n")
    else:
        assert res.log == klog


def test_level0_has_no_log_but_the_error() -> None:
    case = next(c for c in CASES if c.name == "div_by_zero")
    res = verify(case.code, log_level=0)
    assert not res.accepted and res.error == "div by zero" and res.insn == 1 and res.log == ""


def test_accepted_level1_log_is_the_stats_line() -> None:
    res = verify(next(c for c in CASES if c.name == "ctx_read_ok").code)
    assert res.accepted
    assert res.log == ("processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 "
                       "peak_states 0 mark_read 0\n")


def test_level2_trace_has_register_states() -> None:
    case = next(c for c in CASES if c.name == "null_checked")
    res = verify(case.code, maps=case.maps, log_level=2)
    assert "R0=map_value_or_null(id=1,map=counts,ks=4,vs=8)" in res.log
    assert "R0=map_value(map=counts,ks=4,vs=8)" in res.log
    assert "from 7 to 9: safe" in res.log


def test_failing_insn_and_to_error() -> None:
    case = next(c for c in CASES if c.name == "null_deref")
    res = verify(case.code, maps=case.maps)
    assert res.insn == 7
    err = res.to_error()
    assert err.error == res.error and err.insn == 7 and err.log == res.log
    assert res.hint and "NULL" in res.hint


def test_complexity_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from pybpf.verifier import walk
    from verify_support import EXIT, I, R0_0

    monkeypatch.setattr(walk, "COMPLEXITY_LIMIT", 1000)
    code = R0_0 + I(0x07, 0, 0, 0, 1) + I(0xA5, 0, 0, -2, 100000) + EXIT
    res = verify(code, log_level=0)
    assert res.error == "BPF program is too large. Processed 1001 insn"


def test_garbage_never_raises() -> None:
    import random

    rng = random.Random(7)
    for _ in range(300):
        code = bytes(rng.randrange(256) for _ in range(8 * rng.randrange(1, 12)))
        res = verify(code, log_level=1)
        assert res.accepted or res.error
    assert verify(b"\x00" * 7).error


def test_map_pointer_reads_are_refused_and_explained() -> None:
    """A privileged read of a map's kernel struct: the kernel allows it (through BTF);
    pybpf's maps are not kernel structs, so it refuses, and says so."""
    import corpus_support as cs

    entry = cs.entries_by_name()["reg_map_ptr_deref"]
    res = verify(entry.code, prog_type=entry.prog_type, maps=entry.maps, priv="root")
    assert not res.accepted and res.error == "R1 invalid mem access 'map_ptr'"
    assert "not kernel structs" in res.hint
    res = verify(entry.code, prog_type=entry.prog_type, maps=entry.maps, priv="cap_bpf")
    assert res.error == ("'struct bpf_htab' access is allowed only to CAP_PERFMON and "
                         "CAP_SYS_ADMIN") and res.errno == 1
