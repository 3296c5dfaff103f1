"""The jit engine: the interpreter engine's object (maps in one shared Memory, the same
program types and test_run rules), with each program compiled to native code.

Everything but the machine is the interpreter engine's (:mod:`pybpf.engine.interp`): map
creation, CO-RE relocation, resolving map references into ``lddw`` constants, initial map
contents, and the runner that applies the program type's test_run rules around
``machine.run``; batches of packets run natively (:mod:`.batch`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pybpf.engine import interp
from pybpf.engine.object import Object

if TYPE_CHECKING:
    from array import array
    from collections.abc import Mapping

    from pybpf.elf.spec import ObjectSpec
    from pybpf.env import Env
    from pybpf.net.batch import BatchResult, PacketBatch
    from pybpf.verifier import VerifyResult


def load(spec: "ObjectSpec", env: "Env", target_btf: Any = None,
         budget: int | None = 1_000_000, verified: "Mapping[str, VerifyResult] | None" = None,
         unchecked: bool = False) -> Object:
    """Create the maps, resolve each program's map references, and compile its machine.

    ``verified``: pybpf's verifier's results by program, whose facts the machines use:
    which accesses may be to packet memory (a batch runs the packets of a program that
    stores to none in place), how much of its stack a run may read before writing it
    (what a run clears before it starts: nothing when it reads no byte it did not write)
    and, when ``unchecked``, which accesses are compiled with no
    checks."""
    from pybpf.jit.machine import JitMachine

    options: dict[str, dict[str, Any]] = {}
    for name, result in (verified or {}).items():
        options[name] = {"packet_access": result.packet_access,
                         "stack_used": result.stack_depth if result.reads_uninit_stack
                         else 0}
        if unchecked:
            options[name]["trusted"] = result.native_access
    return interp.load(spec, env, target_btf, budget, machine_class=JitMachine,
                       runner_class=JitRunner, engine="jit", machine_options=options)


class JitRunner(interp.InterpRunner):
    """The interpreter's runner, with batches of packets run in native code (XDP, tc)."""

    def run_batch(self, batch: "PacketBatch", *, data_out: bool = True,
                  clocks: "array | None" = None) -> "BatchResult | None":
        """The batch run natively, or None where this program type has no native batch
        (then :func:`pybpf.net.batch.run_batch` runs test_run per packet)."""
        from pybpf.jit.batch import run_packet_batch, supports

        if not supports(self):
            return None
        return run_packet_batch(self, batch, data_out=data_out, clocks=clocks)
