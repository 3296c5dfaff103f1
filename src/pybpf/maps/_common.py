"""What every map family shares: flag bits, errno helpers, key/value coercion, storage.

Storage is flat memory (ctypes arrays) so that a native routine (the JIT) can probe it
as the interpreter does; large buffers come from anonymous ``mmap`` so that untouched
pages cost nothing, as the kernel's preallocated maps cost only what they touch.
"""

from __future__ import annotations

import ctypes
import errno
import mmap

from pybpf.errors import BpfMapError, BpfTypeError, MapSizeError

# Map update flags (uapi bpf.h).
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

# Map creation flags (uapi bpf.h, the anonymous enum of BPF_F_* map_flags).
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_STACK_BUILD_ID = 1 << 5
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_CLONE = 1 << 9
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12
BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG

# The kernel's own "not supported" errno (not in errno; distinct from EOPNOTSUPP).
ENOTSUPP = 524

# Limits the kernel applies at creation (x86-64, 4 KiB pages).
PAGE_SIZE = 4096
MAX_BPF_STACK = 512
PCPU_MIN_UNIT_SIZE = 32 << 10
KMALLOC_MAX_SIZE = 1 << 22       # order-10 pages: the largest kmalloc
# The most flat storage one userspace map may reserve (virtual; untouched pages are free).
MAX_STORAGE = 1 << 36


def fail(err: int, message: str) -> BpfMapError:
    """The error for an operation the kernel refuses with ``err``."""
    return BpfMapError(err, message)


def round8(n: int) -> int:
    return (n + 7) & ~7


def access_flags_ok(flags: int) -> bool:
    """``bpf_map_flags_access_ok``: read-only and write-only are exclusive, on each side."""
    return not ((flags & BPF_F_RDONLY and flags & BPF_F_WRONLY)
                or (flags & BPF_F_RDONLY_PROG and flags & BPF_F_WRONLY_PROG))


def as_bytes(data: object, size: int, what: str, where: str) -> bytes:
    """``data`` as exactly ``size`` bytes, or BpfTypeError / BpfValueError (MapSizeError)."""
    if isinstance(data, bytes):
        raw = data
    elif isinstance(data, (bytearray, memoryview, ctypes.Array, ctypes.Structure)):
        raw = bytes(data)
    else:
        raise BpfTypeError(f"{where}: {what} must be bytes-like, not {type(data).__name__}")
    if len(raw) != size:
        raise MapSizeError(f"{where}: {what} is {len(raw)} bytes but this map's {what}s are "
                           f"{size} bytes")
    return raw


_GUARD = 64


def allocate(size: int, where: str = "map") -> ctypes.Array:
    """A zeroed byte buffer of ``size`` with guard bytes on both sides.

    Big buffers are anonymous mappings: pages are zero-filled by the kernel on first touch,
    so a preallocated million-entry hash map costs only the pages its elements land in.
    """
    if size > MAX_STORAGE:
        raise fail(errno.ENOMEM, f"{where}: {size} bytes of storage is more than this "
                                 f"userspace map allows ({MAX_STORAGE})")
    total = size + 2 * _GUARD
    if total < 1 << 16:
        backing = (ctypes.c_ubyte * total)()
    else:
        backing = mmap.mmap(-1, total)
    return (ctypes.c_ubyte * max(size, 1)).from_buffer(backing, _GUARD)


def u32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little")


def index_of(key: bytes) -> int:
    return int.from_bytes(key, "little")
