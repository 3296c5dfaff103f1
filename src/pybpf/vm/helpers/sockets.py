"""Socket lookup helpers (net/core/filter.c): ``bpf_sk_lookup_tcp``, ``bpf_sk_lookup_udp``,
``bpf_skc_lookup_tcp`` and ``bpf_sk_release``.

pybpf's simulated world has no sockets: no connection or listener exists in any network
namespace a program could search, so every lookup finds nothing and returns NULL (0), as
the kernel's does when no socket matches the tuple. A verified program therefore never
holds a socket, and the only pointer it can pass to ``bpf_sk_release`` is NULL (which the
kernel's release ignores). An unverified program may pass anything else; that pointer
cannot be a socket, so the release fails with :class:`BpfHelperError` instead of
corrupting state, as the other helpers do for pointers that are not what they expect.
"""

from __future__ import annotations

from pybpf.errors import BpfHelperError
from pybpf.vm.helpers.registry import CallContext, helper

# sizeof(bpf_sock_tuple.ipv4), sizeof(bpf_sock_tuple.ipv6): the only tuple sizes the kernel
# searches with (any other size finds nothing without reading the tuple)
TUPLE_SIZES = (12, 36)


def _lookup(call: CallContext, tuple_address: int, tuple_size: int) -> int:
    """``__bpf_skc_lookup``: read the tuple as the kernel does (so a bad pointer in an
    unverified program faults here too), then find no socket."""
    if tuple_size in TUPLE_SIZES:
        call.memory.read_bytes(tuple_address, tuple_size, call.pc)
    return 0


@helper(84, "bpf_sk_lookup_tcp")
def sk_lookup_tcp(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _lookup(call, r2, r3)


@helper(85, "bpf_sk_lookup_udp")
def sk_lookup_udp(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _lookup(call, r2, r3)


@helper(99, "bpf_skc_lookup_tcp")
def skc_lookup_tcp(call: CallContext, r1: int, r2: int, r3: int, *_: int) -> int:
    return _lookup(call, r2, r3)


@helper(86, "bpf_sk_release")
def sk_release(call: CallContext, r1: int, *_: int) -> int:
    if r1:
        raise BpfHelperError(f"bpf_sk_release: {r1:#x} is not a socket (pybpf's lookups "
                             f"never return one)", call.pc)
    return 0
