// SPDX-License-Identifier: GPL-2.0
/*
 * socket_dns.c - a socket filter that keeps only DNS over UDP (port 53, either
 * direction) and drops everything else.
 *
 * A socket filter's return value is how many bytes of the packet to keep:
 * 0 drops it, skb->len keeps all of it. Socket filters may not read the packet
 * directly, so headers are copied out with bpf_skb_load_bytes(); offset 0 is
 * the network header (an AF_PACKET SOCK_DGRAM or an IP socket sees packets
 * from there, and so does BPF_PROG_TEST_RUN for this program type).
 *
 * `snaplen`, when not 0, caps the bytes kept, like tcpdump -s.
 *
 *   pybpf run examples/socket_dns.c -r tests/data/dns_mix.pcap -w dns_only.pcap
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define DNS_PORT 53
#define IP_FRAG_OFFSET_MASK 0x1fff

const volatile __u32 snaplen = 0;

/* [0]: packets kept, [1]: packets dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

static __always_inline __u32 decide(__u32 keep)
{
	__u32 index = keep ? 0 : 1;
	__u64 *counter = bpf_map_lookup_elem(&verdicts, &index);

	if (counter)
		__sync_fetch_and_add(counter, 1);
	return keep;
}

SEC("socket")
int socket_dns(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;
	__u32 len = skb->len;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return decide(0);
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return decide(0);
	if (ip.protocol != IPPROTO_UDP || ip.ihl < 5 ||
	    (ip.frag_off & bpf_htons(IP_FRAG_OFFSET_MASK)))
		return decide(0);
	if (bpf_skb_load_bytes(skb, ip.ihl * 4, &udp, sizeof(udp)))
		return decide(0);
	if (udp.source != bpf_htons(DNS_PORT) && udp.dest != bpf_htons(DNS_PORT))
		return decide(0);
	if (snaplen && snaplen < len)
		len = snaplen;
	return decide(len);
}

char LICENSE[] SEC("license") = "GPL";
