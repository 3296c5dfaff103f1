# Limits: stack size, instruction counts, verifier complexity.

## entry: lim_stack_512
## type: socket_filter
## desc: the deepest 8-byte slot of a 512-byte stack
r1 = 0
*(u64 *)(r10 - 512) = r1
r0 = *(u64 *)(r10 - 512)
exit

## entry: lim_stack_520
## type: socket_filter
## desc: a write one slot below the 512-byte stack
r1 = 0
*(u64 *)(r10 - 520) = r1
r0 = 0
exit

## entry: lim_stack_513_byte
## type: socket_filter
## desc: a byte store at r10-513 is just outside the stack
r1 = 0
*(u8 *)(r10 - 513) = r1
r0 = 0
exit

## entry: lim_stack_above_fp
## type: socket_filter
## desc: a store at r10+0 is above the frame
r1 = 0
*(u64 *)(r10 + 0) = r1
r0 = 0
exit

## entry: lim_stack_straddle_top
## type: socket_filter
## desc: an 8-byte store at r10-4 would straddle the top of the frame
r1 = 0
*(u32 *)(r10 - 4) = r1
*(u64 *)(r10 - 4) = r1
r0 = 0
exit

## entry: lim_stack_via_ptr_past
## type: socket_filter
## desc: a stack pointer moved to -512 then written at -8 from there
r1 = r10
r1 += -512
r2 = 0
*(u64 *)(r1 - 8) = r2
r0 = 0
exit

## entry: lim_straight_4100
## type: socket_filter
## desc: 4100 straight-line instructions (over BPF_MAXINSNS, fine with CAP_BPF)
r0 = 0
.rept 4098
r0 += 1
.endr
exit

## entry: lim_straight_4096
## type: socket_filter
## desc: exactly BPF_MAXINSNS instructions
r0 = 0
.rept 4094
r0 += 1
.endr
exit

## entry: lim_complexity_diamonds
## type: socket_filter
## desc: 24 independent diamonds over different values: states multiply but pruning keeps it small
r6 = *(u32 *)(r1 + 0)
r0 = 0
.rept 24
if r6 > 100 goto +1
r0 += 1
.endr
exit

## entry: lim_complexity_explosion
## type: socket_filter
## desc: 20 diamonds in sequence over a changing value: state pruning keeps the walk small
r6 = *(u32 *)(r1 + 0)
r7 = *(u32 *)(r1 + 4)
r0 = 0
.rept 20
r6 += r7
if r6 > 1000 goto +2
r0 += 1
goto +1
r0 += 3
.endr
exit

## entry: lim_jmp_seq_budget
## type: socket_filter
## desc: a loop over a 32-bit counter with a long body reaches the instruction budget
r1 = *(u32 *)(r1 + 0)
r0 = 0
loop:
.rept 40
r0 += 1
.endr
r1 += 1
if r1 < 100000 goto loop
exit
