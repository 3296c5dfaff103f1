"""THE table of program section names: what ``SEC("...")`` means, as libbpf reads it.

Each row is a section-name pattern with the program type, expected attach type and
flags libbpf gives programs in such a section (libbpf's ``section_defs``). Patterns
match three ways, as in libbpf:

- ``"xdp"``: the exact name only;
- ``"kprobe+"``: the exact name ``kprobe`` or ``kprobe/<anything>``;
- ``"sk_skb/"``-style (trailing ``/``): ``<prefix><anything>``.

Rows are tried in order and the first match wins, so more specific rows come first
(``xdp.frags/devmap`` before ``xdp.frags``, ``sk_reuseport/migrate`` before
``sk_reuseport``). A leading ``?`` (libbpf's "do not autoload" marker) is ignored.
The text after the first ``/`` of a ``+`` row is the attach target
(``kprobe/do_unlinkat`` → ``do_unlinkat``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pybpf.errors import ElfError
from pybpf.isa.uapi import AttachType as A
from pybpf.isa.uapi import ProgType as P

# Program load flags (``BPF_F_*`` for BPF_PROG_LOAD's prog_flags).
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5


class SecFlag(enum.IntFlag):
    """What a row says besides types (libbpf's ``enum sec_def_flags``)."""

    NONE = 0
    EXP_ATTACH_OPT = 1   # expected attach type may be dropped on old kernels
    ATTACHABLE = 2       # attachable with BPF_PROG_ATTACH (informational)
    ATTACH_BTF = 4       # the attach target is a BTF id named after the '/'
    SLEEPABLE = 8        # loads with BPF_F_SLEEPABLE
    XDP_FRAGS = 16       # loads with BPF_F_XDP_HAS_FRAGS
    USDT = 32            # a USDT probe (uprobe underneath)


F = SecFlag
_OPT = F.ATTACHABLE | F.EXP_ATTACH_OPT


@dataclass(frozen=True)
class SectionDef:
    pattern: str
    prog_type: P
    attach_type: A | None
    flags: SecFlag = F.NONE

    def matches(self, name: str) -> bool:
        pattern = self.pattern
        if pattern.endswith("/"):
            return name.startswith(pattern)
        if pattern.endswith("+"):
            stem = pattern[:-1]
            return name == stem or name.startswith(stem + "/")
        return name == pattern

    @property
    def prog_flags(self) -> int:
        """The BPF_PROG_LOAD ``prog_flags`` this row implies."""
        flags = 0
        if self.flags & F.SLEEPABLE:
            flags |= BPF_F_SLEEPABLE
        if self.flags & F.XDP_FRAGS and self.prog_type is P.XDP:
            flags |= BPF_F_XDP_HAS_FRAGS
        return flags


def _d(pattern: str, prog_type: P, attach_type: A | None = None,
       flags: SecFlag = F.NONE) -> SectionDef:
    return SectionDef(pattern, prog_type, attach_type, flags)


SECTION_DEFS: tuple[SectionDef, ...] = (
    _d("socket", P.SOCKET_FILTER),
    _d("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, F.ATTACHABLE),
    _d("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, F.ATTACHABLE),
    _d("kprobe+", P.KPROBE),
    _d("uprobe+", P.KPROBE),
    _d("uprobe.s+", P.KPROBE, None, F.SLEEPABLE),
    _d("kretprobe+", P.KPROBE),
    _d("uretprobe+", P.KPROBE),
    _d("uretprobe.s+", P.KPROBE, None, F.SLEEPABLE),
    _d("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _d("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    _d("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION),
    _d("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _d("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    _d("uprobe.session+", P.KPROBE, A.TRACE_UPROBE_SESSION),
    _d("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, F.SLEEPABLE),
    _d("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, F.SLEEPABLE),
    _d("uprobe.session.s+", P.KPROBE, A.TRACE_UPROBE_SESSION, F.SLEEPABLE),
    _d("ksyscall+", P.KPROBE),
    _d("kretsyscall+", P.KPROBE),
    _d("usdt+", P.KPROBE, None, F.USDT),
    _d("usdt.s+", P.KPROBE, None, F.USDT | F.SLEEPABLE),
    _d("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS),     # alias of tcx/ingress
    _d("tc/egress", P.SCHED_CLS, A.TCX_EGRESS),       # alias of tcx/egress
    _d("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS),
    _d("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS),
    _d("tc", P.SCHED_CLS),
    _d("classifier", P.SCHED_CLS),
    _d("action", P.SCHED_ACT),
    _d("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY),
    _d("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER),
    _d("tracepoint+", P.TRACEPOINT),
    _d("tp+", P.TRACEPOINT),
    _d("tracepoint.s+", P.TRACEPOINT, None, F.SLEEPABLE),
    _d("tp.s+", P.TRACEPOINT, None, F.SLEEPABLE),
    _d("raw_tracepoint+", P.RAW_TRACEPOINT),
    _d("raw_tp+", P.RAW_TRACEPOINT),
    _d("raw_tracepoint.s+", P.RAW_TRACEPOINT, None, F.SLEEPABLE),
    _d("raw_tp.s+", P.RAW_TRACEPOINT, None, F.SLEEPABLE),
    _d("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE),
    _d("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE),
    _d("tp_btf+", P.TRACING, A.TRACE_RAW_TP, F.ATTACH_BTF),
    _d("tp_btf.s+", P.TRACING, A.TRACE_RAW_TP, F.ATTACH_BTF | F.SLEEPABLE),
    _d("fentry+", P.TRACING, A.TRACE_FENTRY, F.ATTACH_BTF),
    _d("fmod_ret+", P.TRACING, A.MODIFY_RETURN, F.ATTACH_BTF),
    _d("fexit+", P.TRACING, A.TRACE_FEXIT, F.ATTACH_BTF),
    _d("fentry.s+", P.TRACING, A.TRACE_FENTRY, F.ATTACH_BTF | F.SLEEPABLE),
    _d("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, F.ATTACH_BTF | F.SLEEPABLE),
    _d("fexit.s+", P.TRACING, A.TRACE_FEXIT, F.ATTACH_BTF | F.SLEEPABLE),
    _d("freplace+", P.EXT, None, F.ATTACH_BTF),
    _d("lsm+", P.LSM, A.LSM_MAC, F.ATTACH_BTF),
    _d("lsm.s+", P.LSM, A.LSM_MAC, F.ATTACH_BTF | F.SLEEPABLE),
    _d("lsm_cgroup+", P.LSM, A.LSM_CGROUP, F.ATTACH_BTF),
    _d("iter+", P.TRACING, A.TRACE_ITER, F.ATTACH_BTF),
    _d("iter.s+", P.TRACING, A.TRACE_ITER, F.ATTACH_BTF | F.SLEEPABLE),
    _d("syscall", P.SYSCALL, None, F.SLEEPABLE),
    _d("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, F.XDP_FRAGS),
    _d("xdp/devmap", P.XDP, A.XDP_DEVMAP, F.ATTACHABLE),
    _d("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, F.XDP_FRAGS),
    _d("xdp/cpumap", P.XDP, A.XDP_CPUMAP, F.ATTACHABLE),
    _d("xdp.frags", P.XDP, A.XDP, F.XDP_FRAGS),
    _d("xdp", P.XDP, A.XDP, _OPT),
    _d("perf_event", P.PERF_EVENT),
    _d("lwt_in", P.LWT_IN),
    _d("lwt_out", P.LWT_OUT),
    _d("lwt_xmit", P.LWT_XMIT),
    _d("lwt_seg6local", P.LWT_SEG6LOCAL),
    _d("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, _OPT),
    _d("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, _OPT),
    _d("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, _OPT),
    _d("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, _OPT),
    _d("sk_skb", P.SK_SKB),
    _d("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, _OPT),
    _d("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, _OPT),
    _d("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, _OPT),
    _d("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, _OPT),
    _d("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, _OPT),
    _d("cgroup/skb", P.CGROUP_SKB),
    _d("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, F.ATTACHABLE),
    _d("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, F.ATTACHABLE),
    _d("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, _OPT),
    _d("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, F.ATTACHABLE),
    _d("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, F.ATTACHABLE),
    _d("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, F.ATTACHABLE),
    _d("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, F.ATTACHABLE),
    _d("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, F.ATTACHABLE),
    _d("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, F.ATTACHABLE),
    _d("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, F.ATTACHABLE),
    _d("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, F.ATTACHABLE),
    _d("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, F.ATTACHABLE),
    _d("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, F.ATTACHABLE),
    _d("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, F.ATTACHABLE),
    _d("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, F.ATTACHABLE),
    _d("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, F.ATTACHABLE),
    _d("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, F.ATTACHABLE),
    _d("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, F.ATTACHABLE),
    _d("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, F.ATTACHABLE),
    _d("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, F.ATTACHABLE),
    _d("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, F.ATTACHABLE),
    _d("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, F.ATTACHABLE),
    _d("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, F.ATTACHABLE),
    _d("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, F.ATTACHABLE),
    _d("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, F.ATTACHABLE),
    _d("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, _OPT),
    _d("struct_ops+", P.STRUCT_OPS),
    _d("struct_ops.s+", P.STRUCT_OPS, None, F.SLEEPABLE),
    _d("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, F.ATTACHABLE),
    _d("netfilter", P.NETFILTER, A.NETFILTER),
)


@dataclass(frozen=True)
class SectionInfo:
    """What a program section name means: the row it matched and the attach target."""

    section: str
    definition: SectionDef
    attach_to: str

    @property
    def prog_type(self) -> P:
        return self.definition.prog_type

    @property
    def attach_type(self) -> A | None:
        return self.definition.attach_type

    @property
    def prog_flags(self) -> int:
        return self.definition.prog_flags


def find_section_def(section: str) -> SectionDef | None:
    """The first row matching ``section`` (a leading ``?`` ignored), or None."""
    name = section[1:] if section.startswith("?") else section
    for row in SECTION_DEFS:
        if row.matches(name):
            return row
    return None


def classify(section: str) -> SectionInfo:
    """Program type, attach type, flags and target for a program section; ElfError if the
    name follows no convention."""
    row = find_section_def(section)
    if row is None:
        raise ElfError(f"section {section!r}: unknown program section name (not one of "
                       f"libbpf's conventions, e.g. 'xdp', 'tc', 'kprobe/<func>', "
                       f"'socket')")
    name = section[1:] if section.startswith("?") else section
    attach_to = ""
    if row.pattern.endswith("+") and "/" in name:
        attach_to = name.split("/", 1)[1]
    elif row.pattern.endswith("/"):
        attach_to = name[len(row.pattern):]
    return SectionInfo(section, row, attach_to)
