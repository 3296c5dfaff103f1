"""Checksum helpers on random packets and values, against the kernel (hypothesis).

The default run is short; ``-m slow`` runs many more examples.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.isa.uapi import ProgType as PT
from pybpf.vm.progtypes import csum as C
from progtypes_support import eth, ipv4, krun, normalise, tcp, urun

_fast = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
_slow = settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))


def _packet(payload: bytes) -> bytes:
    return eth(ipv4(tcp() + payload))


def _csum_prog(helper: int, frm: int, to: int, flags: int) -> str:
    return (f"r6 = r1\nr2 = 50\nr3 = {frm} ll\nr4 = {to} ll\nr5 = {flags}\ncall {helper}\nexit")


csum_case = st.tuples(
    st.sampled_from([10, 11]),
    st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF),
    st.sampled_from([0, 2, 4, 0x12, 0x14, 0x22, 0x24, 0x62, 0x20]),
    st.binary(min_size=0, max_size=40),
    st.integers(0, 0xFFFF),
)


def _check_csum(case) -> None:
    helper, frm, to, flags, payload, check = case
    if flags & 0xF == 0:
        frm = 0
    data = bytearray(_packet(payload))
    struct.pack_into("<H", data, 50, check)
    program = _csum_prog(helper, frm, to, flags)
    assert normalise(urun(PT.SCHED_CLS, program, bytes(data))) == \
        normalise(krun(PT.SCHED_CLS, program, bytes(data)))


@pytest.mark.kernel
@_fast
@given(csum_case)
def test_csum_replace_matches_kernel(case):
    _check_csum(case)


@pytest.mark.kernel
@pytest.mark.slow
@_slow
@given(csum_case)
def test_csum_replace_matches_kernel_long(case):
    _check_csum(case)


diff_case = st.tuples(st.binary(max_size=24), st.binary(max_size=24), st.integers(0, 0xFFFFFFFF))


def _check_diff(case) -> None:
    frm, to, seed = case
    buf = (frm.ljust(24, b"\0") + to.ljust(24, b"\0"))
    setup = "".join(f"r7 = {int.from_bytes(buf[i:i + 8], 'little')} ll\n*(u64 *)(r10 - {48 - i}) = r7\n"
                    for i in range(0, 48, 8))
    program = (setup + f"r1 = r10\nr1 += -48\nr2 = {len(frm)}\nr3 = r10\nr3 += -24\n"
               f"r4 = {len(to)}\nr5 = {seed} ll\ncall 28\nexit")
    assert normalise(urun(PT.SCHED_CLS, program, _packet(b""))) == \
        normalise(krun(PT.SCHED_CLS, program, _packet(b"")))


@pytest.mark.kernel
@_fast
@given(diff_case)
def test_csum_diff_matches_kernel(case):
    _check_diff(case)


@pytest.mark.kernel
@pytest.mark.slow
@_slow
@given(diff_case)
def test_csum_diff_matches_kernel_long(case):
    _check_diff(case)


@given(st.binary(min_size=20, max_size=20).map(bytearray), st.integers(0, 9), st.integers(0, 0xFFFF))
def test_csum_replace2_keeps_header_valid(header, word, new):
    """Replacing a 16-bit word with csum_replace2 leaves a valid IPv4 header checksum."""
    header[10:12] = b"\0\0"
    header[10:12] = C.ip_checksum(bytes(header)).to_bytes(2, "big")
    if word == 5:
        return
    old = int.from_bytes(header[2 * word:2 * word + 2], "little")
    check = int.from_bytes(header[10:12], "little")
    header[2 * word:2 * word + 2] = new.to_bytes(2, "little")
    header[10:12] = C.csum_replace2(check, old, new).to_bytes(2, "little")
    assert C.ip_checksum(bytes(header)) in (0, 0xFFFF) or \
        C.csum_fold(C.csum_partial(bytes(header), 0)) == 0


def test_recorded_csum_diff_values():
    """Values the kernel returned for bpf_csum_diff (6.18 folds the result to 16 bits)."""
    assert C.csum_diff(b"", struct.pack("<I", 0x12345678), 0) == 0x68AC
    assert C.csum_diff(b"", struct.pack("<II", 0x12345678, 0xFFFF1234), 0xFFFFFFF0) == 0x7AD1
    assert C.csum_diff(struct.pack("<II", 0x12345678, 0xFFFF1234), b"", 0) == 0x851F
    assert C.csum_diff(b"", b"", 0xABCDEF12) == 0x9AE0
