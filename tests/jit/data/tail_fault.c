// SPDX-License-Identifier: GPL-2.0
/* `to_fault` tail-calls `faults`, which writes through a pointer made from a number
 * (the verifier refuses it: loaded unverified, to see the fault reported from the
 * program it happened in). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int faults(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct __sk_buff *));
} next SEC(".maps") = {
	.values = { [0] = (void *)&faults },
};

SEC("tc")
int faults(struct __sk_buff *skb)
{
	*(volatile __u32 *)(long)skb->mark = 7;
	return 0;
}

SEC("tc")
int to_fault(struct __sk_buff *skb)
{
	skb->mark = 0x10;
	bpf_tail_call(skb, &next, 0);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
