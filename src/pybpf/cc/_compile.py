"""``compile()``: C source to BPF ELF bytes, through clang or zig, with a cache."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from pybpf.cc._cache import Cache, make_key, parse_depfile
from pybpf.cc._toolchain import Toolchain, find_toolchain
from pybpf.errors import CompileError

DEFAULT_NAME = "source.c"
TIMEOUT = 300.0


def _resolve_source(source: str | os.PathLike[str] | bytes,
                    filename: str | None) -> tuple[bytes, str | None, str]:
    """(source bytes, path to compile or None for text, name shown in diagnostics).

    A ``PathLike`` is always a path; ``bytes`` always source text; a ``str`` is a path when
    it names an existing file, source text when it contains a newline, and otherwise a
    path that does not exist (an error), so a typo in a file name is not compiled as C.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None, filename or DEFAULT_NAME
    if isinstance(source, str) and "\n" in source:
        return source.encode(), None, filename or DEFAULT_NAME
    path = os.fspath(source)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CompileError(f"{path}: no such file (pass C text as bytes, or a str with a "
                           "newline)") from None
    except OSError as e:
        raise CompileError(f"{path}: cannot read: {e.strerror}") from None
    return data, path, filename or path


def compile(source: str | os.PathLike[str] | bytes, cflags: Sequence[str] = (), *,
            compiler: str | None = None, cache: bool = True,
            filename: str | None = None) -> bytes:
    """Compile C to a relocatable BPF ELF object and return its bytes.

    ``source`` is a path to a ``.c`` file (``str`` or ``PathLike``), or C text (``bytes``,
    or a ``str`` containing a newline). ``filename`` names text sources in diagnostics and
    debug info (default ``source.c``); quoted ``#include "x.h"`` in text sources resolve
    against the working directory only through ``-I`` flags.

    The flags are ``-target bpf -O2 -g -mcpu=v3`` then ``cflags`` (a ``-mcpu=`` there
    replaces the default). ``compiler`` (or ``$PYBPF_CC``): ``"zig"``, ``"clang"``, or a
    clang name/path; default the newest clang with the BPF target, else ziglang.

    Raises :class:`~pybpf.errors.CompileError` with the compiler's diagnostics.
    """
    data, path, display = _resolve_source(source, filename)
    toolchain = find_toolchain(compiler)
    with tempfile.TemporaryDirectory(prefix="pybpf-cc-") as tmp:
        return _compile_in(tmp, toolchain, data, path, display, list(cflags), cache)


def _compile_in(tmp: str, tc: Toolchain, data: bytes, path: str | None, display: str,
                cflags: list[str], use_cache: bool) -> bytes:
    srcdir = os.path.join(tmp, "src")
    if path is None:
        os.mkdir(srcdir)
        path = os.path.join(srcdir, os.path.basename(display) or DEFAULT_NAME)
        Path(path).write_bytes(data)
        # debug info and BTF line info name the file as the caller did, not the temp dir
        cflags = [f"-ffile-prefix-map={srcdir}{os.sep}=", *cflags]
    output = os.path.join(tmp, "out.o")
    depfile = os.path.join(tmp, "out.d")
    cmd = tc.command(path, output, cflags, depfile)
    key = make_key([tc.kind, tc.version, [a.replace(tmp, "<tmp>") for a in cmd],
                    data, display, os.getcwd()])
    store = Cache() if use_cache else None
    if store is not None:
        hit = store.get(key)
        if hit is not None:
            return hit
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT,
                              check=False)
    except OSError as e:
        raise CompileError(f"cannot run {cmd[0]}: {e.strerror}") from None
    except subprocess.TimeoutExpired:
        raise CompileError(f"{display}: compiler timed out after {TIMEOUT:.0f}s") from None
    diagnostics = proc.stderr.replace(path, display) if path != display else proc.stderr
    if proc.returncode != 0 or not os.path.exists(output):
        name = "zig cc" if tc.kind == "zig" else os.path.basename(tc.argv[0])
        raise CompileError(f"{display}: {name} failed (exit {proc.returncode})",
                           diagnostics.rstrip())
    obj = Path(output).read_bytes()
    if store is not None:
        try:
            deps = parse_depfile(Path(depfile).read_text())
        except OSError:
            return obj  # no dependency list: cannot validate a later hit, so do not cache
        deps = [d for d in deps if not os.path.abspath(d).startswith(tmp + os.sep)]
        store.put(key, obj, deps)
    return obj
