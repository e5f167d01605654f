/*
 * idl.h — boxfs-bench's idl group (idl.c): benchmark.nop and nop_with_ool
 * round trips through the idl door, as ratios to raw Unix-socket ping-pong.
 */
#ifndef BOXFS_BENCH_IDL_H
#define BOXFS_BENCH_IDL_H

#include <stdbool.h>
#include <stddef.h>

struct idl_cfg {
	unsigned runs;	      /* every figure is the median of this many runs */
	size_t rtts;	      /* round trips per row, meter and run */
	const char *external; /* an idl door's address to use, or NULL to start one */
	bool verbose;
};

/* Runs the group and prints its table. 0, or -errno. */
int idl_bench(const struct idl_cfg *cfg);

#endif
