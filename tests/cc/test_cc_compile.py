"""pybpf.cc.compile: sources, flags, diagnostics, compiler choice and the cache."""

from __future__ import annotations

import io
import subprocess
import threading
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from pybpf import cc
from pybpf.cc import _toolchain
from pybpf.cc._cache import Cache, parse_depfile
from pybpf.errors import CompileError

DATA = Path(__file__).resolve().parent / "data"
SIMPLE = b"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("socket") int simple(struct __sk_buff *skb) { return skb->len; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(path))
    monkeypatch.delenv("PYBPF_CC", raising=False)
    return path


@pytest.fixture
def clang():
    try:
        tc = cc.find_toolchain("clang")
    except CompileError as e:
        pytest.skip(str(e))
    return tc


def sections(obj: bytes) -> set[str]:
    return {s.name for s in ELFFile(io.BytesIO(obj)).iter_sections()}


def test_compile_path_and_text(clang, tmp_path):
    obj = cc.compile(DATA / "xdp_udp_count.c")
    assert obj[:4] == b"\x7fELF"
    assert {"xdp", ".maps", "license", ".BTF", ".BTF.ext"} <= sections(obj)
    assert cc.compile(str(DATA / "socket_udp_filter.c"))[:4] == b"\x7fELF"  # str path
    assert "socket" in sections(cc.compile(SIMPLE))                         # bytes text
    assert "socket" in sections(cc.compile(SIMPLE.decode()))                # str text


def test_text_source_is_named_and_relocatable(clang):
    a = cc.compile(SIMPLE, cache=False, filename="mine.c")
    b = cc.compile(SIMPLE, cache=False, filename="mine.c")
    assert a == b                   # the temporary directory does not leak into the object
    assert b"mine.c" in a and b"pybpf-cc-" not in a


def test_missing_file():
    with pytest.raises(CompileError, match="no such file"):
        cc.compile("does/not/exist.c")


def test_diagnostics(clang):
    with pytest.raises(CompileError) as info:
        cc.compile(b"int f(void) {\n  return x;\n}\n", filename="broken.c")
    err = info.value
    assert "broken.c:2:10: error: use of undeclared identifier 'x'" in err.diagnostics
    assert "broken.c" in str(err) and "pybpf-cc-" not in str(err)


def test_default_flags_and_mcpu_override():
    tc = _toolchain.Toolchain("clang", ("clang-19",), "v", ("/inc",))
    cmd = tc.command("a.c", "a.o", [], "a.d")
    assert cmd[:6] == ["clang-19", "-target", "bpf", "-O2", "-g", "-mcpu=v3"]
    assert ["-idirafter", "/inc"] == cmd[6:8]
    assert cmd[-7:] == ["-MD", "-MF", "a.d", "-c", "a.c", "-o", "a.o"]
    cmd = tc.command("a.c", "a.o", ["-mcpu=v4", "-DX=1"])
    assert "-mcpu=v3" not in cmd and cmd.index("-mcpu=v4") < cmd.index("-c")
    cmd = tc.command("a.c", "a.o", ["-I", "/inc"])
    assert "-idirafter" not in cmd          # clang would drop the -I in favour of it


def test_mcpu_reaches_the_compiler(clang):
    src = b"int f(unsigned a, unsigned b) { return a < b ? 1 : 2; }\n"
    v1 = cc.compile(src, ["-mcpu=v1"], cache=False)
    v3 = cc.compile(src, cache=False)
    assert v1 != v3   # v3 has 32-bit jumps / ALU, v1 does not


def test_compiler_selection(monkeypatch):
    with pytest.raises(CompileError, match="not found"):
        cc.find_toolchain("clang-does-not-exist-99")
    monkeypatch.setattr(_toolchain, "_clang_candidates", lambda: [])
    monkeypatch.setattr(_toolchain, "zig_toolchain", lambda: None)
    with pytest.raises(CompileError, match="pip install ziglang") as info:
        cc.compile(SIMPLE)
    assert "apt-get install clang" in str(info.value)
    monkeypatch.setenv("PYBPF_CC", "zig")
    with pytest.raises(CompileError, match="ziglang package is not installed"):
        cc.compile(SIMPLE)


@pytest.mark.skipif(not cc.ziglang_available(), reason="ziglang is not installed")
def test_pybpf_cc_env_selects_zig(monkeypatch):
    monkeypatch.setenv("PYBPF_CC", "zig")
    assert cc.find_toolchain().kind == "zig"
    assert "socket" in sections(cc.compile(SIMPLE, cache=False))


def test_newest_clang_first(monkeypatch):
    seen = []
    monkeypatch.setattr(_toolchain.shutil, "which",
                        lambda name, *a, **k: f"/x/{name}" if name in ("clang", "clang-14",
                                                                        "clang-19") else None)
    monkeypatch.setattr(_toolchain.os.path, "realpath", lambda p: p)
    monkeypatch.setattr(_toolchain, "_clang_toolchain",
                        lambda exe: seen.append(exe) or _toolchain.Toolchain("clang", (exe,), "v"))
    assert cc.find_toolchain().argv == ("/x/clang-19",)
    assert _toolchain._clang_candidates() == ["/x/clang-19", "/x/clang-14", "/x/clang"]


# --------------------------------------------------------------------------- cache

def _no_compiler(*args, **kwargs):
    raise AssertionError("the compiler ran although the cache should have answered")


def test_cache_hit_and_header_revalidation(clang, tmp_path, cache_dir, monkeypatch):
    (tmp_path / "inc").mkdir()
    header = tmp_path / "inc" / "value.h"
    header.write_text("#define VALUE 1\n")
    src = tmp_path / "prog.c"
    src.write_text('#include "value.h"\nint f(void) { return VALUE; }\n')
    flags = ["-I", str(tmp_path / "inc")]
    first = cc.compile(src, flags)
    assert list(cache_dir.rglob("*.json"))
    with monkeypatch.context() as m:
        m.setattr(subprocess, "run", _no_compiler)
        assert cc.compile(src, flags) == first          # hit
    header.write_text("#define VALUE 2\n")              # a header changed: miss
    second = cc.compile(src, flags)
    assert second != first
    assert second == cc.compile(src, flags, cache=False)
    src.write_text('#include "value.h"\nint f(void) { return VALUE + 1; }\n')
    assert cc.compile(src, flags) != second             # the source changed: miss


def test_cache_key_covers_flags(clang, cache_dir):
    a = cc.compile(SIMPLE)
    b = cc.compile(SIMPLE, ["-O0"])
    assert a != b
    assert len(list(cache_dir.rglob("*.o"))) == 2


def test_cache_disabled(clang, cache_dir):
    cc.compile(SIMPLE, cache=False)
    assert not cache_dir.exists()


def test_cache_ignores_corrupt_entries(clang, cache_dir):
    good = cc.compile(SIMPLE)
    for obj in cache_dir.rglob("*.o"):
        obj.write_bytes(b"garbage")                     # the manifest's hash no longer matches
    assert cc.compile(SIMPLE) == good


def test_concurrent_compiles(clang, cache_dir):
    results, errors = [], []

    def work():
        try:
            results.append(cc.compile(SIMPLE))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert not [p for p in cache_dir.rglob("*") if p.name.endswith(".tmp")]


def test_cache_root(monkeypatch, tmp_path):
    monkeypatch.delenv("PYBPF_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cc.cache_root() == tmp_path / "pybpf" / "cc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cc.cache_root() == Path.home() / ".cache" / "pybpf" / "cc"
    assert Cache(tmp_path).root == tmp_path


def test_parse_depfile():
    text = ("out.o: a.c /usr/include/linux/bpf.h \\\n  /tmp/with\\ space.h \\\n"
            "  /x/$$dollar.h a.c\n\n/usr/include/linux/bpf.h:\n")
    assert parse_depfile(text) == ["a.c", "/usr/include/linux/bpf.h", "/tmp/with space.h",
                                   "/x/$dollar.h"]
