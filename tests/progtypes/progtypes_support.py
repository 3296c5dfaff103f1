"""Shared by the program-type tests: run a program in the interpreter the way the loader
does (prepare → Machine.run → finish → close), run it in the kernel with test_run, and
build packets."""

from __future__ import annotations

import errno
import hashlib
import struct
from typing import Any

from pybpf.asm import assemble
from pybpf.env import Env
from pybpf.errors import BpfSyscallError
from pybpf.vm import Machine
from pybpf.vm.memory import Memory
from pybpf.vm.progtypes import program_type
import pybpf.vm.helpers  # noqa: F401  (registers every helper)

Result = tuple[int, str, str | None]      # (retval, digest(data_out), ctx_out hex)


def digest(data: bytes | None) -> str | None:
    """Short data as hex; long data as ``len:sha256-prefix`` so expectations stay readable."""
    if data is None:
        return None
    if len(data) <= 96:
        return data.hex()
    return f"{len(data)}:{hashlib.sha256(data).hexdigest()[:16]}"


def urun(prog_type: int, text: str, data: bytes | None = b"", ctx: bytes | None = None, *,
         attach: int = 0, env: Env | None = None) -> Result | str:
    """Run in the interpreter; an input the kernel refuses gives its errno name."""
    insns = assemble(text)
    memory = Memory()
    env = env or Env(cpus=1)
    machine = Machine(insns, memory=memory, env=env)
    pt = program_type(prog_type, attach)
    try:
        inv = pt.prepare(memory, env, data, ctx)
    except BpfSyscallError as e:
        return f"ERR {errno.errorcode.get(e.errno, e.errno)}"
    try:
        machine.call.ctx = inv.ctx
        result = machine.run(*inv.args, packet=inv.packet)
        retval, out, ctx_out = inv.finish(result.r0)
    except BpfSyscallError as e:
        return f"ERR {errno.errorcode.get(e.errno, e.errno)}"
    finally:
        inv.close()
    return retval, digest(out), ctx_out.hex() if ctx_out is not None else None


def krun(prog_type: int, text: str, data: bytes | None = b"", ctx: bytes | None = None, *,
         attach: int = 0, repeat: int | None = None) -> Result | str:
    """Load and test_run in the kernel (only where bpf(2) works).

    raw_tp's test_run refuses a non-zero repeat, so it runs with repeat 0 there.
    """
    if repeat is None:
        repeat = 0 if prog_type == 17 else 1
    from pybpf.kernel.programs import KernelProgram
    prog = KernelProgram.load(prog_type, assemble(text), expected_attach_type=attach)
    try:
        extra = {"ctx_out_size": 0} if prog_type == 17 else {}   # raw_tp: no ctx_out
        r = prog.test_run(data=data or b"", ctx=ctx, repeat=repeat, **extra)
    except OSError as e:
        return f"ERR {errno.errorcode.get(e.errno, e.errno)}"
    finally:
        prog.close()
    out = r.data_out if data else None
    return r.retval, digest(out), r.ctx_out.hex() if r.ctx_out is not None else None


def normalise(result: Result | str) -> Any:
    return list(result) if isinstance(result, tuple) else result


# -- packets --------------------------------------------------------------------------------

def ip_checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(payload: bytes = b"", proto: int = 6, tos: int = 0, src: str = "192.168.0.1",
         dst: str = "192.168.0.2") -> bytes:
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), 1, 0, 64, proto,
                                0, bytes(map(int, src.split("."))),
                                bytes(map(int, dst.split(".")))))
    struct.pack_into("!H", hdr, 10, ip_checksum(bytes(hdr)))
    return bytes(hdr) + payload


def ipv6(payload: bytes = b"", nxt: int = 6) -> bytes:
    return (struct.pack("!IHBB", 6 << 28, len(payload), nxt, 64) + bytes(15) + b"\x01"
            + bytes(15) + b"\x02" + payload)


def tcp(sport: int = 1234, dport: int = 80) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 8192, 0x1234, 0)


def eth(payload: bytes, proto: int = 0x0800, dst: bytes = bytes(6),
        src: bytes = bytes.fromhex("aabbccddeeff")) -> bytes:
    return dst + src + proto.to_bytes(2, "big") + payload


PKT4 = eth(ipv4(tcp()))
PKT6 = eth(ipv6(tcp()), 0x86DD)
PKT_VLAN = bytes(6) + bytes.fromhex("aabbccddeeff") + b"\x81\x00\x00\x05" + b"\x08\x00" + ipv4(tcp())


def call(helper_id: int, *regs: int) -> str:
    """r1 = ctx (kept in r6), r2.. = ``regs``, call, exit with the helper's r0."""
    text = "r6 = r1\n" + "".join(f"r{i + 2} = {v}\n" for i, v in enumerate(regs))
    return text + f"call {helper_id}\nexit"


def xmd(data=0, end=0, meta=0, ing=0, rxq=0, eg=0):
    """An xdp_md for ctx_in: data, data_end, data_meta, ingress_ifindex, rx_queue, egress."""
    return struct.pack("<6I", data, end, meta, ing, rxq, eg)


def skbctx(**fields):
    """A __sk_buff for ctx_in with the named fields set (the rest zero)."""
    offsets = dict(mark=8, priority=32, ingress_ifindex=36, ifindex=40, cb0=48, cb4=64,
                   tstamp=152, wire_len=160, gso_segs=164, gso_size=176, hwtstamp=184, len=0,
                   tc_index=44, data=76)
    out = bytearray(192)
    for name, value in fields.items():
        fmt = "<Q" if name in ("tstamp", "hwtstamp") else "<I"
        struct.pack_into(fmt, out, offsets[name], value)
    return bytes(out)
