/*
 * boxfs/fs.h — the file-server contract: what a backend implements.
 *
 * A backend is a table of operations plus an `aux` pointer (its instance).
 * It fills the operations it has; the core answers a sensible default for the
 * rest (see each operation). Every door — 9P, and later the others — turns its
 * protocol into calls on this table, so a backend never sees a protocol, a fid
 * or a socket, and never sees a request the protocol's rules forbid: names are
 * checked (not empty, not "." or "..", no '/', no NUL, at most 255 bytes)
 * before a backend is called with them, except that `lookup` receives "..".
 *
 * Nodes. A backend names its objects with opaque node pointers. `lookup`,
 * `create`, `mkdir`, `symlink`, `mknod` and `root` answer a node carrying one
 * reference that the core gives back with `forget`, exactly once; the node
 * must stay usable until then, even after it is unlinked (open-but-unlinked
 * files keep working). Every node has a stable identity, `ino` in its
 * attributes, unique within the backend instance and never reused while a
 * reference exists; the core derives 9P qids from it.
 *
 * Open files. `open` and `create` may answer a per-open handle `fh` (NULL is
 * fine); the core hands it to read, write, readdir, fsync, lock and getattr/
 * setattr on that open file, and gives it back with `release`.
 *
 * Returns (as everywhere in boxfs): 0 or a negative Linux errno; byte counts
 * as ssize_t. Operations are called from any thread, concurrently, unless
 * the backend asks otherwise (BOXFS_FS_SERIAL); a backend protects its own
 * state. Strings passed in are NUL-terminated and valid only during the call.
 */
#ifndef BOXFS_FS_H
#define BOXFS_FS_H

#include <boxfs/common.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Who is asking: the session's credentials under the server's policy. */
struct boxfs_cred {
	uint32_t uid;
	uint32_t gid;
	uint32_t ngroups;
	const uint32_t *groups;
};

/* One call into a backend: credentials plus cancellation (see boxfs_call_wait). */
struct boxfs_call;

/* The credentials of the call; never NULL. */
BOXFS_API const struct boxfs_cred *boxfs_call_cred(const struct boxfs_call *c);

/*
 * True once the request behind the call was cancelled (flushed, or its
 * connection closed). A backend doing long work may check it and answer
 * -EINTR.
 */
BOXFS_API bool boxfs_call_cancelled(const struct boxfs_call *c);

/*
 * A message for the error the call answers, for protocols that carry one:
 * 9P2000 and 9P2000.u send it in Rerror in place of the errno's usual text;
 * 9P2000.L carries the errno alone. Copied (up to 200 bytes); the last one
 * set counts, and only when the operation answers an error.
 */
BOXFS_API void boxfs_call_errmsg(struct boxfs_call *c, const char *msg);

/* True when the call must not wait (see BOXFS_FS_TRY_INLINE). */
BOXFS_API bool boxfs_call_nowait(const struct boxfs_call *c);

/*
 * Waits on cond (with mu held, as pthread_cond_wait) until signalled or until
 * the call is cancelled. Answers 0 when woken, -EINTR when cancelled; mu is
 * held again on return either way. This is how a blocking operation (a lookup
 * waiting for a name, an event read) stays cancellable by the protocol's
 * cancel and by disconnect. Only backends without BOXFS_FS_INLINE may wait.
 */
BOXFS_API int boxfs_call_wait(struct boxfs_call *c, void *cond /* pthread_cond_t */,
			      void *mu /* pthread_mutex_t */);

/* Not an errno: the operation will answer later through boxfs_call_done. */
#define BOXFS_EDEFERRED (-4097)

/*
 * Answering later. A read or write that cannot answer yet (an event file
 * with nothing queued) keeps the call and returns BOXFS_EDEFERRED; the
 * backend then owns the call until it calls boxfs_call_done exactly once,
 * from any thread, with what the operation would have answered (a byte count
 * or -errno). Until then every argument of the operation stays valid (read's
 * buf and count, write's buf, node and fh: the open file is not released
 * before). boxfs_call_done may come before the operation has returned. Only
 * read and write may be deferred; the doors answer EIO to other operations
 * that try.
 *
 * A deferred call that is cancelled (its request flushed, its connection
 * closed) runs fn(arg, c) once, from any thread, outside the core's locks;
 * the backend must still call boxfs_call_done (with -EINTR, typically). Set
 * fn before returning BOXFS_EDEFERRED; if the call is already cancelled, fn
 * runs at once, inside boxfs_call_on_cancel. fn may run while the backend is
 * answering the call on another thread: the backend decides, under its own
 * lock, which of the two calls boxfs_call_done (whoever takes the call off
 * its list of waiting calls, say). A cancelled call must be answered
 * promptly: a door that cannot keep calls waits for that answer.
 *
 * Where a deferral goes. The 9P door keeps deferred reads and writes
 * without holding a thread: it answers when boxfs_call_done comes, and its
 * Tflush runs fn. It prepares for that (a copy of the request, a reply
 * buffer of the request's own) for backends that declare BOXFS_FS_DEFER,
 * for backends that are neither inline nor tried inline, and in a server
 * without threads (see boxfs_server_opts.no_threads). Anywhere else — the
 * other doors (rio, idl), or the 9P door on its reading thread for a backend
 * without BOXFS_FS_DEFER — the core settles the deferral itself before the
 * operation's caller sees it: on a worker thread it waits for
 * boxfs_call_done (a cancel runs fn and ends the wait); on a thread that must
 * not wait it cancels the call at once (fn runs) and waits for the answer
 * the cancel brings; unless that answer carried data, the request is then
 * made again on a worker, or answered EAGAIN where there is none. So a
 * backend that defers should declare BOXFS_FS_DEFER.
 */
BOXFS_API void boxfs_call_on_cancel(struct boxfs_call *c,
				    void (*fn)(void *arg, struct boxfs_call *c), void *arg);
BOXFS_API void boxfs_call_done(struct boxfs_call *c, ssize_t result);

/* Attributes of a node. */
struct boxfs_attr {
	uint64_t ino;	  /* identity within the backend instance, never 0 */
	uint64_t gen;	  /* generation, if ino numbers are ever reused */
	uint64_t version; /* changes whenever data or attributes change; never 0 */
	uint32_t mode;	  /* S_IFMT bits and permissions */
	uint32_t uid;
	uint32_t gid;
	uint64_t nlink;
	uint64_t rdev;
	uint64_t size;
	uint64_t blksize;
	uint64_t blocks; /* 512-byte units */
	struct timespec atime;
	struct timespec mtime;
	struct timespec ctime;
	struct timespec btime;
};

/* What setattr changes: BOXFS_SET_* bits in `valid`. */
enum {
	BOXFS_SET_MODE = 1 << 0,
	BOXFS_SET_UID = 1 << 1,
	BOXFS_SET_GID = 1 << 2,
	BOXFS_SET_SIZE = 1 << 3,
	BOXFS_SET_ATIME = 1 << 4,     /* to `atime` */
	BOXFS_SET_MTIME = 1 << 5,     /* to `mtime` */
	BOXFS_SET_ATIME_NOW = 1 << 6, /* to the current time */
	BOXFS_SET_MTIME_NOW = 1 << 7, /* to the current time */
	BOXFS_SET_CTIME = 1 << 8,     /* just touch ctime */
};

struct boxfs_setattr {
	uint32_t valid;
	uint32_t mode; /* permission bits only */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	struct timespec atime;
	struct timespec mtime;
};

struct boxfs_statfs {
	uint32_t type;
	uint32_t bsize;
	uint64_t blocks;
	uint64_t bfree;
	uint64_t bavail;
	uint64_t files;
	uint64_t ffree;
	uint64_t fsid;
	uint32_t namelen;
};

/* A POSIX byte-range lock (F_RDLCK/F_WRLCK/F_UNLCK); length 0 means to EOF. */
struct boxfs_lock {
	short type;
	uint64_t start;
	uint64_t length;
	uint32_t proc_id;
	/* The session asking; with proc_id, the lock's owner. */
	const void *owner;
};

/*
 * Directory listing. readdir calls fill once per entry, starting after the
 * entry whose cookie is `cookie` (0: from the start). Each entry carries the
 * cookie that continues after it; cookies must stay valid across calls and
 * across changes to the directory (an entry removed meanwhile is skipped, not
 * an error). fill answers 0 to go on, 1 when the reply is full: the entry it
 * was given was not taken and must come first next time.
 */
typedef int (*boxfs_fill_fn)(void *ctx, const char *name, uint64_t ino, uint32_t dtype,
			     uint64_t next_cookie);
/* (fill never calls back into the backend, which may hold its locks while
 * calling it.) */

/*
 * Zero-copy reads: a backend hands n bytes of file data (NULL when n is 0) to
 * give while they are stable; give answers n or -errno, and its answer is
 * the read's.
 */
typedef ssize_t (*boxfs_give_fn)(void *ctx, const void *data, size_t n);

/* Backend flags. */
enum {
	/* Every operation is quick and never waits: the core runs it on the
	 * thread that read the request, saving a thread hand-off. */
	BOXFS_FS_INLINE = 1 << 0,
	/* The core serializes all calls into this instance. */
	BOXFS_FS_SERIAL = 1 << 1,
	/* The backend has POSIX locks of its own; else the core's lock
	 * manager serves `lock` for it. */
	BOXFS_FS_OWN_LOCKS = 1 << 2,
	/* Reads, lookups and getattr may be tried on the thread that read the
	 * request: such a call has boxfs_call_nowait() true, and an operation
	 * that would have to wait (for a disk, say) answers BOXFS_EWOULDWAIT
	 * at once; the core then makes the call again on a worker. */
	BOXFS_FS_TRY_INLINE = 1 << 3,
	/* Reads and writes may answer BOXFS_EDEFERRED (see boxfs_call_done):
	 * the 9P door then gives every Tread and Twrite of this backend what a
	 * deferral needs, wherever it runs, so none ever holds a thread. */
	BOXFS_FS_DEFER = 1 << 4,
};

/* Not an errno: "ask me again where I may wait" (see BOXFS_FS_TRY_INLINE). */
#define BOXFS_EWOULDWAIT (-4096)

struct boxfs_fs_ops {
	/* The root node of this instance (a reference, given back by forget). */
	int (*root)(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr);

	/* The child `name` of dir, or its parent for ".." (the root answers
	 * itself). Default: -ENOENT. */
	int (*lookup)(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		      struct boxfs_attr *attr);

	/* Drops one reference from root/lookup/create/mkdir/symlink/mknod.
	 * Default: nothing. */
	void (*forget)(void *aux, void *node);

	/* Required. fh is the open handle when asked through an open file. */
	int (*getattr)(void *aux, struct boxfs_call *c, void *node, void *fh,
		       struct boxfs_attr *attr);

	/* Changes what sa->valid says and answers the new attributes.
	 * Default: -EROFS. */
	int (*setattr)(void *aux, struct boxfs_call *c, void *node, void *fh,
		       const struct boxfs_setattr *sa, struct boxfs_attr *attr);

	/* Opens node with Linux open flags (O_ACCMODE, O_TRUNC, O_APPEND...).
	 * Permission checks are the backend's. Default: success, fh NULL. */
	int (*open)(void *aux, struct boxfs_call *c, void *node, int flags, void **fh);

	/* Creates and opens a regular file `name` in dir; O_EXCL in flags means
	 * an existing name is -EEXIST, else an existing file is opened.
	 * Default: -EROFS. */
	int (*create)(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags,
		      uint32_t mode, void **node, struct boxfs_attr *attr, void **fh);

	/* Reads up to count bytes at off; 0 at end of file. May answer later
	 * (BOXFS_EDEFERRED, see boxfs_call_done). Default: -EINVAL. */
	ssize_t (*read)(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
			size_t count, uint64_t off);

	/* Optional, beside read: the same bytes handed to give without a copy
	 * (see boxfs_give_fn); give may write them to a socket, so a backend
	 * holding a lock holds it only for that call. */
	ssize_t (*read_direct)(void *aux, struct boxfs_call *c, void *node, void *fh, size_t count,
			       uint64_t off, boxfs_give_fn give, void *ctx);

	/* Writes count bytes at off (at the end for O_APPEND opens); answers the
	 * count written. May answer later (BOXFS_EDEFERRED, see
	 * boxfs_call_done). Default: -EROFS. */
	ssize_t (*write)(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
			 size_t count, uint64_t off);

	/* Lists entries after cookie (see boxfs_fill_fn), without "." and ".."
	 * (doors add them where their protocol wants them). Cookies must be
	 * below 2^63. Answers 0. Default: -ENOTDIR. */
	int (*readdir)(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
		       boxfs_fill_fn fill, void *ctx);

	/* Default for each: -EROFS. */
	int (*mkdir)(void *aux, struct boxfs_call *c, void *dir, const char *name, uint32_t mode,
		     void **node, struct boxfs_attr *attr);
	int (*symlink)(void *aux, struct boxfs_call *c, void *dir, const char *name,
		       const char *target, void **node, struct boxfs_attr *attr);
	int (*mknod)(void *aux, struct boxfs_call *c, void *dir, const char *name, uint32_t mode,
		     uint64_t rdev, void **node, struct boxfs_attr *attr);
	/* Makes newname in newdir a second name of node. */
	int (*link)(void *aux, struct boxfs_call *c, void *node, void *newdir, const char *newname);
	/* Removes name from dir; AT_REMOVEDIR in flags removes a directory
	 * (which must be empty), else a non-directory. */
	int (*unlink)(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags);
	/* Renames; flags are renameat2's (RENAME_NOREPLACE, RENAME_EXCHANGE). */
	int (*rename)(void *aux, struct boxfs_call *c, void *olddir, const char *oldname,
		      void *newdir, const char *newname, unsigned flags);

	/* The target of a symlink, without NUL; answers its length, truncating
	 * to cap as readlink(2) does. Default: -EINVAL. */
	ssize_t (*readlink)(void *aux, struct boxfs_call *c, void *node, char *buf, size_t cap);

	/* Default: success (nothing is cached). */
	int (*fsync)(void *aux, struct boxfs_call *c, void *node, void *fh, bool datasync);

	/* Default: zeros with bsize 4096 and namelen 255. */
	int (*statfs)(void *aux, struct boxfs_call *c, void *node, struct boxfs_statfs *st);

	/* F_GETLK or F_SETLK (never waits: a conflict is -EAGAIN) on an open
	 * file, for the owner lk names: (owner, proc_id) pairs that are equal
	 * never conflict. Used only with BOXFS_FS_OWN_LOCKS; else the core's
	 * lock manager serves locks. */
	int (*lock)(void *aux, struct boxfs_call *c, void *node, void *fh, int cmd,
		    struct boxfs_lock *lk);
	/* The session owner stands for has ended: drop every lock it holds.
	 * Default: nothing. */
	void (*owner_gone)(void *aux, const void *owner);

	/* Extended attributes; get/list answer the size (and copy when cap is
	 * big enough, else -ERANGE; cap 0 asks only the size). flags are
	 * setxattr's (XATTR_CREATE, XATTR_REPLACE). Default: -EOPNOTSUPP. */
	ssize_t (*getxattr)(void *aux, struct boxfs_call *c, void *node, const char *name,
			    void *buf, size_t cap);
	int (*setxattr)(void *aux, struct boxfs_call *c, void *node, const char *name,
			const void *value, size_t size, int flags);
	ssize_t (*listxattr)(void *aux, struct boxfs_call *c, void *node, char *buf, size_t cap);
	int (*removexattr)(void *aux, struct boxfs_call *c, void *node, const char *name);

	/* Gives back an open handle. Default: nothing. */
	void (*release)(void *aux, void *node, void *fh);

	/* A real descriptor for an open file (host files, memfds), for doors
	 * that pass descriptors; the caller owns it. Default: -EOPNOTSUPP. */
	int (*export_fd)(void *aux, struct boxfs_call *c, void *node, void *fh, int flags);

	/* Frees the instance when the server stops. Default: nothing. */
	void (*destroy)(void *aux);
};

/*
 * A backend instance: its operations, its state, and how to call it.
 * Constructors (boxfs_ramfs_new ...) allocate it with malloc.
 */
struct boxfs_fs {
	const struct boxfs_fs_ops *ops;
	void *aux;
	unsigned flags;	  /* BOXFS_FS_* */
	const char *name; /* for messages: "ram", "host" ... */
};

/* Destroys an instance: calls ops->destroy(aux), then frees fs. NULL is fine. */
BOXFS_API void boxfs_fs_free(struct boxfs_fs *fs);

#ifdef __cplusplus
}
#endif
#endif
