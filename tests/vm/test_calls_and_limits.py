"""bpf-to-bpf calls, callx, helpers, tail calls, the instruction budget and tracing."""

import pytest

from vm_support import I, lddw, run_prog
from pybpf.errors import BpfHelperError, BpfLimitError, BpfRuntimeError
from pybpf.vm import HelperRegistry, Machine, Memory, ProgramExit, TailCall


def test_local_call_fresh_frame_and_callee_saved_registers():
    prog = [
        I("mov64_imm", dst=6, imm=6), I("mov64_imm", dst=1, imm=5),
        I("st64", dst=10, off=-8, imm=111),              # caller's stack slot
        I("call_local", imm=3),                          # -> pc 7
        I("ldx64", dst=2, src=10, off=-8),               # unchanged by the callee
        I("add64_reg", dst=0, src=2),
        I("exit"),
        # callee at pc 7: r0 = r1 * 2, clobbers r6 and its own stack
        I("st64", dst=10, off=-8, imm=999), I("mov64_imm", dst=6, imm=0),
        I("mov64_reg", dst=0, src=1), I("mul64_imm", dst=0, imm=2), I("exit"),
    ]
    result = run_prog(*prog)
    assert result.r0 == 10 + 111
    assert result.regs[6] == 6


def test_call_depth_limit_is_eight_frames():
    def chain(depth):
        prog = []
        for i in range(depth - 1):
            prog.append(I("call_local", imm=1))
            prog.append(I("exit"))
        prog += [I("mov64_imm", dst=0, imm=42), I("exit")]
        return prog
    assert run_prog(*chain(8)).r0 == 42
    with pytest.raises(BpfLimitError, match="call depth exceeds 8 frames"):
        run_prog(*chain(9))


def test_combined_stack_limit():
    # main uses 256 bytes, the callee 288: 544 > 512 combined.
    prog = [I("st64", dst=10, off=-256, imm=1), I("call_local", imm=1), I("exit"),
            I("st64", dst=10, off=-288, imm=1), I("mov64_imm", dst=0, imm=0), I("exit")]
    with pytest.raises(BpfLimitError, match="combined stack size 544"):
        run_prog(*prog)


def test_callx_to_pseudo_func_address_and_helper_id():
    helpers = HelperRegistry()
    helpers.helper(5, "five")(lambda call, *a: 5)
    prog = [I("lddw_func", dst=2, imm=5),                # function at pc 0 + 1 + 5 = 6
            I("callx", dst=2),
            I("mov64_imm", dst=3, imm=5), I("callx", dst=3), I("exit"),
            I("mov64_imm", dst=0, imm=77), I("exit")]
    m = Machine(prog, helpers=helpers)
    assert m.run().r0 == 5
    prog2 = [I("lddw_func", dst=2, imm=3), I("callx", dst=2), I("exit"),
             I("mov64_imm", dst=0, imm=77), I("exit")]
    assert Machine(prog2, helpers=helpers).run().r0 == 77


def test_helper_registry_and_unknown_helper():
    helpers = HelperRegistry()

    @helpers.helper(1, "add_args")
    def add_args(call, r1, r2, r3, r4, r5):
        assert call.pc == 2
        return r1 + r2

    prog = [I("mov64_imm", dst=1, imm=40), I("mov64_imm", dst=2, imm=2), I("call", imm=1), I("exit")]
    assert Machine(prog, helpers=helpers).run().r0 == 42
    with pytest.raises(BpfHelperError, match="unknown helper #12: not implemented") as info:
        Machine([I("call", imm=12), I("exit")], helpers=helpers).run()
    assert info.value.pc == 0
    # The kernel's registry names an unknown id as the kernel does.
    with pytest.raises(BpfHelperError, match="unknown helper 35 \\(bpf_get_current_task\\)"):
        Machine([I("call", imm=35), I("exit")]).run()


def test_helper_result_truncated_to_64_bits():
    helpers = HelperRegistry()
    helpers.helper(7, "neg")(lambda call, *a: -2)
    assert Machine([I("call", imm=7), I("exit")], helpers=helpers).run().r0 == (1 << 64) - 2


def test_program_exit_from_helper():
    helpers = HelperRegistry()

    @helpers.helper(5, "unwind")
    def unwind(call, r1, *rest):
        if r1 == 0:
            raise ProgramExit(0)
        return r1
    prog = [I("mov64_imm", dst=1, imm=0), I("call", imm=5), I("mov64_imm", dst=0, imm=2), I("exit")]
    assert Machine(prog, helpers=helpers).run().r0 == 0


def test_tail_calls_chain_and_limit():
    memory = Memory()
    helpers = HelperRegistry()
    targets = {}

    @helpers.helper(12, "tail_call")
    def tail_call(call, r1, r2, r3, *rest):
        if call.tail_calls >= 33 or r3 not in targets:
            return 0                        # the kernel falls through on failure
        raise TailCall(targets[r3])

    # Program 1 tail-calls itself while it can, counting in its ctx (memory at r1).
    prog = [I("mov64_reg", dst=6, src=1), I("ldx64", dst=2, src=1), I("add64_imm", dst=2, imm=1),
            I("stx64", dst=1, src=2), I("mov64_imm", dst=3, imm=1), I("call", imm=12),
            I("ldx64", dst=0, src=6), I("exit")]
    m = Machine(prog, helpers=helpers, memory=memory)
    targets[1] = m
    result = m.run(mem=bytes(8))
    assert result.r0 == 34                  # the first run plus 33 tail calls


def test_budget_stops_infinite_loop():
    with pytest.raises(BpfLimitError, match="instruction budget of 1000 exhausted"):
        run_prog(I("ja", off=-1), budget=1000)


def test_budget_none_means_no_bound():
    prog = [lddw(1, 2_000_000), I("sub64_imm", dst=1, imm=1), I("jne_imm", dst=1, off=-2),
            I("mov64_imm", dst=0, imm=1), I("exit")]
    assert run_prog(*prog, budget=None).executed == 1 + 2 * 2_000_000 + 2


def test_falling_off_the_end_and_bad_jumps():
    with pytest.raises(BpfRuntimeError, match="fell off the end"):
        run_prog(I("mov64_imm", dst=0, imm=1))
    with pytest.raises(BpfRuntimeError, match="jump out of range"):
        run_prog(I("ja", off=5), I("exit"))
    with pytest.raises(BpfRuntimeError, match="middle of lddw"):
        run_prog(I("ja", off=1), lddw(0, 1), I("exit"))


def test_trace_records_each_step_and_changed_registers():
    pytest.importorskip("pybpf.asm.llvm")
    prog = [I("mov64_imm", dst=0, imm=1), I("add64_imm", dst=0, imm=2), I("exit")]
    result = Machine(prog).run(trace=True)
    assert [s.pc for s in result.trace] == [0, 1, 2]
    assert result.trace[0].changed == {0: 1}
    assert result.trace[1].changed == {0: 3}
    assert result.trace[1].text == "r0 += 0x2"
    assert result.r0 == 3
