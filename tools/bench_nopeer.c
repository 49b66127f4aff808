/*
 * bench_nopeer.c - stands in for bench_rte.c when DPDK (libdpdk-dev) is
 * not installed: vio-bench then prints "peer: none" and no ratios, rather
 * than failing to build.
 */
#include "bench.h"

const char *bench_peer_name(void)
{
	return NULL;
}

void bench_peer_run(const struct bench_cfg *cfg, struct bench_result *res)
{
	bench_die("no peer was built in (install libdpdk-dev and reconfigure)");
}
