"""pybpf's shipped <bpf/*.h> headers: current with their generator, and usable.

Also the helper prototypes gen_uapi.py extracts from the uapi header's doc comment.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pybpf import cc
from pybpf.isa.uapi import HELPER_PROTOTYPES, HelperId

ROOT = Path(__file__).resolve().parents[2]
GEN_HEADERS = ROOT / "tools" / "gen_headers.py"
GEN_UAPI = ROOT / "tools" / "gen_uapi.py"
HEADERS = ("bpf_helpers.h", "bpf_helper_defs.h", "bpf_endian.h", "bpf_tracing.h",
           "bpf_core_read.h")


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    keep, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = keep
        sys.modules.pop(name, None)
    return module


def test_headers_are_shipped():
    for name in HEADERS:
        assert (cc.include_dir() / "bpf" / name).is_file(), name


def test_headers_are_current():
    proc = subprocess.run([sys.executable, str(GEN_HEADERS), "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, ("src/pybpf/include/bpf is stale; run "
                                  f"`python tools/gen_headers.py`\n{proc.stdout[:4000]}")


def test_helper_defs_match_uapi():
    text = (cc.include_dir() / "bpf" / "bpf_helper_defs.h").read_text()
    found = dict((name, int(num)) for name, num in
                 re.findall(r"\(\* const (bpf_\w+)\)\(.*\) = \(void \*\) (\d+);", text))
    assert found["bpf_map_lookup_elem"] == 1
    assert found["bpf_ringbuf_reserve"] == HelperId.ringbuf_reserve
    assert found["bpf_loop"] == HelperId.loop
    assert len(found) == len(HELPER_PROTOTYPES)
    for name, num in found.items():
        assert f"bpf_{HelperId(num).name}" == name


def test_helper_decl_translation():
    gen = _load(GEN_HEADERS, "gen_headers")
    assert gen.helper_decl(1, "void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)") \
        == "static void *(* const bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;"
    assert gen.helper_decl(9, "long bpf_skb_store_bytes(struct sk_buff *skb, u32 offset, "
                           "const void *from, u32 len, u64 flags)") == (
        "static long (* const bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, "
        "const void *from, __u32 len, __u64 flags) = (void *) 9;")


def test_prototype_parser():
    gen = _load(GEN_UAPI, "gen_uapi_protos")
    text = ("/*\n * void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)\n"
            " * \tDescription\n *\t\tPerform a lookup in *map* for an entry (see bpf_x()).\n"
            " * \tReturn\n * \t\tMap value.\n *\n"
            " * long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)\n"
            " * \tDescription\n * \t\tprints\n */\n")
    assert gen.parse_helper_prototypes(text) == {
        "bpf_map_lookup_elem": "void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)",
        "bpf_trace_printk": "long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)",
    }


def test_prototypes_in_uapi():
    assert HELPER_PROTOTYPES[HelperId.map_lookup_elem].startswith("void *bpf_map_lookup_elem(")
    assert len(HELPER_PROTOTYPES) > 200
    for helper_id, proto in HELPER_PROTOTYPES.items():
        assert f"bpf_{HelperId(helper_id).name}(" in proto


ENDIAN_PROGRAM = rb"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
_Static_assert(bpf_htons(0x1234) == 0x3412, "htons");
_Static_assert(bpf_htonl(0x12345678) == 0x78563412, "htonl");
_Static_assert(bpf_cpu_to_be64(0x0102030405060708ULL) == 0x0807060504030201ULL, "be64");
SEC("socket") int f(struct __sk_buff *skb) { return bpf_ntohs(skb->protocol) == 0x800; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("compiler", ["clang", "zig"])
def test_own_headers_compile(compiler):
    if compiler == "zig" and not cc.ziglang_available():
        pytest.skip("ziglang is not installed")
    try:
        cc.find_toolchain(compiler)
    except Exception as e:  # noqa: BLE001
        pytest.skip(str(e))
    # -I puts pybpf's headers before libbpf's installed ones
    flags = ["-Wall", "-Werror", "-I", str(cc.include_dir())]
    assert cc.compile(ENDIAN_PROGRAM, flags, compiler=compiler, cache=False)[:4] == b"\x7fELF"
