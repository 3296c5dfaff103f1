"""Classic BPF: instructions, the machine and its checks, tcpdump's text formats, the
translation to eBPF, the pcap-filter compiler and seccomp filters."""

from pybpf.cbpf.insn import CInsn, decode, encode, jump, stmt

__all__ = ["CInsn", "decode", "encode", "jump", "stmt"]
