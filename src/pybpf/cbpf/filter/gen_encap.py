"""Encapsulations that move the header offsets for everything after them: ``vlan``,
``mpls``, ``pppoes``/``pppoed`` and ``geneve``; and ``finish_parse``, which turns the
expression's block list into a flow graph ending in the two return blocks."""

from __future__ import annotations

from pybpf.cbpf.insn import (ADD, ALU, AND, B, H, IMM, IND, JEQ, JMP, LD, LDX, MEM, MISC,
                             MUL, ST, STX, TAX, TXA, W, X)
from pybpf.cbpf.filter import consts as C
from pybpf.cbpf.filter.blocks import (Block, Stmt, backpatch, gen_and, gen_not, gen_or,
                                      jmp_block, ret_block)
from pybpf.cbpf.filter.gencode import (OR_LINKPL, OR_PREVMPLSHDR, OR_TRAN_IPV4, OR_TRAN_IPV6,
                                       AbsOffset)
from pybpf.cbpf.filter.linktypes import DLT_EN10MB, DLT_PPP, description


class EncapMixin:
    def gen_vlan(self, vlan_num: int, has_tag: bool) -> Block:
        if self.label_stack_depth > 0:
            self.error("no VLAN match after MPLS")
        if self.linktype != DLT_EN10MB:
            self.error(f"no VLAN support for {description(self.linktype)}")
        b0 = self.gen_linktype(C.ETHERTYPE_8021Q)
        b1 = self.gen_linktype(C.ETHERTYPE_8021AD)
        gen_or(b0, b1)
        b0 = b1
        b1 = self.gen_linktype(C.ETHERTYPE_8021QINQ)
        gen_or(b0, b1)
        b0 = b1
        if has_tag:
            if vlan_num > 0x0FFF:
                self.error(f"VLAN tag {vlan_num} greater than maximum {0x0FFF}")
            b1 = self.gen_mcmp(OR_LINKPL, 0, H, vlan_num, 0x0FFF)
            gen_and(b0, b1)
            b0 = b1
        self.off_linkpl.constant_part += 4
        self.off_linktype.constant_part += 4
        self.vlan_stack_depth += 1
        return b0

    def gen_mpls(self, label: int, has_label: bool) -> Block:
        if self.label_stack_depth > 0:
            b0 = self.gen_mcmp(OR_PREVMPLSHDR, 2, B, 0, 0x01)
        elif self.linktype == DLT_EN10MB:
            b0 = self.gen_linktype(C.ETHERTYPE_MPLS)
        elif self.linktype == DLT_PPP:
            b0 = self.gen_linktype(C.PPP_MPLS_UCAST)
        else:
            self.error(f"no MPLS support for {description(self.linktype)}")
        if has_label:
            if label > 0xFFFFF:
                self.error(f"MPLS label {label} greater than maximum {0xFFFFF}")
            b1 = self.gen_mcmp(OR_LINKPL, 0, W, (label << 12) & 0xFFFFFFFF, 0xFFFFF000)
            gen_and(b0, b1)
            b0 = b1
        self.off_nl_nosnap += 4
        self.off_nl += 4
        self.label_stack_depth += 1
        return b0

    def gen_pppoed(self) -> Block:
        return self.gen_linktype(C.ETHERTYPE_PPPOED)

    def gen_pppoes(self, sess: int, has_sess: bool) -> Block:
        b0 = self.gen_linktype(C.ETHERTYPE_PPPOES)
        if has_sess:
            if sess > 0xFFFF:
                self.error(f"PPPoE session number {sess} greater than maximum {0xFFFF}")
            b1 = self.gen_mcmp(OR_LINKPL, 0, W, sess, 0x0000FFFF)
            gen_and(b0, b1)
            b0 = b1
        self._push_linkhdr(DLT_PPP, self.off_linkpl.is_variable,
                           self.off_linkpl.constant_part + self.off_nl + 6, self.off_linkpl.reg)
        self.off_linktype = self.off_linkhdr.copy()
        self.off_linkpl.constant_part = self.off_linkhdr.constant_part + 2
        self.off_nl = 0
        self.off_nl_nosnap = 0
        return b0

    def _push_linkhdr(self, linktype: int, is_variable: bool, constant: int, reg: int) -> None:
        self.prevlinktype = self.linktype
        self.off_prevlinkhdr = self.off_linkhdr.copy()
        self.linktype = linktype
        self.off_linkhdr = AbsOffset(constant, is_variable, reg)
        self.is_geneve = False

    # -- geneve --------------------------------------------------------------------------

    def _geneve_check(self, v6: bool, vni: int, has_vni: bool) -> Block:
        b0 = self.gen_port(C.GENEVE_PORT, None, C.IPPROTO_UDP, C.Q_DST, v6=v6)
        rel = OR_TRAN_IPV6 if v6 else OR_TRAN_IPV4
        b1 = self.gen_mcmp(rel, 8, B, 0, 0xC0)
        gen_and(b0, b1)
        b0 = b1
        if has_vni:
            if vni > 0xFFFFFF:
                self.error(f"Geneve VNI {vni} greater than maximum {0xFFFFFF}")
            b1 = self.gen_mcmp(rel, 12, W, (vni << 8) & 0xFFFFFFFF, 0xFFFFFF00)
            gen_and(b0, b1)
            b0 = b1
        return b0

    def gen_geneve(self, vni: int, has_vni: bool) -> Block:
        b0 = self._geneve_check(False, vni, has_vni)
        s = self.gen_loadx_iphdrlen()
        s.append(Stmt(MISC | TXA))
        b1 = jmp_block(JEQ, 0, X)
        b1.stmts = s
        gen_and(b0, b1)
        g4 = b1
        b0 = self._geneve_check(True, vni, has_vni)
        s = self.gen_abs_offset_varpart(self.off_linkpl)
        if s is not None:
            s += [Stmt(LD | IMM, 40), Stmt(ALU | ADD | X, 0)]
        else:
            s = [Stmt(LD | IMM, 40)]
        s.append(Stmt(MISC | TAX))
        b1 = jmp_block(JEQ, 0, X)
        b1.stmts = s
        gen_and(b0, b1)
        gen_or(g4, b1)
        b0 = b1
        s = self._geneve_offsets()
        b1 = self.gen_true()
        b1.stmts = s + b1.stmts
        gen_and(b0, b1)
        self.is_geneve = True
        return b1

    def _geneve_offsets(self) -> list[Stmt]:
        s = [Stmt(ALU | ADD, self.off_linkpl.constant_part + self.off_nl + 8),
             Stmt(MISC | TAX), Stmt(ALU | ADD, 2)]
        self.off_linktype = AbsOffset(0, True, self.alloc_reg())
        s += [Stmt(ST, self.off_linktype.reg), Stmt(LD | IND | B, 0), Stmt(ALU | AND, 0x3F),
              Stmt(ALU | MUL, 4), Stmt(ALU | ADD, 8), Stmt(ALU | ADD | X, 0)]
        self._push_linkhdr(DLT_EN10MB, True, 0, self.alloc_reg())
        s.append(Stmt(ST, self.off_linkhdr.reg))
        self.no_optimize = True
        s += [Stmt(LD | IND | H, 2), Stmt(LDX | MEM, self.off_linkhdr.reg)]
        s_proto = Stmt(JMP | JEQ, C.ETHERTYPE_TEB)
        s.append(s_proto)
        s_proto.jt = Stmt(MISC | TXA)
        s += [s_proto.jt, Stmt(ALU | ADD, 12), Stmt(ST, self.off_linktype.reg),
              Stmt(ALU | ADD, 2), Stmt(MISC | TAX)]
        self.off_linkpl = AbsOffset(0, True, self.alloc_reg())
        stx = Stmt(STX, self.off_linkpl.reg)
        s.append(stx)
        s_proto.jf = stx
        self.off_nl = 0
        return s

    def gen_geneve_ll_check(self) -> Block:
        b0 = jmp_block(JEQ, 0, X)
        b0.stmts = [Stmt(LD | MEM, self.off_linkhdr.reg), Stmt(LDX | MEM, self.off_linkpl.reg)]
        gen_not(b0)
        return b0

    # -- the end -------------------------------------------------------------------------

    def insert_compute_vloffsets(self, b: Block) -> None:
        if self.off_linkpl.reg != -1 and self.off_linkhdr.is_variable and \
                self.off_linkhdr.reg == -1:
            self.off_linkhdr.reg = self.alloc_reg()
        if self.is_vlan_vloffset:                   # never set without BPF extensions
            raise AssertionError("variable VLAN offsets")

    def finish_parse(self, p: Block) -> Block:
        """Attach the accept and reject returns; the result is the flow graph's root."""
        self.insert_compute_vloffsets(p.head)
        backpatch(p, ret_block(self.snaplen))
        p.sense = not p.sense
        backpatch(p, ret_block(0))
        return p.head


