"""``attach(prog, target)``: choose the attach function from the program's type and section.

The program type comes from ``prog.prog_type``; the attach type from the ``attach_type=``
argument, ``prog.expected_attach_type``/``prog.attach_type``, or the section name
(``section=`` or ``prog.section``) read with :mod:`pybpf.elf.sections`. A section name
can also carry the target, as libbpf's do: ``tracepoint/syscalls/sys_enter_openat``,
``raw_tp/sched_switch``, ``uprobe/path:function``, ``usdt/path:provider:name``.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from pybpf.isa.uapi import AttachType, ProgType
from pybpf.kernel.attach._attr import attach_error
from pybpf.kernel.attach.cgroup import attach_cgroup
from pybpf.kernel.attach.link import Link
from pybpf.kernel.attach.netdev import attach_tc, attach_xdp
from pybpf.kernel.attach.perf import attach_perf_event
from pybpf.kernel.attach.sockets import attach_netns, attach_socket, attach_sockmap
from pybpf.kernel.attach.tracing import (
    attach_fentry, attach_fexit, attach_fmod_ret, attach_kprobe, attach_lsm,
    attach_raw_tracepoint, attach_tp_btf, attach_tracepoint,
)
from pybpf.kernel.attach.uprobe import attach_uprobe
from pybpf.kernel.attach.usdt import attach_usdt

_CGROUP_TYPES = {ProgType.CGROUP_SKB, ProgType.CGROUP_SOCK, ProgType.CGROUP_SOCK_ADDR,
                 ProgType.SOCK_OPS, ProgType.CGROUP_DEVICE, ProgType.CGROUP_SYSCTL,
                 ProgType.CGROUP_SOCKOPT}


def _section_info(prog: Any, section: str | None) -> tuple[AttachType | None, str, str]:
    """(attach type, target text, section name) from a section name, if there is one."""
    section = section or getattr(prog, "section", None) or getattr(prog, "section_name", None)
    if not section:
        return None, "", ""
    from pybpf.elf.sections import classify
    info = classify(section)
    return info.attach_type, info.attach_to, section


def _need(target: Any, what: str) -> Any:
    if target is None or target == "":
        raise attach_error(errno.EINVAL, f"attaching a {what} program", "no target given",
                           "pass the target: attach(prog, target)")
    return target


def attach(prog: Any, target: Any = None, *, attach_type: AttachType | int | str | None = None,
           section: str | None = None, **kw: Any) -> Link:
    """Attach ``prog`` to ``target`` the way its program type attaches.

    ============================  ===========================================================
    program type                  target (and keywords)
    ============================  ===========================================================
    SOCKET_FILTER                 a socket or descriptor
    XDP                           interface name/index (``mode=``, ``netns=``)
    SCHED_CLS                     interface (``direction=`` or attach type TCX_EGRESS)
    cgroup types                  cgroup path/fd (attach type required for CGROUP_SKB)
    TRACEPOINT                    ``"category:name"`` or ``("category", "name")``
    RAW_TRACEPOINT(_WRITABLE)     the tracepoint name
    TRACING                       none (tp_btf, fentry, fexit, fmod_ret by attach type)
    LSM                           none
    KPROBE                        ``"/path/binary:symbol"`` (uprobe; ``retprobe=``, ``pid=``),
                                  ``("/path", "provider", "name")`` (USDT), or a kernel
                                  function name (kprobe)
    PERF_EVENT                    a perf event descriptor
    SK_SKB / SK_MSG               the sockmap (attach type required)
    FLOW_DISSECTOR / SK_LOOKUP    a network namespace (None: the current one)
    ============================  ===========================================================
    """
    ptype = ProgType(getattr(prog, "prog_type"))
    sec_type, sec_target, sec_name = _section_info(prog, section)
    if isinstance(attach_type, str) and ptype not in _CGROUP_TYPES:
        try:
            attach_type = AttachType[attach_type.upper()]
        except KeyError:
            raise attach_error(errno.EINVAL, f"attaching a {ptype.name} program",
                               f"unknown attach type {attach_type!r}",
                               "use an AttachType member name, e.g. 'TCX_EGRESS'") from None
    if attach_type is None:
        attach_type = (getattr(prog, "expected_attach_type", None)
                       or getattr(prog, "attach_type", None) or sec_type)
    if target is None and sec_target:
        target = sec_target

    if ptype == ProgType.SOCKET_FILTER:
        return attach_socket(prog, _need(target, "socket filter"), **kw)
    if ptype == ProgType.SK_REUSEPORT:
        return attach_socket(prog, _need(target, "reuseport"), reuseport=True)
    if ptype == ProgType.XDP:
        return attach_xdp(prog, _need(target, "XDP"), **kw)
    if ptype == ProgType.SCHED_CLS:
        if "direction" not in kw and attach_type is not None:
            kw["direction"] = ("egress" if int(attach_type) == AttachType.TCX_EGRESS
                               else "ingress")
        return attach_tc(prog, _need(target, "tc"), **kw)
    if ptype in _CGROUP_TYPES:
        if attach_type is None:
            raise attach_error(errno.EINVAL, f"attaching a {ptype.name} program to a cgroup",
                               "the hook is not known",
                               "pass attach_type= (e.g. 'egress' or "
                               "AttachType.CGROUP_INET_EGRESS) or section=")
        return attach_cgroup(prog, _need(target, "cgroup"), attach_type, **kw)
    if ptype == ProgType.TRACEPOINT:
        target = _need(target, "tracepoint")
        if isinstance(target, (tuple, list)):
            return attach_tracepoint(prog, *target, **kw)
        return attach_tracepoint(prog, str(target), **kw)
    if ptype in (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
        return attach_raw_tracepoint(prog, _need(target, "raw tracepoint"), **kw)
    if ptype == ProgType.TRACING:
        kind = AttachType(attach_type) if attach_type is not None else AttachType.TRACE_RAW_TP
        fn = {AttachType.TRACE_FENTRY: attach_fentry, AttachType.TRACE_FEXIT: attach_fexit,
              AttachType.MODIFY_RETURN: attach_fmod_ret}.get(kind, attach_tp_btf)
        return fn(prog, **kw)
    if ptype == ProgType.LSM:
        return attach_lsm(prog)
    if ptype == ProgType.KPROBE:
        return _attach_kprobe_type(prog, _need(target, "kprobe/uprobe"), sec_name, kw)
    if ptype == ProgType.PERF_EVENT:
        return attach_perf_event(prog, _need(target, "perf event"), **kw)
    if ptype in (ProgType.SK_SKB, ProgType.SK_MSG):
        if attach_type is None:
            attach_type = (AttachType.SK_MSG_VERDICT if ptype == ProgType.SK_MSG
                           else AttachType.SK_SKB_VERDICT)
        return attach_sockmap(prog, _need(target, "sockmap"), attach_type)
    if ptype in (ProgType.FLOW_DISSECTOR, ProgType.SK_LOOKUP):
        kind = AttachType.FLOW_DISSECTOR if ptype == ProgType.FLOW_DISSECTOR \
            else AttachType.SK_LOOKUP
        return attach_netns(prog, kind, target)
    raise attach_error(errno.EOPNOTSUPP, f"attaching a {ptype.name} program",
                       "pybpf.kernel.attach has no attach function for this program type")


def _attach_kprobe_type(prog: Any, target: Any, section: str, kw: dict[str, Any]) -> Link:
    retprobe = kw.pop("retprobe", section.lstrip("?").startswith(("uretprobe", "kretprobe")))
    if section.lstrip("?").startswith("usdt") and isinstance(target, str):
        path, provider, name = target.rsplit(":", 2)
        return attach_usdt(prog, path, provider, name, **kw)
    if isinstance(target, (tuple, list)):
        if len(target) == 3:
            return attach_usdt(prog, *target, **kw)
        return attach_uprobe(prog, target[0], target[1], retprobe=retprobe, **kw)
    text = str(target)
    if ":" in text and (text.startswith("/") or "binary" in kw or
                        section.lstrip("?").startswith(("uprobe", "uretprobe"))):
        path, _, symbol = text.rpartition(":")
        where: str | int = int(symbol, 0) if symbol[:2] in ("0x", "0X") else symbol
        return attach_uprobe(prog, path, where, retprobe=retprobe, **kw)
    if isinstance(target, socket.socket) or os.path.sep in text:
        raise attach_error(errno.EINVAL, f"attaching a KPROBE program to {text!r}",
                           "a uprobe target is 'path:symbol'")
    return attach_kprobe(prog, text, retprobe=retprobe, **kw)


__all__ = ["attach"]
