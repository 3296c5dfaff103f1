"""Helpers for the seccomp tests: libseccomp (through ctypes) as the oracle, and running code
in a forked child so the test process itself is never filtered."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import tempfile
import traceback
from typing import Callable

from pybpf.cbpf.insn import CInsn, decode
from pybpf.cbpf.seccomp import ARCHES, Filter

# enum scmp_compare
SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ = range(1, 8)
_OPS = {"!=": SCMP_CMP_NE, "<": SCMP_CMP_LT, "<=": SCMP_CMP_LE, "==": SCMP_CMP_EQ,
        ">=": SCMP_CMP_GE, ">": SCMP_CMP_GT}
# enum scmp_filter_attr
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_OPTIMIZE = 8
SCMP_ARCH_NATIVE = 0


class ScmpArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class Unsupported(Exception):
    """A rule libseccomp cannot express (a masked comparison other than ==, a 32-bit one)."""


class LibSeccomp:
    def __init__(self) -> None:
        name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
        lib = ctypes.CDLL(name)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_version.restype = ctypes.c_void_p
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_remove.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(ScmpArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib = lib

    def version(self) -> tuple[int, int, int]:
        v = ctypes.cast(self.lib.seccomp_version(), ctypes.POINTER(ctypes.c_uint * 3)).contents
        return tuple(v)

    def resolve(self, name: str, arch: str) -> int:
        return self.lib.seccomp_syscall_resolve_name_arch(ARCHES[arch][0], name.encode())

    def export(self, f: Filter, optimize: int = 1) -> list[CInsn]:
        """libseccomp's program for the same rules. Rules whose action is the default are left
        out (libseccomp refuses them); a rule it refuses raises OSError with its errno."""
        lib = self.lib
        ctx = lib.seccomp_init(f.default.value)
        if not ctx:
            raise OSError("seccomp_init failed")
        try:
            audit = ARCHES[f.arch][0]
            if audit != lib.seccomp_arch_native():
                _check(lib.seccomp_arch_add(ctx, audit), "seccomp_arch_add")
                _check(lib.seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE), "seccomp_arch_remove")
            _check(lib.seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, f.bad_arch.value), "attr")
            _check(lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, optimize), "attr")
            for rule in f.rules:
                if rule.action == f.default:
                    continue
                cmps = (ScmpArgCmp * max(1, len(rule.comparisons)))()
                for slot, c in zip(cmps, rule.comparisons):
                    full = (1 << c.bits) - 1
                    if c.bits != 64 or (c.mask != full and c.op != "=="):
                        raise Unsupported(repr(c))
                    if c.mask != full:
                        slot.arg, slot.op, slot.datum_a, slot.datum_b = c.index, SCMP_CMP_MASKED_EQ, c.mask, c.value
                    else:
                        slot.arg, slot.op, slot.datum_a = c.index, _OPS[c.op], c.value
                # rules take the native (here x86_64) number; libseccomp maps it by name
                nr = lib.seccomp_syscall_resolve_name(rule.name.encode()) if rule.name else rule.nr
                _check(lib.seccomp_rule_add_array(ctx, rule.action.value, nr,
                                                  len(rule.comparisons), cmps), "seccomp_rule_add")
            with tempfile.TemporaryFile() as out:
                _check(lib.seccomp_export_bpf(ctx, out.fileno()), "seccomp_export_bpf")
                out.seek(0)
                return decode(out.read())
        finally:
            lib.seccomp_release(ctx)


def _check(rc: int, what: str) -> None:
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")


def run_in_child(fn: Callable[[], object]) -> tuple[int, str]:
    """Run ``fn`` in a forked child; return its wait status and what it reported (``repr`` of
    its result, or a traceback). The child cannot dump core (it may be killed by SIGSYS)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)          # PR_SET_DUMPABLE 0: no core file
            text = repr(fn())
        except BaseException:
            text, code = traceback.format_exc(), 3
        os.write(w, text.encode())
        os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return status, b"".join(chunks).decode()
