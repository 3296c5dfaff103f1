"""Load an object for a capture run: compile or read it, pick the program, fill maps.

Shared by ``pybpf run -r``, ``pybpf demo`` and ``bench/pcap_run.py`` so that all three
choose programs and read ``--map`` files the same way.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

from pybpf.errors import BpfError
from pybpf.isa.uapi import ProgType
from pybpf.net.mapjson import fill_map, load_json
from pybpf.net.runner import is_runnable


def _type_name(prog_type: int) -> str:
    try:
        return ProgType(prog_type).name.lower()
    except ValueError:
        return str(prog_type)


def choose_program(programs: Mapping[str, Any], name: str | None, source: str) -> str:
    """The program to run: ``name`` if given, else the only one of a type whose verdicts
    the runner knows. Errors list the candidates."""
    listing = ", ".join(f"{n} ({_type_name(p.type)})" for n, p in programs.items()) or "none"
    if name is not None:
        if name not in programs:
            raise BpfError(f"{source}: no program {name!r}; it has: {listing}")
        return name
    runnable = sorted(n for n, p in programs.items() if is_runnable(p.type))
    if len(runnable) == 1:
        return runnable[0]
    if not runnable:
        raise BpfError(f"{source}: no program of a type that runs over packets (xdp, tc, "
                       f"socket, cgroup_skb); it has: {listing}")
    raise BpfError(f"{source}: {len(runnable)} programs could run; choose one with --prog: "
                   f"{', '.join(runnable)}")


def parse_assignments(items: Iterable[str], what: str) -> list[tuple[str, str]]:
    """``["NAME=VALUE", ...]`` -> pairs; a one-line error for an item without ``=``."""
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise BpfError(f"{what}: expected NAME=VALUE, not {item!r}")
        pairs.append((name, value))
    return pairs


def parse_rodata(items: Iterable[str]) -> dict[str, Any]:
    """``--set NAME=VALUE``: an integer (decimal or 0x) or, with an ``hex:`` prefix, bytes."""
    values: dict[str, Any] = {}
    for name, value in parse_assignments(items, "--set"):
        if value.startswith("hex:"):
            try:
                values[name] = bytes.fromhex(value[4:])
            except ValueError:
                raise BpfError(f"--set {name}: not hex bytes: {value[4:]!r}") from None
        else:
            try:
                values[name] = int(value, 0)
            except ValueError:
                raise BpfError(f"--set {name}: expected an integer or hex:BYTES, "
                               f"not {value!r}") from None
    return values


def cflags_from(items: Sequence[str]) -> list[str]:
    """``-D NAME=1`` -> ``-DNAME=1``; a value that is already a flag (``-O1``) is kept."""
    return [item if item.startswith("-") else f"-D{item}" for item in items]


def load_object(path: str | os.PathLike, *, engine: str = "interp", cflags: Sequence[str] = (),
                rodata: Mapping[str, Any] | None = None, env: Any = None,
                budget: int | None = 1_000_000, unchecked: bool = False) -> Any:
    """Open ``path`` (C source is compiled) and load it into ``engine`` (``unchecked``:
    the jit engine's, see :func:`pybpf.engine.load_spec`)."""
    import pybpf

    spec = pybpf.open(path, cflags=list(cflags))
    options: dict[str, Any] = {"budget": budget}
    if unchecked:
        options["unchecked"] = True
    if env is not None:
        options["env"] = env
    if rodata:
        known = set(spec.maps[".rodata"].variables) if ".rodata" in spec.maps else set()
        unknown = sorted(set(rodata) - known)
        if unknown:
            raise BpfError(f"--set: {path} has no const volatile {unknown[0]!r}; it has: "
                           f"{', '.join(sorted(known)) or 'none'}")
        variables = spec.rodata      # a spec of our own: set in place, no copy needed
        for name, value in rodata.items():
            variables[name] = value
    return spec.load(engine=engine, **options)


def fill_maps(maps: Mapping[str, Any], items: Iterable[str]) -> dict[str, int]:
    """``--map NAME=FILE.json`` for each item; returns entries stored per map."""
    stored: dict[str, int] = {}
    for name, path in parse_assignments(items, "--map"):
        if name not in maps:
            raise BpfError(f"--map: no map {name!r}; the object has: "
                           f"{', '.join(maps) or 'none'}")
        entries = load_json(path, f"--map {name}")
        stored[name] = stored.get(name, 0) + fill_map(maps[name], entries,
                                                      f"--map {name}={path}")
    return stored
