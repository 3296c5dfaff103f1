"""rtnetlink attachments (through pyroute2): XDP by IFLA_XDP and tc clsact bpf filters.

These are the fallbacks for kernels without XDP links (5.9) or tcx links (6.6), and the
way to replace a program attached by ``ip``/``tc``. Each link keeps the netlink socket it
attached with, which stays bound to the interface's network namespace, so it detaches in
the right namespace whatever thread closes it.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.errors import BpfError
from pybpf.kernel.attach._attr import attach_error, common_reason
from pybpf.kernel.attach.link import Link

TC_H_CLSACT_INGRESS = 0xFFFFFFF2
TC_H_CLSACT_EGRESS = 0xFFFFFFF3
ETH_P_ALL = 0x0003


def iproute() -> Any:
    """A pyroute2 IPRoute bound to the current thread's network namespace."""
    try:
        from pyroute2 import IPRoute
    except ImportError:
        raise BpfError("the netlink fallback needs pyroute2 (pip install pyroute2)") from None
    return IPRoute()


def _netlink_errno(e: Exception) -> int:
    code = getattr(e, "code", None)
    if isinstance(code, int) and code > 0:
        return code
    return getattr(e, "errno", None) or errno.EIO


class NetlinkXdpLink(Link):
    """XDP attached with IFLA_XDP; detached by setting fd -1 in the same mode."""

    kind = "xdp (netlink)"

    def __init__(self, ipr: Any, ifindex: int, flags: int, description: str):
        super().__init__(description)
        self._ipr, self._ifindex, self._flags = ipr, ifindex, flags

    def _release(self) -> None:
        try:
            xdp_set(self._ipr, self._ifindex, -1, self._flags, "detaching " + self.description)
        except OSError:
            pass
        finally:
            self._ipr.close()


def xdp_set(ipr: Any, index: int, fd: int, flags: int, what: str) -> None:
    attrs: list[tuple[str, int]] = [("IFLA_XDP_FD", fd)]
    if flags:
        attrs.append(("IFLA_XDP_FLAGS", flags))
    try:
        ipr.link("set", index=index, xdp={"attrs": attrs})
    except Exception as e:  # pyroute2's NetlinkError carries the errno as .code
        err = _netlink_errno(e)
        raise attach_error(err, what, common_reason(err) or str(e)) from None


def attach_xdp_netlink(prog_fd: int, index: int, flags: int, description: str) -> NetlinkXdpLink:
    """Attach with IFLA_XDP (in the current thread's namespace)."""
    ipr = iproute()
    try:
        # XDP_FLAGS_UPDATE_IF_NOEXIST (1): do not silently replace someone else's program.
        xdp_set(ipr, index, prog_fd, flags | 1, f"attaching {description} with netlink")
    except BaseException:
        ipr.close()
        raise
    return NetlinkXdpLink(ipr, index, flags, description)


class TcFilterLink(Link):
    """A tc ``bpf`` filter (direct-action) on a clsact qdisc; the filter is deleted on
    detach, and the qdisc too when this link created it and no filter is left on it."""

    kind = "tc filter"

    def __init__(self, ipr: Any, index: int, parent: int, handle: int, priority: int,
                 created_qdisc: bool, description: str):
        super().__init__(description)
        self._ipr, self._index, self._parent = ipr, index, parent
        self._handle, self._priority, self._created = handle, priority, created_qdisc

    def _release(self) -> None:
        ipr = self._ipr
        try:
            try:
                ipr.tc("del-filter", "bpf", self._index, self._handle, parent=self._parent,
                       prio=self._priority, protocol=ETH_P_ALL)
            except Exception:
                pass
            if self._created:
                try:
                    left = [f for parent in (TC_H_CLSACT_INGRESS, TC_H_CLSACT_EGRESS)
                            for f in ipr.get_filters(index=self._index, parent=parent)]
                    if not left:
                        ipr.tc("del", "clsact", self._index)
                except Exception:
                    pass
        finally:
            ipr.close()


def attach_tc_netlink(prog_fd: int, index: int, egress: bool, description: str, *,
                      handle: int = 1, priority: int = 1, name: str = "pybpf") -> TcFilterLink:
    """Add a clsact qdisc when missing and a direct-action bpf filter on its hook."""
    ipr = iproute()
    parent = TC_H_CLSACT_EGRESS if egress else TC_H_CLSACT_INGRESS
    created = False
    try:
        try:
            ipr.tc("add", "clsact", index)
            created = True
        except Exception as e:
            if _netlink_errno(e) != errno.EEXIST:
                err = _netlink_errno(e)
                raise attach_error(err, f"adding a clsact qdisc for {description}",
                                   common_reason(err) or str(e)) from None
        try:
            ipr.tc("add-filter", "bpf", index, handle, fd=prog_fd, name=name, parent=parent,
                   prio=priority, protocol=ETH_P_ALL, direct_action=True)
        except Exception as e:
            err = _netlink_errno(e)
            raise attach_error(err, f"attaching {description} as a tc bpf filter "
                                    f"(handle {handle}, priority {priority})",
                               common_reason(err) or str(e),
                               "pick another handle/priority" if err == errno.EEXIST
                               else "") from None
    except BaseException:
        if created:
            try:
                ipr.tc("del", "clsact", index)
            except Exception:
                pass
        ipr.close()
        raise
    return TcFilterLink(ipr, index, parent, handle, priority, created, description)


__all__ = ["NetlinkXdpLink", "TcFilterLink", "attach_tc_netlink", "attach_xdp_netlink",
           "iproute", "xdp_set"]
