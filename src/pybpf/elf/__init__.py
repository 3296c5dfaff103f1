"""ELF objects as clang emits them: ``open_object(path_or_bytes) -> ObjectSpec``.

Also the pieces the engines use on their own: BTF (:class:`Btf`), typed values
(:func:`codec_for`), CO-RE (:func:`apply_core`, :func:`target_btf`) and libbpf's
section-name table (:func:`classify`).
"""

from pybpf.elf.btf import Btf, Kind, Type
from pybpf.elf.btf_codec import Codec, codec_for
from pybpf.elf.core import apply_core, target_btf
from pybpf.elf.reader import open_object
from pybpf.elf.sections import SECTION_DEFS, SectionDef, SectionInfo, classify
from pybpf.elf.spec import (CoreRelo, GlobalVariables, MapSpec, ObjectSpec, ProgramSpec,
                            SourceLine, Variable)

__all__ = [
    "Btf", "Codec", "CoreRelo", "GlobalVariables", "Kind", "MapSpec", "ObjectSpec",
    "ProgramSpec", "SECTION_DEFS", "SectionDef", "SectionInfo", "SourceLine", "Type",
    "Variable", "apply_core", "classify", "codec_for", "open_object", "target_btf",
]
