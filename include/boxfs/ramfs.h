/*
 * boxfs/ramfs.h — the RAM file server: a complete file tree in memory.
 *
 * Files, directories, symbolic links, hard links, device nodes and FIFOs (as
 * names only), extended attributes, times, modes and ownership checked against
 * each call's credentials. Locks are served by the core's lock manager. It is
 * the default server's root and the reference example of a backend.
 */
#ifndef BOXFS_RAMFS_H
#define BOXFS_RAMFS_H

#include <boxfs/fs.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boxfs_ramfs_opts {
	uint64_t max_bytes; /* file data and xattr bytes allowed; 0: no limit */
	uint32_t root_mode; /* permissions of "/"; 0: 0755 */
	uint32_t root_uid;
	uint32_t root_gid;
};

/*
 * A new, empty RAM tree (opts may be NULL for the defaults). The caller owns
 * the result and frees it with boxfs_fs_free (or hands it to a server, which
 * then owns it). NULL with errno set on failure.
 */
BOXFS_API struct boxfs_fs *boxfs_ramfs_new(const struct boxfs_ramfs_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
