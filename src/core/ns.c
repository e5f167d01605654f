/*
 * ns.c — the namespace: the mount table, vnodes, walking, qid identities,
 * and the backend-call wrappers that supply the contract's defaults.
 *
 * Mounts are added while the server is set up and never removed while it
 * runs, so readers walk the table without a lock (the count is published
 * with release/acquire). Identities: a qid path is the mount's id in the top
 * 16 bits and the backend's ino below, when the ino fits in 48 bits; larger
 * inos get numbers handed out from a table, so qid paths stay unique.
 */
#include "core/ns_impl.h"
#include "core/call_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_MOUNTS = 256 };

struct bigino {
	uint64_t key_ino;
	uint16_t key_mnt;
	uint64_t path;
};

struct bx_ns {
	struct bx_mount *mounts[MAX_MOUNTS];
	atomic_uint nmounts;
	pthread_mutex_t mu; /* mount changes and the big-ino table */
	struct bigino *big;
	size_t nbig, capbig;
	uint64_t next_big;
};

static const struct boxfs_cred root_cred = { 0 };

struct bx_ns *bx_ns_new(void)
{
	struct bx_ns *ns = calloc(1, sizeof *ns);
	if (!ns)
		return NULL;
	pthread_mutex_init(&ns->mu, NULL);
	ns->next_big = 1;
	return ns;
}

void bx_ns_free(struct bx_ns *ns)
{
	if (!ns)
		return;
	unsigned n = atomic_load(&ns->nmounts);
	for (unsigned i = n; i-- > 0;)
		bx_vnode_put(&ns->mounts[i]->root);
	for (unsigned i = n; i-- > 0;) {
		struct bx_mount *m = ns->mounts[i];
		boxfs_fs_free(m->fs);
		pthread_mutex_destroy(&m->serial);
		free(m->path);
		free(m);
	}
	free(ns->big);
	pthread_mutex_destroy(&ns->mu);
	free(ns);
}

/* ---- calling backends ---- */

static void enter(struct bx_mount *m)
{
	if (m->fs->flags & BOXFS_FS_SERIAL)
		pthread_mutex_lock(&m->serial);
}

static void leave(struct bx_mount *m)
{
	if (m->fs->flags & BOXFS_FS_SERIAL)
		pthread_mutex_unlock(&m->serial);
}

#define OPS(v) ((v)->mnt->fs->ops)
#define AUX(v) ((v)->mnt->fs->aux)

/* Calls op on v's instance when the backend has it, else evaluates dflt. */
#define FS_CALL(v, op, dflt, ...)                                                                  \
	do {                                                                                       \
		if (!OPS(v)->op)                                                                   \
			return (dflt);                                                             \
		enter((v)->mnt);                                                                   \
		__typeof__(OPS(v)->op(AUX(v), __VA_ARGS__)) r_ = OPS(v)->op(AUX(v), __VA_ARGS__);  \
		leave((v)->mnt);                                                                   \
		return r_;                                                                         \
	} while (0)

struct bx_vnode *bx_vnode_new(struct bx_mount *m, void *node, const struct boxfs_attr *attr)
{
	struct bx_vnode *v = malloc(sizeof *v);
	if (!v) {
		if (m->fs->ops->forget)
			m->fs->ops->forget(m->fs->aux, node);
		return NULL;
	}
	atomic_init(&v->ref, 1);
	v->mnt = m;
	v->node = node;
	v->ino = attr->ino;
	v->mode = attr->mode & S_IFMT;
	return v;
}

void bx_vnode_put(struct bx_vnode **vp)
{
	struct bx_vnode *v = *vp;
	*vp = NULL;
	if (!v || atomic_fetch_sub_explicit(&v->ref, 1, memory_order_acq_rel) != 1)
		return;
	if (OPS(v)->forget) {
		enter(v->mnt);
		OPS(v)->forget(AUX(v), v->node);
		leave(v->mnt);
	}
	free(v);
}

/* Wraps a node a backend answered in a vnode, when r says it answered one;
 * answers r, or -ENOMEM. (Call the backend first: the node is read after.) */
static int wrap(struct bx_mount *m, int r, void *node, const struct boxfs_attr *a,
		struct bx_vnode **out)
{
	if (r < 0)
		return r;
	*out = bx_vnode_new(m, node, a);
	return *out ? 0 : -ENOMEM;
}

int bx_fs_getattr(struct boxfs_call *c, struct bx_vnode *v, void *fh, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	FS_CALL(v, getattr, -ENOSYS, c, v->node, fh, a);
}

int bx_fs_setattr(struct boxfs_call *c, struct bx_vnode *v, void *fh,
		  const struct boxfs_setattr *sa, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	FS_CALL(v, setattr, -EROFS, c, v->node, fh, sa, a);
}

int bx_fs_open(struct boxfs_call *c, struct bx_vnode *v, int flags, void **fh)
{
	*fh = NULL;
	FS_CALL(v, open, 0, c, v->node, flags, fh);
}

static int fs_create(struct boxfs_call *c, struct bx_vnode *dir, const char *name, int flags,
		     uint32_t mode, void **node, struct boxfs_attr *a, void **fh)
{
	FS_CALL(dir, create, -EROFS, c, dir->node, name, flags, mode, node, a, fh);
}

int bx_fs_create(struct boxfs_call *c, struct bx_vnode *dir, const char *name, int flags,
		 uint32_t mode, struct bx_vnode **out, struct boxfs_attr *a, void **fh)
{
	void *node = NULL;
	*fh = NULL;
	memset(a, 0, sizeof *a);
	int r = fs_create(c, dir, name, flags, mode, &node, a, fh);
	r = wrap(dir->mnt, r, node, a, out);
	if (r == -ENOMEM && OPS(dir)->release)
		OPS(dir)->release(AUX(dir), node, *fh);
	return r;
}

/* A deferred answer (BOXFS_EDEFERRED) reaches only a caller that keeps
 * deferred calls (c->on_done); for the others the core settles it here. */
static ssize_t io_result(struct boxfs_call *c, ssize_t r)
{
	return r == BOXFS_EDEFERRED && !c->on_done ? bx_call_settle(c) : r;
}

ssize_t bx_fs_read(struct boxfs_call *c, struct bx_vnode *v, void *fh, void *buf, size_t n,
		   uint64_t off)
{
	if (!OPS(v)->read)
		return -EINVAL;
	enter(v->mnt);
	ssize_t r = OPS(v)->read(AUX(v), c, v->node, fh, buf, n, off);
	leave(v->mnt);
	return io_result(c, r);
}

ssize_t bx_fs_read_direct(struct boxfs_call *c, struct bx_vnode *v, void *fh, size_t n,
			  uint64_t off, boxfs_give_fn give, void *ctx)
{
	FS_CALL(v, read_direct, -EOPNOTSUPP, c, v->node, fh, n, off, give, ctx);
}

ssize_t bx_fs_write(struct boxfs_call *c, struct bx_vnode *v, void *fh, const void *buf, size_t n,
		    uint64_t off)
{
	if (!OPS(v)->write)
		return -EROFS;
	enter(v->mnt);
	ssize_t r = OPS(v)->write(AUX(v), c, v->node, fh, buf, n, off);
	leave(v->mnt);
	return io_result(c, r);
}

int bx_fs_readdir(struct boxfs_call *c, struct bx_vnode *v, void *fh, uint64_t cookie,
		  boxfs_fill_fn fill, void *ctx)
{
	FS_CALL(v, readdir, -ENOTDIR, c, v->node, fh, cookie, fill, ctx);
}

static int fs_mkdir(struct boxfs_call *c, struct bx_vnode *dir, const char *name, uint32_t mode,
		    void **node, struct boxfs_attr *a)
{
	FS_CALL(dir, mkdir, -EROFS, c, dir->node, name, mode, node, a);
}

int bx_fs_mkdir(struct boxfs_call *c, struct bx_vnode *dir, const char *name, uint32_t mode,
		struct bx_vnode **out, struct boxfs_attr *a)
{
	void *node = NULL;
	memset(a, 0, sizeof *a);
	int r = fs_mkdir(c, dir, name, mode, &node, a);
	return wrap(dir->mnt, r, node, a, out);
}

static int fs_symlink(struct boxfs_call *c, struct bx_vnode *dir, const char *name,
		      const char *target, void **node, struct boxfs_attr *a)
{
	FS_CALL(dir, symlink, -EROFS, c, dir->node, name, target, node, a);
}

int bx_fs_symlink(struct boxfs_call *c, struct bx_vnode *dir, const char *name, const char *target,
		  struct bx_vnode **out, struct boxfs_attr *a)
{
	void *node = NULL;
	memset(a, 0, sizeof *a);
	int r = fs_symlink(c, dir, name, target, &node, a);
	return wrap(dir->mnt, r, node, a, out);
}

static int fs_mknod(struct boxfs_call *c, struct bx_vnode *dir, const char *name, uint32_t mode,
		    uint64_t rdev, void **node, struct boxfs_attr *a)
{
	FS_CALL(dir, mknod, -EROFS, c, dir->node, name, mode, rdev, node, a);
}

int bx_fs_mknod(struct boxfs_call *c, struct bx_vnode *dir, const char *name, uint32_t mode,
		uint64_t rdev, struct bx_vnode **out, struct boxfs_attr *a)
{
	void *node = NULL;
	memset(a, 0, sizeof *a);
	int r = fs_mknod(c, dir, name, mode, rdev, &node, a);
	return wrap(dir->mnt, r, node, a, out);
}

int bx_fs_link(struct boxfs_call *c, struct bx_vnode *v, struct bx_vnode *dir, const char *name)
{
	if (v->mnt != dir->mnt)
		return -EXDEV;
	FS_CALL(v, link, -EROFS, c, v->node, dir->node, name);
}

int bx_fs_unlink(struct boxfs_call *c, struct bx_vnode *dir, const char *name, int flags)
{
	FS_CALL(dir, unlink, -EROFS, c, dir->node, name, flags);
}

int bx_fs_rename(struct boxfs_call *c, struct bx_vnode *odir, const char *oname,
		 struct bx_vnode *ndir, const char *nname, unsigned flags)
{
	if (odir->mnt != ndir->mnt)
		return -EXDEV;
	FS_CALL(odir, rename, -EROFS, c, odir->node, oname, ndir->node, nname, flags);
}

ssize_t bx_fs_readlink(struct boxfs_call *c, struct bx_vnode *v, char *buf, size_t cap)
{
	FS_CALL(v, readlink, -EINVAL, c, v->node, buf, cap);
}

int bx_fs_fsync(struct boxfs_call *c, struct bx_vnode *v, void *fh, bool datasync)
{
	FS_CALL(v, fsync, 0, c, v->node, fh, datasync);
}

int bx_fs_export_fd(struct boxfs_call *c, struct bx_vnode *v, void *fh, int flags)
{
	FS_CALL(v, export_fd, -EOPNOTSUPP, c, v->node, fh, flags);
}

int bx_fs_statfs(struct boxfs_call *c, struct bx_vnode *v, struct boxfs_statfs *st)
{
	memset(st, 0, sizeof *st);
	st->bsize = 4096;
	st->namelen = 255;
	FS_CALL(v, statfs, 0, c, v->node, st);
}

ssize_t bx_fs_getxattr(struct boxfs_call *c, struct bx_vnode *v, const char *name, void *buf,
		       size_t cap)
{
	FS_CALL(v, getxattr, -EOPNOTSUPP, c, v->node, name, buf, cap);
}

int bx_fs_setxattr(struct boxfs_call *c, struct bx_vnode *v, const char *name, const void *val,
		   size_t size, int flags)
{
	FS_CALL(v, setxattr, -EOPNOTSUPP, c, v->node, name, val, size, flags);
}

ssize_t bx_fs_listxattr(struct boxfs_call *c, struct bx_vnode *v, char *buf, size_t cap)
{
	FS_CALL(v, listxattr, -EOPNOTSUPP, c, v->node, buf, cap);
}

int bx_fs_removexattr(struct boxfs_call *c, struct bx_vnode *v, const char *name)
{
	FS_CALL(v, removexattr, -EOPNOTSUPP, c, v->node, name);
}

int bx_fs_lock(struct boxfs_call *c, struct bx_vnode *v, void *fh, int cmd, struct boxfs_lock *lk)
{
	FS_CALL(v, lock, -ENOLCK, c, v->node, fh, cmd, lk);
}

void bx_fs_release(struct bx_vnode *v, void *fh)
{
	if (!OPS(v)->release)
		return;
	enter(v->mnt);
	OPS(v)->release(AUX(v), v->node, fh);
	leave(v->mnt);
}

static int fs_lookup(struct boxfs_call *c, struct bx_vnode *dir, const char *name, void **node,
		     struct boxfs_attr *a)
{
	FS_CALL(dir, lookup, -ENOENT, c, dir->node, name, node, a);
}

/* ---- walking ---- */

struct bx_vnode *bx_ns_root(struct bx_ns *ns)
{
	return bx_vnode_get(ns->mounts[0]->root);
}

static bool is_mount_root(const struct bx_vnode *v)
{
	return v->ino == v->mnt->root->ino;
}

struct bx_vnode *bx_ns_covering(struct bx_ns *ns, struct bx_mount *m, uint64_t ino)
{
	unsigned n = atomic_load_explicit(&ns->nmounts, memory_order_acquire);
	for (unsigned i = 1; i < n; i++) {
		struct bx_mount *sub = ns->mounts[i];
		if (sub->parent == m && sub->covered_ino == ino)
			return bx_vnode_get(sub->root);
	}
	return NULL;
}

int bx_ns_walk(struct bx_ns *ns, struct boxfs_call *c, struct bx_vnode *dir, const char *name,
	       struct bx_vnode **out, struct boxfs_attr *attr)
{
	struct boxfs_attr scratch;
	if (!attr)
		attr = &scratch;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (strcmp(name, ".") == 0) {
		*out = bx_vnode_get(dir);
		int r = bx_fs_getattr(c, dir, NULL, attr);
		if (r < 0)
			bx_vnode_put(out);
		return r;
	}
	if (strcmp(name, "..") == 0 && is_mount_root(dir)) {
		if (!dir->mnt->parent) { /* the namespace root is its own parent */
			*out = bx_vnode_get(dir);
			return bx_fs_getattr(c, *out, NULL, attr);
		}
		/* Leave the mount: its mount point's parent, walked from the root. */
		char parent[4096];
		const char *p = dir->mnt->path;
		const char *slash = strrchr(p, '/');
		size_t n = slash && slash != p ? (size_t)(slash - p) : 1;
		if (n >= sizeof parent)
			return -ENAMETOOLONG;
		memcpy(parent, p, n);
		parent[n] = '\0';
		int r = bx_ns_walk_path(ns, c, parent, out);
		if (r == 0 && (r = bx_fs_getattr(c, *out, NULL, attr)) < 0)
			bx_vnode_put(out);
		return r;
	}
	void *node = NULL;
	memset(attr, 0, sizeof *attr);
	int r = fs_lookup(c, dir, name, &node, attr);
	if (r < 0)
		return r;
	struct bx_vnode *v = bx_vnode_new(dir->mnt, node, attr);
	if (!v)
		return -ENOMEM;
	if (strcmp(name, "..") != 0) {
		struct bx_vnode *cover = bx_ns_covering(ns, v->mnt, v->ino);
		if (cover) {
			bx_vnode_put(&v);
			v = cover;
			bx_fs_getattr(c, v, NULL, attr);
		}
	}
	*out = v;
	return 0;
}

/* Walks path from the root; with create, makes missing directories. */
static int walk_path(struct bx_ns *ns, struct boxfs_call *c, const char *path, bool create,
		     struct bx_vnode **out)
{
	struct bx_vnode *v = bx_ns_root(ns);
	char name[256];
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, "/");
		if (n >= sizeof name) {
			bx_vnode_put(&v);
			return -ENAMETOOLONG;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		p += n;
		struct bx_vnode *next;
		struct boxfs_attr a;
		int r = bx_ns_walk(ns, c, v, name, &next, &a);
		if (r == -ENOENT && create)
			r = bx_fs_mkdir(c, v, name, 0755, &next, &a);
		bx_vnode_put(&v);
		if (r < 0)
			return r;
		v = next;
	}
	*out = v;
	return 0;
}

int bx_ns_walk_path(struct bx_ns *ns, struct boxfs_call *c, const char *path, struct bx_vnode **out)
{
	return walk_path(ns, c, path, false, out);
}

/* ---- mounting ---- */

int bx_ns_mount(struct bx_ns *ns, const char *path, struct boxfs_fs *fs)
{
	struct boxfs_call call;
	bx_call_init(&call, &root_cred);
	int r = -ENOMEM;
	struct bx_mount *m = calloc(1, sizeof *m);
	pthread_mutex_lock(&ns->mu);
	unsigned n = atomic_load(&ns->nmounts);
	bool root = strcmp(path, "/") == 0;
	if (!m || !(m->path = strdup(path)))
		goto fail;
	r = -EBUSY;
	if (n >= MAX_MOUNTS || root != (n == 0))
		goto fail;
	r = -EINVAL;
	if (path[0] != '/' || !fs->ops->root || !fs->ops->getattr)
		goto fail;
	m->fs = fs;
	m->id = (uint16_t)n;
	pthread_mutex_init(&m->serial, NULL);
	if (!root) {
		struct bx_vnode *at;
		r = walk_path(ns, &call, path, true, &at);
		if (r < 0)
			goto fail_mutex;
		r = S_ISDIR(at->mode) && !is_mount_root(at) ? 0 : -EBUSY;
		m->parent = at->mnt;
		m->covered_ino = at->ino;
		bx_vnode_put(&at);
		if (r < 0)
			goto fail_mutex;
	}
	void *node = NULL;
	struct boxfs_attr a = { 0 };
	r = fs->ops->root(fs->aux, &call, &node, &a);
	if (r < 0)
		goto fail_mutex;
	r = -ENOMEM;
	if (!(m->root = bx_vnode_new(m, node, &a)))
		goto fail_mutex;
	ns->mounts[n] = m;
	atomic_store_explicit(&ns->nmounts, n + 1, memory_order_release);
	pthread_mutex_unlock(&ns->mu);
	bx_call_destroy(&call);
	return 0;

fail_mutex:
	pthread_mutex_destroy(&m->serial);
fail:
	pthread_mutex_unlock(&ns->mu);
	bx_call_destroy(&call);
	boxfs_fs_free(fs);
	if (m)
		free(m->path);
	free(m);
	return r;
}

void bx_ns_owner_gone(struct bx_ns *ns, const void *owner)
{
	unsigned n = atomic_load_explicit(&ns->nmounts, memory_order_acquire);
	for (unsigned i = 0; i < n; i++) {
		struct bx_mount *m = ns->mounts[i];
		if (m->fs->ops->owner_gone) {
			enter(m);
			m->fs->ops->owner_gone(m->fs->aux, owner);
			leave(m);
		}
	}
}

bool bx_ns_all_flags(struct bx_ns *ns, unsigned any_of)
{
	unsigned n = atomic_load_explicit(&ns->nmounts, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (!(ns->mounts[i]->fs->flags & any_of))
			return false;
	return true;
}

struct bx_mount *bx_ns_find(struct bx_ns *ns, bool (*match)(const struct boxfs_fs *fs))
{
	unsigned n = atomic_load_explicit(&ns->nmounts, memory_order_acquire);
	for (unsigned i = 0; i < n; i++)
		if (match(ns->mounts[i]->fs))
			return ns->mounts[i];
	return NULL;
}

/* ---- identities ---- */

/*
 * Inos of 48 bits or more are rare (no common Linux file system hands them
 * out); they get numbers from a small table searched linearly.
 */
uint64_t bx_ns_qid_path(struct bx_ns *ns, const struct bx_mount *m, uint64_t ino)
{
	if (ino >> 48 == 0 && m->id < 0xffff)
		return (uint64_t)m->id << 48 | ino;
	pthread_mutex_lock(&ns->mu);
	uint64_t path = 0;
	for (size_t i = 0; i < ns->nbig && !path; i++)
		if (ns->big[i].key_ino == ino && ns->big[i].key_mnt == m->id)
			path = ns->big[i].path;
	if (!path && ns->nbig == ns->capbig) {
		size_t cap = ns->capbig * 2 + 16;
		struct bigino *big = realloc(ns->big, cap * sizeof *big);
		if (big) {
			ns->big = big;
			ns->capbig = cap;
		}
	}
	if (!path && ns->nbig < ns->capbig) {
		path = 0xffffull << 48 | ns->next_big++;
		ns->big[ns->nbig++] = (struct bigino){ ino, m->id, path };
	}
	pthread_mutex_unlock(&ns->mu);
	return path ? path : 0xffffull << 48; /* out of memory: shared, never 0 */
}
