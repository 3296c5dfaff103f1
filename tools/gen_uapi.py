#!/usr/bin/env python3
"""Generate ``src/pybpf/isa/uapi.py`` from the kernel's own description of its eBPF uapi.

The source is either

* the running kernel's BTF (default): ``bpftool btf dump file /sys/kernel/btf/vmlinux format c``
  prints every enum the kernel was built with, values resolved; or
* a C header such as ``/usr/include/linux/bpf.h`` (``--header``), whose enums may use implicit
  values, references to earlier enumerators, shift expressions and the ``__BPF_FUNC_MAPPER``
  X-macro; or
* a saved C text, e.g. an earlier ``bpftool btf dump ... format c`` output (``--input``).

Some constants (``BPF_PSEUDO_*``) are ``#define``s in the uapi header and so never reach BTF; when
the main source lacks them they are read from the ``#define`` lines of ``--defines-header``
(default ``/usr/include/linux/bpf.h``) and the generated file says so.

The output is deterministic: it depends only on the input text (no timestamps, no paths of the
checkout), so ``--check`` can regenerate and diff, the way a CI job checks generated files.

Usage::

    python tools/gen_uapi.py                       # BTF of the running kernel
    python tools/gen_uapi.py --header /usr/include/linux/bpf.h
    python tools/gen_uapi.py --check               # exit 1 if the module is stale
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import keyword
import operator
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "src" / "pybpf" / "isa" / "uapi.py"
DEFAULT_BTF = "/sys/kernel/btf/vmlinux"
DEFAULT_HEADER = "/usr/include/linux/bpf.h"

# (C enum, Python class, prefix stripped from member names, docstring)
ENUMS: tuple[tuple[str, str, str, str], ...] = (
    ("bpf_prog_type", "ProgType", "BPF_PROG_TYPE_", "Program types (``BPF_PROG_TYPE_*``)."),
    ("bpf_map_type", "MapType", "BPF_MAP_TYPE_", "Map types (``BPF_MAP_TYPE_*``)."),
    ("bpf_attach_type", "AttachType", "BPF_", "Attach types (``BPF_CGROUP_INET_INGRESS``...)."),
    ("bpf_link_type", "LinkType", "BPF_LINK_TYPE_", "Link types (``BPF_LINK_TYPE_*``)."),
    ("bpf_cmd", "Cmd", "BPF_", "bpf(2) commands (``BPF_MAP_CREATE``...)."),
    ("bpf_func_id", "HelperId", "BPF_FUNC_", "Helper function ids, the ``imm`` of a helper call."),
)

# Module-level constants: (title, names).  A name is looked up first among the anonymous enums
# of the main source, then among the #define lines of the defines header.
CONSTANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("flags of BPF_MAP_UPDATE_ELEM / BPF_MAP_LOOKUP_ELEM", (
        "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "BPF_F_LOCK",
    )),
    ("src_reg of a ld_imm64 (BPF_LD | BPF_IMM | BPF_DW) instruction", (
        "BPF_PSEUDO_MAP_FD", "BPF_PSEUDO_MAP_VALUE", "BPF_PSEUDO_BTF_ID", "BPF_PSEUDO_FUNC",
        "BPF_PSEUDO_MAP_IDX", "BPF_PSEUDO_MAP_IDX_VALUE",
    )),
    ("src_reg of a call (BPF_JMP | BPF_CALL) instruction", (
        "BPF_PSEUDO_CALL", "BPF_PSEUDO_KFUNC_CALL",
    )),
)

# Helper id 0 is "unspec": an enum member, but not a helper one can call.
HELPER_UNSPEC = 0
# Names an Enum member may not take.
_RESERVED = {"name", "value", "mro"}


class GenError(Exception):
    """The source cannot be turned into the module."""


# --------------------------------------------------------------------------- C text parsing

_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DEFINE_RE = re.compile(r"^\s*#\s*define\s+([A-Za-z_]\w*)(\([^)]*\))?[ \t]*(.*)$")
_INT_RE = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)([uUlL]*)\b")
_ENUM_RE = re.compile(r"\benum\s+(?:([A-Za-z_]\w*)\s*)?\{([^{}]*)\}")
_FUNC_MAPPER_USE_RE = re.compile(r"\b_{2,3}BPF_FUNC_MAPPER\s*\([^)]*\)")
_FN_ENTRY_RE = re.compile(r"\bFN\(\s*([A-Za-z_]\w*)\s*(?:,\s*(\d+))?")


def strip_comments(text: str) -> str:
    """Replace each C comment by one space, as the C preprocessor does."""
    return _COMMENT_RE.sub(" ", text)


def join_continuations(text: str) -> str:
    return re.sub(r"\\\r?\n", " ", text)


def _c_int(literal: str) -> int:
    return int(literal, 16) if literal[:2] in ("0x", "0X") else int(literal, 8 if (
        len(literal) > 1 and literal.startswith("0")) else 10)


_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitOr: operator.or_, ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_UNOPS = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}


def eval_c_expr(expr: str, scope: dict[str, int]) -> int:
    """Evaluate an integer constant expression of the kind enums use.

    Integer literals (with U/L suffixes), names from ``scope``, parentheses, casts to integer
    types are not supported (none occur in the enums read here) and raise GenError.
    """
    py = _INT_RE.sub(lambda m: str(_c_int(m.group(1))), expr.strip())
    try:
        tree = ast.parse(py, mode="eval")
    except SyntaxError as e:
        raise GenError(f"cannot parse constant expression {expr!r}") from e

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in scope:
                return scope[node.id]
            raise GenError(f"unknown name {node.id!r} in {expr!r}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNOPS:
            return _UNOPS[type(node.op)](ev(node.operand))
        raise GenError(f"unsupported constant expression {expr!r}")

    return ev(tree)


def parse_defines(text: str) -> dict[str, int]:
    """``#define NAME <integer expression>`` lines whose value evaluates; others are ignored."""
    out: dict[str, int] = {}
    for line in join_continuations(strip_comments(text)).splitlines():
        m = _DEFINE_RE.match(line)
        if not m or m.group(2) or not m.group(3).strip():
            continue
        try:
            out[m.group(1)] = eval_c_expr(m.group(3), out)
        except GenError:
            continue
    return out


def _func_mapper_items(text: str) -> str | None:
    """Expand the ``__BPF_FUNC_MAPPER`` X-macro of bpf.h into enumerator text.

    Older headers list ``FN(name)`` (ids implicit, in order); since 6.2 they list
    ``FN(name, id, ##ctx)``.  Either way the result is ``BPF_FUNC_name [= id],`` lines.
    """
    for line in text.splitlines():
        m = _DEFINE_RE.match(line)
        if not m or not re.fullmatch(r"_{2,3}BPF_FUNC_MAPPER", m.group(1)):
            continue
        entries = _FN_ENTRY_RE.findall(m.group(3))
        if entries:
            return "\n".join(f"BPF_FUNC_{name}" + (f" = {num}" if num else "") + ","
                             for name, num in entries)
    return None


_PROTO_RE = re.compile(r"^ \* ([A-Za-z_][^\n(]*?\b(bpf_\w+)\(.*\))[ \t]*\n \*[ \t]+Description\b",
                       re.M)


def parse_helper_prototypes(text: str) -> dict[str, str]:
    """Helper name -> C prototype, from the doc comment of the uapi ``bpf.h``.

    The comment lists each helper as a `` * <prototype>`` line followed by a
    `` * \tDescription`` line; the prototype is kept as written there (kernel types such as
    ``struct sk_buff *`` and ``u64``), whitespace collapsed.
    """
    out: dict[str, str] = {}
    for m in _PROTO_RE.finditer(text):
        out.setdefault(m.group(2), " ".join(m.group(1).split()))
    return out


@dataclass
class ParsedC:
    """Enums and simple defines found in a C text."""

    named: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    anonymous: list[list[tuple[str, int]]] = field(default_factory=list)
    defines: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # enum name -> why it did not evaluate

    def constant(self, name: str) -> int | None:
        for members in self.anonymous:
            for n, v in members:
                if n == name:
                    return v
        return None


def parse_c(text: str) -> ParsedC:
    """Find every ``enum [name] { ... }`` in ``text`` and evaluate its enumerators.

    Works on bpftool's BTF dump (explicit values) and on uapi headers (implicit values,
    references to earlier enumerators, ``(1U << n)``, the helper X-macro).
    """
    text = join_continuations(strip_comments(text))
    result = ParsedC(defines=parse_defines(text))
    mapper = _func_mapper_items(text)
    body_text = "\n".join(line for line in text.splitlines()
                          if not line.lstrip().startswith("#"))
    scope: dict[str, int] = dict(result.defines)
    for m in _ENUM_RE.finditer(body_text):
        name, body = m.group(1), m.group(2)
        if mapper is not None:
            body = _FUNC_MAPPER_USE_RE.sub(mapper, body)
        members: list[tuple[str, int]] = []
        nxt = 0
        try:
            for item in body.split(","):
                item = item.strip()
                if not item:
                    continue
                ident, eq, expr = item.partition("=")
                ident = ident.strip()
                if not re.fullmatch(r"[A-Za-z_]\w*", ident):
                    raise GenError(f"unexpected enumerator {item!r}")
                value = eval_c_expr(expr, scope) if eq else nxt
                members.append((ident, value))
                scope[ident] = value
                nxt = value + 1
        except GenError as e:
            if name:
                result.errors[name] = str(e)
            continue
        if name:
            result.named.setdefault(name, members)
        else:
            result.anonymous.append(members)
    return result


# --------------------------------------------------------------------------- sources

@dataclass
class Source:
    text: str
    description: str  # e.g. "/sys/kernel/btf/vmlinux via bpftool btf dump format c"
    release: str  # kernel release, or "unknown"
    sha256: str  # of the bytes the facts came from
    regenerate: str  # command line that reproduces the module
    sha_label: str = "sha256"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_bpftool() -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin:/usr/local/sbin"
    return shutil.which("bpftool", path=path)


def source_from_btf(btf_path: str, release: str | None) -> Source:
    bpftool = find_bpftool()
    if bpftool is None:
        raise GenError("bpftool not found (apt-get install bpftool), or use --header/--input")
    try:
        blob = Path(btf_path).read_bytes()
    except OSError as e:
        raise GenError(f"cannot read BTF {btf_path}: {e}") from e
    proc = subprocess.run([bpftool, "btf", "dump", "file", btf_path, "format", "c"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise GenError(f"bpftool btf dump failed: {proc.stderr.strip()}")
    if release is None:
        release = os.uname().release if os.path.realpath(btf_path) == DEFAULT_BTF else "unknown"
    args = "" if btf_path == DEFAULT_BTF else f" --btf {btf_path}"
    if release != "unknown" and btf_path != DEFAULT_BTF:
        args += f" --kernel-release {release}"
    return Source(proc.stdout, f"{btf_path} via `bpftool btf dump format c`", release,
                  _sha256(blob), f"python tools/gen_uapi.py{args}", "BTF sha256")


def _header_release(header: Path) -> str:
    version_h = header.parent / "version.h"
    try:
        defines = parse_defines(version_h.read_text())
    except OSError:
        return "unknown"
    parts = [defines.get(f"LINUX_VERSION_{k}") for k in ("MAJOR", "PATCHLEVEL", "SUBLEVEL")]
    if None in parts:
        code = defines.get("LINUX_VERSION_CODE")
        if code is None:
            return "unknown"
        parts = [code >> 16, (code >> 8) & 0xFF, code & 0xFF]
    return ".".join(map(str, parts))


def source_from_file(path: str, *, header: bool, release: str | None) -> Source:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise GenError(f"cannot read {path}: {e}") from e
    flag = "--header" if header else "--input"
    if release is None:
        release = _header_release(Path(path)) if header else "unknown"
    args = f" {flag} {path}" + ("" if header or release == "unknown"
                               else f" --kernel-release {release}")
    return Source(data.decode(), path, release, _sha256(data), f"python tools/gen_uapi.py{args}")


# --------------------------------------------------------------------------- rendering

def _member_name(c_name: str, prefix: str, enum: str) -> str:
    if not c_name.startswith(prefix):
        raise GenError(f"enum {enum}: {c_name} lacks the prefix {prefix}; extend ENUMS")
    name = c_name[len(prefix):]
    if (not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_")
            or name in _RESERVED):
        raise GenError(f"enum {enum}: {c_name} gives an unusable member name {name!r}")
    return name


def is_sentinel(c_name: str) -> bool:
    """Count markers such as ``__MAX_BPF_MAP_TYPE``, ``__BPF_FUNC_MAX_ID`` (and, in older
    headers, ``MAX_BPF_LINK_TYPE``) are not members."""
    return c_name.startswith(("__", "MAX_"))


def _order(members: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Members by value; of equal values the non-deprecated, then earliest, name is canonical.

    IntEnum makes the first name bound to a value the canonical one (``MapType(19).name``), so
    ``CGROUP_STORAGE`` goes before its alias ``CGROUP_STORAGE_DEPRECATED``.
    """
    indexed = list(enumerate(members))
    indexed.sort(key=lambda t: (t[1][1], t[1][0].endswith("_DEPRECATED"), t[0]))
    return [m for _, m in indexed]


def render(parsed: ParsedC, source: Source, defines: ParsedC | None,
           defines_desc: str | None, prototypes: dict[str, str] | None = None,
           prototypes_desc: str | None = None) -> str:
    """Render the module text.  ``defines`` supplies constants the main source lacks;
    ``prototypes`` (helper name -> C prototype) fills ``HELPER_PROTOTYPES``."""
    out: list[str] = []
    w = out.append
    w(f"# generated by tools/gen_uapi.py from {source.description} "
      f"(kernel release {source.release} / {source.sha_label} {source.sha256}); do not edit")

    consts: list[tuple[str, list[tuple[str, int, str]]]] = []
    used_defines = False
    for title, names in CONSTANTS:
        rows = []
        for n in names:
            v = parsed.constant(n)
            origin = "enum"
            if v is None:
                v = parsed.defines.get(n)
                origin = "#define"
            if v is None and defines is not None:
                v = defines.defines.get(n)
                if v is None:
                    v = defines.constant(n)
                origin = "fallback"
                used_defines = used_defines or v is not None
            if v is None:
                raise GenError(f"constant {n} is in neither the source nor the defines header")
            rows.append((n, v, origin))
        consts.append((title, rows))

    fallback = sorted(n for _, rows in consts for n, _, o in rows if o == "fallback")
    if fallback:
        note = (f"{', '.join(fallback)} are #defines in the uapi header, absent from the "
                f"source above: taken from the #define lines of {defines_desc}.")
        out.extend(textwrap.wrap(note, 99, initial_indent="# ", subsequent_indent="# ",
                                 break_on_hyphens=False))
    if prototypes and prototypes_desc:
        note = f"HELPER_PROTOTYPES: from the helper documentation comment of {prototypes_desc}."
        out.extend(textwrap.wrap(note, 99, initial_indent="# ", subsequent_indent="# ",
                                 break_on_hyphens=False))
    w(f"# Regenerate with: {source.regenerate}")
    w('"""Kernel eBPF uapi facts: program, map, attach and link types, bpf(2) commands, helper')
    w("ids and the flag constants of ``linux/bpf.h``, as the kernel names them.")
    w("")
    w("Generated by ``tools/gen_uapi.py``; edit the generator, not this file.")
    w('"""')
    w("")
    w("from __future__ import annotations")
    w("")
    w("import enum")
    w("")
    exported = [cls for _, cls, _, _ in ENUMS] + ["HELPER_NAMES", "HELPER_PROTOTYPES",
                                                 "helper_name"]
    exported += [n for _, rows in consts for n, _, _ in rows]
    exported += ["KERNEL_RELEASE", "SOURCE", "SOURCE_SHA256"]
    w("__all__ = [")
    for name in exported:
        w(f'    "{name}",')
    w("]")
    w("")
    w(f"SOURCE = {source.description!r}")
    w(f"KERNEL_RELEASE = {source.release!r}")
    w(f"SOURCE_SHA256 = {source.sha256!r}")

    for enum_name, cls, prefix, doc in ENUMS:
        if enum_name not in parsed.named:
            why = parsed.errors.get(enum_name, "not found")
            raise GenError(f"enum {enum_name}: {why}")
        members = [(c, v) for c, v in parsed.named[enum_name] if not is_sentinel(c)]
        w("")
        w("")
        w(f"class {cls}(enum.IntEnum):")
        w(f'    """{doc} C: ``enum {enum_name}``."""')
        w("")
        canonical: dict[int, str] = {}
        seen: set[str] = set()
        for c_name, value in _order(members):
            name = _member_name(c_name, prefix, enum_name)
            if name in seen:
                raise GenError(f"enum {enum_name}: duplicate member {c_name}")
            seen.add(name)
            if value in canonical:
                w(f"    {name} = {value}  # alias of {canonical[value]}")
            else:
                canonical[value] = name
                w(f"    {name} = {value}")

    w("")
    w("")
    w("# helper id -> C name (\"bpf_map_lookup_elem\"); id 0 (unspec) is no helper.")
    w("HELPER_NAMES: dict[int, str] = {")
    w(f"    m.value: f\"bpf_{{m.name}}\" for m in HelperId if m.value != {HELPER_UNSPEC}")
    w("}")
    w("")
    w("# helper id -> C prototype as the uapi header documents it (kernel types: u64,")
    w("# struct sk_buff *, ...); helpers the header does not document are absent.")
    w("HELPER_PROTOTYPES: dict[int, str] = {")
    helper_values = dict(parsed.named.get("bpf_func_id", []))
    for c_name, value in sorted(helper_values.items(), key=lambda kv: kv[1]):
        name = "bpf_" + c_name[len("BPF_FUNC_"):]
        if value != HELPER_UNSPEC and not is_sentinel(c_name) and name in (prototypes or {}):
            w(f"    {value}: {(prototypes or {})[name]!r},")
    w("}")
    w("")
    w("")
    w("def helper_name(helper_id: int) -> str:")
    w('    """C name of a helper id ("bpf_tail_call"), or "helper#<id>" if the kernel has none."""')
    w("    return HELPER_NAMES.get(int(helper_id), f\"helper#{int(helper_id)}\")")
    for title, rows in consts:
        w("")
        w("")
        w(f"# {title}")
        for n, v, origin in rows:
            note = {"enum": "", "#define": "  # #define",
                    "fallback": "  # #define, from the defines header"}[origin]
            w(f"{n} = {v}{note}")
    w("")
    return "\n".join(out)


# --------------------------------------------------------------------------- command line

def build(args: argparse.Namespace) -> str:
    if args.header:
        source = source_from_file(args.header, header=True, release=args.kernel_release)
    elif args.input:
        source = source_from_file(args.input, header=False, release=args.kernel_release)
    else:
        source = source_from_btf(args.btf, args.kernel_release)
    parsed = parse_c(source.text)
    defines = defines_desc = None
    prototypes = parse_helper_prototypes(source.text)
    prototypes_desc = source.description if prototypes else None
    if args.defines_header and os.path.exists(args.defines_header):
        data = Path(args.defines_header).read_bytes()
        defines = parse_c(data.decode())
        rel = _header_release(Path(args.defines_header))
        defines_desc = f"{args.defines_header} (headers {rel} / sha256 {_sha256(data)})"
        if not prototypes:
            prototypes = parse_helper_prototypes(data.decode())
            prototypes_desc = defines_desc if prototypes else None
    return render(parsed, source, defines, defines_desc, prototypes, prototypes_desc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--btf", default=DEFAULT_BTF,
                     help=f"BTF file to dump with bpftool (default {DEFAULT_BTF})")
    src.add_argument("--header", help="read a C header such as /usr/include/linux/bpf.h")
    src.add_argument("--input", help="read saved C text (bpftool btf dump ... format c output)")
    ap.add_argument("--kernel-release", help="kernel release to record (default: uname -r for "
                    f"{DEFAULT_BTF}, the headers' version for --header, else 'unknown')")
    ap.add_argument("--defines-header", default=DEFAULT_HEADER,
                    help=f"header whose #defines fill constants missing from the source "
                    f"(default {DEFAULT_HEADER}; '' for none)")
    ap.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT), help="module to write")
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 and print a diff if the output is not current")
    args = ap.parse_args(argv)
    try:
        text = build(args)
    except GenError as e:
        print(f"gen_uapi: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.output)
    if args.check:
        old = out.read_text() if out.exists() else ""
        if old == text:
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            old.splitlines(True), text.splitlines(True), str(out), "regenerated"))
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
