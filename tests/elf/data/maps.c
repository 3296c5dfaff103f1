// BTF-defined maps of each flavour, map-in-map and prog_array initialisers, global data.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct pair {
	__u32 a;
	__u64 b;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, struct pair);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, 4);
	__uint(value_size, 16);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} array_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, __u64);
} percpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16);
	__type(key, __u64);
	__type(value, __u64);
	__uint(numa_node, 0);
} lru_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__type(value, __u32);
	__uint(map_extra, 3);
} bloom SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_hash SEC(".maps") = {
	.values = { [2] = &inner_b, [0] = &inner_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 5);
		__type(key, __u16);
		__type(value, __u8);
	});
} outer_array SEC(".maps");

int tail_a(struct __sk_buff *skb);
int tail_b(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (struct __sk_buff *));
} jmp_table SEC(".maps") = {
	.values = { [1] = (void *)&tail_a, [3] = (void *)&tail_b },
};

/* global data */
int data_var = 7;
long data_arr[3] = { 1, 2, 3 };
const volatile __u32 ro_port = 53;
const volatile __s16 ro_neg = -5;
const volatile char ro_name[8] = "abc";
__u64 bss_zero;
int bss_small;
int foo_var SEC(".data.foo") = 0x1234;
static const char message[] = "hello from rodata string";

SEC("tc")
int tail_a(struct __sk_buff *skb)
{
	return 1;
}

SEC("tc")
int tail_b(struct __sk_buff *skb)
{
	return 2;
}

SEC("tc")
int use_maps(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct pair *p;
	__u32 *inner;
	void *m;

	p = bpf_map_lookup_elem(&hash_map, &key);
	if (p)
		p->b += data_var + foo_var;
	m = bpf_map_lookup_elem(&outer_hash, &key);
	if (m) {
		inner = bpf_map_lookup_elem(m, &key);
		if (inner)
			*inner += ro_port + ro_neg + ro_name[1];
	}
	bss_zero += data_arr[2] + bss_small;
	bpf_printk("%s", message);
	bpf_tail_call(skb, &jmp_table, 1);
	return 0;
}
