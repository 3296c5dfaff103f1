"""Suite-wide test setup: tests marked ``kernel`` skip, with the kernel's own reason, where
bpf(2) does not work (not root, no BPF syscall, ...); the caches (the C compile cache, the
JIT's object code) go to a temporary directory for the run, never into the user's
``~/.cache/pybpf`` (unless ``PYBPF_CACHE_DIR`` is set: then there)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from pybpf.kernel import kernel_available

# Set before any test runs, in the main process; pytest-xdist's workers inherit it.
_OWN_CACHE_DIR = None
if not os.environ.get("PYBPF_CACHE_DIR"):
    _OWN_CACHE_DIR = os.environ["PYBPF_CACHE_DIR"] = tempfile.mkdtemp(prefix="pybpf-tests-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_CACHE_DIR is not None:
        shutil.rmtree(_OWN_CACHE_DIR, ignore_errors=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kernel") is not None:
        ok, reason = kernel_available()
        if not ok:
            pytest.skip(reason)
