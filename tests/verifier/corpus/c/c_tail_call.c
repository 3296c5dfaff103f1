// corpus: helpers: a tail call through a program array with a fall-through return
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jmp SEC(".maps");
SEC("socket")
int prog(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jmp, skb->len & 3);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
