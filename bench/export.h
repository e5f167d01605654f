/*
 * export.h — boxfs-bench's export comparison (export.c): boxfs serving a host
 * directory (boxfs serve -e DIR) against diod serving the same directory,
 * both driven over TCP by the boxfs client library in the same run.
 */
#ifndef BOXFS_BENCH_EXPORT_H
#define BOXFS_BENCH_EXPORT_H

#include <stdbool.h>

struct export_cfg {
	unsigned runs;	   /* every figure is the median of this many runs */
	unsigned file_mib; /* the large file read and written */
	double secs;	   /* length of each timed random or concurrent run */
	bool quick;	   /* a smoke test: small sizes */
	bool verbose;	   /* every run's figures on stderr */
};

/*
 * Runs the comparison and prints its table on stdout. 0 when it ran, or was
 * skipped because diod is not installed; -errno when a server or a
 * measurement failed.
 */
int export_bench(const struct export_cfg *cfg);

#endif
