"""`pybpf run` in capture mode: objects and C over a capture, maps in and out, JSON,
and one-line errors for bad input."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.net.pcap import read_packets

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ATTACKER, BLOCKLISTED = "10.66.0.1", "203.0.113.7"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


ENGINES = [pytest.param([], id="interp"), pytest.param(["--engine", "jit"], id="jit"),
           pytest.param(["--engine", "jit", "--unchecked"], id="jit-unchecked")]


@pytest.mark.parametrize("engine", ENGINES)
def test_c_source_over_a_capture_with_maps_in_and_out(capsys, tmp_path, engine):
    if engine:
        pytest.importorskip("llvmlite")
    blocklist = tmp_path / "blocked.json"
    blocklist.write_text(json.dumps({socket.inet_aton(BLOCKLISTED).hex(): "00" * 8}))
    out, dump = tmp_path / "passed.pcap", tmp_path / "maps.json"
    code, stdout, err = run(capsys, str(EXAMPLES / "xdp_ddos.c"), "-r", str(DATA / "ddos.pcap"),
                            "-w", str(out), "--map", f"blocked={blocklist}",
                            "--dump-maps", str(dump), "-j", *engine)
    assert code == 0, err
    result = json.loads(stdout)
    assert result["summary"]["verdicts"] == {"XDP_PASS": 203, "XDP_DROP": 161}
    assert result["summary"]["program"] == "xdp_ddos" and result["summary"]["packets"] == 364
    assert len(list(read_packets(out))) == 203
    maps = json.loads(dump.read_text())
    assert maps == result["maps"]
    assert {"rates", "blocked", "stats"} <= set(maps)
    assert len(maps["blocked"]) == 2 and len(maps["rates"]) == 6


def test_object_file_and_rich_summary(capsys, example_object, tmp_path):
    obj = example_object("tail_dispatch")
    code, stdout, err = run(capsys, str(obj), "--prog", "dispatch", "-r",
                            str(DATA / "protocols.pcap"), "-w", str(tmp_path / "o.pcap"))
    assert code == 0, err
    for words in ("XDP_PASS", "XDP_TX", "XDP_REDIRECT", "packets/s", "map by_protocol"):
        assert words in stdout
    assert (tmp_path / "o.pcap").exists()


def test_typed_map_entries(capsys, tmp_path):
    key = str(int.from_bytes(socket.inet_aton(BLOCKLISTED), "little"))
    blocklist = tmp_path / "typed.json"
    blocklist.write_text(json.dumps({key: 0}))
    code, stdout, err = run(capsys, str(EXAMPLES / "xdp_ddos.c"), "-r",
                            str(DATA / "ddos.pcap"), "--map", f"blocked={blocklist}", "-j")
    assert code == 0, err
    assert json.loads(stdout)["summary"]["verdicts"]["XDP_DROP"] == 161


def test_set_rodata(capsys):
    code, stdout, err = run(capsys, str(EXAMPLES / "xdp_ddos.c"), "-r",
                            str(DATA / "ddos.pcap"), "--set", "threshold=10", "-j")
    assert code == 0, err
    assert json.loads(stdout)["summary"]["verdicts"]["XDP_PASS"] == 73


@pytest.mark.parametrize("argv,words", [
    (["tail_dispatch.c"], "choose one with --prog: dispatch, handle_icmp, handle_tcp, handle_udp"),
    (["xdp_ddos.c", "--prog", "nope"], "no program 'nope'; it has: xdp_ddos (xdp)"),
    (["xdp_ddos.c", "--map", "nope=x.json"], "--map: no map 'nope'"),
    (["xdp_ddos.c", "--map", "blocked"], "--map: expected NAME=VALUE"),
    (["xdp_ddos.c", "--set", "nope=1"], "--set: "),
    (["xdp_ddos.c", "--set", "threshold=ten"], "--set threshold: expected an integer"),
])
def test_one_line_errors(capsys, argv, words):
    code, _, err = run(capsys, str(EXAMPLES / argv[0]), "-r", str(DATA / "ddos.pcap"), *argv[1:])
    assert code == 1
    assert err.startswith("pybpf run: error: ") and words in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_inputs_are_one_line_errors(capsys, tmp_path):
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"not a capture at all")
    truncated = tmp_path / "cut.pcap"
    truncated.write_bytes((DATA / "ddos.pcap").read_bytes()[:-7])
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{'single quotes': 1}")
    wrong_size = tmp_path / "size.json"
    wrong_size.write_text(json.dumps({"0a": "00"}))
    source = str(EXAMPLES / "xdp_ddos.c")
    cases = [
        ([source, "-r", str(garbage)], "not a pcap or pcapng capture"),
        ([source, "-r", str(truncated)], "record 363: truncated packet data"),
        ([source, "-r", str(tmp_path / "missing.pcap")], "cannot read"),
        ([source, "-r", str(DATA / "ddos.pcap"), "--map", f"blocked={bad_json}"], "not JSON"),
        ([source, "-r", str(DATA / "ddos.pcap"), "--map", f"rates={wrong_size}"], "entry '0a'"),
        ([source], "give -r/--pcap"),
    ]
    for argv, words in cases:
        code, _, err = run(capsys, *argv)
        assert code == 1, argv
        assert words in err and len(err.strip().splitlines()) == 1, err


def test_raw_programs_still_run_without_a_capture(capsys, tmp_path):
    prog = tmp_path / "ret7.s"
    prog.write_text("r0 = 7\nexit\n")
    code, stdout, _ = run(capsys, str(prog))
    assert code == 0 and stdout.strip() == "0x7"
    code, _, err = run(capsys, str(prog), "-r", str(DATA / "ddos.pcap"))
    assert code == 1 and "raw instructions have no program type" in err
    code, _, err = run(capsys, str(prog), "--prog", "x")
    assert code == 1 and "--prog is for capture runs" in err


def test_ring_buffer_records_are_reported(capsys):
    code, stdout, err = run(capsys, str(EXAMPLES / "syn_ringbuf.c"), "-r",
                            str(DATA / "syn.pcap"), "-j")
    assert code == 0, err
    records = json.loads(stdout)["maps"]["events"]
    assert [bytes.fromhex(r)[:4] for r in records] == [
        socket.inet_aton(a) for a in ("10.0.0.1", "10.0.0.3", "192.168.0.9")]


def test_global_variables_are_dumped_by_name(capsys):
    code, stdout, err = run(capsys, str(EXAMPLES / "xdp_ddos.c"), "-r",
                            str(DATA / "ddos.pcap"), "--set", "threshold=50", "-j")
    assert code == 0, err
    assert json.loads(stdout)["maps"][".rodata"] == {"threshold": 50,
                                                     "window_ns": 1_000_000_000}
