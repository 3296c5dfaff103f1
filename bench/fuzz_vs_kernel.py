"""Differential fuzzing: random programs, interpreter against kernel, r0-r9 at exit.

    python bench/fuzz_vs_kernel.py [--count N] [--seed S] [--start I] [--max-insns M]
                                   [--kernel-only]

Program ``i`` comes from ``random.Random(f"{seed}/{i}")``, so ``--seed S --start I
--count 1`` regenerates exactly one program. Prints the number of disagreements and the
programs per second (with the time spent generating, in the kernel and in the
interpreter), shows the first disagreeing program as a listing with its bytes, and exits
1 on any disagreement, 2 when the kernel is not available.
``--kernel-only`` skips the interpreter: it checks that every program loads and measures
the kernel side alone.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from pybpf.kernel import KernelOracle, kernel_available
from pybpf.testing import GenOptions, generate
from pybpf.testing.differential import Disagreement, interpreter_outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="programs (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first program")
    parser.add_argument("--max-insns", type=int, default=GenOptions.max_insns,
                        help="body size budget per program")
    parser.add_argument("--kernel-only", action="store_true",
                        help="load and run in the kernel only (no interpreter)")
    args = parser.parse_args(argv)

    ok, reason = kernel_available()
    if not ok:
        print(f"cannot fuzz against the kernel: {reason}", file=sys.stderr)
        return 2
    options = GenOptions(max_insns=args.max_insns)
    t_gen = t_kernel = t_interp = 0.0
    disagreements = 0
    first: tuple[int, Disagreement] | None = None
    insns_total = 0
    started = time.perf_counter()
    with KernelOracle() as oracle:
        for i in range(args.start, args.start + args.count):
            t0 = time.perf_counter()
            insns = generate(random.Random(f"{args.seed}/{i}"), options)
            t1 = time.perf_counter()
            kernel = oracle.run(insns, capture_regs=True).regs
            t2 = time.perf_counter()
            t_gen += t1 - t0
            t_kernel += t2 - t1
            insns_total += len(insns)
            if args.kernel_only:
                continue
            mine = interpreter_outcome(insns)
            t_interp += time.perf_counter() - t2
            if mine != kernel:
                disagreements += 1
                if first is None:
                    assert kernel is not None
                    first = (i, Disagreement(tuple(insns), mine, kernel))
            done = i - args.start + 1
            if done % 10_000 == 0:
                print(f"  {done} programs, {disagreements} disagreements", flush=True)
    elapsed = time.perf_counter() - started

    n = args.count
    per = (lambda t: f"{t / n * 1e6:.0f} us") if n else (lambda t: "-")
    print(f"programs: {n} (seed {args.seed}, start {args.start}, "
          f"{insns_total / max(n, 1):.1f} instructions on average)")
    if not args.kernel_only:
        print(f"disagreements: {disagreements}")
    print(f"programs/second: {n / elapsed:.0f} "
          f"(per program: generate {per(t_gen)}, kernel {per(t_kernel)}"
          + ("" if args.kernel_only else f", interpreter {per(t_interp)}") + ")")
    if first is not None:
        index, disagreement = first
        print(f"\nfirst disagreement: program {index} "
              f"(reproduce: --seed {args.seed} --start {index} --count 1)")
        print(disagreement.report())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main"]
