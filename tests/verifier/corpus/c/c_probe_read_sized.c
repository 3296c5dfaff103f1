// corpus: helpers: bpf_probe_read_kernel with a size of the destination plus eight
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>


SEC("kprobe/do_sys_open")
int prog(struct pt_regs *ctx)
{
	char buf[16];
	bpf_probe_read_kernel(buf, sizeof(buf) + 8, (void *)((__u64 *)ctx)[13]);
	return buf[0];
}
char LICENSE[] SEC("license") = "GPL";
