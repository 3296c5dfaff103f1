"""Batched map operations (BPF_MAP_*_BATCH) and BPF_MAP_FREEZE over a :class:`KernelMap`.

One batch call moves up to ``count`` elements through flat key and value arrays. Lookups
walk the map with an opaque cursor: ``in_batch`` is NULL on the first call and the
previous call's ``out_batch`` after that; the kernel answers ENOENT with the last
(possibly partial) batch once the walk is done. A hash map returns whole buckets, so a
bucket larger than ``count`` gives ENOSPC, and the walk retries with a bigger batch.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Iterable, Mapping

from pybpf.errors import BpfMapError
from pybpf.isa.uapi import BPF_ANY, Cmd
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.syscall import BpfAttr, address, bpf

# The cursor: a bucket index (u32) for hash maps, a key for arrays; 8 bytes fit both
# unless keys are longer.
_MIN_CURSOR = 8
_MAX_BATCH = 1 << 20


def _check(m: KernelMap, data: bytes, size: int, what: str) -> bytes:
    if data.__class__ is not bytes:
        if not isinstance(data, (bytearray, memoryview)):
            from pybpf.errors import BpfTypeError

            raise BpfTypeError(f"map {what} must be bytes-like, not {type(data).__name__}")
        data = bytes(data)
    if len(data) != size:
        from pybpf.errors import MapSizeError

        raise MapSizeError(f"{what} is {len(data)} bytes but this map's {what}s are "
                           f"{size} bytes")
    return data


def _walk(m: KernelMap, cmd: Cmd, count: int, elem_flags: int) -> list[tuple[bytes, bytes]]:
    ksize, vsize = m.key_size, m.value_buffer_size
    cursor_size = max(ksize, _MIN_CURSOR)
    cursors = [ctypes.create_string_buffer(cursor_size) for _ in range(2)]
    out: list[tuple[bytes, bytes]] = []
    first = True
    while True:
        keys = ctypes.create_string_buffer(max(ksize * count, 1))
        values = ctypes.create_string_buffer(max(vsize * count, 1))
        attr = BpfAttr()
        b = attr.batch
        b.map_fd = m.fileno()
        b.in_batch = 0 if first else address(cursors[0])
        b.out_batch = address(cursors[1])
        b.keys, b.values, b.count, b.elem_flags = address(keys), address(values), count, elem_flags
        done = False
        try:
            bpf(cmd, attr, BpfMapError)
        except BpfMapError as e:
            if e.errno == errno.ENOSPC and b.count == 0 and count < _MAX_BATCH:
                count *= 4        # one bucket holds more than a batch: retry, bigger
                continue
            if e.errno != errno.ENOENT:
                raise
            done = True
        n = b.count
        raw_k, raw_v = keys.raw, values.raw
        out.extend((raw_k[i * ksize:(i + 1) * ksize], raw_v[i * vsize:(i + 1) * vsize])
                   for i in range(n))
        if done:
            return out
        ctypes.memmove(cursors[0], cursors[1], cursor_size)
        first = False


def lookup_batch(m: KernelMap, count: int = 256, elem_flags: int = 0) -> list[tuple[bytes, bytes]]:
    """Every ``(key, value)`` of ``m``, read ``count`` at a time (BPF_MAP_LOOKUP_BATCH).

    Values of per-CPU maps are the kernel's layout (one 8-byte-aligned slot per possible
    CPU), as :meth:`KernelMap.lookup` returns them.
    """
    return _walk(m, Cmd.MAP_LOOKUP_BATCH, max(count, 1), elem_flags)


def lookup_and_delete_batch(m: KernelMap, count: int = 256,
                            elem_flags: int = 0) -> list[tuple[bytes, bytes]]:
    """Every ``(key, value)`` of ``m``, removing them as they are read (hash maps)."""
    return _walk(m, Cmd.MAP_LOOKUP_AND_DELETE_BATCH, max(count, 1), elem_flags)


def update_batch(m: KernelMap, items: Mapping[bytes, bytes] | Iterable[tuple[bytes, bytes]],
                 elem_flags: int = BPF_ANY) -> int:
    """Store every ``(key, value)`` in one BPF_MAP_UPDATE_BATCH; return how many were
    stored. On failure the BpfMapError has ``done``: how many went in before it."""
    pairs = list(items.items() if isinstance(items, Mapping) else items)
    if not pairs:
        return 0
    keys = b"".join(_check(m, k, m.key_size, "key") for k, _ in pairs)
    values = b"".join(_check(m, v, m.value_buffer_size, "value") for _, v in pairs)
    return _apply(m, Cmd.MAP_UPDATE_BATCH, keys, values, len(pairs), elem_flags)


def delete_batch(m: KernelMap, keys: Iterable[bytes], elem_flags: int = 0) -> int:
    """Delete every key in one BPF_MAP_DELETE_BATCH; return how many were deleted
    (an absent key stops the batch with ENOENT, ``done`` on the error)."""
    raw = [_check(m, k, m.key_size, "key") for k in keys]
    if not raw:
        return 0
    return _apply(m, Cmd.MAP_DELETE_BATCH, b"".join(raw), None, len(raw), elem_flags)


def _apply(m: KernelMap, cmd: Cmd, keys: bytes, values: bytes | None, count: int,
           elem_flags: int) -> int:
    kbuf = ctypes.create_string_buffer(keys, len(keys))
    vbuf = ctypes.create_string_buffer(values, len(values)) if values is not None else None
    attr = BpfAttr()
    b = attr.batch
    b.map_fd, b.keys, b.values = m.fileno(), address(kbuf), address(vbuf)
    b.count, b.elem_flags = count, elem_flags
    try:
        bpf(cmd, attr, BpfMapError)
    except BpfMapError as e:
        e.done = b.count  # type: ignore[attr-defined]
        raise
    return b.count


def freeze(m: KernelMap) -> None:
    """Make ``m`` read-only for user space (BPF_MAP_FREEZE); programs may still write."""
    attr = BpfAttr()
    attr.map_elem.map_fd = m.fileno()
    bpf(Cmd.MAP_FREEZE, attr, BpfMapError)


__all__ = ["delete_batch", "freeze", "lookup_and_delete_batch", "lookup_batch", "update_batch"]
