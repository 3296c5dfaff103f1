// corpus: limits: two functions with 320-byte stack buffers calling each other exceed 512 combined
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


static __attribute__((noinline)) int inner(struct __sk_buff *skb)
{
	volatile char buf[320];
	buf[skb->len & 255] = 1;
	return buf[0];
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	volatile char buf[320];
	buf[skb->len & 255] = 2;
	return inner(skb) + buf[1];
}
char LICENSE[] SEC("license") = "GPL";
