// Socket filter for a UDP socket: keep datagrams whose payload starts with 'K', drop the
// rest. On a UDP socket the filter sees the skb at the UDP header (8 bytes).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int keep_k(struct __sk_buff *skb)
{
	__u8 first = 0;

	if (bpf_skb_load_bytes(skb, 8, &first, 1) < 0)
		return 0;
	return first == 'K' ? skb->len : 0;
}

char LICENSE[] SEC("license") = "GPL";
