/*
 * memfs.c — the memfile server: named whole-file locks with optional
 * segments (boxfs/memfs.h), for the smdish door (memfs_impl.h) and for 9P.
 *
 * Locking. The store's mutex guards the name table, the list of memfiles
 * and every reference count; each memfile's mutex guards its lock state,
 * its waiters and its segment. The store's mutex may be held while taking a
 * memfile's, never the other way round.
 *
 * A segment is a sealed memfd mapped shared in the server: the master copy.
 * Ship-mode clients copy it out on lock and back on unlock; shared-mode
 * clients map the same memfd and change it in place while they hold the
 * lock. The seals (no shrinking, no growing) keep a client from truncating
 * the memory under the server.
 */
#include <boxfs/memfs.h>

#include "fs/mem/memfs_impl.h"

#include <boxfs/smdish.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { NBUCKETS = 1024, ROOT_INO = 1, NAME_MAX_LEN = 255 };

struct memfile {
	struct mf_store *st;
	struct memfile *next, *prev; /* the store's list, in ino order */
	struct memfile *hnext;	     /* the name table's chain */
	unsigned refs;		     /* under st->mu */
	uint64_t ino;
	size_t namelen;
	char name[NAME_MAX_LEN + 1];

	pthread_mutex_t mu;
	bool locked;
	struct mf_owner holder;
	struct mf_waiter *wq, **wq_tail;
	int memfd;
	uint8_t *seg;
	uint32_t size;
	uint64_t version;
	struct timespec atime, mtime, ctime;
};

struct mf_store {
	pthread_mutex_t mu;
	struct memfile *head, *tail;
	struct memfile *table[NBUCKETS];
	unsigned nfiles, max_files;
	uint32_t max_segment;
	uint64_t next_ino;
	uint32_t uid, gid;
	struct timespec btime;
	struct boxfs_fs *fs;
};

static const struct boxfs_fs_ops memfs_ops;

bool mf_is_memfs(const struct boxfs_fs *fs)
{
	return fs->ops == &memfs_ops;
}

struct mf_store *mf_store_of(const struct boxfs_fs *fs)
{
	return mf_is_memfs(fs) ? fs->aux : NULL;
}

uint32_t mf_max_segment(const struct mf_store *st)
{
	return st->max_segment;
}

static unsigned bucket(const char *name, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	return h % NBUCKETS;
}

static bool same_owner(const struct mf_owner *a, const struct mf_owner *b)
{
	return a->session == b->session && a->proc == b->proc;
}

static struct timespec now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

/* ---- memfiles ---- */

int mf_open(struct mf_store *st, const char *name, size_t len, struct memfile **out)
{
	if (len > NAME_MAX_LEN)
		return -ENAMETOOLONG;
	if (len == 0 || memchr(name, '/', len) || memchr(name, '\0', len))
		return -EINVAL;
	unsigned b = bucket(name, len);
	pthread_mutex_lock(&st->mu);
	struct memfile *m = st->table[b];
	while (m && (m->namelen != len || memcmp(m->name, name, len) != 0))
		m = m->hnext;
	if (m) {
		m->refs++;
		pthread_mutex_unlock(&st->mu);
		*out = m;
		return 0;
	}
	if (st->nfiles >= st->max_files || !(m = calloc(1, sizeof *m))) {
		int r = st->nfiles >= st->max_files ? -EMFILE : -ENOMEM;
		pthread_mutex_unlock(&st->mu);
		return r;
	}
	m->st = st;
	m->refs = 1;
	m->ino = st->next_ino++;
	m->namelen = len;
	memcpy(m->name, name, len);
	pthread_mutex_init(&m->mu, NULL);
	m->wq_tail = &m->wq;
	m->memfd = -1;
	m->version = 1;
	m->atime = m->mtime = m->ctime = now();
	m->hnext = st->table[b];
	st->table[b] = m;
	m->prev = st->tail;
	if (st->tail)
		st->tail->next = m;
	else
		st->head = m;
	st->tail = m;
	st->nfiles++;
	pthread_mutex_unlock(&st->mu);
	*out = m;
	return 0;
}

void mf_ref(struct memfile *m)
{
	pthread_mutex_lock(&m->st->mu);
	m->refs++;
	pthread_mutex_unlock(&m->st->mu);
}

static void destroy(struct memfile *m)
{
	if (m->seg)
		munmap(m->seg, m->size);
	if (m->memfd >= 0)
		close(m->memfd);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

void mf_put(struct memfile *m)
{
	struct mf_store *st = m->st;
	pthread_mutex_lock(&st->mu);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&st->mu);
		return;
	}
	struct memfile **pp = &st->table[bucket(m->name, m->namelen)];
	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	if (m->prev)
		m->prev->next = m->next;
	else
		st->head = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		st->tail = m->prev;
	st->nfiles--;
	pthread_mutex_unlock(&st->mu);
	destroy(m);
}

/* ---- segments ---- */

int mf_map(struct memfile *m, uint32_t size)
{
	if (size == 0 || size > m->st->max_segment)
		return -EINVAL;
	int r = 0;
	pthread_mutex_lock(&m->mu);
	if (m->seg) {
		r = m->size == size ? 0 : -EINVAL;
		goto out;
	}
	int fd = memfd_create("boxfs-memfile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		r = -ENOMEM;
		goto fail;
	}
	m->memfd = fd;
	m->seg = p;
	m->size = size;
	m->version++;
	m->mtime = m->ctime = now();
	goto out;
fail:
	if (fd >= 0)
		close(fd);
out:
	pthread_mutex_unlock(&m->mu);
	return r;
}

int mf_segment_fd(struct memfile *m)
{
	pthread_mutex_lock(&m->mu);
	int fd = m->seg ? fcntl(m->memfd, F_DUPFD_CLOEXEC, 0) : -1;
	int r = m->seg ? (fd < 0 ? -errno : fd) : -EINVAL;
	pthread_mutex_unlock(&m->mu);
	return r;
}

/* ---- the lock ---- */

int mf_lock(struct memfile *m, const struct mf_owner *o, mf_send_fn send, void *ctx,
	    struct mf_waiter *w)
{
	pthread_mutex_lock(&m->mu);
	if (!m->locked || same_owner(&m->holder, o)) {
		m->locked = true;
		m->holder = *o;
		if (send)
			send(ctx, m->seg, m->size);
		pthread_mutex_unlock(&m->mu);
		return 0;
	}
	if (!w) {
		pthread_mutex_unlock(&m->mu);
		return -EAGAIN;
	}
	*w = (struct mf_waiter){ .owner = *o, .send = send, .ctx = ctx };
	*m->wq_tail = w;
	m->wq_tail = &w->next;
	pthread_mutex_unlock(&m->mu);
	return 1;
}

bool mf_cancel(struct memfile *m, struct mf_waiter *w)
{
	pthread_mutex_lock(&m->mu);
	struct mf_waiter **pp = &m->wq;
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	bool queued = *pp == w;
	if (queued) {
		*pp = w->next;
		if (m->wq_tail == &w->next)
			m->wq_tail = pp;
	}
	pthread_mutex_unlock(&m->mu);
	return queued;
}

/* Frees the lock, or hands it to the first waiter. Under m->mu. */
static void release_locked(struct memfile *m)
{
	struct mf_waiter *w = m->wq;
	if (!w) {
		m->locked = false;
		return;
	}
	m->wq = w->next;
	if (!m->wq)
		m->wq_tail = &m->wq;
	m->holder = w->owner;
	if (w->send)
		w->send(w->ctx, m->seg, m->size); /* w may be gone after this */
}

int mf_unlock(struct memfile *m, const struct mf_owner *o, bool has_data, const void *data,
	      size_t len)
{
	int r = 0;
	pthread_mutex_lock(&m->mu);
	if (!m->locked || !same_owner(&m->holder, o) || (has_data && (!m->seg || len != m->size))) {
		r = -EINVAL;
	} else {
		if (has_data) {
			memcpy(m->seg, data, len);
			m->version++;
			m->mtime = m->ctime = now();
		}
		release_locked(m);
	}
	pthread_mutex_unlock(&m->mu);
	return r;
}

void mf_release(struct memfile *m, const struct mf_owner *o)
{
	pthread_mutex_lock(&m->mu);
	if (m->locked && same_owner(&m->holder, o))
		release_locked(m);
	pthread_mutex_unlock(&m->mu);
}

/* ---- listing ---- */

size_t mf_list_size(struct mf_store *st)
{
	pthread_mutex_lock(&st->mu);
	size_t n = 0;
	for (struct memfile *m = st->head; m; m = m->next)
		n += 12 + m->namelen;
	pthread_mutex_unlock(&st->mu);
	return n;
}

size_t mf_list(struct mf_store *st, void *buf, size_t cap)
{
	size_t len = 0;
	pthread_mutex_lock(&st->mu);
	for (struct memfile *m = st->head; m; m = m->next) {
		pthread_mutex_lock(&m->mu);
		struct smd_list_ent e = {
			.name = { .p = (const uint8_t *)m->name, .len = (uint32_t)m->namelen },
			.seg_size = m->size,
			.flags = m->locked ? SMD_LIST_LOCKED : 0,
		};
		pthread_mutex_unlock(&m->mu);
		if (smd_list_put(buf, cap, &len, &e) < 0)
			break;
	}
	pthread_mutex_unlock(&st->mu);
	return len;
}

/* ---- the file-server contract ---- */

/* The root directory is the store itself; every other node a memfile. */
static bool is_root(const struct mf_store *st, const void *node)
{
	return node == st;
}

static void root_attr(const struct mf_store *st, struct boxfs_attr *a)
{
	*a = (struct boxfs_attr){
		.ino = ROOT_INO,
		.version = 1,
		.mode = S_IFDIR | 0755,
		.uid = st->uid,
		.gid = st->gid,
		.nlink = 2,
		.blksize = 4096,
		.atime = st->btime,
		.mtime = st->btime,
		.ctime = st->btime,
		.btime = st->btime,
	};
}

/* Under m->mu. */
static void file_attr(const struct memfile *m, struct boxfs_attr *a)
{
	*a = (struct boxfs_attr){
		.ino = m->ino,
		.version = m->version,
		.mode = S_IFREG | 0666,
		.uid = m->st->uid,
		.gid = m->st->gid,
		.nlink = 1,
		.size = m->size,
		.blksize = 4096,
		.blocks = ((uint64_t)m->size + 511) / 512,
		.atime = m->atime,
		.mtime = m->mtime,
		.ctime = m->ctime,
		.btime = m->ctime,
	};
}

static void attr_of(struct mf_store *st, void *node, struct boxfs_attr *a)
{
	if (is_root(st, node)) {
		root_attr(st, a);
		return;
	}
	struct memfile *m = node;
	pthread_mutex_lock(&m->mu);
	file_attr(m, a);
	pthread_mutex_unlock(&m->mu);
}

static int mem_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr)
{
	(void)c;
	*node = aux;
	root_attr(aux, attr);
	return 0;
}

static int mem_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		      struct boxfs_attr *attr)
{
	(void)c;
	struct mf_store *st = aux;
	if (!is_root(st, dir))
		return -ENOTDIR;
	if (strcmp(name, "..") == 0)
		return mem_root(aux, c, node, attr);
	size_t len = strlen(name);
	pthread_mutex_lock(&st->mu);
	struct memfile *m = st->table[bucket(name, len)];
	while (m && (m->namelen != len || memcmp(m->name, name, len) != 0))
		m = m->hnext;
	if (m)
		m->refs++;
	pthread_mutex_unlock(&st->mu);
	if (!m)
		return -ENOENT;
	*node = m;
	attr_of(st, m, attr);
	return 0;
}

static void mem_forget(void *aux, void *node)
{
	if (!is_root(aux, node))
		mf_put(node);
}

static int mem_getattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		       struct boxfs_attr *attr)
{
	(void)c, (void)fh;
	attr_of(aux, node, attr);
	return 0;
}

static int mem_setattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		       const struct boxfs_setattr *sa, struct boxfs_attr *attr)
{
	(void)c, (void)fh;
	if (sa->valid & (BOXFS_SET_MODE | BOXFS_SET_UID | BOXFS_SET_GID))
		return -EPERM;
	if (is_root(aux, node)) {
		if (sa->valid & BOXFS_SET_SIZE)
			return -EISDIR;
		attr_of(aux, node, attr); /* the root's times stay as they are */
		return 0;
	}
	struct memfile *m = node;
	int r = 0;
	pthread_mutex_lock(&m->mu);
	if ((sa->valid & BOXFS_SET_SIZE) && sa->size != m->size) {
		r = -EINVAL; /* a segment never changes size */
		goto out;
	}
	struct timespec t = now();
	if (sa->valid & BOXFS_SET_ATIME)
		m->atime = sa->atime;
	if (sa->valid & BOXFS_SET_MTIME)
		m->mtime = sa->mtime;
	if (sa->valid & BOXFS_SET_ATIME_NOW)
		m->atime = t;
	if (sa->valid & BOXFS_SET_MTIME_NOW)
		m->mtime = t;
	m->ctime = t;
	m->version++;
	file_attr(m, attr);
out:
	pthread_mutex_unlock(&m->mu);
	return r;
}

static int mem_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	(void)c;
	*fh = NULL;
	if (is_root(aux, node))
		return (flags & O_ACCMODE) == O_RDONLY ? 0 : -EISDIR;
	return flags & O_TRUNC ? -EINVAL : 0;
}

static ssize_t mem_read_direct(void *aux, struct boxfs_call *c, void *node, void *fh, size_t count,
			       uint64_t off, boxfs_give_fn give, void *ctx)
{
	(void)c, (void)fh;
	if (is_root(aux, node))
		return -EISDIR;
	struct memfile *m = node;
	pthread_mutex_lock(&m->mu);
	size_t n = off < m->size ? m->size - off : 0;
	if (n > count)
		n = count;
	ssize_t r = give(ctx, n ? m->seg + off : NULL, n);
	pthread_mutex_unlock(&m->mu);
	return r;
}

static ssize_t copy_out(void *ctx, const void *data, size_t n)
{
	if (n)
		memcpy(ctx, data, n);
	return (ssize_t)n;
}

static ssize_t mem_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
			size_t count, uint64_t off)
{
	return mem_read_direct(aux, c, node, fh, count, off, copy_out, buf);
}

static ssize_t mem_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
			 size_t count, uint64_t off)
{
	(void)c, (void)fh;
	if (is_root(aux, node))
		return -EISDIR;
	struct memfile *m = node;
	pthread_mutex_lock(&m->mu);
	ssize_t r = -EFBIG; /* writes stay inside the segment */
	if (count == 0) {
		r = 0;
	} else if (off < m->size) {
		size_t n = m->size - off < count ? m->size - off : count;
		memcpy(m->seg + off, buf, n);
		m->mtime = m->ctime = now();
		m->version++;
		r = (ssize_t)n;
	}
	pthread_mutex_unlock(&m->mu);
	return r;
}

static int mem_readdir(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
		       boxfs_fill_fn fill, void *ctx)
{
	(void)c, (void)fh;
	struct mf_store *st = aux;
	if (!is_root(st, dir))
		return -ENOTDIR;
	pthread_mutex_lock(&st->mu);
	for (struct memfile *m = st->head; m; m = m->next) {
		if (m->ino <= cookie)
			continue; /* the list is in ino order, and inos only grow */
		char name[NAME_MAX_LEN + 1];
		memcpy(name, m->name, m->namelen);
		name[m->namelen] = '\0';
		if (fill(ctx, name, m->ino, DT_REG, m->ino) != 0)
			break;
	}
	pthread_mutex_unlock(&st->mu);
	return 0;
}

static int mem_statfs(void *aux, struct boxfs_call *c, void *node, struct boxfs_statfs *sf)
{
	(void)c, (void)node;
	struct mf_store *st = aux;
	pthread_mutex_lock(&st->mu);
	*sf = (struct boxfs_statfs){ .type = 0x01021994 /* TMPFS_MAGIC */,
				     .bsize = 4096,
				     .files = st->max_files,
				     .ffree = st->max_files - st->nfiles,
				     .namelen = NAME_MAX_LEN };
	pthread_mutex_unlock(&st->mu);
	return 0;
}

/* A 9P2000.L lock of any range is the memfile's whole lock. */
static int mem_lock(void *aux, struct boxfs_call *c, void *node, void *fh, int cmd,
		    struct boxfs_lock *lk)
{
	(void)c, (void)fh;
	if (is_root(aux, node))
		return -EISDIR;
	struct memfile *m = node;
	struct mf_owner o = { .session = lk->owner, .proc = lk->proc_id };
	if (cmd == F_GETLK) {
		pthread_mutex_lock(&m->mu);
		if (m->locked && !same_owner(&m->holder, &o)) {
			lk->type = F_WRLCK;
			lk->start = 0;
			lk->length = 0;
			lk->proc_id = m->holder.proc;
		} else {
			lk->type = F_UNLCK;
		}
		pthread_mutex_unlock(&m->mu);
		return 0;
	}
	if (lk->type == F_UNLCK) {
		mf_release(m, &o);
		return 0;
	}
	return mf_lock(m, &o, NULL, NULL, NULL);
}

static void mem_owner_gone(void *aux, const void *owner)
{
	struct mf_store *st = aux;
	pthread_mutex_lock(&st->mu);
	for (struct memfile *m = st->head; m; m = m->next) {
		pthread_mutex_lock(&m->mu);
		if (m->locked && m->holder.session == owner)
			release_locked(m);
		pthread_mutex_unlock(&m->mu);
	}
	pthread_mutex_unlock(&st->mu);
}

static int mem_export_fd(void *aux, struct boxfs_call *c, void *node, void *fh, int flags)
{
	(void)c, (void)fh, (void)flags;
	return is_root(aux, node) ? -EISDIR : mf_segment_fd(node);
}

static void mem_destroy(void *aux)
{
	struct mf_store *st = aux;
	/* Every reference is gone by now (connections, records, vnodes). */
	for (struct memfile *m = st->head, *next; m; m = next) {
		next = m->next;
		destroy(m);
	}
	pthread_mutex_destroy(&st->mu);
	free(st);
}

static const struct boxfs_fs_ops memfs_ops = {
	.root = mem_root,
	.lookup = mem_lookup,
	.forget = mem_forget,
	.getattr = mem_getattr,
	.setattr = mem_setattr,
	.open = mem_open,
	.read = mem_read,
	.read_direct = mem_read_direct,
	.write = mem_write,
	.readdir = mem_readdir,
	.statfs = mem_statfs,
	.lock = mem_lock,
	.owner_gone = mem_owner_gone,
	.export_fd = mem_export_fd,
	.destroy = mem_destroy,
};

struct boxfs_fs *boxfs_memfs_new(const struct boxfs_memfs_opts *opts)
{
	struct boxfs_fs *fs = malloc(sizeof *fs);
	struct mf_store *st = calloc(1, sizeof *st);
	if (!fs || !st) {
		free(fs);
		free(st);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&st->mu, NULL);
	st->max_segment = opts && opts->max_segment ? opts->max_segment : 64u << 20;
	st->max_files = opts && opts->max_files ? opts->max_files : 65536;
	st->next_ino = ROOT_INO + 1;
	st->uid = geteuid();
	st->gid = getegid();
	st->btime = now();
	*fs = (struct boxfs_fs){ .ops = &memfs_ops,
				 .aux = st,
				 .flags = BOXFS_FS_INLINE | BOXFS_FS_OWN_LOCKS,
				 .name = "mem" };
	return fs;
}
