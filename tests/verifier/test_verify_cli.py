"""``pybpf verify``: exit codes, log on stdout, first error line on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from verify_support import CASES

from pybpf.cli.main import main


def _case(name: str):
    return next(c for c in CASES if c.name == name)


def test_raw_rejected(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = _case("null_deref")
    prog = tmp_path / "p.bin"
    prog.write_bytes(case.code)
    maps = tmp_path / "maps.json"
    maps.write_text(json.dumps(case.maps))
    assert main(["verify", str(prog), "--maps", str(maps), "--log-level", "2"]) == 1
    out, err = capsys.readouterr()
    assert err.splitlines()[0] == case.error
    assert "R0=map_value_or_null(id=1,map=counts,ks=4,vs=8)" in out
    assert out.rstrip().splitlines()[-1].startswith("processed ")


def test_raw_accepted_with_type(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    prog = tmp_path / "p.bin"
    prog.write_bytes(_case("xdp_pkt_ok").code)
    assert main(["verify", str(prog), "--type", "xdp"]) == 0
    assert main(["verify", str(prog)]) == 1          # socket_filter: no packet pointers
    assert main(["verify", str(prog), "--type", "xdp", "--priv", "cap_bpf",
                 "--log-level", "0"]) == 0


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    prog = tmp_path / "p.bin"
    prog.write_bytes(_case("ctx_read_ok").code)
    assert main(["verify", str(tmp_path / "missing")]) == 2
    assert main(["verify", str(prog), "--type", "nosuch"]) == 2
    bad = tmp_path / "m.json"
    bad.write_text("{")
    assert main(["verify", str(prog), "--maps", str(bad)]) == 2


def test_garbage_file_is_a_rejection(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    prog = tmp_path / "g.bin"
    prog.write_bytes(bytes(range(0x80, 0x98)) + bytes([0x95, 0, 0, 0, 0, 0, 0, 0]))
    assert main(["verify", str(prog)]) == 1
    assert capsys.readouterr().err.startswith("unknown opcode")


def test_object_each_program(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import pybpf

    src = Path(__file__).parents[2] / "examples" / "tail_dispatch.c"
    obj = tmp_path / "t.o"
    obj.write_bytes(pybpf.compile(str(src)) if callable(getattr(pybpf, "compile", None))
                    else b"")
    if not obj.read_bytes()[:4] == b"\x7fELF":
        pytest.skip("no compiler for the example")
    assert main(["verify", str(obj)]) == 0
    out = capsys.readouterr().out
    assert "== dispatch: accepted" in out
    assert main(["verify", str(obj), "--prog", "nosuch"]) == 2
