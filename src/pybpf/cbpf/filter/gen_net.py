"""Addresses, ports and protocols: ``host``, ``net``, ``ether host``, ``port``,
``portrange``, ``proto``, the protocol abbreviations (``tcp``, ``ip6``...), and the entry
points the grammar calls for names (``gen_scode``), numbers (``gen_ncode``), masks
(``gen_mcode``/``gen_mcode6``) and MAC addresses (``gen_ecode``)."""

from __future__ import annotations

from pybpf.cbpf.insn import B, H, JSET, W
from pybpf.cbpf.filter import consts as C
from pybpf.cbpf.filter import names
from pybpf.cbpf.filter.blocks import Block, gen_and, gen_not, gen_or, jmp_block
from pybpf.cbpf.filter.consts import (PROTO_NAMES, PROTO_UNDEF, Q_ADDR1, Q_ADDR2, Q_ADDR3,
                                      Q_ADDR4, Q_AND, Q_DEFAULT, Q_DST, Q_OR, Q_RA, Q_SRC,
                                      Q_TA)
from pybpf.cbpf.filter.gencode import (OR_LINKHDR, OR_LINKPL, OR_LINKPL_NOSNAP,
                                       OR_TRAN_IPV4, OR_TRAN_IPV6)

_DIR_802_11 = {Q_ADDR1: "'addr1' and 'address1' are", Q_ADDR2: "'addr2' and 'address2' are",
               Q_ADDR3: "'addr3' and 'address3' are", Q_ADDR4: "'addr4' and 'address4' are",
               Q_RA: "'ra' is", Q_TA: "'ta' is"}


def _wlan_dir_error(gen, d: int, what: str) -> None:
    """The error for an 802.11 address qualifier on something that is not a MAC address."""
    words = _DIR_802_11[d]
    if words.endswith("are"):
        gen.error(f"{words} not valid qualifiers for {what}")
    gen.error(f"{words} not a valid qualifier for {what}")


class NetMixin:
    # -- hosts -------------------------------------------------------------------------

    def gen_hostop(self, addr: int, mask: int, d: int, ll_proto: int, src_off: int,
                   dst_off: int) -> Block:
        if d == Q_SRC:
            offset = src_off
        elif d == Q_DST:
            offset = dst_off
        elif d in (Q_AND, Q_DEFAULT, Q_OR):
            b0 = self.gen_hostop(addr, mask, Q_SRC, ll_proto, src_off, dst_off)
            b1 = self.gen_hostop(addr, mask, Q_DST, ll_proto, src_off, dst_off)
            (gen_and if d == Q_AND else gen_or)(b0, b1)
            return b1
        else:
            _wlan_dir_error(self, d, "addresses other than 802.11 MAC addresses")
        b0 = self.gen_linktype(ll_proto)
        b1 = self.gen_mcmp(OR_LINKPL, offset, W, addr, mask)
        gen_and(b0, b1)
        return b1

    def gen_hostop6(self, addr: bytes, mask: bytes, d: int, ll_proto: int, src_off: int,
                    dst_off: int) -> Block:
        if d == Q_SRC:
            offset = src_off
        elif d == Q_DST:
            offset = dst_off
        elif d in (Q_AND, Q_DEFAULT, Q_OR):
            b0 = self.gen_hostop6(addr, mask, Q_SRC, ll_proto, src_off, dst_off)
            b1 = self.gen_hostop6(addr, mask, Q_DST, ll_proto, src_off, dst_off)
            (gen_and if d == Q_AND else gen_or)(b0, b1)
            return b1
        else:
            _wlan_dir_error(self, d, "addresses other than 802.11 MAC addresses")

        def word(bs: bytes, i: int) -> int:
            return int.from_bytes(bs[4 * i:4 * i + 4], "big")
        b1 = self.gen_mcmp(OR_LINKPL, offset + 12, W, word(addr, 3), word(mask, 3))
        for i in (2, 1, 0):
            b0 = self.gen_mcmp(OR_LINKPL, offset + 4 * i, W, word(addr, i), word(mask, i))
            gen_and(b0, b1)
        b0 = self.gen_linktype(ll_proto)
        gen_and(b0, b1)
        return b1

    def gen_ehostop(self, eaddr: bytes, d: int) -> Block:
        if d == Q_SRC:
            return self.gen_bcmp(OR_LINKHDR, 6, 6, eaddr)
        if d == Q_DST:
            return self.gen_bcmp(OR_LINKHDR, 0, 6, eaddr)
        if d in (Q_AND, Q_DEFAULT, Q_OR):
            b0 = self.gen_ehostop(eaddr, Q_SRC)
            b1 = self.gen_ehostop(eaddr, Q_DST)
            (gen_and if d == Q_AND else gen_or)(b0, b1)
            return b1
        self.error(f"{_DIR_802_11[d]} only supported on 802.11 with 802.11 headers")

    def gen_dnhostop(self, addr: int, d: int) -> Block:
        if d == Q_DST:
            offset_sh, offset_lh = 1, 7
        elif d == Q_SRC:
            offset_sh, offset_lh = 3, 15
        elif d in (Q_AND, Q_DEFAULT, Q_OR):
            b0 = self.gen_dnhostop(addr, Q_SRC)
            b1 = self.gen_dnhostop(addr, Q_DST)
            (gen_and if d == Q_AND else gen_or)(b0, b1)
            return b1
        else:
            _wlan_dir_error(self, d, "addresses other than 802.11 MAC addresses")
        swapped = ((addr & 0xFF) << 8) | ((addr >> 8) & 0xFF)     # ntohs on x86
        b0 = self.gen_linktype(C.ETHERTYPE_DN)
        tmp = self.gen_mcmp(OR_LINKPL, 2, H, 0x8106, 0xFF07)
        b1 = self.gen_cmp(OR_LINKPL, 2 + 1 + offset_lh, H, swapped)
        gen_and(tmp, b1)
        tmp = self.gen_mcmp(OR_LINKPL, 2, B, 0x06, 0x7)
        b2 = self.gen_cmp(OR_LINKPL, 2 + offset_lh, H, swapped)
        gen_and(tmp, b2)
        gen_or(b2, b1)
        tmp = self.gen_mcmp(OR_LINKPL, 2, H, 0x8102, 0xFF07)
        b2 = self.gen_cmp(OR_LINKPL, 2 + 1 + offset_sh, H, swapped)
        gen_and(tmp, b2)
        gen_or(b2, b1)
        tmp = self.gen_mcmp(OR_LINKPL, 2, B, 0x02, 0x7)
        b2 = self.gen_cmp(OR_LINKPL, 2 + offset_sh, H, swapped)
        gen_and(tmp, b2)
        gen_or(b2, b1)
        gen_and(b0, b1)
        return b1

    def gen_host(self, addr: int, mask: int, proto: int, d: int, typ: int) -> Block:
        typestr = "net" if typ == C.Q_NET else "host"
        if proto == Q_DEFAULT:
            b0 = self.gen_host(addr, mask, C.Q_IP, d, typ)
            if self.label_stack_depth == 0:
                b1 = self.gen_host(addr, mask, C.Q_ARP, d, typ)
                gen_or(b0, b1)
                b0 = self.gen_host(addr, mask, C.Q_RARP, d, typ)
                gen_or(b1, b0)
            return b0
        if proto == C.Q_IP:
            return self.gen_hostop(addr, mask, d, C.ETHERTYPE_IP, 12, 16)
        if proto == C.Q_RARP:
            return self.gen_hostop(addr, mask, d, C.ETHERTYPE_REVARP, 14, 24)
        if proto == C.Q_ARP:
            return self.gen_hostop(addr, mask, d, C.ETHERTYPE_ARP, 14, 24)
        if proto == C.Q_DECNET:
            return self.gen_dnhostop(addr, d)
        if proto == C.Q_LINK:
            self.error(f"link-layer modifier applied to {typestr}")
        if proto == C.Q_IPV6:
            self.error("'ip6' modifier applied to ip host")
        if proto in _HOST_NOT_IMPLEMENTED:
            self.error(f"{_HOST_NOT_IMPLEMENTED[proto]} host filtering not implemented")
        self.error(f"'{PROTO_NAMES[proto]}' modifier applied to {typestr}")

    def gen_host6(self, addr: bytes, mask: bytes, proto: int, d: int, typ: int) -> Block:
        typestr = "net" if typ == C.Q_NET else "host"
        if proto in (Q_DEFAULT, C.Q_IPV6):
            return self.gen_hostop6(addr, mask, d, C.ETHERTYPE_IPV6, 8, 24)
        if proto == C.Q_LINK:
            self.error(f"link-layer modifier applied to ip6 {typestr}")
        if proto == C.Q_ATALK:
            self.error(f"AppleTalk modifier applied to ip6 {typestr}")
        self.error(f"'{PROTO_NAMES[proto]}' modifier applied to ip6 {typestr}")

    # -- protocols -----------------------------------------------------------------------

    def gen_proto_abbrev_internal(self, proto: int) -> Block:
        """What a bare protocol name (``tcp``, ``ip6``, ``l1``...) matches."""
        if proto in _ABBREV_PROTO:
            v, p = _ABBREV_PROTO[proto]
            return self.gen_proto(v, p, Q_DEFAULT)
        if proto in _ABBREV_LINK:
            return self.gen_linktype(_ABBREV_LINK[proto])
        if proto in _ABBREV_ISIS:
            vals = _ABBREV_ISIS[proto]
            b0 = self.gen_proto(vals[0], C.Q_ISIS, Q_DEFAULT)
            b1 = self.gen_proto(vals[1], C.Q_ISIS, Q_DEFAULT)
            gen_or(b0, b1)
            for v in vals[2:]:
                b0 = self.gen_proto(v, C.Q_ISIS, Q_DEFAULT)
                gen_or(b0, b1)
            return b1
        if proto == C.Q_LINK:
            self.error("link layer applied in wrong context")
        if proto == C.Q_RADIO:
            self.error("'radio' is not a valid protocol type")
        raise AssertionError(proto)

    def gen_ipfrag(self) -> Block:
        b = jmp_block(JSET, 0x1FFF)
        b.stmts = self.gen_load_a(OR_LINKPL, 6, H)
        gen_not(b)
        return b

    def gen_proto(self, v: int, proto: int, d: int) -> Block:
        if d != Q_DEFAULT:
            self.error("direction applied to 'proto'")
        if proto == Q_DEFAULT:
            b0 = self.gen_proto(v, C.Q_IP, d)
            b1 = self.gen_proto(v, C.Q_IPV6, d)
            gen_or(b0, b1)
            return b1
        if proto == C.Q_LINK:
            return self.gen_linktype(v)
        if proto == C.Q_IP:
            b0 = self.gen_linktype(C.ETHERTYPE_IP)
            b1 = self.gen_cmp(OR_LINKPL, 9, B, v)
            gen_and(b0, b1)
            return b1
        if proto == C.Q_IPV6:
            b0 = self.gen_linktype(C.ETHERTYPE_IPV6)
            b2 = self.gen_cmp(OR_LINKPL, 6, B, C.IPPROTO_FRAGMENT)
            b1 = self.gen_cmp(OR_LINKPL, 40, B, v)
            gen_and(b2, b1)
            b2 = self.gen_cmp(OR_LINKPL, 6, B, v)
            gen_or(b2, b1)
            gen_and(b0, b1)
            return b1
        if proto == C.Q_ISO:
            b0 = self.gen_linktype(C.LLCSAP_ISONS)
            b1 = self.gen_cmp(OR_LINKPL_NOSNAP, 0, B, v)
            gen_and(b0, b1)
            return b1
        if proto == C.Q_ISIS:
            b0 = self.gen_proto(C.ISO10589_ISIS, C.Q_ISO, Q_DEFAULT)
            b1 = self.gen_cmp(OR_LINKPL_NOSNAP, 4, B, v)
            gen_and(b0, b1)
            return b1
        if proto in _PROTO_ERRORS:
            self.error(_PROTO_ERRORS[proto])
        self.error(f"'{PROTO_NAMES[proto]} proto' is bogus")

    def lookup_proto(self, name: str, proto: int) -> int:
        if proto in (Q_DEFAULT, C.Q_IP, C.Q_IPV6):
            v = names.nametoproto(name)
            if v == PROTO_UNDEF:
                self.error(f"unknown ip proto '{name}'")
            return v
        if proto == C.Q_LINK:
            v = _EPROTO.get(name, _LLC.get(name, PROTO_UNDEF))
            if v == PROTO_UNDEF:
                self.error(f"unknown ether proto '{name}'")
            return v
        if proto == C.Q_ISO:
            v = {"esis": C.ISO9542_ESIS, "isis": C.ISO10589_ISIS,
                 "clnp": C.ISO8473_CLNP}.get(name)
            if v is None:
                self.error(f"unknown osi proto '{name}'")
            return v
        return PROTO_UNDEF

    # -- ports ---------------------------------------------------------------------------

    def _portop(self, port1: int, port2: int | None, proto: int, d: int, v6: bool) -> Block:
        """gen_portop/gen_portrangeop and their IPv6 twins (port2 None: a single port)."""
        what = "ports" if port2 is None else "port ranges"
        if v6:
            b0 = self.gen_cmp(OR_LINKPL, 6, B, proto)
        else:
            tmp = self.gen_cmp(OR_LINKPL, 9, B, proto)
            b0 = self.gen_ipfrag()
            gen_and(tmp, b0)
        rel = OR_TRAN_IPV6 if v6 else OR_TRAN_IPV4

        def atom(off: int) -> Block:
            if port2 is None:
                return self.gen_cmp(rel, off, H, port1)
            lo, hi = (port1, port2) if port1 <= port2 else (port2, port1)
            b1 = self.gen_cmp_ge(rel, off, H, lo)
            b2 = self.gen_cmp_le(rel, off, H, hi)
            gen_and(b1, b2)
            return b2
        if d == Q_SRC:
            b1 = atom(0)
        elif d == Q_DST:
            b1 = atom(2)
        elif d in (Q_AND, Q_DEFAULT, Q_OR):
            tmp = atom(0)
            b1 = atom(2)
            (gen_and if d == Q_AND else gen_or)(tmp, b1)
        elif v6:
            raise AssertionError("bad direction")
        else:
            _wlan_dir_error(self, d, what)
        gen_and(b0, b1)
        return b1

    def gen_port(self, port1: int, port2: int | None, ip_proto: int, d: int,
                 v6: bool = False) -> Block:
        b0 = self.gen_linktype(C.ETHERTYPE_IPV6 if v6 else C.ETHERTYPE_IP)
        if ip_proto in (C.IPPROTO_UDP, C.IPPROTO_TCP, C.IPPROTO_SCTP):
            b1 = self._portop(port1, port2, ip_proto, d, v6)
        else:
            tmp = self._portop(port1, port2, C.IPPROTO_TCP, d, v6)
            b1 = self._portop(port1, port2, C.IPPROTO_UDP, d, v6)
            gen_or(tmp, b1)
            tmp = self._portop(port1, port2, C.IPPROTO_SCTP, d, v6)
            gen_or(tmp, b1)
        gen_and(b0, b1)
        return b1

    def gen_port_both(self, port1: int, port2: int | None, proto: int, d: int) -> Block:
        b = self.gen_port(port1, port2, proto, d)
        gen_or(self.gen_port(port1, port2, proto, d, v6=True), b)
        return b


_ABBREV_PROTO = {
    C.Q_SCTP: (C.IPPROTO_SCTP, Q_DEFAULT), C.Q_TCP: (C.IPPROTO_TCP, Q_DEFAULT),
    C.Q_UDP: (C.IPPROTO_UDP, Q_DEFAULT), C.Q_ICMP: (C.IPPROTO_ICMP, C.Q_IP),
    C.Q_IGMP: (C.IPPROTO_IGMP, C.Q_IP), C.Q_IGRP: (C.IPPROTO_IGRP, C.Q_IP),
    C.Q_PIM: (C.IPPROTO_PIM, Q_DEFAULT), C.Q_VRRP: (C.IPPROTO_VRRP, C.Q_IP),
    C.Q_CARP: (C.IPPROTO_CARP, C.Q_IP), C.Q_ICMPV6: (C.IPPROTO_ICMPV6, C.Q_IPV6),
    C.Q_AH: (C.IPPROTO_AH, Q_DEFAULT), C.Q_ESP: (C.IPPROTO_ESP, Q_DEFAULT),
    C.Q_ESIS: (C.ISO9542_ESIS, C.Q_ISO), C.Q_ISIS: (C.ISO10589_ISIS, C.Q_ISO),
    C.Q_CLNP: (C.ISO8473_CLNP, C.Q_ISO)}
_ABBREV_LINK = {
    C.Q_IP: C.ETHERTYPE_IP, C.Q_ARP: C.ETHERTYPE_ARP, C.Q_RARP: C.ETHERTYPE_REVARP,
    C.Q_ATALK: C.ETHERTYPE_ATALK, C.Q_AARP: C.ETHERTYPE_AARP, C.Q_DECNET: C.ETHERTYPE_DN,
    C.Q_SCA: C.ETHERTYPE_SCA, C.Q_LAT: C.ETHERTYPE_LAT, C.Q_MOPDL: C.ETHERTYPE_MOPDL,
    C.Q_MOPRC: C.ETHERTYPE_MOPRC, C.Q_IPV6: C.ETHERTYPE_IPV6, C.Q_ISO: C.LLCSAP_ISONS,
    C.Q_STP: C.LLCSAP_8021D, C.Q_IPX: C.LLCSAP_IPX, C.Q_NETBEUI: C.LLCSAP_NETBEUI}
# IS-IS PDU groups, in the order libpcap ORs them together
_ABBREV_ISIS = {
    C.Q_ISIS_L1: (C.ISIS_L1_LAN_IIH, C.ISIS_PTP_IIH, C.ISIS_L1_LSP, C.ISIS_L1_CSNP,
                  C.ISIS_L1_PSNP),
    C.Q_ISIS_L2: (C.ISIS_L2_LAN_IIH, C.ISIS_PTP_IIH, C.ISIS_L2_LSP, C.ISIS_L2_CSNP,
                  C.ISIS_L2_PSNP),
    C.Q_ISIS_IIH: (C.ISIS_L1_LAN_IIH, C.ISIS_L2_LAN_IIH, C.ISIS_PTP_IIH),
    C.Q_ISIS_LSP: (C.ISIS_L1_LSP, C.ISIS_L2_LSP),
    C.Q_ISIS_SNP: (C.ISIS_L1_CSNP, C.ISIS_L2_CSNP, C.ISIS_L1_PSNP, C.ISIS_L2_PSNP),
    C.Q_ISIS_CSNP: (C.ISIS_L1_CSNP, C.ISIS_L2_CSNP),
    C.Q_ISIS_PSNP: (C.ISIS_L1_PSNP, C.ISIS_L2_PSNP)}
_HOST_NOT_IMPLEMENTED = {C.Q_ATALK: "AppleTalk", C.Q_LAT: "LAT", C.Q_SCA: "SCA",
                         C.Q_MOPRC: "MOPRC", C.Q_MOPDL: "MOPDL", C.Q_AARP: "AARP",
                         C.Q_ISO: "ISO", C.Q_IPX: "IPX"}
_PROTO_ERRORS = {C.Q_ARP: "arp does not encapsulate another protocol",
                 C.Q_RARP: "rarp does not encapsulate another protocol",
                 C.Q_ATALK: "AppleTalk encapsulation is not specifiable",
                 C.Q_DECNET: "DECNET encapsulation is not specifiable",
                 C.Q_LAT: "LAT does not encapsulate another protocol",
                 C.Q_SCA: "SCA does not encapsulate another protocol",
                 C.Q_MOPRC: "MOPRC does not encapsulate another protocol",
                 C.Q_MOPDL: "MOPDL does not encapsulate another protocol",
                 C.Q_CLNP: "'clnp proto' is not supported"}
_EPROTO = {"aarp": C.ETHERTYPE_AARP, "arp": C.ETHERTYPE_ARP, "atalk": C.ETHERTYPE_ATALK,
           "decnet": C.ETHERTYPE_DN, "ip": C.ETHERTYPE_IP, "ip6": C.ETHERTYPE_IPV6,
           "lat": C.ETHERTYPE_LAT, "loopback": C.ETHERTYPE_LOOPBACK,
           "mopdl": C.ETHERTYPE_MOPDL, "moprc": C.ETHERTYPE_MOPRC,
           "rarp": C.ETHERTYPE_REVARP, "sca": C.ETHERTYPE_SCA}
_LLC = {"iso": C.LLCSAP_ISONS, "stp": C.LLCSAP_8021D, "ipx": C.LLCSAP_IPX,
        "netbeui": C.LLCSAP_NETBEUI}

