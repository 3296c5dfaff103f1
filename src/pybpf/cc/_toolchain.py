"""Finding a C compiler that targets BPF, and the command line that drives it.

Two kinds of compiler are supported:

* a system ``clang`` with the BPF back end (``clang-19``, ``clang-18``, ..., ``clang``), the
  newest one first. It finds ``<linux/*.h>`` in ``/usr/include`` and ``<asm/types.h>`` in the
  host's multiarch directory (``/usr/include/x86_64-linux-gnu``), which ``-target bpf`` does
  not search by itself, so that directory is added with ``-idirafter``;
* the ``ziglang`` PyPI package (``python -m ziglang cc``), a clang that bundles the Linux
  UAPI headers (``lib/libc/include/any-linux-any``) but not libbpf's ``<bpf/*.h>``.

Either way pybpf's own ``include/`` directory (``bpf/bpf_helpers.h`` and friends, generated
by ``tools/gen_headers.py``) is searched *after* the system directories, so installed libbpf
headers win where they exist and pybpf's stand in where they do not.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pybpf.errors import CompileError

#: Flags every compile gets (before the caller's); ``-mcpu=`` in the caller's flags replaces
#: the default one.
DEFAULT_FLAGS: tuple[str, ...] = ("-O2", "-g", "-mcpu=v3")
CLANG_TARGET = ("-target", "bpf")
ZIG_TARGET = ("-target", "bpfel-freestanding")
# zig cc adds unwind tables (.eh_frame) by default; BPF has no use for them (libbpf skips
# the section with a warning), and the first flag alone does not remove them.
ZIG_EXTRA = ("-fno-asynchronous-unwind-tables", "-fno-unwind-tables")
OLDEST_CLANG = 10
NEWEST_CLANG = 30

INSTALL_HINT = ("install clang with the BPF target (Debian/Ubuntu: apt-get install clang-19 "
                "llvm-19 libbpf-dev linux-libc-dev) or the zig toolchain from PyPI "
                "(pip install ziglang, or pip install 'pybpf[cc]')")


def include_dir() -> Path:
    """pybpf's shipped headers: ``<bpf/bpf_helpers.h>`` and friends."""
    return Path(__file__).resolve().parent.parent / "include"


@dataclass(frozen=True)
class Toolchain:
    """One usable compiler: how to run it and what identifies its output."""

    kind: str                 # "clang" or "zig"
    argv: tuple[str, ...]     # the command up to the flags: ("/usr/bin/clang-19",) or
    #                           (python, "-m", "ziglang", "cc")
    version: str              # first line of --version, part of the cache key
    include_dirs: tuple[str, ...] = ()   # searched after the system's (-idirafter)

    def command(self, source: str, output: str, cflags: Sequence[str],
                depfile: str | None = None) -> list[str]:
        """The full command line compiling ``source`` to the object ``output``."""
        user = list(cflags)
        defaults = [f for f in DEFAULT_FLAGS
                    if not (f.startswith("-mcpu=") and any(u.startswith("-mcpu=") for u in user))]
        target = ZIG_TARGET if self.kind == "zig" else CLANG_TARGET
        cmd = [*self.argv, *target, *defaults]
        if self.kind == "zig":
            cmd += ZIG_EXTRA
        for d in self.include_dirs:
            # clang ignores a -I directory that is also a system directory, so a caller's
            # "-I <pybpf include>" (to prefer pybpf's headers) must not be repeated here
            if not _names_dir(user, d):
                cmd += ["-idirafter", d]
        cmd += user
        if depfile is not None:
            cmd += ["-MD", "-MF", depfile]
        cmd += ["-c", source, "-o", output]
        return cmd


def _names_dir(flags: Sequence[str], directory: str) -> bool:
    """Whether ``flags`` put ``directory`` on an include path (-I, -isystem, -idirafter)."""
    real = os.path.realpath(directory)
    prev = ""
    for flag in flags:
        for opt in ("-I", "-isystem", "-idirafter", "-iquote"):
            value = None
            if prev == opt:
                value = flag
            elif flag.startswith(opt) and len(flag) > len(opt) and opt == "-I":
                value = flag[2:]
            if value is not None and os.path.realpath(value) == real:
                return True
        prev = flag
    return False


def _run(argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          check=False)


@functools.lru_cache(maxsize=None)
def multiarch_include_dir() -> str | None:
    """The host's multiarch include directory holding ``asm/types.h``, if there is one."""
    candidates: list[str] = []
    for probe in (("gcc", "-print-multiarch"), ("dpkg-architecture", "-qDEB_HOST_MULTIARCH")):
        exe = shutil.which(probe[0])
        if exe is None:
            continue
        try:
            out = _run([exe, *probe[1:]], timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if out:
            candidates.append(out)
    machine = platform.machine()
    candidates += [f"{machine}-linux-gnu", f"{machine}-linux-musl"]
    for triple in candidates:
        path = Path("/usr/include") / triple
        if (path / "asm" / "types.h").exists():
            return str(path)
    return None


@functools.lru_cache(maxsize=None)
def _clang_toolchain(exe: str) -> Toolchain | None:
    """A Toolchain for this clang if it has the BPF back end, else None."""
    try:
        targets = _run([exe, "--print-targets"])
        version = _run([exe, "--version"])
    except (OSError, subprocess.SubprocessError):
        return None
    if version.returncode != 0:
        return None
    if targets.returncode != 0 or not re.search(r"^\s*bpf\b", targets.stdout, re.M):
        return None
    dirs = [d for d in (multiarch_include_dir(), str(include_dir())) if d]
    first = version.stdout.splitlines()[0] if version.stdout else exe
    return Toolchain("clang", (exe,), f"{first} ({os.path.realpath(exe)})", tuple(dirs))


def _clang_candidates() -> list[str]:
    names = [f"clang-{v}" for v in range(NEWEST_CLANG, OLDEST_CLANG - 1, -1)] + ["clang"]
    found: list[str] = []
    seen: set[str] = set()
    for name in names:
        exe = shutil.which(name)
        if exe and os.path.realpath(exe) not in seen:
            seen.add(os.path.realpath(exe))
            found.append(exe)
    return found


def ziglang_available() -> bool:
    return importlib.util.find_spec("ziglang") is not None


@functools.lru_cache(maxsize=None)
def zig_toolchain() -> Toolchain | None:
    """The ziglang package's clang, with its bundled Linux UAPI headers, or None."""
    spec = importlib.util.find_spec("ziglang")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(list(spec.submodule_search_locations)[0])
    libc = root / "lib" / "libc" / "include"
    argv = (sys.executable, "-m", "ziglang", "cc")
    try:
        version = _run([sys.executable, "-m", "ziglang", "version"], timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if version.returncode != 0:
        return None
    # any-linux-any has linux/*.h and a generic asm/types.h; asm/byteorder.h is per
    # architecture, and BPF (bpfel) is little endian like x86.
    dirs = [str(p) for p in (libc / "any-linux-any", libc / "x86-linux-any") if p.is_dir()]
    dirs.append(str(include_dir()))
    return Toolchain("zig", argv, f"zig {version.stdout.strip()}", tuple(dirs))


def find_toolchain(compiler: str | None = None) -> Toolchain:
    """Pick the compiler: ``compiler`` (or ``$PYBPF_CC``) if given, else the newest clang
    with the BPF target, else ziglang.

    ``compiler`` is ``"zig"``, ``"clang"`` (the newest clang), or a clang name or path
    (``"clang-18"``, ``"/opt/llvm/bin/clang"``).
    """
    choice = compiler or os.environ.get("PYBPF_CC") or None
    if choice in ("zig", "ziglang"):
        tc = zig_toolchain()
        if tc is None:
            raise CompileError("compiler 'zig' requested but the ziglang package is not "
                               "installed: pip install ziglang")
        return tc
    if choice is not None and choice != "clang":
        exe = shutil.which(choice)
        if exe is None:
            raise CompileError(f"compiler {choice!r} not found; {INSTALL_HINT}")
        tc = _clang_toolchain(exe)
        if tc is None:
            raise CompileError(f"{exe} cannot target BPF (no bpf in --print-targets); "
                               f"{INSTALL_HINT}")
        return tc
    for exe in _clang_candidates():
        tc = _clang_toolchain(exe)
        if tc is not None:
            return tc
    if choice is None:
        tc = zig_toolchain()
        if tc is not None:
            return tc
    raise CompileError(f"no C compiler for BPF found: {INSTALL_HINT}")
