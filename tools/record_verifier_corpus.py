#!/usr/bin/env python3
"""(Re)record tests/verifier/corpus/kernel.json from the running kernel.

Every corpus entry is loaded twice: as root (this process, all capabilities) and as
"cap_bpf" (a child process left with CAP_BPF + CAP_NET_ADMIN only, see
:mod:`pybpf.kernel.privilege`). Per entry and level the record holds what the kernel
said: accepted, errno name, the first error line of the log_level 1 log (through
``pybpf.kernel.programs.parse_verifier_log``, then ids/addresses normalised) and the
instruction it is about, and from the log_level 4 stats ``processed N insns`` and
``verification time N usec``. The data comes from the kernel only, never from pybpf's
verifier.

    sudo .venv/bin/python tools/record_verifier_corpus.py --build   # compile C, record
    .venv/bin/python tools/record_verifier_corpus.py --show [NAME...]   # print, no write
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "verifier"))

import corpus_support as cs  # noqa: E402


def build_c(force: bool = False) -> int:
    """Compile every c/*.c whose .o is missing or older (clang -O2 -g -target bpf)."""
    from pybpf import cc

    built = 0
    for src in sorted((cs.CORPUS_DIR / "c").glob("*.c")):
        obj = src.with_suffix(".o")
        if not force and obj.exists() and obj.stat().st_mtime >= src.stat().st_mtime:
            continue
        data = cc.compile(str(src), ["-I", str(ROOT / "src" / "pybpf" / "include")],
                          cache=False, filename=src.name)
        obj.write_bytes(data)
        built += 1
    return built


def record(entries: list[cs.CorpusEntry]) -> dict:
    from pybpf.kernel.privilege import CapBpfLoader, load_here

    out: dict = {}
    with CapBpfLoader() as child:
        for e in entries:
            req = e.load_request()
            out[e.name] = {"sha256": e.sha256, "category": e.category,
                           "root": cs.decision(load_here(req)),
                           "cap_bpf": cs.decision(child.load(req))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action="store_true", help="compile the C entries first")
    ap.add_argument("--force", action="store_true", help="with --build: rebuild all")
    ap.add_argument("--show", action="store_true", help="print the decisions, write nothing")
    ap.add_argument("names", nargs="*", help="only these entries (with --show)")
    args = ap.parse_args(argv)
    if args.build:
        print(f"compiled {build_c(args.force)} C entries", file=sys.stderr)
    entries = cs.load_corpus()
    names = [e.name for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        sys.exit(f"duplicate entry names: {sorted(dupes)}")
    if args.names:
        entries = [e for e in entries if e.name in args.names or e.category in args.names]
    start = time.monotonic()
    records = record(entries)
    took = time.monotonic() - start
    if args.show:
        for e in entries:
            r = records[e.name]
            for priv in cs.PRIVILEGES:
                d = r[priv]
                verdict = "ACCEPT" if d["accepted"] else f"REJECT {d['errno']}"
                print(f"{e.category:14} {e.name:42} {priv:7} {verdict:14} "
                      f"{d['insn'] if d['insn'] is not None else '':>4} {d['error'] or ''}")
        print(f"{len(entries)} entries in {took:.2f}s", file=sys.stderr)
        return 0
    doc = {
        "kernel": os.uname().release,
        "recorded_by": "tools/record_verifier_corpus.py",
        "privileges": {"root": "all capabilities",
                       "cap_bpf": "CAP_BPF + CAP_NET_ADMIN only"},
        "entries": records,
    }
    cs.KERNEL_JSON.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(records)} entries in {took:.2f}s to {cs.KERNEL_JSON}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
