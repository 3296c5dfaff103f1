"""The section-name table: libbpf's matching rules, types, attach types, flags, targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.elf import SECTION_DEFS, classify, open_object
from pybpf.elf.sections import BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS
from pybpf.errors import ElfError
from pybpf.isa.uapi import AttachType as A
from pybpf.isa.uapi import ProgType as P

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("section, prog_type, attach_type, flags, target", [
    ("xdp", P.XDP, A.XDP, 0, ""),
    ("xdp.frags", P.XDP, A.XDP, BPF_F_XDP_HAS_FRAGS, ""),
    ("xdp/devmap", P.XDP, A.XDP_DEVMAP, 0, ""),
    ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, BPF_F_XDP_HAS_FRAGS, ""),
    ("tc", P.SCHED_CLS, None, 0, ""),
    ("classifier", P.SCHED_CLS, None, 0, ""),
    ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, 0, ""),
    ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, 0, ""),
    ("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, 0, ""),
    ("socket", P.SOCKET_FILTER, None, 0, ""),
    ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, 0, ""),
    ("kprobe/do_unlinkat", P.KPROBE, None, 0, "do_unlinkat"),
    ("kretprobe/do_unlinkat", P.KPROBE, None, 0, "do_unlinkat"),
    ("uprobe.s//bin/sh:main", P.KPROBE, None, BPF_F_SLEEPABLE, "/bin/sh:main"),
    ("usdt/libc:prov:name", P.KPROBE, None, 0, "libc:prov:name"),
    ("tracepoint/syscalls/sys_enter_openat", P.TRACEPOINT, None, 0, "syscalls/sys_enter_openat"),
    ("tp/sched/sched_switch", P.TRACEPOINT, None, 0, "sched/sched_switch"),
    ("raw_tp/sys_enter", P.RAW_TRACEPOINT, None, 0, "sys_enter"),
    ("raw_tracepoint.w/foo", P.RAW_TRACEPOINT_WRITABLE, None, 0, "foo"),
    ("tp_btf/sched_switch", P.TRACING, A.TRACE_RAW_TP, 0, "sched_switch"),
    ("fentry/do_unlinkat", P.TRACING, A.TRACE_FENTRY, 0, "do_unlinkat"),
    ("fexit/do_unlinkat", P.TRACING, A.TRACE_FEXIT, 0, "do_unlinkat"),
    ("fmod_ret/f", P.TRACING, A.MODIFY_RETURN, 0, "f"),
    ("fentry.s/f", P.TRACING, A.TRACE_FENTRY, BPF_F_SLEEPABLE, "f"),
    ("lsm/file_open", P.LSM, A.LSM_MAC, 0, "file_open"),
    ("lsm.s/file_open", P.LSM, A.LSM_MAC, BPF_F_SLEEPABLE, "file_open"),
    ("iter/task", P.TRACING, A.TRACE_ITER, 0, "task"),
    ("syscall", P.SYSCALL, None, BPF_F_SLEEPABLE, ""),
    ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, 0, ""),
    ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, 0, ""),
    ("cgroup/skb", P.CGROUP_SKB, None, 0, ""),
    ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, 0, ""),
    ("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, 0, ""),
    ("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, 0, ""),
    ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, 0, ""),
    ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, 0, ""),
    ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, 0, ""),
    ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, 0, ""),
    ("sk_skb", P.SK_SKB, None, 0, ""),
    ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, 0, ""),
    ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, 0, ""),
    ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, 0, ""),
    ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, 0, ""),
    ("lwt_in", P.LWT_IN, None, 0, ""),
    ("lwt_seg6local", P.LWT_SEG6LOCAL, None, 0, ""),
    ("perf_event", P.PERF_EVENT, None, 0, ""),
    ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, 0, ""),
    ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, 0, ""),
    ("struct_ops/dummy", P.STRUCT_OPS, None, 0, "dummy"),
    ("?xdp", P.XDP, A.XDP, 0, ""),
])
def test_classify(section, prog_type, attach_type, flags, target):
    info = classify(section)
    assert (info.prog_type, info.attach_type, info.prog_flags, info.attach_to) == \
        (prog_type, attach_type, flags, target)


@pytest.mark.parametrize("section", ["xdpfoo", "kprobefoo", "tc/nope", "sk_skb/bogus/x",
                                     "cgroup/unknown", "", "uprobe.x"])
def test_unknown_sections_are_refused(section):
    with pytest.raises(ElfError, match="unknown program section"):
        classify(section)


def test_sections_fixture_programs_follow_the_table():
    spec = open_object(DATA / "sections.o")
    for prog in spec.programs.values():
        info = classify(prog.section)
        assert prog.type == info.prog_type and prog.flags == info.prog_flags
    assert spec.programs["p_xdp_frags"].flags == BPF_F_XDP_HAS_FRAGS
    assert spec.programs["p_syscall"].flags == BPF_F_SLEEPABLE
    assert spec.programs["p_kprobe"].attach_to == "do_unlinkat"
    assert len({row.pattern for row in SECTION_DEFS}) == len(SECTION_DEFS)
