"""The seeded fuzz campaign of bench/fuzz_vs_kernel.py, interpreter against kernel.

CI runs a sampled slice (every 200th program of the 100,000, so each run covers the
whole seed range thinly); ``pytest -m slow`` runs a long stretch of it.
"""

import random

import pytest

from pybpf.testing import GenOptions, generate
from pybpf.testing.differential import compare

pytestmark = pytest.mark.kernel


def campaign(oracle, indexes) -> list[str]:
    reports = []
    for i in indexes:
        insns = generate(random.Random(f"0/{i}"), GenOptions())
        disagreement = compare(insns, oracle)
        if disagreement is not None:
            reports.append(f"program {i}:\n{disagreement.report()}")
    return reports


def test_sampled_slice(oracle):
    assert campaign(oracle, range(0, 100_000, 200)) == []


@pytest.mark.slow
def test_long_stretch(oracle):
    assert campaign(oracle, range(20_000)) == []
