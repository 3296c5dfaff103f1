"""pybpf's verifier against the kernel's: verification time and processed instructions.

For every program of the verifier corpus (tests/verifier/corpus) and every program of the
example objects (examples/*.c), this measures in the same run

* pybpf: the wall time of ``pybpf.verify`` (log_level 0), the best of up to three runs,
  with a per-program time limit (``--timeout``; reported as a timeout), and its
  ``processed`` count;
* the kernel: its own ``verification time N usec`` and ``processed N insns`` from the
  log_level 4 (BPF_LOG_STATS) log of a live BPF_PROG_LOAD, the best of three loads.

It prints one row per program (name, pybpf ms, kernel us, ratio, processed by each, and
the decisions when they differ), then the median ratio against the goal: within 10x of
the kernel. Without root the kernel columns are skipped, with the reason.

    python bench/verify.py [--corpus-only | --examples-only] [--limit N]
                           [--priv root|cap_bpf|both] [--timeout S] [--quiet]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "verifier"))

GOAL = 10.0
REPEAT = 3
_TIME = re.compile(r"verification time (\d+) usec")
_PROCESSED = re.compile(r"processed (\d+) insns")


@dataclass
class Row:
    name: str
    kind: str                      # asm, raw, c (corpus) or example
    priv: str
    pybpf_ms: float | None = None  # None: timed out or failed
    pybpf_processed: int | None = None
    pybpf_accepted: bool | None = None
    kernel_us: int | None = None
    kernel_processed: int | None = None
    kernel_accepted: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.pybpf_ms is None or self.kernel_us is None:
            return None
        return self.pybpf_ms * 1000 / max(self.kernel_us, 1)


class Timeout(Exception):
    pass


def _expired(signum: int, frame: Any) -> None:
    raise Timeout()


def time_pybpf(fn: Callable[[], Any], limit: float) -> tuple[float | None, Any, str]:
    """(best seconds, last result, note) of up to REPEAT calls of ``fn``, each under
    ``limit`` seconds."""
    best, result = None, None
    old = signal.signal(signal.SIGALRM, _expired)
    try:
        for _ in range(REPEAT):
            signal.setitimer(signal.ITIMER_REAL, limit, 0.25)   # repeats if swallowed
            start = time.perf_counter()
            try:
                result = fn()
            except Timeout:
                return None, None, f"pybpf timeout (> {limit:g} s)"
            except Exception as e:          # a crash of the verifier is a result too
                return None, None, f"pybpf error {type(e).__name__}: {e}"[:80]
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.perf_counter() - start
            best = took if best is None else min(best, took)
            if took > 0.2:                  # slow enough that one run is a fair number
                break
    finally:
        signal.signal(signal.SIGALRM, old)
    return best, result, ""


def _stats(log: str) -> tuple[int | None, int | None]:
    t, p = _TIME.search(log or ""), _PROCESSED.search(log or "")
    return (int(t.group(1)) if t else None, int(p.group(1)) if p else None)


# --- the corpus ---------------------------------------------------------------------------

def corpus_rows(privs: list[str], limit: int | None, timeout: float, kernel: bool,
                progress: Callable[[Row], None]) -> list[Row]:
    import corpus_support as cs

    import pybpf
    from pybpf.verifier import verify

    entries = cs.load_corpus()[:limit] if limit else cs.load_corpus()
    child = None
    if kernel and "cap_bpf" in privs:
        from pybpf.kernel.privilege import CapBpfLoader

        child = CapBpfLoader().__enter__()
    rows = []
    try:
        for e in entries:
            for priv in privs:
                row = Row(e.name, e.source_kind, priv)
                if e.source_kind == "c":
                    spec = pybpf.open(e.path.with_suffix(".o"))

                    def run(spec: Any = spec, priv: str = priv) -> Any:
                        return next(iter(verify(spec, log_level=0, priv=priv).values()))
                else:
                    # (the entry's instructions are encoded once, outside the timing)
                    def run(e: Any = e, priv: str = priv, code: bytes = e.code) -> Any:
                        return verify(code, log_level=0, priv=priv, prog_type=e.prog_type,
                                      attach_type=e.expected_attach_type, maps=e.maps)
                _pybpf(row, run, timeout)
                if kernel:
                    _kernel_corpus(row, e, priv, child)
                rows.append(row)
                progress(row)
    finally:
        if child is not None:
            child.__exit__(None, None, None)
    return rows


def _pybpf(row: Row, run: Callable[[], Any], timeout: float) -> None:
    took, res, note = time_pybpf(run, timeout)
    row.note = note
    if took is not None and res is not None:
        row.pybpf_ms = took * 1000
        row.pybpf_processed = res.stats.get("processed")
        row.pybpf_accepted = res.accepted


def _kernel_corpus(row: Row, e: Any, priv: str, child: Any) -> None:
    from pybpf.kernel.privilege import load_here

    req = e.load_request(trace_log=False)
    best = None
    for _ in range(REPEAT):
        res = load_here(req) if priv == "root" else child.load(req)
        usec, processed = _stats(res.stats_log)
        row.kernel_accepted, row.kernel_processed = res.accepted, processed
        if usec is None:            # refused before the verifier ran
            break
        best = usec if best is None else min(best, usec)
    row.kernel_us = best


# --- the examples -------------------------------------------------------------------------

def example_rows(limit: int | None, timeout: float, kernel: bool,
                 progress: Callable[[Row], None]) -> list[Row]:
    import pybpf
    from pybpf.verifier import verify

    rows = []
    for path in sorted((ROOT / "examples").glob("*.c")):
        try:
            spec = pybpf.open(str(path))
        except Exception as e:
            rows.append(Row(path.stem, "example", "root", note=f"does not build: {e}"[:80]))
            continue
        kstats = _kernel_example(spec) if kernel else {}
        for name, prog in spec.programs.items():
            if limit is not None and len(rows) >= limit:
                return rows
            row = Row(f"{path.stem}:{name}", "example", "root")
            one = dataclasses.replace(spec, programs={name: prog})
            _pybpf(row, lambda one=one: next(iter(verify(one, log_level=0).values())), timeout)
            if name in kstats:
                row.kernel_us, row.kernel_processed, row.kernel_accepted = kstats[name]
            elif kernel:
                row.note = (row.note + " " + kstats.get("", "")).strip()
            rows.append(row)
            progress(row)
    return rows


def _kernel_example(spec: Any) -> dict:
    """{program: (best verification usec, processed, accepted)} from loading the whole
    object into the kernel REPEAT times at log_level 4; {"": reason} if it would not load."""
    out: dict = {}
    for _ in range(REPEAT):
        try:
            obj = spec.load(engine="kernel", log_level=4)
        except Exception as e:
            return {"": f"kernel load failed: {type(e).__name__}: {e}"[:100]}
        with obj:
            for name, prog in obj.programs.items():
                usec, processed = _stats(prog.verifier_log)
                if usec is None:
                    continue
                old = out.get(name)
                out[name] = (usec if old is None else min(old[0], usec), processed, True)
    return out


# --- output -------------------------------------------------------------------------------

HEADER = (f"{'program':44} {'kind':7} {'priv':7} {'pybpf ms':>9} {'kernel us':>9} "
          f"{'ratio':>7} {'insns pybpf':>11} {'insns kernel':>12}  note")


def fmt(row: Row, kernel: bool) -> str:
    ms = f"{row.pybpf_ms:9.2f}" if row.pybpf_ms is not None else f"{'-':>9}"
    us = f"{row.kernel_us:9d}" if row.kernel_us is not None else f"{'-':>9}"
    ratio = f"{row.ratio:6.1f}x" if row.ratio is not None else f"{'-':>7}"
    pp = f"{row.pybpf_processed:11d}" if row.pybpf_processed is not None else f"{'-':>11}"
    kp = f"{row.kernel_processed:12d}" if row.kernel_processed is not None else f"{'-':>12}"
    note = row.note
    if kernel and None not in (row.pybpf_accepted, row.kernel_accepted) \
            and row.pybpf_accepted != row.kernel_accepted:
        note = (f"decisions differ: pybpf {'accepts' if row.pybpf_accepted else 'rejects'}, "
                f"kernel {'accepts' if row.kernel_accepted else 'rejects'} {note}").strip()
    if not kernel:
        us, ratio, kp = f"{'':>9}", f"{'':>7}", f"{'':>12}"
    return f"{row.name[:44]:44} {row.kind:7} {row.priv:7} {ms} {us} {ratio} {pp} {kp}  {note}"


def summary(rows: list[Row], kernel: bool) -> None:
    timed = [r for r in rows if r.pybpf_ms is not None]
    timeouts = [r for r in rows if "timeout" in r.note]
    errors = [r for r in rows if "pybpf error" in r.note]
    print(f"\n{len(rows)} programs: {len(timed)} verified by pybpf, {len(timeouts)} timeouts, "
          f"{len(errors)} errors; pybpf total {sum(r.pybpf_ms for r in timed) / 1000:.2f} s")
    if timeouts:
        print("  timeouts: " + ", ".join(f"{r.name} [{r.priv}]" for r in timeouts))
    if not kernel:
        return
    both = [r for r in rows if r.ratio is not None]
    if not both:
        print("no program timed by both verifiers")
        return
    ratios = sorted(r.ratio for r in both)
    med = statistics.median(ratios)
    within = sum(x <= GOAL for x in ratios)
    geo = statistics.geometric_mean(ratios)
    print(f"pybpf time / kernel time over {len(both)} programs: median {med:.1f}x, "
          f"geometric mean {geo:.1f}x, 90th percentile "
          f"{ratios[int(0.9 * (len(ratios) - 1))]:.1f}x, max {ratios[-1]:.1f}x")
    print(f"  {within} of {len(both)} within {GOAL:g}x of the kernel; goal (median within "
          f"{GOAL:g}x): {'met' if med <= GOAL else 'NOT met'}")
    for kind in sorted({r.kind for r in both}):
        sub = [r.ratio for r in both if r.kind == kind]
        print(f"  {kind:8} {len(sub):4} programs, median {statistics.median(sub):.1f}x")
    differ = [r for r in both if r.pybpf_accepted != r.kernel_accepted]
    same_count = [r for r in both if r.pybpf_processed == r.kernel_processed]
    print(f"  decisions differ on {len(differ)}; processed counts equal on "
          f"{len(same_count)} of {len(both)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--corpus-only", action="store_true")
    which.add_argument("--examples-only", action="store_true")
    parser.add_argument("--limit", type=int, default=None,
                        help="at most N corpus entries (and N example programs)")
    parser.add_argument("--priv", choices=("root", "cap_bpf", "both"), default="root",
                        help="privilege of the corpus runs (default root)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds per pybpf verification before it counts as a timeout")
    parser.add_argument("--quiet", action="store_true", help="summary only, no table")
    args = parser.parse_args(argv)

    kernel = os.geteuid() == 0
    if kernel:
        from pybpf.kernel import kernel_available

        ok, reason = kernel_available()
        if not ok:
            kernel = False
            print(f"kernel columns skipped: {reason}")
    else:
        print("kernel columns skipped: not root (BPF_PROG_LOAD needs CAP_BPF and more)")
    privs = ["root", "cap_bpf"] if args.priv == "both" else [args.priv]

    if not args.quiet:
        print(HEADER)

    def progress(row: Row) -> None:
        if not args.quiet:
            print(fmt(row, kernel), flush=True)

    rows: list[Row] = []
    if not args.examples_only:
        rows += corpus_rows(privs, args.limit, args.timeout, kernel, progress)
    if not args.corpus_only:
        rows += example_rows(args.limit, args.timeout, kernel, progress)
    summary(rows, kernel)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main"]
