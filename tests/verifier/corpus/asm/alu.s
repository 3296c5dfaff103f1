# ALU: division by zero, shifts, operations that are not allowed on pointers.

## entry: alu_div_imm_zero
## type: socket_filter
## desc: r0 /= 0 with an immediate zero
r0 = 1
r0 /= 0
exit

## entry: alu_mod_imm_zero
## type: socket_filter
## desc: r0 %= 0 with an immediate zero
r0 = 1
r0 %= 0
exit

## entry: alu_div32_imm_zero
## type: socket_filter
## desc: w0 /= 0 with an immediate zero
w0 = 1
w0 /= 0
exit

## entry: alu_mod32_imm_zero
## type: socket_filter
## desc: w0 %= 0 with an immediate zero
w0 = 1
w0 %= 0
exit

## entry: alu_sdiv_imm_zero
## type: socket_filter
## desc: signed division (cpu v4) by an immediate zero
r0 = 1
r0 s/= 0
exit

## entry: alu_smod_imm_zero
## type: socket_filter
## desc: signed modulo (cpu v4) by an immediate zero
r0 = 1
r0 s%= 0
exit

## entry: alu_div_reg_zero
## type: socket_filter
## desc: division by a register that is zero is defined (result 0) and allowed
r0 = 1
r1 = 0
r0 /= r1
exit

## entry: alu_mod_reg_zero
## type: socket_filter
## desc: modulo by a zero register is defined (dst unchanged) and allowed
r0 = 1
r1 = 0
r0 %= r1
exit

## entry: alu_div_reg_unknown
## type: socket_filter
## desc: division by an unknown register
r2 = *(u32 *)(r1 + 0)
r0 = 100
r0 /= r2
exit

## entry: alu_div_imm_ok
## type: socket_filter
## desc: division by a non-zero immediate
r0 = 100
r0 /= 7
r0 %= 5
exit

## entry: alu_div_uninit
## type: socket_filter
## desc: division by an uninitialised register
r0 = 1
r0 /= r3
exit

## entry: alu_lsh_64
## type: socket_filter
## desc: a 64-bit shift by an immediate 64 is invalid
r0 = 1
r0 <<= 64
exit

## entry: alu_lsh_63
## type: socket_filter
## desc: a 64-bit shift by 63 is fine
r0 = 1
r0 <<= 63
exit

## entry: alu_rsh32_32
## type: socket_filter
## desc: a 32-bit shift by 32 is invalid
w0 = 1
w0 >>= 32
exit

## entry: alu_arsh32_31
## type: socket_filter
## desc: a 32-bit arithmetic shift by 31 is fine
w0 = -1
w0 s>>= 31
exit

## entry: alu_shift_reg_unknown
## type: socket_filter
## desc: a shift by an unknown register amount is allowed
r2 = *(u32 *)(r1 + 0)
r0 = 1
r0 <<= r2
exit

## entry: alu_neg_scalar
## type: socket_filter
## desc: negating a scalar
r0 = 5
r0 = -r0
exit

## entry: alu_bswap_endian
## type: socket_filter
## desc: be16/le32/bswap64 on scalars
r0 = 0x1234
r0 = be16 r0
r0 = le32 r0
r0 = bswap64 r0
exit

## entry: alu_movsx
## type: socket_filter
## desc: sign-extending moves (cpu v4)
r1 = 0xff
r0 = (s8)r1
w2 = (s16)w1
r0 += r2
exit

## entry: alu_ptr_mul
## type: socket_filter
## desc: multiplying a pointer
r1 = r10
r1 *= 2
r0 = 0
exit

## entry: alu_ptr_and
## type: socket_filter
## desc: masking a pointer
r1 = r10
r1 &= -8
r0 = 0
exit

## entry: alu_ptr_or
## type: socket_filter
## desc: or-ing a constant into a pointer
r2 = r10
r2 |= 4
r0 = 0
exit

## entry: alu_ptr_lsh
## type: socket_filter
## desc: shifting a ctx pointer
r1 <<= 1
r0 = 0
exit

## entry: alu_ptr_div
## type: socket_filter
## desc: dividing a stack pointer
r1 = r10
r1 /= 2
r0 = 0
exit

## entry: alu_ptr_neg
## type: socket_filter
## desc: negating a pointer
r1 = r10
r1 = -r1
r0 = 0
exit

## entry: alu_ptr_alu32_add
## type: socket_filter
## desc: 32-bit arithmetic on a pointer
w1 += 4
r0 = 0
exit

## entry: alu_ptr_bswap
## type: socket_filter
## desc: byte-swapping a pointer
r1 = r10
r1 = be64 r1
r0 = 0
exit

## entry: alu_xor_self_zero
## type: socket_filter
## desc: xor of a scalar with itself is not tracked as zero: a variable stack offset (root only)
r2 = *(u32 *)(r1 + 0)
r2 ^= r2
r0 = r10
r0 += r2
r0 = *(u8 *)(r10 - 1)
exit

## entry: alu32_zero_extends
## type: socket_filter
## desc: a 32-bit op zero-extends: the result is at most 0xffffffff
r2 = -1
w2 += 0
r0 = 0
if r2 > 0xffffffff goto bad
exit
bad:
r0 = *(u64 *)(r9 + 0)
exit

## entry: alu32_no_zero_extend_assumed
## type: socket_filter
## desc: a 64-bit op on -1 keeps the upper half: the bad branch is live
r2 = -1
r2 += 0
r0 = 0
r3 = 0xffffffff ll
if r2 > r3 goto bad
exit
bad:
r0 = *(u64 *)(r9 + 0)
exit

## entry: alu_mod32_result_unknown_64
## type: xdp
## desc: a 32-bit modulo leaves all 64 bits unknown (not zero-extended), so it cannot offset a packet pointer
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
w4 = 5
w4 %= 3
r2 += r4
r0 = 2
exit

## entry: alu_movsx_range_offset
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: (s32) of a value in [0, 7] stays in [0, 7]: a map value offset (coerce_reg_to_size_sx)
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u8 *)(r0 + 0)
r1 &= 7
r1 = (s32)r1
r0 += r1
r0 = *(u8 *)(r0 + 0)
out:
r0 = 0
exit

## entry: alu_movsx32_range_offset
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: w1 = (s8)w1 of a value in [0, 7] stays in [0, 7] (coerce_subreg_to_size_sx)
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u8 *)(r0 + 0)
r1 &= 7
w1 = (s8)w1
r0 += r1
r0 = *(u8 *)(r0 + 0)
out:
r0 = 0
exit

## entry: alu_movsx_straddles_zero
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: (s8) of a value in [0, 0x1ff] may be negative: not a map value offset
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u16 *)(r0 + 0)
r1 &= 0x1ff
r1 = (s8)r1
r0 += r1
r0 = *(u8 *)(r0 + 0)
out:
r0 = 0
exit
