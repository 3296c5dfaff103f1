"""Links: an attached program, detached when the link is closed or garbage-collected.

Every attach function returns a :class:`Link`. Where the kernel has a BPF link for the
hook (``BPF_LINK_CREATE``, ``BPF_RAW_TRACEPOINT_OPEN``) the link *is* a descriptor, and
closing it detaches; that kind, :class:`BpfLink`, can also be pinned in bpffs (then it
stays attached after close) and asked for its info. Older-style attachments (a socket
option, netlink, ``BPF_PROG_ATTACH``, a perf event ioctl) are :class:`Link` subclasses
that undo themselves in :meth:`Link._release`.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import TYPE_CHECKING, Any, Protocol

from pybpf.errors import BpfError
from pybpf.isa.uapi import AttachType, Cmd, ProgType
from pybpf.kernel.attach._attr import ENOTSUPP, AttachAttr, attach_error, call
from pybpf.kernel.fd import Closing, Fd

if TYPE_CHECKING:
    from pybpf.kernel.introspect import LinkInfo


class ProgramLike(Protocol):
    """Anything holding a loaded program's descriptor (``KernelProgram``, a libbpf program)."""

    def fileno(self) -> int: ...


def bpffs(path: str = "/sys/fs/bpf") -> str:
    """A mounted bpffs to pin in: ``path`` if bpffs is mounted there, else any bpffs mount,
    else ``path`` after mounting one there (needs root)."""
    mounts = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "bpf":
                mounts.append(parts[1])
    if path in mounts:
        return path
    if mounts:
        return mounts[0]
    libc = ctypes.CDLL(None, use_errno=True)
    os.makedirs(path, exist_ok=True)
    if libc.mount(b"bpf", os.fsencode(path), b"bpf", 0, None) != 0:
        err = ctypes.get_errno()
        raise attach_error(err, f"mounting bpffs at {path}", os.strerror(err),
                           f"mount it yourself: mount -t bpf bpf {path}")
    return path


def check_type(prog: ProgramLike | int, allowed: tuple[ProgType, ...], what: str) -> None:
    """Refuse a program whose known type cannot go on this hook, before any system call
    (the kernel would answer a bare EINVAL)."""
    ptype = getattr(prog, "prog_type", None)
    if ptype is None or int(ptype) in allowed:
        return
    try:
        name = ProgType(ptype).name
    except ValueError:
        name = str(ptype)
    raise attach_error(errno.EINVAL, what,
                       f"this hook takes {' or '.join(t.name for t in allowed)} programs, "
                       f"not {name}",
                       "load the program with the matching type (its SEC() name)")


def prog_fd(prog: ProgramLike | int) -> int:
    return prog if isinstance(prog, int) else prog.fileno()


class Link(Closing):
    """One attachment. ``detach()``/``close()`` (the same), ``with``, or GC undo it."""

    kind = "attachment"

    def __init__(self, description: str):
        self.description = description
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _release(self) -> None:
        """Undo the attachment (subclasses)."""

    def detach(self) -> None:
        """Detach the program; doing it again does nothing."""
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release()

    def fileno(self) -> int:
        raise BpfError(f"{self.description} is not held by a BPF link descriptor")

    def pin(self, path: str | os.PathLike) -> None:
        raise BpfError(f"{self.description} is not a BPF link and cannot be pinned "
                       "(only links made with BPF_LINK_CREATE/RAW_TRACEPOINT_OPEN can)")

    def info(self) -> "LinkInfo":
        raise BpfError(f"{self.description} is not a BPF link: the kernel has no link info "
                       "for it")


    def __repr__(self) -> str:
        state = "detached" if self._closed else "attached"
        return f"<{type(self).__name__} {self.description} ({state})>"


class LinkGroup(Link):
    """Several links that attach and detach together (a USDT probe inlined at many sites)."""

    def __init__(self, links: list[Link], description: str):
        super().__init__(description)
        self.links = links

    def _release(self) -> None:
        for link in self.links:
            link.close()


class BpfLink(Link):
    """A kernel BPF link, owned through its descriptor."""

    kind = "bpf link"

    def __init__(self, fd: Fd | int, description: str, *, keep: tuple[Any, ...] = ()):
        super().__init__(description)
        self.fd = fd if isinstance(fd, Fd) else Fd(fd)
        self._keep = keep  # objects the attachment depends on (e.g. a perf event fd)

    def fileno(self) -> int:
        return self.fd.fileno()

    def _release(self) -> None:
        self.fd.close()
        for obj in self._keep:
            close = getattr(obj, "close", None)
            if close is not None:
                close()

    def detach(self) -> None:
        """Detach now (BPF_LINK_DETACH), even if the link is pinned, then close it.

        Link types without a detach operation (raw tracepoint, tracing, perf event links)
        are only closed: pinned, they stay attached until the pin is removed.
        """
        if self._closed:
            return
        attr = AttachAttr()
        attr.link_detach.link_fd = self.fd.fileno()
        try:
            call(Cmd.LINK_DETACH, attr, f"detaching {self.description}")
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, ENOTSUPP):
                raise
        self.close()

    def pin(self, path: str | os.PathLike) -> None:
        """Pin the link in bpffs; it stays attached after close until the pin is removed."""
        raw = os.fsencode(path)
        buf = ctypes.create_string_buffer(raw)
        attr = AttachAttr()
        attr.obj_pin.pathname = ctypes.addressof(buf)
        attr.obj_pin.bpf_fd = self.fd.fileno()
        call(Cmd.OBJ_PIN, attr, f"pinning {self.description} at {os.fsdecode(raw)}",
             "pin under a mounted bpffs (mount -t bpf bpf /sys/fs/bpf)")

    @classmethod
    def open_pinned(cls, path: str | os.PathLike) -> "BpfLink":
        """A pinned link, opened again (BPF_OBJ_GET)."""
        raw = os.fsencode(path)
        buf = ctypes.create_string_buffer(raw)
        attr = AttachAttr()
        attr.obj_pin.pathname = ctypes.addressof(buf)
        fd = call(Cmd.OBJ_GET, attr, f"opening the pinned link {os.fsdecode(raw)}")
        return cls(fd, f"pinned link {os.fsdecode(raw)}")

    def info(self) -> "LinkInfo":
        """What the kernel says about this link (BPF_OBJ_GET_INFO_BY_FD)."""
        from pybpf.kernel.introspect import link_info

        return link_info(self.fd.fileno())


def link_create(prog: ProgramLike | int, target: int, attach_type: AttachType | int, what: str,
                *, flags: int = 0, alternative: str = "",
                reasons: dict[int, str] | None = None, target_btf_id: int = 0,
                perf_cookie: int = 0, keep: tuple[Any, ...] = (),
                description: str = "") -> BpfLink:
    """BPF_LINK_CREATE; the link's description defaults to ``what`` without its verb."""
    attr = AttachAttr()
    lc = attr.link_create
    lc.prog_fd = prog_fd(prog)
    lc.target = target
    lc.attach_type = int(attach_type)
    lc.flags = flags
    if target_btf_id:
        lc.extra.target_btf_id = target_btf_id
    if perf_cookie:
        lc.extra.perf_event_cookie = perf_cookie
    fd = call(Cmd.LINK_CREATE, attr, what, alternative, reasons)
    return BpfLink(fd, description or _describe(what), keep=keep)


def _describe(what: str) -> str:
    """'attaching X to Y' -> 'X on Y' style description for reprs and errors."""
    for verb in ("attaching ", "creating "):
        if what.startswith(verb):
            return what[len(verb):]
    return what


__all__ = ["BpfLink", "Link", "LinkGroup", "ProgramLike", "bpffs", "check_type",
           "link_create", "prog_fd"]
