"""Arithmetic and packet accessors (``ip[2:2] + 4 > len``), ``less``/``greater``/``byte``,
``broadcast``/``multicast``, ``inbound``/``outbound``/``ifindex``, ``llc``, and the
errors for link-specific keywords (ATM, MTP, pf, 802.11) on link types without them."""

from __future__ import annotations

from pybpf.cbpf.insn import (ADD, ALU, AND, B, DIV, H, IMM, IND, JEQ, JGE, JGT, JSET, LD,
                             LDX, LEN, LSH, MEM, MISC, MOD, NEG, OR, RSH, ST, SUB, TAX, W, X)
from pybpf.cbpf.filter import consts as C
from pybpf.cbpf.filter.blocks import Block, Stmt, gen_and, gen_not, gen_or, jmp_block
from pybpf.cbpf.filter.gencode import OR_LINKHDR, OR_LINKPL, OR_LINKTYPE, OR_LLC
from pybpf.cbpf.filter.linktypes import DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, description

NOT_A_BROADCAST_LINK = "not a broadcast link"


class Arth:
    """An arithmetic value: statements leaving it in scratch register ``regno``, and the
    protocol checks (``b``) that must hold for the loads in it to make sense."""

    __slots__ = ("b", "s", "regno")

    def __init__(self, s: list[Stmt], regno: int, b: Block | None = None):
        self.s = s
        self.regno = regno
        self.b = b


class ExprMixin:
    def gen_loadi(self, val: int) -> Arth:
        reg = self.alloc_reg()
        return Arth([Stmt(LD | IMM, val), Stmt(ST, reg)], reg)

    def gen_loadlen(self) -> Arth:
        reg = self.alloc_reg()
        return Arth([Stmt(LD | LEN), Stmt(ST, reg)], reg)

    def gen_load(self, proto: int, inst: Arth, size: int) -> Arth:
        regno = self.alloc_reg()
        self.free_reg(inst.regno)
        size_code = {1: B, 2: H, 4: W}.get(size)
        if size_code is None:
            self.error("data size must be 1, 2, or 4")
        if proto == C.Q_RADIO:
            self.error("radio information not present in capture")
        if proto == C.Q_LINK:
            s = self.gen_abs_offset_varpart(self.off_linkhdr)
            if s is not None:
                s += [Stmt(LD | MEM, inst.regno), Stmt(ALU | ADD | X), Stmt(MISC | TAX)]
            else:
                s = [Stmt(LDX | MEM, inst.regno)]             # ldx M[reg]
            s.append(Stmt(LD | IND | size_code, self.off_linkhdr.constant_part))
            inst.s.extend(s)
        elif proto in (C.Q_IP, C.Q_ARP, C.Q_RARP, C.Q_ATALK, C.Q_DECNET, C.Q_SCA, C.Q_LAT,
                       C.Q_MOPRC, C.Q_MOPDL, C.Q_IPV6):
            s = self._xfer_offset_plus(inst)
            s.append(Stmt(LD | IND | size_code, self.off_linkpl.constant_part + self.off_nl))
            inst.s.extend(s)
            b = self.gen_proto_abbrev_internal(proto)
            if inst.b is not None:
                gen_and(inst.b, b)
            inst.b = b
        elif proto in (C.Q_SCTP, C.Q_TCP, C.Q_UDP, C.Q_ICMP, C.Q_IGMP, C.Q_IGRP, C.Q_PIM,
                       C.Q_VRRP, C.Q_CARP):
            s = self.gen_loadx_iphdrlen()
            s += [Stmt(LD | MEM, inst.regno), Stmt(ALU | ADD | X), Stmt(MISC | TAX),
                  Stmt(LD | IND | size_code, self.off_linkpl.constant_part + self.off_nl)]
            inst.s.extend(s)
            b = self.gen_ipfrag()
            gen_and(self.gen_proto_abbrev_internal(proto), b)
            if inst.b is not None:
                gen_and(inst.b, b)
            gen_and(self.gen_proto_abbrev_internal(C.Q_IP), b)
            inst.b = b
        elif proto == C.Q_ICMPV6:
            b = self.gen_proto_abbrev_internal(C.Q_IPV6)
            if inst.b is not None:
                gen_and(inst.b, b)
            inst.b = b
            b = self.gen_cmp(OR_LINKPL, 6, B, 58)
            gen_and(inst.b, b)
            inst.b = b
            s = self._xfer_offset_plus(inst)
            s.append(Stmt(LD | IND | size_code,
                          self.off_linkpl.constant_part + self.off_nl + 40))
            inst.s.extend(s)
        else:
            self.error("unsupported index operation")
        inst.regno = regno
        inst.s.append(Stmt(ST, regno))
        return inst

    def _xfer_offset_plus(self, inst: Arth) -> list[Stmt]:
        """X = variable part of the payload offset + the index register's value."""
        s = self.gen_abs_offset_varpart(self.off_linkpl)
        if s is not None:
            s += [Stmt(LD | MEM, inst.regno), Stmt(ALU | ADD | X), Stmt(MISC | TAX)]
            return s
        return [Stmt(LDX | MEM, inst.regno)]

    def gen_relation(self, code: int, a0: Arth, a1: Arth, reversed_: bool) -> Block:
        s0 = [Stmt(LDX | MEM, a1.regno)]
        s1 = [Stmt(LD | MEM, a0.regno)]
        if code == JEQ:
            s1.append(Stmt(ALU | SUB | X))                     # sub x
            b = jmp_block(code)
        else:
            b = jmp_block(code, 0, X)
        if reversed_:
            gen_not(b)
        s0.extend(s1)
        a1.s.extend(s0)
        a0.s.extend(a1.s)
        b.stmts = a0.s
        self.free_reg(a0.regno)
        self.free_reg(a1.regno)
        if a0.b is not None:
            if a1.b is not None:
                gen_and(a0.b, a1.b)
            tmp = a1.b if a1.b is not None else a0.b
        else:
            tmp = a1.b
        if tmp is not None:
            gen_and(tmp, b)
        return b

    def gen_neg(self, a: Arth) -> Arth:
        a.s += [Stmt(LD | MEM, a.regno), Stmt(ALU | NEG, 0), Stmt(ST, a.regno)]
        return a

    def gen_arth(self, code: int, a0: Arth, a1: Arth) -> Arth:
        first = a1.s[0]
        if first.code == LD | IMM:
            if code == DIV and first.k == 0:
                self.error("division by zero")
            if code == MOD and first.k == 0:
                self.error("modulus by zero")
            if code in (LSH, RSH) and first.k > 31:
                self.error("shift by more than 31 bits")
        s0 = [Stmt(LDX | MEM, a1.regno), Stmt(LD | MEM, a0.regno), Stmt(ALU | X | code)]
        a1.s.extend(s0)
        a0.s.extend(a1.s)
        self.free_reg(a0.regno)
        self.free_reg(a1.regno)
        reg = self.alloc_reg()
        a0.regno = reg
        a0.s.append(Stmt(ST, reg))
        return a0

    # -- length and bytes ----------------------------------------------------------------

    def gen_len(self, jmp: int, n: int) -> Block:
        b = jmp_block(jmp, n)
        b.stmts = [Stmt(LD | LEN)]
        return b

    def gen_greater(self, n: int) -> Block:
        return self.gen_len(JGE, n)

    def gen_less(self, n: int) -> Block:
        b = self.gen_len(JGT, n)
        gen_not(b)
        return b

    def gen_byteop(self, op: str, idx: int, val: int) -> Block:
        if op == "=":
            return self.gen_cmp(OR_LINKHDR, idx, B, val)
        if op == "<":
            return self.gen_cmp_lt(OR_LINKHDR, idx, B, val)
        if op == ">":
            return self.gen_cmp_gt(OR_LINKHDR, idx, B, val)
        # libpcap's '|' and '&' forms test the operation without loading the byte
        b = jmp_block(JEQ)
        b.stmts = [Stmt(ALU | (OR if op == "|" else AND), val)]
        gen_not(b)
        return b

    # -- broadcast / multicast -----------------------------------------------------------

    def gen_broadcast(self, proto: int) -> Block:
        if proto in (C.Q_DEFAULT, C.Q_LINK):
            if self.linktype == DLT_EN10MB:
                b1 = self.gen_prevlinkhdr_check()
                b0 = self.gen_ehostop(b"\xff" * 6, C.Q_DST)
                if b1 is not None:
                    gen_and(b1, b0)
                return b0
            self.error(NOT_A_BROADCAST_LINK)
        if proto == C.Q_IP:
            if self.netmask == 0xFFFFFFFF:
                self.error("netmask not known, so 'ip broadcast' not supported")
            b0 = self.gen_linktype(C.ETHERTYPE_IP)
            hostmask = ~self.netmask & 0xFFFFFFFF
            b1 = self.gen_mcmp(OR_LINKPL, 16, W, 0, hostmask)
            b2 = self.gen_mcmp(OR_LINKPL, 16, W, hostmask, hostmask)
            gen_or(b1, b2)
            gen_and(b0, b2)
            return b2
        self.error("only link-layer/IP broadcast filters supported")

    def gen_multicast(self, proto: int) -> Block:
        if proto in (C.Q_DEFAULT, C.Q_LINK):
            if self.linktype == DLT_EN10MB:
                b1 = self.gen_prevlinkhdr_check()
                b0 = jmp_block(JSET, 1)
                b0.stmts = self.gen_load_a(OR_LINKHDR, 0, B)
                if b1 is not None:
                    gen_and(b1, b0)
                return b0
        elif proto == C.Q_IP:
            b0 = self.gen_linktype(C.ETHERTYPE_IP)
            b1 = self.gen_cmp_ge(OR_LINKPL, 16, B, 224)
            gen_and(b0, b1)
            return b1
        elif proto == C.Q_IPV6:
            b0 = self.gen_linktype(C.ETHERTYPE_IPV6)
            b1 = self.gen_cmp(OR_LINKPL, 24, B, 255)
            gen_and(b0, b1)
            return b1
        self.error("link-layer multicast filters supported only on ethernet/FDDI/token "
                   "ring/ARCNET/802.11/ATM LANE/Fibre Channel")

    # -- direction / interface -----------------------------------------------------------

    def gen_inbound(self, outbound: bool) -> Block:
        if self.linktype == DLT_LINUX_SLL:
            b0 = self.gen_cmp(OR_LINKHDR, 0, H, C.LINUX_SLL_OUTGOING)
        elif self.linktype == DLT_LINUX_SLL2:
            b0 = self.gen_cmp(OR_LINKHDR, 10, B, C.LINUX_SLL_OUTGOING)
        else:
            if self.savefile:
                self.error("inbound/outbound not supported on "
                           f"{description(self.linktype)} when reading savefiles")
            b0 = self.gen_cmp(OR_LINKHDR, (-0x1000 + 4) & 0xFFFFFFFF, H, 4)
        if not outbound:
            gen_not(b0)
        return b0

    def gen_ifindex(self, ifindex: int) -> Block:
        if self.linktype == DLT_LINUX_SLL2:
            return self.gen_cmp(OR_LINKHDR, 4, W, ifindex)
        if self.savefile:
            self.error(f"ifindex not supported on {description(self.linktype)} "
                       "when reading savefiles")
        return self.gen_cmp(OR_LINKHDR, (-0x1000 + 8) & 0xFFFFFFFF, W, ifindex)

    # -- 802.2 LLC -----------------------------------------------------------------------

    def gen_llc_internal(self) -> Block:
        if self.linktype == DLT_EN10MB:
            b0 = self.gen_cmp_gt(OR_LINKTYPE, 0, H, C.ETHERMTU)
            gen_not(b0)
            b1 = self.gen_cmp(OR_LLC, 0, H, 0xFFFF)
            gen_not(b1)
            gen_and(b0, b1)
            return b1
        self.error(f"'llc' not supported for {description(self.linktype)}")

    def gen_llc(self, kind: str | None = None, subtype: int = 0) -> Block:
        b0 = self.gen_llc_internal()
        if kind is None:
            return b0
        if kind == "i":
            b1 = jmp_block(JSET, 0x01)
            b1.stmts = self.gen_load_a(OR_LLC, 2, B)
            gen_not(b1)
        elif kind == "s":
            b1 = self.gen_mcmp(OR_LLC, 2, B, C.LLC_S_FMT, 0x03)
        elif kind == "u":
            b1 = self.gen_mcmp(OR_LLC, 2, B, C.LLC_U_FMT, 0x03)
        elif kind == "s_sub":
            b1 = self.gen_mcmp(OR_LLC, 2, B, subtype, C.LLC_S_CMD_MASK)
        else:
            b1 = self.gen_mcmp(OR_LLC, 2, B, subtype, C.LLC_U_CMD_MASK)
        gen_and(b0, b1)
        return b1

