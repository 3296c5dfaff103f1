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


_M32 = 0xFFFFFFFF
# (a, b, c, d) of each word's TAUSWORTHE step, and the least value its seed may take.
TAUSWORTHE = ((6, 13, 4294967294, 18, 2), (2, 27, 4294967288, 2, 8),
               (13, 21, 4294967280, 7, 16), (3, 12, 4294967168, 13, 128))


def prandom_seed_state(seed: int) -> tuple[int, int, int, int]:
    """The four state words from a 64-bit seed (``prandom_seed_state``), after the
    ten steps of ``prandom_warmup``."""
    seed &= (1 << 64) - 1
    i = ((seed >> 32) ^ (seed << 10) ^ seed) & _M32
    state = tuple(i + m if i < m else i for *_, m in TAUSWORTHE)
    for _ in range(10):
        state = prandom_next(state)   # type: ignore[arg-type]
    return state  # type: ignore[return-value]


def prandom_next(state: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """One step of ``prandom_u32_state``; the output is the XOR of the new words."""
    return tuple((((s & c) << d) & _M32) ^ ((((s << a) & _M32) ^ s) >> b)
                 for s, (a, b, c, d, _) in zip(state, TAUSWORTHE))  # type: ignore[return-value]


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
    rnd_state: tuple[int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.cpus < 1:
            raise ValueError(f"Env.cpus must be at least 1, not {self.cpus}")
        if not 0 <= self.cpu < self.cpus:
            raise ValueError(f"Env.cpu {self.cpu} is not one of the {self.cpus} CPUs")
        self.rnd_state = prandom_seed_state(self.seed)

    def now_ns(self) -> int:
        """Read the monotonic clock (and advance it by ``clock_step_ns``)."""
        value = self.clock_ns
        self.clock_ns += self.clock_step_ns
        return value & ((1 << 64) - 1)

    def prandom_u32(self) -> int:
        self.rnd_state = state = prandom_next(self.rnd_state)
        return state[0] ^ state[1] ^ state[2] ^ state[3]
