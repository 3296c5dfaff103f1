"""Index a mapped pcap file: where each record's packet starts, its lengths and time.

The JIT's runtime has the indexer (``bpf_pcap_index``; without llvmlite there is none,
and :meth:`PacketBatch.from_pcap` reads the file instead). It stops at the first
damaged record and leaves it to :func:`pybpf.net.pcap.read_packets` to say what is
wrong with it.
"""

from __future__ import annotations

import ctypes
from typing import Any

from pybpf.net.pcap import _MAX_RECORD

CHUNK = 1 << 16
HEADER = 24


def index_pcap(batch: Any, little: bool, nano: bool) -> int:
    """Fill ``batch``'s offsets, lengths, times and wire lengths from its mapped pcap
    buffer; the offset at which indexing stopped (the buffer's size when all is well)."""
    native = native_indexer()
    from pybpf.jit import drivers

    buffer = batch.buffer
    job = (ctypes.c_uint64 * drivers.INDEX_WORDS)()
    job[drivers.P_BUF] = batch.address
    job[drivers.P_SIZE] = len(buffer)
    job[drivers.P_POS] = HEADER
    job[drivers.P_LITTLE] = int(little)
    job[drivers.P_FRACTION] = 1_000_000_000 if nano else 1_000_000
    job[drivers.P_MAX_RECORD] = _MAX_RECORD
    targets = (batch.offsets, batch.lengths, batch.ts_ns, batch.orig_lengths)
    slots = (drivers.P_OFFSETS, drivers.P_LENGTHS, drivers.P_TS, drivers.P_ORIG)
    done, capacity = len(batch.offsets), CHUNK
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
        if count < capacity:
            for target in targets:
                del target[done:]
            return job[drivers.P_POS]
        if first:    # room for the rest at the records' size so far (and a margin)
            consumed = job[drivers.P_POS] - HEADER
            capacity = max(CHUNK, (len(buffer) - job[drivers.P_POS]) * count // consumed
                           * 21 // 20 + 16)
            first = False
        else:
            capacity *= 2


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
