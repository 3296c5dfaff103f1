"""Python values ⇄ bytes by BTF type, for typed map views (``m.typed()``) and globals.

``codec_for(btf_type)`` gives a :class:`Codec` with ``size``, ``encode(value)`` and
``decode(data)``:

- integers (signed/unsigned, char, bool) and enums ⇄ ``int`` (``bool`` for bool);
- floats ⇄ ``float``; pointers ⇄ ``int`` (an address);
- structs and unions ⇄ ``dict`` by member name, bitfields included; members of an
  anonymous struct/union appear at the outer level, as C spells them. Encoding zero-fills
  missing members; an unknown name raises :class:`~pybpf.errors.BpfValueError`;
- arrays ⇄ ``list``; ``char`` arrays ⇄ ``bytes`` (encoding pads with zeros).

Every codec also encodes ``bytes`` of exactly its size unchanged.
"""

from __future__ import annotations

import struct
from typing import Any

from pybpf.elf.btf import Kind, Type, describe
from pybpf.errors import BpfTypeError, BpfValueError


class Codec:
    """Encode/decode one BTF type."""

    size: int = 0
    type: Type | None = None

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == self.size:
            return bytes(value)
        return self._encode(value)

    def decode(self, data: bytes | bytearray | memoryview) -> Any:
        if len(data) != self.size:
            raise BpfValueError(f"{self}: expected {self.size} bytes, got {len(data)}")
        return self._decode(bytes(data))

    def _encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def _decode(self, data: bytes) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        what = describe(self.type) if self.type is not None else "?"
        return f"<{type(self).__name__} {what} ({self.size} bytes)>"


class IntCodec(Codec):
    def __init__(self, t: Type | None, size: int, signed: bool, is_bool: bool = False):
        self.type, self.size, self.signed, self.is_bool = t, size, signed, is_bool

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, int):
            raise BpfTypeError(f"{self}: expected an int, not {type(value).__name__}")
        try:
            return int(value).to_bytes(self.size, "little", signed=self.signed or value < 0)
        except OverflowError:
            raise BpfValueError(f"{self}: {value} does not fit") from None

    def _decode(self, data: bytes) -> Any:
        value = int.from_bytes(data, "little", signed=self.signed)
        return bool(value) if self.is_bool else value


class FloatCodec(Codec):
    _FORMATS = {2: "<e", 4: "<f", 8: "<d"}

    def __init__(self, t: Type, size: int):
        self.type, self.size = t, size
        self._format = self._FORMATS.get(size)

    def _encode(self, value: Any) -> bytes:
        if self._format is None:
            raise BpfValueError(f"{self}: only bytes can be encoded for a {self.size}-byte float")
        if not isinstance(value, (int, float)):
            raise BpfTypeError(f"{self}: expected a float, not {type(value).__name__}")
        return struct.pack(self._format, value)

    def _decode(self, data: bytes) -> Any:
        return struct.unpack(self._format, data)[0] if self._format else data


class ArrayCodec(Codec):
    def __init__(self, t: Type, element: Codec, count: int):
        self.type, self.element, self.count = t, element, count
        self.size = element.size * count

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, (list, tuple)):
            raise BpfTypeError(f"{self}: expected a list, not {type(value).__name__}")
        if len(value) > self.count:
            raise BpfValueError(f"{self}: {len(value)} elements, at most {self.count}")
        out = b"".join(self.element.encode(v) for v in value)
        return out + bytes(self.size - len(out))

    def _decode(self, data: bytes) -> Any:
        n = self.element.size
        return [self.element.decode(data[i * n:(i + 1) * n]) for i in range(self.count)]


class CharArrayCodec(Codec):
    def __init__(self, t: Type, count: int):
        self.type, self.size = t, count

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise BpfTypeError(f"{self}: expected bytes, not {type(value).__name__}")
        if len(value) > self.size:
            raise BpfValueError(f"{self}: {len(value)} bytes, at most {self.size}")
        return bytes(value) + bytes(self.size - len(value))

    def _decode(self, data: bytes) -> Any:
        return data


class _Field:
    __slots__ = ("name", "offset", "bits", "codec", "signed")

    def __init__(self, name: str, offset: int, bits: int, codec: Codec, signed: bool):
        self.name, self.offset, self.bits, self.codec, self.signed = name, offset, bits, codec, signed


class StructCodec(Codec):
    """Structs and unions as dicts; ``offset`` of each field in bits from the start."""

    def __init__(self, t: Type):
        self.type, self.size = t, t.size
        self.fields: dict[str, _Field] = {}
        self._collect(t, 0)

    def _collect(self, t: Type, base: int) -> None:
        for m in t.members:
            mt = m.type.resolve()
            if not m.name and mt.kind in (Kind.STRUCT, Kind.UNION):
                self._collect(mt, base + m.offset)
                continue
            if not m.name:
                continue   # anonymous padding bitfield
            bits = m.bitfield_size
            if not bits and mt.kind is Kind.INT and mt.bits != mt.size * 8:
                bits = mt.bits   # old-style bitfield encoded in the INT
            codec = codec_for(mt)
            self.fields[m.name] = _Field(m.name, base + m.offset + (mt.bit_offset if bits and
                                         not m.bitfield_size else 0), bits, codec,
                                         getattr(codec, "signed", False))

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, dict):
            raise BpfTypeError(f"{self}: expected a dict, not {type(value).__name__}")
        unknown = [k for k in value if k not in self.fields]
        if unknown:
            raise BpfValueError(f"{self}: no member {unknown[0]!r} (members: "
                                f"{', '.join(self.fields)})")
        out = bytearray(self.size)
        for name, v in value.items():
            f = self.fields[name]
            if f.bits:
                if not isinstance(v, int):
                    raise BpfTypeError(f"{self}: bitfield {name} takes an int")
                lo, hi = -(1 << (f.bits - 1)) if f.signed else 0, \
                    (1 << (f.bits - (1 if f.signed else 0))) - 1
                if not lo <= v <= hi:
                    raise BpfValueError(f"{self}: {v} does not fit bitfield {name} "
                                        f"({f.bits} bits)")
                whole = int.from_bytes(out, "little")
                mask = ((1 << f.bits) - 1) << f.offset
                whole = (whole & ~mask) | ((v << f.offset) & mask)
                out[:] = whole.to_bytes(self.size, "little")
            else:
                start = f.offset // 8
                out[start:start + f.codec.size] = f.codec.encode(v)
        return bytes(out)

    def _decode(self, data: bytes) -> Any:
        result: dict[str, Any] = {}
        whole = None
        for name, f in self.fields.items():
            if f.bits:
                if whole is None:
                    whole = int.from_bytes(data, "little")
                v = (whole >> f.offset) & ((1 << f.bits) - 1)
                if f.signed and v >> (f.bits - 1):
                    v -= 1 << f.bits
                result[name] = v
            else:
                start = f.offset // 8
                result[name] = f.codec.decode(data[start:start + f.codec.size])
        return result


def codec_for(t: Type) -> Codec:
    """The codec of a BTF type (typedefs and qualifiers are looked through)."""
    r = t.resolve()
    kind = r.kind
    if kind is Kind.INT:
        return IntCodec(r, r.size, r.signed, r.is_bool)
    if kind in (Kind.ENUM, Kind.ENUM64):
        return IntCodec(r, r.size, r.signed)
    if kind is Kind.PTR:
        return IntCodec(r, 8, False)
    if kind is Kind.FLOAT:
        return FloatCodec(r, r.size)
    if kind is Kind.ARRAY:
        element = r.type.resolve()
        if element.kind is Kind.INT and element.size == 1 and element.is_char:
            return CharArrayCodec(r, r.nelems)
        return ArrayCodec(r, codec_for(element), r.nelems)
    if kind in (Kind.STRUCT, Kind.UNION, Kind.DATASEC):
        if kind is Kind.DATASEC:
            return DatasecCodec(r)
        return StructCodec(r)
    raise BpfValueError(f"no value codec for {describe(r)} ({kind.name})")


class DatasecCodec(StructCodec):
    """A global-data section as a dict of its variables."""

    def __init__(self, t: Type):
        self.type, self.size = t, t.size
        self.fields = {}
        for v in t.vars:
            var = v.type
            if var.kind is not Kind.VAR:
                continue
            codec = codec_for(var.type)
            self.fields[var.name] = _Field(var.name, v.offset * 8, 0, codec,
                                           getattr(codec, "signed", False))
