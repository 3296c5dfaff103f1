"""The kernel as oracle: linked programs verify and run; section conventions agree with
libbpf (through bpftool, which loads the same objects with libbpf)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from pybpf.elf import open_object
from pybpf.isa.uapi import ProgType

DATA = Path(__file__).parent / "data"
BPFFS = Path("/sys/fs/bpf")


def leaf(x: int) -> int:
    return x * 3 + 1


def middle(x: int) -> int:
    return leaf(x) - 2 if x > 10 else leaf(x + 1)


@pytest.mark.kernel
@pytest.mark.parametrize("size", [64, 200])
def test_linked_programs_run_in_kernel(size):
    from pybpf.kernel import KernelProgram

    spec = open_object(DATA / "progs.o")
    results = {}
    for name in ("xdp_first", "xdp_second", "tc_plain"):
        prog = spec.programs[name]
        loaded = KernelProgram.load(prog.type, prog.insns, prog.license, name=name,
                                    expected_attach_type=prog.attach_type or 0)
        with loaded:
            results[name] = loaded.test_run(bytes(size)).retval
    # test_run gives XDP programs loopback (ifindex 1) and rx queue 0
    assert results["xdp_first"] == (middle(1) + 5) & 3
    assert results["xdp_second"] == (2 if middle(0) > 7 else 1)
    assert results["tc_plain"] == (0 if size > 100 else 2)


def _bpftool_ready() -> str | None:
    if shutil.which("bpftool") is None:
        return "bpftool not installed"
    if not BPFFS.is_dir() or not os.path.ismount(BPFFS):
        return "bpffs not mounted at /sys/fs/bpf"
    return None


@pytest.mark.kernel
def test_section_types_agree_with_libbpf():
    reason = _bpftool_ready()
    if reason:
        pytest.skip(reason)
    spec = open_object(DATA / "sections.o")
    pin = BPFFS / f"pybpf-elf-{uuid.uuid4().hex[:8]}"
    try:
        done = subprocess.run(["bpftool", "prog", "loadall", str(DATA / "sections.o"),
                               str(pin)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"libbpf could not load sections.o here: {done.stderr.strip()[-200:]}")
        checked = 0
        for name, prog in spec.programs.items():
            shown = subprocess.run(["bpftool", "-j", "prog", "show", "pinned", str(pin / name)],
                                   capture_output=True, text=True, check=True).stdout
            info = json.loads(shown)
            assert info["type"] == ProgType(prog.type).name.lower(), (name, prog.section)
            assert info["name"] in (name, name[:15])
            checked += 1
        assert checked == len(spec.programs) >= 40
    finally:
        if pin.exists():
            for entry in pin.iterdir():
                entry.unlink()
            pin.rmdir()
