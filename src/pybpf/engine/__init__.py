"""Engines: turn an ObjectSpec into a live Object whose programs run in one backend.

``load_spec(spec, engine=...)`` is the one entry point; ``interp`` (the reference
interpreter) is here, ``jit`` and ``kernel`` plug in behind the same call. Loading never
changes the spec: rodata overrides and adjustments are applied to a copy.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any, Mapping

from pybpf.engine.object import Object, Program, TestRunResult
from pybpf.errors import BpfError

if TYPE_CHECKING:
    from pybpf.elf.spec import ObjectSpec
    from pybpf.env import Env

ENGINES = ("interp", "jit", "kernel")


def engine_available(engine: str) -> tuple[bool, str]:
    """Whether ``engine`` can run here, and if not, why."""
    if engine == "interp":
        return True, ""
    if engine == "kernel":
        from pybpf.kernel import kernel_available

        return kernel_available()
    if engine == "jit":
        from pybpf.jit import jit_available

        return jit_available()
    return False, f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}"


def load_spec(spec: "ObjectSpec", engine: str = "interp", *, env: "Env | None" = None,
              rodata: Mapping[str, Any] | None = None, target_btf: Any = None,
              budget: int | None = 1_000_000, log_level: int = 0,
              pin_root: str | None = None, verify: bool = True,
              unchecked: bool = False) -> Object:
    """Load ``spec`` into ``engine``.

    ``env`` is the world the programs run in (a default :class:`pybpf.Env` otherwise);
    ``rodata`` sets ``const volatile`` globals by name; ``target_btf`` is the BTF CO-RE
    relocations resolve against (default: the running kernel's); ``budget`` bounds the
    instructions of one run in the userspace engines (None: unbounded); ``log_level``
    is the kernel verifier's (1 or 2 keeps its log on each program); ``pin_root`` is
    where maps declared ``pinning = LIBBPF_PIN_BY_NAME`` are pinned (kernel engine);
    ``verify`` (interp and jit) runs pybpf's verifier on each program first, as root, and
    raises :class:`pybpf.VerifierError` if it rejects one (the kernel engine always has
    the kernel's verifier; ``verify=False`` loads unverified programs into the others).
    ``unchecked`` (jit, verified programs only) compiles the loads and stores the
    verifier proved in bounds of native memory with no bounds check: faster, and a
    verifier bug could then crash the process, which the default (every access checked)
    never lets happen.
    """
    from pybpf.env import Env

    if engine not in ENGINES:
        raise BpfError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    env = env if env is not None else Env()
    if rodata:
        # Only .rodata's bytes change: copy that one MapSpec, share the rest.
        spec = dataclasses.replace(spec, maps=dict(spec.maps))
        if ".rodata" in spec.maps:
            spec.maps[".rodata"] = copy.copy(spec.maps[".rodata"])
        variables = spec.rodata
        for name, value in rodata.items():
            variables[name] = value
    if unchecked and (engine != "jit" or not verify):
        raise BpfError("unchecked=True is for the jit engine with the verifier on (verify=True)"
                       if engine == "jit" else "unchecked=True is for the jit engine")
    results = _verify_programs(spec, target_btf) if verify and engine in ("interp", "jit") \
        else {}
    if engine == "interp":
        from pybpf.engine import interp

        return interp.load(spec, env, target_btf=target_btf, budget=budget)
    if engine == "jit":
        from pybpf.jit.engine import load as jit_load

        return jit_load(spec, env, target_btf=target_btf, budget=budget, verified=results,
                        unchecked=unchecked)
    from pybpf.kernel import engine as kernel_engine

    return kernel_engine.load(spec, env, target_btf=target_btf, log_level=log_level,
                              pin_root=pin_root)


def _verify_programs(spec: "ObjectSpec", target_btf: Any) -> dict[str, Any]:
    """pybpf's verifier on every program of ``spec`` (CO-RE relocations applied, as they
    will run), as root: the results by program; the first rejection raises its
    VerifierError, with the log."""
    from pybpf.engine.interp import relocated
    from pybpf.verifier import verify

    programs = {name: dataclasses.replace(prog, insns=relocated(prog, spec, target_btf))
                if prog.core_relos else prog for name, prog in spec.programs.items()}
    checked = dataclasses.replace(spec, programs=programs)
    results = verify(checked, log_level=0, priv="root")
    for name, result in results.items():
        if not result.accepted:
            # again with the level-1 log (the path to the error) for the exception
            single = dataclasses.replace(checked, programs={name: programs[name]})
            raise verify(single, log_level=1, priv="root")[name].to_error()
    return results


__all__ = ["ENGINES", "Object", "Program", "TestRunResult", "engine_available", "load_spec"]
