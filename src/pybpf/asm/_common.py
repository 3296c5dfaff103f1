"""Small lexing helpers shared by the assembly syntaxes (LLVM and uBPF).

Kept deliberately small and stable: integer literals, hex formatting the way LLVM
prints immediates, range checks, block-comment removal that keeps line and column
numbers, and a constructor for :class:`~pybpf.errors.AsmError`.
"""

from __future__ import annotations

import re

from pybpf.errors import AsmError
from pybpf.isa import to_signed

S16_MIN, S16_MAX = -(1 << 15), (1 << 15) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1
U32_MAX = (1 << 32) - 1
S64_MIN, U64_MAX = -(1 << 63), (1 << 64) - 1

_INT_RE = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)\Z")


def parse_int(text: str) -> int | None:
    """The value of an integer literal, or None when ``text`` is not one.

    Accepts an optional sign, decimal, ``0x`` hex, ``0b`` binary, ``0o`` octal and
    C-style octal with a leading zero (as LLVM's lexer does: ``017`` is 15).
    """
    if not _INT_RE.match(text):
        return None
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if len(text) > 1 and text[0] == "0" and text[1] in "0123456789":
        return sign * int(text, 8)
    return sign * int(text, 0)


def hex_imm(value: int) -> str:
    """An immediate as LLVM's printer writes it: ``0x1f``, ``-0x8``, ``0x0``."""
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


def fits_signed(value: int, bits: int) -> bool:
    return -(1 << (bits - 1)) <= value < (1 << (bits - 1))


def fits_either(value: int, bits: int) -> bool:
    """True when ``value`` is representable in ``bits`` bits, signed or unsigned."""
    return -(1 << (bits - 1)) <= value < (1 << bits)


def blank_block_comments(text: str) -> str:
    """Replace each ``/* ... */`` comment by spaces, keeping newlines (so lines and
    columns stay where they were). An unterminated comment runs to the end."""
    if "/*" not in text:
        return text
    out = []
    pos = 0
    while True:
        start = text.find("/*", pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        end = text.find("*/", start + 2)
        end = len(text) if end < 0 else end + 2
        out.append(re.sub(r"[^\n]", " ", text[start:end]))
        pos = end
    return "".join(out)


def asm_error(message: str, line: int | None, column: int | None, source: str | None,
              filename: str | None) -> AsmError:
    """An AsmError for ``message`` at 1-based ``line`` and ``column`` of ``source``."""
    if source is not None:
        source = source.rstrip("\r\n")
    return AsmError(message, line, column, source, filename)


__all__ = ["S16_MIN", "S16_MAX", "S32_MIN", "S32_MAX", "U32_MAX", "S64_MIN", "U64_MAX",
           "parse_int", "hex_imm", "to_signed", "fits_signed", "fits_either",
           "blank_block_comments", "asm_error"]
