/*
 * srvfs.c — the discovery registry, mounted at /srv: one regular file per
 * served name, holding an address (at most 1 KiB of text).
 *
 * discovery.serve (through the idl door) adds a name served by the calling
 * connection's task; a 9P client may create a file and write an address
 * into it (served by task 0). discovery.lookup answers at once when the name
 * is there, else queues a waiter that serve or create wakes. Names served by
 * a connection go when it does. One mutex guards everything; no operation
 * waits, so the instance is BOXFS_FS_INLINE.
 */
#include "fs/svc/svc_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

enum { ADDR_MAX = 1024, K_ROOT = 1, K_ENTRY = 2 };

struct entry {
	struct entry *next;
	char name[256];
	char addr[ADDR_MAX];
	size_t len;
	int32_t task;
	uint64_t ino, version;
	uint32_t uid;
	struct timespec mtime;
};

struct srvfs {
	pthread_mutex_t mu;
	struct entry *entries;
	struct srv_waiter *waiters;
	uint64_t next_ino;
	struct timespec born;
};

static const struct boxfs_fs_ops srv_ops;

bool srvfs_is(const struct boxfs_fs *fs)
{
	return fs->ops == &srv_ops;
}

struct srvfs *srvfs_of(struct boxfs_fs *fs)
{
	return fs->aux;
}

static struct entry *find(struct srvfs *s, const char *name)
{
	for (struct entry *e = s->entries; e; e = e->next)
		if (strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static struct entry *find_ino(struct srvfs *s, uint64_t ino)
{
	for (struct entry *e = s->entries; e; e = e->next)
		if (e->ino == ino)
			return e;
	return NULL;
}

/* Answers the waiters for e's name. Under mu. */
static void wake(struct srvfs *s, const struct entry *e)
{
	struct srv_waiter **pp = &s->waiters;
	while (*pp) {
		struct srv_waiter *w = *pp;
		if (strcmp(w->name, e->name) == 0) {
			*pp = w->next;
			w->queued = false;
			w->fn(w->ctx, e->task);
		} else {
			pp = &w->next;
		}
	}
}

static struct entry *add(struct srvfs *s, const char *name, int32_t task, uint32_t uid, int *err)
{
	if (!svc_name_ok(name, strlen(name))) {
		*err = -EINVAL;
		return NULL;
	}
	if (find(s, name)) {
		*err = -EEXIST;
		return NULL;
	}
	struct entry *e = calloc(1, sizeof *e);
	if (!e) {
		*err = -ENOMEM;
		return NULL;
	}
	strcpy(e->name, name);
	e->task = task;
	e->uid = uid;
	e->ino = ++s->next_ino;
	e->version = 1;
	clock_gettime(CLOCK_REALTIME, &e->mtime);
	e->next = s->entries;
	s->entries = e;
	return e;
}

int srvfs_serve(struct srvfs *s, const char *name, int32_t task, const char *addr, uint32_t uid)
{
	int err = 0;
	pthread_mutex_lock(&s->mu);
	struct entry *e = add(s, name, task, uid, &err);
	if (e) {
		size_t n = strlen(addr);
		e->len = n < ADDR_MAX ? n : ADDR_MAX;
		memcpy(e->addr, addr, e->len);
		wake(s, e);
	}
	pthread_mutex_unlock(&s->mu);
	return err;
}

int srvfs_lookup(struct srvfs *s, struct srv_waiter *w, int32_t *task)
{
	if (!svc_name_ok(w->name, strlen(w->name)))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	struct entry *e = find(s, w->name);
	if (e) {
		*task = e->task;
	} else {
		w->queued = true;
		w->next = s->waiters;
		s->waiters = w;
	}
	pthread_mutex_unlock(&s->mu);
	return e ? 0 : 1;
}

void srvfs_cancel(struct srvfs *s, struct srv_waiter *w)
{
	pthread_mutex_lock(&s->mu);
	for (struct srv_waiter **pp = &s->waiters; w->queued && *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			w->queued = false;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

void srvfs_withdraw(struct srvfs *s, int32_t task)
{
	pthread_mutex_lock(&s->mu);
	struct entry **pp = &s->entries;
	while (*pp) {
		struct entry *e = *pp;
		if (e->task == task && task != 0) {
			*pp = e->next;
			free(e);
		} else {
			pp = &e->next;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- the file tree ---- */

static void attr_of(struct srvfs *s, const struct entry *e, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	if (!e) {
		a->ino = 1;
		a->mode = S_IFDIR | 01777;
		a->nlink = 2;
		a->version = 1;
		a->atime = a->mtime = a->ctime = a->btime = s->born;
	} else {
		a->ino = e->ino + 1;
		a->mode = S_IFREG | 0644;
		a->uid = e->uid;
		a->gid = e->uid;
		a->nlink = 1;
		a->size = e->len;
		a->version = e->version;
		a->atime = a->mtime = a->ctime = a->btime = e->mtime;
	}
	a->blksize = 4096;
	a->blocks = (a->size + 511) / 512;
}

static int srv_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr)
{
	(void)c;
	struct svc_node *n = svc_node_new(K_ROOT, 0, NULL);
	if (!n)
		return -ENOMEM;
	attr_of(aux, NULL, attr);
	*node = n;
	return 0;
}

static int srv_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		      struct boxfs_attr *attr)
{
	struct srvfs *s = aux;
	if (((struct svc_node *)dir)->kind != K_ROOT)
		return -ENOTDIR;
	if (strcmp(name, "..") == 0)
		return srv_root(aux, c, node, attr);
	pthread_mutex_lock(&s->mu);
	struct entry *e = find(s, name);
	struct svc_node *n = e ? svc_node_new(K_ENTRY, (int64_t)e->ino, NULL) : NULL;
	if (n)
		attr_of(s, e, attr);
	pthread_mutex_unlock(&s->mu);
	if (!n)
		return e ? -ENOMEM : -ENOENT;
	*node = n;
	return 0;
}

static void srv_forget(void *aux, void *node)
{
	(void)aux;
	free(node);
}

/* The entry behind an entry node, under mu; NULL when removed. */
static struct entry *entry_of(struct srvfs *s, void *node)
{
	struct svc_node *n = node;
	return n->kind == K_ENTRY ? find_ino(s, (uint64_t)n->id) : NULL;
}

static int srv_getattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		       struct boxfs_attr *attr)
{
	(void)c, (void)fh;
	struct srvfs *s = aux;
	int r = 0;
	pthread_mutex_lock(&s->mu);
	if (((struct svc_node *)node)->kind == K_ROOT) {
		attr_of(s, NULL, attr);
	} else {
		struct entry *e = entry_of(s, node);
		if (e)
			attr_of(s, e, attr);
		else
			r = -ENOENT;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static bool may_change(const struct boxfs_call *c, const struct entry *e)
{
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	return cr->uid == 0 || cr->uid == e->uid;
}

static int srv_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	(void)fh;
	struct srvfs *s = aux;
	if (((struct svc_node *)node)->kind == K_ROOT)
		return (flags & O_ACCMODE) == O_RDONLY ? 0 : -EISDIR;
	int r = 0;
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_of(s, node);
	if (!e)
		r = -ENOENT;
	else if ((flags & O_ACCMODE) != O_RDONLY && !may_change(c, e))
		r = -EACCES;
	else if (flags & O_TRUNC) {
		e->len = 0;
		e->version++;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int srv_create(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags,
		      uint32_t mode, void **node, struct boxfs_attr *attr, void **fh)
{
	(void)dir, (void)mode, (void)fh;
	struct srvfs *s = aux;
	int err = 0;
	pthread_mutex_lock(&s->mu);
	struct entry *e = find(s, name);
	if (e && (flags & O_EXCL))
		err = -EEXIST;
	else if (!e && (e = add(s, name, 0, boxfs_call_cred(c)->uid, &err)))
		wake(s, e);
	struct svc_node *n = e && !err ? svc_node_new(K_ENTRY, (int64_t)e->ino, NULL) : NULL;
	if (n)
		attr_of(s, e, attr);
	else if (!err)
		err = -ENOMEM;
	pthread_mutex_unlock(&s->mu);
	if (err)
		return err;
	*node = n;
	return 0;
}

static ssize_t srv_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
			size_t count, uint64_t off)
{
	(void)c, (void)fh;
	struct srvfs *s = aux;
	if (((struct svc_node *)node)->kind == K_ROOT)
		return -EISDIR;
	ssize_t r;
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_of(s, node);
	if (!e) {
		r = -ENOENT;
	} else if (off >= e->len) {
		r = 0;
	} else {
		size_t n = e->len - off < count ? e->len - off : count;
		memcpy(buf, e->addr + off, n);
		r = (ssize_t)n;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static ssize_t srv_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
			 size_t count, uint64_t off)
{
	(void)fh;
	struct srvfs *s = aux;
	if (((struct svc_node *)node)->kind == K_ROOT)
		return -EISDIR;
	ssize_t r;
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_of(s, node);
	if (!e) {
		r = -ENOENT;
	} else if (!may_change(c, e)) {
		r = -EACCES;
	} else if (off > ADDR_MAX || count > ADDR_MAX - off) {
		r = -EFBIG;
	} else {
		if (off > e->len)
			memset(e->addr + e->len, 0, off - e->len);
		memcpy(e->addr + off, buf, count);
		if (off + count > e->len)
			e->len = off + count;
		e->version++;
		clock_gettime(CLOCK_REALTIME, &e->mtime);
		r = (ssize_t)count;
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int srv_setattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		       const struct boxfs_setattr *sa, struct boxfs_attr *attr)
{
	(void)fh;
	struct srvfs *s = aux;
	int r = 0;
	pthread_mutex_lock(&s->mu);
	struct entry *e = entry_of(s, node);
	if (!e)
		r = ((struct svc_node *)node)->kind == K_ROOT ? -EPERM : -ENOENT;
	else if (sa->valid &
		 ~(unsigned)(BOXFS_SET_SIZE | BOXFS_SET_ATIME | BOXFS_SET_MTIME |
			     BOXFS_SET_ATIME_NOW | BOXFS_SET_MTIME_NOW | BOXFS_SET_CTIME))
		r = -EPERM;
	else if (!may_change(c, e))
		r = -EACCES;
	else if ((sa->valid & BOXFS_SET_SIZE) && sa->size > ADDR_MAX)
		r = -EFBIG;
	else {
		if (sa->valid & BOXFS_SET_SIZE) {
			if (sa->size > e->len)
				memset(e->addr + e->len, 0, sa->size - e->len);
			e->len = sa->size;
		}
		e->version++;
		attr_of(s, e, attr);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int srv_readdir(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
		       boxfs_fill_fn fill, void *ctx)
{
	(void)c, (void)fh;
	struct srvfs *s = aux;
	if (((struct svc_node *)dir)->kind != K_ROOT)
		return -ENOTDIR;
	pthread_mutex_lock(&s->mu);
	/* cookies are inos: entries are listed newest first, inos falling */
	for (struct entry *e = s->entries; e; e = e->next) {
		if (cookie && e->ino >= cookie)
			continue;
		if (fill(ctx, e->name, e->ino + 1, DT_REG, e->ino) != 0)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int srv_unlink(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags)
{
	(void)dir;
	struct srvfs *s = aux;
	if (flags & AT_REMOVEDIR)
		return -ENOTDIR;
	int r = 0;
	pthread_mutex_lock(&s->mu);
	struct entry **pp = &s->entries;
	while (*pp && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	if (!*pp) {
		r = -ENOENT;
	} else if (!may_change(c, *pp)) {
		r = -EACCES;
	} else {
		struct entry *e = *pp;
		*pp = e->next;
		free(e);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void srv_destroy(void *aux)
{
	struct srvfs *s = aux;
	while (s->entries) {
		struct entry *e = s->entries;
		s->entries = e->next;
		free(e);
	}
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static const struct boxfs_fs_ops srv_ops = {
	.root = srv_root,
	.lookup = srv_lookup,
	.forget = srv_forget,
	.getattr = srv_getattr,
	.setattr = srv_setattr,
	.open = srv_open,
	.create = srv_create,
	.read = srv_read,
	.write = srv_write,
	.readdir = srv_readdir,
	.unlink = srv_unlink,
	.destroy = srv_destroy,
};

struct boxfs_fs *boxfs_srvfs_new(void)
{
	struct srvfs *s = calloc(1, sizeof *s);
	struct boxfs_fs *fs = calloc(1, sizeof *fs);
	if (!s || !fs) {
		free(s);
		free(fs);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&s->mu, NULL);
	clock_gettime(CLOCK_REALTIME, &s->born);
	*fs = (struct boxfs_fs){
		.ops = &srv_ops, .aux = s, .flags = BOXFS_FS_INLINE, .name = "srv"
	};
	return fs;
}
