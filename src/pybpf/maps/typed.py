"""TypedMap: a map viewed through codecs, so keys and values are Python values.

A codec is any object with ``size``, ``encode(value) -> bytes`` and ``decode(bytes) ->
value``; :func:`pybpf.elf.btf_codec.codec_for` makes one from a BTF type (imported lazily,
only when the map has a BTF type). Without a BTF type, 1/2/4/8-byte keys and values are
little-endian unsigned ints, anything else stays bytes. Bytes of the right size are always
accepted as they are.

Per-CPU maps read as a list (one decoded value per CPU) and take a list or one value for
every CPU. prog_array and map-in-map values are objects on the way in (programs, maps) and
ids (ints) on the way out. Queues, stacks and bloom filters get typed push/pop/peek.
"""

from __future__ import annotations

import errno
from collections.abc import MutableMapping
from typing import Any, Iterator

from pybpf.errors import BpfTypeError, BpfValueError
from pybpf.maps._common import BPF_ANY


class IntCodec:
    """A little-endian unsigned integer of ``size`` bytes (negative ints wrap)."""

    def __init__(self, size: int):
        self.size = size

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BpfTypeError(f"expected an int for a {self.size}-byte field, "
                               f"not {type(value).__name__}")
        if not -(1 << (8 * self.size - 1)) <= value < 1 << (8 * self.size):
            raise BpfValueError(f"{value} does not fit in {self.size} bytes")
        return (value & ((1 << (8 * self.size)) - 1)).to_bytes(self.size, "little")

    def decode(self, raw: bytes) -> int:
        return int.from_bytes(raw, "little")


class BytesCodec:
    """Raw bytes of exactly ``size``."""

    def __init__(self, size: int):
        self.size = size

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise BpfTypeError(f"expected {self.size} bytes, not {type(value).__name__}")
        return bytes(value)

    def decode(self, raw: bytes) -> bytes:
        return bytes(raw)


def default_codec(btf_type: Any, size: int) -> Any:
    """The codec for a field of ``size`` bytes whose BTF type is ``btf_type`` (or None)."""
    if btf_type is not None:
        from pybpf.elf.btf_codec import codec_for   # written alongside; imported on demand

        return codec_for(btf_type)
    return IntCodec(size) if size in (1, 2, 4, 8) else BytesCodec(size)


def _encode(codec: Any, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == codec.size:
        return bytes(value)
    return codec.encode(value)


class TypedMap(MutableMapping):
    """A :class:`~pybpf.maps.Map` with encoded keys and decoded values."""

    def __init__(self, map: Any, key_codec: Any = None, value_codec: Any = None):
        from pybpf.maps.arraymap import FdArray
        from pybpf.maps.map_in_map import HashOfMaps

        self.map = map
        self.key_codec = key_codec or default_codec(map.key_type, map.key_size)
        self._objects = isinstance(map, (FdArray, HashOfMaps))
        self.value_codec = value_codec or (IntCodec(4) if self._objects else
                                           default_codec(map.value_type, map.value_size))

    def _k(self, key: Any) -> Any:
        if self._objects and isinstance(key, int) and not isinstance(key, bool) \
                and self.map.key_size == 4:
            return key.to_bytes(4, "little") if 0 <= key <= 0xFFFFFFFF else key
        return _encode(self.key_codec, key)

    def _v(self, value: Any) -> Any:
        if self._objects:
            return value
        if self.map.percpu and isinstance(value, (list, tuple)):
            return [_encode(self.value_codec, v) for v in value]
        return _encode(self.value_codec, value)

    def _decode(self, raw: Any) -> Any:
        if isinstance(raw, list):
            return [self.value_codec.decode(r) for r in raw]
        return self.value_codec.decode(raw)

    def __getitem__(self, key: Any) -> Any:
        raw = self.map.lookup(self._k(key))
        if raw is None:
            raise KeyError(key)
        return self._decode(raw)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.map.update(self._k(key), self._v(value))

    def set(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """``t[key] = value`` with update flags (BPF_NOEXIST, BPF_EXIST)."""
        self.map.update(self._k(key), self._v(value), flags)

    def __delitem__(self, key: Any) -> None:
        try:
            self.map.delete(self._k(key))
        except OSError as e:
            if e.errno == errno.ENOENT:
                raise KeyError(key) from None
            raise

    def __iter__(self) -> Iterator[Any]:
        for raw in self.map.keys():
            yield self.key_codec.decode(raw)

    def __len__(self) -> int:
        try:
            return len(self.map)
        except TypeError:
            return sum(1 for _ in self.map.keys())

    def __contains__(self, key: Any) -> bool:
        return self.map.lookup(self._k(key)) is not None

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        for raw_key, raw_value in self.map.items():
            yield self.key_codec.decode(raw_key), self._decode(raw_value)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        for _, value in self.items():
            yield value

    # Queue, stack, bloom filter.
    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        self.map.push(_encode(self.value_codec, value), flags)

    def pop(self, *args: Any) -> Any:  # type: ignore[override]
        """Queue/stack: ``pop()`` the next value (None when empty). Keyed maps: the
        ``MutableMapping.pop(key[, default])``."""
        if self.map.key_size:
            return super().pop(*args)
        raw = self.map.pop()
        return None if raw is None else self.value_codec.decode(raw)

    def peek(self, *value: Any) -> Any:
        if value:                                    # bloom filter: membership
            return self.map.peek(_encode(self.value_codec, value[0]))
        raw = self.map.peek()
        return None if raw is None else self.value_codec.decode(raw)

    def __repr__(self) -> str:
        return f"<TypedMap of {self.map!r}>"


__all__ = ["TypedMap", "IntCodec", "BytesCodec", "default_codec"]
