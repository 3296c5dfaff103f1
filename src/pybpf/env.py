"""Everything a run depends on outside the program, in one object, so runs repeat exactly.

An :class:`Env` is handed to ``load`` (and may be replaced per ``test_run``): the clock
that ``bpf_ktime_get_ns`` reads, the number of simulated CPUs (per-CPU maps hold one
value per CPU) and the one the program runs on, the seed of ``bpf_get_prandom_u32``, the
current task that ``bpf_get_current_*`` report, and the routing table ``bpf_fib_lookup``
consults.
"""

from __future__ import annotations

import ipaddress
import os
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Task:
    """The simulated current task (``bpf_get_current_pid_tgid`` and friends)."""

    pid: int = 1
    tgid: int = 1
    uid: int = 0
    gid: int = 0
    comm: str = "pybpf"
    cgroup_id: int = 1


@dataclass(frozen=True)
class Route:
    """One entry of the routing table ``bpf_fib_lookup`` consults.

    ``dst`` is a prefix (``"10.0.0.0/8"``, ``"2001:db8::/32"``, ``"0.0.0.0/0"``);
    ``gateway`` the next hop (None: directly connected); ``ifindex`` the egress
    interface, ``src_mac`` its address, ``dst_mac`` the next hop's (None: no neighbour
    entry, so the lookup answers BPF_FIB_LKUP_RET_NO_NEIGH); ``mtu`` the route MTU.
    """

    dst: str
    ifindex: int
    gateway: str | None = None
    src_mac: str = "00:00:00:00:00:00"
    dst_mac: str | None = None
    mtu: int = 1500

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.dst, strict=False)


def _default_cpus() -> int:
    return os.cpu_count() or 1


@dataclass
class Env:
    """The world outside the program for one run.

    ``clock_ns`` is the value of ``bpf_ktime_get_ns`` at the start of a run; with
    ``clock_step_ns`` it advances by that much on each read (0 keeps it still).
    ``cpu`` is the CPU the program runs on (< ``cpus``); in the kernel engine that holds
    only with ``kernel_pin_cpu`` (the calling thread is pinned to ``cpu`` for each
    test_run, two extra syscalls), else the kernel runs it wherever the thread is.
    ``kernel_stack`` and
    ``user_stack`` are the call chains (innermost address first) that
    ``bpf_get_stackid``/``bpf_get_stack`` report for a tracing program.
    """

    cpus: int = field(default_factory=_default_cpus)
    seed: int = 0
    clock_ns: int = 0
    clock_step_ns: int = 0
    boot_offset_ns: int = 0
    cpu: int = 0
    task: Task = field(default_factory=Task)
    routes: list[Route] = field(default_factory=list)
    kernel_pin_cpu: bool = False
    kernel_stack: tuple[int, ...] = ()
    user_stack: tuple[int, ...] = ()
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cpus < 1:
            raise ValueError(f"Env.cpus must be at least 1, not {self.cpus}")
        if not 0 <= self.cpu < self.cpus:
            raise ValueError(f"Env.cpu {self.cpu} is not one of the {self.cpus} CPUs")
        self.rng = random.Random(self.seed)

    def now_ns(self) -> int:
        """Read the monotonic clock (and advance it by ``clock_step_ns``)."""
        value = self.clock_ns
        self.clock_ns += self.clock_step_ns
        return value & ((1 << 64) - 1)

    def prandom_u32(self) -> int:
        return self.rng.getrandbits(32)
