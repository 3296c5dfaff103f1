# Null checks: a map lookup returns map_value_or_null until a test against zero.

## entry: null_lookup_deref_unchecked
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: reading through the lookup result without a null check
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r0 = *(u64 *)(r0 + 0)
exit

## entry: null_lookup_checked_eq
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: if (r0 == 0) goto out; then read
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: null_lookup_checked_ne
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: if (r0 != 0) goto use
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 != 0 goto use
exit
use:
r0 = *(u64 *)(r0 + 0)
exit

## entry: null_deref_on_null_branch
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the read is on the branch where r0 is null
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 != 0 goto out
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: null_check_against_one
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: comparing with 1 is not a null check
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 1 goto out
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: null_check_copy_marks_original
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: checking a copy of the pointer marks the original non-null too
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r6 = r0
if r6 == 0 goto out
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: null_check_jmp32
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: a 32-bit compare of the pointer with zero
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if w0 == 0 goto out
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: null_check_reg_zero
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: comparing with a register holding zero is a null check
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r3 = 0
if r0 == r3 goto out
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: null_write_unchecked
## type: socket_filter
## maps: [{"type": "array", "key_size": 4, "value_size": 8, "max_entries": 1}]
## desc: an array lookup with a constant in-range key cannot fail: writing without a check
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r1 = 1
*(u64 *)(r0 + 0) = r1
r0 = 0
exit

## entry: null_value_to_update_unchecked
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the unchecked lookup result passed as the value of bpf_map_update_elem
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r3 = r0
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
r4 = 0
call 2
r0 = 0
exit

## entry: null_value_to_update_checked
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the checked lookup result as the value of bpf_map_update_elem
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r0 == 0 goto out
r3 = r0
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
r4 = 0
call 2
out:
r0 = 0
exit

## entry: null_two_lookups_one_check
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: two lookups, only the first checked, the second read
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r6 = r0
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
if r6 == 0 goto out
r0 = *(u64 *)(r0 + 0)
exit
out:
r0 = 0
exit

## entry: null_check_after_helper_call
## type: socket_filter
## maps: [{"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 4}]
## desc: the pointer kept in r6 across another helper call, checked and read
r1 = 0
*(u32 *)(r10 - 4) = r1
r2 = r10
r2 += -4
ld_pseudo r1, 5, 0
call 1
r6 = r0
call 7
if r6 == 0 goto out
r0 = *(u64 *)(r6 + 0)
exit
out:
r0 = 0
exit
