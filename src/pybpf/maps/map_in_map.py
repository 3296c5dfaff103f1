"""Maps of maps: array_of_maps and hash_of_maps (``map_in_map.c``).

Both are created with an *inner map template* (``inner=``: a Map or a MapSpec; the
kernel's ``inner_map_fd``), and only accept maps like it: same type, key and value size,
flags, and max_entries unless the template has BPF_F_INNER_MAP (EINVAL otherwise).
A map-in-map may not be the inner map of another (EINVAL).

Python ``update`` takes a :class:`Map` as the value; ``lookup`` returns the inner map's id
as 4 bytes as bpf(2) does. Programs get the inner map's handle address from
``prog_lookup``; the flat storage holds that address (u64) per slot for native probes.

Inner maps and memory: ``regions`` of the outer map hold none of its inner maps. The loader
calls ``outer.attach(memory)``, which attaches every inner map present; a map inserted
later is attached to every memory the outer map is attached to.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any, Iterator, Sequence

from pybpf.errors import BpfTypeError
from pybpf.isa.uapi import MapType
from pybpf.maps._base import Map
from pybpf.maps._common import BPF_ANY, BPF_F_INNER_MAP, allocate, fail, u32
from pybpf.maps.arraymap import FdArray
from pybpf.maps.hashtab import HashMap

_MAP_IN_MAP = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)


class _Template:
    """What an inserted inner map must match (``bpf_map_meta_equal``)."""

    def __init__(self, inner: Any, where: str):
        if inner is None:
            raise fail(errno.EINVAL, f"{where}: a map-in-map needs an inner map template")
        self.type = MapType(inner.type)
        if self.type in _MAP_IN_MAP:
            raise fail(errno.EINVAL, f"{where}: the inner map cannot itself be a map-in-map")
        self.key_size = inner.key_size
        self.value_size = inner.value_size
        self.max_entries = inner.max_entries
        self.flags = inner.flags

    def check(self, m: Any, where: str) -> None:
        if not isinstance(m, Map):
            raise BpfTypeError(f"{where}: values are maps, not {type(m).__name__}")
        same = (m.type == self.type and m.key_size == self.key_size
                and m.value_size == self.value_size and m.flags == self.flags
                and (self.flags & BPF_F_INNER_MAP or m.max_entries == self.max_entries))
        if not same:
            raise fail(errno.EINVAL, f"{where}: {m!r} does not match the inner map template "
                                     f"({self.type.name}, key {self.key_size}, value "
                                     f"{self.value_size}, max_entries {self.max_entries}, "
                                     f"flags {self.flags:#x})")


class ArrayOfMaps(FdArray):
    """BPF_MAP_TYPE_ARRAY_OF_MAPS."""

    map_type = MapType.ARRAY_OF_MAPS

    def __init__(self, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: str = "", *, inner: Any = None, **kwargs: Any):
        self.template = _Template(inner, f"array_of_maps map {name!r}")
        super().__init__(key_size, value_size, max_entries, flags, name, **kwargs)

    def _allocate(self) -> tuple:
        regions = super()._allocate()
        self.handles = (ctypes.c_uint64 * self.max_entries).from_buffer(
            allocate(8 * self.max_entries, self._where))
        return regions

    def _check_object(self, obj: Any) -> int:
        self.template.check(obj, self._where)
        return obj.id

    def update(self, key: object, value: object, flags: int = BPF_ANY) -> None:
        """Put the map ``value`` at ``key`` (bytes or an int index)."""
        super().update(key, value, flags)
        self.handles[self._index(key)] = value.address  # type: ignore[attr-defined]

    def delete(self, key: object) -> None:
        super().delete(key)
        self.handles[self._index(key)] = 0

    def _inserted(self, obj: Any) -> None:
        for memory in list(self._memories):
            obj.attach(memory)

    def _inner_maps(self) -> Sequence[Map]:
        if isinstance(self.slots, list):
            return [m for m in self.slots if m is not None]
        return list(self.slots.values())

    def map_at_index(self, index: int) -> Map | None:
        return self.object_at(index)

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int:
        index = int.from_bytes(bytes(key)[:4], "little")
        return self.handles[index] if index < self.max_entries else 0


class HashOfMaps(HashMap):
    """BPF_MAP_TYPE_HASH_OF_MAPS: hash semantics (NOEXIST, EXIST, E2BIG when full)."""

    map_type = MapType.HASH_OF_MAPS

    def __init__(self, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: str = "", *, inner: Any = None, **kwargs: Any):
        self.template = _Template(inner, f"hash_of_maps map {name!r}")
        self.objects: dict[bytes, Map] = {}
        super().__init__(key_size, value_size, max_entries, flags, name, **kwargs)

    def _check_create(self) -> None:
        if self.value_size != 4:
            raise fail(errno.EINVAL, f"{self._where}: value_size must be 4 (an fd)")
        super()._check_create()

    @property
    def _stride(self) -> int:
        return 8                    # the inner map's handle address

    def _allocate(self) -> tuple:
        super()._allocate()
        return ()                   # the slots are not program-addressable

    def _value(self, value: object) -> Any:
        self.template.check(value, self._where)
        return value

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        if not isinstance(value, Map):
            raise fail(errno.EBADF, f"{self._where}: not a map")
        super()._update(key, value.address.to_bytes(8, "little"), flags)
        self.objects[key] = value
        for memory in list(self._memories):
            value.attach(memory)

    def _delete(self, key: bytes) -> None:
        super()._delete(key)
        self.objects.pop(key, None)

    def _lookup(self, key: bytes) -> Any:
        m = self.objects.get(key) if self.table.find(key) else None
        return None if m is None else u32(m.id)

    def items(self) -> Iterator[tuple[bytes, Any]]:
        for key in self.keys():
            yield key, u32(self.objects[key].id)

    def map_for(self, key: bytes) -> Map | None:
        return self.objects.get(bytes(key))

    def _inner_maps(self) -> Sequence[Map]:
        return list(self.objects.values())

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int:
        i = self.table.find(bytes(key))
        if not i:
            return 0
        return int.from_bytes(ctypes.string_at(self.table.value_address(i), 8), "little")

    def prog_update(self, key: bytes, value: bytes, flags: int = BPF_ANY, cpu: int = 0) -> int:
        return -errno.EOPNOTSUPP

    def prog_delete(self, key: bytes) -> int:
        try:
            self._delete(bytes(key))
        except OSError as e:
            return -(e.errno or errno.EINVAL)
        return 0


__all__ = ["ArrayOfMaps", "HashOfMaps"]
