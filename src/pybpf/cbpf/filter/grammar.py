"""The pcap-filter(7) grammar, rule for rule with the language libpcap accepts, and what each
rule generates.

Every action is called as ``action(g, below, *values)``: ``g`` is the code generator and
``below`` the value on the parse stack just under the rule's symbols. That is how libpcap's
implicit qualifiers work (``host a or b`` means ``host a or host b``): ``and``, ``or``,
``not`` and ``(`` pass the value below them along, so an identifier standing alone picks
up the qualifiers of whatever came before it. Ordering and precedence matter for the
conflicts: ``and``/``or`` share one left-associative level, ``!`` is above them, then the
arithmetic operators; ``%`` and ``^`` have none, so they resolve by shifting.
"""

from __future__ import annotations

from typing import Any

from pybpf.cbpf.insn import ADD, AND, DIV, JEQ, JGE, JGT, LSH, MOD, MUL, OR, RSH, SUB, XOR
from pybpf.cbpf.filter import consts as C
from pybpf.cbpf.filter.gen_codes import QERR, Qual
from pybpf.cbpf.filter.lalr import Production


class Abort(Exception):
    """YYABORT: stop with the error message already recorded."""


class Blk:
    """The grammar's ``blk`` value: qualifiers, a block, and the ATM/MTP field type."""

    __slots__ = ("q", "b", "field")

    def __init__(self, q: Qual, b: Any = None, field: int = 0):
        self.q = q
        self.b = b
        self.field = field


def _q(below: Any) -> Qual:
    return below.q if isinstance(below, Blk) else QERR


def _need(v: Any) -> Any:
    if v is None:
        raise Abort()
    return v


def _nid_hid(g, below, s):
    q = _q(below)
    _need(s)
    for addr, word in ((C.Q_PORT, "port"), (C.Q_PORTRANGE, "portrange"),
                       (C.Q_PROTO, "proto"), (C.Q_PROTOCHAIN, "protochain")):
        if q.addr == addr:
            g.error(f"'{word}' modifier applied to ip host")
    return Blk(q, g.gen_ncode(s, 0, q))


def _and(g, below, a, _op, b):
    from pybpf.cbpf.filter.blocks import gen_and
    gen_and(a.b, b.b)
    return b


def _or(g, below, a, _op, b):
    from pybpf.cbpf.filter.blocks import gen_or
    gen_or(a.b, b.b)
    return b


def _not(g, below, _op, a):
    a.b.sense = not a.b.sense
    return a


def _pass_below(g, below, *_):
    return below


def _first(g, below, v, *_):
    return v


def _second(g, below, _a, v, *_):
    return v


def _const(value):
    return lambda g, below, *_: value


def _err(msg):
    def action(g, below, *_):
        g.error(msg)
    return action


_IEEE80211_TYPES = {"data": 0x08, "mgt": 0x00, "management": 0x00, "ctl": 0x04,
                    "control": 0x04}
_IEEE80211_SUBTYPES = {
    0x00: ("assocreq assoc-req assocresp assoc-resp reassocreq reassoc-req reassocresp "
           "reassoc-resp probereq probe-req proberesp probe-resp beacon atim disassoc "
           "disassociation auth authentication deauth deauthentication").split(),
    0x04: "ps-poll rts cts ack cf-end cf-end-ack".split(),
    0x08: ("data data-cf-ack data-cf-poll data-cf-ack-poll null cf-ack cf-poll cf-ack-poll "
           "qos-data qos-data-cf-ack qos-data-cf-poll qos-data-cf-ack-poll qos qos-cf-poll "
           "qos-cf-ack-poll").split(),
}
_PF_REASONS = ("match bad-offset fragment short normalize memory bad-timestamp congestion "
               "ip-option proto-cksum state-mismatch state-insert state-limit src-limit "
               "synproxy").split()
_PF_ACTIONS = ("pass accept drop block scrub noscrub nat nonat binat nobinat rdr nordr "
               "synproxy-drop").split()


def _type_num(g, below, n):
    if n & ~0x0C:
        g.set_error(f"invalid 802.11 type value 0x{n:02x}")
        raise Abort()
    return n


def _type_id(g, below, s):
    if s.lower() not in _IEEE80211_TYPES:
        g.set_error(f'unknown 802.11 type name "{s}"')
        raise Abort()
    return _IEEE80211_TYPES[s.lower()]


def _subtype_num(g, below, n):
    if n & ~0xF0:
        g.set_error(f"invalid 802.11 subtype value 0x{n:02x}")
        raise Abort()
    return n


def _subtype_id(g, below, s, type_value=None):
    table = _IEEE80211_SUBTYPES.get(type_value)
    if table is None:
        g.set_error("unknown 802.11 type")
        raise Abort()
    if s.lower() not in table:
        g.set_error(f'unknown 802.11 subtype name "{s}"')
        raise Abort()
    return 0


def _type_subtype(g, below, s):
    for table in _IEEE80211_SUBTYPES.values():
        if s.lower() in table:
            return 0
    g.set_error("unknown 802.11 type name")
    raise Abort()


def _dir_id(g, below, s):
    if s.lower() not in ("nods", "tods", "fromds", "dstods"):
        g.set_error("unknown 802.11 direction")
        raise Abort()
    return 0


def _pf_name(table, what):
    def action(g, below, s):
        if s.lower() not in table:
            g.set_error(f'unknown PF {what} "{s}"')
            raise Abort()
        return 0
    return action


def _llc_id(g, below, _llc, s):
    low = s.lower()
    if low in ("i", "s", "u"):
        return g.gen_llc(low)
    if low in C.LLC_S_SUBTYPES:
        return g.gen_llc("s_sub", C.LLC_S_SUBTYPES[low])
    if low in C.LLC_U_SUBTYPES:
        return g.gen_llc("u_sub", C.LLC_U_SUBTYPES[low])
    g.set_error(f'unknown LLC type name "{s}"')
    raise Abort()


_ATM_FIELD_ERR = {1: "'vpi' supported only on raw ATM", 2: "'vci' supported only on raw ATM"}
_MTP3_ERR = {"SIO": "'sio' supported only on SS7", "OPC": "'opc' supported only on SS7",
             "DPC": "'dpc' supported only on SS7", "SLS": "'sls' supported only on SS7"}


def _field_err(table):
    def action(g, below, *_):
        g.error(table[below.field] if isinstance(below, Blk) and below.field in table
                else "syntax error in filter expression")
    return action


def _productions() -> list[Production]:
    P: list[Production] = []

    def rule(lhs: str, rhs: str, action=None, prec: str | None = None) -> None:
        P.append(Production(lhs, tuple(rhs.split()), action, prec))

    rule("prog", "null expr", lambda g, below, n, e: g.finish(e.b))
    rule("prog", "null", lambda g, below, n: g.finish(None))
    rule("null", "", lambda g, below: Blk(QERR))
    rule("expr", "term", _first)
    rule("expr", "expr and term", _and)
    rule("expr", "expr and id", _and)
    rule("expr", "expr or term", _or)
    rule("expr", "expr or id", _or)
    rule("and", "AND", _pass_below)
    rule("or", "OR", _pass_below)
    rule("id", "nid", _first)
    rule("id", "pnum", lambda g, below, n: Blk(_q(below), g.gen_ncode(None, n, _q(below))))
    rule("id", "paren pid )", _second)
    rule("nid", "ID", lambda g, below, s: Blk(_q(below), g.gen_scode(_need(s), _q(below))))
    rule("nid", "HID / NUM",
         lambda g, below, s, _, n: Blk(_q(below), g.gen_mcode(_need(s), None, n, _q(below))))
    rule("nid", "HID NETMASK HID",
         lambda g, below, s, _, m: Blk(_q(below), g.gen_mcode(_need(s), m, 0, _q(below))))
    rule("nid", "HID", _nid_hid)
    rule("nid", "HID6 / NUM",
         lambda g, below, s, _, n: Blk(_q(below), g.gen_mcode6(_need(s), n, _q(below))))
    rule("nid", "HID6", lambda g, below, s: Blk(_q(below), g.gen_mcode6(_need(s), 128, _q(below))))
    rule("nid", "EID", lambda g, below, s: Blk(_q(below), g.gen_ecode(_need(s), _q(below))))
    rule("nid", "AID", lambda g, below, s: Blk(_q(below), g.gen_acode(_need(s), _q(below))))
    rule("nid", "not id", _not)
    rule("not", "!", _pass_below)
    rule("paren", "(", _pass_below)
    rule("pid", "nid", _first)
    rule("pid", "qid and id", _and)
    rule("pid", "qid or id", _or)
    rule("qid", "pnum", lambda g, below, n: Blk(_q(below), g.gen_ncode(None, n, _q(below))))
    rule("qid", "pid", _first)
    rule("term", "rterm", _first)
    rule("term", "not term", _not)
    rule("head", "pqual dqual aqual", lambda g, below, p, d, a: Blk(Qual(a, p, d)))
    rule("head", "pqual dqual", lambda g, below, p, d: Blk(Qual(C.Q_DEFAULT, p, d)))
    rule("head", "pqual aqual", lambda g, below, p, a: Blk(Qual(a, p, C.Q_DEFAULT)))
    rule("head", "pqual PROTO", lambda g, below, p, _: Blk(Qual(C.Q_PROTO, p, C.Q_DEFAULT)))
    rule("head", "pqual PROTOCHAIN",
         lambda g, below, p, _: Blk(Qual(C.Q_PROTOCHAIN, p, C.Q_DEFAULT)))
    rule("head", "pqual ndaqual", lambda g, below, p, a: Blk(Qual(a, p, C.Q_DEFAULT)))
    rule("rterm", "head id", _second)
    rule("rterm", "paren expr )", lambda g, below, p, e, _: Blk(_q(p), e.b))
    rule("rterm", "pname", lambda g, below, p: Blk(QERR, g.gen_proto_abbrev_internal(p)))
    rule("rterm", "arth relop arth",
         lambda g, below, a, op, b: Blk(QERR, g.gen_relation(op, a, b, False)))
    rule("rterm", "arth irelop arth",
         lambda g, below, a, op, b: Blk(QERR, g.gen_relation(op, a, b, True)))
    rule("rterm", "other", lambda g, below, b: Blk(QERR, b))
    rule("rterm", "atmtype", lambda g, below, msg: g.error(msg))
    rule("rterm", "atmmultitype", lambda g, below, msg: g.error(msg))
    rule("rterm", "atmfield atmvalue", lambda g, below, f, v: Blk(QERR, v.b))
    rule("rterm", "mtp2type", lambda g, below, msg: g.error(msg))
    rule("rterm", "mtp3field mtp3value", lambda g, below, f, v: Blk(QERR, v.b))
    rule("pqual", "pname", _first)
    rule("pqual", "", _const(C.Q_DEFAULT))
    for rhs, val in (("SRC", C.Q_SRC), ("DST", C.Q_DST), ("SRC OR DST", C.Q_OR),
                     ("DST OR SRC", C.Q_OR), ("SRC AND DST", C.Q_AND),
                     ("DST AND SRC", C.Q_AND), ("ADDR1", C.Q_ADDR1), ("ADDR2", C.Q_ADDR2),
                     ("ADDR3", C.Q_ADDR3), ("ADDR4", C.Q_ADDR4), ("RA", C.Q_RA),
                     ("TA", C.Q_TA)):
        rule("dqual", rhs, _const(val))
    for rhs, val in (("HOST", C.Q_HOST), ("NET", C.Q_NET), ("PORT", C.Q_PORT),
                     ("PORTRANGE", C.Q_PORTRANGE)):
        rule("aqual", rhs, _const(val))
    rule("ndaqual", "GATEWAY", _const(C.Q_GATEWAY))
    for tok, val in PNAMES:
        rule("pname", tok, _const(val))
    rule("other", "pqual TK_BROADCAST", lambda g, below, p, _: g.gen_broadcast(p))
    rule("other", "pqual TK_MULTICAST", lambda g, below, p, _: g.gen_multicast(p))
    rule("other", "LESS NUM", lambda g, below, _, n: g.gen_less(n))
    rule("other", "GREATER NUM", lambda g, below, _, n: g.gen_greater(n))
    rule("other", "CBYTE NUM byteop NUM", lambda g, below, _, i, op, v: g.gen_byteop(op, i, v))
    rule("other", "INBOUND", lambda g, below, _: g.gen_inbound(False))
    rule("other", "OUTBOUND", lambda g, below, _: g.gen_inbound(True))
    rule("other", "IFINDEX NUM", lambda g, below, _, n: g.gen_ifindex(n))
    rule("other", "VLAN pnum", lambda g, below, _, n: g.gen_vlan(n, True))
    rule("other", "VLAN", lambda g, below, _: g.gen_vlan(0, False))
    rule("other", "MPLS pnum", lambda g, below, _, n: g.gen_mpls(n, True))
    rule("other", "MPLS", lambda g, below, _: g.gen_mpls(0, False))
    rule("other", "PPPOED", lambda g, below, _: g.gen_pppoed())
    rule("other", "PPPOES pnum", lambda g, below, _, n: g.gen_pppoes(n, True))
    rule("other", "PPPOES", lambda g, below, _: g.gen_pppoes(0, False))
    rule("other", "GENEVE pnum", lambda g, below, _, n: g.gen_geneve(n, True))
    rule("other", "GENEVE", lambda g, below, _: g.gen_geneve(0, False))
    rule("other", "pfvar", _first)
    rule("other", "pqual p80211", _second)
    rule("other", "pllc", _first)
    rule("pfvar", "PF_IFNAME ID", _err("ifname supported only on PF linktype"))
    rule("pfvar", "PF_RSET ID", _err("ruleset supported only on PF linktype"))
    rule("pfvar", "PF_RNR NUM", _err("rnr supported only on PF linktype"))
    rule("pfvar", "PF_SRNR NUM", _err("srnr supported only on PF linktype"))
    rule("pfvar", "PF_REASON reason", _err("reason supported only on PF linktype"))
    rule("pfvar", "PF_ACTION action", _err("action supported only on PF linktype"))
    p80211 = _err("802.11 link-layer types supported only on 802.11")
    rule("p80211", "TYPE type SUBTYPE subtype", p80211)
    rule("p80211", "TYPE type", p80211)
    rule("p80211", "SUBTYPE type_subtype", p80211)
    rule("p80211", "DIR dir", _err("frame direction supported only with 802.11 headers"))
    rule("type", "NUM", _type_num)
    rule("type", "ID", _type_id)
    rule("subtype", "NUM", _subtype_num)
    rule("subtype", "ID", _subtype_id)          # the parser passes the 'type' value too
    rule("type_subtype", "ID", _type_subtype)
    rule("pllc", "LLC", lambda g, below, _: g.gen_llc())
    rule("pllc", "LLC ID", _llc_id)
    rule("pllc", "LLC PF_RNR", lambda g, below, *_: g.gen_llc("s_sub", C.LLC_RNR))
    rule("dir", "NUM", _first)
    rule("dir", "ID", _dir_id)
    rule("reason", "NUM", _first)
    rule("reason", "ID", _pf_name(_PF_REASONS, "reason"))
    rule("action", "ID", _pf_name(_PF_ACTIONS, "action"))
    for lhs, tok, val in (("relop", ">", JGT), ("relop", "GEQ", JGE), ("relop", "=", JEQ),
                          ("irelop", "LEQ", JGT), ("irelop", "<", JGE), ("irelop", "NEQ", JEQ)):
        rule(lhs, tok, _const(val))
    rule("arth", "pnum", lambda g, below, n: g.gen_loadi(n))
    rule("arth", "narth", _first)
    rule("narth", "pname [ arth ]", lambda g, below, p, _, a, __: g.gen_load(p, a, 1))
    rule("narth", "pname [ arth : NUM ]",
         lambda g, below, p, _, a, __, n, ___: g.gen_load(p, a, n))
    for tok, code in (("+", ADD), ("-", SUB), ("*", MUL), ("/", DIV), ("%", MOD), ("&", AND),
                      ("|", OR), ("^", XOR), ("LSH", LSH), ("RSH", RSH)):
        rule("narth", f"arth {tok} arth",
             (lambda c: lambda g, below, a, _, b: g.gen_arth(c, a, b))(code))
    rule("narth", "- arth", lambda g, below, _, a: g.gen_neg(a), prec="UMINUS")
    rule("narth", "paren narth )", _second)
    rule("narth", "LEN", lambda g, below, _: g.gen_loadlen())
    for tok in "& | < > =".split():
        rule("byteop", tok, _const(tok))
    rule("pnum", "NUM", _first)
    rule("pnum", "paren pnum )", _second)
    for tok, word in (("LANE", "lane"), ("METAC", "metac"), ("BCC", "bcc"),
                      ("OAMF4EC", "oam4ec"), ("OAMF4SC", "oam4sc"), ("SC", "sc"),
                      ("ILMIC", "ilmic")):
        rule("atmtype", tok, _const(f"'{word}' supported only on raw ATM"))
    for tok, word in (("OAM", "oam"), ("OAMF4", "oamf4"), ("CONNECTMSG", "connectmsg"),
                      ("METACONNECT", "metaconnect")):
        rule("atmmultitype", tok, _const(f"'{word}' supported only on raw ATM"))
    rule("atmfield", "VPI", lambda g, below, _: Blk(QERR, None, 1))
    rule("atmfield", "VCI", lambda g, below, _: Blk(QERR, None, 2))
    rule("atmvalue", "atmfieldvalue", _first)
    rule("atmvalue", "relop NUM", _field_err(_ATM_FIELD_ERR))
    rule("atmvalue", "irelop NUM", _field_err(_ATM_FIELD_ERR))
    rule("atmvalue", "paren atmlistvalue )", lambda g, below, _, v, __: Blk(QERR, v.b))
    rule("atmfieldvalue", "NUM", _field_err(_ATM_FIELD_ERR))
    rule("atmlistvalue", "atmfieldvalue", _first)
    rule("atmlistvalue", "atmlistvalue or atmfieldvalue", _or)
    for tok, word, hsl in (("FISU", "fisu", ""), ("LSSU", "lssu", ""), ("MSU", "msu", ""),
                           ("HFISU", "hfisu", "_HSL"), ("HLSSU", "hlssu", "_HSL"),
                           ("HMSU", "hmsu", "_HSL")):
        rule("mtp2type", tok, _const(f"'{word}' supported only on MTP2{hsl}"))
    for tok in ("SIO", "OPC", "DPC", "SLS", "HSIO", "HOPC", "HDPC", "HSLS"):
        rule("mtp3field", tok, (lambda t: lambda g, below, _: Blk(QERR, None, t))(tok[-3:]))
    rule("mtp3value", "mtp3fieldvalue", _first)
    rule("mtp3value", "relop NUM", _field_err(_MTP3_ERR))
    rule("mtp3value", "irelop NUM", _field_err(_MTP3_ERR))
    rule("mtp3value", "paren mtp3listvalue )", lambda g, below, _, v, __: Blk(QERR, v.b))
    rule("mtp3fieldvalue", "NUM", _field_err(_MTP3_ERR))
    rule("mtp3listvalue", "mtp3fieldvalue", _first)
    rule("mtp3listvalue", "mtp3listvalue or mtp3fieldvalue", _or)
    return P


PNAMES = (("LINK", C.Q_LINK), ("IP", C.Q_IP), ("ARP", C.Q_ARP), ("RARP", C.Q_RARP),
          ("SCTP", C.Q_SCTP), ("TCP", C.Q_TCP), ("UDP", C.Q_UDP), ("ICMP", C.Q_ICMP),
          ("IGMP", C.Q_IGMP), ("IGRP", C.Q_IGRP), ("PIM", C.Q_PIM), ("VRRP", C.Q_VRRP),
          ("CARP", C.Q_CARP), ("ATALK", C.Q_ATALK), ("AARP", C.Q_AARP),
          ("DECNET", C.Q_DECNET), ("LAT", C.Q_LAT), ("SCA", C.Q_SCA), ("MOPDL", C.Q_MOPDL),
          ("MOPRC", C.Q_MOPRC), ("IPV6", C.Q_IPV6), ("ICMPV6", C.Q_ICMPV6), ("AH", C.Q_AH),
          ("ESP", C.Q_ESP), ("ISO", C.Q_ISO), ("ESIS", C.Q_ESIS), ("ISIS", C.Q_ISIS),
          ("L1", C.Q_ISIS_L1), ("L2", C.Q_ISIS_L2), ("IIH", C.Q_ISIS_IIH),
          ("LSP", C.Q_ISIS_LSP), ("SNP", C.Q_ISIS_SNP), ("PSNP", C.Q_ISIS_PSNP),
          ("CSNP", C.Q_ISIS_CSNP), ("CLNP", C.Q_CLNP), ("STP", C.Q_STP), ("IPX", C.Q_IPX),
          ("NETBEUI", C.Q_NETBEUI), ("RADIO", C.Q_RADIO))

PRECEDENCE = (("left", ("OR", "AND")), ("nonassoc", ("!",)), ("left", ("|",)),
              ("left", ("&",)), ("left", ("LSH", "RSH")), ("left", ("+", "-")),
              ("left", ("*", "/")), ("nonassoc", ("UMINUS",)))

PRODUCTIONS = _productions()
# actions that also need the value two below their rule (Bison's $<i>-1)
DEEP_ACTIONS = frozenset({_subtype_id})
