"""Run a whole object in a pybpf engine and in the kernel, and say where they differ.

The kernel side loads the same ELF bytes with libbpf (:mod:`pybpf.kernel.libbpf`), so
relocations, global data and BTF are handled by the reference loader. Each packet runs
through both; afterwards every map is dumped from both and compared entry by entry.
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

    runs: list[tuple[Any, Any]] = field(default_factory=list)   # (pybpf result, KernelRun)
    differences: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return not self.differences

    def report(self) -> str:
        return "\n".join(self.differences) or "pybpf and the kernel agree"


def compare_object(elf: bytes, program: str, packets: Iterable[bytes], *,
                   engine: str = "interp", env: Any = None, ctx: bytes | None = None,
                   setup: Sequence[tuple[str, bytes, bytes]] = (),
                   compare_maps: bool = True) -> Comparison:
    """Run ``program`` of ``elf`` over ``packets`` in ``engine`` and in the kernel.

    ``setup`` fills maps before the runs in both, as (map name, key, value).
    """
    import pybpf
    from pybpf.kernel.libbpf import LibbpfObject

    out = Comparison()
    obj = pybpf.load(elf, engine=engine, env=env)
    with LibbpfObject(elf) as kernel:
        for name, key, value in setup:
            obj.maps[name].update(key, value)
            kernel.maps[name].update(key, value)
        for i, packet in enumerate(packets):
            mine = obj.programs[program].test_run(data=packet, ctx=ctx)
            theirs = kernel.test_run(program, packet, ctx, cpu=obj.env.cpu)
            out.runs.append((mine, theirs))
            if mine.retval != theirs.retval:
                out.differences.append(f"packet {i}: retval {mine.retval} (pybpf) != "
                                       f"{theirs.retval} (kernel)")
            if theirs.data is not None and mine.data != theirs.data:
                out.differences.append(f"packet {i}: data_out differs\n  pybpf:  "
                                       f"{(mine.data or b'').hex()}\n  kernel: "
                                       f"{theirs.data.hex()}")
            if theirs.ctx is not None and mine.ctx != theirs.ctx:
                out.differences.append(f"packet {i}: ctx_out differs\n  pybpf:  "
                                       f"{(mine.ctx or b'').hex()}\n  kernel: {theirs.ctx.hex()}")
        if compare_maps:
            for name, m in obj.maps.items():
                if m.type in _OPAQUE:
                    continue
                out.differences += _map_differences(name, m, kernel.dump(name))
    obj.close()
    return out


def _map_differences(name: str, m: Any, kernel: dict[bytes, Any]) -> list[str]:
    mine = {bytes(k): v for k, v in m.items()}
    diffs = []
    for key in sorted(set(mine) | set(kernel)):
        a, b = mine.get(key), kernel.get(key)
        if isinstance(a, list) and isinstance(b, list):
            b = [v[:m.value_size] for v in b]
        if a != b:
            diffs.append(f"map {name} key {key.hex()}: pybpf {_show(a)} != kernel {_show(b)}")
    return diffs


def _show(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, list):
        return "[" + ", ".join(v.hex() for v in value) + "]"
    return value.hex()
