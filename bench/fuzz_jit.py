"""Differential fuzzing: random programs, the interpreter against the JIT.

    python bench/fuzz_jit.py [--count N] [--seed S] [--start I] [--source progen|soup|both]
                             [--max-insns M] [--jobs J] [--budget B]

Program ``i`` comes from ``random.Random(f"{seed}/{source}/{i}")``, so ``--seed S --start I
--count 1`` regenerates exactly one program. ``progen`` programs are verifier-clean (ALU,
stack memory, atomics, branches) and are compared on r0-r10 and memory; ``soup`` programs
are any valid instructions (faults, loops into the budget, wild jumps, r10 writes, calls,
helpers) and are also compared on the error class, index and message (see
pybpf.jit.fuzz). Prints each disagreement (the first few as listings), the count (0 is the
goal), the programs that could not be judged because the interpreter itself depends on
buffer addresses, and programs per second; exits 1 on any disagreement, 2 without
llvmlite. Most of the time goes to compiling: each program is a new one.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor

SHOWN = 5


def run_range(seed: int, source: str, start: int, count: int, max_insns: int,
              budget: int) -> tuple[int, int, list[str]]:
    """Compare programs start..start+count-1; (compared, unstable, reports)."""
    from pybpf.asm.ubpf import disassemble
    from pybpf.jit import backend
    from pybpf.jit.fuzz import compare, soup
    from pybpf.testing import GenOptions, generate

    backend.set_disk_cache(False)       # every program is new: keep them off the disk
    options = GenOptions(max_insns=max_insns)
    unstable = 0
    reports = []
    for i in range(start, start + count):
        rng = random.Random(f"{seed}/{source}/{i}")
        insns = generate(rng, options) if source == "progen" else soup(rng)
        status, interp, jit = compare(insns, budget=budget)
        if status == "unstable":
            unstable += 1
        elif status == "differ":
            listing = "\n".join(f"    {k:3}: {text}" for k, text in enumerate(disassemble(insns)))
            code = b"".join(insn.encode() for insn in insns).hex()
            reports.append(f"{source} program {i} (--seed {seed} --start {i} --count 1 "
                           f"--source {source}):\n  interp: {interp}\n  jit:    {jit}\n"
                           f"{listing}\n  bytes: {code}")
    return count, unstable, reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="programs (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first program")
    parser.add_argument("--source", choices=("progen", "soup", "both"), default="both",
                        help="program generator (both: alternate halves)")
    parser.add_argument("--max-insns", type=int, default=48, help="progen body size budget")
    parser.add_argument("--budget", type=int, default=10_000, help="instruction budget per run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--chunk", type=int, default=500, help="programs per work item")
    args = parser.parse_args(argv)

    from pybpf.jit import jit_available

    ok, reason = jit_available()
    if not ok:
        print(f"cannot fuzz the JIT: {reason}", file=sys.stderr)
        return 2
    sources = ("progen", "soup") if args.source == "both" else (args.source,)
    work = []
    for source in sources:
        count = args.count // len(sources)
        for start in range(args.start, args.start + count, args.chunk):
            n = min(args.chunk, args.start + count - start)
            work.append((args.seed, source, start, n, args.max_insns, args.budget))
    started = time.perf_counter()
    compared = unstable = 0
    reports: list[str] = []
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        futures = [pool.submit(run_range, *item) for item in work]
        for done, future in enumerate(futures, 1):
            n, u, found = future.result()
            compared += n
            unstable += u
            for report in found:
                if len(reports) < SHOWN:
                    print(report, flush=True)
                reports.append(report)
            elapsed = time.perf_counter() - started
            print(f"\r{compared} programs, {len(reports)} disagreements, "
                  f"{compared / elapsed:.0f} programs/s", end="", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    print(f"{compared} programs ({', '.join(sources)}), {len(reports)} disagreements, "
          f"{unstable} not comparable (address-dependent in the interpreter), "
          f"{elapsed:.1f} s, {compared / elapsed:.0f} programs/s with {args.jobs} jobs")
    return 1 if reports else 0


if __name__ == "__main__":
    sys.exit(main())
