"""Tracing hooks: tracepoints, raw tracepoints, BTF tracepoints, fentry/fexit/LSM, kprobes.

- tracepoint: perf_event_open(PERF_TYPE_TRACEPOINT, id from tracefs), then the program
  on the event (:func:`pybpf.kernel.attach.perf.attach_perf_event`);
- raw_tp: BPF_RAW_TRACEPOINT_OPEN with the tracepoint's name;
- tp_btf, fentry, fexit, fmod_ret, lsm: BPF_RAW_TRACEPOINT_OPEN with no name: the target
  is the BTF id the program was loaded for (its ``SEC()`` name, resolved by the loader);
- kprobe/kretprobe: the kprobe PMU (config1 = function name, config2 = offset).
"""

from __future__ import annotations

import ctypes
import errno
import os

from pybpf.isa.uapi import Cmd, ProgType
from pybpf.kernel.attach._attr import ENOTSUPP, AttachAttr, attach_error, call
from pybpf.kernel.attach.link import BpfLink, Link, ProgramLike, check_type, prog_fd
from pybpf.kernel.attach.perf import (
    PERF_TYPE_TRACEPOINT, PerfEventAttr, attach_perf_event, perf_event_open, pmu_format_bit,
    pmu_type, tracefs, tracepoint_id,
)


def _split_tracepoint(category: str, name: str | None) -> tuple[str, str]:
    if name is not None:
        return category, name
    for sep in (":", "/"):
        if sep in category:
            cat, _, tp = category.partition(sep)
            return cat, tp
    raise attach_error(errno.EINVAL, f"attaching to tracepoint {category!r}",
                       "a tracepoint is named by category and name",
                       "pass ('syscalls', 'sys_enter_openat') or 'syscalls:sys_enter_openat'")


def attach_tracepoint(prog: ProgramLike | int, category: str, name: str | None = None, *,
                      cookie: int = 0) -> Link:
    """Attach a TRACEPOINT program to ``category:name`` (e.g. syscalls, sys_enter_openat)."""
    category, name = _split_tracepoint(category, name)
    check_type(prog, (ProgType.TRACEPOINT,), f"attaching a program to tracepoint "
                                              f"{category}:{name}")
    tp_id = tracepoint_id(category, name)
    attr = PerfEventAttr(type=PERF_TYPE_TRACEPOINT, config=tp_id, sample_period=1,
                         wakeup_events=1)
    event = perf_event_open(attr, -1, 0, what=f"opening tracepoint {category}:{name}")
    return attach_perf_event(prog, event, cookie=cookie, own_event=True,
                             description=f"tracepoint program on {category}:{name}")


def _raw_tracepoint_open(prog: ProgramLike | int, name: str | None, what: str,
                         description: str, alternative: str = "",
                         reasons: dict[int, str] | None = None, cookie: int = 0) -> BpfLink:
    attr = AttachAttr()
    buf = ctypes.create_string_buffer(name.encode()) if name else None
    rt = attr.raw_tracepoint
    rt.name = ctypes.addressof(buf) if buf is not None else 0
    rt.prog_fd = prog_fd(prog)
    rt.cookie = cookie
    fd = call(Cmd.RAW_TRACEPOINT_OPEN, attr, what, alternative, reasons)
    return BpfLink(fd, description)


def attach_raw_tracepoint(prog: ProgramLike | int, name: str, *, cookie: int = 0) -> BpfLink:
    """Attach a RAW_TRACEPOINT program to tracepoint ``name`` (``sched_switch``,
    ``sys_enter``: the name without the category)."""
    if ":" in name or "/" in name:
        name = name.replace(":", "/").rsplit("/", 1)[1]
    check_type(prog, (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE),
               f"attaching a program to raw tracepoint {name}")
    return _raw_tracepoint_open(
        prog, name, f"attaching a raw tracepoint program to {name}",
        f"raw tracepoint program on {name}",
        reasons={errno.ENOENT: f"the kernel has no tracepoint {name} (raw tracepoints are "
                               "named without their category, e.g. 'sched_switch')",
                 errno.EINVAL: "the program is not a RAW_TRACEPOINT program, or its context "
                               "reads more arguments than the tracepoint has"},
        cookie=cookie)


def attach_tp_btf(prog: ProgramLike | int, *, cookie: int = 0) -> BpfLink:
    """Attach a BTF-typed tracepoint program (TRACING, TRACE_RAW_TP; ``SEC("tp_btf/x")``)
    to the tracepoint it was loaded for."""
    return _raw_tracepoint_open(
        prog, None, "attaching a tp_btf program to its BTF tracepoint",
        "tp_btf program on its BTF tracepoint",
        reasons={errno.EINVAL: "the program was not loaded as a TRACING program with an "
                               "attach BTF id (SEC(\"tp_btf/<tracepoint>\"))"},
        cookie=cookie)


_TRAMPOLINE_REASON = {
    errno.EPERM: "the kernel refused the BPF trampoline (kernel lockdown in integrity mode "
                 "forbids fentry/fexit/fmod_ret/LSM attachment, or CAP_BPF+CAP_PERFMON are "
                 "missing)",
    errno.EOPNOTSUPP: "this kernel or architecture has no BPF trampolines",
    ENOTSUPP: "this kernel or architecture has no BPF trampolines",
    errno.EINVAL: "the program was not loaded as a TRACING/LSM program with an attach BTF id",
}


def _trampoline(prog: ProgramLike | int, kind: str, alternative: str) -> BpfLink:
    return _raw_tracepoint_open(prog, None, f"attaching an {kind} program",
                                f"{kind} program", alternative, _TRAMPOLINE_REASON)


def attach_fentry(prog: ProgramLike | int) -> BpfLink:
    """Attach an fentry program (TRACING, TRACE_FENTRY) to the function it was loaded for."""
    return _trampoline(prog, "fentry", "use a tp_btf or raw_tp program on a nearby "
                                        "tracepoint (attach_tp_btf / attach_raw_tracepoint)")


def attach_fexit(prog: ProgramLike | int) -> BpfLink:
    """Attach an fexit program (TRACING, TRACE_FEXIT) to the function it was loaded for."""
    return _trampoline(prog, "fexit", "use a tp_btf or raw_tp program on a nearby "
                                       "tracepoint (attach_tp_btf / attach_raw_tracepoint)")


def attach_fmod_ret(prog: ProgramLike | int) -> BpfLink:
    """Attach an fmod_ret program (TRACING, MODIFY_RETURN)."""
    return _trampoline(prog, "fmod_ret", "there is no equivalent without trampolines")


def attach_lsm(prog: ProgramLike | int) -> BpfLink:
    """Attach an LSM program (LSM, LSM_MAC) to the LSM hook it was loaded for."""
    return _trampoline(prog, "LSM", "cgroup programs (attach_cgroup: sock_create, bind4, "
                                     "connect4, device, sysctl...) cover some of the same "
                                     "decisions")


def kprobes_available() -> tuple[bool, str]:
    """Whether kprobes can be created here, and if not, why."""
    if pmu_type("kprobe") is not None:
        return True, "the kprobe PMU exists"
    try:
        legacy = os.path.exists(os.path.join(tracefs(), "kprobe_events"))
    except OSError:
        legacy = False
    if legacy:
        return False, ("this kernel has only the legacy kprobe_events interface, which "
                       "pybpf does not drive (no kprobe PMU)")
    return False, "kprobes are not compiled into this kernel (no kprobe PMU / kprobe_events)"


def attach_kprobe(prog: ProgramLike | int, function: str, offset: int = 0, *,
                  retprobe: bool = False, cookie: int = 0) -> Link:
    """Attach a KPROBE program to kernel ``function`` (+ ``offset``) via the kprobe PMU."""
    kind = "kretprobe" if retprobe else "kprobe"
    what = f"attaching a {kind} to {function}" + (f"+{offset:#x}" if offset else "")
    check_type(prog, (ProgType.KPROBE,), what)
    ok, reason = kprobes_available()
    if not ok:
        raise attach_error(errno.EOPNOTSUPP, what, reason,
                           "use a tracepoint (attach_tracepoint), raw tracepoint "
                           "(attach_raw_tracepoint/attach_tp_btf) or fentry/fexit where "
                           "the kernel allows them")
    pmu = pmu_type("kprobe")
    assert pmu is not None
    name = ctypes.create_string_buffer(function.encode())
    attr = PerfEventAttr(type=pmu, config=(1 << pmu_format_bit("kprobe", "retprobe"))
                         if retprobe else 0, sample_period=1, wakeup_events=1,
                         config1=ctypes.addressof(name), config2=offset)
    event = perf_event_open(attr, -1, 0, what=what,
                            alternative="check the name in /proc/kallsyms (inlined or "
                                        "notrace functions cannot be probed)")
    return attach_perf_event(prog, event, cookie=cookie, own_event=True,
                             description=f"{kind} program on {function}")


__all__ = ["attach_fentry", "attach_fexit", "attach_fmod_ret", "attach_kprobe", "attach_lsm",
           "attach_raw_tracepoint", "attach_tp_btf", "attach_tracepoint", "kprobes_available"]
