/*
 * symbols.c - names a guest RIP from the kernel's System.map, so a hang
 * or a fault is reported as "function+offset" rather than a number.
 *
 * The map is read afresh at each call: it is only used when the run
 * stops, and it is a few MiB. Addresses the kernel runs at before it
 * switches to its own page tables are physical (the kernel proper is
 * linked at __START_KERNEL_map + physical), so a low RIP is looked up at
 * that offset too by the caller.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vmm.h"

void vmm_symbol(const char *map, uint64_t addr, char *buf, size_t len)
{
	char line[512], best[256] = "";
	uint64_t best_addr = 0;
	FILE *f;

	buf[0] = '\0';
	if (!map || !(f = fopen(map, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		uint64_t a;
		char type, name[256];

		if (sscanf(line, "%" SCNx64 " %c %255s", &a, &type, name) != 3)
			continue;
		if (type != 't' && type != 'T' && type != 'W' && type != 'w')
			continue;
		if (a <= addr && a >= best_addr) {
			best_addr = a;
			strcpy(best, name);
		}
	}
	fclose(f);
	/* Past the last text symbol by more than 1 MiB: not kernel text. */
	if (best[0] && addr - best_addr < 0x100000)
		snprintf(buf, len, "%s+%#" PRIx64, best, addr - best_addr);
}
