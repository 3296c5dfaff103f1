"""Attaching loaded kernel programs to their hooks; every attachment is a :class:`Link`.

>>> from pybpf.kernel.attach import attach_xdp, attach_tracepoint   # doctest: +SKIP
>>> with attach_xdp(prog, "eth0", mode="generic"):                 # doctest: +SKIP
...     ...                                                          # detached on exit

A program is anything with ``fileno()`` (its program descriptor), such as
:class:`pybpf.kernel.KernelProgram`; :func:`attach` also reads ``prog_type`` and, where
present, the attach type or section name to choose the hook. Links detach when closed,
on leaving a ``with`` block, or when garbage-collected; :class:`BpfLink` (the kernel's
BPF links) can be pinned in bpffs and queried with :meth:`BpfLink.info`. Failures raise
:class:`pybpf.errors.BpfSyscallError` with the kernel's errno and a sentence naming what
was attempted and, where one exists, the alternative.
"""

from pybpf.kernel.attach.cgroup import CGROUP_HOOKS, attach_cgroup, cgroup2_mount
from pybpf.kernel.attach.dispatch import attach
from pybpf.kernel.attach.link import BpfLink, Link, LinkGroup, bpffs
from pybpf.kernel.introspect import LinkInfo, link_info
from pybpf.kernel.attach.netdev import attach_tc, attach_xdp
from pybpf.kernel.attach.netns import in_netns
from pybpf.kernel.attach.perf import (
    PerfEventAttr, attach_perf_event, perf_event_open, tracefs, tracepoint_id,
)
from pybpf.kernel.attach.sockets import attach_netns, attach_socket, attach_sockmap
from pybpf.kernel.attach.tracing import (
    attach_fentry, attach_fexit, attach_fmod_ret, attach_kprobe, attach_lsm,
    attach_raw_tracepoint, attach_tp_btf, attach_tracepoint, kprobes_available,
)
from pybpf.kernel.attach.trampoline import load_btf_program, trampolines_available
from pybpf.kernel.attach.uprobe import attach_uprobe
from pybpf.kernel.attach.usdt import UsdtArg, UsdtProbe, attach_usdt, usdt_probes

__all__ = [
    "BpfLink", "CGROUP_HOOKS", "Link", "LinkGroup", "LinkInfo", "PerfEventAttr", "UsdtArg",
    "UsdtProbe", "attach", "attach_cgroup", "attach_fentry", "attach_fexit", "attach_fmod_ret",
    "attach_kprobe", "attach_lsm", "attach_netns", "attach_perf_event",
    "attach_raw_tracepoint", "attach_socket", "attach_sockmap", "attach_tc", "attach_tp_btf",
    "attach_tracepoint", "attach_uprobe", "attach_usdt", "attach_xdp", "bpffs",
    "cgroup2_mount", "in_netns", "kprobes_available", "link_info", "perf_event_open",
    "load_btf_program", "tracefs", "tracepoint_id", "trampolines_available", "usdt_probes",
]
