// SPDX-License-Identifier: GPL-2.0
/*
 * map_ops.c - run a list of map operations taken from the packet, for comparing the
 * engines' map helpers (the JIT's native ones against the interpreter's and the kernel's).
 *
 * The packet is a sequence of 16-byte operations:
 *   u8 op (0 lookup, 1 update, 2 delete, 3 lookup-and-add), u8 map (index below),
 *   u8 flags (update flags), u8 pad, u32 key, u64 value
 * Each operation's result overwrites its value field: lookup gives the value found
 * (or ~0 for none), update and delete their return code.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_OPS 64

struct op {
	__u8 op;
	__u8 map;
	__u8 flags;
	__u8 pad;
	__u32 key;
	__u64 value;
};

struct wide_key {
	__u32 a;
	__u64 b;
	__u8 c;
} __attribute__((packed));

struct lpm_key {
	__u32 prefixlen;
	__u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} lru_percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct wide_key);
	__type(value, __u64);
} wide_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u64);
} lpm SEC(".maps");

static __always_inline void *pick(__u8 map)
{
	switch (map & 7) {
	case 0: return &array;
	case 1: return &percpu_array;
	case 2: return &hash;
	case 3: return &percpu_hash;
	case 4: return &lru_hash;
	case 5: return &lru_percpu_hash;
	case 6: return &wide_hash;
	default: return &lpm;
	}
}

SEC("xdp")
int map_ops(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int done = 0;

	for (int i = 0; i < MAX_OPS; i++) {
		struct op *o = data + i * sizeof(struct op);
		struct wide_key wk = {};
		struct lpm_key lk = {};
		void *key;
		void *map;
		__u64 value, *found;

		if ((void *)(o + 1) > data_end)
			break;
		map = pick(o->map);
		value = o->value;
		if ((o->map & 7) == 6) {
			wk.a = o->key;
			wk.b = o->key * 0x9E3779B97F4A7C15ULL;
			wk.c = o->key >> 3;
			key = &wk;
		} else if ((o->map & 7) == 7) {
			lk.prefixlen = o->pad & 31 ? o->pad & 31 : 32;
			lk.addr = o->key;
			key = &lk;
		} else {
			key = &o->key;
		}
		switch (o->op & 3) {
		case 0:
			found = bpf_map_lookup_elem(map, key);
			o->value = found ? *found : ~0ULL;
			break;
		case 1:
			o->value = bpf_map_update_elem(map, key, &value, o->flags & 7);
			break;
		case 2:
			o->value = bpf_map_delete_elem(map, key);
			break;
		default:
			found = bpf_map_lookup_elem(map, key);
			if (found) {
				*found += value;
				o->value = *found;
			} else {
				o->value = ~0ULL;
			}
		}
		done++;
	}
	return done & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
