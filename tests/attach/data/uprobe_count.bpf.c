// uprobe/uretprobe on a user function: count calls, sum the first arguments and record
// the return values (x86-64 struct pt_regs: rdi is the first argument, rax the result).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct x86_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static void add(__u32 key, __u64 delta)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &key);
	if (v)
		__sync_fetch_and_add(v, delta);
}
/* stats: [0] calls, [1] sum of first args, [2] returns, [3] sum of results, [4] USDT hits */

SEC("uprobe")
int on_entry(struct x86_regs *regs)
{
	add(0, 1);
	add(1, regs->di);
	return 0;
}

SEC("uretprobe")
int on_return(struct x86_regs *regs)
{
	add(2, 1);
	add(3, (__u32)regs->ax);
	return 0;
}

SEC("usdt")
int on_usdt(struct x86_regs *regs)
{
	add(4, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
