"""compile_filter against live libpcap (pcap_compile through ctypes) on generated
expressions, optimised and not, for every supported link type; and against ``tcpdump -dd``
on a sample. The default run takes a slice of each corpus; ``-m slow`` runs them whole."""

from __future__ import annotations

import pytest

from pybpf.cbpf.filter import FilterError, compile_filter

import pcapfilter_oracle as oracle
from pcapfilter_gen import Gen

pytestmark = pytest.mark.skipif(not oracle.available(), reason="libpcap.so not installed")

LINKTYPES = tuple(oracle.LINKTYPES)


def mine(expr: str, linktype: str, optimize: bool, netmask: int):
    try:
        return compile_filter(expr, linktype=linktype, optimize=optimize, netmask=netmask)
    except FilterError as e:
        return e.message


def _netmask(expr: str) -> int:
    return 0xFFFFFF00 if "broadcast" in expr else 0xFFFFFFFF


def compare(exprs: list[str], linktype: str) -> tuple[int, list]:
    """(number equal, differences) over both optimiser settings."""
    same, diffs = 0, []
    for e in exprs:
        mask = _netmask(e)
        for opt in (True, False):
            ours = mine(e, linktype, opt, mask)
            ref = oracle.pcap_compile(e, linktype, opt, mask)
            if ours == ref:
                same += 1
            else:
                diffs.append((e, opt, ours, ref))
    return same, diffs


def _report(diffs: list) -> str:
    lines = []
    for e, opt, ours, ref in diffs[:5]:
        lines.append(f"{e!r} optimize={opt}\n  ours: {ours}\n  libpcap: {ref}")
    return "\n".join(lines)


@pytest.mark.parametrize("linktype", LINKTYPES)
def test_generated_sample(linktype):
    exprs = Gen(1000 + LINKTYPES.index(linktype), linktype=linktype, depth=4).corpus(150)
    same, diffs = compare(exprs, linktype)
    assert not diffs, _report(diffs)
    assert same == 2 * len(exprs)


@pytest.mark.slow
@pytest.mark.parametrize("linktype", LINKTYPES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_corpus(linktype, seed):
    exprs = Gen(seed * 7919 + LINKTYPES.index(linktype), linktype=linktype,
                depth=5).corpus(2000)
    same, diffs = compare(exprs, linktype)
    print(f"{linktype} seed {seed}: {same}/{2 * len(exprs)} identical")
    assert not diffs, _report(diffs)


@pytest.mark.parametrize("expr", [
    " or ".join(f"host 10.0.0.{i}" for i in range(1, 41)),      # branches over 255: ja
    " or ".join(f"port {i}" for i in range(1, 30)),
    "not (" + " and ".join(f"tcp[{i}] = {i}" for i in range(30)) + ")",
    "vlan and vlan 3 and mpls and mpls 4 and ip and tcp port 80",
    "geneve 3 and ip host 10.0.0.1", "pppoes 7 and mpls and ip6 and udp port 53",
])
def test_big_and_encapsulated(expr):
    same, diffs = compare([expr], "EN10MB")
    assert not diffs, _report(diffs)


@pytest.mark.skipif(not oracle.tcpdump_available(), reason="tcpdump not installed")
@pytest.mark.parametrize("linktype", ["EN10MB", "RAW", "LINUX_SLL", "NULL"])
def test_tcpdump_sample(linktype):
    exprs = [e for e in Gen(77, linktype=linktype, errors=0).corpus(12)
             if "broadcast" not in e] + ["tcp port 80", "ip6 or arp"]
    for e in exprs:
        for opt in (True, False):
            ours = mine(e, linktype, opt, 0xFFFFFFFF)
            ref = oracle.tcpdump_dd(e, linktype, opt)
            if isinstance(ours, str):
                assert isinstance(ref, str) and ours in ref, (e, opt, ours, ref)
            else:
                assert ours == ref, (e, opt)


_SOUP = ("ip ip6 tcp udp icmp arp host net port portrange src dst and or not ! ( ) ( ) [ ] : = "
         "!= > < >= <= + - * / % & | ^ << >> len 1 2 4 14 80 0x10 10.0.0.1 10.1 ::1 fe80::/10 "
         "aa:bb:cc:dd:ee:ff ether proto \\tcp vlan mpls pppoes broadcast multicast gateway "
         "less greater byte llc localhost http nosuch 70000 tcpflags tcp-syn mask 255.0.0.0 / "
         "8 protochain inbound lane vpi fisu sio on type subtype dir 08 ether[0] ip[2:2] "
         "tcp[13] link").split()


def _soup(seed: int, n: int) -> list[str]:
    import random
    r = random.Random(seed)
    return [" ".join(r.choice(_SOUP) for _ in range(r.randrange(1, 9))) for _ in range(n)]


@pytest.mark.parametrize("linktype", ["EN10MB", "RAW"])
def test_token_soup_sample(linktype):
    """Random token strings: mostly errors, so this checks the parser reaches the same
    verdict and message (which rule fails first) as libpcap's Bison parser."""
    same, diffs = compare(_soup(5, 300), linktype)
    assert not diffs, _report(diffs)


@pytest.mark.slow
def test_token_soup_corpus():
    for linktype in ("EN10MB", "RAW", "LINUX_SLL"):
        same, diffs = compare(_soup(11, 10000), linktype)
        assert not diffs, _report(diffs)
