"""What is loaded in the kernel: programs, maps, links and BTF by id, their info, their
translated and JIT-compiled code with C source lines, pins, and batched map operations.

Everything here works on objects other processes created as well as on pybpf's own: an
id from :func:`prog_ids` opens with :func:`open_prog` into an owned :class:`Fd`, and
:func:`prog_info` reads ``struct bpf_prog_info`` through BPF_OBJ_GET_INFO_BY_FD. Field
names follow the kernel's structs; each info's ``to_json()`` uses bpftool's ``-j`` names.

- ``_objects``: ids, descriptors by id, fdinfo, pins (BPF_OBJ_PIN / BPF_OBJ_GET);
- ``_info``: prog/map/link/BTF info;
- ``code``: xlated instructions, line and func info, JIT images;
- ``batch``: BPF_MAP_*_BATCH and BPF_MAP_FREEZE.
"""

from pybpf.kernel.introspect._info import (BtfInfo, LinkInfo, MapInfo, ProgInfo, btf_by_id,
                                           btf_info, btf_raw, link_info, map_info, open_map,
                                           prog_info, type_name)
from pybpf.kernel.introspect._objects import (BPFFS, btf_ids, ensure_bpffs, fdinfo, link_ids,
                                              map_ids, object_kind, open_btf, open_link,
                                              open_map_fd, open_pinned, open_prog, pin,
                                              prog_ids)
from pybpf.kernel.introspect.batch import (delete_batch, freeze, lookup_and_delete_batch,
                                           lookup_batch, update_batch)
from pybpf.kernel.introspect.code import (XlatedLine, disassemble_native, prog_jited,
                                          prog_listing, prog_xlated)

__all__ = [
    "BPFFS", "BtfInfo", "LinkInfo", "MapInfo", "ProgInfo", "XlatedLine", "btf_by_id",
    "btf_ids", "btf_info", "btf_raw", "delete_batch", "disassemble_native", "ensure_bpffs",
    "fdinfo", "freeze", "link_ids", "link_info", "lookup_and_delete_batch", "lookup_batch",
    "map_ids", "map_info", "object_kind", "open_btf", "open_link", "open_map", "open_map_fd",
    "open_pinned", "open_prog", "pin", "prog_ids", "prog_info", "prog_jited", "prog_listing",
    "prog_xlated", "type_name", "update_batch",
]
