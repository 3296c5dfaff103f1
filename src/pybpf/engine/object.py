"""Live objects, the same for every engine: Object, Program, TestRunResult.

An engine turns an :class:`~pybpf.elf.spec.ObjectSpec` into maps and loaded programs;
what the user holds is always an :class:`Object` with ``programs`` and ``maps``, so
nothing above the engines (CLI, pcap runner, tests) knows which engine it drives.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pybpf.errors import BpfError

if TYPE_CHECKING:
    from pybpf.elf.spec import ObjectSpec, ProgramSpec, SourceLine
    from pybpf.env import Env
    from pybpf.isa import Instruction

_program_ids = itertools.count(1)


@dataclass(slots=True)
class TestRunResult:
    """What one ``test_run`` gave, as BPF_PROG_TEST_RUN reports it.

    ``retval`` is r0 as the kernel returns it (u32); ``r0`` the full 64-bit value where the
    engine can see it (userspace engines; None in the kernel); ``data``/``ctx`` the packet
    and context after the run; ``duration_ns`` the mean time per repeat. ``redirect`` is
    the interface a TX/REDIRECT verdict sends the packet to, when the engine knows it.
    """

    __test__ = False   # not a pytest test class, despite the name

    retval: int
    r0: int | None
    data: bytes | None
    ctx: bytes | None
    duration_ns: int
    redirect: int | None = None
    executed: int | None = None


class ProgramRunner(Protocol):
    """What an engine provides for each loaded program."""

    def test_run(self, data: bytes | None, ctx: bytes | None, repeat: int,
                 data_size_out: int | None, flags: int = 0, cpu: int = 0) -> TestRunResult: ...

    def close(self) -> None: ...


class Program:
    """A loaded program: its spec's facts, and ``test_run`` in whatever engine loaded it."""

    def __init__(self, spec: "ProgramSpec", runner: ProgramRunner, engine: str,
                 insns: list["Instruction"] | None = None, env: "Env | None" = None):
        self.spec = spec
        self.runner = runner
        self.engine = engine
        self.env = env          # the Env its runs see (None where pybpf cannot set it)
        self.verifier_log = ""  # the kernel verifier's log, when loaded with log_level
        self.id = next(_program_ids)
        self._insns = insns

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def section(self) -> str:
        return self.spec.section

    @property
    def type(self) -> int:
        return self.spec.type

    @property
    def attach_type(self) -> int | None:
        return self.spec.attach_type

    @property
    def insns(self) -> list["Instruction"]:
        """The instructions as loaded (CO-RE relocations applied)."""
        return list(self._insns if self._insns is not None else self.spec.insns)

    @property
    def source_lines(self) -> list["SourceLine | None"]:
        return list(self.spec.source_lines)

    def test_run(self, data: bytes | bytearray | memoryview | None = None,
                 ctx: bytes | bytearray | memoryview | None = None, repeat: int = 1, *,
                 data_size_out: int | None = None, flags: int = 0,
                 cpu: int = 0) -> TestRunResult:
        """Run the program once per ``repeat`` over ``data`` (and ``ctx``), as
        BPF_PROG_TEST_RUN does: the same input rules, outputs and errnos. ``flags`` and
        ``cpu`` are the kernel's (BPF_F_TEST_RUN_ON_CPU with ``cpu`` for raw tracepoints)."""
        if repeat.__class__ is not int or repeat < 0:
            if not isinstance(repeat, int) or repeat < 0:
                raise BpfError(f"repeat must be a non-negative int, not {repeat!r}")
        if data is not None and data.__class__ is not bytes:
            data = bytes(data)
        if ctx is not None and ctx.__class__ is not bytes:
            ctx = bytes(ctx)
        return self.runner.test_run(data, ctx, repeat or 1, data_size_out, flags, cpu)

    def native_target(self) -> tuple[int, int, int] | None:
        """Where native code enters this program for a tail call (jit engine), or None."""
        target = getattr(getattr(self.runner, "machine", None), "native_target", None)
        return target() if target is not None else None

    def pin(self, path: str | os.PathLike) -> None:
        """Pin the loaded program in bpffs at ``path`` (kernel engine)."""
        from pybpf.kernel.introspect import pin

        pin(self._kernel_program("pinning").fd, os.fspath(path))

    @classmethod
    def from_pin(cls, path: str | os.PathLike) -> "Program":
        """The program pinned at ``path``, ready for test_run and attach."""
        from pybpf.kernel.introspect import open_pinned

        return cls._from_fd(open_pinned(os.fspath(path)))

    @classmethod
    def from_id(cls, prog_id: int) -> "Program":
        """The loaded program with kernel id ``prog_id``."""
        from pybpf.kernel.introspect import open_prog

        return cls._from_fd(open_prog(prog_id))

    @classmethod
    def _from_fd(cls, fd: Any) -> "Program":
        from pybpf.elf.spec import ProgramSpec
        from pybpf.env import Env
        from pybpf.kernel.engine import KernelRunner
        from pybpf.kernel.introspect import object_kind, prog_info, prog_xlated
        from pybpf.kernel.programs import KernelProgram

        kind = object_kind(fd)
        if kind != "prog":
            fd.close()
            raise BpfError(f"that object is a {kind}, not a program")
        info = prog_info(fd)
        spec = ProgramSpec(info.name, "", info.type, prog_xlated(fd))
        runner = KernelRunner(KernelProgram(fd, info.type), Env(), pin=False)
        return cls(spec, runner, "kernel")

    def _kernel_program(self, what: str) -> Any:
        if self.engine != "kernel":
            raise BpfError(f"{self.name}: {what} needs a program loaded with "
                           f"engine='kernel' (this one runs in the {self.engine} engine)")
        return self.runner.program

    def attach(self, target: Any = None, **options: Any) -> Any:
        """Attach to the hook its section names (or ``attach_type=``), on ``target`` (an
        interface, cgroup path, socket, binary...): a Link that detaches on close. Only
        programs loaded into the kernel can be attached."""
        program = self._kernel_program("attaching")
        from pybpf.kernel.attach import attach

        if self.section:
            options.setdefault("section", self.section)
        if self.attach_type is not None:
            options.setdefault("attach_type", self.attach_type)
        return attach(program, target, **options)

    def __repr__(self) -> str:
        return f"<Program {self.name} section={self.section!r} engine={self.engine}>"


class Object:
    """A loaded object: ``programs`` by function name and ``maps`` by name.

    ``trace_pipe`` collects what ``bpf_trace_printk`` printed, one line per call.
    Close it (or use ``with``) to release what the engine holds (kernel fds).
    """

    def __init__(self, spec: "ObjectSpec", engine: str, env: "Env"):
        self.spec = spec
        self.engine = engine
        self.env = env
        self.programs: dict[str, Program] = {}
        self.maps: dict[str, Any] = {}
        self.trace_pipe: list[str] = []
        self._closers: list[Any] = []

    def close(self) -> None:
        for program in self.programs.values():
            program.runner.close()
        for closer in reversed(self._closers):
            closer()
        self._closers.clear()

    def __enter__(self) -> "Object":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Object {self.spec.path or ''} engine={self.engine} "
                f"programs={list(self.programs)} maps={list(self.maps)}>")
