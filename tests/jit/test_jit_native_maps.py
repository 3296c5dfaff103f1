"""The JIT's native map helpers against the interpreter's Python ones and the kernel's:
random sequences of lookups, updates (every flag), deletes and in-place adds on every map
family the JIT probes natively (array, per-CPU array, hash, per-CPU hash, LRU hash, LRU
per-CPU hash, a hash with a 13-byte key, LPM trie), run by tests/jit/data/map_ops.c. The
results written into the packet and the maps' contents must be the same."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.env import Env
from pybpf.testing.objects import compare_object

SOURCE = Path(__file__).parent / "data" / "map_ops.c"
LRU_MAPS = (4, 5)


@pytest.fixture(scope="module")
def elf() -> bytes:
    return pybpf.compile(SOURCE)


def operations(rng: random.Random, maps: tuple[int, ...], count: int) -> bytes:
    """A packet of ``count`` operations on ``maps``, over a few keys so that they meet."""
    out = b""
    for _ in range(count):
        op = rng.choice((0, 0, 1, 1, 1, 2, 3))
        flags = rng.choice((0, 0, 0, 1, 2, 4, 5))
        key = rng.choice((0, 1, 2, 3, 5, 7, 8, 9, 11, 0x0A000001, 0x0A000102, 0xC0A80101,
                          rng.getrandbits(32)))
        out += struct.pack("<BBBBIQ", op, rng.choice(maps), flags, rng.randrange(0, 40), key,
                           rng.getrandbits(64))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_native_maps_agree_with_interpreter(elf, seed):
    rng = random.Random(seed)
    packets = [operations(rng, tuple(range(8)), rng.randint(1, 64)) for _ in range(30)]
    result = compare_object(elf, "map_ops", packets, engines=("interp", "jit"),
                            env=Env(cpus=3, cpu=seed % 3))
    assert result.agree, result.report()


@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(3))
def test_native_maps_agree_with_kernel(elf, seed):
    """The kernel's LRU is approximate (per-CPU free lists), so LRU maps are left out."""
    rng = random.Random(100 + seed)
    exact = tuple(m for m in range(8) if m not in LRU_MAPS)
    packets = [operations(rng, exact, rng.randint(1, 64)) for _ in range(30)]
    result = compare_object(elf, "map_ops", packets, engines=("jit", "kernel"),
                            env=Env(cpu=seed % Env().cpus))
    assert result.agree, result.report()


def test_lru_eviction_order_matches_interpreter(elf):
    """A full LRU map evicts its least recently used key, lookups refreshing recency."""
    ops = b""
    for key in range(12):                          # 12 keys into an 8-entry LRU map
        ops += struct.pack("<BBBBIQ", 1, 4, 0, 0, key, key)
        ops += struct.pack("<BBBBIQ", 0, 4, 0, 0, 0, 0)   # keep key 0 recent
    results = {}
    for engine in ("interp", "jit"):
        with pybpf.load(elf, engine=engine, env=Env(cpus=1)) as obj:
            run = obj.programs["map_ops"].test_run(data=ops)
            results[engine] = (run.data, sorted(obj.maps["lru_hash"].keys()))
    assert results["jit"] == results["interp"]
    keys = [int.from_bytes(k, "little") for k in results["jit"][1]]
    assert keys == [0, 5, 6, 7, 8, 9, 10, 11]


def _errors(program: str, m) -> dict:
    """What the program raises in each machine, ``m`` at its first lddw (a map pointer)."""
    from pybpf.asm import assemble

    insns = assemble(program)
    out = {}
    for name, cls in jit_support.MACHINES.items():
        machine = cls(insns, constants={0: m.address})
        m.attach(machine.memory)
        with pytest.raises(pybpf.BpfError) as info:
            machine.run()
        out[name] = (type(info.value), jit_support.without_addresses(str(info.value)))
    return out


@pytest.mark.parametrize("map_cls", ["ArrayMap", "HashMap", "LruHashMap", "LpmTrieMap"])
@pytest.mark.parametrize("helper", [1, 2, 3])
def test_bad_key_pointer_faults_as_in_the_interpreter(map_cls, helper):
    """An unverified program handing a map helper a wild key raises, never crashes."""
    import pybpf.maps as maps

    flags = 1 if map_cls == "LpmTrieMap" else 0      # BPF_F_NO_PREALLOC
    m = getattr(maps, map_cls)(4 if map_cls == "ArrayMap" else 8, 8, 4, flags=flags)
    program = (f"r1 = 0 ll\nr2 = 4096\nr3 = r10\nr3 += -8\nr4 = 0\n"
               f"*(u64 *)(r10 - 8) = r4\ncall {helper}\nexit")
    errors = _errors(program, m)
    assert errors["jit"] == errors["interp"]


def test_forged_map_pointer_is_refused_as_in_the_interpreter():
    """A pointer to stack bytes shaped like a map handle is not a map to native code."""
    import pybpf.maps as maps

    m = maps.HashMap(4, 8, 4)
    handle = m.handle.read(0, 64)
    words = [int.from_bytes(handle[i:i + 8], "little") for i in range(0, 64, 8)]
    stores = "".join(f"r1 = {w:#x} ll\n*(u64 *)(r10 - {64 - 8 * i}) = r1\n"
                     for i, w in enumerate(words))
    program = ("r9 = 0 ll\n" + stores + "r1 = r10\nr1 += -64\nr2 = r10\nr2 += -64\n"
               "call 1\nexit")
    errors = _errors(program, m)
    assert errors["jit"] == errors["interp"]
    assert "not a map pointer" in errors["jit"][1]
