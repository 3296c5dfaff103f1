"""Global functions: which subprograms the kernel verifies on their own, and the argument
each parameter gets (``btf_prepare_func_args``), read from the program's BTF.

A subprogram whose BTF ``FUNC`` has global linkage is not walked at its call sites: the
call checks the arguments against the parameters, leaves R0 an unknown scalar, and the
function is verified afterwards with registers made from its parameters: an integer or
enum is an unknown scalar, a pointer to the program type's context struct is the context,
a pointer to another sized type is memory of that size that may be NULL.
"""

from __future__ import annotations

import struct
from typing import Any

from pybpf.elf.btf import Btf, Kind

BTF_FUNC_GLOBAL = 1
SCALAR_ARG = "scalar"
CTX_ARG = "ctx"
# the context structs a pointer parameter may name (btf_is_prog_ctx_type)
CTX_STRUCTS = frozenset({"__sk_buff", "xdp_md", "bpf_sock", "bpf_sock_addr", "bpf_sock_ops",
                         "sk_msg_md", "bpf_perf_event_data", "pt_regs", "bpf_sysctl",
                         "bpf_sockopt", "bpf_sk_lookup", "sk_reuseport_md",
                         "bpf_cgroup_dev_ctx", "bpf_raw_tracepoint_args"})


class GlobalFunc:
    """One global subprogram: its name and its arguments (SCALAR_ARG, CTX_ARG, or the
    byte size of the memory a pointer parameter names), or why one is not supported."""

    def __init__(self, name: str, args: list[Any], unsupported: str | None = None):
        self.name, self.args, self.unsupported = name, args, unsupported


def global_functions(btf: Btf | bytes | None, func_info: Any) -> dict[int, GlobalFunc]:
    """The global subprograms by their first instruction. ``func_info``: (insn, type id)
    pairs, or the kernel's records (bytes, record size, count)."""
    if btf is None or not func_info:
        return {}
    if isinstance(btf, (bytes, bytearray)):
        btf = Btf(bytes(btf))
    if isinstance(func_info, tuple) and len(func_info) == 3 and \
            isinstance(func_info[0], (bytes, bytearray)):
        blob, size, count = func_info
        pairs = [struct.unpack_from("<II", blob, i * size) for i in range(count)]
    else:
        pairs = list(func_info)
    out = {}
    for insn, type_id in pairs:
        func = btf.get(type_id)
        if insn == 0 or func is None or func.kind is not Kind.FUNC or \
                func.linkage != BTF_FUNC_GLOBAL:
            continue
        out[insn] = _prepare(btf, func)
    return out


def _prepare(btf: Btf, func: Any) -> GlobalFunc:
    proto = func.type
    if proto.type_id:
        ret = btf.resolve(proto.type_id)
        if ret.kind not in (Kind.INT, Kind.ENUM, Kind.ENUM64):
            return GlobalFunc(func.name, [], f"Global function {func.name}() doesn't return "
                                             f"scalar. Only those are supported.")
    args: list[Any] = []
    for i, param in enumerate(proto.params):
        t = btf.resolve(param.type.id)
        if t.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64):
            args.append(SCALAR_ARG)
            continue
        if t.kind is Kind.PTR:
            target = btf.resolve(t.type_id)
            if target.kind is Kind.STRUCT and target.name in CTX_STRUCTS:
                args.append(CTX_ARG)
                continue
            size = _size(btf, target)
            if size:
                args.append(size)
                continue
        return GlobalFunc(func.name, args, f"Arg#{i} type {_describe(t)} in {func.name}() is "
                                            f"not supported yet.")
    return GlobalFunc(func.name, args)


def _size(btf: Btf, t: Any) -> int:
    try:
        return btf.size_of(t.id)
    except Exception:       # void, functions, incomplete types: no size
        return 0


def _describe(t: Any) -> str:
    return "PTR" if t.kind is Kind.PTR else t.kind.name


__all__ = ["CTX_ARG", "GlobalFunc", "SCALAR_ARG", "global_functions"]
