#!/bin/sh
# Rebuild the committed objects from their sources (clang-19, libbpf headers).
set -e
cd "$(dirname "$0")"
for src in progs maps legacy core sections; do
	clang-19 -O2 -g -target bpf -mcpu=v3 -I/usr/include/x86_64-linux-gnu \
		-fdebug-prefix-map="$PWD"=. -c "$src.c" -o "$src.o"
done
