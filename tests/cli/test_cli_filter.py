"""pybpf filter: printing like tcpdump -d/-dd/-ddd, applying to captures in every engine,
emitting eBPF objects for XDP, tc and sockets."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest

import pybpf
from pybpf.cli.main import main
from pybpf.net.pcap import read_packets

ROOT = Path(__file__).resolve().parents[2]
DNS = ROOT / "tests" / "data" / "dns_mix.pcap"
PROTOCOLS = ROOT / "tests" / "data" / "protocols.pcap"
needs_tcpdump = pytest.mark.skipif(shutil.which("tcpdump") is None,
                                   reason="tcpdump is not installed (the dev script installs it)")


@pytest.fixture(scope="module")
def empty_capture(tmp_path_factory) -> Path:
    """A savefile with tcpdump's default snapshot length, so its -d returns 262144."""
    buf = io.BytesIO()
    dpkt.pcap.Writer(buf, snaplen=262144, linktype=1)
    path = tmp_path_factory.mktemp("cap") / "empty.pcap"
    path.write_bytes(buf.getvalue())
    return path


def tcpdump(*args: str) -> str:
    return subprocess.run(["tcpdump", *args], capture_output=True, text=True).stdout


@needs_tcpdump
@pytest.mark.parametrize("flag", ["-d", "-dd", "-ddd"])
@pytest.mark.parametrize("expr", [["tcp", "port", "80"], ["udp"], ["not", "arp", "and", "ip6"],
                                  ["host 10.0.0.1 or net 192.168.0.0/16"]])
def test_prints_what_tcpdump_prints(capsys, empty_capture, flag, expr):
    assert main(["filter", flag, *expr]) == 0
    assert capsys.readouterr().out == tcpdump("-y", "EN10MB", "-r", str(empty_capture), flag,
                                              *expr)


@needs_tcpdump
def test_unoptimised_and_expression_file(capsys, empty_capture, tmp_path):
    source = tmp_path / "f.txt"
    source.write_text("tcp  # web\n and port 443\n")
    assert main(["filter", "-O", "-d", "-F", str(source)]) == 0
    assert capsys.readouterr().out == tcpdump("-y", "EN10MB", "-r", str(empty_capture), "-O",
                                              "-d", "tcp and port 443")


def test_errors_name_the_column(capsys):
    assert main(["filter", "-d", "port", "70000"]) == 1
    assert "illegal port number 70000 > 65535" in capsys.readouterr().err
    assert main(["filter", "-d", "tcp", "and"]) == 1
    assert "syntax error" in capsys.readouterr().err


@needs_tcpdump
@pytest.mark.parametrize("engine", ["cbpf", "interp", "jit", pytest.param("kernel",
                                                                   marks=pytest.mark.kernel)])
@pytest.mark.parametrize("expr", ["udp port 53", "tcp", "not udp", "ip and len > 80"])
def test_counts_match_tcpdump(capsys, engine, expr):
    for capture in (DNS, PROTOCOLS):
        assert main(["filter", "-r", str(capture), "--count", "--engine", engine, expr]) == 0
        mine = int(capsys.readouterr().out.split()[0])
        lines = tcpdump("-r", str(capture), expr).splitlines()
        assert mine == len(lines), (capture.name, expr)


def test_write_limit_and_stdin(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.pcap"
    assert main(["filter", "-r", str(PROTOCOLS), "-w", str(out), "-c", "2", "ip"]) == 0
    assert len(list(read_packets(out))) == 2
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(DNS.read_bytes())))
    assert main(["filter", "-r", "-", "--count", "udp"]) == 0
    assert capsys.readouterr().out.strip().endswith("packets captured")


@pytest.mark.kernel
@pytest.mark.parametrize("hook", ["xdp", "tc", "socket"])
def test_emitted_object_decides_as_the_classic_filter_in_the_kernel(tmp_path, hook):
    from pybpf.cbpf.filter import compile_filter
    from pybpf.cbpf.machine import compile_filter as classic
    from pybpf.cbpf.emit import VERDICTS

    expr = "udp port 53 or tcp[tcpflags] & tcp-syn != 0"
    out = tmp_path / "f.o"
    assert main(["filter", "--emit", hook, "-o", str(out), expr]) == 0
    reference = classic(compile_filter(expr))
    with pybpf.load(out, engine="kernel") as obj:
        prog = obj.programs["pcap_filter"]
        checked = 0
        for capture in (DNS, PROTOCOLS):
            for packet in read_packets(capture):
                want = reference(packet.data)
                if hook == "socket":
                    # test_run hands a socket filter the packet from its network header:
                    # a 14-byte stand-in header keeps the filter's offsets on the frame.
                    got = prog.test_run(data=bytes(12) + b"\x88\xb5" + packet.data).retval
                    assert got == want
                else:
                    got = prog.test_run(data=packet.data).retval
                    assert got == VERDICTS[hook][1 if want else 0]
                checked += 1
        assert checked > 10


def test_emit_needs_an_output(capsys):
    assert main(["filter", "--emit", "xdp", "udp"]) == 1
    assert "give it with -o FILE" in capsys.readouterr().err


@pytest.mark.parametrize("chunk", [1 << 16, 3])
@pytest.mark.parametrize("limit", [[], ["-c", "3"], ["-c", "7"]])
def test_jit_batch_writes_what_the_classic_machine_writes(tmp_path, capsys, monkeypatch,
                                                          limit, chunk):
    """The jit engine filters a mapped capture in native batches (of ``chunk`` packets);
    the packets it writes (data, times, wire lengths) and counts are the classic
    machine's."""
    pytest.importorskip("llvmlite")
    from pybpf.net import batch

    monkeypatch.setattr(batch, "PCAP_CHUNK", chunk)
    outs = {}
    for engine in ("cbpf", "jit"):
        out = tmp_path / f"{engine}.pcap"
        assert main(["filter", "-r", str(PROTOCOLS), "-w", str(out), "--engine", engine,
                     *limit, "ip"]) == 0
        outs[engine] = [(p.data, p.ts_ns, p.orig_len) for p in read_packets(out)]
        assert main(["filter", "-r", str(PROTOCOLS), "--engine", engine, *limit, "ip"]) == 0
        outs[engine + " count"] = capsys.readouterr().out
    assert outs["jit"] == outs["cbpf"] and outs["jit"]
    assert outs["jit count"] == outs["cbpf count"]
