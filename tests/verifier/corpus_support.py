"""The verifier corpus: programs (assembly and C) with the kernel's recorded decisions.

Layout of ``tests/verifier/corpus/``:

* ``asm/<category>.s`` - several entries per file, each starting with a header::

      ## entry: packet_off_by_one
      ## type: xdp                  (UAPI program type without BPF_PROG_TYPE_)
      ## attach: 0                  (expected_attach_type, number; optional)
      ## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 16}]
      ## desc: one line saying what it checks
      ## raw                        (optional: the body is ".insn op dst src off imm"
                                     lines, for encodings the assembler refuses)
      <LLVM-syntax assembly, pybpf.asm.assemble(..., syntax="llvm"); GNU-as
       ".rept N" / ".endr" repeats the lines between (expanded here first)>

  The category is the file's name. Maps are referenced with ``ld_pseudo rN, 5, i``
  (BPF_PSEUDO_MAP_IDX: the i-th map) or ``ld_pseudo rN, 6, i, off``
  (BPF_PSEUDO_MAP_IDX_VALUE) - the ``pybpf verify --maps FILE.json`` convention.
* ``c/<name>.c`` - one program per file, first line ``// corpus: <category>: <desc>``,
  compiled by ``tools/record_verifier_corpus.py --build`` (clang -O2 -g -target bpf)
  into ``c/<name>.o``, which is what is loaded (so the suite needs no compiler and the
  bytecode is the one the kernel judged). Its maps become JSON specs in the order
  of the object's map names, and its map lddws are rewritten to the index convention.
* ``kernel.json`` - what the kernel said about every entry at both privilege levels,
  recorded by ``tools/record_verifier_corpus.py`` (never by pybpf's verifier).

Error lines are compared after :func:`normalise` (ids, map fds and kernel addresses).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pybpf.isa import Instruction, encode
from pybpf.isa.uapi import ProgType

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
KERNEL_JSON = CORPUS_DIR / "kernel.json"
PRIVILEGES = ("root", "cap_bpf")
CATEGORIES = (
    "control_flow",    # unreachable, out-of-range jumps, missing exit, fallthrough, lddw
    "loops",           # bounded loops, infinite loops, back-edges, complexity
    "calls",           # subprograms, call depth, combined stack, global functions
    "limits",          # instruction count and complexity limits, stack size
    "registers",       # uninitialised reads, r10 writes, register types
    "alu",             # div/mod by zero, shifts, 32-bit ops on pointers
    "ranges",          # tnum and range refinement on branches, signed/unsigned tricks
    "stack",           # spills and fills, partial slots, uninitialised reads, misc/zero
    "pointer_arith",   # allowed and forbidden pointer arithmetic and comparisons
    "null_checks",     # map_value_or_null and friends
    "packet",          # data + N > data_end, off-by-one, meta
    "ctx",             # context field access per program type
    "helpers",         # helper arguments, sizes, map pointers, availability
    "references",      # ringbuf and socket references
    "return_values",   # return ranges per program type
    "encoding",        # bad opcodes, reserved fields, registers, lddw
    "privilege",       # decisions that depend on the loader's capabilities
)
_MAP_LDDW = 0x18


@dataclass
class CorpusEntry:
    """One corpus program and everything needed to load or verify it."""

    name: str
    category: str
    description: str
    source_kind: str                     # "asm", "raw" or "c"
    path: Path
    prog_type: ProgType
    expected_attach_type: int
    maps: list[dict]
    instructions: list[Instruction] | bytes
    line: int = 1                        # where the entry starts in its file
    text: str = ""                       # its source text
    btf: bytes | None = None             # C only: raw BTF and the kernel's records
    func_info: tuple[bytes, int, int] | None = None
    line_info: tuple[bytes, int, int] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def code(self) -> bytes:
        """The bytecode, map references in the index convention."""
        ins = self.instructions
        return bytes(ins) if isinstance(ins, (bytes, bytearray)) else encode(ins)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.code).hexdigest()[:16]

    def load_request(self, trace_log: bool = True) -> Any:
        from pybpf.kernel.privilege import LoadRequest

        return LoadRequest(int(self.prog_type), self.code, list(self.maps),
                           self.expected_attach_type, self.btf, self.func_info,
                           self.line_info, trace_log=trace_log)


# ---------------------------------------------------------------------------------------
# Reading the corpus
# ---------------------------------------------------------------------------------------

_HEADER = re.compile(r"^##\s*(entry|type|attach|maps|desc|raw)\b:?\s*(.*)$")


def _prog_type(name: str) -> ProgType:
    return ProgType[name.strip().upper()]


def _raw_insns(body: list[tuple[int, str]], path: Path) -> bytes:
    out = bytearray()
    for lineno, line in body:
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.replace(",", " ").split()
        if parts[0] != ".insn" or len(parts) != 6:
            raise ValueError(f"{path}:{lineno}: expected '.insn op dst src off imm'")
        op, dst, src, off, imm = (int(p, 0) for p in parts[1:])
        out += bytes([op, (src << 4) | dst]) + off.to_bytes(2, "little", signed=True) + \
            imm.to_bytes(4, "little", signed=imm < 0)
    return bytes(out)


def _expand_rept(text: str) -> str:
    """GNU-as ``.rept N`` ... ``.endr`` (not nested): the lines between, N times."""
    out: list[str] = []
    block: list[str] | None = None
    count = 0
    for line in text.splitlines():
        word = line.split("#", 1)[0].split()
        if word[:1] == [".rept"]:
            block, count = [], int(word[1], 0)
        elif word[:1] == [".endr"]:
            out += (block or []) * count
            block = None
        elif block is not None:
            block.append(line)
        else:
            out.append(line)
    return "\n".join(out)


def _asm_entries(path: Path) -> list[CorpusEntry]:
    from pybpf.asm import assemble

    entries: list[CorpusEntry] = []
    lines = path.read_text().splitlines()
    current: dict | None = None

    def finish() -> None:
        if current is None:
            return
        body = current["body"]
        text = "\n".join(line for _, line in body)
        if current.get("raw"):
            insns: list[Instruction] | bytes = _raw_insns(body, path)
            kind = "raw"
        else:
            if ".rept" in text:
                insns = assemble(_expand_rept(text), syntax="llvm", filename=str(path))
            else:  # blank lines keep the assembler's line numbers those of the file
                padded = "\n" * (body[0][0] - 1) + text if body else ""
                insns = assemble(padded, syntax="llvm", filename=str(path))
            kind = "asm"
        entries.append(CorpusEntry(
            name=current["entry"], category=path.stem, description=current.get("desc", ""),
            source_kind=kind, path=path, prog_type=_prog_type(current["type"]),
            expected_attach_type=int(current.get("attach") or 0),
            maps=json.loads(current.get("maps") or "[]"), instructions=insns,
            line=current["line"], text=text))

    for lineno, line in enumerate(lines, 1):
        m = _HEADER.match(line)
        if m:
            key, value = m.group(1), m.group(2).strip()
            if key == "entry":
                finish()
                current = {"entry": value, "line": lineno, "body": []}
            elif current is None:
                raise ValueError(f"{path}:{lineno}: header before '## entry:'")
            else:
                current[key] = value if key != "raw" else True
            continue
        if current is not None:
            current["body"].append((lineno, line))
    finish()
    return entries


def map_spec_json(spec: Any) -> dict:
    """A pybpf MapSpec as the corpus' JSON map spec."""
    from pybpf.isa.uapi import MapType

    out = {"type": MapType(spec.type).name.lower(), "key_size": spec.key_size,
           "value_size": spec.value_size, "max_entries": spec.max_entries}
    if spec.flags:
        out["flags"] = spec.flags
    if spec.inner is not None:
        out["inner"] = map_spec_json(spec.inner)
    return out


def c_entry(path: Path) -> CorpusEntry:
    """The entry of one ``c/<name>.c``, from its compiled ``<name>.o``."""
    import pybpf
    from pybpf.isa.opcodes import PSEUDO_MAP_FD, PSEUDO_MAP_VALUE
    from pybpf.kernel.loader import program_load_info

    first = path.read_text().splitlines()[0]
    m = re.match(r"//\s*corpus:\s*(\w+):\s*(.*)$", first)
    if not m:
        raise ValueError(f"{path}:1: expected '// corpus: <category>: <description>'")
    obj = path.with_suffix(".o")
    spec = pybpf.open(obj)
    if len(spec.programs) != 1:
        raise ValueError(f"{obj}: {len(spec.programs)} programs (one per file)")
    prog = next(iter(spec.programs.values()))
    if prog.core_relos:
        raise ValueError(f"{obj}: CO-RE relocations are not supported in the corpus")
    names = sorted(spec.maps)
    for name in names:
        if spec.maps[name].data is not None:
            raise ValueError(f"{obj}: global data ({name}) is not supported in the corpus")
    insns = []
    for insn in prog.insns:
        if insn.opcode == _MAP_LDDW and insn.src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE):
            index = names.index(insn.reference or "")
            if insn.src == PSEUDO_MAP_FD:
                insn = insn.with_meta(src=5, imm=index)
            else:
                insn = insn.with_meta(src=6, imm=(insn.imm & ~0xFFFFFFFF) | index)
        insns.append(insn)
    info = program_load_info(prog, spec.btf.raw) if spec.btf is not None else {}
    return CorpusEntry(
        name=path.stem, category=m.group(1), description=m.group(2).strip(),
        source_kind="c", path=path, prog_type=ProgType(prog.type),
        expected_attach_type=prog.attach_type or 0,
        maps=[map_spec_json(spec.maps[n]) for n in names], instructions=insns,
        text=path.read_text(), btf=spec.btf.raw if spec.btf is not None else None,
        func_info=info.get("func_info"), line_info=info.get("line_info"),
        extra={"section": prog.section, "program": prog.name})


@lru_cache(maxsize=1)
def _load_corpus() -> tuple[CorpusEntry, ...]:
    entries: list[CorpusEntry] = []
    for path in sorted((CORPUS_DIR / "asm").glob("*.s")):
        entries += _asm_entries(path)
    for path in sorted((CORPUS_DIR / "c").glob("*.c")):
        entries.append(c_entry(path))
    return tuple(entries)


def load_corpus() -> list[CorpusEntry]:
    """Every corpus entry, asm files first (by file, in order), then C files."""
    return list(_load_corpus())


def entries_by_name() -> dict[str, CorpusEntry]:
    return {e.name: e for e in _load_corpus()}


# ---------------------------------------------------------------------------------------
# The kernel's decisions
# ---------------------------------------------------------------------------------------

_NORMALISE = [
    # a message printed without its newline runs into the stats line that follows it
    (re.compile(r"(processed \d+ insns \(limit \d+\)|verification time \d+ usec).*$"), ""),
    (re.compile(r"\bref_obj_id=\d+"), "ref_obj_id=N"),
    (re.compile(r"(?<![\w_])id=\d+"), "id=N"),
    (re.compile(r"\bmap_id=\d+"), "map_id=N"),
    (re.compile(r"\bfd \d+\b"), "fd N"),
    (re.compile(r"\b(?:0x)?f{4}[0-9a-f]{12}\b"), "ADDR"),   # kernel addresses
    (re.compile(r"\b0x[0-9a-f]{9,16}\b"), "ADDR"),
]


def normalise(line: str | None) -> str | None:
    """An error line with what differs between loads replaced: ``id=N``,
    ``ref_obj_id=N``, map ids and fds, kernel addresses."""
    if line is None:
        return None
    for pattern, repl in _NORMALISE:
        line = pattern.sub(repl, line)
    return line.strip()


_PROCESSED = re.compile(r"processed (\d+) insns")
_TIME = re.compile(r"verification time (\d+) usec")


def decision(result: Any) -> dict:
    """The record of one kernel load (a privilege.LoadResult): accepted, errno, first
    error line (normalised) and failing instruction, processed insns, verification time."""
    from pybpf.kernel.programs import parse_verifier_log

    out: dict[str, Any] = {"accepted": result.accepted, "errno": result.errno}
    stats = result.stats_log
    m = _PROCESSED.search(stats)
    out["processed"] = int(m.group(1)) if m else None
    m = _TIME.search(stats)
    out["verification_time_usec"] = int(m.group(1)) if m else None
    if result.accepted:
        out["error"], out["insn"] = None, None
    else:
        # The trace (log_level 1) gives the error and the instruction; when the error
        # line is glued to an instruction line there (e.g. the complexity limit), the
        # stats log (log_level 4, no trace) still has it on a line of its own.
        error, insn = parse_verifier_log(result.trace_log)
        if error is None:
            error = parse_verifier_log(stats)[0]
        out["error"], out["insn"] = normalise(error), insn
    return out


def load_kernel_record() -> dict:
    return json.loads(KERNEL_JSON.read_text())


__all__ = ["CATEGORIES", "CORPUS_DIR", "CorpusEntry", "KERNEL_JSON", "PRIVILEGES",
           "c_entry", "decision", "entries_by_name", "load_corpus", "load_kernel_record",
           "map_spec_json", "normalise"]
