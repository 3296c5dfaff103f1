"""``compile_filter``: pcap-filter text to classic BPF, instruction for instruction what
libpcap 1.10's ``pcap_compile`` produces for a savefile of the same link type."""

from __future__ import annotations

from pybpf.cbpf.insn import CInsn
from pybpf.cbpf.filter import linktypes
from pybpf.cbpf.filter.blocks import Block, ret_block
from pybpf.cbpf.filter.emit import Marker, icode_to_fcode
from pybpf.cbpf.filter.errors import FilterError
from pybpf.cbpf.filter.gen_codes import CodesMixin
from pybpf.cbpf.filter.gen_encap import EncapMixin
from pybpf.cbpf.filter.gen_expr import ExprMixin
from pybpf.cbpf.filter.gen_net import NetMixin
from pybpf.cbpf.filter.gencode import GenBase
from pybpf.cbpf.filter.parser import parse

PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


class CodeGen(GenBase, NetMixin, CodesMixin, ExprMixin, EncapMixin):
    """The whole code generator; ``root`` is set when the parse finishes."""

    def __init__(self, link: linktypes.LinkInfo, snaplen: int, netmask: int):
        super().__init__(link, snaplen, netmask)
        self.root: Block | None = None
        self.set_error = None

    def finish(self, b: Block | None) -> None:
        if b is not None:
            self.root = self.finish_parse(b)


def compile_filter(expression: str, *, linktype: int | str = "EN10MB",
                   snaplen: int = 262144, optimize: bool = True,
                   netmask: int = PCAP_NETMASK_UNKNOWN) -> list[CInsn]:
    """Compile a pcap-filter(7) expression to classic BPF.

    The result is what libpcap 1.10 (``pcap_compile`` on a savefile with this link type
    and snapshot length; ``tcpdump -d``, or ``-O -d`` with ``optimize=False``) generates.
    ``linktype`` is a DLT number or name (EN10MB, RAW, LINUX_SLL, LINUX_SLL2, NULL, LOOP,
    and PPP, IPV4, IPV6); ``netmask`` is only used by ``ip broadcast``.

    Raises FilterError (a ValueError) with libpcap's message for expressions libpcap
    rejects, including ``expression rejects all packets``.
    """
    link = linktypes.resolve(linktype)
    if snaplen == 0:
        raise FilterError("snaplen of 0 rejects all packets")
    g = CodeGen(link, snaplen & 0xFFFFFFFF, netmask & 0xFFFFFFFF)
    parse(expression, g)
    root = g.root if g.root is not None else ret_block(g.snaplen)
    marker = Marker()
    if optimize and not g.no_optimize:
        from pybpf.cbpf.filter.optimize import optimize as run_optimizer
        root = run_optimizer(root, marker)
        if root is None or (root.code == 0x06 and root.k == 0):
            raise FilterError("expression rejects all packets", None, expression)
    return icode_to_fcode(root, marker)
