"""The kernel engine: an ObjectSpec loaded into the running kernel through bpf(2).

The same Object the interpreter gives: maps created with BTF and global data, programs
relocated (map fds, CO-RE) in userspace and loaded with func/line info, and
``test_run`` through BPF_PROG_TEST_RUN. A verifier rejection raises VerifierError with
the log, the first error and the C line of the failing instruction.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

from pybpf.engine.object import Object, Program, TestRunResult
from pybpf.errors import BpfError, BpfSyscallError, VerifierError
from pybpf.isa.uapi import ProgType
from pybpf.kernel.loader import create_map, kernel_map_name, load_btf, patch_maps, \
    program_load_info
from pybpf.kernel.objmap import KernelObjectMap
from pybpf.kernel.programs import KernelProgram

if TYPE_CHECKING:
    from pybpf.elf.spec import ObjectSpec, ProgramSpec
    from pybpf.env import Env


_RUN_ONCE_TYPES = (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE)


class KernelRunner:
    """test_run of one loaded kernel program."""

    def __init__(self, program: KernelProgram, env: "Env", pin: bool):
        self.program = program
        self.env = env
        self.pin = pin          # run on the Env's CPU (Env.kernel_pin_cpu)
        self._fast = program.packet_runner() if program.prog_type not in _RUN_ONCE_TYPES \
            else (lambda data, repeat: None)

    def test_run(self, data: bytes | None, ctx: bytes | None, repeat: int,
                 data_size_out: int | None, flags: int = 0, cpu: int = 0) -> TestRunResult:
        if data and ctx is None and data_size_out is None and not (flags or cpu or self.pin):
            fast = self._fast(data, repeat)
            if fast is not None:
                return TestRunResult(fast[0], None, fast[2], None, fast[1])
        return self._test_run(data, ctx, repeat, data_size_out, flags, cpu)

    def _test_run(self, data: bytes | None, ctx: bytes | None, repeat: int,
                  data_size_out: int | None, flags: int, cpu: int) -> TestRunResult:
        # test_run runs on the calling thread's CPU: pinned to the Env's, per-CPU values
        # land where the userspace engines put them.
        saved = os.sched_getaffinity(0) if self.pin else set()
        pinned = self.env.cpu in saved and saved != {self.env.cpu}
        if pinned:
            os.sched_setaffinity(0, {self.env.cpu})
        if self.program.prog_type in _RUN_ONCE_TYPES:
            repeat = 0        # these run exactly once, and the kernel refuses a repeat count
        try:
            r = self.program.test_run(data or b"", ctx, repeat, data_out_size=data_size_out,
                                      flags=flags, cpu=cpu)
        finally:
            if pinned:
                os.sched_setaffinity(0, saved)
        return TestRunResult(r.retval, None, r.data_out if data is not None else None,
                             r.ctx_out if ctx is not None else None, r.duration_ns)

    def fileno(self) -> int:
        return self.program.fileno()

    def close(self) -> None:
        self.program.close()


LIBBPF_PIN_BY_NAME = 1


def load(spec: "ObjectSpec", env: "Env", target_btf: Any = None, log_level: int = 0,
         pin_root: str | None = None) -> Object:
    """Create the maps and load every program of ``spec`` into the kernel.

    A map whose definition says ``pinning = LIBBPF_PIN_BY_NAME`` is pinned at
    ``pin_root/<name>`` (default /sys/fs/bpf), or reused from there when a compatible map
    is already pinned, as libbpf does.
    """
    from pybpf.engine.interp import relocated

    obj = Object(spec, "kernel", env)
    if any(_prints(p.insns) for p in spec.programs.values()):
        from pybpf.kernel.tracefs import LiveTraceLines, TracePipe

        obj.trace_pipe = LiveTraceLines(TracePipe(instance=True))
        obj._closers.append(obj.trace_pipe.close)
    btf_fd = load_btf(spec.btf.raw) if spec.btf is not None else None
    if btf_fd is not None:
        obj._closers.append(btf_fd.close)
    try:
        for name, map_spec in spec.maps.items():
            if map_spec.pinning == LIBBPF_PIN_BY_NAME:
                obj.maps[name] = _pinned_map(map_spec, btf_fd, pin_root)
            else:
                obj.maps[name] = KernelObjectMap(create_map(map_spec, btf_fd), map_spec)
            obj._closers.append(obj.maps[name].close)
        for name, prog_spec in spec.programs.items():
            insns = patch_maps(prog_spec, relocated(prog_spec, spec, target_btf), obj.maps)
            kernel_prog = _load_program(prog_spec, insns, spec, btf_fd, log_level)
            runner = KernelRunner(kernel_prog, env, pin=env.kernel_pin_cpu)
            program = Program(prog_spec, runner, "kernel", insns)
            program.verifier_log = kernel_prog.log     # the log at log_level 1 or 2
            program.fileno = kernel_prog.fileno       # type: ignore[method-assign]
            obj.programs[name] = program
        for name, map_spec in spec.maps.items():
            for key, value in map_spec.contents:
                if isinstance(value, str):
                    target = obj.programs.get(value) or obj.maps.get(value)
                    if target is None:
                        raise BpfError(f"map {name}: initial value {value!r} is neither a "
                                       f"program nor a map of the object")
                    obj.maps[name].update(key, target)
    except BaseException:
        obj.close()
        raise
    return obj


_PRINTK_HELPERS = (6, 177)     # bpf_trace_printk, bpf_trace_vprintk


def _prints(insns: list) -> bool:
    """Whether a program calls bpf_printk (so the object needs a trace_pipe reader)."""
    return any(insn.opcode == 0x85 and insn.src == 0 and insn.imm in _PRINTK_HELPERS
               for insn in insns)


def _pinned_map(spec: Any, btf_fd: Any, pin_root: str | None) -> KernelObjectMap:
    """The map pinned under its name, reused if compatible, else created and pinned."""
    from pybpf.kernel.introspect import ensure_bpffs

    root = pin_root or ensure_bpffs()
    path = os.path.join(root, spec.name)
    try:
        existing = KernelObjectMap.from_pin(path)
    except BpfSyscallError as e:
        if e.errno != errno.ENOENT:
            raise
    else:
        km = existing.kernel_map
        mine = (spec.type, spec.key_size, spec.value_size, spec.max_entries, spec.flags)
        theirs = (km.map_type, km.key_size, km.value_size, km.max_entries, km.flags)
        if mine != theirs:
            existing.close()
            raise BpfError(f"map {spec.name}: the map pinned at {path} is incompatible "
                           f"(type, key, value, max_entries, flags {theirs} != {mine})")
        existing.spec, existing.key_type, existing.value_type = spec, spec.key_type, \
            spec.value_type
        return existing
    m = KernelObjectMap(create_map(spec, btf_fd), spec)
    m.pin(path)
    return m


def _load_program(prog: "ProgramSpec", insns: list, spec: "ObjectSpec", btf_fd: Any,
                  log_level: int) -> KernelProgram:
    info = program_load_info(prog, spec.btf.raw) if btf_fd is not None else {}
    try:
        return KernelProgram.load(
            prog.type, insns, prog.license or spec.license or "GPL", log_level,
            name=kernel_map_name(prog.name), prog_flags=prog.flags,
            expected_attach_type=prog.attach_type or 0, btf_fd=btf_fd,
            func_info=info.get("func_info"), line_info=info.get("line_info"),
            attach_btf_id=_attach_btf_id(prog))
    except VerifierError as e:
        raise _with_source(e, prog, insns) from None


def _attach_btf_id(prog: "ProgramSpec") -> int:
    """The vmlinux BTF id a tp_btf/fentry/fexit/lsm program attaches to (0 for others)."""
    section = prog.section.split("/", 1)
    kind = section[0].split(".")[0]
    if kind not in ("tp_btf", "fentry", "fexit", "fmod_ret", "lsm", "iter") or \
            len(section) < 2:
        return 0
    from pybpf.elf import target_btf

    target = section[1]
    name = {"tp_btf": f"btf_trace_{target}", "lsm": f"bpf_lsm_{target}",
            "iter": f"bpf_iter_{target}"}.get(kind, target)
    found = target_btf().find(name)
    if found is None:
        raise BpfError(f"{prog.name}: section {prog.section}: the kernel's BTF has no "
                       f"{name} to attach to")
    return found.id


def _with_source(error: VerifierError, prog: "ProgramSpec", insns: list) -> VerifierError:
    """The error with the C source line of the failing instruction pointed out."""
    if error.insn is None:
        return error
    slot = 0
    for i, insn in enumerate(insns):
        if slot >= error.insn:
            line = prog.source_lines[i] if i < len(prog.source_lines) else None
            if line is not None and slot == error.insn:
                error.source_line = line
                error.args = (f"{error.args[0]}\n  at {line}: {line.text.strip()}",)
            break
        slot += insn.slots
    return error
