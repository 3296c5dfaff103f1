"""The kernel backend: bpf(2) through ctypes, kernel maps and programs, and the kernel oracle.

Importing this package loads ctypes and opens libc but makes no system call;
:func:`kernel_available` says whether bpf(2) works here.
"""

from pybpf.isa.uapi import MapType, ProgType
from pybpf.kernel.fd import Fd
from pybpf.kernel.maps import KernelMap
from pybpf.kernel.oracle import KernelOracle, KernelRun, run_in_kernel
from pybpf.kernel.probe import kernel_available
from pybpf.kernel.programs import KernelProgram, TestRun, parse_verifier_log

__all__ = ["Fd", "KernelMap", "KernelOracle", "KernelProgram", "KernelRun", "MapType",
           "ProgType", "TestRun", "kernel_available", "parse_verifier_log", "run_in_kernel"]
