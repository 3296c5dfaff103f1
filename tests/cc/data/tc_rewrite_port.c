// tc: rewrite UDP destination port 53 to 5353, fixing the L4 checksum.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define UDP_DEST_OFF (ETH_HLEN + sizeof(struct iphdr) + offsetof(struct udphdr, dest))
#define UDP_CSUM_OFF (ETH_HLEN + sizeof(struct iphdr) + offsetof(struct udphdr, check))

const volatile __u16 from_port = 53;
const volatile __u16 to_port = 5353;

static __always_inline int is_udp4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end)
		return 0;
	return eth->h_proto == bpf_htons(ETH_P_IP) && ip->protocol == IPPROTO_UDP && ip->ihl == 5;
}

SEC("tc")
int tc_rewrite_port(struct __sk_buff *skb)
{
	__be16 old_port, new_port = bpf_htons(to_port);

	if (!is_udp4(skb))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, UDP_DEST_OFF, &old_port, sizeof(old_port)) < 0)
		return TC_ACT_OK;
	if (old_port != bpf_htons(from_port))
		return TC_ACT_OK;
	bpf_l4_csum_replace(skb, UDP_CSUM_OFF, old_port, new_port,
			    BPF_F_PSEUDO_HDR | sizeof(new_port));
	bpf_skb_store_bytes(skb, UDP_DEST_OFF, &new_port, sizeof(new_port), 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
