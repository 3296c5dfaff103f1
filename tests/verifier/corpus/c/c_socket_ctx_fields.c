// corpus: ctx: a socket filter reading len, protocol, mark and cb[0]
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


SEC("socket")
int prog(struct __sk_buff *skb)
{
	return skb->len + skb->protocol + skb->mark + skb->cb[0];
}
char LICENSE[] SEC("license") = "GPL";
