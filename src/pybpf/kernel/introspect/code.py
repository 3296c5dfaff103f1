"""A loaded program's code: the instructions after the verifier's rewrites ("xlated"), their
C source lines and function prototypes from the program's BTF, and the JIT's machine code.

The kernel hands out the xlated image through ``bpf_prog_info.xlated_prog_insns`` after
making it presentable (``bpf_insn_prepare_dump``): a map reference is an ``lddw`` with
src_reg BPF_PSEUDO_MAP_FD and the map's *id* as immediate, a helper call's immediate is the
helper's address minus ``__bpf_call_base`` (resolved here through ``/proc/kallsyms``), and
a bpf-to-bpf call in a JIT-compiled program keeps its pc-relative target in ``off`` and
the callee's subprogram index in ``imm``. Line info records carry the xlated instruction
index and string offsets into the program's BTF, which is fetched by ``btf_id``.
"""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass

from pybpf.elf.spec import SourceLine
from pybpf.errors import BpfDecodeError, BpfError
from pybpf.isa import Instruction, decode
from pybpf.isa.opcodes import OPCODE_LDDW
from pybpf.isa.uapi import (BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD,
                            BPF_PSEUDO_MAP_VALUE, helper_name)
from pybpf.kernel.fd import Fd
from pybpf.kernel.introspect._info import _prog_info_raw, btf_by_id, prog_info

_CALL = 0x85
_MOV64_X = 0xBF
BPF_ADDR_PERCPU = -1   # off of the kernel-internal "r = per-CPU address of r" move


@dataclass(frozen=True)
class XlatedLine:
    """One xlated instruction as ``bpftool prog dump xlated`` shows it.

    ``source`` is set where a line_info record starts (bpftool prints ``; <C line>`` there)
    and ``proto`` where a function starts (its C prototype, from BTF func_info).
    """

    index: int                  # slot index (lddw takes two)
    insn: Instruction
    text: str
    source: SourceLine | None = None
    proto: str | None = None

    def to_json(self) -> dict:
        out: dict = {}
        if self.proto:
            out["proto"] = self.proto
        if self.source is not None:
            out["src"] = self.source.text.strip()
            out["file"] = self.source.file
            out["line_num"] = self.source.line
            out["line_col"] = self.source.column
        out.update(index=self.index, disasm=self.text,
                   opcodes=_raw(self.insn).hex(" "))
        return out


def _raw(insn: Instruction) -> bytes:
    regs = (insn.src << 4) | insn.dst
    if insn.opcode == OPCODE_LDDW:
        return (struct.pack("<BBhI", insn.opcode, regs, insn.off, insn.imm & 0xFFFFFFFF)
                + struct.pack("<BBhI", 0, 0, 0, (insn.imm >> 32) & 0xFFFFFFFF))
    return struct.pack("<BBhi", insn.opcode, regs, insn.off, insn.imm)


def _decode_lenient(data: bytes) -> list[Instruction]:
    """Decode an xlated image; instructions the ISA does not define (the kernel's internal
    per-CPU move, ...) are kept unchecked instead of failing the whole program."""
    try:
        return decode(data)
    except BpfDecodeError:
        pass
    out: list[Instruction] = []
    i, count = 0, len(data) // 8
    while i < count:
        opcode, regs, off, imm = struct.unpack_from("<BBhi", data, i * 8)
        if opcode == OPCODE_LDDW and i + 1 < count:
            hi = struct.unpack_from("<i", data, i * 8 + 12)[0]
            out.append(Instruction(opcode, regs & 15, regs >> 4, off,
                                   (imm & 0xFFFFFFFF) | ((hi & 0xFFFFFFFF) << 32)))
            i += 2
            continue
        try:
            out.extend(decode(data[i * 8:i * 8 + 8]))
        except BpfDecodeError:
            out.append(Instruction(opcode, regs & 15, regs >> 4, off, imm))
        i += 1
    return out


def _xlated_image(fd: Fd | int) -> tuple[bytes, object]:
    first = _prog_info_raw(fd)
    buf = ctypes.create_string_buffer(max(first.xlated_prog_len, 1))
    raw = _prog_info_raw(fd, xlated_prog_insns=("xlated_prog_len", first.xlated_prog_len, buf))
    if not raw.xlated_prog_len:
        raise BpfError("the kernel gives no instructions for this program (reading them "
                       "needs root or CAP_BPF)")
    return buf.raw[:raw.xlated_prog_len], first


def _kernel_symbols(addresses: set[int]) -> dict[int, str]:
    """Names of kernel text addresses from /proc/kallsyms (empty where it hides them)."""
    if not addresses:
        return {}
    wanted = {f"{a & 0xFFFFFFFFFFFFFFFF:016x}": a for a in addresses}
    found: dict[int, str] = {}
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                key = line[:16]
                if key in wanted:
                    found.setdefault(wanted[key], line.split()[2])
    except OSError:
        pass
    return found


_call_base: int | None = None


def _bpf_call_base() -> int | None:
    global _call_base
    if _call_base is None:
        try:
            with open("/proc/kallsyms") as f:
                for line in f:
                    if line.rstrip().endswith(" __bpf_call_base"):
                        _call_base = int(line[:16], 16)
                        break
        except OSError:
            return None
    return _call_base or None


def prog_xlated(fd: Fd | int) -> list[Instruction]:
    """The program's instructions as the kernel runs them (after the verifier's rewrites).

    Each carries metadata: ``reference`` names what an lddw or call refers to
    (``map[id:N]``, a kernel function or helper), ``symbol`` the function starting there
    and ``line`` the C source position, where the program's BTF says so.
    """
    return [line.insn for line in prog_listing(fd)]


def prog_listing(fd: Fd | int) -> list[XlatedLine]:
    """The xlated instructions with disassembly, C source lines and prototypes."""
    image, info = _xlated_image(fd)
    jited = bool(getattr(info, "jited_prog_len", 0))
    insns = _decode_lenient(image)
    base = _bpf_call_base()
    targets = {base + i.imm for i in insns if i.opcode == _CALL and i.src == 0 and base}
    symbols = _kernel_symbols(targets)
    lines, funcs = _line_and_func_info(fd)
    out: list[XlatedLine] = []
    slot = 0
    for insn in insns:
        text, reference = _describe(insn, jited, base, symbols)
        if insn.opcode == _CALL and insn.src == BPF_PSEUDO_CALL and jited:
            insn = Instruction(_CALL, 0, BPF_PSEUDO_CALL, 0, insn.off)  # pc-relative again
        source, proto = lines.get(slot), funcs.get(slot)
        insn = insn.with_meta(reference=reference,
                              symbol=proto[0] if proto else None,
                              line=str(source) if source else None)
        out.append(XlatedLine(slot, insn, text, source, proto[1] if proto else None))
        slot += insn.slots
    return out


def _describe(insn: Instruction, jited: bool, base: int | None,
              symbols: dict[int, str]) -> tuple[str, str | None]:
    """Disassembly of one xlated instruction, naming kernel objects as bpftool does."""
    from pybpf.asm import disassemble

    if insn.opcode == OPCODE_LDDW and insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
        map_id = insn.imm & 0xFFFFFFFF
        ref = f"map[id:{map_id}]"
        if insn.src == BPF_PSEUDO_MAP_VALUE:
            ref += f"[0]+{insn.imm >> 32}"
        return f"r{insn.dst} = {ref} ll", ref
    if insn.opcode == _CALL and insn.src == 0:
        name = symbols.get(base + insn.imm) if base else None
        if name is None:
            name = helper_name(insn.imm)
        return f"call {name}#{insn.imm}", name
    if insn.opcode == _CALL and insn.src == BPF_PSEUDO_CALL:
        rel = insn.off if jited else insn.imm
        return f"call pc{rel:+d}", None
    if insn.opcode == _CALL and insn.src == BPF_PSEUDO_KFUNC_CALL:
        return f"call kfunc#{insn.imm}", None
    if insn.opcode == _MOV64_X and insn.off == BPF_ADDR_PERCPU:
        return f"r{insn.dst} = &(void __percpu *)(r{insn.src})", None
    try:
        return disassemble([insn])[0], None
    except BpfError:
        return f"<unknown: {_raw(insn).hex(' ')}>", None


def _line_and_func_info(fd: Fd | int) -> tuple[dict[int, SourceLine],
                                                dict[int, tuple[str, str]]]:
    """``{slot: SourceLine}`` where line_info records start and ``{slot: (name, proto)}``
    where functions start; empty when the program has no BTF."""
    info = prog_info(fd)
    if not info.btf_id or not (info.nr_line_info or info.nr_func_info):
        return {}, {}
    first = _prog_info_raw(fd)
    li_size, fi_size = first.line_info_rec_size or 16, first.func_info_rec_size or 8
    li = ctypes.create_string_buffer(max(first.nr_line_info * li_size, 1))
    fi = ctypes.create_string_buffer(max(first.nr_func_info * fi_size, 1))
    _prog_info_raw(fd, {"line_info_rec_size": li_size, "func_info_rec_size": fi_size},
                   line_info=("nr_line_info", first.nr_line_info, li),
                   func_info=("nr_func_info", first.nr_func_info, fi))
    try:
        btf = btf_by_id(info.btf_id)
    except (OSError, BpfError):
        return {}, {}
    lines: dict[int, SourceLine] = {}
    for i in range(first.nr_line_info):
        off, file_off, line_off, line_col = struct.unpack_from("<IIII", li.raw, i * li_size)
        lines[off] = SourceLine(btf.string(file_off), line_col >> 10, line_col & 0x3FF,
                                btf.string(line_off))
    funcs: dict[int, tuple[str, str]] = {}
    for i in range(first.nr_func_info):
        off, type_id = struct.unpack_from("<II", fi.raw, i * fi_size)
        try:
            func = btf[type_id]
            funcs[off] = (func.name, _prototype(func))
        except (BpfError, KeyError, IndexError):
            continue
    return lines, funcs


def _prototype(func) -> str:
    """``int name(struct __sk_buff * skb)`` from a BTF FUNC, as bpftool prints it."""
    from pybpf.elf.btf import describe

    proto = func.type
    ret = describe(proto.type) if proto.type_id else "void"
    params = ", ".join(f"{describe(p.type)} {p.name}".rstrip() if p.type_id else "..."
                       for p in proto.params)
    return f"{ret} {func.name}({params or 'void'})"


def prog_jited(fd: Fd | int) -> bytes:
    """The JIT's machine code for the program (every function's image, in order); empty
    when the program is not JIT-compiled."""
    first = _prog_info_raw(fd)
    if not first.jited_prog_len:
        return b""
    buf = ctypes.create_string_buffer(first.jited_prog_len)
    raw = _prog_info_raw(fd, jited_prog_insns=("jited_prog_len", first.jited_prog_len, buf))
    return buf.raw[:raw.jited_prog_len]


def disassemble_native(code: bytes, arch: str = "i386:x86-64") -> list[str] | None:
    """Machine code disassembled by ``objdump -D -b binary`` (``offset: bytes  insn``
    lines), or None when objdump is not installed."""
    objdump = shutil.which("objdump")
    if objdump is None or not code:
        return None
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(code)
        f.flush()
        result = subprocess.run([objdump, "-D", "-b", "binary", f"-m{arch}", f.name],
                                capture_output=True, text=True)
    if result.returncode != 0:
        return None
    out = []
    for line in result.stdout.splitlines():
        head, sep, rest = line.partition(":\t")
        if sep and head.strip() and all(c in "0123456789abcdef" for c in head.strip()):
            out.append(f"{head.strip():>4}: {rest.replace(chr(9), '  ').rstrip()}")
    return out


__all__ = ["XlatedLine", "disassemble_native", "prog_jited", "prog_listing", "prog_xlated"]
