"""The raw bpf(2) system call through ctypes, and the ``union bpf_attr`` layouts it takes.

Each command reads its own member of ``union bpf_attr``; this module lays out the members
for the commands the kernel backend uses. The kernel copies ``min(size, sizeof(attr))``
bytes and treats anything it does not know as zero, so passing the whole union (sized by
its largest member here) works on older and newer kernels alike, as long as fields this
kernel does not know stay zero.

Failures raise :class:`pybpf.errors.BpfSyscallError` (or the subclass the caller asks
for) with the kernel's errno and a sentence saying what failed.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import platform
from functools import cache
from typing import Callable

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import Cmd

# The kernel's own "operation not supported" (distinct from EOPNOTSUPP); not in errno.
ENOTSUPP = 524

_SYSCALL_NUMBERS = {"x86_64": 321, "aarch64": 280}
BPF_OBJ_NAME_LEN = 16  # map and program names, NUL included

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64  # __aligned_u64: ctypes aligns c_uint64 to 8 on both supported ABIs
s32 = ctypes.c_int32


class MapCreateAttr(ctypes.Structure):
    """BPF_MAP_CREATE."""

    _fields_ = [
        ("map_type", u32), ("key_size", u32), ("value_size", u32), ("max_entries", u32),
        ("map_flags", u32), ("inner_map_fd", u32), ("numa_node", u32),
        ("map_name", ctypes.c_char * BPF_OBJ_NAME_LEN), ("map_ifindex", u32), ("btf_fd", u32),
        ("btf_key_type_id", u32), ("btf_value_type_id", u32),
        ("btf_vmlinux_value_type_id", u32), ("map_extra", u64),
        ("value_type_btf_obj_fd", s32), ("map_token_fd", s32),
    ]


class MapElemAttr(ctypes.Structure):
    """BPF_MAP_LOOKUP_ELEM, _UPDATE_ELEM, _DELETE_ELEM and _GET_NEXT_KEY.

    ``value`` doubles as ``next_key`` (a union in the kernel's header).
    """

    _fields_ = [("map_fd", u32), ("key", u64), ("value", u64), ("flags", u64)]


class ProgLoadAttr(ctypes.Structure):
    """BPF_PROG_LOAD. ``log_true_size`` (6.4+) is written back by the kernel."""

    _fields_ = [
        ("prog_type", u32), ("insn_cnt", u32), ("insns", u64), ("license", u64),
        ("log_level", u32), ("log_size", u32), ("log_buf", u64), ("kern_version", u32),
        ("prog_flags", u32), ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("prog_ifindex", u32), ("expected_attach_type", u32), ("prog_btf_fd", u32),
        ("func_info_rec_size", u32), ("func_info", u64), ("func_info_cnt", u32),
        ("line_info_rec_size", u32), ("line_info", u64), ("line_info_cnt", u32),
        ("attach_btf_id", u32), ("attach_prog_fd", u32), ("core_relo_cnt", u32),
        ("fd_array", u64), ("core_relos", u64), ("core_relo_rec_size", u32),
        ("log_true_size", u32),
    ]


class TestRunAttr(ctypes.Structure):
    """BPF_PROG_TEST_RUN. ``retval``, ``duration`` and the ``*_size_out`` fields come back."""

    __test__ = False  # not a pytest test class, whatever its name says
    _fields_ = [
        ("prog_fd", u32), ("retval", u32), ("data_size_in", u32), ("data_size_out", u32),
        ("data_in", u64), ("data_out", u64), ("repeat", u32), ("duration", u32),
        ("ctx_size_in", u32), ("ctx_size_out", u32), ("ctx_in", u64), ("ctx_out", u64),
        ("flags", u32), ("cpu", u32), ("batch_size", u32),
    ]


class ObjAttr(ctypes.Structure):
    """BPF_OBJ_PIN and BPF_OBJ_GET: a path in a BPF filesystem and the fd to pin."""

    _fields_ = [("pathname", u64), ("bpf_fd", u32), ("file_flags", u32), ("path_fd", s32)]


class GetIdAttr(ctypes.Structure):
    """BPF_{PROG,MAP,BTF,LINK}_GET_NEXT_ID and _GET_FD_BY_ID.

    ``start_id`` is the kernel's union of start_id / prog_id / map_id / btf_id / link_id.
    """

    _fields_ = [("start_id", u32), ("next_id", u32), ("open_flags", u32),
                ("fd_by_id_token_fd", u32)]


class InfoAttr(ctypes.Structure):
    """BPF_OBJ_GET_INFO_BY_FD: the kernel fills ``info`` and writes back ``info_len``."""

    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


class BatchAttr(ctypes.Structure):
    """BPF_MAP_{LOOKUP,LOOKUP_AND_DELETE,UPDATE,DELETE}_BATCH. ``count`` comes back."""

    _fields_ = [("in_batch", u64), ("out_batch", u64), ("keys", u64), ("values", u64),
                ("count", u32), ("map_fd", u32), ("elem_flags", u64), ("flags", u64)]


class BpfAttr(ctypes.Union):
    """``union bpf_attr``, with one named member per command family used here."""

    _fields_ = [("map_create", MapCreateAttr), ("map_elem", MapElemAttr),
                ("prog_load", ProgLoadAttr), ("test", TestRunAttr),
                ("obj", ObjAttr), ("get_id", GetIdAttr), ("info", InfoAttr),
                ("batch", BatchAttr)]


_libc: ctypes.CDLL | None = None


@cache
def _syscall_number() -> int:
    machine = platform.machine()
    number = _SYSCALL_NUMBERS.get(machine)
    if number is None or platform.system() != "Linux":
        raise BpfSyscallError(_errno.ENOSYS, f"bpf(2) is not available on {platform.system()} "
                                             f"{machine} (supported: Linux on "
                                             f"{', '.join(_SYSCALL_NUMBERS)})")
    return number


def _syscall() -> Callable[..., int]:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc.syscall


def address(buf: ctypes.Array | None) -> int:
    """The address to put in a ``__aligned_u64`` pointer field (0 for None)."""
    return 0 if buf is None else ctypes.addressof(buf)


# The syscall function, its number and every command as ready-made C longs: built once,
# so a call converts nothing but the attr pointer (a map lookup costs ~0.85 us, not ~1.2).
_call: tuple[Callable[..., int], ctypes.c_long, dict[int, ctypes.c_long]] | None = None


def _prepared() -> tuple[Callable[..., int], ctypes.c_long, dict[int, ctypes.c_long]]:
    global _call
    if _call is None:
        _call = (_syscall(), ctypes.c_long(_syscall_number()),
                 {int(c): ctypes.c_long(int(c)) for c in Cmd})
    return _call


def bpf(cmd: Cmd, attr: BpfAttr, error: type[BpfSyscallError] = BpfSyscallError) -> int:
    """Call bpf(2); return its non-negative result or raise ``error`` with the errno.

    The caller keeps every buffer ``attr`` points to alive until this returns.
    """
    call, number, cmds = _call or _prepared()
    result = call(number, cmds[cmd], ctypes.byref(attr), ctypes.sizeof(attr))
    if result < 0:
        err = ctypes.get_errno()
        raise error(err, describe_failure(Cmd(cmd), err))
    return result


def raw_call(cmd: Cmd, attr: ctypes.Structure | ctypes.Union) -> Callable[[], int]:
    """``bpf(cmd, attr)`` bound once, for hot loops: returns the raw result (negative on
    failure, with the errno in ctypes.get_errno()); the caller reports errors."""
    call, number, cmds = _call or _prepared()
    command, ref, size = cmds[cmd], ctypes.byref(attr), ctypes.sizeof(attr)
    return lambda: call(number, command, ref, size)


def object_name(name: str) -> bytes:
    """A map or program name as the kernel takes it: at most 15 chars of [A-Za-z0-9_.]."""
    raw = name.encode("ascii")
    if len(raw) >= BPF_OBJ_NAME_LEN or not all(c.isalnum() or c in "_." for c in name):
        raise ValueError(f"object name {name!r} must be under {BPF_OBJ_NAME_LEN} characters "
                         "of letters, digits, '_' and '.'")
    return raw


_VERBS = {
    Cmd.MAP_CREATE: "creating a BPF map",
    Cmd.MAP_LOOKUP_ELEM: "looking up a map element",
    Cmd.MAP_UPDATE_ELEM: "updating a map element",
    Cmd.MAP_DELETE_ELEM: "deleting a map element",
    Cmd.MAP_GET_NEXT_KEY: "getting the next map key",
    Cmd.PROG_LOAD: "loading a BPF program",
    Cmd.PROG_TEST_RUN: "test-running a BPF program",
    Cmd.OBJ_PIN: "pinning a BPF object",
    Cmd.OBJ_GET: "opening a pinned BPF object",
    Cmd.OBJ_GET_INFO_BY_FD: "reading a BPF object's info",
    Cmd.PROG_GET_NEXT_ID: "listing BPF programs",
    Cmd.MAP_GET_NEXT_ID: "listing BPF maps",
    Cmd.BTF_GET_NEXT_ID: "listing BTF objects",
    Cmd.LINK_GET_NEXT_ID: "listing BPF links",
    Cmd.PROG_GET_FD_BY_ID: "opening a BPF program by id",
    Cmd.MAP_GET_FD_BY_ID: "opening a BPF map by id",
    Cmd.BTF_GET_FD_BY_ID: "opening a BTF object by id",
    Cmd.LINK_GET_FD_BY_ID: "opening a BPF link by id",
    Cmd.MAP_FREEZE: "freezing a BPF map",
    Cmd.MAP_LOOKUP_BATCH: "looking up a batch of map elements",
    Cmd.MAP_LOOKUP_AND_DELETE_BATCH: "looking up and deleting a batch of map elements",
    Cmd.MAP_UPDATE_BATCH: "updating a batch of map elements",
    Cmd.MAP_DELETE_BATCH: "deleting a batch of map elements",
}

_MAP_ELEM_CMDS = (Cmd.MAP_LOOKUP_ELEM, Cmd.MAP_UPDATE_ELEM, Cmd.MAP_DELETE_ELEM,
                  Cmd.MAP_GET_NEXT_KEY)


def describe_failure(cmd: Cmd, err: int) -> str:
    """One sentence saying what a failed bpf(cmd) means; errno text is appended by the error."""
    verb = _VERBS.get(cmd, f"bpf({cmd.name})")
    if err == _errno.EPERM:
        if cmd == Cmd.PROG_LOAD:
            return "not permitted: loading BPF programs needs root or CAP_BPF"
        if cmd == Cmd.MAP_CREATE:
            return "not permitted: creating BPF maps needs root or CAP_BPF"
        return f"not permitted: {verb} needs root or CAP_BPF (or the map is read-only)"
    if err == _errno.ENOSYS:
        return "bpf(2) is not implemented by this kernel (CONFIG_BPF_SYSCALL is off)"
    if err == _errno.ENOMEM:
        return f"{verb} failed: out of memory (the kernel charges BPF memory to the cgroup)"
    if err == _errno.EBADF:
        return f"{verb} failed: the file descriptor is not an open BPF object"
    if cmd in _MAP_ELEM_CMDS:
        if err == _errno.ENOENT:
            if cmd == Cmd.MAP_GET_NEXT_KEY:
                return "no next key: the map has no key after the given one"
            return "no such key in the map"
        if err == _errno.EEXIST:
            return "the key already exists (BPF_NOEXIST given)"
        if err == _errno.E2BIG:
            return "the map is full (max_entries reached)"
        if err == _errno.EINVAL:
            return f"{verb} failed: invalid flags, key or value for this map type"
    if cmd == Cmd.PROG_TEST_RUN:
        if err == ENOTSUPP:
            return "this program type does not support BPF_PROG_TEST_RUN"
        if err == _errno.ENOSPC:
            return "test run output did not fit the output buffer"
        if err == _errno.EINVAL:
            return ("test run refused its input (wrong data or ctx size for this program type, "
                    "or flags it does not take)")
    if cmd == Cmd.MAP_CREATE and err == _errno.EINVAL:
        return "creating a BPF map failed: invalid type, sizes, max_entries or flags"
    return f"{verb} failed"


__all__ = ["BPF_OBJ_NAME_LEN", "BatchAttr", "BpfAttr", "GetIdAttr", "InfoAttr", "MapCreateAttr",
           "MapElemAttr", "ObjAttr", "ProgLoadAttr", "TestRunAttr",
           "ENOTSUPP", "address", "bpf", "describe_failure", "object_name"]
