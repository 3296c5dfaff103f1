"""The JIT's native packet helpers (bpf_skb_load_bytes/store_bytes, l3/l4_csum_replace,
xdp_adjust_head/tail, redirect_map, and a native tail call in between) against the
interpreter's Python ones and the kernel's: random lists of calls run by
tests/jit/data/packet_ops.c, with edge-case offsets, sizes and flags. Results, what the
program saw of the packet after each call, the packet out and the verdict must be the
same."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.env import Env

SOURCE = Path(__file__).parent / "data" / "packet_ops.c"
MAX_OPS = 12
M32 = 0xFFFFFFFF


@pytest.fixture(scope="module")
def elf() -> bytes:
    return pybpf.compile(SOURCE)


def _op(kind: int, offset: int = 0, frm: int = 0, to: int = 0, flags: int = 0) -> bytes:
    return struct.pack("<IIIIQ", kind, offset & M32, frm & M32, to & M32, flags)


def tc_case(rng: random.Random) -> tuple[bytes, list[bytes]]:
    size = rng.randint(40, 120)
    packet = bytes(rng.getrandbits(8) for _ in range(size))
    ops = []
    for _ in range(rng.randint(1, MAX_OPS)):
        kind = rng.randint(1, 4)
        near = rng.choice((0, 1, 2, size - 16, size - 9, size - 8, size - 2, size - 1, size,
                           size + 1, rng.randrange(size)))
        if kind == 1:
            offset = rng.choice((near, near, 0x7FFFFFFF, 0x80000000, M32))
            ops.append(_op(1, offset, flags=rng.randrange(16)))
        elif kind == 2:
            offset = rng.choice((near, near, near, 0x80000000, M32))
            flags = rng.choice((0, 0, 1, 2, 3, 4, 0x100))
            ops.append(_op(2, offset, rng.getrandbits(32), rng.randrange(8), flags))
        else:
            offset = rng.choice((near & ~1, near & ~1, near | 1, 0xFFFE, 0x10000))
            flags = rng.choice((0, 2, 4, 1, 3, 0x10, 0x12, 0x14, 0x20, 0x22, 0x24, 0x62, 0x64,
                                0x80, 0x92, 0x100, rng.getrandbits(8)))
            frm = rng.choice((0, 0, rng.getrandbits(32), rng.getrandbits(16)))
            ops.append(_op(kind, offset, frm, rng.getrandbits(32), flags))
    return packet, ops


def xdp_case(rng: random.Random) -> tuple[bytes, list[bytes]]:
    size = rng.randint(14, 200)
    packet = bytes(rng.getrandbits(8) for _ in range(size))
    ops = []
    for _ in range(rng.randint(1, MAX_OPS)):
        kind = rng.choice((1, 1, 2, 2, 3, 4, 4, 5, 6, 7))
        if kind == 1:
            offset = rng.choice((-300, -216, -64, -9, -8, -4, -1, 0, 4, 14, size - 14,
                                 size - 13, size))
        elif kind == 2:
            offset = rng.choice((-size, -size + 14, -size + 13, -20, -1, 0, 1, 7, 100, 3000,
                                 4000))
        elif kind == 3:
            offset = rng.choice((-256, -32, -8, -4, -3, 0, 4, 8))
        elif kind in (4, 5, 7):
            offset = rng.choice((0, 1, 2, 3, 4, M32))
        else:
            offset = rng.choice((0, 0, 1))
        flags = rng.choice((0, 1, 2, 3, 4, 7)) if kind in (4, 5) else 0
        ops.append(_op(kind, offset, flags=flags))
    return packet, ops


def run(elf: bytes, prog: str, engines: tuple[str, ...], seed: int, count: int = 25,
        repeat: int = 1) -> list:
    """Per engine, what each case gave: (retval, data out, redirect, results, seen)."""
    rng = random.Random(seed)
    make = tc_case if prog == "tc_ops" else xdp_case
    cases = [make(rng) for _ in range(count)]
    out = []
    for engine in engines:
        got = []
        with pybpf.load(elf, engine=engine, env=Env(cpus=2)) as obj:
            obj.maps["devs"].update(struct.pack("<I", 1), struct.pack("<I", 1))
            obj.maps["devs"].update(struct.pack("<I", 2), struct.pack("<I", 1))
            obj.maps["cpus"].update(struct.pack("<I", 1), struct.pack("<I", 192))
            for packet, ops in cases:
                for i in range(MAX_OPS):
                    key = struct.pack("<I", i)
                    obj.maps["ops"].update(key, ops[i] if i < len(ops) else bytes(24))
                    obj.maps["results"].update(key, bytes(8))
                    obj.maps["seen"].update(key, bytes(8))
                result = obj.programs[prog].test_run(data=packet, repeat=repeat)
                redirect = result.redirect if engine != "kernel" else None
                got.append((result.retval, result.data, redirect,
                            [v for _, v in sorted(obj.maps["results"].items())],
                            [v for _, v in sorted(obj.maps["seen"].items())]))
        out.append(got)
    return out


def _agree(a: list, b: list, same_redirect: bool = True) -> None:
    for i, (x, y) in enumerate(zip(a, b)):
        if not same_redirect:
            x, y = x[:2] + x[3:], y[:2] + y[3:]
        assert x == y, f"case {i}"


@pytest.mark.parametrize("prog", ["tc_ops", "xdp_ops"])
@pytest.mark.parametrize("seed", range(4))
def test_native_packet_helpers_agree_with_interpreter(elf, prog, seed):
    interp, jit = run(elf, prog, ("interp", "jit"), seed)
    _agree(interp, jit)


@pytest.mark.parametrize("prog", ["tc_ops", "xdp_ops"])
def test_repeated_runs_agree_with_interpreter(elf, prog):
    interp, jit = run(elf, prog, ("interp", "jit"), 50, count=10, repeat=3)
    _agree(interp, jit)


@pytest.mark.kernel
@pytest.mark.parametrize("prog", ["tc_ops", "xdp_ops"])
@pytest.mark.parametrize("seed", range(2))
def test_native_packet_helpers_agree_with_kernel(elf, prog, seed):
    jit, kernel = run(elf, prog, ("jit", "kernel"), 100 + seed)
    _agree(jit, kernel, same_redirect=False)


def test_the_helpers_run_natively(elf, monkeypatch):
    """The machine offers them natively to the program types that have them (the runs
    above would agree just as well through Python): no call reaches Python."""
    from pybpf.jit.machine import JitMachine

    calls = []
    original = JitMachine._helper_cb

    def counting(self, *args):
        calls.append(args[1])
        return original(self, *args)
    monkeypatch.setattr(JitMachine, "_helper_cb", counting)
    with pybpf.load(elf, engine="jit") as obj:
        tc, xdp = obj.programs["tc_ops"], obj.programs["xdp_ops"]
        for i, op in enumerate((_op(1, 0, flags=7), _op(2, 4, 0x01020304, 3),
                                _op(3, 10, 1, 2, 2), _op(4, 12, 1, 2, 4))):
            obj.maps["ops"].update(struct.pack("<I", i), op)
        assert tc.test_run(data=bytes(64)).data[4:8] == bytes((4, 3, 2, 1))
        for i, op in enumerate((_op(1, -8), _op(2, -4), _op(4, 1), bytes(24))):
            obj.maps["ops"].update(struct.pack("<I", i), op)
        obj.maps["devs"].update(struct.pack("<I", 1), struct.pack("<I", 7))
        run = xdp.test_run(data=bytes(64))
        assert (run.retval, run.redirect, len(run.data)) == (4, 7, 68)
    assert calls == []
