// SPDX-License-Identifier: GPL-2.0
/* XDP programs for batches that leave native code: a helper Python runs moves the
 * packet's start, so Python finishes that packet (and the batch goes on natively). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

/* Packets whose first byte is odd lose their first 4 bytes (bpf_xdp_adjust_head, a
 * helper that runs in Python); even ones are counted and get their last byte set. */
SEC("xdp")
int trim_odd(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0, verdict;
	__u64 *n;

	if (data + 1 > end)
		return XDP_ABORTED;
	verdict = (data[0] & 2) ? XDP_DROP : XDP_PASS;
	if (data[0] & 1) {
		if (bpf_xdp_adjust_head(ctx, 4))
			return XDP_ABORTED;
		key = 1;
	} else if (data + 15 <= end) {
		data[14] = 0x5a;
	}
	n = bpf_map_lookup_elem(&seen, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
