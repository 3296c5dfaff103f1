"""BPF ring buffer (``ringbuf.c``) and its consumer, :class:`RingBuffer` (libbpf's).

The data area is ``max_entries`` bytes (a power of two, a multiple of the page size),
mapped twice back to back as the kernel maps it, so a record that wraps past the end is
still contiguous at its address: the program-addressable region is the double mapping.
Where a double mapping cannot be made, the region is twice the size and the wrapped tail
of each committed record is copied to the front.

Records have the kernel's layout: an 8-byte header ``u32 len`` (bit 31 BUSY while
reserved, bit 30 DISCARD) and ``u32 pg_off`` (the header's page offset within the data
area here), then the sample, padded so the next header is 8-aligned. ``producer_pos`` and
``consumer_pos`` grow without wrapping; a position's offset is ``pos & (size - 1)``.
A reservation fails (address 0) if the record would not fit before ``consumer_pos`` or
before the oldest record still reserved, or if flags are non-zero.

The positions live in a small native control block (u64 words at ``RB_CONSUMER``,
``RB_PRODUCER``, ``RB_PENDING``; ``RB_DOUBLE`` is 1 when the data area is double mapped),
so the JIT's native ring buffer helpers drive the same ring as the Python ones: the map
handle names the family ``NATIVE_RINGBUF``, the data area's address and the control
block's (see :mod:`pybpf.maps._base`).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
from typing import Any, Callable

from pybpf.errors import BpfHelperError
from pybpf.isa.uapi import MapType
from pybpf.maps._base import NATIVE_RINGBUF, Map
from pybpf.maps._common import BPF_F_NUMA_NODE, ENOTSUPP, PAGE_SIZE, fail
from pybpf.vm.memory import Region

BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS = 0, 1, 2, 3
RINGBUF_MAX_RECORD_SZ = (1 << 32) // 4 - 1 - BPF_RINGBUF_HDR_SZ
# u64 words of the control block
RB_CONSUMER, RB_PRODUCER, RB_PENDING, RB_DOUBLE = 0, 1, 2, 3
RB_CTL_WORDS = 4


def _double_mapping(size: int) -> tuple[ctypes.Array, Any] | None:
    """``2 * size`` bytes of address space whose halves are the same memory, or None."""
    if not hasattr(os, "memfd_create"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        fd = os.memfd_create("pybpf-ringbuf", getattr(os, "MFD_CLOEXEC", 0))
    except (OSError, AttributeError):
        return None
    try:
        os.ftruncate(fd, size)
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        base = libc.mmap(None, 2 * size, 0, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                         -1, 0)
        if base in (None, ctypes.c_void_p(-1).value):
            return None
        fixed = 0x10  # MAP_FIXED
        for half in (0, size):
            got = libc.mmap(base + half, size, prot, mmap.MAP_SHARED | fixed, fd, 0)
            if got != base + half:
                return None
    finally:
        os.close(fd)
    # Never unmapped: regions may outlive the map in a Memory; the memfd pages are freed
    # when the process exits.
    return (ctypes.c_ubyte * (2 * size)).from_address(base), None


class RingBufMap(Map):
    """BPF_MAP_TYPE_RINGBUF."""

    map_type = MapType.RINGBUF

    def _check_create(self) -> None:
        n = self.max_entries
        if (self.flags & ~BPF_F_NUMA_NODE or self.key_size or self.value_size
                or n < PAGE_SIZE or n & (n - 1)):
            raise fail(errno.EINVAL, f"{self._where}: ring buffers need key_size 0, "
                                     "value_size 0 and max_entries a power-of-2 multiple of "
                                     f"{PAGE_SIZE} (flags {self.flags:#x})")

    def _allocate(self) -> tuple:
        size = self.max_entries
        mapping = _double_mapping(size)
        self.ctl = (ctypes.c_uint64 * RB_CTL_WORDS)()
        self.double_mapped = mapping is not None
        buffer = mapping[0] if mapping else (ctypes.c_ubyte * (2 * size))()
        self.data = buffer
        self.data_address = ctypes.addressof(buffer)
        self.mask = size - 1
        self.ctl[RB_DOUBLE] = int(self.double_mapped)
        region = Region(f"map:{self.name or self.id}:ringbuf", buffer, kind="ringbuf")
        return (region,)

    def _native(self) -> tuple[int, ...]:
        return (NATIVE_RINGBUF, 0, 0, self.data_address, ctypes.addressof(self.ctl))

    # --- positions (in the control block) ---------------------------------------------

    @property
    def consumer_pos(self) -> int:
        return self.ctl[RB_CONSUMER]

    @consumer_pos.setter
    def consumer_pos(self, value: int) -> None:
        self.ctl[RB_CONSUMER] = value

    @property
    def producer_pos(self) -> int:
        return self.ctl[RB_PRODUCER]

    @producer_pos.setter
    def producer_pos(self, value: int) -> None:
        self.ctl[RB_PRODUCER] = value

    @property
    def pending_pos(self) -> int:
        return self.ctl[RB_PENDING]

    @pending_pos.setter
    def pending_pos(self, value: int) -> None:
        self.ctl[RB_PENDING] = value

    # --- header access --------------------------------------------------------------

    def _hdr_len(self, pos: int) -> int:
        return ctypes.c_uint32.from_address(self.data_address + (pos & self.mask)).value

    def _set_hdr(self, pos: int, length: int, pg_off: int | None = None) -> None:
        at = self.data_address + (pos & self.mask)
        ctypes.c_uint32.from_address(at).value = length
        if pg_off is not None:
            ctypes.c_uint32.from_address(at + 4).value = pg_off

    # --- program view ---------------------------------------------------------------

    def reserve(self, size: int, flags: int = 0) -> int:
        """bpf_ringbuf_reserve: the sample's address, or 0 when it does not fit."""
        if flags or size > RINGBUF_MAX_RECORD_SZ:
            return 0
        length = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7
        if length > self.mask + 1:
            return 0
        # Advance past records already committed to find the oldest one still busy.
        pend = self.pending_pos
        while pend < self.producer_pos:
            hdr = self._hdr_len(pend)
            if hdr & BPF_RINGBUF_BUSY_BIT:
                break
            pend += ((hdr & ~BPF_RINGBUF_DISCARD_BIT) + BPF_RINGBUF_HDR_SZ + 7) & ~7
        self.pending_pos = pend
        new_prod = self.producer_pos + length
        if new_prod - self.consumer_pos > self.mask or new_prod - pend > self.mask:
            return 0
        pos = self.producer_pos
        self._set_hdr(pos, size | BPF_RINGBUF_BUSY_BIT, (pos & self.mask) // PAGE_SIZE)
        self.producer_pos = new_prod
        return self.data_address + (pos & self.mask) + BPF_RINGBUF_HDR_SZ

    def _commit(self, address: int, discard: bool) -> None:
        offset = address - BPF_RINGBUF_HDR_SZ - self.data_address
        if not 0 <= offset <= self.mask or offset & 7:
            raise BpfHelperError(f"{self._where}: {address:#x} is not a ring buffer sample")
        hdr = ctypes.c_uint32.from_address(self.data_address + offset)
        if not hdr.value & BPF_RINGBUF_BUSY_BIT:
            raise BpfHelperError(f"{self._where}: sample at {address:#x} is not reserved "
                                 "(already submitted or discarded)")
        size = hdr.value & ~BPF_RINGBUF_BUSY_BIT
        end = offset + BPF_RINGBUF_HDR_SZ + size
        if not self.double_mapped and end > self.mask + 1:   # copy the wrapped tail to the front
            over = end - (self.mask + 1)
            ctypes.memmove(self.data_address, self.data_address + self.mask + 1, over)
        hdr.value = size | (BPF_RINGBUF_DISCARD_BIT if discard else 0)

    def owns_record(self, address: int) -> bool:
        """Whether ``address`` lies in this ring's data (where a reserved sample would)."""
        return self.data_address < address < self.data_address + 2 * (self.mask + 1)

    def submit(self, address: int, flags: int = 0) -> None:
        self._commit(address, False)

    def discard(self, address: int, flags: int = 0) -> None:
        self._commit(address, True)

    def output(self, data: bytes, flags: int = 0) -> int:
        """bpf_ringbuf_output: 0, -EINVAL for bad flags, -EAGAIN when it does not fit."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -errno.EINVAL
        address = self.reserve(len(data))
        if not address:
            return -errno.EAGAIN
        ctypes.memmove(address, bytes(data), len(data))
        self.submit(address, flags)
        return 0

    def query(self, flag: int) -> int:
        """bpf_ringbuf_query."""
        if flag == BPF_RB_AVAIL_DATA:
            return self.producer_pos - self.consumer_pos
        if flag == BPF_RB_RING_SIZE:
            return self.mask + 1
        if flag == BPF_RB_CONS_POS:
            return self.consumer_pos
        if flag == BPF_RB_PROD_POS:
            return self.producer_pos
        return 0

    # --- consumer side (what libbpf does over the mmapped pages) --------------------

    def consume_records(self, callback: Callable[[bytes], Any], limit: int | None = None
                        ) -> tuple[int, Any]:
        """Hand committed records to ``callback`` in order; ``(count, stop_value)``.

        Stops at a record still reserved, or when the callback returns a non-zero value
        (that record is consumed; the value is returned as ``stop_value``).
        """
        count = 0
        while self.consumer_pos < self.producer_pos and (limit is None or count < limit):
            hdr = self._hdr_len(self.consumer_pos)
            if hdr & BPF_RINGBUF_BUSY_BIT:
                break
            size = hdr & ~BPF_RINGBUF_DISCARD_BIT
            start = self.consumer_pos
            self.consumer_pos += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7
            if hdr & BPF_RINGBUF_DISCARD_BIT:
                continue
            data = ctypes.string_at(self.data_address + (start & self.mask)
                                    + BPF_RINGBUF_HDR_SZ, size)
            count += 1
            result = callback(data)
            if result:
                return count, result
        return count, 0

    # --- bpf(2) view: none of the element commands apply ---------------------------

    def _unsupported(self, *args: Any) -> Any:
        raise fail(ENOTSUPP, f"{self._where}: ring buffers have no elements")

    _lookup = _update = _delete = _next_key = _unsupported

    def lookup(self, key: object = None) -> Any:
        return self._unsupported()

    def update(self, key: object, value: object = None, flags: int = 0) -> None:
        self._unsupported()

    def delete(self, key: object = None) -> None:
        self._unsupported()

    def next_key(self, key: object = None) -> bytes | None:
        return self._unsupported()


def _negative(result: Any) -> bool:
    """The consumers' stop rule (libbpf's): a negative int return stops consuming."""
    return isinstance(result, int) and not isinstance(result, bool) and result < 0


def _typed_callback(map: Any, callback: Callable[[Any], Any], codec: Any,
                    typed: bool) -> Callable[[bytes], Any]:
    """``callback`` fed decoded records when a codec is given (an object with ``decode``,
    or a BTF type) or ``typed`` asks for the map's own record type (``record_type``, else
    ``value_type``, of the map or of its ``kernel_map``)."""
    if codec is None and not typed:
        return callback
    if codec is None:
        for holder in (map, getattr(map, "kernel_map", None)):
            codec = getattr(holder, "record_type", None) or getattr(holder, "value_type", None)
            if codec is not None:
                break
        else:
            from pybpf.errors import BpfTypeError

            raise BpfTypeError(f"{map!r} has no BTF record type: pass codec= (a BTF type or "
                               "a codec with .decode)")
    if not hasattr(codec, "decode"):
        from pybpf.elf.btf_codec import codec_for

        codec = codec_for(codec)
    size = getattr(codec, "size", None)

    def decoded(data: bytes) -> Any:
        # Perf samples arrive padded to 8 bytes: decode the record's own bytes.
        if size is not None and len(data) > size:
            data = data[:size]
        return callback(codec.decode(data))

    return decoded


class RingBuffer:
    """libbpf's ``ring_buffer``: consume records of one or more ring buffer maps, each a
    userspace :class:`RingBufMap` or a kernel map (a ``pybpf.kernel.maps.KernelMap``, or an
    object whose ``kernel_map`` is one).

    ``callback(data)`` is called per record with its bytes, or with the decoded value when
    ``codec`` (a BTF type or a codec) or ``typed=True`` (the map's record type) is given.
    Stop rule, as libbpf's: a callback returning a negative int stops consuming and that
    value is what :meth:`poll`/:meth:`consume` return (its record counts as consumed);
    any other return (None, 0, positive) goes on. Otherwise they return the number of
    records handed to callbacks. Userspace rings are consumed before kernel ones.
    """

    def __init__(self, map: Any = None, callback: Callable[[Any], Any] | None = None,
                 codec: Any = None, *, typed: bool = False):
        self._rings: list[tuple[RingBufMap, Callable[[bytes], Any]]] = []
        self._kernel: Any = None          # pybpf.kernel.events.KernelRingBuffer, on demand
        if map is not None:
            if callback is None:
                raise TypeError("RingBuffer(map, callback): a callback is needed")
            self.add(map, callback, codec, typed=typed)

    def add(self, map: Any, callback: Callable[[Any], Any], codec: Any = None, *,
            typed: bool = False) -> "RingBuffer":
        """Also consume ``map``'s records with ``callback``; returns self."""
        wrapped = _typed_callback(map, callback, codec, typed)
        if isinstance(map, RingBufMap):
            def userspace(data: bytes) -> Any:
                result = wrapped(data)
                return result if _negative(result) else 0   # consume_records stops on truthy

            self._rings.append((map, userspace))
            return self
        from pybpf.kernel.maps import KernelMap

        kmap = getattr(map, "kernel_map", map)
        if not isinstance(kmap, KernelMap):
            from pybpf.errors import BpfTypeError

            raise BpfTypeError(f"RingBuffer needs a ringbuf map, not {map!r}")
        if self._kernel is None:
            from pybpf.kernel.events import KernelRingBuffer

            self._kernel = KernelRingBuffer()
        self._kernel.add(kmap, wrapped)
        return self

    def _consume_userspace(self) -> int:
        total = 0
        for ring, callback in self._rings:
            count, stop = ring.consume_records(callback)
            total += count
            if stop:
                return stop
        return total

    def consume(self) -> int:
        """Consume every available record of every ring without waiting."""
        total = self._consume_userspace()
        if total < 0 or self._kernel is None:
            return total
        more = self._kernel.consume()
        return more if more < 0 else total + more

    def poll(self, timeout_ms: int = 0) -> int:
        """Like ``ring_buffer__poll``: consume what is there; if nothing was, wait up to
        ``timeout_ms`` (negative: for ever) for kernel rings to fill. Userspace rings are
        filled by programs run in this process, so nothing arrives in them meanwhile."""
        total = self._consume_userspace()
        if total < 0 or self._kernel is None:
            return total
        more = self._kernel.poll(0 if total else timeout_ms)
        return more if more < 0 else total + more

    def close(self) -> None:
        """Stop consuming: kernel rings are unmapped and their descriptors closed."""
        self._rings.clear()
        if self._kernel is not None:
            self._kernel.close()
            self._kernel = None

    def __enter__(self) -> "RingBuffer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["RingBufMap", "RingBuffer", "BPF_RB_AVAIL_DATA", "BPF_RB_RING_SIZE",
           "BPF_RB_CONS_POS", "BPF_RB_PROD_POS", "BPF_RB_NO_WAKEUP", "BPF_RB_FORCE_WAKEUP",
           "BPF_RINGBUF_BUSY_BIT", "BPF_RINGBUF_DISCARD_BIT", "BPF_RINGBUF_HDR_SZ"]
