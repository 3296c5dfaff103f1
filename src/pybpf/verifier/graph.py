"""The control-flow graph as graphviz DOT text, the failing path highlighted."""

from __future__ import annotations

from pybpf.verifier.cfg import successors
from pybpf.verifier.log import format_insn
from pybpf.verifier.walk import Insn


def cfg_dot(res) -> str:
    slots = getattr(res, "slots", None) or []
    n = len(slots)
    starts = {0}
    for i in range(n):
        s = slots[i]
        if s.opcode == 0 and i and slots[i - 1].opcode == 0x18:
            continue
        succ = successors(slots, i)
        if (s.opcode & 7) in (5, 6) and (s.opcode & 0xF0) not in (0x80,):
            for t in succ:
                starts.add(t)
            starts.add(i + 1)
    starts = sorted(x for x in starts if 0 <= x < n)
    on_path = {i for i, _ in res.path}
    taken = {(i, t) for i, t in res.path}
    lines = ["digraph cfg {", '  node [shape=box, fontname="monospace"];']
    block_of = {}
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        text = []
        i = start
        while i < end:
            block_of[i] = start
            s = slots[i]
            insn = Insn(s)
            text.append(f"{i}: {format_insn(insn)}")
            i += 2 if s.opcode == 0x18 else 1
        red = res.insn is not None and start <= res.insn < end
        hot = red or any(start <= p < end for p in on_path)
        attrs = ', color=red, penwidth=2' if red else (', color=orange' if hot else '')
        label = "\\l".join(t.replace('"', '\\"') for t in text) + "\\l"
        lines.append(f'  b{start} [label="{label}"{attrs}];')
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        last = end - 1
        if last > start and slots[last - 1].opcode == 0x18 and slots[last].opcode == 0:
            last -= 1
        for j, t in enumerate(successors(slots, last) if last < n else []):
            if 0 <= t < n and t in block_of:
                was = (last, j == 1) in taken
                style = ' [color=red, penwidth=2]' if was else ''
                lines.append(f"  b{start} -> b{block_of[t]}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"
