"""Maps to and from JSON, for ``pybpf run --map NAME=FILE.json`` and ``--dump-maps``.

Two spellings of the entries, one JSON object per map:

- hex: ``{"0a420001": "0100000000000000"}``; every key and value a string of hex digits
  (whitespace allowed) of exactly the key and value size (per-CPU maps: a list of values,
  one per CPU, or one value for all of them);
- typed, through the map's BTF (``m.typed()``): ``{"53": {"packets": 0}}``; a key
  that is a number is given as its decimal (or 0x) string, a struct key as a JSON object
  in the string, values as JSON numbers, objects and arrays.

A file is read as hex when every key and value fits the hex spelling; otherwise typed.
Dumps are typed where the map has BTF for its key and value, else hex.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from pybpf.errors import BpfError
from pybpf.isa.uapi import MapType

# Maps whose entries are not key/value data one can list or fill from a file.
_NOT_DUMPED = {MapType.RINGBUF, MapType.USER_RINGBUF, MapType.PERF_EVENT_ARRAY,
               MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER}


def _hex(text: Any) -> bytes | None:
    if not isinstance(text, str):
        return None
    digits = "".join(text.split())
    if digits[:2] in ("0x", "0X"):
        digits = digits[2:]
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return None


def _hex_value(value: Any, size: int) -> bytes | list[bytes] | None:
    if isinstance(value, list):
        parts = [_hex(v) for v in value]
        if value and all(p is not None and len(p) == size for p in parts):
            return parts    # type: ignore[return-value]
        return None
    raw = _hex(value)
    return raw if raw is not None and len(raw) == size else None


def _is_hex_file(m: Any, entries: Mapping[str, Any]) -> bool:
    for key, value in entries.items():
        k = _hex(key)
        if k is None or len(k) != m.key_size or _hex_value(value, m.value_size) is None:
            return False
    return True


def _typed_key(key: str) -> Any:
    text = key.strip()
    if text[:1] in ("{", "["):
        return json.loads(text)
    try:
        return int(text, 0)
    except ValueError:
        return text


def _has_btf(m: Any) -> bool:
    return getattr(m, "key_type", None) is not None and getattr(m, "value_type", None) is not None


def fill_map(m: Any, entries: Any, source: str = "--map") -> int:
    """Store ``entries`` (a JSON object, see the module docstring) in map ``m``;
    returns how many. Errors name ``source`` and the entry."""
    if not isinstance(entries, dict):
        raise BpfError(f"{source}: expected a JSON object of key: value entries, "
                       f"not {type(entries).__name__}")
    if _is_hex_file(m, entries):
        for key, value in entries.items():
            try:
                m.update(_hex(key), _hex_value(value, m.value_size))
            except (BpfError, OSError, ValueError, TypeError) as e:
                raise BpfError(f"{source}: entry {key!r}: {e}") from None
        return len(entries)
    if not _has_btf(m) or not hasattr(m, "typed"):
        bad = next(iter(entries))
        raise BpfError(f"{source}: entry {bad!r}: map {getattr(m, 'name', '')!r} has no BTF "
                       f"types, so entries must be hex of {m.key_size}-byte keys and "
                       f"{m.value_size}-byte values")
    view = m.typed()
    for key, value in entries.items():
        try:
            view[_typed_key(key)] = value
        except (BpfError, OSError, ValueError, TypeError, KeyError) as e:
            raise BpfError(f"{source}: entry {key!r}: {e}") from None
    return len(entries)


def _json_key(key: Any) -> str:
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).hex()
    if isinstance(key, (dict, list)):
        return json.dumps(_jsonable(key), sort_keys=False, separators=(",", ":"))
    return str(key)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def dumpable(m: Any) -> bool:
    kind = getattr(m, "type", None)
    if kind is None:
        kind = getattr(m, "map_type", None)
    return kind not in _NOT_DUMPED


def map_entries(m: Any, typed: bool = True) -> dict[str, Any]:
    """The map's entries as JSON-ready data: typed where it has BTF, else hex."""
    if typed and _has_btf(m) and hasattr(m, "typed"):
        try:
            return {_json_key(k): _jsonable(v) for k, v in m.typed().items()}
        except (BpfError, NotImplementedError, TypeError, ValueError):
            pass   # a type the view cannot decode: fall back to hex
    return {bytes(k).hex(): _jsonable(v) for k, v in m.items()}


def global_variables(m: Any, spec: Any) -> dict[str, Any]:
    """A global-data map (``.rodata``, ``.bss``...) as its variables by name: integers
    of 1, 2, 4 or 8 bytes as numbers, anything else as hex."""
    raw = m.lookup(bytes(m.key_size))
    raw = bytes(raw[0] if isinstance(raw, list) else raw or b"")
    out: dict[str, Any] = {}
    for name, var in sorted(spec.variables.items(), key=lambda kv: kv[1].offset):
        value = raw[var.offset:var.offset + var.size]
        btf = var.type
        is_int = getattr(btf, "is_int", btf is None) if btf is not None else True
        if is_int and var.size in (1, 2, 4, 8):
            out[name] = int.from_bytes(value, "little", signed=bool(getattr(btf, "signed", False)))
        else:
            out[name] = value.hex()
    return out


def dump_maps(maps: Mapping[str, Any], typed: bool = True,
              specs: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Every listable map by name (ring buffers, queues... are left out). With the
    object's map ``specs``, global-data maps are shown as their variables."""
    out = {}
    for name, m in maps.items():
        if not dumpable(m):
            continue
        spec = (specs or {}).get(name)
        if typed and spec is not None and getattr(spec, "variables", None):
            try:
                out[name] = global_variables(m, spec)
                continue
            except (BpfError, OSError, TypeError, ValueError):
                pass
        out[name] = map_entries(m, typed)
    return out


def drain_ring_buffers(maps: Mapping[str, Any]) -> dict[str, list[str]]:
    """Consume every BPF ring buffer: its records in order, as hex, by map name."""
    from pybpf import RingBuffer

    out: dict[str, list[str]] = {}
    for name, m in maps.items():
        if getattr(m, "type", getattr(m, "map_type", None)) != MapType.RINGBUF:
            continue
        records: list[str] = []
        RingBuffer(m, lambda data: records.append(bytes(data).hex())).poll()
        out[name] = records
    return out


def load_json(path: str, what: str) -> Any:
    """Read a JSON file; one-line BpfError naming the file and the position on failure."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise BpfError(f"{what}: {path}: cannot read: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BpfError(f"{what}: {path}: not JSON: {e}") from None
