/*
 * synth.h — boxfs-bench's synth group (synth.c): a 4 KiB read of a synthetic
 * file and an event's round trip through an event file, against a 4 KiB
 * read of a RAM file in the same run, all through the 9P client library.
 */
#ifndef BOXFS_BENCH_SYNTH_H
#define BOXFS_BENCH_SYNTH_H

#include <stdbool.h>
#include <stddef.h>

struct synth_cfg {
	unsigned runs; /* every figure is the median of this many runs */
	size_t rtts;   /* round trips timed per figure and run */
	bool verbose;  /* every run's figures on stderr */
};

/* Runs the group and prints its table on stdout. 0, or -errno. */
int synth_bench(const struct synth_cfg *cfg);

#endif
