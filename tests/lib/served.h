/*
 * served.h — `boxfs serve` in a child process, for tests: started with the
 * arguments given (where "{dir}" stands for a fresh temporary directory for
 * its sockets), its listening addresses read from its stdout, and stopped
 * with SIGTERM. The child dies with the test (PR_SET_PDEATHSIG), and a test
 * interrupted by SIGTERM, SIGINT or SIGHUP removes its directory too.
 */
#ifndef BOXFS_TESTS_SERVED_H
#define BOXFS_TESTS_SERVED_H

#include <stdbool.h>
#include <sys/types.h>

enum { SERVED_MAX = 8 };

struct served {
	pid_t pid;
	char dir[64];
	unsigned n;
	char door[SERVED_MAX][16];
	char addr[SERVED_MAX][200];
};

/* Starts exe with "serve" and the NULL-terminated arguments; waits (20 s at
 * most) until it has named `want` addresses. 0, or -1 with a "# " line on
 * stderr saying why. */
int served_start(struct served *s, const char *exe, unsigned want, ...);

/* The address of the first listener of door on the transport prefix
 * ("unix!", "tcp!"), or NULL. */
const char *served_addr(const struct served *s, const char *door, const char *prefix);

/* SIGTERM (SIGKILL after 10 s), reap, and remove the directory; true when
 * it exited with 0 on its own. */
bool served_stop(struct served *s);

#endif
