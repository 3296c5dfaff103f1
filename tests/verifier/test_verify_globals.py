"""Global functions (non-static subprograms, BTF linkage global): verified on their own
with arguments made from their parameters (a pointer to a sized type is memory that may
be NULL), their calls checked against the parameters, R0 an unknown scalar after a call.

Each case carries the kernel's first error line (None: accepted), checked against the
live kernel where bpf(2) works.
"""

from __future__ import annotations

import re

import pytest

import pybpf
from pybpf.errors import VerifierError
from pybpf.verifier import verify
from pybpf.verifier.globals import CTX_ARG, SCALAR_ARG, global_functions

CASES = {
    "pointer_checked": (
        "__attribute__((noinline)) int get(int *p) { return p ? *p + 1 : 0; }\n"
        "SEC(\"socket\") int prog(struct __sk_buff *skb) { int x = skb->len; return get(&x); }",
        None),
    "pointer_unchecked": (
        "__attribute__((noinline)) int get(int *p) { return *p + 1; }\n"
        "SEC(\"socket\") int prog(struct __sk_buff *skb) { int x = skb->len; return get(&x); }",
        "R1 invalid mem access 'mem_or_null'"),
    "scalar_arg": (
        "__attribute__((noinline)) int twice(int v) { return v * 2; }\n"
        "SEC(\"socket\") int prog(struct __sk_buff *skb) { return twice(skb->len); }",
        None),
    "ctx_arg": (
        "__attribute__((noinline)) int len_of(struct __sk_buff *skb) { return skb->len; }\n"
        "SEC(\"socket\") int prog(struct __sk_buff *skb) { return len_of(skb); }",
        None),
    "returns_pointer": (
        "int g;\n__attribute__((noinline)) int *addr(int v) { return v ? &g : 0; }\n"
        "SEC(\"socket\") int prog(struct __sk_buff *skb) { return addr(skb->len) != 0; }",
        "Global function addr() doesn't return scalar. Only those are supported."),
    "memory_too_small": (
        "struct big { long a[8]; };\n"
        "__attribute__((noinline)) long last(struct big *b) { return b ? b->a[7] : 0; }\n"
        "SEC(\"socket\") int prog(struct __sk_buff *skb) { long small = skb->len; "
        "return last((struct big *)&small); }",
        "invalid read from stack R1 off=-8 size=64"),
}


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, bytes]:
    out = {}
    for name, (body, _) in CASES.items():
        path = tmp_path_factory.mktemp("globals") / f"{name}.c"
        path.write_text("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n" + body +
                        "\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n")
        out[name] = pybpf.compile(path)
    return out


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("priv", ["root", "cap_bpf"])
def test_matches_recorded_kernel_answer(objects, name, priv):
    result = next(iter(verify(pybpf.open(objects[name]), log_level=1, priv=priv).values()))
    assert (result.accepted, result.error) == (CASES[name][1] is None, CASES[name][1])


@pytest.mark.kernel
@pytest.mark.parametrize("name", CASES)
def test_matches_live_kernel(objects, name):
    try:
        with pybpf.load(objects[name], engine="kernel"):
            answer = None
    except VerifierError as e:
        answer = e.error
    assert answer == CASES[name][1]


def test_parameters_become_arguments(objects):
    spec = pybpf.open(objects["ctx_arg"])
    prog = next(iter(spec.programs.values()))
    (func,) = global_functions(spec.btf, prog.func_info).values()
    assert (func.name, func.args) == ("len_of", [CTX_ARG])
    spec = pybpf.open(objects["memory_too_small"])
    prog = next(iter(spec.programs.values()))
    assert [f.args for f in global_functions(spec.btf, prog.func_info).values()] == [[64]]
    spec = pybpf.open(objects["scalar_arg"])
    prog = next(iter(spec.programs.values()))
    assert [f.args for f in global_functions(spec.btf, prog.func_info).values()] == \
        [[SCALAR_ARG]]


# What the kernel (6.18) logs at level 2 around a global function, in this order (its
# "Live regs before insn" table and source lines aside).
KERNEL_LINES = ["func#0 @0", "func#1 @{start}", "Func#1 ('twice') is global and assumed valid.",
                "Validating twice() func#1...", "{start}: R1=scalar() R10=fp0",
                "Func#1 ('twice') is safe for any args that match its prototype"]


def test_global_function_log_lines(objects):
    result = next(iter(verify(pybpf.open(objects["scalar_arg"]), log_level=2).values()))
    lines = result.log.splitlines()
    start = int(lines[1].split("@")[1])
    expected = [line.format(start=start) for line in KERNEL_LINES]
    assert [line for line in lines if line in expected] == expected
    # the state after the call, on its own line: only the registers the call wrote (R0;
    # R1-R5 are not initialised, R10 untouched)
    assert re.fullmatch(r"\d+: R0=scalar\(\)", lines[lines.index(expected[2]) + 1])
