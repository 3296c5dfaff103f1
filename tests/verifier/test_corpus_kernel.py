"""The verifier corpus against the kernel.

* ``test_corpus_well_formed`` (no kernel needed): the corpus loads, has at least 300
  entries covering every category with accepted and rejected programs, and
  ``kernel.json`` records both privilege levels for exactly the bytecode in the corpus.
* ``test_corpus_decisions_live`` (``kernel``): every entry is loaded again at both
  levels - root in this process, cap_bpf in one long-lived child with CAP_BPF +
  CAP_NET_ADMIN only - and the kernel must still give the recorded accept/reject, errno
  and first error line (normalised: ids, fds, kernel addresses).
* ``test_cap_bpf_drop_takes_effect`` (``kernel``): the child really lost its
  capabilities: a pointer leak accepted as root is refused there.

Re-record with ``tools/record_verifier_corpus.py`` after changing the corpus.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

import corpus_support as cs

MIN_ENTRIES = 300
RECORD_KEYS = {"accepted", "errno", "error", "insn", "processed", "verification_time_usec"}


@pytest.fixture(scope="module")
def corpus() -> list[cs.CorpusEntry]:
    return cs.load_corpus()


@pytest.fixture(scope="module")
def record() -> dict:
    return cs.load_kernel_record()


def test_corpus_well_formed(corpus, record):
    names = [e.name for e in corpus]
    assert len(names) >= MIN_ENTRIES, f"only {len(names)} corpus entries"
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    assert not dupes, f"duplicate entry names: {dupes}"
    entries = record["entries"]
    assert set(entries) == set(names), (
        f"kernel.json out of date (re-run tools/record_verifier_corpus.py): missing "
        f"{sorted(set(names) - set(entries))[:10]}, stale {sorted(set(entries) - set(names))[:10]}")
    problems = []
    for e in corpus:
        if e.category not in cs.CATEGORIES:
            problems.append(f"{e.name}: unknown category {e.category!r}")
        if not e.description:
            problems.append(f"{e.name}: no description")
        if not e.code or len(e.code) % 8:
            problems.append(f"{e.name}: bytecode of {len(e.code)} bytes")
        rec = entries[e.name]
        if rec["sha256"] != e.sha256:
            problems.append(f"{e.name}: the bytecode changed since it was recorded")
        for priv in cs.PRIVILEGES:
            d = rec.get(priv)
            if d is None or set(d) != RECORD_KEYS:
                problems.append(f"{e.name}: no complete {priv} record")
            elif d["accepted"] != (d["errno"] is None):
                problems.append(f"{e.name}: {priv}: accepted={d['accepted']} errno={d['errno']}")
            elif not d["accepted"] and d["errno"] != "EPERM" and not d["error"]:
                problems.append(f"{e.name}: {priv}: rejected with no error line")
    assert not problems, "\n".join(problems)

    # every category has accepted and rejected programs (root), and cap_bpf differs somewhere
    by_cat = Counter((e.category, entries[e.name]["root"]["accepted"]) for e in corpus)
    for cat in cs.CATEGORIES:
        if cat == "privilege":     # accepted as root by design; rejected as cap_bpf
            assert by_cat[(cat, True)] and any(
                not entries[e.name]["cap_bpf"]["accepted"] for e in corpus
                if e.category == cat), cat
            continue
        assert by_cat[(cat, True)] and by_cat[(cat, False)], (
            f"category {cat}: {by_cat[(cat, True)]} accepted, {by_cat[(cat, False)]} rejected")
    accepted = sum(entries[n]["root"]["accepted"] for n in names)
    assert 0.35 <= accepted / len(names) <= 0.65, f"{accepted}/{len(names)} accepted as root"
    kinds = Counter(e.source_kind for e in corpus)
    assert kinds["asm"] and kinds["c"] and kinds["raw"], kinds


def _same_kernel(record: dict) -> bool:
    mine = os.uname().release.split(".")[:2]
    return record["kernel"].split(".")[:2] == mine


@pytest.mark.kernel
def test_corpus_decisions_live(corpus, record):
    from pybpf.kernel.privilege import CapBpfLoader, load_here

    if not _same_kernel(record):
        pytest.skip(f"recorded on {record['kernel']}, running {os.uname().release}: "
                    "re-record with tools/record_verifier_corpus.py")
    entries = record["entries"]
    mismatches = []
    with CapBpfLoader() as child:
        for e in corpus:
            req = e.load_request()
            for priv, result in (("root", load_here(req)), ("cap_bpf", child.load(req))):
                got = cs.decision(result)
                want = entries[e.name][priv]
                for key in ("accepted", "errno", "error"):
                    if got[key] != want[key]:
                        mismatches.append(f"{e.name} [{priv}] {key}: kernel now says "
                                          f"{got[key]!r}, recorded {want[key]!r}")
    assert not mismatches, f"{len(mismatches)} differences:\n" + "\n".join(mismatches)


LEAK = """
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
*(u64 *)(r0 + 0) = r10
out:
r0 = 0
exit
"""


@pytest.mark.kernel
def test_cap_bpf_drop_takes_effect():
    from pybpf.asm import assemble
    from pybpf.isa import encode
    from pybpf.kernel.privilege import (CAP_BPF, CAP_NET_ADMIN, CapBpfLoader, LoadRequest,
                                        load_as)

    req = LoadRequest(1, encode(assemble(LEAK)),
                      [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}])
    assert load_as("root", req)[:2] == (True, None)
    accepted, err, log = load_as("cap_bpf", req)
    assert (accepted, err) == (False, "EACCES")
    assert "R10 leaks addr into map" in log
    with CapBpfLoader() as child:
        assert child.caps == (1 << CAP_BPF) | (1 << CAP_NET_ADMIN)
