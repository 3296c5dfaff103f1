"""pybpf prog|map|feature against bpftool -j for the same ids; errors as one line."""

from __future__ import annotations

from .introspect_names import PROG_NAME

import json

import pytest

from pybpf.cli.main import main
from pybpf.kernel import introspect as ki

from .conftest import bpftool

pytestmark = pytest.mark.kernel


def _json(capsys, *argv) -> object:
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def _overlap(ours: dict, theirs: dict) -> None:
    common = set(ours) & set(theirs) - {"loaded_at"}
    assert {"id", "type", "name"} <= common
    assert {k: ours[k] for k in common} == {k: theirs[k] for k in common}


def test_prog_list_and_show(asm_prog, capsys):
    prog, _ = asm_prog
    pid = ki.prog_info(prog.fd).id
    listed = {p["id"]: p for p in _json(capsys, "prog", "list", "-j")}
    theirs = {p["id"]: p for p in bpftool("prog", "show")}
    assert pid in listed
    for i in set(listed) & set(theirs):
        _overlap(listed[i], theirs[i])
    _overlap(_json(capsys, "prog", "show", pid, "-j"), bpftool("prog", "show", "id", pid))
    _overlap(_json(capsys, "prog", "show", "id", pid, "-p"), theirs[pid])
    by_name = _json(capsys, "prog", "show", "name", PROG_NAME, "-j")
    assert [p["id"] for p in by_name] == [pid]
    assert main(["prog", "list"]) == 0
    assert PROG_NAME in capsys.readouterr().out


def test_prog_dump_xlated_and_jited(c_object, capsys):
    pid = ki.prog_info(c_object.programs["count_lens"].fd).id
    ours = _json(capsys, "prog", "dump", "xlated", pid, "-j")
    theirs = bpftool("prog", "dump", "xlated", "id", pid)
    assert len(ours) == len(theirs)
    assert [o.get("src") for o in ours] == [t.get("src") for t in theirs]
    assert [o.get("proto") for o in ours] == [t.get("proto") for t in theirs]
    assert main(["prog", "dump", "xlated", str(pid), "--source"]) == 0
    text = capsys.readouterr().out
    assert "int count_lens(struct __sk_buff * skb):" in text
    assert "; __u64 *v = bpf_map_lookup_elem(&lens, &key);" in text
    assert "; __sync_fetch_and_add(v, 1);" in text
    assert main(["prog", "dump", "xlated", str(pid)]) == 0
    assert "__sync_fetch_and_add" not in capsys.readouterr().out
    jited = _json(capsys, "prog", "dump", "jited", pid, "-j")[0]
    assert jited["bytes_jited"] == bpftool("prog", "show", "id", pid)["bytes_jited"]
    assert main(["prog", "dump", "jited", str(pid)]) == 0
    assert capsys.readouterr().out.strip()


def test_map_commands_match_bpftool(c_object, capsys):
    m = c_object.maps["lens"]
    mid = ki.map_info(m.fd).id
    m.update((3).to_bytes(4, "little"), (9).to_bytes(8, "little"))
    _overlap(_json(capsys, "map", "show", mid, "-j"), bpftool("map", "show", "id", mid))
    assert mid in [x["id"] for x in _json(capsys, "map", "list", "-j")]
    assert main(["map", "update", str(mid), "key", "05 00 00 00", "value",
                 "0x2a00000000000000"]) == 0
    ours = _json(capsys, "map", "dump", mid, "-j")
    assert ours == bpftool("map", "dump", "id", mid)          # formatted (BTF) included
    found = _json(capsys, "map", "lookup", "name", "lens", "key", "hex", "05", "00", "00", "00",
                  "-j")
    assert found["value"][0] == "0x2a" and found["formatted"] == {"key": 5, "value": 42}
    assert main(["map", "dump", str(mid)]) == 0
    assert "05 00 00 00" in capsys.readouterr().out


def test_map_update_flags_and_delete(asm_prog, capsys):
    _, m = asm_prog
    mid = ki.map_info(m.fd).id
    assert main(["map", "update", str(mid), "key", "07000000", "value", "00" * 8,
                 "noexist"]) == 0
    assert main(["map", "update", str(mid), "key", "07000000", "value", "00" * 8,
                 "noexist"]) == 1
    assert "EEXIST" in capsys.readouterr().err
    assert main(["map", "delete", str(mid), "key", "07000000"]) == 0
    assert m.get((7).to_bytes(4, "little")) is None


@pytest.mark.parametrize("argv, message", [
    (["prog", "show", "999999999"],
     "pybpf prog show: error: no program with id 999999999 (ENOENT)"),
    (["map", "dump", "999999999"],
     "pybpf map dump: error: no map with id 999999999 (ENOENT)"),
    (["prog", "show", "name", "no_such_prog_x"], "pybpf prog show: error: no program with name "
                                                 "no_such_prog_x (ENOENT)"),
    (["prog", "dump", "xlated", "bogus"], "pybpf prog dump: error: name a program as ID"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_map_lookup_missing_key(asm_prog, capsys):
    _, m = asm_prog
    assert main(["map", "lookup", str(ki.map_info(m.fd).id), "key", "ff000000"]) == 1
    assert capsys.readouterr().err == \
        "pybpf map lookup: error: key ff 00 00 00 not found (ENOENT)\n"


def test_feature_json_and_table(capsys):
    report = _json(capsys, "feature", "--no-helpers", "-j")
    theirs = bpftool("feature", "probe", "kernel")
    for section in ("program_types", "map_types"):
        common = set(report[section]) & set(theirs[section])
        assert {k: report[section][k] for k in common} == {k: theirs[section][k] for k in common}
    assert "helpers" not in report
    assert main(["feature", "probe", "kernel"]) == 0
    out = capsys.readouterr().out
    assert "socket_filter" in out and "kprobe" in out


def test_pin_freeze_and_frozen_update_via_cli(capsys):
    import os
    import uuid

    from pybpf.kernel import KernelMap, MapType

    path = os.path.join(ki.ensure_bpffs(), f"pybpf-cli-{uuid.uuid4().hex[:8]}")
    with KernelMap(MapType.ARRAY, 4, 4, 2, name="cli_pin") as m:
        mid = ki.map_info(m.fd).id
        try:
            assert main(["map", "pin", str(mid), path]) == 0
            assert _json(capsys, "map", "show", "pinned", path, "-j")["id"] == mid
            assert main(["map", "freeze", "pinned", path]) == 0
            assert _json(capsys, "map", "-j", "show", mid)["frozen"] == 1
            assert main(["map", "update", str(mid), "key", "00000000", "value", "01000000"]) == 1
            assert capsys.readouterr().err == \
                f"pybpf map update: error: map {mid} is frozen (EPERM)\n"
        finally:
            if os.path.exists(path):
                os.unlink(path)


def test_percpu_and_plain_dumps_equal_bpftool(capsys):
    from pybpf.kernel import KernelMap, MapType

    with KernelMap(MapType.PERCPU_ARRAY, 4, 4, 3, name="cli_pcpu") as p, \
            KernelMap(MapType.HASH, 8, 2, 4, name="cli_hash") as h:
        h.update(bytes(range(8)), b"\xab\xcd")
        for m in (p, h):
            mid = ki.map_info(m.fd).id
            assert _json(capsys, "map", "dump", mid, "-j") == bpftool("map", "dump", "id", mid)
