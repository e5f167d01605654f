/*
 * hostfs.c — a host directory as a boxfs backend (boxfs/hostfs.h).
 *
 * Confinement. A node is an O_PATH descriptor of one host object; the export
 * root is the node made from the directory given. A name is only ever
 * resolved relative to its directory's descriptor, as one component, with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) and O_NOFOLLOW: a symbolic
 * link is served as a link and never followed by the server, ".." is answered
 * by the core at the export root and checked to stay inside everywhere else,
 * and a directory swapped for a symbolic link while a client walks it changes
 * nothing, since the walk goes on from the descriptor, not from a name.
 * Objects are opened for I/O by reopening their node's descriptor through
 * /proc/self/fd, after checking their type: device nodes, FIFOs and sockets
 * are never opened.
 *
 * Identity. Nodes are shared per (device, inode); a node's boxfs ino is the
 * host inode on the export's own device, and a number from a table for
 * objects on other devices (mounts inside the export), so inos never collide.
 * The version of a node is made from its change time and size.
 *
 * Users. When the server runs as root, every call first takes its caller's
 * identity on the calling thread (setfsuid, setfsgid and a raw setgroups,
 * which Linux keeps per thread); each worker thread remembers the identity it
 * holds, so consecutive calls by one user cost nothing. Otherwise the server
 * acts as itself.
 *
 * Trying inline. The export allows reads, writes, lookups and getattr to be
 * tried on the server's reading thread (BOXFS_FS_TRY_INLINE): such a call
 * uses only what cannot wait for a disk — the dentry cache
 * (RESOLVE_CACHED), the page cache (RWF_NOWAIT) — and answers
 * BOXFS_EWOULDWAIT otherwise, and so does every other operation, so the
 * core runs it again on a worker.
 *
 * Locking: fs->mu guards the node table and reference counts; an open
 * directory's position is guarded by its handle's own mutex. Everything else
 * is the kernel's.
 */
#include <boxfs/hostfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

/* A descriptor holding one lock owner's POSIX locks on a file, as
 * open-file-description locks, so that host processes see them. */
struct hlockfd {
	struct hlockfd *next;
	const void *owner;
	uint32_t proc_id;
	int fd;
};

struct hnode {
	unsigned refs;	       /* under fs->mu */
	unsigned nopen;	       /* open handles, under fs->mu */
	struct hlockfd *locks; /* under fs->mu; closed with the last handle */
	int fd;		       /* O_PATH | O_NOFOLLOW */
	dev_t dev;
	ino_t ino;
	uint32_t type; /* S_IFMT bits */
	uint64_t id;
};

struct hopen {
	int fd;
	pthread_mutex_t mu; /* directory listing state */
	uint64_t pos;	    /* the cookie the descriptor's position stands for */
	char *buf;	    /* getdents64 buffer, directories only */
};

/* A hash table keyed by (device, inode). */
struct dientry {
	struct dientry *next;
	dev_t dev;
	ino_t ino;
	void *val;
};

struct ditable {
	struct dientry **b;
	size_t nb, count; /* nb is a power of two, or 0 */
};

static size_t di_hash(const struct ditable *t, dev_t dev, ino_t ino)
{
	return (size_t)((((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ino) *
				0xbf58476d1ce4e5b9ull >>
			32) &
	       (t->nb - 1);
}

static struct dientry *di_find(const struct ditable *t, dev_t dev, ino_t ino)
{
	for (struct dientry *e = t->nb ? t->b[di_hash(t, dev, ino)] : NULL; e; e = e->next)
		if (e->dev == dev && e->ino == ino)
			return e;
	return NULL;
}

/* Adds (dev, ino) -> val; the key must be absent. 0 or -ENOMEM. */
static int di_add(struct ditable *t, dev_t dev, ino_t ino, void *val)
{
	if (t->count >= t->nb) {
		size_t nb = t->nb ? 2 * t->nb : 64;
		struct dientry **b = calloc(nb, sizeof *b);
		if (!b && !t->nb)
			return -ENOMEM;
		if (b) {
			struct ditable nt = { .b = b, .nb = nb, .count = t->count };
			for (size_t i = 0; i < t->nb; i++) {
				for (struct dientry *e = t->b[i], *next; e; e = next) {
					next = e->next;
					size_t k = di_hash(&nt, e->dev, e->ino);
					e->next = b[k];
					b[k] = e;
				}
			}
			free(t->b);
			*t = nt;
		}
	}
	struct dientry *e = malloc(sizeof *e);
	if (!e)
		return -ENOMEM;
	size_t k = di_hash(t, dev, ino);
	*e = (struct dientry){ .next = t->b[k], .dev = dev, .ino = ino, .val = val };
	t->b[k] = e;
	t->count++;
	return 0;
}

static void di_del(struct ditable *t, dev_t dev, ino_t ino)
{
	for (struct dientry **pp = t->nb ? &t->b[di_hash(t, dev, ino)] : NULL; pp && *pp;
	     pp = &(*pp)->next) {
		if ((*pp)->dev == dev && (*pp)->ino == ino) {
			struct dientry *e = *pp;
			*pp = e->next;
			free(e);
			t->count--;
			return;
		}
	}
}

/* Frees the table; each value goes to drop first, when given. */
static void di_clear(struct ditable *t, void (*drop)(void *val))
{
	for (size_t i = 0; i < t->nb; i++) {
		for (struct dientry *e = t->b[i], *next; e; e = next) {
			next = e->next;
			if (drop)
				drop(e->val);
			free(e);
		}
	}
	free(t->b);
	*t = (struct ditable){ 0 };
}

struct hostfs {
	pthread_mutex_t mu;
	struct ditable nodes; /* (dev, ino) -> struct hnode */
	struct ditable ids;   /* objects off the export's device: (dev, ino) -> id */
	uint64_t next_id;
	struct hnode *root;
	dev_t root_dev;
	bool ro, special, as_user, squash;
	atomic_bool no_nowait_writes; /* RWF_NOWAIT writes are not supported here */
	uint32_t squash_uid, squash_gid;
	const char *const *xprefix;
	mode_t umask;
};

static const char *const default_xattr_prefixes[] = { "user.", NULL };

/* ---- identity of the caller ---- */

struct ident {
	bool set;
	uint32_t uid, gid, ngroups;
	uint32_t groups[64];
};
static _Thread_local struct ident held;

/* Takes the call's identity on this thread when the server acts for users. */
static int become(struct hostfs *fs, struct boxfs_call *c)
{
	if (!fs->as_user)
		return 0;
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	struct ident want = { .set = true, .uid = cr->uid, .gid = cr->gid };
	if (fs->squash) {
		want.uid = fs->squash_uid;
		want.gid = fs->squash_gid;
	} else {
		want.ngroups = cr->ngroups < 64 ? cr->ngroups : 64;
		if (want.ngroups) /* groups may be NULL when there are none */
			memcpy(want.groups, cr->groups, want.ngroups * sizeof want.groups[0]);
	}
	if (held.set && held.uid == want.uid && held.gid == want.gid &&
	    held.ngroups == want.ngroups &&
	    memcmp(held.groups, want.groups, want.ngroups * sizeof want.groups[0]) == 0)
		return 0;
	gid_t g[64];
	for (uint32_t i = 0; i < want.ngroups; i++)
		g[i] = want.groups[i];
	/* the raw system calls: glibc's would change every thread */
	if (syscall(SYS_setgroups, (size_t)want.ngroups, g) < 0) {
		held.set = false;
		return -EPERM;
	}
	syscall(SYS_setfsgid, want.gid);
	syscall(SYS_setfsuid, want.uid);
	held = want;
	return 0;
}

/* The start of every change: a read-only export refuses it, else the call
 * takes its caller's identity. */
static int may_change(struct hostfs *fs, struct boxfs_call *c)
{
	return fs->ro ? -EROFS : become(fs, c);
}

/* ---- nodes ---- */

static uint64_t object_id(struct hostfs *fs, dev_t dev, ino_t ino)
{
	if (dev == fs->root_dev && ino > 0 && (uint64_t)ino < 1ull << 47)
		return ino;
	struct dientry *e = di_find(&fs->ids, dev, ino);
	if (e)
		return (uint64_t)(uintptr_t)e->val;
	uint64_t id = fs->next_id++;
	if (di_add(&fs->ids, dev, ino, (void *)(uintptr_t)id) < 0)
		return 1ull << 47; /* out of memory: shared, still nonzero */
	return id;
}

/* The node for descriptor fd (consumed): an existing one with one more
 * reference, or a new one. fs->mu held. */
static struct hnode *node_of(struct hostfs *fs, int fd, const struct stat *st)
{
	struct dientry *e = di_find(&fs->nodes, st->st_dev, st->st_ino);
	if (e) {
		struct hnode *n = e->val;
		n->refs++;
		close(fd);
		return n;
	}
	struct hnode *n = malloc(sizeof *n);
	if (!n || di_add(&fs->nodes, st->st_dev, st->st_ino, n) < 0) {
		free(n);
		close(fd);
		return NULL;
	}
	*n = (struct hnode){ .refs = 1,
			     .fd = fd,
			     .dev = st->st_dev,
			     .ino = st->st_ino,
			     .type = st->st_mode & S_IFMT };
	n->id = object_id(fs, st->st_dev, st->st_ino);
	return n;
}

/* Closes the lock descriptors of owner (all owners when NULL), which
 * releases their locks. fs->mu held. */
static void drop_locks(struct hnode *n, const void *owner)
{
	for (struct hlockfd **pp = &n->locks; *pp;) {
		struct hlockfd *l = *pp;
		if (owner && l->owner != owner) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		close(l->fd);
		free(l);
	}
}

static void node_free(void *val)
{
	struct hnode *n = val;
	drop_locks(n, NULL);
	close(n->fd);
	free(n);
}

static void node_put(struct hostfs *fs, struct hnode *n)
{
	pthread_mutex_lock(&fs->mu);
	if (--n->refs == 0) {
		di_del(&fs->nodes, n->dev, n->ino);
		node_free(n);
	}
	pthread_mutex_unlock(&fs->mu);
}

static void fill_attr(struct hostfs *fs, const struct hnode *n, const struct stat *st,
		      struct boxfs_attr *a)
{
	(void)fs;
	uint64_t v = (uint64_t)st->st_ctim.tv_sec * 1000000007ull ^
		     (uint64_t)st->st_ctim.tv_nsec * 31 ^ (uint64_t)st->st_size << 17;
	*a = (struct boxfs_attr){
		.ino = n->id,
		.version = v ? v : 1,
		.mode = st->st_mode,
		.uid = st->st_uid,
		.gid = st->st_gid,
		.nlink = st->st_nlink,
		.rdev = st->st_rdev,
		.size = (uint64_t)st->st_size,
		.blksize = (uint64_t)st->st_blksize,
		.blocks = (uint64_t)st->st_blocks,
		.atime = st->st_atim,
		.mtime = st->st_mtim,
		.ctime = st->st_ctim,
	};
}

static bool is_special(uint32_t type)
{
	return S_ISCHR(type) || S_ISBLK(type) || S_ISFIFO(type) || S_ISSOCK(type);
}

/* Makes a node of an O_PATH descriptor (consumed) and answers it like lookup. */
static int give_node(struct hostfs *fs, int fd, void **node, struct boxfs_attr *a)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (is_special(st.st_mode & S_IFMT) && !fs->special) {
		close(fd);
		return -ENOENT; /* not served without --allow-special */
	}
	pthread_mutex_lock(&fs->mu);
	struct hnode *n = node_of(fs, fd, &st);
	pthread_mutex_unlock(&fs->mu);
	if (!n)
		return -ENOMEM;
	*node = n;
	if (a)
		fill_attr(fs, n, &st, a);
	return 0;
}

/* The magic link that reopens a node's descriptor. */
static void proc_path(char buf[32], int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* An O_PATH descriptor of one name in dir, never following it; with cached,
 * only from the dentry cache (else BOXFS_EWOULDWAIT). */
static int open_beneath(int dirfd, const char *name, int extra, bool cached)
{
	struct open_how how = {
		.flags = (uint64_t)(O_PATH | O_NOFOLLOW | O_CLOEXEC | extra),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (cached ? RESOLVE_CACHED : 0),
	};
	int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof how);
	if (fd < 0 && cached && (errno == EAGAIN || errno == ENOSYS || errno == EINVAL))
		return BOXFS_EWOULDWAIT;
	if (fd < 0 && errno == ENOSYS) /* an old kernel: one component is safe anyway */
		fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | extra);
	return fd < 0 ? -errno : fd;
}

/* The answer of every operation that may wait, tried where it must not. */
#define MAY_WAIT(c)                                                                                \
	do {                                                                                       \
		if (boxfs_call_nowait(c))                                                          \
			return BOXFS_EWOULDWAIT;                                                   \
	} while (0)

/* True when the directory fd is the export root or inside it. */
static bool beneath_root(struct hostfs *fs, int fd)
{
	int cur = dup(fd);
	bool inside = false;
	for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
		struct stat st;
		if (fstat(cur, &st) < 0)
			break;
		if (st.st_dev == fs->root->dev && st.st_ino == fs->root->ino) {
			inside = true;
			break;
		}
		int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct stat ust;
		if (up < 0 || fstat(up, &ust) < 0 ||
		    (ust.st_dev == st.st_dev && ust.st_ino == st.st_ino)) {
			if (up >= 0)
				close(up);
			break; /* reached the host's root */
		}
		close(cur);
		cur = up;
	}
	if (cur >= 0)
		close(cur);
	return inside;
}

/* ---- the operations ---- */

static int h_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *a)
{
	(void)c;
	struct hostfs *fs = aux;
	struct stat st;
	if (fstat(fs->root->fd, &st) < 0)
		return -errno;
	pthread_mutex_lock(&fs->mu);
	fs->root->refs++;
	pthread_mutex_unlock(&fs->mu);
	*node = fs->root;
	fill_attr(fs, fs->root, &st, a);
	return 0;
}

static int h_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		    struct boxfs_attr *a)
{
	struct hostfs *fs = aux;
	struct hnode *d = dir;
	int r = become(fs, c);
	if (r < 0)
		return r;
	if (strcmp(name, "..") == 0) {
		if (d == fs->root)
			return h_root(aux, c, node, a);
		MAY_WAIT(c);
		int fd = openat(d->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (!beneath_root(fs, fd)) { /* moved out of the export by someone */
			close(fd);
			return -ENOENT;
		}
		return give_node(fs, fd, node, a);
	}
	int fd = open_beneath(d->fd, name, 0, boxfs_call_nowait(c));
	return fd < 0 ? fd : give_node(fs, fd, node, a);
}

static void h_forget(void *aux, void *node)
{
	node_put(aux, node);
}

static int h_getattr(void *aux, struct boxfs_call *c, void *node, void *fh, struct boxfs_attr *a)
{
	(void)c;
	struct hnode *n = node;
	struct hopen *o = fh;
	struct stat st;
	if (fstat(o ? o->fd : n->fd, &st) < 0)
		return -errno;
	fill_attr(aux, n, &st, a);
	return 0;
}

static int h_setattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		     const struct boxfs_setattr *sa, struct boxfs_attr *a)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	struct hnode *n = node;
	struct hopen *o = fh;
	int r = may_change(fs, c);
	if (r < 0)
		return r;
	char path[32];
	proc_path(path, n->fd);
	bool link = S_ISLNK(n->type);
	if ((sa->valid & BOXFS_SET_MODE) && (link ? -1 : chmod(path, sa->mode & 07777)) < 0)
		return link ? -EOPNOTSUPP : -errno;
	if (sa->valid & (BOXFS_SET_UID | BOXFS_SET_GID)) {
		uid_t uid = sa->valid & BOXFS_SET_UID ? sa->uid : (uid_t)-1;
		gid_t gid = sa->valid & BOXFS_SET_GID ? sa->gid : (gid_t)-1;
		if (fchownat(n->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
	}
	if (sa->valid & BOXFS_SET_SIZE) {
		if (!S_ISREG(n->type))
			return S_ISDIR(n->type) ? -EISDIR : -EINVAL;
		r = o && (fcntl(o->fd, F_GETFL) & O_ACCMODE) != O_RDONLY
			    ? ftruncate(o->fd, (off_t)sa->size)
			    : truncate(path, (off_t)sa->size);
		if (r < 0)
			return -errno;
	}
	if (sa->valid &
	    (BOXFS_SET_ATIME | BOXFS_SET_MTIME | BOXFS_SET_ATIME_NOW | BOXFS_SET_MTIME_NOW)) {
		struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
		if (sa->valid & BOXFS_SET_ATIME)
			ts[0] = sa->atime;
		if (sa->valid & BOXFS_SET_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		if (sa->valid & BOXFS_SET_MTIME)
			ts[1] = sa->mtime;
		if (sa->valid & BOXFS_SET_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		/* a symbolic link's own times, through its O_PATH descriptor */
		if (link && utimensat(n->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return errno == EINVAL ? -EOPNOTSUPP : -errno;
		if (!link && utimensat(AT_FDCWD, path, ts, 0) < 0)
			return -errno;
	}
	return h_getattr(aux, c, node, fh, a);
}

static struct hopen *new_open(int fd, bool dir)
{
	struct hopen *o = calloc(1, sizeof *o);
	if (o && dir && !(o->buf = malloc(32768))) {
		free(o);
		o = NULL;
	}
	if (!o) {
		close(fd);
		return NULL;
	}
	o->fd = fd;
	pthread_mutex_init(&o->mu, NULL);
	return o;
}

/* Open flags a client may pass on; the rest are the server's business. */
enum { PASS_FLAGS = O_ACCMODE | O_TRUNC | O_APPEND | O_SYNC | O_DSYNC | O_NOATIME };

static int h_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	struct hnode *n = node;
	if (is_special(n->type))
		return -EPERM; /* device nodes, FIFOs and sockets are never opened */
	if (S_ISLNK(n->type))
		return -ELOOP;
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	if (fs->ro && writes)
		return -EROFS;
	int r = become(fs, c);
	if (r < 0)
		return r;
	char path[32];
	proc_path(path, n->fd);
	bool dir = S_ISDIR(n->type);
	int fd = open(path,
		      (dir ? O_RDONLY | O_DIRECTORY : flags & PASS_FLAGS) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct hopen *o = new_open(fd, dir);
	if (!o)
		return -ENOMEM;
	pthread_mutex_lock(&fs->mu);
	n->nopen++;
	pthread_mutex_unlock(&fs->mu);
	*fh = o;
	return 0;
}

static void h_release(void *aux, void *node, void *fh)
{
	struct hostfs *fs = aux;
	struct hnode *n = node;
	struct hopen *o = fh;
	if (!o)
		return;
	pthread_mutex_lock(&fs->mu);
	if (--n->nopen == 0)
		drop_locks(n, NULL); /* the last close releases every lock, as POSIX does */
	pthread_mutex_unlock(&fs->mu);
	close(o->fd);
	pthread_mutex_destroy(&o->mu);
	free(o->buf);
	free(o);
}

/* Undoes the server's umask on something just made, so modes are as asked. */
static void fix_mode(struct hostfs *fs, int fd, uint32_t mode)
{
	if (!(mode & fs->umask))
		return;
	char path[32];
	proc_path(path, fd);
	chmod(path, mode & 07777);
}

static int h_create(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags,
		    uint32_t mode, void **node, struct boxfs_attr *a, void **fh)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	struct hnode *d = dir;
	int r = may_change(fs, c);
	if (r < 0)
		return r;
	/* Try to make it first, so we know whether the mode is ours to set. An
	 * existing name is opened only once it is known to be a regular file:
	 * opening a FIFO would block, opening a device would act on it. */
	int oflags = (flags & PASS_FLAGS) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	int fd = openat(d->fd, name, oflags | O_CREAT | O_EXCL, mode & 07777);
	bool made_it = fd >= 0;
	if (fd < 0 && errno == EEXIST && !(flags & O_EXCL)) {
		int pfd = open_beneath(d->fd, name, 0, false);
		struct stat pst;
		if (pfd < 0)
			return pfd;
		if (fstat(pfd, &pst) < 0 || !S_ISREG(pst.st_mode)) {
			close(pfd);
			return S_ISDIR(pst.st_mode) ? -EISDIR : -EEXIST;
		}
		char ppath[32];
		proc_path(ppath, pfd);
		fd = open(ppath, (oflags & ~O_NOFOLLOW) | O_NOCTTY);
		int e = errno;
		close(pfd);
		errno = e;
	}
	if (fd < 0)
		return -errno;
	struct stat st = { 0 };
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EEXIST;
	}
	if (made_it)
		fix_mode(fs, fd, mode);
	char path[32];
	proc_path(path, fd);
	int pfd = open(path, O_PATH | O_CLOEXEC); /* the same inode, for the node */
	if (pfd < 0 || (r = give_node(fs, pfd, node, a)) < 0) {
		r = pfd < 0 ? -errno : r;
		close(fd);
		return r;
	}
	if (!(*fh = new_open(fd, false))) {
		node_put(fs, *node);
		return -ENOMEM;
	}
	pthread_mutex_lock(&fs->mu);
	((struct hnode *)*node)->nopen++;
	pthread_mutex_unlock(&fs->mu);
	return 0;
}

static ssize_t h_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
		      size_t count, uint64_t off)
{
	(void)aux, (void)c, (void)node;
	struct hopen *o = fh;
	if (!o)
		return -EBADF;
	if (boxfs_call_nowait(c)) { /* only from the page cache, and all of it */
		struct iovec iov = { .iov_base = buf, .iov_len = count };
		ssize_t n = preadv2(o->fd, &iov, 1, (off_t)off, RWF_NOWAIT);
		struct stat st;
		if (n >= 0 && (size_t)n < count &&
		    (fstat(o->fd, &st) < 0 || (uint64_t)st.st_size > off + (uint64_t)n))
			return BOXFS_EWOULDWAIT;
		return n >= 0					? n
		       : errno == EAGAIN || errno == EOPNOTSUPP ? BOXFS_EWOULDWAIT
								: -errno;
	}
	ssize_t n = pread(o->fd, buf, count, (off_t)off);
	return n < 0 ? -errno : n;
}

static ssize_t h_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
		       size_t count, uint64_t off)
{
	(void)aux, (void)c, (void)node;
	struct hopen *o = fh;
	if (!o)
		return -EBADF;
	if (boxfs_call_nowait(c)) {
		struct hostfs *fs = aux;
		if (atomic_load(&fs->no_nowait_writes))
			return BOXFS_EWOULDWAIT;
		struct iovec iov = { .iov_base = (void *)buf, .iov_len = count };
		ssize_t n = pwritev2(o->fd, &iov, 1, (off_t)off, RWF_NOWAIT);
		if (n < 0 && errno == EOPNOTSUPP)
			atomic_store(&fs->no_nowait_writes, true); /* not worth trying again */
		return n >= 0					? n
		       : errno == EAGAIN || errno == EOPNOTSUPP ? BOXFS_EWOULDWAIT
								: -errno;
	}
	ssize_t n = pwrite(o->fd, buf, count, (off_t)off);
	return n < 0 ? -errno : n;
}

struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int h_readdir(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
		     boxfs_fill_fn fill, void *ctx)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	struct hnode *d = dir;
	struct hopen *o = fh;
	if (!o || !o->buf)
		return -EBADF;
	int r = become(fs, c);
	if (r < 0)
		return r;
	pthread_mutex_lock(&o->mu);
	if (cookie != o->pos && lseek(o->fd, (off_t)cookie, SEEK_SET) < 0) {
		r = -errno;
		goto out;
	}
	o->pos = cookie;
	for (;;) {
		long n = syscall(SYS_getdents64, o->fd, o->buf, 32768);
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		bool full = false;
		for (long at = 0; at < n && !full;) {
			struct linux_dirent64 *de = (struct linux_dirent64 *)(o->buf + at);
			at += de->d_reclen;
			uint32_t type = de->d_type;
			const char *name = de->d_name;
			bool dots = name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
			bool hide = (type == DT_CHR || type == DT_BLK || type == DT_FIFO ||
				     type == DT_SOCK) &&
				    !fs->special;
			if (!dots && !hide) {
				pthread_mutex_lock(&fs->mu);
				uint64_t id = object_id(fs, d->dev, de->d_ino);
				pthread_mutex_unlock(&fs->mu);
				if (fill(ctx, name, id, type, (uint64_t)de->d_off) == 1) {
					full = true;
					break;
				}
			}
			o->pos = (uint64_t)de->d_off;
		}
		if (full) {
			/* the descriptor read past what was taken: seek back next time */
			o->pos = UINT64_MAX;
			break;
		}
	}
out:
	pthread_mutex_unlock(&o->mu);
	return r;
}

/* Runs after each make: the new name as a node, checked to be what was made. */
static int made(struct hostfs *fs, struct hnode *d, const char *name, uint32_t type, uint32_t mode,
		void **node, struct boxfs_attr *a)
{
	int fd = open_beneath(d->fd, name, 0, false);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type) {
		close(fd);
		return -EAGAIN; /* replaced meanwhile by someone on the host */
	}
	if (type != S_IFLNK)
		fix_mode(fs, fd, mode);
	return give_node(fs, fd, node, a);
}

static int h_mkdir(void *aux, struct boxfs_call *c, void *dir, const char *name, uint32_t mode,
		   void **node, struct boxfs_attr *a)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	int r = may_change(fs, c);
	if (r == 0 && mkdirat(((struct hnode *)dir)->fd, name, mode & 07777) < 0)
		r = -errno;
	return r < 0 ? r : made(fs, dir, name, S_IFDIR, mode, node, a);
}

static int h_symlink(void *aux, struct boxfs_call *c, void *dir, const char *name,
		     const char *target, void **node, struct boxfs_attr *a)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	int r = may_change(fs, c);
	if (r == 0 && symlinkat(target, ((struct hnode *)dir)->fd, name) < 0)
		r = -errno;
	return r < 0 ? r : made(fs, dir, name, S_IFLNK, 0777, node, a);
}

static int h_mknod(void *aux, struct boxfs_call *c, void *dir, const char *name, uint32_t mode,
		   uint64_t rdev, void **node, struct boxfs_attr *a)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	uint32_t type = mode & S_IFMT ? mode & S_IFMT : S_IFREG;
	int r = may_change(fs, c);
	if (r == 0 && type != S_IFREG && (!fs->special || !is_special(type)))
		r = -EPERM; /* special files only with --allow-special */
	if (r == 0 && mknodat(((struct hnode *)dir)->fd, name, type | (mode & 07777), rdev) < 0)
		r = -errno;
	return r < 0 ? r : made(fs, dir, name, type, mode, node, a);
}

static int h_link(void *aux, struct boxfs_call *c, void *node, void *newdir, const char *newname)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	int r = may_change(fs, c);
	if (r < 0)
		return r;
	char path[32];
	proc_path(path, ((struct hnode *)node)->fd);
	if (linkat(AT_FDCWD, path, ((struct hnode *)newdir)->fd, newname, AT_SYMLINK_FOLLOW) < 0)
		return -errno;
	return 0;
}

static int h_unlink(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	int r = may_change(fs, c);
	if (r == 0 && unlinkat(((struct hnode *)dir)->fd, name, flags & AT_REMOVEDIR) < 0)
		r = -errno;
	return r;
}

static int h_rename(void *aux, struct boxfs_call *c, void *olddir, const char *oldname,
		    void *newdir, const char *newname, unsigned flags)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	int r = may_change(fs, c);
	if (r == 0 && renameat2(((struct hnode *)olddir)->fd, oldname, ((struct hnode *)newdir)->fd,
				newname, flags) < 0)
		r = -errno;
	return r;
}

static ssize_t h_readlink(void *aux, struct boxfs_call *c, void *node, char *buf, size_t cap)
{
	MAY_WAIT(c);
	int r = become(aux, c);
	if (r < 0)
		return r;
	ssize_t n = readlinkat(((struct hnode *)node)->fd, "", buf, cap);
	return n < 0 ? -errno : n;
}

static int h_fsync(void *aux, struct boxfs_call *c, void *node, void *fh, bool datasync)
{
	MAY_WAIT(c);
	(void)aux, (void)c;
	struct hopen *o = fh;
	int fd = o ? o->fd : -1;
	if (fd < 0) {
		char path[32];
		proc_path(path, ((struct hnode *)node)->fd);
		if (S_ISLNK(((struct hnode *)node)->type) ||
		    is_special(((struct hnode *)node)->type))
			return 0;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
			return -errno;
	}
	int r = (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	if (!o)
		close(fd);
	return r;
}

static int h_statfs(void *aux, struct boxfs_call *c, void *node, struct boxfs_statfs *st)
{
	MAY_WAIT(c);
	(void)aux, (void)c;
	struct statfs s;
	if (fstatfs(((struct hnode *)node)->fd, &s) < 0)
		return -errno;
	*st = (struct boxfs_statfs){
		.type = (uint32_t)s.f_type,
		.bsize = (uint32_t)s.f_bsize,
		.blocks = s.f_blocks,
		.bfree = s.f_bfree,
		.bavail = s.f_bavail,
		.files = s.f_files,
		.ffree = s.f_ffree,
		.fsid = (uint64_t)(uint32_t)s.f_fsid.__val[0] | (uint64_t)s.f_fsid.__val[1] << 32,
		.namelen = (uint32_t)s.f_namelen,
	};
	return 0;
}

/*
 * POSIX locks belong to an owner (the session and the client's process), not
 * to an open file: all of one owner's locks on a file live on one descriptor
 * of its own, as open-file-description locks, so that an owner's locks never
 * conflict with each other while host processes see and respect them.
 */
static int h_lock(void *aux, struct boxfs_call *c, void *node, void *fh, int cmd,
		  struct boxfs_lock *lk)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	struct hnode *n = node;
	if (!fh)
		return -EBADF;
	int r = become(fs, c);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->mu);
	struct hlockfd *l = n->locks;
	while (l && (l->owner != lk->owner || l->proc_id != lk->proc_id))
		l = l->next;
	if (!l && (lk->type != F_UNLCK || cmd == F_GETLK)) {
		char path[32];
		proc_path(path, n->fd);
		static const int modes[] = { O_RDWR, O_RDONLY, O_WRONLY };
		int fd = -1;
		for (size_t i = 0; i < 3 && fd < 0; i++)
			fd = open(path, modes[i] | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 || !(l = malloc(sizeof *l))) {
			r = fd < 0 ? -errno : -ENOMEM;
			if (fd >= 0)
				close(fd);
			pthread_mutex_unlock(&fs->mu);
			return r;
		}
		*l = (struct hlockfd){
			.next = n->locks, .owner = lk->owner, .proc_id = lk->proc_id, .fd = fd
		};
		n->locks = l;
	}
	struct flock fl = { .l_type = lk->type,
			    .l_whence = SEEK_SET,
			    .l_start = (off_t)lk->start,
			    .l_len = (off_t)lk->length };
	if (l && fcntl(l->fd, cmd == F_GETLK ? F_OFD_GETLK : F_OFD_SETLK, &fl) < 0)
		r = errno == EACCES ? -EAGAIN : -errno;
	pthread_mutex_unlock(&fs->mu);
	if (r == 0 && cmd == F_GETLK) {
		lk->type = fl.l_type;
		lk->start = (uint64_t)fl.l_start;
		lk->length = (uint64_t)fl.l_len;
		lk->proc_id = 0; /* open file description locks have no process */
	}
	return r;
}

static void drop_owner(struct ditable *t, const void *owner)
{
	for (size_t i = 0; i < t->nb; i++)
		for (struct dientry *e = t->b[i]; e; e = e->next)
			drop_locks(e->val, owner);
}

static void h_owner_gone(void *aux, const void *owner)
{
	struct hostfs *fs = aux;
	pthread_mutex_lock(&fs->mu);
	drop_owner(&fs->nodes, owner);
	pthread_mutex_unlock(&fs->mu);
}

/* True when name is in a namespace the export serves. */
static bool xattr_ok(struct hostfs *fs, const char *name)
{
	for (const char *const *p = fs->xprefix; *p; p++)
		if (strncmp(name, *p, strlen(*p)) == 0)
			return true;
	return false;
}

/*
 * The common start of the xattr calls: the name must be in a served
 * namespace, changes need a writable export, and the call takes its caller's
 * identity. Fills path with the node's magic link. 0 or -errno.
 */
static int xattr_start(struct hostfs *fs, struct boxfs_call *c, struct hnode *n, const char *name,
		       bool change, char path[32])
{
	if (name && !xattr_ok(fs, name))
		return -EOPNOTSUPP;
	if (change && fs->ro)
		return -EROFS;
	proc_path(path, n->fd);
	return become(fs, c);
}

static ssize_t h_getxattr(void *aux, struct boxfs_call *c, void *node, const char *name, void *buf,
			  size_t cap)
{
	MAY_WAIT(c);
	char path[32];
	int r = xattr_start(aux, c, node, name, false, path);
	if (r < 0)
		return r;
	ssize_t n = getxattr(path, name, buf, cap);
	return n < 0 ? -errno : n;
}

static int h_setxattr(void *aux, struct boxfs_call *c, void *node, const char *name,
		      const void *value, size_t size, int flags)
{
	MAY_WAIT(c);
	char path[32];
	int r = xattr_start(aux, c, node, name, true, path);
	if (r < 0)
		return r;
	return setxattr(path, name, value, size, flags) < 0 ? -errno : 0;
}

static ssize_t h_listxattr(void *aux, struct boxfs_call *c, void *node, char *buf, size_t cap)
{
	MAY_WAIT(c);
	struct hostfs *fs = aux;
	char path[32];
	int r = xattr_start(fs, c, node, NULL, false, path);
	if (r < 0)
		return r;
	ssize_t n = listxattr(path, NULL, 0);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	char *all = malloc((size_t)n);
	if (!all)
		return -ENOMEM;
	n = listxattr(path, all, (size_t)n);
	ssize_t out = n < 0 ? -errno : 0;
	for (ssize_t at = 0; n > 0 && at < n; at += (ssize_t)strlen(all + at) + 1) {
		size_t len = strlen(all + at) + 1;
		if (!xattr_ok(fs, all + at))
			continue;
		if (cap && (size_t)out + len > cap) {
			out = -ERANGE;
			break;
		}
		if (cap)
			memcpy(buf + out, all + at, len);
		out += (ssize_t)len;
	}
	free(all);
	return out;
}

static int h_removexattr(void *aux, struct boxfs_call *c, void *node, const char *name)
{
	MAY_WAIT(c);
	char path[32];
	int r = xattr_start(aux, c, node, name, true, path);
	if (r < 0)
		return r;
	return removexattr(path, name) < 0 ? -errno : 0;
}

static int h_export_fd(void *aux, struct boxfs_call *c, void *node, void *fh, int flags)
{
	MAY_WAIT(c);
	(void)aux, (void)c, (void)node, (void)flags;
	struct hopen *o = fh;
	if (!o)
		return -EBADF;
	int fd = fcntl(o->fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

static void h_destroy(void *aux)
{
	struct hostfs *fs = aux;
	di_clear(&fs->nodes, node_free);
	di_clear(&fs->ids, NULL);
	pthread_mutex_destroy(&fs->mu);
	free(fs);
}

static const struct boxfs_fs_ops host_ops = {
	.root = h_root,
	.lookup = h_lookup,
	.forget = h_forget,
	.getattr = h_getattr,
	.setattr = h_setattr,
	.open = h_open,
	.create = h_create,
	.read = h_read,
	.write = h_write,
	.readdir = h_readdir,
	.mkdir = h_mkdir,
	.symlink = h_symlink,
	.mknod = h_mknod,
	.link = h_link,
	.unlink = h_unlink,
	.rename = h_rename,
	.readlink = h_readlink,
	.fsync = h_fsync,
	.statfs = h_statfs,
	.lock = h_lock,
	.owner_gone = h_owner_gone,
	.getxattr = h_getxattr,
	.setxattr = h_setxattr,
	.listxattr = h_listxattr,
	.removexattr = h_removexattr,
	.release = h_release,
	.export_fd = h_export_fd,
	.destroy = h_destroy,
};

struct boxfs_fs *boxfs_hostfs_new(const struct boxfs_hostfs_opts *o)
{
	if (!o || !o->root) {
		errno = EINVAL;
		return NULL;
	}
	int fd = open(o->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	struct hostfs *fs = calloc(1, sizeof *fs);
	struct boxfs_fs *bfs = malloc(sizeof *bfs);
	if (!fs || !bfs || fstat(fd, &st) < 0) {
		int e = errno ? errno : ENOMEM;
		free(fs);
		free(bfs);
		close(fd);
		errno = e;
		return NULL;
	}
	pthread_mutex_init(&fs->mu, NULL);
	fs->root_dev = st.st_dev;
	fs->next_id = (1ull << 47) + 1;
	fs->ro = o->readonly;
	fs->special = o->allow_special;
	fs->squash = o->squash;
	fs->squash_uid = o->squash_uid;
	fs->squash_gid = o->squash_gid;
	fs->as_user = geteuid() == 0;
	fs->xprefix = o->xattr_prefixes ? o->xattr_prefixes : default_xattr_prefixes;
	fs->umask = umask(0);
	umask(fs->umask);
	pthread_mutex_lock(&fs->mu);
	fs->root = node_of(fs, fd, &st);
	pthread_mutex_unlock(&fs->mu);
	if (!fs->root) {
		h_destroy(fs);
		free(bfs);
		errno = ENOMEM;
		return NULL;
	}
	/* Every node holds a descriptor: allow as many as the system lets us. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	*bfs = (struct boxfs_fs){ .ops = &host_ops,
				  .aux = fs,
				  .flags = BOXFS_FS_OWN_LOCKS | BOXFS_FS_TRY_INLINE,
				  .name = "host" };
	return bfs;
}
