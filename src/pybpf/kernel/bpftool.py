"""Load an ELF object into the kernel with libbpf (through ``bpftool``) and run it there.

This is the oracle for whole objects: libbpf does the loading exactly as a user's loader
would (relocations, global data, BTF, CO-RE), ``bpftool prog run`` is BPF_PROG_TEST_RUN,
and ``bpftool map dump`` reads the maps back. Tests compare pybpf's engines with it.
Everything is pinned under a private directory in bpffs and unpinned on close.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from pybpf.errors import BpfError

BPFFS = Path("/sys/fs/bpf")
_RESULT = re.compile(r"Return value: (\d+), duration(?: \(average\))?: (\d+)ns")


@dataclass
class KernelRun:
    """``bpftool prog run``'s answer."""

    retval: int
    duration_ns: int
    data: bytes | None
    ctx: bytes | None


def bpftool_available() -> tuple[bool, str]:
    """Whether bpftool can load objects here, and if not, why."""
    if shutil.which("bpftool") is None:
        return False, "bpftool is not installed"
    if os.geteuid() != 0:
        return False, "loading objects with bpftool needs root"
    try:
        _mount_bpffs()
    except BpfError as e:
        return False, str(e)
    return True, ""


def _mount_bpffs() -> None:
    if os.path.ismount(BPFFS):
        return
    done = subprocess.run(["mount", "-t", "bpf", "bpf", str(BPFFS)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise BpfError(f"cannot mount bpffs at {BPFFS}: {done.stderr.strip()}")


def _bpftool(*args: str, json_out: bool = False, cpu: int | None = None) -> str:
    cmd = ["bpftool", *(["-j"] if json_out else []), *args]
    # test_run runs on the caller's CPU: pinning bpftool decides which per-CPU slot it hits.
    pin = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    done = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=pin)
    if done.returncode != 0:
        raise BpfError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


class KernelObject:
    """An ELF object loaded into the kernel by libbpf: run programs, read and fill maps."""

    def __init__(self, elf: bytes | str | os.PathLike):
        _mount_bpffs()
        self._tmp = tempfile.TemporaryDirectory(prefix="pybpf-kobj-")
        if isinstance(elf, (bytes, bytearray)):
            path = Path(self._tmp.name) / "obj.o"
            path.write_bytes(elf)
        else:
            path = Path(elf)
        self.pins = BPFFS / f"pybpf-{uuid.uuid4().hex[:12]}"
        self.pins.mkdir()
        try:
            _bpftool("prog", "loadall", str(path), str(self.pins / "progs"),
                     "pinmaps", str(self.pins / "maps"))
        except BpfError:
            self.close()
            raise

    @property
    def programs(self) -> list[str]:
        return sorted(p.name for p in (self.pins / "progs").iterdir())

    def _map_pin(self, name: str) -> Path:
        maps = self.pins / "maps"
        pinned = sorted(os.listdir(maps))    # (bpffs answers a stat of a missing name EPERM)
        if name in pinned:
            return maps / name
        # libbpf names a global-data map <object prefix><section>, pinned with '.' -> '_'.
        suffix = re.sub(r"[^A-Za-z0-9_]", "_", name)
        for pin in pinned:
            if name.startswith(".") and pin.endswith(suffix):
                return maps / pin
        raise BpfError(f"the kernel object has no map {name!r} (pinned: {', '.join(pinned)})")

    def test_run(self, program: str, data: bytes | None = None, ctx: bytes | None = None,
                 repeat: int = 1, cpu: int | None = 0) -> KernelRun:
        """BPF_PROG_TEST_RUN through ``bpftool prog run``, on ``cpu`` (None: any)."""
        work = Path(self._tmp.name)
        args = ["prog", "run", "pinned", str(self.pins / "progs" / program)]
        if data is not None:
            (work / "data_in").write_bytes(data)
            args += ["data_in", str(work / "data_in"), "data_out", str(work / "data_out"),
                     "data_size_out", str(len(data) + 512)]
        if ctx is not None:
            (work / "ctx_in").write_bytes(ctx)
            args += ["ctx_in", str(work / "ctx_in"), "ctx_out", str(work / "ctx_out")]
        args += ["repeat", str(repeat)]
        for name in ("data_out", "ctx_out"):
            (work / name).unlink(missing_ok=True)
        match = _RESULT.search(_bpftool(*args, cpu=cpu))
        if match is None:
            raise BpfError(f"unexpected output from bpftool prog run for {program}")
        out = work / "data_out"
        ctx_out = work / "ctx_out"
        return KernelRun(int(match[1]), int(match[2]),
                         out.read_bytes() if data is not None and out.exists() else None,
                         ctx_out.read_bytes() if ctx is not None and ctx_out.exists() else None)

    def dump(self, name: str) -> dict[bytes, bytes | list[bytes]]:
        """Every entry of map ``name``; per-CPU maps give a list of values."""
        entries = json.loads(_bpftool("map", "dump", "pinned", str(self._map_pin(name)),
                                      json_out=True))
        out: dict[bytes, bytes | list[bytes]] = {}
        for entry in entries:
            key = _hex_bytes(entry["key"])
            if "values" in entry:
                out[key] = [_hex_bytes(v["value"]) for v in entry["values"]]
            else:
                out[key] = _hex_bytes(entry["value"])
        return out

    def update(self, name: str, key: bytes, value: bytes) -> None:
        _bpftool("map", "update", "pinned", str(self._map_pin(name)),
                 "key", "hex", *(f"{b:02x}" for b in key),
                 "value", "hex", *(f"{b:02x}" for b in value))

    def close(self) -> None:
        if self.pins.exists():
            shutil.rmtree(self.pins, ignore_errors=True)
        self._tmp.cleanup()

    def __enter__(self) -> "KernelObject":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _hex_bytes(values: list[str]) -> bytes:
    return bytes(int(v, 16) for v in values)
