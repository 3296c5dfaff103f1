"""Stack trace map (``stackmap.c``): stack ids for ``bpf_get_stackid``.

A stack of instruction pointers is hashed with ``jhash2`` over its u32 words (seed 0, as
the kernel does); its id is ``hash & (n_buckets - 1)`` with ``n_buckets`` the power of two
at or above max_entries. A different stack already in that bucket is -EEXIST unless
BPF_F_REUSE_STACKID replaces it; BPF_F_FAST_STACK_CMP trusts an equal hash. Each bucket is
``u32 hash, u32 nr`` then ``value_size`` bytes of ips, flat.

bpf(2): lookup gives the ips zero-padded to value_size; update is EINVAL; delete of an empty
id ENOENT; get_next_key walks occupied ids in order.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from typing import Any

from pybpf.isa.uapi import MapType
from pybpf.maps._base import Map
from pybpf.maps._common import (BPF_F_ACCESS_MASK, BPF_F_NUMA_NODE, BPF_F_STACK_BUILD_ID,
                                access_flags_ok, allocate, fail, index_of, u32)
from pybpf.maps._jhash import jhash2

STACK_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK | BPF_F_STACK_BUILD_ID
BPF_F_SKIP_FIELD_MASK = 0xFF
BPF_F_USER_STACK = 1 << 8
BPF_F_FAST_STACK_CMP = 1 << 9
BPF_F_REUSE_STACKID = 1 << 10
PERF_MAX_STACK = 127                  # sysctl kernel.perf_event_max_stack default
_BUILD_ID_SIZE = 32                   # sizeof(struct bpf_stack_build_id)


class StackTraceMap(Map):
    """BPF_MAP_TYPE_STACK_TRACE."""

    map_type = MapType.STACK_TRACE

    def _check_create(self) -> None:
        f, vs = self.flags, self.value_size
        bad = (f & ~STACK_CREATE_FLAG_MASK or not access_flags_ok(f) or self.key_size != 4
               or vs < 8 or vs % 8 or not self.max_entries)
        if not bad:
            bad = (vs % _BUILD_ID_SIZE if f & BPF_F_STACK_BUILD_ID
                   else vs // 8 > PERF_MAX_STACK)
        if bad:
            raise fail(errno.EINVAL, f"{self._where}: key_size 4, value_size a multiple of 8 "
                                     f"up to {8 * PERF_MAX_STACK}, max_entries > 0 "
                                     f"(flags {f:#x})")

    def _allocate(self) -> tuple:
        self.n_buckets = 1 << max(self.max_entries - 1, 0).bit_length()
        self.stride = 8 + self.value_size
        self.buckets = allocate(self.n_buckets * self.stride, self._where)
        self.buckets_address = ctypes.addressof(self.buckets)
        self.used = 0
        return ()

    def _bucket(self, i: int) -> tuple[int, int]:
        return struct.unpack_from("<II", self.buckets, i * self.stride)

    def _ips(self, i: int, nr: int) -> bytes:
        return ctypes.string_at(self.buckets_address + i * self.stride + 8, 8 * nr)

    def prog_get_stackid(self, ips: list[int], flags: int = 0) -> int:
        """bpf_get_stackid on a stack (innermost first): the id, or -errno."""
        if flags & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP
                     | BPF_F_REUSE_STACKID):
            return -errno.EINVAL
        skip = flags & BPF_F_SKIP_FIELD_MASK
        trace = [ip & (2**64 - 1) for ip in ips[skip:skip + self.value_size // 8]]
        if not trace:
            return -errno.EFAULT
        raw = struct.pack(f"<{len(trace)}Q", *trace)
        h = jhash2(struct.unpack(f"<{2 * len(trace)}I", raw), 0)
        i = h & (self.n_buckets - 1)
        old_hash, old_nr = self._bucket(i)
        occupied = old_nr != 0
        if occupied and old_hash == h:
            if flags & BPF_F_FAST_STACK_CMP:
                return i
            if old_nr == len(trace) and self._ips(i, old_nr) == raw:
                return i
        if occupied and not flags & BPF_F_REUSE_STACKID:
            return -errno.EEXIST
        if not occupied:
            if self.used >= self.max_entries:
                return -errno.ENOMEM
            self.used += 1
        base = self.buckets_address + i * self.stride
        ctypes.memset(base, 0, self.stride)
        struct.pack_into("<II", self.buckets, i * self.stride, h, len(trace))
        ctypes.memmove(base + 8, raw, len(raw))
        return i

    def _lookup(self, key: bytes) -> Any:
        i = index_of(key)
        if i >= self.n_buckets:
            return None
        _, nr = self._bucket(i)
        if not nr:
            return None
        return self._ips(i, nr).ljust(self.value_size, b"\0")

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        raise fail(errno.EINVAL, f"{self._where}: stacks are added by bpf_get_stackid only")

    def _delete(self, key: bytes) -> None:
        i = index_of(key)
        if i >= self.n_buckets:
            raise fail(errno.E2BIG, f"{self._where}: id {i} out of range")
        if not self._bucket(i)[1]:
            raise fail(errno.ENOENT, f"{self._where}: no stack with id {i}")
        ctypes.memset(self.buckets_address + i * self.stride, 0, self.stride)
        self.used -= 1

    def _next_key(self, key: bytes | None) -> bytes | None:
        i = 0 if key is None else index_of(key)
        if key is None or i >= self.n_buckets or not self._bucket(i)[1]:
            i = 0
        else:
            i += 1
        while i < self.n_buckets and not self._bucket(i)[1]:
            i += 1
        return u32(i) if i < self.n_buckets else None

    def __len__(self) -> int:
        return self.used


__all__ = ["StackTraceMap", "BPF_F_FAST_STACK_CMP", "BPF_F_REUSE_STACKID", "BPF_F_USER_STACK",
           "BPF_F_SKIP_FIELD_MASK"]
