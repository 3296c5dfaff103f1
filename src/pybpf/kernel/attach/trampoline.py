"""BTF-targeted programs (fentry, fexit, fmod_ret, lsm, tp_btf): their targets' BTF ids in
vmlinux, loading one from instructions, and whether this kernel allows trampolines.

These programs name their hook at load time (``attach_btf_id``), which
:meth:`pybpf.kernel.KernelProgram.load` does not take; :func:`load_btf_program` does, so
such programs can be loaded from assembled instructions too, and a refusal (EPERM under
kernel lockdown) says which hooks remain.
"""

from __future__ import annotations

import ctypes
import errno
from functools import lru_cache
from typing import Sequence

from pybpf.errors import BpfSyscallError
from pybpf.isa import Instruction, encode
from pybpf.isa.uapi import AttachType, Cmd, ProgType
from pybpf.kernel.attach._attr import attach_error, common_reason
from pybpf.kernel.fd import Fd
from pybpf.kernel.programs import KernelProgram
from pybpf.kernel.syscall import BpfAttr, address, bpf

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

# kind -> (program type, attach type, BTF name prefix, BTF kind of the target)
KINDS = {
    "fentry": (ProgType.TRACING, AttachType.TRACE_FENTRY, "", "FUNC"),
    "fexit": (ProgType.TRACING, AttachType.TRACE_FEXIT, "", "FUNC"),
    "fmod_ret": (ProgType.TRACING, AttachType.MODIFY_RETURN, "", "FUNC"),
    "lsm": (ProgType.LSM, AttachType.LSM_MAC, "bpf_lsm_", "FUNC"),
    "tp_btf": (ProgType.TRACING, AttachType.TRACE_RAW_TP, "btf_trace_", "TYPEDEF"),
}
_ALTERNATIVE = {
    "fentry": "use a tp_btf or raw_tp program on a nearby tracepoint",
    "fexit": "use a tp_btf or raw_tp program on a nearby tracepoint",
    "fmod_ret": "there is no equivalent without trampolines",
    "lsm": "cgroup programs (sock_create, bind4, connect4, device, sysctl) cover some of "
           "the same decisions",
    "tp_btf": "use a raw_tp program (attach_raw_tracepoint)",
}
# The canonical "return 0" program: r0 = 0; exit.
RETURN_ZERO = bytes.fromhex("b700000000000000" "9500000000000000")


@lru_cache(maxsize=1)
def vmlinux_btf():
    from pybpf.elf.btf import Btf
    return Btf.from_file(VMLINUX_BTF)


def btf_target_id(kind: str, target: str) -> int:
    """The vmlinux BTF id a ``kind`` program for ``target`` is loaded with (function
    ``target``; LSM hook ``bpf_lsm_<target>``; tracepoint typedef ``btf_trace_<target>``)."""
    from pybpf.elf.btf import Kind
    _, _, prefix, btf_kind = KINDS[kind]
    name = target if target.startswith(prefix) else prefix + target
    try:
        return vmlinux_btf().find(name, Kind[btf_kind]).id
    except (KeyError, LookupError, ValueError):
        raise attach_error(errno.ENOENT, f"finding the {kind} target {target!r}",
                           f"vmlinux BTF has no {btf_kind.lower()} {name}") from None
    except OSError as e:
        raise attach_error(e.errno or errno.ENOENT, f"reading {VMLINUX_BTF}",
                           "the kernel has no BTF (CONFIG_DEBUG_INFO_BTF)") from None


def load_btf_program(kind: str, target: str,
                     insns: bytes | Sequence[Instruction] = RETURN_ZERO, *,
                     license: str = "GPL", name: str = "") -> KernelProgram:
    """Load a ``kind`` program (fentry, fexit, fmod_ret, lsm, tp_btf) for ``target``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    prog_type, attach_type, _, _ = KINDS[kind]
    btf_id = btf_target_id(kind, target)
    code = bytes(insns) if isinstance(insns, (bytes, bytearray)) else encode(insns)
    code_buf = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(1 << 16)
    attr = BpfAttr()
    p = attr.prog_load
    p.prog_type, p.insn_cnt, p.insns = prog_type, len(code) // 8, address(code_buf)
    p.license, p.expected_attach_type, p.attach_btf_id = address(lic), attach_type, btf_id
    p.log_level, p.log_size, p.log_buf = 1, len(log), address(log)
    p.prog_name = name.encode()[:15]
    what = f"loading a {kind} program for {target}"
    try:
        fd = bpf(Cmd.PROG_LOAD, attr)
    except BpfSyscallError as e:
        err = e.errno or 0
        if err == errno.EPERM:
            reason = ("the kernel refused a BPF trampoline program (kernel lockdown in "
                      "integrity mode forbids fentry/fexit/fmod_ret/LSM programs, or "
                      "CAP_BPF+CAP_PERFMON are missing)")
        else:
            text = log.value.decode(errors="replace").strip().splitlines()
            reason = (text[-1] if text else "") or common_reason(err)
        raise attach_error(err, what, reason, _ALTERNATIVE[kind]) from None
    prog = KernelProgram(Fd(fd), prog_type, log.value.decode(errors="replace"))
    prog.expected_attach_type = attach_type  # type: ignore[attr-defined]  # for attach()
    return prog


@lru_cache(maxsize=1)
def trampolines_available() -> tuple[bool, str]:
    """Whether fentry programs load here; if not, the error's text (with its errno)."""
    try:
        load_btf_program("fentry", "do_unlinkat").close()
    except OSError as e:
        return False, str(e)
    return True, "an fentry program for do_unlinkat loaded"


__all__ = ["KINDS", "RETURN_ZERO", "btf_target_id", "load_btf_program", "trampolines_available"]
