"""Run a packet program over every frame of a capture and sort the frames by verdict.

What happens to a frame depends on the program type, as it would on a real link:

- XDP: ``XDP_PASS`` frames, as the program left them, go to the output capture;
  ``XDP_TX`` / ``XDP_REDIRECT`` frames go to a capture per interface (``out.pcap`` ->
  ``out.if3.pcap``, by the ifindex the engine reports; ``out.tx.pcap`` /
  ``out.redirect.pcap`` when it reports none); ``XDP_DROP`` / ``XDP_ABORTED`` and
  unknown actions are dropped.
- tc (sched_cls / sched_act): ``TC_ACT_SHOT``, ``STOLEN``, ``QUEUED`` and ``TRAP`` drop,
  ``TC_ACT_REDIRECT`` goes per interface, everything else (OK, PIPE, UNSPEC,
  RECLASSIFY, ...) continues to the output.
- socket filter: the return value is how many bytes to keep, counted from the network
  header (where the program's offset 0 is); 0 drops. The runner applies the cut to the
  frame as captured (test_run gives the packet back whole, its L2 header zeroed) and
  records the wire length in the capture.
- cgroup skb: bit 0 of the return value allows (1) or drops (0) the packet.

The engine does not matter here: packets go through :func:`pybpf.net.batch.run_batch`
(native batches in the jit engine, ``test_run`` per packet elsewhere).
"""

from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pybpf.errors import BpfError, PacketRunError
from pybpf.isa.uapi import ProgType
from pybpf.net.batch import (BatchResult, PacketBatch, capture_clocks, indices_of, run_batch,
                             verdict_counts)
from pybpf.net.pcap import LINKTYPE_ETHERNET, CaptureWriter, Packet, interface_path

ETH_HLEN = 14


class Fate(enum.Enum):
    OUT = "out"              # continues: written to the output capture
    DROP = "drop"            # dropped (or consumed) here
    INTERFACE = "interface"  # sent to another (or the same) interface


_XDP = {0: ("XDP_ABORTED", Fate.DROP), 1: ("XDP_DROP", Fate.DROP),
        2: ("XDP_PASS", Fate.OUT), 3: ("XDP_TX", Fate.INTERFACE),
        4: ("XDP_REDIRECT", Fate.INTERFACE)}
_TC = {0xFFFFFFFF: ("TC_ACT_UNSPEC", Fate.OUT), 0: ("TC_ACT_OK", Fate.OUT),
       1: ("TC_ACT_RECLASSIFY", Fate.OUT), 2: ("TC_ACT_SHOT", Fate.DROP),
       3: ("TC_ACT_PIPE", Fate.OUT), 4: ("TC_ACT_STOLEN", Fate.DROP),
       5: ("TC_ACT_QUEUED", Fate.DROP), 6: ("TC_ACT_REPEAT", Fate.OUT),
       7: ("TC_ACT_REDIRECT", Fate.INTERFACE), 8: ("TC_ACT_TRAP", Fate.DROP)}
_CGROUP_SKB = {0: ("DROP", Fate.DROP), 1: ("PASS", Fate.OUT),
               2: ("DROP_CN", Fate.DROP), 3: ("PASS_CN", Fate.OUT)}

# The program types whose verdicts say what happens to a packet, by short name.
RUNNABLE = {ProgType.XDP: "xdp", ProgType.SCHED_CLS: "tc", ProgType.SCHED_ACT: "tc",
            ProgType.SOCKET_FILTER: "socket", ProgType.CGROUP_SKB: "cgroup_skb"}


def is_runnable(prog_type: int) -> bool:
    """Whether :func:`run_capture` knows what this program type's verdicts mean."""
    return prog_type in RUNNABLE


def _verdict_names(prog_type: int, table: dict[int, tuple[str, Fate]]) -> dict[int, str]:
    """Return-code names from the program-type table where it has them, else ours."""
    names = {code: name for code, (name, _) in table.items()}
    try:
        from pybpf.vm.progtypes import program_type
        names.update(program_type(prog_type).return_codes)
    except Exception:   # the table is optional here; our names are the same ones
        pass
    return names


def verdict(prog_type: int, retval: int, l3_len: int) -> tuple[str, Fate, int | None]:
    """(name, fate, bytes to keep from the network header or None for all) of a return
    value; ``l3_len`` is the packet's length from its network header."""
    kind = RUNNABLE.get(prog_type)
    retval &= 0xFFFFFFFF
    if kind == "socket":
        if retval == 0:
            return "DROP", Fate.DROP, None
        if retval >= l3_len:
            return "KEEP", Fate.OUT, None
        return "TRUNCATE", Fate.OUT, retval
    table = {"xdp": _XDP, "tc": _TC, "cgroup_skb": _CGROUP_SKB}.get(kind or "")
    if table is None:
        raise BpfError(f"program type {_type_name(prog_type)} has no packet verdicts; "
                       f"pybpf runs captures through xdp, tc, socket filter and cgroup skb "
                       f"programs")
    if retval in table:
        name, fate = table[retval]
        return name, fate, None
    if kind == "tc":        # the kernel lets unknown tc actions continue
        return f"TC_ACT_{retval:#x}", Fate.OUT, None
    if kind == "cgroup_skb":
        return f"RET_{retval:#x}", Fate.DROP, None
    return f"XDP_{retval:#x}", Fate.DROP, None   # an invalid XDP action aborts


def _type_name(prog_type: int) -> str:
    try:
        return ProgType(prog_type).name.lower()
    except ValueError:
        return str(prog_type)


@dataclass
class CaptureSummary:
    """What a run over a capture did: packets and bytes in, verdicts, packets written."""

    program: str
    prog_type: str
    engine: str = ""
    packets: int = 0
    bytes: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    written: int = 0          # packets written to the output capture
    dropped: int = 0
    interfaces: dict[str, int] = field(default_factory=dict)   # "if3" -> packets sent
    outputs: dict[str, int] = field(default_factory=dict)      # path -> packets written
    elapsed_s: float = 0.0    # wall time of the whole run, reading and writing included
    program_ns: int = 0       # the engine's own time for the runs (test_run duration)

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"program": self.program, "prog_type": self.prog_type, "engine": self.engine,
                "packets": self.packets, "bytes": self.bytes, "verdicts": dict(self.verdicts),
                "written": self.written, "dropped": self.dropped,
                "interfaces": dict(self.interfaces), "outputs": dict(self.outputs),
                "elapsed_s": self.elapsed_s, "packets_per_second": self.packets_per_second,
                "program_ns": self.program_ns}


class _Outputs:
    """The output capture and the per-interface ones, opened when first needed: pcap
    files with ``header`` (the capture's, when it is a mapped pcap file: its records can
    then be copied as they are) or pcap's usual one, or pcapng by the name."""

    def __init__(self, out: str | os.PathLike | None, per_interface_dir: str | os.PathLike | None,
                 linktype: int, header: bytes | None = None):
        self.out = out
        self.dir = per_interface_dir
        self.linktype = linktype
        self.header = header
        self.writers: dict[str, CaptureWriter] = {}
        self.main: CaptureWriter | None = None
        if out is not None:
            self.main = self._open(Path(out))

    def _open(self, path: Path) -> CaptureWriter:
        key = str(path)
        if key not in self.writers:
            header = self.header if not key.endswith(".pcapng") else None
            self.writers[key] = CaptureWriter(path, self.linktype, header=header)
        return self.writers[key]

    def interface(self, tag: str) -> CaptureWriter | None:
        if self.out is not None:
            path = interface_path(self.out, tag)
            if self.dir is not None:
                path = Path(self.dir) / path.name
        elif self.dir is not None:
            path = Path(self.dir) / f"{tag}.pcap"
        else:
            return None
        return self._open(path)

    def close(self) -> dict[str, int]:
        counts = {}
        for path, writer in self.writers.items():
            writer.close()
            counts[path] = writer.written
        return counts


BATCH = 4096       # packets run per batch
PCAP_BATCH = 1 << 16   # ... of a PacketBatch (its packets need no copying to batch them)


def _batches(packets: Iterable[Packet | bytes] | PacketBatch) -> Iterator[PacketBatch]:
    """The packets in batches of Ethernet frames (another link type is an error)."""
    if isinstance(packets, PacketBatch):
        if packets.linktype != LINKTYPE_ETHERNET:
            raise BpfError(f"packet 0: link type {packets.linktype}: programs run on "
                           f"Ethernet frames (link type {LINKTYPE_ETHERNET})")
        for start in range(0, len(packets), PCAP_BATCH):
            yield packets.slice(start, start + PCAP_BATCH)
        return
    chunk: list[Packet] = []
    for index, item in enumerate(packets):
        packet = item if isinstance(item, Packet) else Packet(bytes(item), index=index)
        if packet.linktype != LINKTYPE_ETHERNET:
            raise BpfError(f"packet {index}: link type {packet.linktype}: programs run "
                           f"on Ethernet frames (link type {LINKTYPE_ETHERNET})")
        chunk.append(packet)
        if len(chunk) == BATCH:
            yield PacketBatch.of(chunk)
            chunk = []
    if chunk:
        yield PacketBatch.of(chunk)


def _sort(summary: "CaptureSummary", outputs: "_Outputs", names: dict[int, str],
          prog_type: int, batch: PacketBatch, results: BatchResult, i: int) -> None:
    """Where packet ``i`` of a batch goes after its verdict."""
    length = batch.lengths[i]
    retval = results.verdicts[i]
    summary.packets += 1
    summary.bytes += length
    name, fate, keep = verdict(prog_type, retval, length - ETH_HLEN)
    name = names.get(retval, name) if summary.prog_type in ("xdp", "tc") else name
    summary.verdicts[name] = summary.verdicts.get(name, 0) + 1
    if fate is Fate.DROP:
        summary.dropped += 1
    elif fate is Fate.OUT:
        summary.written += 1
        if outputs.main is not None:
            data, orig = _packet(summary, batch, results, i)
            if keep is not None:     # socket filter: keep the L2 header + keep bytes
                orig = max(len(data), batch.orig_lengths[i])
                data = data[:ETH_HLEN + keep]
            outputs.main.write(data, batch.ts_ns[i], orig)
    else:
        _send(summary, outputs, name, batch, results, i)


def _packet(summary: "CaptureSummary", batch: PacketBatch, results: BatchResult,
            i: int) -> tuple[bytes, int | None]:
    """Packet ``i`` as it continues, and its wire length (the captured one, while the
    program kept its length; else its own)."""
    data = results.data(i) if summary.prog_type in ("xdp", "tc") else None
    if data is None:
        # Only XDP and tc may rewrite packets. Socket and cgroup programs read them,
        # and the kernel's test_run hands their frame back with the L2 header zeroed,
        # so the frame as captured is the one that continues.
        data = batch.packet(i)
    return data, batch.orig_lengths[i] if len(data) == batch.lengths[i] else None


def _send(summary: "CaptureSummary", outputs: "_Outputs", name: str, batch: PacketBatch,
          results: BatchResult, i: int) -> None:
    """Packet ``i`` (verdict ``name``, counted) to the interface its verdict chose."""
    ifindex = results.redirects.get(i)
    tag = (f"if{ifindex}" if ifindex is not None else
           "tx" if name.endswith("TX") else "redirect")
    summary.interfaces[tag] = summary.interfaces.get(tag, 0) + 1
    writer = outputs.interface(tag)
    if writer is not None:
        data, orig = _packet(summary, batch, results, i)
        writer.write(data, batch.ts_ns[i], orig)


def _sort_batch(summary: "CaptureSummary", outputs: "_Outputs", names: dict[int, str],
                prog_type: int, batch: PacketBatch, results: BatchResult) -> bool:
    """Sort a whole batch at once where its verdicts allow (False: packet by packet):
    verdicts counted at C speed, the packets that continue copied into the output as
    pcap records in native code (all of one verdict, as the program left them, the
    output's format the capture's), only those sent to interfaces one by one. A socket
    filter's verdict depends on each packet's length: it goes packet by packet."""
    if summary.prog_type == "socket":
        return False
    completed = results.completed
    verdicts = results.verdicts if completed == len(results.verdicts) else \
        results.verdicts[:completed]
    counts = verdict_counts(verdicts)
    fates = {v: verdict(prog_type, v, 0) for v in counts}
    out_values = [v for v in counts if fates[v][1] is Fate.OUT]
    main = outputs.main
    if main is not None and out_values:
        copied = len(out_values) == 1 and main.copies_records and \
            (results.unchanged or results.out is not None) and \
            not any(results.verdicts[i] == out_values[0] for i in results.changed)
        if not copied:
            return False
    summary.packets += completed
    summary.bytes += sum(batch.lengths[:completed]) if completed < len(batch) else \
        sum(batch.lengths)
    sent = []
    for value, n in counts.items():
        name, fate, _ = fates[value]
        name = names.get(value, name) if summary.prog_type in ("xdp", "tc") else name
        summary.verdicts[name] = summary.verdicts.get(name, 0) + n
        if fate is Fate.DROP:
            summary.dropped += n
        elif fate is Fate.OUT:
            summary.written += n
        else:
            sent += [(i, name) for i in indices_of(verdicts, value)]
    if main is not None and out_values:
        main.append_records(lambda write: batch.write_records(
            write, verdicts, out_values[0], completed,
            None if results.unchanged else results))
    for i, name in sorted(sent):
        _send(summary, outputs, name, batch, results, i)
    return True


def run_capture(prog: Any, packets: Iterable[Packet | bytes] | PacketBatch, *,
                out: str | os.PathLike | None = None,
                per_interface_dir: str | os.PathLike | None = None,
                progress: Callable[[int], None] | None = None,
                progress_every: int = 256, capture_clock: bool = True) -> CaptureSummary:
    """Run ``prog`` (a loaded program: ``.name``, ``.type``, ``.test_run``) once per
    packet and write the packets that continue to ``out``, and those sent to another
    interface to one capture per interface beside it (or in ``per_interface_dir``).

    ``packets`` are :class:`~pybpf.net.pcap.Packet` (Ethernet frames) or plain bytes, or
    a :class:`~pybpf.net.batch.PacketBatch` (:meth:`PacketBatch.from_pcap`: a mapped pcap
    file, whose records the outputs then copy as they are, in native code, wherever the
    program left its packets as they came: the files get its header, byte order and
    clock). ``progress(n)`` is called with the packets done so far every
    ``progress_every`` packets and at the end. With ``capture_clock`` (and an engine
    whose clock pybpf sets, i.e. the program has an ``env``), ``bpf_ktime_get_ns``
    follows the capture: the Env's clock plus the time since the first packet, so rate
    limits see the real spacing of the traffic.
    """
    env = getattr(prog, "env", None) if capture_clock else None
    clock_base = env.clock_ns if env is not None else 0
    first_ts: int | None = None
    prog_type = int(prog.type)
    if not is_runnable(prog_type):
        verdict(prog_type, 0, 0)   # raises the explanation
    summary = CaptureSummary(program=prog.name, prog_type=RUNNABLE[prog_type],
                             engine=str(getattr(prog, "engine", "")))
    names = _verdict_names(prog_type, _XDP if summary.prog_type == "xdp" else
                           _TC if summary.prog_type == "tc" else {})
    outputs: _Outputs | None = None
    start = time.perf_counter()
    try:
        for batch in _batches(packets):
            if outputs is None:
                outputs = _Outputs(out, per_interface_dir, batch.linktype, batch.pcap_header)
            clocks = None
            if env is not None:
                if first_ts is None:       # the first time known (0: unknown), found in C
                    raw = batch.ts_ns.tobytes()
                    at = (len(raw) - len(raw.lstrip(b"\0"))) // batch.ts_ns.itemsize
                    first_ts = batch.ts_ns[at] if at < len(batch.ts_ns) else None
                if first_ts is not None:
                    clocks = capture_clocks(batch, clock_base, first_ts)
            done = summary.packets
            results = run_batch(prog, batch, clocks=clocks, partial=True)
            summary.program_ns += results.duration_ns
            if not _sort_batch(summary, outputs, names, prog_type, batch, results):
                for i in range(results.completed):
                    _sort(summary, outputs, names, prog_type, batch, results, i)
            if progress is not None:
                every = progress_every
                for n in range((done // every + 1) * every, summary.packets + 1, every):
                    progress(n)
            if results.error is not None:   # the packets before it are written
                raise PacketRunError(done + results.error.index, results.error.cause)
    finally:
        if outputs is None and out is not None:   # an empty capture still gives an output
            outputs = _Outputs(out, per_interface_dir, LINKTYPE_ETHERNET)
        if outputs is not None:
            summary.outputs = outputs.close()
        summary.elapsed_s = time.perf_counter() - start
    if progress is not None:
        progress(summary.packets)
    return summary
