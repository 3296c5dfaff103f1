"""``pybpf map ...``: list, dump, lookup, update, delete and freeze kernel maps, with
bpftool's JSON field names (the shared naming and output helpers are in kernel_cmds)."""

from __future__ import annotations

import argparse
import errno
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from pybpf.cli.kernel_cmds import _console, _emit, _every, _json, _open_map
from pybpf.errors import BpfError, BpfSyscallError


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
