"""The demo assembles, disassembles and traces its program, and gets the right answer."""

from rich.console import Console

from pybpf.cli.render import DEMO_MEMORY, demo


def test_demo_output():
    console = Console(record=True, width=120)
    demo(console)
    text = console.export_text()
    assert "call pc+0x7" in text                        # disassembly of the local call
    assert "register trace" in text
    expected = sum(b * 3 + 1 for b in DEMO_MEMORY)      # 1*3+1 + 2*3+1 + 3*3+1 + 4*3+1 = 34
    assert expected == 34
    assert f"r0 = {expected:#x}" in text
