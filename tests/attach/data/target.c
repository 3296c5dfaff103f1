/* The process the uprobe/USDT tests probe: waits for a line on stdin, then calls
 * triple(1..n) and fires USDT probe pybpf_test:tick once per call, then prints the sum.
 * Built with `cc -O0 -g -o target target.c` by tests/attach/test_attach_uprobe.py.
 *
 * The USDT note is written by hand (no <sys/sdt.h> needed): a .note.stapsdt entry
 * (type 3, owner "stapsdt") holding the probe address, the link-time address of
 * .stapsdt.base, the semaphore address, provider, name and argument description. */
#include <stdio.h>
#include <stdlib.h>

/* The semaphore the kernel increments while a uprobe with ref_ctr_offset is attached. */
unsigned short pybpf_test_tick_semaphore __attribute__((section(".probes"), used));

#define TICK(arg) __asm__ __volatile__(                                           \
	"990: nop\n"                                                                  \
	".pushsection .note.stapsdt,\"\",\"note\"\n"                                  \
	".balign 4\n"                                                                 \
	".4byte 992f-991f, 994f-993f, 3\n"                                            \
	"991: .asciz \"stapsdt\"\n"                                                   \
	"992: .balign 4\n"                                                            \
	"993: .8byte 990b\n"                                                          \
	".8byte _.stapsdt.base\n"                                                     \
	".8byte pybpf_test_tick_semaphore\n"                                          \
	".asciz \"pybpf_test\"\n"                                                     \
	".asciz \"tick\"\n"                                                           \
	".asciz \"-4@%0\"\n"                                                          \
	"994: .balign 4\n"                                                            \
	".popsection\n"                                                               \
	".ifndef _.stapsdt.base\n"                                                    \
	".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n"       \
	".weak _.stapsdt.base\n"                                                      \
	".hidden _.stapsdt.base\n"                                                    \
	"_.stapsdt.base: .space 1\n"                                                  \
	".size _.stapsdt.base, 1\n"                                                   \
	".popsection\n"                                                               \
	".endif\n"                                                                    \
	: : "r"(arg))

__attribute__((noinline)) int triple(int x)
{
	return 3 * x;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5;
	long total = 0;
	char line[16];

	if (!fgets(line, sizeof line, stdin))
		return 1;
	for (int i = 1; i <= n; i++) {
		total += triple(i);
		if (pybpf_test_tick_semaphore)
			TICK(i);
	}
	printf("%ld\n", total);
	return 0;
}
