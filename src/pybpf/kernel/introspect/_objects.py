"""BPF objects by id and by pin: iterate ids (BPF_*_GET_NEXT_ID), open them
(BPF_*_GET_FD_BY_ID) into owned descriptors, pin them in a BPF filesystem and open pins."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Iterator

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import Cmd
from pybpf.kernel.fd import Fd
from pybpf.kernel.syscall import BpfAttr, address, bpf

BPFFS = "/sys/fs/bpf"


# --- ids and descriptors ------------------------------------------------------------------

_KINDS = {  # kind: (GET_NEXT_ID, GET_FD_BY_ID, what the error calls it)
    "prog": (Cmd.PROG_GET_NEXT_ID, Cmd.PROG_GET_FD_BY_ID, "program"),
    "map": (Cmd.MAP_GET_NEXT_ID, Cmd.MAP_GET_FD_BY_ID, "map"),
    "link": (Cmd.LINK_GET_NEXT_ID, Cmd.LINK_GET_FD_BY_ID, "link"),
    "btf": (Cmd.BTF_GET_NEXT_ID, Cmd.BTF_GET_FD_BY_ID, "BTF object"),
}


def _ids(kind: str) -> Iterator[int]:
    cmd = _KINDS[kind][0]
    current = 0
    while True:
        attr = BpfAttr()
        attr.get_id.start_id = current
        try:
            bpf(cmd, attr)
        except BpfSyscallError as e:
            if e.errno == errno.ENOENT:
                return
            raise
        current = attr.get_id.next_id
        yield current


def prog_ids() -> Iterator[int]:
    """Ids of every loaded program, ascending (BPF_PROG_GET_NEXT_ID)."""
    return _ids("prog")


def map_ids() -> Iterator[int]:
    """Ids of every map, ascending."""
    return _ids("map")


def link_ids() -> Iterator[int]:
    """Ids of every link, ascending."""
    return _ids("link")


def btf_ids() -> Iterator[int]:
    """Ids of every BTF object (vmlinux, modules, programs'), ascending."""
    return _ids("btf")


def _open(kind: str, obj_id: int) -> Fd:
    _, cmd, what = _KINDS[kind]
    attr = BpfAttr()
    attr.get_id.start_id = obj_id
    try:
        return Fd(bpf(cmd, attr))
    except BpfSyscallError as e:
        if e.errno == errno.ENOENT:
            raise BpfSyscallError(errno.ENOENT, f"no {what} with id {obj_id}") from None
        raise


def open_prog(prog_id: int) -> Fd:
    """A descriptor of program ``prog_id``; BpfSyscallError ENOENT when there is none."""
    return _open("prog", prog_id)


def open_map_fd(map_id: int) -> Fd:
    """A descriptor of map ``map_id``."""
    return _open("map", map_id)


def open_link(link_id: int) -> Fd:
    return _open("link", link_id)


def open_btf(btf_id: int) -> Fd:
    return _open("btf", btf_id)


def object_kind(fd: Fd | int) -> str:
    """"prog", "map", "link" or "btf": what a BPF descriptor refers to (from its inode)."""
    n = fd.fileno() if isinstance(fd, Fd) else fd
    target = os.readlink(f"/proc/self/fd/{n}")
    for marker, kind in (("bpf-prog", "prog"), ("bpf-map", "map"), ("bpf_link", "link"),
                         ("bpf-link", "link"), ("btf", "btf")):
        if marker in target:
            return kind
    raise BpfSyscallError(errno.EINVAL, f"descriptor {n} ({target}) is not a BPF object")


def fdinfo(fd: Fd | int) -> dict[str, str]:
    """``/proc/self/fdinfo/<fd>``: memlock, frozen, run_cnt... as the kernel prints them."""
    n = fd.fileno() if isinstance(fd, Fd) else fd
    out: dict[str, str] = {}
    with open(f"/proc/self/fdinfo/{n}") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip()
    return out


# --- pins -----------------------------------------------------------------------------


def _is_bpffs(path: str) -> bool:
    with open("/proc/self/mounts") as f:
        return any(line.split()[1:3] == [path, "bpf"] for line in f if len(line.split()) > 2)


def ensure_bpffs(path: str = BPFFS) -> str:
    """Mount a BPF filesystem at ``path`` unless one is there already; return ``path``."""
    if _is_bpffs(path):
        return path
    os.makedirs(path, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"bpf", path.encode(), b"bpf", 0, b"mode=0700") != 0:
        err = ctypes.get_errno()
        raise BpfSyscallError(err, f"cannot mount a BPF filesystem at {path}")
    return path


def pin(fd: Fd | int, path: str) -> None:
    """Pin a program, map, link or BTF object at ``path`` in a BPF filesystem (BPF_OBJ_PIN);
    the default bpffs is mounted when a path under it has none."""
    if path.startswith(BPFFS + "/"):
        ensure_bpffs()
    name = ctypes.create_string_buffer(os.fsencode(path))
    attr = BpfAttr()
    attr.obj.pathname = address(name)
    attr.obj.bpf_fd = fd.fileno() if isinstance(fd, Fd) else fd
    try:
        bpf(Cmd.OBJ_PIN, attr)
    except BpfSyscallError as e:
        raise BpfSyscallError(e.errno or 0, f"cannot pin at {path}"
                              + (" (not in a BPF filesystem?)" if e.errno == errno.EPERM
                                 else "")) from None


def open_pinned(path: str, flags: int = 0) -> Fd:
    """Open the object pinned at ``path`` (BPF_OBJ_GET)."""
    name = ctypes.create_string_buffer(os.fsencode(path))
    attr = BpfAttr()
    attr.obj.pathname = address(name)
    attr.obj.file_flags = flags
    try:
        return Fd(bpf(Cmd.OBJ_GET, attr))
    except BpfSyscallError as e:
        raise BpfSyscallError(e.errno or 0, f"cannot open pinned object {path}") from None


__all__ = ["BPFFS", "btf_ids", "ensure_bpffs", "fdinfo", "link_ids", "map_ids", "object_kind",
           "open_btf", "open_link", "open_map_fd", "open_pinned", "open_prog", "pin", "prog_ids"]
