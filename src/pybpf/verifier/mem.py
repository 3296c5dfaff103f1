"""Memory access checks: the kernel's ``check_mem_access`` for every pointer kind, the
stack's spill/fill rules, and ``check_helper_mem_access`` for helper arguments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pybpf.verifier import tnum as tn
from pybpf.verifier.ctx import OR_NULL
from pybpf.verifier.precision import mark_chain_precision
from pybpf.verifier.regs import (
    BPF_MAX_VAR_OFF, CONST_PTR_TO_MAP, NOT_INIT_REG, PTR_TO_CTX, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE,
    PTR_TO_MEM, PTR_TO_PACKET_END, PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_STACK, S64_MIN,
    SCALAR, Reg, coerce_to_size, coerce_to_size_sx, known_scalar, mark_unknown, pointer,
)
from pybpf.verifier.state import INVALID, MAX_BPF_STACK, MISC, SPILL, ZERO
from pybpf.vm.progtypes.sock import sock_common_valid, sock_valid

if TYPE_CHECKING:
    from pybpf.verifier.walk import Verifier

READ, WRITE = "read", "write"

# Which ``bpf_sock`` fields a socket pointer may read (bpf_sock_is_valid_access,
# bpf_sock_common_is_valid_access).
_SOCK_ACCESS = {PTR_TO_SOCKET: sock_valid, PTR_TO_SOCK_COMMON: sock_common_valid}


class VerifyFail(Exception):
    """Verification stops here with the kernel's first error line."""

    def __init__(self, message: str, insn: int | None = None, errno: int = 13,
                 after: str = "", newline: bool = True):
        super().__init__(message)
        self.message = message
        self.insn = insn
        self.errno = errno
        self.after = after          # log lines the kernel prints after the first
        self.newline = newline      # (False: the kernel's message has none)


def fail(message: str, errno: int = 13) -> VerifyFail:
    return VerifyFail(message, errno=errno)


# --- bounded regions: map values, map keys, ringbuf memory, packets ---------------------------

def _mem_access_msg(reg: Reg, regno: int, off: int, size: int, mem_size: int) -> str:
    if reg.type == PTR_TO_MAP_KEY:
        return f"invalid access to map key, key_size={mem_size} off={off} size={size}"
    if reg.type == PTR_TO_MAP_VALUE:
        return f"invalid access to map value, value_size={mem_size} off={off} size={size}"
    if reg.is_pkt or reg.type == PTR_TO_PACKET_END:
        return (f"invalid access to packet, off={off} size={size}, "
                f"R{regno}(id={reg.id},off={off},r={mem_size})")
    return f"invalid access to memory, mem_size={mem_size} off={off} size={size}"


def _ok(off: int, size: int, mem_size: int, zero_ok: bool) -> bool:
    return off >= 0 and (size > 0 or (size == 0 and zero_ok)) and off + size <= mem_size


def check_mem_region(v: "Verifier", reg: Reg, regno: int, off: int, size: int, mem_size: int,
                     zero_ok: bool = False) -> None:
    if reg.smin < 0 and (reg.smin == S64_MIN or not (-(1 << 31) <= off + reg.smin < (1 << 31))
                         or reg.smin + off < 0):
        raise fail(f"R{regno} min value is negative, either use unsigned index or do a if "
                   f"(index >=0) check.")
    if not _ok(reg.smin + off, size, mem_size, zero_ok):
        raise VerifyFail(_mem_access_msg(reg, regno, reg.smin + off, size, mem_size),
                         after=f"R{regno} min value is outside of the allowed memory range\n")
    if reg.umax >= BPF_MAX_VAR_OFF:
        raise fail(f"R{regno} unbounded memory access, make sure to bounds check any such "
                   f"access")
    if not _ok(reg.umax + off, size, mem_size, zero_ok):
        raise VerifyFail(_mem_access_msg(reg, regno, reg.umax + off, size, mem_size),
                         after=f"R{regno} max value is outside of the allowed memory range\n")


def check_packet(v: "Verifier", reg: Reg, regno: int, off: int, size: int,
                 zero_ok: bool = False) -> None:
    if reg.smin < 0:
        raise fail(f"R{regno} min value is negative, either use unsigned index or do a if "
                   f"(index >=0) check.")
    outside = f"R{regno} offset is outside of the packet"
    if reg.range < 0:        # (past or at pkt_end: no range to check against)
        raise fail(outside, 22)
    if not _ok(off, size, reg.range, zero_ok):
        raise VerifyFail(_mem_access_msg(reg, regno, off, size, reg.range),
                         after=outside + "\n")


# --- stack ------------------------------------------------------------------------------------

_ACCESS_WORDS = {READ: " read from", WRITE: " write to"}


def stack_bounds(v: "Verifier", reg: Reg, regno: int, off: int, size: int, kind: str) -> None:
    """``check_stack_access_within_bounds``: ``off`` already includes ``reg.off``."""
    extra = _ACCESS_WORDS.get(kind, " indirect access to")
    if reg.var_off.is_const():
        min_off = s64v(reg.var_off.value) + off
        max_off = min_off + size
    else:
        if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            raise fail(f"invalid unbounded variable-offset{extra} stack R{regno}")
        min_off = reg.smin + off
        max_off = reg.smax + off + size
    frame = v.frame_of(reg)
    min_valid = -MAX_BPF_STACK if (kind == WRITE or v.allow_uninit_stack) else -frame.allocated
    bad = min_off < min_valid or min_off > -1 or max_off > 0 or size < 0
    if bad:
        if reg.var_off.is_const():
            raise fail(f"invalid{extra} stack R{regno} off={off} size={size}")
        raise fail(f"invalid variable-offset{extra} stack R{regno} var_off={reg.var_off} "
                   f"off={off} size={size}")
    frame.grow(-min_off)
    depth = v.stack_depth
    if depth.get(frame.subprog, 0) < -min_off:
        depth[frame.subprog] = -min_off


def s64v(x: int) -> int:
    x &= (1 << 64) - 1
    return x - (1 << 64) if x >> 63 else x


def stack_write(v: "Verifier", reg: Reg, regno: int, off: int, size: int, value: Reg | None,
                imm: int | None) -> None:
    frame = v.frame_of(reg)
    if not reg.var_off.is_const():
        # variable-offset write: every byte it may touch becomes misc (zero stays zero only
        # when a zero is written)
        lo = reg.smin + off
        hi = reg.smax + off + size
        zero = (value is not None and value.is_const() and value.var_off.value == 0) or imm == 0
        zero_used = False
        for a in range(lo, hi):
            spi, idx = (-a - 1) // 8, (-a - 1) % 8
            slot = frame.slot(spi)
            if slot.is_spill:
                slot.spilled = NOT_INIT_REG
                slot.types = [MISC if t != INVALID else t for t in slot.types]
            if slot.types[idx] == ZERO and zero:
                zero_used = True
                continue
            slot.types[idx] = MISC if slot.types[idx] != INVALID or v.uninit_stack_ok() \
                else slot.types[idx]
            v.scratch_slot(spi)
        if zero_used and value is not None:     # (a zero kept: the value must stay zero)
            mark_chain_precision(v, v.insns[v.insn_idx].src)
        return
    addr = s64v(reg.var_off.value) + off
    spi = (-addr - 1) // 8
    slot = frame.slot(spi)
    v.scratch_slot(spi)
    if not v.perfmon:
        # Spectre v4 (!bypass_spec_v4): a spill of a pointer, or a write over bytes that
        # are not plain data, gets a barrier after it; speculative paths end there
        if (value is not None and value.is_pointer) or any(
                t not in (MISC, ZERO) for t in slot.types[:size]):
            v.nospec_result.add(v.insn_idx)
    if not v.allow_ptr_leaks and slot.is_spill and slot.spilled.type != SCALAR and size != 8:
        raise fail("attempt to corrupt spilled pointer on stack")
    aligned = addr % 8 == 0
    if value is not None and aligned and value.type == SCALAR:
        _save(slot, value, size)
        if _width(value) > size * 8:
            slot.spilled.id = 0
        v.push_hist((frame.frameno, spi))       # a spill: backtracking follows it
    elif value is None and aligned and imm is not None:
        tmp = known_scalar(imm)
        _save(slot, tmp, size)
        v.push_hist((frame.frameno, spi))
    elif value is not None and value.is_pointer:
        if size != 8:
            raise fail("invalid size of register spill")
        if frame is not v.state.cur and value.type == PTR_TO_STACK:
            raise fail("cannot spill pointers to stack into stack frame of the caller", 22)
        _save(slot, value, size)
        v.push_hist((frame.frameno, spi))
    else:
        kind = MISC
        if slot.is_spill or any(t == SPILL for t in slot.types):
            slot.types = [MISC if t == SPILL else t for t in slot.types]
        slot.spilled = NOT_INIT_REG
        if (value is not None and value.is_const() and value.var_off.value == 0) or \
                (value is None and imm == 0):
            # not a spill: the zero is kept only as bytes, so it must stay zero
            if value is not None:
                mark_chain_precision(v, v.insns[v.insn_idx].src)
            kind = ZERO
        first = (-addr - 1) % 8
        for i in range(size):
            slot.types[first - i] = kind


def _width(r: Reg) -> int:
    """``get_reg_width``: bits needed for the largest value."""
    return r.umax.bit_length()


def _save(slot, reg: Reg, size: int) -> None:
    slot.spilled = reg.copy()
    for i in range(8, 8 - size, -1):
        slot.types[i - 1] = SPILL
    for i in range(8 - size, 0, -1):
        t = slot.types[i - 1]
        if t == SPILL:
            slot.types[i - 1] = MISC
        elif t == ZERO or t == INVALID:
            pass
        else:
            slot.types[i - 1] = MISC


def stack_read(v: "Verifier", reg: Reg, regno: int, off: int, size: int, dst: int | None,
               signed: bool = False) -> None:
    frame = v.frame_of(reg)
    if not reg.var_off.is_const():
        lo = reg.smin + off
        hi = reg.smax + off + size
        zeros = 0
        for a in range(lo, hi):
            spi, idx = (-a - 1) // 8, (-a - 1) % 8
            slot = frame.stack.get(spi)
            t = slot.types[idx] if slot is not None else INVALID
            if t == MISC:
                continue
            if t == ZERO:
                zeros += 1
                continue
            if t == INVALID and v.uninit_stack_ok():
                continue
            if t == SPILL and slot.spilled.type == SCALAR:
                continue
            raise fail(f"invalid read from stack R{regno} var_off {reg.var_off}+{a - lo} "
                       f"size {size}")
        if dst is not None:      # mark_reg_stack_read: scratches up to the first non-zero
            for a in range(lo, hi):
                spi, idx = (-a - 1) // 8, (-a - 1) % 8
                v.scratch_slot(spi)
                slot = frame.stack.get(spi)
                if slot is None or slot.types[idx] != ZERO:
                    break
            r = v.state.regs[dst]
            if zeros == hi - lo:
                r.assign(known_scalar(0))
            else:
                mark_unknown(r)
            _narrow(r, size, signed)
        return
    addr = s64v(reg.var_off.value) + off
    spi = (-addr - 1) // 8
    first = (-addr - 1) % 8
    slot = frame.stack.get(spi)
    v.scratch_slot(spi)
    types = slot.types if slot is not None else [INVALID] * 8
    if slot is not None and slot.is_spill:
        spill_size = 1
        i = 7
        while i > 0 and types[i - 1] == SPILL:
            spill_size += 1
            i -= 1
        sp = slot.spilled
        if size != 8 or spill_size != 8:
            if sp.type != SCALAR:
                raise fail("invalid size of register fill")
            if dst is None:
                return
            if size <= spill_size and addr % 8 == 0:
                r = v.state.regs[dst]
                r.assign(sp)
                if _width(sp) > size * 8:
                    r.id = 0
                v.push_hist((frame.frameno, spi))   # a fill: backtracking follows it
            else:
                spill_cnt = zero_cnt = 0
                for i in range(size):
                    t = types[first - i]
                    if t == SPILL:
                        spill_cnt += 1
                    elif t == MISC:
                        pass
                    elif t == ZERO:
                        zero_cnt += 1
                    elif t == INVALID and v.uninit_stack_ok():
                        pass
                    else:
                        raise fail(f"invalid read from stack off {addr}+{i} size {size}")
                r = v.state.regs[dst]
                if spill_cnt == size and sp.is_const() and sp.var_off.value == 0:
                    r.assign(known_scalar(0))
                    v.push_hist((frame.frameno, spi))
                elif zero_cnt == size:
                    r.assign(known_scalar(0))
                else:
                    mark_unknown(r)
            _narrow(v.state.regs[dst], size, signed)
            return
        if dst is not None:
            v.state.regs[dst].assign(sp)
        elif sp.is_pointer and not v.allow_ptr_leaks:
            raise fail(f"leaking pointer from stack off {addr}")
        v.push_hist((frame.frameno, spi))
        return
    zeros = 0
    for i in range(size):
        t = types[first - i]
        if t == MISC:
            continue
        if t == ZERO:
            zeros += 1
            continue
        if t == INVALID and v.uninit_stack_ok():
            continue
        raise fail(f"invalid read from stack off {addr}+{i} size {size}")
    if dst is not None:
        r = v.state.regs[dst]
        if zeros == size:
            r.assign(known_scalar(0))
        else:
            mark_unknown(r)
        _narrow(r, size, signed)


def _narrow(r: Reg, size: int, signed: bool) -> None:
    if size < 8 and r.type == SCALAR:
        if signed:
            coerce_to_size_sx(r, size)
        else:
            coerce_to_size(r, size)


# --- check_mem_access ----------------------------------------------------------------------

# check_ptr_alignment's names of the pointers it checks strictly (atomics: all of them)
_ALIGN_DESC = {PTR_TO_STACK: "stack ", PTR_TO_MAP_VALUE: "value ", PTR_TO_CTX: "context ",
               PTR_TO_MAP_KEY: "key "}


def map_ptr_access(v: "Verifier", reg: Reg, regno: int, off: int, kind: str) -> None:
    """check_ptr_to_map_access: a map pointer dereferenced. The kernel lets a loader with
    CAP_PERFMON read the map's own struct (struct bpf_htab, ...) as vmlinux BTF lays it
    out; pybpf's maps are not kernel structs, so past the kernel's own refusals (the
    privilege, a negative offset, a write) the read is refused too."""
    from pybpf.isa.uapi import MapType
    from pybpf.maps import KERNEL_STRUCTS

    try:
        struct = KERNEL_STRUCTS.get(MapType(reg.map.type))
    except ValueError:
        struct = None
    if struct is None:
        raise fail(f"map_ptr access not supported for map type {reg.map.type}", errno=524)
    if not v.allow_ptr_leaks:
        raise fail(f"'struct {struct}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN",
                   errno=1)
    if off < 0:
        raise fail(f"R{regno} is {struct} invalid negative access: off={off}")
    if kind != READ:
        raise fail(f"only read from {struct} is supported")
    raise fail(f"R{regno} invalid mem access '{reg.type_str()}'")


def check_mem_access(v: "Verifier", regno: int, off: int, size: int, kind: str,
                     value_regno: int | None, *, imm: int | None = None,
                     signed: bool = False, strict: bool = False) -> None:
    regs = v.state.regs
    reg = regs[regno]
    if size > 1 and (reg.type == PTR_TO_STACK or (strict and reg.is_pointer)):
        # check_ptr_alignment: stack accesses are always strictly aligned, atomic ones
        # to any pointer too (strict_alignment_once)
        if not tn.is_aligned(tn.add(reg.var_off, tn.const(reg.off + off)), size):
            vo = reg.var_off
            text = str(s64v(vo.value)) if vo.is_const() else f"({vo.value:#x}; {vo.mask:#x})"
            desc = _ALIGN_DESC.get(reg.type, "")
            raise fail(f"misaligned {desc}access off {text}+{reg.off}+{off} size {size}")
    off += reg.off
    value = regs[value_regno] if (kind == WRITE and value_regno is not None) else None
    dst = value_regno if kind == READ else None
    t = reg.type
    v.access_types.setdefault(v.insn_idx, set()).add(t)
    if t == PTR_TO_MAP_KEY and not reg.maybe_null:
        if kind == WRITE:
            raise fail(f"R{regno} cannot write into {reg.type_str()}")
        check_mem_region(v, reg, regno, off, size, reg.map.key_size)
        if dst is not None:
            mark_unknown(regs[dst])
    elif t == PTR_TO_MAP_VALUE and not reg.maybe_null:
        if kind == WRITE and value is not None and v.is_pointer_value(value):
            raise fail(f"R{value_regno} leaks addr into map")
        if kind == WRITE and v.map_rdonly(reg.map):
            raise fail(f"write into map forbidden, value_size={reg.map.value_size} off={off} "
                       f"size={size}")
        check_mem_region(v, reg, regno, off, size, reg.map.value_size)
        if dst is not None:
            mark_unknown(regs[dst])
    elif t == PTR_TO_MEM:
        if reg.maybe_null:
            raise fail(f"R{regno} invalid mem access '{reg.type_str()}'")
        if kind == WRITE and reg.rdonly:
            raise fail(f"R{regno} cannot write into {reg.type_str()}")
        if kind == WRITE and value is not None and v.is_pointer_value(value):
            raise fail(f"R{value_regno} leaks addr into mem")
        check_mem_region(v, reg, regno, off, size, reg.mem_size)
        if dst is not None:
            mark_unknown(regs[dst])
    elif t == PTR_TO_CTX:
        if kind == WRITE and value is not None and v.is_pointer_value(value):
            raise fail(f"R{value_regno} leaks addr into ctx")
        if reg.off:
            raise fail(f"dereference of modified ctx ptr R{regno} off={reg.off} disallowed")
        if not reg.var_off.is_const() or reg.var_off.value:
            raise fail(f"variable ctx access var_off={reg.var_off} disallowed")
        ok, ptype = v.ctx.access(off, size, kind == WRITE)
        if not ok:
            raise fail(f"invalid bpf_context access off={off} size={size}")
        if dst is not None:
            if ptype is None:
                mark_unknown(regs[dst])
            elif ptype.endswith(OR_NULL):        # e.g. __sk_buff->sk
                regs[dst].assign(pointer(ptype[:-len(OR_NULL)], maybe_null=True))
                regs[dst].id = v.new_id()
            else:
                regs[dst].assign(pointer(ptype))
    elif t == PTR_TO_STACK:
        stack_bounds(v, reg, regno, off, size, kind)
        if kind == READ:
            stack_read(v, reg, regno, off, size, dst, signed)
            return
        stack_write(v, reg, regno, off, size, value, imm)
        return
    elif t in _SOCK_ACCESS and not reg.maybe_null:
        # check_sock_access: socket fields are read only, with the bpf_sock access rules
        if kind == WRITE:
            raise fail(f"R{regno} cannot write into {reg.type_str()}")
        if reg.smin < 0:
            raise fail(f"R{regno} min value is negative, either use unsigned index or do a if "
                       f"(index >=0) check.")
        if not _SOCK_ACCESS[t](off, size, False):
            raise fail(f"R{regno} invalid {reg.type_str()} access off={off} size={size}")
        if dst is not None:
            mark_unknown(regs[dst])
    elif t == CONST_PTR_TO_MAP:
        map_ptr_access(v, reg, regno, off, kind)
    elif reg.is_pkt:
        if kind == WRITE and not v.ctx.pkt_write():
            raise fail("cannot write into packet")
        if kind == READ and not v.ctx.pkt_read():
            raise fail(f"R{regno} invalid mem access '{reg.type_str()}'")
        if kind == WRITE and value is not None and v.is_pointer_value(value):
            raise fail(f"R{value_regno} leaks addr into packet")
        if reg.smin < 0:
            raise fail(f"R{regno} min value is negative, either use unsigned index or do a if "
                       f"(index >=0) check.")
        check_packet(v, reg, regno, off, size)
        if dst is not None:
            mark_unknown(regs[dst])
    else:
        raise fail(f"R{regno} invalid mem access '{reg.type_str()}'")
    if dst is not None:
        _narrow(regs[dst], size, signed)


# --- helper memory arguments (check_helper_mem_access) --------------------------------------

def helper_mem_access(v: "Verifier", regno: int, size: int, kind: str, zero_ok: bool,
                      raw: dict | None) -> None:
    reg = v.state.regs[regno]
    t = reg.type
    if reg.is_pkt:
        check_packet(v, reg, regno, reg.off, size, zero_ok)
    elif t == PTR_TO_MAP_KEY:
        if kind == WRITE:
            raise fail(f"R{regno} cannot write into {reg.type_str()}")
        check_mem_region(v, reg, regno, reg.off, size, reg.map.key_size)
    elif t == PTR_TO_MAP_VALUE:
        if kind == WRITE and v.map_rdonly(reg.map):
            raise fail(f"write into map forbidden, value_size={reg.map.value_size} "
                       f"off={reg.off} size={size}")
        check_mem_region(v, reg, regno, reg.off, size, reg.map.value_size, zero_ok)
    elif t == PTR_TO_MEM:
        if reg.rdonly and kind == WRITE:
            raise fail(f"R{regno} cannot write into {reg.type_str()}")
        check_mem_region(v, reg, regno, reg.off, size, reg.mem_size, zero_ok)
    elif t == PTR_TO_STACK:
        stack_range_initialized(v, reg, regno, reg.off, size, zero_ok, kind, raw)
    else:
        if zero_ok and size == 0 and reg.is_const() and reg.var_off.value == 0:
            return
        raise fail(f"R{regno} type={reg.type_str()} expected=fp")


def stack_range_initialized(v: "Verifier", reg: Reg, regno: int, off: int, size: int,
                            zero_ok: bool, kind: str, raw: dict | None) -> None:
    if size == 0 and not zero_ok:
        raise fail("invalid zero-sized read")
    stack_bounds(v, reg, regno, off, size, kind)
    frame = v.frame_of(reg)
    if reg.var_off.is_const():
        min_off = max_off = s64v(reg.var_off.value) + off
    else:
        if not v.bypass_spec_v1:
            raise fail(f"R{regno} variable offset stack access prohibited for !root, "
                       f"var_off={reg.var_off}")
        if raw is not None and raw.get("raw_mode"):
            raw = None
        min_off, max_off = reg.smin + off, reg.smax + off
    if raw is not None and raw.get("raw_mode"):
        raw["access_size"] = size
        raw["regno"] = regno
        # the helper may write less than all of it (bpf_probe_read_str): what it leaves
        # is the stack as it was
        v.reads_uninit_stack = True
        return
    clobber = kind == WRITE
    for i in range(min_off, max_off + size):
        spi, idx = (-i - 1) // 8, (-i - 1) % 8
        slot = frame.stack.get(spi)
        t = slot.types[idx] if slot is not None else INVALID
        if t == MISC:
            continue
        if t == ZERO or (t == INVALID and v.uninit_stack_ok(clobber and min_off == max_off)):
            if clobber:
                frame.slot(spi).types[idx] = MISC
            continue
        if slot is not None and slot.is_spill and (slot.spilled.type == SCALAR
                                                   or v.allow_ptr_leaks):
            if clobber:
                mark_unknown(slot.spilled)
                slot.types = [MISC if x == SPILL else x for x in slot.types]
            continue
        if reg.var_off.is_const():
            raise fail(f"invalid read from stack R{regno} off {min_off}+{i - min_off} "
                       f"size {size}")
        raise fail(f"invalid read from stack R{regno} var_off {reg.var_off}+{i - min_off} "
                   f"size {size}")


__all__ = ["READ", "WRITE", "VerifyFail", "check_mem_access", "fail", "helper_mem_access"]
