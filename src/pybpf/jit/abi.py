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
                #   (then natives use it as a per-run gate: see natives.CSUM_GATE)
ARGS = 4        # r1..r5 for the entry function: 5 words
CPU = 9         # the simulated CPU the program runs on (per-CPU maps, smp_processor_id)
# (slots 0-9 are what Python sets before each call: one slice assignment)
FAULT_ADDR = 10  # ST_MEMORY: address; ST_STACK: combined depth
FAULT_SIZE = 11  # ST_MEMORY: access size; ST_STACK: frames
FAULT_WRITE = 12  # ST_MEMORY: 1 for a write
MESSAGE = 13    # ST_STATIC: index in the compiled program's message table
REGIONS = 14    # address of the region table: (start, end, flags, view) sorted by start
NREGIONS = 15
ACCESS_CACHE = 16  # the access cache: per checked access site (see memops), the region
                  #   it hit last: (start, size) u64 pairs; reset from ACCESS_RESET (its
                  #   ACCESS_BYTES bytes) whenever the region table changes
ACCESS_RESET = 17
ACCESS_BYTES = 18
# (slot 19 is free)
CONSTS = 20     # address of an array of u64 by pc: resolved pseudo-lddw values
CODE = 21       # address of the code region (callx / pseudo-func addresses)
STACKS = 22     # address of an array of 8 u64: the end of each frame's stack
HELPER_CB = 23  # u64 helper(ctx, id, pc, r1, r2, r3, r4, r5)
MEMORY_CB = 24  # u64 access(ctx, address, size, pc, is_store, value) for ctx regions
PACKET_CB = 25  # u64 packet(ctx, offset, size, pc) for loads native code does not do
PACKET_ADDR = 26
PACKET_LEN = 27
PACKET_NATIVE = 28  # 1 when PACKET_ADDR/LEN describe the packet
DEEPEST = 29    # the deepest frame level a call reached (its stack needs clearing)
REGS = 30       # r0..r10 as the program (frame level 0) exited: 11 words
# The run's Env as native helpers read and advance it (copied in before a run and out
# after it, and around every call into Python): the clock, its step per read, the boot
# clock's offset, and the four prandom words (two per slot, low word first).
CLOCK = 41
CLOCK_STEP = 42
BOOT_OFFSET = 43
RND = 44        # 2 words
VIEW = 46       # the load view of the context region a slow-path load found, or 0
VIEW_START = 47  # that region's start
BATCH = 48      # during a batch (see .drivers): BATCH_NATIVE, set to BATCH_PYTHON by any
                #   call into Python that may change state; 0 otherwise
RECENT = 49     # the regions the runtime found last: (start, end, table entry) each;
RECENT_ENTRIES = 4  # zeroed whenever the region table changes
RECENT_NEXT = RECENT + 3 * RECENT_ENTRIES   # which entry the next region replaces
VIEW_SIZE = RECENT_NEXT + 1   # the size of the region whose view VIEW is (loads probe it
                              #   inline; zeroed with VIEW when the region table changes)
TAIL_COUNT = VIEW_SIZE + 1   # tail calls so far in this run (the native bpf_tail_call's)
FAULT_CTX = TAIL_COUNT + 1   # with a status: the run context of the program (reached by a
                             #   native tail call) where it arose, or 0 for this one's own
MEMORY_ID = FAULT_CTX + 1    # which Memory this machine runs in (tail call targets match)
CALLER_CTX = MEMORY_ID + 1   # the run context of the program that tail-called this one
                             #   natively (its Python state is this run's), or 0
# The run's packet as native packet helpers read and change it (see .natives_packet):
# copied in from the program type's state before a run and after every call into Python,
# and back out (when PKT_CHANGED) before every call into Python and after the run.
PKT_ALLOW = CALLER_CTX + 1   # PH_* bits: the native packet helpers this run's state offers
PKT_FRAME = PKT_ALLOW + 1    # the packet buffer's start; the next three are offsets in it:
PKT_META = PKT_FRAME + 1     #   XDP's data_meta (an skb's data)
PKT_DATA = PKT_META + 1      #   data
PKT_END = PKT_DATA + 1       #   data_end (an skb's tail)
PKT_CHANGED = PKT_END + 1    # 1: a native helper moved data/data_end/data_meta or redirected
PKT_REDIRECT = PKT_CHANGED + 1  # REDIRECT_SET when bpf_redirect_map chose a target
                                #   natively (then the ifindex, or the key), REDIRECT_CLEARED
                                #   when a miss forgot the one before: 2 words
PKT_SLOTS = range(PKT_ALLOW, PKT_REDIRECT + 2)
# What the fast call (see .fastcall) needs of the machine, and gives back.
FAST_ENTRY = PKT_REDIRECT + 2   # the entry function's address
FAST_BUDGET = FAST_ENTRY + 1    # the machine's instruction budget per run
FAST_SLOW = FAST_BUDGET + 1     # the machine's ordinary path: a Python callable (borrowed)
CHANGES = FAST_SLOW + 1         # the address of the Memory's region change counter
CHANGES_SEEN = CHANGES + 1      # its value when the machine last prepared for a fast call
ELAPSED = CHANGES_SEEN + 1      # ns the last fast call's run took
SLOTS = ELAPSED + 1
REDIRECT_SET, REDIRECT_CLEARED = 1, 2
ENTRY_WORDS = 4  # words of a region table entry

BATCH_NATIVE = 1
BATCH_PYTHON = 2

# -- status codes -------------------------------------------------------------------------

ST_OK = 0
ST_MEMORY = 1   # bad access: FAULT_ADDR/SIZE/WRITE, PC
ST_BUDGET = 2   # instruction budget exhausted at block PC
ST_PYTHON = 3   # a callback caught a Python exception (a helper's ProgramExit or TailCall
                #   too, and a failed packet load's ProgramExit(0)); the machine keeps it
ST_STATIC = 4   # a fault known at compile time: MESSAGE, PC
ST_STACK = 5    # combined stack too deep: FAULT_ADDR depth, FAULT_SIZE frames, PC
ST_EXIT = 6     # a native tail call ran the program's successor: unwind; REGS are its final
                #   registers (the entry function returns r0 from them, status cleared)

# PKT_ALLOW bits: what the run's program-type state offers natively (0: every packet
# helper goes to Python, as during a batch).
PH_SKB_LOAD = 1     # bpf_skb_load_bytes
PH_SKB_STORE = 2    # bpf_skb_store_bytes
PH_CSUM = 4         # bpf_l3_csum_replace, bpf_l4_csum_replace
PH_XDP = 8          # bpf_xdp_adjust_head, bpf_redirect_map
PH_XDP_TAIL = 16    # bpf_xdp_adjust_tail (a frame without fragments)
PH_XDP_META = 32    # the frame keeps metadata before data (xdp_adjust_head moves it)

# Region flags in the native region table.
RF_WRITABLE = 1
RF_PYTHON = 2   # a context region with field access: loads and stores go to MEMORY_CB
RF_MAP = 4      # a map's handle (what a map pointer points at): native map helpers trust it

# A context region's *load view*: the values its loads gave, kept so that native code
# answers a repeated load without Python. A record of VIEW_WORDS u64 per byte offset:
# ``known`` (bit ``size`` set: the value of a load of that size is there), then the
# values for sizes 1, 2, 4, 8. Any call into Python (a helper, a context store) may
# change what loads give, so it forgets every view (zeroes it).
VIEW_WORDS = 5

MAX_LOOPS = 8 * 1024 * 1024

# -- helpers in native code (see .natives): helper id -> runtime symbol ------------------

NATIVE_HELPERS = {
    1: "bpf_native_map_lookup_elem", 2: "bpf_native_map_update_elem",
    3: "bpf_native_map_delete_elem", 5: "bpf_native_ktime_get_ns",
    7: "bpf_native_get_prandom_u32", 8: "bpf_native_get_smp_processor_id",
    125: "bpf_native_ktime_get_boot_ns", 160: "bpf_native_ktime_get_coarse_ns",
    208: "bpf_native_ktime_get_tai_ns", 12: "bpf_native_tail_call",
    28: "bpf_native_csum_diff", 130: "bpf_native_ringbuf_output",
    131: "bpf_native_ringbuf_reserve", 132: "bpf_native_ringbuf_submit",
    133: "bpf_native_ringbuf_discard", 134: "bpf_native_ringbuf_query",
    9: "bpf_native_skb_store_bytes", 10: "bpf_native_l3_csum_replace",
    11: "bpf_native_l4_csum_replace", 26: "bpf_native_skb_load_bytes",
    44: "bpf_native_xdp_adjust_head", 65: "bpf_native_xdp_adjust_tail",
    51: "bpf_native_redirect_map",
}
# The map helpers' variants for unchecked code (a verified program's): the map pointer,
# key and value pointers were proven by the verifier, so they check none of them.
TRUSTED_HELPERS = {1: "bpf_native_map_lookup_elem_trusted",
                   2: "bpf_native_map_update_elem_trusted",
                   3: "bpf_native_map_delete_elem_trusted"}
# Helpers that work on the run's packet: a program using one has its packet mirrored.
PACKET_HELPERS = frozenset({9, 10, 11, 26, 44, 65, 51})
# Helpers that read or advance the Env: a program using one has its Env copied in and out.
ENV_HELPERS = frozenset({5, 7, 125, 160, 208})
# Native helpers that never fail nor call Python: no status check after them.
INFALLIBLE = frozenset(NATIVE_HELPERS[h] for h in ENV_HELPERS | {8})

Context = ctypes.c_uint64 * SLOTS

_U64 = ctypes.c_uint64
_P = ctypes.c_void_p
HelperCallback = ctypes.CFUNCTYPE(_U64, _P, _U64, _U64, _U64, _U64, _U64, _U64, _U64)
MemoryCallback = ctypes.CFUNCTYPE(_U64, _P, _U64, _U64, _U64, _U64, _U64)
PacketCallback = ctypes.CFUNCTYPE(_U64, _P, _U64, _U64, _U64)
EntryFunction = ctypes.CFUNCTYPE(_U64, _P)     # r0 = entry(ctx); r1..r5 in ctx[ARGS]
RepeatFunction = ctypes.CFUNCTYPE(_U64, _P, _P, _U64, _U64)   # runs = repeat(ctx, entry, n, budget)
BatchFunction = ctypes.CFUNCTYPE(_U64, _P, _P, _P)   # next = batch(ctx, entry, job)
IndexFunction = ctypes.CFUNCTYPE(_U64, _P)           # records = pcap_index(job)
