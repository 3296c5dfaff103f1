# Loops: bounded loops are verified by unrolling; loops that never end are rejected.

## entry: loop_bounded_count_10
## type: socket_filter
## desc: a counter from 0 to 10 with a back-edge
r0 = 0
r1 = 0
loop:
r0 += 2
r1 += 1
if r1 < 10 goto loop
exit

## entry: loop_bounded_countdown
## type: socket_filter
## desc: a count-down loop ending at zero
r0 = 0
r1 = 16
loop:
r0 += r1
r1 += -1
if r1 != 0 goto loop
exit

## entry: loop_infinite_self
## type: socket_filter
## desc: a conditional jump to itself that is always taken
r0 = 0
l:
if r0 == 0 goto l
exit

## entry: loop_infinite_no_progress
## type: socket_filter
## desc: a loop whose state never changes is an infinite loop
r0 = 0
r1 = 0
loop:
r0 = 1
if r1 == 0 goto loop
exit

## entry: loop_infinite_counter_wrong_direction
## type: socket_filter
## desc: a counter that moves away from its bound: the verifier runs out of budget
r0 = 0
r1 = 0
loop:
r1 += -1
if r1 != 5 goto loop
exit

## entry: loop_unknown_bound
## type: socket_filter
## desc: a loop bounded by an unknown value from the context (and r1 reused as counter)
r6 = *(u32 *)(r1 + 0)
r0 = 0
r1 = 0
loop:
r1 += 1
if r1 < r6 goto loop
exit

## entry: loop_unknown_bound_clamped
## type: socket_filter
## desc: the same loop with the bound clamped to 64 first
r6 = *(u32 *)(r1 + 0)
r6 &= 63
r0 = 0
r1 = 0
loop:
r1 += 1
if r1 < r6 goto loop
exit

## entry: loop_bounded_stack_writes
## type: socket_filter
## desc: a loop that zeroes 8 stack slots through a moving pointer
r2 = r10
r2 += -64
r3 = 0
loop:
r4 = 0
*(u64 *)(r2 + 0) = r4
r2 += 8
r3 += 1
if r3 < 8 goto loop
r0 = *(u64 *)(r10 - 64)
exit

## entry: loop_bounded_stack_overrun
## type: socket_filter
## desc: off-by-one loop: nine slots written from r10-64 walks into r10+0
r2 = r10
r2 += -64
r3 = 0
loop:
r4 = 0
*(u64 *)(r2 + 0) = r4
r2 += 8
r3 += 1
if r3 <= 8 goto loop
r0 = 0
exit

## entry: loop_nested_bounded
## type: socket_filter
## desc: two nested bounded loops
r0 = 0
r1 = 0
outer:
r2 = 0
inner:
r0 += 1
r2 += 1
if r2 < 4 goto inner
r1 += 1
if r1 < 4 goto outer
exit

## entry: loop_jmp32_counter
## type: socket_filter
## desc: a loop counted in a 32-bit subregister with a jmp32 test
r0 = 0
w1 = 0
loop:
w0 += 3
w1 += 1
if w1 < 20 goto loop
exit

## entry: loop_signed_bound
## type: socket_filter
## desc: a loop from -8 up to 0 with a signed test
r0 = 0
r1 = -8
loop:
r0 += 1
r1 += 1
if r1 s< 0 goto loop
exit

## entry: loop_infinite_two_blocks
## type: socket_filter
## desc: two blocks that jump to each other forever
r0 = 0
a:
r0 = 1
if r0 == 1 goto b
exit
b:
r0 = 2
goto a

## entry: loop_may_goto
## type: socket_filter
## raw
## desc: may_goto (JCOND) bounds a loop the verifier could not otherwise prove finite
.insn 0xb7 0 0 0 0          # r0 = 0
.insn 0xe5 0 0 2 0          # may_goto +2
.insn 0x07 0 0 0 1          # r0 += 1
.insn 0x05 0 0 -3 0         # goto -3 (back to may_goto)
.insn 0x95 0 0 0 0          # exit

## entry: loop_map_value_bound
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: a loop bounded by a value loaded from a map, clamped to 32
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r6 = *(u64 *)(r0 + 0)
if r6 > 32 goto out
r1 = 0
loop:
r1 += 1
if r1 < r6 goto loop
out:
r0 = 0
exit
