// SPDX-License-Identifier: GPL-2.0
/*
 * tc_port_rewrite.c - a tc classifier that moves UDP traffic from one
 * destination port to another (by default 8053 -> 53).
 *
 * The port is changed with bpf_skb_store_bytes() and the UDP checksum fixed
 * incrementally with bpf_l4_csum_replace(): the checksum covers the port, so
 * replacing 16 bits of the header means replacing the same 16 bits in the
 * one's-complement sum. The IPv4 header checksum does not cover the UDP
 * header and is left alone. BPF_F_MARK_MANGLED_0 keeps a zero UDP checksum
 * ("no checksum") at zero, and turns a computed zero into 0xffff.
 *
 * Every packet continues (TC_ACT_OK); `rewritten` counts the changed ones.
 *
 *   pybpf run examples/tc_port_rewrite.c -r tests/data/udp_ports.pcap -w out.pcap
 */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u16 from_port = 8053;
const volatile __u16 to_port = 53;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rewritten SEC(".maps");

#define IP_FRAG_OFFSET_MASK 0x1fff

SEC("tc")
int tc_port_rewrite(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 l4_off, zero = 0;
	__be16 old_port, new_port;
	__u64 *counter;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	/* Only the first fragment carries the UDP header. */
	if (ip->frag_off & bpf_htons(IP_FRAG_OFFSET_MASK))
		return TC_ACT_OK;
	if (ip->ihl < 5)
		return TC_ACT_OK;
	l4_off = sizeof(*eth) + ip->ihl * 4;
	udp = data + l4_off;
	if ((void *)(udp + 1) > data_end)
		return TC_ACT_OK;
	if (udp->dest != bpf_htons(from_port))
		return TC_ACT_OK;

	old_port = udp->dest;
	new_port = bpf_htons(to_port);
	/* Fix the checksum first: the helpers may move skb->data, so udp is
	 * not used after them. */
	if (bpf_l4_csum_replace(skb, l4_off + offsetof(struct udphdr, check), old_port,
				new_port, BPF_F_MARK_MANGLED_0 | sizeof(new_port)))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, l4_off + offsetof(struct udphdr, dest), &new_port,
				sizeof(new_port), 0))
		return TC_ACT_SHOT;

	counter = bpf_map_lookup_elem(&rewritten, &zero);
	if (counter)
		__sync_fetch_and_add(counter, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
