"""cgroup v2 programs: BPF_LINK_CREATE on a cgroup directory's descriptor.

Falls back to BPF_PROG_ATTACH (with BPF_F_ALLOW_MULTI) on kernels without cgroup links
(before 5.7). Also finds the cgroup v2 mount, which on hybrid systems is not
/sys/fs/cgroup itself (e.g. /sys/fs/cgroup/unified).
"""

from __future__ import annotations

import errno
import os
from functools import lru_cache
from typing import Literal

from pybpf.errors import BpfError, BpfSyscallError
from pybpf.isa.uapi import AttachType, ProgType
from pybpf.kernel.attach._attr import ENOTSUPP, attach_error
from pybpf.kernel.attach.link import Link, ProgramLike, check_type, link_create
from pybpf.kernel.attach.sockets import prog_attach
from pybpf.kernel.fd import Fd

BPF_F_ALLOW_OVERRIDE = 1
BPF_F_ALLOW_MULTI = 2

# Short names for the common hooks: attach_cgroup(prog, path, "egress").
CGROUP_HOOKS = {
    "ingress": AttachType.CGROUP_INET_INGRESS, "egress": AttachType.CGROUP_INET_EGRESS,
    "sock_create": AttachType.CGROUP_INET_SOCK_CREATE,
    "sock_release": AttachType.CGROUP_INET_SOCK_RELEASE,
    "sock_ops": AttachType.CGROUP_SOCK_OPS, "device": AttachType.CGROUP_DEVICE,
    "bind4": AttachType.CGROUP_INET4_BIND, "bind6": AttachType.CGROUP_INET6_BIND,
    "connect4": AttachType.CGROUP_INET4_CONNECT, "connect6": AttachType.CGROUP_INET6_CONNECT,
    "post_bind4": AttachType.CGROUP_INET4_POST_BIND,
    "post_bind6": AttachType.CGROUP_INET6_POST_BIND,
    "sendmsg4": AttachType.CGROUP_UDP4_SENDMSG, "sendmsg6": AttachType.CGROUP_UDP6_SENDMSG,
    "recvmsg4": AttachType.CGROUP_UDP4_RECVMSG, "recvmsg6": AttachType.CGROUP_UDP6_RECVMSG,
    "sysctl": AttachType.CGROUP_SYSCTL, "getsockopt": AttachType.CGROUP_GETSOCKOPT,
    "setsockopt": AttachType.CGROUP_SETSOCKOPT,
}


CGROUP_PROG_TYPES = (ProgType.CGROUP_SKB, ProgType.CGROUP_SOCK, ProgType.CGROUP_SOCK_ADDR,
                     ProgType.SOCK_OPS, ProgType.CGROUP_DEVICE, ProgType.CGROUP_SYSCTL,
                     ProgType.CGROUP_SOCKOPT, ProgType.LSM)


@lru_cache(maxsize=1)
def cgroup2_mount() -> str:
    """Where the cgroup v2 hierarchy is mounted (from /proc/self/mounts)."""
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "cgroup2":
                return parts[1]
    raise BpfError("no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup)")


def cgroup_path(cgroup: str | os.PathLike) -> str:
    """A cgroup directory: an absolute path is taken as is, a relative one is under the
    cgroup v2 mount."""
    text = os.fspath(cgroup)
    return text if os.path.isabs(text) else os.path.join(cgroup2_mount(), text)


def attach_cgroup(prog: ProgramLike | int, cgroup: str | os.PathLike | int,
                  attach_type: AttachType | int | str, *,
                  method: Literal["auto", "link", "prog_attach"] = "auto",
                  flags: int = BPF_F_ALLOW_MULTI) -> Link:
    """Attach a cgroup program (CGROUP_SKB, CGROUP_SOCK, CGROUP_SOCK_ADDR, SOCK_OPS,
    CGROUP_DEVICE, CGROUP_SYSCTL, CGROUP_SOCKOPT) to a cgroup v2 directory (path, path
    relative to the cgroup2 mount, or an open directory descriptor).

    ``attach_type`` is an AttachType or one of :data:`CGROUP_HOOKS` ("egress", ...).
    ``flags`` are used by the BPF_PROG_ATTACH fallback only.
    """
    if isinstance(attach_type, str):
        try:
            attach_type = CGROUP_HOOKS[attach_type]
        except KeyError:
            raise attach_error(errno.EINVAL, f"attaching to a cgroup at hook {attach_type!r}",
                               "unknown hook name",
                               f"use an AttachType or one of {', '.join(CGROUP_HOOKS)}") from None
    attach_type = AttachType(attach_type)
    check_type(prog, CGROUP_PROG_TYPES, f"attaching a program to a cgroup at "
                                        f"{attach_type.name}")
    if isinstance(cgroup, int):
        fd, path = Fd(os.dup(cgroup)), f"cgroup fd {cgroup}"
    else:
        path = cgroup_path(cgroup)
        try:
            fd = Fd(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        except OSError as e:
            raise attach_error(e.errno or errno.ENOENT, f"opening cgroup {path}",
                               os.strerror(e.errno or errno.ENOENT),
                               f"cgroup v2 is mounted at {cgroup2_mount()}") from None
    what = f"attaching a {attach_type.name} program to cgroup {path}"
    reasons = {errno.EBADF: "the directory is not a cgroup v2 directory "
                            f"(cgroup v2 is mounted at {_mount_or_unknown()})",
               errno.EINVAL: f"the program's type or expected attach type does not match "
                             f"{attach_type.name} (load it with expected_attach_type="
                             f"{attach_type.name})"}
    with fd:
        if method != "prog_attach":
            try:
                return link_create(prog, fd.fileno(), attach_type, what, reasons=reasons)
            except BpfSyscallError as e:
                if method == "link" or e.errno not in (errno.EINVAL, ENOTSUPP,
                                                       errno.EOPNOTSUPP):
                    raise
                first = e
            try:
                return prog_attach(prog, fd.fileno(), attach_type, what, flags=flags,
                                   reasons=reasons)
            except BpfSyscallError:
                raise first from None
        return prog_attach(prog, fd.fileno(), attach_type, what, flags=flags, reasons=reasons)


def _mount_or_unknown() -> str:
    try:
        return cgroup2_mount()
    except BpfError:
        return "nowhere"


__all__ = ["BPF_F_ALLOW_MULTI", "BPF_F_ALLOW_OVERRIDE", "CGROUP_HOOKS", "attach_cgroup",
           "cgroup2_mount", "cgroup_path"]
