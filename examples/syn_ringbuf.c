// SPDX-License-Identifier: GPL-2.0
/*
 * syn_ringbuf.c - report every TCP connection attempt (SYN without ACK) to user
 * space through a BPF ring buffer, and let all packets pass.
 *
 * Each event is reserved in the ring buffer, filled in place and submitted;
 * when the buffer is full the event is counted in `lost` instead. User space
 * reads the events in order, e.g. with
 *   pybpf.RingBuffer(obj.maps["events"], callback).poll()
 *
 * Event layout (16 bytes): saddr, daddr as in the IP header (network byte
 * order), then sport, dport and the IP TTL in host byte order.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct syn_event {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 ttl;
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);	/* bytes; a power of two, page aligned */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

SEC("xdp")
int syn_ringbuf(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct syn_event *event;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u32 zero = 0;
	__u64 *counter;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		return XDP_PASS;
	tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	if (!tcp->syn || tcp->ack)
		return XDP_PASS;

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		counter = bpf_map_lookup_elem(&lost, &zero);
		if (counter)
			__sync_fetch_and_add(counter, 1);
		return XDP_PASS;
	}
	event->saddr = ip->saddr;
	event->daddr = ip->daddr;
	event->sport = bpf_ntohs(tcp->source);
	event->dport = bpf_ntohs(tcp->dest);
	event->ttl = ip->ttl;
	event->pad[0] = event->pad[1] = event->pad[2] = 0;
	bpf_ringbuf_submit(event, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
