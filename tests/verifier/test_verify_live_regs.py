"""The log's table of live registers at level 2 (``compute_live_registers``, kernel 6.15+):
each instruction's loop number (its strongly connected component, ``compute_scc``) and
the registers live before it; and the ``;`` alignment of the state after an instruction."""

from __future__ import annotations

import os
import re

import pytest

import corpus_support as cs
from pybpf.asm import assemble
from pybpf.isa import encode
from pybpf.isa.uapi import ProgType
from pybpf.verifier import verify
from pybpf.verifier.api import raw_slots
from pybpf.verifier.cfg import loop_components
from pybpf.verifier.globals import global_functions
from pybpf.verifier.log import alignment

# Two loops, each calling bpf_trace_printk (the example of the kernel commit that added
# the loop numbers: the second loop is numbered first, as Tarjan's walk completes it
# first; r1 and r2 are live before the call, trace_printk's two parameters).
TWO_LOOPS = """
    w6 = 10
l1: r1 = 0 ll
    w2 = 2
    call 6
    w6 += -1
    if w6 != 0 goto l1
    w6 = 5
l2: r1 = 0 ll
    w2 = 2
    call 6
    w6 += -1
    if w6 != 0 goto l2
    w0 = 0
    exit
"""
# (loop number, instruction, live registers) as the kernel prints them for it
KERNEL_TABLE = [(0, 0, ".........."), (2, 1, "......6..."), (2, 3, ".1....6..."),
                (2, 4, ".12...6..."), (2, 5, "......6..."), (2, 6, "......6..."),
                (0, 7, ".........."), (1, 8, "......6..."), (1, 10, ".1....6..."),
                (1, 11, ".12...6..."), (1, 12, "......6..."), (1, 13, "......6..."),
                (0, 14, ".........."), (0, 15, "0.........")]
_ROW = re.compile(r"^(?: {4}|\s*(\d+) )\s*(\d+): ([0-9.]{10}) ")


def table(log: str) -> list[tuple[int, int, str]]:
    lines = log.splitlines()
    rows = []
    for line in lines[lines.index("Live regs before insn:") + 1:]:
        m = _ROW.match(line)
        if m is None:
            break
        rows.append((int(m.group(1) or 0), int(m.group(2)), m.group(3)))
    return rows


def test_loop_numbers_and_live_registers():
    code = encode(assemble(TWO_LOOPS))
    res = verify(code, prog_type=ProgType.SOCKET_FILTER, log_level=2)
    assert table(res.log) == KERNEL_TABLE
    # by slot: an lddw's second half is in no loop
    assert loop_components(raw_slots(code)) == [0, 2, 0, 2, 2, 2, 2, 0, 1, 0, 1, 1, 1, 1, 0, 0]


def test_alignment_is_the_kernels():
    """``;`` at column 40, or for longer lines at the next multiple of 8 at least 4 on."""
    assert [alignment(pos) for pos in (10, 36, 37, 47, 52)] == [29, 3, 10, 8, 3]


def test_32_bit_atomics_print_r_registers():
    """As the kernel logs them (disasm.c names r registers at any size), with the state
    aligned as the kernel aligns it after a long line."""
    code = encode(assemble("r1 = 0\n*(u64 *)(r10 - 8) = r1\nr1 = 1\n"
                           "lock *(u32 *)(r10 - 8) += w1\n"
                           "w1 = atomic_fetch_add((u32 *)(r10 - 8), w1)\nr0 = 0\nexit"))
    lines = verify(code, log_level=2).log.splitlines()
    assert "3: (c3) lock *(u32 *)(r10 -8) += r1   ; R1=1 R10=fp0 fp-8=mmmmmmmm" in lines
    assert any(line.startswith("4: (c3) r1 = atomic_fetch_add((u32 *)(r10 -8), r1)    ; R1=")
               for line in lines)


def _kernel_log(entry: cs.CorpusEntry) -> str:
    from pybpf.kernel import privilege
    from pybpf.kernel.loader import load_btf

    req = entry.load_request()
    maps = [privilege.create_map(spec) for spec in req.maps]
    btf = load_btf(req.btf) if req.btf else None
    try:
        code = privilege.patch_map_indexes(req.code, [m.fileno() for m in maps])
        fd, log = privilege._prog_load(req, code, btf, 2, 1 << 24)
        if fd >= 0:
            os.close(fd)
        return log
    finally:
        for m in maps:
            m.close()
        if btf is not None:
            btf.close()


@pytest.mark.kernel
def test_tables_match_the_live_kernel():
    """Every corpus program's table, as the kernel prints it (map addresses aside)."""
    record = cs.load_kernel_record()["entries"]
    differ = []
    compared = 0
    for entry in cs.load_corpus():
        if record[entry.name]["root"].get("processed", 0) > 100_000:
            continue
        kernel = _kernel_log(entry)
        if "Live regs before insn:" not in kernel:
            continue          # rejected before the table (a malformed program)
        res = verify(entry.code, log_level=2, priv="root", prog_type=int(entry.prog_type),
                     attach_type=entry.expected_attach_type, maps=entry.maps,
                     func_info=entry.func_info is not None,
                     global_funcs=global_functions(entry.btf, entry.func_info))
        compared += 1
        if table(res.log) != table(kernel):
            differ.append(entry.name)
    assert compared > 400 and not differ, differ


# The kernel's (6.18) whole level-2 log of the corpus's call_missing_r0: a function that
# exits without setting R0 returns it uninitialised; the caller's exit is what fails.
KERNEL_CALL_LOG = """func#0 @0
func#1 @2
Live regs before insn:
      0: .12345.... (85) call pc+1
      1: 0......... (95) exit
      2: 0......... (95) exit
0: R1=ctx() R10=fp0
0: (85) call pc+1
caller:
 R10=fp0
callee:
 frame1: R1=ctx() R10=fp0
2: frame1: R1=ctx() R10=fp0
2: (95) exit
returning from callee:
 frame1: R1=ctx() R10=fp0
to caller at 1:
 R10=fp0

from 2 to 1: R10=fp0
1: (95) exit
R0 !read_ok
processed 3 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


def test_call_and_return_log_as_the_kernels():
    entry = cs.entries_by_name()["call_missing_r0"]
    res = verify(entry.code, prog_type=int(entry.prog_type), log_level=2)
    assert (res.log, res.insn, res.error) == (KERNEL_CALL_LOG, 1, "R0 !read_ok")


def test_subprograms_listed_before_a_cfg_error():
    """The kernel lists the subprograms (level 2) before it checks their jumps."""
    entry = cs.entries_by_name()["cf_jump_out_of_range_forward"]
    res = verify(entry.code, prog_type=int(entry.prog_type), log_level=2)
    assert res.log == ("func#0 @0\njump out of range from insn 1 to 7\nprocessed 0 insns "
                       "(limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 "
                       "mark_read 0\n")      # the kernel's log, word for word


def test_packet_access_failure_lines_as_the_kernels():
    entry = cs.entries_by_name()["pkt_xdp_off_by_one"]
    res = verify(entry.code, prog_type=int(entry.prog_type), log_level=2)
    assert res.log.splitlines()[-3:] == [         # the kernel's (6.18) last lines
        "invalid access to packet, off=12 size=2, R2(id=0,off=12,r=13)",
        "R2 offset is outside of the packet",
        "processed 6 insns (limit 1000000) max_states_per_insn 0 total_states 0 "
        "peak_states 0 mark_read 0"]
    assert res.error == "invalid access to packet, off=12 size=2, R2(id=0,off=12,r=13)"


def test_constants_print_as_the_kernel_prints_them():
    """verbose_snum: decimal within the 16-bit range (4660, 13330), hex beyond it."""
    entry = cs.entries_by_name()["alu_bswap_endian"]
    lines = verify(entry.code, prog_type=int(entry.prog_type), log_level=2).log.splitlines()
    assert [line.split("; ")[-1] for line in lines if line[:2] in ("0:", "1:", "3:")][1:] == \
        ["R0=4660", "R0=13330", "R0=0x1234000000000000"]      # the kernel's (6.18) text
