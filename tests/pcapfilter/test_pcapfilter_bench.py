"""Compile time per expression (median over a generated corpus); goal < 0.5 ms optimised."""

from __future__ import annotations

import statistics
import time

import pytest

from pybpf.cbpf.filter import FilterError, compile_filter

from pcapfilter_gen import Gen


def _median_ms(exprs: list[str], optimize: bool) -> float:
    times = []
    for e in exprs:
        t = time.perf_counter()
        compile_filter(e, optimize=optimize)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


@pytest.mark.slow
def test_compile_time_median():
    exprs = []
    for e in Gen(2024, errors=0, depth=3).corpus(3000):
        try:
            compile_filter(e)
            exprs.append(e)
        except FilterError:
            pass
    opt = _median_ms(exprs, True)
    noopt = _median_ms(exprs, False)
    print(f"\npcapfilter: {len(exprs)} expressions, median {opt:.3f} ms optimised, "
          f"{noopt:.3f} ms with -O")
    assert opt < 0.5
