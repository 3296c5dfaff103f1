"""trace_pipe lines: parsing the formats the kernel prints, and bpf_printk output from a
program read back through TracePipe (filtered by a marker: trace_pipe is global)."""

from __future__ import annotations

import os
import random
import time

import pytest

from events_support import PRINTK, XDP_PASS, emit
from pybpf.kernel.tracefs import TracePipe, parse_line, trace_pipe_lines, tracefs_root


@pytest.mark.parametrize("text, comm, pid, cpu, flags, ts, msg", [
    ("          python-4242    [001] ..s21 12345.678901: bpf_trace_printk: hello world\n",
     "python", 4242, 1, "..s21", 12345.678901, "hello world"),
    ("  <idle>-0       [000] d.h1.   1.000001: bpf_trace_printk: a: b: c",
     "<idle>", 0, 0, "d.h1.", 1.000001, "a: b: c"),
    ("  kworker/u8:2-123   (    123) [003] .... 77.5: bpf_trace_printk: tgid column",
     "kworker/u8:2", 123, 3, "....", 77.5, "tgid column"),
    ("my-prog name-77 [002] 5.25: bpf_trace_printk: no flags", "my-prog name", 77, 2, "",
     5.25, "no flags"),
    ("x-1 [000] .... 2.5: bpf_trace_printk: ", "x", 1, 0, "....", 2.5, ""),
])
def test_parse_line(text, comm, pid, cpu, flags, ts, msg) -> None:
    line = parse_line(text)
    assert line is not None
    assert (line.comm, line.pid, line.cpu, line.flags, line.timestamp, line.event,
            line.message) == (comm, pid, cpu, flags, ts, "bpf_trace_printk", msg)
    assert line.raw == text.rstrip("\n")


def test_parse_other_events_and_noise() -> None:
    line = parse_line("bash-5 [000] d..2. 9.0: sched_switch: prev_comm=bash ==> next")
    assert line is not None and line.event == "sched_switch"
    assert line.message == "prev_comm=bash ==> next"
    assert parse_line("CPU:1 [LOST 12 EVENTS]") is None
    assert parse_line("") is None


@pytest.mark.kernel
def test_bpf_printk_through_a_private_trace_pipe(obj) -> None:
    # A private tracefs instance: the global trace_pipe is shared with every other reader
    # (other tests, other engineers' tools), each line going to whoever reads first.
    cpu = max(os.sched_getaffinity(0))
    tag = random.getrandbits(32)
    marker = f"pybpf-events {tag} "
    with TracePipe(instance=True) as pipe:
        directory = pipe.instance_dir
        assert directory is not None and directory.parent == tracefs_root() / "instances"
        for length in (3, 4):
            assert emit(obj, PRINTK, bytes(length), tag=tag, cpu=cpu) == XDP_PASS
        got = []
        for line in pipe.lines(5.0, marker=marker):
            got.append(line)
            if len(got) == 2:
                break
    assert not directory.exists()                    # the instance went with the reader
    assert [line.message for line in got] == [f"{marker}len 3", f"{marker}len 4"]
    assert all(line.pid == os.getpid() and line.cpu == cpu for line in got)
    assert all(line.event == "bpf_trace_printk" for line in got)


@pytest.mark.kernel
def test_trace_pipe_lines_times_out(obj) -> None:
    marker = f"pybpf-events-never-{random.getrandbits(64)}"
    start = time.monotonic()
    assert list(trace_pipe_lines(0.1, marker=marker, instance=True)) == []
    assert 0.09 <= time.monotonic() - start < 2.0


@pytest.mark.kernel
def test_global_trace_pipe_opens_and_closes() -> None:
    pipe = TracePipe()                  # not read: that would take other readers' lines
    assert pipe.path == tracefs_root() and pipe.instance_dir is None
    pipe.close()
    pipe.close()
