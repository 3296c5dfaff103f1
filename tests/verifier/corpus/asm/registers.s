# Register state: uninitialised reads, the read-only frame pointer, register types.

## entry: reg_r0_unset_at_exit
## type: socket_filter
## desc: exit without ever writing r0
exit

## entry: reg_r2_uninit_read
## type: socket_filter
## desc: r2 is read before any write (R2 !read_ok)
r0 = r2
exit

## entry: reg_r5_uninit_alu
## type: socket_filter
## desc: an ALU op with an uninitialised source register
r0 = 1
r0 += r5
exit

## entry: reg_r9_uninit_store
## type: socket_filter
## desc: storing an uninitialised register to the stack
*(u64 *)(r10 - 8) = r9
r0 = 0
exit

## entry: reg_r1_is_ctx
## type: socket_filter
## desc: r1 holds the context at entry: a field load through it works
r0 = *(u32 *)(r1 + 0)
exit

## entry: reg_ctx_copied
## type: socket_filter
## desc: a copy of r1 is the context pointer too
r6 = r1
r0 = *(u32 *)(r6 + 0)
exit

## entry: reg_r10_write_mov
## type: socket_filter
## desc: r10 = 0 writes the frame pointer
r10 = 0
r0 = 0
exit

## entry: reg_r10_write_add
## type: socket_filter
## desc: r10 += 8 writes the frame pointer
r10 += 8
r0 = 0
exit

## entry: reg_r10_write_alu32
## type: socket_filter
## desc: w10 = 1 writes the frame pointer
w10 = 1
r0 = 0
exit

## entry: reg_r10_load_into
## type: socket_filter
## desc: a load into r10 writes the frame pointer
r1 = 0
*(u64 *)(r10 - 8) = r1
r10 = *(u64 *)(r10 - 8)
r0 = 0
exit

## entry: reg_r10_copy_ok
## type: socket_filter
## desc: copying r10 to another register and moving that is fine
r1 = r10
r1 += -8
r2 = 1
*(u64 *)(r1 + 0) = r2
r0 = *(u64 *)(r10 - 8)
exit

## entry: reg_scalar_deref
## type: socket_filter
## desc: dereferencing a scalar
r1 = 100
r0 = *(u64 *)(r1 + 0)
exit

## entry: reg_scalar_store
## type: socket_filter
## desc: storing through a scalar
r1 = 100
r2 = 1
*(u64 *)(r1 + 0) = r2
r0 = 0
exit

## entry: reg_lddw_scalar_deref
## type: socket_filter
## desc: a 64-bit immediate is a scalar, not an address
r1 = 0xffff888000000000 ll
r0 = *(u64 *)(r1 + 0)
exit

## entry: reg_lddw_value
## type: socket_filter
## desc: a 64-bit immediate returned as a scalar is fine
r0 = 0x100000001 ll
exit

## entry: reg_map_ptr_deref
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a const map pointer cannot be dereferenced
ld_pseudo r1, 5, 0
r0 = *(u64 *)(r1 + 0)
exit

## entry: reg_map_ptr_deref_negative
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a map pointer read below the map's struct
ld_pseudo r1, 5, 0
r0 = *(u64 *)(r1 - 8)
r0 = 0
exit

## entry: reg_map_ptr_write
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a store through a map pointer (the map's struct is read-only)
ld_pseudo r1, 5, 0
r2 = 0
*(u64 *)(r1 + 0) = r2
r0 = 0
exit

## entry: reg_map_ptr_in_r1_return
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a map pointer returned as the program's result (a pointer leak)
ld_pseudo r0, 5, 0
exit

## entry: reg_map_value_direct
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: a direct map value address (BPF_PSEUDO_MAP_VALUE) is a map_value pointer
ld_pseudo r1, 6, 0, 8
r0 = *(u64 *)(r1 + 0)
exit

## entry: reg_map_value_direct_past_end
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: a direct map value address at offset 8 read 8 bytes further: past the 16-byte value
ld_pseudo r1, 6, 0, 8
r0 = *(u64 *)(r1 + 8)
exit

## entry: reg_map_value_direct_hash
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: direct value addresses only exist for array maps
ld_pseudo r1, 6, 0, 0
r0 = *(u64 *)(r1 + 0)
exit

## entry: reg_r11_dst
## type: socket_filter
## raw
## desc: register 11 as a destination
.insn 0xb7 11 0 0 0         # r11 = 0
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: reg_r11_src
## type: socket_filter
## raw
## desc: register 11 as a source
.insn 0xbf 0 11 0 0         # r0 = r11
.insn 0x95 0 0 0 0

## entry: reg_r15_dst_mem
## type: socket_filter
## raw
## desc: register 15 as a load destination
.insn 0x79 15 10 -8 0       # r15 = *(u64 *)(r10 - 8)
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: reg_all_callee_saved
## type: socket_filter
## desc: r6-r9 set and summed; all are initialised
r6 = 1
r7 = 2
r8 = 3
r9 = 4
r0 = r6
r0 += r7
r0 += r8
r0 += r9
exit

## entry: reg_helper_scratches_r1
## type: socket_filter
## desc: after a helper call r1 is no longer readable
r1 = 1
call 7
r0 = r1
exit

## entry: reg_helper_keeps_r6
## type: socket_filter
## desc: after a helper call r6 is still readable
r6 = 1
call 7
r0 += r6
exit

## entry: reg_ctx_store_r1_into_r0_sub
## type: socket_filter
## desc: the ctx pointer minus itself is a scalar zero
r0 = r1
r0 -= r1
exit
