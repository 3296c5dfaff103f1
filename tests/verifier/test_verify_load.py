"""``pybpf.load(..., verify=True)``: the userspace engines run pybpf's verifier first.

The interpreter and the JIT verify every program (as root) before loading and raise
:class:`pybpf.VerifierError` with the kernel's first error line when one is rejected;
``verify=False`` loads it anyway (to study what it does at run time). The kernel engine
is verified by the kernel, which must say the same thing. Callback helpers (bpf_loop)
are verified by visiting the callback until its states converge, as the kernel does.
"""

from __future__ import annotations

import pytest

import pybpf
from pybpf.engine import engine_available
from pybpf.verifier import verify

UNCHECKED = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int unchecked(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	return p[0] == 1 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""
UNCHECKED_ERROR = "invalid access to packet, off=0 size=1, R1(id=0,off=0,r=0)"

CALLBACKS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct acc { __u64 sum; __u32 stop; };

static long step(__u32 i, void *data)
{
	struct acc *a = data;
	a->sum += i;
	return i == a->stop ? 1 : 0;
}

SEC("xdp")
int loops(struct xdp_md *ctx)
{
	struct acc a = { .sum = 0, .stop = (ctx->data_end - ctx->data) % 5 };
	bpf_loop(10, step, &a, 0);
	return a.sum == 3 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""

BAD_CALLBACK = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static long bad_step(__u32 i, void *data)
{
	return 2;
}

SEC("xdp")
int bad_callback(struct xdp_md *ctx)
{
	__u64 x = 0;
	bpf_loop(4, bad_step, &x, 0);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""
BAD_CALLBACK_ERROR = ("At callback return the register R0 has smin=2 smax=2 should have "
                      "been in [0, 1]")


def _source(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def _engine(engine: str) -> None:
    ok, reason = engine_available(engine)
    if not ok:
        pytest.skip(reason)


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_load_rejects_what_the_verifier_rejects(tmp_path, engine):
    _engine(engine)
    path = _source(tmp_path, "unchecked.c", UNCHECKED)
    with pytest.raises(pybpf.VerifierError) as info:
        pybpf.load(path, engine=engine)
    assert info.value.error == UNCHECKED_ERROR
    assert info.value.insn == 1
    assert UNCHECKED_ERROR in info.value.log      # the level-1 log comes with it


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_verify_false_loads_it_anyway(tmp_path, engine):
    _engine(engine)
    path = _source(tmp_path, "unchecked.c", UNCHECKED)
    obj = pybpf.load(path, engine=engine, verify=False)
    frame = bytes([1]) + bytes(63)
    assert obj.programs["unchecked"].test_run(data=frame).retval == 1   # XDP_DROP


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_bpf_loop_callback_is_verified_and_runs(tmp_path, engine):
    _engine(engine)
    path = _source(tmp_path, "loops.c", CALLBACKS)
    res = verify(pybpf.open(path))["loops"]
    assert res.accepted, res.log
    obj = pybpf.load(path, engine=engine)
    # stop = 64 % 5 = 4: the callback adds 0..4
    assert obj.programs["loops"].test_run(data=bytes(64)).retval == 2     # XDP_PASS
    # stop = 62 % 5 = 2: 0 + 1 + 2 = 3
    assert obj.programs["loops"].test_run(data=bytes(62)).retval == 1     # XDP_DROP


def test_callback_return_range_is_checked(tmp_path):
    path = _source(tmp_path, "bad_cb.c", BAD_CALLBACK)
    res = verify(pybpf.open(path))["bad_callback"]
    assert not res.accepted
    assert res.error == BAD_CALLBACK_ERROR
    with pytest.raises(pybpf.VerifierError):
        pybpf.load(path)


@pytest.mark.kernel
@pytest.mark.parametrize("text,error", [(UNCHECKED, UNCHECKED_ERROR),
                                        (BAD_CALLBACK, BAD_CALLBACK_ERROR),
                                        (CALLBACKS, None)])
def test_the_kernel_engine_agrees(tmp_path, text, error):
    """The kernel engine never runs pybpf's verifier: the kernel's own gives the same
    first error line (or accepts too)."""
    path = _source(tmp_path, "prog.c", text)
    if error is None:
        pybpf.load(path, engine="kernel").close()
        return
    with pytest.raises(pybpf.VerifierError) as info:
        pybpf.load(path, engine="kernel")
    assert info.value.error == error
