"""Index a mapped pcap file (where each record's packet starts, its lengths and time),
and copy chosen records out of it, in native code.

The JIT's runtime has the indexer (``bpf_pcap_index``; without llvmlite there is none,
and :meth:`PacketBatch.from_pcap` reads the file instead). It stops at the first
damaged record and leaves it to :func:`pybpf.net.pcap.read_packets` to say what is
wrong with it. The gatherer (``bpf_pcap_gather``) copies the records of the packets
with a given verdict, as they are, for :meth:`PacketBatch.write_pcap`.
"""

from __future__ import annotations

import ctypes
from typing import Any, Callable

from pybpf.net.pcap import _MAX_RECORD

CHUNK = 1 << 16
HEADER = 24


def index_pcap(batch: Any, little: bool, nano: bool, start: int = HEADER,
               limit: int | None = None) -> int:
    """Fill ``batch``'s offsets, lengths, times and wire lengths from its mapped pcap
    buffer, from the record at byte ``start`` on (``limit`` records at most); the offset
    at which indexing stopped (the buffer's size when all is well and no limit was hit)."""
    native = native_indexer()
    from pybpf.jit import drivers

    buffer = batch.buffer
    job = (ctypes.c_uint64 * drivers.INDEX_WORDS)()
    job[drivers.P_BUF] = batch.address
    job[drivers.P_SIZE] = len(buffer)
    job[drivers.P_POS] = start
    job[drivers.P_LITTLE] = int(little)
    job[drivers.P_FRACTION] = 1_000_000_000 if nano else 1_000_000
    job[drivers.P_MAX_RECORD] = _MAX_RECORD
    job[drivers.P_SHORTEST] = _MAX_RECORD
    targets = (batch.offsets, batch.lengths, batch.ts_ns, batch.orig_lengths)
    slots = (drivers.P_OFFSETS, drivers.P_LENGTHS, drivers.P_TS, drivers.P_ORIG)
    done, capacity = len(batch.offsets), CHUNK if limit is None else limit
    first = True
    while True:
        # room for ``capacity`` more records, written in place after the ``done`` ones
        for target in targets:
            target.frombytes(bytes(target.itemsize * capacity))
        for slot, target in zip(slots, targets):
            job[slot] = target.buffer_info()[0] + target.itemsize * done
        job[drivers.P_CAPACITY] = capacity
        count = native(ctypes.addressof(job))
        done += count
        if count < capacity or limit is not None:
            for target in targets:
                del target[done:]
            batch.shortest = job[drivers.P_SHORTEST] if done else 0
            return job[drivers.P_POS]
        if first:    # room for the rest at the records' size so far (and a margin)
            consumed = job[drivers.P_POS] - start
            capacity = max(CHUNK, (len(buffer) - job[drivers.P_POS]) * count // consumed
                           * 21 // 20 + 16)
            first = False
        else:
            capacity *= 2


GATHER_ROOM = 1 << 22       # bytes of records copied per call (at least one record's)


def gather_records(batch: Any, verdicts: Any, value: int, limit: int,
                   write: Callable[[memoryview], Any], source: int | None = None) -> int:
    """``write`` the records of ``batch``'s mapped pcap file whose packet's verdict is
    ``value`` (the first ``limit``), in order, a chunk at a time; how many there were.
    ``source``: the address of a copy of the file laid out as it is (where the batch's
    offsets count from), to take the records from instead."""
    from pybpf.jit import abi, drivers
    from pybpf.jit.backend import runtime_symbols

    gather = abi.IndexFunction(runtime_symbols()[drivers.PCAP_GATHER])
    count = min(len(verdicts), len(batch))
    job = (ctypes.c_uint64 * drivers.GATHER_WORDS)()
    job[drivers.G_BUF] = batch.address if source is None else source
    job[drivers.G_OFFSETS] = batch.offsets.buffer_info()[0]
    job[drivers.G_LENGTHS] = batch.lengths.buffer_info()[0]
    job[drivers.G_VERDICTS] = verdicts.buffer_info()[0]
    job[drivers.G_VALUE], job[drivers.G_COUNT], job[drivers.G_LEFT] = value, count, limit
    room = GATHER_ROOM
    while True:
        out = bytearray(room)
        job[drivers.G_OUT] = ctypes.addressof((ctypes.c_char * room).from_buffer(out))
        job[drivers.G_ROOM] = room
        with memoryview(out) as view:
            while True:
                used = gather(ctypes.addressof(job))
                if used:
                    write(view[:used])
                if job[drivers.G_NEXT] >= count or not job[drivers.G_LEFT]:
                    return limit - job[drivers.G_LEFT]
                if not used:        # a record bigger than the room: make room for it
                    room = 16 + batch.lengths[job[drivers.G_NEXT]]
                    break


_indexer: Any = None


def native_indexer() -> Any:
    """The runtime's indexer as a ctypes function, or None without llvmlite."""
    global _indexer
    if _indexer is None:
        try:
            from pybpf.jit import abi, drivers
            from pybpf.jit.backend import runtime_symbols

            _indexer = abi.IndexFunction(runtime_symbols()[drivers.PCAP_INDEX])
        except ImportError:
            _indexer = False
    return _indexer or None
