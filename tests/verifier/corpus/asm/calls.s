# BPF-to-BPF calls: subprogram boundaries, call depth, combined stack, argument passing.

## entry: call_simple_subprog
## type: socket_filter
## desc: main calls one static subprogram that returns a constant
call f
exit
f:
r0 = 7
exit

## entry: call_pass_args
## type: socket_filter
## desc: arguments in r1-r5 reach the callee, its r0 comes back
r1 = 2
r2 = 3
call add
exit
add:
r0 = r1
r0 += r2
exit

## entry: call_callee_reads_r6
## type: socket_filter
## desc: callee-saved r6 is not initialised in the callee's frame
r6 = 1
call f
exit
f:
r0 = r6
exit

## entry: call_caller_r1_clobbered
## type: socket_filter
## desc: r1-r5 are scratched by the call; reading r1 after it is an uninitialised read
r1 = 5
call f
r0 = r1
exit
f:
r0 = 0
exit

## entry: call_r6_preserved
## type: socket_filter
## desc: r6 keeps its value across a call
r6 = 5
call f
r0 = r6
exit
f:
r6 = 9
r0 = 0
exit

## entry: call_missing_r0
## type: socket_filter
## desc: a subprogram that exits without setting r0
call f
exit
f:
exit

## entry: call_pass_stack_pointer
## type: socket_filter
## desc: the caller passes a pointer to its stack; the callee writes through it
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = r10
r1 += -8
call f
r0 = *(u64 *)(r10 - 8)
exit
f:
r2 = 42
*(u64 *)(r1 + 0) = r2
r0 = 0
exit

## entry: call_return_stack_pointer
## type: socket_filter
## desc: a callee returning a pointer into its own (dead) stack frame
call f
r0 = 0
exit
f:
r0 = r10
r0 += -8
exit

## entry: call_depth_8
## type: socket_filter
## desc: eight frames (main + 7 nested calls) are allowed
call f1
exit
f1:
call f2
exit
f2:
call f3
exit
f3:
call f4
exit
f4:
call f5
exit
f5:
call f6
exit
f6:
call f7
exit
f7:
r0 = 0
exit

## entry: call_depth_9
## type: socket_filter
## desc: nine frames are one too many
call f1
exit
f1:
call f2
exit
f2:
call f3
exit
f3:
call f4
exit
f4:
call f5
exit
f5:
call f6
exit
f6:
call f7
exit
f7:
call f8
exit
f8:
r0 = 0
exit

## entry: call_recursion
## type: socket_filter
## desc: a subprogram that calls itself
call f
exit
f:
call f
exit

## entry: call_mutual_recursion
## type: socket_filter
## desc: two subprograms calling each other
call f
exit
f:
call g
exit
g:
call f
exit

## entry: call_combined_stack_ok
## type: socket_filter
## desc: two frames of 256 bytes each: 512 combined is the limit, allowed
r1 = 0
*(u64 *)(r10 - 256) = r1
call f
exit
f:
r1 = 0
*(u64 *)(r10 - 256) = r1
r0 = 0
exit

## entry: call_combined_stack_too_big
## type: socket_filter
## desc: frames of 256 and 264 bytes: 520 combined exceeds 512
r1 = 0
*(u64 *)(r10 - 256) = r1
call f
exit
f:
r1 = 0
*(u64 *)(r10 - 264) = r1
r0 = 0
exit

## entry: call_combined_stack_three_frames
## type: socket_filter
## desc: three frames of 192 bytes each: 576 combined
r1 = 0
*(u64 *)(r10 - 192) = r1
call f
exit
f:
r1 = 0
*(u64 *)(r10 - 192) = r1
call g
exit
g:
r1 = 0
*(u64 *)(r10 - 192) = r1
r0 = 0
exit

## entry: call_combined_stack_sibling_calls
## type: socket_filter
## desc: two sibling callees of 256 bytes each from a 256-byte main: only one is live at a time
r1 = 0
*(u64 *)(r10 - 256) = r1
call f
call g
exit
f:
r1 = 0
*(u64 *)(r10 - 256) = r1
r0 = 0
exit
g:
r1 = 0
*(u64 *)(r10 - 256) = r1
r0 = 0
exit

## entry: call_into_middle_of_lddw
## type: socket_filter
## raw
## desc: a call whose target is the second slot of an lddw
.insn 0x85 0 1 0 2          # call pc+2: the lddw second slot
.insn 0x95 0 0 0 0
.insn 0x18 0 0 0 0
.insn 0x00 0 0 0 0
.insn 0x95 0 0 0 0

## entry: call_out_of_range
## type: socket_filter
## raw
## desc: a bpf-to-bpf call past the end of the program
.insn 0x85 0 1 0 10         # call pc+10
.insn 0x95 0 0 0 0

## entry: call_negative_into_main
## type: socket_filter
## raw
## desc: a call back to instruction 0 (the main program is not a subprogram target)
.insn 0xb7 0 0 0 0
.insn 0x85 0 1 0 -2         # call pc-2 -> insn 0
.insn 0x95 0 0 0 0

## entry: call_subprog_ctx_arg
## type: socket_filter
## desc: the ctx pointer passed to a subprogram keeps its type there
r6 = r1
r1 = r6
call f
exit
f:
r0 = *(u32 *)(r1 + 0)
exit

## entry: call_subprog_returns_scalar_used_as_ptr
## type: socket_filter
## desc: the caller dereferences the scalar a subprogram returned
call f
r0 = *(u64 *)(r0 + 0)
exit
f:
r0 = 0
exit

## entry: call_subprog_map_value_arg
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: a checked map value pointer passed to a subprogram that reads it
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = r0
call f
exit
out:
r0 = 0
exit
f:
r0 = *(u64 *)(r1 + 8)
exit

## entry: call_subprog_unchecked_map_value_arg
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: an array lookup with constant key 0 (cannot fail) passed unchecked to a subprogram that reads it
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r1 = r0
call f
exit
f:
r0 = *(u64 *)(r1 + 8)
exit

## entry: call_subprog_tail_exit_only
## type: socket_filter
## desc: a subprogram that is a single exit (r0 set by the caller is not visible)
r0 = 1
call f
exit
f:
exit

## entry: call_many_subprogs
## type: socket_filter
## desc: a chain of ten sibling calls to small subprograms
r6 = 0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
call f
r6 += r0
r0 = r6
exit
f:
r0 = 1
exit
