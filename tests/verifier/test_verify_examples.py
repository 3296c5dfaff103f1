"""Every example object the kernel accepts, pybpf's verifier accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf
from pybpf.verifier import verify

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.c"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_accepted(path: Path) -> None:
    spec = pybpf.open(str(path))
    results = verify(spec, log_level=1)
    assert results
    for name, res in results.items():
        assert res.accepted, f"{name}: {res.error}\n{res.log}"
        assert res.stats["processed"] > 0
