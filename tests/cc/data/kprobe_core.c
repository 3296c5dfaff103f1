// kprobe with BPF_KPROBE and BPF_CORE_READ (pybpf's bpf_tracing.h / bpf_core_read.h subset).
#include <linux/bpf.h>
#include <linux/types.h>
#include <asm/ptrace.h> /* struct pt_regs, for libbpf's bpf_tracing.h */
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* A local view of the kernel's struct file; CO-RE relocates the offsets at load. */
struct qstr___local { __u32 hash, len; const unsigned char *name; } __attribute__((preserve_access_index));
struct dentry___local { struct qstr___local d_name; } __attribute__((preserve_access_index));
struct path___local { void *mnt; struct dentry___local *dentry; } __attribute__((preserve_access_index));
struct file___local { struct path___local f_path; } __attribute__((preserve_access_index));

__u64 opened = 0;
__u32 last_len = 0;

SEC("kprobe/do_filp_open")
int BPF_KRETPROBE(filp_open_ret, struct file___local *f)
{
	if (!f)
		return 0;
	last_len = BPF_CORE_READ(f, f_path.dentry, d_name.len);
	__sync_fetch_and_add(&opened, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
