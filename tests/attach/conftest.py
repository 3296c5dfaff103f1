"""Fixtures for the attach tests: BPF objects built from ``data/*.bpf.c`` and loaded with
libbpf, network namespaces joined by a veth pair, and a scratch cgroup. Everything a
test creates is removed afterwards, also when the test fails."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from attach_support import DATA

_counter = itertools.count()


def _unique(prefix: str) -> str:
    """A short name unique to this process and call (interface names are <= 15 chars)."""
    return f"{prefix}{os.getpid() % 100000}{next(_counter)}"


@pytest.fixture
def load_bpf() -> Iterator[Callable[[str], object]]:
    """``load_bpf("xdp_drop_port")``: compile data/<name>.bpf.c and load it with libbpf."""
    import pybpf
    from pybpf.kernel.libbpf import LibbpfObject

    objects: list[LibbpfObject] = []

    def load(name: str) -> LibbpfObject:
        obj = LibbpfObject(pybpf.compile(DATA / f"{name}.bpf.c"))
        objects.append(obj)
        return obj

    yield load
    for obj in reversed(objects):
        obj.close()


@dataclass
class VethPair:
    """Two network namespaces, ``ns_a`` with ``dev_a`` (``ip_a``) and ``ns_b`` with
    ``dev_b`` (``ip_b``), joined by a veth pair."""

    ns_a: str
    ns_b: str
    dev_a: str
    dev_b: str
    ip_a: str = "10.201.0.1"
    ip_b: str = "10.201.0.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def veth_pair() -> Iterator[VethPair]:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (the ip command) is not installed")
    pair = VethPair(_unique("pba"), _unique("pbb"), _unique("va"), _unique("vb"))
    try:
        _ip("netns", "add", pair.ns_a)
        _ip("netns", "add", pair.ns_b)
        _ip("link", "add", pair.dev_a, "netns", pair.ns_a, "type", "veth",
            "peer", "name", pair.dev_b, "netns", pair.ns_b)
        for ns, dev, addr in ((pair.ns_a, pair.dev_a, pair.ip_a),
                              (pair.ns_b, pair.dev_b, pair.ip_b)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as e:
        for ns in (pair.ns_a, pair.ns_b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        pytest.skip(f"cannot create network namespaces/veth: {e.stderr.strip()}")
    try:
        yield pair
    finally:
        for ns in (pair.ns_a, pair.ns_b):  # deleting a namespace deletes its veth end
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def cgroup_dir() -> Iterator[Path]:
    """A new, empty cgroup v2 directory; its processes go back to the parent afterwards."""
    from pybpf.kernel.attach import cgroup2_mount

    try:
        root = Path(cgroup2_mount())
    except Exception as e:
        pytest.skip(str(e))
    path = root / _unique("pybpf-test-")
    try:
        path.mkdir()
    except OSError as e:
        pytest.skip(f"cannot create a cgroup under {root}: {e}")
    try:
        yield path
    finally:
        try:
            for pid in (path / "cgroup.procs").read_text().split():
                try:
                    (root / "cgroup.procs").write_text(pid)
                except OSError:
                    pass  # exited meanwhile
            path.rmdir()
        except OSError:
            pass
