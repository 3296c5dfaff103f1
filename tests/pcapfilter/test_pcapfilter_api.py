"""The public call, link type names, the lexer's longest-match rules, the grammar tables,
and deep or long expressions (which must compile, or fail the way libpcap does, without
hitting Python's recursion limit)."""

from __future__ import annotations

import sys

import pytest

from pybpf.cbpf.insn import CInsn
from pybpf.cbpf.filter import FilterError, compile_filter
from pybpf.cbpf.filter.lexer import Lexer
from pybpf.cbpf.filter.parser import tables

import pcapfilter_oracle as oracle


def test_tcp_port_80_literal():
    # tcpdump -d 'tcp port 80' (libpcap 1.10.3, Ethernet)
    assert compile_filter("tcp port 80") == [
        CInsn(0x28, 0, 0, 12), CInsn(0x15, 0, 6, 0x86DD), CInsn(0x30, 0, 0, 20),
        CInsn(0x15, 0, 15, 6), CInsn(0x28, 0, 0, 54), CInsn(0x15, 12, 0, 80),
        CInsn(0x28, 0, 0, 56), CInsn(0x15, 10, 11, 80), CInsn(0x15, 0, 10, 0x800),
        CInsn(0x30, 0, 0, 23), CInsn(0x15, 0, 8, 6), CInsn(0x28, 0, 0, 20),
        CInsn(0x45, 6, 0, 0x1FFF), CInsn(0xB1, 0, 0, 14), CInsn(0x48, 0, 0, 14),
        CInsn(0x15, 2, 0, 80), CInsn(0x48, 0, 0, 16), CInsn(0x15, 0, 1, 80),
        CInsn(0x06, 0, 0, 262144), CInsn(0x06, 0, 0, 0)]


def test_empty_filter_accepts_everything():
    assert compile_filter("") == [CInsn(0x06, 0, 0, 262144)]
    assert compile_filter("  ", snaplen=65535) == [CInsn(0x06, 0, 0, 65535)]


@pytest.mark.parametrize("name", ["EN10MB", "en10mb", "DLT_EN10MB", 1, "1", "ETHERNET"])
def test_linktype_spellings(name):
    assert compile_filter("ip", linktype=name) == compile_filter("ip")


def test_raw_numbers():
    assert compile_filter("ip", linktype=12) == compile_filter("ip", linktype=101) == \
        compile_filter("ip", linktype="RAW")
    assert compile_filter("ip", linktype="RAW")[0] == CInsn(0x30, 0, 0, 0)


def test_null_checks_all_bsd_inet6_values():
    prog = compile_filter("ip6", linktype="NULL")
    ks = {i.k for i in prog if i.code == 0x15}
    assert ks == {0x18000000, 0x1C000000, 0x1E000000}        # 24, 28, 30 little-endian
    assert {i.k for i in compile_filter("ip6", linktype="LOOP") if i.code == 0x15} == \
        {24, 28, 30}


def _types(text):
    lx = Lexer(text, lambda msg: None)
    out = []
    while True:
        t = lx.next()
        if t.type == "$end":
            return out
        out.append((t.type, t.value))


@pytest.mark.parametrize("text,expected", [
    ("ip ipx ipsec", [("IP", None), ("IPX", None), ("ID", "ipsec")]),
    ("1.2.3.4 1.2.3.4.5", [("HID", "1.2.3.4"), ("ID", "1.2.3.4.5")]),
    ("001122334455", [("EID", "001122334455")]),
    ("aa:bb:cc:dd:ee:ff fe80::1", [("EID", "aa:bb:cc:dd:ee:ff"), ("HID6", "fe80::1")]),
    ("0x10 010 10", [("NUM", 16), ("NUM", 8), ("NUM", 10)]),
    ("tcp-syn|tcp-ack", [("NUM", 2), ("|", None), ("NUM", 16)]),
    ("\\tcp", [("ID", "tcp")]),
    ("a&&b||!c", [("ID", "a"), ("AND", None), ("ID", "b"), ("OR", None), ("!", None),
                  ("ID", "c")]),
    (">= <= != == << >>", [("GEQ", None), ("LEQ", None), ("NEQ", None), ("=", None),
                           ("LSH", None), ("RSH", None)]),
    ("es-is 1-100 0x1g", [("ESIS", None), ("ID", "1-100"), ("ID", "0x1g")]),
])
def test_lexer_longest_match(text, expected):
    assert _types(text) == expected


def test_grammar_tables_have_bisons_conflicts():
    t, _ = tables()
    assert t.sr_conflicts == 38        # libpcap's grammar.y: %expect 38
    assert t.rr_conflicts == 0


def _libpcap_agrees(expr: str, optimize: bool) -> None:
    try:
        ours = compile_filter(expr, optimize=optimize)
    except FilterError as e:
        ours = e.message
    if oracle.available():
        assert ours == oracle.pcap_compile(expr, "EN10MB", optimize)
    return ours


@pytest.mark.parametrize("optimize", [True, False])
def test_5000_nested_parentheses(optimize):
    limit = sys.getrecursionlimit()
    ours = _libpcap_agrees("(" * 5000 + "tcp" + ")" * 5000, optimize)
    assert isinstance(ours, list) and len(ours) == (12 if optimize else 14)
    assert sys.getrecursionlimit() == limit


def test_nesting_past_bisons_stack_fails_like_libpcap():
    with pytest.raises(FilterError, match="memory exhausted"):
        compile_filter("(" * 9996 + "tcp" + ")" * 9996)
    assert len(compile_filter("not " * 9996 + "tcp")) == 12


@pytest.mark.parametrize("optimize", [True, False])
def test_2000_or_terms(optimize):
    ours = _libpcap_agrees(" or ".join(["tcp"] * 2000), optimize)
    assert len(ours) == (12 if optimize else 29938)


def test_long_arithmetic_chains():
    _libpcap_agrees("ip[0] = " + " + ".join(["1"] * 2000), True)
    _libpcap_agrees("ip[0] = " + "-" * 3000 + "1", False)
    _libpcap_agrees(" and ".join(f"ip[{i % 60}] != {i % 256}" for i in range(300)), True)
