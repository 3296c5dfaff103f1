"""Many packets in one buffer, and a program run over all of them in one call.

A :class:`PacketBatch` is a buffer with an offset and a length per packet (and its
capture time and wire length): built from a list of frames, or straight from a pcap
file mapped into memory, whose records a native indexer walks (no per-packet Python).
``run_batch(prog, batch)`` runs a loaded program once per packet, as ``test_run`` would
(each packet in a fresh context), and gives a :class:`BatchResult`: the verdicts in an
array, each packet as the program left it, and where TX/REDIRECT verdicts send them.
The jit engine runs XDP batches in native code (see :mod:`pybpf.jit.batch`); every
other engine and program type runs ``test_run`` per packet, with the same results.
"""

from __future__ import annotations

import ctypes
import itertools
import mmap
import os
import struct
import sys
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from pybpf.errors import BpfError, PacketRunError, PcapError
from pybpf.net.pcap import LINKTYPE_ETHERNET, Packet, read_packets


def buffer_address(buffer: Any) -> int:
    """The address of a writable buffer's first byte (bytearray, array, writable mmap)."""
    if len(buffer) == 0:
        return 0
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer))


# Packets per batch when a capture file is read a batch at a time.
PCAP_CHUNK = 1 << 16
RECORD_HEADER = 16      # a pcap record's header, before its packet


@dataclass
class PacketBatch:
    """Packet ``i`` is ``buffer[offsets[i]:offsets[i] + lengths[i]]``, captured at
    ``ts_ns[i]`` (0: unknown) with ``orig_lengths[i]`` bytes on the wire."""

    buffer: Any                      # bytearray or a copy-on-write mmap (writable)
    offsets: array = field(default_factory=lambda: array("Q"))
    lengths: array = field(default_factory=lambda: array("I"))
    ts_ns: array = field(default_factory=lambda: array("Q"))
    orig_lengths: array = field(default_factory=lambda: array("I"))
    linktype: int = LINKTYPE_ETHERNET
    # For a mapped pcap file: its 24-byte file header (each packet's record header is
    # then the 16 bytes before it), so whole records can be copied out as they are.
    pcap_header: bytes | None = None
    # The shortest packet's length, once known (the pcap indexer measures it).
    shortest: int | None = None

    def __len__(self) -> int:
        return len(self.offsets)

    def shortest_length(self) -> int:
        """The shortest packet's length (0 for an empty batch)."""
        if self.shortest is None:
            self.shortest = min(self.lengths, default=0)
        return self.shortest

    def span(self) -> tuple[int, int]:
        """(start, end) of the part of the buffer the batch's packets lie in, with what
        lies before each (a mapped pcap file's record headers) - at most."""
        if not len(self):
            return 0, 0
        before = RECORD_HEADER if self.pcap_header is not None else 0
        return (max(0, min(self.offsets) - before),
                min(len(self.buffer), max(self.offsets) + max(self.lengths)))

    def slice(self, start: int, stop: int) -> "PacketBatch":
        """Packets ``start`` to ``stop``, in a batch over the same buffer."""
        return PacketBatch(self.buffer, self.offsets[start:stop], self.lengths[start:stop],
                           self.ts_ns[start:stop], self.orig_lengths[start:stop],
                           self.linktype, self.pcap_header)

    def packet(self, index: int) -> bytes:
        start = self.offsets[index]
        return bytes(self.buffer[start:start + self.lengths[index]])

    def __iter__(self):
        for i in range(len(self)):
            yield Packet(self.packet(i), self.ts_ns[i], self.linktype, 0,
                         self.orig_lengths[i], i)

    def write_pcap(self, path: str | os.PathLike, verdicts: array, value: int,
                   limit: int | None = None) -> int:
        """A pcap file of the packets whose verdict is ``value`` (the first ``limit``):
        their records copied as they are (file header, times and lengths) in native code,
        for a batch read from a pcap file; how many were written."""
        if self.pcap_header is None:
            raise BpfError("write_pcap needs a batch read from a pcap file")
        with open(path, "wb") as f:
            f.write(self.pcap_header)
            return self.write_records(f.write, verdicts, value, limit)

    def write_records(self, write: Callable[[Any], Any], verdicts: array, value: int,
                      limit: int | None = None, result: "BatchResult | None" = None) -> int:
        """``write`` the pcap records of the packets whose verdict is ``value`` (the first
        ``limit``), as they are (or with the packets as ``result`` left them, when it has
        them laid out as the buffer); how many."""
        from pybpf.net.pcapindex import gather_records

        source = None
        if result is not None and result.out is not None:
            source = (buffer_address(result.out) - result.out_base) % (1 << 64)
        return gather_records(self, verdicts, value, len(self) if limit is None else limit,
                              write, source)

    def select(self, indices: Iterable[int]) -> "PacketBatch":
        """The packets at ``indices``, in a batch over the same buffer."""
        keep = list(indices)
        return PacketBatch(self.buffer, array("Q", (self.offsets[i] for i in keep)),
                           array("I", (self.lengths[i] for i in keep)),
                           array("Q", (self.ts_ns[i] for i in keep)),
                           array("I", (self.orig_lengths[i] for i in keep)), self.linktype,
                           self.pcap_header)

    @property
    def address(self) -> int:
        return buffer_address(self.buffer)

    @classmethod
    def of(cls, packets: Iterable[bytes | Packet]) -> "PacketBatch":
        """A batch of frames (bytes, or Packets with their capture times)."""
        buffer = bytearray()
        batch = cls(buffer)
        for item in packets:
            packet = item if isinstance(item, Packet) else Packet(bytes(item))
            if len(batch) == 0:
                batch.linktype = packet.linktype
            elif packet.linktype != batch.linktype:
                raise BpfError(f"packet {len(batch)}: link type {packet.linktype} in a batch "
                               f"of link type {batch.linktype}")
            batch.offsets.append(len(buffer))
            batch.lengths.append(len(packet.data))
            batch.ts_ns.append(packet.ts_ns)
            batch.orig_lengths.append(max(packet.orig_len or 0, len(packet.data)))
            buffer += packet.data
        return batch

    @classmethod
    def from_pcap(cls, path: str | os.PathLike) -> "PacketBatch":
        """A capture file's packets: a pcap file is mapped and indexed in native code
        (any damage is reported as :func:`read_packets` reports it); pcapng, or any file
        without the JIT's runtime (no llvmlite), is read."""
        return next(cls.pcap_chunks(path, None))

    @classmethod
    def pcap_chunks(cls, path: str | os.PathLike,
                    size: int | None = PCAP_CHUNK) -> Iterator["PacketBatch"]:
        """A capture file's packets as :meth:`from_pcap` gives them, in batches of
        ``size`` (None: one batch), each indexed when it is reached: a big file's index
        is never whole, and the packets a batch runs are still in the cache. A damaged
        record raises when its batch is reached."""
        from pybpf.net.pcap import _PCAP_MAGICS   # the one table of pcap magics
        from pybpf.net.pcapindex import HEADER, index_pcap, native_indexer

        mapped = None
        try:
            f = open(path, "rb")
        except OSError as e:
            raise PcapError(os.fspath(path), f"cannot read: {e.strerror}") from None
        with f:
            head = f.read(4)
            magic = struct.unpack("<I", head)[0] if len(head) == 4 else None
            if magic in _PCAP_MAGICS and os.fstat(f.fileno()).st_size >= HEADER and \
                    native_indexer() is not None:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        if mapped is None:
            packets = read_packets(path)
            while True:
                batch = cls.of(itertools.islice(packets, size))
                yield batch
                if size is None or len(batch) < size:
                    return
        little, nano = _PCAP_MAGICS[magic]
        header = bytes(mapped[:HEADER])
        linktype = struct.unpack_from("<I" if little else ">I", mapped, 20)[0] & 0x0FFFFFFF
        position = HEADER
        while True:
            batch = cls(mapped, linktype=linktype, pcap_header=header)
            end = index_pcap(batch, little, nano, position, size)
            if len(batch) != size and end != len(mapped):   # damaged: the reader says how
                for _ in read_packets(path):
                    pass
                raise BpfError(f"{os.fspath(path)}: stopped indexing at byte {end}")
            yield batch
            if end == len(mapped):
                return
            position = end


@dataclass
class BatchResult:
    """``verdicts[i]``: the program's return value (u32) for packet ``i``; ``data(i)``:
    the packet as the program left it; ``redirects``: packet index -> ifindex for the
    TX/REDIRECT verdicts whose target the engine knows; ``duration_ns``: the time in the
    program, as the engine measures it (a native batch: the whole loop)."""

    batch: PacketBatch
    verdicts: array
    out: Any = None                                  # laid out as batch.buffer, or None
    out_base: int = 0                                # ... from this offset in it on
    changed: dict[int, bytes] = field(default_factory=dict)   # packets Python finished
    redirects: dict[int, int] = field(default_factory=dict)
    duration_ns: int = 0
    native: int = 0                                  # packets run with no Python
    unchanged: bool = False                          # the program cannot write packets
    error: PacketRunError | None = None              # the run that failed (partial result)

    @property
    def completed(self) -> int:
        """Packets with a verdict: all of them, or those before the failed one."""
        return self.error.index if self.error is not None else len(self.batch)

    def data(self, index: int) -> bytes | None:
        if index in self.changed:
            return self.changed[index]
        if self.unchanged:
            return self.batch.packet(index)
        if self.out is None:
            return None
        start = self.batch.offsets[index] - self.out_base
        return bytes(self.out[start:start + self.batch.lengths[index]])


def _low_bytes(verdicts: array) -> bytes | None:
    """Each verdict's low byte, when every verdict fits in one (else None)."""
    raw = verdicts.tobytes()
    width = verdicts.itemsize
    low = width - 1 if sys.byteorder == "big" else 0
    for k in range(width):
        if k != low and raw[k::width].count(0) != len(verdicts):
            return None
    return raw[low::width]


def indices_of(verdicts: array, value: int, limit: int | None = None) -> list[int]:
    """The indices (the first ``limit``) whose verdict is ``value``, found at C speed."""
    limit = len(verdicts) if limit is None else limit
    low = _low_bytes(verdicts) if 0 <= value <= 0xFF else None
    if low is None:
        return [i for i, v in enumerate(verdicts) if v == value][:limit]
    out: list[int] = []
    byte = bytes([value])
    at = low.find(byte)
    while at >= 0 and len(out) < limit:
        out.append(at)
        at = low.find(byte, at + 1)
    return out


def verdict_counts(verdicts: array) -> dict[int, int]:
    """How many times each verdict occurs (at C speed when they fit in a byte: one count
    and one removal per distinct verdict)."""
    low = _low_bytes(verdicts)
    if low is None:
        return dict(Counter(verdicts))
    counts = {}
    while low:
        value = bytes([low[0]])
        counts[low[0]] = low.count(value)
        low = low.replace(value, b"")
    return counts


def count_of(verdicts: array, value: int) -> int:
    """How many verdicts are ``value`` (at C speed when they fit in a byte)."""
    low = _low_bytes(verdicts) if 0 <= value <= 0xFF else None
    return low.count(bytes([value])) if low is not None else \
        sum(1 for v in verdicts if v == value)


def run_batch(prog: Any, batch: PacketBatch, *, data_out: bool = True,
              clocks: array | None = None, partial: bool = False) -> BatchResult:
    """Run ``prog`` over every packet of ``batch`` (a fresh context per packet).

    ``clocks``: the Env clock each packet's run sees (see :func:`capture_clocks`), where
    the engine has an Env. A run that fails raises :class:`PacketRunError` naming the
    packet; with ``partial``, the result holds it (``error``) and the verdicts of the
    packets before it."""
    native = getattr(getattr(prog, "runner", None), "run_batch", None)
    result = None
    if native is not None:
        result = native(batch, data_out=data_out, clocks=clocks)
    if result is None:
        result = run_batch_per_packet(prog, batch, data_out=data_out, clocks=clocks)
    if result.error is not None and not partial:
        raise result.error
    return result


def capture_clocks(batch: PacketBatch, base: int, first_ts: int) -> array:
    """The Env clock for each packet: ``base`` plus its capture time since ``first_ts``
    (packets with no capture time, or an earlier one, get ``base``)."""
    return array("Q", ((base + t - first_ts) if t > first_ts else base for t in batch.ts_ns))


def run_batch_per_packet(prog: Any, batch: PacketBatch, *, data_out: bool = True,
                         clocks: array | None = None) -> BatchResult:
    """``run_batch`` as a loop of ``test_run`` calls (any engine, any program type)."""
    result = BatchResult(batch, array("I", bytes(4 * len(batch))))
    env = getattr(prog, "env", None) if clocks is not None else None
    for i in range(len(batch)):
        if env is not None:
            env.clock_ns = clocks[i]
        try:
            run = prog.test_run(data=batch.packet(i))
        except BpfError as e:
            result.error = PacketRunError(i, e)
            break
        result.verdicts[i] = run.retval
        result.duration_ns += run.duration_ns or 0
        if data_out and run.data is not None:
            result.changed[i] = run.data
        redirect = getattr(run, "redirect", None)
        if redirect is not None:
            result.redirects[i] = redirect
    return result
