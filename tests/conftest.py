"""Suite-wide test setup: tests marked ``kernel`` skip, with the kernel's own reason, where
bpf(2) does not work (not root, no BPF syscall, ...)."""

from __future__ import annotations

import pytest

from pybpf.kernel import kernel_available


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") is not None:
        ok, reason = kernel_available()
        if not ok:
            pytest.skip(reason)
