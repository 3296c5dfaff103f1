# Pointer arithmetic: what may be added to which pointer, and what comes out.

## entry: pa_stack_add_const
## type: socket_filter
## desc: r10 plus a negative constant is a stack pointer
r1 = r10
r1 += -8
r2 = 1
*(u64 *)(r1 + 0) = r2
r0 = *(u64 *)(r10 - 8)
exit

## entry: pa_ptr_plus_ptr
## type: socket_filter
## desc: adding two pointers
r1 = r10
r1 += r10
r0 = 0
exit

## entry: pa_scalar_minus_ptr
## type: socket_filter
## desc: subtracting a pointer from a scalar
r2 = 0
r2 -= r10
r0 = 0
exit

## entry: pa_stack_minus_stack
## type: socket_filter
## desc: the difference of two stack pointers is a scalar
r1 = r10
r1 += -8
r2 = r10
r1 -= r2
r0 = r1
exit

## entry: pa_ctx_plus_const_deref
## type: socket_filter
## desc: a moved context pointer cannot be dereferenced
r1 += 4
r0 = *(u32 *)(r1 + 0)
exit

## entry: pa_ctx_plus_const_then_back
## type: socket_filter
## desc: moving the ctx pointer and back again is still a modified ctx pointer at runtime, but fine
r1 += 4
r1 += -4
r0 = *(u32 *)(r1 + 0)
exit

## entry: pa_ctx_plus_var
## type: socket_filter
## desc: a variable offset added to the ctx pointer
r2 = *(u32 *)(r1 + 0)
r2 &= 4
r1 += r2
r0 = 0
exit

## entry: pa_map_ptr_add
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: arithmetic on a const map pointer
ld_pseudo r1, 5, 0
r1 += 8
r0 = 0
exit

## entry: pa_map_value_const_ok
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 32, "max_entries": 1}]
## desc: a map value pointer moved by a constant within the value
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r0 += 24
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: pa_map_value_const_past_end
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 32, "max_entries": 1}]
## desc: a map value pointer moved by 28 then read 8 bytes: 4 past the end
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r0 += 28
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: pa_map_value_negative
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 32, "max_entries": 1}]
## desc: a read before the start of a map value
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r0 = *(u64 *)(r0 - 8)
exit
out:
r0 = 0
exit

## entry: pa_map_value_unbounded_min
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 32, "max_entries": 1}]
## desc: a map value pointer plus a scalar with no lower bound
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 s> 16 goto out
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: pa_map_value_bounded_var
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 32, "max_entries": 1}]
## desc: a map value pointer plus a scalar bounded to [0, 24] read 8 bytes
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 24 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: pa_map_value_bounded_var_off_by_one
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 32, "max_entries": 1}]
## desc: the same with the bound 25: the last read reaches byte 33
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 25 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: pa_or_null_arith
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: arithmetic on map_value_or_null before the null check
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r0 += 4
if r0 == 0 goto out
out:
r0 = 0
exit

## entry: pa_pkt_end_arith
## type: xdp
## desc: arithmetic on a packet end pointer
r3 = *(u32 *)(r1 + 4)
r3 += -4
r0 = 1
exit

## entry: pa_pkt_add_const_ok
## type: xdp
## desc: packet pointer plus constant compared with data_end
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r2 += 10
r4 = r2
r4 += 4
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
exit
out:
r0 = 1
exit

## entry: pa_stack_sub_var
## type: socket_filter
## desc: subtracting a bounded scalar from a stack pointer
r2 = *(u32 *)(r1 + 0)
r2 &= 7
r3 = r10
r3 += -16
r3 -= r2
r4 = 0
*(u8 *)(r3 + 0) = r4
r0 = 0
exit

## entry: pa_ptr_compare_ctx_stack
## type: socket_filter
## desc: comparing the ctx pointer with a stack pointer
r2 = r10
r0 = 0
if r1 > r2 goto out
r0 = 1
out:
exit

## entry: pa_ptr_compare_map_values
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: comparing a checked map value pointer with a stack pointer
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r2 = r10
if r0 == r2 goto out
out:
r0 = 0
exit

## entry: pa_ptr_to_scalar_leak_via_sub
## type: socket_filter
## desc: a stack pointer minus a scalar, returned
r0 = r10
r0 += -8
exit

## entry: pa_stack_ptr_store_to_stack
## type: socket_filter
## desc: a stack pointer spilled to the stack is fine at any privilege
r1 = r10
*(u64 *)(r10 - 8) = r1
r0 = 0
exit

## entry: pa_alu32_mov_of_ptr
## type: socket_filter
## desc: a 32-bit move of a pointer gives half of an address
w0 = w10
exit

## entry: pa_add_ptr_to_scalar_reversed
## type: socket_filter
## desc: scalar += stack pointer gives a stack pointer
r1 = -8
r1 += r10
r2 = 5
*(u64 *)(r1 + 0) = r2
r0 = *(u64 *)(r10 - 8)
exit

## entry: pa_stack_large_const
## type: socket_filter
## desc: a stack pointer moved by a huge constant
r1 = r10
r1 += 0x7fffffff
r0 = 0
exit

## entry: pa_map_value_mask_index
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: an index masked with & 56 selects an 8-byte slot of a 64-byte value
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 &= 56
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: pa_map_value_mask_index_too_wide
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: an index masked with & 63 then an 8-byte read can reach byte 70
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 &= 63
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit
