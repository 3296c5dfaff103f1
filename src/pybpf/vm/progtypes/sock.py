"""Socket contexts: ``struct bpf_sock`` (cgroup/sock, and what ``__sk_buff.sk`` points at),
``struct bpf_sock_addr`` (cgroup/sock_addr) and ``struct bpf_sock_ops`` (sock_ops).

The kernel has no BPF_PROG_TEST_RUN for these types (it answers ENOTSUPP); the userspace
engines run them on the context bytes the caller gives, with the kernel's access rules
(``bpf_sock_is_valid_access``, ``sock_addr_is_valid_access``, ``sock_ops_is_valid_access``),
and return the context as the program left it as ctx_out.
"""

from __future__ import annotations

import errno
import struct
from typing import Any, Callable

from pybpf.isa.uapi import AttachType as AT
from pybpf.vm.memory import Memory, Region
from pybpf.vm.progtypes.base import (
    BytesAccess, Invocation, ProgramType, check_tail_zero, narrow_ok, syscall_error,
)

SOCK_SIZE = 80
(BOUND_DEV_IF, FAMILY, TYPE, PROTOCOL, MARK, PRIORITY, SRC_IP4, SRC_IP6, SRC_PORT, DST_PORT,
 DST_IP4, DST_IP6, STATE, RX_QUEUE_MAPPING) = 0, 4, 8, 12, 16, 20, 24, 28, 44, 48, 52, 56, 72, 76


def _in(off: int, start: int, size: int = 4) -> bool:
    return start <= off < start + size


def sock_valid(off: int, size: int, write: bool) -> bool:
    """``bpf_sock_is_valid_access``."""
    if off < 0 or off >= SOCK_SIZE or off % size:
        return False
    if off in (STATE, FAMILY, TYPE, PROTOCOL, SRC_PORT, RX_QUEUE_MAPPING) or \
            _in(off, SRC_IP4) or _in(off, SRC_IP6, 16) or _in(off, DST_IP4) or \
            _in(off, DST_IP6, 16):
        return narrow_ok(size)
    if _in(off, DST_PORT, 2):
        return narrow_ok(size, 4 if size == 4 else 2)
    if DST_PORT + 2 <= off < DST_IP4:
        return False
    return size == 4


def sock_common_valid(off: int, size: int, write: bool) -> bool:
    """``bpf_sock_common_is_valid_access`` (read only: what ``__sk_buff.sk`` allows)."""
    if write or TYPE <= off < PRIORITY + 4:
        return False
    return sock_valid(off, size, write)


# struct bpf_sock as sock_bytes fills it: family, src_ip4, src_ip6, src_port, dst_port (its
# two bytes swapped: network order), dst_ip4, dst_ip6, rx_queue_mapping; the rest zero.
_SOCK = struct.Struct("<4xI16x4s16sIH2x4s16s4xi")
assert _SOCK.size == SOCK_SIZE


def sock_bytes(sock: Any) -> bytes:
    """A ``struct bpf_sock`` for a SockInfo-like object."""
    dport = sock.dport
    return _SOCK.pack(sock.family, sock.src4, sock.src6, sock.sport,
                      (dport & 0xFF) << 8 | dport >> 8, sock.dst4, sock.dst6, -1)


def cgroup_sock_valid(attach_type: int) -> Callable[[int, int, bool], bool]:
    """``sock_filter_is_valid_access``: bpf_sock rules plus the attach type's."""
    full = attach_type in (AT.CGROUP_INET_SOCK_CREATE, AT.CGROUP_INET_SOCK_RELEASE)

    def valid(off: int, size: int, write: bool) -> bool:
        if not sock_valid(off, size, write):
            return False
        if off in (BOUND_DEV_IF, MARK, PRIORITY):
            return full
        if _in(off, SRC_IP4):
            return attach_type == AT.CGROUP_INET4_POST_BIND and not write
        if _in(off, SRC_IP6, 16):
            return attach_type == AT.CGROUP_INET6_POST_BIND and not write
        if _in(off, SRC_PORT):
            return attach_type in (AT.CGROUP_INET4_POST_BIND, AT.CGROUP_INET6_POST_BIND) \
                and not write
        return not write
    return valid


# struct bpf_sock_addr
SA_SIZE = 72
USER_FAMILY, USER_IP4, USER_IP6, USER_PORT, SA_FAMILY, SA_TYPE, SA_PROTOCOL = 0, 4, 8, 24, 28, \
    32, 36
MSG_SRC_IP4, MSG_SRC_IP6, SA_SK = 40, 44, 64
_V4 = {"CGROUP_INET4_BIND", "CGROUP_INET4_CONNECT", "CGROUP_INET4_GETPEERNAME",
       "CGROUP_INET4_GETSOCKNAME", "CGROUP_UDP4_SENDMSG", "CGROUP_UDP4_RECVMSG"}
_V6 = {name.replace("4", "6") for name in _V4}


def sock_addr_valid(attach_type: int) -> Callable[[int, int, bool], bool]:
    """``sock_addr_is_valid_access``."""
    name = AT(attach_type).name if attach_type in AT._value2member_map_ else ""

    def valid(off: int, size: int, write: bool) -> bool:
        if off < 0 or off >= SA_SIZE or off % size:
            return False
        if _in(off, USER_IP4) and name not in _V4:
            return False
        if _in(off, USER_IP6, 16) and name not in _V6:
            return False
        if _in(off, MSG_SRC_IP4) and name != "CGROUP_UDP4_SENDMSG":
            return False
        if _in(off, MSG_SRC_IP6, 16) and name != "CGROUP_UDP6_SENDMSG":
            return False
        if _in(off, USER_IP4) or _in(off, USER_IP6, 16) or _in(off, MSG_SRC_IP4) or \
                _in(off, MSG_SRC_IP6, 16) or _in(off, USER_PORT):
            wide = size == 8 and (off in (USER_IP6, USER_IP6 + 8, MSG_SRC_IP6, MSG_SRC_IP6 + 8))
            if wide:
                return True
            return narrow_ok(size) if not write else size == 4
        if off == SA_SK:
            return not write and size == 8
        return not write and size == 4
    return valid


# struct bpf_sock_ops
SOCK_OPS_SIZE = 216
REPLY, SK_TXHASH, BYTES_RECEIVED, SO_SK, SKB_DATA, SKB_DATA_END, SKB_TCP_FLAGS = \
    4, 164, 168, 184, 192, 200, 212


def sock_ops_valid(off: int, size: int, write: bool) -> bool:
    """``sock_ops_is_valid_access``."""
    if off < 0 or off >= SOCK_OPS_SIZE or off % size:
        return False
    if write:
        return off in (REPLY, SK_TXHASH) and size == 4
    if BYTES_RECEIVED <= off < SO_SK or off in (SO_SK, SKB_DATA, SKB_DATA_END):
        return size == 8
    if off == SKB_TCP_FLAGS:
        return narrow_ok(size)
    return size == 4


class BytesProgramType(ProgramType):
    """A type whose context is the caller's bytes, edited in place; ctx_out is the result.

    No packet: data_in is refused (EINVAL) as the kernel's test_run for context-only types
    refuses it.
    """

    kernel_test_run = False

    def __init__(self, prog_type: int, name: str, ctx_size: int,
                 valid: Callable[[int, int, bool], bool], return_codes: dict[int, str],
                 attach_type: int | None = None, ctx_out: bool = True):
        super().__init__(prog_type, name, attach_type)
        self.ctx_size = ctx_size
        self.valid = valid
        self.return_codes = return_codes
        self.ctx_out = ctx_out

    def _prepare(self, memory: Memory, env: Any, data: bytes | None, ctx: bytes | None,
                 data_size_out: int | None) -> Invocation:
        if data:
            raise syscall_error(errno.EINVAL, f"{self.name} programs take no data_in")
        raw = bytearray(check_tail_zero(ctx or b"", self.ctx_size, f"the {self.name} context"))
        access = BytesAccess(raw, self.valid)
        inv = Invocation(memory, raw, ())
        region = inv.own(Region(f"{self.name}.ctx", self.ctx_size, kind="ctx", access=access))
        inv.args = (region.address,)
        keep = self.ctx_out and ctx is not None

        def finish(r0: int) -> tuple[int, bytes | None, bytes | None]:
            return r0 & 0xFFFFFFFF, None, bytes(raw) if keep else None
        inv._finish = finish
        return inv


# struct bpf_cgroup_dev_ctx: u32 access_type (BPF_DEVCG_ACC_* << 16 | BPF_DEVCG_DEV_*),
# major, minor
CGROUP_DEV_SIZE = 12


def cgroup_dev_valid(off: int, size: int, write: bool) -> bool:
    """``cgroup_dev_is_valid_access``: reads only; access_type narrowly, major and minor
    as whole u32s."""
    if write or off < 0 or off + size > CGROUP_DEV_SIZE or off % size:
        return False
    return narrow_ok(size) if off < 4 else size == 4


__all__ = ["BytesProgramType", "CGROUP_DEV_SIZE", "SOCK_SIZE", "cgroup_dev_valid",
           "cgroup_sock_valid", "sock_addr_valid", "sock_bytes", "sock_common_valid",
           "sock_ops_valid", "sock_valid"]
