"""The captures in tests/data are exactly what tests/data/make_pcaps.py generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def test_captures_are_current(tmp_path):
    subprocess.run([sys.executable, str(DATA / "make_pcaps.py"), str(tmp_path)], check=True,
                   capture_output=True)
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in DATA.glob("*.pcap*"))
    for name in made:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name
