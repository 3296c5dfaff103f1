"""Socket lookup helpers in the interpreter: pybpf's world has no sockets, so every lookup
returns NULL, bpf_sk_release(NULL) is a no-op, and releasing anything else (only an
unverified program can) is a helper error."""

from __future__ import annotations

import pytest

from pybpf import BpfHelperError, BpfMemoryError
from pybpf.asm import assemble
from pybpf.vm import Machine

_TUPLE = """
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
"""


def run(text: str) -> int:
    return Machine(assemble(text)).run().r0


@pytest.mark.parametrize("helper", [84, 85, 99])
def test_lookup_finds_no_socket(helper: int) -> None:
    assert run(f"{_TUPLE}call {helper}\nr0 += 7\nexit") == 7


def test_lookup_then_release_of_null() -> None:
    text = f"{_TUPLE}call 84\nr6 = r0\nr1 = r0\ncall 86\nr0 |= r6\nexit"
    assert run(text) == 0


def test_lookup_reads_the_tuple() -> None:
    with pytest.raises(BpfMemoryError):
        run("r2 = 4096\nr3 = 12\nr4 = -1\nr5 = 0\ncall 84\nexit")


def test_other_tuple_sizes_are_not_read() -> None:
    assert run("r2 = 4096\nr3 = 20\nr4 = -1\nr5 = 0\ncall 84\nexit") == 0


def test_release_of_a_non_socket_is_a_helper_error() -> None:
    with pytest.raises(BpfHelperError, match="bpf_sk_release: 0x1234 is not a socket"):
        run("r1 = 0x1234\ncall 86\nexit")
