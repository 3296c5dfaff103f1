"""A kernel map with the userspace maps' API, so code never knows which engine it drives.

Keys and values are bytes; an absent key looks up as None; per-CPU maps give and take a
list with one value per possible CPU; a prog_array takes Program objects and a
map-in-map takes maps (their fds go to the kernel); errors are the same
:class:`BpfMapError` errnos and :class:`MapSizeError` the userspace maps raise.
"""

from __future__ import annotations

import errno
import os
from typing import Any, Iterator

from pybpf.errors import BpfError, BpfMapError, BpfTypeError, MapSizeError
from pybpf.isa.uapi import BPF_ANY, MapType
from pybpf.kernel.fd import Fd
from pybpf.kernel.maps import PERCPU_MAP_TYPES, KernelMap, possible_cpus

_FD_VALUES = (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS,
              MapType.PERF_EVENT_ARRAY)


def _bytes(value: object, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise BpfTypeError(f"map {what} must be bytes-like, not {type(value).__name__}")


class KernelObjectMap:
    """One map of a kernel-engine Object."""

    def __init__(self, kernel_map: KernelMap, spec: Any = None):
        self.kernel_map = kernel_map
        self.spec = spec
        self.name = spec.name if spec is not None else kernel_map.name
        self.key_type = getattr(spec, "key_type", None)
        self.value_type = getattr(spec, "value_type", None)
        self._held: dict[bytes, Any] = {}     # programs / maps whose fds the map holds
        self._percpu = kernel_map.map_type in PERCPU_MAP_TYPES
        self._fd_values = kernel_map.map_type in _FD_VALUES

    # -- facts ----------------------------------------------------------------------------

    @property
    def type(self) -> MapType:
        return self.kernel_map.map_type

    @property
    def key_size(self) -> int:
        return self.kernel_map.key_size

    @property
    def value_size(self) -> int:
        return self.kernel_map.value_size

    @property
    def max_entries(self) -> int:
        return self.kernel_map.max_entries

    @property
    def flags(self) -> int:
        return self.kernel_map.flags

    @property
    def percpu(self) -> bool:
        return self._percpu

    @property
    def cpus(self) -> int:
        return possible_cpus() if self.percpu else 1

    def fileno(self) -> int:
        return self.kernel_map.fileno()

    @property
    def id(self) -> int:
        """The kernel's id of the map (what bpftool lists)."""
        from pybpf.kernel.introspect import map_info

        return map_info(self.kernel_map.fd).id

    def pin(self, path: str | os.PathLike) -> None:
        """Pin the map in bpffs at ``path`` (it outlives this process until unlinked)."""
        from pybpf.kernel.introspect import pin

        pin(self.kernel_map.fd, os.fspath(path))

    @classmethod
    def from_pin(cls, path: str | os.PathLike) -> "KernelObjectMap":
        """The map pinned at ``path``."""
        from pybpf.kernel.introspect import open_pinned

        return cls._from_fd(open_pinned(os.fspath(path)))

    @classmethod
    def from_id(cls, map_id: int) -> "KernelObjectMap":
        """The map with kernel id ``map_id``."""
        from pybpf.kernel.introspect import open_map_fd

        return cls._from_fd(open_map_fd(map_id))

    @classmethod
    def _from_fd(cls, fd: Fd) -> "KernelObjectMap":
        from pybpf.kernel.introspect import map_info, object_kind

        if object_kind(fd) != "map":
            kind = object_kind(fd)
            fd.close()
            raise BpfError(f"that pinned object is a {kind}, not a map")
        info = map_info(fd)
        return cls(KernelMap.borrow(fd.detach(), info.type, info.key_size, info.value_size,
                                    info.max_entries, info.flags, info.name))

    def close(self) -> None:
        self._held.clear()
        self.kernel_map.close()

    def __repr__(self) -> str:
        return f"<KernelObjectMap {self.name} {self.type.name.lower()}>"

    # -- keys and values ------------------------------------------------------------------

    def _key(self, key: object) -> bytes | None:
        if self.key_size == 0:
            return None
        if isinstance(key, int) and not isinstance(key, bool) and self.type in _FD_VALUES:
            return key.to_bytes(4, "little")
        return _bytes(key, "key")

    def _value(self, value: object) -> bytes:
        if self.type in _FD_VALUES and hasattr(value, "fileno"):
            return value.fileno().to_bytes(4, "little")
        if self.percpu:
            stride = (self.value_size + 7) // 8 * 8
            values = list(value) if isinstance(value, (list, tuple)) else [value] * self.cpus
            if len(values) != self.cpus:
                raise MapSizeError(f"map {self.name}: {len(values)} per-CPU values given, "
                                   f"this kernel has {self.cpus} possible CPUs")
            parts = []
            for v in values:
                raw = _bytes(v, "value")
                if len(raw) != self.value_size:
                    raise MapSizeError(f"value is {len(raw)} bytes but this map's values are "
                                       f"{self.value_size} bytes")
                parts.append(raw.ljust(stride, b"\0"))
            return b"".join(parts)
        return _bytes(value, "value")

    def lookup(self, key: object) -> Any:
        k = key if key.__class__ is bytes and not self.percpu else self._key(key)
        try:
            if self.percpu:
                return self.kernel_map.lookup_percpu(k)
            return self.kernel_map.lookup(k)
        except BpfMapError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def get(self, key: object, default: Any = None) -> Any:
        value = self.lookup(key)
        return default if value is None else value

    def update(self, key: object, value: object, flags: int = BPF_ANY) -> None:
        if key.__class__ is bytes and value.__class__ is bytes and not self._fd_values:
            self.kernel_map.update(key, value, flags)     # the common case, checked there
            return
        k = self._key(key)
        self.kernel_map.update(k, self._value(value), flags)
        if self.type in _FD_VALUES and hasattr(value, "fileno") and k is not None:
            self._held[k] = value

    def delete(self, key: object) -> None:
        k = self._key(key)
        self.kernel_map.delete(k)
        self._held.pop(k or b"", None)

    def next_key(self, key: object = None) -> bytes | None:
        return self.kernel_map.next_key(None if key is None else self._key(key))

    def keys(self) -> Iterator[bytes]:
        return self.kernel_map.keys()

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    def __contains__(self, key: object) -> bool:
        return self.lookup(key) is not None

    def values(self) -> Iterator[Any]:
        for _, value in self.items():
            yield value

    def items(self) -> Iterator[tuple[bytes, Any]]:
        for key in list(self.keys()):
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def __len__(self) -> int:
        return sum(1 for _ in self.keys())

    # -- batch operations ------------------------------------------------------------------

    def _split(self, items: list[tuple[bytes, bytes]]) -> list[tuple[bytes, Any]]:
        if not self._percpu:
            return items
        stride, size = (self.value_size + 7) // 8 * 8, self.value_size
        return [(k, [v[i:i + size] for i in range(0, len(v), stride)]) for k, v in items]

    def lookup_batch(self) -> list[tuple[bytes, Any]]:
        """Every ``(key, value)`` through BPF_MAP_LOOKUP_BATCH."""
        from pybpf.kernel.introspect import lookup_batch

        return self._split(lookup_batch(self.kernel_map))

    def update_batch(self, items: Any, flags: int = BPF_ANY) -> int:
        """Store every ``(key, value)`` in one BPF_MAP_UPDATE_BATCH."""
        from pybpf.kernel.introspect import update_batch

        pairs = list(items.items() if hasattr(items, "items") else items)
        if self._percpu or self._fd_values:
            pairs = [(self._key(k), self._value(v)) for k, v in pairs]
        return update_batch(self.kernel_map, pairs, flags)

    def delete_batch(self, keys: Any) -> int:
        """Delete every key in one BPF_MAP_DELETE_BATCH."""
        from pybpf.kernel.introspect import delete_batch

        return delete_batch(self.kernel_map, [self._key(k) for k in keys])

    def lookup_and_delete_batch(self) -> list[tuple[bytes, Any]]:
        """Every ``(key, value)``, removed as read (BPF_MAP_LOOKUP_AND_DELETE_BATCH)."""
        from pybpf.kernel.introspect import lookup_and_delete_batch

        return self._split(lookup_and_delete_batch(self.kernel_map))

    # -- queues, stacks, bloom filters -----------------------------------------------------

    def push(self, value: object, flags: int = BPF_ANY) -> None:
        self.kernel_map.push(_bytes(value, "value"), flags)

    def pop(self) -> bytes | None:
        try:
            return self.kernel_map.lookup_and_delete(None)
        except BpfMapError as e:
            if e.errno == errno.ENOENT:
                return None
            raise

    def peek(self, *value: object) -> Any:
        try:
            if self.type == MapType.BLOOM_FILTER:
                if len(value) != 1:
                    raise BpfError("a bloom filter's peek takes the value to test")
                self.kernel_map.peek(_bytes(value[0], "value"))
                return True
            return self.kernel_map.peek()
        except BpfMapError as e:
            if e.errno == errno.ENOENT:
                return False if self.type == MapType.BLOOM_FILTER else None
            raise

    def freeze(self) -> None:
        from pybpf.kernel.introspect.batch import freeze

        freeze(self.kernel_map)

    def typed(self) -> Any:
        from pybpf.maps.typed import TypedMap

        return TypedMap(self)
