// SPDX-License-Identifier: GPL-2.0
/* skb programs for native batches: what each packet decides in its __sk_buff (length,
 * protocol, pkt_type, data, its socket's addresses), narrow loads of those fields,
 * native packet helpers, and what goes to Python (a context store, bpf_redirect, a
 * legacy packet load); tc sees the Ethernet header, the other types do not. */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

static __always_inline void count(__u32 key, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&seen, &key);

	if (v)
		__sync_fetch_and_add(v, n);
	else
		bpf_map_update_elem(&seen, &key, &n, BPF_ANY);
}

/* The second byte of the destination picks what the packet does. */
SEC("tc")
int tc_mix(struct __sk_buff *skb)
{
	unsigned char *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u32 proto = skb->protocol, len = skb->len, kind = skb->pkt_type;
	__u8 len_low = *(volatile __u8 *)((char *)skb + offsetof(struct __sk_buff, len));
	__u16 proto_low = *(volatile __u16 *)((char *)skb + offsetof(struct __sk_buff, protocol));
	__u16 csum = 0x1234;
	__u32 mode, verdict;

	count(proto, len);
	count(0x10000 + kind, 1);
	count(0x20000 + len_low, proto_low);
	count(0x30000 + (skb->wire_len == len), (long)(end - data));
	if (data + 16 > end)
		return TC_ACT_OK;
	mode = data[1] & 7;
	verdict = (data[2] & 1) ? TC_ACT_SHOT : TC_ACT_OK;
	if (mode == 1) {
		/* native: store two bytes, fix a "checksum" over them */
		if (bpf_skb_store_bytes(skb, 14, &csum, 2, 0))
			return TC_ACT_SHOT;
		if (bpf_l3_csum_replace(skb, 12, 0, 0x4321, 2))
			return TC_ACT_SHOT;
	} else if (mode == 2) {
		skb->mark = 7;             /* a context store: Python */
		count(0x40000 + skb->mark, 1);
	} else if (mode == 3) {
		return bpf_redirect(5, 0); /* Python picks the target */
	} else if (mode == 4) {
		__u8 buf[4];

		if (bpf_skb_load_bytes(skb, 12, buf, 4))
			return TC_ACT_SHOT;
		count(0x50000 + buf[3], buf[0]);
	}
	return verdict;
}

/* The socket test_run gives an skb holds the packet's addresses. */
SEC("tc")
int tc_sock(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;

	if (!sk)
		return TC_ACT_UNSPEC;
	count(0x60000 + sk->family, sk->dst_ip4);
	count(0x70000 + sk->family, sk->src_ip6[3]);
	return sk->family;
}

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

/* A socket filter: what it keeps of the packet depends on what the packet decides. */
SEC("socket")
int sock_keep(struct __sk_buff *skb)
{
	__u8 first = 0;

	count(0x80000 + skb->pkt_type, skb->len);
	count(0x90000 + skb->protocol, 1);
	if (bpf_skb_load_bytes(skb, 0, &first, 1))
		return 0;
	count(0xa0000 + first, 1);
	if (first == 0x45)     /* IPv4 with a 20-byte header: the protocol, a legacy load */
		count(0xb0000 + load_byte(skb, 9), 1);
	return skb->len > 100 ? 100 : skb->len - (first & 3);
}

/* cgroup_skb: data starts at the network header. */
SEC("cgroup_skb/ingress")
int cg_count(struct __sk_buff *skb)
{
	unsigned char *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct bpf_sock *sk = skb->sk;

	count(0xc0000 + skb->protocol, (long)(end - data));
	if (sk)
		count(0xd0000 + sk->family, sk->src_ip4);
	if (data + 1 > end)
		return 1;
	return data[0] & 1;
}

char LICENSE[] SEC("license") = "GPL";
