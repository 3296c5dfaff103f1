"""Testing support: random program generation for differential tests against the kernel."""

from pybpf.testing.progen import GenOptions, generate, programs

__all__ = ["GenOptions", "generate", "programs"]
