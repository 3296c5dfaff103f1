"""Kernel maps: create one with bpf(2) and read or write it with bytes keys and values."""

from __future__ import annotations

import ctypes
import errno
import threading
from functools import lru_cache
from typing import Iterator

from pybpf.errors import BpfMapError, BpfTypeError, MapSizeError
from pybpf.isa.uapi import BPF_ANY, Cmd, MapType
from pybpf.kernel.fd import Fd, FdOwner
from pybpf.kernel.syscall import BpfAttr, address, bpf, describe_failure, object_name, raw_call


# Map types whose lookup returns one value per possible CPU, each rounded up to 8 bytes.
PERCPU_MAP_TYPES = frozenset({MapType.PERCPU_HASH, MapType.PERCPU_ARRAY,
                              MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})


@lru_cache(maxsize=1)
def _possible_ranges() -> tuple[tuple[int, int], ...]:
    """The possible CPUs as (first, last) ranges (fixed at boot, so read once)."""
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.append((int(lo), int(hi or lo)))
    return tuple(out)


def possible_cpus() -> int:
    """How many CPUs the kernel may ever bring up: per-CPU values have one slot each."""
    return sum(hi - lo + 1 for lo, hi in _possible_ranges())


def nr_cpu_ids() -> int:
    """The kernel's ``nr_cpu_ids``: one more than the highest possible CPU's number."""
    return max(hi for _, hi in _possible_ranges()) + 1


def _failure(cmd: Cmd) -> BpfMapError:
    """The error for a raw map call that returned < 0, from the thread's errno."""
    err = ctypes.get_errno()
    return BpfMapError(err, describe_failure(cmd, err))


class KernelMap(FdOwner):
    """A map created in the kernel, owned through its file descriptor.

    Keys and values are ``bytes`` of exactly ``key_size`` and :attr:`value_buffer_size`
    bytes (for per-CPU maps that is ``round_up(value_size, 8) * possible_cpus()``, the
    layout the kernel reads and writes).
    """

    def __init__(self, map_type: MapType | int, key_size: int, value_size: int,
                 max_entries: int, flags: int = 0, name: str = "", *, map_extra: int = 0,
                 inner_map: "KernelMap | None" = None, btf_fd: Fd | None = None,
                 btf_key_type_id: int = 0, btf_value_type_id: int = 0):
        self.map_type = MapType(map_type)
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.map_extra = map_extra
        attr = BpfAttr()
        a = attr.map_create
        a.map_type = self.map_type
        a.key_size = key_size
        a.value_size = value_size
        a.max_entries = max_entries
        a.map_flags = flags
        a.map_extra = map_extra
        if inner_map is not None:  # map-in-map: the template inner map
            a.inner_map_fd = inner_map.fd.fileno()
        if btf_fd is not None:     # typed keys and values (bpftool shows them decoded)
            a.btf_fd = btf_fd.fileno()
            a.btf_key_type_id, a.btf_value_type_id = btf_key_type_id, btf_value_type_id
        a.map_name = object_name(name)
        self.fd = Fd(bpf(Cmd.MAP_CREATE, attr, BpfMapError))
        self._prepare_fast()

    @classmethod
    def borrow(cls, fd: int, map_type: MapType | int, key_size: int, value_size: int,
               max_entries: int, flags: int = 0, name: str = "") -> "KernelMap":
        """A KernelMap over an existing map descriptor, which it then owns (e.g. a dup of
        one that libbpf created)."""
        m = cls.__new__(cls)
        m.map_type, m.key_size, m.value_size = MapType(map_type), key_size, value_size
        m.max_entries, m.flags, m.name, m.map_extra = max_entries, flags, name, 0
        m.fd = Fd(fd)
        m._prepare_fast()
        return m

    @property
    def value_buffer_size(self) -> int:
        if self.map_type in PERCPU_MAP_TYPES:
            return (self.value_size + 7) // 8 * 8 * possible_cpus()
        return self.value_size

    def __repr__(self) -> str:
        return (f"KernelMap({self.map_type.name}, key_size={self.key_size}, "
                f"value_size={self.value_size}, max_entries={self.max_entries}, fd={self.fd!r})")

    # --- element operations -------------------------------------------------------------

    def _key(self, key: bytes | None) -> ctypes.Array | None:
        if key is None and self.key_size == 0:  # queue, stack, bloom filter: no key
            return None
        return self._buffer(key, self.key_size, "key")

    def _buffer(self, data: bytes, size: int, what: str) -> ctypes.Array:
        # The kernel reads exactly `size` bytes from the pointer, whatever we pass.
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BpfTypeError(f"map {what} must be bytes-like, not {type(data).__name__}")
        data = bytes(data)
        if len(data) != size:
            raise MapSizeError(f"{what} is {len(data)} bytes but this map's {what}s are "
                               f"{size} bytes")
        return ctypes.create_string_buffer(data, size)

    def _elem_attr(self, key: ctypes.Array | None, value: ctypes.Array | None,
                   flags: int = 0) -> BpfAttr:
        attr = BpfAttr()
        e = attr.map_elem
        e.map_fd = self.fd.fileno()
        e.key = address(key)
        e.value = address(value)
        e.flags = flags
        attr.buffers = (key, value)  # the kernel gets bare addresses: keep the buffers alive
        return attr

    def _prepare_fast(self) -> None:
        """Key and value buffers with ready lookup/update attrs, reused by the thread that
        made them: the common single-key call then allocates nothing (other threads take
        the allocating path)."""
        size = self.value_buffer_size
        key_buf = ctypes.create_string_buffer(max(self.key_size, 1))
        value_buf = ctypes.create_string_buffer(max(size, 1))
        calls, elems = [], []
        for cmd in (Cmd.MAP_LOOKUP_ELEM, Cmd.MAP_UPDATE_ELEM):
            attr = BpfAttr()
            elem = attr.map_elem        # (each access to a union member makes an object)
            elem.map_fd = self.fd.fileno()
            elem.key, elem.value = address(key_buf), address(value_buf)
            calls.append(raw_call(cmd, attr))
            elems.append((attr, elem))
        self._fast = (threading.get_ident(), key_buf, value_buf, calls[0], calls[1],
                      elems[1][1], size, elems)

    def lookup(self, key: bytes | None, flags: int = 0) -> bytes:
        """The value stored under ``key``; BpfMapError (ENOENT) when there is none."""
        tid, key_buf, value_buf, lookup, _, _, _, _ = self._fast
        if key.__class__ is bytes and len(key) == self.key_size and not flags \
                and tid == threading.get_ident():
            key_buf.raw = key
            if lookup() < 0:
                raise _failure(Cmd.MAP_LOOKUP_ELEM)
            return value_buf.raw
        k = self._key(key)
        v = ctypes.create_string_buffer(self.value_buffer_size)
        bpf(Cmd.MAP_LOOKUP_ELEM, self._elem_attr(k, v, flags), BpfMapError)
        return v.raw

    def lookup_percpu(self, key: bytes, flags: int = 0) -> list[bytes]:
        """A per-CPU map's value under ``key``: one ``value_size`` bytes per possible CPU."""
        raw = self.lookup(key, flags)
        stride = (self.value_size + 7) // 8 * 8
        return [raw[i:i + self.value_size] for i in range(0, len(raw), stride)]

    def lookup_and_delete(self, key: bytes | None = None, flags: int = 0) -> bytes:
        """Pop (queue/stack, ``key`` None) or take and remove ``key`` (hash maps)."""
        k = self._key(key)
        v = ctypes.create_string_buffer(self.value_buffer_size)
        bpf(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, self._elem_attr(k, v, flags), BpfMapError)
        return v.raw

    def push(self, value: bytes, flags: int = BPF_ANY) -> None:
        """Queue/stack push, bloom filter add: an update with no key."""
        self.update(None, value, flags)

    def peek(self, value: bytes | None = None) -> bytes:
        """Queue/stack peek (``value`` None), or a bloom filter membership test of ``value``
        (BpfMapError ENOENT when definitely absent)."""
        if value is None:
            return self.lookup(None)
        v = self._buffer(value, self.value_size, "value")
        bpf(Cmd.MAP_LOOKUP_ELEM, self._elem_attr(None, v), BpfMapError)
        return v.raw

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:
        """The value under ``key``, or ``default`` when the key is absent."""
        try:
            return self.lookup(key)
        except BpfMapError as e:
            if e.errno == errno.ENOENT:
                return default
            raise

    def update(self, key: bytes | None, value: bytes, flags: int = BPF_ANY) -> None:
        """Store ``value`` under ``key`` (flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK)."""
        tid, key_buf, value_buf, _, update, elem, size, _ = self._fast
        if key.__class__ is bytes and value.__class__ is bytes and len(key) == self.key_size \
                and len(value) == size and tid == threading.get_ident():
            key_buf.raw, value_buf.raw = key, value
            elem.flags = flags
            if update() < 0:
                raise _failure(Cmd.MAP_UPDATE_ELEM)
            return
        k = self._key(key)
        v = self._buffer(value, self.value_buffer_size, "value")
        bpf(Cmd.MAP_UPDATE_ELEM, self._elem_attr(k, v, flags), BpfMapError)

    def delete(self, key: bytes | None) -> None:
        """Remove ``key``; BpfMapError (ENOENT) when absent, (EINVAL) for array maps."""
        bpf(Cmd.MAP_DELETE_ELEM, self._elem_attr(self._key(key), None), BpfMapError)

    def next_key(self, key: bytes | None = None) -> bytes | None:
        """The key after ``key`` (the first key when None); None after the last one."""
        k = None if key is None else self._key(key)
        out = ctypes.create_string_buffer(max(self.key_size, 1))
        try:
            bpf(Cmd.MAP_GET_NEXT_KEY, self._elem_attr(k, out), BpfMapError)
        except BpfMapError as e:
            if e.errno == errno.ENOENT:
                return None
            raise
        return out.raw[:self.key_size]

    def keys(self) -> Iterator[bytes]:
        """Iterate over the keys in the kernel's order (a concurrent update may skip some)."""
        key = self.next_key(None)
        while key is not None:
            yield key
            key = self.next_key(key)


__all__ = ["KernelMap", "PERCPU_MAP_TYPES", "nr_cpu_ids", "possible_cpus"]
