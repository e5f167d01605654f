/*
 * bridge.h — the FUSE bridge behind `boxfs mount`: FUSE's low-level
 * operations (bridge.c) answered by a 9P server through the client library.
 * mount.c parses the command line, connects, mounts and runs the loop.
 */
#ifndef BOXFS_TOOLS_FUSE_BRIDGE_H
#define BOXFS_TOOLS_FUSE_BRIDGE_H

#define FUSE_USE_VERSION 312

#include <boxfs/client.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* What the kernel may keep (see docs/mount.md). */
enum bridge_cache {
	CACHE_NONE, /* no attribute, entry or page cache: direct_io */
	CACHE_ATTR, /* attributes and names for a while; pages until the next open */
	CACHE_FULL, /* also pages across opens, and writeback */
};

/*
 * An inode the kernel knows: a walked (never opened) fid of one server file,
 * kept until the kernel forgets the last lookup. Nodes are found by qid.path,
 * so every name of a file is one inode. The root is never forgotten.
 */
struct node {
	struct node *next; /* hash chain */
	uint64_t qpath;
	uint32_t fid;
	uint8_t qtype;
	uint64_t nlookup;	/* under bridge.lk */
	struct locker *lockers; /* under bridge.lk */
};

/*
 * A lock owner (FUSE's lock_owner: a process's file table) that took POSIX
 * locks on a node, and the pid it took them with. The kernel sends unlocks
 * and F_GETLK with pid 0, and the server's owners are (client_id, proc_id):
 * the bridge sends the pid recorded here. Dropped when the owner closes the
 * file (flush), which lets go of its locks.
 */
struct locker {
	struct locker *next;
	uint64_t owner;
	uint32_t pid;
};

struct bridge {
	struct boxfs_client *c;
	enum p9_dialect d;
	uint32_t iomax; /* the largest read or write payload */
	enum bridge_cache cache;
	double entry_timeout, attr_timeout;
	bool ro;
	uid_t uid; /* reported when the dialect has no numeric ids */
	gid_t gid;

	pthread_mutex_t lk; /* the node table */
	struct node *root;
	struct node **tab;
	size_t tabcap, count;
};

/* The operations table; userdata is a struct bridge. */
extern const struct fuse_lowlevel_ops bridge_ops;

/* Sets up b around connected client c (the root's node included): 0 or -errno. */
int bridge_init(struct bridge *b, struct boxfs_client *c);

/* Clunks every fid left and frees the table (not the client). */
void bridge_fini(struct bridge *b);

#endif
