"""A small BTF encoder: the types an object needs to describe its maps, data sections
and functions to libbpf and the kernel (ints, arrays, pointers, structs, vars, datasecs,
func protos and funcs), plus the func_info records of ``.BTF.ext``.

Used by :mod:`pybpf.elf.writer`; :mod:`pybpf.elf.btf` is the reader.
"""

from __future__ import annotations

import struct
from typing import Sequence

BTF_MAGIC = 0xEB9F
BTF_KIND_INT, BTF_KIND_PTR, BTF_KIND_ARRAY, BTF_KIND_STRUCT = 1, 2, 3, 4
BTF_KIND_FUNC, BTF_KIND_FUNC_PROTO, BTF_KIND_VAR, BTF_KIND_DATASEC = 12, 13, 14, 15
BTF_VAR_GLOBAL_ALLOCATED = 1
BTF_FUNC_STATIC, BTF_FUNC_GLOBAL = 0, 1


class BtfBuilder:
    """Just enough BTF for ``.maps`` and data sections: ints, arrays, pointers, structs,
    vars and datasecs."""

    def __init__(self) -> None:
        self.types: list[bytes] = []
        self.strings = bytearray(b"\0")
        self._str: dict[str, int] = {"": 0}
        self._memo: dict[tuple, int] = {}

    def s(self, name: str) -> int:
        if name not in self._str:
            self._str[name] = len(self.strings)
            self.strings += name.encode() + b"\0"
        return self._str[name]

    def _add(self, key: tuple | None, data: bytes) -> int:
        if key is not None and key in self._memo:
            return self._memo[key]
        self.types.append(data)
        tid = len(self.types)
        if key is not None:
            self._memo[key] = tid
        return tid

    @staticmethod
    def _head(name_off: int, kind: int, vlen: int, size_or_type: int) -> bytes:
        return struct.pack("<III", name_off, (kind << 24) | vlen, size_or_type)

    def int_(self, name: str = "int", size: int = 4, signed: bool = True) -> int:
        enc = (1 if signed else 0) << 24 | size * 8
        return self._add(("int", name, size, signed),
                         self._head(self.s(name), BTF_KIND_INT, 0, size) + struct.pack("<I", enc))

    def array(self, elem: int, nelems: int) -> int:
        index = self.int_()
        return self._add(("array", elem, nelems), self._head(0, BTF_KIND_ARRAY, 0, 0)
                         + struct.pack("<III", elem, index, nelems))

    def ptr(self, target: int) -> int:
        return self._add(("ptr", target), self._head(0, BTF_KIND_PTR, 0, target))

    def struct(self, name: str, members: Sequence[tuple[str, int, int]], size: int) -> int:
        """``members``: (name, type id, byte offset)."""
        body = b"".join(struct.pack("<III", self.s(m), t, off * 8) for m, t, off in members)
        return self._add(None, self._head(self.s(name), BTF_KIND_STRUCT, len(members), size)
                         + body)

    def func_proto(self, params: Sequence[tuple[str, int]], ret: int | None = None) -> int:
        """``params``: (name, type id); ``ret`` defaults to int."""
        ret = self.int_() if ret is None else ret
        body = b"".join(struct.pack("<II", self.s(n), t) for n, t in params)
        return self._add(("proto", ret, tuple(params)),
                         self._head(0, BTF_KIND_FUNC_PROTO, len(params), ret) + body)

    def func(self, name: str, proto: int, linkage: int) -> int:
        return self._add(None, self._head(self.s(name), BTF_KIND_FUNC, linkage, proto))

    def var(self, name: str, type_id: int) -> int:
        return self._add(None, self._head(self.s(name), BTF_KIND_VAR, 0, type_id)
                         + struct.pack("<I", BTF_VAR_GLOBAL_ALLOCATED))

    def datasec(self, name: str, entries: Sequence[tuple[int, int, int]], size: int) -> int:
        """``entries``: (var type id, offset, size)."""
        body = b"".join(struct.pack("<III", *e) for e in entries)
        return self._add(None, self._head(self.s(name), BTF_KIND_DATASEC, len(entries), size)
                         + body)

    def data_type(self, size: int) -> int:
        """A type of ``size`` bytes for a variable whose real type is not known here."""
        if size in (1, 2, 4, 8):
            return self.int_({1: "char", 2: "short", 4: "int", 8: "long long"}[size], size)
        return self.array(self.int_("char", 1), size)

    def encode_ext(self, func_info: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> bytes:
        """``.BTF.ext`` with func_info only: per section, (byte offset, FUNC type id)."""
        body = bytearray(struct.pack("<I", 8))
        for sec, records in func_info:
            body += struct.pack("<II", self.s(sec), len(records))
            for off, tid in records:
                body += struct.pack("<II", off, tid)
        header = struct.pack("<HBBIIIII", BTF_MAGIC, 1, 0, 24, 0, len(body), len(body), 0)
        return header + bytes(body)

    def encode(self) -> bytes:
        types = b"".join(self.types)
        strings = bytes(self.strings)
        header = struct.pack("<HBBIIIII", BTF_MAGIC, 1, 0, 24, 0, len(types), len(types),
                             len(strings))
        return header + types + strings
