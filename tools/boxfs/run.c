/*
 * run.c — `boxfs run [--ns FILE] -- PROGRAM ARGS...`: runs an unmodified
 * program with libboxfs-preload.so, so that the paths of the client mount
 * table (FILE, or $BOXFS_NS) are served files (docs/run.md).
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BOXFS_PRELOAD_PATH
#define BOXFS_PRELOAD_PATH "libboxfs-preload.so"
#endif

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: boxfs run [--ns FILE] [--] PROGRAM [ARGS...]\n"
		"\n"
		"Runs PROGRAM with the paths of the client mount table served: FILE\n"
		"(default $BOXFS_NS) has one mount a line, PREFIX ADDRESS [ANAME] [PROTOCOL].\n"
		"The preload library is $BOXFS_PRELOAD, else the one beside this build,\n"
		"else the installed one.\n");
}

/* The preload library: $BOXFS_PRELOAD, the build tree's, or the installed. */
static const char *preload_path(char *buf, size_t cap)
{
	const char *env = getenv("BOXFS_PRELOAD");
	if (env)
		return env;
	char exe[PATH_MAX - 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *sl = strrchr(exe, '/');
		if (sl) {
			*sl = '\0';
			snprintf(buf, cap, "%s/preload/libboxfs-preload.so", exe);
			if (access(buf, R_OK) == 0)
				return buf;
		}
	}
	return BOXFS_PRELOAD_PATH;
}

int cmd_run(int argc, char **argv)
{
	const char *ns = NULL;
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--ns") == 0 && i + 1 < argc) {
			ns = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			run_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			break;
		}
	}
	if (i >= argc) {
		run_usage(stderr);
		return 2;
	}
	char abs[PATH_MAX];
	if (ns) {
		if (!realpath(ns, abs)) {
			warnx_("run", "%s: %s", ns, strerror(errno));
			return 1;
		}
		setenv("BOXFS_NS", abs, 1);
	}
	if (!getenv("BOXFS_NS")) {
		warnx_("run", "no mount table: --ns FILE or $BOXFS_NS");
		return 2;
	}
	char buf[PATH_MAX];
	const char *lib = preload_path(buf, sizeof buf);
	const char *old = getenv("LD_PRELOAD");
	char pre[2 * PATH_MAX];
	snprintf(pre, sizeof pre, "%s%s%s", lib, old ? " " : "", old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	execvp(argv[i], argv + i);
	warnx_("run", "%s: %s", argv[i], strerror(errno));
	return 127;
}
