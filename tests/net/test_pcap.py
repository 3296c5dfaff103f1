"""pybpf.net.pcap: pcap and pcapng in and out, exact timestamps, every malformed or
truncated capture refused with one PcapError that names the file and the record."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import dpkt
import pytest

from pybpf.errors import BpfError
from pybpf.net.pcap import (LINKTYPE_ETHERNET, LINKTYPE_RAW, CaptureWriter, Packet, PcapError,
                            capture_format, interface_path, read_packets, write_packets)

DATA = Path(__file__).resolve().parents[1] / "data"
PACKETS = [Packet(b"\x02" * 60, 1_700_000_000_123_456_789),
           Packet(b"\x03" * 61, 1_700_000_001_000_001_000, orig_len=1500),
           Packet(b"", 1_700_000_002_000_000_000)]


def test_generated_pcap_and_pcapng_hold_the_same_packets():
    pcap = list(read_packets(DATA / "dns_mix.pcap"))
    pcapng = list(read_packets(DATA / "dns_mix.pcapng"))
    assert len(pcap) == len(pcapng) == 8
    assert [(p.data, p.ts_ns, p.linktype) for p in pcap] == \
        [(p.data, p.ts_ns, p.linktype) for p in pcapng]
    assert pcap[1].ts_ns - pcap[0].ts_ns == 1_000_000
    assert [p.index for p in pcap] == list(range(8))


@pytest.mark.parametrize("fmt,nano", [("pcap", False), ("pcap", True), ("pcapng", False)])
def test_round_trip(tmp_path, fmt, nano):
    path = tmp_path / f"t.{fmt}"
    assert write_packets(path, PACKETS, format=fmt, nano=nano) == 3
    got = list(read_packets(path))
    exact = nano or fmt == "pcapng"      # pcapng files are written with ns resolution
    for want, have in zip(PACKETS, got, strict=True):
        assert have.data == want.data
        assert have.orig_len == (want.orig_len or len(want.data))
        assert have.ts_ns == (want.ts_ns if exact else want.ts_ns // 1000 * 1000)
        assert have.linktype == LINKTYPE_ETHERNET


@pytest.mark.parametrize("suffix", ["pcap", "pcapng"])
def test_dpkt_reads_what_we_write(tmp_path, suffix):
    path = tmp_path / f"t.{suffix}"
    write_packets(path, PACKETS[:2])
    reader = dpkt.pcap.Reader if suffix == "pcap" else dpkt.pcapng.Reader
    with open(path, "rb") as f:
        got = [(float(ts), data) for ts, data in reader(f)]
    assert [data for _, data in got] == [p.data for p in PACKETS[:2]]
    for (ts, _), packet in zip(got, PACKETS):
        assert ts == pytest.approx(packet.timestamp, abs=1e-6)


def test_reads_a_file_object_and_the_format_by_magic(tmp_path):
    path = tmp_path / "t.pcapng"
    write_packets(path, PACKETS[:1])
    data = path.read_bytes()
    assert capture_format(data) == "pcapng"
    assert [p.data for p in read_packets(io.BytesIO(data))] == [PACKETS[0].data]
    assert capture_format(b"\xd4\xc3\xb2\xa1") == "pcap" and capture_format(b"ab") is None


def test_pcapng_interfaces_each_with_link_type_and_resolution(tmp_path):
    """Two interfaces: Ethernet in microseconds, raw IP in nanoseconds (if_tsresol 9)."""
    opt = dpkt.pcapng.PcapngOptionLE
    end = opt(code=dpkt.pcapng.PCAPNG_OPT_ENDOFOPT)
    shb = dpkt.pcapng.SectionHeaderBlockLE(opts=[end])
    eth = dpkt.pcapng.InterfaceDescriptionBlockLE(linktype=LINKTYPE_ETHERNET, opts=[end])
    raw = dpkt.pcapng.InterfaceDescriptionBlockLE(
        linktype=LINKTYPE_RAW,
        opts=[opt(code=dpkt.pcapng.PCAPNG_OPT_IF_TSRESOL, data=b"\x09"), end])

    def epb(iface: int, ticks: int, data: bytes) -> bytes:
        return bytes(dpkt.pcapng.EnhancedPacketBlockLE(
            iface_id=iface, ts_high=ticks >> 32, ts_low=ticks & 0xFFFFFFFF, pkt_data=data,
            opts=[end]))

    path = tmp_path / "multi.pcapng"
    path.write_bytes(bytes(shb) + bytes(eth) + bytes(raw) + epb(0, 1_500_000, b"E" * 20)
                     + epb(1, 1_500_000_123, b"R" * 20))
    got = list(read_packets(path))
    assert [(p.interface, p.linktype, p.ts_ns) for p in got] == [
        (0, LINKTYPE_ETHERNET, 1_500_000_000), (1, LINKTYPE_RAW, 1_500_000_123)]


def _pcap_bytes(tmp_path) -> bytes:
    path = tmp_path / "ok.pcap"
    write_packets(path, PACKETS[:2])
    return path.read_bytes()


def _pcapng_bytes(tmp_path) -> bytes:
    path = tmp_path / "ok.pcapng"
    write_packets(path, PACKETS[:2])
    return path.read_bytes()


def _broken(tmp_path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name,cut,record,words", [
    ("empty.pcap", lambda b: b"", None, "empty file"),
    ("magic.pcap", lambda b: b"GIF89a" + b[6:], None, "not a pcap or pcapng"),
    ("header.pcap", lambda b: b[:10], None, "truncated file header"),
    ("record_header.pcap", lambda b: b[:24 + 16 + 60 + 7], 1, "truncated record header"),
    ("record_data.pcap", lambda b: b[:-5], 1, "truncated packet data"),
    ("caplen.pcap", lambda b: b[:24 + 8] + struct.pack("<I", 1 << 30) + b[36:], 0,
     "impossible captured length"),
])
def test_malformed_pcap(tmp_path, name, cut, record, words):
    path = _broken(tmp_path, name, cut(_pcap_bytes(tmp_path)))
    with pytest.raises(PcapError) as info:
        list(read_packets(path))
    assert isinstance(info.value, BpfError) and isinstance(info.value, ValueError)
    assert info.value.record == record and str(path) in str(info.value)
    assert words in str(info.value)
    if record is not None:
        assert f"record {record}" in str(info.value)


def test_the_packets_before_a_truncated_record_are_read(tmp_path):
    path = _broken(tmp_path, "cut.pcap", _pcap_bytes(tmp_path)[:-5])
    seen = []
    with pytest.raises(PcapError):
        for packet in read_packets(path):
            seen.append(packet)
    assert [p.data for p in seen] == [PACKETS[0].data]


def test_malformed_pcapng(tmp_path):
    good = _pcapng_bytes(tmp_path)
    cases = {
        "cut.pcapng": (good[:-3], "truncated block"),
        "half_header.pcapng": (good + b"\x06\0\0\0", "truncated block header"),
        "length.pcapng": (good + struct.pack("<II", 6, 10), "bad block length 10"),
        "iface.pcapng": (good[:-len(bytes(_epb(3)))] + bytes(_epb(3)),
                         "interface 3, but the section describes 1"),
        "bom.pcapng": (good[:8] + b"\0\0\0\0" + good[12:], "bad byte-order magic"),
    }
    for name, (data, words) in cases.items():
        path = _broken(tmp_path, name, data)
        with pytest.raises(PcapError, match=words) as info:
            list(read_packets(path))
        assert str(path) in str(info.value), name


def _epb(iface: int) -> dpkt.pcapng.EnhancedPacketBlockLE:
    end = dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_ENDOFOPT)
    return dpkt.pcapng.EnhancedPacketBlockLE(iface_id=iface, pkt_data=b"\x03" * 61, opts=[end])


def test_missing_file_and_unwritable_output(tmp_path):
    with pytest.raises(PcapError, match="cannot read"):
        list(read_packets(tmp_path / "nope.pcap"))
    with pytest.raises(PcapError, match="cannot write"):
        CaptureWriter(tmp_path / "no" / "such" / "dir.pcap")


def test_interface_path():
    assert interface_path("out/x.pcap", 3) == Path("out/x.if3.pcap")
    assert interface_path("x.pcapng", "tx") == Path("x.tx.pcapng")
