"""Soundness fuzzing of pybpf's verifier: what it accepts must never fault in the interpreter.

    python bench/fuzz_verify.py [--count N] [--seed S] [--start I] [--kernel-sample K]
                                [--jobs J] [--inputs R] [--verify-limit SECONDS]

Program ``i`` is ``pybpf.testing.verifier_fuzz.generate(f"{seed}/{i}")`` (structured
programs for socket_filter, xdp and sched_cls, most of them acceptable, some wrong on
purpose); ``--seed S --start I --count 1`` regenerates exactly one. Every program pybpf's
verifier accepts runs in the interpreter on R random inputs plus the generator's extreme
ones, with packet and map value regions cut to their exact size
(:mod:`pybpf.testing.soundness`); any fault is an unsound acceptance and is printed as
assembly with the seed to reproduce it.

``--kernel-sample K`` also loads K of the programs (spread evenly) into the running kernel
at the same privilege (root here, CAP_BPF-only in a child) and reports how often the two
verifiers agree, listing the disagreements (pybpf accepting what the kernel rejects
first). Prints programs/s, the accepted count, timeouts (pybpf's verifier given up on
after ``--verify-limit`` seconds) and faults; exits 1 on any fault.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

SHOWN = 5


def run_range(seed: int, start: int, count: int, inputs: int, limit: float,
              sample: frozenset[int]) -> dict:
    """Check programs start..start+count-1 (in a worker process)."""
    from pybpf.testing.soundness import check
    from pybpf.testing.verifier_fuzz import generate

    out: dict = {"n": 0, "accepted": 0, "timeouts": [], "faults": [], "runs": 0,
                 "by_type": Counter(), "decisions": {}}
    for i in range(start, start + count):
        fp = generate(f"{seed}/{i}")
        o = check(fp, seed=f"{seed}/{i}", inputs=inputs, verify_limit=limit)
        out["n"] += 1
        out["runs"] += o.runs
        out["by_type"][(fp.prog_type.name.lower(), fp.priv, bool(o.accepted))] += 1
        if o.accepted is None:
            out["timeouts"].append(i)
        elif o.accepted:
            out["accepted"] += 1
        if o.faults:
            out["faults"].append((i, o.report(f"program {i} (--seed {seed} --start {i} "
                                               f"--count 1), {fp.prog_type.name.lower()}, "
                                               f"{fp.priv}:")))
        if i in sample:
            out["decisions"][i] = (o.accepted, o.error)
    return out


def kernel_compare(seed: int, decisions: dict[int, tuple]) -> None:
    """Load the sampled programs into the kernel and print the agreement."""
    from pybpf.kernel import kernel_available
    from pybpf.kernel.privilege import CapBpfLoader
    from pybpf.testing.soundness import assemble, kernel_decision
    from pybpf.testing.verifier_fuzz import generate

    ok, reason = kernel_available()
    if not ok or os.geteuid() != 0:
        print(f"kernel comparison skipped: {reason if not ok else 'not root'}")
        return
    tally: Counter = Counter()
    examples: dict[str, list[str]] = {}
    started = time.perf_counter()
    with CapBpfLoader() as child:
        for i, (mine, error) in sorted(decisions.items()):
            fp = generate(f"{seed}/{i}")
            theirs, kerror = kernel_decision(fp, assemble(fp), child)
            if mine is None:
                key = "pybpf timeout, kernel " + ("accepts" if theirs else "rejects")
            elif mine == theirs:
                key = "agree: both " + ("accept" if mine else "reject")
            elif mine:
                key = "DISAGREE: pybpf accepts, kernel rejects"
            else:
                key = "disagree: pybpf rejects, kernel accepts"
            tally[key] += 1
            if not key.startswith("agree"):
                examples.setdefault(key, []).append(
                    f"  program {i} ({fp.prog_type.name.lower()}, {fp.priv}): pybpf: "
                    f"{error or 'accept'} | kernel: {kerror or 'accept'}")
    n = sum(tally.values())
    agree = tally["agree: both accept"] + tally["agree: both reject"]
    print(f"\nkernel sample: {n} programs in {time.perf_counter() - started:.1f} s, "
          f"decisions agree on {agree} ({100 * agree / max(n, 1):.1f}%)")
    for key, c in sorted(tally.items()):
        print(f"  {c:6}  {key}")
    for key, lines in sorted(examples.items()):
        print(f"{key} (first {min(len(lines), 10)} of {len(lines)}):")
        print("\n".join(lines[:10]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="programs (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first program")
    parser.add_argument("--kernel-sample", type=int, default=0, metavar="K",
                        help="also ask the kernel about K programs")
    parser.add_argument("--inputs", type=int, default=4, help="random inputs per program")
    parser.add_argument("--verify-limit", type=float, default=5.0,
                        help="seconds before pybpf's verifier is given up on (0: none)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="worker processes (default: one per CPU)")
    parser.add_argument("--chunk", type=int, default=250, help="programs per work item")
    args = parser.parse_args(argv)

    sample: frozenset[int] = frozenset()
    if args.kernel_sample > 0:
        step = max(args.count / args.kernel_sample, 1.0)
        sample = frozenset(args.start + int(k * step)
                           for k in range(min(args.kernel_sample, args.count)))
    work = []
    for start in range(args.start, args.start + args.count, args.chunk):
        n = min(args.chunk, args.start + args.count - start)
        work.append((args.seed, start, n, args.inputs, args.verify_limit,
                     frozenset(i for i in sample if start <= i < start + n)))
    started = time.perf_counter()
    total = {"n": 0, "accepted": 0, "timeouts": [], "faults": [], "runs": 0,
             "by_type": Counter(), "decisions": {}}
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        for part in pool.map(run_range, *zip(*work)):
            for key in ("n", "accepted", "runs"):
                total[key] += part[key]
            total["timeouts"] += part["timeouts"]
            total["by_type"].update(part["by_type"])
            total["decisions"].update(part["decisions"])
            for index, report in part["faults"]:
                if len(total["faults"]) < SHOWN:
                    print(report, flush=True)
                total["faults"].append(index)
            elapsed = time.perf_counter() - started
            print(f"\r{total['n']} programs, {total['accepted']} accepted, "
                  f"{len(total['faults'])} faults, {total['n'] / elapsed:.0f} programs/s",
                  end="", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    n = total["n"]
    print(f"programs: {n} (seed {args.seed}, start {args.start}), {elapsed:.1f} s, "
          f"{n / elapsed:.0f} programs/s with {args.jobs} jobs")
    print(f"accepted: {total['accepted']} ({100 * total['accepted'] / max(n, 1):.1f}%), "
          f"interpreter runs of accepted programs: {total['runs']}")
    by_type = total["by_type"]
    for pt in sorted({k[0] for k in by_type}):
        for priv in ("root", "cap_bpf"):
            a, r = by_type[(pt, priv, True)], by_type[(pt, priv, False)]
            print(f"  {pt:14} {priv:8} {a:7} accepted {r:7} rejected or timed out")
    timeouts = total["timeouts"]
    print(f"pybpf verifier timeouts (> {args.verify_limit} s): {len(timeouts)}"
          + (f" (programs {', '.join(map(str, timeouts[:10]))}"
             f"{', ...' if len(timeouts) > 10 else ''})" if timeouts else ""))
    faults = total["faults"]
    print(f"faults: {len(faults)}" + (f" (programs {', '.join(map(str, faults[:20]))})"
                                      if faults else ""))
    if sample:
        kernel_compare(args.seed, total["decisions"])
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main"]
