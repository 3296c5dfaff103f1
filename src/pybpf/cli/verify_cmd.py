"""``pybpf verify``: the static verifier from the command line.

    pybpf verify prog.o [--prog NAME] [--type xdp] [--priv cap_bpf] [--log-level 2]
    pybpf verify prog.bin --type socket_filter --maps maps.json
    pybpf verify prog.o --cfg out.svg          # the control-flow graph, failing path in red

Exit status: 0 accepted, 1 rejected, 2 usage error. The log goes to stdout, the first
error line to stderr.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="verify a program as the kernel's verifier would",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", metavar="PATH", help="ELF object or raw 8-byte instructions")
    p.add_argument("--prog", metavar="NAME", help="the program of an object to verify")
    p.add_argument("--type", dest="prog_type", metavar="PROGTYPE",
                   help="program type (socket_filter, xdp, sched_cls, ...)")
    p.add_argument("--attach", type=int, default=None, metavar="N",
                   help="numeric expected_attach_type")
    p.add_argument("--maps", metavar="FILE.json", help="JSON list of map specs for raw input")
    p.add_argument("--priv", choices=("root", "cap_bpf"), default="root")
    p.add_argument("--log-level", type=int, choices=(0, 1, 2), default=1)
    p.add_argument("--cfg", metavar="OUT.svg", help="draw the control-flow graph (graphviz)")
    p.set_defaults(func=_cmd_verify)


class _Usage(Exception):
    pass


def _prog_type(name: str | None) -> int | None:
    if name is None:
        return None
    from pybpf.isa.uapi import ProgType

    key = name.upper().removeprefix("BPF_PROG_TYPE_")
    try:
        return int(ProgType[key])
    except KeyError:
        if name.isdigit():
            return int(name)
        raise _Usage(f"unknown program type {name!r}") from None


def _load_maps(path: str | None) -> list:
    if path is None:
        return []
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise _Usage(f"{path}: cannot read map specs: {e}") from None
    if not isinstance(data, list):
        raise _Usage(f"{path}: expected a JSON list of map specs")
    from pybpf.verifier.api import map_info

    try:
        return [map_info(m) for m in data]
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise _Usage(f"{path}: bad map spec: {e}") from None


def _cmd_verify(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except _Usage as e:
        print(f"pybpf verify: {e}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from pybpf.verifier import verify

    try:
        data = Path(args.path).read_bytes()
    except OSError as e:
        raise _Usage(f"{args.path}: {e.strerror}") from None
    prog_type = _prog_type(args.prog_type)
    results = {}
    data = _as_object_or_raw(args.path, data)
    if data[:4] == b"\x7fELF":
        from pybpf.elf import open_object
        from pybpf.errors import BpfError

        try:
            spec = open_object(data, path=args.path) if _takes_path() else open_object(data)
        except BpfError as e:
            print(f"{args.path}: {e}", file=sys.stderr)
            return 1
        names = [args.prog] if args.prog else list(spec.programs)
        for name in names:
            if name not in spec.programs:
                raise _Usage(f"{args.path} has no program {name!r} (it has: "
                             f"{', '.join(spec.programs)})")
        from pybpf.verifier.api import _verify_spec

        for name in names:
            results[name] = _verify_spec(spec.programs[name], spec, args.log_level, args.priv,
                                         prog_type, args.attach)
    else:
        maps = _load_maps(args.maps)
        results[Path(args.path).name] = verify(data, log_level=args.log_level, priv=args.priv,
                                               prog_type=prog_type if prog_type is not None
                                               else 1, attach_type=args.attach, maps=maps)
    status = 0
    for name, res in results.items():
        if len(results) > 1:
            print(f"== {name}: {'accepted' if res.accepted else 'rejected'}")
        if res.log:
            sys.stdout.write(res.log)
        if not res.accepted:
            status = 1
            print(res.error, file=sys.stderr)
            _explain(res)
        if args.cfg:
            _draw_cfg(args, data, res)
    return status


def _as_object_or_raw(path: str, data: bytes) -> bytes:
    """C source compiled to an object, assembly assembled to raw instructions (the
    inputs every pybpf command recognises); objects and raw bytecode as they are."""
    from pybpf.errors import BpfError
    from pybpf.inputs import kind_of

    kind = kind_of(path, data)
    try:
        if kind == "c":
            import pybpf

            return pybpf.compile(path)
        if kind == "asm":
            from pybpf.asm import assemble
            from pybpf.isa import encode

            return encode(assemble(data.decode("utf-8", "replace"), filename=path))
    except BpfError as e:
        raise _Usage(str(e)) from None
    return data


def _takes_path() -> bool:
    import inspect

    from pybpf.elf import open_object
    try:
        return "path" in inspect.signature(open_object).parameters
    except (TypeError, ValueError):
        return False


def _explain(res) -> None:
    out = sys.stderr
    if res.source_line is not None:
        text = getattr(res.source_line, "text", "").strip()
        print(f"  at {res.source_line}: {text}", file=out)
    if res.path:
        steps = ", ".join(f"{i}{'→taken' if t else '→fallthrough'}" for i, t in res.path)
        print(f"  path: {steps}", file=out)
    if res.hint:
        print(f"  fix: {res.hint}", file=out)


def _draw_cfg(args: argparse.Namespace, data: bytes, res) -> None:
    dot = shutil.which("dot")
    if dot is None:
        print("pybpf verify: --cfg needs graphviz's `dot`, which is not installed",
              file=sys.stderr)
        return
    from pybpf.verifier.graph import cfg_dot

    text = cfg_dot(res)
    out = Path(args.cfg)
    fmt = out.suffix.lstrip(".") or "svg"
    try:
        subprocess.run([dot, f"-T{fmt}", "-o", str(out)], input=text.encode(), check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"pybpf verify: dot failed: {e}", file=sys.stderr)
