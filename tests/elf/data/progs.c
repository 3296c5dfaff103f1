// Programs, subprograms and line info: several programs in one section, static and
// global functions calling each other, a bpf_loop callback (BPF_PSEUDO_FUNC).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int counter = 0;

static __attribute__((noinline)) int leaf(int x)
{
	return x * 3 + 1;
}

static __attribute__((noinline)) int middle(int x)
{
	if (x > 10)
		return leaf(x) - 2;
	return leaf(x + 1);
}

__attribute__((noinline)) int global_helper(int x)
{
	return middle(x) + 5;
}

static int loop_cb(__u32 index, void *ctx)
{
	int *sum = ctx;

	*sum += index;
	return 0;
}

SEC("xdp")
int xdp_first(struct xdp_md *ctx)
{
	int v = ctx->ingress_ifindex;

	return global_helper(v) & 3;
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx)
{
	return middle(ctx->rx_queue_index) > 7 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int xdp_loop(struct xdp_md *ctx)
{
	int sum = 0;

	bpf_loop(10, loop_cb, &sum, 0);
	counter += sum;
	return sum == 45 ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int tc_plain(struct __sk_buff *skb)
{
	return skb->len > 100 ? 0 : 2;
}
