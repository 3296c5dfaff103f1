// corpus: packet: the IPv4 header checked one byte short, then its last field (daddr) read
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
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)ip + sizeof(*ip) - 1 > end)
		return XDP_PASS;
	return ip->daddr == 0 ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
