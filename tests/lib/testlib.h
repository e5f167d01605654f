/*
 * testlib.h — small things C tests share: removing a scratch tree, and a
 * server in the test process with one backend at its root.
 */
#ifndef BOXFS_TESTS_TESTLIB_H
#define BOXFS_TESTS_TESTLIB_H

#include <boxfs/server.h>

/* Removes path and everything below it, never following symbolic links;
 * 0 or -1 (errno set) for path itself. */
int rm_tree(const char *path);

/* A started server (its own thread) with root mounted at "/" and the 9P
 * door on addr; NULL when any step fails (root is then freed too). */
struct boxfs_server *serve_root(struct boxfs_fs *root, const char *addr,
				const struct boxfs_server_opts *opts);

#endif
