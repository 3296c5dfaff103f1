# Context access per program type: which fields may be read, written, narrowed.

## entry: ctx_xdp_read_ingress_ifindex
## type: xdp
## desc: xdp_md->ingress_ifindex read
r0 = *(u32 *)(r1 + 12)
exit

## entry: ctx_xdp_read_rx_queue
## type: xdp
## desc: xdp_md->rx_queue_index read
r0 = *(u32 *)(r1 + 16)
exit

## entry: ctx_xdp_read_egress_no_attach
## type: xdp
## desc: xdp_md->egress_ifindex needs the devmap attach type
r0 = *(u32 *)(r1 + 20)
exit

## entry: ctx_xdp_read_egress_devmap
## type: xdp
## attach: 33
## desc: xdp_md->egress_ifindex with expected_attach_type BPF_XDP_DEVMAP
r0 = *(u32 *)(r1 + 20)
exit

## entry: ctx_xdp_read_past_end
## type: xdp
## desc: a read just past struct xdp_md
r0 = *(u32 *)(r1 + 24)
exit

## entry: ctx_xdp_write_data
## type: xdp
## desc: xdp_md is read-only
r2 = 0
*(u32 *)(r1 + 0) = r2
r0 = 0
exit

## entry: ctx_xdp_read_data_u64
## type: xdp
## desc: an 8-byte read of xdp_md->data
r0 = *(u64 *)(r1 + 0)
exit

## entry: ctx_xdp_narrow_ifindex
## type: xdp
## desc: a 1-byte read of ingress_ifindex
r0 = *(u8 *)(r1 + 12)
exit

## entry: ctx_xdp_misaligned
## type: xdp
## desc: a 4-byte read straddling data and data_end
r0 = *(u32 *)(r1 + 2)
exit

## entry: ctx_skb_sf_read_len
## type: socket_filter
## desc: __sk_buff->len in a socket filter
r0 = *(u32 *)(r1 + 0)
exit

## entry: ctx_skb_sf_read_protocol
## type: socket_filter
## desc: __sk_buff->protocol
r0 = *(u32 *)(r1 + 16)
exit

## entry: ctx_skb_sf_narrow_len_u16
## type: socket_filter
## desc: a 2-byte read of len
r0 = *(u16 *)(r1 + 0)
exit

## entry: ctx_skb_sf_narrow_len_u8_hi
## type: socket_filter
## desc: a 1-byte read of len's top byte
r0 = *(u8 *)(r1 + 3)
exit

## entry: ctx_skb_sf_write_mark
## type: socket_filter
## desc: socket filters may not write mark
r2 = 1
*(u32 *)(r1 + 8) = r2
r0 = 0
exit

## entry: ctx_skb_sf_write_cb
## type: socket_filter
## desc: socket filters may write cb[0]
r2 = 1
*(u32 *)(r1 + 48) = r2
r0 = 0
exit

## entry: ctx_skb_sf_read_tc_classid
## type: socket_filter
## desc: tc_classid is tc-only
r0 = *(u32 *)(r1 + 72)
exit

## entry: ctx_skb_sf_read_past_end
## type: socket_filter
## desc: a read past struct __sk_buff
r0 = *(u32 *)(r1 + 192)
exit

## entry: ctx_skb_sf_negative
## type: socket_filter
## desc: a read before the context
r0 = *(u32 *)(r1 - 4)
exit

## entry: ctx_skb_sf_read_sk
## type: socket_filter
## desc: __sk_buff->sk in a socket filter
r0 = *(u64 *)(r1 + 168)
exit

## entry: ctx_skb_sf_read_remote_ip4
## type: socket_filter
## desc: __sk_buff->remote_ip4
r0 = *(u32 *)(r1 + 92)
exit

## entry: ctx_skb_tc_write_mark
## type: sched_cls
## desc: tc may write mark
r2 = 1
*(u32 *)(r1 + 8) = r2
r0 = 0
exit

## entry: ctx_skb_tc_write_tc_classid
## type: sched_cls
## desc: tc may write tc_classid
r2 = 1
*(u32 *)(r1 + 72) = r2
r0 = 0
exit

## entry: ctx_skb_tc_write_len
## type: sched_cls
## desc: len is read-only for tc
r2 = 1
*(u32 *)(r1 + 0) = r2
r0 = 0
exit

## entry: ctx_skb_tc_write_mark_u16
## type: sched_cls
## desc: a narrow write of mark
r2 = 1
*(u16 *)(r1 + 8) = r2
r0 = 0
exit

## entry: ctx_skb_tc_read_tstamp
## type: sched_cls
## desc: __sk_buff->tstamp (8 bytes)
r0 = *(u64 *)(r1 + 152)
r0 = 0
exit

## entry: ctx_skb_tc_read_tstamp_u32
## type: sched_cls
## desc: a 4-byte read of tstamp
r0 = *(u32 *)(r1 + 152)
r0 = 0
exit

## entry: ctx_skb_tc_write_data
## type: sched_cls
## desc: data is read-only
r2 = 0
*(u32 *)(r1 + 76) = r2
r0 = 0
exit

## entry: ctx_skb_tc_read_wire_len
## type: sched_cls
## desc: __sk_buff->wire_len
r0 = *(u32 *)(r1 + 160)
r0 = 0
exit

## entry: ctx_skb_tc_write_hwtstamp
## type: sched_cls
## desc: hwtstamp is read-only
r2 = 0
*(u64 *)(r1 + 184) = r2
r0 = 0
exit

## entry: ctx_skb_cg_write_mark
## type: cgroup_skb
## desc: cgroup_skb may write mark
r2 = 1
*(u32 *)(r1 + 8) = r2
r0 = 1
exit

## entry: ctx_skb_cg_read_tc_index
## type: cgroup_skb
## desc: tc_index is not readable in cgroup_skb
r0 = *(u32 *)(r1 + 44)
r0 = 1
exit

## entry: ctx_skb_cg_write_priority
## type: cgroup_skb
## desc: cgroup_skb may write priority
r2 = 1
*(u32 *)(r1 + 32) = r2
r0 = 1
exit

## entry: ctx_skb_cg_read_sk
## type: cgroup_skb
## desc: __sk_buff->sk in cgroup_skb is a socket pointer
r0 = *(u64 *)(r1 + 168)
r0 = 1
exit

## entry: ctx_sock_addr_read_port
## type: cgroup_sock_addr
## attach: 10
## desc: connect4: user_port read
r0 = *(u32 *)(r1 + 24)
r0 = 1
exit

## entry: ctx_sock_addr_write_ip4
## type: cgroup_sock_addr
## attach: 10
## desc: connect4: user_ip4 write
r2 = 0x0100007f
*(u32 *)(r1 + 4) = r2
r0 = 1
exit

## entry: ctx_sock_addr_write_ip6_in_v4
## type: cgroup_sock_addr
## attach: 10
## desc: connect4 may not write user_ip6
r2 = 0
*(u32 *)(r1 + 8) = r2
r0 = 1
exit

## entry: ctx_sock_addr_write_ip6_in_v6
## type: cgroup_sock_addr
## attach: 11
## desc: connect6 may write user_ip6
r2 = 0
*(u32 *)(r1 + 8) = r2
r0 = 1
exit

## entry: ctx_sock_addr_write_family
## type: cgroup_sock_addr
## attach: 10
## desc: family is read-only
r2 = 2
*(u32 *)(r1 + 28) = r2
r0 = 1
exit

## entry: ctx_sock_addr_msg_src_connect
## type: cgroup_sock_addr
## attach: 10
## desc: msg_src_ip4 exists only for sendmsg
r0 = *(u32 *)(r1 + 40)
r0 = 1
exit

## entry: ctx_sock_addr_msg_src_sendmsg
## type: cgroup_sock_addr
## attach: 14
## desc: udp4 sendmsg may write msg_src_ip4
r2 = 0
*(u32 *)(r1 + 40) = r2
r0 = 1
exit

## entry: ctx_sock_addr_narrow_port
## type: cgroup_sock_addr
## attach: 10
## desc: a 2-byte read of user_port
r0 = *(u16 *)(r1 + 24)
r0 = 1
exit

## entry: ctx_sock_ops_read_op
## type: sock_ops
## desc: bpf_sock_ops->op read
r0 = *(u32 *)(r1 + 0)
r0 = 1
exit

## entry: ctx_sock_ops_write_reply
## type: sock_ops
## desc: bpf_sock_ops->reply write
r2 = 1
*(u32 *)(r1 + 4) = r2
r0 = 1
exit

## entry: ctx_sock_ops_write_op
## type: sock_ops
## desc: op is read-only
r2 = 1
*(u32 *)(r1 + 0) = r2
r0 = 1
exit

## entry: ctx_sock_ops_read_remote_ip4
## type: sock_ops
## desc: bpf_sock_ops->remote_ip4
r0 = *(u32 *)(r1 + 24)
r0 = 1
exit

## entry: ctx_sock_ops_narrow_op
## type: sock_ops
## desc: a 1-byte read of op
r0 = *(u8 *)(r1 + 0)
r0 = 1
exit

## entry: ctx_tracepoint_read
## type: tracepoint
## desc: a tracepoint record read
r0 = *(u64 *)(r1 + 8)
r0 = 0
exit

## entry: ctx_tracepoint_write
## type: tracepoint
## desc: tracepoint records are read-only
r2 = 0
*(u64 *)(r1 + 8) = r2
r0 = 0
exit

## entry: ctx_tracepoint_misaligned
## type: tracepoint
## desc: a misaligned tracepoint read
r0 = *(u64 *)(r1 + 4)
r0 = 0
exit

## entry: ctx_tracepoint_far
## type: tracepoint
## desc: a read at offset 4096 of a tracepoint record (checked only against PERF_MAX_TRACE_SIZE)
r0 = *(u64 *)(r1 + 4096)
r0 = 0
exit

## entry: ctx_raw_tp_arg0
## type: raw_tracepoint
## desc: raw tracepoint args[0]
r0 = *(u64 *)(r1 + 0)
r0 = 0
exit

## entry: ctx_raw_tp_arg12
## type: raw_tracepoint
## desc: raw tracepoint args[12]: past the 12 arguments
r0 = *(u64 *)(r1 + 96)
r0 = 0
exit

## entry: ctx_raw_tp_narrow
## type: raw_tracepoint
## desc: a 4-byte read of args[0]
r0 = *(u32 *)(r1 + 0)
r0 = 0
exit

## entry: ctx_kprobe_read_di
## type: kprobe
## desc: pt_regs->di (x86_64)
r0 = *(u64 *)(r1 + 112)
r0 = 0
exit

## entry: ctx_kprobe_read_past_pt_regs
## type: kprobe
## desc: a read past struct pt_regs
r0 = *(u64 *)(r1 + 168)
r0 = 0
exit

## entry: ctx_kprobe_write
## type: kprobe
## desc: pt_regs is read-only
r2 = 0
*(u64 *)(r1 + 112) = r2
r0 = 0
exit

## entry: ctx_kprobe_narrow
## type: kprobe
## desc: a 4-byte read of a pt_regs register
r0 = *(u32 *)(r1 + 112)
r0 = 0
exit

## entry: ctx_perf_event_sample_period
## type: perf_event
## desc: bpf_perf_event_data->sample_period
r0 = *(u64 *)(r1 + 168)
r0 = 0
exit

## entry: ctx_perf_event_sample_period_narrow
## type: perf_event
## desc: a 4-byte read of sample_period
r0 = *(u32 *)(r1 + 168)
r0 = 0
exit

## entry: ctx_perf_event_addr
## type: perf_event
## desc: bpf_perf_event_data->addr
r0 = *(u64 *)(r1 + 176)
r0 = 0
exit

## entry: ctx_perf_event_past_end
## type: perf_event
## desc: a read past bpf_perf_event_data
r0 = *(u64 *)(r1 + 184)
r0 = 0
exit

## entry: ctx_perf_event_write
## type: perf_event
## desc: perf event data is read-only
r2 = 0
*(u64 *)(r1 + 168) = r2
r0 = 0
exit
