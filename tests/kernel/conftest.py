"""Kernel tests: the ``oracle`` fixture skips, with the kernel's own reason, where bpf(2)
does not work (the ``kernel`` marker does the same, from tests/conftest.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

from pybpf.kernel import KernelOracle, kernel_available


@pytest.fixture(scope="module")
def oracle() -> Iterator[KernelOracle]:
    """A kernel oracle shared by a module's tests (one result map)."""
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(reason)
    with KernelOracle() as o:
        yield o
