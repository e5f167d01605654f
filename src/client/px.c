/*
 * px.c — the POSIX layer (boxfs/posix.h): the client mount table, the
 * process's table of served descriptors, a current directory, and the
 * calls, over rio channels and 9P connections.
 *
 * Each object carries its protocol's operations (struct px_ops): a rio
 * channel (or a VMOFILE read directly), or a file or directory of the 9P
 * client library, on one connection per mount and process. The calls that
 * take a path dispatch on the mount's protocol.
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
#include <boxfs/memfile.h>
#include <boxfs/posix.h>
#include <boxfs/rio_client.h>

#include "client/client_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

enum { NFD = 65536 };

enum px_proto { PX_RIO, PX_9P, PX_SMD };

struct px_seg;

struct px_mount {
	struct px_mount *next;
	char *prefix; /* normalized, "/" never */
	size_t plen;
	char *addr, *aname;
	enum px_proto proto;
	int root;		/* rio: the root channel of this process, or -1 */
	struct boxfs_client *c; /* 9P: the connection of this process, or NULL */
	struct boxfs_mem *mem;	/* smdish: the connection of this process, or NULL */
	struct px_seg *segs;	/* smdish: the memfiles this process has open */
	pid_t pid;
	dev_t dev;
};

struct px_obj;

/* One directory entry, as an object's listing hands it out. */
struct px_dent {
	const char *name;
	size_t len;
	unsigned type;
	uint64_t ino;
};

/*
 * What each kind of object does; called with o->mu held and o owned by this
 * process (own first), except own and release. fd is the object's
 * descriptor number (a VMOFILE reads through it). Answers are -errno.
 */
struct px_ops {
	/* Makes o usable in this process (after fork: reopens it at its offset). */
	int (*own)(struct px_obj *o);
	/* Frees o's protocol state (o may be the parent's, after fork). */
	void (*release)(struct px_obj *o);
	ssize_t (*read)(struct px_obj *o, int fd, void *buf, size_t n);
	ssize_t (*write)(struct px_obj *o, const void *buf, size_t n);
	ssize_t (*pread)(struct px_obj *o, int fd, void *buf, size_t n, off_t off);
	ssize_t (*pwrite)(struct px_obj *o, const void *buf, size_t n, off_t off);
	/* Files only: directories are handled by the caller. */
	off_t (*lseek)(struct px_obj *o, int fd, off_t off, int whence);
	int (*fstat)(struct px_obj *o, struct stat *st);
	/* The entry at the listing's position without moving on: 1, 0 at the
	 * end, or -errno; dirent_next moves past it. */
	int (*dirent)(struct px_obj *o, struct px_dent *de);
	void (*dirent_next)(struct px_obj *o);
	void (*rewind)(struct px_obj *o);
	int (*ftruncate)(struct px_obj *o, off_t len);
	int (*fsync)(struct px_obj *o);
	int (*fchmod)(struct px_obj *o, mode_t mode);
	int (*futimens)(struct px_obj *o, const struct timespec ts[2]);
	/* A descriptor to mmap (the caller closes it), or -ENODEV: the caller
	 * then copies the file into a private mapping with pread. */
	int (*mmap_fd)(struct px_obj *o, int fd, size_t len, int prot, int flags, off_t off);
	/* Whole-file locks held on the server (flock, F_SETLK), or NULL: kept in
	 * the process. how: PX_UNLOCK, PX_LOCK (waits), PX_TRYLOCK. */
	int (*lock)(struct px_obj *o, int how);
};

enum { PX_UNLOCK, PX_LOCK, PX_TRYLOCK };

struct px_obj {
	const struct px_ops *ops;
	atomic_uint refs;
	pthread_mutex_t mu;
	struct px_mount *m;
	char *path; /* absolute */
	int flags;
	bool dir;
	pid_t pid;   /* the process whose channel or connection this is */
	int64_t off; /* rio REMOTE: the channel's offset as known here, -1 unknown;
			9P: the file's offset */
	int dstate;  /* directory: 0: "." next, 1: ".." next, 2: entries, 3: end */
	/* rio */
	int ch;	       /* the object's channel */
	bool vmo;      /* VMOFILE: the descriptor number is the file itself */
	uint8_t *dbuf; /* directory: the READDIR answer being handed out */
	size_t dlen, dpos, dnext;
	/* 9P */
	struct boxfs_file *f; /* NULL for a directory or O_PATH */
	struct boxfs_dir *d;  /* a directory being listed, or NULL */
	struct boxfs_dirent de;
	bool dpend;	/* de is the entry at the listing's position */
	uint64_t dseen; /* the server's entries moved past (to resume after fork) */
	/* smdish */
	int mfd;	     /* the memfile's descriptor on the connection, or -1 */
	struct px_seg *seg;  /* the memfile's state in this process */
	char **names;	     /* directory: the listing being handed out */
	size_t nnames, npos; /* its length and position */
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
	o->ops->release(o);
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

/*
 * This process's 9P connection of m, or NULL with *err. A connection
 * inherited through fork is the parent's: its socket and reader thread are
 * not ours, so it is left alone (not freed: that would talk on the
 * parent's connection) and a new one is made.
 */
static struct boxfs_client *mount_client(struct px_mount *m, int *err)
{
	pthread_mutex_lock(&mu);
	pid_t me = getpid();
	if (m->c && m->pid != me)
		m->c = NULL;
	if (!m->c) {
		struct boxfs_opts opts = { .aname = m->aname };
		m->c = boxfs_connect(m->addr, &opts);
		m->pid = me;
		if (!m->c)
			*err = -errno;
	}
	struct boxfs_client *c = m->c;
	pthread_mutex_unlock(&mu);
	return c;
}

/* ---- the mount table ---- */

int boxfs_px_mount(const char *prefix, const char *addr, const char *aname, const char *proto)
{
	enum px_proto p = PX_9P;
	if (proto && strcmp(proto, "rio") == 0)
		p = PX_RIO;
	else if (proto && strcmp(proto, "smdish") == 0)
		p = PX_SMD;
	else if (proto && strcmp(proto, "9p") != 0)
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
	m->proto = p;
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
		if (n == 3 && (strcmp(w[2], "rio") == 0 || strcmp(w[2], "9p") == 0 ||
			       strcmp(w[2], "smdish") == 0))
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

/* A new object of m at abs with ops, one reference, owned by this process. */
static struct px_obj *obj_new(const struct px_ops *ops, struct px_mount *m, const char *abs,
			      int flags)
{
	struct px_obj *o = calloc(1, sizeof *o);
	if (!o || !(o->path = strdup(abs))) {
		free(o);
		return NULL;
	}
	o->ops = ops;
	atomic_init(&o->refs, 1);
	pthread_mutex_init(&o->mu, NULL);
	o->m = m;
	o->flags = flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECTORY | O_PATH);
	o->pid = getpid();
	o->ch = -1;
	return o;
}

/* The path of o below its mount's root ("" for the root). */
static const char *obj_rest(const struct px_obj *o)
{
	const char *rest = o->path + o->m->plen;
	while (*rest == '/')
		rest++;
	return rest;
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

static uint64_t name_ino(const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
	return h | 1;
}

/* ---- rio objects: a channel each ---- */

/* Makes o's channel this process's own (after fork: a CLONE at the offset). */
static int rio_own(struct px_obj *o)
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

static void rio_release(struct px_obj *o)
{
	if (o->pid == getpid())
		boxfs_rio_close(o->ch);
	else
		close(o->ch);
	free(o->dbuf);
}

static ssize_t rio_read(struct px_obj *o, int fd, void *buf, size_t n)
{
	if (o->vmo) {
		long k = syscall(SYS_read, fd, buf, n);
		return k < 0 ? -errno : k;
	}
	ssize_t r = boxfs_rio_read(o->ch, buf, n);
	if (r > 0 && o->off >= 0)
		o->off += r;
	return r;
}

static ssize_t rio_write(struct px_obj *o, const void *buf, size_t n)
{
	if (o->vmo || (o->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	ssize_t r = boxfs_rio_write(o->ch, buf, n);
	if (o->flags & O_APPEND)
		o->off = -1;
	else if (r > 0)
		o->off += r;
	return r;
}

static ssize_t rio_pread(struct px_obj *o, int fd, void *buf, size_t n, off_t off)
{
	if (o->vmo) {
		long k = syscall(SYS_pread64, fd, buf, n, off);
		return k < 0 ? -errno : k;
	}
	return boxfs_rio_pread(o->ch, buf, n, off);
}

static ssize_t rio_pwrite(struct px_obj *o, const void *buf, size_t n, off_t off)
{
	if (o->vmo || (o->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	return boxfs_rio_pwrite(o->ch, buf, n, off);
}

static off_t rio_lseek(struct px_obj *o, int fd, off_t off, int whence)
{
	if (o->vmo) {
		long k = syscall(SYS_lseek, fd, off, whence);
		return k < 0 ? -errno : k;
	}
	off_t r = boxfs_rio_seek(o->ch, off, whence);
	if (r >= 0)
		o->off = r;
	return r;
}

static int rio_fstat(struct px_obj *o, struct stat *st)
{
	struct rio_attr a;
	int r = boxfs_rio_stat(o->ch, &a);
	if (r == 0)
		attr_to_stat(o->m, &a, st);
	return r;
}

static int rio_dirent(struct px_obj *o, struct px_dent *de)
{
	for (;;) {
		if (o->dpos == o->dlen) {
			if (!o->dbuf && !(o->dbuf = malloc(RIO_CHUNK)))
				return -ENOMEM;
			ssize_t g = boxfs_rio_readdir(o->ch, o->dbuf, RIO_CHUNK,
						      o->dlen == 0 && o->dpos == 0);
			if (g < 0)
				return (int)g;
			o->dlen = (size_t)g;
			o->dpos = 0;
			if (g == 0)
				return 0;
		}
		size_t pos = o->dpos;
		struct rio_dirent e;
		int r = rio_dirent_next(o->dbuf, o->dlen, &pos, &e);
		if (r < 0) {
			o->dpos = o->dlen;
			return -EIO;
		}
		if (r == 0) {
			o->dpos = o->dlen;
			continue;
		}
		*de = (struct px_dent){ e.name, e.namelen, e.type, name_ino(e.name, e.namelen) };
		o->dnext = pos;
		return 1;
	}
}

static void rio_dirent_skip(struct px_obj *o)
{
	o->dpos = o->dnext;
}

static void rio_rewind(struct px_obj *o)
{
	o->dlen = o->dpos = 0;
}

static int rio_ftruncate(struct px_obj *o, off_t len)
{
	return boxfs_rio_truncate(o->ch, len);
}

static int rio_fsync(struct px_obj *o)
{
	return boxfs_rio_sync(o->ch);
}

static int rio_fchmod(struct px_obj *o, mode_t mode)
{
	struct rio_setattr s = { .valid = RIO_SETATTR_MODE, .mode = mode & 07777 };
	return boxfs_rio_setattr(o->ch, &s);
}

static int rio_futimens(struct px_obj *o, const struct timespec ts[2])
{
	struct rio_setattr s;
	if (!times_of(ts, &s))
		return 0;
	return boxfs_rio_setattr(o->ch, &s);
}

static int rio_mmap_fd(struct px_obj *o, int fd, size_t len, int prot, int flags, off_t off)
{
	if (o->vmo) {
		long mfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 0);
		return mfd < 0 ? -errno : (int)mfd;
	}
	struct rio_mmap mm = { .offset = (uint64_t)off,
			       .length = len,
			       .flags = ((prot & PROT_READ) ? RIO_MMAP_READ : 0) |
					((prot & PROT_WRITE) ? RIO_MMAP_WRITE : 0) |
					((flags & MAP_PRIVATE) ? RIO_MMAP_PRIVATE : 0) };
	return boxfs_rio_mmap(o->ch, &mm);
}

static const struct px_ops rio_ops = {
	.own = rio_own,
	.release = rio_release,
	.read = rio_read,
	.write = rio_write,
	.pread = rio_pread,
	.pwrite = rio_pwrite,
	.lseek = rio_lseek,
	.fstat = rio_fstat,
	.dirent = rio_dirent,
	.dirent_next = rio_dirent_skip,
	.rewind = rio_rewind,
	.ftruncate = rio_ftruncate,
	.fsync = rio_fsync,
	.fchmod = rio_fchmod,
	.futimens = rio_futimens,
	.mmap_fd = rio_mmap_fd,
};

/* Opens the object at abs on rio mount m (rest below its root). */
static int rio_open(struct px_mount *m, const char *abs, const char *rest, int flags, mode_t mode,
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
	struct px_obj *o = obj_new(&rio_ops, m, abs, flags);
	if (!o) {
		boxfs_rio_close(ro.ch);
		if (ro.vmo >= 0)
			sys_close(ro.vmo);
		return -ENOMEM;
	}
	o->ch = ro.ch;
	o->vmo = ro.type == RIO_TYPE_VMOFILE;
	*vmofd = ro.vmo;
	struct rio_attr a;
	if (boxfs_rio_stat(o->ch, &a) == 0)
		o->dir = S_ISDIR(a.mode);
	*out = o;
	return 0;
}

/* ---- 9P objects: a file or directory of the mount's connection ---- */

/* A 9P stat as the layer shows it: the mount's device, the caller's owner. */
static void fix_stat(const struct px_mount *m, struct stat *st)
{
	st->st_dev = m->dev;
	st->st_uid = getuid();
	st->st_gid = getgid();
}

/* Reopens o on this process's connection (after fork), at the offset and
 * listing position it had: the parent's file and connection are left alone. */
static int px9_own(struct px_obj *o)
{
	if (o->pid == getpid())
		return 0;
	int err = -EIO;
	struct boxfs_client *c = mount_client(o->m, &err);
	if (!c)
		return err;
	/* the parent's file and listing are forgotten, not clunked */
	if (o->f) {
		struct boxfs_file *f =
			boxfs_open(c, obj_rest(o), o->flags & (O_ACCMODE | O_APPEND), 0);
		if (!f)
			return -errno;
		o->f = f;
	}
	if (o->dpend)
		o->dseen--; /* read but not handed out yet: read it again */
	o->d = NULL;
	o->dpend = false;
	o->pid = getpid();
	return 0;
}

static void px9_release(struct px_obj *o)
{
	if (o->pid != getpid())
		return; /* the parent's: forgotten */
	if (o->f)
		boxfs_close(o->f);
	if (o->d)
		boxfs_closedir(o->d);
}

static ssize_t px9_pread(struct px_obj *o, int fd, void *buf, size_t n, off_t off)
{
	(void)fd;
	return o->f ? boxfs_pread(o->f, buf, n, off) : -EBADF;
}

static ssize_t px9_pwrite(struct px_obj *o, const void *buf, size_t n, off_t off)
{
	return o->f ? boxfs_pwrite(o->f, buf, n, off) : -EBADF;
}

static ssize_t px9_read(struct px_obj *o, int fd, void *buf, size_t n)
{
	ssize_t r = px9_pread(o, fd, buf, n, o->off);
	if (r > 0)
		o->off += r;
	return r;
}

static ssize_t px9_write(struct px_obj *o, const void *buf, size_t n)
{
	if (!o->f)
		return -EBADF;
	if (o->flags & O_APPEND) {
		struct stat st;
		int r = boxfs_fstat(o->f, &st);
		if (r < 0)
			return r;
		o->off = st.st_size;
	}
	ssize_t r = boxfs_pwrite(o->f, buf, n, o->off);
	if (r > 0)
		o->off += r;
	return r;
}

static int px9_fstat(struct px_obj *o, struct stat *st)
{
	int r;
	if (o->f) {
		r = boxfs_fstat(o->f, st);
	} else {
		int err = -EIO;
		struct boxfs_client *c = mount_client(o->m, &err);
		r = c ? boxfs_stat(c, obj_rest(o), st) : err;
	}
	if (r == 0)
		fix_stat(o->m, st);
	return r;
}

static off_t px9_lseek(struct px_obj *o, int fd, off_t off, int whence)
{
	(void)fd;
	struct stat st;
	int r;
	off_t base;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = o->off;
		break;
	case SEEK_END:
	case SEEK_DATA:
	case SEEK_HOLE:
		if ((r = px9_fstat(o, &st)) < 0)
			return r;
		if (whence != SEEK_END) { /* no holes: the data runs to the end */
			if (off < 0 || off >= st.st_size)
				return off < 0 ? -EINVAL : -ENXIO;
			return o->off = whence == SEEK_DATA ? off : st.st_size;
		}
		base = st.st_size;
		break;
	default:
		return -EINVAL;
	}
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
		return -EINVAL;
	return o->off = base + off;
}

static int px9_dirent(struct px_obj *o, struct px_dent *de)
{
	if (!o->d) {
		int err = -EIO;
		struct boxfs_client *c = mount_client(o->m, &err);
		if (!c)
			return err;
		if (!(o->d = boxfs_opendir(c, obj_rest(o))))
			return -errno;
		o->dpend = false;
		/* resuming (after fork): move past what was handed out */
		for (uint64_t i = 0; i < o->dseen; i++) {
			int r = boxfs_readdir(o->d, &o->de);
			if (r <= 0)
				return r;
		}
	}
	while (!o->dpend) {
		int r = boxfs_readdir(o->d, &o->de);
		if (r <= 0)
			return r;
		o->dseen++;
		if (strcmp(o->de.name, ".") != 0 && strcmp(o->de.name, "..") != 0)
			o->dpend = true;
	}
	*de = (struct px_dent){ o->de.name, strlen(o->de.name), o->de.d_type, o->de.ino };
	return 1;
}

static void px9_dirent_skip(struct px_obj *o)
{
	o->dpend = false;
}

static void px9_rewind(struct px_obj *o)
{
	if (o->d)
		boxfs_closedir(o->d);
	o->d = NULL;
	o->dpend = false;
	o->dseen = 0;
}

static int px9_ftruncate(struct px_obj *o, off_t len)
{
	if (!o->f)
		return o->dir ? -EINVAL : -EBADF;
	return boxfs_ftruncate(o->f, len);
}

static int px9_fsync(struct px_obj *o)
{
	return o->f ? boxfs_fsync(o->f, false) : 0;
}

static int px9_fchmod(struct px_obj *o, mode_t mode)
{
	int err = -EIO;
	struct boxfs_client *c = mount_client(o->m, &err);
	return c ? boxfs_chmod(c, obj_rest(o), mode & 07777) : err;
}

static int px9_futimens(struct px_obj *o, const struct timespec ts[2])
{
	int err = -EIO;
	struct boxfs_client *c = mount_client(o->m, &err);
	if (!c)
		return err;
	/* mtime only, as over rio */
	struct timespec t[2] = { { 0, UTIME_OMIT },
				 ts ? ts[1] : (struct timespec){ 0, UTIME_NOW } };
	return boxfs_utimens(c, obj_rest(o), t);
}

/* No descriptor to give: private maps and read-only shared ones are copies. */
static int px9_mmap_fd(struct px_obj *o, int fd, size_t len, int prot, int flags, off_t off)
{
	(void)o, (void)fd, (void)len, (void)prot, (void)flags, (void)off;
	return -ENODEV;
}

static const struct px_ops px9_ops = {
	.own = px9_own,
	.release = px9_release,
	.read = px9_read,
	.write = px9_write,
	.pread = px9_pread,
	.pwrite = px9_pwrite,
	.lseek = px9_lseek,
	.fstat = px9_fstat,
	.dirent = px9_dirent,
	.dirent_next = px9_dirent_skip,
	.rewind = px9_rewind,
	.ftruncate = px9_ftruncate,
	.fsync = px9_fsync,
	.fchmod = px9_fchmod,
	.futimens = px9_futimens,
	.mmap_fd = px9_mmap_fd,
};

/* Opens the object at abs on 9P mount m (rest below its root). A directory
 * is listed through a boxfs_dir opened on the first getdents. */
static int px9_open(struct px_mount *m, const char *abs, const char *rest, int flags, mode_t mode,
		    struct px_obj **out)
{
	int err = -EIO;
	struct boxfs_client *c = mount_client(m, &err);
	if (!c)
		return err;
	struct boxfs_file *f = NULL;
	bool dir;
	if (flags & O_PATH) {
		struct stat st;
		int r = (flags & O_NOFOLLOW) ? boxfs_lstat(c, rest, &st) : boxfs_stat(c, rest, &st);
		if (r < 0)
			return r;
		if ((flags & O_DIRECTORY) && !S_ISDIR(st.st_mode))
			return -ENOTDIR;
		dir = S_ISDIR(st.st_mode);
	} else {
		int keep = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY |
			   O_NOFOLLOW;
		if (!(f = boxfs_open(c, rest, flags & keep, mode)))
			return -errno;
		dir = f->qid.type & P9_QTDIR;
		if (dir) {
			boxfs_close(f);
			f = NULL;
		}
	}
	struct px_obj *o = obj_new(&px9_ops, m, abs, flags);
	if (!o) {
		if (f)
			boxfs_close(f);
		return -ENOMEM;
	}
	o->f = f;
	o->dir = dir;
	*out = o;
	return 0;
}

/* ---- smdish objects: memfiles of the mount's connection ---- */

/*
 * A memfile this process has open, shared by its objects: the one mapping
 * of its segment (the connection's locks and copies go through it, by
 * name) and which object holds its lock through flock or F_SETLK.
 */
struct px_seg {
	struct px_seg *next;
	unsigned refs;
	int mapfd; /* the mapping's handle, or -1 when not mapped yet */
	uint8_t *addr;
	size_t size;
	bool shared;	       /* the server's memfd, not a ship replica */
	struct px_obj *holder; /* the object holding the lock, or NULL */
	char name[];
};

/*
 * This process's smdish connection of m, or NULL with *err. After fork the
 * parent's connection is dropped without a word to the server (its socket
 * is only our copy) with what this process knew of its memfiles.
 */
static struct boxfs_mem *mount_mem(struct px_mount *m, int *err)
{
	pthread_mutex_lock(&mu);
	pid_t me = getpid();
	if (m->mem && m->pid != me) {
		boxfs_mem_disconnect(m->mem);
		m->mem = NULL;
		for (struct px_seg *g = m->segs, *next; g; g = next) {
			next = g->next;
			free(g);
		}
		m->segs = NULL;
	}
	if (!m->mem) {
		m->mem = boxfs_mem_connect(m->addr);
		m->pid = me;
		if (!m->mem)
			*err = -errno;
	}
	struct boxfs_mem *mem = m->mem;
	pthread_mutex_unlock(&mu);
	return mem;
}

/* The memfile name's state in this process, one more reference. */
static struct px_seg *seg_get(struct px_mount *m, const char *name)
{
	pthread_mutex_lock(&mu);
	struct px_seg *g = m->segs;
	while (g && strcmp(g->name, name) != 0)
		g = g->next;
	if (!g && (g = calloc(1, sizeof *g + strlen(name) + 1))) {
		strcpy(g->name, name);
		g->mapfd = -1;
		g->next = m->segs;
		m->segs = g;
	}
	if (g)
		g->refs++;
	pthread_mutex_unlock(&mu);
	return g;
}

/* Drops a reference; the last one unmaps the segment. */
static void seg_put(struct px_mount *m, struct boxfs_mem *mem, struct px_seg *g)
{
	pthread_mutex_lock(&mu);
	bool last = --g->refs == 0;
	if (last) {
		struct px_seg **pp = &m->segs;
		while (*pp && *pp != g)
			pp = &(*pp)->next;
		if (*pp)
			*pp = g->next;
	}
	pthread_mutex_unlock(&mu);
	if (!last)
		return;
	if (g->mapfd >= 0)
		boxfs_mem_munmap(mem, g->mapfd);
	free(g);
}

struct smd_find {
	const char *name;
	int64_t size; /* -1: not listed */
	char **names;
	size_t n, cap;
	bool oom;
};

static int smd_find_fn(void *ctx, const char *name, uint32_t seg_size, bool locked)
{
	(void)locked;
	struct smd_find *f = ctx;
	if (strcmp(name, f->name) != 0)
		return 0;
	f->size = seg_size;
	return 1;
}

/* The segment size of the memfile name: 0 or more, or -ENOENT. */
static int64_t smd_size(struct boxfs_mem *mem, const char *name)
{
	struct smd_find f = { .name = name, .size = -1 };
	int r = boxfs_mem_list(mem, smd_find_fn, &f);
	if (r < 0)
		return r;
	return f.size < 0 ? -ENOENT : f.size;
}

/* What stat shows of rest ("" the mount's root, else a memfile). */
static int smd_stat(struct px_mount *m, const char *rest, struct stat *st)
{
	int err = -EIO;
	struct boxfs_mem *mem = mount_mem(m, &err);
	if (!mem)
		return err;
	int64_t size = 0;
	if (*rest && strchr(rest, '/'))
		return -ENOENT;
	if (*rest && (size = smd_size(mem, rest)) < 0)
		return (int)size;
	memset(st, 0, sizeof *st);
	st->st_dev = m->dev;
	st->st_ino = *rest ? name_ino(rest, strlen(rest)) : 1;
	st->st_mode = *rest ? S_IFREG | 0666 : S_IFDIR | 0777;
	st->st_nlink = *rest ? 1 : 2;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_size = (off_t)size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	return 0;
}

/* Maps o's segment once for the process (the server's memfd over a Unix
 * socket, else a ship replica): 0 (g->size 0 for a pure lock) or -errno. */
static int smd_map(struct px_obj *o, struct boxfs_mem *mem)
{
	struct px_seg *g = o->seg;
	if (g->mapfd >= 0)
		return 0;
	int64_t size = smd_size(mem, g->name);
	if (size <= 0) {
		g->size = 0;
		return size < 0 ? (int)size : 0;
	}
	int flags = strncmp(o->m->addr, "unix!", 5) == 0 ? BOXFS_MEM_SHARED : 0;
	int mapfd = -1;
	void *p = boxfs_mem_mmap(mem, o->mfd, (size_t)size, flags, &mapfd);
	if (!p && flags && errno == EOPNOTSUPP)
		p = boxfs_mem_mmap(mem, o->mfd, (size_t)size, flags = 0, &mapfd);
	if (!p)
		return -errno;
	pthread_mutex_lock(&mu);
	if (g->mapfd >= 0) { /* another thread mapped it meanwhile */
		pthread_mutex_unlock(&mu);
		boxfs_mem_munmap(mem, mapfd);
		return 0;
	}
	g->addr = p;
	g->size = (size_t)size;
	g->shared = flags != 0;
	g->mapfd = mapfd;
	pthread_mutex_unlock(&mu);
	return 0;
}

/* Reopens o on this process's connection (after fork); locks stay behind. */
static int smd_own(struct px_obj *o)
{
	if (o->pid == getpid())
		return 0;
	int err = -EIO;
	struct boxfs_mem *mem = mount_mem(o->m, &err);
	if (!mem)
		return err;
	if (!o->dir) {
		int mfd = boxfs_mem_open(mem, obj_rest(o));
		if (mfd < 0)
			return mfd;
		struct px_seg *g = seg_get(o->m, obj_rest(o));
		if (!g) {
			boxfs_mem_close(mem, mfd);
			return -ENOMEM;
		}
		o->mfd = mfd;
		o->seg = g;
	}
	o->pid = getpid();
	return 0;
}

static void smd_names_free(struct px_obj *o)
{
	for (size_t i = 0; i < o->nnames; i++)
		free(o->names[i]);
	free(o->names);
	o->names = NULL;
	o->nnames = o->npos = 0;
}

static void smd_release(struct px_obj *o)
{
	smd_names_free(o);
	if (o->pid != getpid() || o->dir)
		return; /* the parent's: forgotten with its connection */
	struct boxfs_mem *mem = o->m->mem;
	if (o->seg->holder == o) {
		boxfs_mem_unlock(mem, o->mfd);
		o->seg->holder = NULL;
	}
	seg_put(o->m, mem, o->seg);
	boxfs_mem_close(mem, o->mfd);
}

/* Copies between buf and the segment at off, under the memfile's lock
 * (unless this process holds it already). */
static ssize_t smd_io(struct px_obj *o, void *buf, size_t n, off_t off, bool wr)
{
	if (o->dir)
		return -EISDIR;
	if ((o->flags & O_ACCMODE) == (wr ? O_RDONLY : O_WRONLY) || (o->flags & O_PATH))
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	struct boxfs_mem *mem = o->m->mem;
	int r = smd_map(o, mem);
	if (r < 0)
		return r;
	struct px_seg *g = o->seg;
	if (wr && g->size == 0)
		return -ENOSPC;
	if ((uint64_t)off >= g->size)
		return wr && n ? -EFBIG : 0;
	if (n > g->size - (size_t)off)
		n = g->size - (size_t)off;
	if (n == 0)
		return 0;
	bool held = g->holder != NULL;
	if (!held && (r = boxfs_mem_lock(mem, o->mfd, 0)) < 0)
		return r;
	if (wr)
		memcpy(g->addr + off, buf, n);
	else
		memcpy(buf, g->addr + off, n);
	if (!held && (r = boxfs_mem_unlock(mem, o->mfd)) < 0)
		return r;
	return (ssize_t)n;
}

static ssize_t smd_pread(struct px_obj *o, int fd, void *buf, size_t n, off_t off)
{
	(void)fd;
	return smd_io(o, buf, n, off, false);
}

static ssize_t smd_pwrite(struct px_obj *o, const void *buf, size_t n, off_t off)
{
	return smd_io(o, (void *)buf, n, off, true);
}

static ssize_t smd_read(struct px_obj *o, int fd, void *buf, size_t n)
{
	ssize_t r = smd_pread(o, fd, buf, n, o->off);
	if (r > 0)
		o->off += r;
	return r;
}

static ssize_t smd_write(struct px_obj *o, const void *buf, size_t n)
{
	if (o->flags & O_APPEND) {
		int r = o->dir ? 0 : smd_map(o, o->m->mem);
		if (r < 0)
			return r;
		o->off = o->dir ? 0 : (int64_t)o->seg->size;
	}
	ssize_t r = smd_pwrite(o, buf, n, o->off);
	if (r > 0)
		o->off += r;
	return r;
}

static int smd_fstat(struct px_obj *o, struct stat *st)
{
	return smd_stat(o->m, obj_rest(o), st);
}

static off_t smd_lseek(struct px_obj *o, int fd, off_t off, int whence)
{
	(void)fd;
	struct stat st;
	off_t base;
	int r;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = o->off;
		break;
	case SEEK_END:
		if ((r = smd_fstat(o, &st)) < 0)
			return r;
		base = st.st_size;
		break;
	default:
		return -EINVAL;
	}
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
		return -EINVAL;
	return o->off = base + off;
}

static int smd_list_fn(void *ctx, const char *name, uint32_t seg_size, bool locked)
{
	(void)seg_size, (void)locked;
	struct smd_find *f = ctx;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		char **nn = realloc(f->names, cap * sizeof *nn);
		if (!nn)
			return -ENOMEM;
		f->names = nn, f->cap = cap;
	}
	if (!(f->names[f->n] = strdup(name)))
		return -ENOMEM;
	f->n++;
	return 0;
}

/* The listing is the server's memfiles when it is first read. */
static int smd_dirent(struct px_obj *o, struct px_dent *de)
{
	if (!o->names) {
		struct smd_find f = { 0 };
		int r = boxfs_mem_list(o->m->mem, smd_list_fn, &f);
		if (r < 0 || !f.names) {
			for (size_t i = 0; i < f.n; i++)
				free(f.names[i]);
			free(f.names);
			if (r < 0)
				return r;
			return 0;
		}
		o->names = f.names;
		o->nnames = f.n;
		o->npos = 0;
	}
	if (o->npos >= o->nnames)
		return 0;
	const char *name = o->names[o->npos];
	size_t len = strlen(name);
	*de = (struct px_dent){ name, len, DT_REG, name_ino(name, len) };
	return 1;
}

static void smd_dirent_skip(struct px_obj *o)
{
	o->npos++;
}

static void smd_rewind(struct px_obj *o)
{
	smd_names_free(o);
}

/* A segment's size is fixed when it is first mapped. */
static int smd_ftruncate(struct px_obj *o, off_t len)
{
	(void)len;
	return o->dir ? -EISDIR : -EINVAL;
}

static int smd_fsync(struct px_obj *o)
{
	(void)o;
	return 0;
}

static int smd_fchmod(struct px_obj *o, mode_t mode)
{
	(void)o, (void)mode;
	return -EPERM;
}

static int smd_futimens(struct px_obj *o, const struct timespec ts[2])
{
	(void)o, (void)ts;
	return -EPERM;
}

/* The server's memfd, over a Unix socket; else a copy (-ENODEV). */
static int smd_mmap_fd(struct px_obj *o, int fd, size_t len, int prot, int flags, off_t off)
{
	(void)fd, (void)len, (void)prot, (void)flags, (void)off;
	if (o->dir)
		return -ENODEV;
	int r = smd_map(o, o->m->mem);
	if (r < 0)
		return r;
	if (!o->seg->shared)
		return -ENODEV;
	return bx_mem_segfd(o->m->mem, o->seg->mapfd);
}

/* The memfile's lock, held for o until o unlocks it or is closed. */
static int smd_lock(struct px_obj *o, int how)
{
	if (o->dir || (o->flags & O_PATH))
		return o->dir ? 0 : -EBADF;
	struct px_seg *g = o->seg;
	struct boxfs_mem *mem = o->m->mem;
	int r = 0;
	if (how == PX_UNLOCK) {
		if (g->holder == o && (r = boxfs_mem_unlock(mem, o->mfd)) == 0)
			g->holder = NULL;
		return r;
	}
	if (g->holder == o)
		return 0;
	if (g->holder) /* another descriptor of this process holds it */
		return how == PX_TRYLOCK ? -EAGAIN : -EDEADLK;
	r = boxfs_mem_lock(mem, o->mfd, how == PX_TRYLOCK ? BOXFS_MEM_TRY : 0);
	if (r == 0)
		g->holder = o;
	return r;
}

static const struct px_ops smd_ops = {
	.own = smd_own,
	.release = smd_release,
	.read = smd_read,
	.write = smd_write,
	.pread = smd_pread,
	.pwrite = smd_pwrite,
	.lseek = smd_lseek,
	.fstat = smd_fstat,
	.dirent = smd_dirent,
	.dirent_next = smd_dirent_skip,
	.rewind = smd_rewind,
	.ftruncate = smd_ftruncate,
	.fsync = smd_fsync,
	.fchmod = smd_fchmod,
	.futimens = smd_futimens,
	.mmap_fd = smd_mmap_fd,
	.lock = smd_lock,
};

/* Opens the mount's root (the flat directory of memfiles) or a memfile,
 * creating it when new. */
static int smd_open(struct px_mount *m, const char *abs, const char *rest, int flags,
		    struct px_obj **out)
{
	int err = -EIO;
	struct boxfs_mem *mem = mount_mem(m, &err);
	if (!mem)
		return err;
	bool dir = !*rest;
	if (dir && (flags & O_ACCMODE) != O_RDONLY && !(flags & O_PATH))
		return -EISDIR;
	if (!dir && strchr(rest, '/'))
		return -ENOENT;
	if (!dir && (flags & O_DIRECTORY))
		return -ENOTDIR;
	if (!dir && (flags & O_TRUNC))
		return -EINVAL;
	if (dir && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (!dir && (flags & O_CREAT) && (flags & O_EXCL)) {
		int64_t size = smd_size(mem, rest);
		if (size >= 0 || size != -ENOENT)
			return size >= 0 ? -EEXIST : (int)size;
	}
	struct px_obj *o = obj_new(&smd_ops, m, abs, flags);
	if (!o)
		return -ENOMEM;
	o->dir = dir;
	o->mfd = -1;
	if (!dir) {
		o->mfd = boxfs_mem_open(mem, rest);
		o->seg = o->mfd >= 0 ? seg_get(m, rest) : NULL;
		if (!o->seg) {
			int r = o->mfd < 0 ? o->mfd : -ENOMEM;
			if (o->mfd >= 0)
				boxfs_mem_close(mem, o->mfd);
			o->dir = true; /* nothing to release */
			obj_put(o);
			return r;
		}
	}
	*out = o;
	return 0;
}

/* ---- descriptors ---- */

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
	struct px_obj *o = NULL;
	int vmofd = -1;
	if (flags & O_CREAT)
		mode &= ~current_umask();
	if (m->proto == PX_9P)
		r = px9_open(m, abs, rest, flags, mode, &o);
	else if (m->proto == PX_SMD)
		r = smd_open(m, abs, rest, flags, &o);
	else
		r = rio_open(m, abs, rest, flags, mode, &o, &vmofd);
	if (r < 0)
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
		long r_ = o->ops->own(o);                                                          \
		if (r_ == 0) {                                                                     \
			__VA_ARGS__;                                                               \
		}                                                                                  \
		pthread_mutex_unlock(&o->mu);                                                      \
		obj_put(o);                                                                        \
		return r_;                                                                         \
	} while (0)

ssize_t boxfs_px_read(int fd, void *buf, size_t n)
{
	WITH_OBJ(fd, o, r_ = o->dir ? -EISDIR : o->ops->read(o, fd, buf, n));
}

ssize_t boxfs_px_write(int fd, const void *buf, size_t n)
{
	WITH_OBJ(fd, o, r_ = o->ops->write(o, buf, n));
}

ssize_t boxfs_px_pread(int fd, void *buf, size_t n, off_t off)
{
	WITH_OBJ(fd, o, r_ = o->dir ? -EISDIR : o->ops->pread(o, fd, buf, n, off));
}

ssize_t boxfs_px_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	WITH_OBJ(fd, o, r_ = o->ops->pwrite(o, buf, n, off));
}

off_t boxfs_px_lseek(int fd, off_t off, int whence)
{
	WITH_OBJ(fd, o, {
		if (o->vmo || !o->dir) {
			r_ = o->ops->lseek(o, fd, off, whence);
		} else if (off != 0 || whence != SEEK_SET) {
			r_ = -EINVAL;
		} else {
			o->dstate = 0;
			o->ops->rewind(o);
		}
	});
}

int boxfs_px_fstat(int fd, struct stat *st)
{
	WITH_OBJ(fd, o, r_ = o->ops->fstat(o, st));
}

int boxfs_px_ftruncate(int fd, off_t len)
{
	WITH_OBJ(fd, o, r_ = o->ops->ftruncate(o, len));
}

int boxfs_px_fsync(int fd)
{
	WITH_OBJ(fd, o, r_ = o->ops->fsync(o));
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
	case F_OFD_SETLKW: {
		/* whole-file locks of a memfile are its lock; the rest stay here */
		struct flock *fl = (struct flock *)arg;
		if (!o->ops->lock || fl->l_start != 0 || fl->l_len != 0)
			break;
		bool wait = cmd == F_SETLKW || cmd == F_OFD_SETLKW;
		pthread_mutex_lock(&o->mu);
		if ((r = o->ops->own(o)) == 0)
			r = o->ops->lock(o, fl->l_type == F_UNLCK ? PX_UNLOCK
					    : wait		  ? PX_LOCK
								  : PX_TRYLOCK);
		pthread_mutex_unlock(&o->mu);
		break;
	}
	default:
		r = -EINVAL;
	}
	obj_put(o);
	return r;
}

int boxfs_px_flock(int fd, int op)
{
	WITH_OBJ(fd, o, {
		if (o->ops->lock)
			r_ = o->ops->lock(o, (op & ~LOCK_NB) == LOCK_UN ? PX_UNLOCK
					     : (op & LOCK_NB)		? PX_TRYLOCK
									: PX_LOCK);
	});
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

ssize_t boxfs_px_getdents(int fd, void *buf, size_t n)
{
	WITH_OBJ(fd, o, {
		if (!o->dir) {
			r_ = -ENOTDIR;
		} else {
			size_t got = 0;
			for (;;) {
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
				struct px_dent de;
				int e = o->ops->dirent(o, &de);
				if (e < 0) {
					r_ = e;
					break;
				}
				if (e == 0) {
					o->dstate = 3;
					break;
				}
				k = put_dirent((uint8_t *)buf + got, n - got, de.name, de.len,
					       de.type, de.ino, 3);
				if (!k)
					break;
				got += k;
				o->ops->dirent_next(o);
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
		o->ops->rewind(o);
	});
}

/* ---- names ---- */

/* The absolute path of path from dirfd, its mount and the rest below it. */
static int locate(int dirfd, const char *path, char *abs, struct px_mount **m, const char **rest)
{
	int r = resolve(dirfd, path, abs, PATH_MAX);
	if (r < 0)
		return r;
	return (*m = match(abs, rest)) ? 0 : -EXDEV;
}

/* Runs fn on a transient channel of abs (opened with flags) on rio mount m. */
static int with_path(struct px_mount *m, const char *rest, int flags,
		     int (*fn)(int ch, void *arg, struct px_mount *m), void *arg)
{
	int root = mount_root(m);
	if (root < 0)
		return root;
	struct boxfs_rio_object ro;
	int r = boxfs_rio_open(root, rest, flags, 0, &ro);
	if (r < 0)
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
	char abs[PATH_MAX];
	struct px_mount *m;
	const char *rest;
	int r = locate(dirfd, path, abs, &m, &rest);
	if (r < 0)
		return r;
	if (m->proto == PX_RIO)
		return with_path(m, rest, O_PATH, stat_fn, st);
	if (m->proto == PX_SMD)
		return smd_stat(m, rest, st);
	struct boxfs_client *c = mount_client(m, &r);
	if (!c)
		return r;
	r = (flags & AT_SYMLINK_NOFOLLOW) ? boxfs_lstat(c, rest, st) : boxfs_stat(c, rest, st);
	if (r == 0)
		fix_stat(m, st);
	return r;
}

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
	struct px_mount *m;
	int r = locate(dirfd, path, abs, &m, &rest);
	if (r < 0)
		return r;
	if (!*rest)
		return -EEXIST;
	if (m->proto == PX_SMD)
		return -EPERM; /* memfiles are made by opening them */
	mode &= ~current_umask();
	if (m->proto == PX_9P) {
		struct boxfs_client *c = mount_client(m, &r);
		return c ? boxfs_mkdir(c, rest, mode) : r;
	}
	int root = mount_root(m);
	if (root < 0)
		return root;
	struct boxfs_rio_object ro;
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
	if (m->proto == PX_SMD)
		return -EPERM; /* a memfile lives while a client names it */
	if (m->proto == PX_9P) {
		struct boxfs_client *c = mount_client(m, &r);
		if (!c)
			return r;
		char full[PATH_MAX];
		snprintf(full, sizeof full, "%s%s%s", prest, *prest ? "/" : "", name);
		return (flags & AT_REMOVEDIR) ? boxfs_rmdir(c, full) : boxfs_unlink(c, full);
	}
	struct unlink_arg u = { name, flags & AT_REMOVEDIR ? AT_REMOVEDIR : 1 };
	return with_path(m, prest, O_RDONLY | O_DIRECTORY, unlink_fn, &u);
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
	if (nm->proto == PX_SMD)
		return -EPERM;
	if (nm->proto == PX_9P) {
		struct boxfs_client *c = mount_client(nm, &r);
		if (!c)
			return r;
		char ofull[PATH_MAX], nfull[PATH_MAX];
		snprintf(ofull, sizeof ofull, "%s%s%s", orest, *orest ? "/" : "", oname);
		snprintf(nfull, sizeof nfull, "%s%s%s", nrest, *nrest ? "/" : "", nname);
		return boxfs_rename(c, ofull, nfull);
	}
	int root = mount_root(nm);
	if (root < 0)
		return root;
	struct boxfs_rio_object nd;
	if ((r = boxfs_rio_open(root, nrest, O_RDONLY | O_DIRECTORY, 0, &nd)) < 0)
		return r;
	struct rename_arg a = { oname, nname, 0 };
	if ((r = boxfs_rio_token(nd.ch, &a.token)) == 0)
		r = with_path(om, orest, O_RDONLY | O_DIRECTORY, rename_fn, &a);
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
	char abs[PATH_MAX];
	struct px_mount *m;
	const char *rest;
	int r = locate(dirfd, path, abs, &m, &rest);
	if (r < 0)
		return r;
	if (m->proto == PX_SMD)
		return -EPERM;
	if (m->proto == PX_9P) {
		struct boxfs_client *c = mount_client(m, &r);
		return c ? boxfs_chmod(c, rest, mode & 07777) : r;
	}
	struct rio_setattr s = { .valid = RIO_SETATTR_MODE, .mode = mode & 07777 };
	return with_path(m, rest, O_PATH, setattr_fn, &s);
}

int boxfs_px_fchmod(int fd, mode_t mode)
{
	WITH_OBJ(fd, o, r_ = o->ops->fchmod(o, mode));
}

int boxfs_px_utimensat(int dirfd, const char *path, const struct timespec ts[2])
{
	struct rio_setattr s;
	if (!times_of(ts, &s))
		return boxfs_px_faccessat(dirfd, path, F_OK);
	char abs[PATH_MAX];
	struct px_mount *m;
	const char *rest;
	int r = locate(dirfd, path, abs, &m, &rest);
	if (r < 0)
		return r;
	if (m->proto == PX_SMD)
		return -EPERM;
	if (m->proto == PX_9P) {
		/* mtime only, as over rio */
		struct timespec t[2] = { { 0, UTIME_OMIT },
					 ts ? ts[1] : (struct timespec){ 0, UTIME_NOW } };
		struct boxfs_client *c = mount_client(m, &r);
		return c ? boxfs_utimens(c, rest, t) : r;
	}
	return with_path(m, rest, O_PATH, setattr_fn, &s);
}

int boxfs_px_futimens(int fd, const struct timespec ts[2])
{
	struct rio_setattr s;
	if (!times_of(ts, &s))
		return boxfs_px_isfd(fd) ? 0 : -EBADF;
	WITH_OBJ(fd, o, r_ = o->ops->futimens(o, ts));
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

/*
 * The object's own descriptor when it has one (a VMOFILE, a rio host file);
 * else (a RAM file, any 9P file) a private copy read into anonymous memory,
 * which a read-only MAP_SHARED map also gets; a writable shared map of
 * such a file is refused (ENODEV).
 */
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
	*err = -o->ops->own(o);
	int mfd = -1;
	if (!*err) {
		mfd = o->ops->mmap_fd(o, fd, len, prot, flags, off);
		if (mfd == -ENODEV && !shared_w) {
			/* no descriptor to give: a private copy */
			p = mmap(addr, len, prot | PROT_WRITE,
				 (flags & ~MAP_SHARED) | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p != MAP_FAILED) {
				ssize_t got = o->ops->pread(o, fd, p, len, off);
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
