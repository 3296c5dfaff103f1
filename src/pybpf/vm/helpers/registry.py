"""The helper registry: helper id → name, prototype and Python implementation.

A helper implementation is called as ``func(call, r1, r2, r3, r4, r5)`` and returns the
new r0 (any int; it is truncated to 64 bits). ``call`` is the :class:`CallContext` of the
running program: its memory, its environment, the instruction index of the call.
Implementations end a program early with :class:`ProgramExit` and chain to another
program with :class:`TailCall`.

``DEFAULT_HELPERS`` is the registry the kernel-compatible program types use; later
layers fill it with ``@helper(id, name)``. A separate registry (e.g. the conformance
suite's own helper 5) is an empty :class:`HelperRegistry` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pybpf.errors import BpfHelperError

if TYPE_CHECKING:
    from pybpf.vm.memory import Memory

HelperFunc = Callable[..., int]


class ProgramExit(Exception):
    """Raised by a helper (or a failed legacy packet load) to end the program with ``r0``."""

    def __init__(self, r0: int):
        super().__init__(r0)
        self.r0 = r0


class TailCall(Exception):
    """Raised by the tail-call helper to replace the running program with ``target``."""

    def __init__(self, target: Any):
        super().__init__(target)
        self.target = target


@dataclass
class CallContext:
    """What a helper sees of the running program.

    ``env`` is the run's :class:`pybpf.Env`; ``cpu`` the simulated CPU it runs on;
    ``program`` the running :class:`Machine`; ``runtime`` the loaded object's shared
    state (maps by address, trace pipe, ...), None for a bare Machine; ``ctx`` the
    program type's context state for this run (the packet, the skb fields...).
    """

    memory: "Memory"
    env: Any = None
    pc: int = 0
    tail_calls: int = 0
    program: Any = None
    state: dict = field(default_factory=dict)
    cpu: int = 0
    runtime: Any = None
    ctx: Any = None


@dataclass(frozen=True)
class HelperSpec:
    """One helper: its id, name, implementation and (optional) prototype."""

    id: int
    name: str
    func: HelperFunc
    proto: Any = None


class HelperRegistry:
    """Helpers by id. Lookups of unknown ids raise :class:`BpfHelperError` naming the id.

    ``kernel_ids``: the ids mean the kernel's helpers, so an unknown one is named as the
    kernel names it (``12 (bpf_tail_call)``); a private registry names only the number.
    """

    def __init__(self, kernel_ids: bool = False) -> None:
        self._by_id: dict[int, HelperSpec] = {}
        self.kernel_ids = kernel_ids

    def helper(self, id: int, name: str, proto: Any = None) -> Callable[[HelperFunc], HelperFunc]:
        """Decorator registering ``func`` as helper ``id``."""
        def register(func: HelperFunc) -> HelperFunc:
            self.register(HelperSpec(id, name, func, proto))
            return func
        return register

    def register(self, spec: HelperSpec) -> None:
        if spec.id in self._by_id:
            raise ValueError(f"helper {spec.id} is already registered as {self._by_id[spec.id].name}")
        self._by_id[spec.id] = spec

    def get(self, id: int) -> HelperSpec | None:
        return self._by_id.get(id)

    def lookup(self, id: int, pc: int | None = None) -> HelperSpec:
        spec = self._by_id.get(id)
        if spec is None:
            raise BpfHelperError(f"unknown helper {self.describe(id)}: not implemented", pc)
        return spec

    def describe(self, id: int) -> str:
        """How errors name helper ``id``."""
        spec = self._by_id.get(id)
        if spec is not None:
            return f"{id} ({spec.name})"
        return describe_helper(id) if self.kernel_ids else f"#{id}"

    def __contains__(self, id: int) -> bool:
        return id in self._by_id

    def __iter__(self):
        return iter(sorted(self._by_id.values(), key=lambda s: s.id))

    def __len__(self) -> int:
        return len(self._by_id)


def describe_helper(id: int) -> str:
    """``12 (bpf_tail_call)`` when the kernel knows the id, else ``#id``."""
    try:
        from pybpf.isa.uapi import HELPER_NAMES
    except ImportError:  # the generated table is optional for the VM
        return f"#{id}"
    name = HELPER_NAMES.get(id)
    return f"{id} ({name})" if name else f"#{id}"


DEFAULT_HELPERS = HelperRegistry(kernel_ids=True)


def helper(id: int, name: str, proto: Any = None) -> Callable[[HelperFunc], HelperFunc]:
    """Register a helper in :data:`DEFAULT_HELPERS`."""
    return DEFAULT_HELPERS.helper(id, name, proto)
