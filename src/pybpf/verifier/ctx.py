"""Context access for the verifier: which ctx loads/stores a program type allows (read from
the program-type table, :mod:`pybpf.vm.progtypes`), what register type a load gives
(packet pointers for ``data``/``data_end``/``data_meta``), return-value ranges, and
which types may touch packet data directly.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

from pybpf.isa.uapi import AttachType as AT, ProgType as PT
from pybpf.verifier.regs import (
    PTR_TO_PACKET, PTR_TO_PACKET_END, PTR_TO_PACKET_META, PTR_TO_SOCK_COMMON,
)
from pybpf.vm.progtypes import skb_layout as L

# (a type ending in OR_NULL: the load gives a pointer that may be NULL, with an id for
# its null check)
OR_NULL = "_or_null"
_SKB_POINTERS = {L.DATA: PTR_TO_PACKET, L.DATA_END: PTR_TO_PACKET_END,
                 L.DATA_META: PTR_TO_PACKET_META, L.SK: PTR_TO_SOCK_COMMON + OR_NULL}
_XDP_POINTERS = {0: PTR_TO_PACKET, 4: PTR_TO_PACKET_END, 8: PTR_TO_PACKET_META}
_SKB_TYPES = (PT.SOCKET_FILTER, PT.SCHED_CLS, PT.SCHED_ACT, PT.CGROUP_SKB, PT.LWT_IN,
              PT.LWT_OUT, PT.LWT_XMIT, PT.SK_SKB)


class CtxRules:
    """What the verifier needs to know about one program type's context (immutable:
    :func:`ctx_rules` shares one per program and attach type)."""

    def __init__(self, prog_type: int, attach_type: int):
        from pybpf.vm.progtypes import program_type

        self.prog_type = int(prog_type)
        self.attach_type = int(attach_type or 0)
        self.valid: Callable[[int, int, bool], bool] | None = None
        self.ctx_size = 0
        try:
            row = program_type(prog_type, attach_type)
        except Exception:
            row = None
        if row is not None:
            self.valid = getattr(row, "valid", None)
            self.ctx_size = row.ctx_size
        if self.prog_type in _SKB_TYPES:
            self.pointers = _SKB_POINTERS
        elif self.prog_type == PT.XDP:
            self.pointers = _XDP_POINTERS
        else:
            self.pointers = {}
        t = self.prog_type
        self._pkt_read = t in (PT.LWT_IN, PT.LWT_OUT, PT.LWT_SEG6LOCAL, PT.SK_REUSEPORT,
                               PT.FLOW_DISSECTOR, PT.CGROUP_SKB, PT.SCHED_CLS, PT.SCHED_ACT,
                               PT.XDP, PT.LWT_XMIT, PT.SK_SKB, PT.SK_MSG, PT.CGROUP_SOCKOPT)
        self._pkt_write = t in (PT.SCHED_CLS, PT.SCHED_ACT, PT.XDP, PT.LWT_XMIT, PT.SK_SKB,
                                PT.SK_MSG, PT.CGROUP_SOCKOPT)
        self._ld_abs = t in (PT.SOCKET_FILTER, PT.SCHED_CLS, PT.SCHED_ACT)
        self._return_range = self._compute_return_range()
        self._accesses: dict[tuple[int, int, bool], tuple[bool, str | None]] = {}

    def access(self, off: int, size: int, write: bool) -> tuple[bool, str | None]:
        """(allowed, pointer type the load gives or None for a scalar), remembered."""
        key = (off, size, write)
        out = self._accesses.get(key)
        if out is None:
            out = self._accesses[key] = self._access(off, size, write)
        return out

    def _access(self, off: int, size: int, write: bool) -> tuple[bool, str | None]:
        if self.valid is None or off < 0:
            return False, None
        try:
            ok = self.valid(off, size, write)
        except Exception:
            ok = False
        if not ok:
            return False, None
        return True, (None if write else self.pointers.get(off))

    # --- direct packet access (may_access_direct_pkt_data) ---------------------------------
    def pkt_read(self) -> bool:
        return self._pkt_read

    def pkt_write(self) -> bool:
        return self._pkt_write

    def ld_abs(self) -> bool:
        return self._ld_abs

    def return_range(self) -> tuple[int, int] | None:
        """``check_return_code``'s range for R0 at program exit, or None (anything)."""
        return self._return_range

    def _compute_return_range(self) -> tuple[int, int] | None:
        t, a = self.prog_type, self.attach_type
        if t == PT.CGROUP_SOCK_ADDR:
            if a in (AT.CGROUP_UDP4_RECVMSG, AT.CGROUP_UDP6_RECVMSG, AT.CGROUP_UNIX_RECVMSG,
                     AT.CGROUP_INET4_GETPEERNAME, AT.CGROUP_INET6_GETPEERNAME,
                     AT.CGROUP_UNIX_GETPEERNAME, AT.CGROUP_INET4_GETSOCKNAME,
                     AT.CGROUP_INET6_GETSOCKNAME, AT.CGROUP_UNIX_GETSOCKNAME):
                return (1, 1)
            if a in (AT.CGROUP_INET4_BIND, AT.CGROUP_INET6_BIND):
                return (0, 3)
            return (0, 1)
        if t == PT.CGROUP_SKB:
            return (0, 3) if a == AT.CGROUP_INET_EGRESS else (0, 1)
        if t in (PT.CGROUP_SOCK, PT.SOCK_OPS, PT.CGROUP_DEVICE, PT.CGROUP_SYSCTL,
                 PT.CGROUP_SOCKOPT):
            return (0, 1)
        if t == PT.RAW_TRACEPOINT and a:
            return (0, 0)
        if t == PT.SK_LOOKUP:
            return (0, 1)
        return None


@lru_cache(maxsize=None)
def ctx_rules(prog_type: int, attach_type: int) -> CtxRules:
    """The (shared) :class:`CtxRules` of a program type and attach type."""
    return CtxRules(prog_type, attach_type)
