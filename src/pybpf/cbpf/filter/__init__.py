"""The pcap-filter(7) compiler: filter expressions to classic BPF, as libpcap does it.

    >>> from pybpf.cbpf.filter import compile_filter
    >>> prog = compile_filter("tcp port 80", linktype="EN10MB")

Pieces, in the order an expression goes through them: ``lexer`` (flex rules),
``grammar`` + ``lalr`` + ``parser`` (the Bison grammar and its LR tables), the code
generator (``gencode`` primitives and link layers, ``gen_net`` hosts/ports/protocols,
``gen_codes`` the qualifier entry points, ``gen_expr`` arithmetic and the rest,
``gen_encap`` vlan/mpls/pppoe/geneve), the optimiser (``opt_flow`` dataflow,
``opt_values`` value numbering and peepholes, ``opt_branch`` jump threading,
``optimize`` the driver), and ``emit`` (flow graph to instructions).
"""

from pybpf.cbpf.filter.compiler import PCAP_NETMASK_UNKNOWN, compile_filter
from pybpf.cbpf.filter.errors import FilterError

__all__ = ["PCAP_NETMASK_UNKNOWN", "FilterError", "compile_filter"]
