// Programs that send events to userspace, driven by BPF_PROG_TEST_RUN packets.
// Built by the tests with pybpf.compile and loaded with libbpf (LibbpfObject).
//
// Packet: byte 0 command, byte 1 payload length (0..255), bytes 4..7 a u32 tag,
// bytes 8.. the payload (the packet is at least 8 + 256 bytes).
// Returns XDP_PASS when the event was written, XDP_DROP when the helper failed.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAXLEN 256

enum { RINGBUF_OUTPUT, RINGBUF_DISCARD, PERF_OUTPUT, RINGBUF_EVENT, PRINTK };

struct event {
	__u32 tag;
	__u16 len;
	__u8 first;
	__u8 kind;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pb SEC(".maps");

struct event event_type_anchor;   /* keeps struct event in the object's BTF */

SEC("xdp")
int emit(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	__u64 buf[MAXLEN / 8];   /* helpers cannot read the packet: copy the payload */
	struct event *e;
	void *r;

	if (data + 8 + MAXLEN > end)
		return XDP_ABORTED;
	__u32 len = data[1];
	__u32 tag = *(__u32 *)(data + 4);
	if (bpf_xdp_load_bytes(ctx, 8, buf, MAXLEN))
		return XDP_ABORTED;

	switch (data[0]) {
	case RINGBUF_OUTPUT:
		return bpf_ringbuf_output(&rb, buf, len, 0) ? XDP_DROP : XDP_PASS;
	case RINGBUF_DISCARD:
		r = bpf_ringbuf_reserve(&rb, 16, 0);
		if (!r)
			return XDP_DROP;
		bpf_ringbuf_discard(r, 0);
		return XDP_PASS;
	case PERF_OUTPUT:
		return bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, buf, len)
			? XDP_DROP : XDP_PASS;
	case RINGBUF_EVENT:
		e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
		if (!e)
			return XDP_DROP;
		e->tag = tag;
		e->len = len;
		e->first = data[8];
		e->kind = data[0];
		bpf_ringbuf_submit(e, 0);
		return XDP_PASS;
	case PRINTK:
		bpf_printk("pybpf-events %u len %u", tag, len);
		return XDP_PASS;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
