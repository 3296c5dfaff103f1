"""Beyond the kernel: why a rejection happened and the usual fix, in one paragraph."""

from __future__ import annotations

import re
from typing import Any

_HINTS: list[tuple[str, str]] = [
    (r"invalid mem access '(map_value|ringbuf_mem|[a-z_]+)_or_null'",
     "The pointer may be NULL here: a map lookup or ringbuf reserve can fail. Compare it "
     "with NULL first (if (!p) return ...;) and only dereference it on the non-NULL path."),
    (r"invalid access to packet",
     "Every packet access must be proven inside the packet: compare the pointer plus the "
     "access size against data_end (if ((void *)(hdr + 1) > data_end) return ...;) on the "
     "same path, after the last helper that may change the packet."),
    (r"invalid access to map value",
     "The access goes past the map's value_size. Bound the offset or index with a check "
     "the verifier can see (if (i >= N) return ...;) and keep the access size inside the "
     "value."),
    (r"unbounded min value|min value is negative",
     "An index used in pointer arithmetic may be negative. Use an unsigned type or check "
     "the lower bound (if (i < 0) return ...;) before adding it to the pointer."),
    (r"unbounded memory access|max value is outside",
     "An index used in pointer arithmetic has no usable upper bound. Check it against the "
     "size of the object (if (i >= N) return ...;) or mask it (i &= N - 1)."),
    (r"!read_ok",
     "A register is read before anything was written to it on this path. Helper calls "
     "clobber R1-R5; initialise the variable on every path."),
    (r"invalid read from stack",
     "Stack memory is read before it was written. Initialise the variable or buffer "
     "(e.g. = {} or __builtin_memset) before passing it to a helper or reading it."),
    (r"invalid mem access 'map_ptr'",
     "A map pointer is only for passing to helpers here. The kernel lets a loader with "
     "CAP_PERFMON read the map's own kernel struct (struct bpf_htab, ...) through BTF, but "
     "pybpf's maps are not kernel structs, so it refuses the read: get map properties from "
     "user space, or pass them in a global variable."),
    (r"invalid bpf_context access",
     "This program type may not access the context at this offset and size (or may not "
     "write it). Use the field's declared type and size from the UAPI struct, or a helper."),
    (r"Unreleased reference",
     "A reference (ringbuf reservation, socket) is not released on every path. Call "
     "bpf_ringbuf_submit/discard (or bpf_sk_release) before each return."),
    (r"At program exit the register R0",
     "The program's return value is outside the range its type allows. Return one of the "
     "program type's verdict codes."),
    (r"unreachable insn",
     "Some instructions cannot be reached from the program's entry. Remove dead code, "
     "or fix the jump that skips it."),
    (r"jump out of range|last insn is not an exit",
     "The control flow leaves the program: every jump must land inside its function and "
     "every function must end with exit or a jump."),
    (r"BPF program is too large",
     "Verification explored too many instructions. Bound loops tightly, reduce unrolling, "
     "or split the program with tail calls or bpf-to-bpf functions."),
    (r"leaks addr",
     "A pointer would escape (into a map, the return value, or a helper's scalar argument). "
     "This loader is not allowed to leak kernel addresses."),
    (r"pointer comparison prohibited",
     "Without CAP_PERFMON, pointers may only be compared with NULL or packet pointers with "
     "each other."),
    (r"unknown func|does not support helper",
     "This helper is not available to this program type (or needs more privilege). Pick "
     "the program type that offers it or another helper."),
    (r"R\d+ type=\w+ expected=",
     "A helper argument has the wrong kind of value: pass the pointer type the helper's "
     "prototype asks for (a stack buffer, a map, the context...)."),
]

_COMPILED_HINTS = [(re.compile(pattern), hint) for pattern, hint in _HINTS]
# does any pattern match (one search instead of all of them for most errors)
_ANY_HINT = re.compile("|".join(f"(?:{pattern})" for pattern, _ in _HINTS))


def explain(result: Any, slots: list, verifier: Any) -> None:
    """Fill ``result.hint`` (and keep ``result.path``) for a rejection."""
    if result.accepted or not result.error:
        return
    if _ANY_HINT.search(result.error):
        for pattern, hint in _COMPILED_HINTS:
            if pattern.search(result.error):
                result.hint = hint
                return
    result.hint = ("The kernel's verifier rejects this instruction for the reason given; "
                   "see the register states in the log (--log-level 2) for the values it "
                   "assumed on this path.")


def describe_path(path: list) -> list[str]:
    return [f"insn {i}: branch {'taken' if taken else 'not taken'}" for i, taken in path]
