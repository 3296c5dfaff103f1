"""The ``pybpf`` command: asm, disasm, run (raw programs, or objects over a capture) and demo.

Errors print one message and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from pybpf.errors import BpfError


def parse_hex(text: str) -> bytes:
    """Hex bytes with any whitespace (``"aa bb\\ncc"``, ``"aabbcc"``)."""
    digits = "".join(text.split())
    if digits.startswith(("0x", "0X")):
        digits = digits[2:]
    try:
        return bytes.fromhex(digits)
    except ValueError:
        bad = next((i for i, c in enumerate(digits) if c not in "0123456789abcdefABCDEF"), None)
        where = f" (character {digits[bad]!r} at {bad})" if bad is not None else " (odd number of digits)"
        raise BpfError(f"--mem: not hex bytes{where}") from None


def _cmd_asm(args: argparse.Namespace) -> int:
    from pybpf.asm import assemble
    from pybpf.isa import encode

    path = Path(args.file)
    try:
        text = sys.stdin.read() if args.file == "-" else path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise BpfError(f"{args.file}: cannot read assembly: {e}") from None
    insns = assemble(text, syntax=args.syntax, filename=args.file)
    if args.elf:
        from pybpf.elf.sections import classify
        from pybpf.elf.writer import write_program

        if not args.out:
            raise BpfError("--elf writes an object file: give it with -o FILE")
        classify(args.section)      # an unknown section is an error here, not at load time
        name = args.name or (Path(args.file).stem if args.file != "-" else "prog")
        Path(args.out).write_bytes(write_program(insns, section=args.section, name=name,
                                                 license=args.license))
        return 0
    code = encode(insns)
    if args.out:
        Path(args.out).write_bytes(code)
    else:
        for i in range(0, len(code), 8):
            print(code[i:i + 8].hex(" "))
    return 0


def _cmd_disasm(args: argparse.Namespace) -> int:
    from pybpf.asm import disassemble
    from pybpf.inputs import read_program
    from pybpf.isa import slot_indexes

    if _is_object(args.file):
        return _disasm_object(args)
    insns = read_program(args.file)
    lines = disassemble(insns, syntax=args.syntax)
    if args.json:
        out = [{"index": i, "text": t} for i, t in zip(slot_indexes(insns), lines)]
        print(json.dumps(out, indent=2 if args.pretty else None))
        return 0
    for index, text in zip(slot_indexes(insns), lines):
        print(f"{index:>6}: {text}")
    return 0


def _disasm_object(args: argparse.Namespace) -> int:
    """Every program of an ELF object (or C source), with its C lines as llvm-objdump -S."""
    import pybpf
    from pybpf.asm import disassemble, listing
    from pybpf.isa import slot_indexes

    spec = pybpf.open(args.file, cflags=args.cflags)
    programs = list(spec.programs.values())
    if args.prog:
        programs = [p for p in programs if p.name == args.prog]
        if not programs:
            raise BpfError(f"{args.file} has no program {args.prog!r} (it has: "
                           f"{', '.join(spec.programs) or 'none'})")
    if args.json:
        out = [{"program": p.name, "section": p.section,
                "insns": [{"index": i, "text": t, "line": str(line) if line else None,
                           "source": line.text.strip() if line else None}
                          for i, t, line in zip(slot_indexes(p.insns),
                                                disassemble(p.insns, args.syntax),
                                                p.source_lines)]}
               for p in programs]
        print(json.dumps(out, indent=2 if args.pretty else None))
        return 0
    for n, p in enumerate(programs):
        print(("\n" if n else "") + f"{p.name} (section {p.section}):")
        lines = p.source_lines if not args.no_source else None
        for line in listing(p.insns, lines, args.syntax):
            print(line)
    return 0


def _is_object(path: str) -> bool:
    """An ELF object or C source (what pybpf.open reads), by content, then suffix."""
    from pybpf.inputs import kind_of

    if path == "-":
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return Path(path).suffix.lower() == ".c"
    return kind_of(path, head) in ("elf", "c")


def _cmd_run(args: argparse.Namespace) -> int:
    if _is_capture_run(args):
        return _cmd_run_capture(args)
    given = [name for name in _CAPTURE_ONLY if getattr(args, name)]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise BpfError(f"{flag} is for capture runs: an ELF object or C source with -r")
    from pybpf.inputs import read_program
    from pybpf.vm import Machine

    insns = read_program(args.file, syntax=args.syntax)
    mem = parse_hex(args.mem) if args.mem is not None else None
    budget = None if args.budget == 0 else args.budget
    machine = Machine(insns, budget=budget)
    result = machine.run(mem=mem, trace=args.trace)
    if args.json:
        out = {"r0": result.r0, "executed": result.executed, "elapsed_ns": result.elapsed_ns}
        if result.mem is not None:
            out["mem"] = result.mem.hex()
        print(json.dumps(out, indent=2 if args.pretty else None))
        return 0
    if args.trace:
        from pybpf.cli.render import print_trace
        print_trace(result)
    print(f"{result.r0:#x}")
    if args.stats:
        seconds = result.elapsed_ns / 1e9
        rate = result.executed / seconds if seconds else float("inf")
        print(f"instructions executed: {result.executed}", file=sys.stderr)
        print(f"wall time: {seconds * 1e3:.3f} ms", file=sys.stderr)
        print(f"instructions per second: {rate:,.0f}", file=sys.stderr)
    return 0


_CAPTURE_ONLY = ("prog", "out", "maps", "dump_maps", "cflags", "rodata")


def _is_capture_run(args: argparse.Namespace) -> bool:
    """Capture mode: an ELF object or C source, or -r given. Raw programs and assembly
    keep the plain run (r0 of one execution over --mem)."""
    return args.pcap is not None or _is_object(args.file)


def _cmd_run_capture(args: argparse.Namespace) -> int:
    from pybpf.inputs import kind_of

    if args.pcap is None:
        raise BpfError(f"{args.file}: ELF objects and C sources run over a capture: "
                       f"give -r/--pcap FILE")
    if args.mem is not None or args.trace:
        raise BpfError("--mem and --trace are for raw programs; a capture run takes -r")
    try:
        with open(args.file, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise BpfError(f"{args.file}: cannot read: {e.strerror}") from None
    if kind_of(args.file, head) not in ("elf", "c"):
        raise BpfError(f"{args.file}: -r runs an ELF object or C source over a capture; "
                       f"raw instructions have no program type")
    from pybpf.cli.render import capture_report, run_with_progress
    from pybpf.net.mapjson import drain_ring_buffers, dump_maps
    from pybpf.net.batch import PacketBatch
    from pybpf.net.session import (cflags_from, choose_program, fill_maps, load_object,
                                   parse_rodata)

    rodata = parse_rodata(args.rodata)
    # All of it indexed (a pcap file, mapped) or read first: errors before the run.
    packets = PacketBatch.from_pcap(args.pcap)
    budget = None if args.budget == 0 else args.budget
    obj = load_object(args.file, engine=args.engine, cflags=cflags_from(args.cflags),
                      rodata=rodata, budget=budget, unchecked=args.unchecked)
    try:
        name = choose_program(obj.programs, args.prog, args.file)
        fill_maps(obj.maps, args.maps)
        summary = run_with_progress(obj.programs[name], packets, out=args.out,
                                    show=not args.json)
        specs = getattr(getattr(obj, "spec", None), "maps", None)
        maps: dict = dump_maps(obj.maps, specs=specs)
        maps.update(drain_ring_buffers(obj.maps))     # records in order, as hex
    finally:
        obj.close()
    if args.dump_maps:
        try:
            with open(args.dump_maps, "w", encoding="utf-8") as f:
                json.dump(maps, f, indent=2)
                f.write("\n")
        except OSError as e:
            raise BpfError(f"--dump-maps: {args.dump_maps}: {e.strerror}") from None
    if args.json:
        print(json.dumps({"summary": summary.as_dict(), "maps": maps},
                         indent=2 if args.pretty else None))
        return 0
    capture_report(summary, maps)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from pybpf.cli import render

    if args.asm:
        render.demo()
    else:
        render.ddos_demo(engine=args.engine)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pybpf", description="eBPF in Python")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("asm", help="assemble a program to raw instructions")
    p.add_argument("file", help="assembly source (- for stdin)")
    p.add_argument("-o", "--out", help="write raw 8-byte little-endian instructions here")
    p.add_argument("--syntax", choices=("llvm", "ubpf"), default="llvm")
    p.add_argument("--elf", action="store_true",
                   help="write an ELF object (one program) that libbpf loads, instead")
    p.add_argument("--section", default="socket",
                   help="with --elf: the program's section, i.e. its type (default socket)")
    p.add_argument("--name", help="with --elf: the program's name (default: the file's stem)")
    p.add_argument("--license", default="GPL", help="with --elf: the license (default GPL)")
    p.set_defaults(func=_cmd_asm)

    p = sub.add_parser("disasm", help="disassemble a program")
    p.add_argument("file", help="raw instructions, assembly (.s), ELF object or C source")
    p.add_argument("--syntax", choices=("llvm", "ubpf"), default="llvm")
    p.add_argument("--prog", metavar="NAME", help="only this program of an object")
    p.add_argument("--no-source", action="store_true",
                   help="objects: leave out the C source lines")
    p.add_argument("-D", "--cflags", action="append", default=[], metavar="FLAG",
                   help="clang flag for C input")
    p.add_argument("-j", "--json", action="store_true")
    p.add_argument("-p", "--pretty", action="store_true")
    p.set_defaults(func=_cmd_disasm)

    p = sub.add_parser(
        "run", help="run a program: raw/assembly once (r0), or an object over a capture",
        description="Raw instructions and assembly run once in the interpreter and print "
                    "r0. An ELF object or C source (or any input with -r) runs over every "
                    "packet of a capture and prints the verdicts.")
    p.add_argument("file", help="raw instructions, assembly (.s), ELF object or C source")
    p.add_argument("--mem", help="memory for r1/r2, as hex bytes (whitespace allowed)")
    p.add_argument("--trace", action="store_true", help="show every executed instruction")
    p.add_argument("--budget", type=int, default=1_000_000,
                   help="instruction budget (0 for none; default 1000000)")
    p.add_argument("--stats", action="store_true", help="instructions executed, time, rate")
    p.add_argument("--syntax", choices=("llvm", "ubpf"), default="llvm",
                   help="assembly syntax of a .s input")
    p.add_argument("-j", "--json", action="store_true")
    p.add_argument("-p", "--pretty", action="store_true")
    g = p.add_argument_group("capture runs (ELF object or C source)")
    g.add_argument("-r", "--pcap", metavar="FILE", help="input capture (pcap or pcapng)")
    g.add_argument("-w", "--out", metavar="FILE",
                   help="write the packets that continue here (.pcapng suffix: pcapng); "
                        "TX/REDIRECT packets go to FILE.if<N>.pcap beside it")
    g.add_argument("--prog", metavar="NAME", help="the program to run (by function name)")
    g.add_argument("--engine", choices=("interp", "jit", "kernel"), default="interp")
    g.add_argument("--unchecked", action="store_true",
                   help="jit: no bounds checks where the verifier proved them needless")
    g.add_argument("--map", dest="maps", action="append", default=[], metavar="NAME=FILE",
                   help="fill a map before the run from JSON: {\"key hex\": \"value hex\"} "
                        "or BTF-typed {\"53\": {\"packets\": 0}}")
    g.add_argument("--dump-maps", metavar="FILE", help="write every map as JSON after the run")
    g.add_argument("--set", dest="rodata", action="append", default=[], metavar="NAME=VALUE",
                   help="set a const volatile global before load")
    g.add_argument("-D", "--cflags", action="append", default=[], metavar="FLAG",
                   help="clang flag for C input (-D NAME=1 is -DNAME=1)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("demo", help="run the XDP DDoS example over a generated capture")
    p.add_argument("--asm", action="store_true",
                   help="the assembler demo instead: assemble, disassemble, trace")
    p.add_argument("--engine", choices=("interp", "jit", "kernel"), default="interp")
    p.set_defaults(func=_cmd_demo)

    from pybpf.cli import kernel_cmds      # prog, map, link, btf, feature (bpftool's commands)
    kernel_cmds.register(sub)
    from pybpf.cli import object_cmds      # load, attach
    object_cmds.register(sub)
    from pybpf.cli import filter_cmd       # filter (tcpdump's language)
    filter_cmd.register(sub)
    from pybpf.cli import verify_cmd       # verify (the static verifier)
    verify_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BpfError as e:
        if args.debug:
            raise
        print(f"pybpf {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
