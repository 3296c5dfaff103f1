# Encodings: opcodes and fields the kernel refuses before (or while) verifying.

## entry: enc_unknown_opcode_ff
## type: socket_filter
## raw
## desc: opcode 0xff is not an instruction
.insn 0xff 0 0 0 0
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_unknown_alu_op
## type: socket_filter
## raw
## desc: ALU64 operation 0xe0 with an immediate does not exist
.insn 0xb7 0 0 0 0
.insn 0xe7 0 0 0 1
.insn 0x95 0 0 0 0

## entry: enc_unknown_jmp_op
## type: socket_filter
## raw
## desc: JMP operation 0xf0 does not exist
.insn 0xb7 0 0 0 0
.insn 0xf5 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_mov_imm_src_set
## type: socket_filter
## raw
## desc: mov with an immediate but a non-zero src_reg field
.insn 0xb7 0 1 0 0
.insn 0x95 0 0 0 0

## entry: enc_mov_imm_off_set
## type: socket_filter
## raw
## desc: mov with an immediate and a non-zero offset
.insn 0xb7 0 0 1 0
.insn 0x95 0 0 0 0

## entry: enc_mov_reg_imm_set
## type: socket_filter
## raw
## desc: mov from a register with a non-zero immediate
.insn 0xb7 1 0 0 0
.insn 0xbf 0 1 0 5
.insn 0x95 0 0 0 0

## entry: enc_add_reg_off_set
## type: socket_filter
## raw
## desc: add from a register with a non-zero offset
.insn 0xb7 0 0 0 0
.insn 0x0f 0 0 3 0
.insn 0x95 0 0 0 0

## entry: enc_exit_fields_set
## type: socket_filter
## raw
## desc: exit with a non-zero immediate
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 1

## entry: enc_call_off_set
## type: socket_filter
## raw
## desc: a helper call with a non-zero offset
.insn 0x85 0 0 1 7
.insn 0x95 0 0 0 0

## entry: enc_call_dst_set
## type: socket_filter
## raw
## desc: a helper call with a non-zero dst_reg
.insn 0x85 1 0 0 7
.insn 0x95 0 0 0 0

## entry: enc_ja_src_set
## type: socket_filter
## raw
## desc: goto with a non-zero src_reg
.insn 0xb7 0 0 0 0
.insn 0x05 0 1 0 0
.insn 0x95 0 0 0 0

## entry: enc_ldx_imm_set
## type: socket_filter
## raw
## desc: a register load with a non-zero immediate
.insn 0x7a 10 0 -8 0        # *(u64 *)(r10 - 8) = 0
.insn 0x79 0 10 -8 1
.insn 0x95 0 0 0 0

## entry: enc_st_src_set
## type: socket_filter
## raw
## desc: an immediate store with a non-zero src_reg
.insn 0x7a 10 1 -8 0
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_neg_imm_set
## type: socket_filter
## raw
## desc: neg with a non-zero immediate
.insn 0xb7 0 0 0 1
.insn 0x87 0 0 0 1
.insn 0x95 0 0 0 0

## entry: enc_end_bad_width
## type: socket_filter
## raw
## desc: a byte swap of width 24
.insn 0xb7 0 0 0 1
.insn 0xdc 0 0 0 24
.insn 0x95 0 0 0 0

## entry: enc_end_ok
## type: socket_filter
## raw
## desc: be32 (0xdc, imm 32)
.insn 0xb7 0 0 0 1
.insn 0xdc 0 0 0 32
.insn 0x95 0 0 0 0

## entry: enc_lddw_second_opcode
## type: socket_filter
## raw
## desc: the second slot of an lddw has a non-zero opcode
.insn 0x18 0 0 0 1
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_lddw_second_regs
## type: socket_filter
## raw
## desc: the second slot of an lddw has register fields set
.insn 0x18 0 0 0 1
.insn 0x00 1 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_lddw_bad_src
## type: socket_filter
## raw
## desc: an lddw pseudo source of 7 is not defined
.insn 0x18 0 7 0 0
.insn 0x00 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_lddw_bad_map_fd
## type: socket_filter
## raw
## desc: an lddw of map fd -1
.insn 0x18 1 1 0 -1
.insn 0x00 0 0 0 0
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_lddw_ok
## type: socket_filter
## raw
## desc: a plain 64-bit immediate load
.insn 0x18 0 0 0 1
.insn 0x00 0 0 0 2
.insn 0x95 0 0 0 0

## entry: enc_map_idx_out_of_range
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a map index past the map list (BPF_PSEUDO_MAP_IDX 3 with one map)
ld_pseudo r1, 5, 3
r0 = 0
exit

## entry: enc_ld_abs_socket_filter
## type: socket_filter
## desc: ld_abs in a socket filter (legacy packet access)
r6 = r1
r0 = *(u8 *)skb[12]
exit

## entry: enc_ld_abs_xdp
## type: xdp
## desc: ld_abs is not allowed in XDP
r6 = r1
r0 = *(u8 *)skb[12]
exit

## entry: enc_ld_abs_ctx_not_r6
## type: socket_filter
## desc: ld_abs needs the context in r6
r0 = *(u8 *)skb[12]
exit

## entry: enc_atomic_bad_op
## type: socket_filter
## raw
## desc: an atomic with operation code 0x02
.insn 0x7a 10 0 -8 0
.insn 0xb7 1 0 0 1
.insn 0xdb 10 1 -8 2
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_atomic_fetch_add_ok
## type: socket_filter
## raw
## desc: atomic fetch-add (0x01) on the stack
.insn 0x7a 10 0 -8 0
.insn 0xb7 1 0 0 1
.insn 0xdb 10 1 -8 1
.insn 0xbf 0 1 0 0
.insn 0x95 0 0 0 0

## entry: enc_atomic_u16
## type: socket_filter
## raw
## desc: atomic add on a 16-bit location (only 32 and 64 bits exist)
.insn 0x7a 10 0 -8 0
.insn 0xb7 1 0 0 1
.insn 0xcb 10 1 -8 0
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_sdiv_off_2
## type: socket_filter
## raw
## desc: div with offset 2 (only 0 and 1, sdiv, exist)
.insn 0xb7 0 0 0 8
.insn 0x37 0 0 2 2
.insn 0x95 0 0 0 0

## entry: enc_movsx_bad_off
## type: socket_filter
## raw
## desc: a sign-extending move from 24 bits
.insn 0xb7 1 0 0 1
.insn 0xbf 0 1 24 0
.insn 0x95 0 0 0 0

## entry: enc_gotol_ok
## type: socket_filter
## raw
## desc: gotol (JMP32 | JA) with the offset in the immediate
.insn 0xb7 0 0 0 0
.insn 0x06 0 0 0 0
.insn 0xb7 0 0 0 1
.insn 0x95 0 0 0 0

## entry: enc_ldx_mem_sx_ok
## type: socket_filter
## raw
## desc: a sign-extending load (cpu v4) from the stack
.insn 0x7a 10 0 -8 -1
.insn 0x91 0 10 -8 0
.insn 0x95 0 0 0 0

## entry: enc_xadd_u64_legacy
## type: socket_filter
## raw
## desc: the legacy XADD encoding (atomic add, imm 0)
.insn 0x7a 10 0 -8 0
.insn 0xb7 1 0 0 1
.insn 0xdb 10 1 -8 0
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0

## entry: enc_atomic_misaligned_map_value
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: an atomic add at a misaligned offset in a map value (atomics are always aligned)
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto +2
r1 = 1
lock *(u32 *)(r0 + 1) += w1
r0 = 0
exit

## entry: enc_atomic_aligned_map_value
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: the same atomic add at an aligned offset
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto +2
r1 = 1
lock *(u32 *)(r0 + 4) += w1
r0 = 0
exit

## entry: enc_atomic_misaligned_map_value_var
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: an atomic fetch-add at a variable offset that may be misaligned
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto +5
r1 = *(u32 *)(r0 + 0)
r1 &= 2
r0 += r1
r1 = 1
r1 = atomic_fetch_add((u64 *)(r0 + 0), r1)
r0 = 0
exit
