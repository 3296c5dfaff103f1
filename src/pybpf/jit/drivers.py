"""Native loops that run a program many times with no Python between runs.

``bpf_repeat(ctx, entry, n, budget) -> runs`` calls a program's entry ``n`` times on
the same arguments, as BPF_PROG_TEST_RUN's ``repeat`` does (the same context and packet
each time, so what one run changes the next one sees). It stops early at the first run
that ends with a status (a fault, or a Python exception such as a tail call that Python
follows), and returns how many runs finished normally before it: the caller deals with
that run and calls again for the rest.

``bpf_pcap_gather(job) -> bytes`` copies the records (header and packet, as they are in
the file) of the packets whose verdict is ``job[G_VALUE]`` into ``job[G_OUT]``, in order,
until the packets, ``job[G_LEFT]`` or the room run out; ``job[G_NEXT]`` is where to go
on.

``bpf_batch_xdp(ctx, entry, job) -> next`` runs an XDP program over many packets (one
buffer, an offset and a length per packet; the *job*, an array of u64 words below):
each packet is copied into the one frame the invocation prepared (or, for a program
that cannot write it, left where it is: ``J_IN_PLACE``), the context's load
view is told where ``data``/``data_end``/``data_meta`` now are, the program runs, and
its verdict (and the packet as it left it) is written out. The loop goes back to Python
for a packet it cannot finish alone: a length the frame cannot take, a run that ended
with a status, or a run during which Python was called (``ctx[BATCH]`` became
``BATCH_PYTHON``: a helper may have moved ``data`` or chosen a redirect, which Python
reads from its own state). ``job[J_NEXT]`` is the packet it stopped at (or after, for
the last case), and is also the packet being run, for Python to see when it is called.

``bpf_batch_skb(ctx, entry, job) -> next`` is the same loop for the skb program types
(tc, socket filters, cgroup_skb): the skb's buffer is the frame, and per packet the
load view is also told the fields eth_type_trans sets from the frame (``len``,
``protocol``, ``pkt_type``), the view of
the skb's socket is forgotten (its addresses are the packet's), and the native packet
helpers get the packet (abi.PKT_*). An IPv4/IPv6 frame too short for its header
stops it as a length the frame cannot take (test_run refuses those).
"""

from __future__ import annotations

import sys

from llvmlite import ir

from pybpf.jit import abi
from pybpf.jit.abi import VIEW_WORDS
from pybpf.jit.codegen import CTX_T, I64, c64
from pybpf.vm.progtypes import skb_layout
from pybpf.vm.progtypes.base import ETH_HLEN
from pybpf.vm.progtypes.skb import (
    ETH_P_802_2, ETH_P_802_3, ETH_P_IP, ETH_P_IPV6, PACKET_HOST, PACKET_MULTICAST,
    PACKET_OTHERHOST,
)

REPEAT = "bpf_repeat"
BATCH_XDP = "bpf_batch_xdp"
BATCH_SKB = "bpf_batch_skb"
PCAP_INDEX = "bpf_pcap_index"
PCAP_GATHER = "bpf_pcap_gather"
ENTRY_PTR_T = ir.FunctionType(I64, [CTX_T]).as_pointer()
REPEAT_T = ir.FunctionType(I64, [CTX_T, ENTRY_PTR_T, I64, I64])
BATCH_T = ir.FunctionType(I64, [CTX_T, ENTRY_PTR_T, CTX_T])

# The job of a batch: u64 words.
J_COUNT = 0      # packets
J_NEXT = 1       # the packet being run / to run next (in and out)
J_BUDGET = 2     # instructions per run
J_CTX = 3        # r1: the address of the context (struct xdp_md)
J_BUF = 4        # the packets' buffer
J_OFFSETS = 5    # u64 per packet: its offset in the buffer
J_LENGTHS = 6    # u32 per packet: its length
J_VERDICTS = 7   # u32 per packet (out): r0
J_OUT = 8        # a buffer laid out as J_BUF that gets each packet as the program left it,
                 #   or 0
J_CLOCKS = 9     # u64 per packet: the Env clock for its run (capture time), or 0
J_FRAME = 10     # where a packet starts in the frame (its Ethernet header)
J_VIEW = 11      # the context's load view (abi.VIEW_WORDS words per byte offset), or 0
J_MIN = 12       # packet lengths the frame takes: J_MIN <= length <= J_MAX
J_MAX = 13
J_EXTENT = 14    # bytes from J_FRAME the last packet used (zeroed when the next is shorter)
J_META = 15      # offsets in struct xdp_md of data, data_end, data_meta: 3 words
J_STOP = 18      # why the loop stopped (out): one of the STOP_* below
J_IN_PLACE = 19  # 1: the program runs on each packet where it lies in J_BUF (a read-only
                 #   region), no copy: for programs that cannot write it (see .batch)
# bpf_batch_skb only:
J_SOCK_VIEW = 20        # the load view of the skb's socket (what ctx->sk points at), or 0
J_SOCK_VIEW_BYTES = 21  #   its size: forgotten for every packet (its addresses are the packet's)
J_PKT_ALLOW = 22        # abi.PKT_ALLOW for every packet: the native packet helpers offered
J_PKT_FRAME = 23        # abi.PKT_FRAME: the skb's buffer
J_PKT_DATA = 24         # abi.PKT_DATA: where data starts in it (PKT_END: + the length)
J_L3 = 25               # 0 (tc: data is the Ethernet header) or ETH_HLEN (the other skb
                        #   types: data is the network header, and the packet out starts
                        #   with a zeroed Ethernet header, as test_run gives it)
JOB_WORDS = 26
STOP_END, STOP_LENGTH, STOP_PYTHON, STOP_STATUS = 0, 1, 2, 3

# The job of a pcap index: u64 words.
P_BUF = 0        # the mapped file
P_SIZE = 1       # its size
P_POS = 2        # where the next record header starts (in and out)
P_LITTLE = 3     # 1: little-endian file
P_FRACTION = 4   # the timestamp fraction's limit: 1e6 (microseconds) or 1e9 (nanoseconds)
P_OFFSETS = 5    # u64 per record (out): where its packet starts
P_LENGTHS = 6    # u32 per record (out): captured length
P_TS = 7         # u64 per record (out): capture time in ns
P_ORIG = 8       # u32 per record (out): length on the wire (at least the captured length)
P_CAPACITY = 9   # records the arrays take
P_MAX_RECORD = 10  # a captured length above this is damage
P_SHORTEST = 11  # the shortest captured length indexed (in and out)
INDEX_WORDS = 12
INDEX_T = ir.FunctionType(I64, [CTX_T])

# The job of a pcap gather: u64 words.
G_BUF = 0        # the mapped file
G_OFFSETS = 1    # u64 per packet: where its packet starts (its record header is before it)
G_LENGTHS = 2    # u32 per packet: captured length
G_VERDICTS = 3   # u32 per packet
G_VALUE = 4      # the verdict of the records to copy
G_COUNT = 5      # packets
G_NEXT = 6       # the packet to look at next (in and out)
G_LEFT = 7       # records still to copy at most (in and out)
G_OUT = 8        # where the records go
G_ROOM = 9       # bytes there
GATHER_WORDS = 10


def exported() -> list[str]:
    return [REPEAT, BATCH_XDP, BATCH_SKB, PCAP_INDEX, PCAP_GATHER]


def define(module: ir.Module) -> None:
    _define_repeat(module)
    _define_batch(module, BATCH_XDP, skb=False)
    _define_batch(module, BATCH_SKB, skb=True)
    _define_pcap_index(module)
    _define_pcap_gather(module)


SKB_LEN, SKB_PKT_TYPE, SKB_PROTOCOL = skb_layout.LEN, skb_layout.PKT_TYPE, skb_layout.PROTOCOL


def _network16(b: ir.IRBuilder, module: ir.Module, raw: ir.Value) -> ir.Value:
    """The value of a 16-bit field in network byte order, loaded as it lies."""
    if sys.byteorder == "big":
        return raw
    return b.call(module.declare_intrinsic("llvm.bswap", [raw.type]), [raw])


def _swab16(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """A 16-bit value (in an i64) with its two bytes swapped: what __sk_buff.protocol
    reads for skb->protocol, a __be16."""
    return b.or_(b.shl(b.and_(value, c64(0xFF)), c64(8)), b.lshr(value, c64(8)))


def _slot(b: ir.IRBuilder, ctx: ir.Value, index: int) -> ir.Value:
    return b.gep(ctx, [c64(index)], inbounds=True)


def _define_repeat(module: ir.Module) -> ir.Function:
    fn = ir.Function(module, REPEAT_T, REPEAT)
    ctx, entry_fn, count, budget = fn.args
    start, loop, body, step, done = (fn.append_basic_block(n)
                                     for n in ("start", "loop", "body", "step", "done"))
    b = ir.IRBuilder(start)
    args = [b.load(_slot(b, ctx, abi.ARGS + i)) for i in range(5)]
    for index in (abi.STATUS, abi.PC, abi.TAIL_COUNT, abi.CALLER_CTX):
        b.store(c64(0), _slot(b, ctx, index))
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I64, "i")
    i.add_incoming(c64(0), start)
    b.cbranch(b.icmp_unsigned("<", i, count), body, done)
    b.position_at_end(body)
    # The slots Python's _enter sets, as it sets them (the CPU slot stays as it is): the
    # status is still ST_OK and the pc unused after a run that ended well, and only a
    # native tail call changes the tail call slots and the arguments (its target's
    # context may be this one), so a run stores no more than it must (every store
    # pending makes the program's atomics wait).
    b.store(budget, _slot(b, ctx, abi.BUDGET))
    b.store(c64(1), _slot(b, ctx, abi.CLEAR))
    b.call(entry_fn, [ctx])
    failed = b.icmp_unsigned("!=", b.load(_slot(b, ctx, abi.STATUS)), c64(abi.ST_OK))
    b.cbranch(failed, done, step)
    b.position_at_end(step)
    following = b.add(i, c64(1))
    tailed = b.icmp_unsigned("!=", b.load(_slot(b, ctx, abi.TAIL_COUNT)), c64(0))
    restore, next_run = fn.append_basic_block("restore"), fn.append_basic_block("next")
    b.cbranch(tailed, restore, next_run)
    b.position_at_end(restore)
    for index, value in ((abi.TAIL_COUNT, c64(0)), (abi.CALLER_CTX, c64(0)),
                         *((abi.ARGS + k, value) for k, value in enumerate(args))):
        b.store(value, _slot(b, ctx, index))
    b.branch(next_run)
    b.position_at_end(next_run)
    i.add_incoming(following, next_run)
    b.branch(loop)
    b.position_at_end(done)
    b.ret(i)
    return fn


def _define_batch(module: ir.Module, name: str, skb: bool) -> ir.Function:
    """The batch driver of XDP (``skb`` False) or of the skb types (True: the skb's
    per-packet fields and packet helpers too)."""
    fn = ir.Function(module, BATCH_T, name)
    ctx, entry_fn, job = fn.args
    blocks = {n: fn.append_basic_block(n) for n in (
        "start", "loop", "take", "copy", "shorter", "view", "run", "ran", "out", "step",
        "done")}
    b = ir.IRBuilder(blocks["start"])
    i8p = ir.IntType(8).as_pointer()
    i16, i32 = ir.IntType(16), ir.IntType(32)
    memcpy = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, I64])
    memset = module.declare_intrinsic("llvm.memset", [i8p, I64])
    false = ir.Constant(ir.IntType(1), 0)

    def word(index: int) -> ir.Value:
        return b.load(_slot(b, job, index))

    def array(index: int, kind: ir.Type) -> ir.Value:
        return b.inttoptr(word(index), kind.as_pointer())

    count, budget, context = word(J_COUNT), word(J_BUDGET), word(J_CTX)
    buf, out, frame = word(J_BUF), word(J_OUT), word(J_FRAME)
    offsets, lengths, verdicts = array(J_OFFSETS, I64), array(J_LENGTHS, i32), array(J_VERDICTS, i32)
    clocks_word, view_word = word(J_CLOCKS), word(J_VIEW)
    clocks, view = b.inttoptr(clocks_word, I64.as_pointer()), b.inttoptr(view_word, I64.as_pointer())
    smallest, largest = word(J_MIN), word(J_MAX)
    fields = [word(J_META + k) for k in range(3)]
    frame_p = b.inttoptr(frame, i8p)
    in_place = b.icmp_unsigned("!=", word(J_IN_PLACE), c64(0))
    start_index = word(J_NEXT)
    start_extent = word(J_EXTENT)
    if skb:
        sock_view, sock_view_bytes = word(J_SOCK_VIEW), word(J_SOCK_VIEW_BYTES)
        packet_slots = [word(J_PKT_ALLOW), word(J_PKT_FRAME), word(J_PKT_DATA)]
        l3 = word(J_L3)
    b.branch(blocks["loop"])

    b.position_at_end(blocks["loop"])
    i = b.phi(I64, "i")
    extent = b.phi(I64, "extent")
    i.add_incoming(start_index, blocks["start"])
    extent.add_incoming(start_extent, blocks["start"])
    b.store(i, _slot(b, job, J_NEXT))
    b.store(extent, _slot(b, job, J_EXTENT))
    b.store(c64(STOP_END), _slot(b, job, J_STOP))
    b.cbranch(b.icmp_unsigned("<", i, count), blocks["take"], blocks["done"])

    b.position_at_end(blocks["take"])
    length = b.zext(b.load(b.gep(lengths, [i], inbounds=True)), I64)
    fits = b.and_(b.icmp_unsigned(">=", length, smallest), b.icmp_unsigned("<=", length, largest))
    offset = b.load(b.gep(offsets, [i], inbounds=True))
    source_address = b.add(buf, offset)
    b.store(c64(STOP_LENGTH), _slot(b, job, J_STOP))
    if skb:
        # eth_type_trans's protocol; test_run refuses an IPv4 / IPv6 packet too short for
        # its network header (its own run says so)
        classify = fn.append_basic_block("classify")
        b.cbranch(fits, classify, blocks["done"])
        b.position_at_end(classify)
        source_p = b.inttoptr(source_address, i8p)
        h_proto = b.zext(_network16(b, module, b.load(b.bitcast(b.gep(source_p, [c64(12)]),
                                                            i16.as_pointer()), align=1)), I64)
        room = b.icmp_unsigned(">", length, c64(ETH_HLEN + 1))    # (never read past it)
        marker = b.load(b.bitcast(b.gep(source_p, [b.select(room, c64(ETH_HLEN), c64(12))]),
                                  i16.as_pointer()), align=1)
        raw_802_3 = b.and_(room, b.icmp_unsigned("==", marker, ir.Constant(i16, 0xFFFF)))
        protocol = b.select(b.icmp_unsigned(">=", h_proto, c64(0x0600)), h_proto,
                            b.select(raw_802_3, c64(ETH_P_802_3), c64(ETH_P_802_2)))
        short = b.or_(
            b.and_(b.icmp_unsigned("==", protocol, c64(ETH_P_IP)),
                   b.icmp_unsigned("<", length, c64(ETH_HLEN + 20))),
            b.and_(b.icmp_unsigned("==", protocol, c64(ETH_P_IPV6)),
                   b.icmp_unsigned("<", length, c64(ETH_HLEN + 40))))
        b.cbranch(short, blocks["done"], blocks["copy"])
    else:
        b.cbranch(fits, blocks["copy"], blocks["done"])

    b.position_at_end(blocks["copy"])
    copying = fn.append_basic_block("copying")
    b.cbranch(in_place, blocks["view"], copying)
    b.position_at_end(copying)
    b.call(memcpy, [frame_p, b.inttoptr(source_address, i8p), length, false])
    b.cbranch(b.icmp_unsigned(">", extent, length), blocks["shorter"], blocks["view"])

    b.position_at_end(blocks["shorter"])
    b.call(memset, [b.gep(frame_p, [length], inbounds=True), ir.Constant(ir.IntType(8), 0),
                    b.sub(extent, length), false])
    b.branch(blocks["view"])

    b.position_at_end(blocks["view"])
    data = b.select(in_place, source_address, frame)
    data_end = b.add(data, length)
    if skb:
        data, network_length = b.add(data, l3), b.sub(length, l3)
    told = [(fields[0], data), (fields[1], data_end), (fields[2], data)]
    if skb:
        # eth_type_trans's pkt_type on the loopback device (whose address is zero, and
        # which has no broadcast): the frame's destination address decides
        destination = b.load(b.bitcast(frame_p, ir.IntType(48).as_pointer()), align=1)
        multicast = b.icmp_unsigned("!=", b.and_(b.load(frame_p), ir.Constant(ir.IntType(8), 1)),
                                    ir.Constant(ir.IntType(8), 0))
        pkt_type = b.select(b.icmp_unsigned("==", destination, ir.Constant(ir.IntType(48), 0)),
                            c64(PACKET_HOST), b.select(multicast, c64(PACKET_MULTICAST),
                                                       c64(PACKET_OTHERHOST)))
        told += [(c64(SKB_LEN), network_length), (c64(SKB_PKT_TYPE), pkt_type),
                 (c64(SKB_PROTOCOL), _swab16(b, protocol))]
    with b.if_then(b.icmp_unsigned("!=", view_word, c64(0))):
        # u32 loads of the fields the packet decides; narrower loads of them ask again
        for field_offset, value in told:
            record = b.mul(field_offset, c64(VIEW_WORDS))
            b.store(c64(4), b.gep(view, [record], inbounds=True))
            b.store(value, b.gep(view, [b.add(record, c64(3))], inbounds=True))
            for k in range(1, 4):
                b.store(c64(0), b.gep(view, [b.add(record, c64(VIEW_WORDS * k))], inbounds=True))
    if skb:
        with b.if_then(b.icmp_unsigned("!=", sock_view, c64(0))):   # the packet's socket
            b.call(memset, [b.inttoptr(sock_view, i8p), ir.Constant(ir.IntType(8), 0),
                            sock_view_bytes, false])
        packet_allow, packet_frame, packet_data = packet_slots
        for index, value in ((abi.PKT_ALLOW, packet_allow), (abi.PKT_FRAME, packet_frame),
                             (abi.PKT_META, packet_data), (abi.PKT_DATA, packet_data),
                             (abi.PKT_END, b.add(packet_data, network_length)),
                             (abi.PKT_CHANGED, c64(0)), (abi.PKT_REDIRECT, c64(0))):
            b.store(value, _slot(b, ctx, index))
    with b.if_then(b.icmp_unsigned("!=", clocks_word, c64(0))):
        b.store(b.load(b.gep(clocks, [i], inbounds=True)), _slot(b, ctx, abi.CLOCK))
    b.branch(blocks["run"])

    b.position_at_end(blocks["run"])
    for index, value in ((abi.STATUS, c64(abi.ST_OK)), (abi.PC, c64(0)),
                         (abi.BUDGET, budget), (abi.CLEAR, c64(1)), (abi.ARGS, context),
                         (abi.ARGS + 1, c64(0)), (abi.ARGS + 2, c64(0)), (abi.ARGS + 3, c64(0)),
                         (abi.ARGS + 4, c64(0)), (abi.BATCH, c64(abi.BATCH_NATIVE)),
                         (abi.TAIL_COUNT, c64(0)), (abi.CALLER_CTX, c64(0))):
        b.store(value, _slot(b, ctx, index))
    r0 = b.call(entry_fn, [ctx])
    failed = b.icmp_unsigned("!=", b.load(_slot(b, ctx, abi.STATUS)), c64(abi.ST_OK))
    b.store(c64(STOP_STATUS), _slot(b, job, J_STOP))
    b.cbranch(failed, blocks["done"], blocks["ran"])

    b.position_at_end(blocks["ran"])
    b.store(b.trunc(r0, i32), b.gep(verdicts, [i], inbounds=True))
    b.cbranch(b.icmp_unsigned("!=", out, c64(0)), blocks["out"], blocks["step"])

    b.position_at_end(blocks["out"])
    b.call(memcpy, [b.inttoptr(b.add(out, offset), i8p), frame_p, length, false])
    if skb:
        b.call(memset, [b.inttoptr(b.add(out, offset), i8p), ir.Constant(ir.IntType(8), 0),
                        l3, false])
    b.branch(blocks["step"])

    b.position_at_end(blocks["step"])
    following = b.add(i, c64(1))
    python_ran = b.icmp_unsigned("!=", b.load(_slot(b, ctx, abi.BATCH)), c64(abi.BATCH_NATIVE))
    i.add_incoming(following, blocks["step"])
    extent.add_incoming(b.select(in_place, extent, length), blocks["step"])
    stop = fn.append_basic_block("python_ran")
    b.cbranch(python_ran, stop, blocks["loop"])
    b.position_at_end(stop)
    b.store(following, _slot(b, job, J_NEXT))
    b.store(b.select(in_place, extent, length), _slot(b, job, J_EXTENT))
    b.store(c64(STOP_PYTHON), _slot(b, job, J_STOP))
    b.branch(blocks["done"])

    b.position_at_end(blocks["done"])
    b.store(c64(0), _slot(b, ctx, abi.BATCH))
    b.ret(b.load(_slot(b, job, J_NEXT)))
    return fn


def _define_pcap_index(module: ir.Module) -> ir.Function:
    """``count = bpf_pcap_index(job)``: index whole, sane records from ``job[P_POS]`` on,
    stopping at the end, at a full array, or at the first damaged record (which the
    caller's reader then reports)."""
    fn = ir.Function(module, INDEX_T, PCAP_INDEX)
    job = fn.args[0]
    blocks = {n: fn.append_basic_block(n) for n in ("start", "loop", "header", "take",
                                                    "done")}
    b = ir.IRBuilder(blocks["start"])
    i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
    swap = module.declare_intrinsic("llvm.bswap", [i32])

    def word(index: int) -> ir.Value:
        return b.load(_slot(b, job, index))

    buf, size, little = word(P_BUF), word(P_SIZE), word(P_LITTLE)
    fraction_limit, capacity, max_record = word(P_FRACTION), word(P_CAPACITY), word(P_MAX_RECORD)
    offsets = b.inttoptr(word(P_OFFSETS), I64.as_pointer())
    lengths = b.inttoptr(word(P_LENGTHS), i32.as_pointer())
    stamps = b.inttoptr(word(P_TS), I64.as_pointer())
    origs = b.inttoptr(word(P_ORIG), i32.as_pointer())
    is_little = b.icmp_unsigned("!=", little, c64(0))
    scale = b.select(b.icmp_unsigned("==", fraction_limit, c64(1_000_000)), c64(1000), c64(1))
    start_pos = word(P_POS)
    b.branch(blocks["loop"])

    b.position_at_end(blocks["loop"])
    n, pos = b.phi(I64, "n"), b.phi(I64, "pos")
    n.add_incoming(c64(0), blocks["start"])
    pos.add_incoming(start_pos, blocks["start"])
    b.store(pos, _slot(b, job, P_POS))
    room = b.and_(b.icmp_unsigned("<", n, capacity),
                  b.icmp_unsigned("<=", b.add(pos, c64(16)), size))
    b.cbranch(room, blocks["header"], blocks["done"])

    b.position_at_end(blocks["header"])

    def field(k: int) -> ir.Value:
        p = b.bitcast(b.gep(b.inttoptr(buf, i8p), [b.add(pos, c64(4 * k))]), i32.as_pointer())
        raw = b.load(p, align=1)
        return b.zext(b.select(is_little, raw, b.call(swap, [raw])), I64)

    seconds, fraction, caplen, wire = (field(k) for k in range(4))
    end = b.add(b.add(pos, c64(16)), caplen)
    sane = b.and_(b.and_(b.icmp_unsigned("<=", caplen, max_record),
                         b.icmp_unsigned("<", fraction, fraction_limit)),
                  b.icmp_unsigned("<=", end, size))
    b.cbranch(sane, blocks["take"], blocks["done"])

    b.position_at_end(blocks["take"])
    b.store(b.add(pos, c64(16)), b.gep(offsets, [n], inbounds=True))
    b.store(b.trunc(caplen, i32), b.gep(lengths, [n], inbounds=True))
    shortest = word(P_SHORTEST)
    b.store(b.select(b.icmp_unsigned("<", caplen, shortest), caplen, shortest),
            _slot(b, job, P_SHORTEST))
    ts = b.add(b.mul(seconds, c64(1_000_000_000)), b.mul(fraction, scale))
    b.store(ts, b.gep(stamps, [n], inbounds=True))
    wire_len = b.select(b.icmp_unsigned(">", wire, caplen), wire, caplen)
    b.store(b.trunc(wire_len, i32), b.gep(origs, [n], inbounds=True))
    following = b.add(n, c64(1))
    n.add_incoming(following, blocks["take"])
    pos.add_incoming(end, blocks["take"])
    b.branch(blocks["loop"])

    b.position_at_end(blocks["done"])
    b.ret(n)
    return fn


def _define_pcap_gather(module: ir.Module) -> ir.Function:
    fn = ir.Function(module, INDEX_T, PCAP_GATHER)
    job = fn.args[0]
    blocks = {n: fn.append_basic_block(n) for n in ("start", "loop", "look", "copy", "step",
                                                    "done")}
    b = ir.IRBuilder(blocks["start"])
    i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
    memcpy = module.declare_intrinsic("llvm.memcpy", [i8p, i8p, I64])

    def word(index: int) -> ir.Value:
        return b.load(_slot(b, job, index))

    buf, out, room, count = word(G_BUF), word(G_OUT), word(G_ROOM), word(G_COUNT)
    value = b.trunc(word(G_VALUE), i32)
    offsets = b.inttoptr(word(G_OFFSETS), I64.as_pointer())
    lengths = b.inttoptr(word(G_LENGTHS), i32.as_pointer())
    verdicts = b.inttoptr(word(G_VERDICTS), i32.as_pointer())
    start_index, start_left = word(G_NEXT), word(G_LEFT)
    b.branch(blocks["loop"])

    b.position_at_end(blocks["loop"])
    i, left, used = b.phi(I64, "i"), b.phi(I64, "left"), b.phi(I64, "used")
    i.add_incoming(start_index, blocks["start"])
    left.add_incoming(start_left, blocks["start"])
    used.add_incoming(c64(0), blocks["start"])
    b.store(i, _slot(b, job, G_NEXT))
    b.store(left, _slot(b, job, G_LEFT))
    more = b.and_(b.icmp_unsigned("<", i, count), b.icmp_unsigned("!=", left, c64(0)))
    b.cbranch(more, blocks["look"], blocks["done"])

    b.position_at_end(blocks["look"])
    wanted = b.icmp_unsigned("==", b.load(b.gep(verdicts, [i], inbounds=True)), value)
    b.cbranch(wanted, blocks["copy"], blocks["step"])

    b.position_at_end(blocks["copy"])
    size = b.add(b.zext(b.load(b.gep(lengths, [i], inbounds=True)), I64), c64(16))
    fits = b.icmp_unsigned("<=", b.add(used, size), room)
    copying = fn.append_basic_block("copying")
    b.cbranch(fits, copying, blocks["done"])       # full: the caller empties it, goes on
    b.position_at_end(copying)
    record = b.sub(b.add(buf, b.load(b.gep(offsets, [i], inbounds=True))), c64(16))
    b.call(memcpy, [b.inttoptr(b.add(out, used), i8p), b.inttoptr(record, i8p), size,
                    ir.Constant(ir.IntType(1), 0)])
    copied_used, copied_left = b.add(used, size), b.sub(left, c64(1))
    b.branch(blocks["step"])

    b.position_at_end(blocks["step"])
    next_used, next_left = b.phi(I64), b.phi(I64)
    next_used.add_incoming(used, blocks["look"])
    next_used.add_incoming(copied_used, copying)
    next_left.add_incoming(left, blocks["look"])
    next_left.add_incoming(copied_left, copying)
    i.add_incoming(b.add(i, c64(1)), blocks["step"])
    left.add_incoming(next_left, blocks["step"])
    used.add_incoming(next_used, blocks["step"])
    b.branch(blocks["loop"])

    b.position_at_end(blocks["done"])
    b.ret(used)
    return fn
