/*
 * memfile.h — boxfs-bench's memfile group (memfile.c): the critical section
 * "lock, change one byte, unlock" through the memfile client library against
 * an smdish server, beside raw floors measured in the same run.
 */
#ifndef BOXFS_BENCH_MEMFILE_H
#define BOXFS_BENCH_MEMFILE_H

#include <stdbool.h>
#include <stddef.h>

struct memfile_cfg {
	unsigned runs;	      /* every figure is the median of this many runs */
	size_t sections;      /* sections timed per row, meter and run (fewer of 1 MiB) */
	double secs;	      /* length of each contention run, seconds */
	const char *external; /* an smdish server's address to use, or NULL to start one */
	bool verbose;	      /* every run's figures on stderr */
};

/*
 * Runs the group and prints its table on stdout. 0 when every measurement
 * ran; -errno when the server could not start or a measurement failed.
 */
int memfile_bench(const struct memfile_cfg *cfg);

#endif
