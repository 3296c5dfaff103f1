// SPDX-License-Identifier: GPL-2.0
/*
 * ring_csum.c - run a list of ring buffer and checksum operations taken from the packet,
 * for comparing the engines' helpers (the JIT's native ones against the interpreter's and
 * the kernel's). Built by the tests with pybpf.compile (clang -O2 -g -target bpf).
 *
 * The packet is a sequence of 8-byte operations:
 *   u8 op, u8 arg, u16 size, u32 result
 *   op 0: bpf_ringbuf_output of `size & 511` (at most 480) pattern bytes with flags `arg`
 *   op 1/2: bpf_ringbuf_reserve of one of eight fixed sizes (`size & 7`), its first
 *           and last bytes set (the others are what the ring held: stale bytes, which
 *           differ from the kernel's), then submitted (1) or discarded (2); flags `arg & 1`
 *   op 3: bpf_ringbuf_query(flag `arg & 7`)
 *   op 4: bpf_csum_diff over two overlapping views of the pattern, sizes `size & 255`
 *         and `(size >> 8) & 255`, the seed from `arg`
 * Each operation's result (the low 32 bits) overwrites its result field.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_OPS 40
#define BUF 480

struct op {
	__u8 op;
	__u8 arg;
	__u16 size;
	__u32 result;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring SEC(".maps");

static __always_inline long reserve(__u32 which, __u64 flags, int discard)
{
	__u8 *p;

#define CASE(n, sz)                                              \
	case n:                                                      \
		p = bpf_ringbuf_reserve(&ring, sz, flags);               \
		if (!p)                                                  \
			return -1;                                           \
		p[0] = n;                                                \
		p[sz - 1] = 0x5a;                                        \
		if (discard)                                             \
			bpf_ringbuf_discard(p, 0);                           \
		else                                                     \
			bpf_ringbuf_submit(p, 0);                            \
		return sz;
	switch (which & 7) {
	CASE(0, 1)
	CASE(1, 7)
	CASE(2, 8)
	CASE(3, 13)
	CASE(4, 64)
	CASE(5, 500)
	CASE(6, 1500)
	default:
	CASE(7, 4000)
	}
	return 0;
}

SEC("xdp")
int ring_csum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 buf[BUF];
	int done = 0;

	for (int i = 0; i < BUF; i++)
		buf[i] = i * 7 + 1;

	for (int i = 0; i < MAX_OPS; i++) {
		struct op *o = data + i * sizeof(struct op);
		__u32 size, to_size;

		if ((void *)(o + 1) > data_end)
			break;
		switch (o->op % 5) {
		case 0:
			size = o->size & 511;
			if (size > BUF)
				size = BUF;
			o->result = bpf_ringbuf_output(&ring, buf, size, o->arg);
			break;
		case 1:
		case 2:
			o->result = reserve(o->size, o->arg & 1, o->op % 5 == 2);
			break;
		case 3:
			o->result = bpf_ringbuf_query(&ring, o->arg & 7);
			break;
		default:
			size = o->size & 255;
			to_size = (o->size >> 8) & 255;
			buf[0] = o->arg;
			if (o->arg & 4)
				o->result = bpf_csum_diff((__be32 *)buf, size, (__be32 *)(buf + 3),
							  to_size, o->arg * 0x01010101u);
			else
				o->result = bpf_csum_diff((__be32 *)(buf + 8), size, (__be32 *)buf,
							  to_size, ~o->arg);
		}
		done++;
	}
	return done & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
