"""USDT probes (SystemTap SDT notes): find them in ``.note.stapsdt`` and put uprobes on them.

Each note names a provider, a probe, the probe's address (a ``nop`` in the code), the
link-time address of ``.stapsdt.base`` (to correct for prelinking), the address of the
probe's semaphore (0 when it has none) and an argument description such as
``-4@%eax 8@-16(%rbp) 4@$5``. A semaphore is a counter the program reads to decide
whether to compute the arguments; the kernel increments it while a uprobe with
``ref_ctr_offset`` is attached, so the probe activates.

The program sees ``struct pt_regs``; the arguments' locations are in :attr:`UsdtProbe.args`
(pybpf does not provide libbpf's ``bpf_usdt_arg()`` spec map).
"""

from __future__ import annotations

import errno
import os
import re
import struct
from dataclasses import dataclass

from pybpf.isa.uapi import ProgType
from pybpf.kernel.attach._attr import attach_error
from pybpf.kernel.attach.link import Link, LinkGroup, ProgramLike, check_type
from pybpf.kernel.attach.perf import attach_perf_event
from pybpf.kernel.attach.uprobe import address_to_offset, elf_index, resolve_binary, uprobe_event

NT_STAPSDT = 3
_ARG = re.compile(r"^(?P<size>-?\d+)@(?P<loc>.+)$")
_MEM = re.compile(r"^(?P<off>-?(?:0x)?[0-9a-fA-F]*)\((?P<reg>%\w+)\)$")


@dataclass(frozen=True)
class UsdtArg:
    """One argument: ``size`` bytes (``signed``), in a register, in memory at
    ``offset(register)``, or a constant."""

    size: int
    signed: bool
    kind: str            # "reg", "mem" or "const"
    register: str = ""
    offset: int = 0
    value: int = 0
    text: str = ""


@dataclass(frozen=True)
class UsdtProbe:
    provider: str
    name: str
    address: int         # the probe's virtual address (prelink-corrected)
    offset: int          # its file offset (where the uprobe goes)
    semaphore: int       # the semaphore's virtual address, 0 if none
    semaphore_offset: int  # its file offset (the uprobe's ref_ctr_offset), 0 if none
    args: tuple[UsdtArg, ...]
    arg_text: str


def parse_args(text: str) -> tuple[UsdtArg, ...]:
    args = []
    for item in text.split():
        m = _ARG.match(item)
        if not m:  # a location with no size prefix (old notes): assume a signed long
            size, loc = -8, item
        else:
            size, loc = int(m["size"]), m["loc"]
        signed, size = size < 0, abs(size)
        if loc.startswith("$"):
            args.append(UsdtArg(size, signed, "const", value=int(loc[1:], 0), text=item))
        elif loc.startswith("%"):
            args.append(UsdtArg(size, signed, "reg", register=loc[1:], text=item))
        else:
            mm = _MEM.match(loc)
            if mm:
                off = mm["off"]
                args.append(UsdtArg(size, signed, "mem", register=mm["reg"][1:],
                                    offset=int(off, 0) if off not in ("", "-") else 0,
                                    text=item))
            else:
                args.append(UsdtArg(size, signed, "unknown", text=item))
    return tuple(args)


def usdt_probes(binary: str | os.PathLike) -> list[UsdtProbe]:
    """Every USDT probe in ``binary``'s ``.note.stapsdt`` section."""
    from elftools.elf.elffile import ELFFile

    path = resolve_binary(binary)
    segments, _ = elf_index(path)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        notes = elf.get_section_by_name(".note.stapsdt")
        if notes is None:
            return []
        base_section = elf.get_section_by_name(".stapsdt.base")
        actual_base = base_section["sh_addr"] if base_section is not None else None
        data = notes.data()
        endian = "<" if elf.little_endian else ">"
        word = "Q" if elf.elfclass == 64 else "I"
    probes = []
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from(endian + "III", data, pos)
        pos += 12
        name = data[pos:pos + namesz].rstrip(b"\0")
        pos += (namesz + 3) & ~3
        desc = data[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        if name != b"stapsdt" or ntype != NT_STAPSDT:
            continue
        wsize = struct.calcsize(word)
        pc, base, sem = struct.unpack_from(endian + word * 3, desc, 0)
        provider, probe, args = (desc[3 * wsize:].split(b"\0") + [b"", b"", b""])[:3]
        if actual_base is not None and base:
            delta = actual_base - base
            pc += delta
            if sem:
                sem += delta
        text = args.decode(errors="replace")
        probes.append(UsdtProbe(
            provider.decode(errors="replace"), probe.decode(errors="replace"), pc,
            address_to_offset(segments, pc, path), sem,
            address_to_offset(segments, sem, path) if sem else 0, parse_args(text), text))
    return probes


def attach_usdt(prog: ProgramLike | int, binary: str | os.PathLike, provider: str, name: str,
                *, pid: int = -1, cookie: int = 0) -> Link:
    """Attach a KPROBE-type program to every site of USDT probe ``provider:name``.

    Returns one link, or a :class:`LinkGroup` when the probe has several sites. A probe
    with a semaphore is attached with ``ref_ctr_offset`` so the kernel activates it.
    """
    check_type(prog, (ProgType.KPROBE,), f"attaching a USDT program to {provider}:{name}")
    path = resolve_binary(binary, pid)
    sites = [p for p in usdt_probes(path) if p.provider == provider and p.name == name]
    if not sites:
        known = sorted({f"{p.provider}:{p.name}" for p in usdt_probes(path)})
        raise attach_error(errno.ENOENT, f"finding USDT probe {provider}:{name} in {path}",
                           "no such probe in .note.stapsdt",
                           f"it has: {', '.join(known)}" if known else
                           "the binary has no USDT probes")
    links: list[Link] = []
    try:
        for site in sites:
            what = f"creating a uprobe for USDT {provider}:{name} at {path}+{site.offset:#x}"
            event = uprobe_event(path, site.offset, pid=pid,
                                 ref_ctr_offset=site.semaphore_offset, what=what)
            links.append(attach_perf_event(
                prog, event, cookie=cookie, own_event=True,
                description=f"USDT program on {path}:{provider}:{name} "
                            f"(offset {site.offset:#x})"))
    except BaseException:
        for link in links:
            link.close()
        raise
    if len(links) == 1:
        return links[0]
    return LinkGroup(links, f"USDT program on {path}:{provider}:{name} "
                            f"({len(links)} sites)")


__all__ = ["UsdtArg", "UsdtProbe", "attach_usdt", "parse_args", "usdt_probes"]
