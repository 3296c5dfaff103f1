"""pybpf's pytest plugin (registered through the ``pytest11`` entry point).

``bpf_engines`` runs a test once per engine, passing the engine's name; an engine this
machine cannot run skips with the reason (the kernel one without root, say)::

    def test_drops_udp(bpf_engines):
        obj = pybpf.load("prog.c", engine=bpf_engines)
        assert obj.programs["xdp_prog"].test_run(data=udp_packet).retval == 1
"""

from __future__ import annotations

import pytest

from pybpf.engine import ENGINES, engine_available


@pytest.fixture(params=ENGINES)
def bpf_engines(request: pytest.FixtureRequest) -> str:
    """The name of each engine in turn: ``interp``, ``jit``, ``kernel``."""
    ok, reason = engine_available(request.param)
    if not ok:
        pytest.skip(f"engine {request.param!r}: {reason}")
    return request.param
