"""The C front end: compile C to BPF ELF objects with clang (or zig), cached.

>>> from pybpf import cc
>>> elf = cc.compile("prog.c")                          # doctest: +SKIP
>>> elf = cc.compile(b"int x;", compiler="zig")         # doctest: +SKIP

``include_dir()`` is pybpf's own ``<bpf/*.h>`` (helpers, endian, tracing, CO-RE macros),
used when libbpf's headers are not installed; see ``tools/gen_headers.py``.
"""

from pybpf.cc._cache import Cache, cache_root
from pybpf.cc._compile import compile
from pybpf.cc._toolchain import (
    DEFAULT_FLAGS, Toolchain, find_toolchain, include_dir, ziglang_available,
)

__all__ = ["DEFAULT_FLAGS", "Cache", "Toolchain", "cache_root", "compile", "find_toolchain",
           "include_dir", "ziglang_available"]
