"""XDP: ``struct xdp_md`` over an ``xdp_buff`` in one 4 KiB frame, as bpf_prog_test_run_xdp
builds it.

The frame is a page: XDP_PACKET_HEADROOM (256) bytes of headroom (the first 40 of which
hold the ``xdp_frame`` and are off limits), then the packet, then the skb_shared_info
tailroom (320). Metadata given in ctx_in (``xdp_md.data`` bytes of it) sits just before
``data``. Bytes past ``xdp_md.data_end`` (or past what fits in the page) become fragments:
``bpf_xdp_get_buff_len`` counts them and data_out includes them.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, field
from typing import Any

from pybpf.isa.uapi import AttachType
from pybpf.vm.memory import Memory
from pybpf.vm.progtypes.base import (
    ETH_HLEN, PAGE_SIZE, CtxAccess, Field, Invocation, ProgramType, check_data_out,
    check_tail_zero, syscall_error,
)
from pybpf.vm.progtypes.packet import PacketBuffer
from pybpf.vm.progtypes.skb import LOOPBACK_IFINDEX, Redirect, known_ifindexes

XDP_PACKET_HEADROOM = 256
TAILROOM = 320                     # SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
XDP_FRAME_SIZE = 40                # sizeof(struct xdp_frame)
FRAME_SIZE = PAGE_SIZE
HARD_END = FRAME_SIZE - TAILROOM   # xdp_data_hard_end
CTX_SIZE = 24
DATA, DATA_END, DATA_META, INGRESS_IFINDEX, RX_QUEUE_INDEX, EGRESS_IFINDEX = 0, 4, 8, 12, 16, 20
XDP_ACTIONS = {0: "XDP_ABORTED", 1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX", 4: "XDP_REDIRECT"}


def metalen_invalid(metalen: int) -> bool:
    """``xdp_metalen_invalid``: 4-byte multiples up to the u8 ``meta_len`` limit."""
    return metalen % 4 != 0 or metalen > 255


@dataclass(eq=False)
class XdpState:
    """The xdp_buff of one run; ``data_meta``/``data``/``data_end`` are frame offsets."""

    prog_type: int
    type_name: str
    env: Any
    buf: PacketBuffer
    data_meta: int
    data: int
    data_end: int
    frags: bytes = b""
    ingress_ifindex: int = LOOPBACK_IFINDEX
    rx_queue_index: int = 0
    redirect: Redirect | None = None
    meta_supported: bool = True
    extra: dict = field(default_factory=dict)

    kind = "xdp"

    @property
    def base(self) -> int:
        return self.buf.address

    @property
    def len(self) -> int:
        return self.data_end - self.data

    @property
    def metalen(self) -> int:
        return self.data - self.data_meta if self.meta_supported else 0

    def bytes(self) -> bytes:
        """The linear packet (data..data_end)."""
        return self.buf.read(self.data, self.len)

    @property
    def redirect_target(self) -> tuple[int, int] | None:
        """(ifindex, flags) of the last bpf_redirect, for routing XDP_REDIRECT."""
        return (self.redirect.ifindex, self.redirect.flags) if self.redirect else None


def _valid(attach_type: int):
    devmap = attach_type == AttachType.XDP_DEVMAP

    def valid(off: int, size: int, write: bool) -> bool:
        """``xdp_is_valid_access`` (no device-bound programs here: every write refused)."""
        if off == EGRESS_IFINDEX and not devmap:
            return False
        if write:
            return False
        return 0 <= off < CTX_SIZE and off % size == 0 and size == 4
    return valid


FIELDS = {f.offset: f for f in (
    Field("data", DATA, 4, lambda s: s.base + s.data, target=8),
    Field("data_end", DATA_END, 4, lambda s: s.base + s.data_end, target=8),
    Field("data_meta", DATA_META, 4, lambda s: s.base + s.data_meta, target=8),
    Field("ingress_ifindex", INGRESS_IFINDEX, 4, lambda s: s.ingress_ifindex),
    Field("rx_queue_index", RX_QUEUE_INDEX, 4, lambda s: s.rx_queue_index),
    Field("egress_ifindex", EGRESS_IFINDEX, 4, lambda s: s.extra.get("egress_ifindex", 0)),
)}


class XdpProgramType(ProgramType):
    ctx_size = CTX_SIZE
    return_codes = XDP_ACTIONS

    def __init__(self, prog_type: int, name: str, attach_type: int | None = None):
        super().__init__(prog_type, name, attach_type)
        # (the same for every run: worked out once)
        self._rule = _valid(self.attach_type)
        self._refused = self.attach_type in (AttachType.XDP_DEVMAP, AttachType.XDP_CPUMAP)

    @property
    def valid(self):
        """The type's context access rule (``xdp_is_valid_access``), as the verifier reads it."""
        return self._rule

    def _prepare(self, memory: Memory, env: Any, data: bytes | None, ctx: bytes | None,
                 data_size_out: int | None) -> Invocation:
        if self._refused:
            raise syscall_error(errno.EINVAL, "test_run refuses XDP programs for devmap/cpumap")
        data = bytes(data or b"")
        size = len(data)
        headroom = XDP_PACKET_HEADROOM
        linear = size
        md = None
        if ctx is not None:
            md = list(struct.unpack("<6I", check_tail_zero(ctx, CTX_SIZE, "struct xdp_md")))
            if md[DATA_META // 4]:
                raise syscall_error(errno.EINVAL, "xdp_md.data_meta must be 0 in ctx_in")
            if md[DATA_END // 4] > size:
                raise syscall_error(errno.EINVAL, f"xdp_md.data_end {md[1]} is past data_size_in "
                                                  f"{size}")
            if md[DATA // 4] > md[DATA_END // 4]:
                raise syscall_error(errno.EINVAL, "xdp_md.data is past xdp_md.data_end")
            metalen = md[DATA // 4]
            if metalen_invalid(metalen) or headroom - metalen < XDP_FRAME_SIZE:
                raise syscall_error(errno.EINVAL, f"metadata length {metalen} (xdp_md.data) is not "
                                                  f"a multiple of 4 that fits the headroom")
            headroom -= metalen
            linear = md[DATA_END // 4]
        max_data = FRAME_SIZE - headroom - TAILROOM
        linear = min(linear, max_data)
        if size < ETH_HLEN:
            raise syscall_error(errno.EINVAL, f"data_size_in {size} is less than ETH_HLEN")
        ingress, rxq = LOOPBACK_IFINDEX, 0
        if md is not None:
            if md[EGRESS_IFINDEX // 4]:
                raise syscall_error(errno.EINVAL, "xdp_md.egress_ifindex must be 0 in ctx_in")
            ingress, rxq = md[INGRESS_IFINDEX // 4], md[RX_QUEUE_INDEX // 4]
            if not ingress and rxq:
                raise syscall_error(errno.EINVAL, "xdp_md.rx_queue_index without ingress_ifindex")
            if ingress:
                if ingress not in known_ifindexes(env):
                    raise syscall_error(errno.ENODEV, f"xdp_md.ingress_ifindex {ingress}: no "
                                                      f"such device")
                if rxq >= 1:
                    raise syscall_error(errno.EINVAL, f"xdp_md.rx_queue_index {rxq}: the device "
                                                      f"has 1 rx queue")
            else:
                ingress = LOOPBACK_IFINDEX
        inv = Invocation(memory, None, (), spares=self.spares)

        name = self.name
        frame = f"{name}.frame"
        buf = PacketBuffer(frame, headroom, data[:linear], FRAME_SIZE - headroom - linear,
                           inv.replace, inv.borrow(frame, FRAME_SIZE, "packet"))
        metalen = md[DATA // 4] if md is not None else 0
        state = XdpState(self.prog_type, name, env, buf, data_meta=headroom,
                         data=headroom + metalen, data_end=headroom + linear,
                         frags=data[linear:], ingress_ifindex=ingress, rx_queue_index=rxq)
        region = inv.borrow(f"{name}.ctx", CTX_SIZE, "ctx")
        region.access = CtxAccess(state, CTX_SIZE, FIELDS, self._rule)
        inv.ctx = state
        inv.args = (region.address,)

        def finish(r0: int) -> tuple[int, bytes, bytes | None]:
            retval = r0 & 0xFFFFFFFF
            out = buf.read(state.data_meta, state.data_end - state.data_meta) + state.frags
            ctx_out = None
            if md is not None:
                c = bytearray(struct.pack("<6I", *md))
                struct.pack_into("<II", c, 0, state.data - state.data_meta,
                                 state.data_end - state.data_meta)
                ctx_out = bytes(c)
            check_data_out(out, data_size_out, retval)
            return retval, out, ctx_out
        inv._finish = finish
        return inv


__all__ = ["XDP_ACTIONS", "XdpProgramType", "XdpState"]
