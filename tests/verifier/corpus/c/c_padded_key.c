// corpus: stack: a map key struct with an uninitialised padding hole
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


struct key { __u8 proto; __u32 addr; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct key);
	__type(value, __u64);
} flows SEC(".maps");
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct key k;
	k.proto = skb->protocol;
	k.addr = skb->len;
	__u64 *v = bpf_map_lookup_elem(&flows, &k);
	return v ? *v : 0;
}
char LICENSE[] SEC("license") = "GPL";
