"""What every program type shares: the type record, the per-run invocation, context access.

A :class:`ProgramType` knows its UAPI context (size, which fields may be read or written and
with which sizes), the input rules of ``BPF_PROG_TEST_RUN`` for it, and how to turn a run's
final state back into what test_run reports. ``prepare`` builds an :class:`Invocation`: the
regions the program sees (context, packet) and the state object helpers reach as
``CallContext.ctx``; ``finish`` turns r0 and that state into (retval, data_out, ctx_out).

Context loads and stores do not touch memory: the kernel rewrites them (``convert_ctx_access``)
into loads of the real ``sk_buff``/``xdp_buff`` fields, and so does :class:`CtxAccess` here,
with the verifier's validity rules (``*_is_valid_access``) checked on each access.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, Callable

from pybpf.errors import BpfMemoryError, BpfSyscallError
from pybpf.vm.memory import FieldAccess, Memory, Region

PAGE_SIZE = 4096
ETH_HLEN = 14
# Kernel's own errno for "operation not supported" (not EOPNOTSUPP): 524.
ENOTSUPP = 524

READ, WRITE = False, True


def syscall_error(err: int, message: str) -> BpfSyscallError:
    """The error BPF_PROG_TEST_RUN would return, with the rule that refused the input."""
    return BpfSyscallError(err, message)


def check_tail_zero(ctx: bytes, expected: int, what: str) -> bytes:
    """``bpf_check_uarg_tail_zero``: a ctx_in longer than the struct must be zero past it.

    Returns the struct-sized copy (zero-padded when ctx_in was shorter).
    """
    if len(ctx) > PAGE_SIZE:
        raise syscall_error(errno.E2BIG, f"ctx_size_in {len(ctx)} is larger than a page")
    if len(ctx) > expected and any(ctx[expected:]):
        raise syscall_error(errno.E2BIG, f"ctx_in has non-zero bytes past the end of {what} "
                                         f"({expected} bytes)")
    return bytes(ctx[:expected]).ljust(expected, b"\0")


def narrow_ok(size: int, default: int = 4) -> bool:
    """``bpf_ctx_narrow_access_ok``: 1, 2 or 4 (up to the field size), a power of two."""
    return size <= default and size & (size - 1) == 0


def invalid_access(off: int, size: int, pc: int | None) -> BpfMemoryError:
    return BpfMemoryError(f"invalid bpf_context access off={off} size={size}", pc)


@dataclass(frozen=True)
class Field:
    """One rewritten context field.

    ``get(state)`` yields the value of the converted load (the kernel loads ``target``
    bytes of the real field; a narrower program load shifts and masks it the way the
    verifier's narrow-load fixup does). ``set(state, value)`` performs a converted store.
    """

    name: str
    offset: int
    size: int                      # the UAPI field size (4 or 8)
    get: Callable[[Any], int]
    target: int = 4                # bytes the converted load reads from the kernel object
    set: Callable[[Any, int], None] | None = None


# Each field table's fields by every byte offset they cover, made once per table (a
# program type's table is a constant; a context is made for every test_run).
_BY_OFFSET: dict[int, tuple[dict[int, Field], dict[int, Field]]] = {}


def _fields_by_offset(fields: dict[int, Field]) -> dict[int, Field]:
    entry = _BY_OFFSET.get(id(fields))
    if entry is None or entry[0] is not fields:
        table = {o: field for field in fields.values()
                 for o in range(field.offset, field.offset + field.size)}
        if len(_BY_OFFSET) >= 64:        # (tables made on the fly would only pile up)
            _BY_OFFSET.clear()
        entry = _BY_OFFSET[id(fields)] = (fields, table)
    return entry[1]


Rule = Callable[[int, int, bool], bool]

# Each access rule's answers by (offset, size, write). A rule (a program type's
# ``is_valid_access``) is a pure function of them, asked on every context access of every
# run: each question is worked out once.
_ANSWERS: dict[Rule, dict[tuple[int, int, bool], bool]] = {}


def _answers(valid: Rule) -> dict[tuple[int, int, bool], bool]:
    answers = _ANSWERS.get(valid)
    if answers is None:
        if len(_ANSWERS) >= 64:          # (rules made on the fly would only pile up)
            _ANSWERS.clear()
        answers = _ANSWERS[valid] = {}
    return answers


class CtxAccess(FieldAccess):
    """Loads/stores of a context region: validity check, then the field's rewrite.

    ``valid(off, size, write)`` is the program type's ``is_valid_access`` (a pure function:
    its answers are remembered); ``fields`` maps each field's offset to its
    :class:`Field`; ``raw`` ranges (``cb`` of ``__sk_buff``) are plain bytes in
    ``raw_buffer(state)`` accessed with the program's own size.
    """

    pure_loads = True

    def __init__(self, state: Any, size: int, fields: dict[int, Field],
                 valid: Callable[[int, int, bool], bool],
                 raw: tuple[int, int] | None = None,
                 raw_buffer: Callable[[Any], bytearray] | None = None):
        self.state = state
        self.struct_size = size
        self.valid = valid
        self.raw = raw
        self.raw_buffer = raw_buffer
        self._by_offset = _fields_by_offset(fields)
        self._answers = _answers(valid)

    def _field(self, off: int, size: int, pc: int | None) -> Field:
        field = self._by_offset.get(off)
        if field is None:
            raise invalid_access(off, size, pc)
        return field

    def load(self, offset: int, size: int, pc: int | None) -> int:
        ok = self._answers.get((offset, size, READ))
        if ok is None:
            ok = self._answers[offset, size, READ] = self.valid(offset, size, READ)
        if not ok:
            raise invalid_access(offset, size, pc)
        if self.raw is not None and self.raw[0] <= offset < self.raw[1]:
            buf = self.raw_buffer(self.state)
            start = offset - self.raw[0]
            return int.from_bytes(buf[start:start + size], "little")
        field = self._by_offset.get(offset)
        if field is None:
            raise invalid_access(offset, size, pc)
        value = field.get(self.state)
        if size < field.size and size < field.target:
            shift = (offset - field.offset) * 8
            value = (value >> shift) & ((1 << (size * 8)) - 1)
        return value & 0xFFFFFFFFFFFFFFFF

    def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
        ok = self._answers.get((offset, size, WRITE))
        if ok is None:
            ok = self._answers[offset, size, WRITE] = self.valid(offset, size, WRITE)
        if not ok:
            raise invalid_access(offset, size, pc)
        if self.raw is not None and self.raw[0] <= offset < self.raw[1]:
            buf = self.raw_buffer(self.state)
            start = offset - self.raw[0]
            buf[start:start + size] = value.to_bytes(size, "little")
            return
        field = self._field(offset, size, pc)
        if field.set is None:
            raise invalid_access(offset, size, pc)
        field.set(self.state, value)


class BytesAccess(FieldAccess):
    """A context that is plain bytes (tracepoint records, raw_tp args, bpf_sock...).

    ``valid`` is the type's access rule; loads past ``limit`` (the ctx the user gave) are
    what the kernel refuses at test_run time (``ctx_size_in < max_ctx_offset``: EINVAL).
    """

    pure_loads = True

    def __init__(self, data: bytearray, valid: Callable[[int, int, bool], bool],
                 limit: int | None = None):
        self.data = data
        self.valid = valid
        self.limit = len(data) if limit is None else limit

    def load(self, offset: int, size: int, pc: int | None) -> int:
        if not self.valid(offset, size, READ):
            raise invalid_access(offset, size, pc)
        if offset + size > self.limit:
            raise syscall_error(errno.EINVAL, f"ctx_size_in {self.limit} is smaller than the "
                                              f"context the program reads (offset {offset}, "
                                              f"size {size})")
        return int.from_bytes(self.data[offset:offset + size], "little")

    def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
        if not self.valid(offset, size, WRITE):
            raise invalid_access(offset, size, pc)
        self.data[offset:offset + size] = value.to_bytes(size, "little")


# A program type's spare regions: those of its ended runs, by role (name, size, kind),
# for its next runs (see Invocation.borrow); at most SPARES of them, the oldest go first.
Spares = dict[tuple[str, int, str], Region]
SPARES = 8


class Invocation:
    """One prepared run: what the loader hands the machine, and how to read the result.

    ``args`` are r1.. (r1 = the context's address); ``packet`` what legacy LD_ABS/LD_IND
    read; ``ctx`` the state helpers see. ``finish(r0)`` → (retval, data_out, ctx_out).
    ``spares``: the program type's spare regions, which ``borrow`` takes from and
    ``close`` gives back to.
    """

    def __init__(self, memory: Memory, ctx: Any, args: tuple[int, ...],
                 packet: Region | None = None,
                 finish: Callable[[int], tuple[int, bytes | None, bytes | None]] | None = None,
                 spares: Spares | None = None):
        self.memory = memory
        self.ctx = ctx
        self.args = args
        self.packet = packet
        self._finish = finish
        self._regions: list[Region] = []
        self._spares = spares
        self._borrowed: list[Region] = []

    def own(self, region: Region) -> Region:
        """Add ``region`` to memory; ``close`` removes it."""
        self.memory.add(region)
        self._regions.append(region)
        return region

    def borrow(self, name: str, size: int, kind: str) -> Region:
        """``own`` a zeroed writable region of ``size`` bytes: the spare one of this role
        (name, size, kind) if there is one, else a new one; ``close`` makes it a spare.

        A run that gets the regions the run before it had (its frame, its context) needs
        no new buffers, and leaves the memory's region table as that run had it, so the
        JIT's native copy of the table needs no update (see
        pybpf.jit.machine.RegionTable). A spare comes back zeroed, as a new region is; only
        its address may be an earlier run's, and no run can tell (a new buffer's address
        is arbitrary too). A program type gives a role to one sort of region only (a
        context's always gets an access with pure loads), so that the region's entry in
        the native table stays right."""
        spares = self._spares
        region = spares.pop((name, size, kind), None) if spares is not None else None
        if region is None:
            region = Region(name, size, kind=kind)
        else:
            region.clear()
        if spares is not None:
            self._borrowed.append(region)
        self.memory.add(region)
        self._regions.append(region)
        return region

    def disown(self, region: Region) -> None:
        if region in self._regions:
            self._regions.remove(region)
            self.memory.remove(region)

    def replace(self, old: Region | None, new: Region) -> None:
        """A buffer of the run moved from ``old`` (None: it is new) to ``new``: the
        invocation owns ``new`` instead (a PacketBuffer's ``replace``)."""
        if old is not None:
            self.disown(old)
        self.own(new)

    def finish(self, r0: int) -> tuple[int, bytes | None, bytes | None]:
        if self._finish is None:
            return r0 & 0xFFFFFFFF, None, None
        return self._finish(r0)

    def close(self) -> None:
        for region in self._regions:
            try:
                self.memory.remove(region)
            except ValueError:
                pass
        self._regions.clear()
        spares = self._spares
        if spares is not None:
            for region in self._borrowed:
                region.access = None        # (nothing of its run stays reachable from it)
                key = (region.name, region.size, region.kind)
                if key not in spares:
                    if len(spares) >= SPARES:
                        del spares[next(iter(spares))]
                    spares[key] = region
            self._borrowed.clear()

    def __enter__(self) -> "Invocation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProgramType:
    """One row of the program-type table.

    ``kernel_test_run`` is False for types whose BPF_PROG_TEST_RUN the kernel does not
    implement (it answers ENOTSUPP): the userspace engines still run them on the context
    bytes given, unless ``prepare(..., strict=True)`` asks for the kernel's answer.
    """

    prog_type: int = 0
    name: str = ""
    ctx_size: int = 0
    return_codes: dict[int, str] = {}
    kernel_test_run: bool = True

    def __init__(self, prog_type: int, name: str, attach_type: int | None = None):
        self.prog_type = prog_type
        self.name = name
        self.attach_type = attach_type or 0
        self.spares: Spares = {}

    def prepare(self, memory: Memory, env: Any, data: bytes | None, ctx: bytes | None, *,
                data_size_out: int | None = None, strict: bool = False) -> Invocation:
        if strict and not self.kernel_test_run:
            raise syscall_error(ENOTSUPP, f"BPF_PROG_TEST_RUN is not implemented by the kernel "
                                          f"for {self.name} programs")
        return self._prepare(memory, env, data, ctx, data_size_out)

    def _prepare(self, memory: Memory, env: Any, data: bytes | None, ctx: bytes | None,
                 data_size_out: int | None) -> Invocation:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<ProgramType {self.name} ({self.prog_type})>"


def check_data_out(data: bytes, data_size_out: int | None, retval: int) -> None:
    """``bpf_test_finish``: a non-zero data_size_out smaller than the output is ENOSPC."""
    if data_size_out and len(data) > data_size_out:
        err = syscall_error(errno.ENOSPC, f"data_out needs {len(data)} bytes, data_size_out "
                                          f"is {data_size_out}")
        err.retval = retval                      # type: ignore[attr-defined]
        err.data_out = data[:data_size_out]      # type: ignore[attr-defined]
        err.size = len(data)                     # type: ignore[attr-defined]
        raise err


__all__ = [
    "BytesAccess", "CtxAccess", "ENOTSUPP", "ETH_HLEN", "Field", "Invocation", "PAGE_SIZE",
    "ProgramType", "Spares", "check_data_out", "check_tail_zero", "invalid_access",
    "narrow_ok", "syscall_error",
]
