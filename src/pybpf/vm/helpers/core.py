"""General helpers: clocks, random numbers, the current task, probe reads, trace_printk,
bpf_loop and spin locks.

Everything outside the program comes from the run's :class:`pybpf.Env` (``call.env``),
so a run repeats exactly: the clock, the seed, the CPU, the task.
"""

from __future__ import annotations

import errno
import re

from pybpf.errors import BpfHelperError, BpfMemoryError
from pybpf.vm.helpers.registry import CallContext, helper

_M64 = (1 << 64) - 1
MAX_LOOPS = 1 << 23          # BPF_MAX_LOOPS
MAX_PRINTK_ARGS = 3


def _err(code: int) -> int:
    return -code & _M64


def _env(call: CallContext):
    if call.env is None:
        from pybpf.env import Env

        call.env = Env()
    return call.env


# -- time, randomness, CPU, task -----------------------------------------------------------

@helper(5, "bpf_ktime_get_ns")
def ktime_get_ns(call: CallContext, *_: int) -> int:
    return _env(call).now_ns()


@helper(160, "bpf_ktime_get_coarse_ns")
def ktime_get_coarse_ns(call: CallContext, *_: int) -> int:
    return _env(call).now_ns()


@helper(125, "bpf_ktime_get_boot_ns")
def ktime_get_boot_ns(call: CallContext, *_: int) -> int:
    env = _env(call)
    return (env.now_ns() + env.boot_offset_ns) & _M64


@helper(208, "bpf_ktime_get_tai_ns")
def ktime_get_tai_ns(call: CallContext, *_: int) -> int:
    return _env(call).now_ns()


@helper(7, "bpf_get_prandom_u32")
def get_prandom_u32(call: CallContext, *_: int) -> int:
    return _env(call).prandom_u32()


@helper(8, "bpf_get_smp_processor_id")
def get_smp_processor_id(call: CallContext, *_: int) -> int:
    return call.cpu


@helper(14, "bpf_get_current_pid_tgid")
def get_current_pid_tgid(call: CallContext, *_: int) -> int:
    task = _env(call).task
    return (task.tgid << 32 | task.pid) & _M64


@helper(15, "bpf_get_current_uid_gid")
def get_current_uid_gid(call: CallContext, *_: int) -> int:
    task = _env(call).task
    return (task.gid << 32 | task.uid) & _M64


@helper(16, "bpf_get_current_comm")
def get_current_comm(call: CallContext, r1: int, r2: int, *_: int) -> int:
    """The task's name, NUL-terminated and zero-padded to ``size`` bytes."""
    if r2 == 0:
        return _err(errno.EINVAL)
    comm = _env(call).task.comm.encode()[:15][:r2 - 1]
    call.memory.write_bytes(r1, comm.ljust(r2, b"\0"), call.pc)
    return 0


@helper(80, "bpf_get_current_cgroup_id")
def get_current_cgroup_id(call: CallContext, *_: int) -> int:
    return _env(call).task.cgroup_id & _M64


# -- probe reads ---------------------------------------------------------------------------

def _probe_read(call: CallContext, dst: int, size: int, src: int) -> int:
    """Copy ``size`` bytes; an unreadable source zeroes ``dst`` and gives -EFAULT."""
    try:
        data = call.memory.read_bytes(src, size, call.pc)
    except BpfMemoryError:
        call.memory.write_bytes(dst, bytes(size), call.pc)
        return _err(errno.EFAULT)
    call.memory.write_bytes(dst, data, call.pc)
    return 0


def _readable_prefix(call: CallContext, address: int, limit: int) -> bytes:
    """Up to ``limit`` bytes from ``address`` to the end of its region (b"" if none)."""
    region = call.memory.find(address, 1)
    if region is None:
        return b""
    return region.read(address - region.address, min(limit, region.end - address))


def _probe_read_str(call: CallContext, dst: int, size: int, src: int) -> int:
    """Copy a NUL-terminated string of at most ``size`` bytes (NUL included); the length
    copied with the NUL, or -EFAULT (and ``dst`` zeroed)."""
    if size == 0:
        return 0
    data = _readable_prefix(call, src, size)
    end = data.find(b"\0")
    if end < 0:
        if len(data) < size:   # ran off readable memory before a NUL
            call.memory.write_bytes(dst, bytes(size), call.pc)
            return _err(errno.EFAULT)
        end = size - 1
    call.memory.write_bytes(dst, data[:end] + b"\0", call.pc)
    return end + 1


@helper(4, "bpf_probe_read")
def probe_read(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _probe_read(call, r1, r2, r3)


@helper(112, "bpf_probe_read_user")
def probe_read_user(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _probe_read(call, r1, r2, r3)


@helper(113, "bpf_probe_read_kernel")
def probe_read_kernel(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _probe_read(call, r1, r2, r3)


@helper(45, "bpf_probe_read_str")
def probe_read_str(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _probe_read_str(call, r1, r2, r3)


@helper(114, "bpf_probe_read_user_str")
def probe_read_user_str(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _probe_read_str(call, r1, r2, r3)


@helper(115, "bpf_probe_read_kernel_str")
def probe_read_kernel_str(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _probe_read_str(call, r1, r2, r3)


# -- trace_printk ------------------------------------------------------------------------

# The conversions bpf_trace_printk accepts: flags, width, precision, an l/ll/h length,
# then one of d i u x X o c s p (p with an optional K/x/B/s suffix).
_SPEC = re.compile(r"%(?P<flags>[-+ #0]*)(?P<width>\d*)(?:\.(?P<prec>\d+))?"
                   r"(?P<len>ll|l|hh|h|z)?(?P<conv>[diuxXocsp%])(?P<pext>[Kxs]?)")


def format_printk(call: CallContext, fmt: bytes, args: list[int]) -> str | None:
    """Format like the kernel's bstr_printf for bpf_trace_printk; None if the format is one
    the kernel refuses (-EINVAL)."""
    text = fmt.split(b"\0", 1)[0].decode("latin-1")
    out: list[str] = []
    pos = 0
    used = 0
    for match in _SPEC.finditer(text):
        out.append(text[pos:match.start()])
        pos = match.end()
        conv, length = match["conv"], match["len"] or ""
        if conv == "%":
            out.append("%")
            continue
        if used >= MAX_PRINTK_ARGS or match["prec"] and conv != "s":
            return None
        arg = args[used]
        used += 1
        spec = "%" + match["flags"] + match["width"] + (f".{match['prec']}" if match["prec"] else "")
        if conv == "s":
            raw = _readable_prefix(call, arg, 4096) if arg else b"(null)"
            out.append((spec + "s") % raw.split(b"\0", 1)[0].decode("latin-1"))
        elif conv == "c":
            out.append((spec + "c") % chr(arg & 0xFF))
        elif conv == "p":
            out.append((spec + "s") % (f"{arg:016x}" if match["pext"] == "x" else f"{arg:#x}"))
        else:
            bits = 64 if length in ("l", "ll", "z") else 32
            value = arg & ((1 << bits) - 1)
            if conv in "di" and value >> (bits - 1):
                value -= 1 << bits
            out.append((spec + ("d" if conv in "diu" else conv)) % value)
    if "%" in text[pos:]:
        return None
    out.append(text[pos:])
    return "".join(out)


@helper(6, "bpf_trace_printk")
def trace_printk(call: CallContext, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
    """Format into the object's ``trace_pipe`` (a list of lines); the length written."""
    fmt = call.memory.read_bytes(r1, r2, call.pc)
    if not fmt or fmt[-1:] != b"\0" and b"\0" not in fmt:
        return _err(errno.EINVAL)
    text = format_printk(call, fmt, [r3, r4, r5])
    if text is None:
        return _err(errno.EINVAL)
    pipe = getattr(call.runtime, "trace_pipe", None)
    if pipe is not None:
        pipe.extend(text.rstrip("\n").split("\n") if text else [""])
    return len(text.encode("latin-1"))


# -- loops and locks -----------------------------------------------------------------------

@helper(181, "bpf_loop")
def loop(call: CallContext, r1: int, r2: int, r3: int, r4: int, *_: int) -> int:
    """Call ``callback(i, ctx)`` for i in 0..nr_loops-1 until it returns 1; the number of
    iterations run."""
    if r4 != 0:
        return _err(errno.EINVAL)
    if r1 > MAX_LOOPS:
        return _err(errno.E2BIG)
    machine = call.program
    for i in range(r1):
        if machine.call_function(r2, i, r3) & _M64 == 1:
            return i + 1
    return r1


@helper(93, "bpf_spin_lock")
def spin_lock(call: CallContext, r1: int, *_: int) -> int:
    """One program runs at a time here, so a lock is always free: check it is memory."""
    if call.memory.find(r1, 4) is None:
        raise BpfHelperError(f"bpf_spin_lock: {r1:#x} is not a lock in a map value", call.pc)
    return 0


@helper(94, "bpf_spin_unlock")
def spin_unlock(call: CallContext, r1: int, *_: int) -> int:
    if call.memory.find(r1, 4) is None:
        raise BpfHelperError(f"bpf_spin_unlock: {r1:#x} is not a lock in a map value", call.pc)
    return 0
