// cgroup skb egress: count the packets and bytes a cgroup sends; let everything through.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static void add(__u32 key, __u64 delta)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &key);
	if (v)
		__sync_fetch_and_add(v, delta);
}
/* stats[0]: packets, stats[1]: bytes */

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	add(0, 1);
	add(1, skb->len);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
