/*
 * boxfs/svcfs.h — the backends behind Resea's services (docs/services.md),
 * mounted by the default server beside the RAM root:
 *
 *   /srv   the discovery registry: one file per served name, holding an
 *          address; a lookup through the idl door waits for its name.
 *   /task  tasks launched through the idl door (and each idl connection):
 *          /task/N/status, /task/N/ctl ("kill [SIGNAL]"), /task/N/wait.
 *   /dev   time, rtc, and blk/NAME for each disk image given.
 */
#ifndef BOXFS_SVCFS_H
#define BOXFS_SVCFS_H

#include <boxfs/fs.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A registry instance; NULL with errno. */
BOXFS_API struct boxfs_fs *boxfs_srvfs_new(void);

/* A task table. Tasks it launched and still running when the server stops
 * are killed. NULL with errno. */
BOXFS_API struct boxfs_fs *boxfs_taskfs_new(void);

struct boxfs_devfs_blk {
	const char *name; /* /dev/blk/NAME */
	const char *path; /* a disk image, opened read-write (read-only if it must) */
};

struct boxfs_devfs_opts {
	const struct boxfs_devfs_blk *blk;
	unsigned nblk;
	uint64_t max_shm; /* largest shm segment; 0 for 64 MiB */
};

/* A device directory. NULL with errno (an image that cannot be opened). */
BOXFS_API struct boxfs_fs *boxfs_devfs_new(const struct boxfs_devfs_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
