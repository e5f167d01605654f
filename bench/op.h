/*
 * op.h — boxfs-bench's op group (op.c): whole boxes moved with GETMEM and
 * PUTMEM series against the same bytes streamed over a Unix socket in the
 * same run.
 */
#ifndef BOXFS_BENCH_OP_H
#define BOXFS_BENCH_OP_H

#include <stdbool.h>

struct op_cfg {
	unsigned runs;	  /* every figure is the median of this many runs */
	unsigned box_mib; /* the box moved (64 by default) */
	bool verbose;	  /* every run's figures on stderr */
};

/* Runs the group and prints its table on stdout. 0, or -errno. */
int op_bench(const struct op_cfg *cfg);

#endif
