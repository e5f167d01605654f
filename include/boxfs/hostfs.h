/*
 * boxfs/hostfs.h — a host directory exported as a boxfs backend, confined.
 *
 * Every node holds an O_PATH descriptor, and every name is resolved relative
 * to its directory's descriptor, one component at a time and without
 * following symbolic links, so no client request reaches outside the
 * exported directory: not through "..", symbolic links, renames racing a
 * walk, or special files. See docs/export.md for the security model.
 */
#ifndef BOXFS_HOSTFS_H
#define BOXFS_HOSTFS_H

#include <boxfs/fs.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boxfs_hostfs_opts {
	const char *root;   /* the directory to export (required) */
	bool readonly;	    /* every change answers EROFS */
	bool allow_special; /* list and create device nodes, FIFOs and sockets
			     * (they are never opened either way) */
	bool squash;	    /* act as squash_uid:squash_gid for everyone */
	uint32_t squash_uid;
	uint32_t squash_gid;
	/* xattr namespaces served, e.g. {"user.", NULL}; NULL means "user." */
	const char *const *xattr_prefixes;
};

/*
 * An export of opts->root. When the server runs as root, each call acts as
 * its caller (file-system uid, gid and groups, set per thread) or as the
 * squash identity; otherwise everything acts as the server's own user.
 * NULL with errno set on failure (root missing, not a directory ...).
 */
BOXFS_API struct boxfs_fs *boxfs_hostfs_new(const struct boxfs_hostfs_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
