// syscalls:sys_enter_openat: send the file names one process opens to a ring buffer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct sys_enter_openat {          /* events/syscalls/sys_enter_openat/format */
	__u64 common;
	__s32 syscall_nr;
	__u32 pad;
	__u64 dfd;
	const char *filename;
	__u64 flags;
	__u64 mode;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} names SEC(".maps");

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

SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat(struct sys_enter_openat *ctx)
{
	char *buf;

	if (!watched())
		return 0;
	buf = bpf_ringbuf_reserve(&names, 256, 0);
	if (!buf)
		return 0;
	if (bpf_probe_read_user_str(buf, 256, ctx->filename) < 0)
		buf[0] = 0;
	bpf_ringbuf_submit(buf, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
