/*
 * ramfs.c — the RAM file server: a whole file tree in memory.
 *
 * Job. Implements the file-server contract of boxfs/fs.h over nodes kept in
 * memory: regular files, directories, symlinks, hard links, device nodes and
 * FIFOs (names only, never opened for I/O), extended attributes, times, modes
 * and ownership checked against each call's credentials. Locks are left to
 * the core's lock manager. This is the reference example of a backend.
 *
 * Locking. One rwlock guards the whole tree. Operations that only look
 * (getattr, read, readdir, readlink, getxattr, listxattr, statfs) take it for
 * reading; everything else takes it for writing. lookup and root also run
 * under the read lock although they hand out a reference: the reference
 * count is atomic, and a node is only ever freed under the write lock, so an
 * increment can never race with the free. readdir calls `fill` with the read
 * lock held; fill must not call back into this instance.
 *
 * Lifetime. A node lives while it has a directory entry (links), a reference
 * held by the core (refs: root, lookup, create, mkdir, symlink, mknod give
 * one; forget drops one) or an open handle (opens). When all three reach 0 it
 * is freed (maybe_free). The root is never freed before destroy. Every node
 * is also on one list of the instance, so destroy frees what the core left.
 *
 * Data structures. A regular file is one growable buffer (holes are zeros
 * written into it). A directory holds its entries twice: in a hash table by
 * name (chained, doubled when full) and in an array of slots in insertion
 * order. Each entry gets an id from a per-directory counter when inserted;
 * that id is its readdir cookie. A removed entry leaves a tombstone slot
 * that keeps its id, so the slot ids stay sorted and "the first entry after
 * cookie" is a binary search; tombstones are compacted once they are half
 * the array. Replacing a target in rename (or RENAME_EXCHANGE) swaps the node
 * of the existing entry, so that name keeps its cookie.
 *
 * Not done: atime is not updated by reads (noatime), and file data is not
 * sparse in memory (a hole costs its bytes).
 */
#include <boxfs/ramfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h> /* RENAME_NOREPLACE, RENAME_EXCHANGE */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define RAM_MAX_FILE  ((uint64_t)1 << 40) /* bigger files are -EFBIG */
#define RAM_MAX_XATTR 65536		  /* biggest xattr value, as Linux */
#define RAM_MAX_LINK  4095		  /* longest symlink target */
#define RAM_FILES     ((uint64_t)1 << 32) /* node count statfs reports */
#define RAM_MAGIC     0x01021994	  /* tmpfs */

struct ram_node;

struct ram_dirent {
	struct ram_dirent *hnext; /* hash chain */
	struct ram_node *node;
	uint64_t hash;
	uint64_t id; /* readdir cookie */
	size_t slot; /* index in ram_dir.slots */
	char name[];
};

/* One slot of the insertion-order array; ent NULL: a removed entry. */
struct ram_slot {
	uint64_t id;
	struct ram_dirent *ent;
};

struct ram_dir {
	struct ram_dirent **buckets;
	size_t nbuckets;
	struct ram_slot *slots;
	size_t nslots, cap;
	size_t nents; /* live entries */
	uint64_t next_id;
	uint64_t nsubdirs;	 /* for nlink */
	struct ram_node *parent; /* ".."; NULL once removed */
};

struct ram_xattr {
	struct ram_xattr *next;
	char *value;
	size_t size;
	char name[];
};

struct ram_node {
	struct ram_node *prev, *next; /* all nodes of the instance */
	uint64_t ino, version;
	uint32_t mode, uid, gid;
	uint64_t rdev;
	uint64_t links;		   /* directory entries naming it (root: 1) */
	atomic_uint_fast64_t refs; /* references held by the core */
	uint64_t opens;		   /* open handles */
	struct timespec atime, mtime, ctime, btime;
	struct ram_xattr *xattrs;
	char *data; /* regular file */
	uint64_t size, cap;
	char *target;	    /* symlink */
	struct ram_dir dir; /* directory */
};

/* The open handle (fh): how the file was opened. */
struct ram_open {
	int flags;
};

struct ramfs {
	pthread_rwlock_t lock;
	struct ram_node *root;
	struct ram_node *all;
	uint64_t next_ino;
	uint64_t nnodes;
	uint64_t used; /* file data and xattr value bytes */
	uint64_t max_bytes;
};

/* ---- Small helpers ---- */

enum { T_ATIME = 1, T_MTIME = 2, T_CTIME = 4 };

/* Sets the chosen times to now and counts a change. */
static void touch(struct ram_node *n, int what)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (what & T_ATIME)
		n->atime = now;
	if (what & T_MTIME)
		n->mtime = now;
	if (what & T_CTIME)
		n->ctime = now;
	n->version++;
}

static bool in_group(const struct boxfs_cred *cr, uint32_t gid)
{
	if (cr->gid == gid)
		return true;
	for (uint32_t i = 0; i < cr->ngroups; i++)
		if (cr->groups[i] == gid)
			return true;
	return false;
}

/* want: R_OK, W_OK, X_OK bits. uid 0 may do everything. */
static int check_access(const struct boxfs_cred *cr, const struct ram_node *n, int want)
{
	if (cr->uid == 0)
		return 0;
	uint32_t m = n->mode;
	if (cr->uid == n->uid)
		m >>= 6;
	else if (in_group(cr, n->gid))
		m >>= 3;
	return ((int)m & want) == want ? 0 : -EACCES;
}

/* A directory to look up in (X_OK) or change (W_OK | X_OK). */
static int check_dir(const struct boxfs_cred *cr, const struct ram_node *d, int want)
{
	if (!S_ISDIR(d->mode))
		return -ENOTDIR;
	return check_access(cr, d, want);
}

/* In a sticky directory only the owner of the entry or of d (or root) may remove it. */
static int check_sticky(const struct boxfs_cred *cr, const struct ram_node *d,
			const struct ram_node *n)
{
	if (!(d->mode & S_ISVTX) || cr->uid == 0 || cr->uid == n->uid || cr->uid == d->uid)
		return 0;
	return -EPERM;
}

static bool is_owner(const struct boxfs_cred *cr, const struct ram_node *n)
{
	return cr->uid == 0 || cr->uid == n->uid;
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* ---- Directories: hash table by name plus slots in cookie order ---- */

static struct ram_dirent *dir_find(const struct ram_dir *d, const char *name)
{
	if (!d->nbuckets)
		return NULL;
	uint64_t h = hash_name(name);
	for (struct ram_dirent *e = d->buckets[h & (d->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

/* Doubles the hash table; on failure the old one keeps working. */
static void dir_rehash(struct ram_dir *d)
{
	size_t nb = d->nbuckets * 2;
	struct ram_dirent **b = calloc(nb, sizeof *b);
	if (!b)
		return;
	for (size_t i = 0; i < d->nbuckets; i++) {
		struct ram_dirent *e, *next;
		for (e = d->buckets[i]; e; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(d->buckets);
	d->buckets = b;
	d->nbuckets = nb;
}

/* Squeezes the tombstones out of the slot array. */
static void dir_compact(struct ram_dir *d)
{
	size_t j = 0;
	for (size_t i = 0; i < d->nslots; i++) {
		if (!d->slots[i].ent)
			continue;
		d->slots[j] = d->slots[i];
		d->slots[j].ent->slot = j;
		j++;
	}
	d->nslots = j;
}

/* Adds name -> n with the next cookie. 0 or -ENOMEM (nothing changed). */
static int dir_add(struct ram_dir *d, const char *name, struct ram_node *n)
{
	if (!d->nbuckets) {
		d->buckets = calloc(8, sizeof *d->buckets);
		if (!d->buckets)
			return -ENOMEM;
		d->nbuckets = 8;
	}
	if (d->nslots == d->cap) {
		if (d->nents < d->nslots / 2) {
			dir_compact(d);
		} else {
			size_t cap = d->cap ? d->cap * 2 : 8;
			struct ram_slot *s = realloc(d->slots, cap * sizeof *s);
			if (!s)
				return -ENOMEM;
			d->slots = s;
			d->cap = cap;
		}
	}
	size_t len = strlen(name);
	struct ram_dirent *e = malloc(sizeof *e + len + 1);
	if (!e)
		return -ENOMEM;
	memcpy(e->name, name, len + 1);
	e->node = n;
	e->hash = hash_name(name);
	e->id = ++d->next_id;
	e->slot = d->nslots++;
	d->slots[e->slot] = (struct ram_slot){ e->id, e };
	e->hnext = d->buckets[e->hash & (d->nbuckets - 1)];
	d->buckets[e->hash & (d->nbuckets - 1)] = e;
	if (++d->nents > d->nbuckets * 2)
		dir_rehash(d);
	return 0;
}

/* Removes and frees e; its slot becomes a tombstone. */
static void dir_del(struct ram_dir *d, struct ram_dirent *e)
{
	struct ram_dirent **p = &d->buckets[e->hash & (d->nbuckets - 1)];
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	d->slots[e->slot].ent = NULL;
	d->nents--;
	free(e);
	if (d->nslots >= 32 && d->nents < d->nslots / 2)
		dir_compact(d);
}

/* Index of the first slot whose id is above cookie. */
static size_t dir_seek(const struct ram_dir *d, uint64_t cookie)
{
	size_t lo = 0, hi = d->nslots;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (d->slots[mid].id <= cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void dir_free(struct ram_dir *d)
{
	for (size_t i = 0; i < d->nslots; i++)
		free(d->slots[i].ent);
	free(d->slots);
	free(d->buckets);
}

/* ---- Nodes ---- */

static void fill_attr(const struct ram_node *n, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = n->ino;
	a->version = n->version;
	a->mode = n->mode;
	a->uid = n->uid;
	a->gid = n->gid;
	a->rdev = n->rdev;
	a->blksize = 4096;
	if (S_ISDIR(n->mode)) {
		a->nlink = n->links ? 2 + n->dir.nsubdirs : 0;
		a->size = n->dir.nents;
	} else {
		a->nlink = n->links;
		a->size = S_ISLNK(n->mode) ? strlen(n->target) : n->size;
	}
	if (S_ISREG(n->mode))
		a->blocks = (n->size + 511) / 512;
	a->atime = n->atime;
	a->mtime = n->mtime;
	a->ctime = n->ctime;
	a->btime = n->btime;
}

static struct ram_node *node_new(struct ramfs *fs, uint32_t mode, uint32_t uid, uint32_t gid)
{
	struct ram_node *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	n->ino = fs->next_ino++;
	n->mode = mode;
	n->uid = uid;
	n->gid = gid;
	touch(n, T_ATIME | T_MTIME | T_CTIME); /* version becomes 1 */
	n->btime = n->mtime;
	atomic_init(&n->refs, 0);
	n->next = fs->all;
	if (fs->all)
		fs->all->prev = n;
	fs->all = n;
	fs->nnodes++;
	return n;
}

static void node_free(struct ramfs *fs, struct ram_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		fs->all = n->next;
	if (n->next)
		n->next->prev = n->prev;
	fs->nnodes--;
	fs->used -= n->size;
	struct ram_xattr *x, *next;
	for (x = n->xattrs; x; x = next) {
		next = x->next;
		fs->used -= x->size;
		free(x->value);
		free(x);
	}
	dir_free(&n->dir);
	free(n->data);
	free(n->target);
	free(n);
}

/* Frees n once nothing names or holds it. Write lock held. */
static void maybe_free(struct ramfs *fs, struct ram_node *n)
{
	if (n->links == 0 && atomic_load(&n->refs) == 0 && n->opens == 0)
		node_free(fs, n);
}

/* n lost its name in dir (the entry is already gone or reused). */
static void name_gone(struct ramfs *fs, struct ram_node *dir, struct ram_node *n)
{
	n->links--;
	if (S_ISDIR(n->mode)) {
		dir->dir.nsubdirs--;
		n->dir.parent = NULL;
	}
	touch(n, T_CTIME);
	maybe_free(fs, n);
}

/* Resizes a file's data to size, zero-filling growth. Checks max_bytes. */
/*
 * Resizes n's data to size; new bytes up to zero_to read as zeros (the rest
 * of the growth is the caller's to fill at once, as a write does).
 */
static int file_resize(struct ramfs *fs, struct ram_node *n, uint64_t size, uint64_t zero_to)
{
	if (size > RAM_MAX_FILE)
		return -EFBIG;
	if (size > n->size && fs->max_bytes && fs->used + (size - n->size) > fs->max_bytes)
		return -ENOSPC;
	if (size > n->cap || size < n->cap / 4) {
		uint64_t cap = size > n->cap && size < n->cap * 2 ? n->cap * 2 : size;
		char *d = realloc(n->data, cap ? cap : 1);
		if (!d)
			return size > n->size ? -ENOSPC : 0;
		n->data = d;
		n->cap = cap;
	}
	if (zero_to > size)
		zero_to = size;
	if (zero_to > n->size)
		memset(n->data + n->size, 0, zero_to - n->size);
	fs->used = fs->used - n->size + size;
	n->size = size;
	return 0;
}

/* ---- Operations ---- */

static void rd(struct ramfs *fs)
{
	pthread_rwlock_rdlock(&fs->lock);
}

static void wr(struct ramfs *fs)
{
	pthread_rwlock_wrlock(&fs->lock);
}

static void unlock(struct ramfs *fs)
{
	pthread_rwlock_unlock(&fs->lock);
}

/* Hands the core a reference to n with its attributes. */
static void give(struct ram_node *n, void **node, struct boxfs_attr *attr)
{
	atomic_fetch_add(&n->refs, 1);
	*node = n;
	if (attr)
		fill_attr(n, attr);
}

static int ram_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr)
{
	(void)c;
	struct ramfs *fs = aux;
	rd(fs);
	give(fs->root, node, attr);
	unlock(fs);
	return 0;
}

static int ram_lookup(void *aux, struct boxfs_call *c, void *dirp, const char *name, void **node,
		      struct boxfs_attr *attr)
{
	struct ramfs *fs = aux;
	struct ram_node *dir = dirp, *n = NULL;
	rd(fs);
	int r = check_dir(boxfs_call_cred(c), dir, X_OK);
	if (r == 0) {
		if (strcmp(name, "..") == 0) {
			n = dir == fs->root ? dir : dir->dir.parent;
		} else {
			struct ram_dirent *e = dir_find(&dir->dir, name);
			n = e ? e->node : NULL;
		}
		if (n)
			give(n, node, attr);
		else
			r = -ENOENT;
	}
	unlock(fs);
	return r;
}

static void ram_forget(void *aux, void *node)
{
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	wr(fs);
	atomic_fetch_sub(&n->refs, 1);
	maybe_free(fs, n); /* never the root: it keeps links 1 */
	unlock(fs);
}

static int ram_getattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		       struct boxfs_attr *attr)
{
	(void)c;
	(void)fh;
	struct ramfs *fs = aux;
	rd(fs);
	fill_attr(node, attr);
	unlock(fs);
	return 0;
}

static bool open_for_writing(const struct ram_open *o)
{
	return o && (o->flags & O_ACCMODE) != O_RDONLY;
}

/* Checks everything sa asks; changes nothing. Write lock held. */
static int setattr_check(const struct boxfs_cred *cr, const struct ram_node *n,
			 const struct ram_open *o, const struct boxfs_setattr *sa)
{
	if ((sa->valid & BOXFS_SET_MODE) && !is_owner(cr, n))
		return -EPERM;
	if ((sa->valid & BOXFS_SET_UID) && cr->uid != 0 && sa->uid != n->uid)
		return -EPERM;
	if ((sa->valid & BOXFS_SET_GID) && cr->uid != 0 &&
	    (cr->uid != n->uid || (sa->gid != n->gid && !in_group(cr, sa->gid))))
		return -EPERM;
	if ((sa->valid & (BOXFS_SET_ATIME | BOXFS_SET_MTIME)) && !is_owner(cr, n))
		return -EPERM;
	if ((sa->valid & (BOXFS_SET_ATIME_NOW | BOXFS_SET_MTIME_NOW)) && !is_owner(cr, n) &&
	    check_access(cr, n, W_OK) < 0)
		return -EACCES;
	if (sa->valid & BOXFS_SET_SIZE) {
		if (S_ISDIR(n->mode))
			return -EISDIR;
		if (!S_ISREG(n->mode))
			return -EINVAL;
		if (!open_for_writing(o) && check_access(cr, n, W_OK) < 0)
			return -EACCES;
	}
	return 0;
}

static int ram_setattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		       const struct boxfs_setattr *sa, struct boxfs_attr *attr)
{
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	wr(fs);
	int r = setattr_check(cr, n, fh, sa);
	if (r == 0 && (sa->valid & BOXFS_SET_SIZE)) {
		r = file_resize(fs, n, sa->size, sa->size);
		if (r == 0)
			touch(n, T_MTIME);
	}
	if (r < 0)
		goto out;
	if (sa->valid & BOXFS_SET_MODE) {
		n->mode = (n->mode & S_IFMT) | (sa->mode & 07777);
		if (cr->uid != 0 && !in_group(cr, n->gid))
			n->mode &= ~(uint32_t)S_ISGID;
	}
	if (sa->valid & (BOXFS_SET_UID | BOXFS_SET_GID)) {
		if (sa->valid & BOXFS_SET_UID)
			n->uid = sa->uid;
		if (sa->valid & BOXFS_SET_GID)
			n->gid = sa->gid;
		/* A change of owner drops set-id bits of files, as Linux does. */
		if (!S_ISDIR(n->mode)) {
			n->mode &= ~(uint32_t)S_ISUID;
			if (n->mode & S_IXGRP)
				n->mode &= ~(uint32_t)S_ISGID;
		}
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (sa->valid & BOXFS_SET_ATIME)
		n->atime = sa->atime;
	if (sa->valid & BOXFS_SET_MTIME)
		n->mtime = sa->mtime;
	if (sa->valid & BOXFS_SET_ATIME_NOW)
		n->atime = now;
	if (sa->valid & BOXFS_SET_MTIME_NOW)
		n->mtime = now;
	touch(n, T_CTIME);
out:
	fill_attr(n, attr);
	unlock(fs);
	return r;
}

/* Opens n (write lock held): checks, O_TRUNC, and the handle. */
static int open_locked(struct ramfs *fs, const struct boxfs_cred *cr, struct ram_node *n, int flags,
		       bool fresh, void **fh)
{
	int acc = flags & O_ACCMODE, want = 0;
	if (acc == O_ACCMODE)
		return -EINVAL;
	if ((flags & O_DIRECTORY) && !S_ISDIR(n->mode))
		return -ENOTDIR;
	if (S_ISDIR(n->mode) && (acc != O_RDONLY || (flags & O_TRUNC)))
		return -EISDIR;
	if (acc != O_WRONLY)
		want |= R_OK;
	if (acc != O_RDONLY || (flags & O_TRUNC))
		want |= W_OK;
	int r = fresh ? 0 : check_access(cr, n, want);
	if (r < 0)
		return r;
	struct ram_open *o = malloc(sizeof *o);
	if (!o)
		return -ENOMEM;
	o->flags = flags;
	if ((flags & O_TRUNC) && S_ISREG(n->mode)) {
		file_resize(fs, n, 0, 0); /* shrinking cannot fail */
		touch(n, T_MTIME | T_CTIME);
	}
	n->opens++;
	*fh = o;
	return 0;
}

static int ram_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	struct ramfs *fs = aux;
	wr(fs);
	int r = open_locked(fs, boxfs_call_cred(c), node, flags, false, fh);
	unlock(fs);
	return r;
}

/*
 * Makes a new node `name` in dir and gives a reference to it. Write lock
 * held; dir was checked for W_OK | X_OK and name is free.
 */
static int add_child(struct ramfs *fs, const struct boxfs_cred *cr, struct ram_node *dir,
		     const char *name, uint32_t mode, struct ram_node **np)
{
	if (dir->links == 0)
		return -ENOENT; /* a removed directory takes no new names */
	uint32_t gid = cr->gid;
	if (dir->mode & S_ISGID) {
		gid = dir->gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	struct ram_node *n = node_new(fs, mode, cr->uid, gid);
	if (!n)
		return -ENOMEM;
	if (dir_add(&dir->dir, name, n) < 0) {
		node_free(fs, n);
		return -ENOMEM;
	}
	n->links = 1;
	if (S_ISDIR(mode)) {
		n->dir.parent = dir;
		dir->dir.nsubdirs++;
	}
	touch(dir, T_MTIME | T_CTIME);
	*np = n;
	return 0;
}

/* The common part of mkdir, symlink and mknod. */
static int make_node(struct ramfs *fs, struct boxfs_call *c, struct ram_node *dir, const char *name,
		     uint32_t mode, uint64_t rdev, const char *target, void **node,
		     struct boxfs_attr *attr)
{
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	char *t = NULL;
	if (target && !(t = strdup(target)))
		return -ENOMEM;
	struct ram_node *n;
	wr(fs);
	int r = check_dir(cr, dir, W_OK | X_OK);
	if (r == 0 && dir_find(&dir->dir, name))
		r = -EEXIST;
	if (r == 0)
		r = add_child(fs, cr, dir, name, mode, &n);
	if (r == 0) {
		n->rdev = rdev;
		n->target = t;
		t = NULL;
		give(n, node, attr);
	}
	unlock(fs);
	free(t);
	return r;
}

static int ram_create(void *aux, struct boxfs_call *c, void *dirp, const char *name, int flags,
		      uint32_t mode, void **node, struct boxfs_attr *attr, void **fh)
{
	struct ramfs *fs = aux;
	struct ram_node *dir = dirp, *n;
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	bool fresh = false;
	wr(fs);
	int r = check_dir(cr, dir, X_OK);
	if (r < 0)
		goto out;
	struct ram_dirent *e = dir_find(&dir->dir, name);
	if (e) {
		n = e->node;
		if (flags & O_EXCL)
			r = -EEXIST;
		else if (S_ISDIR(n->mode))
			r = -EISDIR;
	} else {
		r = check_access(cr, dir, W_OK);
		if (r == 0)
			r = add_child(fs, cr, dir, name, S_IFREG | (mode & 07777), &n);
		fresh = true;
	}
	if (r < 0)
		goto out;
	r = open_locked(fs, cr, n, flags, fresh, fh);
	if (r == 0) {
		give(n, node, attr);
	} else if (fresh) { /* undo the new name */
		dir_del(&dir->dir, dir_find(&dir->dir, name));
		name_gone(fs, dir, n);
	}
out:
	unlock(fs);
	return r;
}

/* Hands the bytes at off (up to count) to give while the tree is locked. */
static ssize_t ram_read_direct(void *aux, struct boxfs_call *c, void *node, void *fh, size_t count,
			       uint64_t off, boxfs_give_fn hand, void *ctx)
{
	(void)c;
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	struct ram_open *o = fh;
	ssize_t r = 0;
	if (o && (o->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	rd(fs);
	if (S_ISDIR(n->mode)) {
		r = -EISDIR;
	} else if (!S_ISREG(n->mode)) {
		r = -EINVAL;
	} else {
		size_t len = off < n->size ? (n->size - off < count ? n->size - off : count) : 0;
		r = hand(ctx, len ? n->data + off : NULL, len);
	}
	unlock(fs);
	return r;
}

static ssize_t copy_out(void *ctx, const void *data, size_t n)
{
	if (n)
		memcpy(ctx, data, n);
	return (ssize_t)n;
}

static ssize_t ram_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
			size_t count, uint64_t off)
{
	return ram_read_direct(aux, c, node, fh, count, off, copy_out, buf);
}

static ssize_t ram_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
			 size_t count, uint64_t off)
{
	(void)c;
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	struct ram_open *o = fh;
	if (o && (o->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (count > SSIZE_MAX)
		count = SSIZE_MAX;
	wr(fs);
	ssize_t r = (ssize_t)count;
	if (S_ISDIR(n->mode)) {
		r = -EISDIR;
		goto out;
	}
	if (!S_ISREG(n->mode)) {
		r = -EINVAL;
		goto out;
	}
	if (count == 0)
		goto out;
	if (o && (o->flags & O_APPEND))
		off = n->size;
	if (off > RAM_MAX_FILE || count > RAM_MAX_FILE - off) {
		r = -EFBIG;
		goto out;
	}
	if (off + count > n->size) {
		int e = file_resize(fs, n, off + count, off); /* the write fills the rest */
		if (e < 0) {
			r = e;
			goto out;
		}
	}
	memcpy(n->data + off, buf, count);
	touch(n, T_MTIME | T_CTIME);
out:
	unlock(fs);
	return r;
}

static int ram_readdir(void *aux, struct boxfs_call *c, void *dirp, void *fh, uint64_t cookie,
		       boxfs_fill_fn fill, void *ctx)
{
	(void)c;
	(void)fh;
	struct ramfs *fs = aux;
	struct ram_node *dir = dirp;
	const struct ram_dir *d = &dir->dir;
	rd(fs);
	int r = S_ISDIR(dir->mode) ? 0 : -ENOTDIR;
	for (size_t i = dir_seek(d, cookie); r == 0 && i < d->nslots; i++) {
		const struct ram_dirent *e = d->slots[i].ent;
		if (!e)
			continue;
		uint32_t dtype = IFTODT(e->node->mode);
		if (fill(ctx, e->name, e->node->ino, dtype, e->id) != 0)
			break;
	}
	unlock(fs);
	return r;
}

static int ram_mkdir(void *aux, struct boxfs_call *c, void *dir, const char *name, uint32_t mode,
		     void **node, struct boxfs_attr *attr)
{
	return make_node(aux, c, dir, name, S_IFDIR | (mode & 07777), 0, NULL, node, attr);
}

static int ram_symlink(void *aux, struct boxfs_call *c, void *dir, const char *name,
		       const char *target, void **node, struct boxfs_attr *attr)
{
	size_t len = strlen(target);
	if (len == 0)
		return -ENOENT;
	if (len > RAM_MAX_LINK)
		return -ENAMETOOLONG;
	return make_node(aux, c, dir, name, S_IFLNK | 0777, 0, target, node, attr);
}

static int ram_mknod(void *aux, struct boxfs_call *c, void *dir, const char *name, uint32_t mode,
		     uint64_t rdev, void **node, struct boxfs_attr *attr)
{
	switch (mode & S_IFMT) {
	case 0:
		mode |= S_IFREG;
		break;
	case S_IFREG:
	case S_IFIFO:
	case S_IFSOCK:
	case S_IFCHR:
	case S_IFBLK:
		break;
	case S_IFDIR:
		return -EPERM;
	default:
		return -EINVAL;
	}
	if (!S_ISCHR(mode) && !S_ISBLK(mode))
		rdev = 0;
	return make_node(aux, c, dir, name, (mode & S_IFMT) | (mode & 07777), rdev, NULL, node,
			 attr);
}

static int ram_link(void *aux, struct boxfs_call *c, void *node, void *newdirp, const char *newname)
{
	struct ramfs *fs = aux;
	struct ram_node *n = node, *dir = newdirp;
	wr(fs);
	int r = S_ISDIR(n->mode) ? -EPERM : check_dir(boxfs_call_cred(c), dir, W_OK | X_OK);
	if (r == 0 && dir->links == 0)
		r = -ENOENT;
	if (r == 0 && dir_find(&dir->dir, newname))
		r = -EEXIST;
	if (r == 0 && n->links == 0)
		r = -ENOENT; /* as Linux: an unlinked file cannot be linked again */
	if (r == 0)
		r = dir_add(&dir->dir, newname, n);
	if (r == 0) {
		n->links++;
		touch(n, T_CTIME);
		touch(dir, T_MTIME | T_CTIME);
	}
	unlock(fs);
	return r;
}

static int ram_unlink(void *aux, struct boxfs_call *c, void *dirp, const char *name, int flags)
{
	struct ramfs *fs = aux;
	struct ram_node *dir = dirp;
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	wr(fs);
	int r = check_dir(cr, dir, W_OK | X_OK);
	struct ram_dirent *e = r == 0 ? dir_find(&dir->dir, name) : NULL;
	if (r == 0 && !e)
		r = -ENOENT;
	if (r < 0)
		goto out;
	struct ram_node *n = e->node;
	if (flags & AT_REMOVEDIR) {
		if (!S_ISDIR(n->mode))
			r = -ENOTDIR;
		else if (n->dir.nents)
			r = -ENOTEMPTY;
	} else if (S_ISDIR(n->mode)) {
		r = -EISDIR;
	}
	if (r == 0)
		r = check_sticky(cr, dir, n);
	if (r == 0) {
		dir_del(&dir->dir, e);
		touch(dir, T_MTIME | T_CTIME);
		name_gone(fs, dir, n);
	}
out:
	unlock(fs);
	return r;
}

/* Whether d is n or lies below it. */
static bool in_subtree(const struct ramfs *fs, const struct ram_node *d, const struct ram_node *n)
{
	for (; d; d = d->dir.parent) {
		if (d == n)
			return true;
		if (d == fs->root)
			break;
	}
	return false;
}

/* A directory n changes parent from od to nd. */
static void reparent(struct ram_node *n, struct ram_node *od, struct ram_node *nd)
{
	if (!S_ISDIR(n->mode))
		return;
	od->dir.nsubdirs--;
	nd->dir.nsubdirs++;
	n->dir.parent = nd;
}

/* Checks a rename may go ahead; changes nothing. */
static int rename_check(struct ramfs *fs, const struct boxfs_cred *cr, struct ram_node *od,
			struct ram_dirent *se, struct ram_node *nd, struct ram_dirent *de,
			unsigned flags)
{
	struct ram_node *s = se->node, *t = de ? de->node : NULL;
	int r = check_sticky(cr, od, s);
	if (r == 0 && t)
		r = check_sticky(cr, nd, t);
	/* Moving a directory elsewhere rewrites its "..": it needs W_OK. */
	if (r == 0 && od != nd && S_ISDIR(s->mode))
		r = check_access(cr, s, W_OK);
	if (r == 0 && od != nd && t && S_ISDIR(t->mode) && (flags & RENAME_EXCHANGE))
		r = check_access(cr, t, W_OK);
	if (r < 0)
		return r;
	if (S_ISDIR(s->mode) && in_subtree(fs, nd, s))
		return -EINVAL;
	if (flags & RENAME_EXCHANGE)
		return t && S_ISDIR(t->mode) && in_subtree(fs, od, t) ? -EINVAL : 0;
	if (!t)
		return 0;
	if (S_ISDIR(s->mode) && !S_ISDIR(t->mode))
		return -ENOTDIR;
	if (!S_ISDIR(s->mode) && S_ISDIR(t->mode))
		return -EISDIR;
	if (S_ISDIR(t->mode) && t->dir.nents)
		return -ENOTEMPTY;
	return 0;
}

static int ram_rename(void *aux, struct boxfs_call *c, void *olddir, const char *oldname,
		      void *newdir, const char *newname, unsigned flags)
{
	struct ramfs *fs = aux;
	struct ram_node *od = olddir, *nd = newdir;
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE))
		return -EINVAL;
	wr(fs);
	struct ram_dirent *se = NULL, *de = NULL;
	int r = check_dir(cr, od, W_OK | X_OK);
	if (r == 0)
		r = check_dir(cr, nd, W_OK | X_OK);
	if (r == 0 && nd->links == 0)
		r = -ENOENT;
	if (r == 0 && !(se = dir_find(&od->dir, oldname)))
		r = -ENOENT;
	if (r == 0)
		de = dir_find(&nd->dir, newname);
	if (r == 0 && !de && (flags & RENAME_EXCHANGE))
		r = -ENOENT;
	if (r == 0 && de && (flags & RENAME_NOREPLACE))
		r = -EEXIST;
	if (r < 0 || (de && de->node == se->node))
		goto out; /* the same file under both names: nothing to do */
	r = rename_check(fs, cr, od, se, nd, de, flags);
	if (r < 0)
		goto out;
	struct ram_node *s = se->node, *t = de ? de->node : NULL;
	if (flags & RENAME_EXCHANGE) {
		se->node = t;
		de->node = s;
		reparent(s, od, nd);
		reparent(t, nd, od);
		touch(t, T_CTIME);
	} else if (t) {
		de->node = s; /* the name keeps its cookie */
		dir_del(&od->dir, se);
		reparent(s, od, nd);
		name_gone(fs, nd, t);
	} else {
		r = dir_add(&nd->dir, newname, s);
		if (r < 0)
			goto out;
		dir_del(&od->dir, se);
		reparent(s, od, nd);
	}
	touch(s, T_CTIME);
	touch(od, T_MTIME | T_CTIME);
	if (nd != od)
		touch(nd, T_MTIME | T_CTIME);
out:
	unlock(fs);
	return r;
}

static ssize_t ram_readlink(void *aux, struct boxfs_call *c, void *node, char *buf, size_t cap)
{
	(void)c;
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	ssize_t r = -EINVAL;
	rd(fs);
	if (S_ISLNK(n->mode)) {
		size_t len = strlen(n->target);
		if (len > cap)
			len = cap;
		memcpy(buf, n->target, len);
		r = (ssize_t)len;
	}
	unlock(fs);
	return r;
}

static int ram_statfs(void *aux, struct boxfs_call *c, void *node, struct boxfs_statfs *st)
{
	(void)c;
	(void)node;
	struct ramfs *fs = aux;
	rd(fs);
	memset(st, 0, sizeof *st);
	st->type = RAM_MAGIC;
	st->bsize = 4096;
	st->blocks = fs->max_bytes ? fs->max_bytes / 4096 : (uint64_t)1 << 40;
	uint64_t usedb = (fs->used + 4095) / 4096;
	st->bfree = st->blocks > usedb ? st->blocks - usedb : 0;
	st->bavail = st->bfree;
	st->files = RAM_FILES;
	st->ffree = RAM_FILES - fs->nnodes;
	st->fsid = (uint64_t)(uintptr_t)fs;
	st->namelen = 255;
	unlock(fs);
	return 0;
}

/* ---- Extended attributes ---- */

static struct ram_xattr **xattr_find(struct ram_node *n, const char *name)
{
	struct ram_xattr **p = &n->xattrs;
	while (*p && strcmp((*p)->name, name) != 0)
		p = &(*p)->next;
	return p;
}

static ssize_t ram_getxattr(void *aux, struct boxfs_call *c, void *node, const char *name,
			    void *buf, size_t cap)
{
	struct ramfs *fs = aux;
	rd(fs);
	ssize_t r = check_access(boxfs_call_cred(c), node, R_OK);
	struct ram_xattr *x = r == 0 ? *xattr_find(node, name) : NULL;
	if (r == 0 && !x)
		r = -ENODATA;
	if (r == 0 && cap && cap < x->size)
		r = -ERANGE;
	if (r == 0) {
		if (cap)
			memcpy(buf, x->value, x->size);
		r = (ssize_t)x->size;
	}
	unlock(fs);
	return r;
}

static int ram_setxattr(void *aux, struct boxfs_call *c, void *node, const char *name,
			const void *value, size_t size, int flags)
{
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	size_t nlen = strlen(name);
	if (nlen == 0 || nlen > 255)
		return -ERANGE;
	if (size > RAM_MAX_XATTR)
		return -E2BIG;
	if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) ||
	    (flags & XATTR_CREATE && flags & XATTR_REPLACE))
		return -EINVAL;
	char *v = malloc(size ? size : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, value, size);
	wr(fs);
	struct ram_xattr **p = xattr_find(n, name), *x = *p;
	size_t old = x ? x->size : 0;
	int r = check_access(boxfs_call_cred(c), n, W_OK);
	if (r == 0 && x && (flags & XATTR_CREATE))
		r = -EEXIST;
	if (r == 0 && !x && (flags & XATTR_REPLACE))
		r = -ENODATA;
	if (r == 0 && size > old && fs->max_bytes && fs->used + (size - old) > fs->max_bytes)
		r = -ENOSPC;
	if (r == 0 && !x) {
		x = malloc(sizeof *x + nlen + 1);
		if (x) {
			memcpy(x->name, name, nlen + 1);
			x->value = NULL;
			x->size = 0;
			x->next = NULL;
			*p = x;
		} else {
			r = -ENOMEM;
		}
	}
	if (r == 0) {
		free(x->value);
		x->value = v;
		x->size = size;
		v = NULL;
		fs->used = fs->used - old + size;
		touch(n, T_CTIME);
	}
	unlock(fs);
	free(v);
	return r;
}

static ssize_t ram_listxattr(void *aux, struct boxfs_call *c, void *node, char *buf, size_t cap)
{
	(void)c;
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	rd(fs);
	size_t total = 0;
	for (struct ram_xattr *x = n->xattrs; x; x = x->next)
		total += strlen(x->name) + 1;
	ssize_t r = (ssize_t)total;
	if (cap && cap < total) {
		r = -ERANGE;
	} else if (cap) {
		char *p = buf;
		for (struct ram_xattr *x = n->xattrs; x; x = x->next) {
			size_t len = strlen(x->name) + 1;
			memcpy(p, x->name, len);
			p += len;
		}
	}
	unlock(fs);
	return r;
}

static int ram_removexattr(void *aux, struct boxfs_call *c, void *node, const char *name)
{
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	wr(fs);
	int r = check_access(boxfs_call_cred(c), n, W_OK);
	struct ram_xattr **p = xattr_find(n, name), *x = *p;
	if (r == 0 && !x)
		r = -ENODATA;
	if (r == 0) {
		*p = x->next;
		fs->used -= x->size;
		free(x->value);
		free(x);
		touch(n, T_CTIME);
	}
	unlock(fs);
	return r;
}

static void ram_release(void *aux, void *node, void *fh)
{
	struct ramfs *fs = aux;
	struct ram_node *n = node;
	if (!fh)
		return;
	wr(fs);
	n->opens--;
	maybe_free(fs, n);
	unlock(fs);
	free(fh);
}

static void ram_destroy(void *aux)
{
	struct ramfs *fs = aux;
	while (fs->all)
		node_free(fs, fs->all);
	pthread_rwlock_destroy(&fs->lock);
	free(fs);
}

static const struct boxfs_fs_ops ram_ops = {
	.root = ram_root,
	.lookup = ram_lookup,
	.forget = ram_forget,
	.getattr = ram_getattr,
	.setattr = ram_setattr,
	.open = ram_open,
	.create = ram_create,
	.read = ram_read,
	.read_direct = ram_read_direct,
	.write = ram_write,
	.readdir = ram_readdir,
	.mkdir = ram_mkdir,
	.symlink = ram_symlink,
	.mknod = ram_mknod,
	.link = ram_link,
	.unlink = ram_unlink,
	.rename = ram_rename,
	.readlink = ram_readlink,
	.statfs = ram_statfs,
	.getxattr = ram_getxattr,
	.setxattr = ram_setxattr,
	.listxattr = ram_listxattr,
	.removexattr = ram_removexattr,
	.release = ram_release,
	.destroy = ram_destroy,
};

struct boxfs_fs *boxfs_ramfs_new(const struct boxfs_ramfs_opts *opts)
{
	static const struct boxfs_ramfs_opts defaults = { 0 };
	if (!opts)
		opts = &defaults;
	struct boxfs_fs *bfs = malloc(sizeof *bfs);
	struct ramfs *fs = calloc(1, sizeof *fs);
	if (!bfs || !fs || pthread_rwlock_init(&fs->lock, NULL) != 0) {
		free(bfs);
		free(fs);
		errno = ENOMEM;
		return NULL;
	}
	fs->next_ino = 1;
	fs->max_bytes = opts->max_bytes;
	uint32_t mode = opts->root_mode ? opts->root_mode & 07777 : 0755;
	fs->root = node_new(fs, S_IFDIR | mode, opts->root_uid, opts->root_gid);
	if (!fs->root) {
		ram_destroy(fs);
		free(bfs);
		errno = ENOMEM;
		return NULL;
	}
	fs->root->links = 1;
	fs->root->dir.parent = fs->root;
	*bfs = (struct boxfs_fs){
		.ops = &ram_ops, .aux = fs, .flags = BOXFS_FS_INLINE, .name = "ram"
	};
	return bfs;
}
