"""``pybpf load`` and ``pybpf attach``: objects into the kernel, programs onto hooks.

What they create outlives the command only when pinned, as with bpftool: ``load --pin DIR``
pins every program (DIR/<name>) and map (DIR/maps/<name>); ``attach`` pins the BPF link
it makes (``--pin-link PATH``), which keeps the program attached until the pin is removed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pybpf.errors import BpfError


def _cmd_load(args: argparse.Namespace) -> int:
    import pybpf
    from pybpf.kernel.introspect import prog_info

    obj = pybpf.load(args.file, engine="kernel", cflags=args.cflags,
                     pin_root=args.pin_maps_by_name)
    with obj:
        rows = []
        for name, prog in obj.programs.items():
            info = prog_info(prog.runner.program.fd)
            rows.append({"name": name, "section": prog.section, "id": info.id,
                         "type": info.type_name, "tag": info.tag})
        if args.pin:
            root = Path(args.pin)
            (root / "maps").mkdir(parents=True, exist_ok=True)
            for row, prog in zip(rows, obj.programs.values()):
                prog.pin(root / row["name"])
                row["pinned"] = str(root / row["name"])
            for name, m in obj.maps.items():
                m.pin(root / "maps" / name.lstrip(".").replace(".", "_"))
    if args.json:
        print(json.dumps(rows, indent=2 if args.pretty else None))
        return 0
    for row in rows:
        where = f"  pinned {row['pinned']}" if "pinned" in row else ""
        print(f"{row['id']}: {row['type']}  name {row['name']}  section {row['section']}  "
              f"tag {row['tag']}{where}")
    if not args.pin:
        print("(not pinned: the programs were unloaded when this command ended; "
              "use --pin DIR to keep them)")
    return 0


def _cmd_attach(args: argparse.Namespace) -> int:
    import pybpf

    words = args.prog
    if len(words) == 2 and words[0] == "id" and words[1].isdigit():
        prog = pybpf.Program.from_id(int(words[1]))
    elif len(words) == 2 and words[0] == "pinned":
        prog = pybpf.Program.from_pin(words[1])
    elif len(words) == 1 and words[0].isdigit():
        prog = pybpf.Program.from_id(int(words[0]))
    else:
        raise BpfError("name the program as ID, id ID or pinned PATH")
    options = {}
    if args.type:
        from pybpf.isa.uapi import AttachType

        try:
            options["attach_type"] = AttachType[args.type.upper()]
        except KeyError:
            options["attach_type"] = args.type      # a short cgroup hook name ("egress")
    if args.section:
        options["section"] = args.section
    target = args.target
    if target is not None and target.isdigit():
        target = int(target)
    link = prog.attach(target, **options)
    try:
        link.pin(args.pin_link)
    except BpfError as e:
        link.close()
        raise BpfError(f"{e}; such an attachment lasts only as long as the process that "
                       f"made it: use pybpf's Python API (prog.attach) instead") from None
    link.close()          # the pin keeps the link, and so the attachment
    print(f"attached {prog.name or 'program'}; link pinned at {args.pin_link} "
          f"(remove the pin to detach)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="load an object (or C) into the kernel, optionally pinned")
    p.add_argument("file", help="ELF object or C source")
    p.add_argument("--pin", metavar="DIR",
                   help="pin programs at DIR/<name> and maps at DIR/maps/<name> (bpffs)")
    p.add_argument("--pin-maps-by-name", metavar="ROOT",
                   help="where maps declared pinning = LIBBPF_PIN_BY_NAME live "
                        "(default /sys/fs/bpf)")
    p.add_argument("-D", "--cflags", action="append", default=[], metavar="FLAG")
    p.add_argument("-j", "--json", action="store_true")
    p.add_argument("-p", "--pretty", action="store_true")
    p.set_defaults(func=_cmd_load)

    p = sub.add_parser("attach", help="attach a loaded program and pin the link")
    p.add_argument("prog", nargs="+", metavar="PROG",
                   help="ID, id ID or pinned PATH")
    p.add_argument("--target", help="interface, cgroup path, tracepoint category:name, "
                                    "binary:symbol... (as the hook needs)")
    p.add_argument("--type", help="attach type (e.g. cgroup_inet_egress, tcx_egress)")
    p.add_argument("--section", help="the section name saying which hook (e.g. "
                                     "tracepoint/syscalls/sys_enter_openat)")
    p.add_argument("--pin-link", required=True, metavar="PATH",
                   help="pin the link here (bpffs); removing the pin detaches")
    p.set_defaults(func=_cmd_attach)


__all__ = ["register"]
