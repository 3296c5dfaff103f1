"""The JIT's disk cache: a second process loads a program's object code instead of
compiling it; a different program, another code generator or a damaged entry compiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.asm import assemble
from pybpf.jit import JitMachine, backend

# A program with a fault known at compile time (falling off the end: a static message
# with its exception class) as well as ordinary code.
PROGRAM = """
r0 = {seed}
r6 = 0
*(u64 *)(r10 - 8) = r6
r0 += 7
if r0 > 100 goto +2
*(u64 *)(r10 - 8) = r0
exit
r0 = 1
"""

CHILD = textwrap.dedent("""
    import json, sys
    from pybpf.asm import assemble
    from pybpf.jit import JitMachine, backend
    machine = JitMachine(assemble(sys.argv[1]))
    print(json.dumps({"r0": machine.run().r0, "stats": backend.cache_stats()}))
""")


def _child(program: str, cache_dir) -> dict:
    env = dict(os.environ, PYBPF_CACHE_DIR=str(cache_dir), PYBPF_JIT_DISK_CACHE="1")
    out = subprocess.run([sys.executable, "-c", CHILD, program], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("PYBPF_CACHE_DIR", str(path))
    backend.set_disk_cache(True)
    backend.runtime_symbols()           # compiled (or loaded) once per process
    backend.cache_clear()
    yield path
    backend.set_disk_cache(None)


def _entries(cache_dir, suffix: str) -> list:
    return sorted(p for p in (cache_dir / "jit").rglob(f"*{suffix}") if p.is_file())


def _load(program: str) -> tuple[JitMachine, dict]:
    """A machine for ``program`` not in the memory cache; the cache counts it made."""
    backend.cache_clear()
    before = backend.cache_stats()
    machine = JitMachine(assemble(program))
    after = backend.cache_stats()
    return machine, {k: after[k] - before[k] for k in after}


def test_second_process_loads_from_disk(tmp_path):
    cache_dir = tmp_path / "cache"
    program = PROGRAM.format(seed=1)
    first = _child(program, cache_dir)
    assert first["stats"]["compiles"] >= 1 and first["stats"]["disk_writes"] >= 1
    second = _child(program, cache_dir)
    assert second["r0"] == first["r0"] == 8
    assert second["stats"]["compiles"] == 0          # runtime and program both from disk
    assert second["stats"]["disk_hits"] >= 1
    changed = _child(PROGRAM.format(seed=2), cache_dir)
    assert changed["r0"] == 9
    assert changed["stats"]["compiles"] == 1         # the program; the runtime from disk


def test_disk_hit_behaves_as_compiled(cache_dir):
    program = PROGRAM.format(seed=20)
    compiled, counts = _load(program)
    assert counts["compiles"] == 1 and counts["disk_writes"] == 1
    loaded, counts = _load(program)
    assert counts["compiles"] == 0 and counts["disk_hits"] == 1
    assert loaded.compiled is not compiled.compiled
    assert loaded.run().r0 == compiled.run().r0 == 27
    # the static message (class stored by name) raises the same error
    jumped = PROGRAM.format(seed=50).replace("if r0 > 100", "if r0 > 10")
    errors = []
    for _ in range(2):
        machine, _ = _load(jumped)
        with pytest.raises(pybpf.BpfRuntimeError) as info:
            machine.run()
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1] and "fell off the end" in errors[0][1]
    # the IR is made again on demand
    assert loaded.source() == compiled.source() and "bpf_entry0" in loaded.source()


def test_code_generator_change_misses(cache_dir, monkeypatch):
    program = PROGRAM.format(seed=3)
    _load(program)
    monkeypatch.setattr(backend, "_fingerprint", backend.fingerprint()[:-1] + ["changed"])
    _, counts = _load(program)
    assert counts["compiles"] == 1 and counts["disk_hits"] == 0


@pytest.mark.parametrize("damage", ["truncate-object", "garbage-object", "truncate-manifest",
                                    "bad-message-class", "bad-entry-name", "bad-meta"])
def test_damaged_entry_compiles_again(cache_dir, damage):
    program = PROGRAM.format(seed=4).replace("if r0 > 100", "if r0 > 1")
    before = set(_entries(cache_dir, ""))           # (the runtime's entry, maybe)
    _load(program)
    new = set(_entries(cache_dir, "")) - before
    [obj] = [p for p in new if p.suffix == ".o"]
    [manifest_path] = [p for p in new if p.suffix == ".json"]
    manifest = json.loads(manifest_path.read_text())
    if damage == "truncate-object":
        obj.write_bytes(obj.read_bytes()[:100])
    elif damage == "garbage-object":
        obj.write_bytes(os.urandom(len(obj.read_bytes())))
    elif damage == "truncate-manifest":
        manifest_path.write_text(manifest_path.read_text()[:20])
    else:
        if damage == "bad-message-class":
            manifest["meta"]["messages"][0][0] = "SystemExit"
        elif damage == "bad-entry-name":
            manifest["meta"]["entries"] = {"0": "bpf_entry0", "3": "bpf_entry3"}
        else:
            manifest["meta"] = [1, 2, 3]
        manifest_path.write_text(json.dumps(manifest))
    machine, counts = _load(program)
    assert counts["compiles"] == 1 and counts["disk_hits"] == 0
    with pytest.raises(pybpf.BpfRuntimeError, match="fell off the end"):
        machine.run()
    # the fresh compile replaced the entry
    _, counts = _load(program)
    assert counts["disk_hits"] == 1 and counts["compiles"] == 0


def test_disk_cache_can_be_turned_off(cache_dir):
    backend.set_disk_cache(False)
    before = _entries(cache_dir, ".o")
    _, counts = _load(PROGRAM.format(seed=5))
    assert counts["compiles"] == 1 and counts["disk_writes"] == 0
    assert _entries(cache_dir, ".o") == before
