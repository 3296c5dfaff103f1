"""The contract between generated native code and Python: the run context and callbacks.

Native code gets one pointer, the *run context*: an array of 64-bit words (slots below)
that Python fills before a run and reads after it. Everything that differs between two
machines running the same bytecode lives there (the region table, the address of the
code region, the stack addresses, resolved ``lddw`` constants, the Python callbacks), so
one compiled module serves every machine that loads the same program.

A native function never raises: when something goes wrong it writes a status (and the
details) into the context and returns; every caller checks the status after a call that
may fail and returns too, so the stack unwinds to Python, which raises the error.
"""

from __future__ import annotations

import ctypes

# -- context slots (64-bit words) ---------------------------------------------------------

STATUS = 0      # one of the ST_* codes below; 0 while running
PC = 1          # instruction index of the fault / limit
BUDGET = 2      # instructions left; synchronised around calls out of a function
CLEAR = 3       # 1: the entry zeroes the stacks frames reached by the last run (DEEPEST)
ARGS = 4        # r1..r5 for the entry function: 5 words
# (slots 0-8 are what Python sets before each call: one slice assignment)
FAULT_ADDR = 9  # ST_MEMORY: address; ST_STACK: combined depth
FAULT_SIZE = 10  # ST_MEMORY: access size; ST_STACK: frames
FAULT_WRITE = 11  # ST_MEMORY: 1 for a write
MESSAGE = 12    # ST_STATIC: index in the compiled program's message table
REGIONS = 13    # address of the region table: (start, end, flags) triples sorted by start
NREGIONS = 14
READ_START = 15  # last region a load hit: start and size (see memops)
READ_SPAN = 16
WRITE_START = 17  # last writable region a store hit
WRITE_SPAN = 18
CONSTS = 19     # address of an array of u64 by pc: resolved pseudo-lddw values
CODE = 20       # address of the code region (callx / pseudo-func addresses)
STACKS = 21     # address of an array of 8 u64: the end of each frame's stack
HELPER_CB = 22  # u64 helper(ctx, id, pc, r1, r2, r3, r4, r5)
MEMORY_CB = 23  # u64 access(ctx, address, size, pc, is_store, value) for ctx regions
PACKET_CB = 24  # u64 packet(ctx, offset, size, pc) for loads native code does not do
PACKET_ADDR = 25
PACKET_LEN = 26
PACKET_NATIVE = 27  # 1 when PACKET_ADDR/LEN describe the packet
DEEPEST = 28    # the deepest frame level a call reached (its stack needs clearing)
REGS = 29       # r0..r10 as the program (frame level 0) exited: 11 words
SLOTS = 40

# -- status codes -------------------------------------------------------------------------

ST_OK = 0
ST_MEMORY = 1   # bad access: FAULT_ADDR/SIZE/WRITE, PC
ST_BUDGET = 2   # instruction budget exhausted at block PC
ST_PYTHON = 3   # a callback caught a Python exception (a helper's ProgramExit or TailCall
                #   too, and a failed packet load's ProgramExit(0)); the machine keeps it
ST_STATIC = 4   # a fault known at compile time: MESSAGE, PC
ST_STACK = 5    # combined stack too deep: FAULT_ADDR depth, FAULT_SIZE frames, PC

# Region flags in the native region table.
RF_WRITABLE = 1
RF_PYTHON = 2   # a context region with field access: loads and stores go to MEMORY_CB

MAX_LOOPS = 8 * 1024 * 1024

Context = ctypes.c_uint64 * SLOTS

_U64 = ctypes.c_uint64
_P = ctypes.c_void_p
HelperCallback = ctypes.CFUNCTYPE(_U64, _P, _U64, _U64, _U64, _U64, _U64, _U64, _U64)
MemoryCallback = ctypes.CFUNCTYPE(_U64, _P, _U64, _U64, _U64, _U64, _U64)
PacketCallback = ctypes.CFUNCTYPE(_U64, _P, _U64, _U64, _U64)
EntryFunction = ctypes.CFUNCTYPE(_U64, _P)     # r0 = entry(ctx); r1..r5 in ctx[ARGS]
