"""``pybpf filter``: tcpdump's filter language, compiled as libpcap compiles it.

    pybpf filter -d tcp port 80                 # what `tcpdump -d` prints (also -dd, -ddd, -O)
    pybpf filter -r in.pcap -w out.pcap udp     # apply it to a capture (--count, -c N)
    pybpf filter --emit xdp -o f.o 'port 53'    # the filter as an eBPF object for a hook

The expression may be several words, as tcpdump takes it, or come from ``-F FILE``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Iterable

from pybpf.errors import BpfError

EMIT_HOOKS = ("xdp", "tc", "socket")
ENGINES = ("cbpf", "interp", "kernel", "jit")


def _expression(args: argparse.Namespace) -> str:
    if args.file:
        try:
            text = Path(args.file).read_text()
        except OSError as e:
            raise BpfError(f"{args.file}: cannot read: {e.strerror}") from None
        # tcpdump's -F: '#' starts a comment running to the end of the line
        return " ".join(line.split("#", 1)[0] for line in text.splitlines()).strip()
    return " ".join(args.expression)


def _compile(args: argparse.Namespace, linktype: int | str) -> list:
    from pybpf.cbpf.filter import compile_filter

    return compile_filter(_expression(args), linktype=linktype, snaplen=args.snaplen,
                          optimize=not args.no_optimize)


def _cmd_filter(args: argparse.Namespace) -> int:
    if args.pcap is not None:
        return _apply(args)
    program = _compile(args, args.linktype or "EN10MB")
    if args.emit:
        return _emit(args, program)
    from pybpf.cbpf.text import disassemble, dump_c, dump_decimal

    if args.ddd:
        lines = dump_decimal(program)
    elif args.dd:
        lines = dump_c(program)
    else:
        lines = disassemble(program)
    print("\n".join(lines))
    return 0


def _emit(args: argparse.Namespace, program: list) -> int:
    from pybpf.elf.writer import write_program

    if not args.out:
        raise BpfError("--emit writes an object file: give it with -o FILE")
    if args.emit == "socket":
        from pybpf.cbpf.translate import to_ebpf

        insns, section = to_ebpf(program), "socket"
    else:
        from pybpf.cbpf.emit import to_hook

        insns, section = to_hook(program, args.emit), args.emit
    Path(args.out).write_bytes(write_program(insns, section=section, name="pcap_filter"))
    return 0


def matcher(program: list, engine: str) -> Callable[[bytes], bool]:
    """``match(frame)``: whether the filter accepts a link-layer frame, in ``engine``."""
    if engine == "cbpf":
        from pybpf.cbpf.machine import compile_filter as compile_cbpf

        run = compile_cbpf(program)
        return lambda frame: run(frame) != 0
    # XDP sees the whole frame from its first byte, as libpcap's filter does.
    from pybpf.cbpf.emit import VERDICTS

    prog = _load_xdp(program, engine)
    accept = VERDICTS["xdp"][1]
    return lambda frame: prog.test_run(data=frame).retval == accept


def _load_xdp(program: list, engine: str):
    """The filter as an XDP program loaded into ``engine`` (its verdicts: VERDICTS)."""
    from pybpf.cbpf.emit import to_hook
    from pybpf.elf.spec import ObjectSpec, ProgramSpec
    from pybpf.isa.uapi import ProgType

    spec = ObjectSpec()
    spec.programs["pcap_filter"] = ProgramSpec("pcap_filter", "xdp", ProgType.XDP,
                                               to_hook(program, "xdp"))
    return spec.load(engine=engine).programs["pcap_filter"]


def _apply_batch(args: argparse.Namespace) -> int:
    """The jit engine over a pcap file: the file mapped, indexed and filtered in native
    code (pybpf.net.batch), Python only for the packets that match."""
    from array import array

    from pybpf.cbpf.emit import VERDICTS
    from pybpf.net.batch import PacketBatch, count_of, indices_of, run_batch
    from pybpf.net.pcap import CaptureWriter, Packet

    batch = PacketBatch.from_pcap(args.pcap)
    total = len(batch)
    if batch.shortest_length() < 14:   # shorter than a link header: no hook sees it
        keep = [i for i in range(total) if batch.lengths[i] >= 14]
        batch = PacketBatch(batch.buffer, array("Q", (batch.offsets[i] for i in keep)),
                            array("I", (batch.lengths[i] for i in keep)),
                            array("Q", (batch.ts_ns[i] for i in keep)),
                            array("I", (batch.orig_lengths[i] for i in keep)), batch.linktype)
    program = _compile(args, args.linktype or batch.linktype)
    verdicts = run_batch(_load_xdp(program, "jit"), batch, data_out=False).verdicts
    accept = VERDICTS["xdp"][1]
    if not args.out:           # a count is all that is printed
        found = count_of(verdicts, accept)
        found = min(found, args.count_limit) if args.count_limit else found
        print(f"{found} packets captured" if args.count else f"{found} of {total} packets match")
        return 0
    if batch.pcap_header is not None and args.out != "-":   # records copied as they are
        written = batch.write_pcap(args.out, verdicts, accept, args.count_limit or total)
    else:
        matches = indices_of(verdicts, accept, args.count_limit or total)
        with CaptureWriter(args.out, linktype=batch.linktype) as writer:
            for i in matches:
                writer.write(Packet(batch.packet(i), batch.ts_ns[i], batch.linktype, 0,
                                    batch.orig_lengths[i], i))
        written = len(matches)
    if args.count:
        print(f"{written} packets captured")
    return 0


def _apply(args: argparse.Namespace) -> int:
    from pybpf.net.pcap import CaptureWriter, read_packets

    if args.engine == "jit" and args.pcap != "-":
        return _apply_batch(args)
    source = sys.stdin.buffer if args.pcap == "-" else args.pcap
    packets = read_packets(source)
    first = next(packets, None)
    linktype = args.linktype or (first.linktype if first is not None else 1)
    program = _compile(args, linktype)
    match = matcher(program, args.engine)
    matched = total = 0
    writer = CaptureWriter(args.out, linktype=first.linktype if first else 1) if args.out \
        else None
    try:
        for packet in _chain(first, packets):
            total += 1
            if len(packet.data) < 14 and args.engine != "cbpf":
                continue            # shorter than a link header: no hook would see it
            if match(packet.data):
                matched += 1
                if writer is not None:
                    writer.write(packet)
                if args.count_limit and matched >= args.count_limit:
                    break
    finally:
        if writer is not None:
            writer.close()
    if args.count or writer is None:
        print(f"{matched} packets captured" if args.count else
              f"{matched} of {total} packets match")
    return 0


def _chain(first, rest: Iterable) -> Iterable:
    if first is not None:
        yield first
        yield from rest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("filter", help="compile tcpdump filter expressions (as libpcap does), "
                                      "apply them, or emit them as eBPF objects")
    p.add_argument("expression", nargs="*", help="the filter expression (several words, "
                                                 "as tcpdump takes it)")
    p.add_argument("-d", dest="d", action="store_true", help="print the program (default)")
    p.add_argument("-dd", dest="dd", action="store_true", help="print it as a C array")
    p.add_argument("-ddd", dest="ddd", action="store_true", help="print it as decimal numbers")
    p.add_argument("-O", dest="no_optimize", action="store_true", help="do not optimise")
    p.add_argument("-y", dest="linktype", metavar="LINKTYPE",
                   help="link type (EN10MB, RAW, LINUX_SLL, LINUX_SLL2, NULL, LOOP); "
                        "default: the capture's, else EN10MB")
    p.add_argument("-s", dest="snaplen", type=int, default=262144, metavar="N",
                   help="snapshot length the filter returns on a match (default 262144)")
    p.add_argument("-F", dest="file", metavar="FILE", help="read the expression from FILE")
    p.add_argument("-r", "--pcap", metavar="FILE", help="apply the filter to a capture (- is "
                                                        "standard input)")
    p.add_argument("-w", "--out", metavar="FILE", help="with -r: write matching packets here; "
                                                        "with --emit: the object file")
    p.add_argument("-o", dest="out", metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument("-c", dest="count_limit", type=int, metavar="N",
                   help="stop after N matching packets")
    p.add_argument("--count", action="store_true", help="print only the number of matches")
    p.add_argument("--engine", choices=ENGINES, default="cbpf",
                   help="what runs the filter over a capture (default: the classic machine)")
    p.add_argument("--emit", choices=EMIT_HOOKS,
                   help="write the filter as an eBPF object for this hook (with -o FILE)")
    p.set_defaults(func=_cmd_filter)


__all__ = ["matcher", "register"]
