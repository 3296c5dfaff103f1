"""Map helper calls on a map the loader resolved (``r1 = map ll`` in the call's block):
checked code checks their key and value pointers inline and calls the trusted helper
(see pybpf.jit.mapcalls). What it finds, raises and leaves in the maps must be what the
interpreter's Python helpers do, wherever the pointers point."""

from __future__ import annotations

import dataclasses
from typing import Callable

import pytest

import jit_support
import pybpf
import pybpf.maps as maps
from pybpf.asm import assemble
from pybpf.jit.mapcalls import known_map_calls
from pybpf.vm import compiler

# lddw with a map reference, in the ubpf syntax: the machine's constant at that pc.
MAP = "lddw %r1, map_fd 7\n"


def program(text: str) -> compiler.Program:
    return compiler.Program.from_insns(assemble(text, syntax="ubpf"))


def test_calls_whose_r1_a_map_lddw_set_in_the_block():
    prog = program(MAP +                       # 0: r1 = map
                   "call 1\n"                   # 2: known
                   "lddw %r6, map_fd 7\n"       # 3: r6 = map
                   "mov %r1, %r6\n"             # 5: copied
                   "call 2\n"                   # 6: known
                   "call 3\n"                   # 7: r1 is the call's now
                   "mov %r1, %r6\n"             # 8: r6 is not the call's
                   "call 1\n"                   # 9: known
                   "lddw %r1, map_fd 7\n"       # 10
                   "add %r1, 8\n"               # 12: moved off the map
                   "call 1\n"                   # 13: not known
                   "lddw %r1, map_fd 7\n"       # 14
                   "ja +0\n"                    # 16: (a jump ends the block)
                   "call 1\n"                   # 17: not known
                   "lddw %r1, map_fd 7\n"       # 18
                   "call 5\n"                   # 20: not a map helper
                   "exit\n")
    assert known_map_calls(prog, {0, 3, 10, 14, 18}) == {2: 0, 6: 3, 9: 3}
    # an lddw the loader did not resolve is no map
    assert known_map_calls(prog, {3}) == {6: 3, 9: 3}


def outcomes(text: str, make: "Callable[[], maps.Map]") -> dict:
    """Each machine's r0 (or error, addresses left out) and its map's items after: the
    program's lddw at pc 0 resolved to a fresh map from ``make``."""
    insns = assemble(text, syntax="ubpf")
    out = {}
    for name, cls in jit_support.MACHINES.items():
        m = make()
        machine = cls(insns, constants={0: m.handle.address})
        m.attach(machine.memory)
        try:
            result = ("r0", 0 if machine.run().r0 == 0 else "not 0")
        except pybpf.BpfError as e:
            # (the nearest region to a wild address depends on where each machine's are)
            text = str(e).split("; nearest region")[0]
            result = (type(e).__name__, jit_support.without_addresses(text))
        out[name] = (result, sorted(m.items()))
    return out


MAP_CLASSES = {"array": lambda: maps.ArrayMap(4, 8, 4), "hash": lambda: maps.HashMap(4, 8, 4),
               "lru": lambda: maps.LruHashMap(4, 8, 4),
               "lpm": lambda: maps.LpmTrieMap(8, 8, 4, flags=1),
               "array_of_maps": lambda: maps.ArrayOfMaps(4, 4, 2, inner=maps.ArrayMap(4, 4, 1))}
# r2 and r3 for the calls: on the stack; a wild key; a wild value; both straddling the
# end of the stack; in the code region (read-only: a read is fine).
POINTERS = {"stack": "mov %r2, %r10\nadd %r2, -8\nmov %r3, %r10\nadd %r3, -16\n",
            "wild": "mov %r2, 4096\nmov %r3, %r10\nadd %r3, -16\n",
            "wild_value": "mov %r2, %r10\nadd %r2, -8\nmov %r3, 64\n",
            "straddling": "mov %r2, %r10\nadd %r2, -4\nmov %r3, %r10\nadd %r3, -4\n"}
SETUP = MAP + "mov %r4, 1\nstxdw [%r10-8], %r4\nmov %r4, 2\nstxdw [%r10-16], %r4\n"


@pytest.mark.parametrize("kind", list(MAP_CLASSES))
@pytest.mark.parametrize("helper", [1, 2, 3])
@pytest.mark.parametrize("pointers", list(POINTERS))
def test_pointer_arguments_as_in_the_interpreter(kind, helper, pointers):
    """Every map helper on every native kind (and one Python handles), with good and
    bad key and value pointers: the same result or fault (message and pc) and maps."""
    text = SETUP + POINTERS[pointers] + f"mov %r4, 0\ncall {helper}\nexit\n"
    got = outcomes(text, MAP_CLASSES[kind])
    assert got["jit"] == got["interp"]
    if pointers == "wild":
        assert got["jit"][0][0] == "BpfMemoryError"


def test_sites_follow_the_key_from_region_to_region():
    """One call site meets a key on the stack, then in a map value, then a wild one:
    each run checks where the key is now, not where it was."""
    text = (MAP + "mov %r6, %r1\n"
            "mov %r4, 3\nstxw [%r10-4], %r4\n"
            "mov %r2, %r10\nadd %r2, -4\nmov %r7, 0\n"
            "mov %r1, %r6\n"
            "call 1\n"
            "jeq %r0, 0, +3\n"        # found: its value (the next key) is the next key
            "mov %r2, %r0\n"
            "add %r7, 1\n"
            "ja -6\n"
            "mov %r0, %r7\n"
            "exit\n")
    results = {}
    for name, cls in jit_support.MACHINES.items():
        m = maps.HashMap(4, 4, 4)
        m.update((3).to_bytes(4, "little"), (5).to_bytes(4, "little"))
        m.update((5).to_bytes(4, "little"), (9).to_bytes(4, "little"))
        machine = cls(assemble(text, syntax="ubpf"), constants={0: m.handle.address})
        m.attach(machine.memory)
        results[name] = machine.run().r0
    assert results == {"interp": 2, "jit": 2}


def test_a_key_in_the_context_goes_to_python():
    """A key inside struct xdp_md (a context region Python reads): the checked helper
    handles it, as the interpreter does. (An unverified program: the verifier refuses
    a context key.)"""
    from pybpf.elf.spec import MapSpec, ObjectSpec, ProgramSpec
    from pybpf.isa.opcodes import PSEUDO_MAP_FD
    from pybpf.isa.uapi import MapType, ProgType

    source = """
        r6 = r1
        r1 = 0 ll
        r2 = r6
        r2 += 16
        call 1
        if r0 == 0 goto out
        r0 = *(u64 *)(r0 + 0)
        exit
    out:
        r0 = 99
        exit
    """
    results = {}
    for engine in ("interp", "jit"):
        spec = ObjectSpec()
        spec.maps["values"] = MapSpec("values", MapType.ARRAY, 4, 8, 4)
        insns = assemble(source)
        insns[1] = dataclasses.replace(insns[1], src=PSEUDO_MAP_FD, reference="values")
        spec.programs["p"] = ProgramSpec("p", "xdp", ProgType.XDP, insns)
        obj = spec.load(engine=engine, verify=False)
        obj.maps["values"].update(bytes(4), (1234).to_bytes(8, "little"))
        results[engine] = obj.programs["p"].test_run(data=bytes(64)).retval
    assert results == {"interp": 1234, "jit": 1234}


def test_checked_code_goes_to_the_map_after_its_checks():
    text = SETUP + POINTERS["stack"] + "call 1\nmov %r1, %r6\ncall 1\n" + MAP + "call 2\nexit\n"
    machine = jit_support.MACHINES["jit"](assemble(text, syntax="ubpf"), constants={0: 0, 13: 0})
    source = machine.source()
    # the first lookup: to the map kind's own code after the checks (or the checked
    # helper, for what they leave); the second's r1 (r6, never set) is not known to be a
    # map: checked. The update: its trusted variant after the checks.
    assert source.count("call i64 @bpf_lookup_hash(") == 1
    assert source.count("call i64 @bpf_lookup_lpm(") == 1
    assert source.count("call i64 @bpf_native_map_lookup_elem(") == 2
    assert source.count("call i64 @bpf_native_map_update_elem_trusted(") == 1
    assert source.count("call i64 @bpf_native_map_update_elem(") == 1
    assert "@bpf_check(" in source


def test_the_same_code_on_maps_of_other_shapes():
    """A known map's sizes and limits are constants in the code: the same bytecode on a
    map of another shape is other code (the compiled code's cache tells them apart)."""
    text = (MAP + "mov %r4, 5\nstxw [%r10-4], %r4\nmov %r2, %r10\nadd %r2, -4\n"
            "call 1\nexit\n")
    for max_entries, found in ((4, False), (8, True), (4, False), (6, True)):
        m = maps.ArrayMap(4, 8, max_entries)
        machine = jit_support.MACHINES["jit"](assemble(text, syntax="ubpf"),
                                              constants={0: m.handle.address})
        m.attach(machine.memory)
        assert (machine.run().r0 != 0) == found, max_entries


@pytest.mark.parametrize("seed", range(4))
def test_ipv4_lpm_lookups_as_in_the_interpreter(seed):
    """A known IPv4 LPM trie's lookups (the walk inlined into the program) find what the
    interpreter finds: random prefixes, random addresses near them and far."""
    import random
    import struct

    rng = random.Random(seed)
    prefixes = []
    for _ in range(rng.randint(1, 40)):
        plen = rng.choice((0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, rng.randint(0, 32)))
        prefixes.append((plen, rng.getrandbits(32)))
    text = ("mov %r6, %r1\nstw [%r10-8], 32\nstxw [%r10-4], %r6\n" + MAP +
            "mov %r2, %r10\nadd %r2, -8\ncall 1\njeq %r0, 0, +2\nldxdw %r0, [%r0]\nexit\n"
            "mov %r0, 99999\nexit\n")
    insns = assemble(text, syntax="ubpf")
    addresses = [rng.getrandbits(32) for _ in range(60)] + \
        [addr ^ rng.getrandbits(max(1, 32 - plen)) for plen, addr in prefixes for _ in (0, 1)]
    results = {}
    for name, cls in jit_support.MACHINES.items():
        m = maps.LpmTrieMap(8, 8, 64, flags=1)
        for k, (plen, addr) in enumerate(prefixes):
            m.update(struct.pack("<II", plen, addr), struct.pack("<Q", 1000 + k))
        machine = cls(insns, constants={3: m.handle.address})
        m.attach(machine.memory)
        results[name] = [machine.run(a).r0 for a in addresses]
        if name == "jit":
            assert "%lpm_i" in machine.source()       # the walk is in the program's code
    assert results["jit"] == results["interp"]
    assert any(r != 99999 for r in results["jit"])      # some lookups find a prefix


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["hash4", "hash8", "percpu8"])
def test_hash_lookups_as_in_the_interpreter(seed, kind):
    """A known hash map's lookups (the hash and chain walk inlined into the program) find
    what the interpreter finds, after inserts and deletes (chains, reused elements)."""
    import random

    from pybpf.env import Env

    rng = random.Random(seed)
    size = 4 if kind == "hash4" else 8
    cls_name = "PercpuHashMap" if kind == "percpu8" else "HashMap"
    keys = [rng.getrandbits(8 * size) for _ in range(rng.randint(1, 60))]
    gone = set(rng.sample(keys, len(keys) // 3))
    store = "stxw [%r10-8], %r6\n" if size == 4 else "stxdw [%r10-8], %r6\n"
    text = ("mov %r6, %r1\n" + store + MAP + "mov %r2, %r10\nadd %r2, -8\ncall 1\n"
            "jeq %r0, 0, +2\nldxdw %r0, [%r0]\nexit\nmov %r0, 99999\nexit\n")
    insns = assemble(text, syntax="ubpf")
    probes = keys + [rng.getrandbits(8 * size) for _ in range(40)]
    results = {}
    for name, machine_cls in jit_support.MACHINES.items():
        m = getattr(maps, cls_name)(size, 8, 64, cpus=3)
        for k, key in enumerate(keys):
            per_cpu = [(1000 + k + 100_000 * cpu).to_bytes(8, "little") for cpu in range(3)]
            m.update(key.to_bytes(size, "little"), per_cpu if kind == "percpu8" else per_cpu[0])
        for key in gone:
            m.delete(key.to_bytes(size, "little"))
        machine = machine_cls(insns, constants={2: m.handle.address}, env=Env(cpus=3))
        machine.call.cpu = 1           # the CPU the runs are on
        m.attach(machine.memory)
        results[name] = [machine.run(p).r0 for p in probes]
        if name == "jit":
            assert "%hash_i" in machine.source()      # the walk is in the program's code
    assert results["jit"] == results["interp"]
    assert any(r != 99999 for r in results["jit"])
    if kind == "percpu8":      # CPU 1's values
        assert any(100_000 < r < 200_000 for r in results["jit"])
