"""Filter compilation and filtering speed, beside libpcap and tcpdump in the same run.

1. Compile time per expression (median over a varied set): pybpf's pcap-filter compiler
   against libpcap's own pcap_compile called in-process through ctypes. Goal: <= 0.5 ms.
2. Packets per second filtering a capture of N packets (default 1,000,000): pybpf's
   classic machine, the jit engine (the file mapped and filtered in native batches; the
   program compiled before the clock starts), and the interpreter engine on a slice,
   against libpcap's bpf_filter through ctypes and against
   `tcpdump -r FILE -w /dev/null EXPR`.

    python bench/filter.py [--packets 1000000] [--interp-packets 20000]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_support import write_capture

EXPRESSIONS = [
    "tcp", "udp port 53", "host 10.0.0.1", "net 192.168.0.0/16 and not port 22",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "ip6 and tcp port 443",
    "icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply",
    "portrange 1000-2000 and udp", "ether broadcast or ip multicast", "vlan and ip",
    "src host 10.0.0.1 and dst net 10.1.0.0/16 and (tcp port 80 or tcp port 8080)",
    "ip[6:2] & 0x1fff != 0", "len > 100 and less 1500", "arp or rarp",
    "not (port 22 or port 53 or port 123)",
]
FILTER = "udp port 53 or (tcp[tcpflags] & tcp-syn != 0 and dst net 10.0.0.0/8)"


class BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


def libpcap() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so.0.8")
    lib.pcap_open_dead.restype = ctypes.c_void_p
    lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(BpfProgram), ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_uint32]
    lib.pcap_freecode.argtypes = [ctypes.POINTER(BpfProgram)]
    lib.bpf_filter.restype = ctypes.c_uint
    lib.bpf_filter.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint, ctypes.c_uint]
    return lib


def median_us(fn, rounds: int = 30) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def compile_times() -> None:
    from pybpf.cbpf.filter import compile_filter

    lib = libpcap()
    handle = lib.pcap_open_dead(1, 262144)
    prog = BpfProgram()

    def pcap_compile(expr: bytes) -> None:
        if lib.pcap_compile(handle, ctypes.byref(prog), expr, 1, 0xFFFFFFFF) != 0:
            raise RuntimeError(f"libpcap refused {expr!r}")
        lib.pcap_freecode(ctypes.byref(prog))

    mine = statistics.median(median_us(lambda e=e: compile_filter(e)) for e in EXPRESSIONS)
    theirs = statistics.median(median_us(lambda e=e.encode(): pcap_compile(e))
                               for e in EXPRESSIONS)
    print(f"compile, median over {len(EXPRESSIONS)} expressions: pybpf {mine:.0f} us, "
          f"libpcap pcap_compile {theirs:.0f} us (pybpf {mine / theirs:.1f}x); "
          f"goal <= 500 us: {'met' if mine <= 500 else 'not met'}")


def _jit_rate(path: Path, program: list) -> tuple[float | None, int]:
    """Packets/s of the filter as an XDP program on the jit engine over the whole file
    (index, batch run, count); (None, 0) without llvmlite."""
    try:
        import llvmlite  # noqa: F401
    except ImportError:
        return None, 0
    from pybpf.cbpf.emit import VERDICTS
    from pybpf.cli.filter_cmd import _load_xdp
    from pybpf.net.batch import PacketBatch, run_batch

    prog = _load_xdp(program, "jit")
    start = time.perf_counter()
    batch = PacketBatch.from_pcap(path)
    verdicts = run_batch(prog, batch, data_out=False).verdicts
    matched = verdicts.tobytes()[::verdicts.itemsize].count(bytes([VERDICTS["xdp"][1]])) \
        if sys.byteorder == "little" else sum(v == VERDICTS["xdp"][1] for v in verdicts)
    return len(batch) / (time.perf_counter() - start), matched


def filtering(count: int, interp_count: int) -> None:
    from pybpf.cbpf.filter import compile_filter
    from pybpf.cbpf.machine import compile_filter as classic
    from pybpf.cbpf.insn import encode
    from pybpf.cli.filter_cmd import matcher
    from pybpf.net.pcap import read_packets

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.pcap"
        write_capture(path, count)
        packets = [p.data for p in read_packets(path)]
        program = compile_filter(FILTER)
        run = classic(program)
        start = time.perf_counter()
        mine = sum(1 for p in packets if run(p))
        cbpf_rate = count / (time.perf_counter() - start)

        lib = libpcap()
        code = ctypes.create_string_buffer(encode(program))
        start = time.perf_counter()
        theirs = sum(1 for p in packets if lib.bpf_filter(code, p, len(p), len(p)))
        libpcap_rate = count / (time.perf_counter() - start)

        match = matcher(program, "interp")
        start = time.perf_counter()
        interp = sum(1 for p in packets[:interp_count] if match(p))
        interp_rate = interp_count / (time.perf_counter() - start)

        jit_rate, jit = _jit_rate(path, program)

        print(f"filtering {count:,} packets with {FILTER!r} ({mine:,} match; libpcap "
              f"{theirs:,}):")
        if jit_rate is not None:
            print(f"  pybpf jit (XDP batch) {jit_rate:>11,.0f} packets/s  (capture mapped, "
                  f"indexed and run in native code; {jit:,} match)")
        print(f"  pybpf cbpf machine   {cbpf_rate:>12,.0f} packets/s")
        print(f"  pybpf interp (XDP)   {interp_rate:>12,.0f} packets/s  (first "
              f"{interp_count:,} packets, {interp:,} match)")
        print(f"  libpcap bpf_filter   {libpcap_rate:>12,.0f} packets/s  (through ctypes; "
              f"cbpf is {libpcap_rate / cbpf_rate:.2f}x its time)")
        if shutil.which("tcpdump"):
            start = time.perf_counter()
            subprocess.run(["tcpdump", "-r", str(path), "-w", "/dev/null", FILTER],
                           check=True, capture_output=True)
            tcpdump_rate = count / (time.perf_counter() - start)
            print(f"  tcpdump -r -w        {tcpdump_rate:>12,.0f} packets/s  (cbpf is "
                  f"{tcpdump_rate / cbpf_rate:.2f}x its time)")
        if mine != theirs:
            print("MISMATCH between pybpf and libpcap")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--interp-packets", type=int, default=20_000)
    args = parser.parse_args(argv)
    compile_times()
    filtering(args.packets, min(args.interp_packets, args.packets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
