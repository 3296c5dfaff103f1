"""Packets per second through the XDP DDoS example, interpreter beside the kernel.

    python bench/pcap_run.py [--packets N] [--engine interp|jit]

Generates a deterministic capture (a UDP flood, many TCP clients, a blocklisted source,
ARP; 100,000 packets by default), runs examples/xdp_ddos.c over it with pybpf's engine
as ``pybpf run`` does (the capture file indexed, the passed packets written to a
capture) and prints packets/s and time per packet. Beside it, the kernel's time per packet for
the same program and packets: one BPF_PROG_TEST_RUN per packet, with the kernel's own
duration (JIT-compiled), through pybpf's kernel engine or, where pybpf has none yet,
through libbpf. The ratio is pybpf's time per packet over the kernel's. Where bpf(2) is
unavailable the kernel column is skipped with the reason.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "xdp_ddos.c"


def capture(n: int) -> list[bytes]:
    """``n`` frames: half flood, ~48% from clients sending 80 packets each (under the
    threshold), 1% blocklisted, the rest ARP."""
    from pybpf.net import traffic

    attack = n // 2
    per_client = 80
    clients = max(1, (n * 48 // 100) // per_client)
    blocklisted = n // 100
    arp = n - attack - clients * per_client - blocklisted - 1
    return traffic.ddos_mix(attack, clients, per_client, blocklisted, arp, seed=7)


def run_pybpf(frames: list[bytes], engine: str) -> tuple[Any, float]:
    """What ``pybpf run xdp_ddos.c -r in.pcap -w out.pcap`` does, timed from indexing the
    capture file to the output written."""
    import tempfile

    from pybpf.net import traffic
    from pybpf.net.batch import PacketBatch
    from pybpf.net.pcap import write_packets
    from pybpf.net.runner import run_capture
    from pybpf.net.session import load_object

    obj = load_object(EXAMPLE, engine=engine)
    try:
        obj.maps["blocked"].update(socket.inet_aton(traffic.BLOCKLISTED), bytes(8))
        with tempfile.TemporaryDirectory() as tmp:
            write_packets(Path(tmp) / "in.pcap", frames)
            start = time.perf_counter()
            summary = run_capture(obj.programs["xdp_ddos"],
                                  PacketBatch.from_pcap(Path(tmp) / "in.pcap"),
                                  out=Path(tmp) / "out.pcap")
            return summary, time.perf_counter() - start
    finally:
        obj.close()


def kernel_runner(obj_path: Path) -> tuple[Callable[[bytes], tuple[int, int]], Callable[[], None]]:
    """(run(frame) -> (retval, duration_ns), close) with pybpf's kernel engine, after
    filling the blocklist."""
    import pybpf
    from pybpf.net import traffic

    obj = pybpf.load(str(obj_path), engine="kernel")
    obj.maps["blocked"].update(socket.inet_aton(traffic.BLOCKLISTED), bytes(8))
    prog = obj.programs["xdp_ddos"]

    def run(frame: bytes) -> tuple[int, int]:
        r = prog.test_run(data=frame)
        return r.retval, r.duration_ns
    return run, obj.close


def run_kernel(frames: list[bytes]) -> tuple[dict[int, int], int, float] | str:
    """(retval counts, summed kernel ns, wall s), or the reason it cannot run."""
    import tempfile

    from pybpf.kernel import kernel_available

    ok, reason = kernel_available()
    if not ok:
        return reason
    with tempfile.TemporaryDirectory() as tmp:
        obj_path = Path(tmp) / "xdp_ddos.o"
        import pybpf

        obj_path.write_bytes(pybpf.compile(EXAMPLE))
        run, close = kernel_runner(obj_path)
        counts: dict[int, int] = {}
        total_ns = 0
        start = time.perf_counter()
        try:
            for frame in frames:
                retval, ns = run(frame)
                counts[retval] = counts.get(retval, 0) + 1
                total_ns += ns
        finally:
            close()
        return counts, total_ns, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--engine", default="interp", choices=("interp", "jit"))
    args = parser.parse_args(argv)

    frames = capture(args.packets)
    print(f"capture: {len(frames):,} packets, {sum(map(len, frames)):,} bytes (generated)")
    summary, seconds = run_pybpf(frames, args.engine)
    ours_ns = seconds * 1e9 / len(frames)
    print(f"pybpf {args.engine}: {len(frames) / seconds:,.0f} packets/s "
          f"({ours_ns:,.0f} ns/packet, {seconds:.2f} s); verdicts {summary.verdicts}")
    kernel = run_kernel(frames)
    if isinstance(kernel, str):
        print(f"kernel: skipped ({kernel})")
        return 0
    counts, kernel_ns, wall = kernel
    per_packet = kernel_ns / len(frames)
    names = {1: "XDP_DROP", 2: "XDP_PASS"}
    verdicts = {names.get(k, str(k)): v for k, v in counts.items()}
    print(f"kernel (BPF_PROG_TEST_RUN, JIT): {per_packet:,.0f} ns/packet in the program "
          f"({len(frames) / wall:,.0f} packets/s with one syscall each); verdicts {verdicts}")
    same = verdicts == summary.verdicts
    print(f"ratio pybpf / kernel time per packet: {ours_ns / per_packet:,.1f}x"
          f"  (verdicts {'agree' if same else 'DIFFER'})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
