"""Code generation state and the primitives everything else is built from: header offsets,
loads relative to a header, comparisons, scratch registers and the link-layer type tests.

The offsets follow libpcap's model. ``off_linkhdr``/``off_linkpl``/``off_linktype`` are
absolute offsets with a constant part and, when a header before them has a run-time length,
a scratch register holding the variable part. ``off_nl`` is the network header's offset in
the link-layer payload. ``vlan``, ``mpls`` and ``pppoes`` move these as they are parsed,
so everything after them in the expression looks inside the encapsulation.
"""

from __future__ import annotations

from pybpf.cbpf.insn import (ABS, ALU, AND, B, H, IMM, IND, JEQ, JGE, JGT, LD, LDX, MEM,
                             MSH, ADD, LSH, MISC, TAX, W, X)
from pybpf.cbpf.filter import consts as C
from pybpf.cbpf.filter.blocks import Block, Stmt, gen_and, gen_not, gen_or, jmp_block
from pybpf.cbpf.filter.errors import FilterError
from pybpf.cbpf.filter.linktypes import (DLT_EN10MB, DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL,
                                         DLT_LOOP, DLT_NULL, DLT_PPP, DLT_RAW,
                                         OFFSET_NOT_SET, LinkInfo, description)

# offset bases (enum e_offrel)
(OR_PACKET, OR_LINKHDR, OR_PREVLINKHDR, OR_LLC, OR_PREVMPLSHDR, OR_LINKPL,
 OR_LINKPL_NOSNAP, OR_LINKTYPE, OR_TRAN_IPV4, OR_TRAN_IPV6) = range(10)

MEMWORDS = 16


class AbsOffset:
    __slots__ = ("constant_part", "is_variable", "reg")

    def __init__(self, constant_part: int = 0, is_variable: bool = False, reg: int = -1):
        self.constant_part = constant_part
        self.is_variable = is_variable
        self.reg = reg

    def copy(self) -> "AbsOffset":
        return AbsOffset(self.constant_part, self.is_variable, self.reg)


class GenBase:
    """Compiler state (libpcap's ``compiler_state_t``) and the low-level generators."""

    def __init__(self, link: LinkInfo, snaplen: int, netmask: int, savefile: bool = True):
        self.snaplen = snaplen
        self.netmask = netmask
        self.savefile = savefile
        self.no_optimize = False
        self.regused = [False] * MEMWORDS
        self.curreg = 0
        self.outermostlinktype = self.prevlinktype = self.linktype = link.dlt
        self.off_linkhdr = AbsOffset()
        self.off_linkpl = AbsOffset(link.off_linkpl)
        self.off_linktype = AbsOffset(link.off_linktype)
        self.off_nl = link.off_nl
        self.off_nl_nosnap = link.off_nl_nosnap
        self.off_outermostlinkhdr = self.off_linkhdr.copy()
        self.off_prevlinkhdr = self.off_linkhdr.copy()
        self.is_geneve = False
        self.is_vlan_vloffset = False
        self.label_stack_depth = 0
        self.vlan_stack_depth = 0

    # -- errors and registers ------------------------------------------------------------

    def error(self, msg: str) -> None:
        raise FilterError(msg)

    def alloc_reg(self) -> int:
        for _ in range(MEMWORDS):
            if self.regused[self.curreg]:
                self.curreg = (self.curreg + 1) % MEMWORDS
            else:
                self.regused[self.curreg] = True
                return self.curreg
        self.error("too many registers needed to evaluate expression")

    def free_reg(self, n: int) -> None:
        self.regused[n] = False

    # -- loads ---------------------------------------------------------------------------

    def gen_abs_offset_varpart(self, off: AbsOffset) -> list[Stmt] | None:
        if off.is_variable:
            if off.reg == -1:
                off.reg = self.alloc_reg()
            return [Stmt(LDX | MEM, off.reg)]
        return None

    def gen_load_absoffsetrel(self, off: AbsOffset, offset: int, size: int) -> list[Stmt]:
        s = self.gen_abs_offset_varpart(off)
        if s is not None:
            s.append(Stmt(LD | IND | size, off.constant_part + offset))
            return s
        return [Stmt(LD | ABS | size, off.constant_part + offset)]

    def gen_load_a(self, offrel: int, offset: int, size: int) -> list[Stmt]:
        if offrel == OR_PACKET:
            return [Stmt(LD | ABS | size, offset)]
        if offrel == OR_LINKHDR:
            return self.gen_load_absoffsetrel(self.off_linkhdr, offset, size)
        if offrel == OR_PREVLINKHDR:
            return self.gen_load_absoffsetrel(self.off_prevlinkhdr, offset, size)
        if offrel == OR_LLC:
            return self.gen_load_absoffsetrel(self.off_linkpl, offset, size)
        if offrel == OR_PREVMPLSHDR:
            return self.gen_load_absoffsetrel(self.off_linkpl, self.off_nl - 4 + offset, size)
        if offrel == OR_LINKPL:
            return self.gen_load_absoffsetrel(self.off_linkpl, self.off_nl + offset, size)
        if offrel == OR_LINKPL_NOSNAP:
            return self.gen_load_absoffsetrel(self.off_linkpl, self.off_nl_nosnap + offset,
                                              size)
        if offrel == OR_LINKTYPE:
            return self.gen_load_absoffsetrel(self.off_linktype, offset, size)
        if offrel == OR_TRAN_IPV4:
            s = self.gen_loadx_iphdrlen()
            s.append(Stmt(LD | IND | size, self.off_linkpl.constant_part + self.off_nl + offset))
            return s
        if offrel == OR_TRAN_IPV6:
            return self.gen_load_absoffsetrel(self.off_linkpl, self.off_nl + 40 + offset, size)
        raise AssertionError(offrel)

    def gen_loadx_iphdrlen(self) -> list[Stmt]:
        s = self.gen_abs_offset_varpart(self.off_linkpl)
        if s is not None:
            s += [Stmt(LD | IND | B, self.off_linkpl.constant_part + self.off_nl),
                  Stmt(ALU | AND | 0, 0xF), Stmt(ALU | LSH | 0, 2),
                  Stmt(ALU | ADD | X), Stmt(MISC | TAX)]
            return s
        return [Stmt(LDX | MSH | B, self.off_linkpl.constant_part + self.off_nl)]

    # -- comparisons ---------------------------------------------------------------------

    def gen_ncmp(self, offrel: int, offset: int, size: int, mask: int, jtype: int,
                 reverse: bool, v: int) -> Block:
        s = self.gen_load_a(offrel, offset, size)
        if mask != 0xFFFFFFFF:
            s.append(Stmt(ALU | AND, mask))
        b = jmp_block(jtype, v)
        b.stmts = s
        if reverse and jtype in (JGT, JGE):
            gen_not(b)
        return b

    def gen_cmp(self, offrel: int, offset: int, size: int, v: int) -> Block:
        return self.gen_ncmp(offrel, offset, size, 0xFFFFFFFF, JEQ, False, v)

    def gen_cmp_gt(self, offrel: int, offset: int, size: int, v: int) -> Block:
        return self.gen_ncmp(offrel, offset, size, 0xFFFFFFFF, JGT, False, v)

    def gen_cmp_ge(self, offrel: int, offset: int, size: int, v: int) -> Block:
        return self.gen_ncmp(offrel, offset, size, 0xFFFFFFFF, JGE, False, v)

    def gen_cmp_lt(self, offrel: int, offset: int, size: int, v: int) -> Block:
        return self.gen_ncmp(offrel, offset, size, 0xFFFFFFFF, JGE, True, v)

    def gen_cmp_le(self, offrel: int, offset: int, size: int, v: int) -> Block:
        return self.gen_ncmp(offrel, offset, size, 0xFFFFFFFF, JGT, True, v)

    def gen_mcmp(self, offrel: int, offset: int, size: int, v: int, mask: int) -> Block:
        return self.gen_ncmp(offrel, offset, size, mask, JEQ, False, v)

    def gen_bcmp(self, offrel: int, offset: int, size: int, v: bytes) -> Block:
        b = None
        while size >= 4:
            tmp = self.gen_cmp(offrel, offset + size - 4, W,
                               int.from_bytes(v[size - 4:size], "big"))
            if b is not None:
                gen_and(b, tmp)
            b = tmp
            size -= 4
        while size >= 2:
            tmp = self.gen_cmp(offrel, offset + size - 2, H,
                               int.from_bytes(v[size - 2:size], "big"))
            if b is not None:
                gen_and(b, tmp)
            b = tmp
            size -= 2
        if size > 0:
            tmp = self.gen_cmp(offrel, offset, B, v[0])
            if b is not None:
                gen_and(b, tmp)
            b = tmp
        return b

    def gen_uncond(self, rsense: bool) -> Block:
        b = jmp_block(JEQ)
        b.stmts = [Stmt(LD | IMM, 0 if rsense else 1)]
        return b

    def gen_true(self) -> Block:
        return self.gen_uncond(True)

    def gen_false(self) -> Block:
        return self.gen_uncond(False)

    # -- link-layer type tests -----------------------------------------------------------

    def gen_prevlinkhdr_check(self) -> Block | None:
        if self.is_geneve:
            return self.gen_geneve_ll_check()
        return None

    def gen_linktype(self, ll_proto: int) -> Block:
        if self.label_stack_depth > 0:
            return self.gen_mpls_linktype(ll_proto)
        lt = self.linktype
        if lt == DLT_EN10MB:
            b0 = None if self.is_geneve else self.gen_prevlinkhdr_check()
            b1 = self.gen_ether_linktype(ll_proto)
            if b0 is not None:
                gen_and(b0, b1)
            return b1
        if lt == DLT_LINUX_SLL:
            return self.gen_linux_sll_linktype(ll_proto)
        if lt == DLT_RAW:
            if ll_proto == C.ETHERTYPE_IP:
                return self.gen_mcmp(OR_LINKHDR, 0, B, 0x40, 0xF0)
            if ll_proto == C.ETHERTYPE_IPV6:
                return self.gen_mcmp(OR_LINKHDR, 0, B, 0x60, 0xF0)
            return self.gen_false()
        if lt == DLT_IPV4:
            return self.gen_true() if ll_proto == C.ETHERTYPE_IP else self.gen_false()
        if lt == DLT_IPV6:
            return self.gen_true() if ll_proto == C.ETHERTYPE_IPV6 else self.gen_false()
        if lt == DLT_PPP:
            return self.gen_cmp(OR_LINKTYPE, 0, H, _ethertype_to_ppptype(ll_proto))
        if lt in (DLT_NULL, DLT_LOOP):
            if ll_proto == C.ETHERTYPE_IP:
                return self.gen_loopback_linktype(C.AF_INET)
            if ll_proto == C.ETHERTYPE_IPV6:
                if self.savefile:
                    b0 = self.gen_loopback_linktype(C.BSD_AFNUM_INET6[0])
                    b1 = self.gen_loopback_linktype(C.BSD_AFNUM_INET6[1])
                    gen_or(b0, b1)
                    b0 = self.gen_loopback_linktype(C.BSD_AFNUM_INET6[2])
                    gen_or(b0, b1)
                    return b1
                return self.gen_loopback_linktype(C.AF_INET6_LINUX)
            return self.gen_false()
        if self.off_linktype.constant_part != OFFSET_NOT_SET:
            return self.gen_cmp(OR_LINKTYPE, 0, H, ll_proto)
        self.error(f"{description(lt)} link-layer type filtering not implemented")

    def gen_loopback_linktype(self, ll_proto: int) -> Block:
        if self.linktype == DLT_NULL:
            ll_proto = int.from_bytes(ll_proto.to_bytes(4, "little"), "big")  # htonl on x86
        return self.gen_cmp(OR_LINKHDR, 0, W, ll_proto)

    def gen_ether_linktype(self, ll_proto: int) -> Block:
        if ll_proto in (C.LLCSAP_ISONS, C.LLCSAP_IP, C.LLCSAP_NETBEUI):
            b0 = self.gen_cmp_gt(OR_LINKTYPE, 0, H, C.ETHERMTU)
            gen_not(b0)
            b1 = self.gen_cmp(OR_LLC, 0, H, (ll_proto << 8) | ll_proto)
            gen_and(b0, b1)
            return b1
        if ll_proto == C.LLCSAP_IPX:
            b0 = self.gen_cmp(OR_LLC, 0, B, C.LLCSAP_IPX)
            b1 = self.gen_cmp(OR_LLC, 0, H, 0xFFFF)
            gen_or(b0, b1)
            b0 = self.gen_snap(0x000000, C.ETHERTYPE_IPX)
            gen_or(b0, b1)
            b0 = self.gen_cmp_gt(OR_LINKTYPE, 0, H, C.ETHERMTU)
            gen_not(b0)
            gen_and(b0, b1)
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, C.ETHERTYPE_IPX)
            gen_or(b0, b1)
            return b1
        if ll_proto in (C.ETHERTYPE_ATALK, C.ETHERTYPE_AARP):
            b0 = self.gen_cmp_gt(OR_LINKTYPE, 0, H, C.ETHERMTU)
            gen_not(b0)
            if ll_proto == C.ETHERTYPE_ATALK:
                b1 = self.gen_snap(0x080007, C.ETHERTYPE_ATALK)
            else:
                b1 = self.gen_snap(0x000000, C.ETHERTYPE_AARP)
            gen_and(b0, b1)
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, ll_proto)
            gen_or(b0, b1)
            return b1
        if ll_proto <= C.ETHERMTU:
            b0 = self.gen_cmp_gt(OR_LINKTYPE, 0, H, C.ETHERMTU)
            gen_not(b0)
            b1 = self.gen_cmp(OR_LINKTYPE, 2, B, ll_proto)
            gen_and(b0, b1)
            return b1
        return self.gen_cmp(OR_LINKTYPE, 0, H, ll_proto)

    def gen_linux_sll_linktype(self, ll_proto: int) -> Block:
        if ll_proto in (C.LLCSAP_ISONS, C.LLCSAP_IP, C.LLCSAP_NETBEUI):
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, C.LINUX_SLL_P_802_2)
            b1 = self.gen_cmp(OR_LLC, 0, H, (ll_proto << 8) | ll_proto)
            gen_and(b0, b1)
            return b1
        if ll_proto == C.LLCSAP_IPX:
            b0 = self.gen_cmp(OR_LLC, 0, B, C.LLCSAP_IPX)
            b1 = self.gen_snap(0x000000, C.ETHERTYPE_IPX)
            gen_or(b0, b1)
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, C.LINUX_SLL_P_802_2)
            gen_and(b0, b1)
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, C.LINUX_SLL_P_802_3)
            gen_or(b0, b1)
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, C.ETHERTYPE_IPX)
            gen_or(b0, b1)
            return b1
        if ll_proto in (C.ETHERTYPE_ATALK, C.ETHERTYPE_AARP):
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, C.LINUX_SLL_P_802_2)
            if ll_proto == C.ETHERTYPE_ATALK:
                b1 = self.gen_snap(0x080007, C.ETHERTYPE_ATALK)
            else:
                b1 = self.gen_snap(0x000000, C.ETHERTYPE_AARP)
            gen_and(b0, b1)
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, ll_proto)
            gen_or(b0, b1)
            return b1
        if ll_proto <= C.ETHERMTU:
            b0 = self.gen_cmp(OR_LINKTYPE, 0, H, C.LINUX_SLL_P_802_2)
            b1 = self.gen_cmp(OR_LINKHDR, self.off_linkpl.constant_part, B, ll_proto)
            gen_and(b0, b1)
            return b1
        return self.gen_cmp(OR_LINKTYPE, 0, H, ll_proto)

    def gen_mpls_linktype(self, ll_proto: int) -> Block:
        if ll_proto in (C.ETHERTYPE_IP, C.ETHERTYPE_IPV6):
            b0 = self.gen_mcmp(OR_LINKPL, 0xFFFFFFFE, B, 0x01, 0x01)
            b1 = self.gen_mcmp(OR_LINKPL, 0, B,
                               0x40 if ll_proto == C.ETHERTYPE_IP else 0x60, 0xF0)
            gen_and(b0, b1)
            return b1
        self.error("unsupported protocol over mpls")

    def gen_snap(self, orgcode: int, ptype: int) -> Block:
        block = bytes([C.LLCSAP_SNAP, C.LLCSAP_SNAP, 0x03, (orgcode >> 16) & 0xFF,
                       (orgcode >> 8) & 0xFF, orgcode & 0xFF, (ptype >> 8) & 0xFF,
                       ptype & 0xFF])
        return self.gen_bcmp(OR_LLC, 0, 8, block)

    def gen_llc_linktype(self, ll_proto: int) -> Block:      # 802.2-only link layers
        if ll_proto in (C.LLCSAP_IP, C.LLCSAP_ISONS, C.LLCSAP_NETBEUI):
            return self.gen_cmp(OR_LLC, 0, H, (ll_proto << 8) | ll_proto)
        if ll_proto == C.LLCSAP_IPX:
            return self.gen_cmp(OR_LLC, 0, B, C.LLCSAP_IPX)
        if ll_proto == C.ETHERTYPE_ATALK:
            return self.gen_snap(0x080007, C.ETHERTYPE_ATALK)
        if ll_proto <= C.ETHERMTU:
            return self.gen_cmp(OR_LLC, 0, B, ll_proto)
        return self.gen_cmp(OR_LLC, 6, H, ll_proto)


def _ethertype_to_ppptype(ll_proto: int) -> int:
    return {C.ETHERTYPE_IP: C.PPP_IP, C.ETHERTYPE_IPV6: C.PPP_IPV6,
            C.ETHERTYPE_DN: C.PPP_DECNET, C.ETHERTYPE_ATALK: C.PPP_APPLE,
            C.ETHERTYPE_NS: C.PPP_NS, C.LLCSAP_ISONS: C.PPP_OSI,
            C.LLCSAP_8021D: C.PPP_BRPDU, C.LLCSAP_IPX: C.PPP_IPX}.get(ll_proto, ll_proto)
