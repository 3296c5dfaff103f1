"""Random and mutated programs never crash or hang the host: they run or raise BpfError."""

import random

from hypothesis import given, settings, strategies as st

from pybpf.errors import BpfError
from pybpf.isa import FORMS, Instruction, decode, encode
from pybpf.isa.opcodes import Kind
from pybpf.vm import Machine


def run_untrusted(data: bytes) -> None:
    try:
        insns = decode(data)
        Machine(insns, budget=10_000).run(mem=bytes(range(64)))
    except BpfError:
        pass


def random_valid_instruction(rng: random.Random) -> Instruction:
    form = rng.choice(FORMS)
    ops = form.operands
    imm = rng.choice([0, 1, -1, 8, 64, -(1 << 31), (1 << 31) - 1, rng.randrange(-(1 << 31), 1 << 31)])
    if form.kind is Kind.LDDW:
        imm = rng.randrange(1 << 64)
    return Instruction(form.opcode,
                       dst=rng.randrange(11) if "dst" in ops else 0,
                       src=form.src if form.src is not None else (rng.randrange(11) if "src" in ops else 0),
                       off=form.off if form.off is not None else (rng.randrange(-4, 6) if "off" in ops else 0),
                       imm=form.imm if form.imm is not None else (imm if "imm" in ops else 0))


def test_random_valid_programs_run_or_raise_bpf_errors():
    rng = random.Random(7)
    for _ in range(1500):
        insns = [random_valid_instruction(rng) for _ in range(rng.randint(1, 12))]
        run_untrusted(encode(insns))


def test_mutated_programs_run_or_raise_bpf_errors():
    rng = random.Random(11)
    base = encode([random_valid_instruction(rng) for _ in range(16)])
    for _ in range(1500):
        data = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        run_untrusted(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=8, max_size=160).map(lambda b: b[: len(b) // 8 * 8]))
def test_arbitrary_bytes_run_or_raise_bpf_errors(data):
    run_untrusted(data)


def test_large_program_compiles_and_runs():
    from pybpf.isa import Instruction as I
    body = [I.make("add64_imm", dst=0, imm=1) for _ in range(20_000)]
    jumps = [I.make("jeq_imm", dst=0, imm=-1, off=1) for _ in range(2_000)]
    insns = [I.make("mov64_imm", dst=0, imm=0)] + [x for pair in zip(body, jumps) for x in pair] + \
        body[2_000:] + [I.make("exit")]
    assert Machine(insns).run().r0 == 20_000
