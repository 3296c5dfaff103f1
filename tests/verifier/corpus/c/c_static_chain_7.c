// corpus: calls: seven nested non-inlined static functions (eight frames)
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


#define F(n, m) static __attribute__((noinline)) int f##n(int x) { return f##m(x + 1) + 1; }
static __attribute__((noinline)) int f7(int x) { return x; }
F(6, 7) F(5, 6) F(4, 5) F(3, 4) F(2, 3) F(1, 2)
SEC("socket")
int prog(struct __sk_buff *skb)
{
	return f1(skb->len);
}
char LICENSE[] SEC("license") = "GPL";
