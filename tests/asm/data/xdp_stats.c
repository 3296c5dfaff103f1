/* An XDP program that counts packets per IP protocol and drops some.
 * Self-contained (no libbpf headers) so the build needs only clang-19; see README.md. */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef int __s32;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

struct xdp_md { __u32 data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; };
struct ethhdr { __u8 h_dest[6]; __u8 h_source[6]; __u16 h_proto; } __attribute__((packed));
struct iphdr { __u8 ihl_version; __u8 tos; __u16 tot_len; __u16 id; __u16 frag_off;
               __u8 ttl; __u8 protocol; __u16 check; __u32 saddr; __u32 daddr; };

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
                                   __u64 flags) = (void *)2;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;

struct stats { __u64 packets; __u64 bytes; __s32 min_ttl; __u32 last_seen; };

struct {
    __uint(type, 1); /* BPF_MAP_TYPE_HASH */
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, struct stats);
} proto_stats SEC(".maps");

struct {
    __uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} drops SEC(".maps");

SEC("xdp")
int xdp_stats(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip;
    struct stats *st, init = {};
    __u32 key, zero = 0;
    __u64 *drop;

    if ((void *)(eth + 1) > data_end)
        return 1; /* XDP_DROP */
    if (eth->h_proto != __builtin_bswap16(0x0800))
        return 2; /* XDP_PASS */
    ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end)
        return 1;
    key = ip->protocol;
    st = bpf_map_lookup_elem(&proto_stats, &key);
    if (!st) {
        init.min_ttl = 255;
        bpf_map_update_elem(&proto_stats, &key, &init, 0);
        st = bpf_map_lookup_elem(&proto_stats, &key);
        if (!st)
            return 2;
    }
    __sync_fetch_and_add(&st->packets, 1);
    __sync_fetch_and_add(&st->bytes, __builtin_bswap16(ip->tot_len));
    if ((__s8)ip->ttl < st->min_ttl)
        st->min_ttl = (__s8)ip->ttl;
    st->last_seen = (__u32)(bpf_ktime_get_ns() >> 20);
    if (ip->ttl <= 1 || (ip->frag_off & __builtin_bswap16(0x3fff))) {
        drop = bpf_map_lookup_elem(&drops, &zero);
        if (drop)
            __sync_fetch_and_add(drop, 1);
        return 1;
    }
    return 2;
}

char _license[] SEC("license") = "GPL";
