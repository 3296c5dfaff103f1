// Callbacks (bpf_loop, bpf_for_each_map_elem), bpf-to-bpf calls, tail calls through a
// prog_array initialised with .values, a queue, a ring buffer and bpf_printk.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, __u32);
	__uint(max_entries, 4);
} lengths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct event {
	__u32 len;
	__u32 sum;
};

__u64 loop_total = 0;
__u64 visited = 0;
__u32 tail_hits = 0;

struct loop_ctx {
	__u64 acc;
	__u32 stop;
};

static long add_index(__u32 i, void *data)
{
	struct loop_ctx *c = data;
	c->acc += i * i;
	return i == c->stop ? 1 : 0;
}

static long visit(void *map, __u32 *key, __u64 *value, void *data)
{
	*value += *key;
	(*(__u64 *)data)++;
	return *key == 5;
}

static __noinline __u32 fold(__u32 x)
{
	return (x >> 16) ^ (x & 0xffff);
}

SEC("xdp")
int tail_target(struct xdp_md *ctx)
{
	tail_hits++;
	return XDP_TX;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [2] = (void *)&tail_target },
};

SEC("xdp")
int run_calls(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	struct loop_ctx c = { .acc = 0, .stop = len % 7 };
	__u64 count = 0;
	struct event *e;

	bpf_loop(10, add_index, &c, 0);
	loop_total += c.acc;
	bpf_for_each_map_elem(&slots, visit, &count, 0);
	visited += count;
	bpf_map_push_elem(&lengths, &len, BPF_EXIST);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->len = len;
		e->sum = fold(len * 40503);
		bpf_ringbuf_submit(e, 0);
	}
	bpf_printk("len %u acc %llu", len, c.acc);
	if (len > 100)
		bpf_tail_call(ctx, &jumps, 2);
	if (len > 50)
		bpf_tail_call(ctx, &jumps, 1);   // empty slot: falls through
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
