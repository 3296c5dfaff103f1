"""pybpf's verifier over the whole corpus against the kernel's recorded decisions.

For each privilege level (root, cap_bpf) every corpus entry is verified and compared with
``kernel.json``: the decision (accept/reject) and, for a rejection the kernel also made,
the first error line (both normalised), and the instructions processed (which show
pruning - precision tracking, checkpoints - working as the kernel's). The counts must not
fall below the floors
written here (measured; raise them when the verifier gets closer to the kernel). The
figures are printed and recorded as test properties (``record_property``) and the
assertion message lists every disagreeing entry.

Entries the kernel itself ran to its complexity limit (``processed`` of a million
instructions or more in ``kernel.json``) take pybpf several seconds each, so they are
checked by a separate ``slow`` test; the default test covers the rest in a few seconds.
"""

from __future__ import annotations

import time

import pytest

import corpus_support as cs

from pybpf.verifier import verify
from pybpf.verifier.globals import global_functions

# Agreement floors over the default (non-heavy) entries: decisions, first error lines.
FLOORS = {
    "root": {"decisions": 510, "messages": 510, "processed": 508},
    "cap_bpf": {"decisions": 511, "messages": 511, "processed": 485},
}
HEAVY_PROCESSED = 1_000_000     # the kernel's BPF_COMPLEXITY_LIMIT_INSNS
MAX_SECONDS_LIGHT = 5.0         # no ordinary entry may take longer than this


def _entries() -> list[cs.CorpusEntry]:
    return list(cs.load_corpus())


def _is_heavy(record: dict, name: str) -> bool:
    rec = record["entries"][name]
    return any((rec[p].get("processed") or 0) >= HEAVY_PROCESSED for p in cs.PRIVILEGES)


def _judge(entry: cs.CorpusEntry, priv: str, kernel: dict) -> dict:
    t0 = time.process_time()
    res = verify(entry.code, log_level=0, priv=priv, prog_type=int(entry.prog_type),
                 attach_type=entry.expected_attach_type, maps=entry.maps,
                 func_info=entry.func_info is not None,
                 global_funcs=global_functions(entry.btf, entry.func_info))
    seconds = time.process_time() - t0
    decision = res.accepted == kernel["accepted"]
    message = decision and (kernel["accepted"] or cs.normalise(res.error) == kernel["error"])
    return {"name": entry.name, "decision": decision, "message": message,
            "processed": res.stats["processed"] == kernel.get("processed"),
            "seconds": seconds, "ours": "accepted" if res.accepted else res.error,
            "kernel": "accepted" if kernel["accepted"] else kernel["error"]}


def _describe(rows: list[dict]) -> str:
    return "\n".join(f"  {r['name']}: pybpf {r['ours']!r}, kernel {r['kernel']!r}"
                     for r in rows)


@pytest.mark.parametrize("priv", cs.PRIVILEGES)
def test_agreement_with_kernel(priv: str, record_property) -> None:
    record = cs.load_kernel_record()
    rows = [_judge(e, priv, record["entries"][e.name][priv]) for e in _entries()
            if not _is_heavy(record, e.name)]
    decisions = sum(r["decision"] for r in rows)
    messages = sum(r["message"] for r in rows)
    processed = sum(r["processed"] for r in rows)
    slowest = sorted(rows, key=lambda r: -r["seconds"])[:3]
    figures = (f"{priv}: {decisions}/{len(rows)} decisions, {messages}/{len(rows)} first "
               f"messages agree with the kernel, {processed}/{len(rows)} processed counts; "
               f"slowest: "
               + ", ".join(f"{r['name']} {r['seconds']:.2f}s" for r in slowest))
    print(figures)
    record_property(f"{priv}_decisions", decisions)
    record_property(f"{priv}_messages", messages)
    record_property(f"{priv}_processed", processed)
    record_property(f"{priv}_entries", len(rows))
    floor = FLOORS[priv]
    wrong = [r for r in rows if not r["decision"]]
    other = [r for r in rows if r["decision"] and not r["message"]]
    assert decisions >= floor["decisions"] and messages >= floor["messages"] and \
        processed >= floor["processed"], (
        f"{figures}\nbelow the floors {floor}.\nDecisions differ:\n{_describe(wrong)}\n"
        f"First error lines differ:\n{_describe(other)}")
    too_slow = [r for r in rows if r["seconds"] > MAX_SECONDS_LIGHT]
    assert not too_slow, "verification too slow: " + ", ".join(
        f"{r['name']} {r['seconds']:.1f}s" for r in too_slow)


def _heavy_params() -> list:
    record = cs.load_kernel_record()
    return [pytest.param(e, p, id=f"{e.name}-{p}") for e in _entries()
            if _is_heavy(record, e.name) for p in cs.PRIVILEGES]


@pytest.mark.slow
@pytest.mark.parametrize("entry,priv", _heavy_params())
def test_heavy_entry_agrees(entry: cs.CorpusEntry, priv: str) -> None:
    """Programs the kernel ran to (or near) its million-instruction limit: pybpf reaches
    the same decision and first error line, in bounded time."""
    kernel = cs.load_kernel_record()["entries"][entry.name][priv]
    row = _judge(entry, priv, kernel)
    assert row["message"], _describe([row])
    assert row["seconds"] < 30, f"{entry.name}: {row['seconds']:.1f}s"


@pytest.mark.parametrize("priv", cs.PRIVILEGES)
def test_rejections_before_the_walk(priv) -> None:
    """What the kernel refuses before it walks a single instruction (processed 0: the
    checks of resolve_pseudo_ldimm64, check_subprogs, check_cfg...), pybpf refuses there
    too, with the kernel's errno."""
    import errno

    record = cs.load_kernel_record()["entries"]
    rows = []
    for entry in _entries():
        kernel = record[entry.name][priv]
        if kernel["accepted"] or kernel.get("processed") != 0:
            continue
        res = verify(entry.code, log_level=0, priv=priv, prog_type=int(entry.prog_type),
                     attach_type=entry.expected_attach_type, maps=entry.maps,
                     func_info=entry.func_info is not None,
                     global_funcs=global_functions(entry.btf, entry.func_info))
        rows.append((entry.name, errno.errorcode.get(res.errno), res.stats["processed"],
                     kernel["errno"]))
    assert len(rows) >= 20
    assert [r for r in rows if r[1:3] != (r[3], 0)] == []
