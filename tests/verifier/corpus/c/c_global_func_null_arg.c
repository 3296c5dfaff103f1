// corpus: calls: a global function dereferences its pointer argument without a null check
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


__attribute__((noinline)) int get(int *p)
{
	return *p + 1;
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	int x = skb->len;
	return get(&x);
}
char LICENSE[] SEC("license") = "GPL";
