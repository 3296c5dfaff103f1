"""The jit engine: the interpreter engine's object (maps in one shared Memory, the same
program types and test_run rules), with each program compiled to native code.

Everything but the machine is the interpreter engine's (:mod:`pybpf.engine.interp`): map
creation, CO-RE relocation, resolving map references into ``lddw`` constants, initial map
contents, and the runner that applies the program type's test_run rules around
``machine.run``. Tail calls between the object's programs stay native-to-native.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pybpf.engine.interp import InterpRunner, _constants, _create, _initial_contents, relocated
from pybpf.engine.object import Object, Program
from pybpf.vm import Memory

if TYPE_CHECKING:
    from pybpf.elf.spec import ObjectSpec
    from pybpf.env import Env


def load(spec: "ObjectSpec", env: "Env", target_btf: Any = None,
         budget: int | None = 1_000_000) -> Object:
    """Create the maps, resolve each program's map references, and compile its machine."""
    from pybpf.jit.machine import JitMachine
    from pybpf.maps import create_map

    obj = Object(spec, "jit", env)
    memory = Memory()
    for name, map_spec in spec.maps.items():
        obj.maps[name] = _create(create_map, map_spec, env, memory)
    for name, prog_spec in spec.programs.items():
        insns = relocated(prog_spec, spec, target_btf)
        constants = _constants(prog_spec, insns, obj.maps)
        machine = JitMachine(insns, memory=memory, env=env, name=name, constants=constants,
                             budget=budget)
        machine.call.runtime = obj
        obj.programs[name] = Program(prog_spec, InterpRunner(machine, prog_spec, obj), "jit",
                                     insns, env)
    _initial_contents(spec, obj)
    return obj
