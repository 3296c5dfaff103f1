// corpus: ctx: a kprobe reading its first argument register and the pid
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


SEC("kprobe/do_sys_open")
int prog(struct pt_regs *ctx)
{
	__u64 arg = ((__u64 *)ctx)[14];	/* x86_64 pt_regs->di */
	return (int)(arg + (bpf_get_current_pid_tgid() >> 32)) & 1;
}
char LICENSE[] SEC("license") = "GPL";
