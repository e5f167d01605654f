/*
 * boxfs/posix.h — the POSIX layer: served files as numbered descriptors.
 *
 * A process-wide table maps descriptor numbers to served objects (rio
 * channels, VMOFILEs read directly, 9P files), each with its own operations.
 * Every number is a real descriptor reserved in the process (the VMOFILE's
 * own descriptor, or /dev/null), so numbers never clash with libc's and
 * close/dup/dup2 keep working. Paths are routed through a client mount table
 * (prefix -> address, protocol, aname), read from $BOXFS_NS or a file, one
 * mount a line: `PREFIX ADDRESS [ANAME] [PROTOCOL]` (protocol rio, 9p or
 * smdish, default 9p; '#' starts a comment). Under an smdish mount the
 * prefix is a flat directory of memfiles (boxfs/memfile.h), each a file of
 * its segment's size, read and written under its lock. The layer keeps a current directory of
 * its own while it is under a mounted prefix. After fork the child's
 * objects are reopened on first use (rio: CLONE, 9P and smdish: a new
 * connection), at the offsets they had.
 *
 * Calls mirror their POSIX namesakes but answer -errno instead of setting
 * errno. A path outside every mount answers -EXDEV ("not mine"), so that a
 * caller (the LD_PRELOAD library) can hand it to the system. Thread-safe.
 */
#ifndef BOXFS_POSIX_H
#define BOXFS_POSIX_H

#include <boxfs/common.h>
#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Adds mounts from a file in the format above (NULL: $BOXFS_NS). 0 or -errno. */
BOXFS_API int boxfs_px_load(const char *file);
/* Adds one mount; proto "rio", "9p" or "smdish" (NULL: 9p), aname may be
 * NULL (smdish has none). */
BOXFS_API int boxfs_px_mount(const char *prefix, const char *addr, const char *aname,
			     const char *proto);

/* Whether path (relative to the layer's cwd, or dirfd for *at) is served. */
BOXFS_API bool boxfs_px_served(int dirfd, const char *path);
/* Whether fd is a served descriptor. */
BOXFS_API bool boxfs_px_isfd(int fd);

BOXFS_API int boxfs_px_openat(int dirfd, const char *path, int flags, mode_t mode);
BOXFS_API int boxfs_px_close(int fd);
BOXFS_API ssize_t boxfs_px_read(int fd, void *buf, size_t n);
BOXFS_API ssize_t boxfs_px_write(int fd, const void *buf, size_t n);
BOXFS_API ssize_t boxfs_px_pread(int fd, void *buf, size_t n, off_t off);
BOXFS_API ssize_t boxfs_px_pwrite(int fd, const void *buf, size_t n, off_t off);
BOXFS_API off_t boxfs_px_lseek(int fd, off_t off, int whence);
BOXFS_API int boxfs_px_fstat(int fd, struct stat *st);
/* flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH (with dirfd a served fd). */
BOXFS_API int boxfs_px_fstatat(int dirfd, const char *path, struct stat *st, int flags);
BOXFS_API int boxfs_px_ftruncate(int fd, off_t len);
BOXFS_API int boxfs_px_fsync(int fd);
/* F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_DUPFD(_CLOEXEC), F_GETLK/F_SETLK(W)
 * (locks are kept in the process, but for a memfile's whole-file locks,
 * which are its lock). */
BOXFS_API int boxfs_px_fcntl(int fd, int cmd, long arg);
/* flock(2): a memfile's lock over smdish, else kept in the process. */
BOXFS_API int boxfs_px_flock(int fd, int op);
BOXFS_API int boxfs_px_dup(int fd);
/* dup2/dup3: newfd must already be closed or served (the caller closes a
 * system descriptor there first). */
BOXFS_API int boxfs_px_dup3(int fd, int newfd, int flags);
/* getdents64(2) records. */
BOXFS_API ssize_t boxfs_px_getdents(int fd, void *buf, size_t n);
/* Resets a directory's listing. */
BOXFS_API int boxfs_px_rewind(int fd);
BOXFS_API int boxfs_px_mkdirat(int dirfd, const char *path, mode_t mode);
/* flags: AT_REMOVEDIR. */
BOXFS_API int boxfs_px_unlinkat(int dirfd, const char *path, int flags);
BOXFS_API int boxfs_px_renameat(int odirfd, const char *from, int ndirfd, const char *to);
BOXFS_API int boxfs_px_faccessat(int dirfd, const char *path, int mode);
BOXFS_API int boxfs_px_fchmodat(int dirfd, const char *path, mode_t mode);
BOXFS_API int boxfs_px_fchmod(int fd, mode_t mode);
/* times[1] (mtime) only; NULL: now. */
BOXFS_API int boxfs_px_utimensat(int dirfd, const char *path, const struct timespec ts[2]);
BOXFS_API int boxfs_px_futimens(int fd, const struct timespec ts[2]);
BOXFS_API int boxfs_px_chdir(const char *path);
BOXFS_API int boxfs_px_fchdir(int fd);
/* The layer's cwd when it is served: its length, or -EXDEV. */
BOXFS_API ssize_t boxfs_px_getcwd(char *buf, size_t n);
/* Leaves the served cwd (after a chdir elsewhere). */
BOXFS_API void boxfs_px_cwd_clear(void);
/* mmap of a served file: the address, or MAP_FAILED with *err. */
BOXFS_API void *boxfs_px_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
			      int *err);

#ifdef __cplusplus
}
#endif
#endif
