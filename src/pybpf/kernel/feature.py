"""What this kernel supports: program types, map types, helpers per program type, and the
attach points the machine offers, probed the way ``bpftool feature probe`` does.

A program type is probed by loading ``r0 = 0; exit`` as that type (with the attach type,
flags or BTF target the type needs); a map type by creating a one-element map of it. A
load refused *by the verifier* (a log came back) still proves the type exists: types such
as struct_ops cannot load without a real target. A helper is available to a program type
unless the verifier says the type cannot call it. Answers are cached for the process.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass
from functools import cache

from pybpf.errors import BpfSyscallError
from pybpf.isa.uapi import AttachType, Cmd, HelperId, MapType, ProgType, helper_name
from pybpf.kernel.fd import Fd
from pybpf.kernel.syscall import ENOTSUPP, BpfAttr, address, bpf

BPF_F_NO_PREALLOC = 1 << 0
BPF_F_MMAPABLE = 1 << 10
BPF_F_SLEEPABLE = 1 << 4
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_TRIVIAL = bytes.fromhex("b700000000000000" "9500000000000000")       # r0 = 0; exit
_NOT_ALLOWED = ("invalid func ", "unknown func ", "cannot use helper", "cannot call helper")


@dataclass(frozen=True)
class Probe:
    """One probe's answer: ``supported``, and why (the errno or log line that decided)."""

    supported: bool
    reason: str

    def __bool__(self) -> bool:
        return self.supported


def _errname(err: int) -> str:
    return "ENOTSUPP" if err == ENOTSUPP else errno.errorcode.get(err, str(err))


# --- program types ----------------------------------------------------------------------

# What each type needs to get past BPF_PROG_LOAD's own checks: expected attach type,
# flags, and a (deliberately bogus) BTF target for the types that attach by BTF id.
_PROG_SETUP: dict[ProgType, dict] = {
    ProgType.CGROUP_SOCK_ADDR: {"expected_attach_type": AttachType.CGROUP_INET4_CONNECT},
    ProgType.CGROUP_SOCKOPT: {"expected_attach_type": AttachType.CGROUP_GETSOCKOPT},
    ProgType.SK_LOOKUP: {"expected_attach_type": AttachType.SK_LOOKUP},
    ProgType.LIRC_MODE2: {"expected_attach_type": AttachType.LIRC_MODE2},
    ProgType.NETFILTER: {"expected_attach_type": AttachType.NETFILTER},
    ProgType.SYSCALL: {"prog_flags": BPF_F_SLEEPABLE},
    ProgType.TRACING: {"expected_attach_type": AttachType.TRACE_FENTRY, "attach_btf_id": 1},
    ProgType.LSM: {"expected_attach_type": AttachType.LSM_MAC, "attach_btf_id": 1},
    ProgType.EXT: {"attach_btf_id": 1},
    ProgType.STRUCT_OPS: {"attach_btf_id": 1},
}


def _load(prog_type: int, code: bytes, log_size: int = 4096) -> tuple[int, str]:
    """BPF_PROG_LOAD ``code``; ``(0, "")`` when it loaded, else ``(errno, log)``."""
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(log_size)
    attr = BpfAttr()
    p = attr.prog_load
    p.prog_type, p.insn_cnt = prog_type, len(code) // 8
    p.insns, p.license = address(insns), address(lic)
    p.log_level, p.log_size, p.log_buf = 1, log_size, address(log)
    for name, value in _PROG_SETUP.get(prog_type, {}).items():
        setattr(p, name, value)
    try:
        os.close(bpf(Cmd.PROG_LOAD, attr))
    except BpfSyscallError as e:
        return e.errno or 0, log.value.decode("utf-8", "replace")
    return 0, ""


@cache
def prog_type(kind: ProgType | int) -> Probe:
    """Whether this kernel knows program type ``kind`` (and lets this process load it)."""
    err, log = _load(int(kind), _TRIVIAL)     # a number pybpf has no name for is probed too
    if err == 0:
        return Probe(True, "loaded")
    first = next((line for line in log.splitlines() if line.strip()), "")
    if first:       # the verifier saw it: the type exists, the probe program is just wrong
        return Probe(True, f"{_errname(err)} from the verifier: {first}")
    if err == errno.EPERM:
        return Probe(False, "EPERM: loading this type is not permitted here")
    if err == errno.EINVAL:
        return Probe(False, "EINVAL: unknown program type (or not built into this kernel)")
    text = "not supported" if err == ENOTSUPP else os.strerror(err)
    return Probe(False, f"{_errname(err)}: {text}")


def prog_types() -> dict[ProgType, Probe]:
    """Every program type pybpf knows, probed."""
    return {t: prog_type(t) for t in ProgType if t != ProgType.UNSPEC}


@cache
def _loads_trivially(kind: int) -> bool:
    return _load(kind, _TRIVIAL)[0] == 0


@cache
def helper(kind: ProgType | int, helper_id: int) -> bool:
    """Whether programs of type ``kind`` may call helper ``helper_id`` here (False when the
    type itself cannot be loaded by a probe)."""
    kind = int(kind)
    if not _loads_trivially(kind):
        return False
    call = struct.pack("<BBhi", 0x85, 0, 0, helper_id)
    err, log = _load(kind, call + _TRIVIAL, log_size=16384)
    return err == 0 or not any(marker in log for marker in _NOT_ALLOWED)


def helpers(kind: ProgType | int) -> list[int]:
    """The helper ids programs of type ``kind`` may call."""
    return [h for h in HelperId if h != 0 and helper(kind, h)]


# --- map types --------------------------------------------------------------------------


class _BtfLoad(ctypes.Structure):
    _fields_ = [("btf", ctypes.c_uint64), ("btf_log_buf", ctypes.c_uint64),
                ("btf_size", ctypes.c_uint32), ("btf_log_size", ctypes.c_uint32),
                ("btf_log_level", ctypes.c_uint32)]


def _storage_btf() -> Fd:
    """BTF with ``[1] int`` and ``[2] struct val { int cnt; }``: local-storage maps need a
    BTF-described key and value."""
    strings = b"\0int\0val\0cnt\0"
    types = (struct.pack("<IIII", 1, 1 << 24, 4, (1 << 24) | 32)                    # int
             + struct.pack("<III", 5, (4 << 24) | 1, 4) + struct.pack("<III", 9, 1, 0))
    raw = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types),
                      len(strings)) + types + strings
    buf = ctypes.create_string_buffer(raw, len(raw))
    attr = _BtfLoad(btf=address(buf), btf_size=len(raw))
    return Fd(bpf(Cmd.BTF_LOAD, attr))  # type: ignore[arg-type]


_STORAGE = (MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE,
            MapType.CGRP_STORAGE)


def _map_params(kind: int) -> dict:
    if kind == MapType.LPM_TRIE:
        return dict(key_size=8, value_size=8, max_entries=1, map_flags=BPF_F_NO_PREALLOC)
    if kind == MapType.STACK_TRACE:
        return dict(key_size=4, value_size=8, max_entries=1)
    if kind in (MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER):
        return dict(key_size=0, value_size=4, max_entries=1)
    if kind in (MapType.RINGBUF, MapType.USER_RINGBUF):
        return dict(key_size=0, value_size=0, max_entries=PAGE_SIZE)
    if kind in (MapType.CGROUP_STORAGE, MapType.PERCPU_CGROUP_STORAGE):
        return dict(key_size=8, value_size=4, max_entries=0)
    if kind in _STORAGE:
        return dict(key_size=4, value_size=4, max_entries=0, map_flags=BPF_F_NO_PREALLOC,
                    btf_key_type_id=1, btf_value_type_id=2)
    if kind == MapType.ARENA:
        return dict(key_size=0, value_size=0, max_entries=1, map_flags=BPF_F_MMAPABLE)
    if kind == MapType.STRUCT_OPS:  # a bogus vmlinux type: ENOTSUPP proves the type exists
        return dict(key_size=4, value_size=4, max_entries=1, btf_vmlinux_value_type_id=1)
    return dict(key_size=4, value_size=4, max_entries=1)


def _create(kind: int, params: dict, inner: Fd | None = None,
            btf: Fd | None = None) -> int:
    attr = BpfAttr()
    a = attr.map_create
    a.map_type = kind
    for name, value in params.items():
        setattr(a, name, value)
    if inner is not None:
        a.inner_map_fd = inner.fileno()
    if btf is not None:
        a.btf_fd = btf.fileno()
    try:
        os.close(bpf(Cmd.MAP_CREATE, attr))
    except BpfSyscallError as e:
        return e.errno or 0
    return 0


@cache
def map_type(kind: MapType | int) -> Probe:
    """Whether this kernel can create maps of type ``kind``."""
    kind = MapType(kind) if kind in MapType._value2member_map_ else int(kind)
    params = _map_params(kind)  # type: ignore[arg-type]
    inner = btf = None
    try:
        if kind in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            inner_attr = BpfAttr()
            m = inner_attr.map_create
            m.map_type, m.key_size, m.value_size, m.max_entries = MapType.ARRAY, 4, 4, 1
            inner = Fd(bpf(Cmd.MAP_CREATE, inner_attr))
        if kind in _STORAGE:
            btf = _storage_btf()
        err = _create(kind, params, inner, btf)
    except BpfSyscallError as e:
        return Probe(False, f"{_errname(e.errno or 0)}: the probe's helper object failed")
    finally:
        for fd in (inner, btf):
            if fd is not None:
                fd.close()
    if err == 0:
        return Probe(True, "created")
    if kind == MapType.STRUCT_OPS and err == ENOTSUPP:
        return Probe(True, "ENOTSUPP for a bogus struct_ops type: the map type exists")
    if err == errno.EPERM:
        return Probe(False, "EPERM: creating this type is not permitted here")
    if err == errno.EINVAL:
        return Probe(False, "EINVAL: unknown map type (or not built into this kernel)")
    return Probe(False, f"{_errname(err)}: {os.strerror(err)}")


def map_types() -> dict[MapType, Probe]:
    """Every map type pybpf knows, probed."""
    return {t: map_type(t) for t in MapType if t != MapType.UNSPEC}


# --- attach points and system configuration ----------------------------------------------


def _tracefs_file(name: str) -> str | None:
    for root in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        path = os.path.join(root, name)
        if os.path.exists(path):
            return path
    return None


def attach_points() -> dict[str, Probe]:
    """kprobe, uprobe, tracepoint and fentry availability from what the machine offers:
    the perf PMUs in sysfs, tracefs, and whether tracing programs may be loaded."""
    pmus = "/sys/bus/event_source/devices"
    out: dict[str, Probe] = {}
    for kind in ("kprobe", "uprobe", "tracepoint"):
        if os.path.isdir(os.path.join(pmus, kind)):
            out[kind] = Probe(True, f"{pmus}/{kind} PMU")
            continue
        legacy = _tracefs_file(f"{kind}_events") if kind != "tracepoint" else None
        if legacy:
            out[kind] = Probe(True, f"no {kind} PMU; legacy {legacy}")
        else:
            out[kind] = Probe(False, f"no {kind} PMU in {pmus}"
                              + (f" and no tracefs {kind}_events" if kind != "tracepoint"
                                 else ""))
    tracing = prog_type(ProgType.TRACING)
    out["fentry"] = Probe(tracing.supported, f"tracing programs: {tracing.reason}")
    out["raw_tracepoint"] = prog_type(ProgType.RAW_TRACEPOINT)
    return out


def system_config() -> dict[str, int | None]:
    """The sysctls bpftool reports (``None`` where this kernel has none)."""
    out: dict[str, int | None] = {}
    for name, path in (("unprivileged_bpf_disabled", "kernel/unprivileged_bpf_disabled"),
                       ("bpf_jit_enable", "net/core/bpf_jit_enable"),
                       ("bpf_jit_harden", "net/core/bpf_jit_harden"),
                       ("bpf_jit_kallsyms", "net/core/bpf_jit_kallsyms"),
                       ("bpf_jit_limit", "net/core/bpf_jit_limit")):
        try:
            with open(f"/proc/sys/{path}") as f:
                out[name] = int(f.read().strip())
        except (OSError, ValueError):
            out[name] = None
    return out


def report(with_helpers: bool = True) -> dict:
    """Everything, as ``bpftool feature probe kernel -j`` spells it where the two overlap
    (``have_<type>_prog_type``, ``have_<type>_map_type``, ``<type>_available_helpers``)."""
    progs = prog_types()
    out: dict = {
        "system_config": system_config(),
        "program_types": {f"have_{t.name.lower()}_prog_type": p.supported
                          for t, p in progs.items()},
        "map_types": {f"have_{t.name.lower()}_map_type": p.supported
                      for t, p in map_types().items()},
        "attach": {name: {"available": p.supported, "reason": p.reason}
                   for name, p in attach_points().items()},
    }
    if with_helpers:
        out["helpers"] = {f"{t.name.lower()}_available_helpers":
                          [helper_name(h) for h in helpers(t)] for t in progs}
    return out


__all__ = ["Probe", "attach_points", "helper", "helpers", "map_type", "map_types",
           "prog_type", "prog_types", "report", "system_config"]
