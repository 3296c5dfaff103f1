# Control flow: the CFG checks that run before any state is tracked.

## entry: cf_minimal
## type: socket_filter
## desc: the smallest valid program, r0 = 0; exit
r0 = 0
exit

## entry: cf_forward_jump
## type: socket_filter
## desc: a forward jump over one instruction; both paths reach exit
r1 = *(u32 *)(r1 + 0)      # skb->len: a scalar
r0 = 1
if r1 == 0 goto skip
r0 = 2
skip:
exit

## entry: cf_unreachable_tail
## type: socket_filter
## desc: an instruction after the only exit is unreachable
r0 = 0
exit
r0 = 1
exit

## entry: cf_unreachable_skipped
## type: socket_filter
## desc: an unconditional jump leaves the instruction after it dead
r0 = 0
goto over
r0 = 1
over:
exit

## entry: cf_ja_zero
## type: socket_filter
## desc: goto +0 is a no-op jump to the next instruction and is fine
r0 = 0
goto next
next:
exit

## entry: cf_jump_out_of_range_forward
## type: socket_filter
## raw
## desc: a jump whose target is past the end of the program
.insn 0xb7 0 0 0 0        # r0 = 0
.insn 0x15 1 0 5 0        # if r1 == 0 goto +5 (past the end)
.insn 0x95 0 0 0 0        # exit

## entry: cf_jump_out_of_range_backward
## type: socket_filter
## raw
## desc: a jump whose target is before the first instruction
.insn 0xb7 0 0 0 0        # r0 = 0
.insn 0x05 0 0 -3 0       # goto -3
.insn 0x95 0 0 0 0        # exit

## entry: cf_jump_to_last_plus_one
## type: socket_filter
## raw
## desc: off-by-one: a jump to one past the last instruction is out of range
.insn 0xb7 0 0 0 0
.insn 0x15 1 0 1 0        # if r1 == 0 goto +1 -> insn 3 (does not exist)
.insn 0x95 0 0 0 0

## entry: cf_jump_to_last_insn
## type: socket_filter
## raw
## desc: off-by-one partner: a jump to exactly the last instruction is fine
.insn 0x61 1 1 0 0        # r1 = *(u32 *)(r1 + 0)
.insn 0xb7 0 0 0 0
.insn 0x15 1 0 0 0        # if r1 == 0 goto +0
.insn 0x95 0 0 0 0

## entry: cf_jump_into_lddw
## type: socket_filter
## raw
## desc: a jump into the second slot of an lddw
.insn 0xb7 0 0 0 0
.insn 0x15 1 0 1 0        # if r1 == 0 goto +1 (the lddw's second half)
.insn 0x18 2 0 0 1        # r2 = 1 ll
.insn 0x00 0 0 0 0
.insn 0x95 0 0 0 0

## entry: cf_jump_over_lddw
## type: socket_filter
## desc: a jump over a whole lddw lands on the next instruction and is fine
r1 = *(u32 *)(r1 + 0)      # skb->len: a scalar
r0 = 0
if r1 == 0 goto after
r2 = 0x123456789 ll
after:
exit

## entry: cf_no_exit
## type: socket_filter
## desc: the last instruction is neither exit nor a jump
r0 = 0
r0 += 1

## entry: cf_fallthrough_off_end
## type: socket_filter
## desc: a conditional jump as the last instruction can fall off the end
r0 = 0
if r1 == 0 goto -2

## entry: cf_last_insn_goto_back
## type: socket_filter
## desc: a program ending in goto back to an exit is fine
r1 = *(u32 *)(r1 + 0)      # skb->len: a scalar
r0 = 0
if r1 != 0 goto out
goto out
out:
exit

## entry: cf_lddw_at_end
## type: socket_filter
## raw
## desc: a program ending in the first half of an lddw
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0
.insn 0x18 1 0 0 0

## entry: cf_exit_in_middle
## type: socket_filter
## desc: two exits on two branches of one test
r1 = *(u32 *)(r1 + 0)      # skb->len: a scalar
if r1 != 0 goto a
r0 = 0
exit
a:
r0 = 1
exit

## entry: cf_dead_branch_after_const
## type: socket_filter
## desc: a branch never taken (constant compare) is pruned, the dead code is still reachable in the CFG
r0 = 0
r2 = 5
if r2 == 7 goto bad
exit
bad:
r0 = *(u64 *)(r9 + 0)
exit

## entry: cf_live_branch_uninit
## type: socket_filter
## desc: the same shape with a branch that is taken reads an uninitialised register
r0 = 0
r2 = 7
if r2 == 7 goto bad
exit
bad:
r0 = *(u64 *)(r9 + 0)
exit

## entry: cf_empty_jump_chain
## type: socket_filter
## desc: a chain of unconditional jumps ending at exit
r0 = 3
goto l1
l2:
goto l3
l1:
goto l2
l3:
exit

## entry: cf_jump32_forward
## type: socket_filter
## desc: a 32-bit conditional jump (jmp32 class) as a forward branch
r1 = *(u32 *)(r1 + 0)      # skb->len: a scalar
r0 = 0
if w1 > 7 goto out
r0 = 1
out:
exit

## entry: cf_unreachable_subprog_code
## type: socket_filter
## desc: dead code after the main exit makes the main subprogram end in a non-exit before the callee
r0 = 0
call sub
exit
r0 = 5
sub:
r0 = 1
exit

## entry: cf_jump_into_other_subprog
## type: socket_filter
## desc: a jump from the main program into a subprogram's body
r0 = 0
if r1 == 0 goto inside
call sub
exit
sub:
r0 = 1
inside:
exit

## entry: cf_subprog_falls_into_next
## type: socket_filter
## desc: a label that is not a call target is not a subprogram boundary: f1 runs on into the exit after f2
call f1
r0 = 0
exit
f1:
r0 = 1
f2:
r0 = 2
exit

## entry: cf_callx_reg
## type: socket_filter
## desc: an indirect call (callx) is not supported
r0 = 0
r2 = 0
callx r2
exit
