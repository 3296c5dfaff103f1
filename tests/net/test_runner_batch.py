"""run_capture over a mapped pcap file (PacketBatch.from_pcap) in the jit engine: the
verdicts counted at once and the packets that continue copied into the output as pcap
records in native code. What it writes and counts must be what the packet-by-packet
sorting of the same packets gives, and the captures' own clock and wire lengths stay."""

from __future__ import annotations

import pytest

pytest.importorskip("llvmlite", reason="native batches need the jit engine")

from pybpf.asm import assemble  # noqa: E402
from pybpf.elf.spec import ObjectSpec, ProgramSpec  # noqa: E402
from pybpf.isa.uapi import ProgType  # noqa: E402
from pybpf.net import packets as P  # noqa: E402
from pybpf.net.batch import PacketBatch  # noqa: E402
from pybpf.net.pcap import CaptureWriter, Packet, read_packets  # noqa: E402
from pybpf.net import runner  # noqa: E402
from pybpf.net.runner import PCAP_BATCH, run_capture  # noqa: E402

# By the low bits of the packet's first UDP payload byte: 0 PASS after writing 0xAA over
# its first byte, 1 DROP, 2 TX, 3 PASS untouched.
SORTER = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 43
    if r4 > r3 goto drop
    r5 = *(u8 *)(r2 + 42)
    r5 &= 3
    if r5 == 1 goto drop
    if r5 == 2 goto tx
    if r5 == 3 goto pass
    r6 = 0xaa
    *(u8 *)(r2 + 0) = r6
pass:
    r0 = 2
    exit
drop:
    r0 = 1
    exit
tx:
    r0 = 3
    exit
"""


def program(engine: str, source: str = SORTER):
    spec = ObjectSpec()
    spec.programs["sorter"] = ProgramSpec("sorter", "xdp", ProgType.XDP, assemble(source))
    return spec.load(engine=engine).programs["sorter"]


def capture(path, count: int, *, nano: bool = False, cut: bool = False) -> list[Packet]:
    """``count`` UDP frames of varied sizes; ``cut``: recorded shorter than on the wire."""
    packets = []
    for i in range(count):
        frame = P.udp4("10.0.0.1", "10.0.0.2", 1000 + i % 60000, 53, bytes([i % 256]) + bytes(i % 50))
        packets.append(Packet(frame, 1_700_000_000_123_456_789 + 1_001 * i,
                              orig_len=len(frame) + (7 if cut else 0), index=i))
    with CaptureWriter(path, nano=nano) as w:
        for p in packets:
            w.write(p)
    return packets


def records(path) -> list[tuple[bytes, int, int]]:
    return [(p.data, p.ts_ns, p.orig_len) for p in read_packets(path)]


def without_times(summary) -> dict:
    d = summary.as_dict()
    for key in ("elapsed_s", "packets_per_second", "program_ns", "outputs", "engine"):
        d.pop(key)
    return d


@pytest.mark.parametrize("nano,cut", [(False, False), (True, False), (True, True)])
def test_mapped_capture_sorts_as_packet_by_packet(tmp_path, nano, cut, monkeypatch):
    source = tmp_path / "in.pcap"
    packets = capture(source, 300, nano=nano, cut=cut)
    with monkeypatch.context() as m:       # the jit engine's batch is sorted at once
        m.setattr(runner, "_sort", lambda *a: pytest.fail("sorted packet by packet"))
        fast = run_capture(program("jit"), PacketBatch.from_pcap(source),
                           out=tmp_path / "fast.pcap")
    # the interpreter's batches go packet by packet (test_run for each)
    slow = run_capture(program("interp"), PacketBatch.from_pcap(source),
                       out=tmp_path / "slow.pcap")
    assert without_times(fast) == without_times(slow)
    assert fast.verdicts == {"XDP_PASS": 150, "XDP_DROP": 75, "XDP_TX": 75}
    assert records(tmp_path / "fast.pcap") == records(tmp_path / "slow.pcap")
    assert records(tmp_path / "fast.if1.pcap") == records(tmp_path / "slow.if1.pcap")
    # the program's rewrite is in what was copied; the rest as captured, clock and wire
    # length included (nanoseconds in a nanosecond capture, whose header the output has)
    kept = records(tmp_path / "fast.pcap")
    assert [d[0] for d, _, _ in kept[::2]] == [0xAA] * 75
    assert kept[1] == (packets[3].data, packets[3].ts_ns if nano else
                       packets[3].ts_ns // 1000 * 1000, packets[3].orig_len)
    assert (tmp_path / "fast.pcap").read_bytes()[:24] == source.read_bytes()[:24]


def test_slices_of_a_big_capture_and_progress(tmp_path):
    """More packets than one slice: each slice copies only its own span of the file."""
    source = tmp_path / "in.pcap"
    count = PCAP_BATCH + 500
    packets = capture(source, count)
    seen: list[int] = []
    fast = run_capture(program("jit"), PacketBatch.from_pcap(source),
                       out=tmp_path / "fast.pcap", progress=seen.append, progress_every=20000)
    assert seen == [20000, 40000, 60000, count]
    assert fast.packets == count
    kept = records(tmp_path / "fast.pcap")
    assert len(kept) == fast.written
    passed = [p for p in packets if p.index % 4 in (0, 3)]    # selectors 0 and 3 pass
    assert [data[1:] for data, _, _ in kept] == [p.data[1:] for p in passed]


def test_tc_capture_runs_natively_and_sorts_at_once(tmp_path, monkeypatch):
    """A tc program over a mapped capture: a native batch too (no test_run per packet),
    sorted at once, writing what the interpreter's packet-by-packet run writes."""
    import pybpf
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    example, source = root / "examples" / "tc_port_rewrite.c", root / "tests" / "data" / "udp_ports.pcap"
    summaries = {}
    for engine in ("jit", "interp"):
        prog = pybpf.load(example, engine=engine).programs["tc_port_rewrite"]
        with monkeypatch.context() as m:
            if engine == "jit":
                m.setattr(runner, "_sort", lambda *a: pytest.fail("sorted packet by packet"))
                m.setattr(prog.runner, "test_run", lambda *a: pytest.fail("a test_run"))
            summaries[engine] = run_capture(prog, PacketBatch.from_pcap(source),
                                            out=tmp_path / f"{engine}.pcap")
    assert without_times(summaries["jit"]) == without_times(summaries["interp"])
    assert records(tmp_path / "jit.pcap") == records(tmp_path / "interp.pcap")
    assert records(tmp_path / "jit.pcap") != records(source)      # ports rewritten
