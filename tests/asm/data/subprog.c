/* Bpf-to-bpf calls and the v4 instructions: signed division, sign-extending loads and
 * moves, byte swaps and the fetching atomics. Self-contained; see README.md. */
typedef unsigned char __u8;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))

struct __sk_buff { __u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present; };

__u64 counter SEC(".data") = 5;
__s64 signed_total SEC(".data") = -3;

static __attribute__((noinline)) __s64 mix(__s64 a, __s64 b)
{
    __s64 q = a / b;
    __s64 r = a % b;
    __s32 n = (__s32)a / (__s32)(b | 1);
    return q * 31 + r - n + (__s64)(__s8)a + (__s64)(__s16)b;
}

static __attribute__((noinline)) __u32 swap_and_count(__u32 v, __s8 *p)
{
    __u32 s = __builtin_bswap32(v);
    __u64 w = __builtin_bswap64((__u64)v << 7);
    return s ^ (__u32)(w >> 3) ^ (__u32)(__s32)*p;
}

__attribute__((noinline)) int global_helper(int x)
{
    return x > 100 ? x - 7 : x * 3;
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
    __s8 bytes[8] = { -1, 2, -3, 4, -5, 6, -7, 8 };
    __s64 acc = mix(skb->len, skb->mark - 1000);
    __u64 old;

    acc += swap_and_count(skb->protocol, &bytes[skb->len & 7]);
    acc += global_helper((int)acc);
    old = __sync_fetch_and_or(&counter, 0x10);
    old += __sync_fetch_and_xor(&counter, acc);
    old += __sync_fetch_and_and(&counter, ~0xffULL);
    old += __sync_val_compare_and_swap(&counter, old, 17);
    old += __sync_lock_test_and_set(&counter, 3);
    __sync_fetch_and_add(&signed_total, acc);
    if ((__s32)old < -5 || acc > 1LL << 40)
        return -1;
    return (int)(old & 0xff);
}

char _license[] SEC("license") = "GPL";
