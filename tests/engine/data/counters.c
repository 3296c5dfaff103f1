// XDP and socket-filter programs over hash, per-CPU and array maps, global data and
// rodata: the interpreter must leave the same map contents as the kernel.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(max_entries, 64);
} by_len SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} per_cpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 256);
} by_proto SEC(".maps");

/* clang's builtin for LD_ABS */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

const volatile __u32 drop_len = 1000;
__u64 total_bytes = 0;
__u32 last_proto = 0;
char seen[16] = "none";

SEC("xdp")
int count_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = data_end - data;
	struct stats *s, init = { 1, len };
	__u32 key = 0;
	__u64 *pc;

	s = bpf_map_lookup_elem(&by_len, &len);
	if (s) {
		__sync_fetch_and_add(&s->packets, 1);
		s->bytes += len;
	} else {
		bpf_map_update_elem(&by_len, &len, &init, BPF_NOEXIST);
	}
	pc = bpf_map_lookup_elem(&per_cpu, &key);
	if (pc)
		*pc += 1;
	total_bytes += len;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		__u32 proto = ip->protocol;
		__u32 *n = bpf_map_lookup_elem(&by_proto, &proto);
		if (n)
			*n += 1;
		last_proto = proto;
		__builtin_memcpy(seen, "ipv4", 5);
	}
	if (len >= drop_len)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("socket")
int count_socket(struct __sk_buff *skb)
{
	__u32 key = skb->len;
	struct stats *s, init = { 1, skb->len };

	s = bpf_map_lookup_elem(&by_len, &key);
	if (s)
		s->packets++;
	else
		bpf_map_update_elem(&by_len, &key, &init, BPF_ANY);
	/* BPF_PROG_TEST_RUN hands a socket filter the packet from its network header. */
	__u8 proto = load_byte(skb, 9);
	return proto == 17 ? skb->len : 0;
}


char LICENSE[] SEC("license") = "GPL";
