"""Precision tracking (pybpf.verifier.precision): the kernel's backtracking, its log lines,
and pruning that compares only the scalars a verdict relied on.

The expected log lines are the kernel's own, recorded from Linux 6.18 on this project's
machine (BPF_PROG_LOAD at log level 2) for the same instructions; 6.18's stack-liveness
debug lines (``(0) frame 0 insn 2 +live -8``), which pybpf does not print, are left
out. Where bpf(2) works, the live test compares whole
logs with the kernel's for corpus programs that exercise precision.
"""

from __future__ import annotations

import os
import re

import pytest

import corpus_support as cs

from pybpf.asm import assemble
from pybpf.isa.uapi import ProgType
from pybpf.verifier import verify

# Corpus stk_const_spill_keeps_value: a constant spilled, filled, and used as a pointer
# offset; a zero written as part of a slot (STACK_ZERO: the value written must stay zero).
SPILL_FILL_KERNEL = """\
5: (0f) r3 += r2
mark_precise: frame0: last_idx 5 first_idx 0 subseq_idx -1 
mark_precise: frame0: regs=r2 stack= before 4: (07) r3 += -16
mark_precise: frame0: regs=r2 stack= before 3: (bf) r3 = r10
mark_precise: frame0: regs=r2 stack= before 2: (79) r2 = *(u64 *)(r10 -8)
mark_precise: frame0: regs= stack=-8 before 1: (7b) *(u64 *)(r10 -8) = r1
mark_precise: frame0: regs=r1 stack= before 0: (b7) r1 = 4
6: R2=4 R3=fp-12
6: (b7) r4 = 0                        ; R4=0
7: (63) *(u32 *)(r3 +0) = r4
mark_precise: frame0: last_idx 7 first_idx 0 subseq_idx -1 
mark_precise: frame0: regs=r4 stack= before 6: (b7) r4 = 0
8: R3=fp-12 R4=0 fp-16=0000????
8: (b7) r0 = 0                        ; R0=0
9: (95) exit
processed 10 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 \
mark_read 0
"""

# Corpus loop_bounded_stack_writes: each trip's decided exit test walks the counter back
# through the trip (and earlier trips, over the back edge), then into the checkpoint,
# marking it precise.
LOOP_KERNEL_THIRD_TRIP = """\
7: (a5) if r3 < 0x8 goto pc-5
mark_precise: frame0: last_idx 7 first_idx 3 subseq_idx -1 
mark_precise: frame0: regs=r3 stack= before 6: (07) r3 += 1
mark_precise: frame0: regs=r3 stack= before 5: (07) r2 += 8
mark_precise: frame0: regs=r3 stack= before 4: (7b) *(u64 *)(r2 +0) = r4
mark_precise: frame0: regs=r3 stack= before 3: (b7) r4 = 0
mark_precise: frame0: parent state regs=r3 stack=:  R1=ctx() R2=fp-48 R3=P2 R4=0 R10=fp0 \
fp-56=0 fp-64=0
mark_precise: frame0: last_idx 7 first_idx 0 subseq_idx 3 
mark_precise: frame0: regs=r3 stack= before 7: (a5) if r3 < 0x8 goto pc-5
mark_precise: frame0: regs=r3 stack= before 6: (07) r3 += 1
"""


def _log(name: str) -> str:
    """The level-2 log of the corpus entry ``name`` (as root)."""
    entry = cs.entries_by_name()[name]
    res = verify(entry.code, log_level=2, prog_type=int(entry.prog_type))
    assert res.accepted, res.log
    return res.log


def test_backtracking_through_a_spill_and_a_zero_write() -> None:
    log = _log("stk_const_spill_keeps_value")
    assert log.endswith(SPILL_FILL_KERNEL), log


def test_a_loop_marks_its_checkpoint_precise() -> None:
    log = _log("loop_bounded_stack_writes")
    assert LOOP_KERNEL_THIRD_TRIP in log, log
    assert log.endswith("processed 45 insns (limit 1000000) max_states_per_insn 1 "
                        "total_states 2 peak_states 2 mark_read 0\n")


def test_return_value_is_made_precise() -> None:
    res = verify(assemble("r0 = 2\nexit"), log_level=2, prog_type=ProgType.CGROUP_SKB)
    assert not res.accepted
    assert ("1: (95) exit\n"
            "mark_precise: frame0: last_idx 1 first_idx 0 subseq_idx -1 \n"
            "mark_precise: frame0: regs=r0 stack= before 0: (b7) r0 = 2\n"
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]\n"
            ) in res.log


def test_pruning_compares_only_precise_scalars() -> None:
    """A checkpoint's scalar that nothing relied on matches any scalar; a precise one
    only a scalar within its range (a loop's trips compare ranges either way)."""
    from pybpf.verifier.regs import known_scalar
    from pybpf.verifier.state import RANGE_WITHIN, State, entry_frame, states_equal

    def state(value: int, precise: bool) -> State:
        st = State()
        st.frames.append(entry_frame())
        st.regs[6] = known_scalar(value)
        st.regs[6].precise = precise
        return st

    assert states_equal(state(1, False), state(2, False))
    assert not states_equal(state(1, True), state(2, False))
    assert states_equal(state(1, True), state(1, False))
    assert not states_equal(state(1, False), state(2, False), RANGE_WITHIN)


# -- the live kernel -------------------------------------------------------------------------

_LIVENESS_DEBUG = re.compile(r"^\(\d+(,\d+)*\) (frame \d+ insn \d+ [+-]|live stack update)")
_ADDRESS = re.compile(r"0x[0-9a-f]{8,}")


def _normalise(log: str) -> list[str]:
    out = []
    for line in log.splitlines():
        if line.startswith("verification time") or _LIVENESS_DEBUG.match(line):
            continue
        line = _ADDRESS.sub("ADDR", line)
        out.append(re.sub(r"\(18\) (r\d+) = .*", r"(18) \1 = V", line))
    return out


# Corpus programs whose kernel logs have precision lines of every kind (registers,
# spilled slots, parent states, loops and their SCC lines, calls).
LIVE = ["stk_const_spill_keeps_value", "stk_zero_slot_bounds", "loop_bounded_stack_writes",
        "cf_dead_branch_after_const", "ret_cgroup_skb_2", "pa_map_value_bounded_var_off_by_one",
        "hlp_probe_read_size_bounded", "loop_bounded_count_10", "call_subprog_map_value_arg",
        # the lines after the first error line (leaks, infinite loops), an atomic fetch
        # of a known stack value, variable-offset reads, a conditional jump's state where
        # the next insn is pruned, pointer offsets in hex, a message without a newline
        "ref_ringbuf_leak", "ref_ringbuf_tail_call_leak", "loop_infinite_self",
        "enc_atomic_fetch_add_ok", "stk_var_offset_read", "priv_spec_stack_var_offset_init",
        "loop_map_value_bound", "pkt_xdp_huge_const", "hlp_tail_call_on_hash",
        "alu_movsx_range_offset", "alu_movsx32_range_offset", "alu_movsx_straddles_zero"]


@pytest.mark.kernel
@pytest.mark.parametrize("name", LIVE)
def test_whole_log_like_the_live_kernel(name: str) -> None:
    from pybpf.kernel import privilege
    from pybpf.verifier.globals import global_functions

    entry = cs.entries_by_name()[name]
    req = entry.load_request()
    maps = [privilege.create_map(spec) for spec in req.maps]
    try:
        code = privilege.patch_map_indexes(req.code, [m.fileno() for m in maps])
        fd, kernel_log = privilege._prog_load(req, code, None, 2, 1 << 24)
        if fd >= 0:
            os.close(fd)
    finally:
        for m in maps:
            m.close()
    res = verify(entry.code, log_level=2, priv="root", prog_type=int(entry.prog_type),
                 attach_type=entry.expected_attach_type, maps=entry.maps,
                 func_info=entry.func_info is not None,
                 global_funcs=global_functions(entry.btf, entry.func_info))
    assert _normalise(res.log) == _normalise(kernel_log)
