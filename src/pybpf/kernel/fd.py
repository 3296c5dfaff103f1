"""An owned file descriptor: closed exactly once, by ``close()``, ``with`` or garbage collection.

Maps and programs in the kernel live as long as a descriptor refers to them, so a leaked
descriptor is leaked kernel memory (charged to this cgroup). Everything in the kernel
backend that holds a descriptor holds it in an :class:`Fd`.
"""

from __future__ import annotations

import os
from types import TracebackType


class Fd:
    """Ownership of one open file descriptor."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int):
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        self._fd: int | None = fd

    @property
    def closed(self) -> bool:
        return self._fd is None

    def fileno(self) -> int:
        """The descriptor number; raises ValueError once closed (as files do)."""
        if self._fd is None:
            raise ValueError("operation on a closed BPF file descriptor")
        return self._fd

    def close(self) -> None:
        """Close the descriptor; closing again does nothing."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def detach(self) -> int:
        """Give up ownership and return the number; the caller must close it."""
        fd = self.fileno()
        self._fd = None
        return fd

    def __enter__(self) -> "Fd":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter exit os may already be gone; the kernel closes the fd anyway.
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"Fd({self._fd})" if self._fd is not None else "Fd(closed)"


class Closing:
    """What owns kernel resources: ``close()`` (idempotent), ``with``, and a close at
    garbage collection as a last resort."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        # At interpreter exit modules may already be gone; the kernel cleans up anyway.
        try:
            self.close()
        except Exception:
            pass


class FdOwner:
    """Base of kernel objects held through an :class:`Fd` in ``self.fd``: fileno, close, ``with``."""

    fd: Fd

    def fileno(self) -> int:
        return self.fd.fileno()

    def close(self) -> None:
        self.fd.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


__all__ = ["Closing", "Fd", "FdOwner"]
