"""``struct __sk_buff``: offsets, the rewritten fields, and each program type's access rules.

The rules are the kernel's ``bpf_skb_is_valid_access`` and the per-type wrappers around it
(``sk_filter_``, ``tc_cls_act_``, ``cg_skb_``, ``lwt_``, ``sk_skb_is_valid_access``) in
net/core/filter.c: which fields a type may read, which it may write, and with what sizes.
"""

from __future__ import annotations

from typing import Any, Callable

from pybpf.vm.progtypes.base import Field, narrow_ok

SIZE = 192
LEN, PKT_TYPE, MARK, QUEUE_MAPPING, PROTOCOL = 0, 4, 8, 12, 16
VLAN_PRESENT, VLAN_TCI, VLAN_PROTO, PRIORITY = 20, 24, 28, 32
INGRESS_IFINDEX, IFINDEX, TC_INDEX, CB, CB_END = 36, 40, 44, 48, 68
HASH, TC_CLASSID, DATA, DATA_END, NAPI_ID = 68, 72, 76, 80, 84
FAMILY, REMOTE_IP4, LOCAL_IP4, REMOTE_IP6, LOCAL_IP6 = 88, 92, 96, 100, 116
REMOTE_PORT, LOCAL_PORT, DATA_META, FLOW_KEYS = 132, 136, 140, 144
TSTAMP, WIRE_LEN, GSO_SEGS, SK, GSO_SIZE, TSTAMP_TYPE, HWTSTAMP = 152, 160, 164, 168, 176, 180, 184


def _in(off: int, start: int, size: int = 4) -> bool:
    return start <= off < start + size


def generic_valid(off: int, size: int, write: bool) -> bool:
    """``bpf_skb_is_valid_access``."""
    if off < 0 or off >= SIZE or off % size:
        return False
    if _in(off, CB, 20):
        return off + size <= CB_END
    if (_in(off, REMOTE_IP6, 32) or _in(off, REMOTE_IP4) or _in(off, LOCAL_IP4)
            or _in(off, DATA) or _in(off, DATA_META) or _in(off, DATA_END)):
        return size == 4
    if _in(off, FLOW_KEYS, 8):
        return False
    if _in(off, HWTSTAMP, 8):
        return not write and size == 8
    if _in(off, TSTAMP, 8):
        return size == 8
    if off == SK:
        return not write and size == 8
    if _in(off, SK, 8):             # the pointer's other bytes: no conversion exists
        return False
    if off == TSTAMP_TYPE or TSTAMP_TYPE < off < HWTSTAMP:
        return False
    if write:
        return size == 4
    return narrow_ok(size)


def _any(off: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(_in(off, start, size) for start, size in ranges)


_SOCK_FIELDS = ((FAMILY, LOCAL_PORT + 4 - FAMILY),)


def sk_filter_valid(off: int, size: int, write: bool) -> bool:
    if _any(off, ((TC_CLASSID, 4), (DATA, 4), (DATA_META, 4), (DATA_END, 4), *_SOCK_FIELDS,
                  (TSTAMP, 8), (WIRE_LEN, 4), (HWTSTAMP, 8))):
        return False
    if write and not _in(off, CB, 20):
        return False
    return generic_valid(off, size, write)


def tc_valid(off: int, size: int, write: bool) -> bool:
    if write and not _any(off, ((MARK, 4), (TC_INDEX, 4), (PRIORITY, 4), (TC_CLASSID, 4),
                                (CB, 20), (TSTAMP, 8), (QUEUE_MAPPING, 4))):
        return False
    if _any(off, _SOCK_FIELDS):
        return False
    if off == TSTAMP_TYPE:
        return size == 1
    return generic_valid(off, size, write)


def cg_skb_valid(off: int, size: int, write: bool) -> bool:
    if _any(off, ((TC_CLASSID, 4), (DATA_META, 4), (WIRE_LEN, 4))):
        return False
    if write and not _any(off, ((MARK, 4), (PRIORITY, 4), (CB, 20), (TSTAMP, 8))):
        return False
    return generic_valid(off, size, write)


def lwt_valid(off: int, size: int, write: bool) -> bool:
    if _any(off, ((TC_CLASSID, 4), *_SOCK_FIELDS, (DATA_META, 4), (TSTAMP, 8), (WIRE_LEN, 4),
                  (HWTSTAMP, 8))):
        return False
    if write and not _any(off, ((MARK, 4), (PRIORITY, 4), (CB, 20))):
        return False
    return generic_valid(off, size, write)


def sk_skb_valid(off: int, size: int, write: bool) -> bool:
    if _any(off, ((TC_CLASSID, 4), (DATA_META, 4), (TSTAMP, 8), (WIRE_LEN, 4), (HWTSTAMP, 8))):
        return False
    if write and not _any(off, ((TC_INDEX, 4), (PRIORITY, 4))):
        return False
    if _in(off, MARK):
        return False
    return generic_valid(off, size, write)


VALIDITY: dict[str, Callable[[int, int, bool], bool]] = {
    "sk_filter": sk_filter_valid, "tc": tc_valid, "cg_skb": cg_skb_valid, "lwt": lwt_valid,
    "sk_skb": sk_skb_valid,
}


def _swab16(value: int) -> int:
    return ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)


def _set(attr: str, mask: int) -> Callable[[Any, int], None]:
    def store(state: Any, value: int) -> None:
        setattr(state, attr, value & mask)
    return store


def _set_queue_mapping(state: Any, value: int) -> None:
    if value < 0xFFFF:          # NO_QUEUE_MAPPING and above leave the field alone
        state.queue_mapping = value


def _le32(data: bytes, index: int = 0) -> int:
    return int.from_bytes(data[index * 4:index * 4 + 4], "little")


def _ip6(attr: str, index: int) -> Callable[[Any], int]:
    return lambda s: _le32(getattr(s.sock, attr), index)


def fields() -> dict[int, Field]:
    """The rewrite of every readable ``__sk_buff`` field, over an SkbState."""
    f = [
        Field("len", LEN, 4, lambda s: s.len),
        Field("pkt_type", PKT_TYPE, 4, lambda s: s.pkt_type, target=1),
        Field("mark", MARK, 4, lambda s: s.mark, set=_set("mark", 0xFFFFFFFF)),
        Field("queue_mapping", QUEUE_MAPPING, 4, lambda s: s.queue_mapping, target=2,
              set=_set_queue_mapping),
        Field("protocol", PROTOCOL, 4, lambda s: _swab16(s.protocol), target=2),
        Field("vlan_present", VLAN_PRESENT, 4, lambda s: int(s.vlan_present)),
        Field("vlan_tci", VLAN_TCI, 4, lambda s: s.vlan_tci, target=2),
        Field("vlan_proto", VLAN_PROTO, 4, lambda s: _swab16(s.vlan_proto), target=2),
        Field("priority", PRIORITY, 4, lambda s: s.priority, set=_set("priority", 0xFFFFFFFF)),
        Field("ingress_ifindex", INGRESS_IFINDEX, 4, lambda s: s.skb_iif),
        Field("ifindex", IFINDEX, 4, lambda s: s.ifindex),
        Field("tc_index", TC_INDEX, 4, lambda s: s.tc_index, target=2,
              set=_set("tc_index", 0xFFFF)),
        Field("hash", HASH, 4, lambda s: s.hash),
        Field("tc_classid", TC_CLASSID, 4, lambda s: s.tc_classid, target=2,
              set=_set("tc_classid", 0xFFFF)),
        Field("data", DATA, 4, lambda s: s.data_pointer(), target=8),
        Field("data_end", DATA_END, 4, lambda s: s.data_end_pointer(), target=8),
        Field("napi_id", NAPI_ID, 4, lambda s: 0),
        Field("family", FAMILY, 4, lambda s: s.sock.family, target=2),
        Field("remote_ip4", REMOTE_IP4, 4, lambda s: _le32(s.sock.dst4)),
        Field("local_ip4", LOCAL_IP4, 4, lambda s: _le32(s.sock.src4)),
        *(Field(f"remote_ip6[{i}]", REMOTE_IP6 + 4 * i, 4, _ip6("dst6", i)) for i in range(4)),
        *(Field(f"local_ip6[{i}]", LOCAL_IP6 + 4 * i, 4, _ip6("src6", i)) for i in range(4)),
        Field("remote_port", REMOTE_PORT, 4, lambda s: (_swab16(s.sock.dport) << 16)
              & 0xFFFFFFFF, target=2),
        Field("local_port", LOCAL_PORT, 4, lambda s: s.sock.sport, target=2),
        Field("data_meta", DATA_META, 4, lambda s: s.data_meta_pointer(), target=8),
        Field("tstamp", TSTAMP, 8, lambda s: s.tstamp, target=8,
              set=_set("tstamp", 0xFFFFFFFFFFFFFFFF)),
        Field("wire_len", WIRE_LEN, 4, lambda s: s.pkt_len),
        Field("gso_segs", GSO_SEGS, 4, lambda s: s.gso_segs, target=2),
        Field("sk", SK, 8, lambda s: s.sock_pointer(), target=8),
        Field("gso_size", GSO_SIZE, 4, lambda s: s.gso_size, target=2),
        Field("tstamp_type", TSTAMP_TYPE, 1, lambda s: 0, target=1),
        Field("hwtstamp", HWTSTAMP, 8, lambda s: s.hwtstamp, target=8),
    ]
    return {field.offset: field for field in f}


FIELDS = fields()

# convert___skb_to_skb: the fields a ctx_in may set; every other byte must be zero.
SETTABLE = ((MARK, 4), (PRIORITY, 4), (INGRESS_IFINDEX, 4), (IFINDEX, 4), (CB, 20),
            (TSTAMP, 8), (WIRE_LEN, 4), (GSO_SEGS, 4), (GSO_SIZE, 4), (HWTSTAMP, 8))


def first_forbidden_byte(ctx: bytes) -> int | None:
    """Offset of the first non-zero byte outside the settable fields, or None."""
    allowed = bytearray(SIZE)
    for start, size in SETTABLE:
        allowed[start:start + size] = b"\1" * size
    for i, byte in enumerate(ctx[:SIZE]):
        if byte and not allowed[i]:
            return i
    return None


def field_name(off: int) -> str:
    for field in FIELDS.values():
        if field.offset <= off < field.offset + field.size:
            return field.name
    if CB <= off < CB_END:
        return f"cb[{(off - CB) // 4}]"
    return f"offset {off}"
