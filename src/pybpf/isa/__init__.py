"""The eBPF instruction set: opcode table, Instruction type, encode/decode, UAPI enums."""

from pybpf.isa.instruction import Instruction, check, decode, encode, slot_indexes, to_signed
from pybpf.isa.opcodes import FORMS, FORMS_BY_NAME, FORMS_BY_OPCODE, Form, Kind, form_for

__all__ = ["FORMS", "FORMS_BY_NAME", "FORMS_BY_OPCODE", "Form", "Instruction", "Kind", "check",
           "decode", "encode", "form_for", "slot_indexes", "to_signed"]
