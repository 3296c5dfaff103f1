// SPDX-License-Identifier: GPL-2.0
/*
 * lpm_firewall.c - an XDP firewall: IPv4 source prefixes -> action.
 *
 * `rules` is a longest-prefix-match trie. Its key is a prefix length followed
 * by the address (network byte order), the layout BPF_MAP_TYPE_LPM_TRIE
 * expects; a lookup with a full /32 key finds the most specific rule that
 * covers the address. The value says what to do (XDP_PASS or XDP_DROP) and
 * counts the packets the rule matched. Packets no rule covers get
 * `default_action`; packets that are not IPv4 always pass.
 *
 * Rules are filled from user space, e.g. with pybpf run --map rules=rules.json
 * where the JSON maps key hex to value hex:
 *   {"18000000 0a000000": "01000000 00000000 0000000000000000"}   (10.0.0.0/24 -> drop)
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* What to do with IPv4 packets that match no rule. */
const volatile __u32 default_action = XDP_PASS;

struct prefix_v4 {
	__u32 prefixlen;	/* significant bits of addr, 0..32 */
	__u32 addr;		/* network byte order */
};

struct rule {
	__u32 action;		/* XDP_PASS or XDP_DROP */
	__u32 pad;
	__u64 hits;		/* packets this rule decided */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* required for LPM tries */
	__type(key, struct prefix_v4);
	__type(value, struct rule);
} rules SEC(".maps");

/* Packets decided by default_action (no rule matched). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unmatched SEC(".maps");

SEC("xdp")
int lpm_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct prefix_v4 key;
	struct iphdr *ip;
	struct rule *rule;
	__u32 zero = 0;
	__u64 *misses;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;

	key.prefixlen = 32;	/* look up the whole address */
	key.addr = ip->saddr;
	rule = bpf_map_lookup_elem(&rules, &key);
	if (rule) {
		__sync_fetch_and_add(&rule->hits, 1);
		/* Only the two verdicts make sense here; anything else drops. */
		return rule->action == XDP_PASS ? XDP_PASS : XDP_DROP;
	}
	misses = bpf_map_lookup_elem(&unmatched, &zero);
	if (misses)
		__sync_fetch_and_add(misses, 1);
	return default_action == XDP_DROP ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
