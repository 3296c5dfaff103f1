// SPDX-License-Identifier: GPL-2.0
/*
 * packet_ops.c - run a list of packet helper calls taken from the `ops` map, for
 * comparing the engines' packet helpers (the JIT's native ones against the
 * interpreter's and the kernel's). Built by the tests with pybpf.compile.
 *
 * An op is { u32 kind, u32 offset, u32 from, u32 to, u64 flags }; kind 0 ends the list.
 * tc_ops (tc):
 *   1: bpf_skb_load_bytes(offset, buf, size) with size `(flags & 15) + 1`; the first
 *      8 loaded bytes go to seen[i]
 *   2: bpf_skb_store_bytes(offset, &from, size `(to & 7) + 1`, flags)
 *   3: bpf_l3_csum_replace(offset, from, to, flags)
 *   4: bpf_l4_csum_replace(offset, from, to, flags)
 * xdp_ops (xdp):
 *   1: bpf_xdp_adjust_head((int)offset)   2: bpf_xdp_adjust_tail((int)offset)
 *   3: bpf_xdp_adjust_meta((int)offset)   4: bpf_redirect_map(&devs, offset, flags)
 *   5: bpf_redirect_map(&cpus, offset, flags)
 *   6: bpf_tail_call(&jump, offset) (result -1 when it returns): xdp_tail trims 4 bytes
 *   7: bpf_map_lookup_elem(&devs, &offset): the slot's ifindex, or -1 when it is empty
 *   after each, seen[i] = (data_end - data) | (data - data_meta) << 16 | first byte << 32
 * Each op's result goes to results[i]; xdp_ops returns the last redirect's result or
 * XDP_PASS.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_OPS 12

struct op {
	__u32 kind;
	__u32 offset;
	__u32 from;
	__u32 to;
	__u64 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_OPS);
	__type(key, __u32);
	__type(value, struct op);
} ops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_OPS);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_OPS);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} cpus SEC(".maps");

int xdp_tail(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} jump SEC(".maps") = {
	.values = { [0] = (void *)&xdp_tail },
};

static __always_inline void put(void *map, __u32 i, __u64 v)
{
	bpf_map_update_elem(map, &i, &v, BPF_ANY);
}

SEC("tc")
int tc_ops(struct __sk_buff *skb)
{
#pragma clang loop unroll(full)
	for (__u32 i = 0; i < MAX_OPS; i++) {
		__u32 key = i;
		struct op *o = bpf_map_lookup_elem(&ops, &key);
		long r;

		if (!o || !o->kind)
			break;
		if (o->kind == 1) {
			__u8 buf[16] = {};
			__u64 first;

			r = bpf_skb_load_bytes(skb, o->offset, buf, (o->flags & 15) + 1);
			__builtin_memcpy(&first, buf, 8);
			put(&seen, i, first);
		} else if (o->kind == 2) {
			r = bpf_skb_store_bytes(skb, o->offset, &o->from, (o->to & 7) + 1, o->flags);
		} else if (o->kind == 3) {
			r = bpf_l3_csum_replace(skb, o->offset, o->from, o->to, o->flags);
		} else {
			r = bpf_l4_csum_replace(skb, o->offset, o->from, o->to, o->flags);
		}
		put(&results, i, r);
	}
	return 0;
}

static __always_inline __u64 shape(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	void *meta = (void *)(long)ctx->data_meta;
	__u64 first = 0x100;

	if (data + 1 <= end)
		first = *(__u8 *)data;
	return (__u64)(end - data) | (__u64)(data - meta) << 16 | first << 32;
}

SEC("xdp")
int xdp_ops(struct xdp_md *ctx)
{
	long verdict = XDP_PASS;

#pragma clang loop unroll(full)
	for (__u32 i = 0; i < MAX_OPS; i++) {
		__u32 key = i;
		struct op *o = bpf_map_lookup_elem(&ops, &key);
		long r;

		if (!o || !o->kind)
			break;
		switch (o->kind) {
		case 1:
			r = bpf_xdp_adjust_head(ctx, (int)o->offset);
			break;
		case 2:
			r = bpf_xdp_adjust_tail(ctx, (int)o->offset);
			break;
		case 3:
			r = bpf_xdp_adjust_meta(ctx, (int)o->offset);
			break;
		case 4:
			r = verdict = bpf_redirect_map(&devs, o->offset, o->flags);
			break;
		case 5:
			r = verdict = bpf_redirect_map(&cpus, o->offset, o->flags);
			break;
		case 7: {               /* a devmap slot: its ifindex, or -1 when empty */
			__u32 *ifindex = bpf_map_lookup_elem(&devs, &o->offset);

			r = ifindex ? *ifindex : -1;
			break;
		}
		default:                /* returns only when it fails (no value) */
			bpf_tail_call(ctx, &jump, o->offset);
			r = -1;
			break;
		}
		put(&results, i, r);
		put(&seen, i, shape(ctx));
	}
	return verdict;
}

SEC("xdp")
int xdp_tail(struct xdp_md *ctx)
{
	__u32 last = MAX_OPS - 1;
	long r = bpf_xdp_adjust_tail(ctx, -4);

	put(&results, last, r);
	put(&seen, last, shape(ctx));
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
