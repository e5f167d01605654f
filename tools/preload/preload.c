/*
 * preload.c — libboxfs-preload.so: routes libc's file calls for paths under
 * the client mount table ($BOXFS_NS, see boxfs/posix.h) and for the
 * descriptors they opened to the POSIX layer, and everything else to libc.
 * `boxfs run` starts programs with it (docs/run.md).
 *
 * Every wrapper asks one question first — is this path served, is this
 * descriptor one of the layer's — and otherwise calls the next definition
 * (dlsym RTLD_NEXT) with its arguments untouched. Served descriptors are
 * real reserved descriptors, so the numbers never clash; they do not
 * survive exec. stdio streams on served files are fopencookie streams.
 */
/* The 64-bit names are defined here beside the plain ones (x86_64: the same
 * layouts), so the headers must not rename the plain ones. */
#undef _FILE_OFFSET_BITS
#include <boxfs/posix.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#define PUBLIC __attribute__((visibility("default")))

#define REAL(name, ret, ...)                                                                       \
	static ret (*real_##name)(__VA_ARGS__);                                                    \
	if (!real_##name)                                                                          \
	real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name)

static bool ready;

__attribute__((constructor)) static void init(void)
{
	int r = boxfs_px_load(NULL);
	if (r < 0) {
		const char *ns = getenv("BOXFS_NS");
		fprintf(stderr, "boxfs-preload: %s: %s\n", ns ? ns : "?", strerror(-r));
	}
	const char *cwd = getenv("BOXFS_CWD"); /* a parent's served cwd */
	if (cwd && boxfs_px_chdir(cwd) < 0)
		unsetenv("BOXFS_CWD");
	ready = true;
}

/* errno from a -errno answer. */
static long ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* (glibc declares most of these paths nonnull; callers pass NULL anyway) */
static bool is_null(const char *p)
{
	return p == NULL;
}

static bool is_empty(const char *p)
{
	return p && !*p;
}

static bool served(int dirfd, const char *path)
{
	return ready && path && boxfs_px_served(dirfd, path);
}

static bool sfd(int fd)
{
	return ready && boxfs_px_isfd(fd);
}

/* ---- open ---- */

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	return (int)ret(boxfs_px_openat(dirfd, path, flags, mode));
}

#define MODE_ARG(flags)                                                                            \
	mode_t mode = 0;                                                                           \
	if ((flags) & (O_CREAT | __O_TMPFILE)) {                                                   \
		va_list ap;                                                                        \
		va_start(ap, flags);                                                               \
		mode = va_arg(ap, mode_t);                                                         \
		va_end(ap);                                                                        \
	}

#define OPEN_WRAPPER(name)                                                                         \
	PUBLIC int name(const char *path, int flags, ...)                                          \
	{                                                                                          \
		MODE_ARG(flags);                                                                   \
		if (served(AT_FDCWD, path))                                                        \
			return do_openat(AT_FDCWD, path, flags, mode);                             \
		REAL(name, int, const char *, int, ...);                                           \
		return real_##name(path, flags, mode);                                             \
	}
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                                       \
	PUBLIC int name(int dirfd, const char *path, int flags, ...)                               \
	{                                                                                          \
		MODE_ARG(flags);                                                                   \
		if (served(dirfd, path))                                                           \
			return do_openat(dirfd, path, flags, mode);                                \
		REAL(name, int, int, const char *, int, ...);                                      \
		return real_##name(dirfd, path, flags, mode);                                      \
	}
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

PUBLIC int __open_2(const char *path, int flags)
{
	return open(path, flags);
}
PUBLIC int __open64_2(const char *path, int flags)
{
	return open(path, flags);
}
PUBLIC int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}
PUBLIC int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}
PUBLIC int creat(const char *path, mode_t mode)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}
PUBLIC int creat64(const char *path, mode_t mode)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

PUBLIC int close(int fd)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_close(fd));
	REAL(close, int, int);
	return real_close(fd);
}

/* ---- data ---- */

PUBLIC ssize_t read(int fd, void *buf, size_t n)
{
	if (sfd(fd))
		return ret(boxfs_px_read(fd, buf, n));
	REAL(read, ssize_t, int, void *, size_t);
	return real_read(fd, buf, n);
}

PUBLIC ssize_t write(int fd, const void *buf, size_t n)
{
	if (sfd(fd))
		return ret(boxfs_px_write(fd, buf, n));
	REAL(write, ssize_t, int, const void *, size_t);
	return real_write(fd, buf, n);
}

#define PRW_WRAPPER(name, px, type)                                                                \
	PUBLIC ssize_t name(int fd, type buf, size_t n, off_t off)                                 \
	{                                                                                          \
		if (sfd(fd))                                                                       \
			return ret(px(fd, buf, n, off));                                           \
		REAL(name, ssize_t, int, type, size_t, off_t);                                     \
		return real_##name(fd, buf, n, off);                                               \
	}
PRW_WRAPPER(pread, boxfs_px_pread, void *)
PRW_WRAPPER(pread64, boxfs_px_pread, void *)
PRW_WRAPPER(pwrite, boxfs_px_pwrite, const void *)
PRW_WRAPPER(pwrite64, boxfs_px_pwrite, const void *)

PUBLIC ssize_t readv(int fd, const struct iovec *iov, int n)
{
	if (!sfd(fd)) {
		REAL(readv, ssize_t, int, const struct iovec *, int);
		return real_readv(fd, iov, n);
	}
	ssize_t total = 0;
	for (int i = 0; i < n; i++) {
		ssize_t k = boxfs_px_read(fd, iov[i].iov_base, iov[i].iov_len);
		if (k < 0)
			return total ? total : ret(k);
		total += k;
		if ((size_t)k < iov[i].iov_len)
			break;
	}
	return total;
}

PUBLIC ssize_t writev(int fd, const struct iovec *iov, int n)
{
	if (!sfd(fd)) {
		REAL(writev, ssize_t, int, const struct iovec *, int);
		return real_writev(fd, iov, n);
	}
	ssize_t total = 0;
	for (int i = 0; i < n; i++) {
		ssize_t k = boxfs_px_write(fd, iov[i].iov_base, iov[i].iov_len);
		if (k < 0)
			return total ? total : ret(k);
		total += k;
		if ((size_t)k < iov[i].iov_len)
			break;
	}
	return total;
}

#define LSEEK_WRAPPER(name)                                                                        \
	PUBLIC off_t name(int fd, off_t off, int whence)                                           \
	{                                                                                          \
		if (sfd(fd))                                                                       \
			return ret(boxfs_px_lseek(fd, off, whence));                               \
		REAL(name, off_t, int, off_t, int);                                                \
		return real_##name(fd, off, whence);                                               \
	}
LSEEK_WRAPPER(lseek)
LSEEK_WRAPPER(lseek64)

PUBLIC ssize_t copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t n,
			       unsigned flags)
{
	if (sfd(in) || sfd(out)) {
		errno = EXDEV; /* the caller copies by hand */
		return -1;
	}
	REAL(copy_file_range, ssize_t, int, off_t *, int, off_t *, size_t, unsigned);
	return real_copy_file_range(in, inoff, out, outoff, n, flags);
}

PUBLIC ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	if (sfd(in) || sfd(out)) {
		errno = EINVAL;
		return -1;
	}
	REAL(sendfile, ssize_t, int, int, off_t *, size_t);
	return real_sendfile(out, in, off, n);
}

PUBLIC int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	if (sfd(fd))
		return 0;
	REAL(posix_fadvise, int, int, off_t, off_t, int);
	return real_posix_fadvise(fd, off, len, advice);
}

PUBLIC int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (sfd(fd)) {
		errno = ENOTTY;
		return -1;
	}
	REAL(ioctl, int, int, unsigned long, ...);
	return real_ioctl(fd, req, arg);
}

/* ---- attributes ---- */

static int stat_at(int dirfd, const char *path, struct stat *st, int flags)
{
	return (int)ret(boxfs_px_fstatat(dirfd, path, st, flags));
}

#define STAT_WRAPPER(name, type, nofollow)                                                         \
	PUBLIC int name(const char *path, type *st)                                                \
	{                                                                                          \
		if (served(AT_FDCWD, path))                                                        \
			return stat_at(AT_FDCWD, path, (struct stat *)st,                          \
				       nofollow ? AT_SYMLINK_NOFOLLOW : 0);                        \
		REAL(name, int, const char *, type *);                                             \
		return real_##name(path, st);                                                      \
	}
STAT_WRAPPER(stat, struct stat, 0)
STAT_WRAPPER(stat64, struct stat64, 0)
STAT_WRAPPER(lstat, struct stat, 1)
STAT_WRAPPER(lstat64, struct stat64, 1)

#define FSTAT_WRAPPER(name, type)                                                                  \
	PUBLIC int name(int fd, type *st)                                                          \
	{                                                                                          \
		if (sfd(fd))                                                                       \
			return (int)ret(boxfs_px_fstat(fd, (struct stat *)st));                    \
		REAL(name, int, int, type *);                                                      \
		return real_##name(fd, st);                                                        \
	}
FSTAT_WRAPPER(fstat, struct stat)
FSTAT_WRAPPER(fstat64, struct stat64)

#define FSTATAT_WRAPPER(name, type)                                                                \
	PUBLIC int name(int dirfd, const char *path, type *st, int flags)                          \
	{                                                                                          \
		if ((flags & AT_EMPTY_PATH) && is_empty(path) && sfd(dirfd))                       \
			return (int)ret(boxfs_px_fstat(dirfd, (struct stat *)st));                 \
		if (served(dirfd, path))                                                           \
			return stat_at(dirfd, path, (struct stat *)st, flags);                     \
		REAL(name, int, int, const char *, type *, int);                                   \
		return real_##name(dirfd, path, st, flags);                                        \
	}
FSTATAT_WRAPPER(fstatat, struct stat)
FSTATAT_WRAPPER(fstatat64, struct stat64)

#define XSTAT_WRAPPER(name, type, nofollow)                                                        \
	PUBLIC int name(int ver, const char *path, type *st)                                       \
	{                                                                                          \
		if (served(AT_FDCWD, path))                                                        \
			return stat_at(AT_FDCWD, path, (struct stat *)st,                          \
				       nofollow ? AT_SYMLINK_NOFOLLOW : 0);                        \
		REAL(name, int, int, const char *, type *);                                        \
		return real_##name(ver, path, st);                                                 \
	}
XSTAT_WRAPPER(__xstat, struct stat, 0)
XSTAT_WRAPPER(__xstat64, struct stat64, 0)
XSTAT_WRAPPER(__lxstat, struct stat, 1)
XSTAT_WRAPPER(__lxstat64, struct stat64, 1)

#define FXSTAT_WRAPPER(name, type)                                                                 \
	PUBLIC int name(int ver, int fd, type *st)                                                 \
	{                                                                                          \
		if (sfd(fd))                                                                       \
			return (int)ret(boxfs_px_fstat(fd, (struct stat *)st));                    \
		REAL(name, int, int, int, type *);                                                 \
		return real_##name(ver, fd, st);                                                   \
	}
FXSTAT_WRAPPER(__fxstat, struct stat)
FXSTAT_WRAPPER(__fxstat64, struct stat64)

#define FXSTATAT_WRAPPER(name, type)                                                               \
	PUBLIC int name(int ver, int dirfd, const char *path, type *st, int flags)                 \
	{                                                                                          \
		if (served(dirfd, path))                                                           \
			return stat_at(dirfd, path, (struct stat *)st, flags);                     \
		REAL(name, int, int, int, const char *, type *, int);                              \
		return real_##name(ver, dirfd, path, st, flags);                                   \
	}
FXSTATAT_WRAPPER(__fxstatat, struct stat)
FXSTATAT_WRAPPER(__fxstatat64, struct stat64)

PUBLIC int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
	bool fd_only = (flags & AT_EMPTY_PATH) && is_empty(path) && sfd(dirfd);
	if (!fd_only && !served(dirfd, path)) {
		REAL(statx, int, int, const char *, int, unsigned, struct statx *);
		return real_statx(dirfd, path, flags, mask, sx);
	}
	struct stat st;
	int r = fd_only ? boxfs_px_fstat(dirfd, &st) : boxfs_px_fstatat(dirfd, path, &st, flags);
	if (r < 0)
		return (int)ret(r);
	memset(sx, 0, sizeof *sx);
	sx->stx_mask = STATX_BASIC_STATS;
	sx->stx_blksize = (uint32_t)st.st_blksize;
	sx->stx_nlink = (uint32_t)st.st_nlink;
	sx->stx_uid = st.st_uid;
	sx->stx_gid = st.st_gid;
	sx->stx_mode = (uint16_t)st.st_mode;
	sx->stx_ino = st.st_ino;
	sx->stx_size = (uint64_t)st.st_size;
	sx->stx_blocks = (uint64_t)st.st_blocks;
	sx->stx_atime = (struct statx_timestamp){ st.st_atim.tv_sec, (uint32_t)st.st_atim.tv_nsec };
	sx->stx_mtime = (struct statx_timestamp){ st.st_mtim.tv_sec, (uint32_t)st.st_mtim.tv_nsec };
	sx->stx_ctime = (struct statx_timestamp){ st.st_ctim.tv_sec, (uint32_t)st.st_ctim.tv_nsec };
	sx->stx_dev_major = major(st.st_dev);
	sx->stx_dev_minor = minor(st.st_dev);
	return 0;
}

PUBLIC int access(const char *path, int mode)
{
	if (served(AT_FDCWD, path))
		return (int)ret(boxfs_px_faccessat(AT_FDCWD, path, mode));
	REAL(access, int, const char *, int);
	return real_access(path, mode);
}

PUBLIC int faccessat(int dirfd, const char *path, int mode, int flags)
{
	if (served(dirfd, path))
		return (int)ret(boxfs_px_faccessat(dirfd, path, mode));
	REAL(faccessat, int, int, const char *, int, int);
	return real_faccessat(dirfd, path, mode, flags);
}

PUBLIC int euidaccess(const char *path, int mode)
{
	if (served(AT_FDCWD, path))
		return (int)ret(boxfs_px_faccessat(AT_FDCWD, path, mode));
	REAL(euidaccess, int, const char *, int);
	return real_euidaccess(path, mode);
}

PUBLIC int chmod(const char *path, mode_t mode)
{
	if (served(AT_FDCWD, path))
		return (int)ret(boxfs_px_fchmodat(AT_FDCWD, path, mode));
	REAL(chmod, int, const char *, mode_t);
	return real_chmod(path, mode);
}

PUBLIC int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	if (served(dirfd, path))
		return (int)ret(boxfs_px_fchmodat(dirfd, path, mode));
	REAL(fchmodat, int, int, const char *, mode_t, int);
	return real_fchmodat(dirfd, path, mode, flags);
}

PUBLIC int fchmod(int fd, mode_t mode)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_fchmod(fd, mode));
	REAL(fchmod, int, int, mode_t);
	return real_fchmod(fd, mode);
}

/* Owners are the server's business: changes are accepted and dropped. */
PUBLIC int fchownat(int dirfd, const char *path, uid_t u, gid_t g, int flags)
{
	if (served(dirfd, path))
		return 0;
	REAL(fchownat, int, int, const char *, uid_t, gid_t, int);
	return real_fchownat(dirfd, path, u, g, flags);
}
PUBLIC int lchown(const char *path, uid_t u, gid_t g)
{
	return fchownat(AT_FDCWD, path, u, g, AT_SYMLINK_NOFOLLOW);
}
PUBLIC int chown(const char *path, uid_t u, gid_t g)
{
	return fchownat(AT_FDCWD, path, u, g, 0);
}
PUBLIC int fchown(int fd, uid_t u, gid_t g)
{
	if (sfd(fd))
		return 0;
	REAL(fchown, int, int, uid_t, gid_t);
	return real_fchown(fd, u, g);
}

PUBLIC int utimensat(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	if (is_null(path) && sfd(dirfd))
		return (int)ret(boxfs_px_futimens(dirfd, ts));
	if (served(dirfd, path))
		return (int)ret(boxfs_px_utimensat(dirfd, path, ts));
	REAL(utimensat, int, int, const char *, const struct timespec *, int);
	return real_utimensat(dirfd, path, ts, flags);
}

PUBLIC int futimens(int fd, const struct timespec ts[2])
{
	if (sfd(fd))
		return (int)ret(boxfs_px_futimens(fd, ts));
	REAL(futimens, int, int, const struct timespec *);
	return real_futimens(fd, ts);
}

#define XATTR_WRAPPER(name, type)                                                                  \
	PUBLIC ssize_t name(const char *path, type a, void *v, size_t n)                           \
	{                                                                                          \
		if (served(AT_FDCWD, path)) {                                                      \
			errno = ENOTSUP;                                                           \
			return -1;                                                                 \
		}                                                                                  \
		REAL(name, ssize_t, const char *, type, void *, size_t);                           \
		return real_##name(path, a, v, n);                                                 \
	}
XATTR_WRAPPER(getxattr, const char *)
XATTR_WRAPPER(lgetxattr, const char *)

PUBLIC ssize_t readlink(const char *path, char *buf, size_t n)
{
	if (served(AT_FDCWD, path)) {
		struct stat st;
		return boxfs_px_fstatat(AT_FDCWD, path, &st, 0) < 0 ? -1 : (errno = EINVAL, -1);
	}
	REAL(readlink, ssize_t, const char *, char *, size_t);
	return real_readlink(path, buf, n);
}

PUBLIC ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
	if (served(dirfd, path)) {
		errno = EINVAL;
		return -1;
	}
	REAL(readlinkat, ssize_t, int, const char *, char *, size_t);
	return real_readlinkat(dirfd, path, buf, n);
}

/* ---- sizes, sync, fcntl, dup ---- */

PUBLIC int ftruncate(int fd, off_t len)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_ftruncate(fd, len));
	REAL(ftruncate, int, int, off_t);
	return real_ftruncate(fd, len);
}
PUBLIC int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

PUBLIC int truncate(const char *path, off_t len)
{
	if (served(AT_FDCWD, path)) {
		int fd = do_openat(AT_FDCWD, path, O_WRONLY, 0);
		if (fd < 0)
			return -1;
		int r = (int)ret(boxfs_px_ftruncate(fd, len));
		boxfs_px_close(fd);
		return r;
	}
	REAL(truncate, int, const char *, off_t);
	return real_truncate(path, len);
}

PUBLIC int fsync(int fd)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_fsync(fd));
	REAL(fsync, int, int);
	return real_fsync(fd);
}

PUBLIC int fdatasync(int fd)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_fsync(fd));
	REAL(fdatasync, int, int);
	return real_fdatasync(fd);
}

#define FCNTL_WRAPPER(name)                                                                        \
	PUBLIC int name(int fd, int cmd, ...)                                                      \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, cmd);                                                                 \
		long arg = va_arg(ap, long);                                                       \
		va_end(ap);                                                                        \
		if (sfd(fd))                                                                       \
			return (int)ret(boxfs_px_fcntl(fd, cmd, arg));                             \
		REAL(name, int, int, int, ...);                                                    \
		return real_##name(fd, cmd, arg);                                                  \
	}
FCNTL_WRAPPER(fcntl)
FCNTL_WRAPPER(fcntl64)

PUBLIC int flock(int fd, int op)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_flock(fd, op));
	REAL(flock, int, int, int);
	return real_flock(fd, op);
}

PUBLIC int dup(int fd)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_dup(fd));
	REAL(dup, int, int);
	return real_dup(fd);
}

static FILE *cookie_file(int fd, const char *mode);

/* A served file moved onto 0, 1 or 2: libc's own stdin, stdout or stderr
 * would reach the reserved descriptor, not the file, so the stream
 * becomes a cookie stream on it. */
static int std_stream(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	FILE **sp = fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
	fflush(*sp);
	FILE *f = cookie_file(fd, fd == 0 ? "r" : "w");
	if (f) {
		if (fd == 2)
			setvbuf(f, NULL, _IONBF, 0);
		*sp = f;
	}
	return fd;
}

PUBLIC int dup3(int fd, int newfd, int flags)
{
	if (sfd(fd))
		return std_stream((int)ret(boxfs_px_dup3(fd, newfd, flags)));
	if (sfd(newfd) && fd != newfd)
		boxfs_px_close(newfd);
	REAL(dup3, int, int, int, int);
	return real_dup3(fd, newfd, flags);
}

PUBLIC int dup2(int fd, int newfd)
{
	if (sfd(fd))
		return std_stream((int)ret(boxfs_px_dup3(fd, newfd, 0)));
	if (sfd(newfd) && fd != newfd)
		boxfs_px_close(newfd);
	REAL(dup2, int, int, int);
	return real_dup2(fd, newfd);
}

#define MMAP_WRAPPER(name)                                                                         \
	PUBLIC void *name(void *addr, size_t len, int prot, int flags, int fd, off_t off)          \
	{                                                                                          \
		if (!(flags & MAP_ANONYMOUS) && sfd(fd)) {                                         \
			int err = 0;                                                               \
			void *p = boxfs_px_mmap(addr, len, prot, flags, fd, off, &err);            \
			if (p == MAP_FAILED)                                                       \
				errno = err;                                                       \
			return p;                                                                  \
		}                                                                                  \
		REAL(name, void *, void *, size_t, int, int, int, off_t);                          \
		return real_##name(addr, len, prot, flags, fd, off);                               \
	}
MMAP_WRAPPER(mmap)
MMAP_WRAPPER(mmap64)

/* ---- names ---- */

PUBLIC int mkdir(const char *path, mode_t mode)
{
	if (served(AT_FDCWD, path))
		return (int)ret(boxfs_px_mkdirat(AT_FDCWD, path, mode));
	REAL(mkdir, int, const char *, mode_t);
	return real_mkdir(path, mode);
}

PUBLIC int mkdirat(int dirfd, const char *path, mode_t mode)
{
	if (served(dirfd, path))
		return (int)ret(boxfs_px_mkdirat(dirfd, path, mode));
	REAL(mkdirat, int, int, const char *, mode_t);
	return real_mkdirat(dirfd, path, mode);
}

PUBLIC int rmdir(const char *path)
{
	if (served(AT_FDCWD, path))
		return (int)ret(boxfs_px_unlinkat(AT_FDCWD, path, AT_REMOVEDIR));
	REAL(rmdir, int, const char *);
	return real_rmdir(path);
}

PUBLIC int unlink(const char *path)
{
	if (served(AT_FDCWD, path))
		return (int)ret(boxfs_px_unlinkat(AT_FDCWD, path, 0));
	REAL(unlink, int, const char *);
	return real_unlink(path);
}

PUBLIC int unlinkat(int dirfd, const char *path, int flags)
{
	if (served(dirfd, path))
		return (int)ret(boxfs_px_unlinkat(dirfd, path, flags));
	REAL(unlinkat, int, int, const char *, int);
	return real_unlinkat(dirfd, path, flags);
}

PUBLIC int remove(const char *path)
{
	if (served(AT_FDCWD, path)) {
		int r = boxfs_px_unlinkat(AT_FDCWD, path, 0);
		if (r == -EISDIR)
			r = boxfs_px_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
		return (int)ret(r);
	}
	REAL(remove, int, const char *);
	return real_remove(path);
}

static int rename_any(int od, const char *from, int nd, const char *to, unsigned flags)
{
	bool a = served(od, from), b = served(nd, to);
	if (a || b) {
		if (!(a && b)) {
			errno = EXDEV;
			return -1;
		}
		if (flags) {
			errno = EINVAL;
			return -1;
		}
		return (int)ret(boxfs_px_renameat(od, from, nd, to));
	}
	REAL(renameat2, int, int, const char *, int, const char *, unsigned);
	if (flags)
		return real_renameat2(od, from, nd, to, flags);
	REAL(renameat, int, int, const char *, int, const char *);
	return real_renameat(od, from, nd, to);
}

PUBLIC int rename(const char *from, const char *to)
{
	return rename_any(AT_FDCWD, from, AT_FDCWD, to, 0);
}
PUBLIC int renameat(int od, const char *from, int nd, const char *to)
{
	return rename_any(od, from, nd, to, 0);
}
PUBLIC int renameat2(int od, const char *from, int nd, const char *to, unsigned flags)
{
	return rename_any(od, from, nd, to, flags);
}

/* ---- the current directory ---- */

PUBLIC int chdir(const char *path)
{
	if (served(AT_FDCWD, path))
		return (int)ret(boxfs_px_chdir(path));
	REAL(chdir, int, const char *);
	char abs[4096];
	/* a relative path from a served cwd that leaves the mounts */
	if (!is_null(path) && path[0] != '/' && boxfs_px_getcwd(abs, sizeof abs) >= 0) {
		size_t n = strlen(abs);
		snprintf(abs + n, sizeof abs - n, "/%s", path);
		path = abs;
	}
	int r = real_chdir(path);
	if (r == 0)
		boxfs_px_cwd_clear();
	return r;
}

PUBLIC int fchdir(int fd)
{
	if (sfd(fd))
		return (int)ret(boxfs_px_fchdir(fd));
	REAL(fchdir, int, int);
	int r = real_fchdir(fd);
	if (r == 0)
		boxfs_px_cwd_clear();
	return r;
}

PUBLIC char *getcwd(char *buf, size_t n)
{
	char tmp[4096];
	ssize_t r = ready ? boxfs_px_getcwd(tmp, sizeof tmp) : -EXDEV;
	if (r == -EXDEV) {
		REAL(getcwd, char *, char *, size_t);
		return real_getcwd(buf, n);
	}
	if (r < 0)
		return errno = (int)-r, NULL;
	if (!buf)
		return strdup(tmp);
	if ((size_t)r + 1 > n)
		return errno = ERANGE, NULL;
	memcpy(buf, tmp, (size_t)r + 1);
	return buf;
}

PUBLIC char *get_current_dir_name(void)
{
	return getcwd(NULL, 0);
}

/* ---- exec: the served cwd goes along as BOXFS_CWD ---- */

/* envp without BOXFS_CWD, plus BOXFS_CWD=cwd when the cwd is served; the
 * result is malloc'd (NULL on ENOMEM). */
static char **env_with_cwd(char *const envp[])
{
	char cwd[4096 + 16];
	bool have = ready && boxfs_px_getcwd(cwd + 10, sizeof cwd - 10) >= 0;
	size_t n = 0;
	while (envp && envp[n])
		n++;
	char **e = malloc((n + 2) * sizeof *e);
	static char buf[4096 + 16];
	if (!e)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(envp[i], "BOXFS_CWD=", 10) != 0)
			e[k++] = envp[i];
	if (have) {
		memcpy(cwd, "BOXFS_CWD=", 10);
		memcpy(buf, cwd, sizeof buf);
		e[k++] = buf;
	}
	e[k] = NULL;
	return e;
}

PUBLIC int execve(const char *path, char *const argv[], char *const envp[])
{
	REAL(execve, int, const char *, char *const *, char *const *);
	char **e = env_with_cwd(envp);
	int r = real_execve(path, argv, e ? e : envp);
	free(e);
	return r;
}

PUBLIC int execvpe(const char *file, char *const argv[], char *const envp[])
{
	REAL(execvpe, int, const char *, char *const *, char *const *);
	char **e = env_with_cwd(envp);
	int r = real_execvpe(file, argv, e ? e : envp);
	free(e);
	return r;
}

PUBLIC int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

PUBLIC int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* ---- directories ---- */

struct pdir {
	struct pdir *next;
	int fd;
	size_t len, pos;
	struct dirent64 ent;
	char buf[32768];
};

static pthread_mutex_t dirs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pdir *dirs;

static struct pdir *pdir_of(void *d)
{
	pthread_mutex_lock(&dirs_mu);
	struct pdir *p = dirs;
	while (p && (void *)p != d)
		p = p->next;
	pthread_mutex_unlock(&dirs_mu);
	return p;
}

static DIR *pdir_new(int fd)
{
	struct pdir *p = calloc(1, sizeof *p);
	if (!p) {
		boxfs_px_close(fd);
		return errno = ENOMEM, NULL;
	}
	p->fd = fd;
	pthread_mutex_lock(&dirs_mu);
	p->next = dirs;
	dirs = p;
	pthread_mutex_unlock(&dirs_mu);
	return (DIR *)p;
}

PUBLIC DIR *opendir(const char *path)
{
	if (served(AT_FDCWD, path)) {
		int fd = do_openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
		return fd < 0 ? NULL : pdir_new(fd);
	}
	REAL(opendir, DIR *, const char *);
	return real_opendir(path);
}

PUBLIC DIR *fdopendir(int fd)
{
	if (sfd(fd)) {
		struct stat st;
		if (boxfs_px_fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
			return errno = ENOTDIR, NULL;
		return pdir_new(fd);
	}
	REAL(fdopendir, DIR *, int);
	return real_fdopendir(fd);
}

static struct dirent64 *pdir_read(struct pdir *p)
{
	if (p->pos >= p->len) {
		ssize_t n = boxfs_px_getdents(p->fd, p->buf, sizeof p->buf);
		if (n <= 0) {
			if (n < 0)
				errno = (int)-n;
			return NULL;
		}
		p->len = (size_t)n;
		p->pos = 0;
	}
	struct {
		uint64_t ino;
		int64_t off;
		unsigned short reclen;
		unsigned char type;
		char name[];
	} *d = (void *)(p->buf + p->pos);
	p->pos += d->reclen;
	p->ent.d_ino = d->ino;
	p->ent.d_off = d->off;
	p->ent.d_type = d->type;
	snprintf(p->ent.d_name, sizeof p->ent.d_name, "%s", d->name);
	p->ent.d_reclen = sizeof p->ent;
	return &p->ent;
}

PUBLIC struct dirent *readdir(DIR *d)
{
	struct pdir *p = pdir_of(d);
	if (p)
		return (struct dirent *)pdir_read(p);
	REAL(readdir, struct dirent *, DIR *);
	return real_readdir(d);
}

PUBLIC struct dirent64 *readdir64(DIR *d)
{
	struct pdir *p = pdir_of(d);
	if (p)
		return pdir_read(p);
	REAL(readdir64, struct dirent64 *, DIR *);
	return real_readdir64(d);
}

PUBLIC int closedir(DIR *d)
{
	struct pdir *p = pdir_of(d);
	if (!p) {
		REAL(closedir, int, DIR *);
		return real_closedir(d);
	}
	pthread_mutex_lock(&dirs_mu);
	for (struct pdir **pp = &dirs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	pthread_mutex_unlock(&dirs_mu);
	int r = (int)ret(boxfs_px_close(p->fd));
	free(p);
	return r;
}

PUBLIC int dirfd(DIR *d)
{
	struct pdir *p = pdir_of(d);
	if (p)
		return p->fd;
	REAL(dirfd, int, DIR *);
	return real_dirfd(d);
}

PUBLIC void rewinddir(DIR *d)
{
	struct pdir *p = pdir_of(d);
	if (p) {
		boxfs_px_rewind(p->fd);
		p->len = p->pos = 0;
		return;
	}
	REAL(rewinddir, void, DIR *);
	real_rewinddir(d);
}

PUBLIC ssize_t getdents64(int fd, void *buf, size_t n)
{
	if (sfd(fd))
		return ret(boxfs_px_getdents(fd, buf, n));
	REAL(getdents64, ssize_t, int, void *, size_t);
	return real_getdents64(fd, buf, n);
}

/* ---- stdio ---- */

static ssize_t ck_read(void *c, char *buf, size_t n)
{
	return ret(boxfs_px_read((int)(intptr_t)c, buf, n));
}
static ssize_t ck_write(void *c, const char *buf, size_t n)
{
	ssize_t r = boxfs_px_write((int)(intptr_t)c, buf, n);
	return r < 0 ? (errno = (int)-r, 0) : r;
}
static int ck_seek(void *c, off64_t *off, int whence)
{
	off_t r = boxfs_px_lseek((int)(intptr_t)c, *off, whence);
	if (r < 0)
		return errno = (int)-r, -1;
	*off = r;
	return 0;
}
static int ck_close(void *c)
{
	return (int)ret(boxfs_px_close((int)(intptr_t)c));
}

/* The cookie streams and their descriptors, for fileno. */
struct cfile {
	struct cfile *next;
	FILE *f;
	int fd;
};
static pthread_mutex_t cfiles_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cfile *cfiles;

static int cookie_fd(FILE *f)
{
	int fd = -1;
	pthread_mutex_lock(&cfiles_mu);
	for (struct cfile *c = cfiles; c; c = c->next)
		if (c->f == f)
			fd = c->fd;
	pthread_mutex_unlock(&cfiles_mu);
	return fd;
}

static FILE *cookie_file(int fd, const char *mode)
{
	cookie_io_functions_t io = { ck_read, ck_write, ck_seek, ck_close };
	struct cfile *c = malloc(sizeof *c);
	FILE *f = c ? fopencookie((void *)(intptr_t)fd, mode, io) : NULL;
	if (!f) {
		free(c);
		return NULL;
	}
	c->f = f;
	c->fd = fd;
	pthread_mutex_lock(&cfiles_mu);
	c->next = cfiles;
	cfiles = c;
	pthread_mutex_unlock(&cfiles_mu);
	return f;
}

PUBLIC int fileno(FILE *f)
{
	int fd = cookie_fd(f);
	if (fd >= 0)
		return fd;
	REAL(fileno, int, FILE *);
	return real_fileno(f);
}

PUBLIC int fileno_unlocked(FILE *f)
{
	return fileno(f);
}

PUBLIC int fclose(FILE *f)
{
	if (cookie_fd(f) >= 0) {
		pthread_mutex_lock(&cfiles_mu);
		for (struct cfile **pp = &cfiles; *pp; pp = &(*pp)->next)
			if ((*pp)->f == f) {
				struct cfile *c = *pp;
				*pp = c->next;
				free(c);
				break;
			}
		pthread_mutex_unlock(&cfiles_mu);
	}
	REAL(fclose, int, FILE *);
	return real_fclose(f);
}

static FILE *cookie_open(const char *path, const char *mode)
{
	int flags = 0;
	switch (mode[0]) {
	case 'r':
		flags = strchr(mode, '+') ? O_RDWR : O_RDONLY;
		break;
	case 'w':
		flags = (strchr(mode, '+') ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
		break;
	case 'a':
		flags = (strchr(mode, '+') ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
		break;
	default:
		return errno = EINVAL, NULL;
	}
	if (strchr(mode, 'x'))
		flags |= O_EXCL;
	int fd = do_openat(AT_FDCWD, path, flags | O_CLOEXEC, 0666);
	if (fd < 0)
		return NULL;
	FILE *f = cookie_file(fd, mode);
	if (!f)
		boxfs_px_close(fd);
	return f;
}

PUBLIC FILE *fopen(const char *path, const char *mode)
{
	if (served(AT_FDCWD, path))
		return cookie_open(path, mode);
	REAL(fopen, FILE *, const char *, const char *);
	return real_fopen(path, mode);
}

PUBLIC FILE *fopen64(const char *path, const char *mode)
{
	if (served(AT_FDCWD, path))
		return cookie_open(path, mode);
	REAL(fopen64, FILE *, const char *, const char *);
	return real_fopen64(path, mode);
}

PUBLIC FILE *fdopen(int fd, const char *mode)
{
	if (sfd(fd))
		return cookie_file(fd, mode);
	REAL(fdopen, FILE *, int, const char *);
	return real_fdopen(fd, mode);
}
