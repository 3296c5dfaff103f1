// A raw tracepoint program reporting the CPU it runs on (BPF_F_TEST_RUN_ON_CPU).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("raw_tp/sys_enter")
int which_cpu(void *ctx)
{
	return bpf_get_smp_processor_id();
}

char LICENSE[] SEC("license") = "GPL";
