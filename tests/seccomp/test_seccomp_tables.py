"""The generated syscall tables (``pybpf.cbpf.seccomp_tables``) and their generator."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from pybpf.cbpf import seccomp_tables
from pybpf.cbpf.seccomp import Filter, syscall_name, syscall_number
from pybpf.errors import BpfValueError

ROOT = Path(__file__).resolve().parents[2]
GEN_PATH = ROOT / "tools" / "gen_syscalls.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_syscalls", GEN_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_module_is_current(gen):
    if not (gen.X86_64_HEADER.exists() and gen.GENERIC_HEADER.exists()):
        pytest.skip("the uapi headers (linux-libc-dev) are not installed")
    if shutil.which("cpp") is None:
        pytest.skip("no C preprocessor (cpp)")
    assert gen.generate() == Path(seccomp_tables.__file__).read_text(), \
        "stale: run tools/gen_syscalls.py"


# Values from the kernel's arch/x86/entry/syscalls/syscall_64.tbl and
# include/uapi/asm-generic/unistd.h, written down so they are checked without the headers.
KNOWN = [
    ("x86_64", "read", 0), ("x86_64", "write", 1), ("x86_64", "openat", 257),
    ("x86_64", "mkdir", 83), ("x86_64", "getppid", 110), ("x86_64", "seccomp", 317),
    ("x86_64", "exit_group", 231), ("x86_64", "clone3", 435),
    ("aarch64", "read", 63), ("aarch64", "write", 64), ("aarch64", "openat", 56),
    ("aarch64", "mkdirat", 34), ("aarch64", "getppid", 173), ("aarch64", "seccomp", 277),
    ("aarch64", "exit_group", 94), ("aarch64", "fstat", 80), ("aarch64", "newfstatat", 79),
    ("aarch64", "renameat", 38), ("aarch64", "clone3", 435), ("aarch64", "memfd_secret", 447),
]


@pytest.mark.parametrize("arch,name,nr", KNOWN)
def test_known_numbers(arch, name, nr):
    assert syscall_number(name, arch) == nr
    assert syscall_name(nr, arch) == name


def test_aarch64_has_no_legacy_calls():
    for name in ("open", "mkdir", "fork", "stat", "arch_specific_syscall", "syscalls"):
        assert name not in seccomp_tables.AARCH64
    assert "syscalls" not in seccomp_tables.X86_64


def test_unknown_names_raise_a_clear_error():
    with pytest.raises(BpfValueError, match=r"unknown system call 'open' on aarch64"):
        syscall_number("open", "aarch64")
    with pytest.raises(BpfValueError, match="unknown system call 'no_such_call' on x86_64"):
        Filter(arch="x86_64").allow("no_such_call")
    with pytest.raises(BpfValueError, match="unsupported seccomp arch 'mips'"):
        Filter(arch="mips")
    with pytest.raises(ValueError):             # a BpfValueError is a ValueError
        Filter(arch="aarch64").deny("mkdir")


def test_tables_agree_with_libseccomp():
    support = pytest.importorskip("seccomp_support")
    try:
        oracle = support.LibSeccomp()
    except OSError as exc:
        pytest.skip(f"libseccomp is not available: {exc}")
    compared = 0
    for arch, table in (("x86_64", seccomp_tables.X86_64), ("aarch64", seccomp_tables.AARCH64)):
        for name, nr in table.items():
            theirs = oracle.resolve(name, arch)
            if theirs >= 0:     # libseccomp may not know calls newer than itself
                assert theirs == nr, (arch, name)
                compared += 1
    assert compared >= 600


def test_generator_check_mode(gen, tmp_path, capsys):
    if shutil.which("cpp") is None or not gen.GENERIC_HEADER.exists():
        pytest.skip("no cpp or headers")
    out = tmp_path / "tables.py"
    assert gen.main(["-o", str(out)]) == 0
    assert gen.main(["--check", "-o", str(out)]) == 0
    out.write_text(out.read_text().replace('"read": 0,', '"read": 1,'))
    assert gen.main(["--check", "-o", str(out)]) == 1
    assert '-    "read": 1,' in capsys.readouterr().out
    sys.modules.pop("gen_syscalls", None)
