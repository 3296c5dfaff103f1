# Helper calls: argument types and sizes, map pointers, availability per program type.

## entry: hlp_unknown_id
## type: socket_filter
## desc: a helper id the kernel does not have
call 9999
r0 = 0
exit

## entry: hlp_prandom_ok
## type: socket_filter
## desc: bpf_get_prandom_u32 takes no arguments
call 7
exit

## entry: hlp_ktime_ok
## type: xdp
## desc: bpf_ktime_get_ns from XDP
call 5
r0 = 2
exit

## entry: hlp_not_allowed_xdp_adjust_head_in_tc
## type: sched_cls
## desc: bpf_xdp_adjust_head is not available to tc programs
r2 = 0
call 44
r0 = 0
exit

## entry: hlp_not_allowed_pid_tgid_in_xdp
## type: xdp
## desc: bpf_get_current_pid_tgid from XDP (a base helper on this kernel)
call 14
r0 = 2
exit

## entry: hlp_pid_tgid_in_kprobe
## type: kprobe
## desc: bpf_get_current_pid_tgid in a kprobe
call 14
r0 = 0
exit

## entry: hlp_skb_load_bytes_in_xdp
## type: xdp
## desc: bpf_skb_load_bytes is not an XDP helper
r2 = 0
r3 = r10
r3 += -8
r4 = 8
call 26
r0 = 2
exit

## entry: hlp_lookup_key_scalar
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a scalar as the key pointer of bpf_map_lookup_elem
ld_pseudo r1, 5, 0
r2 = 0
call 1
r0 = 0
exit

## entry: hlp_lookup_map_scalar
## type: socket_filter
## desc: a scalar as the map argument
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r1 = 5
call 1
r0 = 0
exit

## entry: hlp_lookup_map_ctx
## type: socket_filter
## desc: the context pointer as the map argument
r2 = r10
r2 += -4
r3 = 0
*(u32 *)(r10 - 4) = r3
call 1
r0 = 0
exit

## entry: hlp_lookup_key_too_large_for_stack
## type: socket_filter
## maps: [{"type": "hash", "key_size": 8, "value_size": 8, "max_entries": 4}]
## desc: an 8-byte key at r10-4 would reach above the frame
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r0 = 0
exit

## entry: hlp_lookup_key_from_map_value
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}, {"type": "hash", "key_size": 8, "value_size": 8, "max_entries": 4}]
## desc: a map value used as the key of another lookup
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r2 = r0
ld_pseudo r1, 5, 1
call 1
out:
r0 = 0
exit

## entry: hlp_lookup_key_map_value_too_small
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 4, "max_entries": 1}, {"type": "hash", "key_size": 8, "value_size": 8, "max_entries": 4}]
## desc: a 4-byte map value as an 8-byte key
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r2 = r0
ld_pseudo r1, 5, 1
call 1
out:
r0 = 0
exit

## entry: hlp_update_value_too_small
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 16, "max_entries": 4}]
## desc: a 16-byte value read from 8 initialised bytes at the top of the stack
r1 = 0
*(u64 *)(r10 - 8) = r1
r2 = r10
r2 += -8
r3 = r10
r3 += -8
ld_pseudo r1, 5, 0
r4 = 0
call 2
r0 = 0
exit

## entry: hlp_update_ok
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 16, "max_entries": 4}]
## desc: bpf_map_update_elem with key and value on the stack
r1 = 0
*(u64 *)(r10 - 8) = r1
*(u64 *)(r10 - 16) = r1
*(u64 *)(r10 - 24) = r1
r2 = r10
r2 += -8
r3 = r10
r3 += -24
ld_pseudo r1, 5, 0
r4 = 0
call 2
r0 = 0
exit

## entry: hlp_update_flags_reg
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the flags argument left uninitialised
r1 = 0
*(u64 *)(r10 - 8) = r1
r2 = r10
r2 += -8
r3 = r10
r3 += -8
ld_pseudo r1, 5, 0
call 2
r0 = 0
exit

## entry: hlp_map_ptr_not_constant
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}, {"type": "array", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the map argument is one of two maps of different types depending on a branch (allowed for lookup)
r6 = *(u32 *)(r1 + 0)
r1 = 0
*(u32 *)(r10 - 4) = r1
ld_pseudo r1, 5, 0
if r6 == 0 goto docall
ld_pseudo r1, 5, 1
docall:
r2 = r10
r2 += -4
call 1
r0 = 0
exit

## entry: hlp_map_ptr_two_same_shape
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}, {"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the map argument is one of two hash maps of the same shape depending on a branch
r6 = *(u32 *)(r1 + 0)
r1 = 0
*(u32 *)(r10 - 4) = r1
ld_pseudo r1, 5, 0
if r6 == 0 goto docall
ld_pseudo r1, 5, 1
docall:
r2 = r10
r2 += -4
call 1
r0 = 0
exit

## entry: hlp_probe_read_size_unbounded
## type: kprobe
## desc: bpf_probe_read_kernel with an unbounded size
r3 = *(u64 *)(r1 + 112)
r2 = *(u64 *)(r1 + 104)
r1 = r10
r1 += -16
call 113
r0 = 0
exit

## entry: hlp_probe_read_size_bounded
## type: kprobe
## desc: bpf_probe_read_kernel with the size masked to at most 15 into a 16-byte buffer
r3 = *(u64 *)(r1 + 112)
r2 = *(u64 *)(r1 + 104)
r2 &= 15
r1 = r10
r1 += -16
call 113
r0 = 0
exit

## entry: hlp_probe_read_size_zero
## type: kprobe
## desc: bpf_probe_read_kernel with a zero size
r3 = *(u64 *)(r1 + 112)
r2 = 0
r1 = r10
r1 += -16
call 113
r0 = 0
exit

## entry: hlp_probe_read_size_negative
## type: kprobe
## desc: bpf_probe_read_kernel with a size that may be negative
r3 = *(u64 *)(r1 + 112)
r2 = *(u64 *)(r1 + 104)
if r2 s> 8 goto out
r1 = r10
r1 += -16
call 113
out:
r0 = 0
exit

## entry: hlp_ringbuf_output_on_hash
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: bpf_ringbuf_output on a hash map
r1 = 0
*(u64 *)(r10 - 8) = r1
ld_pseudo r1, 5, 0
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call 130
r0 = 0
exit

## entry: hlp_ringbuf_output_ok
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: bpf_ringbuf_output of 8 stack bytes
r1 = 0
*(u64 *)(r10 - 8) = r1
ld_pseudo r1, 5, 0
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call 130
r0 = 0
exit

## entry: hlp_lookup_on_ringbuf
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: bpf_map_lookup_elem on a ring buffer
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r0 = 0
exit

## entry: hlp_tail_call_ok
## type: socket_filter
## maps: [{"type": "prog_array", "key_size": 4, "value_size": 4, "max_entries": 4}]
## desc: bpf_tail_call through a prog array
ld_pseudo r2, 5, 0
r3 = 1
call 12
r0 = 0
exit

## entry: hlp_tail_call_on_hash
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 4, "max_entries": 4}]
## desc: bpf_tail_call through a hash map
ld_pseudo r2, 5, 0
r3 = 1
call 12
r0 = 0
exit

## entry: hlp_queue_push_ok
## type: socket_filter
## maps: [{"type": "queue", "key_size": 0, "value_size": 8, "max_entries": 4}]
## desc: bpf_map_push_elem on a queue
r1 = 0
*(u64 *)(r10 - 8) = r1
ld_pseudo r1, 5, 0
r2 = r10
r2 += -8
r3 = 0
call 87
r0 = 0
exit

## entry: hlp_queue_lookup
## type: socket_filter
## maps: [{"type": "queue", "key_size": 0, "value_size": 8, "max_entries": 4}]
## desc: bpf_map_lookup_elem on a queue
r1 = 0
*(u64 *)(r10 - 8) = r1
ld_pseudo r1, 5, 0
r2 = r10
r2 += -8
call 1
r0 = 0
exit

## entry: hlp_skb_ctx_arg_wrong
## type: sched_cls
## desc: a stack pointer where bpf_skb_load_bytes wants the context
r1 = r10
r2 = 0
r3 = r10
r3 += -8
r4 = 8
call 26
r0 = 0
exit

## entry: hlp_perf_output_ok
## type: socket_filter
## maps: [{"type": "perf_event_array", "key_size": 4, "value_size": 4, "max_entries": 4}]
## desc: bpf_perf_event_output of 8 stack bytes to the current CPU
r2 = 0
*(u64 *)(r10 - 8) = r2
ld_pseudo r2, 5, 0
r3 = 0xffffffff ll
r4 = r10
r4 += -8
r5 = 8
call 25
r0 = 0
exit

## entry: hlp_csum_diff_size_not_const
## type: sched_cls
## desc: bpf_csum_diff with a from-size the verifier cannot bound
r6 = *(u32 *)(r1 + 0)
r1 = 0
*(u64 *)(r10 - 8) = r1
r1 = r10
r1 += -8
r2 = r6
r3 = 0
r4 = 0
r5 = 0
call 28
r0 = 0
exit

## entry: hlp_get_socket_cookie_sf
## type: socket_filter
## desc: bpf_get_socket_cookie with the skb context
call 46
r0 = 0
exit

## entry: hlp_arg_uninit_r1
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: bpf_map_delete_elem with the key argument (r2) never set
ld_pseudo r1, 5, 0
call 3
r0 = 0
exit

## entry: hlp_delete_ok
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: bpf_map_delete_elem with a stack key
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 3
r0 = 0
exit

## entry: hlp_delete_on_array
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: bpf_map_delete_elem on an array map is accepted (the call fails at run time)
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 3
r0 = 0
exit

## entry: hlp_loop_callback
## type: socket_filter
## raw
## desc: bpf_loop with a callback given by a pseudo-func lddw: callbacks need BTF func_info
.insn 0xb7 1 0 0 8          # r1 = 8 iterations
.insn 0x18 2 4 0 6          # r2 = callback (pc-relative: insn 8)
.insn 0x00 0 0 0 0
.insn 0xb7 3 0 0 0          # r3 = ctx 0
.insn 0xb7 4 0 0 0          # r4 = flags 0
.insn 0x85 0 0 0 181        # call bpf_loop
.insn 0xb7 0 0 0 0
.insn 0x95 0 0 0 0
.insn 0xb7 0 0 0 0          # callback: return 0 (continue)
.insn 0x95 0 0 0 0

## entry: helper_smp_processor_id_bounded
## type: socket_filter
## desc: bpf_get_smp_processor_id's result is below nr_cpu_ids: a bounded stack offset from the frame's bottom (alike on machines of up to 512 CPUs)
call 8
r1 = r10
r1 += -512
r1 += r0
r2 = 0
*(u8 *)(r1 + 0) = r2
r0 = 0
exit
