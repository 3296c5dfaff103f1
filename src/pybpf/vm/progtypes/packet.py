"""A packet buffer: one Region with headroom and tailroom, and the data/tail offsets in it.

The program reaches the packet through pointers (``data``/``data_end`` context fields) that
are real addresses inside the region. Helpers that need more room than the region has
(``skb_change_head``, ``skb_adjust_room``...) move the packet into a new, larger region, as
the kernel's ``pskb_expand_head`` does; packet pointers the program held before are then
stale, which the kernel's verifier forbids using anyway.
"""

from __future__ import annotations

import ctypes
from typing import Callable

from pybpf.vm.memory import Region


class PacketBuffer:
    """``region`` holds the frame; ``data`` and ``tail`` are offsets into it.

    ``replace(old, new)`` is called when the buffer moves to a new region, so the owner
    (the invocation) can swap the regions in its memory. ``region``: a zeroed region of
    the frame's size the owner has already, or None: a new one, given to
    ``replace(None, region)``.
    """

    def __init__(self, name: str, headroom: int, payload: bytes, tailroom: int,
                 replace: Callable[[Region | None, Region], None],
                 region: Region | None = None):
        self.name = name
        self._replace = replace
        if region is None:
            region = Region(name, headroom + len(payload) + tailroom, kind="packet")
            replace(None, region)
        self.region = region
        region.write(headroom, payload)
        self.data = headroom
        self.tail = headroom + len(payload)

    # -- addresses --------------------------------------------------------------------

    @property
    def address(self) -> int:
        return self.region.address

    @property
    def data_address(self) -> int:
        return self.region.address + self.data

    @property
    def tail_address(self) -> int:
        return self.region.address + self.tail

    @property
    def len(self) -> int:
        return self.tail - self.data

    @property
    def headroom(self) -> int:
        return self.data

    @property
    def tailroom(self) -> int:
        return self.region.size - self.tail

    # -- bytes ------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` from the region's start."""
        return ctypes.string_at(self.region.address + offset, size)

    def write(self, offset: int, data: bytes) -> None:
        self.region.write(offset, data)

    def bytes(self) -> bytes:
        return self.read(self.data, self.len)

    def move(self, dst: int, src: int, size: int) -> None:
        """memmove within the buffer (offsets from the region's start)."""
        if size > 0:
            ctypes.memmove(self.region.address + dst, self.region.address + src, size)

    def zero(self, offset: int, size: int) -> None:
        if size > 0:
            ctypes.memset(self.region.address + offset, 0, size)

    # -- growing ----------------------------------------------------------------------

    def ensure(self, headroom: int = 0, tailroom: int = 0) -> int:
        """Make room before data / after tail; returns how far offsets moved (new - old)."""
        need_head = max(0, headroom - self.data)
        need_tail = max(0, tailroom - self.tailroom)
        if not need_head and not need_tail:
            return 0
        # Round like the kernel's allocations do, so repeated small growth does not copy
        # every time.
        shift = (need_head + 63) & ~63 if need_head else 0
        extra_tail = (need_tail + 63) & ~63 if need_tail else 0
        old = self.region
        new = Region(self.name, old.size + shift + extra_tail, kind="packet")
        ctypes.memmove(new.address + shift, old.address, old.size)
        self.region = new
        self.data += shift
        self.tail += shift
        self._replace(old, new)
        return shift
