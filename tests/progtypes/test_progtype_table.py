"""The program-type table's interface, refused context accesses, the context-only types
(tracing, sockets), fib_lookup, and what the kernel says about each where it can."""

from __future__ import annotations

import errno
import struct

import pytest

from pybpf.asm import assemble
from pybpf.env import Env, Route
from pybpf.errors import BpfError, BpfHelperError, BpfMemoryError, BpfSyscallError, VerifierError
from pybpf.isa.uapi import AttachType as AT
from pybpf.isa.uapi import ProgType as PT
from pybpf.vm import Machine
from pybpf.vm.memory import Memory
from pybpf.vm.progtypes import ENOTSUPP, program_type
from progtypes_support import PKT4, PKT6, call, krun, urun


def test_table_rows():
    pt = program_type(PT.XDP)
    assert (pt.prog_type, pt.name, pt.ctx_size) == (PT.XDP, "xdp", 24)
    assert pt.return_codes[2] == "XDP_PASS"
    assert program_type(PT.SCHED_CLS).return_codes[7] == "TC_ACT_REDIRECT"
    assert program_type(PT.SCHED_CLS).ctx_size == 192
    with pytest.raises(BpfError, match="struct_ops .* is not supported by the userspace engines"):
        program_type(PT.STRUCT_OPS)


def test_close_removes_every_region():
    memory = Memory()
    before = len(memory.regions)
    inv = program_type(PT.SCHED_CLS).prepare(memory, Env(cpus=1), PKT4, bytes(192))
    assert len(memory.regions) > before
    inv.close()
    assert len(memory.regions) == before


@pytest.mark.parametrize("prog_type", [PT.XDP, PT.SCHED_CLS])
def test_next_run_gets_the_regions_back_zeroed(prog_type):
    """A run's frame and context regions serve the next run of the type: the same
    regions (the JIT's native region table stays as it was), as clean as new ones."""
    memory, env, pt = Memory(), Env(cpus=1), program_type(prog_type)
    inv = pt.prepare(memory, env, PKT4, None)
    first = memory.regions
    for region in first:
        region.write(0, b"\xa5" * region.size)
    inv.close()
    inv = pt.prepare(memory, env, PKT4, None)
    assert memory.regions == first
    fresh = Memory()
    clean = program_type(prog_type).prepare(fresh, env, PKT4, None)
    contents = {r.name: r.read() for r in memory.regions}
    assert contents == {r.name: r.read() for r in fresh.regions}
    assert inv.finish(0) == clean.finish(0)
    inv.close()
    clean.close()


def test_failed_prepare_leaves_no_region():
    memory = Memory()
    with pytest.raises(BpfSyscallError) as e:
        program_type(PT.SCHED_CLS).prepare(memory, Env(cpus=1), PKT4, struct.pack("<I", 1))
    assert e.value.errno == errno.EINVAL and "__sk_buff.len" in str(e.value)
    assert memory.regions == ()


def test_data_size_out_too_small_is_enospc():
    memory = Memory()
    inv = program_type(PT.SCHED_CLS).prepare(memory, Env(cpus=1), PKT4, None, data_size_out=10)
    with pytest.raises(BpfSyscallError) as e:
        inv.finish(0)
    assert e.value.errno == errno.ENOSPC and e.value.size == len(PKT4)
    inv.close()


def test_redirect_target_is_exposed():
    memory, env = Memory(), Env(cpus=1)
    inv = program_type(PT.SCHED_CLS).prepare(memory, env, PKT4, None)
    machine = Machine(assemble("r1 = 5\nr2 = 1\ncall 23\nexit"), memory=memory, env=env)
    machine.call.ctx = inv.ctx
    r0 = machine.run(*inv.args, packet=inv.packet).r0
    assert inv.finish(r0)[0] == 7 and inv.ctx.redirect_target == (5, 1)
    inv.close()


def test_packet_helper_refused_for_other_types():
    with pytest.raises(BpfHelperError, match="bpf_skb_store_bytes is not available to program "
                                             "type socket_filter"):
        urun(PT.SOCKET_FILTER, call(9, 0, 0, 0, 0), PKT4)


# (program type, offset, size, write): refused by the verifier, so at run time by pybpf.
REFUSED = [
    (PT.SCHED_CLS, 76, 8, False),       # data is 4 bytes only
    (PT.SCHED_CLS, 0, 4, True),         # len is read only
    (PT.SCHED_CLS, 88, 4, False),       # family: not for tc
    (PT.SCHED_CLS, 144, 8, False),      # flow_keys
    (PT.SCHED_CLS, 152, 4, False),      # tstamp is 8 bytes
    (PT.SCHED_CLS, 66, 4, False),       # past cb[4]
    (PT.SCHED_CLS, 8, 8, False),        # 8-byte load of a u32 field
    (PT.SOCKET_FILTER, 76, 4, False),   # no direct packet access
    (PT.SOCKET_FILTER, 8, 4, True),     # mark is read only here
    (PT.CGROUP_SKB, 72, 4, False),      # tc_classid
    (PT.XDP, 0, 8, False),
    (PT.XDP, 0, 4, True),
    (PT.XDP, 20, 4, False),             # egress_ifindex outside devmap
    (PT.XDP, 2, 2, False),
]


def _access(offset: int, size: int, write: bool) -> str:
    sz = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}[size]
    if write:
        return f"r2 = 1\n*({sz} *)(r1 + {offset}) = r2\nr0 = 0\nexit"
    return f"r0 = *({sz} *)(r1 + {offset})\nexit"


@pytest.mark.parametrize("prog_type,offset,size,write", REFUSED)
def test_refused_context_access(prog_type, offset, size, write):
    data = PKT4
    with pytest.raises(BpfMemoryError, match=f"invalid bpf_context access off={offset} "
                                             f"size={size}"):
        urun(prog_type, _access(offset, size, write), data)


@pytest.mark.kernel
@pytest.mark.parametrize("prog_type,offset,size,write", REFUSED)
def test_refused_context_access_kernel(prog_type, offset, size, write):
    with pytest.raises(VerifierError) as e:
        krun(prog_type, _access(offset, size, write), PKT4)
    assert f"invalid bpf_context access off={offset} size={size}" in e.value.log


# -- context-only types: the kernel has no test_run for them (ENOTSUPP) -----------------------

NO_TEST_RUN = [(PT.CGROUP_SOCK, AT.CGROUP_INET_SOCK_CREATE), (PT.SOCK_OPS, 0), (PT.SK_SKB, 0),
               (PT.KPROBE, 0), (PT.PERF_EVENT, 0), (PT.TRACEPOINT, 0),
               (PT.CGROUP_DEVICE, AT.CGROUP_DEVICE)]


@pytest.mark.parametrize("prog_type,attach", NO_TEST_RUN)
def test_strict_prepare_is_enotsupp(prog_type, attach):
    with pytest.raises(BpfSyscallError) as e:
        program_type(prog_type, attach).prepare(Memory(), Env(cpus=1), None, b"", strict=True)
    assert e.value.errno == ENOTSUPP


@pytest.mark.kernel
@pytest.mark.parametrize("prog_type,attach", NO_TEST_RUN)
def test_kernel_has_no_test_run(prog_type, attach):
    program = "r0 = 1\nexit" if prog_type in (PT.CGROUP_SOCK, PT.SOCK_OPS, PT.SK_SKB,
                                              PT.CGROUP_DEVICE) else "r0 = 0\nexit"
    assert krun(prog_type, program, None, bytes(8), attach=attach) == "ERR 524"


def test_cgroup_sock_reads_and_writes_its_bytes():
    ctx = struct.pack("<6I", 0, 2, 1, 6, 0, 0) + bytes(56)
    prog = "r2 = *(u32 *)(r1 + 4)\n*(u32 *)(r1 + 16) = r2\nr0 = 1\nexit"
    retval, _, ctx_out = urun(PT.CGROUP_SOCK, prog, None, ctx, attach=AT.CGROUP_INET_SOCK_CREATE)
    assert retval == 1 and struct.unpack_from("<I", bytes.fromhex(ctx_out), 16)[0] == 2
    with pytest.raises(BpfMemoryError, match="off=16 size=4"):
        urun(PT.CGROUP_SOCK, prog, None, ctx, attach=AT.CGROUP_INET4_POST_BIND)


def test_cgroup_device_reads_its_request():
    """struct bpf_cgroup_dev_ctx: access_type (narrow reads too), major, minor; no writes."""
    ctx = struct.pack("<3I", 2 << 16 | 1, 1, 3)          # BPF_DEVCG_ACC_READ, block 1:3
    prog = "r0 = *(u16 *)(r1 + 2)\nr2 = *(u32 *)(r1 + 8)\nr0 += r2\nexit"
    assert urun(PT.CGROUP_DEVICE, prog, None, ctx, attach=AT.CGROUP_DEVICE) == (5, None, None)
    for bad in ("r0 = *(u16 *)(r1 + 4)\nexit", "r0 = *(u64 *)(r1 + 0)\nexit",
                "r2 = 1\n*(u32 *)(r1 + 0) = r2\nr0 = 0\nexit"):
        with pytest.raises(BpfMemoryError, match="invalid bpf_context access"):
            urun(PT.CGROUP_DEVICE, bad, None, ctx, attach=AT.CGROUP_DEVICE)


def test_sock_ops_reply_is_writable_only():
    assert urun(PT.SOCK_OPS, "r2 = 5\n*(u32 *)(r1 + 4) = r2\nr0 = *(u32 *)(r1 + 0)\nexit",
                None, struct.pack("<I", 9))[0] == 9
    with pytest.raises(BpfMemoryError, match="off=0 size=4"):
        urun(PT.SOCK_OPS, "r2 = 5\n*(u32 *)(r1 + 0) = r2\nr0 = 0\nexit", None, b"")


def test_sock_addr_family_rules():
    ctx = struct.pack("<IIIIII", 2, 0x0100007F, 0, 0, 0, 0x5000) + bytes(48)
    assert urun(PT.CGROUP_SOCK_ADDR, "r0 = *(u32 *)(r1 + 4)\nexit", None, ctx,
                attach=AT.CGROUP_INET4_CONNECT)[0] == 0x0100007F
    with pytest.raises(BpfMemoryError):
        urun(PT.CGROUP_SOCK_ADDR, "r0 = *(u32 *)(r1 + 4)\nexit", None, ctx,
             attach=AT.CGROUP_INET6_CONNECT)


def test_tracepoint_and_raw_tp_contexts():
    record = struct.pack("<QQ", 0xAAAA, 0x1234)
    assert urun(PT.TRACEPOINT, "r0 = *(u64 *)(r1 + 8)\nexit", None, record)[0] == 0x1234
    with pytest.raises(BpfMemoryError):          # the common fields are not readable
        urun(PT.TRACEPOINT, "r0 = *(u64 *)(r1 + 0)\nexit", None, record)
    # reading past ctx_size_in: the kernel's EINVAL
    assert urun(PT.RAW_TRACEPOINT, "r0 = *(u64 *)(r1 + 16)\nexit", None, bytes(16)) == \
        "ERR EINVAL"


@pytest.mark.kernel
def test_raw_tp_short_ctx_kernel():
    """The kernel refuses a ctx_size_in smaller than what the program reads (recorded)."""
    assert krun(PT.RAW_TRACEPOINT, "r0 = *(u64 *)(r1 + 16)\nexit", None, bytes(16)) == \
        "ERR EINVAL"


def test_kprobe_and_perf_event_contexts():
    regs = struct.pack("<21Q", *range(21))
    assert urun(PT.KPROBE, "r0 = *(u64 *)(r1 + 80)\nexit", None, regs)[0] == 10
    assert urun(PT.PERF_EVENT, "r0 = *(u64 *)(r1 + 168)\nexit", None,
                regs + struct.pack("<QQ", 4000, 7))[0] == 4000


# -- fib_lookup against Env.routes -----------------------------------------------------------

def _fib_prog(family: int, dst: bytes, ifindex: int = 1, tot_len: int = 0, flags: int = 0):
    params = bytearray(64)
    params[0] = family
    struct.pack_into("<HI", params, 6, tot_len, ifindex)
    params[32:32 + len(dst)] = dst
    setup = "".join(f"r7 = {int.from_bytes(params[i:i + 8], 'little')} ll\n"
                    f"*(u64 *)(r10 - {64 - i}) = r7\n" for i in range(0, 64, 8))
    return setup + (f"r6 = r1\nr2 = r10\nr2 += -64\nr3 = 64\nr4 = {flags}\ncall 69\n"
                    "r1 = *(u32 *)(r10 - 56)\nr0 <<= 32\nr0 |= r1\nexit")


def _fib(env, *args, **kw):
    memory = Memory()
    inv = program_type(PT.XDP).prepare(memory, env, PKT4, None)
    machine = Machine(assemble(_fib_prog(*args, **kw)), memory=memory, env=env)
    machine.call.ctx = inv.ctx
    r0 = machine.run(*inv.args).r0
    params = machine.memory.read_bytes(machine.stacks[0].end - 64, 64)
    inv.close()
    return r0 >> 32, r0 & 0xFFFFFFFF, params


ENV = Env(cpus=1, routes=[
    Route("10.0.0.0/8", ifindex=2, gateway="10.0.0.1", src_mac="02:00:00:00:00:02",
          dst_mac="02:00:00:00:00:01", mtu=1400),
    Route("10.1.0.0/16", ifindex=3, src_mac="02:00:00:00:00:03", dst_mac=None),
    Route("2001:db8::/32", ifindex=2, src_mac="02:00:00:00:00:02", dst_mac="02:00:00:00:00:09"),
])


def test_fib_lookup_longest_prefix_and_neighbour():
    ret, ifindex, params = _fib(ENV, 2, bytes([10, 2, 3, 4]))
    assert (ret, ifindex) == (0, 2)
    assert params[32:36] == bytes([10, 0, 0, 1])               # the gateway
    assert params[52:58].hex() == "020000000002" and params[58:64].hex() == "020000000001"
    assert _fib(ENV, 2, bytes([10, 1, 3, 4]))[:2] == (7, 3)     # no neighbour entry
    assert _fib(ENV, 2, bytes([192, 168, 0, 1]))[0] == 4        # no route: not forwarded
    assert _fib(ENV, 10, bytes.fromhex("20010db8" + "00" * 11 + "01"))[:2] == (0, 2)


def test_fib_lookup_mtu_and_errors():
    ret, _, params = _fib(ENV, 2, bytes([10, 2, 3, 4]), tot_len=1500)
    assert ret == 8 and struct.unpack_from("<H", params, 6)[0] == 1400
    assert _fib(ENV, 7, bytes(4))[0] == (-errno.EAFNOSUPPORT) & 0xFFFFFFFF
    assert _fib(ENV, 2, bytes([10, 2, 3, 4]), ifindex=99)[0] == (-errno.ENODEV) & 0xFFFFFFFF
    assert _fib(ENV, 2, bytes([10, 2, 3, 4]), flags=0x40)[0] == (-errno.EINVAL) & 0xFFFFFFFF


def test_get_hash_recalc_is_stable():
    first = urun(PT.SCHED_CLS, call(34), PKT6)
    assert first == urun(PT.SCHED_CLS, call(34), PKT6) and first[0] != 0
