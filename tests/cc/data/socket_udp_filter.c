// Socket filter: keep IPv4 UDP packets (whole), drop everything else.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

SEC("socket")
int socket_udp_filter(struct __sk_buff *skb)
{
	__u16 proto;
	__u8 l4;
	__u32 key;
	__u64 *n;

	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, sizeof(proto)) < 0)
		return 0;
	if (bpf_ntohs(proto) != ETH_P_IP)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &l4, 1) < 0)
		return 0;
	key = l4 == IPPROTO_UDP;
	n = bpf_map_lookup_elem(&verdicts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return key ? skb->len : 0;
}

char LICENSE[] SEC("license") = "GPL";
