// corpus: loops: a for loop over 16 packet bytes that the compiler does not unroll
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	__u32 sum = 0;
	if (data + 16 > end)
		return XDP_PASS;
#pragma clang loop unroll(disable)
	for (int i = 0; i < 16; i++)
		sum += p[i];
	return sum & 1 ? XDP_PASS : XDP_DROP;
}
char LICENSE[] SEC("license") = "GPL";
