"""``pybpf prog|map|link|btf|feature``: bpftool's everyday inspection commands.

Objects are named as bpftool names them: ``ID`` or ``id ID``, ``pinned PATH``, ``name
NAME``, ``tag TAG`` (programs). ``-j``/``-p`` print JSON with bpftool's field names. Keys
and values are hex bytes (``01 00 00 00``, ``01000000`` or ``hex 01 00 00 00``).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
from typing import Any, Callable, Iterator

from pybpf.errors import BpfError, BpfSyscallError

_PROG_WORDS = ("id", "pinned", "name", "tag")
_MAP_WORDS = ("id", "pinned", "name")


def _emit(args: argparse.Namespace, data: Any) -> None:
    print(json.dumps(data, indent=4 if getattr(args, "pretty", False) else None))


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "pretty", False))


def _console():
    from rich.console import Console

    return Console()


# --- naming objects ------------------------------------------------------------------


def _spec(words: list[str], allowed: tuple[str, ...], what: str) -> tuple[str, str]:
    """``("id", "5")`` from ``["5"]`` or ``["id", "5"]``; ``("pinned", path)`` ..."""
    if len(words) == 1 and words[0].isdigit():
        return "id", words[0]
    if len(words) == 2 and words[0] in allowed:
        if words[0] == "id" and not words[1].isdigit():
            raise BpfError(f"{what} id must be a number, not {words[1]!r}")
        return words[0], words[1]
    raise BpfError(f"name a {what} as ID or {' | '.join(w + ' X' for w in allowed)} "
                   f"(got {' '.join(words) or 'nothing'})")


def _open_progs(words: list[str]) -> Iterator[tuple[Any, Any]]:
    """``(fd, ProgInfo)`` of every program the words name (name/tag may match several)."""
    from pybpf.kernel import introspect as ki

    kind, value = _spec(words, _PROG_WORDS, "program")
    if kind == "id":
        fd = ki.open_prog(int(value))
        yield fd, ki.prog_info(fd)
        return
    if kind == "pinned":
        fd = ki.open_pinned(value)
        if ki.object_kind(fd) != "prog":
            raise BpfError(f"{value} is a pinned {ki.object_kind(fd)}, not a program")
        yield fd, ki.prog_info(fd)
        return
    found = False
    for prog_id in ki.prog_ids():
        try:
            fd = ki.open_prog(prog_id)
        except BpfSyscallError:
            continue          # unloaded meanwhile
        info = ki.prog_info(fd)
        if (kind == "name" and info.name == value) or (kind == "tag" and info.tag == value.lower()):
            found = True
            yield fd, info
        else:
            fd.close()
    if not found:
        raise BpfSyscallError(errno.ENOENT, f"no program with {kind} {value}")


def _every(ids: Any, open_one: Any, info: Any) -> list:
    """The info of every object ``ids()`` lists (skipping any unloaded meanwhile)."""
    infos = []
    for obj_id in ids():
        try:
            with open_one(obj_id) as fd:
                infos.append(info(fd))
        except BpfSyscallError as e:
            if e.errno != errno.ENOENT:
                raise
    return infos


def _one_prog(words: list[str]):
    progs = list(_open_progs(words))
    if len(progs) > 1:
        ids = ", ".join(str(info.id) for _, info in progs)
        raise BpfError(f"{' '.join(words)} names {len(progs)} programs ({ids}): use an id")
    return progs[0]


def _open_map(words: list[str]):
    """A KernelMap for the map the words name."""
    from pybpf.kernel import introspect as ki
    from pybpf.kernel.maps import KernelMap

    kind, value = _spec(words, _MAP_WORDS, "map")
    if kind == "id":
        return ki.open_map(int(value))
    if kind == "pinned":
        fd = ki.open_pinned(value)
        if ki.object_kind(fd) != "map":
            raise BpfError(f"{value} is a pinned {ki.object_kind(fd)}, not a map")
        info = ki.map_info(fd)
        return KernelMap.borrow(fd.detach(), info.type, info.key_size, info.value_size,
                                info.max_entries, info.flags, info.name)
    for map_id in ki.map_ids():
        try:
            m = ki.open_map(map_id)
        except BpfSyscallError:
            continue
        if m.name == value:
            return m
        m.close()
    raise BpfSyscallError(errno.ENOENT, f"no map named {value}")


# --- prog ------------------------------------------------------------------------------


def _prog_list(args: argparse.Namespace) -> int:
    from pybpf.kernel import introspect as ki

    words = getattr(args, "object", [])
    if words:
        progs = list(_open_progs(words))
        infos = [info for _, info in progs]
        for fd, _ in progs:
            fd.close()
        if _json(args):
            by_id = words[0] not in ("name", "tag")     # bpftool: one object, else a list
            _emit(args, infos[0].to_json() if by_id else [i.to_json() for i in infos])
            return 0
        if len(infos) == 1:
            from pybpf.cli.render_kernel import detail_table
            _console().print(detail_table(infos[0].to_json(), f"program {infos[0].id}"))
            return 0
    else:
        infos = _every(ki.prog_ids, ki.open_prog, ki.prog_info)
    if _json(args):
        _emit(args, [i.to_json() for i in infos])
        return 0
    from pybpf.cli.render_kernel import prog_table
    _console().print(prog_table(infos))
    return 0


def _prog_dump(args: argparse.Namespace) -> int:
    from pybpf.kernel import introspect as ki

    words = list(args.object)
    opcodes = args.opcodes
    for flag in ("opcodes", "linum"):
        if flag in words[1:]:
            words.remove(flag)
            opcodes = opcodes or flag == "opcodes"
    fd, info = _one_prog(words)
    with fd:
        if args.what == "xlated":
            lines = ki.prog_listing(fd)
            if _json(args):
                out = [line.to_json() for line in lines]    # src always, as bpftool
                if not opcodes:
                    for item in out:
                        item.pop("opcodes", None)
                _emit(args, out)
                return 0
            from pybpf.cli.render_kernel import print_xlated
            print_xlated(lines, args.source, opcodes, _console())
            return 0
        code = ki.prog_jited(fd)
        if not code:
            raise BpfError(f"program {info.id} is not JIT-compiled")
    native = ki.disassemble_native(code)
    if _json(args):
        insns = []
        for text in native or []:
            pc, _, rest = text.partition(": ")
            raw, _, asm = rest.partition("  ")
            operation, _, operands = asm.strip().partition(" ")
            insns.append({"pc": f"0x{pc.strip()}", "opcodes": raw.strip(),
                          "operation": operation, "operands": operands.strip()})
        _emit(args, [{"name": info.name, "bytes_jited": len(code), "hex": code.hex(),
                      "insns": insns}])
        return 0
    from pybpf.cli.render_kernel import print_jited
    print_jited(code, native, _console())
    return 0


def _pin(args: argparse.Namespace) -> int:
    from pybpf.kernel import introspect as ki

    if args.noun == "prog":
        fd, _ = _one_prog(args.object)
    else:
        fd = _open_map(args.object).fd
    with fd:
        ki.pin(fd, args.path)
    return 0


# --- link, btf, feature ------------------------------------------------------------------


def _link_list(args: argparse.Namespace) -> int:
    from pybpf.kernel import introspect as ki

    infos = _every(ki.link_ids, ki.open_link, ki.link_info)
    if _json(args):
        _emit(args, [i.to_json() for i in infos])
        return 0
    from pybpf.cli.render_kernel import link_table
    _console().print(link_table(infos))
    return 0


def _btf_list(args: argparse.Namespace) -> int:
    from pybpf.kernel import introspect as ki

    infos = [i.to_json() for i in _every(ki.btf_ids, ki.open_btf, ki.btf_info)]
    if _json(args):
        _emit(args, infos)
        return 0
    from pybpf.cli.render_kernel import detail_table
    console = _console()
    for info in infos:
        console.print(detail_table(info, f"btf {info['id']}"))
    return 0


def _feature(args: argparse.Namespace) -> int:
    from pybpf.kernel import feature

    report = feature.report(with_helpers=not args.no_helpers)
    if _json(args):
        _emit(args, report)
        return 0
    from pybpf.cli.render_kernel import feature_tables
    console = _console()
    for table in feature_tables(report):
        console.print(table)
    return 0


# --- wiring ------------------------------------------------------------------------------


def _run(func: Callable[[argparse.Namespace], int], name: str):
    """Wrap a command: errors name the subcommand and read as one line with the errno."""

    def run(args: argparse.Namespace) -> int:
        args.command = name          # main() prints "pybpf <command>: error: ..."
        try:
            return func(args)
        except BpfSyscallError as e:
            err = e.errno or 0
            text = e.strerror or str(e)
            plain = os.strerror(err) if err else ""
            if plain and f": {plain} (" in text:
                text = text.replace(f": {plain} (", " (")
            if err == errno.EPERM and os.geteuid() != 0:
                text = ("not permitted: inspecting BPF objects needs root "
                        "(CAP_SYS_ADMIN, or CAP_BPF for some commands) (EPERM)")
            raise BpfError(text) from None
        except BrokenPipeError:
            raise
        except OSError as e:          # /proc or a pin path: say which file, no traceback
            raise BpfError(f"{e.filename or ''}: {e.strerror}".lstrip(": ")) from None

    return run


def _output_flags(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a flag given at the noun level (pybpf prog -j show) is not reset here
    p.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS,
                   help="JSON output (bpftool's field names)")
    p.add_argument("-p", "--pretty", action="store_true", default=argparse.SUPPRESS,
                   help="pretty-printed JSON")


def register(sub: argparse._SubParsersAction) -> None:
    from pybpf.cli.map_cmds import (_map_delete, _map_dump, _map_freeze, _map_list,
                                    _map_lookup, _map_update)

    """Add ``prog``, ``map``, ``link``, ``btf`` and ``feature`` to the pybpf parser."""
    prog = sub.add_parser("prog", help="loaded BPF programs (bpftool prog)")
    _output_flags(prog)
    verbs = prog.add_subparsers(dest="verb", required=True)
    for verb in ("show", "list"):
        p = verbs.add_parser(verb, help="list programs, or show one (ID | name N | tag T | "
                                        "pinned P)")
        p.add_argument("object", nargs="*", help="ID, id ID, name NAME, tag TAG, pinned PATH")
        _output_flags(p)
        p.set_defaults(func=_run(_prog_list, f"prog {verb}"))
    p = verbs.add_parser("dump", help="a program's xlated instructions or JIT code")
    p.add_argument("what", choices=("xlated", "jited"))
    p.add_argument("object", nargs="+", help="ID, id ID, name NAME, tag TAG, pinned PATH")
    p.add_argument("--source", "-S", action="store_true",
                   help="xlated: interleave the C source lines (from the program's BTF)")
    p.add_argument("--opcodes", action="store_true", help="xlated: show the raw bytes")
    _output_flags(p)
    p.set_defaults(func=_run(_prog_dump, "prog dump"))
    p = verbs.add_parser("pin", help="pin a program in a BPF filesystem")
    p.add_argument("object", nargs="+")
    p.add_argument("path")
    p.set_defaults(func=_run(_pin, "prog pin"), noun="prog")

    maps = sub.add_parser("map", help="BPF maps (bpftool map)")
    _output_flags(maps)
    verbs = maps.add_subparsers(dest="verb", required=True)
    for verb in ("show", "list"):
        p = verbs.add_parser(verb, help="list maps, or show one (ID | name N | pinned P)")
        p.add_argument("object", nargs="*")
        _output_flags(p)
        p.set_defaults(func=_run(_map_list, f"map {verb}"))
    for verb, func, usage in (
            ("dump", _map_dump, None), ("freeze", _map_freeze, None),
            ("lookup", _map_lookup, "MAP key HEX"),
            ("update", _map_update, "MAP key HEX value HEX [any|exist|noexist]"),
            ("delete", _map_delete, "MAP key HEX")):
        p = verbs.add_parser(verb, help=f"{verb} " + (usage or "MAP"))
        if usage:
            p.add_argument("words", nargs="+", metavar="ARG", help=usage)
        else:
            p.add_argument("object", nargs="+", help="ID, id ID, name NAME, pinned PATH")
        _output_flags(p)
        p.set_defaults(func=_run(func, f"map {verb}"))
    p = verbs.add_parser("pin", help="pin a map in a BPF filesystem")
    p.add_argument("object", nargs="+")
    p.add_argument("path")
    p.set_defaults(func=_run(_pin, "map pin"), noun="map")

    for noun, func, text in (("link", _link_list, "BPF links"), ("btf", _btf_list, "BTF objects")):
        p = sub.add_parser(noun, help=f"{text} (bpftool {noun} show)")
        _output_flags(p)
        verbs = p.add_subparsers(dest="verb", required=True)
        for verb in ("show", "list"):
            v = verbs.add_parser(verb, help=f"list {text}")
            _output_flags(v)
            v.set_defaults(func=_run(func, f"{noun} {verb}"))

    p = sub.add_parser("feature", help="what this kernel supports (bpftool feature probe)")
    p.add_argument("words", nargs="*", help="optional: probe kernel (as bpftool spells it)")
    p.add_argument("--no-helpers", action="store_true", help="skip the per-type helper probes")
    _output_flags(p)
    p.set_defaults(func=_run(_feature, "feature"))


__all__ = ["register"]
