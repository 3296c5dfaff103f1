"""Feature probes agree with ``bpftool feature probe kernel`` on program and map types."""

from __future__ import annotations

import pytest

from pybpf.isa.uapi import HelperId, ProgType
from pybpf.kernel import feature

from .conftest import bpftool

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def report():
    return feature.report()


@pytest.mark.parametrize("section", ["program_types", "map_types"])
def test_types_agree_with_bpftool(report, section):
    theirs = bpftool("feature", "probe", "kernel")[section]
    common = set(theirs) & set(report[section])
    assert len(common) >= 25
    assert {k: report[section][k] for k in common} == {k: theirs[k] for k in common}


def test_helpers_per_program_type(report):
    # bpftool 7.1 looks for verifier messages 6.x no longer prints, so it lists every
    # helper for every type; check known facts instead.
    xdp = set(feature.helpers(ProgType.XDP))
    sock = set(feature.helpers(ProgType.SOCKET_FILTER))
    assert HelperId.map_lookup_elem in xdp and HelperId.map_lookup_elem in sock
    assert HelperId.xdp_adjust_head in xdp and HelperId.xdp_adjust_head not in sock
    assert HelperId.skb_load_bytes in sock and HelperId.skb_load_bytes not in xdp
    assert "bpf_xdp_adjust_head" in report["helpers"]["xdp_available_helpers"]
    assert report["helpers"]["socket_filter_available_helpers"] == \
        [f"bpf_{HelperId(h).name}" for h in sorted(sock)]


def test_probe_reasons_and_attach_points(report):
    assert feature.prog_type(ProgType.SOCKET_FILTER) == feature.Probe(True, "loaded")
    assert not feature.prog_type(99)              # not a type this kernel knows
    assert not feature.map_type(99)
    facts = feature.attach_points()
    assert set(facts) >= {"kprobe", "uprobe", "tracepoint", "fentry"}
    assert facts["fentry"].supported == feature.prog_type(ProgType.TRACING).supported
    assert report["attach"]["kprobe"]["available"] == facts["kprobe"].supported
