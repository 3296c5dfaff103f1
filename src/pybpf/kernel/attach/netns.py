"""Network namespaces and interfaces: naming an interface, and running code inside a
namespace (setns on the calling thread) so ifindexes, netlink and sockets refer to it."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import threading
from typing import Iterator

from pybpf.errors import BpfSyscallError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"

_libc: ctypes.CDLL | None = None


def _setns(fd: int, nstype: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, nstype) != 0:
        err = ctypes.get_errno()
        raise BpfSyscallError(err, "entering the network namespace with setns(2) failed "
                                   "(needs CAP_SYS_ADMIN)")


def netns_path(netns: str | os.PathLike | None) -> str:
    """The file naming a network namespace: None is this thread's, a bare name is one made
    by ``ip netns add`` (under /run/netns), anything else a path (/proc/PID/ns/net)."""
    if netns is None:
        return f"/proc/self/task/{threading.get_native_id()}/ns/net"
    text = os.fspath(netns)
    if "/" not in text:
        path = os.path.join(NETNS_RUN_DIR, text)
        if not os.path.exists(path) and os.path.exists(os.path.join("/var/run/netns", text)):
            path = os.path.join("/var/run/netns", text)
        return path
    return text


@contextlib.contextmanager
def in_netns(netns: str | os.PathLike | None) -> Iterator[None]:
    """Run the body with this thread in ``netns`` (no-op for None), then return.

    Only the calling thread moves; sockets and netlink handles opened inside stay bound
    to the namespace after the block ends.
    """
    if netns is None:
        yield
        return
    target = netns_path(netns)
    try:
        new = os.open(target, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise BpfSyscallError(e.errno or errno.ENOENT,
                              f"opening network namespace {target}") from None
    old = os.open(netns_path(None), os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(new, CLONE_NEWNET)
        try:
            yield
        finally:
            _setns(old, CLONE_NEWNET)
    finally:
        os.close(new)
        os.close(old)


def ifindex(interface: str | int) -> int:
    """An interface's index in the current namespace (an int is taken as the index)."""
    if isinstance(interface, int):
        if interface <= 0:
            raise BpfSyscallError(errno.ENODEV, f"interface index {interface} is invalid")
        return interface
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise BpfSyscallError(errno.ENODEV, f"no network interface named {interface!r} in "
                                            "this network namespace (pass netns= to name "
                                            "another)") from None


def ifname(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"ifindex {index}"


__all__ = ["in_netns", "ifindex", "ifname", "netns_path"]
