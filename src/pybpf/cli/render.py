"""Terminal output with rich: disassembly listings, register traces, capture-run summaries
and map contents, and the demos."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from rich.console import Console
from rich.table import Table

from pybpf.isa import Instruction, slot_indexes
from pybpf.vm import RunResult

if TYPE_CHECKING:
    from pybpf.net.runner import CaptureSummary

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


# --- capture runs ---------------------------------------------------------------------

def summary_table(summary: "CaptureSummary", title: str | None = None) -> Table:
    """Verdicts with their share of the packets, then the totals and the rate."""
    table = Table(title=title or f"{summary.program} ({summary.prog_type}, "
                                 f"{summary.engine or 'engine'})", title_justify="left")
    table.add_column("verdict", style="bold")
    table.add_column("packets", justify="right")
    table.add_column("share", justify="right", style="dim")
    for name, count in sorted(summary.verdicts.items(), key=lambda kv: -kv[1]):
        share = f"{100 * count / summary.packets:.1f}%" if summary.packets else "-"
        table.add_row(name, f"{count:,}", share)
    table.add_section()
    table.add_row("packets", f"{summary.packets:,}", f"{summary.bytes:,} bytes")
    table.add_row("packets/s", f"{summary.packets_per_second:,.0f}",
                  f"{summary.elapsed_s * 1e3:,.1f} ms")
    table.add_row("written", f"{summary.written:,}", "to the output")
    for tag, count in sorted(summary.interfaces.items()):
        table.add_row(f"sent to {tag}", f"{count:,}", "")
    return table


def map_table(name: str, entries: dict | list) -> Table:
    """A map's entries (key, value), or a ring buffer's records (a list, in order)."""
    import json

    if isinstance(entries, list):
        table = Table(title=f"ring buffer {name}", title_justify="left")
        table.add_column("#", justify="right", style="dim")
        table.add_column("record (hex)")
        for i, record in enumerate(entries):
            table.add_row(str(i), record)
        return table
    table = Table(title=f"map {name}", title_justify="left")
    table.add_column("key", style="cyan")
    table.add_column("value")
    for key, value in entries.items():
        text = value if isinstance(value, str) else json.dumps(value)
        table.add_row(key, text)
    if not entries:
        table.add_row("[dim](empty)[/]", "")
    return table


def capture_report(summary: "CaptureSummary", maps: dict, console: Console | None = None,
                   max_entries: int = 20) -> None:
    """The summary table, where the packets went, and each map's contents."""
    console = console or Console()
    console.print(summary_table(summary))
    for path, count in summary.outputs.items():
        console.print(f"wrote {count:,} packets to {path}")
    for name, entries in maps.items():
        items = list(entries.items() if isinstance(entries, dict) else entries)
        shown = dict(items[:max_entries]) if isinstance(entries, dict) else items[:max_entries]
        console.print(map_table(name, shown))
        if len(entries) > max_entries:
            console.print(f"[dim]... {len(entries) - max_entries} more entries[/]")


def run_with_progress(prog, packets: list, *, out=None, show: bool = True,
                      min_packets: int = 2000) -> "CaptureSummary":
    """run_capture with a progress bar on stderr, when that is a terminal and the
    capture is long enough to wait for."""
    from pybpf.net.runner import run_capture

    console = Console(stderr=True)
    if not (show and console.is_terminal and len(packets) >= min_packets):
        return run_capture(prog, packets, out=out)
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(prog.name, total=len(packets))
        return run_capture(prog, packets, out=out,
                           progress=lambda done: bar.update(task, completed=done))


def _example_source(name: str):
    from pathlib import Path

    import pybpf

    path = Path(pybpf.__file__).resolve().parents[2] / "examples" / name
    if not path.exists():
        from pybpf.errors import BpfError
        raise BpfError(f"the demo runs {name} from the source tree's examples/, "
                       f"which is not at {path.parent}")
    return path


def ddos_demo(console: Console | None = None, engine: str = "interp") -> "CaptureSummary":
    """Compile examples/xdp_ddos.c, run it over a generated capture (one flooding source,
    five clients, one blocklisted source), and show the verdicts and the maps."""
    import socket
    import tempfile
    from pathlib import Path

    from pybpf.net import traffic
    from pybpf.net.pcap import write_packets
    from pybpf.net.runner import run_capture
    from pybpf.net.session import load_object

    console = console or Console()
    source = _example_source("xdp_ddos.c")
    frames = traffic.ddos_mix()
    console.rule("[bold]pybpf demo: an XDP DDoS filter over a capture")
    console.print(f"program: {source.name} (compiled with clang, run by the {engine} engine)")
    console.print(f"capture: {len(frames)} packets: {traffic.ATTACKER} floods 250 UDP "
                  f"packets, 5 clients send 20 TCP packets each, {traffic.BLOCKLISTED} (on "
                  f"the static blocklist) sends 10, plus 3 ARP and 1 frame cut short after "
                  f"its Ethernet header")
    console.print("rule: more than `threshold` (100) packets from one source within "
                  "`window_ns` (1 s) and the source is blocked")
    with tempfile.TemporaryDirectory(prefix="pybpf-demo-") as tmp:
        capture = Path(tmp) / "ddos.pcap"
        write_packets(capture, traffic.timed(frames))
        obj = load_object(source, engine=engine)
        try:
            obj.maps["blocked"].update(socket.inet_aton(traffic.BLOCKLISTED), bytes(8))
            from pybpf.net.pcap import read_packets
            summary = run_capture(obj.programs["xdp_ddos"], list(read_packets(capture)),
                                  out=Path(tmp) / "passed.pcap")
            tables = _ddos_tables(obj.maps)
        finally:
            obj.close()
        summary.outputs = {Path(p).name: n for p, n in summary.outputs.items()}
    capture_report(summary, {}, console)
    for table in tables:
        console.print(table)
    return summary


DDOS_STATS = ("passed", "dropped: blocked source", "dropped: crossed the threshold",
              "passed: not IPv4", "dropped: malformed")


def _ddos_tables(maps) -> list[Table]:
    """The DDoS example's maps, decoded for people: addresses, counters by name."""
    import socket
    import struct

    rates = Table(title="map rates (per source)", title_justify="left")
    for column in ("source", "packets in window", "total"):
        rates.add_column(column, justify="right" if column != "source" else "left")
    for key, value in sorted(maps["rates"].items()):
        _, window, total = struct.unpack("<QQQ", bytes(value)[:24])
        rates.add_row(socket.inet_ntoa(bytes(key)), f"{window:,}", f"{total:,}")
    blocked = Table(title="map blocked", title_justify="left")
    blocked.add_column("source")
    blocked.add_column("packets dropped", justify="right")
    for key, value in sorted(maps["blocked"].items()):
        blocked.add_row(socket.inet_ntoa(bytes(key)),
                        f"{int.from_bytes(bytes(value)[:8], 'little'):,}")
    stats = Table(title="map stats", title_justify="left")
    stats.add_column("counter")
    stats.add_column("packets", justify="right")
    for key, value in sorted(maps["stats"].items()):
        index = int.from_bytes(bytes(key), "little")
        name = DDOS_STATS[index] if index < len(DDOS_STATS) else str(index)
        stats.add_row(name, f"{int.from_bytes(bytes(value)[:8], 'little'):,}")
    return [rates, blocked, stats]
