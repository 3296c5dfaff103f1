"""The reference interpreter: a compiled program bound to memory, helpers and a budget.

``Machine(insns).run(mem=b"...")`` runs a program the way the kernel would, with every
memory access checked. The program is compiled once (see :mod:`pybpf.vm.compiler`);
the traced variant is compiled on first use of ``trace``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from pybpf.errors import BpfDecodeError, BpfHelperError, BpfLimitError, BpfRuntimeError
from pybpf.isa import Instruction, Kind, decode, encode
from pybpf.vm import compiler, semantics
from pybpf.vm.helpers import (
    DEFAULT_HELPERS, CallContext, HelperRegistry, ProgramExit, TailCall,
)
from pybpf.vm.memory import Memory, Region

DEFAULT_BUDGET = 1_000_000
MAX_TAIL_CALLS = 33          # MAX_TAIL_CALL_CNT
_UNLIMITED = 1 << 62
_USE_DEFAULT: Any = object()


@dataclass
class TraceStep:
    """One executed instruction: its index, text, and the registers it changed."""

    pc: int
    insn: Instruction
    text: str
    changed: dict[int, int]
    regs: tuple[int, ...]


@dataclass
class RunResult:
    """What a run produced. ``regs`` is None when a helper ended the program early."""

    r0: int
    regs: tuple[int, ...] | None
    executed: int
    elapsed_ns: int
    mem: bytes | None = None
    trace: list[TraceStep] | None = field(default=None, repr=False)

    @property
    def retval(self) -> int:
        """r0 truncated to 32 bits, as the kernel's test_run reports it."""
        return self.r0 & 0xFFFFFFFF


class Machine:
    """A program ready to run in the interpreter.

    ``memory`` may be shared between the programs of one object, so that their maps and
    a tail call's target see the same regions. ``constants`` resolves pseudo ``lddw``
    values (map addresses...) by pc; ``env`` is handed to helpers.
    """

    def __init__(self, program: Sequence[Instruction] | bytes, *,
                 helpers: HelperRegistry | None = None, memory: Memory | None = None,
                 budget: int | None = DEFAULT_BUDGET, constants: dict[int, int] | None = None,
                 env: Any = None, name: str = "prog"):
        insns = decode(program) if isinstance(program, (bytes, bytearray, memoryview)) \
            else list(program)
        if not insns:
            raise BpfDecodeError("empty program")
        self.name = name
        self.insns = insns
        self.program = compiler.Program.from_insns(insns)
        self.helpers = helpers if helpers is not None else DEFAULT_HELPERS
        self.memory = memory if memory is not None else Memory()
        self.budget = budget
        self.env = env
        self.constants = dict(constants or {})
        self.code_region = self.memory.add(Region(f"{name}.text", encode(insns), writable=False,
                                                  kind="code"))
        self.stacks = [self.memory.add(Region(f"{name}.stack[{i}]", compiler.MAX_STACK,
                                              kind="stack"))
                       for i in range(compiler.MAX_CALL_FRAMES)]
        self.call = CallContext(self.memory, env, program=self)
        self._callback_stacks: list[list[int]] = []
        self._callback_level = 0
        self._scratch: Region | None = None
        self._budget_left = _UNLIMITED
        self._packet: Region | None = None
        self._fast = self._build(trace=False)
        self._traced: Callable | None = None
        self._trace_sink: list[TraceStep] | None = None

    # -- building -------------------------------------------------------------------------

    def source(self, trace: bool = False) -> str:
        """The generated Python source (for debugging the interpreter itself)."""
        return compiler.generate(self.program, self.constants, trace=trace)

    def _build(self, trace: bool) -> Callable:
        namespace: dict[str, Any] = dict(semantics.RUNTIME)
        namespace.update(self.memory.accessors())
        namespace.update(
            FAULT=BpfRuntimeError, LIMIT=BpfLimitError, HELPER_ERROR=BpfHelperError,
            CALL=self.call, HELPER=self._helper_by_id, CODE=self.code_region.address,
            STACKS=[s.end for s in self.stacks],
            FUNCS={self.code_region.address + 8 * pc: pc for pc in self.program.functions},
            DEPTH={pc: self.program.stack_depth[pc] for pc in self.program.functions},
            ADDR_SPACE_CAST=self._addr_space_cast, TRACE=self._record,
        )
        for size in (1, 2, 4):
            namespace[f"PKT{size}"] = self._packet_loader(size)
        for insn, form in self.program.by_pc.values():
            if form.kind is Kind.CALL and form.op == "helper":
                hid = insn.imm & 0xFFFFFFFF
                namespace[f"H{hid}"] = self._bind_helper(hid)
        source = compiler.generate(self.program, self.constants, trace=trace)
        code = compile(source, f"<bpf {self.name}{' traced' if trace else ''}>", "exec")
        exec(code, namespace)
        return namespace["run"]

    def _bind_helper(self, hid: int) -> Callable:
        spec = self.helpers.get(hid)
        if spec is not None:
            return spec.func

        def missing(call: CallContext, *args: int) -> int:
            raise BpfHelperError(f"unknown helper {self.helpers.describe(hid)}: not implemented",
                                 call.pc)
        return missing

    def _helper_by_id(self, hid: int, pc: int) -> Callable:
        return self.helpers.lookup(hid & 0xFFFFFFFFFFFFFFFF, pc).func

    def _packet_loader(self, size: int) -> Callable[[int, int], int]:
        def load(offset: int, pc: int) -> int:
            packet = self._packet
            offset &= 0xFFFFFFFF               # the 32-bit offset, signed
            if offset & 0x80000000:
                offset -= 1 << 32
            if packet is None:
                raise ProgramExit(0)
            if offset < 0:
                # SKF_NET_OFF / SKF_LL_OFF: relative to the network or link-layer header,
                # which only a packet view that knows its headers can resolve.
                relative = getattr(packet, "read_relative", None)
                data = relative(offset, size) if relative is not None else None
                if data is None:
                    raise ProgramExit(0)
                return int.from_bytes(data, "big")
            if offset + size > packet.size:
                raise ProgramExit(0)   # the kernel ends the program with 0
            return int.from_bytes(packet.read(offset, size), "big")
        return load

    def _addr_space_cast(self, value: int, imm: int, pc: int) -> int:
        raise BpfRuntimeError(f"addr_space_cast (imm {imm:#x}) needs an arena map", pc)

    def _record(self, pc: int, regs: tuple[int, ...]) -> None:
        sink = self._trace_sink
        if sink is None:
            return
        before = sink[-1].regs if sink else self._trace_start
        changed = {i: v for i, (v, old) in enumerate(zip(regs, before)) if v != old}
        insn = self.program.by_pc[pc][0]
        sink.append(TraceStep(pc, insn, "", changed, regs))

    # -- running --------------------------------------------------------------------------

    def run(self, *args: int, mem: bytes | bytearray | None = None,
            packet: bytes | Region | None = None, trace: bool = False,
            budget: int | None = _USE_DEFAULT, repeat: int = 1) -> RunResult:
        """Run the program (``repeat`` times, each run seeing what the last one left, as
        BPF_PROG_TEST_RUN's repeat does; the result is the last run's, the time all of
        them).

        ``args`` are r1..r5. With ``mem``, a writable copy of it becomes a region and r1,
        r2 are its address and length (the conformance suite's convention). ``packet``
        is what legacy packet loads read. The budget (default: the machine's) bounds
        the instructions executed by each run; None means no bound.
        """
        regs = list(args) + [0] * (5 - len(args))
        if len(regs) > 5:
            raise ValueError("a program takes at most 5 arguments (r1-r5)")
        mem_region = None
        if mem is not None:
            mem_region = self.memory.add(Region("mem", bytes(mem), kind="mem"))
            regs[0], regs[1] = mem_region.address if len(mem) else 0, len(mem)
        if isinstance(packet, (bytes, bytearray)):
            packet = Region("packet", bytes(packet), writable=False, kind="packet")
        self._packet = packet
        limit = self.budget if budget is _USE_DEFAULT else budget
        limit = _UNLIMITED if limit is None else limit
        steps: list[TraceStep] | None = None
        start = time.perf_counter_ns()
        try:
            for _ in range(max(repeat, 1)):
                for stack in self.stacks:
                    stack.clear()
                if trace:
                    if self._traced is None:
                        self._traced = self._build(trace=True)
                    steps = []
                    self._trace_sink = steps
                    self._trace_start = (0, *regs[:5], 0, 0, 0, 0, self.stacks[0].end)
                self.call.tail_calls = 0
                self._budget_left = limit
                final, executed = self._execute(regs, limit, trace)
            r0 = final[0] if final is not None else None
        finally:
            self._trace_sink = None
            self._packet = None
            out = mem_region.read() if mem_region is not None else None
            if mem_region is not None:
                self.memory.remove(mem_region)
        elapsed = time.perf_counter_ns() - start
        if steps is not None:
            from pybpf.asm import format_instruction
            for step in steps:
                step.text = format_instruction(step.insn)
        return RunResult(r0, final if final is not None and len(final) == 11 else None,
                         executed, elapsed, out, steps)

    def scratch(self, size: int) -> Region:
        """A read-only region of at least ``size`` bytes that helpers hand to callbacks
        (``bpf_for_each_map_elem``'s key pointer); Python writes it, programs only read."""
        region = self._scratch
        if region is None or region.size < size:
            if region is not None:
                self.memory.remove(region)
            region = self._scratch = self.memory.add(
                Region(f"{self.name}.scratch", max(size, 64), writable=False, kind="scratch"))
        return region

    def call_function(self, address: int, *args: int) -> int:
        """Run the BPF function at code ``address`` with r1.. = ``args``; return its r0.

        Helpers that take a callback (``bpf_loop``, ``bpf_for_each_map_elem``) call this.
        The callback runs on stacks of its own, so the frames of the program that called
        the helper stay intact; its instructions count against the run's budget.
        """
        entry = (address - self.code_region.address) // 8
        if address % 8 or entry not in self.program.stack_depth:
            raise BpfRuntimeError(f"callback address {address:#x} is not a function of "
                                  f"{self.name}", self.call.pc)
        level = self._callback_level
        if level >= compiler.MAX_CALL_FRAMES:
            raise BpfLimitError(f"callbacks nested more than {compiler.MAX_CALL_FRAMES} deep",
                                self.call.pc)
        while len(self._callback_stacks) <= level:
            n = len(self._callback_stacks)
            self._callback_stacks.append([
                self.memory.add(Region(f"{self.name}.callback[{n}].stack[{i}]",
                                       compiler.MAX_STACK, kind="stack")).end
                for i in range(compiler.MAX_CALL_FRAMES)])
        stacks = self._callback_stacks[level]
        regs = list(args) + [0] * (5 - len(args))
        pc = self.call.pc
        self._callback_level += 1
        try:
            final, count = self._fast(*regs[:5], stacks[0], self._budget_left, entry, stacks)
        finally:
            self._callback_level -= 1
            self.call.pc = pc
        self._budget_left -= count
        return final[0]

    def _execute(self, regs: list[int], limit: int, trace: bool) -> tuple[Any, int]:
        machine: Machine = self
        executed = 0
        r1 = regs[0]
        while True:
            fn = machine._traced if trace and machine is self else None
            if fn is None:
                if trace and machine._traced is None:
                    machine._traced = machine._build(trace=True)
                fn = machine._traced if trace else machine._fast
            try:
                final, count = fn(*regs[:5], self.stacks[0].end, limit - executed)
                return final, executed + count
            except ProgramExit as stop:
                return (stop.r0 & semantics.M64,), executed
            except TailCall as tail:
                target = tail.target
                if not isinstance(target, Machine):
                    raise BpfRuntimeError(f"tail call target {target!r} is not a program",
                                          self.call.pc) from None
                current = machine.call
                if current.tail_calls + 1 > MAX_TAIL_CALLS:
                    raise BpfLimitError(f"more than {MAX_TAIL_CALLS} chained tail calls",
                                        current.pc) from None
                # The target runs in the same invocation: same context, CPU, environment.
                target.call.tail_calls = current.tail_calls + 1
                target.call.ctx, target.call.cpu = current.ctx, current.cpu
                target.call.env, target.call.runtime = current.env, current.runtime
                target._packet, target._budget_left = machine._packet, machine._budget_left
                machine = target
                regs = [r1, 0, 0, 0, 0]
