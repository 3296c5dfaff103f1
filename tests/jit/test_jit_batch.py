"""Batches of packets (pybpf.net.batch): the jit engine runs XDP batches in native code
and must give what test_run per packet gives in the interpreter (verdicts, packets as
left, redirect targets, maps), whatever leaves native code on the way (helpers Python
runs, tail calls, lengths the frame cannot take, a fault)."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.errors import PacketRunError
from pybpf.net.batch import PacketBatch, capture_clocks, run_batch, run_batch_per_packet
from pybpf.net.pcap import Packet, read_packets, write_packets

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"
BATCH_C = Path(__file__).parent / "data" / "batch.c"


def _outcome(obj, result, batch):
    maps = {name: sorted(m.items()) for name, m in obj.maps.items()
            if m.type not in (3, 27)}            # prog arrays hold fds, ring buffers events
    return (list(result.verdicts), [result.data(i) for i in range(len(batch))],
            dict(result.redirects), maps)


def _compare(source, program, batch, **kw):
    interp = pybpf.load(source, engine="interp")
    jit = pybpf.load(source, engine="jit")
    want = run_batch_per_packet(interp.programs[program], batch, **kw)
    got = run_batch(jit.programs[program], batch, **kw)
    assert _outcome(jit, got, batch) == _outcome(interp, want, batch)
    return got


@pytest.mark.parametrize("example, program, capture", [
    ("xdp_ddos.c", "xdp_ddos", "ddos.pcap"),
    ("lpm_firewall.c", None, "firewall.pcap"),
    ("tail_dispatch.c", "dispatch", "protocols.pcap"),
    ("socket_dns.c", None, "dns_mix.pcap"),
    ("tc_port_rewrite.c", None, "udp_ports.pcap"),
])
def test_examples_batch_like_test_run(example, program, capture):
    source = EXAMPLES / example
    program = program or next(iter(pybpf.load(source, engine="interp").programs))
    batch = PacketBatch.from_pcap(DATA / capture)
    got = _compare(source, program, batch, clocks=capture_clocks(batch, 10**9, batch.ts_ns[0]))
    if example != "tail_dispatch.c":     # tail calls go through Python, the rest is native
        assert got.native == len(batch)


def _frames(rng: random.Random, count: int) -> list[bytes]:
    sizes = [14, 15, 60, 64, 1500, 3520, 3521, 4000, 9000]
    return [bytes(rng.getrandbits(8) for _ in range(rng.choice(sizes[:5]) if rng.random() < .9
                                                    else rng.choice(sizes)))
            for _ in range(count)]


@pytest.mark.parametrize("seed", range(3))
def test_helpers_in_python_and_frame_sizes(seed):
    """Odd packets call a Python helper (back to Python for that packet); lengths past
    the frame's linear room (3520 bytes) become fragments in a test_run of their own."""
    rng = random.Random(seed)
    batch = PacketBatch.of(_frames(rng, 120))
    got = _compare(BATCH_C, "trim_odd", batch)
    odd = sum(batch.buffer[o] & 1 for o in batch.offsets)
    assert 0 < got.native <= len(batch) - odd


def test_short_packet_names_its_index():
    jit = pybpf.load(BATCH_C, engine="jit")
    batch = PacketBatch.of([bytes(60), bytes(60), bytes(10), bytes(60)])
    with pytest.raises(PacketRunError) as info:
        run_batch(jit.programs["trim_odd"], batch)
    assert info.value.index == 2 and "ETH_HLEN" in str(info.value)


def test_without_data_out():
    jit = pybpf.load(BATCH_C, engine="jit")
    batch = PacketBatch.of([bytes(60)] * 5)
    result = run_batch(jit.programs["trim_odd"], batch, data_out=False)
    assert list(result.verdicts) == [2] * 5 and result.data(0) is None


def test_pcap_index_matches_the_reader(tmp_path):
    rng = random.Random(7)
    packets = [Packet(data, ts_ns=1_700_000_000_123_456_789 + i * 1_000_003,
                      orig_len=len(data) + (i % 3))
               for i, data in enumerate(_frames(rng, 50))]
    for nano in (False, True):
        path = tmp_path / f"t{int(nano)}.pcap"
        write_packets(path, packets, nano=nano)
        batch = PacketBatch.from_pcap(path)
        want = list(read_packets(path))
        assert len(batch) == 50
        assert [p.data for p in batch] == [p.data for p in want]
        assert [(p.ts_ns, p.orig_len) for p in batch] == [(p.ts_ns, p.orig_len) for p in want]


def test_big_endian_pcap(tmp_path):
    body = b"".join(struct.pack(">IIII", 5, 7 + i, 20, 30) + bytes([i]) * 20 for i in range(3))
    path = tmp_path / "be.pcap"
    path.write_bytes(struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + body)
    batch = PacketBatch.from_pcap(path)
    assert [p.data for p in batch] == [bytes([i]) * 20 for i in range(3)]
    assert [p.ts_ns for p in batch] == [5 * 10**9 + (7 + i) * 1000 for i in range(3)]
    assert [p.orig_len for p in batch] == [30] * 3


def test_damaged_pcap_reported_as_the_reader_does(tmp_path):
    from pybpf.errors import PcapError

    path = tmp_path / "cut.pcap"
    write_packets(path, [bytes(60)] * 3)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(PcapError) as info:
        PacketBatch.from_pcap(path)
    assert "truncated" in str(info.value)


def test_pcapng_read_into_a_batch():
    batch = PacketBatch.from_pcap(DATA / "dns_mix.pcapng")
    assert [p.data for p in batch] == [p.data for p in read_packets(DATA / "dns_mix.pcapng")]


def test_programs_that_cannot_write_run_on_packets_in_place():
    """A program with only stack stores and native helpers (a tcpdump filter as XDP) runs
    on each packet where it lies in the batch buffer, read-only: same verdicts, and the
    packets out are the packets in."""
    from pybpf.cbpf.filter import compile_filter
    from pybpf.cli.filter_cmd import _load_xdp
    from pybpf.jit.batch import cannot_write_packets

    program = compile_filter("udp port 53 or (tcp[tcpflags] & tcp-syn != 0) or len > 1000")
    jit, interp = _load_xdp(program, "jit"), _load_xdp(program, "interp")
    assert cannot_write_packets(jit.runner.machine)
    frames = [p.data for p in read_packets(DATA / "protocols.pcap")] + \
        [p.data for p in read_packets(DATA / "dns_mix.pcap")] + _frames(random.Random(5), 40)
    frames = [f for f in frames if len(f) >= 14]
    batch = PacketBatch.of(frames)
    got = run_batch(jit, batch)
    want = run_batch_per_packet(interp, batch)
    assert got.unchanged and list(got.verdicts) == list(want.verdicts)
    assert [got.data(i) for i in range(len(batch))] == frames
    assert set(got.verdicts) == {1, 2}


def test_a_program_that_writes_is_copied():
    """Packets run in place only for a program the verifier found storing to no packet
    (the DDoS example's stores are to map values), calling no Python and no other
    program; unverified, its stores may go anywhere."""
    from pybpf.jit.batch import cannot_write_packets

    def in_place(source, name, **options):
        obj = pybpf.load(source, engine="jit", **options)
        return cannot_write_packets(obj.programs[name].runner.machine)

    assert in_place(EXAMPLES / "xdp_ddos.c", "xdp_ddos")
    assert not in_place(EXAMPLES / "xdp_ddos.c", "xdp_ddos", verify=False)
    assert not in_place(BATCH_C, "trim_odd")
    assert not in_place(EXAMPLES / "tail_dispatch.c", "dispatch")


@pytest.mark.parametrize("room", [64, 1 << 22])
def test_write_pcap_copies_the_chosen_records(tmp_path, monkeypatch, room):
    """The records of the packets with the verdict, as they are, in order, up to the
    limit; with a small copy buffer too (chunks, and records bigger than it)."""
    from array import array

    from pybpf.net import pcapindex

    monkeypatch.setattr(pcapindex, "GATHER_ROOM", room)
    rng = random.Random(5)
    packets = [Packet(bytes([i % 256]) * rng.choice((1, 14, 60, 200)), ts_ns=i * 1000,
                      orig_len=300) for i in range(40)]
    source = tmp_path / "in.pcap"
    write_packets(source, packets)
    batch = PacketBatch.from_pcap(source)
    assert batch.shortest_length() == 1
    verdicts = array("I", (rng.choice((1, 2, 2)) for _ in packets))
    for limit, want in ((None, [i for i, v in enumerate(verdicts) if v == 2]),
                        (5, [i for i, v in enumerate(verdicts) if v == 2][:5])):
        out = tmp_path / "out.pcap"
        assert batch.write_pcap(out, verdicts, 2, limit) == len(want)
        got = list(read_packets(out))
        assert [(p.data, p.ts_ns, p.orig_len) for p in got] == \
            [(packets[i].data, packets[i].ts_ns, 300) for i in want]


# -- tc ------------------------------------------------------------------------------------

BATCH_SKB_C = Path(__file__).parent / "data" / "batch_skb.c"


def _tc_frames(rng: random.Random, count: int) -> list[bytes]:
    """Frames of every protocol and destination kind eth_type_trans tells apart (IP ones
    long enough for their header, some 802.3 ones with the raw 0xffff marker)."""
    frames = []
    for _ in range(count):
        proto = rng.choice([b"\x08\x00", b"\x86\xdd", b"\x08\x06", b"\x01\x00", rng.randbytes(2)])
        size = rng.choice([14, 15, 16, 34, 54, 60, 200, 1500])
        size = max(size, {b"\x08\x00": 34, b"\x86\xdd": 54}.get(proto, 0))
        destination = rng.choice([bytes(6), b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01",
                                  rng.randbytes(6)])
        body = rng.randbytes(size - 14)
        if size >= 16 and rng.random() < .2:
            body = b"\xff\xff" + body[2:]
        elif proto == b"\x08\x00" and rng.random() < .5:
            body = b"\x45" + body[1:]
        frames.append(destination + rng.randbytes(6) + proto + body)
    return frames


def _goes_to_python(program: str, frame: bytes) -> bool:
    """Whether batch_skb.c's ``program`` calls Python for this frame."""
    if program == "tc_mix":         # a context store, bpf_redirect
        return len(frame) >= 16 and frame[1] & 7 in (2, 3)
    if program == "sock_keep":      # a legacy packet load
        return frame[12:14] == b"\x08\x00" and frame[14] == 0x45
    return False


SKB_PROGRAMS = ["tc_mix", "tc_sock", "sock_keep", "cg_count"]


@pytest.mark.parametrize("program", SKB_PROGRAMS)
@pytest.mark.parametrize("seed", range(2))
def test_skb_batch_like_test_run(program, seed):
    """What each packet decides in its __sk_buff (len, protocol, pkt_type, data, narrow
    loads of them, its socket's addresses), native packet helpers, and packets that go
    to Python (a context store, bpf_redirect, a legacy load) give what test_run per
    packet gives, for tc (data at the Ethernet header) and the types whose data starts
    at the network header (their packets out with a zeroed Ethernet header)."""
    frames = _tc_frames(random.Random(seed), 300)
    got = _compare(BATCH_SKB_C, program, PacketBatch.of(frames))
    python = sum(_goes_to_python(program, f) for f in frames)
    assert got.native == len(frames) - python
    assert python or program not in ("tc_mix", "sock_keep")


@pytest.mark.kernel
@pytest.mark.parametrize("program", SKB_PROGRAMS)
def test_skb_batch_like_the_kernel(program):
    """The same packets through the kernel's BPF_PROG_TEST_RUN one by one: the same
    verdicts, packets out and maps (the kernel reports no redirect targets)."""
    batch = PacketBatch.of(_tc_frames(random.Random(7), 200))
    kernel = pybpf.load(BATCH_SKB_C, engine="kernel")
    jit = pybpf.load(BATCH_SKB_C, engine="jit")
    want = run_batch_per_packet(kernel.programs[program], batch)
    got = run_batch(jit.programs[program], batch)
    assert _outcome(jit, got, batch)[::3] == _outcome(kernel, want, batch)[::3]
    assert _outcome(jit, got, batch)[1] == _outcome(kernel, want, batch)[1]


def test_tc_example_rewrites_natively():
    batch = PacketBatch.from_pcap(DATA / "udp_ports.pcap")
    jit = pybpf.load(EXAMPLES / "tc_port_rewrite.c", engine="jit")
    got = run_batch(jit.programs["tc_port_rewrite"], batch)
    assert got.changed == {} and any(got.data(i) != batch.packet(i) for i in range(len(batch)))


def test_tc_short_ip_packet_is_test_runs_error():
    """An IPv4 frame too short for its header: test_run refuses it (EINVAL), and the
    batch names that packet; the packets before it ran."""
    jit = pybpf.load(BATCH_SKB_C, engine="jit")
    ip = bytes(12) + b"\x08\x00"
    batch = PacketBatch.of([ip + bytes(20), ip + bytes(20), ip + bytes(10), ip + bytes(20)])
    with pytest.raises(PacketRunError) as info:
        run_batch(jit.programs["tc_mix"], batch)
    assert info.value.index == 2 and "20-byte header" in str(info.value)
    result = run_batch(jit.programs["tc_mix"], batch, partial=True)
    assert result.completed == 2 and result.native == 2
