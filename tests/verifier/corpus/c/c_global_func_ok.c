// corpus: calls: a global (BTF-verified) function given the context
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


__attribute__((noinline)) int classify(struct __sk_buff *skb)
{
	return skb ? (skb->len > 100) : 0;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	return classify(skb);
}
char LICENSE[] SEC("license") = "GPL";
