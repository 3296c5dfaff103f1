"""`pybpf demo`: the DDoS example over a generated capture, with its summary and maps."""

from __future__ import annotations


from rich.console import Console

from pybpf.cli.main import main
from pybpf.cli.render import ddos_demo


def test_demo_shows_the_flood_cut_and_the_maps():
    console = Console(record=True, width=120)
    summary = ddos_demo(console)
    text = console.export_text()
    assert summary.verdicts == {"XDP_PASS": 203, "XDP_DROP": 161}
    for words in ("XDP_PASS", "XDP_DROP", "packets/s", "map blocked", "10.66.0.1",
                  "203.0.113.7", "dropped: crossed the threshold", "passed.pcap"):
        assert words in text, words


def test_demo_command_and_the_assembler_demo(capsys):
    assert main(["demo"]) == 0
    assert "XDP_DROP" in capsys.readouterr().out
    assert main(["demo", "--asm"]) == 0
    assert "register trace" in capsys.readouterr().out
