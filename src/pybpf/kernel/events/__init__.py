"""Events from BPF programs in the kernel to this process: ring buffers and perf buffers.

:class:`KernelRingBuffer` consumes BPF_MAP_TYPE_RINGBUF maps (``ringbuf.py``), and
:class:`KernelPerfBuffer` the per-CPU perf events of a BPF_MAP_TYPE_PERF_EVENT_ARRAY
(``perf.py``), both over memory shared with the kernel (``_mem.py``) and waiting with
epoll. ``pybpf.RingBuffer``/``pybpf.PerfBuffer`` dispatch here when given a kernel map.
Text from ``bpf_printk`` goes through tracefs instead: :mod:`pybpf.kernel.tracefs`.

Limits: positions are read and written with single aligned 8-byte accesses, which are
acquire/release on x86_64 (TSO) but plain accesses on weakly ordered CPUs such as
aarch64, where no barrier is issued.
"""

from pybpf.kernel.events._mem import online_cpus
from pybpf.kernel.events.perf import KernelPerfBuffer
from pybpf.kernel.events.ringbuf import KernelRingBuffer, stops

__all__ = ["KernelPerfBuffer", "KernelRingBuffer", "online_cpus", "stops"]
