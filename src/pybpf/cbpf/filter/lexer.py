"""The filter tokenizer: libpcap's scanner rules with flex's longest-match semantics.

At each position every rule is tried; the longest match wins and a tie goes to the rule
written first (keywords, then punctuation, then ``$xx`` ARCnet ids, MAC addresses, numbers,
dotted IPv4 prefixes, IPv6 addresses, named constants such as ``tcp-syn``, identifiers,
``\\name`` escapes, and finally any other character as a lexical error). So ``ip`` is a
keyword but ``ipsec`` an identifier, ``1.2.3.4`` is an address but ``1.2.3.4.5`` a name,
and twelve hex digits are a MAC address even when they are all decimal.
"""

from __future__ import annotations

import re
import socket
from typing import NamedTuple

KEYWORDS: dict[str, str] = {}
for _tok, _words in (
    ("DST", "dst"), ("SRC", "src"),
    ("LINK", "link ether ppp slip fddi tr wlan"),
    ("ARP", "arp"), ("RARP", "rarp"), ("IP", "ip"), ("SCTP", "sctp"), ("TCP", "tcp"),
    ("UDP", "udp"), ("ICMP", "icmp"), ("IGMP", "igmp"), ("IGRP", "igrp"), ("PIM", "pim"),
    ("VRRP", "vrrp"), ("CARP", "carp"), ("RADIO", "radio"),
    ("IPV6", "ip6"), ("ICMPV6", "icmp6"), ("AH", "ah"), ("ESP", "esp"),
    ("ATALK", "atalk"), ("AARP", "aarp"), ("DECNET", "decnet"), ("LAT", "lat"),
    ("SCA", "sca"), ("MOPRC", "moprc"), ("MOPDL", "mopdl"),
    ("ISO", "iso"), ("ESIS", "esis es-is"), ("ISIS", "isis is-is"), ("L1", "l1"),
    ("L2", "l2"), ("IIH", "iih"), ("LSP", "lsp"), ("SNP", "snp"), ("CSNP", "csnp"),
    ("PSNP", "psnp"), ("CLNP", "clnp"), ("STP", "stp"), ("IPX", "ipx"),
    ("NETBEUI", "netbeui"),
    ("HOST", "host"), ("NET", "net"), ("NETMASK", "mask"), ("PORT", "port"),
    ("PORTRANGE", "portrange"), ("PROTO", "proto"), ("PROTOCHAIN", "protochain"),
    ("GATEWAY", "gateway"),
    ("TYPE", "type"), ("SUBTYPE", "subtype"), ("DIR", "direction dir"),
    ("ADDR1", "address1 addr1"), ("ADDR2", "address2 addr2"), ("ADDR3", "address3 addr3"),
    ("ADDR4", "address4 addr4"), ("RA", "ra"), ("TA", "ta"),
    ("LESS", "less"), ("GREATER", "greater"), ("CBYTE", "byte"),
    ("TK_BROADCAST", "broadcast"), ("TK_MULTICAST", "multicast"),
    ("AND", "and"), ("OR", "or"), ("!", "not"),
    ("LEN", "len length"), ("INBOUND", "inbound"), ("OUTBOUND", "outbound"),
    ("IFINDEX", "ifindex"),
    ("VLAN", "vlan"), ("MPLS", "mpls"), ("PPPOED", "pppoed"), ("PPPOES", "pppoes"),
    ("GENEVE", "geneve"),
    ("LANE", "lane"), ("LLC", "llc"), ("METAC", "metac"), ("BCC", "bcc"), ("OAM", "oam"),
    ("OAMF4", "oamf4"), ("OAMF4EC", "oamf4ec"), ("OAMF4SC", "oamf4sc"), ("SC", "sc"),
    ("ILMIC", "ilmic"), ("VPI", "vpi"), ("VCI", "vci"), ("CONNECTMSG", "connectmsg"),
    ("METACONNECT", "metaconnect"),
    ("PF_IFNAME", "on ifname"), ("PF_RSET", "rset ruleset"), ("PF_RNR", "rnr rulenum"),
    ("PF_SRNR", "srnr subrulenum"), ("PF_REASON", "reason"), ("PF_ACTION", "action"),
    ("FISU", "fisu"), ("LSSU", "lssu lsu"), ("MSU", "msu"), ("HFISU", "hfisu"),
    ("HLSSU", "hlssu"), ("HMSU", "hmsu"), ("SIO", "sio"), ("OPC", "opc"), ("DPC", "dpc"),
    ("SLS", "sls"), ("HSIO", "hsio"), ("HOPC", "hopc"), ("HDPC", "hdpc"), ("HSLS", "hsls"),
):
    for _w in _words.split():
        KEYWORDS[_w] = _tok

# Named numbers (the scanner returns them as NUM).
NAMED_NUMBERS: dict[str, int] = {
    "icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3,
    "icmp-sourcequench": 4, "icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
    "icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12, "icmp-tstamp": 13,
    "icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16, "icmp-maskreq": 17,
    "icmp-maskreply": 18,
    "icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
    "icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4, "icmp6-echo": 128,
    "icmp6-echoreply": 129, "icmp6-multicastlistenerquery": 130,
    "icmp6-multicastlistenerreportv1": 131, "icmp6-multicastlistenerdone": 132,
    "icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
    "icmp6-neighboradvert": 136, "icmp6-redirect": 137, "icmp6-routerrenum": 138,
    "icmp6-nodeinformationquery": 139, "icmp6-nodeinformationresponse": 140,
    "icmp6-ineighbordiscoverysolicit": 141, "icmp6-ineighbordiscoveryadvert": 142,
    "icmp6-multicastlistenerreportv2": 143, "icmp6-homeagentdiscoveryrequest": 144,
    "icmp6-homeagentdiscoveryreply": 145, "icmp6-mobileprefixsolicit": 146,
    "icmp6-mobileprefixadvert": 147, "icmp6-certpathsolicit": 148,
    "icmp6-certpathadvert": 149, "icmp6-multicastrouteradvert": 151,
    "icmp6-multicastroutersolicit": 152, "icmp6-multicastrouterterm": 153,
    "tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
    "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
}


class Token(NamedTuple):
    type: str
    value: object
    column: int          # 1-based column of the token's first character
    text: str


_WS = " \r\n\t"
_SINGLE = set("+-*/%:[]!<>()&|^=")
_DOUBLE = {">=": "GEQ", "<=": "LEQ", "!=": "NEQ", "==": "=", "<<": "LSH", ">>": "RSH",
           "&&": "AND", "||": "OR"}
_N = r"(?:0[xX][0-9A-Fa-f]+|[0-9]+)"
_B = r"[0-9A-Fa-f][0-9A-Fa-f]?"
_B2 = r"[0-9A-Fa-f]{4}"
_W = r"[0-9A-Fa-f]{1,4}"
_V4 = rf"{_N}\.{_N}\.{_N}\.{_N}"

_ID = re.compile(r"[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?")
_AID = re.compile(rf"\${_B}")
_MACS = [re.compile(p) for p in (
    rf"{_B}:{_B}:{_B}:{_B}:{_B}:{_B}", rf"{_B}-{_B}-{_B}-{_B}-{_B}-{_B}",
    rf"{_B}\.{_B}\.{_B}\.{_B}\.{_B}\.{_B}", rf"{_B2}\.{_B2}\.{_B2}", rf"(?:{_B2}){{3}}")]
_NUM = [re.compile(r"0[xX][0-9A-Fa-f]+"), re.compile(r"[0-9]+")]
_HID = [re.compile(rf"{_N}\.{_N}\.{_N}\.{_N}"), re.compile(rf"{_N}\.{_N}\.{_N}"),
        re.compile(rf"{_N}\.{_N}")]
_BOGUS = re.compile(rf"{_B}:+(?:{_B}:+)+")
_ESC = re.compile(r"\\[^ !()\n\t]+")


def _v6_patterns() -> list[re.Pattern]:
    pats = [":".join([_W] * 8)]
    for total in range(7, 0, -1):           # '::' forms with `total` explicit groups
        for left in range(total + 1):
            pats.append(":".join([_W] * left) + "::" + ":".join([_W] * (total - left)))
    pats.append("::")
    pats.append(":".join([_W] * 6) + ":" + _V4)
    for total in range(5, -1, -1):
        for left in range(total + 1):
            right = total - left
            tail = (":".join([_W] * right) + ":" if right else "") + _V4
            pats.append(":".join([_W] * left) + "::" + tail)
    return [re.compile(p) for p in pats]


_V6 = _v6_patterns()
_CAND = re.compile(r"[0-9A-Fa-fxX:.]+")


def _longest(pats: list[re.Pattern], text: str, pos: int) -> int:
    best = 0
    for p in pats:
        m = p.match(text, pos)
        if m and m.end() - pos > best:
            best = m.end() - pos
    return best


def stou(text: str) -> int | str:
    """The scanner's number conversion: decimal, 0x hex, 0 octal; a str is an error."""
    if text[0] == "0" and len(text) > 1 and text[1] in "xX":
        n = 0
        for c in text[2:]:
            if n > 0xFFFFFFF:
                return f"number {text} overflows 32 bits"
            n = (n << 4) + int(c, 16)
        return n
    if text[0] == "0":
        n = 0
        for c in text[1:]:
            if c not in "01234567":
                return f"number {text} contains non-octal digit"
            if n > 0o3777777777:
                return f"number {text} overflows 32 bits"
            n = (n << 3) + int(c)
        return n
    n = 0
    for c in text:
        d = ord(c) - 48
        if n > 0xFFFFFFFF // 10 or (n == 0xFFFFFFFF // 10 and d > 0xFFFFFFFF % 10):
            return f"number {text} overflows 32 bits"
        n = n * 10 + d
    return n


class Lexer:
    """Yields tokens one at a time (the parser asks only when it needs a lookahead).

    Lexical errors are reported the way libpcap's scanner does: the first error message is
    recorded through ``set_error`` and the token returned is ``LEX_ERROR`` (or an address
    token with value ``None``), which then stops the parse."""

    def __init__(self, text: str, set_error):
        self.text = text
        self.pos = 0
        self.set_error = set_error

    def next(self) -> Token:
        text, pos, n = self.text, self.pos, len(self.text)
        while pos < n and text[pos] in _WS:
            pos += 1
        if pos >= n:
            self.pos = pos
            return Token("$end", None, pos + 1, "")
        c = text[pos]
        # flex: the longest match wins, ties go to the rule written first
        cands: list[tuple[int, int, tuple]] = []
        two = text[pos:pos + 2]
        if two in _DOUBLE:
            cands.append((2, 0 if two in ("&&", "||") else 1, ("op2", _DOUBLE[two])))
        if c in _SINGLE:
            cands.append((1, 1, ("op1", c)))
        if c == "$":
            m = _AID.match(text, pos)
            if m:
                cands.append((m.end() - pos, 2, ("AID",)))
        elif c == "\\":
            m = _ESC.match(text, pos)
            if m:
                cands.append((m.end() - pos, 10, ("ESC",)))
        elif c == ":" or (c.isascii() and c.isalnum()):
            cands.extend(_numeric(text, pos))
            if c != ":":
                m = _ID.match(text, pos)
                idlen = m.end() - pos
                word = text[pos:pos + idlen]
                if word in KEYWORDS:
                    cands.append((idlen, 0, ("KW", KEYWORDS[word])))
                elif word in NAMED_NUMBERS:
                    cands.append((idlen, 8, ("NAMED", NAMED_NUMBERS[word])))
                else:
                    cands.append((idlen, 9, ("ID",)))
        best_len, best_kind = 0, None
        best_order = 99
        for length, order, kind in cands:
            if length > best_len or (length == best_len and order < best_order):
                best_len, best_order, best_kind = length, order, kind
        if best_kind is None:
            best_len, best_kind = 1, ("ERR",)
        self.pos = pos + best_len
        lexeme = text[pos:pos + best_len]
        col = pos + 1
        kind = best_kind[0]
        if kind in ("op1", "op2", "KW"):
            return Token(best_kind[1], None, col, lexeme)
        if kind == "NAMED":
            return Token("NUM", best_kind[1], col, lexeme)
        if kind == "NUM":
            v = stou(lexeme)
            if isinstance(v, str):
                self.set_error(v)
                return Token("LEX_ERROR", None, col, lexeme)
            return Token("NUM", v, col, lexeme)
        if kind == "HID":
            return Token("HID", lexeme, col, lexeme)
        if kind == "V6":
            return Token("HID6", lexeme if _valid_v6(lexeme, self.set_error) else None,
                         col, lexeme)
        if kind == "MAC":
            return Token("EID", lexeme, col, lexeme)
        if kind == "BOGUS":
            self.set_error(f"bogus ethernet address {lexeme}")
            return Token("EID", None, col, lexeme)
        if kind == "AID":
            return Token("AID", lexeme, col, lexeme)
        if kind == "ID":
            return Token("ID", lexeme, col, lexeme)
        if kind == "ESC":
            return Token("ID", lexeme[1:], col, lexeme)
        return Token("LEX_ERROR", None, col, lexeme)

def _numeric(text: str, pos: int) -> list[tuple[int, int, tuple]]:
    """Candidates among AID-less address/number rules: (length, rule order, kind)."""
    out: list[tuple[int, int, tuple]] = []
    cand = _CAND.match(text, pos)
    run = cand.group() if cand else ""
    if ":" in run:
        length = _longest(_V6, text, pos)
        if length:
            out.append((length, 6, ("V6",)))
        m = _BOGUS.match(text, pos)
        if m:
            out.append((m.end() - pos, 7, ("BOGUS",)))
    if text[pos] == ":":
        return out
    length = _longest(_MACS, text, pos)
    if length:
        out.append((length, 3, ("MAC",)))
    length = _longest(_NUM, text, pos)
    if length:
        out.append((length, 4, ("NUM",)))
    if "." in run:
        length = _longest(_HID, text, pos)
        if length:
            out.append((length, 5, ("HID",)))
    return out


def _valid_v6(text: str, set_error) -> bool:
    """The scanner asks getaddrinfo(AF_INET6, AI_NUMERICHOST) whether an IPv6-shaped token
    really is an address."""
    try:
        socket.getaddrinfo(text, None, socket.AF_INET6, 0, 0, socket.AI_NUMERICHOST)
        return True
    except (OSError, UnicodeError):
        set_error(f"bogus IPv6 address {text}")
        return False
