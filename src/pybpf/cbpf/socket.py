"""Classic filters on real sockets: ``SO_ATTACH_FILTER`` and friends (socket(7)).

``attach_filter(sock, program)`` hands the kernel a ``struct sock_fprog`` (length and a
pointer to the ``struct sock_filter`` array, built with ctypes); the kernel checks it
(:func:`pybpf.cbpf.check.check` says the same) and answers EINVAL for a filter it refuses.
``get_filter`` reads the attached program back (``SO_GET_FILTER``), ``lock_filter`` makes
it permanent (``SO_LOCK_FILTER``), ``attach_bpf`` attaches a loaded eBPF socket filter by
its fd (``SO_ATTACH_BPF``). ``sock`` is a socket object or a file descriptor.
"""

from __future__ import annotations

import ctypes
import socket as _socket
from typing import Any, Sequence

from pybpf.cbpf.insn import CInsn, as_program, decode, encode
from pybpf.errors import BpfSyscallError

SOL_SOCKET = _socket.SOL_SOCKET
SO_ATTACH_FILTER = 26
SO_GET_FILTER = SO_ATTACH_FILTER
SO_DETACH_FILTER = 27
SO_LOCK_FILTER = 44
SO_ATTACH_BPF = 50
SO_DETACH_BPF = SO_DETACH_FILTER


class SockFprog(ctypes.Structure):
    """``struct sock_fprog``: the length in instructions and a pointer to them."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                             ctypes.c_uint32]
_libc.getsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                             ctypes.POINTER(ctypes.c_uint32)]


def _fd(sock: Any) -> int:
    return sock if isinstance(sock, int) else sock.fileno()


def _setsockopt(sock: Any, option: int, value: ctypes._SimpleCData | ctypes.Structure,
                what: str) -> None:
    if _libc.setsockopt(_fd(sock), SOL_SOCKET, option, ctypes.byref(value),
                        ctypes.sizeof(value)) != 0:
        err = ctypes.get_errno()
        raise BpfSyscallError(err, what)


def attach_filter(sock: Any, program: Sequence[CInsn] | bytes) -> None:
    """Attach ``program`` to ``sock`` (SO_ATTACH_FILTER), replacing any filter it had."""
    code = encode(as_program(program))
    count = len(code) // 8
    if count > 0xFFFF:
        raise BpfSyscallError(22, f"SO_ATTACH_FILTER: {count} instructions do not fit in "
                                  f"sock_fprog.len")
    buf = ctypes.create_string_buffer(code, max(len(code), 1))
    prog = SockFprog(count, ctypes.addressof(buf))
    _setsockopt(sock, SO_ATTACH_FILTER, prog, f"SO_ATTACH_FILTER ({count} instructions)")


def attach_bpf(sock: Any, prog_fd: Any) -> None:
    """Attach a loaded BPF_PROG_TYPE_SOCKET_FILTER program (an fd, or an object with
    ``fileno()``/``fd``) to ``sock`` (SO_ATTACH_BPF)."""
    fd = getattr(prog_fd, "fd", prog_fd)
    fd = fd.fileno() if hasattr(fd, "fileno") else int(fd)
    _setsockopt(sock, SO_ATTACH_BPF, ctypes.c_int(fd), "SO_ATTACH_BPF")


def detach_filter(sock: Any) -> None:
    """Remove the socket's filter (classic or eBPF); ENOENT when there is none."""
    _setsockopt(sock, SO_DETACH_FILTER, ctypes.c_int(0), "SO_DETACH_FILTER")


def lock_filter(sock: Any, locked: bool = True) -> None:
    """Lock the attached filter (SO_LOCK_FILTER): later attach/detach calls fail with EPERM."""
    _setsockopt(sock, SO_LOCK_FILTER, ctypes.c_int(1 if locked else 0), "SO_LOCK_FILTER")


def get_filter(sock: Any) -> list[CInsn]:
    """The classic program attached to ``sock`` (SO_GET_FILTER; [] when none).

    The kernel takes and returns ``optlen`` in instructions here, not bytes: asked with 0
    it answers the count, then it copies that many.
    """
    fd = _fd(sock)
    size = ctypes.c_uint32(0)
    if _libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, None, ctypes.byref(size)) != 0:
        raise BpfSyscallError(ctypes.get_errno(), "SO_GET_FILTER")
    count = size.value
    if count == 0:
        return []
    buf = ctypes.create_string_buffer(8 * count)
    size = ctypes.c_uint32(count)
    if _libc.getsockopt(fd, SOL_SOCKET, SO_GET_FILTER, buf, ctypes.byref(size)) != 0:
        raise BpfSyscallError(ctypes.get_errno(), "SO_GET_FILTER")
    return decode(buf.raw[:8 * size.value])


def kernel_accepts(program: Sequence[CInsn] | bytes) -> tuple[bool, int]:
    """Whether the kernel accepts ``program`` as a socket filter, and its errno if not:
    attach it to a throwaway UDP socket."""
    with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as s:
        try:
            attach_filter(s, program)
        except BpfSyscallError as e:
            return False, e.errno or 0
    return True, 0


__all__ = ["SO_ATTACH_BPF", "SO_ATTACH_FILTER", "SO_DETACH_FILTER", "SO_LOCK_FILTER",
           "SockFprog", "attach_bpf", "attach_filter", "detach_filter", "get_filter",
           "kernel_accepts", "lock_filter"]
