"""uprobes and uretprobes through the uprobe PMU, on symbols found in the ELF file.

The kernel places a uprobe at a *file offset* of an inode, so a symbol's virtual
address is turned into the offset inside the loadable segment that holds it; that is
the same for executables (PIE or not) and shared libraries. The probe fires in every
process mapping the file (``pid=-1``) or in one process.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from pybpf.errors import BpfError
from pybpf.kernel.attach._attr import attach_error
from pybpf.isa.uapi import ProgType
from pybpf.kernel.attach.link import Link, ProgramLike, check_type
from pybpf.kernel.attach.perf import (
    PerfEventAttr, attach_perf_event, perf_event_open, pmu_format_bit, pmu_type,
)

_LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/lib/x86_64-linux-gnu",
             "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu")


def resolve_binary(binary: str | os.PathLike, pid: int = -1) -> str:
    """The file a probe goes on: a path, a command on $PATH, or a shared library name
    (``libc.so.6``: from the process's maps when ``pid`` is given, else the library dirs)."""
    text = os.fspath(binary)
    if "/" in text:
        if not os.path.exists(text):
            raise attach_error(errno.ENOENT, f"finding {text} for a uprobe", "no such file")
        return os.path.realpath(text)
    if ".so" in text:
        if pid > 0:
            try:
                with open(f"/proc/{pid}/maps") as f:
                    for line in f:
                        path = line.split(maxsplit=5)[-1].strip()
                        if os.path.basename(path).startswith(text):
                            return path
            except OSError:
                pass
        for d in _LIB_DIRS:
            path = os.path.join(d, text)
            if os.path.exists(path):
                return os.path.realpath(path)
    found = shutil.which(text)
    if found:
        return os.path.realpath(found)
    raise attach_error(errno.ENOENT, f"finding {text!r} for a uprobe",
                       "not a path, not on $PATH and not in the library directories",
                       "pass the binary's full path")


@dataclass(frozen=True)
class Segment:
    vaddr: int
    memsz: int
    offset: int
    executable: bool


@lru_cache(maxsize=32)
def _elf_index(path: str, mtime: float) -> tuple[tuple[Segment, ...], dict[str, int]]:
    """The loadable segments and the defined function symbols (name -> address)."""
    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
    except ImportError:  # pragma: no cover - pyelftools is a dependency
        raise BpfError("resolving uprobe symbols needs pyelftools") from None
    symbols: dict[str, int] = {}
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            segments = tuple(
                Segment(seg["p_vaddr"], seg["p_memsz"], seg["p_offset"], bool(seg["p_flags"] & 1))
                for seg in elf.iter_segments() if seg["p_type"] == "PT_LOAD")
            for section_name in (".symtab", ".dynsym"):
                section = elf.get_section_by_name(section_name)
                if section is None:
                    continue
                for sym in section.iter_symbols():
                    if (sym["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC")
                            and sym["st_value"] and sym["st_shndx"] != "SHN_UNDEF"):
                        symbols.setdefault(sym.name, sym["st_value"])
    except (ELFError, OSError) as e:
        raise attach_error(errno.ENOEXEC, f"reading ELF symbols of {path}", str(e)) from None
    return segments, symbols


def elf_index(path: str) -> tuple[tuple[Segment, ...], dict[str, int]]:
    return _elf_index(path, os.stat(path).st_mtime)


def address_to_offset(segments: Iterable[Segment], address: int, path: str) -> int:
    """The file offset of a virtual address (in the PT_LOAD segment that holds it)."""
    for seg in segments:
        if seg.vaddr <= address < seg.vaddr + seg.memsz:
            return address - seg.vaddr + seg.offset
    raise attach_error(errno.ENOENT, f"finding address {address:#x} in {path}",
                       "no loadable segment contains it")


def symbol_offset(path: str, symbol: str) -> int:
    """The file offset of function ``symbol`` (``name`` or ``name+0x10``) in ``path``."""
    extra = 0
    if "+" in symbol:
        symbol, _, off = symbol.partition("+")
        extra = int(off, 0)
    segments, symbols = elf_index(path)
    address = symbols.get(symbol)
    if address is None:
        raise attach_error(errno.ENOENT, f"finding function {symbol!r} in {path}",
                           "no defined function symbol of that name in .symtab or .dynsym",
                           "check `nm -D`/`nm` output, or pass a file offset")
    return address_to_offset(segments, address, path) + extra


def uprobe_event(path: str, offset: int, *, pid: int = -1, retprobe: bool = False,
                 ref_ctr_offset: int = 0, what: str = ""):
    """Open a uprobe perf event at ``path``:``offset`` (the kernel copies the path)."""
    pmu = pmu_type("uprobe")
    what = what or f"creating a uprobe at {path}+{offset:#x}"
    if pmu is None:
        raise attach_error(errno.EOPNOTSUPP, what, "this kernel has no uprobe PMU "
                           "(CONFIG_UPROBE_EVENTS is off)")
    config = 0
    if retprobe:
        config |= 1 << pmu_format_bit("uprobe", "retprobe")
    if ref_ctr_offset:
        config |= ref_ctr_offset << pmu_format_bit("uprobe", "ref_ctr_offset")
    name = ctypes.create_string_buffer(os.fsencode(path))
    attr = PerfEventAttr(type=pmu, config=config, sample_period=1, wakeup_events=1,
                         config1=ctypes.addressof(name), config2=offset)
    return perf_event_open(attr, pid, 0 if pid < 0 else -1, what=what)


def attach_uprobe(prog: ProgramLike | int, binary: str | os.PathLike,
                  symbol_or_offset: str | int, *, pid: int = -1, retprobe: bool = False,
                  cookie: int = 0, ref_ctr_offset: int = 0) -> Link:
    """Attach a KPROBE-type program as a uprobe (``retprobe=True``: a uretprobe) on
    ``binary`` at a function symbol (``"main"``, ``"f+0x4"``) or a file offset."""
    check_type(prog, (ProgType.KPROBE,), f"attaching a {'uretprobe' if retprobe else 'uprobe'}"
                                         f" program")
    path = resolve_binary(binary, pid)
    if isinstance(symbol_or_offset, int):
        offset, where = symbol_or_offset, f"{symbol_or_offset:#x}"
    else:
        offset, where = symbol_offset(path, symbol_or_offset), symbol_or_offset
    kind = "uretprobe" if retprobe else "uprobe"
    scope = f" in pid {pid}" if pid >= 0 else ""
    description = f"{kind} program on {path}:{where}{scope}"
    event = uprobe_event(path, offset, pid=pid, retprobe=retprobe,
                         ref_ctr_offset=ref_ctr_offset, what=f"creating a {kind} on {path}:"
                                                             f"{where} (offset {offset:#x})")
    return attach_perf_event(prog, event, cookie=cookie, own_event=True,
                             description=description)


__all__ = ["address_to_offset", "attach_uprobe", "elf_index", "resolve_binary", "symbol_offset",
           "uprobe_event"]
