// bpf_loop with a callback: sum the first n bytes of the packet (socket filter).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct loop_ctx {
	struct __sk_buff *skb;
	__u64 sum;
};

const volatile __u32 nbytes = 16;

static int add_byte(__u32 index, void *data)
{
	struct loop_ctx *lc = data;
	__u8 byte;

	if (bpf_skb_load_bytes(lc->skb, index, &byte, 1) < 0)
		return 1; /* stop */
	lc->sum += byte;
	return 0;
}

SEC("socket")
int loop_sum(struct __sk_buff *skb)
{
	struct loop_ctx lc = { .skb = skb, .sum = 0 };

	bpf_loop(nbytes, add_byte, &lc, 0);
	return lc.sum & 0xffff;
}

char LICENSE[] SEC("license") = "GPL";
