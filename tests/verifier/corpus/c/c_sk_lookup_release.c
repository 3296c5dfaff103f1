// corpus: references: bpf_sk_lookup_tcp on the packet tuple, socket released
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


#include <linux/pkt_cls.h>
SEC("tc")
int prog(struct __sk_buff *skb)
{
	struct bpf_sock_tuple t = {};
	t.ipv4.dport = bpf_htons(80);
	struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return TC_ACT_OK;
	int state = sk->state;
	bpf_sk_release(sk);
	return state == 10 ? TC_ACT_SHOT : TC_ACT_OK;
}
char LICENSE[] SEC("license") = "GPL";
