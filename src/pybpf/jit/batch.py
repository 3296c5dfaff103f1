"""XDP and skb programs over a batch of packets in native code: one prepared frame, the driver loop.

:func:`run_packet_batch` prepares one invocation of the program type (its ``xdp_md``
and frame, or its ``__sk_buff`` and skb) and hands native code the batch
(``drivers.bpf_batch_xdp`` / ``bpf_batch_skb``): per packet it copies the packet into
the frame, tells the context's load view what the packet decides (where it is; for an
skb also its length, protocol and pkt_type, as eth_type_trans finds them), runs the
program and writes the verdict and the packet back out. Python takes over only for a
packet the loop cannot finish alone, and gives that one the same treatment as a
``test_run`` of it would:

- a length the frame cannot take (shorter than an Ethernet header, longer than the
  frame's linear room, an IP packet too short for its header in an skb): a ``test_run``
  of that packet (its error, its fragments);
- a run during which Python was called in a way that may change state (a helper, a
  context store): Python's state already followed that packet (``batch_sync``), so it
  gives the packet out, its verdict's target; the frame is then made fresh for the next
  packet;
- a run that ended with a status: its error names the packet; a tail call or a
  helper's exit is followed in Python, as in a single run.

Packets need the frame to start clean where they write, as each ``test_run`` frame is:
the loop zeroes what the last packet used beyond the current one's length. A program
that writes outside its packet (only an unverified one can) may leave bytes a later
packet's run could read outside its own packet.
"""

from __future__ import annotations

import ctypes
import time
from array import array
from typing import Any

from pybpf.errors import BpfError, PacketRunError
from pybpf.isa.uapi import AttachType, HelperId, ProgType
from pybpf.jit import abi, drivers
from pybpf.vm.helpers import ProgramExit, TailCall
from pybpf.vm.memory import Region
from pybpf.vm.progtypes import skb_layout as SKB
from pybpf.vm.progtypes.base import ETH_HLEN
from pybpf.vm.progtypes.skb import MAX_DATA, SkbProgramType
from pybpf.vm.progtypes.xdp import DATA, DATA_END, DATA_META, TAILROOM

_batch_fns: dict[str, Any] = {}


def _driver(name: str) -> Any:
    fn = _batch_fns.get(name)
    if fn is None:
        from pybpf.jit.backend import runtime_symbols

        fn = _batch_fns[name] = abi.BatchFunction(runtime_symbols()[name])
    return fn


def supports(runner: Any) -> bool:
    """Whether the runner's program runs batches natively: XDP (not for devmap/cpumap)
    and the skb types (tc, socket filters, cgroup_skb, lwt, sk_skb)."""
    ptype = runner.program_type
    if ptype.prog_type == ProgType.XDP:
        return ptype.attach_type not in (AttachType.XDP_DEVMAP, AttachType.XDP_CPUMAP)
    return isinstance(ptype, SkbProgramType)


class _XdpFrames:
    """The batch's one XDP invocation: an xdp_md and its frame, wiped for a packet after
    Python had one."""

    driver = drivers.BATCH_XDP

    def __init__(self, runner: Any, batch: Any, job: Any, in_place: bool):
        self.machine, self.job = runner.machine, job
        self.inv = runner.program_type.prepare(self.machine.memory, runner.object.env,
                                               bytes(ETH_HLEN), None, data_size_out=None)
        if in_place:       # the packets, where they lie, as one read-only region
            view = (ctypes.c_char * len(batch.buffer)).from_buffer(batch.buffer)
            self.inv.own(Region("batch", view, writable=False, kind="packet"))
        self.state = self.inv.ctx
        self.headroom = self.state.data
        job[drivers.J_CTX] = self.inv.args[0]
        job[drivers.J_MIN] = ETH_HLEN
        job[drivers.J_META], job[drivers.J_META + 1], job[drivers.J_META + 2] = \
            DATA, DATA_END, DATA_META
        self.reset()

    def reset(self) -> None:
        """A clean frame and state, as a fresh test_run's (after Python had a packet)."""
        state, job, headroom = self.state, self.job, self.headroom
        buf = state.buf
        buf.zero(0, buf.region.size)
        job[drivers.J_FRAME] = buf.address + headroom
        job[drivers.J_MAX] = buf.region.size - headroom - TAILROOM
        job[drivers.J_EXTENT] = 0
        state.data_meta = state.data = headroom
        state.data_end = headroom
        state.redirect = None
        state.frags = b""
        state.extra.clear()

    def follow(self, length: int) -> None:
        """Python's state follows the packet in the frame (``length`` bytes)."""
        self.state.data_end = self.headroom + length

    def packet_out(self) -> bytes:
        """The packet as the run left it (one Python finished)."""
        return self.state.bytes()

    def views(self) -> None:
        """The views the driver tells about each packet (the region table is current)."""
        self.job[drivers.J_VIEW] = _view_address(self.machine, self.inv.args[0])

    def close(self) -> None:
        self.inv.close()


class _SkbFrames:
    """The batch's skb invocation: an __sk_buff and its skb, made as test_run makes one
    with no ctx_in, its buffer as long as the batch's longest packet; made again for the
    next packet after Python had one (which may have changed any of it)."""

    driver = drivers.BATCH_SKB

    def __init__(self, runner: Any, batch: Any, job: Any, in_place: bool):
        from pybpf.jit.machine import packet_helpers_offered

        assert not in_place
        self.machine, self.job = runner.machine, job
        self.program_type, self.env = runner.program_type, runner.object.env
        self.offered = packet_helpers_offered
        longest = max(batch.lengths) if len(batch) else 0
        self.room = max(ETH_HLEN, min(longest, MAX_DATA))
        self.reads_sock = _may_read_sock(self.machine)
        job[drivers.J_MIN], job[drivers.J_MAX] = ETH_HLEN, self.room
        self.l3 = job[drivers.J_L3] = 0 if self.program_type.is_l2 else ETH_HLEN
        job[drivers.J_META], job[drivers.J_META + 1], job[drivers.J_META + 2] = \
            SKB.DATA, SKB.DATA_END, SKB.DATA_META
        self.inv = None
        self.reset()

    def reset(self) -> None:
        if self.inv is not None:
            self.inv.close()
        self.inv = self.program_type.prepare(self.machine.memory, self.env, bytes(self.room),
                                             None, data_size_out=None)
        self.state = state = self.inv.ctx
        buf, job = state.buf, self.job
        job[drivers.J_CTX] = self.inv.args[0]
        job[drivers.J_FRAME] = buf.data_address - self.l3
        job[drivers.J_EXTENT] = 0          # (a fresh buffer: zeros)
        job[drivers.J_PKT_ALLOW] = self.offered(state)
        job[drivers.J_PKT_FRAME], job[drivers.J_PKT_DATA] = buf.address, buf.data
        self.machine.call.ctx = state

    def follow(self, length: int) -> None:
        self.program_type.follow_frame(self.state, length)

    def packet_out(self) -> bytes:
        """The packet as test_run gives it out: with a zeroed Ethernet header pushed back
        for the types that do not see it."""
        return bytes(self.l3) + self.state.bytes()

    def views(self) -> None:
        job = self.job
        job[drivers.J_VIEW] = _view_address(self.machine, self.inv.args[0])
        job[drivers.J_SOCK_VIEW] = job[drivers.J_SOCK_VIEW_BYTES] = 0
        if self.reads_sock:
            view = self.machine._table.views.get(id(self.state.sock_region))
            if view is not None:
                job[drivers.J_SOCK_VIEW] = ctypes.addressof(view)
                job[drivers.J_SOCK_VIEW_BYTES] = ctypes.sizeof(view)

    def close(self) -> None:
        self.inv.close()


def _view_address(machine: Any, address: int) -> int:
    """The load view of the context region at ``address``, or 0."""
    region = machine.memory.find(address, 1)
    view = machine._table.views.get(id(region)) if region is not None else None
    return ctypes.addressof(view) if view is not None else 0


def _may_read_sock(machine: Any) -> bool:
    """Whether a run may read the skb's socket (whose contents are the packet's): a
    verified program only by a u64 load of ``__sk_buff.sk``; an unverified one by
    anything."""
    if machine.packet_access is None:
        return True
    return any(insn.opcode == 0x79 and insn.off == SKB.SK for insn in machine.insns)


def run_packet_batch(runner: Any, batch: Any, *, data_out: bool = True,
                     clocks: array | None = None) -> Any:
    """Run ``runner``'s XDP or skb program over ``batch``; a
    :class:`~pybpf.net.batch.BatchResult`."""
    from pybpf.engine.interp import XDP_TX, _redirect
    from pybpf.net.batch import BatchResult, buffer_address, indices_of

    machine, env, obj = runner.machine, runner.object.env, runner.object
    xdp = runner.program_type.prog_type == ProgType.XDP
    count = len(batch)
    result = BatchResult(batch, array("I", bytes(4 * count)))
    in_place = xdp and count > 0 and cannot_write_packets(machine)
    result.unchanged = in_place
    out = None
    if data_out and not in_place:
        # The packets as the program leaves them, laid out as in the batch's buffer (with
        # whatever lies between them: a pcap file's record headers), over the batch's span
        # only: a batch may be a slice of a much bigger buffer (a mapped capture).
        result.out_base, end = batch.span()
        out = result.out = bytearray(memoryview(batch.buffer)[result.out_base:end])
    if not count:
        return result
    job = (ctypes.c_uint64 * drivers.JOB_WORDS)()
    job[drivers.J_COUNT] = count
    job[drivers.J_BUDGET] = machine.budget if machine.budget is not None else 1 << 62
    job[drivers.J_BUF] = batch.address
    job[drivers.J_OFFSETS] = batch.offsets.buffer_info()[0]
    job[drivers.J_LENGTHS] = batch.lengths.buffer_info()[0]
    job[drivers.J_VERDICTS] = result.verdicts.buffer_info()[0]
    job[drivers.J_OUT] = 0 if out is None else \
        (buffer_address(out) - result.out_base) % (1 << 64)   # (so that + offset lands in out)
    job[drivers.J_CLOCKS] = clocks.buffer_info()[0] if clocks is not None else 0
    job[drivers.J_IN_PLACE] = int(in_place)
    lengths = batch.lengths
    frames = (_XdpFrames if xdp else _SkbFrames)(runner, batch, job, in_place)
    synced = [-1]

    def sync() -> None:
        index = job[drivers.J_NEXT]
        if synced[0] != index:
            synced[0] = index
            frames.follow(lengths[index])
            if clocks is not None and not machine.uses_env:   # (else native code set it)
                env.clock_ns = clocks[index]

    def finish(index: int, r0: int) -> None:
        retval = r0 & 0xFFFFFFFF
        result.verdicts[index] = retval
        if out is not None:
            result.changed[index] = frames.packet_out()
        redirect = _redirect(frames.state, retval)
        if redirect is not None:
            result.redirects[index] = redirect

    call = machine.call
    cpu = runner._cpu(0, 0, env)
    limit = job[drivers.J_BUDGET]
    start = time.perf_counter_ns()
    try:
        call.ctx, call.cpu, call.env, call.runtime = frames.state, cpu, env, obj
        machine.batch_sync = sync
        while job[drivers.J_NEXT] < count:
            before = job[drivers.J_NEXT]
            try:
                stopped = _run_native(machine, job, frames, limit)
            except (ProgramExit, TailCall) as ending:
                index = job[drivers.J_NEXT]
                finish(index, machine._finish(ending, job[drivers.J_CTX])[0])
                job[drivers.J_NEXT] = index + 1
                frames.reset()
                continue
            except BpfError as e:
                result.error = PacketRunError(job[drivers.J_NEXT], e)
                break
            result.native += stopped - before
            reason = job[drivers.J_STOP]
            if reason == drivers.STOP_PYTHON:    # Python ran for the last packet: its output
                result.native -= 1
                finish(stopped - 1, result.verdicts[stopped - 1])
                frames.reset()
            elif reason == drivers.STOP_LENGTH:  # a length the frame cannot take
                result.error = _one_packet(runner, batch, stopped, result, out is not None)
                if result.error is not None:
                    break
                call.ctx, call.cpu, call.env, call.runtime = frames.state, cpu, env, obj
                job[drivers.J_NEXT] = stopped + 1
    finally:
        machine.batch_sync = None
        call.ctx = None
        frames.close()
    result.duration_ns = time.perf_counter_ns() - start
    # XDP_TX sends a packet back out of the interface it came in on (packets Python
    # finished have their target already).
    if xdp:
        for index in indices_of(result.verdicts[:result.completed], XDP_TX):
            result.redirects.setdefault(index, frames.state.ingress_ifindex)
    if clocks is not None and not machine.uses_env:
        env.clock_ns = clocks[count - 1]
    return result


def cannot_write_packets(machine: Any) -> bool:
    """Whether a program can neither write memory other than its stack (every store and
    atomic is ``r10``-based, or one the verifier found never reaches packet memory) nor
    call Python (its helper calls are all native ones, so nothing reads the packet
    through the program type's state; in a batch the packet helpers are Python's) nor
    another program (a tail call's target may write the packet): then it can run on
    packets where they lie, read-only, with results identical to a copy's."""
    from pybpf.isa.opcodes import CALL_HELPER, OPCODE_CALL

    native = machine.native_helpers - abi.PACKET_HELPERS - {HelperId.tail_call}
    packet = machine.packet_access
    pc = 0
    for insn in machine.insns:
        cls = insn.opcode & 7
        if cls in (2, 3) and insn.dst != 10 and (packet is None or pc in packet):
            return False                              # BPF_ST, BPF_STX (atomics too)
        if insn.opcode == OPCODE_CALL and insn.src == CALL_HELPER and insn.imm not in native:
            return False
        if insn.opcode == OPCODE_CALL and insn.src not in (CALL_HELPER, 1):   # kfuncs
            return False
        if insn.opcode == 0x8D:                       # callx: anything
            return False
        pc += insn.slots
    return True


def _run_native(machine: Any, job: Any, frames: Any, limit: int) -> int:
    """One call of the driver from ``job[J_NEXT]``: where it stopped; a run that ended
    with a status raises its error (or ProgramExit / TailCall)."""
    machine.tier_up()           # code driven natively over many packets is hot
    machine.call.tail_calls = 0
    machine._ready((job[drivers.J_CTX], 0, 0, 0, 0), limit, 1)
    frames.views()
    machine._set_packet(frames.inv.packet)      # what legacy packet loads read
    try:
        return machine._in_env(_drive, machine, frames.driver, job, limit)
    finally:
        machine._ctx[abi.BATCH] = 0
        machine._set_packet(None)


def _drive(machine: Any, driver: str, job: Any, limit: int) -> int:
    stopped = _driver(driver)(machine._ctx_address, machine._entry_addresses[0],
                              ctypes.addressof(job))
    if machine._ctx[abi.STATUS]:
        machine._raise(limit)
    return stopped


def _one_packet(runner: Any, batch: Any, index: int, result: Any,
                data_out: bool) -> PacketRunError | None:
    """A packet the frame cannot take, run as its own test_run (which may refuse it)."""
    try:
        run = runner.test_run(batch.packet(index), None, 1, None)
    except BpfError as e:
        return PacketRunError(index, e)
    result.verdicts[index] = run.retval
    if data_out and run.data is not None:
        result.changed[index] = run.data
    if run.redirect is not None:
        result.redirects[index] = run.redirect
    return None
