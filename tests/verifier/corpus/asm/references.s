# Reference tracking: acquired objects (ring buffer records, sockets) must be released
# exactly once on every path.

## entry: ref_ringbuf_reserve_submit
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: reserve, null check, write, submit
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = 7
*(u64 *)(r0 + 0) = r1
r1 = r0
r2 = 0
call 132
out:
r0 = 0
exit

## entry: ref_ringbuf_reserve_discard
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: reserve then discard
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = r0
r2 = 0
call 133
out:
r0 = 0
exit

## entry: ref_ringbuf_leak
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: reserve without submit or discard
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = 7
*(u64 *)(r0 + 0) = r1
out:
r0 = 0
exit

## entry: ref_ringbuf_leak_one_branch
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: submitted on one branch only
r6 = *(u32 *)(r1 + 0)
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
if r6 == 0 goto out
r1 = r0
r2 = 0
call 132
out:
r0 = 0
exit

## entry: ref_ringbuf_submit_unchecked
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: submit without the null check
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
r1 = r0
r2 = 0
call 132
r0 = 0
exit

## entry: ref_ringbuf_write_unchecked
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: write into the reservation before the null check
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
r1 = 7
*(u64 *)(r0 + 0) = r1
r0 = 0
exit

## entry: ref_ringbuf_write_past_end
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: write 8 bytes at offset 12 of a 16-byte reservation
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = 7
*(u64 *)(r0 + 12) = r1
r1 = r0
r2 = 0
call 132
out:
r0 = 0
exit

## entry: ref_ringbuf_use_after_submit
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: write into the record after submitting it
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r6 = r0
r1 = r0
r2 = 0
call 132
r1 = 7
*(u64 *)(r6 + 0) = r1
out:
r0 = 0
exit

## entry: ref_ringbuf_double_submit
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: submit the same record twice
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r6 = r0
r1 = r0
r2 = 0
call 132
r1 = r6
r2 = 0
call 132
out:
r0 = 0
exit

## entry: ref_ringbuf_size_not_const
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: reserve with a size that is not a constant
r6 = *(u32 *)(r1 + 0)
r6 &= 0xff
ld_pseudo r1, 5, 0
r2 = r6
r3 = 0
call 131
if r0 == 0 goto out
r1 = r0
r2 = 0
call 133
out:
r0 = 0
exit

## entry: ref_ringbuf_submit_stack
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: submit a stack pointer
r1 = r10
r1 += -16
r2 = 0
call 132
r0 = 0
exit

## entry: ref_ringbuf_submit_moved_ptr
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: submit a pointer moved into the record
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r0 += 8
r1 = r0
r2 = 0
call 132
out:
r0 = 0
exit

## entry: ref_ringbuf_reserve_on_hash
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: bpf_ringbuf_reserve on a hash map
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = r0
r2 = 0
call 133
out:
r0 = 0
exit

## entry: ref_ringbuf_copy_then_submit
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: submit through a copy of the pointer; the original is released too
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r6 = r0
r1 = r6
r2 = 0
call 132
out:
r0 = 0
exit

## entry: ref_ringbuf_spilled_and_submitted
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: the reservation spilled to the stack and filled before submit
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
*(u64 *)(r10 - 8) = r0
r1 = *(u64 *)(r10 - 8)
r2 = 0
call 132
out:
r0 = 0
exit

## entry: ref_ringbuf_reserve_in_subprog_leak
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: a subprogram that reserves a record and discards it before returning
call f
r0 = 0
exit
f:
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r1 = r0
r2 = 0
call 133
out:
r0 = 0
exit

## entry: ref_sk_lookup_release
## type: sched_cls
## desc: bpf_sk_lookup_tcp then bpf_sk_release
r6 = r1
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call 84
if r0 == 0 goto out
r1 = r0
call 86
out:
r0 = 0
exit

## entry: ref_sk_lookup_leak
## type: sched_cls
## desc: bpf_sk_lookup_tcp without release
r6 = r1
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call 84
r0 = 0
exit

## entry: ref_sk_lookup_leak_checked
## type: sched_cls
## desc: bpf_sk_lookup_tcp, null check, no release
r6 = r1
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call 84
if r0 == 0 goto out
r0 = *(u32 *)(r0 + 4)
out:
r0 = 0
exit

## entry: ref_sk_release_unchecked
## type: sched_cls
## desc: bpf_sk_release of a possibly-null socket
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call 84
r1 = r0
call 86
r0 = 0
exit

## entry: ref_sk_read_field
## type: sched_cls
## desc: read bpf_sock->family of a looked-up socket, then release
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call 84
if r0 == 0 goto out
r6 = *(u32 *)(r0 + 4)
r1 = r0
call 86
r0 = r6
r0 &= 1
out:
r0 = 0
exit

## entry: ref_sk_read_after_release
## type: sched_cls
## desc: read the socket after releasing it
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call 84
if r0 == 0 goto out
r6 = r0
r1 = r0
call 86
r0 = *(u32 *)(r6 + 4)
out:
r0 = 0
exit

## entry: ref_sk_lookup_tuple_size_bad
## type: sched_cls
## desc: bpf_sk_lookup_tcp with a tuple size beyond the initialised stack
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 20
r4 = -1
r5 = 0
call 84
if r0 == 0 goto out
r1 = r0
call 86
out:
r0 = 0
exit

## entry: ref_sk_write_field
## type: sched_cls
## desc: write to a looked-up socket
r2 = 0
*(u64 *)(r10 - 16) = r2
*(u32 *)(r10 - 8) = r2
r2 = r10
r2 += -16
r3 = 12
r4 = -1
r5 = 0
call 84
if r0 == 0 goto out
r1 = 0
*(u32 *)(r0 + 4) = r1
r1 = r0
call 86
out:
r0 = 0
exit

## entry: ref_ringbuf_tail_call_leak
## type: sched_cls
## maps: [{"type": "ringbuf", "max_entries": 4096}, {"type": "prog_array", "key_size": 4, "value_size": 4, "max_entries": 4}]
## desc: a tail call while a ringbuf reservation is held (the call would leak it)
r6 = r1
ld_pseudo r1, 5, 0
r2 = 16
r3 = 0
call 131
if r0 == 0 goto out
r7 = r0
r1 = r6
ld_pseudo r2, 5, 1
r3 = 0
call 12
r1 = r7
r2 = 0
call 133
out:
r0 = 0
exit
