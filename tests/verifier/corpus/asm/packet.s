# Direct packet access: data + N checked against data_end before reading N bytes.

## entry: pkt_xdp_check_then_read
## type: xdp
## desc: data + 14 > data_end excluded, then read the EtherType at 12
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto out
r0 = *(u16 *)(r2 + 12)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_off_by_one
## type: xdp
## desc: data + 13 checked, a 2-byte read at 12 reaches byte 14
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 13
if r4 > r3 goto out
r0 = *(u16 *)(r2 + 12)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_no_check
## type: xdp
## desc: reading the packet with no bounds check
r2 = *(u32 *)(r1 + 0)
r0 = *(u8 *)(r2 + 0)
exit

## entry: pkt_xdp_ge_check
## type: xdp
## desc: data + 14 >= data_end excluded: the range is still 14
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 >= r3 goto out
r0 = *(u16 *)(r2 + 12)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_end_lt_reversed
## type: xdp
## desc: data_end < data + 14 excluded (operands reversed)
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r3 < r4 goto out
r0 = *(u16 *)(r2 + 12)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_le_goto_read
## type: xdp
## desc: if data + 14 <= data_end goto read
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 <= r3 goto read
r0 = 2
exit
read:
r0 = *(u16 *)(r2 + 12)
exit

## entry: pkt_xdp_read_wrong_branch
## type: xdp
## desc: the read is on the branch where data + 14 > data_end
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 <= r3 goto out
r0 = *(u16 *)(r2 + 12)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_negative_offset
## type: xdp
## desc: a read one byte before data
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto out
r0 = *(u8 *)(r2 - 1)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_write_ok
## type: xdp
## desc: XDP may write into the packet after the check
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 6
if r4 > r3 goto out
r5 = 0
*(u16 *)(r2 + 4) = r5
out:
r0 = 2
exit

## entry: pkt_xdp_check_via_moved_ptr
## type: xdp
## desc: the checked pointer itself is moved: data + 14 as r2, read r2 - 2
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r2 += 14
if r2 > r3 goto out
r0 = *(u16 *)(r2 - 2)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_var_offset_checked
## type: xdp
## desc: a variable offset (masked byte) added to data, then checked with + 4
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 1
if r4 > r3 goto out
r5 = *(u8 *)(r2 + 0)
r5 &= 0x3c
r2 += r5
r4 = r2
r4 += 4
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_var_offset_unchecked
## type: xdp
## desc: the same variable offset without the second check
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 1
if r4 > r3 goto out
r5 = *(u8 *)(r2 + 0)
r5 &= 0x3c
r2 += r5
r0 = *(u32 *)(r2 + 0)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_var_offset_unbounded
## type: xdp
## desc: adding an unbounded 32-bit scalar to a packet pointer
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r5 = *(u32 *)(r1 + 12)
r2 += r5
r4 = r2
r4 += 4
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_huge_const
## type: xdp
## desc: a constant offset past the 64 KiB packet limit
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r2 += 0x10000
if r2 > r3 goto out
r0 = 1
exit
out:
r0 = 2
exit

## entry: pkt_xdp_meta_checked
## type: xdp
## desc: data_meta + 4 checked against data, then read
r2 = *(u32 *)(r1 + 8)
r3 = *(u32 *)(r1 + 0)
r4 = r2
r4 += 4
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
exit
out:
r0 = 2
exit

## entry: pkt_xdp_meta_checked_against_end
## type: xdp
## desc: data_meta checked against data_end is not a check against data
r2 = *(u32 *)(r1 + 8)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 4
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 0)
exit
out:
r0 = 2
exit

## entry: pkt_tc_check_then_write
## type: sched_cls
## desc: tc may write into the packet after the check
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 14
if r4 > r3 goto out
r5 = 0
*(u8 *)(r2 + 0) = r5
out:
r0 = 0
exit

## entry: pkt_tc_off_by_one_u32
## type: sched_cls
## desc: data + 16 checked, a 4-byte read at 13 reaches 17
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 16
if r4 > r3 goto out
r0 = *(u32 *)(r2 + 13)
exit
out:
r0 = 0
exit

## entry: pkt_cgroup_skb_read
## type: cgroup_skb
## desc: cgroup_skb may read the packet after the check
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 1
if r4 > r3 goto out
r0 = *(u8 *)(r2 + 0)
r0 &= 1
exit
out:
r0 = 1
exit

## entry: pkt_cgroup_skb_write
## type: cgroup_skb
## desc: cgroup_skb may not write into the packet
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 1
if r4 > r3 goto out
r5 = 0
*(u8 *)(r2 + 0) = r5
out:
r0 = 1
exit

## entry: pkt_socket_filter_data
## type: socket_filter
## desc: socket filters have no __sk_buff data field
r0 = *(u32 *)(r1 + 76)
exit

## entry: pkt_after_adjust_head
## type: xdp
## desc: bpf_xdp_adjust_head invalidates packet pointers taken before it
r6 = r1
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto out
r7 = r2
r1 = r6
r2 = 4
call 44
r0 = *(u8 *)(r7 + 0)
exit
out:
r0 = 2
exit

## entry: pkt_reload_after_adjust_head
## type: xdp
## desc: reloading data and data_end after bpf_xdp_adjust_head and checking again
r6 = r1
r2 = 4
call 44
r2 = *(u32 *)(r6 + 0)
r3 = *(u32 *)(r6 + 4)
r4 = r2
r4 += 1
if r4 > r3 goto out
r0 = *(u8 *)(r2 + 0)
exit
out:
r0 = 2
exit

## entry: pkt_compare_jmp32
## type: xdp
## desc: a 32-bit compare of packet pointers is no bounds check
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if w4 > w3 goto out
r0 = *(u16 *)(r2 + 12)
exit
out:
r0 = 2
exit

## entry: pkt_ptr_to_helper
## type: sched_cls
## desc: a checked packet pointer passed as memory to bpf_csum_diff
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 8
if r4 > r3 goto out
r1 = r2
r2 = 8
r3 = 0
r4 = 0
r5 = 0
call 28
out:
r0 = 0
exit

## entry: pkt_ptr_to_helper_too_long
## type: sched_cls
## desc: the same with 12 bytes when only 8 were checked
r2 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r2
r4 += 8
if r4 > r3 goto out
r1 = r2
r2 = 12
r3 = 0
r4 = 0
r5 = 0
call 28
out:
r0 = 0
exit

## entry: pkt_read_past_end
## type: xdp
## desc: a read through a pointer known to be past data_end (mark_pkt_end)
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto over
r0 = 2
exit
over:
r0 = *(u8 *)(r4 - 1)
exit

## entry: pkt_past_end_decides_branch
## type: xdp
## desc: a pointer past data_end decides the next comparison with it: the other branch (an unchecked read) is dead
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 > r3 goto over
r0 = 2
exit
over:
if r4 > r3 goto fine
r0 = *(u8 *)(r2 + 0)
exit
fine:
r0 = 1
exit

## entry: pkt_at_end_ge_decides_branch
## type: xdp
## desc: data + 14 >= data_end taken: the pointer is at or past the end, so a second >= is decided
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 14
if r4 >= r3 goto over
r0 = 2
exit
over:
if r4 >= r3 goto fine
r0 = *(u8 *)(r2 + 0)
exit
fine:
r0 = 1
exit
