// raw_tp and tp_btf on sys_enter: mark which syscall numbers one process made.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");    /* [0]: the tgid to watch */

static int watched(void)
{
	__u32 key = 0, *tgid = bpf_map_lookup_elem(&config, &key);
	return tgid && *tgid == (bpf_get_current_pid_tgid() >> 32);
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, __u64);
} raw_seen SEC(".maps"), btf_seen SEC(".maps");

static void mark(void *map, __u64 id)
{
	__u32 key = id;
	__u64 *v;

	if (!watched() || id >= 512)
		return;
	v = bpf_map_lookup_elem(map, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	mark(&raw_seen, ctx->args[1]);
	return 0;
}

SEC("tp_btf/sys_enter")
int btf_sys_enter(__u64 *ctx)
{
	mark(&btf_seen, ctx[1]);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
