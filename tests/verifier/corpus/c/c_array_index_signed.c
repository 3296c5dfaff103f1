// corpus: ranges: a signed index checked only against the upper bound
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct val { __u64 slots[8]; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct val);
} table SEC(".maps");
SEC("socket")
int prog(struct __sk_buff *skb)
{
	__u32 key = 0;
	int idx = (int)skb->mark;
	struct val *v = bpf_map_lookup_elem(&table, &key);
	if (!v || idx >= 8)
		return 0;
	return v->slots[idx];
}
char LICENSE[] SEC("license") = "GPL";
