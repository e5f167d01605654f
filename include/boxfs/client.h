/*
 * boxfs/client.h — the 9P client library: a connection to a 9P2000, 9P2000.u
 * or 9P2000.L server, raw message access, and a POSIX-like file API on top.
 *
 * Called by programs and tools (the boxfs command, the FUSE bridge, tests).
 * Everything here is thread-safe: many threads may share one client and one
 * open file (a file's offset is protected). Requests from all threads are
 * multiplexed on the one connection by tag.
 *
 * Paths are resolved from the attach root: a leading '/' and repeated '/'
 * are ignored, "." and ".." are walked as names (the server handles "..").
 * Errors are negative Linux errnos; functions returning pointers return NULL
 * with errno set.
 */
#ifndef BOXFS_CLIENT_H
#define BOXFS_CLIENT_H

#include <boxfs/9p.h>
#include <boxfs/common.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boxfs_client;
struct boxfs_file;
struct boxfs_dir;

/* Connection options; a zeroed struct (or NULL) means every default. */
struct boxfs_opts {
	const char *uname;   /* NULL: the effective user's name */
	const char *aname;   /* NULL: "" */
	const char *version; /* NULL: "9P2000.L"; falls back to .u, then 9P2000 */
	uint32_t msize;	     /* 0: 1 MiB + 24; lowered to what the server answers */
	bool has_n_uname;    /* false: n_uname is the effective uid */
	uint32_t n_uname;
};

/*
 * Dials a server ("unix!/path", "unix!@name", "tcp!host!port", "fd!R!W"),
 * negotiates the version and attaches; the client is freed by
 * boxfs_disconnect. NULL with errno on failure.
 */
BOXFS_API struct boxfs_client *boxfs_connect(const char *dial, const struct boxfs_opts *o);

/*
 * Like boxfs_connect over an already-connected descriptor pair (rfd may equal
 * wfd), whose ownership passes to the client even when this fails.
 */
BOXFS_API struct boxfs_client *boxfs_connect_fd(int rfd, int wfd, const struct boxfs_opts *o);

/* Clunks the root, closes the connection and frees c; files and directories
 * of c must be closed first. */
BOXFS_API void boxfs_disconnect(struct boxfs_client *c);

/* The negotiated dialect and msize. */
BOXFS_API enum p9_dialect boxfs_dialect(const struct boxfs_client *c);
BOXFS_API uint32_t boxfs_msize(const struct boxfs_client *c);

/* 0 while the connection works, else the error every call now fails with. */
BOXFS_API int boxfs_conn_error(struct boxfs_client *c);

/* ---- raw messages, for tools and tests ---- */

/* The fid of the attach root; valid until boxfs_disconnect. */
BOXFS_API uint32_t boxfs_root_fid(const struct boxfs_client *c);

/* A fid number no other user of c holds, or P9_NOFID when none is left;
 * give it back with boxfs_fid_put (which sends nothing). */
BOXFS_API uint32_t boxfs_fid_get(struct boxfs_client *c);
BOXFS_API void boxfs_fid_put(struct boxfs_client *c, uint32_t fid);

/*
 * Sends *tx (its tag is chosen here) and decodes the reply into *rx, whatever
 * its type (Rerror and Rlerror included). On success *rbuf is a malloc'd
 * buffer that rx's strings and data point into, freed by the caller with
 * free(); on failure (-errno: the connection, or a message that does not
 * pack or decode) *rbuf is NULL.
 */
BOXFS_API int boxfs_rpc(struct boxfs_client *c, const struct p9_fcall *tx, struct p9_fcall *rx,
			void **rbuf);

/*
 * The reply callback of boxfs_rpc_async: err 0 with rx decoded and rbuf (the
 * buffer rx points into) now owned by the callback, or err -errno with rx and
 * rbuf NULL. It runs on whichever thread reads the reply and must not wait
 * for another reply of the same client.
 */
typedef void (*boxfs_rpc_cb)(void *arg, int err, struct p9_fcall *rx, void *rbuf);

/* Sends *tx and returns: 0 and cb is called exactly once, or -errno and it is
 * not. */
BOXFS_API int boxfs_rpc_async(struct boxfs_client *c, const struct p9_fcall *tx, boxfs_rpc_cb cb,
			      void *arg);

/* ---- conversions ---- */

/* The errno (positive) an Rerror or Rlerror carries — EIO for one that carries
 * none or a nonsense number — or 0 for any other reply. */
BOXFS_API int boxfs_reply_errno(const struct p9_fcall *f);

/* A struct stat from a 9P2000.L Rgetattr (every field it carries). */
BOXFS_API void boxfs_getattr_to_stat(const struct p9_rgetattr *a, struct stat *st);

/* The st_mode (type and permission bits) of a 9P2000 or 9P2000.u stat record. */
BOXFS_API mode_t boxfs_p9_mode(const struct p9_stat *s, enum p9_dialect d);

/* ---- the POSIX-like API ---- */

/*
 * Opens path with open(2) flags (O_RDONLY, O_WRONLY, O_RDWR, O_CREAT,
 * O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY, O_NOFOLLOW) and, on create, mode;
 * a final symbolic link is followed. The file is freed by boxfs_close.
 */
BOXFS_API struct boxfs_file *boxfs_open(struct boxfs_client *c, const char *path, int flags,
					mode_t mode);

/* Clunks the file's fid and frees f, even when the clunk fails (0 or -errno). */
BOXFS_API int boxfs_close(struct boxfs_file *f);

/* read(2)/write(2) at the file's offset, which they advance. */
BOXFS_API ssize_t boxfs_read(struct boxfs_file *f, void *buf, size_t n);
BOXFS_API ssize_t boxfs_write(struct boxfs_file *f, const void *buf, size_t n);

/* pread(2)/pwrite(2): the offset is left alone; short only at end of file. */
BOXFS_API ssize_t boxfs_pread(struct boxfs_file *f, void *buf, size_t n, off_t off);
BOXFS_API ssize_t boxfs_pwrite(struct boxfs_file *f, const void *buf, size_t n, off_t off);

/* lseek(2) with SEEK_SET, SEEK_CUR or SEEK_END: the new offset or -errno. */
BOXFS_API off_t boxfs_lseek(struct boxfs_file *f, off_t off, int whence);

/* fstat(2); stat(2) follows a final symbolic link, lstat(2) does not. */
BOXFS_API int boxfs_fstat(struct boxfs_file *f, struct stat *st);
BOXFS_API int boxfs_stat(struct boxfs_client *c, const char *path, struct stat *st);
BOXFS_API int boxfs_lstat(struct boxfs_client *c, const char *path, struct stat *st);

/* One directory entry; name is valid until the next boxfs_readdir or
 * boxfs_closedir of the same directory. */
struct boxfs_dirent {
	const char *name;
	uint64_t ino;
	unsigned char d_type; /* DT_* */
};

/* Opens a directory for listing; freed by boxfs_closedir. */
BOXFS_API struct boxfs_dir *boxfs_opendir(struct boxfs_client *c, const char *path);

/* The next entry ("." and ".." included when the server sends them):
 * 1 with *de filled, 0 at the end, or -errno. */
BOXFS_API int boxfs_readdir(struct boxfs_dir *d, struct boxfs_dirent *de);

/* Clunks and frees d (0 or -errno; d is freed either way). */
BOXFS_API int boxfs_closedir(struct boxfs_dir *d);

/* Namespace operations, as their POSIX namesakes. */
BOXFS_API int boxfs_mkdir(struct boxfs_client *c, const char *path, mode_t mode);
BOXFS_API int boxfs_unlink(struct boxfs_client *c, const char *path);
BOXFS_API int boxfs_rmdir(struct boxfs_client *c, const char *path);
BOXFS_API int boxfs_rename(struct boxfs_client *c, const char *from, const char *to);
BOXFS_API int boxfs_symlink(struct boxfs_client *c, const char *target, const char *path);
/* readlink(2): the target's length (not NUL-terminated; truncated to n). */
BOXFS_API ssize_t boxfs_readlink(struct boxfs_client *c, const char *path, char *buf, size_t n);
BOXFS_API int boxfs_link(struct boxfs_client *c, const char *from, const char *to);

/* Attribute changes, as their POSIX namesakes (a final symbolic link is followed). */
BOXFS_API int boxfs_truncate(struct boxfs_client *c, const char *path, off_t len);
BOXFS_API int boxfs_ftruncate(struct boxfs_file *f, off_t len);
BOXFS_API int boxfs_chmod(struct boxfs_client *c, const char *path, mode_t mode);
/* (uid_t)-1 or (gid_t)-1 leaves that id alone. */
BOXFS_API int boxfs_chown(struct boxfs_client *c, const char *path, uid_t uid, gid_t gid);
/* ts[0] atime, ts[1] mtime; tv_nsec UTIME_NOW or UTIME_OMIT; ts NULL: both now. */
BOXFS_API int boxfs_utimens(struct boxfs_client *c, const char *path, const struct timespec ts[2]);

/* fsync(2), or fdatasync(2) when datasync is true. */
BOXFS_API int boxfs_fsync(struct boxfs_file *f, bool datasync);

/* statvfs(3) of the file system holding path. */
BOXFS_API int boxfs_statfs(struct boxfs_client *c, const char *path, struct statvfs *sv);

/*
 * POSIX byte-range locks, fcntl(2) style: cmd F_GETLK, F_SETLK or F_SETLKW
 * (which retries until granted). A lock that would block answers -EAGAIN.
 * Locks belong to the client connection; 9P2000.L only (-EOPNOTSUPP else).
 */
BOXFS_API int boxfs_lock(struct boxfs_file *f, int cmd, struct flock *fl);

#ifdef __cplusplus
}
#endif
#endif
