"""Seeded random operation sequences run on a userspace map and the kernel's, compared
step by step (hash maps: key sets rather than order; LRU maps past capacity: invariants,
since the kernel's eviction is approximate). A short run by default; ``-m slow`` runs long."""

from __future__ import annotations

import random
import struct

import pytest

from pybpf.isa.uapi import MapType
from pybpf.maps import MAP_CLASSES

from mapops import k32, kernel_map, run_kernel, run_user

pytestmark = pytest.mark.kernel

HASHY = {MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH}


def _value(rnd: random.Random, size: int) -> bytes:
    return rnd.randbytes(size)


def random_ops(map_type: MapType, ks: int, vs: int, me: int, n: int, seed: int,
               cpus: int) -> list[tuple]:
    rnd = random.Random(seed)
    ops: list[tuple] = []
    flags = [0, 0, 0, 1, 2, 3, 4]
    if map_type == MapType.LPM_TRIE:
        bits = 8 * (ks - 4)

        def key() -> bytes:
            plen = rnd.choice([0, 1, 2, 7, 8, 9, 15, 16, 17, 24, bits, bits + 1, rnd.randint(0, bits)])
            # few distinct prefixes so that updates, deletes and lookups meet
            data = rnd.choice([0x0A000000, 0x0A010000, 0x0A010200, 0xC0A80000, 0x80000000, 0,
                               rnd.getrandbits(bits)]) >> (32 - bits) if bits <= 32 else 0
            return struct.pack("<I", plen) + data.to_bytes(ks - 4, "big")
        for _ in range(n):
            r = rnd.random()
            if r < 0.45:
                ops.append(("update", key(), _value(rnd, vs), rnd.choice(flags)))
            elif r < 0.65:
                ops.append(("lookup", key()))
            elif r < 0.8:
                ops.append(("delete", key()))
            elif r < 0.95:
                ops.append(("next", rnd.choice([None, key()])))
            else:
                ops.append(("keys",))
        return ops
    if map_type in (MapType.QUEUE, MapType.STACK):
        for _ in range(n):
            r = rnd.random()
            if r < 0.5:
                ops.append(("push", _value(rnd, vs), rnd.choice([0, 0, 2, 1])))
            elif r < 0.8:
                ops.append(("pop",))
            else:
                ops.append(("peek",))
        return ops
    if map_type in (MapType.LRU_HASH, MapType.LRU_PERCPU_HASH):
        space = me // 2               # never full: the kernel's eviction is approximate
    elif map_type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        space = me + 2
    else:
        space = max(2, me + me // 2)
    percpu = map_type in (MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH)
    for _ in range(n):
        r = rnd.random()
        k = k32(rnd.randrange(space))
        if r < 0.45:
            value = [_value(rnd, vs) for _ in range(cpus)] if percpu and rnd.random() < 0.5 \
                else _value(rnd, vs)
            ops.append(("update", k, value, rnd.choice(flags)))
        elif r < 0.65:
            ops.append(("lookup", k))
        elif r < 0.8:
            ops.append(("delete", k))
        elif r < 0.9 and map_type not in HASHY:
            ops.append(("next", rnd.choice([None, k])))
        elif map_type in HASHY:
            ops.append(("keyset",))
        else:
            ops.append(("keys",))
    return ops


CASES = [
    (MapType.HASH, 4, 8, 16, 0),
    (MapType.HASH, 4, 3, 5, 1),
    (MapType.PERCPU_HASH, 4, 12, 8, 0),
    (MapType.ARRAY, 4, 5, 6, 0),
    (MapType.PERCPU_ARRAY, 4, 8, 4, 0),
    (MapType.LRU_HASH, 4, 8, 512, 0),          # never full: exact
    (MapType.LPM_TRIE, 8, 4, 12, 1),
    (MapType.LPM_TRIE, 6, 8, 30, 1),
    (MapType.QUEUE, 0, 4, 5, 0),
    (MapType.STACK, 0, 6, 4, 0),
]


def _compare(case: tuple, n: int, seed: int) -> None:
    from pybpf.kernel.maps import possible_cpus

    map_type, ks, vs, me, flags = case
    cpus = possible_cpus()
    ops = random_ops(map_type, ks, vs, me, n, seed, cpus)
    with kernel_map(map_type, ks, vs, me, flags) as km:
        want = run_kernel(km, ops, cpus)
    got = run_user(MAP_CLASSES[map_type](ks, vs, me, flags, cpus=cpus), ops)
    for i, (op, w, g) in enumerate(zip(ops, want, got)):
        if g != w:
            detail = (f"only kernel: {sorted(set(w) - set(g))[:5]}, only userspace: "
                      f"{sorted(set(g) - set(w))[:5]}" if isinstance(w, list) else f"{w!r} != {g!r}")
            pytest.fail(f"seed {seed} step {i} {str(op)[:80]}: kernel vs userspace: {detail}")


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].name}-k{c[1]}-v{c[2]}-n{c[3]}")
def test_random_sequence_matches_kernel(case: tuple) -> None:
    _compare(case, 300, 1)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].name}-k{c[1]}-v{c[2]}-n{c[3]}")
@pytest.mark.parametrize("seed", range(2, 12))
def test_long_random_sequences_match_kernel(case: tuple, seed: int) -> None:
    _compare(case, 3000, seed)


@pytest.mark.parametrize("map_type", [MapType.LRU_HASH, MapType.LRU_PERCPU_HASH])
def test_lru_past_capacity_keeps_the_invariants_the_kernel_keeps(map_type: MapType) -> None:
    from pybpf.kernel.maps import possible_cpus

    cpus = possible_cpus()
    rnd = random.Random(7)
    me = 32
    um = MAP_CLASSES[map_type](4, 8, me, cpus=cpus)
    with kernel_map(map_type, 4, 8, me) as km:
        for _ in range(400):
            key = k32(rnd.randrange(200))
            ops = [("update", key, bytes(8), 0), ("lookup", key)]
            w, g = run_kernel(km, ops, cpus), run_user(um, ops)
            assert w[0] == g[0] == "ok"            # an LRU map is never "full"
            assert w[1] is not None and g[1] is not None   # the newest element survives
            assert len(list(km.keys())) <= me and len(um) <= me


@pytest.mark.parametrize("value_size", [4, 5, 13, 16])
def test_bloom_filter_sets_the_kernels_bits(value_size: int) -> None:
    """With BPF_F_ZERO_SEED the kernel's hash is deterministic: same false positives."""
    rnd = random.Random(value_size)
    for nr_hash in (1, 3):
        um = MAP_CLASSES[MapType.BLOOM_FILTER](0, value_size, 64, 0x40, map_extra=nr_hash)
        with kernel_map(MapType.BLOOM_FILTER, 0, value_size, 64, 0x40, map_extra=nr_hash) as km:
            for _ in range(40):
                v = rnd.randbytes(value_size)
                um.push(v)
                km.push(v)
            probes = [rnd.randbytes(value_size) for _ in range(1500)]
            ops = [("contains", p) for p in probes]
            want, got = run_kernel(km, ops), run_user(um, ops)
        assert got == want
        assert any(want)                          # some false positives were compared
