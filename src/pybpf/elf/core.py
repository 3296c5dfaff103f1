"""CO-RE: resolve a program's ``core_relos`` against a target BTF (usually vmlinux).

Semantics follow libbpf's ``relo_core.c``:

- the local type named by a relocation is matched against every target type of the same
  kind whose *essential* name (``___flavor`` suffix stripped) is the same; all matching
  candidates must agree on the result, else it is ambiguous (ElfError);
- field relocations walk the access string (``0:2:1``: array index on the root, then
  member / array indexes), matching members by name (through anonymous embedded
  structs/unions) and checking the field types are compatible;
- a relocation without a match gives 0 for the "exists"/"matches" kinds and for type
  ids/sizes; for the others (field offset/size/signedness/shifts, enum value) the
  instruction is *poisoned* as libbpf poisons it: replaced by ``call 0xbad2310`` (both
  slots of an lddw), which the verifier rejects only if the instruction is reachable.
  That keeps ``bpf_core_field_exists()``-guarded code loadable.

``apply_core`` never mutates the spec; it returns patched instructions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pybpf.elf.btf import INT_SIGNED, Btf, Kind, Type
from pybpf.elf.spec import CoreRelo, ProgramSpec
from pybpf.errors import ElfError
from pybpf.isa import Instruction
from pybpf.isa.opcodes import OPCODE_CALL, OPCODE_LDDW, SIZE_BYTES, SIZE_OF_BYTES

FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED = 0, 1, 2, 3
FIELD_LSHIFT_U64, FIELD_RSHIFT_U64 = 4, 5
TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE = 6, 7, 8, 9
ENUMVAL_EXISTS, ENUMVAL_VALUE, TYPE_MATCHES = 10, 11, 12
KIND_NAMES = {0: "byte_off", 1: "byte_sz", 2: "field_exists", 3: "signed", 4: "lshift_u64",
              5: "rshift_u64", 6: "local_type_id", 7: "target_type_id", 8: "type_exists",
              9: "type_size", 10: "enumval_exists", 11: "enumval_value", 12: "type_matches"}
POISON_IMM = 0xBAD2310
VMLINUX = "/sys/kernel/btf/vmlinux"

_FIELD_KINDS = range(0, 6)
_TYPE_KINDS = (TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES)
_ENUM_KINDS = (ENUMVAL_EXISTS, ENUMVAL_VALUE)
_CLASS_LD, _CLASS_LDX, _CLASS_ST, _CLASS_STX, _CLASS_ALU, _CLASS_ALU64 = 0, 1, 2, 3, 4, 7

_target_cache: dict[str, Btf] = {}


def target_btf(path: str | os.PathLike | None = None) -> Btf:
    """The BTF to relocate against: the running kernel's (cached) or a given BTF file."""
    key = os.fspath(path) if path is not None else VMLINUX
    btf = _target_cache.get(key)
    if btf is None:
        try:
            btf = Btf.from_file(key)
        except OSError as e:
            raise ElfError(f"{key}: cannot read target BTF: {e.strerror}") from e
        _target_cache[key] = btf
    return btf


def essential_name(name: str) -> str:
    """``task_struct___old`` → ``task_struct``: the name without its flavor suffix."""
    cut = name.find("___")
    return name[:cut] if cut > 0 else name


def _candidates(local: Type, target: Btf) -> list[Type]:
    index = getattr(target, "_essential_index", None)
    if index is None:
        index = {}
        target.ids_by_name("")     # builds the name table
        for name, ids in (target._names or {}).items():
            index.setdefault(essential_name(name), []).extend(ids)
        target._essential_index = index  # type: ignore[attr-defined]
    want = local.kind
    enums = (Kind.ENUM, Kind.ENUM64)
    out = []
    for type_id in index.get(essential_name(local.name), ()):
        t = target[type_id]
        if t.kind is want or (want in enums and t.kind in enums):
            out.append(t)
    return out


# -- access specs -------------------------------------------------------------------------

@dataclass
class _Access:
    type_id: int         # struct/union for member accessors; element type for arrays
    idx: int
    name: str | None     # member name; None for array index


@dataclass
class _Spec:
    btf: Btf
    root_id: int
    access: list[_Access]
    bit_offset: int


def _parse_local(btf: Btf, relo: CoreRelo) -> _Spec:
    try:
        indexes = [int(x) for x in relo.access.split(":")]
    except ValueError:
        raise ElfError(f"CO-RE: bad access string {relo.access!r}") from None
    root = btf.resolve(relo.type_id)
    size = btf.size_of(root.id)
    spec = _Spec(btf, relo.type_id, [_Access(relo.type_id, indexes[0], None)],
                 indexes[0] * size * 8)
    t = root
    for idx in indexes[1:]:
        t = btf.resolve(t.id)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            if idx >= len(t.members):
                raise ElfError(f"CO-RE: access {relo.access!r}: member {idx} of "
                               f"{t.name or '(anon)'} out of range")
            m = t.members[idx]
            spec.bit_offset += m.offset
            if m.name:
                spec.access.append(_Access(t.id, idx, m.name))
            t = m.type
        elif t.kind is Kind.ARRAY:
            elem = btf.resolve(t.type_id)
            spec.bit_offset += idx * btf.size_of(elem.id) * 8
            spec.access.append(_Access(elem.id, idx, None))
            t = elem
        else:
            raise ElfError(f"CO-RE: access {relo.access!r}: cannot index {t.kind.name}")
    return spec


def _fields_compat(lb: Btf, lid: int, tb: Btf, tid: int, depth: int = 0) -> bool:
    lt, tt = lb.resolve(lid), tb.resolve(tid)
    composite = (Kind.STRUCT, Kind.UNION)
    if lt.kind in composite and tt.kind in composite:
        return True
    enums = (Kind.ENUM, Kind.ENUM64)
    if lt.kind in enums and tt.kind in enums:
        return not lt.name or essential_name(lt.name) == essential_name(tt.name)
    if lt.kind is not tt.kind:
        return False
    if lt.kind in (Kind.PTR, Kind.FLOAT):
        return True
    if lt.kind is Kind.FWD:
        return essential_name(lt.name) == essential_name(tt.name)
    if lt.kind is Kind.INT:
        return lt.bit_offset == 0 and tt.bit_offset == 0
    if lt.kind is Kind.ARRAY and depth < 16:
        return _fields_compat(lb, lt.type_id, tb, tt.type_id, depth + 1)
    return False


def _match_member(local: _Spec, acc: _Access, tb: Btf, tid: int, out: _Spec,
                  depth: int = 0) -> bool:
    """Find member ``acc.name`` in target struct ``tid`` (recursing into anonymous ones)."""
    t = tb.resolve(tid)
    if t.kind not in (Kind.STRUCT, Kind.UNION) or depth > 32:
        return False
    local_member = local.btf[acc.type_id].members[acc.idx]
    for i, m in enumerate(t.members):
        if not m.name:
            saved = out.bit_offset
            out.bit_offset += m.offset
            if _match_member(local, acc, tb, m.type_id, out, depth + 1):
                return True
            out.bit_offset = saved
        elif m.name == acc.name:
            if not _fields_compat(local.btf, local_member.type_id, tb, m.type_id):
                return False
            out.bit_offset += m.offset
            out.access.append(_Access(t.id, i, m.name))
            return True
    return False


def _match_field_spec(local: _Spec, tb: Btf, cand: Type) -> _Spec | None:
    first = local.access[0]
    out = _Spec(tb, cand.id, [_Access(cand.id, first.idx, None)],
                first.idx * tb.size_of(cand.id) * 8)
    current = cand.id
    for acc in local.access[1:]:
        if acc.name is not None:
            if not _match_member(local, acc, tb, current, out):
                return None
            last = out.access[-1]
            current = tb[last.type_id].members[last.idx].type_id
        else:
            t = tb.resolve(current)
            if t.kind is not Kind.ARRAY:
                return None
            if t.nelems and acc.idx >= t.nelems:
                return None
            elem = tb.resolve(t.type_id)
            out.bit_offset += acc.idx * tb.size_of(elem.id) * 8
            out.access.append(_Access(elem.id, acc.idx, None))
            current = elem.id
    return out


@dataclass
class _FieldResult:
    value: int
    size: int            # field size for load/store resizing (0: not applicable)
    type: Type | None
    validate: bool


def _field_value(spec: _Spec, kind: int, access: str) -> _FieldResult:
    btf = spec.btf
    acc = spec.access[-1]
    if acc.name is None:
        size = btf.size_of(acc.type_id)
        if kind == FIELD_BYTE_OFFSET:
            return _FieldResult(spec.bit_offset // 8, size, btf.resolve(acc.type_id), True)
        if kind == FIELD_BYTE_SIZE:
            return _FieldResult(size, 0, None, True)
        raise ElfError(f"CO-RE: {KIND_NAMES[kind]} of an array element ({access}) is not "
                       f"supported")
    parent = btf[acc.type_id]
    member = parent.members[acc.idx]
    mt = btf.resolve(member.type_id)
    bit_off, bit_sz = spec.bit_offset, member.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = mt.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise ElfError(f"CO-RE: bitfield {access} cannot be read with a 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = btf.size_of(member.type_id)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    if kind == FIELD_BYTE_OFFSET:
        return _FieldResult(byte_off, 0 if bitfield else byte_sz, None if bitfield else mt,
                            not bitfield)
    if kind == FIELD_BYTE_SIZE:
        value = byte_sz
    elif kind == FIELD_SIGNED:
        value = int(mt.signed) if mt.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64) else 0
    elif kind == FIELD_LSHIFT_U64:
        value = 64 - (bit_off + bit_sz - byte_off * 8)
    elif kind == FIELD_RSHIFT_U64:
        value = 64 - bit_sz
    else:  # FIELD_EXISTS
        value = 1
    return _FieldResult(value, 0, None, not bitfield)


# -- type matching --------------------------------------------------------------------------

def _types_compat(lb: Btf, lid: int, tb: Btf, tid: int, depth: int = 0) -> bool:
    if depth > 32:
        return False
    lt, tt = lb.resolve(lid), tb.resolve(tid)
    if lt.kind is not tt.kind:
        return {lt.kind, tt.kind} == {Kind.ENUM, Kind.ENUM64}
    if lt.kind in (Kind.VOID, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64, Kind.FWD,
                   Kind.FLOAT):
        return True
    if lt.kind is Kind.INT:
        return lt.bit_offset == 0 and tt.bit_offset == 0
    if lt.kind in (Kind.PTR, Kind.ARRAY):
        return _types_compat(lb, lt.type_id, tb, tt.type_id, depth + 1)
    if lt.kind is Kind.FUNC_PROTO:
        lp, tp = lt.params, tt.params
        return len(lp) == len(tp) and all(
            _types_compat(lb, a.type_id, tb, b.type_id, depth + 1) for a, b in zip(lp, tp)) \
            and _types_compat(lb, lt.type_id, tb, tt.type_id, depth + 1)
    return False


def _names_match(a: str, b: str) -> bool:
    return essential_name(a) == essential_name(b)


def _types_match(lb: Btf, lid: int, tb: Btf, tid: int, behind_ptr: bool = False,
                 depth: int = 0) -> bool:
    """libbpf's stricter "types match" relation (bpf_core_type_matches)."""
    if depth > 32:
        return False
    lt, tt = lb.resolve(lid), tb.resolve(tid)
    if not _names_match(lt.name, tt.name):
        return False
    lk, tk = lt.kind, tt.kind
    if lk is Kind.VOID:
        return tk is Kind.VOID
    if lk is Kind.FWD:
        if behind_ptr and tk in (Kind.STRUCT, Kind.UNION):
            return (tk is Kind.UNION) == lt.kind_flag
        return tk is Kind.FWD and lt.kind_flag == tt.kind_flag
    if lk in (Kind.ENUM, Kind.ENUM64):
        if tk not in (Kind.ENUM, Kind.ENUM64) or lt.size != tt.size:
            return False
        names = {essential_name(v.name) for v in tt.values}
        return all(essential_name(v.name) in names for v in lt.values)
    if lk in (Kind.STRUCT, Kind.UNION):
        if behind_ptr:
            return lk is tk or (tk is Kind.FWD and (lk is Kind.UNION) == tt.kind_flag)
        if lk is not tk or len(lt.members) > len(tt.members):
            return False
        for lm in lt.members:
            if not any(_names_match(lm.name, tm.name) and
                       _types_match(lb, lm.type_id, tb, tm.type_id, behind_ptr, depth + 1)
                       for tm in tt.members):
                return False
        return True
    if lk is not tk:
        return False
    if lk is Kind.INT:
        return lt.size == tt.size and lt.signed == tt.signed
    if lk is Kind.PTR:
        return _types_match(lb, lt.type_id, tb, tt.type_id, True, depth + 1)
    if lk is Kind.ARRAY:
        return lt.nelems == tt.nelems and _types_match(lb, lt.type_id, tb, tt.type_id,
                                                       behind_ptr, depth + 1)
    if lk is Kind.FUNC_PROTO:
        if len(lt.params) != len(tt.params):
            return False
        return all(_types_match(lb, a.type_id, tb, b.type_id, behind_ptr, depth + 1)
                   for a, b in zip(lt.params, tt.params)) and \
            _types_match(lb, lt.type_id, tb, tt.type_id, behind_ptr, depth + 1)
    return lk is Kind.FLOAT and lt.size == tt.size


# -- one relocation ---------------------------------------------------------------------------

@dataclass
class Resolution:
    """What one relocation resolves to: the values before and after, and whether to poison."""

    orig: int
    new: int
    poison: bool = False
    validate: bool = True
    orig_size: int = 0
    new_size: int = 0
    resize_ok: bool = True


def resolve_relo(relo: CoreRelo, local: Btf, target: Btf) -> Resolution:
    kind = relo.kind
    what = f"CO-RE {KIND_NAMES.get(kind, kind)} [{relo.type_id}] {relo.access!r}"
    if kind not in KIND_NAMES:
        raise ElfError(f"{what}: unknown relocation kind {kind}")
    if kind == TYPE_ID_LOCAL:
        return Resolution(relo.type_id, relo.type_id, validate=False)
    root = local[relo.type_id]
    if not root.name:
        raise ElfError(f"{what}: the local type is anonymous")
    cands = _candidates(root, target)
    if kind in _FIELD_KINDS:
        lspec = _parse_local(local, relo)
        lres = _field_value(lspec, kind, relo.access)
        results = []
        for cand in cands:
            tspec = _match_field_spec(lspec, target, cand)
            if tspec is not None:
                results.append(_field_value(tspec, kind, relo.access))
        return _pick(what, lres.value, [(r.value, r) for r in results], kind, lres)
    if kind in _TYPE_KINDS:
        orig = {TYPE_ID_TARGET: relo.type_id, TYPE_EXISTS: 1, TYPE_MATCHES: 1,
                TYPE_SIZE: local.size_of(relo.type_id)}[kind]
        match = _types_match if kind == TYPE_MATCHES else _types_compat
        values = []
        for cand in cands:
            if match(local, relo.type_id, target, cand.id):
                values.append({TYPE_ID_TARGET: cand.id, TYPE_EXISTS: 1, TYPE_MATCHES: 1,
                               TYPE_SIZE: target.size_of(cand.id) if kind == TYPE_SIZE else 0
                               }[kind])
        if not values:
            return Resolution(orig, 0, validate=kind != TYPE_ID_TARGET)
        if kind == TYPE_ID_TARGET:
            return Resolution(orig, values[0], validate=False)
        return _pick(what, orig, [(v, None) for v in values], kind, None)
    # enum value relocations
    lenum = local.resolve(relo.type_id)
    try:
        idx = int(relo.access)
        lval = lenum.values[idx]
    except (ValueError, IndexError, ElfError):
        raise ElfError(f"{what}: bad enumerator access") from None
    orig = 1 if kind == ENUMVAL_EXISTS else lval.value & (2 ** 64 - 1)
    values = []
    for cand in cands:
        for v in cand.values:
            if _names_match(v.name, lval.name):
                values.append(1 if kind == ENUMVAL_EXISTS else v.value & (2 ** 64 - 1))
                break
    if not values:
        if kind == ENUMVAL_EXISTS:
            return Resolution(orig, 0)
        return Resolution(orig, 0, poison=True)
    return _pick(what, orig, [(v, None) for v in values], kind, None)


def _pick(what: str, orig: int, results: list, kind: int, lres: _FieldResult | None) -> Resolution:
    if not results:
        if kind == FIELD_EXISTS:
            return Resolution(orig, 0)
        return Resolution(orig, 0, poison=True)
    value, extra = results[0]
    if any(v != value for v, _ in results[1:]):
        raise ElfError(f"{what}: ambiguous, candidates give "
                       f"{sorted({v for v, _ in results})}")
    res = Resolution(orig, value)
    if lres is not None:
        res.validate = lres.validate
        res.orig_size, res.new_size = lres.size, extra.size
        if lres.size != extra.size and lres.size and extra.size:
            lt, tt = lres.type, extra.type
            unsigned_ints = (lt is not None and tt is not None and lt.kind is Kind.INT and
                             tt.kind is Kind.INT and not lt.encoding & INT_SIGNED and
                             not tt.encoding & INT_SIGNED)
            ptrs = lt is not None and tt is not None and lt.kind is tt.kind is Kind.PTR
            res.resize_ok = unsigned_ints or ptrs
    return res


# -- patching -------------------------------------------------------------------------------

def _poison() -> Instruction:
    return Instruction(OPCODE_CALL, 0, 0, 0, POISON_IMM)


def apply_core(spec: ProgramSpec, local_btf: Btf, target_btf: Btf) -> list[Instruction]:
    """The program's instructions with every CO-RE relocation resolved against
    ``target_btf``. ``spec`` is not changed."""
    insns = list(spec.insns)
    if not spec.core_relos:
        return insns
    index_of: dict[int, int] = {}
    slot = 0
    for i, insn in enumerate(insns):
        index_of[slot] = i
        slot += insn.slots
    replaced: dict[int, list[Instruction]] = {}
    for relo in spec.core_relos:
        where = f"program {spec.name} instruction {relo.insn}"
        i = index_of.get(relo.insn)
        if i is None:
            raise ElfError(f"{where}: CO-RE relocation does not point at an instruction")
        try:
            res = resolve_relo(relo, local_btf, target_btf)
        except ElfError as e:
            raise ElfError(f"{where}: {e}") from e
        insn = insns[i]
        cls = insn.opcode & 0x07
        if res.poison:
            replaced[i] = [_poison(), _poison()] if insn.opcode == OPCODE_LDDW else [_poison()]
            continue
        if cls in (_CLASS_ALU, _CLASS_ALU64) and not insn.opcode & 0x08:
            if res.validate and insn.imm != res.orig:
                raise ElfError(f"{where}: expected imm {res.orig}, found {insn.imm} "
                               f"({relo.access})")
            if not -(1 << 31) <= res.new < (1 << 31):
                raise ElfError(f"{where}: value {res.new} does not fit a 32-bit immediate")
            insns[i] = insn.with_meta(imm=res.new)
        elif cls in (_CLASS_LDX, _CLASS_ST, _CLASS_STX):
            if res.validate and insn.off != res.orig:
                raise ElfError(f"{where}: expected offset {res.orig}, found {insn.off}")
            if res.new >= 1 << 15:
                raise ElfError(f"{where}: offset {res.new} does not fit 16 bits")
            opcode = insn.opcode
            if relo.kind == FIELD_BYTE_OFFSET and res.orig_size != res.new_size and \
                    res.new_size:
                if not res.resize_ok or res.new_size not in SIZE_OF_BYTES or \
                        SIZE_BYTES.get(opcode & 0x18) != res.orig_size:
                    replaced[i] = [_poison()]
                    continue
                opcode = (opcode & ~0x18) | SIZE_OF_BYTES[res.new_size]
            insns[i] = insn.with_meta(opcode=opcode, off=res.new)
        elif insn.opcode == OPCODE_LDDW:
            if res.validate and insn.imm != res.orig:
                raise ElfError(f"{where}: expected imm64 {res.orig}, found {insn.imm}")
            insns[i] = insn.with_meta(imm=res.new & (2 ** 64 - 1))
        else:
            raise ElfError(f"{where}: CO-RE relocation on unsupported instruction "
                           f"(opcode {insn.opcode:#04x})")
    if replaced:
        out: list[Instruction] = []
        for i, insn in enumerate(insns):
            repl = replaced.get(i)
            if repl is None:
                out.append(insn)
            else:
                repl[0] = repl[0].with_meta(symbol=insn.symbol, line=insn.line)
                out.extend(repl)
        insns = out
    return insns
