"""tracefs: find (or mount) it, and read ``bpf_printk`` output from ``trace_pipe``.

``bpf_trace_printk`` writes to the kernel's global trace buffer; ``trace_pipe`` hands each
line to exactly one reader and then forgets it. So a reader sees every process's output
(other programs, other tests), and whatever it reads, nobody else will: filter by a
marker unique to what you are waiting for. Lines look like::

    <comm>-<pid> [(<tgid>)] [<cpu>] <flags> <seconds>.<micros>: bpf_trace_printk: <message>

(the tgid column only with the ``record-tgid`` option, the flags only with ``irq-info``).

A private reader avoids the sharing: ``TracePipe(instance=name)`` reads a tracefs
instance (``instances/<name>``, created if absent and removed on close if it was created)
with the ``bpf_trace:bpf_trace_printk`` event enabled in it, so every ``bpf_printk`` is
recorded there as well as in the global buffer, and no other reader takes its lines.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import re
import select
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pybpf.errors import BpfSyscallError
from pybpf.kernel.fd import Fd, FdOwner

DEFAULT_ROOT = Path("/sys/kernel/tracing")
_LEGACY_ROOT = Path("/sys/kernel/debug/tracing")
PRINTK_EVENT = "bpf_trace_printk"

_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*(?:\d+|-+)\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>[^\s\[\]]+)\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>[^:\s]+):\s?(?P<msg>.*)$")


@dataclass(frozen=True)
class TraceLine:
    """One parsed trace_pipe line."""

    comm: str
    pid: int
    cpu: int
    flags: str
    timestamp: float      # seconds since boot (the trace clock)
    event: str            # "bpf_trace_printk" for bpf_printk output
    message: str
    raw: str


def parse_line(text: str) -> TraceLine | None:
    """A trace_pipe line's fields, or None for a line of another shape."""
    text = text.rstrip("\n")
    m = _LINE.match(text)
    if m is None:
        return None
    return TraceLine(m["comm"], int(m["pid"]), int(m["cpu"]), m["flags"] or "", float(m["ts"]),
                     m["event"], m["msg"], text)


def _mounted_tracefs() -> Path | None:
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[2] == "tracefs":
                    return Path(fields[1].replace("\\040", " "))
    except OSError:
        pass
    return None


def mount_tracefs(target: Path = DEFAULT_ROOT) -> Path:
    """Mount tracefs at ``target`` (needs root); BpfSyscallError with errno on failure."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"nodev", os.fsencode(target), b"tracefs", ctypes.c_ulong(0), None) != 0:
        err = ctypes.get_errno()
        raise BpfSyscallError(err, f"mounting tracefs at {target} failed")
    return target


def tracefs_root(mount: bool = True) -> Path:
    """Where tracefs is: a mounted tracefs, the debugfs alias, or (``mount=True``) a new
    mount at /sys/kernel/tracing."""
    found = _mounted_tracefs()
    if found is not None and (found / "trace_pipe").exists():
        return found
    for root in (DEFAULT_ROOT, _LEGACY_ROOT):
        if (root / "trace_pipe").exists():
            return root
    if not mount:
        raise BpfSyscallError(errno.ENOENT, "tracefs is not mounted")
    return mount_tracefs(DEFAULT_ROOT)


_instances = itertools.count()


def private_instance_name() -> str:
    """A tracefs instance name unique to this process and call."""
    return f"pybpf-{os.getpid()}-{next(_instances)}"


class TracePipe(FdOwner):
    """A non-blocking reader of ``trace_pipe``: the global one (consuming and shared: see
    the module docstring), or with ``instance`` that of a tracefs instance recording
    ``bpf_printk`` (``instance=True``: a new private one)."""

    def __init__(self, root: str | os.PathLike | None = None, *,
                 instance: str | bool | None = None):
        path = Path(root) if root is not None else tracefs_root()
        self.instance_dir: Path | None = None    # set when this reader created it
        self._partial = b""
        if instance:
            name = private_instance_name() if instance is True else str(instance)
            path = self._enter_instance(path / "instances" / name)
        try:
            fd = os.open(path / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            self._remove_instance()
            raise BpfSyscallError(e.errno or errno.EIO,
                                  f"opening {path / 'trace_pipe'} failed") from None
        self.fd = Fd(fd)
        self.path = path

    def _enter_instance(self, path: Path) -> Path:
        try:
            path.mkdir()
            self.instance_dir = path
        except FileExistsError:
            pass
        except OSError as e:
            raise BpfSyscallError(e.errno or errno.EIO,
                                  f"creating the tracefs instance {path} failed") from None
        try:
            (path / "events" / "bpf_trace" / "bpf_trace_printk" / "enable").write_text("1")
        except OSError as e:
            self._remove_instance()
            raise BpfSyscallError(e.errno or errno.EIO, "enabling bpf_trace_printk in the "
                                                        f"tracefs instance {path} failed") from None
        return path

    def _remove_instance(self) -> None:
        directory, self.instance_dir = self.instance_dir, None
        if directory is not None:
            try:
                directory.rmdir()
            except OSError:
                pass

    def close(self) -> None:
        """Close the pipe (and remove the instance this reader created)."""
        self.fd.close()
        self._remove_instance()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def read(self, timeout_s: float = 0.0, *, printk_only: bool = True) -> list[TraceLine]:
        """The complete lines there are, waiting up to ``timeout_s`` for the first;
        only ``bpf_trace_printk`` lines unless ``printk_only`` is False."""
        fd = self.fd.fileno()
        ready, _, _ = select.select([fd], [], [], max(timeout_s, 0.0))
        if not ready:
            return []
        chunks = [self._partial]
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        *complete, self._partial = data.split(b"\n")
        lines = []
        for raw in complete:
            line = parse_line(raw.decode("utf-8", "replace"))
            if line is not None and (not printk_only or line.event == PRINTK_EVENT):
                lines.append(line)
        return lines

    def lines(self, timeout_s: float = 1.0, *, marker: str | None = None,
              printk_only: bool = True) -> Iterator[TraceLine]:
        """Lines as they come for ``timeout_s`` seconds (only those whose message contains
        ``marker``, when given). Stop early by breaking out of the loop."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            for line in self.read(max(remaining, 0.0), printk_only=printk_only):
                if marker is None or marker in line.message:
                    yield line
            if remaining <= 0:
                return


def trace_pipe_lines(timeout_s: float = 1.0, *, marker: str | None = None,
                     printk_only: bool = True, root: str | os.PathLike | None = None,
                     instance: str | bool | None = None) -> Iterator[TraceLine]:
    """``bpf_printk`` lines from trace_pipe for ``timeout_s`` seconds (see
    :meth:`TracePipe.lines`); the pipe is closed when the iteration ends or is abandoned.
    A private ``instance`` only sees output produced after the call starts iterating."""
    with TracePipe(root, instance=instance) as pipe:
        yield from pipe.lines(timeout_s, marker=marker, printk_only=printk_only)


__all__ = ["PRINTK_EVENT", "TraceLine", "TracePipe", "mount_tracefs", "parse_line",
           "private_instance_name", "trace_pipe_lines", "tracefs_root"]


class LiveTraceLines(list):
    """``obj.trace_pipe`` of a kernel-engine object: a list of ``bpf_printk`` messages that
    fills itself from a private tracefs instance whenever it is read.

    The instance records every program's ``bpf_printk`` while the object is loaded (the
    kernel does not say which program printed), so on a busy machine other programs'
    lines appear too. ``wait(timeout_s)`` blocks until at least one new line arrives.
    """

    def __init__(self, pipe: TracePipe):
        super().__init__()
        self._pipe: TracePipe | None = pipe

    def _pull(self, timeout_s: float = 0.0) -> None:
        if self._pipe is not None:
            list.extend(self, (line.message for line in self._pipe.read(timeout_s)))

    def wait(self, timeout_s: float = 1.0) -> "LiveTraceLines":
        self._pull(timeout_s)
        return self

    def __iter__(self):
        self._pull()
        return list.__iter__(self)

    def __len__(self) -> int:
        self._pull()
        return list.__len__(self)

    def __getitem__(self, index):
        self._pull()
        return list.__getitem__(self, index)

    def __contains__(self, item: object) -> bool:
        self._pull()
        return list.__contains__(self, item)

    def __eq__(self, other: object) -> bool:
        self._pull()
        return list.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        self._pull()
        return list.__repr__(self)

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
