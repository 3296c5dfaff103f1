"""Programs and maps loaded for the introspection tests, and bpftool as the reference."""

from __future__ import annotations

from .introspect_names import MAP_NAME, PROG_NAME

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from pybpf.kernel import kernel_available

C_SOURCE = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} lens SEC(".maps");

static __attribute__((noinline)) int bucket(int len)
{
    return len & 7;
}

SEC("socket")
int count_lens(struct __sk_buff *skb)
{
    __u32 key = bucket(skb->len);
    __u64 *v = bpf_map_lookup_elem(&lens, &key);
    if (v)
        __sync_fetch_and_add(v, 1);
    else {
        __u64 one = 1;
        bpf_map_update_elem(&lens, &key, &one, BPF_ANY);
    }
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def bpftool(*args: Any) -> Any:
    """``bpftool -j ARGS`` parsed; skips the test when bpftool is not installed."""
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    out = subprocess.run(["bpftool", "-j", *map(str, args)], capture_output=True, text=True)
    return json.loads(out.stdout) if out.stdout.strip() else None


@pytest.fixture(scope="module")
def c_object(tmp_path_factory) -> Iterator[Any]:
    """count_lens.c loaded by libbpf (with BTF, func and line info)."""
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(reason)
    import pybpf
    from pybpf.kernel.libbpf import LibbpfObject

    path = Path(tmp_path_factory.mktemp("c")) / "count_lens.c"
    path.write_text(C_SOURCE)
    with LibbpfObject(pybpf.compile(path)) as obj:
        yield obj


@pytest.fixture(scope="module")
def asm_prog() -> Iterator[tuple[Any, Any]]:
    """A named socket filter that looks up a hash map: ``(KernelProgram, KernelMap)``."""
    ok, reason = kernel_available()
    if not ok:
        pytest.skip(reason)
    from pybpf.asm import assemble
    from pybpf.isa import Instruction
    from pybpf.kernel import KernelMap, KernelProgram, MapType, ProgType

    m = KernelMap(MapType.HASH, 4, 8, 16, name=MAP_NAME)
    code = assemble("r1 = 0\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\nr1 = 0 ll\n"
                    "call 1\nr0 = 0\nexit\n")
    code = [i if i.opcode != 0x18 else Instruction(0x18, i.dst, 1, 0, m.fileno())
            for i in code]
    prog = KernelProgram.load(ProgType.SOCKET_FILTER, code, name=PROG_NAME)
    try:
        yield prog, m
    finally:
        prog.close()
        m.close()
