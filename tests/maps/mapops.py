"""Run one script of map operations on a userspace map or a KernelMap, with the results
normalised (values as bytes/lists, None for "absent", errno names for refusals), so that the
two can be compared with each other and with answers recorded from the kernel."""

from __future__ import annotations

import errno
import struct
from typing import Any

from pybpf.isa.uapi import MapType
from pybpf.kernel.maps import PERCPU_MAP_TYPES, KernelMap

ENOTSUPP = 524


def k32(i: int) -> bytes:
    return struct.pack("<I", i)


def errname(e: OSError) -> str:
    return "ENOTSUPP" if e.errno == ENOTSUPP else errno.errorcode.get(e.errno, str(e.errno))


def _kernel_op(m: KernelMap, op: tuple, cpus: int) -> Any:
    name, *args = op
    percpu = m.map_type in PERCPU_MAP_TYPES
    try:
        if name == "update":
            key, value, flags = args
            if percpu:
                stride = (m.value_size + 7) // 8 * 8
                values = value if isinstance(value, list) else [value] * cpus
                value = b"".join(v.ljust(stride, b"\0") for v in values)
            m.update(key, value, flags)
            return "ok"
        if name == "lookup":
            return m.lookup_percpu(args[0]) if percpu else m.lookup(args[0])
        if name == "delete":
            m.delete(args[0])
            return "ok"
        if name == "next":
            return m.next_key(args[0])
        if name == "push":
            m.push(args[0], args[1] if len(args) > 1 else 0)
            return "ok"
        if name == "pop":
            return m.lookup_and_delete(None)
        if name == "peek":
            return m.lookup(None)
        if name == "contains":                       # bloom filter
            m.peek(args[0])
            return True
        if name == "keys":
            return list(m.keys())
        if name == "keyset":
            return sorted(m.keys())
        if name == "lookup_and_delete":
            v = m.lookup_and_delete(args[0])
            return [v[i:i + m.value_size] for i in range(0, len(v), (m.value_size + 7) // 8 * 8)] \
                if percpu else v
    except OSError as e:
        if e.errno == errno.ENOENT and name in ("lookup", "pop", "peek"):
            return None
        if e.errno == errno.ENOENT and name == "contains":
            return False
        return errname(e)
    raise ValueError(op)


def _user_op(m: Any, op: tuple) -> Any:
    name, *args = op
    try:
        if name == "update":
            m.update(*args)
            return "ok"
        if name == "lookup":
            return m.lookup(args[0])
        if name == "delete":
            m.delete(args[0])
            return "ok"
        if name == "next":
            return m.next_key(args[0])
        if name == "push":
            m.push(*args)
            return "ok"
        if name == "pop":
            return m.pop()
        if name == "peek":
            return m.peek()
        if name == "contains":
            return m.peek(args[0])
        if name == "keys":
            return list(m.keys())
        if name == "keyset":
            return sorted(m.keys())
        if name == "lookup_and_delete":
            return m.lookup_and_delete(args[0])
    except OSError as e:
        return errname(e)
    raise ValueError(op)


def run_user(m: Any, ops: list[tuple]) -> list[Any]:
    return [_user_op(m, op) for op in ops]


def run_kernel(m: KernelMap, ops: list[tuple], cpus: int = 1) -> list[Any]:
    return [_kernel_op(m, op, cpus) for op in ops]


def kernel_map(map_type: MapType, key_size: int, value_size: int, max_entries: int,
               flags: int = 0, **kw: Any) -> KernelMap:
    return KernelMap(map_type, key_size, value_size, max_entries, flags, **kw)
