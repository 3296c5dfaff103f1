"""Interpreter speed: instructions per second on three loops, and the ratio to the kernel.

    python bench/interp.py [--iterations N] [--runs N]

For each program (an ALU loop, a memory-heavy loop, a call-heavy loop) it prints the
instructions the interpreter executed per second and, where bpf(2) works, the kernel's
time for the same program (BPF_PROG_TEST_RUN's mean duration, JIT-compiled) and the
ratio interpreter time / kernel time.
"""

from __future__ import annotations

import argparse
import sys
import time

from pybpf.isa import Instruction

I = Instruction.make


def alu_loop(n: int) -> list[Instruction]:
    return [I("mov64_imm", dst=0, imm=0), I("mov64_imm", dst=1, imm=n),
            I("add64_reg", dst=0, src=1), I("xor64_imm", dst=0, imm=0x5A5A),
            I("lsh64_imm", dst=0, imm=3), I("rsh32_imm", dst=0, imm=1),
            I("sub64_imm", dst=1, imm=1), I("jne_imm", dst=1, imm=0, off=-6),
            I("exit")]


def memory_loop(n: int) -> list[Instruction]:
    return [I("mov64_imm", dst=0, imm=0), I("mov64_imm", dst=1, imm=n),
            I("st64", dst=10, off=-8, imm=0), I("st64", dst=10, off=-16, imm=0),
            I("ldx64", dst=2, src=10, off=-8), I("add64_reg", dst=2, src=1),
            I("stx64", dst=10, src=2, off=-8), I("ldx32", dst=3, src=10, off=-16),
            I("add64_imm", dst=3, imm=1), I("stx32", dst=10, src=3, off=-16),
            I("ldx8", dst=4, src=10, off=-8), I("add64_reg", dst=0, src=4),
            I("sub64_imm", dst=1, imm=1), I("jne_imm", dst=1, imm=0, off=-10),
            I("exit")]


def call_loop(n: int) -> list[Instruction]:
    return [I("mov64_imm", dst=6, imm=0), I("mov64_imm", dst=7, imm=n),
            I("mov64_reg", dst=1, src=7), I("call_local", imm=5),
            I("add64_reg", dst=6, src=0), I("sub64_imm", dst=7, imm=1),
            I("jne_imm", dst=7, imm=0, off=-5), I("mov64_reg", dst=0, src=6), I("exit"),
            # callee: r0 = (r1 * 3) & 0xff
            I("mov64_reg", dst=0, src=1), I("mul64_imm", dst=0, imm=3),
            I("and64_imm", dst=0, imm=0xFF), I("exit")]


PROGRAMS = {"alu loop": alu_loop, "memory loop": memory_loop, "call loop": call_loop}


def bench_interp(insns: list[Instruction], runs: int) -> tuple[float, int, int]:
    from pybpf.vm import Machine

    machine = Machine(insns, budget=None)
    result = machine.run()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        machine.run()
        best = min(best, time.perf_counter() - start)
    return best, result.executed, result.r0


def bench_kernel(insns: list[Instruction], repeat: int) -> tuple[float, int] | str:
    from pybpf.errors import BpfError
    from pybpf.kernel import KernelProgram, ProgType, kernel_available

    ok, reason = kernel_available()
    if not ok:
        return reason
    try:
        with KernelProgram.load(ProgType.SOCKET_FILTER, insns) as prog:
            run = prog.test_run(data=bytes(64), repeat=repeat)
    except BpfError as e:
        return f"kernel refused: {e}"
    return run.duration_ns / 1e9, run.retval


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10_000,
                        help="loop iterations per program (the kernel verifier walks them all)")
    parser.add_argument("--runs", type=int, default=5, help="interpreter runs; the best counts")
    parser.add_argument("--repeat", type=int, default=1000, help="kernel test_run repetitions")
    args = parser.parse_args(argv)
    print(f"{'program':<12} {'insns/run':>10} {'interp':>12} {'interp insn/s':>15} "
          f"{'kernel':>12} {'interp/kernel':>14}")
    for name, make in PROGRAMS.items():
        insns = make(args.iterations)
        seconds, executed, r0 = bench_interp(insns, args.runs)
        kernel = bench_kernel(insns, args.repeat)
        line = (f"{name:<12} {executed:>10} {seconds * 1e3:>10.2f}ms "
                f"{executed / seconds:>15,.0f}")
        if isinstance(kernel, str):
            print(f"{line}   (no kernel: {kernel})")
            continue
        kseconds, retval = kernel
        if retval != r0 & 0xFFFFFFFF:
            print(f"{line}   kernel returned {retval:#x}, interpreter {r0:#x}: DISAGREE")
            return 1
        ratio = seconds / kseconds if kseconds else float("inf")
        print(f"{line} {kseconds * 1e6:>10.1f}us {ratio:>13,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
