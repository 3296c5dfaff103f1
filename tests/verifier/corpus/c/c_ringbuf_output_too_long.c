// corpus: helpers: bpf_ringbuf_output told the stack struct is twice its size
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");
struct event { __u32 len; __u32 protocol; };
SEC("tc")
int prog(struct __sk_buff *skb)
{
	struct event e = { .len = skb->len, .protocol = skb->protocol };
	bpf_ringbuf_output(&events, &e, 2 * sizeof(e), 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
