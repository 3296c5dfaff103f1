// SPDX-License-Identifier: GPL-2.0
/* Programs whose runs change what the next run sees: BPF_PROG_TEST_RUN with repeat=N
 * runs them N times over one packet, so byte 0 ends N higher and `runs` counts N. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

static __always_inline void count(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&runs, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("xdp")
int bump_xdp(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (data + 1 > end)
		return XDP_ABORTED;
	data[0]++;
	count();
	return XDP_PASS;
}

SEC("tc")
int bump_tc(struct __sk_buff *skb)
{
	unsigned char *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;

	if (data + 1 > end)
		return 2;
	data[0]++;
	skb->mark += 3;
	count();
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct __sk_buff *));
} next SEC(".maps") = {
	.values = { [0] = (void *)&bump_tc },
};

/* Counts, then tail-calls bump_tc: each run leaves the native repeat loop for Python,
 * which follows the tail call, and comes back for the next run. */
SEC("tc")
int bump_tail(struct __sk_buff *skb)
{
	count();
	bpf_tail_call(skb, &next, 0);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
