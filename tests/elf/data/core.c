// CO-RE: field offsets/sizes/existence, type and enum relocations against vmlinux types.
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	unsigned int flags;
	int no_such_field___x;
	unsigned int sched_reset_on_fork: 1;
	unsigned int sched_contributes_to_load: 1;
} __attribute__((preserve_access_index));

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

struct sk_buff {
	unsigned int len;
} __attribute__((preserve_access_index));

enum bpf_map_type___local {
	BPF_MAP_TYPE_RINGBUF___local = 27,
	BPF_MAP_TYPE_NOPE___local = 999,
};

__u64 out[16];

SEC("tp_btf/sched_switch")
int core_prog(__u64 *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	out[0] = BPF_CORE_READ(t, pid);
	out[1] = BPF_CORE_READ(t, real_parent, tgid);
	out[2] = bpf_core_field_exists(t->flags);
	out[3] = bpf_core_field_exists(t->no_such_field___x);
	out[4] = bpf_core_field_size(t->tgid);
	out[5] = bpf_core_field_offset(struct task_struct, tgid);
	out[6] = bpf_core_type_exists(struct task_struct___old);
	out[7] = bpf_core_type_size(struct sk_buff);
	out[8] = bpf_core_enum_value_exists(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local);
	out[9] = bpf_core_enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local);
	out[10] = bpf_core_enum_value_exists(enum bpf_map_type___local, BPF_MAP_TYPE_NOPE___local);
	out[11] = bpf_core_type_id_kernel(struct task_struct);
	out[12] = bpf_core_type_matches(struct sk_buff);
	out[13] = BPF_CORE_READ_BITFIELD_PROBED(t, flags);
	out[14] = BPF_CORE_READ_BITFIELD_PROBED(t, sched_contributes_to_load);
	return 0;
}
