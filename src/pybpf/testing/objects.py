"""Run a whole object in two engines (the interpreter and the kernel by default) and say
where they differ: each packet's retval, data and ctx out, then every map, entry by entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from pybpf.isa.uapi import MapType

# Maps whose contents are not comparable entry by entry: the kernel holds fds or ids
# (prog arrays, map-in-map, perf events), a ring of records, or nothing to dump.
_OPAQUE = {MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS,
           MapType.PERF_EVENT_ARRAY, MapType.RINGBUF, MapType.QUEUE, MapType.STACK,
           MapType.BLOOM_FILTER, MapType.STACK_TRACE, MapType.DEVMAP, MapType.DEVMAP_HASH,
           MapType.CPUMAP, MapType.XSKMAP}


@dataclass
class Comparison:
    """The runs of one object in both places and every difference found."""

    runs: list[tuple[Any, Any]] = field(default_factory=list)   # (first, second) results
    differences: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return not self.differences

    def report(self) -> str:
        return "\n".join(self.differences) or "the engines agree"


def compare_object(elf: bytes, program: str, packets: Iterable[bytes], *,
                   engines: Sequence[str] = ("interp", "kernel"), env: Any = None,
                   ctx: bytes | None = None, setup: Sequence[tuple[str, bytes, bytes]] = (),
                   compare_maps: bool = True,
                   ignore_bytes: dict[str, tuple[int, int]] | None = None) -> Comparison:
    """Load ``elf`` into two engines, run ``program`` over ``packets`` in both, and report
    every difference: retval, data_out, ctx_out, then every comparable map's entries.

    ``setup`` fills maps before the runs in both, as (map name, key, value). With the
    kernel, test_run is pinned to the Env's CPU, so per-CPU slots line up.
    ``ignore_bytes`` names value bytes that legitimately differ, as {map: (offset,
    length)}: e.g. a timestamp from bpf_ktime_get_ns, which is the Env's clock in the
    interpreter and the real clock in the kernel.
    """
    import pybpf

    from pybpf.env import Env

    first, second = engines
    out = Comparison()
    env = env if env is not None else Env()
    env.kernel_pin_cpu = True      # per-CPU slots must line up with the userspace engines
    mine = pybpf.load(elf, engine=first, env=env)
    try:
        theirs = pybpf.load(elf, engine=second, env=mine.env)
    except BaseException:
        mine.close()
        raise
    with mine, theirs:
        for name, key, value in setup:
            mine.maps[name].update(key, value)
            theirs.maps[name].update(key, value)
        for i, packet in enumerate(packets):
            a = mine.programs[program].test_run(data=packet, ctx=ctx)
            b = theirs.programs[program].test_run(data=packet, ctx=ctx)
            out.runs.append((a, b))
            for what, x, y in (("retval", a.retval, b.retval), ("data_out", a.data, b.data),
                               ("ctx_out", a.ctx, b.ctx)):
                if x != y:
                    out.differences.append(f"packet {i}: {what} differs\n  {first}: "
                                           f"{_show(x)}\n  {second}: {_show(y)}")
        if compare_maps:
            for name, m in mine.maps.items():
                if m.type in _OPAQUE:
                    continue
                other = dict(theirs.maps[name].items())
                mask = (ignore_bytes or {}).get(name)
                out.differences += _map_differences(name, m, other, (first, second), mask)
    return out


def _masked(value: Any, mask: tuple[int, int] | None) -> Any:
    if mask is None or value is None:
        return value
    if isinstance(value, list):
        return [_masked(v, mask) for v in value]
    start, length = mask
    return value[:start] + bytes(len(value[start:start + length])) + value[start + length:]


def _map_differences(name: str, m: Any, other: dict[bytes, Any], engines: tuple[str, str],
                     mask: tuple[int, int] | None = None) -> list[str]:
    mine = {bytes(k): v for k, v in m.items()}
    diffs = []
    for key in sorted(set(mine) | set(other)):
        a, b = _masked(mine.get(key), mask), _masked(other.get(key), mask)
        if a != b:
            diffs.append(f"map {name} key {key.hex()}: {engines[0]} {_show(a)} != "
                         f"{engines[1]} {_show(b)}")
    return diffs


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return "[" + ", ".join(v.hex() for v in value) + "]"
    return value.hex()
