# Range and tnum refinement: bounds learnt from branches and ALU ops, used to
# index a 64-byte map value.

## entry: rng_ugt_ok
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: unsigned > 56 excluded: index in [0, 56], 8-byte read fits
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_ugt_off_by_one
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: unsigned > 57 excluded: index 57 + 8 bytes is past 64
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 57 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_uge_ok
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: unsigned >= 57 excluded
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 >= 57 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_uge_off_by_one
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: unsigned >= 58 excluded: one too many
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 >= 58 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_ult_inverted_ok
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: jump to the access when < 57
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 < 57 goto +1
goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_ule_inverted_ok
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: jump to the access when <= 63, 1-byte read
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 <= 63 goto +1
goto out
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_ule_inverted_off_by_one
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: jump to the access when <= 64, 1-byte read
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 <= 64 goto +1
goto out
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_sgt_only
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: signed > 56 excluded: no lower bound
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 s> 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_signed_both
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: signed > 56 and signed < 0 excluded
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 s> 56 goto out
if r1 s< 0 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_signed_sge_both
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: signed >= 57 and signed <= -1 excluded
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 s>= 57 goto out
if r1 s<= -1 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_signed_upper_only_32
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: u32 load then signed upper check: the load already bounds it below
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u32 *)(r0 + 0)
if r1 s> 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_jmp32_bound_u32_load
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: u32 load, 32-bit unsigned check
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u32 *)(r0 + 0)
if w1 > 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_jmp32_bound_u64_load
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: u64 load, 32-bit check: the upper half is unknown
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if w1 > 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_jmp32_then_zext
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: u64 load, 32-bit move then 32-bit check
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
w1 = w1
if w1 > 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_and_mask_u8
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: index & 63, 1-byte read
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
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_and_mask_u16
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: index & 63, 2-byte read reaches byte 65
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
r0 = *(u16 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_mod_bound
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: index % 57 bounds it to [0, 56]
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 %= 57
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_rsh_bound
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: index >> 58 is at most 63, 1-byte read
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 >>= 58
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_rsh_bound_too_small
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: index >> 57 is at most 127
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 >>= 57
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_reg_bound
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: bound held in a register: > r2 with r2 = 56
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r2 = 56
if r1 > r2 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_reg_bound_unknown
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: bound held in an unknown register
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r2 = *(u64 *)(r0 + 8)
if r1 > r2 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_eq_const
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: equal to 40 is a constant
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 != 40 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_ne_no_bound
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: not equal to 40 bounds nothing
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 == 40 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_jset_low_bits
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: jset with ~63 clears the high bits on the fall-through
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 & -64 goto out
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_add_after_check
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: checked <= 56 then + 8: [8, 64] reaches past
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 56 goto out
r1 += 8
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_sub_after_check
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: checked in [8, 64] then - 8
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 64 goto out
if r1 < 8 goto out
r1 += -8
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_mul_after_check
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: checked <= 7 then * 8
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 7 goto out
r1 *= 8
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_mul_overflow
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: checked <= 8 then * 8: 64 + 8 bytes
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 8 goto out
r1 *= 8
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_sext_trick
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: << 32 then s>> 32 of a u32: may be negative
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u32 *)(r0 + 0)
r1 <<= 32
r1 s>>= 32
if r1 > 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_sext_trick_signed_check
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: << 32 then s>> 32, then signed bounds both ways
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u32 *)(r0 + 0)
r1 <<= 32
r1 s>>= 32
if r1 s> 56 goto out
if r1 s< 0 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_neg_then_check
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: negated index checked unsigned
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 = -r1
if r1 > 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_movsx_u8
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: (s8) of a byte may be negative
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 = (s8)r1
if r1 s> 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_movsx_u8_masked
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: (s8) of a byte masked with 0x38
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 = (s8)r1
r1 &= 0x38
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_wrong_branch
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: the access is on the out-of-range branch
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 <= 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_two_checks_narrow
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: > 100 then > 56 excluded
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if r1 > 100 goto out
if r1 > 56 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_u32_wrap
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: u32 in [1, 57] minus 1 in 32-bit
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u32 *)(r0 + 0)
if r1 > 57 goto out
if r1 == 0 goto out
w1 += -1
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_u32_wrap_bad
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: u32 <= 57 minus 1 in 32-bit may wrap to 0xffffffff
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u32 *)(r0 + 0)
if r1 > 57 goto out
w1 += -1
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_sle_s32
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: 32-bit signed checks on a u64 value
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
if w1 s> 56 goto out
if w1 s< 0 goto out
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_or_const
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: index | 64 is at least 64
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 &= 7
r1 |= 64
r0 += r1
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_xor_const
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 64, "max_entries": 1}]
## desc: (index & 7) ^ 48 is within [48, 55]
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u64 *)(r0 + 0)
r1 &= 7
r1 ^= 48
r0 += r1
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: rng_contradiction_dead_branch
## type: socket_filter
## desc: low 32 bits 0x80000000, then s<= 7, then s>= 0: no value is left (a dead branch, whose contradictory bounds must not stop the walk)
r6 = r1
r0 = *(u32 *)skb[22]
if w0 == -2147483648 goto eq
r0 = 0
exit
eq:
if r0 s>= 8 goto out
if r0 s< 0 goto out
r0 = 1
exit
out:
r0 = 0
exit
