"""compile_filter against libpcap 1.10.3's recorded output (runs without libpcap)."""

from __future__ import annotations

import collections

import pytest

from pybpf.cbpf.filter import FilterError, compile_filter

import pcapfilter_golden as golden

_DATA = golden.load()
_BY_LINK: dict[str, list[dict]] = collections.defaultdict(list)
for _case in _DATA["cases"]:
    _BY_LINK[_case["linktype"]].append(_case)


def _compile(case: dict):
    try:
        return [list(i) for i in compile_filter(case["expr"], linktype=case["linktype"],
                                                optimize=case["optimize"],
                                                netmask=case["netmask"])]
    except FilterError as e:
        return e.message


@pytest.mark.parametrize("linktype", golden.LINKTYPES)
def test_golden(linktype):
    bad = [(c["expr"], c["optimize"]) for c in _BY_LINK[linktype] if _compile(c) != c["result"]]
    assert not bad, f"{len(bad)} differ from libpcap, e.g. {bad[:5]}"


def test_golden_covers_every_linktype_both_modes():
    for lt in golden.LINKTYPES:
        modes = {c["optimize"] for c in _BY_LINK[lt]}
        assert modes == {True, False}
        assert len(_BY_LINK[lt]) == 2 * len(golden.EXPRESSIONS)
    assert _DATA["libpcap"].startswith("libpcap version 1.10")
