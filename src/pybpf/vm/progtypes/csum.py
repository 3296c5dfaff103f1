"""Internet checksum arithmetic exactly as the kernel does it (include/net/checksum.h and the
x86-64 ``csum_partial``), so that a helper's result matches bit for bit, including which of
the two ones'-complement zeros (0x0000 / 0xffff) comes out.

Every value is the host (little-endian) view of the bytes in memory, as in the kernel: a
``__sum16`` read from a packet is the u16 loaded from its two bytes.
"""

from __future__ import annotations

M32 = 0xFFFFFFFF


def csum_add(a: int, b: int) -> int:
    res = (a + b) & M32
    return (res + (res < b)) & M32


def csum_sub(a: int, b: int) -> int:
    return csum_add(a, ~b & M32)


def csum_fold(csum: int) -> int:
    """32 → 16 bits with end-around carry, complemented."""
    s = (csum & 0xFFFF) + (csum >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def csum16_add(csum: int, addend: int) -> int:
    res = (csum + addend) & 0xFFFF
    return (res + (res < addend)) & 0xFFFF


def csum16_sub(csum: int, addend: int) -> int:
    return csum16_add(csum, ~addend & 0xFFFF)


def csum_replace4(sum16: int, old: int, new: int) -> int:
    tmp = csum_sub(~sum16 & M32, old & M32)
    return csum_fold(csum_add(tmp, new & M32))


def csum_replace2(sum16: int, old: int, new: int) -> int:
    return ~csum16_add(csum16_sub(~sum16 & 0xFFFF, old & 0xFFFF), new & 0xFFFF) & 0xFFFF


def csum_replace_by_diff(sum16: int, diff: int) -> int:
    return csum_fold(csum_add(diff & M32, ~sum16 & M32))


def csum_partial(data: bytes, seed: int) -> int:
    """Ones'-complement sum of ``data`` (32-bit little-endian words, then the x86 tail) onto
    ``seed``.

    Any end-around-carry implementation gives the same 32-bit value except for the zero
    ambiguity: the sum is 0 only when everything added is 0, as with x86's adc chain.
    """
    total = seed & M32
    whole = len(data) & ~3
    for i in range(0, whole, 4):
        total += int.from_bytes(data[i:i + 4], "little")
    if len(data) & 2:                    # the tail as x86 adds it: a u16, then a u8
        total += int.from_bytes(data[whole:whole + 2], "little")
    if len(data) & 1:
        total += data[-1]
    while total >> 32:
        total = (total & M32) + (total >> 32)
    return total


def csum_from32to16(csum: int) -> int:
    s = (csum + (((csum >> 16) | (csum << 16)) & M32)) & M32
    return s >> 16


def csum_diff(frm: bytes, to: bytes, seed: int) -> int:
    """``bpf_csum_diff``'s value (both buffers' sizes already checked)."""
    seed &= M32
    if frm and to:
        return csum_from32to16(csum_sub(csum_partial(to, seed), csum_partial(frm, 0)))
    if to:
        return csum_from32to16(csum_partial(to, seed))
    if frm:
        return csum_from32to16(~csum_partial(frm, ~seed & M32) & M32)
    return csum_from32to16(seed)


def ip_checksum(header: bytes) -> int:
    """The IPv4 header checksum to store (as a big-endian value)."""
    total = 0
    for i in range(0, len(header) - 1, 2):
        total += (header[i] << 8) | header[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
