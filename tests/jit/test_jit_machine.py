"""JitMachine beyond the interpreter's own tests: context regions through Python, the
region table changing under a run, helpers that fail in every way, packet views, the
compile cache, and faults that must come back as the interpreter's errors (never a
crash)."""

from __future__ import annotations

import pytest

from jit_support import MACHINES, without_addresses
from pybpf.errors import BpfError, BpfHelperError, BpfMemoryError, BpfRuntimeError
from pybpf.isa import Instruction
from pybpf.jit import JitMachine, backend
from pybpf.jit.fuzz import outcome
from pybpf.vm import HelperRegistry, Machine, Memory, ProgramExit, Region
from pybpf.vm.memory import FieldAccess

I = Instruction.make
M64 = (1 << 64) - 1


def lddw(reg: int, value: int) -> Instruction:
    return I("lddw", dst=reg, imm=value & M64)


class Fields(FieldAccess):
    """A context whose 4-byte field at 0 reads as a 64-bit value and at 8 is read-only."""

    def __init__(self) -> None:
        self.stored: dict[int, int] = {}
        self.log: list[tuple] = []

    def load(self, offset: int, size: int, pc: int | None) -> int:
        self.log.append(("load", offset, size, pc))
        if offset == 0:
            return 0x1122334455667788             # wider than the access, as ctx rewrites are
        if offset == 12:
            return 0xFFFF_FF80                    # sign-extends when loaded signed
        return self.stored.get(offset, 0)

    def store(self, offset: int, size: int, value: int, pc: int | None) -> None:
        self.log.append(("store", offset, size, value, pc))
        if offset == 8:
            raise BpfMemoryError(f"write to read-only ctx field at {offset}", pc)
        self.stored[offset] = value


def run_ctx(cls: type, *insns: Instruction) -> tuple:
    memory = Memory()
    fields = Fields()
    ctx = memory.add(Region("ctx", 32, kind="ctx", access=fields))
    try:
        r = cls(list(insns), memory=memory).run(ctx.address)
    except BpfError as e:
        return ("error", type(e).__name__, without_addresses(str(e)), fields.log)
    return ("ok", r.r0, fields.log)


@pytest.mark.parametrize("prog", [
    [I("ldx32", dst=0, src=1, off=0), I("exit")],
    [I("ldxs32", dst=0, src=1, off=12), I("exit")],
    [I("ldxs8", dst=0, src=1, off=12), I("exit")],
    [I("st32", dst=1, off=4, imm=-2), I("ldx32", dst=0, src=1, off=4), I("exit")],
    [I("mov64_imm", dst=2, imm=5), I("stx16", dst=1, src=2, off=16), I("ldx64", dst=0, src=1, off=16),
     I("exit")],
    [I("st32", dst=1, off=8, imm=1), I("exit")],                     # the field refuses
    [I("mov64_imm", dst=2, imm=3), I("atomic64_fetch_add", dst=1, src=2, off=16),
     I("atomic64_fetch_add", dst=1, src=2, off=16), I("mov64_reg", dst=0, src=2), I("exit")],
    [I("mov64_imm", dst=0, imm=0), I("mov64_imm", dst=2, imm=9),
     I("atomic32_cmpxchg", dst=1, src=2, off=20), I("ldx32", dst=0, src=1, off=20), I("exit")],
    [I("ldx64", dst=0, src=1, off=28), I("exit")],                   # runs off the region
    [I("ldx32", dst=0, src=1, off=0), I("ldx32", dst=0, src=1, off=0), I("exit")],
])
def test_context_regions_go_through_field_access(prog):
    assert run_ctx(JitMachine, *prog) == run_ctx(Machine, *prog)


class PureFields(Fields):
    """Fields whose loads depend only on stores and helpers: the JIT may remember them."""

    pure_loads = True


def test_remembered_context_loads_are_asked_again_after_python_ran():
    """Native code answers a repeated load of a pure context from its view; a store, a
    helper and a new run make it ask Python again, so the values stay the interpreter's."""
    helpers = HelperRegistry()

    @helpers.helper(1, "bump")
    def bump(call, *args):
        fields.stored[4] = fields.stored.get(4, 0) + 1
        return 0

    prog = [I("mov64_reg", dst=6, src=1),
            I("ldx32", dst=0, src=6, off=4), I("ldx32", dst=0, src=6, off=4),
            I("ldx16", dst=2, src=6, off=4), I("ldx16", dst=2, src=6, off=4),
            I("call", imm=1), I("ldx32", dst=3, src=6, off=4), I("ldx32", dst=3, src=6, off=4),
            I("st32", dst=6, off=4, imm=7), I("ldx32", dst=4, src=6, off=4),
            I("ldx32", dst=4, src=6, off=4), I("add64_reg", dst=0, src=3),
            I("add64_reg", dst=0, src=4), I("exit")]
    memory = Memory()
    fields = PureFields()
    ctx = memory.add(Region("ctx", 32, kind="ctx", access=fields))
    machine = JitMachine(prog, helpers=helpers, memory=memory)
    assert machine.run(ctx.address).r0 == 0 + 1 + 7
    loads = [entry[1:3] for entry in fields.log if entry[0] == "load"]
    assert loads == [(4, 4), (4, 2), (4, 4), (4, 4)]
    fields.log.clear()
    machine.run(ctx.address)
    assert [entry[1:3] for entry in fields.log if entry[0] == "load"][:2] == [(4, 4), (4, 2)]


class RefusingFields(PureFields):
    """Pure fields whose loads fail once ``refuse`` is set."""

    refuse = False

    def load(self, offset: int, size: int, pc: int | None) -> int:
        if self.refuse:
            raise BpfMemoryError(f"load of {size} at {offset} refused", pc)
        return super().load(offset, size, pc)


def test_a_run_starts_with_the_context_loads_the_runs_before_made():
    """The loads of its context a run made through Python are asked at the start of the
    next (pc None) and answered natively, with the values of that run; one refused then
    is left to the program's own load, which fails as in the interpreter."""
    prog = [I("ldx32", dst=0, src=1, off=4), I("ldx16", dst=2, src=1, off=4),
            I("add64_reg", dst=0, src=2), I("exit")]
    outcomes = {}
    for name, cls in MACHINES.items():
        memory, fields = Memory(), RefusingFields()
        ctx = memory.add(Region("ctx", 32, kind="ctx", access=fields))
        machine = cls(prog, memory=memory)
        results = []
        for stored, refuse in ((5, False), (7, False), (7, True)):
            fields.stored[4], fields.refuse = stored, refuse
            fields.log.clear()
            try:
                results.append(machine.run(ctx.address).r0)
            except BpfError as e:
                results.append((type(e).__name__, without_addresses(str(e)), e.pc))
            results.append(sorted(entry[1:] for entry in fields.log))
        outcomes[name] = results
    assert outcomes["jit"][:2] == outcomes["interp"][:2] == [10, [(4, 2, 1), (4, 4, 0)]]
    assert outcomes["jit"][2] == outcomes["interp"][2] == 14
    assert outcomes["jit"][3] == [(4, 2, None), (4, 4, None)]       # asked ahead
    assert outcomes["jit"][4] == outcomes["interp"][4]                # the program's error
    assert outcomes["jit"][4][2] == 0


def test_region_added_and_removed_by_a_helper_during_the_run():
    """A helper's new region is addressable at once; one it removes faults at once, even
    when native code had it as the last region hit."""
    for cls in MACHINES.values():
        memory = Memory()
        helpers = HelperRegistry()
        made: list[Region] = []

        @helpers.helper(1, "make")
        def make(call, *args):
            made.append(call.memory.add(Region("extra", bytes(range(16)))))
            return made[-1].address

        @helpers.helper(2, "drop")
        def drop(call, *args):
            call.memory.remove(made.pop())
            return 0

        prog = [I("call", imm=1), I("mov64_reg", dst=6, src=0), I("ldx64", dst=7, src=6, off=8),
                I("stx64", dst=6, src=7, off=0), I("ldx64", dst=7, src=6, off=0),
                I("call", imm=2), I("ldx64", dst=0, src=6, off=0), I("exit")]
        m = cls(prog, helpers=helpers, memory=memory)
        with pytest.raises(BpfMemoryError, match="instruction 6: out-of-bounds read of 8"):
            m.run()


def test_helper_errors_unwind_cleanly():
    class Boom(Exception):
        pass

    helpers = HelperRegistry()

    @helpers.helper(1, "boom")
    def boom(call, r1, *args):
        if r1 == 1:
            raise Boom("from the helper")
        if r1 == 2:
            raise ProgramExit(0x1234)
        if r1 == 3:
            raise BpfHelperError("helper refused", call.pc)
        return r1 * 2

    def prog(r1: int) -> list[Instruction]:
        # the helper is called from a bpf-to-bpf function two frames down
        return [I("call_local", imm=2), I("add64_imm", dst=0, imm=1), I("exit"),
                I("call_local", imm=1), I("exit"),
                I("mov64_imm", dst=1, imm=r1), I("call", imm=1), I("exit")]

    m = JitMachine(prog(1), helpers=helpers)
    with pytest.raises(Boom, match="from the helper"):
        m.run()
    assert JitMachine(prog(2), helpers=helpers).run().r0 == 0x1234
    assert JitMachine(prog(2), helpers=helpers).run().regs is None
    with pytest.raises(BpfHelperError, match="instruction 6: helper refused"):
        JitMachine(prog(3), helpers=helpers).run()
    assert JitMachine(prog(7), helpers=helpers).run().r0 == 15
    # The machine is still usable after each failure.
    with pytest.raises(Boom):
        m.run()


@pytest.mark.parametrize("packet,expected", [
    (bytes([0, 1, 0x12, 0x34, 0x56]), 0x1234 + 0x01),
    (bytes([0, 1, 0x12]), 0),                 # ldabs16 at 2 runs off: ends with 0
    (None, 0),                                # no packet at all
])
def test_packet_loads_native_and_not(packet, expected):
    prog = [I("ldabs16", imm=2), I("mov64_reg", dst=6, src=0), I("ldind8", src=7, imm=1),
            I("add64_reg", dst=0, src=6), I("exit")]
    for cls in MACHINES.values():
        assert cls(prog).run(packet=packet).r0 == expected


def test_packet_views_and_negative_offsets_go_to_python():
    class View(Region):
        """A packet that also answers loads relative to a header (SKF_NET_OFF)."""

        def read_relative(self, offset: int, size: int) -> bytes | None:
            return bytes([0xAB] * size) if offset >= -0x100000 else None

    prog = [I("ldabs8", imm=-0x100000 + 3), I("mov64_reg", dst=6, src=0), I("ldabs16", imm=1),
            I("add64_reg", dst=0, src=6), I("exit")]
    results = []
    for cls in MACHINES.values():
        view = View("pkt", bytes([1, 2, 3, 4]), writable=False, kind="packet")
        results.append(cls(prog).run(packet=view).r0)
        # a plain packet does not resolve relative offsets: the program ends with 0
        results.append(cls(prog).run(packet=bytes([1, 2, 3, 4])).r0)
    assert results == [0xAB + 0x0203, 0] * 2


def test_compile_cache_reuses_code_for_the_same_program():
    prog = [I("mov64_imm", dst=0, imm=0x5eed), I("exit")]
    first = JitMachine(prog)
    size = backend.cache_size()
    second = JitMachine(list(prog))
    assert second.compiled is first.compiled
    assert backend.cache_size() == size
    # Different constants (other maps) share the code too: they are read at run time.
    third = JitMachine([I("lddw_map_fd", dst=0, imm=0), I("exit")], constants={0: 7})
    fourth = JitMachine([I("lddw_map_fd", dst=0, imm=0), I("exit")], constants={0: 9})
    assert third.compiled is fourth.compiled
    assert (third.run().r0, fourth.run().r0) == (7, 9)


@pytest.mark.parametrize("prog", [
    [lddw(1, 0), I("ldx64", dst=0, src=1), I("exit")],                              # null
    [lddw(1, 0xFFFF_FFFF_FFFF_FFFC), I("ldx64", dst=0, src=1), I("exit")],          # wraps
    [lddw(1, 0x8000_0000_0000_0000), I("stx8", dst=1, src=1), I("exit")],
    [I("ldx64", dst=0, src=1, off=60), I("exit")],                                  # partial
    [I("st64", dst=1, off=-8, imm=1), I("exit")],                                   # before
    [I("mov64_reg", dst=2, src=10), I("ldx64", dst=0, src=2, off=8), I("exit")],    # past r10
    [I("mov64_reg", dst=2, src=10), I("atomic64_add", dst=2, src=1, off=-516), I("exit")],
    [I("mov64_imm", dst=0, imm=1), I("div64_imm", dst=0, imm=0), I("exit")],
    [I("mov64_imm", dst=0, imm=1), I("mov64_imm", dst=2, imm=0), I("mod32_reg", dst=0, src=2),
     I("exit")],
    [lddw(0, 1 << 63), I("mov64_imm", dst=2, imm=-1), I("sdiv64_reg", dst=0, src=2), I("exit")],
    [lddw(0, 1 << 63), I("mov64_imm", dst=2, imm=-1), I("smod64_reg", dst=0, src=2), I("exit")],
    [I("mov64_imm", dst=10, imm=0), I("exit")],
    [I("call_kfunc", imm=5), I("exit")],
    [I("lddw_map_value", dst=0, imm=0), I("exit")],
    [I("addr_space_cast", dst=0, src=1, imm=1), I("exit")],
    [I("mov64_imm", dst=1, imm=0x7FFF), I("callx", dst=1), I("exit")],
    [I("ja", off=-1)],
])
def test_faults_are_the_interpreters(prog):
    ro = bytes(range(64))
    assert outcome(JitMachine, prog, mem=ro, budget=1000) == \
        outcome(Machine, prog, mem=ro, budget=1000)


def test_read_only_region_write_and_atomic_fault_as_writes():
    for op in (I("st8", dst=1, imm=9), I("atomic32_add", dst=1, src=2)):
        results = []
        for cls in MACHINES.values():
            memory = Memory()
            ro = memory.add(Region(".rodata", b"\x01\x02\x03\x04", writable=False))
            with pytest.raises(BpfMemoryError, match="read-only region .rodata") as info:
                cls([I("ldx8", dst=0, src=1), op, I("exit")], memory=memory).run(ro.address)
            results.append(info.value.pc)
            assert ro.read() == b"\x01\x02\x03\x04"
        assert results == [1, 1]


def test_trace_is_the_interpreters():
    with pytest.raises(BpfError, match="cannot trace"):
        JitMachine([I("exit")]).run(trace=True)


def test_bad_callback_and_recursion_limits():
    # A function calling itself forever stops at eight frames, as in the interpreter.
    prog = [I("call_local", imm=-1), I("exit")]
    for cls in MACHINES.values():
        with pytest.raises(BpfRuntimeError, match="call depth exceeds 8 frames"):
            cls(prog).run()
