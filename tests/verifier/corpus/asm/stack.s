# Stack slots: spills and fills of pointers and scalars, partial slots, uninitialised reads.

## entry: stk_spill_fill_ctx
## type: socket_filter
## desc: the ctx pointer spilled and filled keeps its type
*(u64 *)(r10 - 8) = r1
r2 = *(u64 *)(r10 - 8)
r0 = *(u32 *)(r2 + 0)
exit

## entry: stk_spill_fill_stack_ptr
## type: socket_filter
## desc: a stack pointer spilled and filled keeps its type
r1 = r10
r1 += -16
*(u64 *)(r10 - 8) = r1
r2 = *(u64 *)(r10 - 8)
r3 = 7
*(u64 *)(r2 + 0) = r3
r0 = *(u64 *)(r10 - 16)
exit

## entry: stk_spill_fill_32bit_of_ptr
## type: socket_filter
## desc: a 4-byte fill of a spilled pointer
*(u64 *)(r10 - 8) = r1
r0 = *(u32 *)(r10 - 8)
exit

## entry: stk_spill_partial_overwrite_ptr
## type: socket_filter
## desc: a spilled ctx pointer with one byte overwritten is no longer a pointer
*(u64 *)(r10 - 8) = r1
r2 = 0
*(u8 *)(r10 - 8) = r2
r1 = *(u64 *)(r10 - 8)
r0 = *(u32 *)(r1 + 0)
exit

## entry: stk_spill_ptr_misaligned
## type: socket_filter
## desc: a pointer spilled at a non-8-byte-aligned slot
*(u64 *)(r10 - 12) = r1
r0 = 0
exit

## entry: stk_uninit_read_u64
## type: socket_filter
## desc: reading a stack slot that was never written
r0 = *(u64 *)(r10 - 8)
exit

## entry: stk_uninit_read_u8
## type: socket_filter
## desc: reading one byte that was never written
r0 = *(u8 *)(r10 - 1)
exit

## entry: stk_partial_init_read
## type: socket_filter
## desc: four bytes written, eight read
r1 = 1
*(u32 *)(r10 - 8) = r1
r0 = *(u64 *)(r10 - 8)
exit

## entry: stk_partial_init_read_ok_half
## type: socket_filter
## desc: four bytes written, the same four read
r1 = 1
*(u32 *)(r10 - 8) = r1
r0 = *(u32 *)(r10 - 8)
exit

## entry: stk_store_imm_then_read
## type: socket_filter
## desc: a ST (immediate) store initialises the slot
*(u64 *)(r10 - 8) = 5
r0 = *(u64 *)(r10 - 8)
exit

## entry: stk_zero_slot_bounds
## type: socket_filter
## desc: a filled zero spill is a known constant usable as a stack offset
*(u64 *)(r10 - 8) = 0
r2 = *(u64 *)(r10 - 8)
r3 = r10
r3 += r2
r0 = *(u64 *)(r3 - 8)
exit

## entry: stk_const_spill_keeps_value
## type: socket_filter
## desc: a spilled constant filled back bounds an access
r1 = 4
*(u64 *)(r10 - 8) = r1
r2 = *(u64 *)(r10 - 8)
r3 = r10
r3 += -16
r3 += r2
r4 = 0
*(u32 *)(r3 + 0) = r4
r0 = 0
exit

## entry: stk_unknown_spill_fill_32
## type: socket_filter
## desc: a 32-bit scalar spilled with a 4-byte store and filled back
r1 = *(u32 *)(r1 + 0)
*(u32 *)(r10 - 4) = r1
r0 = *(u32 *)(r10 - 4)
exit

## entry: stk_misaligned_u32
## type: socket_filter
## desc: a 4-byte store at r10-6 is misaligned
r1 = 0
*(u32 *)(r10 - 6) = r1
r0 = 0
exit

## entry: stk_misaligned_u16_ok
## type: socket_filter
## desc: a 2-byte store at r10-6 is aligned
r1 = 0
*(u16 *)(r10 - 6) = r1
r0 = *(u16 *)(r10 - 6)
exit

## entry: stk_atomic_add
## type: socket_filter
## desc: an atomic add on an initialised stack slot
r1 = 0
*(u64 *)(r10 - 8) = r1
r2 = 3
lock *(u64 *)(r10 - 8) += r2
r0 = *(u64 *)(r10 - 8)
exit

## entry: stk_atomic_add_uninit
## type: socket_filter
## desc: an atomic add on an uninitialised stack slot reads it
r2 = 3
lock *(u64 *)(r10 - 8) += r2
r0 = 0
exit

## entry: stk_atomic_on_spilled_ptr
## type: socket_filter
## desc: an atomic add on a slot holding a spilled pointer
*(u64 *)(r10 - 8) = r1
r2 = 1
lock *(u64 *)(r10 - 8) += r2
r0 = 0
exit

## entry: stk_var_offset_read
## type: socket_filter
## desc: a read at a variable (bounded) stack offset from initialised memory
r2 = *(u32 *)(r1 + 0)
r2 &= 8
r1 = 0
*(u64 *)(r10 - 16) = r1
*(u64 *)(r10 - 8) = r1
r3 = r10
r3 += -16
r3 += r2
r0 = *(u64 *)(r3 + 0)
exit

## entry: stk_var_offset_write
## type: socket_filter
## desc: a write at a variable (bounded) stack offset
r2 = *(u32 *)(r1 + 0)
r2 &= 8
r3 = r10
r3 += -16
r3 += r2
r4 = 0
*(u64 *)(r3 + 0) = r4
r0 = 0
exit

## entry: stk_var_offset_unbounded
## type: socket_filter
## desc: a stack pointer plus an unbounded scalar
r2 = *(u32 *)(r1 + 0)
r3 = r10
r3 += r2
r0 = *(u8 *)(r3 - 1)
exit

## entry: stk_spill_null_checked_value
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a map_value_or_null spilled, null-checked in the register, filled again: the fill is checked too
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
*(u64 *)(r10 - 16) = r0
if r0 == 0 goto out
r1 = *(u64 *)(r10 - 16)
r0 = *(u64 *)(r1 + 0)
exit
out:
r0 = 0
exit

## entry: stk_spill_before_check_fill_unchecked
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the spilled copy is dereferenced on the null branch
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
*(u64 *)(r10 - 16) = r0
if r0 != 0 goto out
r1 = *(u64 *)(r10 - 16)
r0 = *(u64 *)(r1 + 0)
exit
out:
r0 = 0
exit

## entry: stk_helper_fills_buffer
## type: sched_cls
## desc: bpf_skb_load_bytes writes 16 bytes into an uninitialised buffer, which is then readable
r2 = 0
r3 = r10
r3 += -16
r4 = 16
call 26
r0 = *(u64 *)(r10 - 16)
r0 = 0
exit

## entry: stk_helper_buffer_too_small
## type: sched_cls
## desc: bpf_skb_load_bytes asked for 17 bytes into a 16-byte stack buffer at the top
r2 = 0
r3 = r10
r3 += -16
r4 = 17
call 26
r0 = 0
exit

## entry: stk_spill_scalar_u64_fill_u8
## type: socket_filter
## desc: a known 64-bit spill read back one byte at a time
r1 = 0x1234
*(u64 *)(r10 - 8) = r1
r0 = *(u8 *)(r10 - 8)
exit

## entry: stk_fill_into_r10
## type: socket_filter
## desc: filling a spilled stack pointer into r10
r1 = r10
*(u64 *)(r10 - 8) = r1
r10 = *(u64 *)(r10 - 8)
r0 = 0
exit

## entry: stk_store_ptr_via_st_imm
## type: socket_filter
## desc: a ST store of 32 bits over half of a spilled pointer then an 8-byte fill used as pointer
*(u64 *)(r10 - 8) = r1
*(u32 *)(r10 - 4) = 0
r1 = *(u64 *)(r10 - 8)
r0 = *(u32 *)(r1 + 0)
exit
