"""Seccomp filters: build them from rules, export them as classic BPF, evaluate, install.

A :class:`Filter` holds an architecture, a default action and rules. A rule is an action,
a system call and zero or more argument comparisons (``Arg(0) == 3``, ``Arg(1) & 0o3 == 1``);
all comparisons of a rule must hold for it to match. Rules are tried **in the order they were
added**, per system call; the first that matches decides, else the default action does.
(libseccomp has no rule order: where at most one action can match, the two agree, and tests
check that against libseccomp's own filters.)

The program :meth:`Filter.to_cbpf` emits checks, as libseccomp's do:

1. ``seccomp_data.arch`` is the filter's audit arch, else the ``bad_arch`` action;
2. on x86_64, a system call number with ``__X32_SYSCALL_BIT`` (or any higher bit) set is an
   x32 (or bogus) call, also given ``bad_arch`` — except -1, which a tracer sets to skip a
   call and which goes on to the rules (so, normally, the default action);
3. the system call number selects its rules; each 64-bit argument comparison is done on the
   high 32-bit word, then the low one (the classic machine's accumulator has 32 bits).

:func:`run_filter` evaluates a seccomp program (checked as seccomp(2) checks it) on a packed
``struct seccomp_data`` with the shared classic machine. :meth:`Filter.install` loads the
filter into the calling thread with ``prctl(PR_SET_NO_NEW_PRIVS)`` and
``seccomp(SECCOMP_SET_MODE_FILTER)``: irreversible, so tests do it only in forked children.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import platform
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence, Union

from pybpf.cbpf import insn as I
from pybpf.cbpf.insn import CInsn, as_program, encode
from pybpf.cbpf.seccomp_tables import AARCH64, X86_64
from pybpf.errors import BpfDecodeError, BpfSyscallError, BpfValueError

AUDIT_ARCH_X86_64 = 0xC000003E    # EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH_AARCH64 = 0xC00000B7   # EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH_I386 = 0x40000003      # EM_386 | __AUDIT_ARCH_LE
X32_SYSCALL_BIT = 0x40000000

ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (AUDIT_ARCH_X86_64, X86_64),
    "aarch64": (AUDIT_ARCH_AARCH64, AARCH64),
}

SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
MAX_ERRNO = 4095
# seccomp(2) flags for Filter.install
FLAG_TSYNC, FLAG_LOG, FLAG_SPEC_ALLOW, FLAG_NEW_LISTENER, FLAG_TSYNC_ESRCH = 1, 2, 4, 8, 16

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
SECCOMP_DATA = struct.Struct("<iIQ6Q")
OFF_NR, OFF_ARCH, OFF_ARGS = 0, 4, 16

_KINDS = {0x80000000: "KILL_PROCESS", 0x00000000: "KILL_THREAD", 0x00030000: "TRAP",
          0x00050000: "ERRNO", 0x7FC00000: "USER_NOTIF", 0x7FF00000: "TRACE",
          0x7FFC0000: "LOG", 0x7FFF0000: "ALLOW"}


class Action:
    """A seccomp return value (``SECCOMP_RET_*``): the action and its 16 data bits.

    ``Action.ALLOW``, ``KILL_PROCESS``, ``KILL_THREAD``, ``TRAP``, ``LOG``, ``USER_NOTIF`` are
    constants; ``Action.ERRNO(n)`` (0..4095, the kernel's MAX_ERRNO) and ``Action.TRACE(n)``
    (0..65535) carry a value. Compares equal by value; ``int(action)`` is the return value.
    """

    __slots__ = ("value",)
    ALLOW: Action
    KILL_PROCESS: Action
    KILL_THREAD: Action
    TRAP: Action
    LOG: Action
    USER_NOTIF: Action

    def __init__(self, value: int):
        if not 0 <= value <= 0xFFFFFFFF:
            raise BpfValueError(f"seccomp return value {value:#x} is not 32-bit")
        self.value = value

    @staticmethod
    def ERRNO(err: int) -> Action:  # noqa: N802 - reads like the kernel's name
        if isinstance(err, int) and err > MAX_ERRNO:
            raise BpfValueError(f"errno {err} is above MAX_ERRNO ({MAX_ERRNO})")
        return Action(0x00050000 | _data16(err, "errno"))

    @staticmethod
    def TRACE(msg: int) -> Action:  # noqa: N802
        return Action(0x7FF00000 | _data16(msg, "trace value"))

    @property
    def kind(self) -> str:
        """The action's name (``"ERRNO"``), or ``"UNKNOWN"`` (the kernel kills the process)."""
        return _KINDS.get(self.value & SECCOMP_RET_ACTION_FULL, "UNKNOWN")

    @property
    def data(self) -> int:
        return self.value & SECCOMP_RET_DATA

    def __int__(self) -> int:
        return self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Action) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        kind = self.kind
        if kind in ("ERRNO", "TRACE"):
            return f"Action.{kind}({self.data})"
        if kind == "UNKNOWN" or self.data:
            return f"Action({self.value:#010x})"
        return f"Action.{kind}"


def _data16(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= SECCOMP_RET_DATA:
        raise BpfValueError(f"{what} {value!r} does not fit the 16 data bits of a seccomp action")
    return value


for _value, _name in _KINDS.items():
    if _name not in ("ERRNO", "TRACE"):
        setattr(Action, _name, Action(_value))


@dataclass(frozen=True)
class Comparison:
    """``(args[index] & mask) <op> value`` on unsigned ``bits``-wide argument values."""

    index: int
    op: str
    value: int
    mask: int
    bits: int = 64

    def matches(self, args: Sequence[int]) -> bool:
        """The rule's meaning, in Python (the reference the generated cBPF is tested against)."""
        full = (1 << self.bits) - 1
        a = args[self.index] & full & self.mask
        v = self.value
        return {"==": a == v, "!=": a != v, "<": a < v, "<=": a <= v, ">": a > v,
                ">=": a >= v}[self.op]

    def __repr__(self) -> str:
        full = (1 << self.bits) - 1
        arg = f"Arg({self.index}{', bits=32' if self.bits == 32 else ''})"
        if self.mask != full:
            arg += f" & {self.mask:#x}"
        return f"{arg} {self.op} {self.value:#x}"


class Arg:
    """System call argument ``index`` (0..5), compared as an unsigned 64-bit value, or only
    its low 32 bits with ``bits=32``. ``Arg(1) & 0o3 == 0o1`` is a masked comparison.
    Negative constants are taken in two's complement of the argument's width."""

    __hash__ = None  # type: ignore[assignment]  # == builds a Comparison

    def __init__(self, index: int, *, bits: int = 64, mask: int | None = None):
        if not isinstance(index, int) or not 0 <= index <= 5:
            raise BpfValueError(f"seccomp argument index {index!r} is not in 0..5")
        if bits not in (32, 64):
            raise BpfValueError(f"argument width {bits!r} is not 32 or 64")
        self.index, self.bits = index, bits
        self.mask = (1 << bits) - 1 if mask is None else self._const(mask)

    def _const(self, value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise BpfValueError(f"argument comparisons take integers, not {value!r}")
        if not -(1 << (self.bits - 1)) <= value < (1 << self.bits):
            raise BpfValueError(f"{value:#x} does not fit a {self.bits}-bit argument")
        return value & ((1 << self.bits) - 1)

    def __and__(self, mask: int) -> Arg:
        return Arg(self.index, bits=self.bits, mask=self.mask & self._const(mask))

    __rand__ = __and__

    def _cmp(self, op: str, value: object) -> Comparison:
        value = self._const(value)
        if op in ("==", "!=") and value & ~self.mask:
            # never equal; libseccomp would silently compare against value & mask instead
            raise BpfValueError(f"Arg({self.index}) & {self.mask:#x} {op} {value:#x}: the value "
                                "has bits outside the mask")
        return Comparison(self.index, op, value, self.mask, self.bits)

    def __eq__(self, value: object) -> Comparison:  # type: ignore[override]
        return self._cmp("==", value)

    def __ne__(self, value: object) -> Comparison:  # type: ignore[override]
        return self._cmp("!=", value)

    def __lt__(self, value: int) -> Comparison:
        return self._cmp("<", value)

    def __le__(self, value: int) -> Comparison:
        return self._cmp("<=", value)

    def __gt__(self, value: int) -> Comparison:
        return self._cmp(">", value)

    def __ge__(self, value: int) -> Comparison:
        return self._cmp(">=", value)


@dataclass(frozen=True)
class Rule:
    """One rule as added: ``nr`` is the number on the filter's arch, ``name`` None for a raw
    number with no name there; it matches when all ``comparisons`` hold."""

    action: Action
    nr: int
    name: str | None
    comparisons: tuple[Comparison, ...] = ()

    def matches(self, args: Sequence[int]) -> bool:
        return all(c.matches(args) for c in self.comparisons)


Syscall = Union[str, int]


def syscall_number(name: str, arch: str | None = None) -> int:
    """The number of system call ``name`` on ``arch`` (default: the host's); BpfValueError
    naming both if the arch has no such call."""
    arch = arch or host_arch()
    table = _arch(arch)[1]
    try:
        return table[name]
    except KeyError:
        raise BpfValueError(f"unknown system call {name!r} on {arch}") from None


def syscall_name(nr: int, arch: str | None = None) -> str | None:
    """The name of system call ``nr`` on ``arch`` (default: the host's), None if unknown."""
    for name, number in _arch(arch or host_arch())[1].items():
        if number == nr:
            return name
    return None


def _arch(arch: str) -> tuple[int, dict[str, int]]:
    try:
        return ARCHES[arch]
    except KeyError:
        raise BpfValueError(f"unsupported seccomp arch {arch!r}; known: {', '.join(ARCHES)}") from None


def host_arch() -> str:
    machine = platform.machine()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine)


class Filter:
    """A seccomp filter for one architecture (default: the host's).

    ``default`` answers calls no rule matches; ``bad_arch`` answers calls of another arch
    (and x32 calls on x86_64). Rules are tried in the order added; methods that add rules
    return the filter, so they chain: ``Filter(Action.ALLOW).deny("mkdir", errno=EACCES)``.
    """

    def __init__(self, default: Action = Action.KILL_PROCESS, arch: str | None = None,
                 bad_arch: Action = Action.KILL_PROCESS):
        self.arch = arch or host_arch()
        self.audit_arch = _arch(self.arch)[0]
        self.default = _action(default)
        self.bad_arch = _action(bad_arch)
        self._rules: list[Rule] = []
        self._program: list[CInsn] | None = None

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    def add_rule(self, action: Action, syscall: Syscall | Iterable[Syscall],
                 *comparisons: Comparison) -> Filter:
        """Add ``action`` for ``syscall`` (a name, a number, or several) when every comparison holds."""
        action = _action(action)
        for c in comparisons:
            if not isinstance(c, Comparison):
                raise BpfValueError(f"{c!r} is not an argument comparison (write Arg(0) == 3)")
        names = [syscall] if isinstance(syscall, (str, int)) else list(syscall)
        for sc in names:
            if isinstance(sc, str):
                nr, name = syscall_number(sc, self.arch), sc
            elif isinstance(sc, int) and not isinstance(sc, bool) and -(1 << 31) <= sc < (1 << 32):
                nr, name = sc & 0xFFFFFFFF, syscall_name(sc & 0xFFFFFFFF, self.arch)
            else:
                raise BpfValueError(f"{sc!r} is not a system call name or number")
            self._rules.append(Rule(action, nr, name, tuple(comparisons)))
        self._program = None
        return self

    def allow(self, syscall: Syscall | Iterable[Syscall], *comparisons: Comparison) -> Filter:
        return self.add_rule(Action.ALLOW, syscall, *comparisons)

    def deny(self, syscall: Syscall | Iterable[Syscall], *comparisons: Comparison,
             errno: int = _errno.EPERM) -> Filter:
        """Make ``syscall`` fail with ``errno`` (when the comparisons hold)."""
        return self.add_rule(Action.ERRNO(errno), syscall, *comparisons)

    def decide(self, nr: int, args: Sequence[int] = ()) -> Action:
        """The rules' answer for a call of this filter's arch, without running the cBPF."""
        args = tuple(args) + (0,) * (6 - len(args))
        if self.arch == "x86_64" and X32_SYSCALL_BIT <= nr & 0xFFFFFFFF != 0xFFFFFFFF:
            return self.bad_arch
        for rule in self._rules:
            if rule.nr == nr & 0xFFFFFFFF and rule.matches(args):
                return rule.action
        return self.default

    # -- export ---------------------------------------------------------------------------

    def to_cbpf(self) -> list[CInsn]:
        """The filter as classic BPF (at most 4096 instructions, as the kernel requires)."""
        if self._program is None:
            from pybpf.cbpf.seccomp_codegen import compile_rules

            self._program = compile_rules(self)
        return list(self._program)

    def to_bytes(self) -> bytes:
        return encode(self.to_cbpf())

    __bytes__ = to_bytes

    # -- running --------------------------------------------------------------------------

    def evaluate(self, syscall: Syscall, args: Sequence[int] = (), arch: str | int | None = None,
                 instruction_pointer: int = 0) -> Action:
        """Run the exported cBPF on a ``struct seccomp_data`` built from the arguments.

        ``arch`` is an arch name, a raw ``AUDIT_ARCH_*`` value (e.g. :data:`AUDIT_ARCH_I386`),
        or None for the filter's own. Names are resolved on ``arch`` where it is known.
        """
        if arch is None:
            arch = self.arch
        if isinstance(arch, str):
            audit, table_arch = _arch(arch)[0], arch
        else:
            audit, table_arch = arch, next((n for n, (a, _) in ARCHES.items() if a == arch), self.arch)
        nr = syscall_number(syscall, table_arch) if isinstance(syscall, str) else syscall
        if self._program is None:
            self.to_cbpf()
        return Action(run_filter(self._program, seccomp_data(nr, audit, args, instruction_pointer)))

    def install(self, flags: int = 0, *, no_new_privs: bool = True) -> int:
        """Load the filter into the calling thread (and, with FLAG_TSYNC, its process).

        Irreversible. Returns seccomp(2)'s result (a listener fd with FLAG_NEW_LISTENER).
        Refuses a filter for another arch: every system call would get ``bad_arch``.
        """
        if self.arch != host_arch():
            raise BpfValueError(f"a {self.arch} filter cannot be installed on {host_arch()}")
        return install_program(self.to_cbpf(), flags, no_new_privs=no_new_privs)


def _action(action: object) -> Action:
    if isinstance(action, Action):
        return action
    raise BpfValueError(f"{action!r} is not a seccomp Action")


# -- evaluation -----------------------------------------------------------------------------

def seccomp_data(nr: int, arch: int, args: Sequence[int] = (), instruction_pointer: int = 0) -> bytes:
    """``struct seccomp_data`` as the kernel fills it (host order; args zero-padded to 6)."""
    if len(args) > 6:
        raise BpfValueError(f"a system call has at most 6 arguments, not {len(args)}")
    words = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
    nr = (nr + (1 << 31)) % (1 << 32) - (1 << 31)         # the kernel's int
    return SECCOMP_DATA.pack(nr, arch & 0xFFFFFFFF, instruction_pointer & (2**64 - 1), *words)


# What seccomp_check_filter (kernel/seccomp.c) lets through, besides ``ld [k]`` (aligned, in
# seccomp_data) and ``ld/ldx #len`` (64): no packet loads, no ``mod``, no ancillary data.
_SECCOMP_CODES = frozenset(
    [I.RET | I.K, I.RET | I.A, I.ALU | I.NEG, I.LD | I.IMM, I.LDX | I.IMM, I.MISC | I.TAX,
     I.MISC | I.TXA, I.LD | I.MEM, I.LDX | I.MEM, I.ST, I.STX, I.JMP | I.JA]
    + [I.ALU | op | src for op in (I.ADD, I.SUB, I.MUL, I.DIV, I.AND, I.OR, I.XOR, I.LSH, I.RSH)
       for src in (I.K, I.X)]
    + [I.JMP | op | src for op in (I.JEQ, I.JGE, I.JGT, I.JSET) for src in (I.K, I.X)])


def check_seccomp(program: Sequence[CInsn] | bytes) -> None:
    """Raise BpfDecodeError (naming the instruction) where seccomp(2) would say EINVAL: the
    socket-filter checks (:func:`pybpf.cbpf.check.check`), then seccomp's own."""
    from pybpf.cbpf.check import check

    prog = as_program(program)
    check(prog)
    for pc, (code, _, _, k) in enumerate(prog):
        if code == I.LD | I.W | I.ABS:
            if k >= SECCOMP_DATA.size or k & 3:
                raise BpfDecodeError(f"load at {k}: not an aligned word of seccomp_data", pc)
        elif code not in _SECCOMP_CODES and code not in (I.LD | I.W | I.LEN, I.LDX | I.W | I.LEN):
            raise BpfDecodeError(f"opcode {code:#x} is not allowed in a seccomp filter", pc)


@lru_cache(maxsize=256)
def _checked(code: bytes) -> bytes:
    check_seccomp(code)
    return code


def run_filter(program: Sequence[CInsn] | bytes, data: bytes) -> int:
    """Run a seccomp filter over ``data`` (a packed ``struct seccomp_data``): its 32-bit result.

    The program must pass :func:`check_seccomp`. It runs on the shared classic machine
    (:func:`pybpf.cbpf.machine.run`), whose loads are big-endian as a socket filter's are;
    seccomp's are host-order words, so the machine gets ``data`` with each aligned 32-bit
    word byte-reversed (seccomp allows only aligned word loads, so nothing else can tell).
    """
    from pybpf.cbpf import machine

    if len(data) != SECCOMP_DATA.size:
        raise BpfValueError(f"seccomp_data is {SECCOMP_DATA.size} bytes, not {len(data)}")
    code = _checked(program if isinstance(program, bytes) else encode(as_program(program)))
    words = struct.pack(">16I", *struct.unpack("<16I", data))
    return machine.run(code, words)


# -- installing -----------------------------------------------------------------------------

class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1


def install_program(program: Sequence[CInsn] | bytes, flags: int = 0, *,
                    no_new_privs: bool = True) -> int:
    """``seccomp(SECCOMP_SET_MODE_FILTER, flags, program)`` for the calling thread, after
    ``prctl(PR_SET_NO_NEW_PRIVS, 1)`` (needed unless the caller has CAP_SYS_ADMIN)."""
    libc = ctypes.CDLL(None, use_errno=True)
    code = encode(as_program(program))
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.addressof(buf))
    if no_new_privs and libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0),
                                   ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        raise BpfSyscallError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    nr = syscall_number("seccomp", host_arch())
    rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                      ctypes.c_long(flags), ctypes.byref(fprog))
    if rc < 0:
        raise BpfSyscallError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER)")
    return rc


__all__ = [
    "Action", "Arg", "Comparison", "Filter", "Rule", "run_filter", "check_seccomp", "seccomp_data",
    "install_program", "syscall_number", "syscall_name", "host_arch", "ARCHES",
    "AUDIT_ARCH_X86_64", "AUDIT_ARCH_AARCH64", "AUDIT_ARCH_I386", "X32_SYSCALL_BIT",
    "FLAG_TSYNC", "FLAG_LOG", "FLAG_SPEC_ALLOW", "FLAG_NEW_LISTENER", "FLAG_TSYNC_ESRCH",
]
