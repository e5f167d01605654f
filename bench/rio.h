/*
 * rio.h — boxfs-bench's rio group (rio.c): reading a host file through a rio
 * door, by VMOFILE (the descriptor the OPEN answered) and by READ messages,
 * against a native read of the same file in the same run.
 */
#ifndef BOXFS_BENCH_RIO_H
#define BOXFS_BENCH_RIO_H

#include <stdbool.h>

struct rio_cfg {
	unsigned runs;	   /* every figure is the median of this many runs */
	unsigned file_mib; /* the file read (1024 by default) */
	bool verbose;	   /* every run's figures on stderr */
};

/* Runs the group and prints its table on stdout. 0, or -errno. */
int rio_bench(const struct rio_cfg *cfg);

#endif
