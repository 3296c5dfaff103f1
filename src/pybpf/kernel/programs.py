"""Kernel programs: load bytecode through the verifier and run it with BPF_PROG_TEST_RUN."""

from __future__ import annotations

import ctypes
import errno
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pybpf.errors import BpfSyscallError, VerifierError
from pybpf.isa import Instruction, encode
from pybpf.isa.uapi import Cmd, ProgType
from pybpf.kernel.fd import Fd, FdOwner
from pybpf.kernel.syscall import BpfAttr, address, bpf, object_name

DEFAULT_LOG_SIZE = 1 << 20
MAX_LOG_SIZE = 1 << 28
# Errors that say nothing about the program itself: no verifier log worth fetching.
_NOT_VERIFIER = (errno.EPERM, errno.ENOSYS, errno.ENOMEM, errno.EBADF)


@dataclass(frozen=True)
class TestRun:
    """What BPF_PROG_TEST_RUN reports: the low 32 bits of r0 and the (possibly edited) input."""

    __test__ = False  # not a pytest test class

    retval: int
    duration_ns: int
    data_out: bytes
    ctx_out: bytes | None


def _bytecode(insns: bytes | Sequence[Instruction]) -> bytes:
    code = insns if isinstance(insns, (bytes, bytearray, memoryview)) else encode(insns)
    code = bytes(code)
    if not code or len(code) % 8:
        raise ValueError(f"bytecode is {len(code)} bytes: must be a non-empty multiple of 8")
    return code


class KernelProgram(FdOwner):
    """A program the kernel verified and loaded, owned through its file descriptor."""

    def __init__(self, fd: Fd, prog_type: ProgType, log: str = ""):
        self.fd = fd
        self.prog_type = prog_type
        self.log = log  # the verifier's log when loaded with log_level > 0

    @classmethod
    def load(cls, prog_type: ProgType | int, insns: bytes | Sequence[Instruction],
             license: str = "GPL", log_level: int = 0, *, name: str = "",
             prog_flags: int = 0, expected_attach_type: int = 0,
             log_size: int = DEFAULT_LOG_SIZE, btf_fd: Fd | None = None,
             func_info: tuple[bytes, int, int] | None = None,
             line_info: tuple[bytes, int, int] | None = None,
             attach_btf_id: int = 0) -> "KernelProgram":
        """Verify and load ``insns``; raise VerifierError with the log if the verifier says no.

        With ``log_level=0`` a rejected program is loaded once more with ``log_level=1``,
        so the error always carries the verifier's reason. ``btf_fd`` with ``func_info``
        and ``line_info`` (record bytes, record size, count) give the kernel the program's
        functions and source lines; ``attach_btf_id`` names a tracing program's target.
        """
        prog_type = ProgType(prog_type)
        code = _bytecode(insns)
        args = (prog_type, code, license, name, prog_flags, expected_attach_type,
                BtfLoadInfo(btf_fd, func_info, line_info, attach_btf_id))
        try:
            fd, log = _load(*args, log_level=log_level, log_size=log_size)
        except BpfSyscallError as e:
            log = getattr(e, "verifier_log", "")
            if not log_level and e.errno not in _NOT_VERIFIER:
                try:  # ask again, this time for the reason
                    fd, _ = _load(*args, log_level=1, log_size=log_size)
                except BpfSyscallError as again:
                    log = getattr(again, "verifier_log", "")
                else:  # accepted on the second try: nothing to report
                    return cls(Fd(fd), prog_type, "")
            if not log.strip():  # refused before the verifier ran: not a verifier error
                raise e
            raise _verifier_error(e, log) from None
        return cls(Fd(fd), prog_type, log)

    def __repr__(self) -> str:
        return f"KernelProgram({self.prog_type.name}, fd={self.fd!r})"

    def packet_runner(self, capacity: int = 2048) -> Callable[[bytes, int], tuple | None]:
        """A closure for the common test_run (a packet, no ctx, no flags) with everything
        bound once: buffers, attr, the syscall. ``run(data, repeat)`` gives (retval,
        duration_ns, data_out), or None when the call needs :meth:`test_run` (another
        thread, a packet over ``capacity``, output that grew, any error)."""
        from pybpf.kernel.syscall import raw_call

        buffers = _RunBuffers(self.fd.fileno(), capacity)
        view_in, view_out, t, thread = buffers.view_in, buffers.view_out, buffers.test, \
            buffers.thread
        call = raw_call(Cmd.PROG_TEST_RUN, buffers.attr)
        get_ident = threading.get_ident

        last_repeat = [-1]      # ctypes field writes cost ~60 ns: skip the unchanged one

        def run(data: bytes, repeat: int) -> tuple | None:
            size = len(data)
            if size > capacity or get_ident() != thread:
                return None
            view_in[:size] = data
            t.data_size_in = size
            t.data_size_out = size + 256
            if repeat != last_repeat[0]:
                t.repeat = last_repeat[0] = repeat
            if call() < 0:
                return None
            return t.retval, t.duration, bytes(view_out[:t.data_size_out])
        run.buffers = buffers        # type: ignore[attr-defined]   (kept alive with it)
        return run

    def test_run(self, data: bytes = b"", ctx: bytes | None = None, repeat: int = 1, *,
                 data_out_size: int | None = None, ctx_out_size: int | None = None,
                 flags: int = 0, cpu: int = 0) -> TestRun:
        """Run the program once (or ``repeat`` times) on ``data`` and ``ctx``.

        Output buffers default to the input size plus room to grow; if the program grew
        its packet beyond that, it is run again with the buffer size the kernel asked for.
        ``duration_ns`` is the kernel's mean time per repetition.
        """
        size_in = len(data)
        if data_out_size is None and ctx is None and not flags and not cpu and size_in \
                and ctx_out_size is None:
            run = self.__dict__.get("_packet_runner") or self.__dict__.setdefault(
                "_packet_runner", self.packet_runner())
            fast = run(data, repeat)
            if fast is not None:
                return TestRun(fast[0], fast[1], fast[2], None)
        if data_out_size is None:
            data_out_size = size_in + 256 if size_in else 0
        if ctx_out_size is None:
            ctx_out_size = len(ctx) if ctx else 0
        fd = self.fd.fileno()
        while True:
            attr = BpfAttr()
            t = attr.test
            data_in = ctypes.create_string_buffer(bytes(data), size_in) if size_in else None
            ctx_in = ctypes.create_string_buffer(bytes(ctx), len(ctx)) if ctx else None
            data_out = ctypes.create_string_buffer(data_out_size) if data_out_size else None
            ctx_out = ctypes.create_string_buffer(ctx_out_size) if ctx_out_size else None
            t.prog_fd, t.repeat, t.flags, t.cpu = fd, repeat, flags, cpu
            if data_in is not None:
                t.data_in, t.data_size_in = ctypes.addressof(data_in), size_in
            if data_out is not None:
                t.data_out, t.data_size_out = ctypes.addressof(data_out), data_out_size
            if ctx_in is not None:
                t.ctx_in, t.ctx_size_in = ctypes.addressof(ctx_in), len(ctx)
            if ctx_out is not None:
                t.ctx_out, t.ctx_size_out = ctypes.addressof(ctx_out), ctx_out_size
            try:
                bpf(Cmd.PROG_TEST_RUN, attr)
            except BpfSyscallError as e:
                grow = e.errno == errno.ENOSPC and (t.data_size_out > data_out_size
                                                    or t.ctx_size_out > ctx_out_size)
                if not grow:
                    raise
                data_out_size = max(data_out_size, t.data_size_out)
                ctx_out_size = max(ctx_out_size, t.ctx_size_out)
                continue
            return TestRun(
                retval=t.retval,
                duration_ns=t.duration,
                data_out=data_out.raw[:t.data_size_out] if data_out is not None else b"",
                ctx_out=ctx_out.raw[:t.ctx_size_out] if ctx_out is not None else None,
            )


@dataclass
class BtfLoadInfo:
    """What a BTF-aware load adds: the BTF fd, func/line info records, attach target."""

    btf_fd: Fd | None = None
    func_info: tuple[bytes, int, int] | None = None
    line_info: tuple[bytes, int, int] | None = None
    attach_btf_id: int = 0

    def apply(self, p: Any, keep: list) -> None:
        if self.btf_fd is not None:
            p.prog_btf_fd = self.btf_fd.fileno()
            for kind in ("func_info", "line_info"):
                records = getattr(self, kind)
                if records is not None:
                    buf = ctypes.create_string_buffer(records[0], len(records[0]))
                    keep.append(buf)
                    setattr(p, kind, address(buf))
                    setattr(p, f"{kind}_rec_size", records[1])
                    setattr(p, f"{kind}_cnt", records[2])
        p.attach_btf_id = self.attach_btf_id


class _RunBuffers:
    """A test_run attr with data in/out buffers, reused by the thread that made it."""

    __slots__ = ("thread", "attr", "test", "data_in", "data_out", "capacity", "view_in",
                 "view_out")

    def __init__(self, fd: int, capacity: int):
        self.thread = threading.get_ident()
        self.capacity = capacity
        self.data_in = ctypes.create_string_buffer(capacity)
        self.data_out = ctypes.create_string_buffer(capacity + 256)
        # memoryviews copy in and out with no foreign call (memmove/string_at cost ~0.4 us)
        self.view_in, self.view_out = memoryview(self.data_in).cast("B"), \
            memoryview(self.data_out).cast("B")
        self.attr = BpfAttr()
        t = self.test = self.attr.test     # (each access to a union member makes an object)
        t.prog_fd = fd
        t.data_in, t.data_out = ctypes.addressof(self.data_in), ctypes.addressof(self.data_out)


def _load(prog_type: ProgType, code: bytes, license: str, name: str, prog_flags: int,
          expected_attach_type: int, extra: BtfLoadInfo, *, log_level: int,
          log_size: int) -> tuple[int, str]:
    """One BPF_PROG_LOAD, growing the log buffer while the kernel says it was too small.

    A failure's BpfSyscallError carries the log it produced as ``verifier_log``.
    """
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode("ascii"))
    keep: list = []
    while True:
        log = ctypes.create_string_buffer(log_size) if log_level else None
        attr = BpfAttr()
        p = attr.prog_load
        p.prog_type = prog_type
        p.insn_cnt = len(code) // 8
        p.insns = address(insns)
        p.license = address(lic)
        p.prog_flags = prog_flags
        p.expected_attach_type = expected_attach_type
        p.prog_name = object_name(name)
        extra.apply(p, keep)
        if log is not None:
            p.log_level, p.log_size, p.log_buf = log_level, log_size, address(log)
        try:
            fd = bpf(Cmd.PROG_LOAD, attr)
        except BpfSyscallError as e:
            text = log.value.decode("utf-8", "replace") if log is not None else ""
            if (e.errno == errno.ENOSPC and log is not None and log_size < MAX_LOG_SIZE):
                log_size = min(MAX_LOG_SIZE, max(log_size * 4, p.log_true_size))
                continue
            e.verifier_log = text  # type: ignore[attr-defined]
            raise
        return fd, log.value.decode("utf-8", "replace") if log is not None else ""


_INSN_LINE = re.compile(r"^(\d+): \([0-9a-f]{2}\)")
# Trace lines that are not errors: register state at an instruction ("5: R1=..."), a new
# path ("from 2 to 4: ..."), subprogram headers, liveness tables (indented) and the
# precision-tracking notes of log_level 2.
_TRACE_LINE = re.compile(r"^(\d+: |from \d+ to \d+:|func#\d+ @\d+|Live regs before insn:|\s|"
                         r"mark_precise: |last_idx |regs=|parent |propagating )")
_SUMMARY = re.compile(r"^(processed \d+ insns|verification time|stack depth|"
                      r"mark_read|peak_states)")
_NAMED_INSN = re.compile(r"\b(?:insn|instruction)\s*#?(\d+)")


def parse_verifier_log(log: str) -> tuple[str | None, int | None]:
    """The first error line of a verifier log and the instruction index it is about.

    The verifier prints a trace of the instructions it walked (``N: (op) ...`` and
    register-state lines) and stops at the first error; the error is the first line after
    the trace that is neither a trace nor a summary line. The instruction is the one the
    error names ("... insn 5 ...") or else the last one traced.
    """
    lines = [line for line in log.splitlines() if line.strip()]
    last_insn: int | None = None
    error: str | None = None
    for line in lines:
        m = _INSN_LINE.match(line)
        if m:
            last_insn = int(m.group(1))
            error = None
            continue
        if _TRACE_LINE.match(line) or _SUMMARY.match(line):
            continue
        if error is None:
            error = line.strip()
    insn = last_insn
    if error is not None:
        named = _NAMED_INSN.search(error)
        if named:
            insn = int(named.group(1))
    return error, insn


def _verifier_error(e: BpfSyscallError, log: str) -> VerifierError:
    error, insn = parse_verifier_log(log)
    where = f" at instruction {insn}" if insn is not None else ""
    reason = error or e.strerror or "no reason in the log"
    return VerifierError(f"verifier rejected the program{where}: {reason} "
                         f"({errno.errorcode.get(e.errno or 0, e.errno)})",
                         log=log, error=error, insn=insn, errno=e.errno)


__all__ = ["DEFAULT_LOG_SIZE", "KernelProgram", "TestRun", "parse_verifier_log"]
