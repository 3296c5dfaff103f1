// corpus: loops: a while loop until a packet byte is zero, bounded only by data_end checks
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
	__u32 n = 0;
	while ((void *)(p + 1) <= end && *p) {
		p++;
		n++;
	}
	return n > 10 ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
