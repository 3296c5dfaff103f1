# Privilege: programs the verifier judges differently for root (CAP_PERFMON/SYS_ADMIN)
# and for a loader with CAP_BPF + CAP_NET_ADMIN only.

## entry: priv_leak_fp_into_map
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the frame pointer stored into a map value
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
*(u64 *)(r0 + 0) = r10
out:
r0 = 0
exit

## entry: priv_leak_ctx_into_map
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: the context pointer stored into a map value
r6 = r1
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
*(u64 *)(r0 + 0) = r6
out:
r0 = 0
exit

## entry: priv_leak_map_value_into_itself
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: a map value's own address stored into it
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
*(u64 *)(r0 + 0) = r0
out:
r0 = 0
exit

## entry: priv_scalar_into_map
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: a scalar stored into a map value is fine at both levels
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = 42
*(u64 *)(r0 + 0) = r1
out:
r0 = 0
exit

## entry: priv_leak_pointer_via_update
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a spilled stack pointer passed as the value of bpf_map_update_elem
r1 = r10
*(u64 *)(r10 - 16) = r1
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
r3 = r10
r3 += -16
ld_pseudo r1, 5, 0
r4 = 0
call 2
r0 = 0
exit

## entry: priv_return_ctx
## type: socket_filter
## desc: a socket filter returns its context pointer
r0 = r1
exit

## entry: priv_return_fp_xdp
## type: xdp
## desc: XDP returns the frame pointer
r0 = r10
exit

## entry: priv_ctx_compare_zero
## type: socket_filter
## desc: the context pointer compared with zero
r0 = 0
if r1 == 0 goto out
r0 = 1
out:
exit

## entry: priv_pkt_compare_ok
## type: xdp
## desc: packet pointers may be compared at both levels
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r0 = 2
if r2 > r3 goto out
r0 = 1
out:
exit

## entry: priv_uninit_stack_to_helper
## type: socket_filter
## maps: [{"type": "hash", "key_size": 8, "value_size": 8, "max_entries": 4}]
## desc: an 8-byte key of which 4 bytes were written
r1 = 0
*(u32 *)(r10 - 8) = r1
r2 = r10
r2 += -8
ld_pseudo r1, 5, 0
call 1
r0 = 0
exit

## entry: priv_trace_printk
## type: socket_filter
## desc: bpf_trace_printk needs CAP_PERFMON
r1 = 0x0a6968 ll
*(u64 *)(r10 - 8) = r1
r1 = r10
r1 += -8
r2 = 4
call 6
r0 = 0
exit

## entry: priv_kprobe_type
## type: kprobe
## desc: loading a kprobe program at all needs CAP_PERFMON
r0 = 0
exit

## entry: priv_spec_map_value_oob_alu
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: a map value pointer moved by a bounded scalar then back out of the value
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = *(u8 *)(r0 + 0)
r1 &= 7
r0 += r1
r0 += -8
r0 += 8
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: priv_spec_map_value_const_oob_then_back
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: a map value pointer moved 24 bytes out of the value and back before the read
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r0 += 24
r0 += -24
r0 = *(u8 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: priv_spec_stack_var_offset_init
## type: socket_filter
## desc: a bounded variable offset into fully initialised stack memory
r2 = *(u32 *)(r1 + 0)
r2 &= 15
r1 = 0
*(u64 *)(r10 - 16) = r1
*(u64 *)(r10 - 8) = r1
r3 = r10
r3 += -16
r3 += r2
r0 = *(u8 *)(r3 + 0)
exit

## entry: priv_partial_ptr_copy_32
## type: socket_filter
## desc: the low 32 bits of the context pointer
w0 = w1
exit

## entry: priv_ptr_sub_same_map_value
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 16, "max_entries": 1}]
## desc: the difference of two pointers into the same map value
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r1 = r0
r1 += 8
r1 -= r0
r0 = r1
exit
out:
r0 = 0
exit

## entry: priv_ptr_to_ringbuf
## type: socket_filter
## maps: [{"type": "ringbuf", "max_entries": 4096}]
## desc: the frame pointer written into a ring buffer record
ld_pseudo r1, 5, 0
r2 = 8
r3 = 0
call 131
if r0 == 0 goto out
*(u64 *)(r0 + 0) = r10
r1 = r0
r2 = 0
call 132
out:
r0 = 0
exit

## entry: priv_ptr_to_perf_output
## type: socket_filter
## maps: [{"type": "perf_event_array", "key_size": 4, "value_size": 4, "max_entries": 4}]
## desc: a stack slot holding a spilled pointer sent with bpf_perf_event_output
r6 = r1
*(u64 *)(r10 - 8) = r10
ld_pseudo r2, 5, 0
r3 = 0xffffffff ll
r4 = r10
r4 += -8
r5 = 8
call 25
r0 = 0
exit

## entry: priv_bounded_loop_small
## type: socket_filter
## desc: a three-iteration loop
r0 = 0
r1 = 0
loop:
r0 += 1
r1 += 1
if r1 < 3 goto loop
exit

## entry: priv_probe_read_user_sf
## type: socket_filter
## desc: bpf_probe_read_kernel is a tracing helper, not in socket filters
r1 = r10
r1 += -8
r2 = 8
r3 = 0
call 113
r0 = 0
exit
