"""The userspace VM: memory model, helper registry and the reference interpreter."""

from pybpf.vm.helpers import (
    DEFAULT_HELPERS, CallContext, HelperRegistry, HelperSpec, ProgramExit, TailCall, helper,
)
from pybpf.vm.machine import DEFAULT_BUDGET, MAX_TAIL_CALLS, Machine, RunResult, TraceStep
from pybpf.vm.memory import Memory, Region

__all__ = ["DEFAULT_BUDGET", "DEFAULT_HELPERS", "MAX_TAIL_CALLS", "CallContext", "HelperRegistry",
           "HelperSpec", "Machine", "Memory", "ProgramExit", "Region", "RunResult", "TailCall",
           "TraceStep", "helper"]
