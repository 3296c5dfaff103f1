"""perf_event_open(2) and programs on perf events (tracepoints, uprobes, kprobes, samples).

A program goes on a perf event by ``BPF_LINK_CREATE`` with ``BPF_PERF_EVENT`` (5.15+),
a real BPF link, or else by the ``PERF_EVENT_IOC_SET_BPF`` ioctl. Also here: tracefs
(found, or mounted when absent) and the dynamic PMUs' sysfs descriptions.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
from functools import lru_cache

from pybpf.errors import BpfError, BpfSyscallError
from pybpf.isa.uapi import AttachType
from pybpf.kernel.attach._attr import ENOTSUPP, attach_error, common_reason
from pybpf.kernel.attach.link import Link, ProgramLike, link_create, prog_fd
from pybpf.kernel.fd import Fd

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408
_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
PMU_DIR = "/sys/bus/event_source/devices"


class PerfEventAttr(ctypes.Structure):
    """``struct perf_event_attr`` (PERF_ATTR_SIZE_VER8); ``flags`` holds the bitfield."""

    _fields_ = [
        ("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64),
        ("wakeup_events", ctypes.c_uint32), ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64), ("config2", ctypes.c_uint64),
        ("branch_sample_type", ctypes.c_uint64), ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32), ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64), ("aux_watermark", ctypes.c_uint32),
        ("sample_max_stack", ctypes.c_uint16), ("_reserved2", ctypes.c_uint16),
        ("aux_sample_size", ctypes.c_uint32), ("_reserved3", ctypes.c_uint32),
        ("sig_data", ctypes.c_uint64), ("config3", ctypes.c_uint64),
    ]


_libc: ctypes.CDLL | None = None


def perf_event_open(attr: PerfEventAttr, pid: int = -1, cpu: int = 0, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC, *, what: str = "opening a perf event",
                    alternative: str = "") -> Fd:
    """perf_event_open(2); the event's descriptor, owned."""
    global _libc
    number = _PERF_EVENT_OPEN.get(platform.machine())
    if number is None:
        raise attach_error(errno.ENOSYS, what, f"perf_event_open is not wired up for "
                                               f"{platform.machine()} in pybpf")
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    attr.size = ctypes.sizeof(PerfEventAttr)
    fd = _libc.syscall(ctypes.c_long(number), ctypes.byref(attr), ctypes.c_int(pid),
                       ctypes.c_int(cpu), ctypes.c_int(group_fd), ctypes.c_ulong(flags))
    if fd < 0:
        err = ctypes.get_errno()
        reason = {errno.EACCES: "not permitted (needs CAP_PERFMON or a lower "
                                "/proc/sys/kernel/perf_event_paranoid)",
                  errno.EPERM: "not permitted (needs CAP_PERFMON, or lockdown forbids it)",
                  errno.ENOENT: "the kernel has no such event",
                  errno.ESRCH: f"no process {pid}",
                  }.get(err) or common_reason(err)
        raise attach_error(err, what, reason, alternative)
    return Fd(fd)


class PerfEventLink(Link):
    """A program on a perf event through PERF_EVENT_IOC_SET_BPF; closing the event
    detaches it."""

    kind = "perf event"

    def __init__(self, event: Fd, description: str):
        super().__init__(description)
        self.event = event

    def _release(self) -> None:
        try:
            fcntl.ioctl(self.event.fileno(), PERF_EVENT_IOC_DISABLE, 0)
        except OSError:
            pass
        finally:
            self.event.close()


def attach_perf_event(prog: ProgramLike | int, event: Fd | int, *, cookie: int = 0,
                      description: str = "", own_event: bool = False) -> Link:
    """Attach a program to an open perf event (PERF_EVENT programs on sampling events;
    TRACEPOINT/KPROBE programs on tracepoint/probe events).

    The link owns the event when ``own_event`` (the other attach functions pass theirs);
    else it holds a duplicate and the caller keeps ``event``.
    """
    if isinstance(event, Fd):
        pfd = event if own_event else Fd(os.dup(event.fileno()))
    else:
        pfd = Fd(event) if own_event else Fd(os.dup(event))
    description = description or f"program on perf event fd {pfd.fileno()}"
    link: Link | None = None
    try:
        try:
            link = link_create(prog, pfd.fileno(), AttachType.PERF_EVENT,
                               f"attaching {description}", perf_cookie=cookie, keep=(pfd,),
                               description=description)
        except BpfSyscallError as e:
            if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, ENOTSUPP):
                raise
            if cookie:
                raise attach_error(e.errno or errno.EINVAL, f"attaching {description}",
                                   "this kernel has no perf event links, needed for a "
                                   "BPF cookie", "attach without cookie=") from None
            try:
                fcntl.ioctl(pfd.fileno(), PERF_EVENT_IOC_SET_BPF, prog_fd(prog))
            except OSError as e2:
                err = e2.errno or errno.EINVAL
                reason = {errno.EINVAL: "the program type does not fit this event (tracepoint "
                                        "and probe events take TRACEPOINT/KPROBE programs, "
                                        "sampling events PERF_EVENT programs)",
                          errno.EEXIST: "the event already has a program"}.get(err) \
                    or common_reason(err)
                raise attach_error(err, f"attaching {description} with "
                                        "PERF_EVENT_IOC_SET_BPF", reason) from None
            link = PerfEventLink(pfd, description)
        fcntl.ioctl(pfd.fileno(), PERF_EVENT_IOC_ENABLE, 0)
    except BaseException:
        if link is not None:
            link.close()
        pfd.close()
        raise
    return link


@lru_cache(maxsize=1)
def tracefs() -> str:
    """The tracefs mount point, mounting it at /sys/kernel/tracing when it is absent."""
    candidates = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "tracefs":
                candidates.append(parts[1])
            elif len(parts) >= 3 and parts[2] == "debugfs":
                candidates.append(os.path.join(parts[1], "tracing"))
    for path in candidates:
        if os.path.isdir(os.path.join(path, "events")):
            return path
    target = "/sys/kernel/tracing"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tracefs", target.encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise attach_error(err, f"mounting tracefs at {target}", common_reason(err),
                           "mount it yourself: mount -t tracefs tracefs /sys/kernel/tracing")
    return target


def tracepoint_id(category: str, name: str) -> int:
    """A tracepoint's event id from tracefs (``events/<category>/<name>/id``)."""
    path = os.path.join(tracefs(), "events", category, name, "id")
    try:
        with open(path) as f:
            return int(f.read())
    except FileNotFoundError:
        raise attach_error(errno.ENOENT, f"finding tracepoint {category}:{name}",
                           f"no {path}",
                           f"see {os.path.join(tracefs(), 'available_events')}") from None


def pmu_type(pmu: str) -> int | None:
    """A dynamic PMU's perf type (``uprobe``, ``kprobe``), None when the kernel has none."""
    try:
        with open(os.path.join(PMU_DIR, pmu, "type")) as f:
            return int(f.read())
    except (FileNotFoundError, ValueError):
        return None


def pmu_format_bit(pmu: str, name: str) -> int:
    """The first config bit of a PMU format field (``retprobe`` -> 0 from "config:0")."""
    path = os.path.join(PMU_DIR, pmu, "format", name)
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        raise BpfError(f"the {pmu} PMU has no format field {name} ({path})") from None
    field, _, bits = text.partition(":")
    if field != "config":
        raise BpfError(f"unexpected {path}: {text!r}")
    return int(bits.split("-")[0])


__all__ = ["PERF_TYPE_HARDWARE", "PERF_TYPE_SOFTWARE", "PERF_TYPE_TRACEPOINT", "PerfEventAttr",
           "PerfEventLink", "attach_perf_event", "perf_event_open", "pmu_format_bit",
           "pmu_type", "tracefs", "tracepoint_id"]
