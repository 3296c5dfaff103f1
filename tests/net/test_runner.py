"""pybpf.net.runner with stand-in programs: where each verdict sends a packet, the
socket filter's cut, the per-interface captures, counts, and one-line errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pathlib import Path

import pytest

from pybpf.errors import BpfError, BpfMemoryError
from pybpf.isa.uapi import ProgType
from pybpf.net import packets as P
from pybpf.net.pcap import LINKTYPE_RAW, Packet, read_packets
from pybpf.net.runner import PacketRunError, run_capture, verdict


@dataclass
class Result:
    retval: int
    data: bytes | None = None
    redirect: int | None = None
    duration_ns: int = 10


class FakeProgram:
    """Answers test_run with ``decide(index, data) -> Result``."""

    engine = "fake"

    def __init__(self, prog_type: int, decide: Callable[[int, bytes], Result], name="fake"):
        self.type = prog_type
        self.name = name
        self.decide = decide
        self.calls = 0

    def test_run(self, data: bytes | None = None, ctx=None, repeat: int = 1) -> Result:
        result = self.decide(self.calls, data)
        self.calls += 1
        return result


FRAMES = [P.udp4("10.0.0.1", "10.0.0.2", 1, 2, bytes([i]) * 20) for i in range(6)]
PACKETS = [Packet(f, 1_000_000_000 * (i + 1), index=i) for i, f in enumerate(FRAMES)]


def test_xdp_verdicts_and_outputs(tmp_path):
    # 0 PASS rewritten, 1 DROP, 2 TX (ingress 1), 3 REDIRECT to 7, 4 ABORTED, 5 unknown 9
    def decide(i: int, data: bytes) -> Result:
        return [Result(2, b"rewritten" + data), Result(1, data), Result(3, data, 1),
                Result(4, data, 7), Result(0, data), Result(9, data)][i]

    out = tmp_path / "out.pcap"
    s = run_capture(FakeProgram(ProgType.XDP, decide), PACKETS, out=out)
    assert s.verdicts == {"XDP_PASS": 1, "XDP_DROP": 1, "XDP_TX": 1, "XDP_REDIRECT": 1,
                          "XDP_ABORTED": 1, "XDP_0x9": 1}
    assert (s.packets, s.written, s.dropped) == (6, 1, 3)
    assert s.bytes == sum(len(f) for f in FRAMES)
    assert s.interfaces == {"if1": 1, "if7": 1}
    assert [p.data for p in read_packets(out)] == [b"rewritten" + FRAMES[0]]
    assert [p.ts_ns for p in read_packets(out)] == [PACKETS[0].ts_ns]
    assert [p.data for p in read_packets(tmp_path / "out.if1.pcap")] == [FRAMES[2]]
    assert [p.data for p in read_packets(tmp_path / "out.if7.pcap")] == [FRAMES[3]]
    assert s.outputs == {str(out): 1, str(tmp_path / "out.if1.pcap"): 1,
                         str(tmp_path / "out.if7.pcap"): 1}
    assert s.program_ns == 60 and s.elapsed_s > 0 and s.packets_per_second > 0
    assert s.as_dict()["verdicts"]["XDP_PASS"] == 1


def test_tx_without_an_interface_and_per_interface_dir(tmp_path):
    prog = FakeProgram(ProgType.XDP, lambda i, d: Result(3 if i % 2 else 4, d))
    s = run_capture(prog, FRAMES[:4], per_interface_dir=tmp_path)
    assert s.interfaces == {"tx": 2, "redirect": 2}
    assert len(list(read_packets(tmp_path / "tx.pcap"))) == 2
    assert len(list(read_packets(tmp_path / "redirect.pcap"))) == 2


def test_tc_verdicts(tmp_path):
    codes = [0xFFFFFFFF, 0, 2, 3, 7, 42]

    s = run_capture(FakeProgram(ProgType.SCHED_CLS,
                                lambda i, d: Result(codes[i], d, 5 if codes[i] == 7 else None)),
                    PACKETS, out=tmp_path / "o.pcap")
    assert s.verdicts == {"TC_ACT_UNSPEC": 1, "TC_ACT_OK": 1, "TC_ACT_SHOT": 1,
                          "TC_ACT_PIPE": 1, "TC_ACT_REDIRECT": 1, "TC_ACT_0x2a": 1}
    assert (s.written, s.dropped, s.interfaces) == (4, 1, {"if5": 1})


def test_socket_filter_keeps_the_bytes_it_returns(tmp_path):
    l3 = len(FRAMES[0]) - 14
    answers = [0, l3, 0xFFFFFFFF, 8, 1]
    out = tmp_path / "kept.pcap"
    s = run_capture(FakeProgram(ProgType.SOCKET_FILTER, lambda i, d: Result(answers[i], d)),
                    PACKETS[:5], out=out)
    assert s.verdicts == {"DROP": 1, "KEEP": 2, "TRUNCATE": 2}
    kept = list(read_packets(out))
    assert [len(p.data) for p in kept] == [len(FRAMES[1]), len(FRAMES[2]), 14 + 8, 14 + 1]
    assert kept[2].data == FRAMES[3][:22] and kept[2].orig_len == len(FRAMES[3])


def test_cgroup_skb():
    s = run_capture(FakeProgram(ProgType.CGROUP_SKB, lambda i, d: Result(i % 2, d)), FRAMES)
    assert s.verdicts == {"DROP": 3, "PASS": 3} and s.written == 3


def test_program_types_without_packet_verdicts():
    with pytest.raises(BpfError, match="kprobe has no packet verdicts"):
        run_capture(FakeProgram(ProgType.KPROBE, lambda i, d: Result(0)), FRAMES)
    with pytest.raises(BpfError):
        verdict(ProgType.TRACEPOINT, 0, 0)


def test_a_failing_packet_names_its_index():
    def decide(i: int, data: bytes) -> Result:
        if i == 2:
            raise BpfMemoryError("out of bounds read", pc=7)
        return Result(2, data)

    with pytest.raises(PacketRunError, match=r"packet 2: instruction 7: out of bounds") as e:
        run_capture(FakeProgram(ProgType.XDP, decide), FRAMES)
    assert e.value.index == 2 and isinstance(e.value.cause, BpfMemoryError)


def test_only_ethernet_frames():
    raw = [Packet(FRAMES[0][14:], linktype=LINKTYPE_RAW)]
    with pytest.raises(BpfError, match="link type 101"):
        run_capture(FakeProgram(ProgType.XDP, lambda i, d: Result(2, d)), raw)


def test_progress_and_an_empty_capture(tmp_path):
    seen: list[int] = []
    run_capture(FakeProgram(ProgType.XDP, lambda i, d: Result(2, d)), FRAMES * 3,
                progress=seen.append, progress_every=5)
    assert seen == [5, 10, 15, 18]
    s = run_capture(FakeProgram(ProgType.XDP, lambda i, d: Result(2, d)), [],
                    out=tmp_path / "empty.pcap")
    assert s.packets == 0 and list(read_packets(tmp_path / "empty.pcap")) == []


def test_ktime_follows_the_capture_timestamps():
    """The DDoS example's 1 s windows: 150 packets from one source, 20 ms apart (3 s in
    all), never exceed 100 per window when the clock follows the capture; with the clock
    held still they all fall in one window and the source gets blocked."""
    import pybpf
    from pybpf.net.packets import udp4
    from pybpf.net.traffic import timed

    packets = timed([udp4("10.0.0.9", "10.0.0.1", 1000, 53) for _ in range(150)],
                    step_ns=20_000_000)
    elf = pybpf.compile(Path(__file__).resolve().parents[2] / "examples" / "xdp_ddos.c")
    following = run_capture(pybpf.load(elf).programs["xdp_ddos"], packets)
    assert following.verdicts == {"XDP_PASS": 150}
    still = run_capture(pybpf.load(elf).programs["xdp_ddos"], packets, capture_clock=False)
    assert still.verdicts == {"XDP_PASS": 100, "XDP_DROP": 50}
