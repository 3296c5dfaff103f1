"""Soundness check: a program the verifier accepts must never fault in the interpreter.

:func:`check` takes one :class:`~pybpf.testing.verifier_fuzz.FuzzProgram`, asks pybpf's
verifier, and when it accepts runs the program in the interpreter on several inputs:
packets of random lengths (the short ones and the lengths around each ``data + N``
check included), random map contents, and the input bytes the generator says drive an
offset to its extremes. Any error from a run other than normal completion is a *fault*.

The runs are stricter than a plain ``test_run``: during each run the packet region is
narrowed to exactly ``[data_meta, data_end)`` and each array/hash map's value storage is
cut into one region per element of exactly ``value_size`` bytes, so a read past the end
of the packet or of a map value faults even where the interpreter's buffers have
headroom, tailroom or padding there.

:func:`kernel_decision` loads the same program into the running kernel (as root here, or
through a CAP_BPF-only child for ``priv="cap_bpf"``) for the agreement rate.
"""

from __future__ import annotations

import ctypes
import random
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from pybpf.isa import Instruction
from pybpf.isa.uapi import MapType
from pybpf.testing.verifier_fuzz import FuzzProgram
from pybpf.vm.memory import Region

BUDGET = 200_000
EDGE_BYTES = (0, 1, 0x7F, 0x80, 0xFF, 0xFE)


class VerifyTimeout(Exception):
    """pybpf's verifier took longer than the time limit on one program."""


@dataclass
class Outcome:
    """What happened to one program."""

    program: FuzzProgram
    accepted: bool | None             # None: the verifier timed out
    error: str | None = None          # the verifier's first error line
    faults: list[str] = field(default_factory=list)
    runs: int = 0
    insns: list[Instruction] = field(default_factory=list)

    def report(self, title: str = "") -> str:
        lines = [title] if title else []
        lines += [f"  fault: {f}" for f in self.faults[:3]]
        lines.append(self.program.header() + self.program.text)
        return "\n".join(lines)


def assemble(fp: FuzzProgram) -> list[Instruction]:
    from pybpf.asm import assemble as _assemble

    return _assemble(fp.text, syntax="llvm")


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`VerifyTimeout` in the block after ``seconds`` (main thread only;
    no limit where SIGALRM cannot be used)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise VerifyTimeout(f"no decision in {seconds} s")

    try:
        old = signal.signal(signal.SIGALRM, expired)
    except ValueError:        # not the main thread
        yield
        return
    # The timer repeats: a raise that lands in a finaliser or weakref callback is
    # swallowed by Python ("Exception ignored"), so it must come again.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.25)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check(fp: FuzzProgram, seed: Any = 0, inputs: int = 4, verify_limit: float = 5.0) -> Outcome:
    """Verify ``fp``; if accepted, run it on ``inputs`` random inputs plus the generator's
    extreme ones and collect every fault."""
    from pybpf.verifier import verify

    insns = assemble(fp)
    try:
        with time_limit(verify_limit):
            res = verify(insns, log_level=0, priv=fp.priv, prog_type=fp.prog_type,
                         maps=fp.maps)
    except VerifyTimeout:
        return Outcome(fp, None, "pybpf verifier timeout", insns=insns)
    out = Outcome(fp, res.accepted, res.error, insns=insns)
    if res.accepted:
        run_inputs(out, random.Random(f"inputs/{seed}"), inputs)
    return out


# --- running ------------------------------------------------------------------------------

def object_spec(fp: FuzzProgram, insns: list[Instruction]) -> Any:
    """An ObjectSpec with the program's maps named m0, m1... and its map lddws
    (BPF_PSEUDO_MAP_IDX[_VALUE], src 5/6) turned into references to them."""
    from pybpf.elf.spec import MapSpec, ObjectSpec, ProgramSpec

    maps = {f"m{i}": MapSpec(f"m{i}", int(MapType[m["type"].upper()]), m["key_size"],
                             m["value_size"], m["max_entries"])
            for i, m in enumerate(fp.maps)}
    code = []
    for insn in insns:
        if insn.opcode == 0x18 and insn.src in (5, 6):
            index = insn.imm & 0xFFFFFFFF
            insn = insn.with_meta(src=1 if insn.src == 5 else 2, reference=f"m{index}",
                                  imm=insn.imm & ~0xFFFFFFFF)
        code.append(insn)
    prog = ProgramSpec("prog", fp.prog_type.name.lower(), int(fp.prog_type), code)
    return ObjectSpec({"prog": prog}, maps)


def run_inputs(out: Outcome, rng: random.Random, count: int) -> None:
    """Run ``out.program`` on random and extreme inputs; faults go to ``out.faults``."""
    from pybpf.env import Env

    fp = out.program
    try:
        env = Env(seed=rng.randrange(1 << 30))
        obj = object_spec(fp, out.insns).load(engine="interp", env=env, budget=BUDGET)
    except Exception as e:      # accepted but not loadable: worth a look too
        out.faults.append(f"load failed: {type(e).__name__}: {e}")
        return
    runner = obj.programs["prog"].runner
    # (pokes, packet length or None): random inputs, then each packet length that just
    # passes a data + N check, then each extreme input byte
    plans: list[tuple[list[tuple], int | None]] = [([], None) for _ in range(count)]
    plans += [([], fp.pkt_base + n) for n in fp.pkt_lens[:8] if fp.pkt_base + n >= 14]
    plans += [([poke], None) for poke in fp.pokes[:12]]
    for plan, length in plans:
        data = _packet(fp, rng, plan, length)
        _fill_maps(obj, fp, rng, plan)
        out.runs += 1
        fault = run_once(runner, obj, data)
        if fault:
            pokes = f" with {plan}" if plan else ""
            shown = data[:32].hex() + ("..." if len(data) > 32 else "")
            out.faults.append(f"{fault} [packet of {len(data)} bytes{pokes}: {shown}]")
            break
    obj.close()


def _packet(fp: FuzzProgram, rng: random.Random, plan: list[tuple],
            length: int | None = None) -> bytes:
    lens = [14, 15, 20, 34, 54, 60, 64, 128, 256, 600] + [fp.pkt_base + n for n in fp.pkt_lens]
    n = max(14, rng.choice(lens) + rng.choice((0, 0, 0, -1, 1, rng.randint(0, 40))))
    need = [fp.pkt_base + src[1] + 1 for src, _ in plan if src[0] == "pkt"]
    if need:
        n = max(n, max(need) + rng.randint(0, 64))
    if length is not None:
        n = length
    n = min(n, 1500)
    data = bytearray(rng.choice(EDGE_BYTES) if rng.random() < 0.3 else rng.getrandbits(8)
                     for _ in range(n))
    for src, value in plan:
        if src[0] == "pkt" and fp.pkt_base + src[1] < len(data):
            data[fp.pkt_base + src[1]] = value
    return bytes(data)


def _fill_maps(obj: Any, fp: FuzzProgram, rng: random.Random, plan: list[tuple]) -> None:
    for i, spec in enumerate(fp.maps):
        m = obj.maps[f"m{i}"]
        ks, vs, n = spec["key_size"], spec["value_size"], spec["max_entries"]
        if spec["type"] == "hash":
            for key in list(m.keys()):
                m.delete(key)
        for k in range(n + 1):
            if spec["type"] == "array" and k >= n:
                break
            if spec["type"] == "hash" and rng.random() < 0.3:
                continue
            value = bytearray(rng.getrandbits(8) for _ in range(vs))
            for src, byte in plan:
                if src[0] == "map" and src[1] == i and src[2] == k and src[3] < vs:
                    value[src[3]] = byte
            try:
                m.update(k.to_bytes(ks, "little"), bytes(value))
            except OSError:     # a full hash map
                pass


def run_once(runner: Any, obj: Any, data: bytes) -> str | None:
    """One strict run (see the module doc): None, or the fault as text."""
    from pybpf.errors import BpfError

    machine, env = runner.machine, obj.env
    try:
        inv = runner.program_type.prepare(machine.memory, env, data, None, data_size_out=None)
    except BpfError:
        return None           # input refused by test_run's rules: not a run
    call = machine.call
    call.ctx, call.cpu, call.env, call.runtime = inv.ctx, env.cpu, env, obj
    try:
        with _strict(machine.memory, inv.ctx, obj.maps.values()):
            result = machine.run(*inv.args, packet=inv.packet)
        inv.finish(result.r0)
    except BpfError as e:
        return f"{type(e).__name__}: {e}"
    except Exception as e:    # the interpreter itself broke
        return f"interpreter crash {type(e).__name__}: {e}"
    finally:
        call.ctx = None
        inv.close()
    return None


@contextmanager
def _strict(memory: Any, state: Any, maps: Any) -> Iterator[None]:
    swaps: list[tuple[Region, list[Region]]] = []
    buf = getattr(state, "buf", None)
    if buf is not None:
        if getattr(state, "kind", "") == "xdp":
            start, end = state.data_meta, state.data_end
        else:
            start, end = buf.data, buf.tail
        swaps.append((buf.region, [_view(buf.region, start, end - start)]))
    for m in maps:
        stride = _stride(m)
        if stride is None:
            continue
        for region in m.regions:
            if region.kind == "map_value":
                swaps.append((region, [_view(region, o, m.value_size)
                                       for o in range(0, region.size - m.value_size + 1,
                                                      stride)]))
    for whole, parts in swaps:
        memory.remove(whole)
        for part in parts:
            memory.add(part)
    try:
        yield
    finally:
        for whole, parts in swaps:
            for part in parts:
                memory.remove(part)
            memory.add(whole)


def _view(region: Region, offset: int, size: int) -> Region:
    buffer = (ctypes.c_ubyte * max(size, 1)).from_buffer(region.buffer, offset)
    part = Region(f"{region.name}[{offset}:{offset + size}]", buffer,
                  writable=region.writable, kind=region.kind)
    if size == 0:        # an empty packet: nothing is addressable
        part.size, part.end = 0, part.address
    return part


def _stride(m: Any) -> int | None:
    t = getattr(m, "map_type", None)
    if t == MapType.ARRAY and not getattr(m, "percpu", False):
        return m.stride
    if t == MapType.HASH:
        return m._stride
    return None


# --- the kernel ---------------------------------------------------------------------------

def load_request(fp: FuzzProgram, insns: list[Instruction]) -> Any:
    from pybpf.isa import encode
    from pybpf.kernel.privilege import LoadRequest

    return LoadRequest(int(fp.prog_type), encode(insns), list(fp.maps), trace_log=True)


def kernel_decision(fp: FuzzProgram, insns: list[Instruction],
                    child: Any = None) -> tuple[bool, str | None]:
    """(accepted, first error line) from the running kernel; ``child`` is a
    :class:`pybpf.kernel.privilege.CapBpfLoader` for ``priv="cap_bpf"`` programs."""
    from pybpf.kernel.privilege import load_here
    from pybpf.kernel.programs import parse_verifier_log

    req = load_request(fp, insns)
    if fp.priv == "cap_bpf":
        if child is None:
            raise ValueError("a cap_bpf program needs the CAP_BPF child loader")
        res = child.load(req)
    else:
        res = load_here(req)
    if res.accepted:
        return True, None
    error = parse_verifier_log(res.trace_log)[0] or parse_verifier_log(res.stats_log)[0]
    return False, error or res.errno


__all__ = ["BUDGET", "Outcome", "VerifyTimeout", "assemble", "check", "kernel_decision",
           "load_request", "object_spec", "run_inputs", "run_once", "time_limit"]
