"""The kernel as an oracle: run a program body in the kernel and read back whole registers.

BPF_PROG_TEST_RUN reports only the low 32 bits of r0. To see all 64 bits (and the other
registers) the program itself stores them into the value of a one-element array map,
which is read back after the run. The map value's address comes from an ``lddw`` with
``src_reg=BPF_PSEUDO_MAP_VALUE`` (how global data is reached), so no helper call and no
stack slot is needed for it.

Two wrappings, both leaving the caller's instructions unchanged (but for the kernel-bug
workaround described last):

* r0 only (any body, including one with its own subprograms): the body becomes a
  subprogram of a small main function that calls it and stores its r0::

      0: call  pc+4            ; the body, as a bpf-to-bpf call
      1: r1 = map_value(fd)    ; lddw, 2 slots
      3: *(u64 *)(r1 + 0) = r0
      4: exit                  ; the body's r0 is still the program's return value
      5: <body>

* r0-r9 (``capture_regs=True``; a body without bpf-to-bpf calls whose registers are all
  written before they are read): every ``exit`` of the body becomes ``goto epilogue``
  (same size, so no jump offset changes) and the epilogue below is appended. The epilogue
  borrows the stack slot at r10-8 to free r1 for the map pointer; the body's stack is
  not compared, so overwriting it after the body ends is harmless::

      *(u64 *)(r10 - 8) = r1
      r1 = map_value(fd)
      *(u64 *)(r1 + 0) = r0 ; *(u64 *)(r1 + 16) = r2 ; ... ; *(u64 *)(r1 + 72) = r9
      r2 = *(u64 *)(r10 - 8)
      *(u64 *)(r1 + 8) = r2
      exit

Programs load as BPF_PROG_TYPE_SOCKET_FILTER: its test run takes any packet of at least
14 bytes (an Ethernet header), needs no context, and accepts any return value.

Kernel bug worked around (seen on 6.18.44, x86_64 JIT): a 32-bit ``cmpxchg`` must leave r0
zero-extended, and x86's ``cmpxchg`` only writes eax (zero-extending rax) when the compare
fails, so the verifier asks the JIT for an explicit zero-extension where it sees r0 read
as 64 bits later. When the path through the cmpxchg is pruned at a join (an equivalent
state was already explored) that later read is never seen, no zero-extension is emitted,
and a successful compare leaves r0's old high half in place. By default the oracle puts
``w0 = w0`` after every 32-bit cmpxchg of the body (an identity under the ISA's rules,
with jumps relocated) so the kernel computes what the ISA says; pass
``fix_cmpxchg32_zext=False`` to see the kernel's own answer.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from pybpf.isa import Instruction, Kind, decode, slot_indexes
from pybpf.isa.uapi import MapType, ProgType
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.programs import KernelProgram

ORACLE_PROG_TYPE = ProgType.SOCKET_FILTER
DEFAULT_PACKET = bytes(64)
CAPTURED_REGS = 10  # r0-r9; r10 is the frame pointer, an address that differs per engine
_KEY0 = bytes(4)
_make = Instruction.make


@dataclass(frozen=True)
class KernelRun:
    """What one oracle run saw."""

    r0: int                          # the full 64-bit r0 at exit
    retval: int                      # test_run's retval: the low 32 bits of r0
    regs: tuple[int, ...] | None     # r0-r9 at exit when run with capture_regs=True
    duration_ns: int


def call_wrapper(body: Sequence[Instruction], map_fd: int) -> list[Instruction]:
    """``body`` as a subprogram of a main function that stores its 64-bit r0 in the map."""
    main = [
        _make("call_local", imm=0),  # patched below, once the main's length is known
        _make("lddw_map_value", 1, imm=map_fd),
        _make("stx64", 1, 0, off=0),
        _make("exit"),
    ]
    body_start = sum(insn.slots for insn in main)
    main[0] = _make("call_local", imm=body_start - 1)
    return main + list(body)


def capture_wrapper(body: Sequence[Instruction], map_fd: int) -> list[Instruction]:
    """``body`` with each exit turned into a jump to an epilogue that stores r0-r9."""
    slots = slot_indexes(body)
    epilogue_at = slots[-1] + body[-1].slots if body else 0
    out: list[Instruction] = []
    for pc, insn in zip(slots, body):
        kind = insn.form.kind
        if kind is Kind.CALL and insn.form.op == "local" or (
                kind is Kind.LDDW and insn.form.op == "func"):
            raise ValueError(f"instruction {pc}: capture_regs needs a body without bpf-to-bpf "
                             "calls (an exit inside a subprogram is a return, not the end)")
        if kind is Kind.EXIT:
            off = epilogue_at - (pc + 1)
            if off > 0x7FFF:
                raise ValueError(f"instruction {pc}: body too long for a 16-bit jump to the "
                                 "epilogue")
            insn = _make("ja", off=off)
        out.append(insn)
    out += [
        _make("stx64", 10, 1, off=-8),
        _make("lddw_map_value", 1, imm=map_fd),
        _make("stx64", 1, 0, off=0),
        *(_make("stx64", 1, reg, off=8 * reg) for reg in range(2, CAPTURED_REGS)),
        _make("ldx64", 2, 10, off=-8),
        _make("stx64", 1, 2, off=8),
        _make("exit"),
    ]
    return out


_ZEXT_R0 = _make("mov32_reg", 0, 0)


def insert_after(body: Sequence[Instruction], wanted: Callable[[Instruction], bool],
                 extra: Instruction) -> list[Instruction]:
    """``body`` with ``extra`` after every instruction ``wanted`` picks, jumps relocated.

    A jump to the instruction after a picked one lands after the inserted copy, so only
    the path through the picked instruction runs it.
    """
    slots = slot_indexes(body)
    inserts = [pc + insn.slots for pc, insn in zip(slots, body) if wanted(insn)]
    if not inserts:
        return list(body)

    def moved(pc: int) -> int:
        return pc + bisect_right(inserts, pc) * extra.slots

    out: list[Instruction] = []
    for pc, insn in zip(slots, body):
        form = insn.form
        if form.kind in (Kind.JA, Kind.JUMP, Kind.MAY_GOTO):
            out.append(replace(insn, off=moved(pc + 1 + insn.off) - moved(pc) - 1))
        elif (form.kind is Kind.GOTOL or (form.kind is Kind.CALL and form.op == "local")
              or (form.kind is Kind.LDDW and form.op == "func")):
            out.append(replace(insn, imm=moved(pc + 1 + insn.imm) - moved(pc) - 1))
        else:
            out.append(insn)
        if wanted(insn):
            out.append(extra)
    return out


def _is_cmpxchg32(insn: Instruction) -> bool:
    return insn.form.name == "atomic32_cmpxchg"


class KernelOracle:
    """Loads and runs program bodies in the kernel; owns the map results come back in.

    Reuse one oracle for many runs: it keeps the map, and each run loads, runs and
    closes one program.
    """

    def __init__(self, fix_cmpxchg32_zext: bool = True) -> None:
        self.fix_cmpxchg32_zext = fix_cmpxchg32_zext
        self.map = KernelMap(MapType.ARRAY, 4, 8 * CAPTURED_REGS, 1, name="pybpf_oracle")

    def close(self) -> None:
        self.map.close()

    def __enter__(self) -> "KernelOracle":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, insns: bytes | Sequence[Instruction], *, capture_regs: bool = False,
            data: bytes = DEFAULT_PACKET) -> KernelRun:
        """Load ``insns`` wrapped as described in the module docstring, run it once on
        ``data``, and read back r0 (and r0-r9 with ``capture_regs``).

        Raises VerifierError when the kernel rejects the wrapped program.
        """
        body = decode(insns) if isinstance(insns, (bytes, bytearray, memoryview)) else list(insns)
        if self.fix_cmpxchg32_zext:
            body = insert_after(body, _is_cmpxchg32, _ZEXT_R0)
        wrap = capture_wrapper if capture_regs else call_wrapper
        program = wrap(body, self.map.fileno())
        with KernelProgram.load(ORACLE_PROG_TYPE, program, name="pybpf_oracle") as prog:
            result = prog.test_run(data=data, data_out_size=0)
        value = self.map.lookup(_KEY0)
        regs = struct.unpack(f"<{CAPTURED_REGS}Q", value)
        return KernelRun(r0=regs[0], retval=result.retval,
                         regs=regs if capture_regs else None, duration_ns=result.duration_ns)


_default: KernelOracle | None = None


def run_in_kernel(insns: bytes | Sequence[Instruction], *, capture_regs: bool = False,
                  data: bytes = DEFAULT_PACKET) -> KernelRun:
    """Run ``insns`` in the kernel with a process-wide :class:`KernelOracle`."""
    global _default
    if _default is None:
        _default = KernelOracle()
    return _default.run(insns, capture_regs=capture_regs, data=data)


__all__ = ["CAPTURED_REGS", "DEFAULT_PACKET", "KernelOracle", "KernelRun", "ORACLE_PROG_TYPE",
           "call_wrapper", "capture_wrapper", "insert_after", "run_in_kernel"]
