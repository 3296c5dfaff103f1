"""What libbpf does between an ObjectSpec and the kernel: BTF, maps, programs.

``load_btf`` hands the object's (fixed-up) BTF to BPF_BTF_LOAD; ``create_map`` makes a
kernel map with its BTF key/value types, initial data and freeze; ``program_load_info``
turns a ProgramSpec's func_info/line_info into the kernel's records; ``patch_maps``
writes map fds into the lddw instructions that refer to maps.
"""

from __future__ import annotations

import ctypes
import errno
import re
import struct
from typing import TYPE_CHECKING, Any, Sequence

from pybpf.errors import BpfError, BpfSyscallError
from pybpf.isa import Instruction, Kind
from pybpf.isa.opcodes import PSEUDO_MAP_FD, PSEUDO_MAP_VALUE
from pybpf.isa.uapi import Cmd, MapType
from pybpf.kernel.fd import Fd
from pybpf.kernel.introspect.batch import freeze
from pybpf.kernel.maps import KernelMap, possible_cpus
from pybpf.kernel.syscall import ENOTSUPP, address, bpf

if TYPE_CHECKING:
    from pybpf.elf.spec import MapSpec, ProgramSpec

BPF_F_RDONLY_PROG = 1 << 7
PAGE_SIZE = 4096
MAX_BTF_LOG = 16 << 20


class BtfLoadAttr(ctypes.Structure):
    """The BPF_BTF_LOAD part of ``union bpf_attr``."""

    _fields_ = [("btf", ctypes.c_uint64), ("btf_log_buf", ctypes.c_uint64),
                ("btf_size", ctypes.c_uint32), ("btf_log_size", ctypes.c_uint32),
                ("btf_log_level", ctypes.c_uint32), ("btf_log_true_size", ctypes.c_uint32)]


def load_btf(raw: bytes) -> Fd:
    """Load BTF into the kernel; a rejection raises BpfSyscallError with the BTF log."""
    data = ctypes.create_string_buffer(raw, len(raw))
    attr = BtfLoadAttr(btf=address(data), btf_size=len(raw))
    try:
        return Fd(bpf(Cmd.BTF_LOAD, attr))  # type: ignore[arg-type]
    except BpfSyscallError as first:
        log = ctypes.create_string_buffer(1 << 16)
        attr = BtfLoadAttr(btf=address(data), btf_size=len(raw), btf_log_buf=address(log),
                           btf_log_size=len(log), btf_log_level=1)
        try:
            return Fd(bpf(Cmd.BTF_LOAD, attr))  # type: ignore[arg-type]
        except BpfSyscallError:
            text = log.value.decode("utf-8", "replace").strip().splitlines()
            reason = text[-1] if text else "no log"
            raise BpfSyscallError(first.errno or errno.EINVAL,
                                  f"the kernel refused the object's BTF ({reason})") from None


def kernel_map_name(name: str) -> str:
    """A name the kernel takes (15 chars of [A-Za-z0-9_.]), as libbpf shortens them."""
    clean = re.sub(r"[^A-Za-z0-9_.]", "_", name)
    return clean[:15]


def _sizes(spec: "MapSpec") -> tuple[int, int]:
    """max_entries and key size as libbpf adjusts them before MAP_CREATE."""
    max_entries = spec.max_entries
    if spec.type == MapType.PERF_EVENT_ARRAY and max_entries == 0:
        max_entries = possible_cpus()
    if spec.type == MapType.RINGBUF:
        size = PAGE_SIZE
        while size < max_entries:
            size <<= 1
        max_entries = size
    return max_entries, spec.key_size


def create_map(spec: "MapSpec", btf_fd: Fd | None) -> KernelMap:
    """The kernel map for ``spec``: BTF-typed when the object has BTF for it, filled with
    its global data and frozen when read-only to programs, as libbpf does."""
    max_entries, key_size = _sizes(spec)
    inner = create_map(spec.inner, btf_fd) if spec.inner is not None else None
    key_id = getattr(spec.key_type, "id", 0) if spec.key_type is not None else 0
    value_id = getattr(spec.value_type, "id", 0) if spec.value_type is not None else 0
    typed = btf_fd is not None and (value_id or key_id) and spec.type not in (
        MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS,
        MapType.PERF_EVENT_ARRAY, MapType.RINGBUF)
    try:
        try:
            m = KernelMap(spec.type, key_size, spec.value_size, max_entries, spec.flags,
                          kernel_map_name(spec.name), map_extra=spec.map_extra,
                          inner_map=inner, btf_fd=btf_fd if typed else None,
                          btf_key_type_id=key_id if typed else 0,
                          btf_value_type_id=value_id if typed else 0)
        except BpfSyscallError as e:
            if not typed or e.errno not in (errno.EINVAL, ENOTSUPP):
                raise
            # Old kernels refuse some BTF value types, and map types without BTF support
            # (devmap, cpumap, ...) refuse any (ENOTSUPP): libbpf retries without BTF too.
            m = KernelMap(spec.type, key_size, spec.value_size, max_entries, spec.flags,
                          kernel_map_name(spec.name), map_extra=spec.map_extra,
                          inner_map=inner)
    finally:
        if inner is not None:
            inner.close()
    if spec.data is not None:
        m.update(bytes(4), spec.data)
        if spec.flags & BPF_F_RDONLY_PROG:
            freeze(m)
    for key, value in spec.contents:
        if isinstance(value, (bytes, bytearray)):
            m.update(key, value)
    return m


def patch_maps(prog: "ProgramSpec", insns: Sequence[Instruction],
               maps: dict[str, Any]) -> list[Instruction]:
    """``insns`` with each map-referencing lddw holding the map's fd (and value offset)."""
    out = []
    pc = 0
    for insn in insns:
        if insn.form.kind is Kind.LDDW and insn.src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
            m = maps.get(insn.reference or "")
            if m is None:
                raise BpfError(f"{prog.name}: instruction {pc} refers to map "
                               f"{insn.reference!r}, which the object does not define")
            fd = m.fileno()
            imm = fd if insn.src == PSEUDO_MAP_FD else (insn.imm & ~0xFFFFFFFF) | fd
            insn = insn.with_meta(imm=imm)
        out.append(insn)
        pc += insn.slots
    return out


def _strings(raw: bytes) -> dict[str, int]:
    """The BTF string table: each string's offset."""
    hdr_len, _, _, str_off, str_len = struct.unpack_from("<IIIII", raw, 4)
    table = raw[hdr_len + str_off:hdr_len + str_off + str_len]
    out: dict[str, int] = {}
    pos = 0
    for piece in table.split(b"\0"):
        out.setdefault(piece.decode("utf-8", "replace"), pos)
        pos += len(piece) + 1
    return out


def program_load_info(prog: "ProgramSpec", btf_raw: bytes) -> dict[str, Any]:
    """func_info and line_info records as BPF_PROG_LOAD takes them (buffers included)."""
    info: dict[str, Any] = {}
    if prog.func_info:
        raw = b"".join(struct.pack("<II", slot, type_id) for slot, type_id in prog.func_info)
        info["func_info"] = (raw, 8, len(prog.func_info))
    if prog.line_info:
        strings = _strings(btf_raw)
        records = []
        for slot, line in prog.line_info:
            file_off, line_off = strings.get(line.file), strings.get(line.text)
            if file_off is None or line_off is None:
                continue
            records.append(struct.pack("<IIII", slot, file_off, line_off,
                                       line.line << 10 | (line.column & 0x3FF)))
        if records:
            info["line_info"] = (b"".join(records), 16, len(records))
    return info
