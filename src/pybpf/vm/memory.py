"""Memory a program can touch: regions with real host addresses, and checked access.

Every region (stack frame, context, packet, map value storage, global data) is a ctypes
buffer, so its address is a real, stable host address: a pointer in a BPF register is
that address, and native code (the JIT) can use it directly with no copying. The
interpreter checks every access against the region table, kept sorted by address and
searched with bisect, and remembers the last region hit so that runs of accesses to the
same region cost one comparison.
"""

from __future__ import annotations

import ctypes
import struct
from bisect import bisect_right
from typing import Callable

from pybpf.errors import BpfMemoryError

_FORMATS = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}
_SIGNED_FORMATS = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}


_GUARD = 64
_ZEROS = memoryview(bytes(4096))


def _guarded_buffer(size: int) -> ctypes.Array:
    """A zeroed buffer with unaddressable guard bytes on both sides.

    The allocator may place two small buffers back to back; the guards keep an access
    that runs off one region from landing in its neighbour.
    """
    backing = (ctypes.c_ubyte * (size + 2 * _GUARD))()
    return (ctypes.c_ubyte * max(size, 1)).from_buffer(backing, _GUARD)


class Region:
    """A contiguous buffer the program may address, at ``address`` for ``size`` bytes.

    ``buffer`` is a ctypes byte array owned by the region (or shared with its owner,
    e.g. a map's value storage); ``writable`` False makes stores fault.
    """

    __slots__ = ("name", "buffer", "address", "size", "end", "writable", "kind", "access",
                 "_bytes")

    def __init__(self, name: str, size_or_data: int | bytes | bytearray | ctypes.Array,
                 *, writable: bool = True, kind: str = "data", access: "FieldAccess | None" = None):
        if isinstance(size_or_data, ctypes.Array):
            buffer, size = size_or_data, ctypes.sizeof(size_or_data)
        else:
            data = None if isinstance(size_or_data, int) else bytes(size_or_data)
            size = size_or_data if data is None else len(data)
            buffer = _guarded_buffer(size)
            if data:
                ctypes.memmove(buffer, data, size)
        self.name = name
        self.buffer = buffer
        self.address = ctypes.addressof(buffer)
        self.size = size
        self.end = self.address + size
        self.writable = writable
        self.kind = kind
        self.access = access
        self._bytes: memoryview | None = None

    def _view(self) -> memoryview:
        """The buffer as bytes (made on first use): a slice assignment to it is a plain
        memcpy, where ctypes.memmove and memset are foreign calls, several times slower."""
        if self._bytes is None:
            self._bytes = memoryview(self.buffer).cast("B")
        return self._bytes

    def read(self, offset: int = 0, size: int | None = None) -> bytes:
        size = self.size - offset if size is None else size
        return ctypes.string_at(self.address + offset, size)

    def write(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if offset < 0 or end > self.size:
            raise ValueError(f"write of {len(data)} bytes at offset {offset} outside {self.name} "
                             f"({self.size} bytes)")
        self._view()[offset:end] = data

    def clear(self) -> None:
        size = self.size
        self._view()[:size] = _ZEROS[:size] if size <= len(_ZEROS) else bytes(size)

    def __repr__(self) -> str:
        return f"<Region {self.name} {self.address:#x}+{self.size}{'' if self.writable else ' ro'}>"


class FieldAccess:
    """Loads and stores of a region that the kernel rewrites rather than performs.

    A program context (``__sk_buff``, ``xdp_md``) is such a region: a 4-byte load of
    ``xdp_md.data`` yields a 64-bit packet pointer, a store to a read-only field is
    refused. A region with ``access`` set sends every program load and store through
    these methods (offsets are relative to the region); it is never the cached last
    region, so ordinary regions keep their one-comparison fast path.

    ``pure_loads``: a load has no effect, and its value depends only on what this
    object's ``store`` and the helpers (Python code) change, so the JIT may remember it
    until the next such call, and ask it before the program does (``pc`` None: the loads
    an earlier run made, at the start of the next).
    """

    pure_loads = False

    def load(self, offset: int, size: int, pc: int | None) -> int:
        raise NotImplementedError

    def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
        raise NotImplementedError


class Memory:
    """The region table of one program run, with checked loads and stores."""

    def __init__(self) -> None:
        self._regions: list[Region] = []
        self._starts: list[int] = []
        # Counts the table's changes, in a native word: compiled code checks that the
        # copy of the table it was given is still the current one (see pybpf.jit).
        self._changes = (ctypes.c_uint64 * 1)()
        # The last region hit; a Region-like sentinel that matches nothing at first.
        self._last = Region("<none>", 0)

    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(self._regions)

    @property
    def version(self) -> int:
        """Changes whenever the table does."""
        return self._changes[0]

    @property
    def version_address(self) -> int:
        """Where native code reads ``version`` (a u64)."""
        return ctypes.addressof(self._changes)

    def add(self, region: Region) -> Region:
        """Make a region addressable; regions never overlap (each has its own buffer)."""
        i = bisect_right(self._starts, region.address)
        self._starts.insert(i, region.address)
        self._regions.insert(i, region)
        self._changes[0] += 1
        return region

    def remove(self, region: Region) -> None:
        i = self._regions.index(region)
        del self._regions[i]
        del self._starts[i]
        self._changes[0] += 1
        if self._last is region:
            self._last = self._regions[0] if self._regions else self._last

    def find(self, address: int, size: int = 1) -> Region | None:
        """The region holding all of [address, address + size), or None."""
        last = self._last
        if last.address <= address and address + size <= last.end:
            return last
        i = bisect_right(self._starts, address) - 1
        if i >= 0:
            region = self._regions[i]
            if address + size <= region.end:
                if region.access is None:
                    self._last = region
                return region
        return None

    def fault(self, address: int, size: int, pc: int | None, write: bool) -> BpfMemoryError:
        """The error for an access that failed: what, where, and the nearest region."""
        verb = "write" if write else "read"
        if address == 0 or (address < 4096):
            return BpfMemoryError(f"null pointer {verb} of {size} bytes at {address:#x}", pc,
                                  address, size)
        i = bisect_right(self._starts, address) - 1
        if i >= 0 and address < self._regions[i].end:
            region = self._regions[i]
            if write and not region.writable and address + size <= region.end:
                return BpfMemoryError(
                    f"{verb} of {size} bytes at {address:#x} into read-only region {region.name}",
                    pc, address, size, region.name)
            return BpfMemoryError(
                f"{verb} of {size} bytes at {address:#x} partially outside region {region.name} "
                f"({region.address:#x}+{region.size}, offset {address - region.address})",
                pc, address, size, region.name)
        nearest = self._nearest(address)
        hint = ""
        if nearest is not None:
            rel = address - nearest.address
            hint = f"; nearest region {nearest.name} ({nearest.address:#x}+{nearest.size}, " \
                   f"access at offset {rel})"
        return BpfMemoryError(f"out-of-bounds {verb} of {size} bytes at {address:#x}{hint}", pc,
                              address, size, nearest.name if nearest else None)

    def _nearest(self, address: int) -> Region | None:
        best = None
        best_dist = None
        for region in self._regions:
            dist = region.address - address if address < region.address else address - region.end + 1
            if best_dist is None or dist < best_dist:
                best, best_dist = region, dist
        return best

    # Checked access used by the interpreter. Each returns/stores unsigned values.

    def load(self, address: int, size: int, pc: int | None = None) -> int:
        region = self.find(address, size)
        if region is None:
            raise self.fault(address, size, pc, False)
        if region.access is not None:
            return region.access.load(address - region.address, size, pc)
        return struct.unpack_from(_FORMATS[size], region.buffer, address - region.address)[0]

    def load_signed(self, address: int, size: int, pc: int | None = None) -> int:
        bits = size * 8
        value = self.load(address, size, pc) & ((1 << bits) - 1)
        return value - (1 << bits) if value >> (bits - 1) else value

    def store(self, address: int, size: int, value: int, pc: int | None = None) -> None:
        region = self.find(address, size)
        if region is None or not region.writable:
            raise self.fault(address, size, pc, True)
        if region.access is not None:
            region.access.store(address - region.address, size, value & ((1 << (size * 8)) - 1), pc)
            return
        struct.pack_into(_FORMATS[size], region.buffer, address - region.address,
                         value & ((1 << (size * 8)) - 1))

    def read_bytes(self, address: int, size: int, pc: int | None = None) -> bytes:
        """Bytes for a helper argument, checked like a load."""
        if size == 0:
            return b""
        region = self.find(address, size)
        if region is None:
            raise self.fault(address, size, pc, False)
        return ctypes.string_at(address, size)

    def write_bytes(self, address: int, data: bytes, pc: int | None = None) -> None:
        """Write a helper's output, checked like a store."""
        if not data:
            return
        region = self.find(address, len(data))
        if region is None or not region.writable:
            raise self.fault(address, len(data), pc, True)
        ctypes.memmove(address, data, len(data))

    # Fast accessors for generated code: one closure per size and signedness.

    def accessors(self) -> dict[str, Callable]:
        """Closures the compiled interpreter calls: L1..L8, S1..S8 (signed loads), W1..W8."""
        out: dict[str, Callable] = {}
        for size in (1, 2, 4, 8):
            out[f"L{size}"] = self._make_load(size, struct.Struct(_FORMATS[size]).unpack_from, False)
            out[f"S{size}"] = self._make_load(size, struct.Struct(_SIGNED_FORMATS[size]).unpack_from,
                                              True)
            out[f"W{size}"] = self._make_store(size, struct.Struct(_FORMATS[size]).pack_into)
        return out

    def _make_load(self, size: int, unpack: Callable, signed: bool) -> Callable[[int, int], int]:
        mem = self

        def load(address: int, pc: int) -> int:
            region = mem._last
            if not (region.address <= address and address + size <= region.end):
                region = mem.find(address, size)
                if region is None:
                    raise mem.fault(address, size, pc, False)
                if region.access is not None:
                    if signed:
                        return mem.load_signed(address, size, pc)
                    return region.access.load(address - region.address, size, pc)
            return unpack(region.buffer, address - region.address)[0]

        return load

    def _make_store(self, size: int, pack: Callable) -> Callable[[int, int, int], None]:
        mem = self
        mask = (1 << (size * 8)) - 1

        def store(address: int, value: int, pc: int) -> None:
            region = mem._last
            if not (region.address <= address and address + size <= region.end and region.writable):
                region = mem.find(address, size)
                if region is None or not region.writable:
                    raise mem.fault(address, size, pc, True)
                if region.access is not None:
                    region.access.store(address - region.address, size, value & mask, pc)
                    return
            pack(region.buffer, address - region.address, value & mask)

        return store
