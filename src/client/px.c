/*
 * px.c — the POSIX layer (boxfs/posix.h): the client mount table, the
 * process's table of served descriptors, a current directory, and the
 * calls, over rio channels.
 *
 * Called by the LD_PRELOAD library (tools/preload) and by programs that
 * link libboxfs. Because the preload library interposes libc's file calls,
 * everything here that touches a descriptor the table may hold uses raw
 * system calls (sys_*), never the libc names; channel sockets and files
 * outside the mounts go through libc and come back out of the preload's
 * wrappers unchanged.
 *
 * Locking: mu guards the mount list, the table and the cwd; each object has
 * its own mutex, held across one operation, which also keeps a channel's
 * transactions one at a time.
 */
#include <boxfs/posix.h>
#include <boxfs/rio_client.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

enum { NFD = 65536 };

struct px_mount {
	struct px_mount *next;
	char *prefix; /* normalized, "/" never */
	size_t plen;
	char *addr, *aname;
	int root; /* the root channel of this process, or -1 */
	pid_t pid;
	dev_t dev;
};

struct px_obj {
	atomic_uint refs;
	pthread_mutex_t mu;
	struct px_mount *m;
	char *path; /* absolute */
	int flags;
	bool dir;
	pid_t pid;     /* whose channel ch is */
	int ch;	       /* the object's channel */
	bool vmo;      /* VMOFILE: the descriptor number is the file itself */
	int64_t off;   /* REMOTE: the channel's offset as known here; -1 unknown */
	uint8_t *dbuf; /* directory: the READDIR answer being handed out */
	size_t dlen, dpos;
	int dstate; /* 0: "." next, 1: ".." next, 2: entries, 3: end */
};

struct px_fd {
	struct px_obj *o;
	bool cloexec;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct px_mount *mounts;
static struct px_fd tab[NFD];
static char *cwd; /* the served cwd, or NULL */

/* ---- raw system calls ---- */

static long sys_close(int fd)
{
	return syscall(SYS_close, fd);
}

static int sys_reserve(void)
{
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

/* The process's umask (there is no call that only reads it). */
static mode_t current_umask(void)
{
	static pthread_mutex_t umu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&umu);
	mode_t u = umask(0);
	umask(u);
	pthread_mutex_unlock(&umu);
	return u;
}

/* ---- paths ---- */

/* Appends path to the absolute base in out, resolving "." and ".." by
 * name. false when it does not fit. */
static bool normalize(char *out, size_t cap, const char *base, const char *path)
{
	char buf[PATH_MAX];
	if (path[0] == '/')
		snprintf(out, cap, "/");
	else if (snprintf(out, cap, "%s", base) >= (int)cap)
		return false;
	snprintf(buf, sizeof buf, "%s", path);
	for (char *s = buf, *tok; (tok = strsep(&s, "/"));) {
		if (!*tok || strcmp(tok, ".") == 0)
			continue;
		size_t n = strlen(out);
		if (strcmp(tok, "..") == 0) {
			char *sl = strrchr(out, '/');
			if (sl == out)
				out[1] = '\0';
			else if (sl)
				*sl = '\0';
			continue;
		}
		if (n + 1 + strlen(tok) + 1 > cap)
			return false;
		if (n > 1)
			out[n++] = '/';
		strcpy(out + n, tok);
	}
	return true;
}

static struct px_obj *obj_get(int fd)
{
	if (fd < 0 || fd >= NFD)
		return NULL;
	pthread_mutex_lock(&mu);
	struct px_obj *o = tab[fd].o;
	if (o)
		atomic_fetch_add(&o->refs, 1);
	pthread_mutex_unlock(&mu);
	return o;
}

static void obj_put(struct px_obj *o)
{
	if (!o || atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	if (o->pid == getpid())
		boxfs_rio_close(o->ch);
	else
		close(o->ch);
	free(o->dbuf);
	free(o->path);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

/* The absolute path of path seen from dirfd. */
static int resolve(int dirfd, const char *path, char *out, size_t cap)
{
	char base[PATH_MAX];
	if (!path)
		return -EFAULT;
	if (path[0] == '/') {
		base[0] = '/', base[1] = '\0';
	} else if (dirfd == AT_FDCWD) {
		pthread_mutex_lock(&mu);
		bool have = cwd != NULL;
		if (have)
			snprintf(base, sizeof base, "%s", cwd);
		pthread_mutex_unlock(&mu);
		if (!have && syscall(SYS_getcwd, base, sizeof base) < 0)
			return -errno;
	} else {
		struct px_obj *o = obj_get(dirfd);
		if (o) {
			snprintf(base, sizeof base, "%s", o->path);
			obj_put(o);
		} else {
			char proc[64];
			snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
			ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, proc, base, sizeof base - 1);
			if (n < 0)
				return -EBADF;
			base[n] = '\0';
		}
	}
	return normalize(out, cap, base, path) ? 0 : -ENAMETOOLONG;
}

/* The mount holding abs, and the rest of the path below it ("" for its root). */
static struct px_mount *match(const char *abs, const char **rest)
{
	pthread_mutex_lock(&mu);
	struct px_mount *m = mounts;
	for (; m; m = m->next)
		if (strncmp(abs, m->prefix, m->plen) == 0 &&
		    (abs[m->plen] == '\0' || abs[m->plen] == '/'))
			break;
	pthread_mutex_unlock(&mu);
	if (m) {
		*rest = abs + m->plen;
		while (**rest == '/')
			(*rest)++;
	}
	return m;
}

/* This process's root channel of m. */
static int mount_root(struct px_mount *m)
{
	pthread_mutex_lock(&mu);
	pid_t me = getpid();
	if (m->root >= 0 && m->pid != me) {
		close(m->root); /* the parent's */
		m->root = -1;
	}
	if (m->root < 0) {
		m->root = boxfs_rio_dial(m->addr);
		m->pid = me;
		if (m->root >= 0 && m->aname && *m->aname) { /* the aname's directory */
			struct boxfs_rio_object o;
			int r = boxfs_rio_open(m->root, m->aname, O_RDONLY | O_DIRECTORY, 0, &o);
			boxfs_rio_close(m->root);
			m->root = r < 0 ? r : o.ch;
		}
	}
	int r = m->root;
	pthread_mutex_unlock(&mu);
	return r;
}

/* ---- the mount table ---- */

int boxfs_px_mount(const char *prefix, const char *addr, const char *aname, const char *proto)
{
	if (proto && strcmp(proto, "rio") != 0)
		return -EPROTONOSUPPORT;
	char norm[PATH_MAX];
	if (!prefix || prefix[0] != '/' || !addr || !normalize(norm, sizeof norm, "/", prefix) ||
	    strcmp(norm, "/") == 0)
		return -EINVAL;
	struct px_mount *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	m->prefix = strdup(norm);
	m->addr = strdup(addr);
	m->aname = aname ? strdup(aname) : NULL;
	m->plen = strlen(norm);
	m->root = -1;
	if (!m->prefix || !m->addr) {
		free(m->prefix), free(m->addr), free(m->aname), free(m);
		return -ENOMEM;
	}
	pthread_mutex_lock(&mu);
	static unsigned n;
	m->dev = makedev(0xb0, ++n);
	/* longest prefixes first, so nested mounts win */
	struct px_mount **pp = &mounts;
	while (*pp && (*pp)->plen >= m->plen)
		pp = &(*pp)->next;
	m->next = *pp;
	*pp = m;
	pthread_mutex_unlock(&mu);
	return 0;
}

int boxfs_px_load(const char *file)
{
	if (!file)
		file = getenv("BOXFS_NS");
	if (!file)
		return 0;
	FILE *f = fopen(file, "re");
	if (!f)
		return -errno;
	char line[4096];
	int r = 0;
	while (fgets(line, sizeof line, f)) {
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *w[4] = { 0 };
		int n = 0;
		for (char *s = line, *tok; n < 4 && (tok = strtok_r(s, " \t\n", &s)) != NULL;)
			w[n++] = tok;
		if (n == 0)
			continue;
		if (n < 2) {
			r = r ? r : -EINVAL;
			continue;
		}
		/* ANAME and PROTOCOL: a lone third word that names a protocol is one */
		const char *aname = w[2], *proto = w[3] ? w[3] : "9p";
		if (n == 3 && (strcmp(w[2], "rio") == 0 || strcmp(w[2], "9p") == 0))
			aname = NULL, proto = w[2];
		int e = boxfs_px_mount(w[0], w[1], aname, proto);
		if (e < 0 && r == 0)
			r = e; /* the first error is told; the other lines still count */
	}
	fclose(f);
	return r;
}

bool boxfs_px_served(int dirfd, const char *path)
{
	char abs[PATH_MAX];
	const char *rest;
	if (!mounts || !path)
		return false;
	return resolve(dirfd, path, abs, sizeof abs) == 0 && match(abs, &rest) != NULL;
}

bool boxfs_px_isfd(int fd)
{
	return fd >= 0 && fd < NFD && tab[fd].o != NULL;
}

/* ---- objects ---- */

/* Makes o's channel this process's own (after fork: a CLONE at the offset). */
static int own(struct px_obj *o)
{
	if (o->pid == getpid())
		return 0;
	struct boxfs_rio_object c;
	int r = boxfs_rio_clone(o->ch, &c);
	if (r < 0)
		return r;
	close(o->ch); /* our copy of the parent's */
	if (c.vmo >= 0)
		close(c.vmo); /* the number already is the file */
	o->ch = c.ch;
	o->pid = getpid();
	if (!o->vmo && !o->dir)
		boxfs_rio_seek(o->ch, o->off < 0 ? 0 : o->off, o->off < 0 ? SEEK_END : SEEK_SET);
	return 0;
}

/* Opens the object at abs on m (rest below its root). */
static int obj_open(struct px_mount *m, const char *abs, const char *rest, int flags, mode_t mode,
		    struct px_obj **out, int *vmofd)
{
	int root = mount_root(m);
	if (root < 0)
		return root;
	struct boxfs_rio_object ro;
	int keep = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY | O_PATH |
		   O_NOFOLLOW;
	int r = boxfs_rio_open(root, rest, flags & keep, mode, &ro);
	if (r < 0)
		return r;
	struct px_obj *o = calloc(1, sizeof *o);
	if (!o || !(o->path = strdup(abs))) {
		free(o);
		boxfs_rio_close(ro.ch);
		if (ro.vmo >= 0)
			sys_close(ro.vmo);
		return -ENOMEM;
	}
	atomic_init(&o->refs, 1);
	pthread_mutex_init(&o->mu, NULL);
	o->m = m;
	o->flags = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECTORY | O_PATH);
	o->pid = getpid();
	o->ch = ro.ch;
	o->vmo = ro.type == RIO_TYPE_VMOFILE;
	o->off = 0;
	*vmofd = ro.vmo;
	struct rio_attr a;
	if (boxfs_rio_stat(o->ch, &a) == 0)
		o->dir = S_ISDIR(a.mode);
	*out = o;
	return 0;
}

/* Enters o at a descriptor number (vmofd's own when >= 0). */
static int fd_install(struct px_obj *o, int vmofd, bool cloexec)
{
	int fd = vmofd >= 0 ? vmofd : sys_reserve();
	if (fd < 0 || fd >= NFD) {
		if (fd >= 0)
			sys_close(fd);
		obj_put(o);
		return fd < 0 ? fd : -EMFILE;
	}
	if (vmofd >= 0 && !cloexec)
		syscall(SYS_fcntl, fd, F_SETFD, 0);
	pthread_mutex_lock(&mu);
	tab[fd] = (struct px_fd){ .o = o, .cloexec = cloexec };
	pthread_mutex_unlock(&mu);
	return fd;
}

int boxfs_px_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	char abs[PATH_MAX];
	const char *rest;
	int r = resolve(dirfd, path, abs, sizeof abs);
	if (r < 0)
		return r;
	struct px_mount *m = match(abs, &rest);
	if (!m)
		return -EXDEV;
	struct px_obj *o;
	int vmofd = -1;
	if (flags & O_CREAT)
		mode &= ~current_umask();
	if ((r = obj_open(m, abs, rest, flags, mode, &o, &vmofd)) < 0)
		return r;
	return fd_install(o, vmofd, flags & O_CLOEXEC);
}

int boxfs_px_close(int fd)
{
	if (fd < 0 || fd >= NFD)
		return -EBADF;
	pthread_mutex_lock(&mu);
	struct px_obj *o = tab[fd].o;
	tab[fd].o = NULL;
	pthread_mutex_unlock(&mu);
	if (!o)
		return -EBADF;
	sys_close(fd);
	obj_put(o);
	return 0;
}

/* Runs one operation on fd's object, locked and owned. */
#define WITH_OBJ(fd, o, ...)                                                                       \
	do {                                                                                       \
		struct px_obj *o = obj_get(fd);                                                    \
		if (!o)                                                                            \
			return -EBADF;                                                             \
		pthread_mutex_lock(&o->mu);                                                        \
		long r_ = own(o);                                                                  \
		if (r_ == 0) {                                                                     \
			__VA_ARGS__;                                                               \
		}                                                                                  \
		pthread_mutex_unlock(&o->mu);                                                      \
		obj_put(o);                                                                        \
		return r_;                                                                         \
	} while (0)

ssize_t boxfs_px_read(int fd, void *buf, size_t n)
{
	WITH_OBJ(fd, o, {
		if (o->dir) {
			r_ = -EISDIR;
		} else if (o->vmo) {
			long k = syscall(SYS_read, fd, buf, n);
			r_ = k < 0 ? -errno : k;
		} else if (!o->dir) {
			r_ = boxfs_rio_read(o->ch, buf, n);
			if (r_ > 0 && o->off >= 0)
				o->off += r_;
		}
	});
}

ssize_t boxfs_px_write(int fd, const void *buf, size_t n)
{
	WITH_OBJ(fd, o, {
		if (o->vmo || (o->flags & O_ACCMODE) == O_RDONLY)
			r_ = -EBADF;
		else {
			r_ = boxfs_rio_write(o->ch, buf, n);
			if (o->flags & O_APPEND)
				o->off = -1;
			else if (r_ > 0)
				o->off += r_;
		}
	});
}

ssize_t boxfs_px_pread(int fd, void *buf, size_t n, off_t off)
{
	WITH_OBJ(fd, o, {
		if (o->dir)
			r_ = -EISDIR;
		else if (o->vmo) {
			long k = syscall(SYS_pread64, fd, buf, n, off);
			r_ = k < 0 ? -errno : k;
		} else
			r_ = boxfs_rio_pread(o->ch, buf, n, off);
	});
}

ssize_t boxfs_px_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	WITH_OBJ(fd, o, {
		if (o->vmo || (o->flags & O_ACCMODE) == O_RDONLY)
			r_ = -EBADF;
		else
			r_ = boxfs_rio_pwrite(o->ch, buf, n, off);
	});
}

off_t boxfs_px_lseek(int fd, off_t off, int whence)
{
	WITH_OBJ(fd, o, {
		if (o->vmo) {
			long k = syscall(SYS_lseek, fd, off, whence);
			r_ = k < 0 ? -errno : k;
		} else if (o->dir) {
			if (off != 0 || whence != SEEK_SET)
				r_ = -EINVAL;
			else
				o->dstate = 0, o->dlen = o->dpos = 0;
		} else {
			r_ = boxfs_rio_seek(o->ch, off, whence);
			if (r_ >= 0)
				o->off = r_;
		}
	});
}

static void attr_to_stat(const struct px_mount *m, const struct rio_attr *a, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = m->dev;
	st->st_ino = a->inode;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = (off_t)a->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_mtim.tv_sec = (time_t)(a->mtime_ns / 1000000000u);
	st->st_mtim.tv_nsec = (long)(a->mtime_ns % 1000000000u);
	st->st_atim = st->st_mtim;
	st->st_ctim.tv_sec = (time_t)(a->ctime_ns / 1000000000u);
	st->st_ctim.tv_nsec = (long)(a->ctime_ns % 1000000000u);
}

int boxfs_px_fstat(int fd, struct stat *st)
{
	WITH_OBJ(fd, o, {
		struct rio_attr a;
		r_ = boxfs_rio_stat(o->ch, &a);
		if (r_ == 0)
			attr_to_stat(o->m, &a, st);
	});
}

/* Runs fn on a transient channel of abs (opened with flags). */
static int with_path(int dirfd, const char *path, int flags,
		     int (*fn)(int ch, void *arg, struct px_mount *m), void *arg)
{
	char abs[PATH_MAX];
	const char *rest;
	int r = resolve(dirfd, path, abs, sizeof abs);
	if (r < 0)
		return r;
	struct px_mount *m = match(abs, &rest);
	if (!m)
		return -EXDEV;
	int root = mount_root(m);
	if (root < 0)
		return root;
	struct boxfs_rio_object ro;
	if ((r = boxfs_rio_open(root, rest, flags, 0, &ro)) < 0)
		return r;
	if (ro.vmo >= 0)
		sys_close(ro.vmo);
	r = fn(ro.ch, arg, m);
	boxfs_rio_close(ro.ch);
	return r;
}

static int stat_fn(int ch, void *arg, struct px_mount *m)
{
	struct rio_attr a;
	int r = boxfs_rio_stat(ch, &a);
	if (r == 0)
		attr_to_stat(m, &a, arg);
	return r;
}

int boxfs_px_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if ((flags & AT_EMPTY_PATH) && path && !*path)
		return boxfs_px_fstat(dirfd, st);
	return with_path(dirfd, path, O_PATH, stat_fn, st);
}

int boxfs_px_ftruncate(int fd, off_t len)
{
	WITH_OBJ(fd, o, r_ = boxfs_rio_truncate(o->ch, len));
}

int boxfs_px_fsync(int fd)
{
	WITH_OBJ(fd, o, r_ = boxfs_rio_sync(o->ch));
}

int boxfs_px_dup(int fd)
{
	struct px_obj *o = obj_get(fd);
	if (!o)
		return -EBADF;
	long nfd = syscall(SYS_fcntl, fd, F_DUPFD, 0);
	if (nfd < 0) {
		obj_put(o);
		return -errno;
	}
	return fd_install(o, (int)nfd, false);
}

int boxfs_px_dup3(int fd, int newfd, int flags)
{
	if (newfd < 0 || newfd >= NFD)
		return -EBADF;
	if (fd == newfd)
		return newfd;
	struct px_obj *o = obj_get(fd);
	if (!o)
		return -EBADF;
	if (syscall(SYS_dup3, fd, newfd, flags & O_CLOEXEC) < 0) {
		obj_put(o);
		return -errno;
	}
	pthread_mutex_lock(&mu);
	struct px_obj *old = tab[newfd].o;
	tab[newfd] = (struct px_fd){ .o = o, .cloexec = flags & O_CLOEXEC };
	pthread_mutex_unlock(&mu);
	obj_put(old);
	return newfd;
}

int boxfs_px_fcntl(int fd, int cmd, long arg)
{
	struct px_obj *o = obj_get(fd);
	if (!o)
		return -EBADF;
	int r = 0;
	switch (cmd) {
	case F_GETFL:
		r = o->flags | O_LARGEFILE;
		break;
	case F_SETFL:
		o->flags = (o->flags & ~O_NONBLOCK) | ((int)arg & O_NONBLOCK);
		break;
	case F_GETFD:
		r = tab[fd].cloexec ? FD_CLOEXEC : 0;
		break;
	case F_SETFD:
		tab[fd].cloexec = arg & FD_CLOEXEC;
		break;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		long nfd = syscall(SYS_fcntl, fd, cmd, arg);
		if (nfd < 0) {
			r = -errno;
			break;
		}
		atomic_fetch_add(&o->refs, 1);
		r = fd_install(o, (int)nfd, cmd == F_DUPFD_CLOEXEC);
		break;
	}
	case F_GETLK:
	case F_OFD_GETLK:
		((struct flock *)arg)->l_type = F_UNLCK; /* locks live in this process */
		break;
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		break;
	default:
		r = -EINVAL;
	}
	obj_put(o);
	return r;
}

/* ---- directories ---- */

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static size_t put_dirent(uint8_t *buf, size_t cap, const char *name, size_t len, unsigned type,
			 uint64_t ino, int64_t off)
{
	size_t rl = (offsetof(struct linux_dirent64, d_name) + len + 1 + 7) & ~(size_t)7;
	if (rl > cap)
		return 0;
	struct linux_dirent64 *d = (struct linux_dirent64 *)buf;
	memset(d, 0, rl);
	d->d_ino = ino;
	d->d_off = off;
	d->d_reclen = (unsigned short)rl;
	d->d_type = (unsigned char)type;
	memcpy(d->d_name, name, len);
	return rl;
}

static uint64_t name_ino(const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
	return h | 1;
}

ssize_t boxfs_px_getdents(int fd, void *buf, size_t n)
{
	WITH_OBJ(fd, o, {
		if (!o->dir) {
			r_ = -ENOTDIR;
		} else {
			size_t got = 0;
			while (r_ >= 0) {
				size_t k = 0;
				if (o->dstate == 0)
					k = put_dirent((uint8_t *)buf + got, n - got, ".", 1,
						       DT_DIR, 1, 1);
				else if (o->dstate == 1)
					k = put_dirent((uint8_t *)buf + got, n - got, "..", 2,
						       DT_DIR, 2, 2);
				else if (o->dstate == 3)
					break;
				if (o->dstate < 2) {
					if (!k)
						break;
					got += k;
					o->dstate++;
					continue;
				}
				if (o->dpos == o->dlen) {
					if (!o->dbuf && !(o->dbuf = malloc(RIO_CHUNK))) {
						r_ = -ENOMEM;
						break;
					}
					ssize_t g = boxfs_rio_readdir(o->ch, o->dbuf, RIO_CHUNK,
								      o->dlen == 0 && o->dpos == 0);
					if (g < 0) {
						r_ = g;
						break;
					}
					o->dlen = (size_t)g;
					o->dpos = 0;
					if (g == 0) {
						o->dstate = 3;
						break;
					}
				}
				size_t pos = o->dpos;
				struct rio_dirent de;
				int e = rio_dirent_next(o->dbuf, o->dlen, &pos, &de);
				if (e <= 0) {
					r_ = e < 0 ? -EIO : r_;
					o->dpos = o->dlen;
					continue;
				}
				k = put_dirent((uint8_t *)buf + got, n - got, de.name, de.namelen,
					       de.type, name_ino(de.name, de.namelen), 3);
				if (!k)
					break;
				got += k;
				o->dpos = pos;
			}
			if (r_ >= 0)
				r_ = got == 0 && o->dstate != 3 ? -EINVAL : (long)got;
		}
	});
}

int boxfs_px_rewind(int fd)
{
	WITH_OBJ(fd, o, {
		o->dstate = 0;
		o->dlen = o->dpos = 0;
	});
}

/* ---- names ---- */

/* Splits abs into its parent's rest (under m) and its last name. */
static int parent_of(int dirfd, const char *path, char *abs, struct px_mount **m,
		     const char **prest, char *name)
{
	int r = resolve(dirfd, path, abs, PATH_MAX);
	if (r < 0)
		return r;
	const char *rest;
	if (!(*m = match(abs, &rest)))
		return -EXDEV;
	if (!*rest)
		return -EBUSY; /* the mount's root itself */
	char *sl = strrchr(abs, '/');
	snprintf(name, NAME_MAX + 1, "%s", sl + 1);
	if (strlen(sl + 1) > NAME_MAX)
		return -ENAMETOOLONG;
	*sl = '\0';
	if (match(abs, prest) != *m)
		return -EXDEV;
	return 0;
}

int boxfs_px_mkdirat(int dirfd, const char *path, mode_t mode)
{
	char abs[PATH_MAX];
	const char *rest;
	int r = resolve(dirfd, path, abs, sizeof abs);
	if (r < 0)
		return r;
	struct px_mount *m = match(abs, &rest);
	if (!m)
		return -EXDEV;
	if (!*rest)
		return -EEXIST;
	int root = mount_root(m);
	if (root < 0)
		return root;
	struct boxfs_rio_object ro;
	mode &= ~current_umask();
	if ((r = boxfs_rio_open(root, rest, O_RDONLY | O_CREAT | O_EXCL | O_DIRECTORY, mode, &ro)) <
	    0)
		return r;
	boxfs_rio_close(ro.ch);
	return 0;
}

struct unlink_arg {
	const char *name;
	int how;
};

static int unlink_fn(int ch, void *arg, struct px_mount *m)
{
	(void)m;
	struct unlink_arg *u = arg;
	return boxfs_rio_unlink(ch, u->name, u->how);
}

int boxfs_px_unlinkat(int dirfd, const char *path, int flags)
{
	char abs[PATH_MAX], name[NAME_MAX + 1];
	struct px_mount *m;
	const char *prest;
	int r = parent_of(dirfd, path, abs, &m, &prest, name);
	if (r < 0)
		return r;
	struct unlink_arg u = { name, flags & AT_REMOVEDIR ? AT_REMOVEDIR : 1 };
	return with_path(AT_FDCWD, abs, O_RDONLY | O_DIRECTORY, unlink_fn, &u);
}

struct rename_arg {
	const char *from, *to;
	uint64_t token;
};

static int rename_fn(int ch, void *arg, struct px_mount *m)
{
	(void)m;
	struct rename_arg *a = arg;
	return boxfs_rio_rename(ch, a->from, a->token, a->to);
}

int boxfs_px_renameat(int odirfd, const char *from, int ndirfd, const char *to)
{
	char oabs[PATH_MAX], nabs[PATH_MAX], oname[NAME_MAX + 1], nname[NAME_MAX + 1];
	struct px_mount *om, *nm;
	const char *orest, *nrest;
	int r = parent_of(odirfd, from, oabs, &om, &orest, oname);
	if (r < 0)
		return r;
	if ((r = parent_of(ndirfd, to, nabs, &nm, &nrest, nname)) < 0)
		return r;
	if (om != nm)
		return -EXDEV;
	int root = mount_root(nm);
	if (root < 0)
		return root;
	const char *rest;
	match(nabs, &rest);
	struct boxfs_rio_object nd;
	if ((r = boxfs_rio_open(root, rest, O_RDONLY | O_DIRECTORY, 0, &nd)) < 0)
		return r;
	struct rename_arg a = { oname, nname, 0 };
	if ((r = boxfs_rio_token(nd.ch, &a.token)) == 0)
		r = with_path(AT_FDCWD, oabs, O_RDONLY | O_DIRECTORY, rename_fn, &a);
	boxfs_rio_close(nd.ch);
	return r;
}

int boxfs_px_faccessat(int dirfd, const char *path, int mode)
{
	struct stat st;
	int r = boxfs_px_fstatat(dirfd, path, &st, 0);
	if (r < 0 || mode == F_OK)
		return r;
	if ((mode & X_OK) && !S_ISDIR(st.st_mode) && !(st.st_mode & 0111))
		return -EACCES;
	if (geteuid() == 0)
		return 0;
	unsigned want = ((mode & R_OK) ? 4 : 0) | ((mode & W_OK) ? 2 : 0) | ((mode & X_OK) ? 1 : 0);
	return ((st.st_mode >> 6) & want) == want ? 0 : -EACCES;
}

static int setattr_fn(int ch, void *arg, struct px_mount *m)
{
	(void)m;
	return boxfs_rio_setattr(ch, arg);
}

int boxfs_px_fchmodat(int dirfd, const char *path, mode_t mode)
{
	struct rio_setattr s = { .valid = RIO_SETATTR_MODE, .mode = mode & 07777 };
	return with_path(dirfd, path, O_PATH, setattr_fn, &s);
}

int boxfs_px_fchmod(int fd, mode_t mode)
{
	struct rio_setattr s = { .valid = RIO_SETATTR_MODE, .mode = mode & 07777 };
	WITH_OBJ(fd, o, r_ = boxfs_rio_setattr(o->ch, &s));
}

/* The SETATTR of utimensat's times (mtime only). */
static bool times_of(const struct timespec ts[2], struct rio_setattr *s)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct timespec t = ts ? ts[1] : now;
	if (ts && t.tv_nsec == UTIME_OMIT)
		return false;
	if (ts && t.tv_nsec == UTIME_NOW)
		t = now;
	*s = (struct rio_setattr){ .valid = RIO_SETATTR_MTIME,
				   .mtime_ns =
					   (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec };
	return true;
}

int boxfs_px_utimensat(int dirfd, const char *path, const struct timespec ts[2])
{
	struct rio_setattr s;
	if (!times_of(ts, &s))
		return boxfs_px_faccessat(dirfd, path, F_OK);
	return with_path(dirfd, path, O_PATH, setattr_fn, &s);
}

int boxfs_px_futimens(int fd, const struct timespec ts[2])
{
	struct rio_setattr s;
	if (!times_of(ts, &s))
		return boxfs_px_isfd(fd) ? 0 : -EBADF;
	WITH_OBJ(fd, o, r_ = boxfs_rio_setattr(o->ch, &s));
}

/* ---- the current directory ---- */

int boxfs_px_chdir(const char *path)
{
	char abs[PATH_MAX];
	int r = resolve(AT_FDCWD, path, abs, sizeof abs);
	if (r < 0)
		return r;
	const char *rest;
	if (!match(abs, &rest))
		return -EXDEV;
	struct stat st;
	if ((r = boxfs_px_fstatat(AT_FDCWD, abs, &st, 0)) < 0)
		return r;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	char *c = strdup(abs);
	if (!c)
		return -ENOMEM;
	pthread_mutex_lock(&mu);
	free(cwd);
	cwd = c;
	pthread_mutex_unlock(&mu);
	return 0;
}

int boxfs_px_fchdir(int fd)
{
	struct px_obj *o = obj_get(fd);
	if (!o)
		return -EXDEV;
	int r = o->dir ? boxfs_px_chdir(o->path) : -ENOTDIR;
	obj_put(o);
	return r;
}

ssize_t boxfs_px_getcwd(char *buf, size_t n)
{
	pthread_mutex_lock(&mu);
	ssize_t r = -EXDEV;
	if (cwd) {
		size_t len = strlen(cwd);
		r = len + 1 > n ? -ERANGE : (ssize_t)len;
		if (r >= 0)
			memcpy(buf, cwd, len + 1);
	}
	pthread_mutex_unlock(&mu);
	return r;
}

void boxfs_px_cwd_clear(void)
{
	pthread_mutex_lock(&mu);
	free(cwd);
	cwd = NULL;
	pthread_mutex_unlock(&mu);
}

/* ---- mmap ---- */

void *boxfs_px_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, int *err)
{
	struct px_obj *o = obj_get(fd);
	if (!o) {
		*err = EBADF;
		return MAP_FAILED;
	}
	void *p = MAP_FAILED;
	bool shared_w = (prot & PROT_WRITE) && (flags & MAP_SHARED);
	pthread_mutex_lock(&o->mu);
	*err = -own(o);
	int mfd = -1;
	if (!*err && o->vmo) {
		mfd = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
	} else if (!*err) {
		struct rio_mmap mm = { .offset = (uint64_t)off,
				       .length = len,
				       .flags = ((prot & PROT_READ) ? RIO_MMAP_READ : 0) |
						((prot & PROT_WRITE) ? RIO_MMAP_WRITE : 0) |
						((flags & MAP_PRIVATE) ? RIO_MMAP_PRIVATE : 0) };
		mfd = boxfs_rio_mmap(o->ch, &mm);
		if (mfd == -ENODEV && !shared_w) {
			/* no descriptor to give (a RAM file): a private copy */
			p = mmap(addr, len, prot | PROT_WRITE,
				 (flags & ~MAP_SHARED) | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p != MAP_FAILED) {
				ssize_t got = boxfs_rio_pread(o->ch, p, len, off);
				if (got < 0) {
					munmap(p, len);
					p = MAP_FAILED;
					*err = (int)-got;
				} else if (!(prot & PROT_WRITE)) {
					mprotect(p, len, prot);
				}
			} else {
				*err = errno;
			}
		} else if (mfd < 0) {
			*err = -mfd;
		}
	}
	if (mfd >= 0) {
		p = mmap(addr, len, prot, flags, mfd, off);
		if (p == MAP_FAILED)
			*err = errno;
		sys_close(mfd);
	}
	pthread_mutex_unlock(&o->mu);
	obj_put(o);
	return p;
}
