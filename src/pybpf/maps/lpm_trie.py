"""Longest-prefix-match trie (``lpm_trie.c``), nodes in a flat buffer.

Keys are ``struct { u32 prefixlen; u8 data[key_size - 4]; }`` with ``data`` in network
(big-endian) bit order. The trie has the kernel's shape: a binary Patricia trie whose real
nodes hold stored prefixes and whose *intermediate* nodes (exactly two children, no value)
branch where two prefixes part. So get_next_key visits nodes in the kernel's order:
postorder, ``child[0]`` before ``child[1]`` — longer prefixes before their ancestors.

Flat layout: node ``i`` (1-based; 0 is "none") at ``(i - 1) * stride`` in ``nodes``:
``u32 child0, u32 child1, u32 prefixlen, u32 flags (1 used, 2 intermediate)``, then
``data`` rounded up to 8. ``ctl`` holds root, free-list head, entry count. Node ``i``'s value
is at ``(i - 1) * round_up(value_size, 8)`` in ``values`` (the program-addressable region).
Real nodes are at most max_entries and intermediate ones fewer, so 2 * max_entries nodes
are reserved (anonymous memory: untouched pages cost nothing).

Rules (6.18): BPF_F_NO_PREALLOC is required; key_size 5..260, value_size 1..4194024;
update flags above BPF_EXIST EINVAL, prefixlen above 8 * (key_size - 4) EINVAL, NOEXIST on
a stored prefix EEXIST, EXIST on a missing one ENOENT, a new prefix in a full trie ENOSPC.
Matching compares only the first prefixlen bits; a stored key keeps the data bytes of its
latest update. Lookup of a prefixlen above the maximum finds nothing; delete of it is EINVAL.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any

from pybpf.isa.uapi import MapType
from pybpf.maps._base import NATIVE_LPM, Map
from pybpf.maps._common import (BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_NO_PREALLOC,
                                BPF_F_NUMA_NODE, BPF_NOEXIST, KMALLOC_MAX_SIZE,
                                access_flags_ok, allocate, fail, round8)

LPM_CREATE_FLAG_MASK = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK
LPM_DATA_SIZE_MAX = 256
LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - 24   # sizeof(struct lpm_trie_node)
# Node layout, also what the JIT's native lookup walks: u32 words, then the data.
C0, C1, PLEN, FLAGS = 0, 1, 2, 3
NODE_USED, NODE_IM = 1, 2        # FLAGS bits
NODE_HDR = 16


class LpmTrieMap(Map):
    """BPF_MAP_TYPE_LPM_TRIE."""

    map_type = MapType.LPM_TRIE

    def _check_create(self) -> None:
        f = self.flags
        if (not self.max_entries or not f & BPF_F_NO_PREALLOC or f & ~LPM_CREATE_FLAG_MASK
                or not access_flags_ok(f) or not 5 <= self.key_size <= 4 + LPM_DATA_SIZE_MAX
                or not 1 <= self.value_size <= LPM_VAL_SIZE_MAX):
            raise fail(errno.EINVAL, f"{self._where}: LPM tries need BPF_F_NO_PREALLOC, "
                                     "key_size 5..260, value_size > 0 and max_entries > 0 "
                                     f"(flags {f:#x})")

    def _allocate(self) -> tuple:
        self.data_size = self.key_size - 4
        self.max_prefixlen = 8 * self.data_size
        self.stride = NODE_HDR + round8(self.data_size)
        self.vstride = round8(self.value_size)
        n = 2 * self.max_entries
        self.nodes = allocate(n * self.stride, self._where)
        self.nodes_address = ctypes.addressof(self.nodes)
        self._n32 = (ctypes.c_uint32 * (n * self.stride // 4)).from_buffer(self.nodes)
        self._w = self.stride // 4
        self.values = allocate(n * self.vstride, self._where)
        self.values_address = ctypes.addressof(self.values)
        self.ctl = (ctypes.c_uint32 * 3)()     # root, free head, entries
        self._fresh = 1
        return (self._value_region(self.values),)

    def _native(self) -> tuple[int, ...]:
        return (NATIVE_LPM, self.vstride, 0, self.values_address, self.nodes_address,
                ctypes.addressof(self.ctl))

    # --- node access --------------------------------------------------------------------

    def _get(self, i: int, field: int) -> int:
        return self._n32[(i - 1) * self._w + field]

    def _put(self, i: int, field: int, value: int) -> None:
        self._n32[(i - 1) * self._w + field] = value

    def _data(self, i: int) -> int:
        return int.from_bytes(ctypes.string_at(self.nodes_address + (i - 1) * self.stride + NODE_HDR,
                                               self.data_size), "big")

    def _set_data(self, i: int, data: bytes) -> None:
        ctypes.memmove(self.nodes_address + (i - 1) * self.stride + NODE_HDR, data, self.data_size)

    def _key_at(self, i: int) -> bytes:
        return self._get(i, PLEN).to_bytes(4, "little") + ctypes.string_at(
            self.nodes_address + (i - 1) * self.stride + NODE_HDR, self.data_size)

    def _alloc(self, plen: int, data: bytes, flags: int) -> int:
        i = self.ctl[1]
        if i:
            self.ctl[1] = self._get(i, C0)
        else:
            i = self._fresh
            self._fresh += 1
        self._put(i, C0, 0)
        self._put(i, C1, 0)
        self._put(i, PLEN, plen)
        self._put(i, FLAGS, flags)
        self._set_data(i, data)
        if not flags & NODE_IM:
            ctypes.memset(self.values_address + (i - 1) * self.vstride, 0, self.vstride)
        return i

    def _free(self, i: int) -> None:
        self._put(i, FLAGS, 0)
        self._put(i, C0, self.ctl[1])
        self.ctl[1] = i

    def _match(self, i: int, plen: int, data: int) -> int:
        """Leading bits node ``i`` and the key share, capped by both prefix lengths."""
        x = self._data(i) ^ data
        same = self.max_prefixlen - x.bit_length()
        return min(same, self._get(i, PLEN), plen)

    def _bit(self, data: int, pos: int) -> int:
        return (data >> (self.max_prefixlen - 1 - pos)) & 1

    def _split(self, key: bytes) -> tuple[int, int]:
        return int.from_bytes(key[:4], "little"), int.from_bytes(key[4:], "big")

    def __len__(self) -> int:
        return self.ctl[2]

    # --- lookup -------------------------------------------------------------------------

    def _find_longest(self, key: bytes) -> int:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return 0
        found = 0
        i = self.ctl[0]
        while i:
            m = self._match(i, plen, data)
            if m == self.max_prefixlen:
                return i
            if m < self._get(i, PLEN):
                break
            if not self._get(i, FLAGS) & NODE_IM:
                found = i
            i = self._get(i, C0 + self._bit(data, self._get(i, PLEN)))
        return found

    def _lookup(self, key: bytes) -> Any:
        i = self._find_longest(key)
        if not i:
            return None
        return ctypes.string_at(self.values_address + (i - 1) * self.vstride, self.value_size)

    def prog_lookup(self, key: bytes, cpu: int = 0) -> int:
        i = self._find_longest(bytes(key)[:self.key_size])
        return self.values_address + (i - 1) * self.vstride if i else 0

    # --- update -------------------------------------------------------------------------

    def _add_check(self, flags: int) -> None:
        if flags == BPF_EXIST:
            raise fail(errno.ENOENT, f"{self._where}: no such prefix (BPF_EXIST)")
        if self.ctl[2] >= self.max_entries:
            raise fail(errno.ENOSPC, f"{self._where} is full ({self.max_entries} entries)")

    def _update(self, key: bytes, value: Any, flags: int) -> None:
        if flags > BPF_EXIST:
            raise fail(errno.EINVAL, f"{self._where}: invalid update flags {flags:#x}")
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            raise fail(errno.EINVAL, f"{self._where}: prefixlen {plen} > {self.max_prefixlen}")
        raw = key[4:]
        parent, side = 0, 0                  # the slot: ctl root, or parent's child[side]
        i = self.ctl[0]
        m = 0
        while i:
            m = self._match(i, plen, data)
            nplen = self._get(i, PLEN)
            if nplen != m or nplen == plen or nplen == self.max_prefixlen:
                break
            parent, side = i, self._bit(data, nplen)
            i = self._get(i, C0 + side)
        if i and self._get(i, PLEN) == m == plen:           # this very prefix
            if self._get(i, FLAGS) & NODE_IM:
                self._add_check(flags)
                self._put(i, FLAGS, NODE_USED)
                ctypes.memset(self.values_address + (i - 1) * self.vstride, 0, self.vstride)
                self.ctl[2] += 1
            elif flags == BPF_NOEXIST:
                raise fail(errno.EEXIST, f"{self._where}: prefix exists (BPF_NOEXIST)")
            self._set_data(i, raw)
            self._write(i, value)
            return
        self._add_check(flags)
        new = self._alloc(plen, raw, NODE_USED)
        self._write(new, value)
        self.ctl[2] += 1
        if not i:
            self._link(parent, side, new)
        elif m == plen:                                      # new is an ancestor of i
            self._put(new, C0 + self._bit(self._data(i), plen), i)
            self._link(parent, side, new)
        else:                                                # they part at bit m
            im = self._alloc(m, ctypes.string_at(
                self.nodes_address + (i - 1) * self.stride + NODE_HDR, self.data_size), NODE_USED | NODE_IM)
            if self._bit(data, m):
                self._put(im, C0, i)
                self._put(im, C1, new)
            else:
                self._put(im, C0, new)
                self._put(im, C1, i)
            self._link(parent, side, im)

    def _link(self, parent: int, side: int, child: int) -> None:
        if parent:
            self._put(parent, C0 + side, child)
        else:
            self.ctl[0] = child

    def _write(self, i: int, value: bytes) -> None:
        ctypes.memmove(self.values_address + (i - 1) * self.vstride, value, self.value_size)

    def _prog_value(self, value: bytes, cpu: int, key: bytes) -> Any:
        return bytes(value)[:self.value_size]

    # --- delete -------------------------------------------------------------------------

    def _delete(self, key: bytes) -> None:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            raise fail(errno.EINVAL, f"{self._where}: prefixlen {plen} > {self.max_prefixlen}")
        # Walk keeping the slot of the node and of its parent.
        grand, gside, parent, pside = 0, 0, 0, 0
        i = self.ctl[0]
        m = 0
        while i:
            m = self._match(i, plen, data)
            nplen = self._get(i, PLEN)
            if nplen != m or nplen == plen:
                break
            grand, gside = parent, pside
            parent, pside = i, self._bit(data, nplen)
            i = self._get(i, C0 + pside)
        if not i or self._get(i, PLEN) != plen or m != plen or self._get(i, FLAGS) & NODE_IM:
            raise fail(errno.ENOENT, f"{self._where}: no such prefix")
        self.ctl[2] -= 1
        c0, c1 = self._get(i, C0), self._get(i, C1)
        if c0 and c1:                    # keep it as a branch point
            self._put(i, FLAGS, NODE_USED | NODE_IM)
            return
        if parent and self._get(parent, FLAGS) & NODE_IM and not c0 and not c1:
            sibling = self._get(parent, C1 if self._get(parent, C0) == i else C0)
            self._link(grand, gside, sibling)
            self._free(parent)
            self._free(i)
            return
        self._link(parent, pside, c0 or c1)
        self._free(i)

    # --- get_next_key: postorder --------------------------------------------------------

    def _leftmost(self, i: int) -> int:
        found = 0
        while i:
            if not self._get(i, FLAGS) & NODE_IM:
                found = i
            i = self._get(i, C0) or self._get(i, C1)
        return found

    def _next_key(self, key: bytes | None) -> bytes | None:
        root = self.ctl[0]
        if not root:
            return None
        if key is None:
            return self._key_at(self._leftmost(root))
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return self._key_at(self._leftmost(root))
        stack = []
        i, m = root, 0
        while i:
            stack.append(i)
            m = self._match(i, plen, data)
            nplen = self._get(i, PLEN)
            if nplen != m or nplen == plen:
                break
            i = self._get(i, C0 + self._bit(data, nplen))
        if not i or self._get(i, PLEN) != m or self._get(i, FLAGS) & NODE_IM:
            return self._key_at(self._leftmost(root))
        for depth in range(len(stack) - 1, 0, -1):
            node, parent = stack[depth], stack[depth - 1]
            if self._get(parent, C0) == node:
                right = self._get(parent, C1)
                if right:
                    return self._key_at(self._leftmost(right))
            if not self._get(parent, FLAGS) & NODE_IM:
                return self._key_at(parent)
        return None


__all__ = ["LpmTrieMap"]
