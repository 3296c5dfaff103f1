"""The bpf_engines fixture from pybpf's pytest plugin, as a user's test would use it."""

from __future__ import annotations

from pathlib import Path

import pybpf

COUNTERS = Path(__file__).resolve().parents[1] / "engine" / "data" / "counters.c"


def test_runs_once_per_available_engine(bpf_engines):
    obj = pybpf.load(COUNTERS, engine=bpf_engines)
    assert obj.engine == bpf_engines
    frame = b"\x02" * 12 + b"\x08\x00" + bytes(46)
    assert obj.programs["count_xdp"].test_run(data=frame).retval == 2
    assert obj.maps["by_len"].typed()[60] == {"packets": 1, "bytes": 60}
    obj.close()
