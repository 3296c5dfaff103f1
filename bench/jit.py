"""The LLVM JIT's figures, each beside its peer measured in the same run.

    python bench/jit.py [--packets 1000000] [--repeat 1000000] [--skip-filter]

1. ns per program run for the examples (XDP DDoS drop, LPM firewall, tc rewrite):
   test_run(repeat=N) on the jit engine, at its full tier (steady state), checked and
   ``unchecked=True``, against the kernel JIT's own ``duration`` from BPF_PROG_TEST_RUN
   with the same repeat and packet (the example's maps as loaded). Goal: <= 1.0x.
2. Batch packets per second through the DDoS example over an in-memory buffer of
   ``--packets`` frames (pybpf.net.batch). Goal: >= 10 million packets/s on one core.
3. A filter over a ``--packets``-packet capture file: ``pybpf filter -r FILE --engine jit
   -w /dev/null EXPR`` (mapped, indexed and filtered in native code) against
   ``tcpdump -r FILE -w /dev/null EXPR``. Goal: at least tcpdump's rate.
4. Python-to-program call overhead for a 2-instruction program (JitMachine.run and
   Program.test_run), beside the kernel's BPF_PROG_TEST_RUN called from Python.
   Goal: <= 0.5 us.
5. Compile time per 1,000 eBPF instructions (programs never seen before: no cache): a
   new JitMachine (the fast tier), and beside it the full tier's compile. Goal: <= 50 ms.
6. Speed-up over the interpreter on the examples of (1).

Kernel columns are skipped, with the reason, where bpf(2) is unavailable.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = ROOT / "tests" / "data"
CASES = [("XDP DDoS drop", "xdp_ddos.c", "ddos.pcap"),
         ("LPM firewall", "lpm_firewall.c", "firewall.pcap"),
         ("tc port rewrite", "tc_port_rewrite.c", "udp_ports.pcap")]
FILTER = "udp port 53 or (tcp[tcpflags] & tcp-syn != 0 and dst net 10.0.0.0/8)"


def kernel_reason() -> str | None:
    from pybpf.kernel.probe import kernel_available

    ok, reason = kernel_available()
    return None if ok else reason


def first_program(obj: Any) -> Any:
    return next(iter(obj.programs.values()))


def per_run(repeat: int, kernel: str | None) -> None:
    import pybpf
    from pybpf.net.pcap import read_packets

    print(f"1/6. ns per run, test_run(repeat={repeat:,}), the kernel's own duration beside "
          f"(goal: jit <= 1.0x kernel)")
    speedups = []
    for label, source, capture in CASES:
        packet = next(iter(read_packets(DATA / capture))).data
        # Steady state: the full tier, which a hot program reaches in the background
        # (as the kernel's code is all compiled when it is loaded).
        jit = first_program(pybpf.load(EXAMPLES / source, engine="jit"))
        jit.runner.machine.tier_up()
        jit_ns = min(jit.test_run(data=packet, repeat=repeat).duration_ns for _ in range(3))
        fast = first_program(pybpf.load(EXAMPLES / source, engine="jit", unchecked=True))
        fast.runner.machine.tier_up()
        fast_ns = min(fast.test_run(data=packet, repeat=repeat).duration_ns for _ in range(3))
        interp = first_program(pybpf.load(EXAMPLES / source, engine="interp"))
        interp_repeat = max(1, repeat // 1000)
        interp_ns = interp.test_run(data=packet, repeat=interp_repeat).duration_ns
        speedups.append((label, interp_ns / max(jit_ns, 1)))
        line = f"  {label:18s} jit {jit_ns:6,d} ns   unchecked {fast_ns:6,d} ns"
        if kernel is None:
            with pybpf.load(EXAMPLES / source, engine="kernel") as obj:
                k_ns = min(first_program(obj).test_run(data=packet, repeat=repeat).duration_ns
                           for _ in range(3))
            line += (f"   kernel {k_ns:6,d} ns   jit/kernel {jit_ns / max(k_ns, 1):5.2f}x"
                     f" (unchecked {fast_ns / max(k_ns, 1):5.2f}x)")
        else:
            line += f"   kernel: skipped ({kernel})"
        print(line)
    print(f"6/6. speed-up over the interpreter (interp ns per run from repeat="
          f"{max(1, repeat // 1000):,})")
    for label, ratio in speedups:
        print(f"  {label:18s} jit is {ratio:,.0f}x faster")


def batch_rate(count: int) -> None:
    from pcap_run import capture      # the DDoS bench's traffic mix

    import pybpf
    from pybpf.net.batch import PacketBatch, run_batch

    batch = PacketBatch.of(capture(count))
    prog = pybpf.load(EXAMPLES / "xdp_ddos.c", engine="jit").programs["xdp_ddos"]
    run_batch(prog, PacketBatch.of(capture(1000)))    # compiles the full tier a batch runs
    best = None
    for data_out in (False, True):
        start = time.perf_counter()
        result = run_batch(prog, batch, data_out=data_out)
        elapsed = time.perf_counter() - start
        rate = len(batch) / elapsed
        best = rate if best is None else max(best, rate)
        print(f"2/6. batch, DDoS example, {len(batch):,} packets in memory, "
              f"{'with' if data_out else 'without'} packets out: {rate / 1e6:.2f} M packets/s "
              f"({result.native:,} native)")
    print(f"     goal >= 10 M packets/s: {'met' if best >= 10e6 else 'not met'}")


def filter_rate(count: int) -> None:
    from bench_support import write_capture
    from pybpf.cli.main import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.pcap"
        write_capture(path, count)
        devnull = open(os.devnull, "w")
        stdout, sys.stdout = sys.stdout, devnull
        rates = []
        try:
            for _ in range(2):      # the first compiles the filter, the second finds it cached
                start = time.perf_counter()
                cli(["filter", "-r", str(path), "--engine", "jit", "-w", os.devnull, FILTER])
                rates.append(count / (time.perf_counter() - start))
        finally:
            sys.stdout = stdout
            devnull.close()
        mine = rates[1]
        line = (f"3/6. filter over a {count:,}-packet capture: pybpf filter --engine jit -w "
                f"{mine:,.0f} pkt/s (first run, compiling the filter: {rates[0]:,.0f})")
        if shutil.which("tcpdump"):
            start = time.perf_counter()
            subprocess.run(["tcpdump", "-r", str(path), "-w", "/dev/null", FILTER],
                           check=True, capture_output=True)
            theirs = count / (time.perf_counter() - start)
            line += (f", tcpdump -r -w /dev/null {theirs:,.0f} pkt/s (pybpf at "
                     f"{mine / theirs:.2f}x tcpdump's rate; goal >= 1.0x)")
        else:
            line += ", tcpdump: skipped (not installed)"
        print(line)


def median_ns(fn: Callable[[], Any], calls: int = 20000, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter_ns() - start) / calls)
    return statistics.median(times)


def call_overhead(kernel: str | None) -> None:
    from pybpf.asm import assemble
    from pybpf.elf.spec import ObjectSpec, ProgramSpec
    from pybpf.isa.uapi import ProgType
    from pybpf.jit.machine import JitMachine

    insns = assemble("r0 = 2\nexit")
    machine = JitMachine(insns)
    machine.tier_up()
    machine()                       # arms the fast call
    run = machine.run
    spec = ObjectSpec()
    spec.programs["two"] = ProgramSpec("two", "xdp", ProgType.XDP, insns)
    prog = spec.load(engine="jit").programs["two"]
    packet = bytes(64)
    m_ns = median_ns(machine)
    r_ns = median_ns(run)
    p_ns = median_ns(lambda: prog.test_run(data=packet), calls=5000)
    line = (f"4/6. call overhead, 2-instruction program: machine() {m_ns / 1000:.3f} us, "
            f"JitMachine.run {r_ns / 1000:.2f} us, jit Program.test_run (XDP, 64-byte packet) "
            f"{p_ns / 1000:.2f} us")
    if kernel is None:
        kspec = ObjectSpec()
        kspec.programs["two"] = ProgramSpec("two", "xdp", ProgType.XDP, insns)
        with kspec.load(engine="kernel") as obj:
            kprog = obj.programs["two"]
            k_ns = median_ns(lambda: kprog.test_run(data=packet), calls=5000)
        line += f", kernel BPF_PROG_TEST_RUN from Python {k_ns / 1000:.2f} us"
    else:
        line += f", kernel: skipped ({kernel})"
    print(line + f"; goal <= 0.5 us: {'met' if m_ns <= 500 else 'not met'}")


def compile_time() -> None:
    from pybpf.jit.fuzz import soup
    from pybpf.jit.machine import JitMachine

    rng = random.Random(11)
    per_k, full_k = [], []
    sizes = []
    for _ in range(5):
        insns = soup(rng, 1000)
        start = time.perf_counter()
        machine = JitMachine(insns)
        per_k.append((time.perf_counter() - start) * 1e3 * 1000 / len(insns))
        start = time.perf_counter()
        machine.tier_up()
        full_k.append((time.perf_counter() - start) * 1e3 * 1000 / len(insns))
        sizes.append(len(insns))
    ms = statistics.median(per_k)
    print(f"5/6. compile time: {ms:.1f} ms per 1,000 instructions (median of {len(per_k)} "
          f"fresh programs of {min(sizes)}-{max(sizes)} instructions: JitMachine, the fast "
          f"tier; then the full tier a hot program moves to, {statistics.median(full_k):.1f} "
          f"ms more); goal <= 50 ms: {'met' if ms <= 50 else 'not met'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1_000_000)
    parser.add_argument("--skip-filter", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYBPF_CACHE_DIR", tempfile.mkdtemp(prefix="pybpf-bench-"))
    sys.path.insert(0, str(Path(__file__).parent))
    kernel = kernel_reason()
    per_run(args.repeat, kernel)
    batch_rate(args.packets)
    if not args.skip_filter:
        filter_rate(args.packets)
    call_overhead(kernel)
    compile_time()
    return 0


if __name__ == "__main__":
    sys.exit(main())
