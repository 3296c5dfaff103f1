"""Read and write packet captures, pcap and pcapng, with dpkt's record classes.

dpkt parses and packs every header and block (``dpkt.pcap.FileHdr``/``PktHdr``,
``dpkt.pcapng.*Block``). Its own readers are not used as they stand: they give
timestamps as floats, stop silently at a truncated record, and (pcapng) know only the
first interface. The loops here keep timestamps as integer nanoseconds, follow every
pcapng interface (its link type and timestamp resolution), and turn any malformed or
truncated record into one :class:`PcapError` that names the file and the record.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

import dpkt
from dpkt import pcap as _pcap
from dpkt import pcapng as _pcapng

from pybpf.errors import BpfError, PcapError

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113

_PCAP_MAGICS = {
    # magic as read little-endian -> (little-endian file?, nanosecond timestamps?)
    0xA1B2C3D4: (True, False),
    0xA1B23C4D: (True, True),
    0xD4C3B2A1: (False, False),
    0x4D3CB2A1: (False, True),
}
_PCAPNG_SHB = 0x0A0D0D0A
_MAX_RECORD = 1 << 24   # 16 MiB: larger than any link's frame; beyond this the file is corrupt


@dataclass(frozen=True, slots=True)
class Packet:
    """One captured frame: its bytes, when, on which link type and interface.

    ``ts_ns`` is the capture time in nanoseconds since the epoch; ``orig_len`` the
    length on the wire (more than ``len(data)`` when the capture cut it short);
    ``interface`` the pcapng interface id (0 for pcap); ``index`` its 0-based position.
    """

    data: bytes
    ts_ns: int = 0
    linktype: int = LINKTYPE_ETHERNET
    interface: int = 0
    orig_len: int | None = None
    index: int = 0

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch, as a float (``ts_ns`` is exact)."""
        return self.ts_ns / 1e9


def capture_format(head: bytes) -> str | None:
    """``pcap``, ``pcapng`` or None, from a file's first four bytes."""
    if len(head) < 4:
        return None
    magic = struct.unpack("<I", head[:4])[0]
    if magic in _PCAP_MAGICS:
        return "pcap"
    if magic == _PCAPNG_SHB:
        return "pcapng"
    return None


def read_packets(source: str | os.PathLike | IO[bytes]) -> Iterator[Packet]:
    """Every packet of a pcap or pcapng capture (recognised by its magic), in order."""
    if isinstance(source, (str, os.PathLike)):
        name = str(source)
        try:
            f: IO[bytes] = open(source, "rb")
        except OSError as e:
            raise PcapError(name, f"cannot read: {e.strerror}") from None
        with f:
            yield from _read_stream(f, name)
    else:
        yield from _read_stream(source, getattr(source, "name", "<capture>"))


def _read_stream(f: IO[bytes], name: str) -> Iterator[Packet]:
    head = f.read(4)
    kind = capture_format(head)
    if kind is None:
        what = "empty file" if not head else f"magic {head.hex()}"
        raise PcapError(name, f"not a pcap or pcapng capture ({what})")
    if kind == "pcap":
        yield from _read_pcap(f, name, head)
    else:
        yield from _read_pcapng(f, name, head)


def _exact(f: IO[bytes], size: int, name: str, record: int, what: str) -> bytes:
    buf = f.read(size)
    if len(buf) != size:
        raise PcapError(name, f"truncated {what}: {len(buf)} of {size} bytes", record)
    return buf


def _read_pcap(f: IO[bytes], name: str, head: bytes) -> Iterator[Packet]:
    little, nano = _PCAP_MAGICS[struct.unpack("<I", head)[0]]
    rest = f.read(_pcap.FileHdr.__hdr_len__ - 4)
    if len(rest) != _pcap.FileHdr.__hdr_len__ - 4:
        raise PcapError(name, "truncated file header")
    header = (_pcap.LEFileHdr if little else _pcap.FileHdr)(head + rest)
    linktype = header.linktype & 0x0FFFFFFF   # the top bits may carry FCS information
    pkt_hdr = _pcap.LEPktHdr if little else _pcap.PktHdr
    size = pkt_hdr.__hdr_len__
    scale = 1 if nano else 1000
    index = 0
    while True:
        buf = f.read(size)
        if not buf:
            return
        if len(buf) != size:
            raise PcapError(name, f"truncated record header: {len(buf)} of {size} bytes",
                            index)
        hdr = pkt_hdr(buf)
        if hdr.caplen > _MAX_RECORD:
            raise PcapError(name, f"impossible captured length {hdr.caplen}", index)
        if hdr.tv_usec >= (1_000_000_000 if nano else 1_000_000):
            raise PcapError(name, f"timestamp fraction {hdr.tv_usec} out of range", index)
        data = _exact(f, hdr.caplen, name, index, "packet data")
        yield Packet(data, hdr.tv_sec * 1_000_000_000 + hdr.tv_usec * scale, linktype, 0,
                     max(hdr.len, hdr.caplen), index)
        index += 1


@dataclass
class _Interface:
    linktype: int
    units_per_second: int   # timestamp resolution
    offset_s: int


def _interface(idb: Any, little: bool) -> _Interface:
    units, offset = 1_000_000, 0
    for opt in idb.opts:
        if opt.code == _pcapng.PCAPNG_OPT_IF_TSRESOL and opt.data:
            value = opt.data[0]
            units = 2 ** (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)
        elif opt.code == _pcapng.PCAPNG_OPT_IF_TSOFFSET and len(opt.data) == 8:
            offset = struct.unpack("<q" if little else ">q", opt.data)[0]
    return _Interface(idb.linktype, units, offset)


def _read_pcapng(f: IO[bytes], name: str, head: bytes) -> Iterator[Packet]:
    """Walk the blocks: each SHB sets the byte order and starts a new interface list."""
    interfaces: list[_Interface] = []
    little = True
    block = 0
    index = 0
    buf = head
    while True:
        buf += f.read(8 - len(buf))
        if not buf:
            return
        if len(buf) < 8:
            raise PcapError(name, f"truncated block header: {len(buf)} of 8 bytes", block)
        block_type = struct.unpack("<I", buf[:4])[0]
        if block_type == _PCAPNG_SHB:      # its byte-order magic follows the length
            buf += _exact(f, 4, name, block, "section header")
            bom = buf[8:12]
            if bom == b"\x4d\x3c\x2b\x1a":
                little = True
            elif bom == b"\x1a\x2b\x3c\x4d":
                little = False
            else:
                raise PcapError(name, f"bad byte-order magic {bom.hex()}", block)
            interfaces = []
        order = "<" if little else ">"
        block_type, length = struct.unpack(order + "II", buf[:8])
        if length < 12 or length % 4 or length > _MAX_RECORD:
            raise PcapError(name, f"bad block length {length}", block)
        buf += _exact(f, length - len(buf), name, block, f"block (type {block_type:#x})")
        try:
            packet = _block(buf, block_type, little, interfaces, name, block, index)
        except (dpkt.Error, struct.error, ValueError, IndexError) as e:
            if isinstance(e, PcapError):
                raise
            raise PcapError(name, f"malformed block (type {block_type:#x}): {e}",
                            block) from None
        if packet is not None:
            yield packet
            index += 1
        block += 1
        buf = b""


def _block(buf: bytes, block_type: int, little: bool, interfaces: list[_Interface],
           name: str, block: int, index: int) -> Packet | None:
    le = little
    if block_type == _PCAPNG_SHB:
        shb = (_pcapng.SectionHeaderBlockLE if le else _pcapng.SectionHeaderBlock)(buf)
        if shb.v_major != _pcapng.PCAPNG_VERSION_MAJOR:
            raise PcapError(name, f"pcapng version {shb.v_major}.{shb.v_minor}", block)
        return None
    if block_type == _pcapng.PCAPNG_BT_IDB:
        idb = (_pcapng.InterfaceDescriptionBlockLE if le
               else _pcapng.InterfaceDescriptionBlock)(buf)
        interfaces.append(_interface(idb, le))
        return None
    if block_type == _pcapng.PCAPNG_BT_EPB:
        epb = (_pcapng.EnhancedPacketBlockLE if le else _pcapng.EnhancedPacketBlock)(buf)
        iface, ticks = epb.iface_id, (epb.ts_high << 32) | epb.ts_low
        data, orig = bytes(epb.pkt_data), epb.pkt_len
    elif block_type == _pcapng.PCAPNG_BT_SPB:     # simple packet: interface 0, no time
        orig = struct.unpack("<I" if le else ">I", buf[8:12])[0]
        iface, ticks = 0, 0
        data = bytes(buf[12:12 + min(orig, len(buf) - 16)])
    elif block_type == _pcapng.PCAPNG_BT_PB:      # obsolete packet block
        pb = (_pcapng.PacketBlockLE if le else _pcapng.PacketBlock)(buf)
        iface, ticks = pb.iface_id, (pb.ts_high << 32) | pb.ts_low
        data, orig = bytes(pb.pkt_data), pb.pkt_len
    else:
        return None   # name resolution, statistics, custom blocks: nothing to run
    if iface >= len(interfaces):
        raise PcapError(name, f"packet on interface {iface}, but the section describes "
                              f"{len(interfaces)}", block)
    info = interfaces[iface]
    ts_ns = info.offset_s * 1_000_000_000 + ticks * 1_000_000_000 // info.units_per_second
    return Packet(data, ts_ns, info.linktype, iface, max(orig, len(data)), index)


class CaptureWriter:
    """Write packets to a pcap (default) or pcapng file (``format`` or a ``.pcapng`` suffix).

    pcap files get nanosecond timestamps when ``nano`` is set, else microseconds;
    pcapng files describe one interface with nanosecond resolution. ``written`` counts
    the packets so far. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike, linktype: int = LINKTYPE_ETHERNET,
                 format: str | None = None, *, nano: bool = False, snaplen: int = 262144,
                 header: bytes | None = None):
        self.path = str(path)
        self.format = format or ("pcapng" if self.path.endswith(".pcapng") else "pcap")
        if self.format not in ("pcap", "pcapng"):
            raise BpfError(f"{self.path}: unknown capture format {self.format!r}")
        self.linktype = linktype
        self.nano = nano
        self.little = True
        # Records in another pcap file's format may be appended (append_records): this
        # file has its header.
        self.copies_records = header is not None
        if header is not None:      # another pcap file's header: its byte order and clock
            if self.format != "pcap":
                raise BpfError(f"{self.path}: a pcap file header makes a pcap file")
            self.little, self.nano = _PCAP_MAGICS[struct.unpack_from("<I", header)[0]]
        self.written = 0
        try:
            self._f: IO[bytes] = open(path, "wb")
        except OSError as e:
            raise PcapError(self.path, f"cannot write: {e.strerror}") from None
        if header is not None:
            self._f.write(header)
        elif self.format == "pcap":
            magic = _pcap.TCPDUMP_MAGIC_NANO if nano else _pcap.TCPDUMP_MAGIC
            self._f.write(bytes(_pcap.LEFileHdr(magic=magic, snaplen=snaplen,
                                                linktype=linktype)))
        else:
            shb = _pcapng.SectionHeaderBlockLE(opts=[_pcapng.PcapngOptionLE(
                code=_pcapng.PCAPNG_OPT_ENDOFOPT)])
            idb = _pcapng.InterfaceDescriptionBlockLE(snaplen=snaplen, linktype=linktype, opts=[
                _pcapng.PcapngOptionLE(code=_pcapng.PCAPNG_OPT_IF_TSRESOL, data=b"\x09"),
                _pcapng.PcapngOptionLE(code=_pcapng.PCAPNG_OPT_ENDOFOPT)])
            self._f.write(bytes(shb) + bytes(idb))

    def write(self, data: bytes | Packet, ts_ns: int | None = None,
              orig_len: int | None = None) -> None:
        """Write one packet; a :class:`Packet` brings its own time and original length."""
        if isinstance(data, Packet):
            ts_ns = data.ts_ns if ts_ns is None else ts_ns
            orig_len = data.orig_len if orig_len is None else orig_len
            data = data.data
        data = bytes(data)
        ts_ns = ts_ns or 0
        orig = max(orig_len or 0, len(data))
        if self.format == "pcap":
            sec, frac = divmod(ts_ns, 1_000_000_000)
            if not self.nano:
                frac //= 1000
            self._f.write(struct.pack("<IIII" if self.little else ">IIII", sec & 0xFFFFFFFF,
                                      frac, len(data), orig) + data)
        else:
            epb = _pcapng.EnhancedPacketBlockLE(
                iface_id=0, ts_high=ts_ns >> 32, ts_low=ts_ns & 0xFFFFFFFF,
                caplen=len(data), pkt_len=orig, pkt_data=data,
                opts=[_pcapng.PcapngOptionLE(code=_pcapng.PCAPNG_OPT_ENDOFOPT)])
            block = bytearray(bytes(epb))
            # dpkt packs pkt_len as the captured length; put the wire length back.
            struct.pack_into("<I", block, 24, orig)
            self._f.write(block)
        self.written += 1

    def append_records(self, copy: "Callable[[Callable[[Any], Any]], int]") -> int:
        """Records made elsewhere, in this file's format: ``copy(write)`` writes them and
        says how many (see :meth:`PacketBatch.write_records`); that many."""
        count = copy(self._f.write)
        self.written += count
        return count

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "CaptureWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_packets(path: str | os.PathLike, packets: Iterable[Packet | bytes],
                  linktype: int = LINKTYPE_ETHERNET, format: str | None = None,
                  *, nano: bool = False) -> int:
    """Write ``packets`` to ``path``; returns how many."""
    with CaptureWriter(path, linktype, format, nano=nano) as w:
        for packet in packets:
            w.write(packet)
        return w.written


def interface_path(out: str | os.PathLike, interface: int | str | None) -> Path:
    """Where packets sent to an interface go: (out.pcap, 3) -> out.if3.pcap; a string
    tag is used as it is (out.tx.pcap)."""
    path = Path(out)
    tag = (f"if{interface}" if isinstance(interface, int) else interface) or "tx"
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")
