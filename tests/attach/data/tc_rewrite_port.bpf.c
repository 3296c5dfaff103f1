// tc egress: IPv4 UDP to port 7000 leaves addressed to port 7001 (checksum fixed up).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define DPORT_OFF (ETH_HLEN + sizeof(struct iphdr) + __builtin_offsetof(struct udphdr, dest))
#define CSUM_OFF (ETH_HLEN + sizeof(struct iphdr) + __builtin_offsetof(struct udphdr, check))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static void add(__u32 key, __u64 delta)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &key);
	if (v)
		__sync_fetch_and_add(v, delta);
}
/* stats[0]: datagrams rewritten */

SEC("tc")
int rewrite_7000(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__be16 old_port, new_port = bpf_htons(7001);

	if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->protocol != IPPROTO_UDP || ip->ihl != 5 || udp->dest != bpf_htons(7000))
		return TC_ACT_OK;
	old_port = udp->dest;
	bpf_l4_csum_replace(skb, CSUM_OFF, old_port, new_port, sizeof(new_port));
	bpf_skb_store_bytes(skb, DPORT_OFF, &new_port, sizeof(new_port), 0);
	add(0, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
