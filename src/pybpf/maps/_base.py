"""The Map base class: identity, the handle region, memory attachment and the Python API.

Each map family (one module each, like the kernel's ``kernel/bpf/*.c``) subclasses
:class:`Map` and implements the ``_``-prefixed primitives on raw, already-checked bytes:

``_lookup(key) -> bytes | list[bytes] | None``, ``_update(key, value, flags)``,
``_delete(key)``, ``_next_key(key) -> bytes | None`` raise :class:`BpfMapError` as
bpf(2) would; ``prog_*`` methods are what helpers call and return kernel-style ints.

Two views of a map exist, as in the kernel: the *syscall* view (``lookup``, ``update``...,
where per-CPU values come as one value per CPU, prog_array values are program ids) and the
*program* view (``prog_lookup`` returns the address of the value in flat storage).
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import struct
import threading
import weakref
from typing import Any, ClassVar, Iterator, Sequence

from pybpf.errors import BpfMapError, BpfTypeError
from pybpf.isa.uapi import MapType
from pybpf.maps._common import (BPF_ANY, BPF_F_LOCK, BPF_F_RDONLY, BPF_F_RDONLY_PROG, BPF_F_WRONLY,
                                MapSizeError, as_bytes, fail)
from pybpf.vm.memory import Region

_ids = itertools.count(1)
_ids_lock = threading.Lock()
_registry: "weakref.WeakValueDictionary[int, Map]" = weakref.WeakValueDictionary()

# struct pybpf_map_handle: what a program's map pointer points at (read-only to programs).
# u32 type, key_size, value_size, max_entries, flags, id; then what native code (the JIT's
# map helpers) needs to probe the storage itself: u32 native kind (NATIVE_*; 0: none, the
# helpers go to Python), cpus, value stride, LRU flag; u64 values address and three more
# family-specific addresses (see each family's ``_native``).
_HANDLE_FIELDS = ("type", "key_size", "value_size", "max_entries", "flags", "id")
HANDLE_SIZE = 64
NATIVE_NONE, NATIVE_ARRAY, NATIVE_HASH, NATIVE_LPM, NATIVE_RINGBUF = 0, 1, 2, 3, 4
NATIVE_PROG_ARRAY = 5
NATIVE_SLOTS = 6        # a redirect map's slots (devmap, cpumap, xskmap): AUX = present bytes
HANDLE_TYPE, HANDLE_KEY_SIZE, HANDLE_VALUE_SIZE, HANDLE_MAX_ENTRIES = 0, 4, 8, 12
HANDLE_KIND, HANDLE_CPUS, HANDLE_STRIDE, HANDLE_LRU = 24, 28, 32, 36
HANDLE_VALUES, HANDLE_AUX = 40, 48          # u64; AUX: two more u64 at 48 and 56


def _next_id() -> int:
    with _ids_lock:
        return next(_ids)


def map_at(address: int) -> "Map | None":
    """The live map whose handle is at ``address`` (a program's map pointer), or None."""
    return _registry.get(address)


class Map:
    """A userspace BPF map. Subclasses fix ``map_type``; see the module docstring."""

    map_type: ClassVar[MapType]
    percpu: ClassVar[bool] = False

    def __init__(self, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 name: str = "", *, cpus: int = 1, map_extra: int = 0,
                 key_type: Any = None, value_type: Any = None):
        if cpus < 1:
            raise ValueError(f"cpus must be at least 1, not {cpus}")
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.name = name
        self.cpus = cpus
        self.map_extra = map_extra
        self.key_type = key_type
        self.value_type = value_type
        self.frozen = False
        self.id = 0                 # assigned once creation checks pass
        self._check_generic()
        self._check_create()        # raises BpfMapError as MAP_CREATE would
        self.id = _next_id()
        self._memories: "weakref.WeakSet[Any]" = weakref.WeakSet()
        handle = b"".join(int(getattr(self, f) if f != "type" else self.map_type)
                          .to_bytes(4, "little") for f in _HANDLE_FIELDS)
        self.handle = Region(f"map:{name or self.id}", handle.ljust(HANDLE_SIZE, b"\0"),
                             writable=False, kind="map")
        self._storage: tuple[Region, ...] = self._allocate()
        kind, stride, lru, values, *aux = self._native()
        self.handle.write(HANDLE_KIND, struct.pack("<4I3Q", kind, cpus, stride, lru, values,
                                                   *(aux + [0, 0])[:2]))
        _registry[self.handle.address] = self

    # --- to be provided by each family -------------------------------------------------

    def _check_generic(self) -> None:
        """What map_create checks for every type before the type's own checks."""
        for field in ("key_size", "value_size", "max_entries", "flags"):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise BpfTypeError(f"{self._where}: {field} must be an int, not "
                                   f"{type(value).__name__}")
            if not 0 <= value <= 0xFFFFFFFF:
                raise fail(errno.EINVAL, f"{self._where}: {field} {value} is not a u32")
        if self.map_extra and self.map_type not in (MapType.BLOOM_FILTER, MapType.ARENA):
            raise fail(errno.EINVAL, f"{self._where}: map_extra is only for bloom filters")
        if self.flags & BPF_F_RDONLY and self.flags & BPF_F_WRONLY:
            raise fail(errno.EINVAL, f"{self._where}: BPF_F_RDONLY and BPF_F_WRONLY together")

    def _check_create(self) -> None:
        raise NotImplementedError

    def _allocate(self) -> tuple[Region, ...]:
        """Allocate flat storage; return the regions programs may address."""
        return ()

    def _native(self) -> tuple[int, ...]:
        """(native kind, value stride, LRU flag, values address, aux addresses...) for
        the handle; a family whose storage native code can probe overrides it."""
        return (NATIVE_NONE, 0, 0, 0)

    def _lookup(self, key: bytes) -> Any:
        raise fail(errno.EOPNOTSUPP, f"{self._where}: lookup is not supported")

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        raise fail(errno.EOPNOTSUPP, f"{self._where}: update is not supported")

    def _delete(self, key: bytes) -> None:
        raise fail(errno.EOPNOTSUPP, f"{self._where}: delete is not supported")

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise fail(errno.EOPNOTSUPP, f"{self._where}: get_next_key is not supported")

    # --- identity -----------------------------------------------------------------------

    @property
    def type(self) -> MapType:
        return self.map_type

    @property
    def address(self) -> int:
        """The map pointer a program holds (what ``lddw BPF_PSEUDO_MAP_FD`` yields)."""
        return self.handle.address

    @property
    def regions(self) -> tuple[Region, ...]:
        """The handle and every buffer a program may address, fixed at creation.

        Inner maps of a map-in-map are not included: :meth:`attach` adds them.
        """
        return (self.handle,) + self._storage

    @property
    def _where(self) -> str:
        return f"{self.map_type.name.lower()} map {self.name or '#' + str(self.id or '?')}"

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name!r} id={self.id} key_size={self.key_size} "
                f"value_size={self.value_size} max_entries={self.max_entries}>")

    def attach(self, memory: Any) -> None:
        """Make this map addressable in ``memory`` (a :class:`pybpf.vm.memory.Memory`).

        Idempotent. The map remembers the memory (weakly) so that maps inserted later into
        a map-in-map become addressable there too.
        """
        if memory in self._memories:
            return
        self._memories.add(memory)
        for region in self.regions:
            memory.add(region)
        for inner in self._inner_maps():
            inner.attach(memory)

    def _inner_maps(self) -> Sequence["Map"]:
        return ()

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: later updates through this (syscall) API fail with EPERM."""
        self.frozen = True

    # --- checked Python API (the syscall view) -----------------------------------------

    def _key(self, key: object) -> bytes:
        return as_bytes(key, self.key_size, "key", self._where)

    def _value(self, value: object) -> Any:
        if self.percpu:
            if isinstance(value, (list, tuple)):
                if len(value) != self.cpus:
                    raise MapSizeError(f"{self._where}: {len(value)} per-CPU values given "
                                       f"but the map has {self.cpus} CPUs")
                return [as_bytes(v, self.value_size, "value", self._where) for v in value]
            one = as_bytes(value, self.value_size, "value", self._where)
            return [one] * self.cpus
        return as_bytes(value, self.value_size, "value", self._where)

    def _may_read(self) -> None:
        if self.flags & BPF_F_WRONLY:
            raise fail(errno.EPERM, f"{self._where} is write-only (BPF_F_WRONLY)")

    def _may_write(self) -> None:
        if self.flags & BPF_F_RDONLY or self.frozen:
            why = "frozen" if self.frozen else "read-only (BPF_F_RDONLY)"
            raise fail(errno.EPERM, f"{self._where} is {why}")

    def lookup(self, key: object) -> Any:
        """The value under ``key`` (per-CPU maps: a list, one per CPU), or None."""
        k = self._key(key)
        self._may_read()
        return self._lookup(k)

    def update(self, key: object, value: object, flags: int = BPF_ANY) -> None:
        """Store ``value`` under ``key``; BpfMapError as BPF_MAP_UPDATE_ELEM would fail."""
        k = self._key(key)
        v = self._value(value)
        self._may_write()
        if flags & BPF_F_LOCK:   # bpf(2) checks this first: no BTF, so no bpf_spin_lock
            raise fail(errno.EINVAL, f"{self._where}: BPF_F_LOCK needs a bpf_spin_lock in "
                                     "the value")
        self._update(k, v, flags)

    def delete(self, key: object) -> None:
        k = self._key(key)
        self._may_write()
        self._delete(k)

    def next_key(self, key: object = None) -> bytes | None:
        """The key after ``key`` (the first key when None); None after the last one."""
        k = None if key is None else self._key(key)
        self._may_read()
        return self._next_key(k)

    def get(self, key: object, default: Any = None) -> Any:
        value = self.lookup(key)
        return default if value is None else value

    def keys(self) -> Iterator[bytes]:
        key = self.next_key(None)
        while key is not None:
            yield key
            key = self.next_key(key)

    def values(self) -> Iterator[Any]:
        for _, value in self.items():
            yield value

    def items(self) -> Iterator[tuple[bytes, Any]]:
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    # --- batch operations (BPF_MAP_*_BATCH: every element, in one call) -----------------

    def lookup_batch(self) -> list[tuple[bytes, Any]]:
        """Every ``(key, value)``, as BPF_MAP_LOOKUP_BATCH walks them."""
        return list(self.items())

    def update_batch(self, items: Any, flags: int = BPF_ANY) -> int:
        """Store every ``(key, value)``; how many were stored. A refused element stops the
        batch with its error, whose ``done`` says how many went in before it."""
        pairs = list(items.items() if hasattr(items, "items") else items)
        for done, (key, value) in enumerate(pairs):
            try:
                self.update(key, value, flags)
            except BpfMapError as e:
                e.done = done
                raise
        return len(pairs)

    def delete_batch(self, keys: Any) -> int:
        """Delete every key; an absent one stops the batch with ENOENT (``done`` set)."""
        keys = list(keys)
        for done, key in enumerate(keys):
            try:
                self.delete(key)
            except BpfMapError as e:
                e.done = done
                raise
        return len(keys)

    def lookup_and_delete_batch(self) -> list[tuple[bytes, Any]]:
        """Every ``(key, value)``, removed as read (hash-like maps)."""
        items = self.lookup_batch()
        self.delete_batch(key for key, _ in items)
        return items

    def __contains__(self, key: object) -> bool:
        return self.lookup(key) is not None

    # Queue, stack and bloom filter override these.
    def push(self, value: object, flags: int = BPF_ANY) -> None:
        raise fail(errno.EINVAL, f"{self._where} has no push (only queue, stack, bloom_filter)")

    def pop(self) -> bytes | None:
        raise fail(errno.EINVAL, f"{self._where} has no pop (only queue and stack)")

    def peek(self, *value: object) -> Any:
        raise fail(errno.EINVAL, f"{self._where} has no peek (only queue, stack, bloom_filter)")

    def typed(self) -> "Any":
        """A view that encodes and decodes keys and values (see :mod:`pybpf.maps.typed`)."""
        from pybpf.maps.typed import TypedMap

        return TypedMap(self)

    # --- the program view (helpers) ----------------------------------------------------

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int:
        """bpf_map_lookup_elem: the value's address (this CPU's slot), 0 when absent."""
        return 0

    def prog_update(self, key: bytes, value: bytes, flags: int = BPF_ANY, cpu: int = 0) -> int:
        """bpf_map_update_elem: 0 or -errno."""
        try:
            self._update(bytes(key), self._prog_value(bytes(value), cpu, key), flags)
        except OSError as e:
            return -(e.errno or errno.EINVAL)
        return 0

    def _prog_value(self, value: bytes, cpu: int, key: bytes) -> Any:
        """A program writes one CPU's value; per-CPU families merge it (see hashtab)."""
        return value

    def prog_delete(self, key: bytes) -> int:
        try:
            self._delete(bytes(key))
        except OSError as e:
            return -(e.errno or errno.EINVAL)
        return 0

    def prog_push(self, value: bytes, flags: int = BPF_ANY) -> int:
        return -errno.EOPNOTSUPP

    def prog_pop(self, cpu: int = 0) -> tuple[int, bytes | None]:
        return -errno.EOPNOTSUPP, None

    def prog_peek(self, cpu: int = 0) -> tuple[int, bytes | None]:
        return -errno.EOPNOTSUPP, None

    # --- helpers for subclasses --------------------------------------------------------

    def _value_region(self, buffer: ctypes.Array, suffix: str = "values") -> Region:
        return Region(f"map:{self.name or self.id}:{suffix}", buffer,
                      writable=not self.flags & BPF_F_RDONLY_PROG, kind="map_value")

