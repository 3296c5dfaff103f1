"""Shared memory with the kernel: owned mmaps at known addresses, ordered position access,
and the online CPU list.

Python's :mod:`mmap` cannot give the address of a read-only mapping, and the producer side
of a ring (the kernel's pages) may only be mapped read-only, so mappings are made with
libc's ``mmap(2)`` through ctypes and owned by :class:`Mapping`, which unmaps exactly once.

Memory ordering: the kernel publishes a position (``producer_pos``, ``data_head``) with a
store-release after writing the data it covers, and reads ours (``consumer_pos``,
``data_tail``) with a load-acquire before reusing the space. ctypes has no atomics, but an
aligned 8-byte load or store through ``c_uint64.from_address`` is one ``mov`` on x86_64,
and x86's memory model (TSO) already gives every load acquire and every store release
semantics; each ctypes access is also an opaque C call, so the compiler cannot reorder
across it. That is what :func:`load_acquire` and :func:`store_release` rely on. On weakly
ordered CPUs (aarch64) these are plain accesses: a record could in principle be read
before its bytes are visible (see the package docstring).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

from pybpf.errors import BpfSyscallError

PAGE_SIZE = mmap.PAGESIZE
_MAP_FAILED = ctypes.c_void_p(-1).value

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """libc with ``mmap``/``munmap``/``syscall``/``ioctl`` prototypes set (errno kept)."""
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mmap.restype = ctypes.c_void_p
        lib.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                             ctypes.c_int, ctypes.c_long]
        lib.munmap.restype = ctypes.c_int
        lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.ioctl.restype = ctypes.c_int
        lib.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong]
        lib.syscall.restype = ctypes.c_long
        _libc = lib
    return _libc


class Mapping:
    """``length`` bytes of a file descriptor mapped shared at ``address``; unmapped once,
    by :meth:`close` or garbage collection."""

    __slots__ = ("address", "length")

    def __init__(self, fd: int, length: int, offset: int = 0, *, writable: bool = False,
                 what: str = "mapping"):
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        address = libc().mmap(None, length, prot, mmap.MAP_SHARED, fd, offset)
        if address in (None, _MAP_FAILED):
            err = ctypes.get_errno() or errno.ENOMEM
            raise BpfSyscallError(err, f"mmap of {what} ({length} bytes at offset {offset}, "
                                       f"{'read-write' if writable else 'read-only'}) failed")
        self.address: int = address
        self.length = length

    @property
    def closed(self) -> bool:
        return self.address == 0

    def close(self) -> None:
        address, self.address = self.address, 0
        if address:
            libc().munmap(address, self.length)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def load_acquire(address: int) -> int:
    """The u64 at ``address``, read in one access (acquire on x86_64, see module doc)."""
    return ctypes.c_uint64.from_address(address).value


def store_release(address: int, value: int) -> None:
    """Store the u64 ``value`` at ``address`` in one access (release on x86_64)."""
    ctypes.c_uint64.from_address(address).value = value


def load_u32(address: int) -> int:
    return ctypes.c_uint32.from_address(address).value


def parse_cpu_list(text: str) -> list[int]:
    """``"0-3,5,7-8"`` → ``[0, 1, 2, 3, 5, 7, 8]`` (the kernel's cpulist format)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def online_cpus() -> tuple[int, ...]:
    """The CPUs in /sys/devices/system/cpu/online (falls back to the affinity mask)."""
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return tuple(parse_cpu_list(f.read()))
    except OSError:
        return tuple(sorted(os.sched_getaffinity(0)))


__all__ = ["PAGE_SIZE", "Mapping", "libc", "load_acquire", "load_u32", "online_cpus",
           "parse_cpu_list", "store_release"]
