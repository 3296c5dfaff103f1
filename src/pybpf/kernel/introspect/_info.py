"""``struct bpf_prog_info``, ``bpf_map_info``, ``bpf_link_info`` and ``bpf_btf_info``
through BPF_OBJ_GET_INFO_BY_FD, as frozen dataclasses whose ``to_json()`` uses bpftool's
``-j`` field names."""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from functools import cache

from pybpf.isa.uapi import Cmd, LinkType, MapType, ProgType
from pybpf.kernel.fd import Fd
from pybpf.kernel.introspect._objects import fdinfo, open_btf, open_map_fd
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.syscall import BPF_OBJ_NAME_LEN, BpfAttr, address, bpf

u8, u32, u64 = ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint64
BPF_TAG_SIZE = 8


class _ProgInfo(ctypes.Structure):
    """``struct bpf_prog_info`` (uapi/linux/bpf.h)."""

    _fields_ = [
        ("type", u32), ("id", u32), ("tag", u8 * BPF_TAG_SIZE), ("jited_prog_len", u32),
        ("xlated_prog_len", u32), ("jited_prog_insns", u64), ("xlated_prog_insns", u64),
        ("load_time", u64), ("created_by_uid", u32), ("nr_map_ids", u32), ("map_ids", u64),
        ("name", ctypes.c_char * BPF_OBJ_NAME_LEN), ("ifindex", u32), ("gpl_compatible", u32),
        ("netns_dev", u64), ("netns_ino", u64), ("nr_jited_ksyms", u32),
        ("nr_jited_func_lens", u32), ("jited_ksyms", u64), ("jited_func_lens", u64),
        ("btf_id", u32), ("func_info_rec_size", u32), ("func_info", u64),
        ("nr_func_info", u32), ("nr_line_info", u32), ("line_info", u64),
        ("jited_line_info", u64), ("nr_jited_line_info", u32), ("line_info_rec_size", u32),
        ("jited_line_info_rec_size", u32), ("nr_prog_tags", u32), ("prog_tags", u64),
        ("run_time_ns", u64), ("run_cnt", u64), ("recursion_misses", u64),
        ("verified_insns", u32), ("attach_btf_obj_id", u32), ("attach_btf_id", u32),
        ("_pad", u32),
    ]


class _MapInfo(ctypes.Structure):
    """``struct bpf_map_info``."""

    _fields_ = [
        ("type", u32), ("id", u32), ("key_size", u32), ("value_size", u32),
        ("max_entries", u32), ("map_flags", u32), ("name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", u32), ("btf_vmlinux_value_type_id", u32), ("netns_dev", u64),
        ("netns_ino", u64), ("btf_id", u32), ("btf_key_type_id", u32),
        ("btf_value_type_id", u32), ("_pad", u32), ("map_extra", u64),
    ]


class _BtfInfo(ctypes.Structure):
    """``struct bpf_btf_info``."""

    _fields_ = [("btf", u64), ("btf_size", u32), ("id", u32), ("name", u64),
                ("name_len", u32), ("kernel_btf", u32)]


class _LinkInfo(ctypes.Structure):
    """``struct bpf_link_info``: the common head; the per-type union stays raw bytes."""

    _fields_ = [("type", u32), ("id", u32), ("prog_id", u32), ("_pad", u32),
                ("union", u8 * 64)]


def _get_info(fd: Fd | int, info: ctypes.Structure) -> ctypes.Structure:
    attr = BpfAttr()
    attr.info.bpf_fd = fd.fileno() if isinstance(fd, Fd) else fd
    attr.info.info_len = ctypes.sizeof(info)
    attr.info.info = ctypes.addressof(info)
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info


def _boot_to_epoch(boot_ns: int) -> int:
    """A CLOCK_BOOTTIME instant (ns) in seconds since the epoch, as bpftool's loaded_at."""
    real = time.clock_gettime_ns(time.CLOCK_REALTIME)
    boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return (real - boot + boot_ns) // 1_000_000_000


def type_name(kind: type[ProgType] | type[MapType] | type[LinkType], value: int) -> str:
    """bpftool's lowercase name of a program/map/link type ("socket_filter", "hash")."""
    try:
        return kind(value).name.lower()
    except ValueError:
        return f"type {value}"


# --- info ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgInfo:
    """``struct bpf_prog_info`` of one program, plus ``memlock`` from its fdinfo."""

    type: int
    id: int
    tag: str
    name: str
    jited_prog_len: int
    xlated_prog_len: int
    load_time: int                # ns since boot
    created_by_uid: int
    map_ids: tuple[int, ...]
    gpl_compatible: bool
    ifindex: int
    btf_id: int
    nr_func_info: int
    nr_line_info: int
    nr_jited_ksyms: int
    run_time_ns: int
    run_cnt: int
    recursion_misses: int
    verified_insns: int
    attach_btf_obj_id: int
    attach_btf_id: int
    memlock: int | None = None

    @property
    def type_name(self) -> str:
        return type_name(ProgType, self.type)

    @property
    def loaded_at(self) -> int:
        """Load time in seconds since the epoch."""
        return _boot_to_epoch(self.load_time)

    def to_json(self) -> dict:
        """The fields ``bpftool -j prog show`` prints, spelled as it spells them."""
        out: dict = {"id": self.id, "type": self.type_name}
        if self.name:
            out["name"] = self.name
        out.update(tag=self.tag, gpl_compatible=self.gpl_compatible)
        if self.run_time_ns:
            out.update(run_time_ns=self.run_time_ns, run_cnt=self.run_cnt)
        if self.recursion_misses:
            out["recursion_misses"] = self.recursion_misses
        out.update(loaded_at=self.loaded_at, uid=self.created_by_uid,
                   bytes_xlated=self.xlated_prog_len, jited=bool(self.jited_prog_len))
        if self.jited_prog_len:
            out["bytes_jited"] = self.jited_prog_len
        if self.memlock is not None:
            out["bytes_memlock"] = self.memlock
        if self.map_ids:
            out["map_ids"] = list(self.map_ids)
        if self.btf_id:
            out["btf_id"] = self.btf_id
        out["verified_insns"] = self.verified_insns
        return out


@dataclass(frozen=True)
class MapInfo:
    """``struct bpf_map_info`` of one map, plus ``frozen`` and ``memlock`` from its fdinfo."""

    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    name: str
    ifindex: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    map_extra: int
    frozen: bool = False
    memlock: int | None = None

    @property
    def type_name(self) -> str:
        return type_name(MapType, self.type)

    def to_json(self) -> dict:
        """The fields ``bpftool -j map show`` prints."""
        out: dict = {"id": self.id, "type": self.type_name}
        if self.name:
            out["name"] = self.name
        out.update(flags=self.flags, bytes_key=self.key_size, bytes_value=self.value_size,
                   max_entries=self.max_entries)
        if self.memlock is not None:
            out["bytes_memlock"] = self.memlock
        out["frozen"] = int(self.frozen)
        if self.btf_id:
            out["btf_id"] = self.btf_id
        return out


@dataclass(frozen=True)
class LinkInfo:
    """``struct bpf_link_info``: type, id, program, and the per-type fields pybpf reads."""

    type: int
    id: int
    prog_id: int
    details: dict = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        return type_name(LinkType, self.type)

    def to_json(self) -> dict:
        return {"id": self.id, "type": self.type_name, "prog_id": self.prog_id, **self.details}


@dataclass(frozen=True)
class BtfInfo:
    id: int
    name: str
    size: int
    kernel_btf: bool

    def to_json(self) -> dict:
        out: dict = {"id": self.id, "size": self.size, "kernel": self.kernel_btf}
        if self.name:
            out["name"] = self.name
        return out


def _prog_info_raw(fd: Fd | int, fields: dict[str, int] | None = None,
                   **arrays: tuple[str, int, ctypes.Array]) -> _ProgInfo:
    """bpf_prog_info, fetching the arrays given as ``ptr_field=(count_field, count, buffer)``
    (with ``fields`` such as record sizes set first). Arrays not asked for have count
    zero, so the kernel copies nothing there."""
    info = _ProgInfo()
    for name, value in (fields or {}).items():
        setattr(info, name, value)
    for ptr_field, (count_field, count, buf) in arrays.items():
        setattr(info, count_field, count)
        setattr(info, ptr_field, address(buf))
    return _get_info(fd, info)  # type: ignore[return-value]


def prog_info(fd: Fd | int) -> ProgInfo:
    """The info of the program ``fd`` refers to (map ids included)."""
    first = _prog_info_raw(fd)
    maps = (u32 * max(first.nr_map_ids, 1))()
    raw = _prog_info_raw(fd, map_ids=("nr_map_ids", first.nr_map_ids, maps))
    memlock = fdinfo(fd).get("memlock")
    return ProgInfo(
        type=raw.type, id=raw.id, tag=bytes(raw.tag).hex(),
        name=raw.name.decode("utf-8", "replace"), jited_prog_len=raw.jited_prog_len,
        xlated_prog_len=raw.xlated_prog_len, load_time=raw.load_time,
        created_by_uid=raw.created_by_uid,
        map_ids=tuple(maps[i] for i in range(min(raw.nr_map_ids, first.nr_map_ids))),
        gpl_compatible=bool(raw.gpl_compatible & 1), ifindex=raw.ifindex,
        btf_id=raw.btf_id, nr_func_info=raw.nr_func_info, nr_line_info=raw.nr_line_info,
        nr_jited_ksyms=raw.nr_jited_ksyms, run_time_ns=raw.run_time_ns, run_cnt=raw.run_cnt,
        recursion_misses=raw.recursion_misses, verified_insns=raw.verified_insns,
        attach_btf_obj_id=raw.attach_btf_obj_id, attach_btf_id=raw.attach_btf_id,
        memlock=int(memlock) if memlock and memlock.isdigit() else None)


def map_info(fd: Fd | int) -> MapInfo:
    """The info of the map ``fd`` refers to."""
    raw = _get_info(fd, _MapInfo())
    extra = fdinfo(fd)
    memlock = extra.get("memlock", "")
    return MapInfo(
        type=raw.type, id=raw.id, key_size=raw.key_size, value_size=raw.value_size,
        max_entries=raw.max_entries, flags=raw.map_flags,
        name=raw.name.decode("utf-8", "replace"), ifindex=raw.ifindex, btf_id=raw.btf_id,
        btf_key_type_id=raw.btf_key_type_id, btf_value_type_id=raw.btf_value_type_id,
        btf_vmlinux_value_type_id=raw.btf_vmlinux_value_type_id, map_extra=raw.map_extra,
        frozen=extra.get("frozen", "0") not in ("0", ""),
        memlock=int(memlock) if memlock.isdigit() else None)


def link_info(fd: Fd | int) -> LinkInfo:
    """The info of the link ``fd`` refers to, with the per-type fields pybpf decodes."""
    raw = _get_info(fd, _LinkInfo())
    if raw.type == LinkType.RAW_TRACEPOINT:     # ask again, with room for the name
        name = ctypes.create_string_buffer(256)
        again = _LinkInfo()
        again.union[:12] = list(address(name).to_bytes(8, "little") + len(name).to_bytes(4, "little"))
        raw = _get_info(fd, again)
        return LinkInfo(type=raw.type, id=raw.id, prog_id=raw.prog_id,
                        details={"tp_name": name.value.decode("utf-8", "replace")})
    union = bytes(raw.union)
    u32s = [int.from_bytes(union[i:i + 4], "little") for i in range(0, 24, 4)]
    details: dict = {}
    kind = raw.type
    if kind in (LinkType.TRACING,):
        details = {"attach_type": u32s[0], "target_obj_id": u32s[1], "target_btf_id": u32s[2]}
    elif kind == LinkType.CGROUP:
        details = {"cgroup_id": int.from_bytes(union[:8], "little"), "attach_type": u32s[2]}
    elif kind == LinkType.NETNS:
        details = {"netns_ino": u32s[0], "attach_type": u32s[1]}
    elif kind in (LinkType.XDP, LinkType.TCX, LinkType.NETKIT):
        details = {"ifindex": u32s[0]}
        if kind != LinkType.XDP:
            details["attach_type"] = u32s[1]
    elif kind == LinkType.NETFILTER:
        details = {"pf": u32s[0], "hooknum": u32s[1], "priority": u32s[2] - (1 << 32)
                   if u32s[2] >= 1 << 31 else u32s[2], "flags": u32s[3]}
    return LinkInfo(type=raw.type, id=raw.id, prog_id=raw.prog_id, details=details)


def btf_info(fd: Fd | int) -> BtfInfo:
    name = ctypes.create_string_buffer(256)
    info = _BtfInfo(name=address(name), name_len=len(name))
    raw = _get_info(fd, info)
    return BtfInfo(id=raw.id, name=name.value.decode("utf-8", "replace"), size=raw.btf_size,
                   kernel_btf=bool(raw.kernel_btf))


def btf_raw(fd: Fd | int) -> bytes:
    """The raw BTF (header, types, strings) of a BTF object, as loaded."""
    size = _get_info(fd, _BtfInfo()).btf_size
    buf = ctypes.create_string_buffer(max(size, 1))
    _get_info(fd, _BtfInfo(btf=address(buf), btf_size=size))
    return buf.raw[:size]


@cache
def _vmlinux_btf():
    from pybpf.elf.btf import Btf

    return Btf.from_file("/sys/kernel/btf/vmlinux")


def btf_by_id(btf_id: int):
    """A BTF object by id, parsed (:class:`pybpf.elf.btf.Btf`); module BTF gets vmlinux as
    its base."""
    from pybpf.elf.btf import Btf

    with open_btf(btf_id) as fd:
        info = btf_info(fd)
        raw = btf_raw(fd)
    if info.kernel_btf and info.name == "vmlinux":
        return _vmlinux_btf()
    base = _vmlinux_btf() if info.kernel_btf else None
    return Btf(raw, section=f"btf id {btf_id}", base=base)


def open_map(map_id: int) -> KernelMap:
    """Map ``map_id`` as a :class:`KernelMap` (sizes and type from its info) that owns its fd."""
    fd = open_map_fd(map_id)
    info = map_info(fd)
    m = KernelMap.borrow(fd.detach(), info.type, info.key_size, info.value_size,
                         info.max_entries, info.flags, info.name)
    return m



__all__ = ["BtfInfo", "LinkInfo", "MapInfo", "ProgInfo", "btf_by_id", "btf_info", "btf_raw",
           "link_info", "map_info", "open_map", "prog_info", "type_name"]
