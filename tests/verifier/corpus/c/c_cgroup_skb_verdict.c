// corpus: return_values: a cgroup_skb filter returning 0 or 1
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


SEC("cgroup_skb/ingress")
int prog(struct __sk_buff *skb)
{
	return skb->len > 1500 ? 0 : 1;
}
char LICENSE[] SEC("license") = "GPL";
