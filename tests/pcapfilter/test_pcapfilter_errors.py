"""Bad filters: libpcap's messages (recorded literally, and compared live where libpcap
is installed) and the column each error points at."""

from __future__ import annotations

import pytest

from pybpf.cbpf.filter import FilterError, compile_filter
from pybpf.errors import BpfError

import pcapfilter_oracle as oracle

SYNTAX = "can't parse filter expression: syntax error"

# expression, libpcap 1.10.3's message (EN10MB), column we report
CASES = [
    ("tcp port 70000", "illegal port number 70000 > 65535", 10),
    ("host nosuch", "unknown host 'nosuch'", 6),
    ("port nosuch", "unknown port 'nosuch'", 6),
    ("(tcp", SYNTAX, 5),
    ("tcp)", SYNTAX, 4),
    ("ip and", SYNTAX, 7),
    ("and ip", SYNTAX, 1),
    ("not", SYNTAX, 4),
    ("10.0.0.1", SYNTAX, 1),
    ("tcp and foo", "syntax error in filter expression", 9),
    ("ip and not ip", "expression rejects all packets", None),
    ("udp port http", "port 'http' is tcp", 10),
    ("net 10.0.0.1/8", 'non-network bits set in "10.0.0.1/8"', 5),
    ("host 1.2.3.4/24", 'non-network bits set in "1.2.3.4/24"', 6),
    ("host 10.0.0.0/8", "Mask syntax for networks only", 6),
    ("ether host 1:2:3:4:5", "bogus ethernet address 1:2:3:4:", 12),
    ("ip[1:3] = 1", "data size must be 1, 2, or 4", 1),
    ("tcp[0] / 0 = 1", "division by zero", 1),
    ("ip[0] << 40 = 1", "shift by more than 31 bits", 1),
    ("vlan 5000", "VLAN tag 5000 greater than maximum 4095", 1),
    ("mpls 2000000", "MPLS label 2000000 greater than maximum 1048575", 1),
    ("ip proto nosuch", "unknown ip proto 'nosuch'", 10),
    ("gateway foo", "'gateway' not supported in this configuration", 9),
    ("tcp proto 6", "'tcp proto' is bogus", 11),
    ("08", "number 08 contains non-octal digit", 1),
    ("4294967296", "number 4294967296 overflows 32 bits", 1),
    ("ip6 host 1.2.3.4", "'ip6' modifier applied to ip host", 10),
    ("ip host ::1", "'ip' modifier applied to ip6 host", 9),
    ("ip broadcast", "netmask not known, so 'ip broadcast' not supported", 1),
    ("port 1.2", "'port' modifier applied to ip host", 6),
    ("ip6 net ::1/200", "mask length must be <= 128", 9),
    ("llc foo", 'unknown LLC type name "foo"', 1),
    ("lane", "'lane' supported only on raw ATM", 1),
    ("inbound", "inbound/outbound not supported on Ethernet when reading savefiles", 1),
    ("ip[0] = 1 and a b", "syntax error in filter expression", 15),
    ("tcp port 80 and udp port http", "port 'http' is tcp", 26),
]


@pytest.mark.parametrize("expr,message,column", CASES)
def test_message_and_column(expr, message, column):
    with pytest.raises(FilterError) as info:
        compile_filter(expr)
    assert info.value.message == message
    assert info.value.column == column
    assert isinstance(info.value, BpfError) and isinstance(info.value, ValueError)


@pytest.mark.skipif(not oracle.available(), reason="libpcap.so not installed")
@pytest.mark.parametrize("expr,message,column", CASES)
def test_message_is_libpcaps(expr, message, column):
    mask = 0xFFFFFFFF
    assert oracle.pcap_compile(expr, "EN10MB", True, mask) == message


def test_error_text_names_column():
    with pytest.raises(FilterError, match=r"unknown host 'nosuch' \(column 6\)"):
        compile_filter("host nosuch")


@pytest.mark.parametrize("linktype,expr,message", [
    ("RAW", "vlan", "no VLAN support for Raw IP"),
    ("LINUX_SLL", "mpls", "no MPLS support for Linux cooked v1"),
    ("NULL", "ether host 1:2:3:4:5:6", "ethernet addresses supported only on ethernet/"
     "FDDI/token ring/802.11/ATM LANE/Fibre Channel"),
    ("LOOP", "ether broadcast", "not a broadcast link"),
    ("LINUX_SLL2", "llc", "'llc' not supported for Linux cooked v2"),
    ("RAW", "arp", "expression rejects all packets"),
])
def test_linktype_errors(linktype, expr, message):
    with pytest.raises(FilterError) as info:
        compile_filter(expr, linktype=linktype)
    assert info.value.message == message


def test_bad_arguments():
    with pytest.raises(ValueError):
        compile_filter("ip", linktype="NOSUCH")
    with pytest.raises(ValueError):
        compile_filter("ip", linktype=9999)
    with pytest.raises(FilterError, match="snaplen of 0"):
        compile_filter("ip", snaplen=0)
