"""Fixed operation scripts (tests/maps/mapscripts.py) on every map type the kernel can
also run: the userspace maps must give the kernel's answers, recorded below from Linux 6.18
with 2 possible CPUs; the ``kernel`` test re-runs the scripts live on both."""

from __future__ import annotations

import pytest

from pybpf.maps import MAP_CLASSES

from mapops import kernel_map, run_kernel, run_user
from mapscripts import SCRIPTS

EXPECTED = {
    'hash': [None, 'ENOENT', None, None, 'ok', b'\x01\x01\x01\x01\x01\x01\x01\x01', b'\x01\x00\x00\x00', None, b'\x01\x00\x00\x00', 'EEXIST', 'ENOENT', 'ok', b'\x03\x03\x03\x03\x03\x03\x03\x03', 'ok', 'ok', 'E2BIG', 'ok', 'EINVAL', 'EINVAL', 'EINVAL', [b'\x01\x00\x00\x00', b'\x02\x00\x00\x00', b'\x03\x00\x00\x00'], b'\x02\x02\x02\x02\x02\x02\x02\x02', 'ENOENT', 'ok', [b'\x01\x00\x00\x00', b'\x03\x00\x00\x00', b'\x04\x00\x00\x00'], 'ok', 'ENOENT', None, b'\x05\x05\x05\x05\x05\x05\x05\x05'],
    'percpu_hash': [None, 'ok', [b'\x01\x00\x00\x00', b'\x02\x00\x00\x00'], 'ok', [b'\x07\x00\x00\x00', b'\x07\x00\x00\x00'], 'ok', 'E2BIG', 'EEXIST', [b'\x03\x00\x00\x00', b'\x03\x00\x00\x00'], [b'\x01\x00\x00\x00'], 'ok', 'ENOENT'],
    'lru_hash': ['ok', 'EEXIST', 'ENOENT', 'ok', b'\x02\x02\x02\x02\x02\x02\x02\x02', [b'\x01\x00\x00\x00', b'\x02\x00\x00\x00'], 'ok', 'ENOENT', 'EINVAL', [b'\x01\x00\x00\x00']],
    'array': [b'\x00\x00\x00\x00\x00\x00', None, 'ok', b'\x01\x01\x01\x01\x01\x01', 'E2BIG', 'E2BIG', 'EEXIST', 'ok', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', b'\x00\x00\x00\x00', b'\x01\x00\x00\x00', None, b'\x00\x00\x00\x00', [b'\x00\x00\x00\x00', b'\x01\x00\x00\x00', b'\x02\x00\x00\x00'], 'ENOTSUPP'],
    'percpu_array': [[b'\x00\x00\x00\x00', b'\x00\x00\x00\x00'], 'ok', [b'\x01\x00\x00\x00', b'\x02\x00\x00\x00'], 'ok', [b'\x05\x00\x00\x00', b'\x05\x00\x00\x00'], 'E2BIG', 'EEXIST', 'EINVAL', [b'\x00\x00\x00\x00', b'\x01\x00\x00\x00']],
    'lpm': [None, None, 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ENOSPC', 'ENOENT', 'EINVAL', 'EEXIST', 'ok', 'EINVAL', 'ENOENT', b'\x03\x00\x00\x00', b'\x02\x00\x00\x00', b'\x08\x00\x00\x00', b'\x05\x00\x00\x00', b'\x04\x00\x00\x00', b'\x08\x00\x00\x00', None, b'\x06\x00\x00\x00', [b'\x18\x00\x00\x00\n\x01\x02\x00', b'\x10\x00\x00\x00\n\x01\x00\x00', b'\x10\x00\x00\x00\n\x02\t\t', b'\x08\x00\x00\x00\n\x00\x00\x00', b' \x00\x00\x00\xc0\xa8\x01\x01', b'\x00\x00\x00\x00\x00\x00\x00\x00'], b'\x10\x00\x00\x00\n\x02\t\t', b'\x10\x00\x00\x00\n\x02\t\t', None, b'\x18\x00\x00\x00\n\x01\x02\x00', b'\x18\x00\x00\x00\n\x01\x02\x00', 'ok', [b'\x18\x00\x00\x00\n\x01\x02\x00', b'\x10\x00\x00\x00\n\x01\x00\x00', b'\x10\x00\x00\x00\n\x02\t\t', b' \x00\x00\x00\xc0\xa8\x01\x01', b'\x00\x00\x00\x00\x00\x00\x00\x00'], 'ENOENT', 'ENOENT', 'EINVAL', b'\x03\x00\x00\x00', b'\x05\x00\x00\x00', 'ok', 'ENOSPC', [b'\x18\x00\x00\x00\n\x01\x02\x00', b'\x10\x00\x00\x00\n\x01\x00\x00', b'\x10\x00\x00\x00\n\x02\t\t', b' \x00\x00\x00\xc0\xa8\x01\x01', b'\x01\x00\x00\x00\x80\x00\x00\x00', b'\x00\x00\x00\x00\x00\x00\x00\x00'], 'ok', 'ok', [b'\x10\x00\x00\x00\n\x02\t\t', b' \x00\x00\x00\xc0\xa8\x01\x01', b'\x01\x00\x00\x00\x80\x00\x00\x00', b'\x00\x00\x00\x00\x00\x00\x00\x00'], 'ok', [b'\x10\x00\x00\x00\n\x02\t\t', b' \x00\x00\x00\xc0\xa8\x01\x01', b'\x01\x00\x00\x00\x80\x00\x00\x00']],
    'queue': [None, None, 'ok', 'EINVAL', 'ok', 'ok', 'E2BIG', 'EINVAL', 'ok', b'\x02\x00\x00\x00', b'\x02\x00\x00\x00', b'\x03\x00\x00\x00', b'\x05\x00\x00\x00', None, 'EINVAL', 'EINVAL'],
    'stack': [None, None, 'ok', 'ok', 'ok', 'E2BIG', 'ok', b'\x05\x00\x00\x00', b'\x05\x00\x00\x00', b'\x03\x00\x00\x00', b'\x02\x00\x00\x00', None, 'EINVAL'],
    'bloom': [False, 'ok', 'EINVAL', 'EINVAL', True, False, False, 'ENOTSUPP', 'ENOTSUP', 'ENOTSUP'],
    'devmap': [None, 'ok', b'\x01\x00\x00\x00', 'EEXIST', 'EEXIST', 'ok', 'ok', None, 'E2BIG', 'ok', 'ok', 'EINVAL', b'\x00\x00\x00\x00', 'EINVAL'],
    'cpumap': [None, 'ok', b'\xc0\x00\x00\x00', 'ok', None, 'E2BIG', 'EOVERFLOW', 'ok', 'EEXIST', 'ok', 'ok', 'EINVAL', b'\x00\x00\x00\x00', b'\x02\x00\x00\x00'],
    'stack_trace': [None, 'EINVAL', 'ENOENT', None, None],
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_gives_the_recorded_kernel_answers(name: str) -> None:
    map_type, ks, vs, me, flags, kw, ops = SCRIPTS[name]
    m = MAP_CLASSES[map_type](ks, vs, me, flags, cpus=2, **kw)
    got = run_user(m, ops)
    for i, (op, want, have) in enumerate(zip(ops, EXPECTED[name], got)):
        assert have == want, f"{name} step {i} {op}: kernel said {want!r}, got {have!r}"
    assert len(got) == len(EXPECTED[name])


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_matches_the_live_kernel(name: str) -> None:
    from pybpf.kernel.maps import possible_cpus

    map_type, ks, vs, me, flags, kw, ops = SCRIPTS[name]
    cpus = possible_cpus()
    with kernel_map(map_type, ks, vs, me, flags, **kw) as km:
        want = run_kernel(km, ops, cpus)
    got = run_user(MAP_CLASSES[map_type](ks, vs, me, flags, cpus=cpus, **kw), ops)
    assert got == want
