"""The ziglang fallback compiles the same programs as clang, into equivalent objects.

Each program in data/ is compiled by clang-19 (with libbpf's installed headers) and by
``python -m ziglang cc`` (with the UAPI headers zig bundles and pybpf's own bpf/*.h); both
objects must have the same program sections and functions, global symbols, .BTF/.BTF.ext
and .maps definitions (read back with llvm-readelf-19, llvm-objdump-19, bpftool). The
instruction streams may differ. With root, both load into the kernel through bpftool.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from pybpf import cc
from pybpf.cc._toolchain import find_toolchain

from cc_objinfo import BPFTOOL, OBJDUMP, READELF, obj_info

DATA = Path(__file__).resolve().parent / "data"
PROGRAMS = sorted(p.name for p in DATA.glob("*.c"))
CFLAGS = ["-Wall", "-Werror", "-D__TARGET_ARCH_x86"]

pytestmark = [
    pytest.mark.skipif(not cc.ziglang_available(), reason="ziglang is not installed "
                       "(pip install ziglang)"),
    pytest.mark.skipif(None in (READELF, OBJDUMP, BPFTOOL),
                       reason="llvm-readelf-19, llvm-objdump-19 and bpftool are needed"),
]


def _clang_or_skip():
    try:
        tc = find_toolchain("clang")
    except Exception as e:  # noqa: BLE001 - CompileError: no clang here
        pytest.skip(str(e))
    return tc


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    _clang_or_skip()
    out = tmp_path_factory.mktemp("objs")
    built = {}
    for name in PROGRAMS:
        for compiler in ("clang", "zig"):
            path = out / f"{Path(name).stem}.{compiler}.o"
            path.write_bytes(cc.compile(DATA / name, CFLAGS, compiler=compiler, cache=False))
            built[name, compiler] = path
    return built


@pytest.mark.parametrize("name", PROGRAMS)
def test_same_object_shape(objects, name):
    clang = obj_info(str(objects[name, "clang"]))
    zig = obj_info(str(objects[name, "zig"]))
    assert {".BTF", ".BTF.ext", "license"} <= zig.sections
    assert zig.sections == clang.sections
    assert zig.programs == clang.programs and zig.programs
    assert zig.objects == clang.objects
    assert zig.maps == clang.maps


def test_maps_are_read_back():
    """The comparison above is not vacuous: map definitions come out of the BTF."""
    _clang_or_skip()
    obj = cc.compile(DATA / "xdp_udp_count.c", CFLAGS, compiler="zig", cache=False)
    path = Path(f"/tmp/pybpf-cc-zig-{uuid.uuid4().hex}.o")
    try:
        path.write_bytes(obj)
        info = obj_info(str(path))
    finally:
        path.unlink(missing_ok=True)
    assert info.maps == {"udp_counts": {"type": 1, "max_entries": 1024, "key": "__u16",
                                        "value": "__u64"}}
    assert info.programs == {"xdp_udp_count": "xdp"}


def test_zig_emits_no_unwind_tables(objects):
    from elftools.elf.elffile import ELFFile

    with open(objects["loop_sum.c", "zig"], "rb") as f:
        names = {s.name for s in ELFFile(f).iter_sections()}
    assert ".eh_frame" not in names


@pytest.mark.kernel
@pytest.mark.parametrize("compiler", ["clang", "zig"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_loads_into_kernel(objects, name, compiler):
    pins = Path("/sys/fs/bpf") / f"pybpf-cc-{uuid.uuid4().hex[:12]}"
    try:
        proc = subprocess.run([BPFTOOL, "prog", "loadall", str(objects[name, compiler]),
                               str(pins)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
    finally:
        subprocess.run(["rm", "-rf", str(pins)])
