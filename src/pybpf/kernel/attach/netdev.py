"""XDP and tc: programs on a network interface.

Both try the kernel's BPF links first (``BPF_LINK_CREATE`` with ``BPF_XDP``, 5.9+; tcx
``BPF_TCX_INGRESS``/``EGRESS``, 6.6+) and fall back to rtnetlink (IFLA_XDP; a clsact
qdisc with a direct-action ``bpf`` filter) when the kernel has no such link.
``netns=`` names the namespace the interface lives in; the attach runs there.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Iterator, Literal

from pybpf.errors import BpfSyscallError, BpfValueError
from pybpf.isa.uapi import AttachType, ProgType
from pybpf.kernel.attach._attr import ENOTSUPP, errno_name
from pybpf.kernel.attach.link import Link, ProgramLike, check_type, link_create, prog_fd
from pybpf.kernel.attach.netns import ifindex, ifname, in_netns

XDP_FLAGS_UPDATE_IF_NOEXIST = 1
XDP_FLAGS_SKB_MODE = 2
XDP_FLAGS_DRV_MODE = 4
XDP_FLAGS_HW_MODE = 8
XDP_MODES = {"auto": 0, "generic": XDP_FLAGS_SKB_MODE, "skb": XDP_FLAGS_SKB_MODE,
             "native": XDP_FLAGS_DRV_MODE, "driver": XDP_FLAGS_DRV_MODE,
             "offload": XDP_FLAGS_HW_MODE, "hw": XDP_FLAGS_HW_MODE}
Method = Literal["auto", "link", "netlink"]

# Errnos meaning "this kernel has no link of that kind": then netlink is tried.
_NO_LINK = (errno.EINVAL, errno.EOPNOTSUPP, ENOTSUPP, errno.ENOSYS)


@contextlib.contextmanager
def _both_failed(first: BpfSyscallError | None) -> Iterator[None]:
    """When the netlink fallback fails too, say what both attempts answered."""
    try:
        yield
    except BpfSyscallError as e:
        if first is None:
            raise
        raise BpfSyscallError(e.errno or 0, f"{e.strerror} (BPF_LINK_CREATE had failed "
                                            f"first with {errno_name(first.errno or 0)})"
                              ) from None


def _method(method: str) -> str:
    if method not in ("auto", "link", "netlink"):
        raise BpfValueError(f"method must be 'auto', 'link' or 'netlink', not {method!r}")
    return method


def attach_xdp(prog: ProgramLike | int, interface: str | int,
               mode: Literal["auto", "generic", "native", "offload"] | str = "auto", *,
               netns: str | os.PathLike | None = None, method: Method = "auto") -> Link:
    """Attach an XDP program to ``interface`` (a name or ifindex).

    ``mode``: ``generic`` (skb mode, works on every device), ``native`` (driver),
    ``offload`` (NIC), ``auto`` (the kernel picks: native when the driver has it).
    ``method``: ``link`` (BPF_LINK_CREATE only), ``netlink`` (IFLA_XDP only), ``auto``
    (link, then netlink on kernels without XDP links).
    """
    try:
        flags = XDP_MODES[mode]
    except KeyError:
        raise BpfValueError(f"XDP mode must be one of {', '.join(XDP_MODES)}, "
                            f"not {mode!r}") from None
    method = _method(method)
    check_type(prog, (ProgType.XDP,), "attaching an XDP program")
    with in_netns(netns):
        index = ifindex(interface)
        description = f"XDP program ({mode} mode) on {ifname(index)} (ifindex {index})"
        reasons = {
            errno.EBUSY: "an XDP program is already attached to this interface "
                         "(by netlink, or in another mode)",
            errno.EEXIST: "an XDP program is already attached to this interface",
            errno.EOPNOTSUPP: f"the driver does not support XDP in {mode} mode",
        }
        alternative = ("use mode='generic', which every device supports"
                       if flags != XDP_FLAGS_SKB_MODE else "")
        first = None
        if method != "netlink":
            try:
                return link_create(prog, index, AttachType.XDP,
                                   f"attaching {description} with BPF_LINK_CREATE",
                                   flags=flags, alternative=alternative, reasons=reasons,
                                   description=description)
            except BpfSyscallError as e:
                if method == "link" or e.errno not in _NO_LINK:
                    raise
                first = e
        from pybpf.kernel.attach.netlink import attach_xdp_netlink
        with _both_failed(first):
            return attach_xdp_netlink(prog_fd(prog), index, flags, description)


def attach_tc(prog: ProgramLike | int, interface: str | int,
              direction: Literal["ingress", "egress"] = "ingress", *,
              netns: str | os.PathLike | None = None, method: Method = "auto",
              handle: int = 1, priority: int = 1) -> Link:
    """Attach a SCHED_CLS program to ``interface``'s ingress or egress hook.

    ``method``: ``link`` (a tcx link), ``netlink`` (a clsact qdisc and a direct-action bpf
    filter with ``handle``/``priority``), ``auto`` (tcx, then netlink on kernels before
    6.6). With tcx the program's return codes are TCX_NEXT (-1), TCX_PASS (0),
    TCX_DROP (2), TCX_REDIRECT (7), which agree with TC_ACT_* for the usual ones.
    """
    if direction not in ("ingress", "egress"):
        raise BpfValueError(f"direction must be 'ingress' or 'egress', not {direction!r}")
    method = _method(method)
    egress = direction == "egress"
    check_type(prog, (ProgType.SCHED_CLS,), f"attaching a tc {direction} program")
    with in_netns(netns):
        index = ifindex(interface)
        description = f"tc {direction} program on {ifname(index)} (ifindex {index})"
        first = None
        if method != "netlink":
            attach_type = AttachType.TCX_EGRESS if egress else AttachType.TCX_INGRESS
            try:
                return link_create(prog, index, attach_type,
                                   f"attaching {description} as a tcx link",
                                   description=description)
            except BpfSyscallError as e:
                if method == "link" or e.errno not in _NO_LINK:
                    raise
                first = e
        from pybpf.kernel.attach.netlink import attach_tc_netlink
        with _both_failed(first):
            return attach_tc_netlink(prog_fd(prog), index, egress, description,
                                     handle=handle, priority=priority)


__all__ = ["XDP_MODES", "attach_tc", "attach_xdp"]
