// Legacy SEC("maps") struct bpf_map_def maps (libbpf < 1.0 style), with version.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x060c00;

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 32,
	.map_flags = 0,
};

struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 4,
	.max_entries = 2,
};

SEC("socket")
int sock_prog(struct __sk_buff *skb)
{
	__u32 key = 1;
	__u64 *v = bpf_map_lookup_elem(&legacy_hash, &key);
	__u32 *w = bpf_map_lookup_elem(&legacy_array, &key);

	if (v && w)
		*v += *w;
	return 0;
}
