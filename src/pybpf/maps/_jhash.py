"""Bob Jenkins' lookup3 hash as the kernel's ``jhash`` / ``jhash2`` compute it.

Used where the kernel's hash is observable: which bits a bloom filter sets (so a
``BPF_F_ZERO_SEED`` filter gives the kernel's false positives) and stack ids.
"""

from __future__ import annotations

_M = 0xFFFFFFFF
JHASH_INITVAL = 0xDEADBEEF


def _rol(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _M; a ^= _rol(c, 4); c = (c + b) & _M
    b = (b - a) & _M; b ^= _rol(a, 6); a = (a + c) & _M
    c = (c - b) & _M; c ^= _rol(b, 8); b = (b + a) & _M
    a = (a - c) & _M; a ^= _rol(c, 16); c = (c + b) & _M
    b = (b - a) & _M; b ^= _rol(a, 19); a = (a + c) & _M
    c = (c - b) & _M; c ^= _rol(b, 4); b = (b + a) & _M
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b; c = (c - _rol(b, 14)) & _M
    a ^= c; a = (a - _rol(c, 11)) & _M
    b ^= a; b = (b - _rol(a, 25)) & _M
    c ^= b; c = (c - _rol(b, 16)) & _M
    a ^= c; a = (a - _rol(c, 4)) & _M
    b ^= a; b = (b - _rol(a, 14)) & _M
    c ^= b; c = (c - _rol(b, 24)) & _M
    return c


def jhash(data: bytes, initval: int = 0) -> int:
    """``jhash(key, length, initval)`` over bytes."""
    n = len(data)
    a = b = c = (JHASH_INITVAL + n + initval) & _M
    pos = 0
    while n - pos > 12:
        a = (a + int.from_bytes(data[pos:pos + 4], "little")) & _M
        b = (b + int.from_bytes(data[pos + 4:pos + 8], "little")) & _M
        c = (c + int.from_bytes(data[pos + 8:pos + 12], "little")) & _M
        a, b, c = _mix(a, b, c)
        pos += 12
    tail = data[pos:]
    if not tail:
        return c
    tail = tail.ljust(12, b"\0")   # the byte-wise tail adds are these zero-padded words
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    return _final(a, b, c)


def jhash2(words: list[int] | tuple[int, ...], initval: int = 0) -> int:
    """``jhash2(k, length, initval)`` over u32 words."""
    n = len(words)
    a = b = c = (JHASH_INITVAL + (n << 2) + initval) & _M
    pos = 0
    while n - pos > 3:
        a = (a + words[pos]) & _M
        b = (b + words[pos + 1]) & _M
        c = (c + words[pos + 2]) & _M
        a, b, c = _mix(a, b, c)
        pos += 3
    rest = n - pos
    if rest == 0:
        return c
    if rest == 3:
        c = (c + words[pos + 2]) & _M
    if rest >= 2:
        b = (b + words[pos + 1]) & _M
    a = (a + words[pos]) & _M
    return _final(a, b, c)
