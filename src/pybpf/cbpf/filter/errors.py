"""The filter compiler's error, which lives in :mod:`pybpf.errors` with the rest."""

from pybpf.errors import FilterError

__all__ = ["FilterError"]
