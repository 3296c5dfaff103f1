// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_ddos.c - drop IPv4 sources that send faster than a threshold.
 *
 * Every IPv4 packet is charged to its source address in `rates`, an LRU hash
 * (so a flood of spoofed sources evicts old entries instead of filling the
 * map). Each entry counts the packets seen in the current time window, read
 * with bpf_ktime_get_ns(). A source that sends more than `threshold` packets
 * in one window is added to `blocked`; from then on all its packets are
 * dropped, and the `blocked` value counts them. Entries may also be put in
 * `blocked` from user space before the run (a static blocklist).
 *
 * `threshold` and `window_ns` live in .rodata (`const volatile`): a loader
 * may set them before load, and the verifier then treats them as constants.
 *
 *   pybpf run examples/xdp_ddos.c -r tests/data/ddos.pcap -w passed.pcap
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Packets one source may send per window before it is blocked. */
const volatile __u64 threshold = 100;
/* Length of a rate window in nanoseconds (1 s). */
const volatile __u64 window_ns = 1000000000ULL;

/* The per-source state in `rates`. */
struct rate {
	__u64 window_start;	/* bpf_ktime_get_ns() when this window began */
	__u64 packets;		/* packets in the current window */
	__u64 total;		/* packets ever seen from this source */
};

/* Indexes of the `stats` array. */
enum stat {
	STAT_PASSED = 0,	/* IPv4 packets let through */
	STAT_DROPPED_BLOCKED,	/* dropped because the source was already blocked */
	STAT_DROPPED_RATE,	/* dropped because this packet crossed the threshold */
	STAT_NOT_IPV4,		/* passed untouched: not IPv4 */
	STAT_MALFORMED,		/* dropped: too short for its headers */
	STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);		/* IPv4 source address, network byte order */
	__type(value, struct rate);
} rates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* IPv4 source address, network byte order */
	__type(value, __u64);		/* packets dropped since it was blocked */
} blocked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *counter = bpf_map_lookup_elem(&stats, &which);

	if (counter)
		__sync_fetch_and_add(counter, 1);
}

/* Charge one packet to `saddr`; true when the source is now over the threshold. */
static __always_inline int over_rate(__u32 saddr)
{
	__u64 now = bpf_ktime_get_ns();
	struct rate *r = bpf_map_lookup_elem(&rates, &saddr);

	if (!r) {
		struct rate fresh = { .window_start = now, .packets = 1, .total = 1 };

		bpf_map_update_elem(&rates, &saddr, &fresh, BPF_ANY);
		return 1 > threshold;
	}
	if (now - r->window_start >= window_ns) {
		/* A new window: start counting again. */
		r->window_start = now;
		r->packets = 0;
	}
	r->total += 1;
	r->packets += 1;
	return r->packets > threshold;
}

SEC("xdp")
int xdp_ddos(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u64 *dropped;
	__u32 saddr;

	if ((void *)(eth + 1) > data_end) {
		count(STAT_MALFORMED);
		return XDP_DROP;
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		count(STAT_NOT_IPV4);
		return XDP_PASS;
	}
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end) {
		count(STAT_MALFORMED);
		return XDP_DROP;
	}
	saddr = ip->saddr;

	dropped = bpf_map_lookup_elem(&blocked, &saddr);
	if (dropped) {
		__sync_fetch_and_add(dropped, 1);
		count(STAT_DROPPED_BLOCKED);
		return XDP_DROP;
	}
	if (over_rate(saddr)) {
		__u64 first = 1;	/* this packet is the first one dropped */

		bpf_map_update_elem(&blocked, &saddr, &first, BPF_NOEXIST);
		count(STAT_DROPPED_RATE);
		return XDP_DROP;
	}
	count(STAT_PASSED);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
