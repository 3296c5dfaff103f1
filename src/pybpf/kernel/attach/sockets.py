"""Socket-level attachments: socket filters (SO_ATTACH_BPF), sockmap programs, and
network-namespace hooks (flow dissector, sk_lookup)."""

from __future__ import annotations

import errno
import os
import socket
from typing import Protocol

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import AttachType, Cmd, ProgType
from pybpf.kernel.attach._attr import AttachAttr, attach_error, call
from pybpf.kernel.attach.link import (
    BpfLink, Link, ProgramLike, check_type, link_create, prog_fd,
)
from pybpf.kernel.fd import Fd

SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27           # = SO_DETACH_FILTER
SO_ATTACH_REUSEPORT_EBPF = 52
SO_DETACH_REUSEPORT_BPF = 68


class HasFileno(Protocol):
    def fileno(self) -> int: ...


def _dup_socket(sock: HasFileno | int) -> socket.socket:
    fd = sock if isinstance(sock, int) else sock.fileno()
    return socket.socket(fileno=os.dup(fd))


class SocketLink(Link):
    """A program attached to a socket by socket option; detached with the matching option.

    It holds a duplicate of the socket's descriptor, so the socket stays open (and the
    filter on it) until the link is closed.
    """

    kind = "socket filter"

    def __init__(self, sock: socket.socket, level: int, detach_opt: int, description: str):
        super().__init__(description)
        self._sock, self._level, self._detach_opt = sock, level, detach_opt

    def _release(self) -> None:
        try:
            self._sock.setsockopt(self._level, self._detach_opt, 0)
        except OSError:
            pass  # nothing attached any more (someone else detached it)
        finally:
            self._sock.close()


def attach_socket(prog: ProgramLike | int, sock: HasFileno | int, *,
                  reuseport: bool = False) -> SocketLink:
    """Attach a SOCKET_FILTER program to ``sock`` (a socket object or descriptor).

    ``reuseport=True`` attaches an SK_REUSEPORT (or socket filter) program as the socket's
    reuseport group selector (SO_ATTACH_REUSEPORT_EBPF) instead.
    """
    check_type(prog, (ProgType.SOCKET_FILTER, ProgType.SK_REUSEPORT) if reuseport
               else (ProgType.SOCKET_FILTER,), "attaching a program to a socket")
    s = _dup_socket(sock)
    opt, detach, what = ((SO_ATTACH_REUSEPORT_EBPF, SO_DETACH_REUSEPORT_BPF,
                          "reuseport selector") if reuseport
                         else (SO_ATTACH_BPF, SO_DETACH_BPF, "socket filter"))
    description = f"{what} on socket fd {s.fileno()}"
    try:
        s.setsockopt(socket.SOL_SOCKET, opt, prog_fd(prog))
    except OSError as e:
        s.close()
        err = e.errno or 0
        reason = {
            errno.EINVAL: "the program is not a SOCKET_FILTER program (load it as "
                          "BPF_PROG_TYPE_SOCKET_FILTER, SEC(\"socket\"))"
                          + (" or SK_REUSEPORT" if reuseport else ""),
            errno.ENOTSOCK: "the descriptor is not a socket",
            errno.EBADF: "the program descriptor is not open",
            errno.EPERM: "not permitted",
        }.get(err, os.strerror(err))
        raise attach_error(err, f"attaching a {what} with setsockopt(SOL_SOCKET, "
                                f"{'SO_ATTACH_REUSEPORT_EBPF' if reuseport else 'SO_ATTACH_BPF'})",
                           reason) from None
    return SocketLink(s, socket.SOL_SOCKET, detach, description)


class ProgAttachLink(Link):
    """A BPF_PROG_ATTACH attachment, undone with BPF_PROG_DETACH on the same target.

    It owns duplicates of the target and program descriptors, which the detach names.
    """

    def __init__(self, target: Fd, prog: Fd, attach_type: AttachType | int, description: str):
        super().__init__(description)
        self._target, self._prog, self._attach_type = target, prog, int(attach_type)

    def _release(self) -> None:
        try:
            attr = AttachAttr()
            pa = attr.prog_attach
            pa.target_fd = self._target.fileno()
            pa.attach_bpf_fd = self._prog.fileno()
            pa.attach_type = self._attach_type
            try:
                call(Cmd.PROG_DETACH, attr, f"detaching {self.description}")
            except BpfSyscallError:
                pass  # already detached, or the target is gone
        finally:
            self._target.close()
            self._prog.close()


def prog_attach(prog: ProgramLike | int, target_fd: int, attach_type: AttachType | int,
                what: str, *, flags: int = 0, alternative: str = "",
                reasons: dict[int, str] | None = None) -> ProgAttachLink:
    """BPF_PROG_ATTACH ``prog`` to ``target_fd`` (duplicated for the link to keep)."""
    attr = AttachAttr()
    pa = attr.prog_attach
    pa.target_fd = target_fd
    pa.attach_bpf_fd = prog_fd(prog)
    pa.attach_type = int(attach_type)
    pa.attach_flags = flags
    call(Cmd.PROG_ATTACH, attr, what, alternative, reasons)
    description = what[len("attaching "):] if what.startswith("attaching ") else what
    return ProgAttachLink(Fd(os.dup(target_fd)), Fd(os.dup(prog_fd(prog))), attach_type,
                          description)


_SOCKMAP_TYPES = (AttachType.SK_SKB_STREAM_PARSER, AttachType.SK_SKB_STREAM_VERDICT,
                  AttachType.SK_SKB_VERDICT, AttachType.SK_MSG_VERDICT)


def attach_sockmap(prog: ProgramLike | int, sockmap: HasFileno | int,
                   attach_type: AttachType | int) -> Link:
    """Attach an SK_SKB/SK_MSG program to a sockmap or sockhash (a link where the kernel
    has sockmap links, 6.10+, else BPF_PROG_ATTACH)."""
    attach_type = AttachType(attach_type)
    if attach_type not in _SOCKMAP_TYPES:
        raise attach_error(errno.EINVAL, f"attaching to a sockmap with {attach_type.name}",
                           "sockmap programs attach as SK_SKB_STREAM_PARSER, "
                           "SK_SKB_STREAM_VERDICT, SK_SKB_VERDICT or SK_MSG_VERDICT")
    map_fd = sockmap if isinstance(sockmap, int) else sockmap.fileno()
    what = f"attaching a {attach_type.name} program to sockmap fd {map_fd}"
    try:
        return link_create(prog, map_fd, attach_type, what)
    except BpfSyscallError as e:
        if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
            raise
    return prog_attach(prog, map_fd, attach_type, what)


_NETNS_TYPES = (AttachType.FLOW_DISSECTOR, AttachType.SK_LOOKUP)


def attach_netns(prog: ProgramLike | int, attach_type: AttachType | int,
                 netns: str | os.PathLike | None = None) -> BpfLink:
    """Attach a FLOW_DISSECTOR or SK_LOOKUP program to a network namespace (the current
    one by default; else a name under /run/netns or a path such as /proc/PID/ns/net)."""
    from pybpf.kernel.attach.netns import netns_path

    attach_type = AttachType(attach_type)
    if attach_type not in _NETNS_TYPES:
        raise attach_error(errno.EINVAL, f"attaching to a network namespace with "
                                         f"{attach_type.name}",
                           "network namespaces take FLOW_DISSECTOR and SK_LOOKUP programs")
    path = netns_path(netns)
    ns = Fd(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
    with ns:
        return link_create(prog, ns.fileno(), attach_type,
                           f"attaching a {attach_type.name} program to network namespace "
                           f"{path}")


__all__ = ["ProgAttachLink", "SocketLink", "attach_netns", "attach_socket", "attach_sockmap",
           "prog_attach"]
