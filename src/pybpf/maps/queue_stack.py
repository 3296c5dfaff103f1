"""Queue and stack maps (``queue_stack_maps.c``): key-less, values in a flat ring.

The ring has ``max_entries + 1`` slots of ``value_size`` bytes; ``head`` is where the next
push goes, ``tail`` the oldest element. Rules (6.18):

- creation: key_size 0, value_size and max_entries non-zero, flags NUMA_NODE and access
  flags only (else EINVAL); value_size over kmalloc's limit E2BIG.
- push: flags 0 or BPF_EXIST (anything else, NOEXIST included, EINVAL); a full map is E2BIG
  unless BPF_EXIST, which drops the *oldest* element (for a stack too).
- pop / peek of an empty map: ENOENT. Queue pops the oldest, stack the newest.
- bpf(2) view: update with no key pushes, lookup peeks, lookup_and_delete pops (flags must be
  0), delete and get_next_key are EINVAL.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any, Iterator

from pybpf.isa.uapi import MapType
from pybpf.maps._base import Map
from pybpf.maps._common import (BPF_ANY, BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_NUMA_NODE,
                                BPF_NOEXIST, KMALLOC_MAX_SIZE, access_flags_ok, allocate,
                                as_bytes, fail)

QUEUE_STACK_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK


class _KeylessMixin:
    """bpf(2) on a key-less map passes no key: accept None or b"" as the key."""

    def _key(self, key: object) -> bytes:  # type: ignore[override]
        if key is None:
            return b""
        return as_bytes(key, 0, "key", self._where)  # type: ignore[attr-defined]


class QueueMap(_KeylessMixin, Map):
    """BPF_MAP_TYPE_QUEUE: first in, first out."""

    map_type = MapType.QUEUE
    lifo = False

    def _check_create(self) -> None:
        f = self.flags
        if (not self.max_entries or self.key_size != 0 or not self.value_size
                or f & ~QUEUE_STACK_CREATE_FLAG_MASK or not access_flags_ok(f)):
            raise fail(errno.EINVAL, f"{self._where}: queues and stacks need key_size 0, "
                                     f"value_size > 0, max_entries > 0 (flags {f:#x})")
        if self.value_size > KMALLOC_MAX_SIZE:
            raise fail(errno.E2BIG, f"{self._where}: value_size too big")

    def _allocate(self) -> tuple:
        self.size = self.max_entries + 1
        self.elements = allocate(self.size * self.value_size, self._where)
        self.elements_address = ctypes.addressof(self.elements)
        self.ctl = (ctypes.c_uint32 * 2)()     # head, tail
        return ()

    def __len__(self) -> int:
        head, tail = self.ctl
        return (head - tail) % self.size

    def _slot(self, index: int) -> int:
        return self.elements_address + index * self.value_size

    # --- primitives returning kernel-style results -------------------------------------

    def prog_push(self, value: bytes, flags: int = BPF_ANY) -> int:
        if flags & BPF_NOEXIST or flags > BPF_EXIST:
            return -errno.EINVAL
        head, tail = self.ctl
        if (head + 1) % self.size == tail:          # full
            if not flags & BPF_EXIST:
                return -errno.E2BIG
            self.ctl[1] = (tail + 1) % self.size    # drop the oldest
        ctypes.memmove(self._slot(head), bytes(value)[:self.value_size], self.value_size)
        self.ctl[0] = (head + 1) % self.size
        return 0

    def _take(self, remove: bool) -> tuple[int, bytes | None]:
        head, tail = self.ctl
        if head == tail:
            return -errno.ENOENT, None
        if self.lifo:
            index = (head - 1) % self.size
            if remove:
                self.ctl[0] = index
        else:
            index = tail
            if remove:
                self.ctl[1] = (tail + 1) % self.size
        return 0, ctypes.string_at(self._slot(index), self.value_size)

    def prog_pop(self, cpu: int = 0) -> tuple[int, bytes | None]:
        return self._take(True)

    def prog_peek(self, cpu: int = 0) -> tuple[int, bytes | None]:
        return self._take(False)

    # --- Python API ----------------------------------------------------------------------

    def push(self, value: object, flags: int = BPF_ANY) -> None:
        """Push ``value``; BpfMapError E2BIG when full (BPF_EXIST: drop the oldest)."""
        raw = as_bytes(value, self.value_size, "value", self._where)
        self._may_write()
        err = self.prog_push(raw, flags)
        if err:
            raise fail(-err, f"{self._where}: push failed" + (" (full)" if err == -errno.E2BIG
                                                               else f" (flags {flags:#x})"))

    def pop(self) -> bytes | None:
        """The element a program's bpf_map_pop_elem would get, removed; None when empty."""
        self._may_write()
        return self._take(True)[1]

    def peek(self) -> bytes | None:  # type: ignore[override]
        self._may_read()
        return self._take(False)[1]

    def lookup_and_delete(self, key: object = None, flags: int = 0) -> bytes:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM: pop, ENOENT when empty, EINVAL with flags."""
        self._key(key)
        if flags:
            raise fail(errno.EINVAL, f"{self._where}: lookup_and_delete takes no flags")
        value = self.pop()
        if value is None:
            raise fail(errno.ENOENT, f"{self._where} is empty")
        return value

    def _lookup(self, key: bytes) -> Any:
        return self._take(False)[1]

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        err = self.prog_push(value, flags)
        if err:
            raise fail(-err, f"{self._where}: push failed")

    def _delete(self, key: bytes) -> None:
        raise fail(errno.EINVAL, f"{self._where}: delete is not supported (use pop)")

    def _next_key(self, key: bytes | None) -> bytes | None:
        raise fail(errno.EINVAL, f"{self._where}: has no keys")

    def keys(self) -> Iterator[bytes]:
        raise fail(errno.EINVAL, f"{self._where}: has no keys")

    def values(self) -> Iterator[bytes]:
        """The elements in pop order, without removing them."""
        head, tail = self.ctl
        n = (head - tail) % self.size
        for k in range(n):
            index = (head - 1 - k) % self.size if self.lifo else (tail + k) % self.size
            yield ctypes.string_at(self._slot(index), self.value_size)


class StackMap(QueueMap):
    """BPF_MAP_TYPE_STACK: last in, first out."""

    map_type = MapType.STACK
    lifo = True


__all__ = ["QueueMap", "StackMap"]
