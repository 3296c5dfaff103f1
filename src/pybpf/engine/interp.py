"""The interpreter engine: userspace maps in one shared Memory, a Machine per program.

Every map's storage is a set of regions in the object's :class:`Memory`, so a value
pointer a program gets from ``bpf_map_lookup_elem`` is a real address that Python's
``m.lookup`` reads too. A program's ``lddw`` of a map becomes the map's handle address
(``BPF_PSEUDO_MAP_FD``) or the address of its value plus an offset
(``BPF_PSEUDO_MAP_VALUE``, global data), resolved here once at load.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from pybpf.engine.object import Object, Program, TestRunResult
from pybpf.errors import BpfError, BpfSyscallError, ElfError
from pybpf.isa import Instruction, Kind
from pybpf.isa.opcodes import PSEUDO_MAP_FD, PSEUDO_MAP_VALUE
from pybpf.isa.uapi import ProgType
from pybpf.vm import Machine, Memory

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pybpf.elf.spec import MapSpec, ObjectSpec, ProgramSpec
    from pybpf.env import Env

_ZERO_KEY = bytes(4)
BPF_F_TEST_RUN_ON_CPU = 1


class InterpRunner:
    """test_run for one program in the interpreter."""

    def __init__(self, machine: Machine, spec: "ProgramSpec", obj: Object):
        from pybpf.vm.progtypes import program_type

        self.machine = machine
        self.object = obj
        self.program_type = program_type(spec.type, spec.attach_type)

    def test_run(self, data: bytes | None, ctx: bytes | None, repeat: int,
                 data_size_out: int | None, flags: int = 0, cpu: int = 0) -> TestRunResult:
        """One prepared context, run ``repeat`` times as BPF_PROG_TEST_RUN does (what a
        run changes, the packet or the context, the next run sees); the last run's
        result and the mean time per run."""
        machine, env = self.machine, self.object.env
        run_cpu = env.cpu if not flags and not cpu else self._cpu(flags, cpu, env)
        inv = self.program_type.prepare(machine.memory, env, data, ctx,
                                        data_size_out=data_size_out)
        call = machine.call
        try:
            call.ctx, call.cpu, call.env, call.runtime = inv.ctx, run_cpu, env, self.object
            result = machine.run(*inv.args, packet=inv.packet, repeat=repeat)
            retval, data_out, ctx_out = inv.finish(result.r0)
            redirect = _redirect(inv.ctx, retval)
        finally:
            call.ctx = None
            inv.close()
        return TestRunResult(retval, result.r0, data_out, ctx_out, result.elapsed_ns // repeat,
                             redirect, result.executed)

    def _cpu(self, flags: int, cpu: int, env: "Env") -> int:
        """The CPU a run uses, checking ``flags``/``cpu`` as BPF_PROG_TEST_RUN does: only
        raw tracepoints take BPF_F_TEST_RUN_ON_CPU; everything else wants both zero."""
        if not flags and not cpu:
            return env.cpu
        raw_tp = self.program_type.prog_type in (ProgType.RAW_TRACEPOINT,
                                                 ProgType.RAW_TRACEPOINT_WRITABLE)
        if not raw_tp or flags & ~BPF_F_TEST_RUN_ON_CPU or (cpu and not flags):
            raise BpfSyscallError(errno.EINVAL, f"test run of a {self.program_type.name} "
                                                f"program takes no flags {flags:#x} / cpu {cpu}")
        if cpu >= env.cpus:
            raise BpfSyscallError(errno.ENXIO, f"test run on CPU {cpu}: the Env has "
                                               f"{env.cpus} CPUs")
        return cpu

    def close(self) -> None:
        pass


XDP_TX, XDP_REDIRECT, TC_ACT_REDIRECT = 3, 4, 7


def _redirect(state: Any, retval: int) -> int | None:
    """The interface a TX/REDIRECT verdict sends the packet to (None for other verdicts)."""
    kind = getattr(state, "kind", None)
    if kind == "xdp" and retval == XDP_TX:
        return state.ingress_ifindex
    if (kind == "xdp" and retval == XDP_REDIRECT) or retval == TC_ACT_REDIRECT:
        target = getattr(state, "redirect_target", None)
        return target[0] if target else None
    return None


def load(spec: "ObjectSpec", env: "Env", target_btf: Any = None,
         budget: int | None = 1_000_000, *, machine_class: Any = Machine,
         runner_class: Any = InterpRunner, engine: str = "interp",
         machine_options: Mapping[str, Mapping[str, Any]] | None = None) -> Object:
    """Create the maps, resolve each program's map references, and build its Machine.

    The JIT engine is the same with ``machine_class=JitMachine`` (and its runner): both
    run on the userspace maps in one shared Memory. ``machine_options`` are more keyword
    arguments of a program's machine, by program name.
    """
    from pybpf.maps import create_map

    obj = Object(spec, engine, env)
    memory = Memory()
    for name, map_spec in spec.maps.items():
        obj.maps[name] = _create(create_map, map_spec, env, memory)
    for name, prog_spec in spec.programs.items():
        insns = relocated(prog_spec, spec, target_btf)
        constants = _constants(prog_spec, insns, obj.maps)
        machine = machine_class(insns, memory=memory, env=env, name=name,
                                constants=constants, budget=budget,
                                **(machine_options or {}).get(name, {}))
        machine.call.runtime = obj
        obj.programs[name] = Program(prog_spec, runner_class(machine, prog_spec, obj), engine,
                                     insns, env)
    _initial_contents(spec, obj)
    return obj


def _create(create_map: Any, map_spec: "MapSpec", env: "Env", memory: Memory) -> Any:
    m = create_map(map_spec, cpus=env.cpus)
    m.attach(memory)
    return m


def relocated(prog: "ProgramSpec", spec: "ObjectSpec", target_btf: Any) -> list[Instruction]:
    """The program's instructions with CO-RE relocations resolved (every engine's first
    step)."""
    if not prog.core_relos:
        return list(prog.insns)
    from pybpf.elf import apply_core, target_btf as default_target

    if spec.btf is None:
        raise ElfError(f"{prog.section}: CO-RE relocations but the object has no BTF")
    target = target_btf if target_btf is not None else default_target()
    return apply_core(prog, spec.btf, target)


def _constants(prog: "ProgramSpec", insns: list[Instruction], maps: dict[str, Any]) -> dict[int, int]:
    """The value of each map-referencing ``lddw``, by pc."""
    constants: dict[int, int] = {}
    pc = 0
    for insn in insns:
        form = insn.form
        if form.kind is Kind.LDDW and insn.src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
            m = maps.get(insn.reference or "")
            if m is None:
                raise BpfError(f"{prog.name}: instruction {pc} refers to map "
                               f"{insn.reference!r}, which the object does not define")
            if insn.src == PSEUDO_MAP_FD:
                constants[pc] = m.address
            else:
                base = m.prog_lookup(_ZERO_KEY, 0)
                offset = insn.imm >> 32
                if not base or offset >= m.value_size:
                    raise BpfError(f"{prog.name}: instruction {pc}: offset {offset} is outside "
                                   f"map {m.name} (value size {m.value_size})")
                constants[pc] = base + offset
        pc += insn.slots
    return constants


def _initial_contents(spec: "ObjectSpec", obj: Object) -> None:
    """``.values = {...}`` of prog arrays and map-in-maps, by the names they refer to."""
    for name, map_spec in spec.maps.items():
        for key, value in map_spec.contents:
            if isinstance(value, str):
                target = obj.programs.get(value) or obj.maps.get(value)
                if target is None:
                    raise BpfError(f"map {name}: initial value {value!r} is neither a program "
                                   f"nor a map of the object")
                value = target
            obj.maps[name].update(key, value)
