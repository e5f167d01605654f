/*
 * lock_impl.h — the core's lock manager: POSIX byte-range locks per file,
 * for backends that have none of their own (and later smdish's whole-file
 * owner locks, which are the range 0..EOF).
 *
 * A file is named by (mount, ino). An owner is (session, proc_id, client_id):
 * locks of one owner never conflict with each other, and setting or clearing
 * a range splits and replaces that owner's overlapping locks, as fcntl does.
 * Nothing here waits: a conflict answers -EAGAIN at once.
 */
#ifndef BOXFS_CORE_LOCK_IMPL_H
#define BOXFS_CORE_LOCK_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bx_locks;

struct bx_lock_owner {
	const void *session;
	uint32_t proc_id;
	const char *client_id; /* not NUL-terminated */
	size_t client_id_len;
};

/* A range lock: type F_RDLCK/F_WRLCK/F_UNLCK, [start, start+length), length 0 = to EOF. */
struct bx_lock_range {
	short type;
	uint64_t start;
	uint64_t length;
	uint32_t proc_id; /* filled in by bx_locks_get */
};

struct bx_locks *bx_locks_new(void);
void bx_locks_free(struct bx_locks *lm);

/* F_SETLK: sets or clears lk for owner on file (mnt, ino). 0, -EAGAIN on a
 * conflict, -EINVAL for a bad type or range, -ENOMEM. */
int bx_locks_set(struct bx_locks *lm, uint16_t mnt, uint64_t ino, const struct bx_lock_owner *o,
		 const struct bx_lock_range *lk);

/* F_GETLK: replaces *lk by the first lock of another owner that conflicts
 * with it, or sets lk->type to F_UNLCK when none does. */
int bx_locks_get(struct bx_locks *lm, uint16_t mnt, uint64_t ino, const struct bx_lock_owner *o,
		 struct bx_lock_range *lk);

/* Drops every lock a session holds, on one file or (ino 0 with all) on all. */
void bx_locks_drop_session(struct bx_locks *lm, const void *session, bool all, uint16_t mnt,
			   uint64_t ino);

/* True when the session holds any lock on the file. */
bool bx_locks_held(struct bx_locks *lm, const void *session, uint16_t mnt, uint64_t ino);

#endif
