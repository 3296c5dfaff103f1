#!/bin/sh
# Rebuild the LLVM-made reference fixtures in this directory (see README.md).
# Needs clang-19, llvm-mc-19, llvm-objcopy-19 and llvm-objdump-19; pybpf is not used.
set -eu
cd "$(dirname "$0")"

# The assembler corpus: source, object, .text bytes and LLVM's disassembly.
python3 gen_corpus.py > corpus.s
llvm-mc-19 -triple bpf -mcpu=v4 -filetype=obj corpus.s -o corpus.o
llvm-objcopy-19 -O binary --only-section=.text corpus.o corpus.bin
llvm-objdump-19 -d --mcpu=v4 --no-show-raw-insn corpus.o > corpus.objdump.txt
rm corpus.o

# Small C programs: object, the bytes of each code section, LLVM's disassembly.
for prog in xdp_stats subprog; do
    clang-19 -target bpf -O2 -mcpu=v4 -c "$prog.c" -o "$prog.o"
    llvm-objdump-19 -dr --mcpu=v4 --no-show-raw-insn "$prog.o" > "$prog.objdump.txt"
    for section in $(sed -n 's/^Disassembly of section \(.*\):$/\1/p' "$prog.objdump.txt"); do
        llvm-objcopy-19 -O binary --only-section="$section" "$prog.o" "$prog.${section#.}.bin"
    done
done
