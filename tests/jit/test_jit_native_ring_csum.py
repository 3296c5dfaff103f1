"""The JIT's native ring buffer helpers (output, reserve, submit, discard, query) and
bpf_csum_diff against the interpreter's Python ones and the kernel's: random operation
lists run by tests/jit/data/ring_csum.c (an XDP program), the ring consumed now and then.
Results, packets and the records consumed must be the same."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.env import Env
from pybpf.maps.ringbuf import RingBuffer

SOURCE = Path(__file__).parent / "data" / "ring_csum.c"


@pytest.fixture(scope="module")
def elf() -> bytes:
    return pybpf.compile(SOURCE)


def operations(rng: random.Random, count: int) -> bytes:
    out = b""
    for _ in range(count):
        op = rng.choice((0, 0, 1, 1, 2, 3, 4, 4, 4))
        arg = rng.choice((0, 0, 1, 2, 3, 4, 5, 7, 0xFF, rng.getrandbits(8)))
        size = rng.choice((0, 1, 2, 3, 4, 5, 7, 8, 13, 100, 255, 300, 511, 0x0404, 0x0303,
                           0x00FF, 0xFF00, 0xFFFF, 0x4003, rng.getrandbits(16)))
        out += struct.pack("<BBHI", op, arg, size, 0)
    return out.ljust(14, b"\0")          # XDP wants an Ethernet header's worth


def run(elf: bytes, engines: tuple[str, ...], seed: int, records=lambda r: r) -> list:
    """Per engine, what each packet gave: (retval, data out, records consumed after it)."""
    rng = random.Random(seed)
    packets = [operations(rng, rng.randint(1, 40)) for _ in range(30)]
    consume = [rng.random() < 0.4 for _ in packets]
    out = []
    for engine in engines:
        got = []
        with pybpf.load(elf, engine=engine, env=Env(cpus=2)) as obj:
            for packet, now in zip(packets, consume):
                result = obj.programs["ring_csum"].test_run(data=packet)
                seen: list[bytes] = []
                if now:
                    with RingBuffer(obj.maps["ring"], seen.append) as ring:
                        ring.consume()
                got.append((result.retval, result.data, [records(r) for r in seen]))
        out.append(got)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_native_ring_and_csum_agree_with_interpreter(elf, seed):
    interp, jit = run(elf, ("interp", "jit"), seed)
    for i, (a, b) in enumerate(zip(interp, jit)):
        assert a == b, f"packet {i}"


def _defined(record: bytes) -> tuple:
    """What the program wrote of a record: a reserved sample's middle bytes are whatever
    the ring held before (the kernel's stale bytes are not ours)."""
    return len(record), record[:1], record[-1:]


@pytest.mark.kernel
@pytest.mark.parametrize("seed", range(3))
def test_native_ring_and_csum_agree_with_kernel(elf, seed):
    jit, kernel = run(elf, ("jit", "kernel"), 100 + seed, records=_defined)
    for i, (a, b) in enumerate(zip(jit, kernel)):
        assert a == b, f"packet {i}"


# -- edge cases on bare machines: errors and fallbacks are the interpreter's -------------

def _outcomes(program: str, constants: dict, maps=(), packet=None) -> dict:
    from pybpf.asm import assemble

    insns = assemble(program)
    out = {}
    for name, cls in jit_support.MACHINES.items():
        machine = cls(insns, constants=constants)
        for m in maps:
            m.attach(machine.memory)
        try:
            result = machine.run()
            out[name] = ("ok", result.r0)
        except Exception as e:      # noqa: BLE001 - whatever the interpreter raises
            out[name] = (type(e), jit_support.without_addresses(str(e)))
    return out


def test_submit_of_a_non_record_is_the_interpreters_error():
    from pybpf.maps import RingBufMap

    ring = RingBufMap(0, 0, 4096)
    program = ("ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\ncall 131\nif r0 == 0 goto +3\nr1 = r0\nr1 += 8\n"
               "r2 = 0\ncall 132\nr0 = 0\nexit")
    out = _outcomes(program, {0: ring.address}, [ring])
    assert out["jit"] == out["interp"]
    assert out["jit"][0] is pybpf.BpfHelperError


@pytest.mark.parametrize("call", ["r2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall 130",
                                  "r2 = 8\nr3 = 0\ncall 131", "r2 = 0\ncall 134"])
def test_ring_helpers_refuse_another_kind_of_map(call):
    """bpf_ringbuf_output/reserve/query given an array map: a helper error naming the
    map's type, in both engines (never an exception from inside the map)."""
    from pybpf.maps import ArrayMap

    array = ArrayMap(4, 8, 1)
    out = _outcomes(f"*(u64 *)(r10 - 8) = 0\nld_pseudo r1, 1, 0\n{call}\nexit",
                    {1: array.address}, [array])
    assert out["jit"] == out["interp"]
    assert out["jit"][0] is pybpf.BpfHelperError and "not a ringbuf" in out["jit"][1]


def test_double_submit_and_wild_pointer_are_the_interpreters_errors():
    from pybpf.maps import RingBufMap

    ring = RingBufMap(0, 0, 4096)
    twice = ("ld_pseudo r1, 1, 0\nr2 = 8\nr3 = 0\ncall 131\nif r0 == 0 goto +6\nr6 = r0\nr1 = r6\n"
             "r2 = 0\ncall 132\nr1 = r6\nr2 = 0\ncall 133\nr0 = 0\nexit")
    out = _outcomes(twice, {0: ring.address}, [ring])
    assert out["jit"] == out["interp"] and out["jit"][0] is pybpf.BpfHelperError
    wild = "r1 = r10\nr1 += -8\nr2 = 0\ncall 132\nexit"
    out = _outcomes(wild, {}, [ring])
    assert out["jit"] == out["interp"] and out["jit"][0] is pybpf.BpfHelperError


def test_output_from_a_bad_pointer_faults_as_in_the_interpreter():
    from pybpf.maps import RingBufMap, ArrayMap

    ring = RingBufMap(0, 0, 4096)
    array = ArrayMap(4, 8, 1)
    for data in ("r2 = 16", "r2 = r10\nr2 += -4"):
        program = f"ld_pseudo r1, 1, 0\n{data}\nr3 = 8\nr4 = 0\ncall 130\nexit"
        out = _outcomes(program, {0: ring.address}, [ring])
        assert out["jit"] == out["interp"]
        assert out["jit"][0] is pybpf.BpfMemoryError
    # a map that is not a ring buffer goes to Python, which refuses it the same way
    program = "ld_pseudo r1, 1, 0\nr2 = r10\nr2 += -8\nr3 = 0\n*(u64 *)(r10 - 8) = r3\nr4 = 0\n" \
              "call 130\nexit"
    out = _outcomes(program, {0: array.address}, [array])
    assert out["jit"] == out["interp"]


def test_output_of_ring_bytes_copies_them_before_reserving():
    """Data inside the ring itself (a sample being output again) reads as Python does."""
    from pybpf.maps import RingBufMap

    results = []
    for cls in jit_support.MACHINES.values():
        ring = RingBufMap(0, 0, 4096)
        program = ("ld_pseudo r1, 1, 0\nr2 = 16\nr3 = 0\ncall 131\nif r0 == 0 goto +16\nr6 = r0\n"
                   "r1 = 0x1122334455667788 ll\n*(u64 *)(r6 + 0) = r1\n*(u64 *)(r6 + 8) = r1\n"
                   "ld_pseudo r1, 1, 0\nr2 = r6\nr3 = 24\nr4 = 0\ncall 130\nr7 = r0\nr1 = r6\nr2 = 0\n"
                   "call 132\nr0 = r7\nexit")
        from pybpf.asm import assemble

        machine = cls(assemble(program), constants={0: ring.address, 11: ring.address})
        ring.attach(machine.memory)
        r0 = machine.run().r0
        seen: list[bytes] = []
        ring.consume_records(seen.append)
        results.append((r0, seen))
    assert results[0] == results[1]


def test_csum_diff_needs_a_program_type_that_has_it():
    """A bare machine (no program type) refuses bpf_csum_diff as the interpreter does,
    also on the second call (the native helper asks Python once per run)."""
    program = "r1 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 7\ncall 28\ncall 28\nexit"
    out = _outcomes(program, {})
    assert out["jit"] == out["interp"] and out["jit"][0] is pybpf.BpfHelperError


CSUM_PROGRAM = """
SEC("tc") int csum(struct __sk_buff *skb)
{
	__u8 a[64], b[64];
	for (int i = 0; i < 64; i++) {
		a[i] = i * 13 + 5;
		b[i] = i * 7 + 200;
	}
	__u32 n = skb->len & 63, m = (skb->len >> 6) & 63;
	__u64 x = bpf_csum_diff((__be32 *)a, n, (__be32 *)b, m, skb->mark);
	__u64 y = bpf_csum_diff((__be32 *)a, 0, (__be32 *)b, m, 0);
	__u64 z = bpf_csum_diff((__be32 *)a, n, (__be32 *)b, 0, ~0u);
	return (x ^ (y << 8) ^ (z << 16)) & 0x7fffffff;
}
"""


LENGTHS = [14, 15, 17, 63, 64, 65, 100, 127, 200, 333, 1000, 2049, 3711]


@pytest.fixture(scope="module")
def csum_elf() -> bytes:
    return pybpf.compile("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n"
                         + CSUM_PROGRAM + 'char LICENSE[] SEC("license") = "GPL";\n')


def _csum_results(elf: bytes, engine: str) -> list[int]:
    with pybpf.load(elf, engine=engine) as obj:
        return [obj.programs["csum"].test_run(data=bytes(i & 0xFF for i in range(n))).retval
                for n in LENGTHS]


def test_csum_diff_every_tail_agrees_with_interpreter(csum_elf):
    """Sizes with every tail (0-3 bytes), both buffers or one (tc program type)."""
    assert _csum_results(csum_elf, "jit") == _csum_results(csum_elf, "interp")


@pytest.mark.kernel
def test_csum_diff_every_tail_agrees_with_kernel(csum_elf):
    assert _csum_results(csum_elf, "jit") == _csum_results(csum_elf, "kernel")
