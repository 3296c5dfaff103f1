"""Classic BPF: instructions, the machine and its checks, tcpdump's text formats, the
translation to eBPF, the pcap-filter compiler and seccomp filters."""

from pybpf.cbpf.insn import CInsn, decode, encode, jump, stmt
from pybpf.cbpf.check import check
from pybpf.cbpf.machine import Ancillary, as_received, compile_filter, run
from pybpf.cbpf.text import (
    assemble, disassemble, dump_bpf_asm, dump_c, dump_decimal, parse_dd, parse_ddd,
)


def __getattr__(name: str) -> object:
    # The translation needs the eBPF ISA and the socket helpers need ctypes: load on use.
    if name == "to_ebpf":
        from pybpf.cbpf.translate import to_ebpf
        return to_ebpf
    if name in ("attach_filter", "detach_filter", "lock_filter", "get_filter", "attach_bpf"):
        from pybpf.cbpf import socket as _socket
        return getattr(_socket, name)
    raise AttributeError(f"module 'pybpf.cbpf' has no attribute {name!r}")


__all__ = [
    "Ancillary", "CInsn", "as_received", "assemble", "attach_bpf", "attach_filter", "check",
    "compile_filter", "decode", "detach_filter", "disassemble", "dump_bpf_asm", "dump_c",
    "dump_decimal", "encode", "get_filter", "jump", "lock_filter", "parse_dd", "parse_ddd",
    "run", "stmt", "to_ebpf",
]
