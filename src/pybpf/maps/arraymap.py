"""Array maps: array, percpu_array, prog_array, and the fd-array base (``arraymap.c``).

Values live in one flat buffer, element ``i`` at ``i * round_up(value_size, 8)`` (per-CPU:
element-major, CPU ``c`` of element ``i`` at ``(i * cpus + c) * stride``). Rules (6.18):

- creation: key_size 4, value_size and max_entries non-zero, else EINVAL; flags limited to
  NUMA_NODE (not per-CPU), MMAPABLE and INNER_MAP (array only), PRESERVE_ELEMS (perf event
  array only) and the access flags; value_size over INT_MAX (per-CPU: over 32 KiB) E2BIG.
- update: bad flags EINVAL, then index >= max_entries E2BIG, then NOEXIST EEXIST.
- delete: EINVAL (elements always exist). Lookup past the end: no value.
- get_next_key: absent or out-of-range key gives index 0; the last index ENOENT.

fd arrays (prog_array, array_of_maps, perf_event_array) hold objects: update takes only
BPF_ANY (else EINVAL), delete of an empty slot is ENOENT and out of range E2BIG. Their
Python ``update``/``delete``/``lookup`` also accept a plain ``int`` index as the key.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any, Iterator

from pybpf.errors import BpfTypeError
from pybpf.isa.uapi import MapType
from pybpf.maps._base import NATIVE_ARRAY, NATIVE_PROG_ARRAY, Map
from pybpf.maps._common import (BPF_ANY, BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_INNER_MAP,
                                BPF_F_LOCK, BPF_F_MMAPABLE, BPF_F_NUMA_NODE,
                                BPF_F_PRESERVE_ELEMS, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG,
                                BPF_NOEXIST, ENOTSUPP, PCPU_MIN_UNIT_SIZE, access_flags_ok,
                                allocate, fail, index_of, round8, u32)

ARRAY_CREATE_FLAG_MASK = (BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK
                          | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP)
_INT_MAX = (1 << 31) - 1


class _ArrayBase(Map):
    """Creation checks and index-keyed iteration shared by every array-shaped map."""

    def _check_create(self) -> None:
        f, w = self.flags, self._where
        if (not self.max_entries or self.key_size != 4 or not self.value_size
                or f & ~ARRAY_CREATE_FLAG_MASK or not access_flags_ok(f)
                or (self.percpu and f & BPF_F_NUMA_NODE)):
            raise fail(errno.EINVAL, f"{w}: arrays need key_size 4, value_size > 0, "
                                     f"max_entries > 0 and valid flags (got flags {f:#x})")
        if self.map_type != MapType.ARRAY and f & (BPF_F_MMAPABLE | BPF_F_INNER_MAP):
            raise fail(errno.EINVAL, f"{w}: BPF_F_MMAPABLE/BPF_F_INNER_MAP are for arrays only")
        if self.map_type != MapType.PERF_EVENT_ARRAY and f & BPF_F_PRESERVE_ELEMS:
            raise fail(errno.EINVAL, f"{w}: BPF_F_PRESERVE_ELEMS is for perf event arrays only")
        if self.value_size > _INT_MAX:
            raise fail(errno.E2BIG, f"{w}: value_size too big")
        if self.percpu and round8(self.value_size) > PCPU_MIN_UNIT_SIZE:
            raise fail(errno.E2BIG, f"{w}: per-CPU value over {PCPU_MIN_UNIT_SIZE} bytes")

    def _next_key(self, key: bytes | None) -> bytes | None:
        index = self.max_entries if key is None else index_of(key)
        if index >= self.max_entries:
            return u32(0)
        if index == self.max_entries - 1:
            return None
        return u32(index + 1)

    def __len__(self) -> int:
        return self.max_entries


class ArrayMap(_ArrayBase):
    """BPF_MAP_TYPE_ARRAY (also global data: ``.data``, ``.rodata``, ``.bss``)."""

    map_type = MapType.ARRAY

    @property
    def stride(self) -> int:
        return round8(self.value_size)

    def _allocate(self) -> tuple:
        n = self.max_entries * self.stride * (self.cpus if self.percpu else 1)
        self.values = allocate(n, self._where)
        self.values_address = ctypes.addressof(self.values)
        return (self._value_region(self.values),)

    def _native(self) -> tuple[int, ...]:
        return (NATIVE_ARRAY, self.stride, 0, self.values_address)

    def _slot(self, index: int, cpu: int = 0) -> int:
        if self.percpu:
            return self.values_address + (index * self.cpus + cpu) * self.stride
        return self.values_address + index * self.stride

    def _lookup(self, key: bytes) -> Any:
        index = index_of(key)
        if index >= self.max_entries:
            return None
        if self.percpu:
            return [ctypes.string_at(self._slot(index, c), self.value_size)
                    for c in range(self.cpus)]
        return ctypes.string_at(self._slot(index), self.value_size)

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            raise fail(errno.EINVAL, f"{self._where}: invalid update flags {flags:#x}")
        index = index_of(key)
        if index >= self.max_entries:
            raise fail(errno.E2BIG, f"{self._where}: index {index} >= max_entries "
                                    f"{self.max_entries}")
        if flags & BPF_NOEXIST:
            raise fail(errno.EEXIST, f"{self._where}: array elements always exist "
                                     "(BPF_NOEXIST)")
        if flags & BPF_F_LOCK:
            raise fail(errno.EINVAL, f"{self._where}: BPF_F_LOCK needs a bpf_spin_lock")
        if not self.percpu:
            ctypes.memmove(self._slot(index), value, self.value_size)
        elif isinstance(value, tuple):
            cpu, data = value
            ctypes.memmove(self._slot(index, cpu), data, self.value_size)
        else:
            for cpu, data in enumerate(value):
                ctypes.memmove(self._slot(index, cpu), data, self.value_size)

    def _delete(self, key: bytes) -> None:
        raise fail(errno.EINVAL, f"{self._where}: array elements cannot be deleted")

    def lookup_and_delete(self, key: object) -> Any:
        raise fail(ENOTSUPP, f"{self._where}: lookup_and_delete is not supported")

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int:
        index = index_of(bytes(key)[:4])
        if index >= self.max_entries:
            return 0
        return self._slot(index, cpu)

    def _prog_value(self, value: bytes, cpu: int, key: bytes) -> Any:
        value = bytes(value)[:self.value_size]
        return (cpu, value) if self.percpu else value

    def set_data(self, data: bytes) -> None:
        """Initial contents of element 0 (global data sections), before any program runs."""
        if len(data) > self.value_size:
            raise fail(errno.EINVAL, f"{self._where}: {len(data)} bytes of data for a "
                                     f"{self.value_size}-byte value")
        ctypes.memmove(self._slot(0), bytes(data), len(data))


class PercpuArrayMap(ArrayMap):
    """BPF_MAP_TYPE_PERCPU_ARRAY."""

    map_type = MapType.PERCPU_ARRAY
    percpu = True


class FdArray(_ArrayBase):
    """An array of objects (programs, maps, perf buffers) by index; ids are kept flat."""

    def _check_create(self) -> None:
        if self.value_size != 4:
            raise fail(errno.EINVAL, f"{self._where}: value_size must be 4 (an fd)")
        if self.flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG):
            raise fail(errno.EINVAL, f"{self._where}: no program access flags on fd arrays")
        super()._check_create()

    def _allocate(self) -> tuple:
        self.slots: list[Any] = [None] * self.max_entries if self.max_entries <= 1 << 20 else {}
        self.ids = (ctypes.c_uint32 * self.max_entries).from_buffer(
            allocate(4 * self.max_entries, self._where))
        return ()

    def _index(self, key: object) -> int:
        if isinstance(key, int) and not isinstance(key, bool):
            if not 0 <= key <= 0xFFFFFFFF:
                raise fail(errno.E2BIG, f"{self._where}: index {key} out of range")
            return key
        return index_of(self._key(key))

    def _get(self, index: int) -> Any:
        if index >= self.max_entries:
            return None
        return self.slots[index] if isinstance(self.slots, list) else self.slots.get(index)

    def _check_object(self, obj: Any) -> int:
        """The id stored for ``obj``; BpfTypeError / BpfMapError if it does not belong."""
        raise NotImplementedError

    def update(self, key: object, value: object, flags: int = BPF_ANY) -> None:
        """Put ``value`` (an object, see the subclass) at ``key`` (bytes or an int index)."""
        index = self._index(key)
        self._may_write()
        if flags != BPF_ANY:
            raise fail(errno.EINVAL, f"{self._where}: fd arrays take only BPF_ANY")
        if index >= self.max_entries:
            raise fail(errno.E2BIG, f"{self._where}: index {index} >= max_entries "
                                    f"{self.max_entries}")
        self.ids[index] = self._check_object(value)
        self.slots[index] = value
        self._inserted(value)

    def _inserted(self, obj: Any) -> None:
        pass

    def delete(self, key: object) -> None:
        index = self._index(key)
        self._may_write()
        if index >= self.max_entries:
            raise fail(errno.E2BIG, f"{self._where}: index {index} >= max_entries")
        if self._get(index) is None:
            raise fail(errno.ENOENT, f"{self._where}: slot {index} is empty")
        self.ids[index] = 0
        if isinstance(self.slots, list):
            self.slots[index] = None
        else:
            del self.slots[index]

    def lookup(self, key: object) -> bytes | None:
        """The object's id as 4 bytes (what bpf(2) returns), or None for an empty slot."""
        index = self._index(key)
        self._may_read()
        obj = self._get(index)
        return None if obj is None else u32(self.ids[index])

    def next_key(self, key: object = None) -> bytes | None:
        return self._next_key(None if key is None else u32(self._index(key)))

    def items(self) -> Iterator[tuple[bytes, Any]]:
        for index in range(self.max_entries):
            if self._get(index) is not None:
                yield u32(index), u32(self.ids[index])

    def object_at(self, index: int) -> Any:
        """The object in slot ``index``, or None."""
        return self._get(index) if 0 <= index else None

    def prog_update(self, key: bytes, value: bytes, flags: int = BPF_ANY, cpu: int = 0) -> int:
        return -errno.EOPNOTSUPP     # the verifier refuses it; never reached from valid code

    def prog_delete(self, key: bytes) -> int:
        return -errno.EOPNOTSUPP


class ProgArray(FdArray):
    """BPF_MAP_TYPE_PROG_ARRAY: tail call targets; values are objects with an int ``id``.

    Beside the slots, a native jump table (``TARGET_WORDS`` u64 per slot) for the JIT's
    native ``bpf_tail_call``: the target's entry address (0: empty; 1: a target native
    code cannot enter, which Python handles), its run context, and the identity of the
    memory it runs in (a target elsewhere is Python's too). A program object offers
    ``native_target() -> (entry, context, memory id)`` when it can be entered natively.
    """

    map_type = MapType.PROG_ARRAY
    TARGET_WORDS = 3
    NATIVE_LIMIT = 1 << 16       # bigger arrays have no jump table: Python handles them

    def _allocate(self) -> tuple:
        out = super()._allocate()
        size = self.max_entries if self.max_entries <= self.NATIVE_LIMIT else 0
        self.targets = (ctypes.c_uint64 * max(self.TARGET_WORDS * size, 1))()
        return out

    def _native(self) -> tuple[int, ...]:
        if self.max_entries > self.NATIVE_LIMIT:
            return super()._native()
        return (NATIVE_PROG_ARRAY, 0, 0, ctypes.addressof(self.targets))

    def update(self, key: object, value: object, flags: int = BPF_ANY) -> None:
        super().update(key, value, flags)
        self._retarget(self._index(key))

    def delete(self, key: object) -> None:
        super().delete(key)
        self._retarget(self._index(key))

    def _retarget(self, index: int) -> None:
        """Slot ``index``'s jump table entry, from what the slot now holds."""
        if self.max_entries > self.NATIVE_LIMIT:
            return
        obj = self._get(index)
        native = getattr(obj, "native_target", None) if obj is not None else None
        target = native() if native is not None else None
        entry = (0, 0, 0) if obj is None else target if target is not None else (1, 0, 0)
        words = self.TARGET_WORDS
        self.targets[words * index:words * (index + 1)] = entry

    def _check_object(self, obj: Any) -> int:
        prog_id = getattr(obj, "id", None)
        if not isinstance(prog_id, int) or isinstance(prog_id, bool) or obj is None:
            raise BpfTypeError(f"{self._where}: values are programs (objects with an int "
                               f"id), not {type(obj).__name__}")
        return prog_id

    def program_at(self, index: int) -> Any:
        """The tail call target at ``index`` (None if empty or out of range)."""
        return self.object_at(index)


__all__ = ["ArrayMap", "PercpuArrayMap", "FdArray", "ProgArray", "ARRAY_CREATE_FLAG_MASK"]
