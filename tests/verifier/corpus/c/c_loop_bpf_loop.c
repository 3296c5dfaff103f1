// corpus: loops: bpf_loop with a static callback summing into a context struct
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


struct acc { __u64 sum; };
static long step(__u64 i, void *data)
{
	struct acc *a = data;
	a->sum += i;
	return 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	struct acc a = { 0 };
	bpf_loop(100, step, &a, 0);
	return a.sum & 0xff;
}
char LICENSE[] SEC("license") = "GPL";
