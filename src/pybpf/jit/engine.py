"""The jit engine: the interpreter engine's object (maps in one shared Memory, the same
program types and test_run rules), with each program compiled to native code.

Everything but the machine is the interpreter engine's (:mod:`pybpf.engine.interp`): map
creation, CO-RE relocation, resolving map references into ``lddw`` constants, initial map
contents, and the runner that applies the program type's test_run rules around
``machine.run``. Tail calls between the object's programs stay native-to-native.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pybpf.engine import interp
from pybpf.engine.object import Object

if TYPE_CHECKING:
    from pybpf.elf.spec import ObjectSpec
    from pybpf.env import Env


def load(spec: "ObjectSpec", env: "Env", target_btf: Any = None,
         budget: int | None = 1_000_000) -> Object:
    """Create the maps, resolve each program's map references, and compile its machine."""
    from pybpf.jit.machine import JitMachine

    return interp.load(spec, env, target_btf, budget, machine_class=JitMachine, engine="jit")
