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
from typing import TYPE_CHECKING, Any, Callable, Iterable

from pybpf.errors import BpfError

if TYPE_CHECKING:
    from pybpf.net.batch import PacketBatch

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
    """The jit engine over a pcap file: the file mapped, indexed, filtered and the matches
    copied out in native code a batch at a time (pybpf.net.batch)."""
    import itertools

    from pybpf.cbpf.emit import VERDICTS
    from pybpf.net import batch as batches
    from pybpf.net.batch import PacketBatch, count_of, indices_of, run_batch

    chunks = PacketBatch.pcap_chunks(args.pcap, batches.PCAP_CHUNK)
    first = next(chunks)
    prog = _load_xdp(_compile(args, args.linktype or first.linktype), "jit")
    accept = VERDICTS["xdp"][1]
    limit = args.count_limit or None
    total = found = 0
    with _MatchWriter(args.out, first) as out:
        for chunk in itertools.chain([first], chunks):
            batch, kept = chunk, None
            if chunk.shortest_length() < 14:   # shorter than a link header: no hook sees it
                kept = [i for i in range(len(chunk)) if chunk.lengths[i] >= 14]
                batch = chunk.select(kept)
            verdicts = run_batch(prog, batch, data_out=False).verdicts
            left = None if limit is None else limit - found
            if out.writing:
                found += out.write(batch, verdicts, accept, left)
            elif left is None:
                found += count_of(verdicts, accept)
            else:
                matches = indices_of(verdicts, accept, left)
                found += len(matches)
                if found == limit:      # read as far as the last match, as -c stops there
                    last = matches[-1] if kept is None else kept[matches[-1]]
                    total += last + 1
                    break
            total += len(chunk)
            if limit is not None and found >= limit:
                break
    if not args.out:           # a count is all that is printed
        print(f"{found} packets captured" if args.count else f"{found} of {total} packets match")
    elif args.count:
        print(f"{found} packets captured")
    return 0


class _MatchWriter:
    """Where the matching packets go: their records copied as they are into a pcap file
    (for a pcap input), a capture writer otherwise (pcapng input, stdout), or nowhere."""

    def __init__(self, out: str | None, first: "PacketBatch"):
        self.out, self.first = out, first
        self.writing = bool(out)
        self.file: Any = None
        self.writer: Any = None

    def __enter__(self) -> "_MatchWriter":
        from pybpf.net.pcap import CaptureWriter

        if not self.writing:
            return self
        if self.first.pcap_header is not None and self.out != "-":
            self.file = open(self.out, "wb")
            self.file.write(self.first.pcap_header)
        else:
            self.writer = CaptureWriter(self.out, linktype=self.first.linktype)
        return self

    def write(self, batch: "PacketBatch", verdicts: Any, value: int, left: int | None) -> int:
        from pybpf.net.batch import indices_of
        from pybpf.net.pcap import Packet

        left = len(batch) if left is None else left
        if self.file is not None and batch.pcap_header is not None:
            return batch.write_records(self.file.write, verdicts, value, left)
        matches = indices_of(verdicts, value, left)
        for i in matches:
            self.writer.write(Packet(batch.packet(i), batch.ts_ns[i], batch.linktype, 0,
                                     batch.orig_lengths[i], i))
        return len(matches)

    def __exit__(self, *exc: Any) -> None:
        for closable in (self.file, self.writer):
            if closable is not None:
                closable.close()


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
