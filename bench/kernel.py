"""pybpf's kernel backend against its peers: loads, map operations and test_run per second.

Each operation is timed three ways in the same run: through pybpf's public API, through
libbpf's C API (Debian's libbpf1, called with ctypes), and as a bare ctypes bpf(2)
syscall with a prebuilt attribute (the floor any Python binding pays). Loads are also
timed with ``bpftool prog loadall``. The goal: pybpf's per-call overhead within 1.5x of
the bare syscall. Needs root (bpf(2)); prints the reason and exits otherwise.

    python bench/kernel.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "tests" / "engine" / "data" / "counters.c"
FRAME = b"\x02" * 12 + b"\x08\x00" + bytes(46)


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    fn()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(64):
            fn()
        n += 64
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    vp, i = ctypes.c_void_p, ctypes.c_int
    lib.bpf_map_update_elem.argtypes = [i, vp, vp, ctypes.c_uint64]
    lib.bpf_map_lookup_elem.argtypes = [i, vp, vp]
    lib.bpf_prog_test_run_opts.argtypes = [i, vp]
    lib.bpf_map_update_batch.argtypes = [i, vp, vp, ctypes.POINTER(ctypes.c_uint32), vp]
    lib.bpf_map_lookup_batch.argtypes = [i, vp, vp, vp, vp, ctypes.POINTER(ctypes.c_uint32),
                                         vp]
    return lib


class TestRunOpts(ctypes.Structure):
    """libbpf's struct bpf_test_run_opts (v1.1 layout)."""

    _fields_ = [("sz", ctypes.c_size_t), ("data_in", ctypes.c_void_p),
                ("data_out", ctypes.c_void_p), ("data_size_in", ctypes.c_uint32),
                ("data_size_out", ctypes.c_uint32), ("ctx_in", ctypes.c_void_p),
                ("ctx_out", ctypes.c_void_p), ("ctx_size_in", ctypes.c_uint32),
                ("ctx_size_out", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32),
                ("batch_size", ctypes.c_uint32)]


def row(what: str, mine: float, peers: dict[str, float]) -> None:
    parts = [f"{what:<28} pybpf {mine:>10,.0f}/s"]
    for name, value in peers.items():
        parts.append(f"{name} {value:>10,.0f}/s (pybpf cost {value / mine:.2f}x)")
    print("  ".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args(argv)

    import pybpf
    from pybpf.isa.uapi import Cmd
    from pybpf.kernel import kernel_available
    from pybpf.kernel.libbpf import LibbpfObject
    from pybpf.kernel.syscall import BpfAttr, address, bpf

    ok, reason = kernel_available()
    if not ok:
        print(f"skipped: {reason}")
        return 0
    elf = pybpf.compile(SOURCE)
    lib = libbpf()
    seconds = args.seconds

    # -- loads ------------------------------------------------------------------------
    def load_pybpf() -> None:
        pybpf.load(elf, engine="kernel").close()

    def load_libbpf() -> None:
        LibbpfObject(elf).close()

    loads = {"libbpf": rate(load_libbpf, seconds)}
    if shutil.which("bpftool"):
        with tempfile.TemporaryDirectory() as tmp:
            obj_path = Path(tmp) / "counters.o"
            obj_path.write_bytes(elf)

            def load_bpftool() -> None:
                pin = Path("/sys/fs/bpf") / f"bench-{uuid.uuid4().hex[:8]}"
                subprocess.run(["bpftool", "prog", "loadall", str(obj_path), str(pin)],
                               check=True, capture_output=True)
                shutil.rmtree(pin)
            loads["bpftool"] = rate(load_bpftool, seconds)
    row("object load + close", rate(load_pybpf, seconds), loads)

    with pybpf.load(elf, engine="kernel") as obj:
        m = obj.maps["by_len"]
        key, value = (7).to_bytes(4, "little"), bytes(16)
        m.update(key, value)
        fd = m.fileno()
        k_buf = ctypes.create_string_buffer(key, 4)
        v_buf = ctypes.create_string_buffer(value, 16)

        def bare(cmd: Cmd) -> Callable[[], int]:
            attr = BpfAttr()
            attr.map_elem.map_fd = fd
            attr.map_elem.key, attr.map_elem.value = address(k_buf), address(v_buf)
            return lambda: bpf(cmd, attr)

        row("map update", rate(lambda: m.update(key, value), seconds), {
            "libbpf": rate(lambda: lib.bpf_map_update_elem(fd, k_buf, v_buf, 0), seconds),
            "bare syscall": rate(bare(Cmd.MAP_UPDATE_ELEM), seconds)})
        row("map lookup", rate(lambda: m.lookup(key), seconds), {
            "libbpf": rate(lambda: lib.bpf_map_lookup_elem(fd, k_buf, v_buf), seconds),
            "bare syscall": rate(bare(Cmd.MAP_LOOKUP_ELEM), seconds)})

        # Batches of 48 elements (the map holds 64): elements per second.
        batch = {n.to_bytes(4, "little"): bytes([n]) * 16 for n in range(100, 148)}
        keys = ctypes.create_string_buffer(b"".join(batch), 4 * len(batch))
        values = ctypes.create_string_buffer(b"".join(batch.values()), 16 * len(batch))

        def libbpf_update_batch() -> None:
            count = ctypes.c_uint32(len(batch))
            lib.bpf_map_update_batch(fd, keys, values, ctypes.byref(count), None)

        def libbpf_lookup_batch() -> None:
            count = ctypes.c_uint32(64)
            out_keys, out_values = ctypes.create_string_buffer(256), ctypes.create_string_buffer(1024)
            batch_pos = ctypes.c_uint32()
            lib.bpf_map_lookup_batch(fd, None, ctypes.byref(batch_pos), out_keys, out_values,
                                     ctypes.byref(count), None)

        n = len(batch)
        row("map update_batch (elems)", n * rate(lambda: m.update_batch(batch), seconds), {
            "libbpf": n * rate(libbpf_update_batch, seconds)})
        total = len(m)
        row("map lookup_batch (elems)", total * rate(m.lookup_batch, seconds), {
            "libbpf": total * rate(libbpf_lookup_batch, seconds)})

        prog = obj.programs["count_socket"]
        pfd = prog.fileno()
        data_in = ctypes.create_string_buffer(FRAME, len(FRAME))
        data_out = ctypes.create_string_buffer(len(FRAME) + 256)
        attr = BpfAttr()
        t = attr.test
        t.prog_fd, t.data_in, t.data_size_in = pfd, address(data_in), len(FRAME)
        t.data_out, t.data_size_out, t.repeat = address(data_out), len(data_out), 1

        def bare_run() -> None:
            t.data_size_out = len(data_out)
            bpf(Cmd.PROG_TEST_RUN, attr)

        opts = TestRunOpts(sz=ctypes.sizeof(TestRunOpts), data_in=address(data_in),
                           data_size_in=len(FRAME), data_out=address(data_out),
                           data_size_out=len(data_out), repeat=1)

        def libbpf_run() -> None:
            opts.data_size_out = len(data_out)
            lib.bpf_prog_test_run_opts(pfd, ctypes.byref(opts))

        row("test_run (one packet)", rate(lambda: prog.test_run(data=FRAME), seconds), {
            "libbpf": rate(libbpf_run, seconds), "bare syscall": rate(bare_run, seconds)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
