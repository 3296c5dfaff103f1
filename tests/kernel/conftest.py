"""Kernel tests: anything marked ``kernel`` skips, with the kernel's own reason, where bpf(2)
does not work; the ``oracle`` fixture does the same."""

from __future__ import annotations

from typing import Iterator

import pytest

from pybpf.kernel import KernelOracle, kernel_available


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") is not None:
        ok, reason = kernel_available()
        if not ok:
            pytest.skip(reason)


@pytest.fixture(scope="module")
def oracle() -> Iterator[KernelOracle]:
    """A kernel oracle shared by a module's tests (one result map)."""
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(reason)
    with KernelOracle() as o:
        yield o
