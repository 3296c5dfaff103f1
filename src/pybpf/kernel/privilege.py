"""Load programs into the kernel at a chosen privilege level: full root or CAP_BPF only.

The verifier decides differently for a loader that has CAP_PERFMON/CAP_SYS_ADMIN
("root": pointer leaks, pointer comparisons and uninitialised stack reads allowed,
no Spectre mitigations) and one that has only CAP_BPF (+ CAP_NET_ADMIN for networking
program types): "cap_bpf". This module loads a :class:`LoadRequest` at either level:

* ``root``: in this process, with its own capabilities;
* ``cap_bpf``: in one long-lived child process (``python -m pybpf.kernel.privilege``)
  that set SECBIT_NOROOT and then dropped every capability but CAP_BPF and
  CAP_NET_ADMIN with capset(2) before serving requests over a pipe.

>>> with CapBpfLoader() as loader:              # doctest: +SKIP
...     result = loader.load(LoadRequest(ProgType.XDP, code))
>>> load_as("cap_bpf", request)                 # doctest: +SKIP   (one-off child)

A request's maps are JSON-style specs (``{"type": "hash", "key_size": 4, ...}``); the
program refers to the i-th map with an lddw whose src_reg is BPF_PSEUDO_MAP_IDX (5, imm
= i) or BPF_PSEUDO_MAP_IDX_VALUE (6, imm = i, second imm = value offset). The maps are
created (at the same privilege) and those lddws rewritten to BPF_PSEUDO_MAP_FD (1) /
BPF_PSEUDO_MAP_VALUE (2) with the map's fd on a copy before the load.

A load runs at ``log_level`` 4 (stats: ``processed N insns``, ``verification time``)
and, when rejected by the verifier, again at log_level 1 (the instruction trace, kept
to its last ``TAIL`` bytes) for the first error line and failing instruction - except
for complexity-limit rejections, whose trace would run to a million lines.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import re
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from pybpf.isa.uapi import Cmd, MapType

if TYPE_CHECKING:
    from pybpf.kernel.fd import Fd

PRIVILEGES = ("root", "cap_bpf")

CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 12, 21, 38, 39
KEPT_CAPS = (CAP_BPF, CAP_NET_ADMIN)
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_PR_SET_SECUREBITS, _PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 28, 47, 4
# SECBIT_NOROOT | _LOCKED, SECBIT_NO_SETUID_FIXUP | _LOCKED: uid 0 grants nothing.
_SECUREBITS = 0x01 | 0x02 | 0x04 | 0x08
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}

STATS_LOG = 4          # BPF_LOG_STATS
TRACE_LOG = 1          # BPF_LOG_LEVEL1
STATS_LOG_SIZE = 1 << 20
TRACE_LOG_SIZE = 16 << 20
TAIL = 64 << 10        # bytes of a trace log returned (the error is at its end)
# Complexity-limit rejections: their trace would be a million lines (seconds of kernel
# time) and the stats log already has the error, so no trace is taken for them.
_COMPLEXITY = re.compile(r"BPF program is too large|jumps is too complex")
# Refusals before the verifier runs: no log to ask for.
_NO_VERIFIER = (errno.EPERM, errno.ENOSYS, errno.ENOMEM, errno.EBADF)


@dataclass
class LoadRequest:
    """One program to load: bytecode in the map-index convention, and what it needs."""

    prog_type: int
    code: bytes
    maps: Sequence[dict] = ()
    expected_attach_type: int = 0
    btf: bytes | None = None                              # raw BTF for func/line info
    func_info: tuple[bytes, int, int] | None = None       # records, record size, count
    line_info: tuple[bytes, int, int] | None = None
    license: str = "GPL"
    trace_log: bool = True       # on rejection, also load at log_level 1


@dataclass
class LoadResult:
    """The kernel's answer: accepted, errno name (None if accepted), logs."""

    accepted: bool
    errno: str | None
    stats_log: str = ""          # log_level 4: error messages and stats, no trace
    trace_log: str = ""          # log_level 1 (tail), rejected programs only
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Dropping privileges
# ---------------------------------------------------------------------------------------

class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_to_cap_bpf(keep: Sequence[int] = KEPT_CAPS) -> None:
    """Leave this process (every thread must be this one) with only ``keep`` capabilities,
    effective and permitted, and no way back: SECBIT_NOROOT (locked) first, so uid 0
    gains nothing on a later execve; ambient capabilities cleared; then capset(2)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_SECUREBITS, _SECUREBITS, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_SECUREBITS): {os.strerror(err)}")
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    data = (_CapData * 2)()
    for cap in keep:
        word, bit = divmod(cap, 32)
        data[word].effective |= 1 << bit
        data[word].permitted |= 1 << bit
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    number = _SYS_CAPSET.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, f"capset: unknown syscall number on {os.uname().machine}")
    if libc.syscall(number, ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def effective_caps() -> int:
    """This process's effective capability set, from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    raise OSError(errno.ENOENT, "no CapEff in /proc/self/status")


# ---------------------------------------------------------------------------------------
# Loading (in whichever process runs it)
# ---------------------------------------------------------------------------------------

def map_type(name: str | int) -> MapType:
    """A map type from a spec: UAPI name without prefix ("hash", "ringbuf") or number."""
    return MapType(name) if isinstance(name, int) else MapType[str(name).upper()]


def create_map(spec: dict) -> Any:
    """The kernel map for one JSON map spec (``inner`` gives a map-in-map's template)."""
    from pybpf.kernel.maps import KernelMap

    inner = create_map(spec["inner"]) if spec.get("inner") else None
    try:
        return KernelMap(map_type(spec["type"]), spec.get("key_size", 0),
                         spec.get("value_size", 0), spec["max_entries"],
                         spec.get("flags", 0), inner_map=inner)
    finally:
        if inner is not None:
            inner.close()


def patch_map_indexes(code: bytes, fds: Sequence[int]) -> bytes:
    """A copy of ``code`` with each lddw of src_reg 5/6 (map index) turned into src_reg
    1/2 with the map's fd. An index with no map is left as it is."""
    out = bytearray(code)
    slot = 0
    while slot * 8 < len(out):
        op, regs, off, imm = struct.unpack_from("<BBhi", out, slot * 8)
        if op == 0x18:
            src = regs >> 4
            if src in (5, 6) and 0 <= imm < len(fds):
                regs = (regs & 0x0F) | ((1 if src == 5 else 2) << 4)
                struct.pack_into("<BBhi", out, slot * 8, op, regs, off, fds[imm])
            slot += 2
        else:
            slot += 1
    return bytes(out)


def _prog_load(req: LoadRequest, code: bytes, btf: "Fd | None", log_level: int,
               log_size: int) -> tuple[int, str]:
    """One BPF_PROG_LOAD: (fd or -errno, log text). A rolling log that overflows keeps
    its tail (and the load fails with ENOSPC)."""
    from pybpf.kernel.programs import BtfLoadInfo
    from pybpf.kernel.syscall import BpfAttr, address, raw_call

    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(req.license.encode())
    log = ctypes.create_string_buffer(log_size)
    attr = BpfAttr()
    p = attr.prog_load
    p.prog_type, p.insn_cnt, p.insns, p.license = req.prog_type, len(code) // 8, \
        address(insns), address(lic)
    p.expected_attach_type = req.expected_attach_type
    p.log_level, p.log_size, p.log_buf = log_level, log_size, address(log)
    keep: list = []
    if btf is not None:
        BtfLoadInfo(btf, req.func_info, req.line_info).apply(p, keep)
    result = raw_call(Cmd.PROG_LOAD, attr)()
    if result < 0:
        result = -ctypes.get_errno()
    return result, log.value.decode("utf-8", "replace")


def load_here(req: LoadRequest) -> LoadResult:
    """Load ``req`` with this process's privileges (maps and BTF made here too)."""
    from pybpf.kernel.loader import load_btf

    maps = []
    btf = None
    try:
        try:
            for spec in req.maps:
                maps.append(create_map(spec))
            btf = load_btf(req.btf) if req.btf else None
        except OSError as e:
            name = errno.errorcode.get(e.errno or 0, str(e.errno))
            return LoadResult(False, name, extra={"setup_failed": str(e)})
        code = patch_map_indexes(req.code, [m.fileno() for m in maps])
        fd, stats = _prog_load(req, code, btf, STATS_LOG, STATS_LOG_SIZE)
        if fd >= 0:
            os.close(fd)
            return LoadResult(True, None, stats)
        err = -fd
        trace = ""
        if req.trace_log and err not in _NO_VERIFIER and not _COMPLEXITY.search(stats):
            fd2, trace = _prog_load(req, code, btf, TRACE_LOG, TRACE_LOG_SIZE)
            if fd2 >= 0:          # accepted on the second load: should not happen
                os.close(fd2)
            trace = trace[-TAIL:]
        return LoadResult(False, errno.errorcode.get(err, str(err)), stats, trace)
    finally:
        for m in maps:
            m.close()
        if btf is not None:
            btf.close()


# ---------------------------------------------------------------------------------------
# The CAP_BPF child
# ---------------------------------------------------------------------------------------

def _send(stream: Any, obj: Any) -> None:
    data = pickle.dumps(obj)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


def _receive(stream: Any) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the other side closed the pipe")
    (size,) = struct.unpack("<Q", head)
    return pickle.loads(stream.read(size))


class CapBpfLoader:
    """A child process with only CAP_BPF + CAP_NET_ADMIN that loads requests on demand.

    Use as a context manager (or call :meth:`close`). :attr:`caps` is the child's
    effective capability mask as it reported after dropping.
    """

    def __init__(self) -> None:
        env = dict(os.environ)
        src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        self._proc = subprocess.Popen([sys.executable, "-m", "pybpf.kernel.privilege"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        hello = _receive(self._proc.stdout)
        if isinstance(hello, BaseException):
            self.close()
            raise hello
        self.caps: int = hello

    def load(self, req: LoadRequest) -> LoadResult:
        _send(self._proc.stdin, req)
        answer = _receive(self._proc.stdout)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> "CapBpfLoader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_as(privilege: str, req: LoadRequest) -> tuple[bool, str | None, str]:
    """(accepted, errno name, log) for one load at ``privilege`` ("root" or "cap_bpf").
    The log is the trace log of a rejected program, else the stats log."""
    if privilege == "root":
        r = load_here(req)
    elif privilege == "cap_bpf":
        with CapBpfLoader() as loader:
            r = loader.load(req)
    else:
        raise ValueError(f"unknown privilege {privilege!r} (expected one of {PRIVILEGES})")
    return r.accepted, r.errno, r.trace_log or r.stats_log


def _serve() -> None:
    """The child's loop: drop capabilities, report them, then answer requests."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)                     # stray prints go to stderr, not into the protocol
    inp = os.fdopen(0, "rb")
    try:
        drop_to_cap_bpf()
        caps = effective_caps()
    except OSError as e:
        _send(out, e)
        return
    _send(out, caps)
    while True:
        try:
            req = _receive(inp)
        except EOFError:
            return
        try:
            answer: Any = load_here(req)
        except Exception as e:  # noqa: BLE001 - reported to the parent
            answer = e
        _send(out, answer)


__all__ = ["CapBpfLoader", "LoadRequest", "LoadResult", "PRIVILEGES", "create_map",
           "drop_to_cap_bpf", "effective_caps", "load_as", "load_here", "patch_map_indexes"]

if __name__ == "__main__":
    # through the imported module, so pickled results name pybpf.kernel.privilege classes
    from pybpf.kernel.privilege import _serve as serve
    serve()
