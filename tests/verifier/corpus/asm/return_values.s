# Return values: the range R0 must be in at exit, per program type and attach type.

## entry: ret_cgroup_skb_0
## type: cgroup_skb
## desc: cgroup_skb ingress returns 0
r0 = 0
exit

## entry: ret_cgroup_skb_1
## type: cgroup_skb
## desc: cgroup_skb ingress returns 1
r0 = 1
exit

## entry: ret_cgroup_skb_2
## type: cgroup_skb
## desc: cgroup_skb ingress returns 2: outside [0, 1]
r0 = 2
exit

## entry: ret_cgroup_skb_egress_3
## type: cgroup_skb
## attach: 1
## desc: cgroup_skb egress may return 3 (congestion notification)
r0 = 3
exit

## entry: ret_cgroup_skb_egress_4
## type: cgroup_skb
## attach: 1
## desc: cgroup_skb egress returns 4: outside [0, 3]
r0 = 4
exit

## entry: ret_cgroup_skb_unknown
## type: cgroup_skb
## desc: cgroup_skb returns skb->len
r0 = *(u32 *)(r1 + 0)
exit

## entry: ret_cgroup_skb_masked
## type: cgroup_skb
## desc: cgroup_skb returns skb->len & 1
r0 = *(u32 *)(r1 + 0)
r0 &= 1
exit

## entry: ret_cgroup_skb_negative
## type: cgroup_skb
## desc: cgroup_skb returns -1
r0 = -1
exit

## entry: ret_cgroup_skb_pointer
## type: cgroup_skb
## desc: cgroup_skb returns a stack pointer
r0 = r10
exit

## entry: ret_cgroup_skb_upper_bits
## type: cgroup_skb
## desc: cgroup_skb returns 1 in the low half, 1 in the high half
r0 = 0x100000001 ll
exit

## entry: ret_cgroup_skb_w0
## type: cgroup_skb
## desc: a 32-bit move leaves exactly 1
r0 = -1
w0 = 1
exit

## entry: ret_sock_addr_connect4_1
## type: cgroup_sock_addr
## attach: 10
## desc: connect4 returns 1
r0 = 1
exit

## entry: ret_sock_addr_connect4_2
## type: cgroup_sock_addr
## attach: 10
## desc: connect4 returns 2
r0 = 2
exit

## entry: ret_sock_addr_recvmsg_1
## type: cgroup_sock_addr
## attach: 19
## desc: udp4 recvmsg returns 1
r0 = 1
exit

## entry: ret_sock_addr_recvmsg_0
## type: cgroup_sock_addr
## attach: 19
## desc: udp4 recvmsg must return 1
r0 = 0
exit

## entry: ret_cgroup_sock_create_1
## type: cgroup_sock
## attach: 2
## desc: cgroup_sock (sock_create) returns 1
r0 = 1
exit

## entry: ret_cgroup_sock_create_5
## type: cgroup_sock
## attach: 2
## desc: cgroup_sock (sock_create) returns 5
r0 = 5
exit

## entry: ret_cgroup_device_1
## type: cgroup_device
## attach: 6
## desc: cgroup_device returns 1
r0 = 1
exit

## entry: ret_cgroup_device_unknown
## type: cgroup_device
## attach: 6
## desc: cgroup_device returns access_type
r0 = *(u32 *)(r1 + 0)
exit

## entry: ret_cgroup_sysctl_1
## type: cgroup_sysctl
## attach: 18
## desc: cgroup_sysctl returns 1
r0 = 1
exit

## entry: ret_cgroup_sysctl_2
## type: cgroup_sysctl
## attach: 18
## desc: cgroup_sysctl returns 2
r0 = 2
exit

## entry: ret_sockopt_get_1
## type: cgroup_sockopt
## attach: 21
## desc: getsockopt returns 1
r0 = 1
exit

## entry: ret_sockopt_get_2
## type: cgroup_sockopt
## attach: 21
## desc: getsockopt returns 2
r0 = 2
exit

## entry: ret_sk_lookup_1
## type: sk_lookup
## attach: 36
## desc: sk_lookup returns SK_PASS
r0 = 1
exit

## entry: ret_sk_lookup_2
## type: sk_lookup
## attach: 36
## desc: sk_lookup returns 2
r0 = 2
exit

## entry: ret_xdp_any
## type: xdp
## desc: XDP return values are not range-checked
r0 = 100
exit

## entry: ret_xdp_pointer
## type: xdp
## desc: XDP returns its context pointer
r0 = r1
exit

## entry: ret_tc_any
## type: sched_cls
## desc: tc returns TC_ACT_UNSPEC (-1)
r0 = -1
exit

## entry: ret_socket_filter_any
## type: socket_filter
## desc: socket filters return any scalar
r0 = *(u32 *)(r1 + 0)
exit

## entry: ret_sock_ops_any
## type: sock_ops
## desc: sock_ops returns 7
r0 = 7
exit

## entry: ret_kprobe_any
## type: kprobe
## desc: kprobes return any scalar
r0 = 12345
exit

## entry: ret_unset_r0_cgroup
## type: cgroup_skb
## desc: cgroup_skb exits with r0 unset
r1 = 1
exit
