"""Whether the bpf(2) system call works here, and if not, the kernel's reason."""

from __future__ import annotations

import errno
from functools import lru_cache

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import Cmd, MapType
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.syscall import describe_failure


@lru_cache(maxsize=1)
def kernel_available() -> tuple[bool, str]:
    """``(True, ...)`` if this process can create BPF maps, else ``(False, reason)``.

    Probes by creating (and closing) a one-element array map. Tests that need the kernel
    skip with the reason. The answer is cached for the life of the process.
    """
    try:
        with KernelMap(MapType.ARRAY, 4, 8, 1):
            pass
    except BpfSyscallError as e:
        name = errno.errorcode.get(e.errno or 0, str(e.errno))
        return False, f"bpf(2) refused: {name}: {describe_failure(Cmd.MAP_CREATE, e.errno or 0)}"
    except OSError as e:  # no libc, or not Linux
        return False, f"bpf(2) unavailable: {e}"
    return True, "bpf(2) works: created an array map"


__all__ = ["kernel_available"]
