"""What the grammar calls with an identifier, number, address or MAC under a qualifier:
``gen_scode`` (names), ``gen_ncode`` (numbers and dotted IPv4 prefixes), ``gen_mcode``
(``net a/len``, ``net a mask m``), ``gen_mcode6``, ``gen_ecode``, and ``protochain``."""

from __future__ import annotations

import socket

from pybpf.cbpf.insn import (ABS, ADD, ALU, B, IMM, IND, JA, JEQ, JMP, LD, LDX, MEM, MISC,
                             MSH, MUL, ST, TAX, TXA, X)
from pybpf.cbpf.filter import consts as C
from pybpf.cbpf.filter import names
from pybpf.cbpf.filter.blocks import Block, Stmt, gen_and, gen_or, jmp_block
from pybpf.cbpf.filter.consts import (PROTO_UNDEF, Q_DEFAULT, Q_GATEWAY, Q_HOST, Q_NET,
                                      Q_PORT, Q_PORTRANGE, Q_PROTO, Q_PROTOCHAIN, Q_UNDEF)
from pybpf.cbpf.filter.linktypes import DLT_EN10MB, OFFSET_NOT_SET

_PORT_PROTOS = {C.Q_UDP: C.IPPROTO_UDP, C.Q_TCP: C.IPPROTO_TCP, C.Q_SCTP: C.IPPROTO_SCTP,
                Q_DEFAULT: PROTO_UNDEF}
_PROTO_WORD = {C.IPPROTO_TCP: "tcp", C.IPPROTO_UDP: "udp", C.IPPROTO_SCTP: "sctp"}
LINK_HOST_ONLY = ("only ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel supports "
                  "link-level host name")


class Qual(tuple):
    """(addr, proto, dir) qualifiers, as the grammar passes them along."""

    __slots__ = ()

    def __new__(cls, addr: int, proto: int, d: int):
        return tuple.__new__(cls, (addr, proto, d))

    addr = property(lambda self: self[0])
    proto = property(lambda self: self[1])
    dir = property(lambda self: self[2])


QERR = Qual(Q_UNDEF, Q_UNDEF, Q_UNDEF)


class CodesMixin:
    def syntax(self) -> None:
        self.error("syntax error in filter expression")

    def _check_port_proto(self, proto: int, real: int, what: str, name: str) -> int:
        """The tcp/udp/sctp agreement rules for a named port (or range)."""
        for q, own in ((C.Q_UDP, C.IPPROTO_UDP), (C.Q_TCP, C.IPPROTO_TCP),
                       (C.Q_SCTP, C.IPPROTO_SCTP)):
            if proto == q:
                for other in (C.IPPROTO_TCP, C.IPPROTO_UDP, C.IPPROTO_SCTP):
                    if other != own and real == other:
                        self.error(f"{what} '{name}' is {_PROTO_WORD[other]}")
                return own
        return real

    def _check_port_number(self, port: int) -> None:
        if port < 0:
            self.error(f"illegal port number {port} < 0")
        if port > 65535:
            self.error(f"illegal port number {port} > 65535")

    def gen_scode(self, name: str, q: Qual) -> Block:
        addr, proto, d = q
        if addr == Q_NET:
            a = names.nametonetaddr(name)
            if a == 0:
                self.error(f"unknown network '{name}'")
            mask = 0xFFFFFFFF
            while a and (a & 0xFF000000) == 0:
                a = (a << 8) & 0xFFFFFFFF
                mask = (mask << 8) & 0xFFFFFFFF
            return self.gen_host(a, mask, proto, d, addr)
        if addr in (Q_DEFAULT, Q_HOST):
            if proto == C.Q_LINK:
                if self.linktype == DLT_EN10MB:
                    eaddr = names.ether_hostton(name)
                    if eaddr is None:
                        self.error(f"unknown ether host '{name}'")
                    tmp = self.gen_prevlinkhdr_check()
                    b = self.gen_ehostop(eaddr, d)
                    if tmp is not None:
                        gen_and(tmp, b)
                    return b
                self.error(LINK_HOST_ONLY)
            if proto == C.Q_DECNET:
                self.error(f"decnet name support not included, '{name}' cannot be "
                           "translated\n")
            res = names.nametoaddrinfo(name)
            if res is None:
                self.error(f"unknown host '{name}'")
            tproto = tproto6 = proto
            if self.off_linktype.constant_part == OFFSET_NOT_SET and tproto == Q_DEFAULT:
                tproto, tproto6 = C.Q_IP, C.Q_IPV6
            b = None
            for family, packed in res:
                if family == socket.AF_INET:
                    if tproto == C.Q_IPV6:
                        continue
                    tmp = self.gen_host(int.from_bytes(packed, "big"), 0xFFFFFFFF, tproto,
                                        d, addr)
                elif family == socket.AF_INET6:
                    if tproto6 == C.Q_IP:
                        continue
                    tmp = self.gen_host6(packed, b"\xff" * 16, tproto6, d, addr)
                else:
                    continue
                if b is not None:
                    gen_or(b, tmp)
                b = tmp
            if b is None:
                extra = "" if proto == Q_DEFAULT else " for specified address family"
                self.error(f"unknown host '{name}'{extra}")
            return b
        if addr == Q_PORT:
            if proto not in _PORT_PROTOS:
                self.error("illegal qualifier of 'port'")
            found = names.nametoport(name)
            if found is None:
                self.error(f"unknown port '{name}'")
            port, real = found
            real = self._check_port_proto(proto, real, "port", name)
            self._check_port_number(port)
            return self.gen_port_both(port, None, real, d)
        if addr == Q_PORTRANGE:
            if proto not in _PORT_PROTOS:
                self.error("illegal qualifier of 'portrange'")
            found = names.nametoportrange(name)
            if found is None:
                self.error(f"unknown port in range '{name}'")
            p1, p2, real = found
            real = self._check_port_proto(proto, real, "port in range", name)
            self._check_port_number(p1)
            self._check_port_number(p2)
            return self.gen_port_both(p1, p2, real, d)
        if addr == Q_GATEWAY:
            self.error("'gateway' not supported in this configuration")
        if addr in (Q_PROTO, Q_PROTOCHAIN):
            real = self.lookup_proto(name, proto)
            if real < 0:
                self.error(f"unknown protocol: {name}")
            if addr == Q_PROTO:
                return self.gen_proto(real, proto, d)
            return self.gen_protochain(real, proto)
        self.syntax()

    def gen_ncode(self, s: str | None, v: int, q: Qual) -> Block:
        addr, proto, d = q
        if s is None:
            vlen = 32
        elif proto == C.Q_DECNET:
            v, vlen = names.atodn(s)
            if vlen == 0:
                self.error(f"malformed decnet address '{s}'")
        else:
            v, vlen = names.atoin(s)
            if vlen < 0:
                self.error(f"invalid IPv4 address '{s}'")
        if addr in (Q_DEFAULT, Q_HOST, Q_NET):
            if proto == C.Q_DECNET:
                return self.gen_host(v, 0, proto, d, addr)
            if proto == C.Q_LINK:
                self.error("illegal link layer address")
            mask = 0xFFFFFFFF
            if s is None and addr == Q_NET:
                while v and (v & 0xFF000000) == 0:
                    v = (v << 8) & 0xFFFFFFFF
                    mask = (mask << 8) & 0xFFFFFFFF
            else:
                v = (v << (32 - vlen)) & 0xFFFFFFFF
                mask = (mask << (32 - vlen)) & 0xFFFFFFFF
            return self.gen_host(v, mask, proto, d, addr)
        if addr in (Q_PORT, Q_PORTRANGE):
            word = "port" if addr == Q_PORT else "portrange"
            if proto not in _PORT_PROTOS:
                self.error(f"illegal qualifier of '{word}'")
            if v > 65535:
                self.error(f"illegal port number {v} > 65535")
            return self.gen_port_both(v, None if addr == Q_PORT else v, _PORT_PROTOS[proto], d)
        if addr == Q_GATEWAY:
            self.error("'gateway' requires a name")
        if addr == Q_PROTO:
            return self.gen_proto(v, proto, d)
        if addr == Q_PROTOCHAIN:
            return self.gen_protochain(v, proto)
        self.syntax()

    def gen_mcode(self, s1: str, s2: str | None, masklen: int, q: Qual) -> Block:
        n, nlen = names.atoin(s1)
        if nlen < 0:
            self.error(f"invalid IPv4 address '{s1}'")
        n = (n << (32 - nlen)) & 0xFFFFFFFF
        if s2 is not None:
            m, mlen = names.atoin(s2)
            if mlen < 0:
                self.error(f"invalid IPv4 address '{s2}'")
            m = (m << (32 - mlen)) & 0xFFFFFFFF
            if n & ~m & 0xFFFFFFFF:
                self.error(f'non-network bits set in "{s1} mask {s2}"')
        else:
            if masklen > 32:
                self.error("mask length must be <= 32")
            m = 0 if masklen == 0 else (0xFFFFFFFF << (32 - masklen)) & 0xFFFFFFFF
            if n & ~m & 0xFFFFFFFF:
                self.error(f'non-network bits set in "{s1}/{_as_int(masklen)}"')
        if q.addr == Q_NET:
            return self.gen_host(n, m, q.proto, q.dir, q.addr)
        self.error("Mask syntax for networks only")

    def gen_mcode6(self, s1: str, masklen: int, q: Qual) -> Block:
        res = names.nametoaddrinfo(s1)
        if not res:
            self.error(f"invalid ip6 address {s1}")
        if len(res) > 1:
            self.error(f"{s1} resolved to multiple address")
        a = res[0][1]
        if masklen > 128:
            self.error("mask length must be <= 128")
        mask = (((1 << masklen) - 1) << (128 - masklen)).to_bytes(16, "big")
        if int.from_bytes(a, "big") & ~int.from_bytes(mask, "big"):
            self.error(f'non-network bits set in "{s1}/{_as_int(masklen)}"')
        if q.addr in (Q_DEFAULT, Q_HOST):
            if masklen != 128:
                self.error("Mask syntax for networks only")
        elif q.addr != Q_NET:
            self.error("invalid qualifier against IPv6 address")
        return self.gen_host6(a, mask, q.proto, q.dir, q.addr)

    def gen_ecode(self, s: str, q: Qual) -> Block:
        if q.addr in (Q_HOST, Q_DEFAULT) and q.proto == C.Q_LINK:
            e = names.ether_aton(s)
            if self.linktype == DLT_EN10MB:
                tmp = self.gen_prevlinkhdr_check()
                b = self.gen_ehostop(e, q.dir)
                if tmp is not None:
                    gen_and(tmp, b)
                return b
            self.error("ethernet addresses supported only on ethernet/FDDI/token ring/"
                       "802.11/ATM LANE/Fibre Channel")
        self.error("ethernet address used in non-ether expression")

    def gen_acode(self, s: str, q: Qual) -> Block:
        self.error("aid supported only on ARCnet")

    def gen_protochain(self, v: int, proto: int) -> Block:
        reg2 = self.alloc_reg()
        if proto == Q_DEFAULT:
            b0 = self.gen_protochain(v, C.Q_IP)
            b = self.gen_protochain(v, C.Q_IPV6)
            gen_or(b0, b)
            return b
        if proto not in (C.Q_IP, C.Q_IPV6):
            self.error("bad protocol applied for 'protochain'")
        if self.off_linkpl.is_variable:
            self.error("'protochain' not supported with variable length headers")
        self.no_optimize = True
        base = self.off_linkpl.constant_part + self.off_nl
        s: list[Stmt] = []
        if proto == C.Q_IP:
            b0 = self.gen_linktype(C.ETHERTYPE_IP)
            s += [Stmt(LD | ABS | B, base + 9), Stmt(LDX | MSH | B, base)]
        else:
            b0 = self.gen_linktype(C.ETHERTYPE_IPV6)
            s += [Stmt(LD | ABS | B, base + 6), Stmt(LDX | IMM, 40)]
        again = len(s) + 1                   # libpcap's indices count a dummy s[0]

        def emit(st: Stmt) -> Stmt:
            s.append(st)
            return st
        fix5 = emit(Stmt(JMP | JEQ, v))
        fix2 = emit(Stmt(JMP | JEQ, C.IPPROTO_NONE))
        fix5.jf = fix2
        fix3 = None
        if proto == C.Q_IPV6:
            v6 = [emit(Stmt(JMP | JEQ, k)) for k in (C.IPPROTO_HOPOPTS, C.IPPROTO_DSTOPTS,
                                                     C.IPPROTO_ROUTING, C.IPPROTO_FRAGMENT)]
            fix2.jf = v6[0]
            for a, b_ in zip(v6, v6[1:]):
                a.jf = b_
            fix3 = v6[-1]
            advance = emit(Stmt(LD | IND | B, base))
            emit(Stmt(ST, reg2))
            emit(Stmt(LD | IND | B, base + 1))
            emit(Stmt(ALU | ADD, 1))
            emit(Stmt(ALU | MUL, 8))
            emit(Stmt(ALU | ADD | X, 0))
            emit(Stmt(MISC | TAX))
            last = emit(Stmt(LD | MEM, reg2))
            i = len(s) + 1
            ja = emit(Stmt(JMP | JA, again - i - 1))
            last.jf = ja
            for st in v6:
                st.jt = advance
        else:
            fix2.jf = emit(Stmt(ALU | ADD, 0))
        ahcheck = emit(Stmt(JMP | JEQ, C.IPPROTO_AH))
        if fix3 is not None:
            fix3.jf = ahcheck
        ahcheck.jt = emit(Stmt(MISC | TXA))
        emit(Stmt(LD | IND | B, base))
        st = emit(Stmt(ST, reg2))
        st.jt = emit(Stmt(MISC | TXA))
        emit(Stmt(ALU | ADD, 1))
        emit(Stmt(MISC | TAX))
        emit(Stmt(LD | IND | B, base))
        emit(Stmt(ALU | ADD, 2))
        emit(Stmt(ALU | MUL, 4))
        emit(Stmt(MISC | TAX))
        emit(Stmt(LD | MEM, reg2))
        i = len(s) + 1
        emit(Stmt(JMP | JA, again - i - 1))
        end = emit(Stmt(ALU | ADD, 0))
        fix2.jt = end
        ahcheck.jf = end
        fix5.jt = end
        b = jmp_block(JEQ, v)
        b.stmts = s
        self.free_reg(reg2)
        gen_and(b0, b)
        return b


def _as_int(v: int) -> int:
    """A u_int printed with %d."""
    return v - (1 << 32) if v >= 1 << 31 else v
