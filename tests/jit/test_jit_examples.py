"""Every example over its capture in the interpreter and in the jit engine: the object
comparison harness (pybpf.testing.objects.compare_object) finds no difference in
verdicts, packets out, context out or maps."""

from __future__ import annotations

from pathlib import Path

import pytest

import jit_support  # noqa: F401  (skips without llvmlite)
import pybpf
from pybpf.env import Env
from pybpf.jit.engine import load as jit_load
from pybpf.net.pcap import read_packets
from pybpf.testing.objects import compare_object

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = {"xdp_ddos": "ddos", "lpm_firewall": "firewall", "tc_port_rewrite": "udp_ports",
            "socket_dns": "dns_mix", "syn_ringbuf": "syn", "tail_dispatch": "protocols"}


@pytest.fixture
def jit_engine(monkeypatch):
    """``engine="jit"`` through pybpf.load, until pybpf.engine routes it itself."""
    import pybpf.engine as engines
    from pybpf.engine import interp

    if engines.engine_available("jit")[0]:
        return
    original = engines.load_spec

    def load_spec(spec, engine="interp", **options):
        if engine != "jit":
            return original(spec, engine, **options)
        with monkeypatch.context() as m:   # the rodata handling stays load_spec's own
            m.setattr(interp, "load", jit_load)
            return original(spec, "interp", **options)

    monkeypatch.setattr(engines, "load_spec", load_spec)


@pytest.mark.parametrize("example", sorted(CAPTURES))
def test_interpreter_and_jit_agree(example, jit_engine):
    elf = pybpf.compile(ROOT / "examples" / f"{example}.c")
    packets = [p.data for p in read_packets(ROOT / "tests" / "data" / f"{CAPTURES[example]}.pcap")]
    for program in pybpf.open(elf).programs:
        result = compare_object(elf, program, packets, engines=("interp", "jit"), env=Env())
        assert result.agree, f"{example}/{program}:\n{result.report()}"
        assert len(result.runs) == len(packets)
        assert all(b.retval == a.retval for a, b in result.runs)


def test_jit_engine_object_is_jit(jit_engine):
    obj = pybpf.load(ROOT / "examples" / "xdp_ddos.c", engine="jit")
    with obj:
        assert obj.engine == "jit"
        prog = obj.programs["xdp_ddos"]
        assert prog.engine == "jit"
        assert type(prog.runner.machine).__name__ == "JitMachine"
