"""Fixtures for the event tests: events.c compiled once, loaded by libbpf per test (so every
test starts with empty maps)."""

from __future__ import annotations

from typing import Iterator

import pytest

from events_support import SOURCE


@pytest.fixture(scope="session")
def events_elf() -> bytes:
    import pybpf

    return pybpf.compile(SOURCE)


@pytest.fixture
def obj(events_elf: bytes) -> Iterator[object]:
    from pybpf.kernel import kernel_available
    from pybpf.kernel.libbpf import LibbpfObject

    ok, reason = kernel_available()
    if not ok:
        pytest.skip(reason)
    with LibbpfObject(events_elf) as o:
        yield o
