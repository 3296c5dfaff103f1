"""libpcap as the reference: pcap_compile through ctypes on a savefile handle (so DLT_NULL
gets the savefile's three IPv6 checks, exactly as ``tcpdump -r FILE -d`` does), and
``tcpdump -d`` itself for spot checks."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import struct
import subprocess
import tempfile
import threading

from pybpf.cbpf.insn import CInsn

LINKTYPES = {"EN10MB": 1, "RAW": 12, "LINUX_SLL": 113, "LINUX_SLL2": 276, "NULL": 0,
             "LOOP": 108}
# what a savefile header says for each (DLT_RAW is written as LINKTYPE_RAW)
_FILE_LINKTYPE = {12: 101}


class _Insn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]


class _Prog(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_Insn))]


_lib = None
_lock = threading.Lock()
_handles: dict[tuple[int, int], int] = {}
_dir = None


def available() -> bool:
    try:
        _load()
        return True
    except OSError:
        return False


def _load():
    global _lib
    if _lib is None:
        name = "libpcap.so.0.8"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            lib = ctypes.CDLL(ctypes.util.find_library("pcap") or name)
        lib.pcap_open_offline.restype = ctypes.c_void_p
        lib.pcap_open_offline.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Prog), ctypes.c_char_p,
                                     ctypes.c_int, ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_Prog)]
        lib.pcap_lib_version.restype = ctypes.c_char_p
        _lib = lib
    return _lib


def version() -> str:
    return _load().pcap_lib_version().decode()


def empty_pcap(dlt: int, snaplen: int = 262144) -> str:
    """Path of an empty savefile with this link type (made once per process)."""
    global _dir
    if _dir is None:
        _dir = tempfile.mkdtemp(prefix="pcapfilter-")
    path = os.path.join(_dir, f"empty-{dlt}-{snaplen}.pcap")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen,
                                _FILE_LINKTYPE.get(dlt, dlt)))
    return path


def _handle(dlt: int, snaplen: int) -> int:
    key = (dlt, snaplen)
    if key not in _handles:
        err = ctypes.create_string_buffer(512)
        h = _load().pcap_open_offline(empty_pcap(dlt, snaplen).encode(), err)
        if not h:
            raise OSError(err.value.decode())
        _handles[key] = h
    return _handles[key]


def pcap_compile(expr: str, linktype: str | int = "EN10MB", optimize: bool = True,
                 netmask: int = 0xFFFFFFFF, snaplen: int = 262144) -> list[CInsn] | str:
    """libpcap's program, or its error message (a str)."""
    dlt = LINKTYPES[linktype] if isinstance(linktype, str) else linktype
    lib = _load()
    with _lock:
        h = _handle(dlt, snaplen)
        prog = _Prog()
        if lib.pcap_compile(h, ctypes.byref(prog), expr.encode(), int(optimize), netmask):
            return lib.pcap_geterr(h).decode()
        out = [CInsn(prog.bf_insns[i].code, prog.bf_insns[i].jt, prog.bf_insns[i].jf,
                     prog.bf_insns[i].k) for i in range(prog.bf_len)]
        lib.pcap_freecode(ctypes.byref(prog))
        return out


def tcpdump_available() -> bool:
    return shutil.which("tcpdump") is not None


def tcpdump_dd(expr: str, linktype: str = "EN10MB", optimize: bool = True) -> list[CInsn] | str:
    """``tcpdump -r empty.pcap -dd [-O] EXPR`` parsed back into instructions."""
    dlt = LINKTYPES[linktype]
    cmd = ["tcpdump", "-r", empty_pcap(dlt), "-dd"]
    if not optimize:
        cmd.append("-O")
    cmd += ["--", expr]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        msg = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "error"
        return msg.removeprefix("tcpdump: ")
    out = []
    for line in r.stdout.splitlines():
        line = line.strip().strip("{},")
        if not line:
            continue
        code, jt, jf, k = (int(x.strip(), 0) for x in line.split(","))
        out.append(CInsn(code, jt, jf, k))
    return out
