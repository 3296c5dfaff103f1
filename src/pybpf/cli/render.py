"""Terminal output with rich: disassembly listings, register traces, and the demo."""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.table import Table

from pybpf.isa import Instruction, slot_indexes
from pybpf.vm import RunResult

DEMO_SOURCE = """\
# Sum the bytes of a buffer (r1 = address, r2 = length) with a bpf-to-bpf call per byte,
# keep a running total on the stack, and return it.
    r6 = r1                     # r6: cursor (callee-saved across calls)
    r7 = r1
    r7 += r2                    # r7: end of buffer
    r0 = 0
    *(u64 *)(r10 - 8) = r0      # total = 0
loop:
    if r6 >= r7 goto done
    r1 = *(u8 *)(r6 + 0)
    call weight                 # r0 = weight(byte)
    r1 = *(u64 *)(r10 - 8)
    r1 += r0
    *(u64 *)(r10 - 8) = r1
    r6 += 1
    goto loop
done:
    r0 = *(u64 *)(r10 - 8)
    exit
weight:                         # weight(b) = b * 3 + 1
    r0 = r1
    r0 *= 3
    r0 += 1
    exit
"""
DEMO_MEMORY = bytes([1, 2, 3, 4])
REG_NAMES = [f"r{i}" for i in range(11)]


def listing_table(insns: Sequence[Instruction], title: str = "disassembly") -> Table:
    from pybpf.asm import disassemble
    from pybpf.isa import encode

    table = Table(title=title, title_justify="left")
    table.add_column("idx", justify="right", style="cyan")
    table.add_column("bytes", style="dim")
    table.add_column("instruction", style="bold")
    for index, insn, text in zip(slot_indexes(insns), insns, disassemble(insns)):
        table.add_row(str(index), encode([insn]).hex(" "), text)
    return table


def trace_table(result: RunResult, title: str = "register trace") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("step", justify="right", style="dim")
    table.add_column("pc", justify="right", style="cyan")
    table.add_column("instruction", style="bold")
    table.add_column("registers changed", style="green")
    for step, entry in enumerate(result.trace or [], 1):
        changed = "  ".join(f"{REG_NAMES[r]}={v:#x}" for r, v in sorted(entry.changed.items()))
        table.add_row(str(step), str(entry.pc), entry.text, changed)
    return table


def print_trace(result: RunResult, console: Console | None = None) -> None:
    (console or Console()).print(trace_table(result))


def demo(console: Console | None = None) -> None:
    """Assemble a small program, show its disassembly, then run it with a trace."""
    from pybpf.asm import assemble
    from pybpf.vm import Machine

    console = console or Console()
    console.rule("[bold]pybpf demo")
    console.print("[bold]source[/] (LLVM assembly syntax):")
    console.print(DEMO_SOURCE, highlight=False, markup=False)
    insns = assemble(DEMO_SOURCE, filename="demo.s")
    console.print(listing_table(insns))
    result = Machine(insns, name="demo").run(mem=DEMO_MEMORY, trace=True)
    console.print(f"memory: {DEMO_MEMORY.hex(' ')} (r1 points here, r2 = {len(DEMO_MEMORY)})")
    console.print(trace_table(result))
    expected = sum(b * 3 + 1 for b in DEMO_MEMORY)
    console.print(f"[bold]r0 = {result.r0:#x}[/] ({result.r0}; expected {expected}) after "
                  f"{result.executed} instructions")
