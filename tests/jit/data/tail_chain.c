// SPDX-License-Identifier: GPL-2.0
/* Tail calls: `chain` counts and tail-calls itself until the kernel's limit of 33 stops
 * it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

int chain(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct __sk_buff *));
} next SEC(".maps") = {
	.values = { [0] = (void *)&chain },
};

SEC("tc")
int chain(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&calls, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	skb->mark += 1;
	bpf_tail_call(skb, &next, 0);
	return n ? (int)*n : -1;
}

char LICENSE[] SEC("license") = "GPL";
