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
from contextlib import contextmanager
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


# --- map -------------------------------------------------------------------------------


def _map_list(args: argparse.Namespace) -> int:
    from pybpf.kernel import introspect as ki

    words = getattr(args, "object", [])
    if words:
        with _open_map(words) as m:
            info = ki.map_info(m.fd)
        if _json(args):
            _emit(args, info.to_json())
            return 0
        from pybpf.cli.render_kernel import detail_table
        _console().print(detail_table(info.to_json(), f"map {info.id}"))
        return 0
    infos = _every(ki.map_ids, ki.open_map_fd, ki.map_info)
    if _json(args):
        _emit(args, [i.to_json() for i in infos])
        return 0
    from pybpf.cli.render_kernel import map_table
    _console().print(map_table(infos))
    return 0


def _hex_list(data: bytes) -> list[str]:
    return [f"0x{b:02x}" for b in data]


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _codecs(info) -> tuple[Callable | None, Callable | None]:
    """BTF decoders for a map's key and value, when the map has BTF."""
    if not info.btf_id or not info.btf_value_type_id:
        return None, None
    try:
        from pybpf.elf.btf_codec import codec_for
        from pybpf.kernel.introspect import btf_by_id

        btf = btf_by_id(info.btf_id)
        value = codec_for(btf[info.btf_value_type_id]).decode
        key = codec_for(btf[info.btf_key_type_id]).decode if info.btf_key_type_id else None
        return key, value
    except Exception:   # typing is a nicety: never fail a dump over it
        return None, None


def _entry_json(m, info, key: bytes, value: bytes, codecs) -> dict:
    from pybpf.kernel.maps import PERCPU_MAP_TYPES

    out: dict = {"key": _hex_list(key)}
    if m.map_type in PERCPU_MAP_TYPES:
        stride = (m.value_size + 7) // 8 * 8
        out["values"] = [{"cpu": i // stride, "value": _hex_list(value[i:i + m.value_size])}
                         for i in range(0, len(value), stride)]
        return out
    out["value"] = _hex_list(value)
    kdec, vdec = codecs
    if vdec is not None:
        try:
            out["formatted"] = {"key": _jsonable(kdec(key)) if kdec else _hex_list(key),
                                "value": _jsonable(vdec(value))}
        except Exception:
            pass
    return out


def _map_dump(args: argparse.Namespace) -> int:
    from pybpf.kernel import introspect as ki

    with _open_map(args.object) as m:
        info = ki.map_info(m.fd)
        codecs = _codecs(info)
        rows = []
        for key in list(m.keys()):
            try:
                value = m.lookup(key)
            except BpfSyscallError as e:
                if e.errno == errno.ENOENT:
                    continue     # deleted meanwhile
                raise
            rows.append(_entry_json(m, info, key, value, codecs))
    if _json(args):
        _emit(args, rows)
        return 0
    from pybpf.cli.render_kernel import map_entries_table
    _console().print(map_entries_table(f"map {info.id} {info.name}".rstrip(), rows))
    return 0


def _split_kv(words: list[str]) -> tuple[list[str], bytes | None, bytes | None, str | None]:
    """``[obj...] key HEX... [value HEX...] [any|exist|noexist]`` → parts."""
    from pybpf.cli.main import parse_hex

    flag = None
    if words and words[-1] in ("any", "exist", "noexist"):
        flag = words.pop()
    obj, key, value, current = [], None, None, None
    parts: dict[str, list[str]] = {"key": [], "value": []}
    for w in words:
        if w in ("key", "value") and current != w:
            current = w
            continue
        if current is None:
            obj.append(w)
        else:
            parts[current].append(w)

    def parse(tokens: list[str], what: str) -> bytes | None:
        if not tokens:
            return None
        if tokens[0] == "hex":
            tokens = tokens[1:]
        try:
            return parse_hex(" ".join(t[2:] if t.lower().startswith("0x") else t
                                      for t in tokens))
        except BpfError:
            raise BpfError(f"{what}: not hex bytes: {' '.join(tokens)}") from None

    if "key" in words:
        key = parse(parts["key"], "key")
    if "value" in words:
        value = parse(parts["value"], "value")
    return obj, key, value, flag


def _map_lookup(args: argparse.Namespace) -> int:
    obj, key, _, _ = _split_kv(list(args.words))
    with _open_map(obj) as m:
        if key is None and m.key_size:
            raise BpfError("give the key: key HEX")
        try:
            value = m.lookup(key)
        except BpfSyscallError as e:
            if e.errno == errno.ENOENT:
                raise BpfSyscallError(errno.ENOENT, f"key {key.hex(' ') if key else ''} "
                                      "not found") from None
            raise
        from pybpf.kernel import introspect as ki
        info = ki.map_info(m.fd)
        row = _entry_json(m, info, key or b"", value, _codecs(info))
    if _json(args):
        _emit(args, row)
        return 0
    from pybpf.cli.render_kernel import map_entries_table
    _console().print(map_entries_table(f"map {info.id} {info.name}".rstrip(), [row]))
    return 0


@contextmanager
def _frozen_is_eperm(m) -> Iterator[None]:
    """A write refused with EPERM as root: say it is because the map is frozen."""
    try:
        yield
    except BpfSyscallError as e:
        from pybpf.kernel.introspect import map_info

        if e.errno == errno.EPERM and os.geteuid() == 0:
            info = map_info(m.fd)
            why = "frozen" if info.frozen else "read-only for user space"
            raise BpfSyscallError(errno.EPERM, f"map {info.id} is {why}") from None
        raise


def _map_update(args: argparse.Namespace) -> int:
    from pybpf.isa.uapi import BPF_ANY, BPF_EXIST, BPF_NOEXIST

    obj, key, value, flag = _split_kv(list(args.words))
    if value is None:
        raise BpfError("give the value: value HEX")
    flags = {"any": BPF_ANY, "exist": BPF_EXIST, "noexist": BPF_NOEXIST, None: BPF_ANY}[flag]
    with _open_map(obj) as m, _frozen_is_eperm(m):
        m.update(key, value, flags)
    if _json(args):
        _emit(args, None)
    return 0


def _map_delete(args: argparse.Namespace) -> int:
    obj, key, _, _ = _split_kv(list(args.words))
    with _open_map(obj) as m, _frozen_is_eperm(m):
        m.delete(key)
    if _json(args):
        _emit(args, None)
    return 0


def _map_freeze(args: argparse.Namespace) -> int:
    from pybpf.kernel.introspect import freeze

    with _open_map(args.object) as m:
        freeze(m)
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
