"""Rich rendering for ``pybpf prog|map|link|btf|feature``: what the kernel has loaded."""

from __future__ import annotations

import time
from typing import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pybpf.kernel.introspect import LinkInfo, MapInfo, ProgInfo, XlatedLine


def _ids(ids: Sequence[int]) -> str:
    return ",".join(map(str, ids))


def prog_table(infos: Sequence[ProgInfo], title: str = "programs") -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (("id", "right"), ("type", "left"), ("name", "left"),
                          ("tag", "left"), ("loaded", "left"), ("xlated/jited", "right"),
                          ("maps", "left"), ("btf", "right")):
        table.add_column(name, justify=justify, style="cyan" if name == "id" else None,
                         overflow="fold", no_wrap=name in ("id", "name"))
    for p in infos:
        jited = f"{p.jited_prog_len}B" if p.jited_prog_len else "-"
        table.add_row(str(p.id), p.type_name, p.name, p.tag,
                      time.strftime("%m-%d %H:%M:%S", time.localtime(p.loaded_at)),
                      f"{p.xlated_prog_len}B/{jited}", _ids(p.map_ids), str(p.btf_id or "-"))
    return table


def map_table(infos: Sequence[MapInfo], title: str = "maps") -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (("id", "right"), ("type", "left"), ("name", "left"),
                          ("key", "right"), ("value", "right"), ("max entries", "right"),
                          ("flags", "right"), ("memlock", "right"), ("frozen", "left"),
                          ("btf", "right")):
        table.add_column(name, justify=justify, style="cyan" if name == "id" else None,
                         overflow="fold", no_wrap=name in ("id", "name"))
    for m in infos:
        table.add_row(str(m.id), m.type_name, m.name, f"{m.key_size}B", f"{m.value_size}B",
                      str(m.max_entries), f"{m.flags:#x}",
                      f"{m.memlock}B" if m.memlock is not None else "-",
                      "yes" if m.frozen else "no", str(m.btf_id or "-"))
    return table


def link_table(infos: Sequence[LinkInfo], title: str = "links") -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("id", "type", "prog id", "details"):
        table.add_column(name, style="cyan" if name == "id" else None)
    for link in infos:
        details = "  ".join(f"{k} {v}" for k, v in link.details.items())
        table.add_row(str(link.id), link.type_name, str(link.prog_id), details)
    return table


def detail_table(fields: dict, title: str) -> Table:
    """One object as field/value rows."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in fields.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, str(value))
    return table


def print_xlated(lines: Sequence[XlatedLine], source: bool, opcodes: bool,
                 console: Console) -> None:
    """bpftool's layout: prototypes, ``; C line`` before the instructions it produced."""
    for line in lines:
        if line.proto:
            console.print(f"[bold]{escape(line.proto)}:[/bold]")
        if source and line.source is not None:
            where = f" \\[{escape(str(line.source))}]" if line.source.file else ""
            console.print(f"[green]; {escape(line.source.text.strip())}[/green][dim]{where}[/dim]")
        console.print(f"[cyan]{line.index:>5}[/cyan]: {escape(line.text)}")
        if opcodes:
            console.print(f"[dim]       {line.to_json()['opcodes']}[/dim]")


def print_jited(code: bytes, lines: list[str] | None, console: Console) -> None:
    if lines is None:
        console.print("[dim]objdump not found: raw bytes[/dim]")
        for off in range(0, len(code), 16):
            console.print(f"[cyan]{off:>5x}[/cyan]: {code[off:off + 16].hex(' ')}")
        return
    for text in lines:
        off, _, rest = text.partition(": ")
        console.print(f"[cyan]{off}[/cyan]: {escape(rest)}")


def map_entries_table(name: str, rows: list[dict]) -> Table:
    table = Table(title=name, title_justify="left")
    table.add_column("key", style="cyan")
    table.add_column("value")
    formatted = any("formatted" in r for r in rows)
    if formatted:
        table.add_column("formatted", style="green")
    for r in rows:
        key = " ".join(b[2:] for b in r["key"])
        if "values" in r:
            value = "\n".join(f"cpu{v['cpu']}: " + " ".join(b[2:] for b in v["value"])
                              for v in r["values"])
        else:
            value = " ".join(b[2:] for b in r["value"])
        cells = [key, value]
        if formatted:
            cells.append(str(r.get("formatted", "")))
        table.add_row(*cells)
    table.caption = f"{len(rows)} element{'s' if len(rows) != 1 else ''}"
    return table


def feature_tables(report: dict) -> list[Table]:
    out = []
    for section, suffix, title in (("program_types", "_prog_type", "program types"),
                                   ("map_types", "_map_type", "map types")):
        table = Table(title=title, title_justify="left")
        table.add_column("type")
        table.add_column("available")
        helpers = report.get("helpers", {})
        if section == "program_types" and helpers:
            table.add_column("helpers", justify="right")
        for key, ok in report[section].items():
            name = key[len("have_"):-len(suffix)]
            cells = [name, "[green]yes[/green]" if ok else "[red]no[/red]"]
            if section == "program_types" and helpers:
                cells.append(str(len(helpers.get(f"{name}_available_helpers", []))))
            table.add_row(*cells)
        out.append(table)
    table = Table(title="attach points", title_justify="left")
    table.add_column("kind")
    table.add_column("available")
    table.add_column("why")
    for name, facts in report["attach"].items():
        table.add_row(name, "[green]yes[/green]" if facts["available"] else "[red]no[/red]",
                      escape(facts["reason"]))
    out.append(table)
    table = Table(title="system", title_justify="left")
    table.add_column("sysctl")
    table.add_column("value")
    for name, value in report["system_config"].items():
        table.add_row(name, "-" if value is None else str(value))
    out.append(table)
    return out


__all__ = ["detail_table", "feature_tables", "link_table", "map_entries_table", "map_table",
           "print_jited", "print_xlated", "prog_table"]
