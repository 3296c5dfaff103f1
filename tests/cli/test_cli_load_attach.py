"""pybpf load --pin and pybpf attach --pin-link, end to end in the kernel."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pybpf.cli.main import main

pytestmark = pytest.mark.kernel

SOURCE = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__u64 hits = 0;
SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx) { __sync_fetch_and_add(&hits, 1); return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture
def pins():
    from pybpf.kernel.introspect import ensure_bpffs

    path = Path(ensure_bpffs()) / f"pybpf-cli-{os.getpid()}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_load_pin_attach_and_count(tmp_path, pins, capsys):
    import pybpf

    src = tmp_path / "count.c"
    src.write_text(SOURCE)
    assert main(["load", str(src), "--pin", str(pins)]) == 0
    assert "name count_getppid" in capsys.readouterr().out
    assert sorted(os.listdir(pins)) == ["count_getppid", "maps"]
    assert main(["attach", "pinned", str(pins / "count_getppid"), "--section",
                 "tracepoint/syscalls/sys_enter_getppid", "--pin-link", str(pins / "link")]) == 0
    for _ in range(20):
        os.getppid()
    hits = pybpf.Map.from_pin(pins / "maps" / "bss").lookup(bytes(4))
    assert int.from_bytes(hits, "little") >= 20
    os.unlink(pins / "link")                      # detaches
    before = int.from_bytes(pybpf.Map.from_pin(pins / "maps" / "bss").lookup(bytes(4)), "little")
    for _ in range(20):
        os.getppid()
    after = int.from_bytes(pybpf.Map.from_pin(pins / "maps" / "bss").lookup(bytes(4)), "little")
    assert after - before < 20                    # other processes may still call getppid


def test_attach_needs_a_program(capsys):
    assert main(["attach", "nope", "--pin-link", "/sys/fs/bpf/x"]) == 1
    assert "name the program as ID" in capsys.readouterr().err
