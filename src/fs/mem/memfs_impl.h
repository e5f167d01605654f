/*
 * memfs_impl.h — what the smdish door uses of the memfile server.
 *
 * A memfile is reference counted: each smdish fd, mapfd and fork record
 * holds one (mf_ref/mf_put), as does each 9P node; the last put destroys it.
 *
 * Its lock is whole-file and exclusive, held by an owner (a pointer naming a
 * session, and a process number within it, as 9P2000.L locks have). Taking
 * it again as its owner succeeds. A waiter (SMD_XLOCK_WAIT) queues in FIFO
 * order and is handed the lock directly when it is released, so nobody can
 * overtake it.
 *
 * Sending the segment: mf_lock calls the caller's `send` with the segment
 * (NULL, 0 for a pure lock) while it holds the memfile's mutex, so the bytes
 * stay stable while the reply is written or queued; `send` must not call
 * back into this module.
 */
#ifndef BOXFS_FS_MEM_IMPL_H
#define BOXFS_FS_MEM_IMPL_H

#include <boxfs/fs.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mf_store;
struct memfile;

struct mf_owner {
	const void *session;
	uint32_t proc;
};

typedef void (*mf_send_fn)(void *ctx, const uint8_t *seg, uint32_t size);

/* A queued request for the lock; the caller owns the storage and keeps it
 * until it is granted or cancelled. */
struct mf_waiter {
	struct mf_waiter *next;
	struct mf_owner owner;
	mf_send_fn send;
	void *ctx;
};

/* The store behind a memfs instance, or NULL when fs is not one. */
struct mf_store *mf_store_of(const struct boxfs_fs *fs);
bool mf_is_memfs(const struct boxfs_fs *fs);

/* Opens (creating when new) the memfile `name`; one reference in *out.
 * -EINVAL (empty, '/' or NUL in it), -ENAMETOOLONG (256 bytes or more),
 * -EMFILE (too many memfiles), -ENOMEM. */
int mf_open(struct mf_store *st, const char *name, size_t len, struct memfile **out);
void mf_ref(struct memfile *m);
void mf_put(struct memfile *m);

/* Gives the memfile a segment of size bytes, or checks that the one it has
 * is that size: 0, -EINVAL, -ENOMEM. */
int mf_map(struct memfile *m, uint32_t size);

/* A new descriptor of the segment (a sealed memfd that cannot change size),
 * or -errno; -EINVAL when there is no segment. */
int mf_segment_fd(struct memfile *m);

/*
 * Takes the lock for o. Free (or already o's): takes it, calls send with the
 * segment and answers 0. Held by another: -EAGAIN without w; with w, queues
 * it and answers 1, and send(ctx, ...) from w is called when it is granted.
 */
int mf_lock(struct memfile *m, const struct mf_owner *o, mf_send_fn send, void *ctx,
	    struct mf_waiter *w);

/* Removes a waiter that has not been granted; false when it was granted
 * already (the lock is then the waiter's). */
bool mf_cancel(struct memfile *m, struct mf_waiter *w);

/*
 * Releases o's lock, first replacing the segment with data when has_data.
 * -EINVAL when o does not hold it, or the data is not exactly the segment's
 * size (the lock then stays held), or there is data and no segment.
 */
int mf_unlock(struct memfile *m, const struct mf_owner *o, bool has_data, const void *data,
	      size_t len);

/* Releases the lock if o holds it (a close). */
void mf_release(struct memfile *m, const struct mf_owner *o);

/* Lists the memfiles into buf as smdish list entries; answers the bytes used
 * (entries that do not fit are left out). */
size_t mf_list(struct mf_store *st, void *buf, size_t cap);

/* Upper bound of the list's size for the memfiles now alive. */
size_t mf_list_size(struct mf_store *st);

/* The largest segment allowed. */
uint32_t mf_max_segment(const struct mf_store *st);

#endif
