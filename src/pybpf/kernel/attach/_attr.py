"""``union bpf_attr`` members for attaching, and one bpf(2) call that says what it tried.

:mod:`pybpf.kernel.syscall` lays out the members the loader and the maps use; the ones
attaching needs (BPF_LINK_CREATE, BPF_PROG_ATTACH/DETACH, BPF_RAW_TRACEPOINT_OPEN,
BPF_OBJ_PIN/GET, BPF_OBJ_GET_INFO_BY_FD, BPF_LINK_DETACH) live here, in a union of
their own: :func:`pybpf.kernel.syscall.bpf` passes any ctypes object by reference with
its size, and the kernel zero-extends a short attr.
"""

from __future__ import annotations

import ctypes
import errno as _errno

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import Cmd
from pybpf.kernel.syscall import ENOTSUPP, InfoAttr, bpf
from pybpf.kernel.syscall import ObjAttr as ObjPinAttr

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64


class _TcxExtra(ctypes.Structure):
    """tcx / netkit / cgroup (mprog) links: where to insert relative to another program."""

    _fields_ = [("relative_fd", u32), ("expected_revision", u64)]


class _TracingExtra(ctypes.Structure):
    _fields_ = [("target_btf_id", u32), ("cookie", u64)]


class _LinkCreateExtra(ctypes.Union):
    _fields_ = [("target_btf_id", u32), ("perf_event_cookie", u64), ("tracing", _TracingExtra),
                ("tcx", _TcxExtra), ("raw", u64 * 7)]


class LinkCreateAttr(ctypes.Structure):
    """BPF_LINK_CREATE. ``target`` is a target fd or an ifindex, by attach type."""

    _fields_ = [("prog_fd", u32), ("target", u32), ("attach_type", u32), ("flags", u32),
                ("extra", _LinkCreateExtra)]


class ProgAttachAttr(ctypes.Structure):
    """BPF_PROG_ATTACH and BPF_PROG_DETACH (the attachments that are not links)."""

    _fields_ = [("target_fd", u32), ("attach_bpf_fd", u32), ("attach_type", u32),
                ("attach_flags", u32), ("replace_bpf_fd", u32), ("relative_fd", u32),
                ("expected_revision", u64)]


class RawTracepointAttr(ctypes.Structure):
    """BPF_RAW_TRACEPOINT_OPEN: ``name`` 0 means "the BTF target the program was loaded for"."""

    _fields_ = [("name", u64), ("prog_fd", u32), ("cookie", u64)]


class LinkDetachAttr(ctypes.Structure):
    _fields_ = [("link_fd", u32)]


class AttachAttr(ctypes.Union):
    """The attr members used by :mod:`pybpf.kernel.attach`."""

    _fields_ = [("link_create", LinkCreateAttr), ("prog_attach", ProgAttachAttr),
                ("raw_tracepoint", RawTracepointAttr), ("obj_pin", ObjPinAttr),
                ("info", InfoAttr), ("link_detach", LinkDetachAttr),
                ("_size", ctypes.c_uint8 * 128)]


def errno_name(err: int) -> str:
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(err, str(err))


def attach_error(err: int, what: str, reason: str = "", alternative: str = "") -> BpfSyscallError:
    """A BpfSyscallError saying what was attempted, why it failed and what to try instead."""
    text = what
    if reason:
        text += f": {reason}"
    if alternative:
        text += f"; {alternative}"
    return BpfSyscallError(err, text)


def common_reason(err: int) -> str:
    """What an errno usually means when attaching; '' when it says nothing specific."""
    return {
        _errno.EPERM: "not permitted (needs root/CAP_BPF+CAP_NET_ADMIN/CAP_PERFMON, "
                      "or kernel lockdown forbids it)",
        _errno.EACCES: "permission denied",
        _errno.EBADF: "a descriptor is not open or not the right kind of object",
        _errno.EEXIST: "something is already attached there",
        _errno.EBUSY: "the hook is busy (another program is attached in a conflicting mode)",
        _errno.ENODEV: "no such device",
        _errno.ENOENT: "no such attach point",
        _errno.EOPNOTSUPP: "not supported by this kernel or device",
        ENOTSUPP: "not supported by this kernel or device",
        _errno.EINVAL: "the kernel refused the arguments (wrong program or attach type for "
                       "this hook, or an unknown flag)",
    }.get(err, "")


def call(cmd: Cmd, attr: AttachAttr, what: str, alternative: str = "",
         reasons: dict[int, str] | None = None) -> int:
    """bpf(cmd, attr); on failure raise :func:`attach_error` naming ``what`` was attempted."""
    try:
        return bpf(cmd, attr)  # type: ignore[arg-type]  # any attr union works
    except BpfSyscallError as e:
        err = e.errno or 0
        reason = (reasons or {}).get(err) or common_reason(err)
        raise attach_error(err, what, reason, alternative) from None


__all__ = ["AttachAttr", "LinkCreateAttr", "ProgAttachAttr", "RawTracepointAttr", "ObjPinAttr",
           "InfoAttr", "LinkDetachAttr", "attach_error", "call", "common_reason", "errno_name"]
