"""Corrupt objects: truncated or with flipped bytes in headers, section tables, symbols,
relocations and BTF. open_object may succeed or raise ElfError, nothing else."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from pybpf.elf import open_object
from pybpf.elf.elffile import read_elf
from pybpf.errors import ElfError

DATA = Path(__file__).parent / "data"
FIXTURES = ("progs", "maps", "legacy", "core")


def regions(raw: bytes) -> list[tuple[int, int]]:
    """Interesting byte ranges: ELF header, section table, symtab, REL sections, BTF."""
    elf = read_elf(raw)
    shoff, shnum = struct.unpack_from("<Q", raw, 0x28)[0], struct.unpack_from("<H", raw, 0x3C)[0]
    out = [(0, 64), (shoff, shoff + shnum * 64)]
    for s in elf.sections:
        if s.type in ("SHT_SYMTAB", "SHT_REL") or s.name in (".BTF", ".BTF.ext", ".maps",
                                                               "license", "maps") \
                or s.executable:
            if s.size and not s.nobits:
                out.append((s.offset, s.offset + s.size))
    return out


def mutate(rng: random.Random, raw: bytes, areas: list[tuple[int, int]]) -> bytes:
    data = bytearray(raw)
    choice = rng.random()
    if choice < 0.15:
        return bytes(data[:rng.randrange(len(data))])
    lo, hi = rng.choice(areas)
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        pos = rng.randrange(lo, hi)
        if rng.random() < 0.5:
            data[pos] ^= 1 << rng.randrange(8)
        else:
            data[pos] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(data)


def run_fuzz(iterations: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    originals = {name: (DATA / f"{name}.o").read_bytes() for name in FIXTURES}
    areas = {name: regions(raw) for name, raw in originals.items()}
    outcome = {"ok": 0, "ElfError": 0}
    for i in range(iterations):
        name = FIXTURES[i % len(FIXTURES)]
        data = mutate(rng, originals[name], areas[name])
        try:
            open_object(data)
        except ElfError:
            outcome["ElfError"] += 1
        except Exception as e:  # pragma: no cover - this is the failure being searched for
            raise AssertionError(f"{name}.o mutation #{i} (seed {seed}) raised "
                                 f"{type(e).__name__}: {e}") from e
        else:
            outcome["ok"] += 1
    return outcome


def test_fuzz_only_elf_errors():
    outcome = run_fuzz(1000, seed=1)
    assert outcome["ElfError"] > 100


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 12))
def test_fuzz_only_elf_errors_long(seed):
    run_fuzz(5000, seed=seed)


def test_every_truncation_of_a_small_object():
    raw = (DATA / "legacy.o").read_bytes()
    for cut in range(0, len(raw), 7):
        try:
            open_object(raw[:cut])
        except ElfError:
            pass
