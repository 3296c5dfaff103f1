"""Shared helpers for the verifier tests: instruction builders, fixed cases with the
kernel's recorded answer, and a runner that asks the live kernel the same question."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pybpf.isa.uapi import MapType, ProgType

PT = ProgType


def I(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, dst | (src << 4), off, imm)


def lddw(dst: int, src: int, imm: int, imm2: int = 0) -> bytes:
    return I(0x18, dst, src, 0, imm) + I(0, 0, 0, 0, imm2)


EXIT = I(0x95)
R0_0 = I(0xB7, 0, 0, 0, 0)
HASH = {"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 16, "name": "counts"}
RINGBUF = {"type": "ringbuf", "key_size": 0, "value_size": 0, "max_entries": 4096,
           "name": "events"}

# key at fp-4 = 0, r2 = fp-4, r1 = map 0, call lookup
LOOKUP = (I(0xB7, 1, 0, 0, 0) + I(0x63, 10, 1, -4) + I(0xBF, 2, 10) + I(0x07, 2, 0, 0, -4)
          + lddw(1, 5, 0) + I(0x85, 0, 0, 0, 1))
# r2 = data, r3 = data_end (xdp), r4 = r2 + 14
XDP_PKT = (I(0x61, 2, 1, 0) + I(0x61, 3, 1, 4) + I(0xBF, 4, 2) + I(0x07, 4, 0, 0, 14))


@dataclass
class Case:
    name: str
    code: bytes
    error: str | None                 # the kernel's first error line (None: accepted)
    prog_type: int = PT.SOCKET_FILTER
    maps: list = field(default_factory=list)
    attach: int = 0


CASES = [
    Case("null_deref", LOOKUP + I(0x61, 0, 0, 0) + EXIT, "R0 invalid mem access "
         "'map_value_or_null'", maps=[HASH]),
    Case("null_checked", LOOKUP + I(0x15, 0, 0, 1, 0) + I(0x61, 0, 0, 0) + R0_0 + EXIT, None,
         maps=[HASH]),
    Case("map_value_oob", LOOKUP + I(0x15, 0, 0, 1, 0) + I(0x79, 0, 0, 4) + R0_0 + EXIT,
         "invalid access to map value, value_size=8 off=4 size=8", maps=[HASH]),
    Case("map_value_unbounded", LOOKUP + I(0x15, 0, 0, 3, 0) + I(0x79, 1, 0, 0)
         + I(0x0F, 0, 1) + I(0x61, 0, 0, 0) + R0_0 + EXIT,
         "math between map_value pointer and register with unbounded min value is not "
         "allowed", maps=[HASH]),
    Case("map_value_bounded", LOOKUP + I(0x15, 0, 0, 4, 0) + I(0x79, 1, 0, 0)
         + I(0x57, 1, 0, 0, 3) + I(0x0F, 0, 1) + I(0x71, 0, 0, 0) + R0_0 + EXIT, None,
         maps=[HASH]),
    Case("ctx_write", R0_0 + I(0x63, 1, 0, 0) + EXIT,
         "invalid bpf_context access off=0 size=4"),
    Case("ctx_read_ok", I(0x61, 0, 1, 0) + EXIT, None),
    Case("scalar_deref", R0_0 + I(0x61, 0, 0, 0) + EXIT, "R0 invalid mem access 'scalar'"),
    Case("xdp_pkt_ok", XDP_PKT + I(0x2D, 4, 3, 2) + I(0x71, 0, 2, 13) + EXIT + I(0xB7, 0, 0, 0, 2)
         + EXIT, None, PT.XDP),
    Case("xdp_pkt_oob", XDP_PKT + I(0x2D, 4, 3, 2) + I(0x71, 0, 2, 14) + EXIT
         + I(0xB7, 0, 0, 0, 2) + EXIT,
         "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=14)", PT.XDP),
    Case("xdp_pkt_unchecked", XDP_PKT + I(0x71, 0, 2, 0) + EXIT,
         "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)", PT.XDP),
    Case("stack_write_oob", R0_0 + I(0x7B, 10, 0, 0) + EXIT,
         "invalid write to stack R10 off=0 size=8"),
    Case("stack_spill_fill", I(0x7B, 10, 1, -8) + I(0x79, 2, 10, -8) + I(0x61, 0, 2, 0)
         + EXIT, None),
    Case("stack_partial_fill", I(0x7B, 10, 1, -8) + I(0x61, 2, 10, -8) + R0_0 + EXIT,
         "invalid size of register fill"),
    Case("bounded_loop", R0_0 + I(0x07, 0, 0, 0, 1) + I(0xA5, 0, 0, -2, 10) + EXIT, None),
    Case("infinite_loop", R0_0 + I(0x15, 0, 0, -1, 0) + EXIT, "infinite loop detected at insn 1"),
    Case("helper_arg_type", R0_0 + I(0xB7, 1, 0, 0, 0) + I(0xB7, 2, 0, 0, 0)
         + I(0x85, 0, 0, 0, 1) + EXIT, "R1 type=scalar expected=map_ptr"),
    Case("helper_not_for_type", I(0xB7, 1, 0, 0, 1) + I(0xB7, 2, 0, 0, 0)
         + I(0x85, 0, 0, 0, 23) + EXIT, "program of this type cannot use helper "
         "bpf_redirect#23"),
    Case("ptr_bitwise", I(0x57, 1, 0, 0, 1) + R0_0 + EXIT,
         "R1 bitwise operator &= on pointer prohibited"),
    Case("ptr_minus_ptr_root", I(0xBF, 0, 10) + I(0x1F, 0, 1) + EXIT, None),
    Case("ringbuf_leak", lddw(1, 5, 0) + I(0xB7, 2, 0, 0, 8) + I(0xB7, 3, 0, 0, 0)
         + I(0x85, 0, 0, 0, 131) + R0_0 + EXIT, "Unreleased reference id=2 alloc_insn=4",
         maps=[RINGBUF]),
    Case("ringbuf_submit", lddw(1, 5, 0) + I(0xB7, 2, 0, 0, 8) + I(0xB7, 3, 0, 0, 0)
         + I(0x85, 0, 0, 0, 131) + I(0x15, 0, 0, 4, 0) + I(0x7A, 0, 0, 0, 7)
         + I(0xBF, 1, 0) + I(0xB7, 2, 0, 0, 0) + I(0x85, 0, 0, 0, 132) + R0_0 + EXIT, None,
         maps=[RINGBUF]),
    Case("ringbuf_oob", lddw(1, 5, 0) + I(0xB7, 2, 0, 0, 8) + I(0xB7, 3, 0, 0, 0)
         + I(0x85, 0, 0, 0, 131) + I(0x15, 0, 0, 4, 0) + I(0x7A, 0, 0, 4, 7)
         + I(0xBF, 1, 0) + I(0xB7, 2, 0, 0, 0) + I(0x85, 0, 0, 0, 132) + R0_0 + EXIT,
         "invalid access to memory, mem_size=8 off=4 size=8", maps=[RINGBUF]),
    Case("cgroup_skb_retval", I(0xB7, 0, 0, 0, 5) + EXIT,
         "At program exit the register R0 has smin=5 smax=5 should have been in [0, 1]",
         PT.CGROUP_SKB),
    Case("cgroup_skb_retval_ok", I(0xB7, 0, 0, 0, 1) + EXIT, None, PT.CGROUP_SKB),
    Case("unknown_opcode", R0_0 + I(0x8E) + EXIT, "unknown opcode 8e"),
    Case("bad_lddw", lddw(1, 0, 5)[:8] + I(0x18) + R0_0 + EXIT, "invalid bpf_ld_imm64 insn"),
    Case("jump_out", R0_0 + I(0x05, 0, 0, 5) + EXIT, "jump out of range from insn 1 to 7"),
    Case("unreachable", R0_0 + EXIT + R0_0 + EXIT, "unreachable insn 2"),
    Case("no_exit", R0_0 + R0_0, "last insn is not an exit or jmp"),
    Case("bad_reg", I(0xB7, 11, 0, 0, 0) + EXIT, "R11 is invalid"),
    Case("write_fp", I(0xB7, 10, 0, 0, 0) + EXIT, "frame pointer is read only"),
    Case("reserved_mov", I(0xB7, 0, 1, 0, 0) + EXIT, "BPF_MOV uses reserved fields"),
    Case("div_by_zero", R0_0 + I(0x37, 0, 0, 0, 0) + EXIT, "div by zero"),
    Case("r0_uninit", EXIT, "R0 !read_ok"),
    Case("bad_shift", R0_0 + I(0x67, 0, 0, 0, 64) + EXIT, "invalid shift 64"),
    Case("call_invalid", I(0x85, 0, 0, 0, 100000) + EXIT, "invalid func unknown#100000"),
    Case("jmp_reserved", R0_0 + I(0x15, 0, 1, 0, 0) + EXIT, "BPF_JMP/JMP32 uses reserved fields"),
    Case("ld_abs", I(0xBF, 6, 1) + I(0x30, 0, 0, 0, 0) + EXIT, None),
    Case("ld_abs_xdp", I(0xBF, 6, 1) + I(0x30, 0, 0, 0, 0) + EXIT,
         "BPF_LD_[ABS|IND] instructions not allowed for this program type", PT.XDP),
    Case("ptr_return_root", I(0xBF, 0, 10) + EXIT, None),
    Case("branch_refine", I(0x61, 0, 1, 0) + I(0x25, 0, 0, 2, 7) + I(0xBF, 1, 10)
         + I(0x0F, 1, 0) + I(0xB7, 0, 0, 0, 0) + EXIT, None),
]


def kernel_verdict(case: Case) -> tuple[bool, str | None, str]:
    """Load ``case`` into the running kernel: (accepted, first error line, log)."""
    from pybpf.errors import VerifierError
    from pybpf.kernel.maps import KernelMap
    from pybpf.kernel.programs import KernelProgram, parse_verifier_log

    kmaps = [KernelMap(MapType[m["type"].upper()], m["key_size"], m["value_size"],
                       m["max_entries"], m.get("flags", 0), m.get("name", ""))
             for m in case.maps]
    code = bytearray(case.code)
    for i in range(0, len(code), 8):
        op, regs, off, imm = struct.unpack_from("<BBhi", code, i)
        if op == 0x18 and (regs >> 4) in (5, 6) and 0 <= imm < len(kmaps):
            src = 1 if (regs >> 4) == 5 else 2
            struct.pack_into("<BBhi", code, i, op, (regs & 0xF) | (src << 4), off,
                             kmaps[imm].fd.fileno())
    try:
        prog = KernelProgram.load(case.prog_type, bytes(code), log_level=1,
                                  expected_attach_type=case.attach)
    except VerifierError as e:
        return False, parse_verifier_log(e.log)[0], e.log
    finally:
        for m in kmaps:
            m.close()
    prog.close()
    return True, None, prog.log
