"""pybpf's static verifier: the Linux kernel's decisions and messages, in Python.

``pybpf.verifier.verify(prog_or_obj, log_level=1, priv="root")`` returns a
:class:`VerifyResult` (``accepted``, ``log``, ``error``, ``insn``, ``stats``), or a dict of
them for an object with several programs.

Modules, one purpose each: ``tnum`` (known bits), ``regs`` (register state and range
sync), ``alu`` (scalar arithmetic), ``state`` (frames, stack slots, references, pruning
equivalence), ``mem`` (memory access checks), ``calls`` (helper calls against
:mod:`pybpf.vm.helpers.protos`), ``ctx`` (context rules from :mod:`pybpf.vm.progtypes`),
``cfg`` (control flow), ``log`` (kernel log format), ``walk`` (the main loop), ``api``
(this entry point), ``explain`` (the fix hints).
"""

from pybpf.verifier.api import VerifyResult, verify

__all__ = ["VerifyResult", "verify"]
