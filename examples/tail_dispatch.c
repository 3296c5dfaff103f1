// SPDX-License-Identifier: GPL-2.0
/*
 * tail_dispatch.c - an XDP dispatcher that hands each IPv4 packet to a handler
 * program chosen by its IP protocol, through a tail call.
 *
 * `handlers` is a BPF_MAP_TYPE_PROG_ARRAY indexed by protocol number, filled
 * at load time from the `.values` initialiser below (the loader puts each
 * program's fd in its slot). bpf_tail_call() jumps to the handler and does
 * not return; when the slot is empty it does return, and the dispatcher drops
 * the packet (no handler: unknown protocol). Non-IPv4 traffic passes.
 *
 *   ICMP: echo requests are answered in place and sent back (XDP_TX);
 *         other ICMP passes.
 *   TCP:  passes.
 *   UDP:  is redirected to interface `udp_ifindex` (XDP_REDIRECT).
 *
 * `by_protocol` counts the packets each protocol number brought in.
 *
 *   pybpf run examples/tail_dispatch.c --prog dispatch -r tests/data/protocols.pcap -w out.pcap
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* The ICMP echo header (<linux/icmp.h> drags in libc's socket headers). */
struct icmp_echo {
	__u8 type;
	__u8 code;
	__u16 checksum;
	__be16 id;
	__be16 sequence;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

/* Where UDP packets go. */
const volatile __u32 udp_ifindex = 3;

int handle_icmp(struct xdp_md *ctx);
int handle_tcp(struct xdp_md *ctx);
int handle_udp(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} handlers SEC(".maps") = {
	.values = {
		[IPPROTO_ICMP] = (void *)&handle_icmp,
		[IPPROTO_TCP] = (void *)&handle_tcp,
		[IPPROTO_UDP] = (void *)&handle_udp,
	},
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);		/* IP protocol number */
	__type(value, __u64);		/* packets */
} by_protocol SEC(".maps");

/* The IPv4 header of an Ethernet frame, or NULL when there is none. */
static __always_inline struct iphdr *ipv4_header(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NULL;
	return ip;
}

/* RFC 1624: the checksum after one 16-bit word of the data changed from old to new.
 * One's-complement sums do not depend on byte order, so raw words work. */
static __always_inline __u16 csum_update(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
	struct iphdr *ip = ipv4_header(ctx);
	__u32 protocol;
	__u64 *counter;

	if (!ip)
		return XDP_PASS;
	protocol = ip->protocol;
	counter = bpf_map_lookup_elem(&by_protocol, &protocol);
	if (counter)
		__sync_fetch_and_add(counter, 1);
	bpf_tail_call(ctx, &handlers, protocol);
	/* Only reached when handlers has no program for this protocol. */
	return XDP_DROP;
}

SEC("xdp")
int handle_icmp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = ipv4_header(ctx);
	struct icmp_echo *icmp;
	unsigned char mac[ETH_ALEN];
	__u16 old_word, new_word;
	__u32 addr;

	if (!ip || ip->ihl != 5)
		return XDP_PASS;
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) > data_end || icmp->type != ICMP_ECHO || icmp->code != 0)
		return XDP_PASS;

	/* Turn the request into its reply: swap the addresses ... */
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);
	addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;	/* the IP checksum is a sum: swapping keeps it */
	/* ... and change the type, fixing the ICMP checksum for that word. */
	old_word = *(__u16 *)icmp;
	icmp->type = ICMP_ECHOREPLY;
	new_word = *(__u16 *)icmp;
	icmp->checksum = csum_update(icmp->checksum, old_word, new_word);
	return XDP_TX;
}

SEC("xdp")
int handle_tcp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int handle_udp(struct xdp_md *ctx)
{
	return bpf_redirect(udp_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
