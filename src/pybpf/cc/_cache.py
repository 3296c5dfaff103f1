"""The compile cache: object files keyed by everything that went into them.

An entry's *key* hashes the source bytes, the compiler's identity and version, the whole
command line (temporary paths replaced by placeholders) and the working directory. Headers
are not known until the compiler has run, so each entry also records the headers clang's
``-MD -MF`` dependency file listed, with a hash of each; a lookup re-hashes them and misses
if any changed (ccache's "direct mode" idea). Entries are written to a temporary file and
renamed into place, so concurrent compiles never see a torn entry: the manifest names the
hash of the object it goes with, and a lookup checks it.

Layout: ``<root>/v1/<key[:2]>/<key>.json`` (manifest) and ``<key>.o`` (the object).
The root is ``$PYBPF_CACHE_DIR``, else ``$XDG_CACHE_HOME/pybpf/cc``, else ``~/.cache/pybpf/cc``.
Other caches of the same family (``kind``: the JIT's object code, ``jit``) live beside it:
``$PYBPF_CACHE_DIR/<kind>``, else ``$XDG_CACHE_HOME/pybpf/<kind>``, else
``~/.cache/pybpf/<kind>``; a manifest may carry what its user needs besides the object
(``meta``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

FORMAT = "v1"


def cache_root(kind: str = "cc") -> Path:
    """Where the ``kind`` cache lives (the compile cache is ``cc``; see the module doc)."""
    explicit = os.environ.get("PYBPF_CACHE_DIR")
    if explicit:
        return Path(explicit) if kind == "cc" else Path(explicit) / kind
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "pybpf" / kind


def make_key(parts: Iterable[object]) -> str:
    """A stable hash of JSON-able parts (bytes are hashed first)."""
    norm = [hashlib.sha256(p).hexdigest() if isinstance(p, (bytes, bytearray)) else p
            for p in parts]
    return hashlib.sha256(json.dumps([FORMAT, *norm], sort_keys=True).encode()).hexdigest()


def _sha256_file(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def parse_depfile(text: str) -> list[str]:
    """The prerequisites of a Makefile-style dependency file (``-MD -MF`` output).

    Handles line continuations, ``\\ `` (an escaped space inside a path), ``$$`` and
    ``\\#``; the first rule's target is dropped.
    """
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    deps: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        # the target ends at the first ": " (paths we pass contain no ": ")
        idx = line.find(": ")
        body = line[idx + 2:] if idx >= 0 else (line[:-1] if line.endswith(":") else line)
        if idx < 0 and line.endswith(":"):
            continue  # a phony "header:" rule (-MP)
        token: list[str] = []
        i = 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body) and body[i + 1] in " #\\":
                token.append(body[i + 1])
                i += 2
                continue
            if c == "$" and body[i + 1:i + 2] == "$":
                token.append("$")
                i += 2
                continue
            if c in " \t":
                if token:
                    deps.append("".join(token))
                    token = []
            else:
                token.append(c)
            i += 1
        if token:
            deps.append("".join(token))
    seen: set[str] = set()
    return [d for d in deps if not (d in seen or seen.add(d))]


class Cache:
    """Read and write entries under ``root``."""

    def __init__(self, root: Path | None = None, kind: str = "cc"):
        self.root = Path(root) if root is not None else cache_root(kind)

    def _paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / FORMAT / key[:2]
        return d / f"{key}.json", d / f"{key}.o"

    def get(self, key: str) -> bytes | None:
        """The cached object for ``key`` if every recorded header still has its contents."""
        entry = self.lookup(key)
        return entry[0] if entry is not None else None

    def lookup(self, key: str) -> tuple[bytes, object] | None:
        """``(object, meta)`` for ``key`` (as :meth:`get`); None for a missing, torn or
        corrupt entry."""
        manifest_path, obj_path = self._paths(key)
        try:
            manifest = json.loads(manifest_path.read_text())
            obj = obj_path.read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(manifest, dict) or manifest.get("object") != hashlib.sha256(
                obj).hexdigest():
            return None
        deps = manifest.get("deps", {})
        if not isinstance(deps, dict):
            return None
        for path, digest in deps.items():
            if not isinstance(path, str) or _sha256_file(path) != digest:
                return None
        return obj, manifest.get("meta")

    def put(self, key: str, obj: bytes, deps: Iterable[str] = (), meta: object = None) -> None:
        """Store ``obj`` with the current contents of ``deps`` (and ``meta``, JSON-able,
        when given); errors are not fatal."""
        hashes: dict[str, str] = {}
        for path in deps:
            digest = _sha256_file(path)
            if digest is None:
                return  # a header vanished already: do not cache what cannot be validated
            hashes[os.path.abspath(path)] = digest
        manifest: dict[str, object] = {"object": hashlib.sha256(obj).hexdigest(), "deps": hashes}
        if meta is not None:
            manifest["meta"] = meta
        manifest_path, obj_path = self._paths(key)
        try:
            text = json.dumps(manifest, indent=1).encode()
        except (TypeError, ValueError):     # meta that is not JSON-able: nothing stored
            return
        try:
            manifest_path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(obj_path, obj)
            _atomic_write(manifest_path, text)
        except OSError:
            pass

    def clear(self) -> None:
        """Remove every entry (the directory tree under ``root/v1``)."""
        import shutil

        shutil.rmtree(self.root / FORMAT, ignore_errors=True)


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
