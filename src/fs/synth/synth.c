/*
 * synth.c — synthetic file trees (boxfs/synth.h): a backend whose nodes the
 * application makes and changes at run time, and whose files call back into
 * the application to produce what is read and consume what is written.
 *
 * Locking: one mutex per tree (t->mu) guards the shape of the tree (child
 * lists, names, removed flags), the permissions of every node and the
 * queues of event files. Callbacks never run under it: a callback holds a
 * reference to its node instead, taken under t->mu after checking that the
 * node was not removed, so boxfs_synth_remove can promise that no callback
 * starts after it returns.
 *
 * Lifetime: a node is reference counted. The tree holds one for a node
 * entered in it, the core one per reference it was given (root, lookup),
 * each open file one, each callback in flight one, and a node one for its
 * parent (for ".."). Removal takes the node and everything below it out of
 * the tree and drops the tree's references; the last reference runs the
 * application's destroy.
 *
 * Event files: each open for reading has a queue of events and a list of
 * reads waiting for one. A read that finds the queue empty waits without a
 * thread: it answers BOXFS_EDEFERRED (the tree's backend declares
 * BOXFS_FS_DEFER) and stays on the list, whence boxfs_synth_post (which
 * fills it and answers it), the cancel hook (-EINTR) or a removal (end of
 * file) takes it; whoever takes it off the list under t->mu answers it,
 * after letting go of t->mu.
 */
#include <boxfs/synth.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum kind {
	K_DIR,	  /* children entered with boxfs_synth_mkdir/file/... */
	K_FILE,	  /* boxfs_synth_file ops */
	K_EVENTS, /* per-open queues fed by boxfs_synth_post */
	K_GENDIR, /* entries from the application's list and lookup */
};

enum { DEFAULT_MAX_QUEUED = 64 * 1024, MAX_COMMIT = 16 * 1024 * 1024, MAX_WORDS = 32 };

struct evmsg {
	struct evmsg *next;
	size_t len, off; /* off: bytes a read already took */
	uint8_t data[];
};

struct evread {
	struct evread *next;
	struct boxfs_synth *tree;
	struct evopen *o;
	struct boxfs_call *c;
	void *buf;
	size_t count;
};

/* An open of an event file: its queue and its waiting reads. */
struct evopen {
	struct evopen *next, *prev;
	struct evmsg *head, *tail;
	size_t bytes;
	struct evread *waiting;
};

struct boxfs_synth_node {
	atomic_uint ref;
	struct boxfs_synth *tree;
	struct boxfs_synth_node *parent;	      /* a reference; NULL for the root */
	struct boxfs_synth_node *child, *last, *next; /* entered children, by ino */
	char *name;
	enum kind kind;
	bool entered; /* in the tree, which holds a reference */
	bool removed;
	uint64_t ino;
	uint32_t mode; /* permission bits */
	uint32_t uid, gid;
	struct timespec born;
	const struct boxfs_synth_file *fops;
	const struct boxfs_synth_dir *dops;
	void *ud;
	size_t max_queued;
	struct evopen *opens;
};

struct boxfs_synth {
	struct boxfs_fs *fs; /* freed by boxfs_fs_free, after s_destroy */
	pthread_mutex_t mu;
	struct boxfs_synth_node *root;
	atomic_uint_fast64_t next_ino;
};

struct boxfs_synth_ctx {
	struct boxfs_synth_node *node;
	struct boxfs_call *call; /* NULL in commit */
};

struct boxfs_synth_buf {
	uint8_t *data;
	size_t len, cap;
};

struct boxfs_synth_names {
	char **names;
	size_t n, cap;
};

/* An open file or directory. */
struct sopen {
	struct boxfs_synth_node *node;
	int flags;
	struct boxfs_synth_buf snap;  /* snapshot files: what reads serve */
	struct boxfs_synth_buf wr;    /* commit files: what was written */
	struct boxfs_synth_names dir; /* generated directories: the listing */
	struct evopen ev;
};

/* ---- nodes ---- */

static struct boxfs_synth_node *node_get(struct boxfs_synth_node *n)
{
	atomic_fetch_add_explicit(&n->ref, 1, memory_order_relaxed);
	return n;
}

static void node_put(struct boxfs_synth_node *n)
{
	while (n && atomic_fetch_sub_explicit(&n->ref, 1, memory_order_acq_rel) == 1) {
		struct boxfs_synth_node *parent = n->parent;
		void (*destroy)(void *) = n->fops   ? n->fops->destroy
					  : n->dops ? n->dops->destroy
						    : NULL;
		if (destroy)
			destroy(n->ud);
		free(n->name);
		free(n);
		n = parent;
	}
}

static struct boxfs_synth_node *node_new(struct boxfs_synth *t, enum kind kind, uint32_t mode)
{
	struct boxfs_synth_node *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	atomic_init(&n->ref, 1);
	n->tree = t;
	n->kind = kind;
	n->ino = atomic_fetch_add(&t->next_ino, 1);
	n->mode = mode & 07777;
	n->uid = geteuid();
	n->gid = getegid();
	clock_gettime(CLOCK_REALTIME, &n->born);
	return n;
}

static bool is_dir(const struct boxfs_synth_node *n)
{
	return n->kind == K_DIR || n->kind == K_GENDIR;
}

static bool name_ok(const char *s, size_t len)
{
	return len > 0 && len <= 255 && !memchr(s, '/', len) && !(len == 1 && s[0] == '.') &&
	       !(len == 2 && s[0] == '.' && s[1] == '.');
}

static struct boxfs_synth_node *find_child(struct boxfs_synth_node *d, const char *name, size_t len)
{
	for (struct boxfs_synth_node *c = d->child; c; c = c->next)
		if (strlen(c->name) == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

/*
 * Walks path under t->mu. With last, stops before the last name: answers
 * its directory and points *last and *lastlen at the name. NULL with errno.
 */
static struct boxfs_synth_node *walk_locked(struct boxfs_synth *t, const char *path,
					    const char **last, size_t *lastlen)
{
	if (!path || path[0] != '/') {
		errno = EINVAL;
		return NULL;
	}
	struct boxfs_synth_node *n = t->root;
	const char *p = path;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, "/");
		if (!name_ok(p, len)) {
			errno = EINVAL;
			return NULL;
		}
		const char *rest = p + len;
		while (*rest == '/')
			rest++;
		if (last && !*rest) {
			*last = p;
			*lastlen = len;
			if (n->kind != K_DIR) {
				errno = ENOTDIR;
				return NULL;
			}
			return n;
		}
		if (n->kind != K_DIR) {
			errno = ENOTDIR;
			return NULL;
		}
		if (!(n = find_child(n, p, len))) {
			errno = ENOENT;
			return NULL;
		}
		p = rest;
	}
	if (last) { /* the root itself */
		errno = EEXIST;
		return NULL;
	}
	return n;
}

/* Enters n (its one reference becomes the tree's) at path; n or NULL+errno
 * (n freed). */
static struct boxfs_synth_node *enter(struct boxfs_synth *t, const char *path,
				      struct boxfs_synth_node *n)
{
	if (!n)
		return NULL;
	const char *name;
	size_t len;
	pthread_mutex_lock(&t->mu);
	struct boxfs_synth_node *d = walk_locked(t, path, &name, &len);
	int err = !d ? errno : find_child(d, name, len) ? EEXIST : 0;
	if (!err && !(n->name = strndup(name, len)))
		err = ENOMEM;
	if (!err) {
		n->parent = node_get(d);
		n->entered = true;
		if (d->last)
			d->last->next = n;
		else
			d->child = n;
		d->last = n;
	}
	pthread_mutex_unlock(&t->mu);
	if (err) {
		node_put(n);
		errno = err;
		return NULL;
	}
	return n;
}

struct boxfs_synth_node *boxfs_synth_root(struct boxfs_synth *t)
{
	return t->root;
}

struct boxfs_synth_node *boxfs_synth_mkdir(struct boxfs_synth *t, const char *path, uint32_t mode)
{
	return enter(t, path, node_new(t, K_DIR, mode));
}

struct boxfs_synth_node *boxfs_synth_new_file(struct boxfs_synth *t, uint32_t mode,
					      const struct boxfs_synth_file *ops, void *ud)
{
	if (!ops) {
		errno = EINVAL;
		return NULL;
	}
	struct boxfs_synth_node *n = node_new(t, K_FILE, mode);
	if (n) {
		n->fops = ops;
		n->ud = ud;
	}
	return n;
}

struct boxfs_synth_node *boxfs_synth_new_dir(struct boxfs_synth *t, uint32_t mode,
					     const struct boxfs_synth_dir *ops, void *ud)
{
	if (!ops || !ops->lookup) {
		errno = EINVAL;
		return NULL;
	}
	struct boxfs_synth_node *n = node_new(t, K_GENDIR, mode);
	if (n) {
		n->dops = ops;
		n->ud = ud;
	}
	return n;
}

struct boxfs_synth_node *boxfs_synth_file(struct boxfs_synth *t, const char *path, uint32_t mode,
					  const struct boxfs_synth_file *ops, void *ud)
{
	return enter(t, path, boxfs_synth_new_file(t, mode, ops, ud));
}

struct boxfs_synth_node *boxfs_synth_gendir(struct boxfs_synth *t, const char *path, uint32_t mode,
					    const struct boxfs_synth_dir *ops, void *ud)
{
	return enter(t, path, boxfs_synth_new_dir(t, mode, ops, ud));
}

struct boxfs_synth_node *boxfs_synth_events(struct boxfs_synth *t, const char *path, uint32_t mode,
					    size_t max_queued)
{
	struct boxfs_synth_node *n = node_new(t, K_EVENTS, mode);
	if (n)
		n->max_queued = max_queued ? max_queued : DEFAULT_MAX_QUEUED;
	return enter(t, path, n);
}

struct boxfs_synth_node *boxfs_synth_find(struct boxfs_synth *t, const char *path)
{
	pthread_mutex_lock(&t->mu);
	struct boxfs_synth_node *n = walk_locked(t, path, NULL, NULL);
	pthread_mutex_unlock(&t->mu);
	return n;
}

void *boxfs_synth_node_ud(const struct boxfs_synth_node *n)
{
	return n->ud;
}

void boxfs_synth_chmod(struct boxfs_synth_node *n, uint32_t mode)
{
	pthread_mutex_lock(&n->tree->mu);
	n->mode = mode & 07777;
	pthread_mutex_unlock(&n->tree->mu);
}

void boxfs_synth_chown(struct boxfs_synth_node *n, uint32_t uid, uint32_t gid)
{
	pthread_mutex_lock(&n->tree->mu);
	n->uid = uid;
	n->gid = gid;
	pthread_mutex_unlock(&n->tree->mu);
}

/* ---- removal ---- */

/* Takes every waiting read of an event node off its lists (under t->mu),
 * onto *out, to be answered after. */
static void take_waiting(struct boxfs_synth_node *n, struct evread **out)
{
	for (struct evopen *o = n->opens; o; o = o->next) {
		while (o->waiting) {
			struct evread *w = o->waiting;
			o->waiting = w->next;
			w->next = *out;
			*out = w;
		}
	}
}

/* Marks n and everything below it removed, taking them out of the tree
 * (under t->mu); the tree's references go onto *gone. */
static void unlink_tree(struct boxfs_synth_node *n, struct boxfs_synth_node **gone,
			struct evread **waiting)
{
	n->removed = true;
	if (n->kind == K_EVENTS)
		take_waiting(n, waiting);
	while (n->child) {
		struct boxfs_synth_node *c = n->child;
		n->child = c->next;
		unlink_tree(c, gone, waiting);
	}
	n->last = NULL;
	n->entered = false;
	n->next = *gone;
	*gone = n;
}

static void answer_eof(struct evread *w)
{
	while (w) {
		struct evread *next = w->next;
		boxfs_call_done(w->c, 0);
		free(w);
		w = next;
	}
}

int boxfs_synth_remove(struct boxfs_synth_node *n)
{
	struct boxfs_synth *t = n->tree;
	struct boxfs_synth_node *gone = NULL;
	struct evread *waiting = NULL;
	pthread_mutex_lock(&t->mu);
	if (n == t->root) {
		pthread_mutex_unlock(&t->mu);
		return -EBUSY;
	}
	if (n->entered) {
		struct boxfs_synth_node *d = n->parent, **pp = &d->child, *prev = NULL;
		while (*pp != n) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		*pp = n->next;
		if (d->last == n)
			d->last = prev;
		unlink_tree(n, &gone, &waiting);
	} else if (!n->removed) { /* a generated node */
		n->removed = true;
		if (n->kind == K_EVENTS)
			take_waiting(n, &waiting);
	}
	pthread_mutex_unlock(&t->mu);
	answer_eof(waiting);
	while (gone) {
		struct boxfs_synth_node *next = gone->next;
		node_put(gone);
		gone = next;
	}
	return 0;
}

/* ---- callbacks' side ---- */

void *boxfs_synth_ud(const struct boxfs_synth_ctx *x)
{
	return x->node->ud;
}

struct boxfs_synth_node *boxfs_synth_node(const struct boxfs_synth_ctx *x)
{
	return x->node;
}

const struct boxfs_cred *boxfs_synth_cred(const struct boxfs_synth_ctx *x)
{
	static const struct boxfs_cred root = { 0 };
	return x->call ? boxfs_call_cred(x->call) : &root;
}

int boxfs_synth_error(struct boxfs_synth_ctx *x, int err, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (x && x->call)
		boxfs_call_errmsg(x->call, msg);
	return err;
}

/* Makes b hold at least want bytes: 0 or -ENOMEM. */
static int buf_room(struct boxfs_synth_buf *b, size_t want)
{
	if (want <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int boxfs_synth_append(struct boxfs_synth_buf *b, const void *data, size_t len)
{
	if (len > SIZE_MAX / 2 - b->len || buf_room(b, b->len + len) < 0)
		return -ENOMEM;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

int boxfs_synth_printf(struct boxfs_synth_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof small)
		return boxfs_synth_append(b, small, (size_t)n);
	char *big = malloc((size_t)n + 1);
	if (!big)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = boxfs_synth_append(b, big, (size_t)n);
	free(big);
	return r;
}

int boxfs_synth_add(struct boxfs_synth_names *l, const char *name)
{
	if (!name || !name_ok(name, strlen(name)))
		return -EINVAL;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **p = realloc(l->names, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		l->names = p;
		l->cap = cap;
	}
	if (!(l->names[l->n] = strdup(name)))
		return -ENOMEM;
	l->n++;
	return 0;
}

static void names_free(struct boxfs_synth_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	*l = (struct boxfs_synth_names){ 0 };
}

/* A reference for a callback of n, unless n was removed (then NULL). */
static struct boxfs_synth_node *cb_begin(struct boxfs_synth_node *n)
{
	pthread_mutex_lock(&n->tree->mu);
	bool gone = n->removed;
	if (!gone)
		node_get(n);
	pthread_mutex_unlock(&n->tree->mu);
	return gone ? NULL : n;
}

/* ---- permissions and attributes ---- */

static bool in_group(const struct boxfs_cred *cr, uint32_t gid)
{
	if (cr->gid == gid)
		return true;
	for (uint32_t i = 0; i < cr->ngroups; i++)
		if (cr->groups[i] == gid)
			return true;
	return false;
}

/* want: R_OK, W_OK, X_OK bits; uid 0 may do everything. */
static int check_access(struct boxfs_call *c, struct boxfs_synth_node *n, int want)
{
	const struct boxfs_cred *cr = boxfs_call_cred(c);
	if (cr->uid == 0)
		return 0;
	pthread_mutex_lock(&n->tree->mu);
	uint32_t m = n->mode;
	if (cr->uid == n->uid)
		m >>= 6;
	else if (in_group(cr, n->gid))
		m >>= 3;
	pthread_mutex_unlock(&n->tree->mu);
	return ((int)m & want) == want ? 0 : -EACCES;
}

static void fill_attr(struct boxfs_synth_node *n, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = n->ino;
	a->version = 1;
	pthread_mutex_lock(&n->tree->mu);
	a->mode = (is_dir(n) ? S_IFDIR : S_IFREG) | n->mode;
	a->uid = n->uid;
	a->gid = n->gid;
	pthread_mutex_unlock(&n->tree->mu);
	a->nlink = is_dir(n) ? 2 : 1;
	a->blksize = 4096;
	a->atime = a->mtime = a->ctime = a->btime = n->born;
}

/* ---- the backend ---- */

static int s_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr)
{
	(void)c;
	struct boxfs_synth *t = aux;
	*node = node_get(t->root);
	fill_attr(t->root, attr);
	return 0;
}

static int s_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		    struct boxfs_attr *attr)
{
	struct boxfs_synth *t = aux;
	struct boxfs_synth_node *d = dir, *n = NULL;
	if (!is_dir(d))
		return -ENOTDIR;
	int r = check_access(c, d, X_OK);
	if (r < 0)
		return r;
	if (strcmp(name, "..") == 0) {
		n = node_get(d->parent ? d->parent : d);
	} else if (d->kind == K_DIR) {
		pthread_mutex_lock(&t->mu);
		n = d->removed ? NULL : find_child(d, name, strlen(name));
		if (n)
			node_get(n);
		pthread_mutex_unlock(&t->mu);
		if (!n)
			return -ENOENT;
	} else {
		if (!cb_begin(d))
			return -ENOENT;
		struct boxfs_synth_ctx x = { d, c };
		r = d->dops->lookup(&x, name, &n);
		if (r == 0 && (!n || n->entered || n->parent || n->tree != t))
			r = -EIO; /* not a node new from boxfs_synth_new_file/dir */
		if (r == 0 && !(n->name = strdup(name)))
			r = -ENOMEM;
		if (r == 0)
			n->parent = node_get(d);
		else if (n && !n->entered && !n->parent)
			node_put(n);
		node_put(d);
		if (r < 0)
			return r;
	}
	*node = n;
	fill_attr(n, attr);
	return 0;
}

static void s_forget(void *aux, void *node)
{
	(void)aux;
	node_put(node);
}

static int s_getattr(void *aux, struct boxfs_call *c, void *node, void *fh, struct boxfs_attr *attr)
{
	(void)aux, (void)c, (void)fh;
	fill_attr(node, attr);
	return 0;
}

static int s_setattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		     const struct boxfs_setattr *sa, struct boxfs_attr *attr)
{
	(void)aux;
	struct boxfs_synth_node *n = node;
	/* a truncation (open with O_TRUNC) or a touch: nothing to change */
	if (sa->valid & (BOXFS_SET_MODE | BOXFS_SET_UID | BOXFS_SET_GID))
		return -EPERM;
	if ((sa->valid & BOXFS_SET_SIZE) && (is_dir(n) || n->kind == K_EVENTS))
		return is_dir(n) ? -EISDIR : -EINVAL;
	int r = fh ? 0 : check_access(c, n, W_OK);
	if (r < 0)
		return r;
	fill_attr(n, attr);
	return 0;
}

static bool can_read(const struct boxfs_synth_node *n)
{
	return is_dir(n) || n->kind == K_EVENTS || (n->fops->snapshot || n->fops->read);
}

static bool can_write(const struct boxfs_synth_node *n)
{
	return n->kind == K_FILE && (n->fops->write || n->fops->cmds || n->fops->commit);
}

static int s_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	struct boxfs_synth *t = aux;
	struct boxfs_synth_node *n = node;
	int acc = flags & O_ACCMODE;
	bool rd = acc != O_WRONLY, wr = acc != O_RDONLY || (flags & O_TRUNC);
	int r = check_access(c, n, (rd ? R_OK : 0) | (wr ? W_OK : 0));
	if (r < 0)
		return r;
	if ((rd && !can_read(n)) || (wr && !can_write(n)))
		return -EACCES;
	struct sopen *o = calloc(1, sizeof *o);
	if (!o)
		return -ENOMEM;
	o->node = n;
	o->flags = flags;
	if (n->kind == K_FILE && rd && n->fops->snapshot) {
		r = cb_begin(n) ? 0 : -ENOENT;
		if (r == 0) {
			struct boxfs_synth_ctx x = { n, c };
			r = n->fops->snapshot(&x, &o->snap);
			node_put(n);
		}
	} else if (n->kind == K_GENDIR && rd && n->dops->list) {
		r = cb_begin(n) ? 0 : -ENOENT;
		if (r == 0) {
			struct boxfs_synth_ctx x = { n, c };
			r = n->dops->list(&x, &o->dir);
			node_put(n);
		}
	} else if (n->kind == K_EVENTS) {
		pthread_mutex_lock(&t->mu);
		o->ev.next = n->opens;
		if (n->opens)
			n->opens->prev = &o->ev;
		n->opens = &o->ev;
		pthread_mutex_unlock(&t->mu);
	}
	if (r < 0) {
		free(o->snap.data);
		names_free(&o->dir);
		free(o);
		return r > 0 ? -EIO : r;
	}
	node_get(n);
	*fh = o;
	return 0;
}

static void s_release(void *aux, void *node, void *fh)
{
	struct boxfs_synth *t = aux;
	struct boxfs_synth_node *n = node;
	struct sopen *o = fh;
	if (!o)
		return;
	if (n->kind == K_FILE && n->fops->commit && (o->flags & O_ACCMODE) != O_RDONLY &&
	    cb_begin(n)) {
		struct boxfs_synth_ctx x = { n, NULL };
		/* never NULL, even for nothing written: callbacks may memcpy it */
		n->fops->commit(&x, o->wr.data ? o->wr.data : (const void *)"", o->wr.len);
		node_put(n);
	}
	if (n->kind == K_EVENTS) {
		pthread_mutex_lock(&t->mu);
		if (o->ev.prev)
			o->ev.prev->next = o->ev.next;
		else
			n->opens = o->ev.next;
		if (o->ev.next)
			o->ev.next->prev = o->ev.prev;
		pthread_mutex_unlock(&t->mu);
		for (struct evmsg *m = o->ev.head, *next; m; m = next) {
			next = m->next;
			free(m);
		}
	}
	free(o->snap.data);
	free(o->wr.data);
	names_free(&o->dir);
	free(o);
	node_put(n);
}

/* Moves queued events into buf (count > 0), under t->mu: whole events while
 * they fit, or a part of the first one when it alone does not. */
static size_t ev_take(struct evopen *o, uint8_t *buf, size_t count)
{
	size_t n = 0;
	while (o->head && n < count) {
		struct evmsg *m = o->head;
		size_t avail = m->len - m->off;
		size_t k = avail <= count - n ? avail : n == 0 ? count : 0;
		if (!k)
			break;
		memcpy(buf + n, m->data + m->off, k);
		m->off += k;
		n += k;
		o->bytes -= k;
		if (m->off == m->len) {
			o->head = m->next;
			if (!o->head)
				o->tail = NULL;
			free(m);
		}
	}
	return n;
}

/* The cancel hook of a waiting event read: whoever takes it off the list
 * answers it. */
static void ev_cancel(void *arg, struct boxfs_call *c)
{
	struct evread *w = arg;
	struct boxfs_synth *t = w->tree;
	bool mine = false;
	pthread_mutex_lock(&t->mu);
	for (struct evread **pp = &w->o->waiting; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			mine = true;
			break;
		}
	}
	pthread_mutex_unlock(&t->mu);
	if (mine) {
		free(w);
		boxfs_call_done(c, -EINTR);
	}
}

/*
 * A read of an event file: what is queued, or a wait. The read goes on the
 * list before its cancel hook is set; a post that answers it meanwhile
 * leaves the call answered, and the core then never runs the hook.
 */
static ssize_t ev_read(struct boxfs_synth *t, struct boxfs_call *c, struct boxfs_synth_node *n,
		       struct sopen *o, void *buf, size_t count)
{
	if (count == 0)
		return 0;
	struct evread *w = malloc(sizeof *w), *waiting = NULL;
	pthread_mutex_lock(&t->mu);
	ssize_t r = (ssize_t)ev_take(&o->ev, buf, count);
	if (r == 0 && !n->removed && !w) {
		r = -ENOMEM;
	} else if (r == 0 && !n->removed) {
		*w = (struct evread){ .tree = t, .o = &o->ev, .c = c, .buf = buf, .count = count };
		struct evread **pp = &o->ev.waiting;
		while (*pp)
			pp = &(*pp)->next;
		*pp = waiting = w;
		w = NULL;
		r = BOXFS_EDEFERRED;
	}
	pthread_mutex_unlock(&t->mu);
	free(w);
	if (waiting)
		boxfs_call_on_cancel(c, ev_cancel, waiting);
	return r;
}

int boxfs_synth_post(struct boxfs_synth_node *n, const void *data, size_t len)
{
	if (n->kind != K_EVENTS)
		return -EINVAL;
	struct boxfs_synth *t = n->tree;
	struct evread *answered = NULL;
	int r = 0;
	pthread_mutex_lock(&t->mu);
	for (struct evopen *o = n->opens; o && r == 0; o = o->next) {
		struct evmsg *m = malloc(sizeof *m + len);
		if (!m) {
			r = -ENOMEM;
			break;
		}
		m->next = NULL;
		m->len = len;
		m->off = 0;
		memcpy(m->data, data, len);
		if (o->tail)
			o->tail->next = m;
		else
			o->head = m;
		o->tail = m;
		o->bytes += len;
		/* over the bound: the oldest go (never the one just posted) */
		while (o->bytes > n->max_queued && o->head != m) {
			struct evmsg *old = o->head;
			o->head = old->next;
			o->bytes -= old->len - old->off;
			free(old);
		}
		while (o->waiting && o->head) {
			struct evread *w = o->waiting;
			o->waiting = w->next;
			w->count = ev_take(o, w->buf, w->count);
			w->next = answered;
			answered = w;
		}
	}
	pthread_mutex_unlock(&t->mu);
	while (answered) {
		struct evread *next = answered->next;
		boxfs_call_done(answered->c, (ssize_t)answered->count);
		free(answered);
		answered = next;
	}
	return r;
}

static ssize_t s_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
		      size_t count, uint64_t off)
{
	struct boxfs_synth *t = aux;
	struct boxfs_synth_node *n = node;
	struct sopen *o = fh;
	if (is_dir(n))
		return -EISDIR;
	if (!o)
		return -EBADF;
	if (n->kind == K_EVENTS)
		return ev_read(t, c, n, o, buf, count);
	if (!cb_begin(n))
		return -ENOENT;
	ssize_t r;
	if (n->fops->snapshot) {
		r = 0;
		if (off < o->snap.len) {
			r = (ssize_t)(o->snap.len - off < count ? o->snap.len - off : count);
			memcpy(buf, o->snap.data + off, (size_t)r);
		}
	} else {
		struct boxfs_synth_ctx x = { n, c };
		r = n->fops->read(&x, buf, count, off);
		if (r > (ssize_t)count || r == BOXFS_EDEFERRED)
			r = -EIO;
	}
	node_put(n);
	return r;
}

/* Runs one line of a control file. */
static int run_line(struct boxfs_synth_ctx *x, char *line)
{
	char *argv[MAX_WORDS + 1];
	int argc = 0;
	for (char *save = NULL, *w = strtok_r(line, " \t\r", &save); w;
	     w = strtok_r(NULL, " \t\r", &save)) {
		if (argc == MAX_WORDS)
			return boxfs_synth_error(x, -E2BIG, "too many words");
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	if (argc == 0)
		return 0; /* an empty line */
	for (const struct boxfs_synth_cmd *k = x->node->fops->cmds; k->name; k++)
		if (strcmp(k->name, argv[0]) == 0) {
			int r = k->fn(x, argc, argv);
			return r > 0 ? 0 : r;
		}
	return boxfs_synth_error(x, -EINVAL, "unknown command '%.64s'", argv[0]);
}

/* A write to a control file: each line is a command; a last line without
 * its newline counts too. */
static ssize_t run_cmds(struct boxfs_synth_ctx *x, const void *buf, size_t count)
{
	char *text = malloc(count + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, buf, count);
	text[count] = '\0';
	if (memchr(text, '\0', count)) {
		free(text);
		return boxfs_synth_error(x, -EINVAL, "NUL in a command");
	}
	int r = 0;
	for (char *line = text, *nl; r == 0 && line < text + count; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = text + count;
		*nl = '\0';
		r = run_line(x, line);
	}
	free(text);
	return r < 0 ? r : (ssize_t)count;
}

static ssize_t s_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
		       size_t count, uint64_t off)
{
	(void)aux;
	struct boxfs_synth_node *n = node;
	struct sopen *o = fh;
	if (is_dir(n))
		return -EISDIR;
	if (!o || n->kind != K_FILE)
		return -EBADF;
	if (!cb_begin(n))
		return -ENOENT;
	struct boxfs_synth_ctx x = { n, c };
	ssize_t r = (ssize_t)count;
	if (n->fops->cmds)
		r = run_cmds(&x, buf, count);
	else if (n->fops->write)
		r = n->fops->write(&x, buf, count, off);
	if (r > (ssize_t)count || r == BOXFS_EDEFERRED)
		r = -EIO;
	if (r > 0 && n->fops->commit) { /* kept for the close, at its offset */
		size_t len = (size_t)r;
		if (off > MAX_COMMIT || off + len > MAX_COMMIT)
			r = -EFBIG;
		else if (off + len > o->wr.len && buf_room(&o->wr, off + len) < 0)
			r = -ENOMEM;
		if (r > 0) {
			if (off > o->wr.len)
				memset(o->wr.data + o->wr.len, 0, off - o->wr.len);
			memcpy(o->wr.data + off, buf, len);
			if (off + len > o->wr.len)
				o->wr.len = off + len;
		}
	}
	node_put(n);
	return r;
}

/* Directory listings. Entered children are listed in the order of their
 * inos, which only grow, so a cookie is the ino of the last entry given;
 * generated ones come from the listing made at open, cookie = index + 1. */
static int s_readdir(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
		     boxfs_fill_fn fill, void *ctx)
{
	(void)c;
	struct boxfs_synth *t = aux;
	struct boxfs_synth_node *d = dir;
	struct sopen *o = fh;
	if (!is_dir(d))
		return -ENOTDIR;
	if (d->kind == K_GENDIR) {
		for (uint64_t i = cookie; o && i < o->dir.n; i++) {
			const char *name = o->dir.names[i];
			uint64_t h = 1469598103934665603ull; /* FNV-1a: an ino for the entry */
			for (const char *p = name; *p; p++)
				h = (h ^ (uint8_t)*p) * 1099511628211ull;
			if (fill(ctx, name, (h >> 1) | 1, DT_UNKNOWN, i + 1))
				break;
		}
		return 0;
	}
	pthread_mutex_lock(&t->mu);
	for (struct boxfs_synth_node *k = d->child; k; k = k->next) {
		if (k->ino <= cookie)
			continue;
		if (fill(ctx, k->name, k->ino, is_dir(k) ? DT_DIR : DT_REG, k->ino))
			break;
	}
	pthread_mutex_unlock(&t->mu);
	return 0;
}

static int s_statfs(void *aux, struct boxfs_call *c, void *node, struct boxfs_statfs *st)
{
	(void)aux, (void)c, (void)node;
	memset(st, 0, sizeof *st);
	st->type = 0x62786673; /* "bxfs" */
	st->bsize = 4096;
	st->namelen = 255;
	return 0;
}

static void s_destroy(void *aux)
{
	struct boxfs_synth *t = aux;
	struct boxfs_synth_node *gone = NULL;
	struct evread *waiting = NULL;
	pthread_mutex_lock(&t->mu);
	while (t->root->child) {
		struct boxfs_synth_node *k = t->root->child;
		t->root->child = k->next;
		unlink_tree(k, &gone, &waiting);
	}
	t->root->last = NULL;
	pthread_mutex_unlock(&t->mu);
	answer_eof(waiting);
	while (gone) {
		struct boxfs_synth_node *next = gone->next;
		node_put(gone);
		gone = next;
	}
	node_put(t->root);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static const struct boxfs_fs_ops synth_ops = {
	.root = s_root,
	.lookup = s_lookup,
	.forget = s_forget,
	.getattr = s_getattr,
	.setattr = s_setattr,
	.open = s_open,
	.read = s_read,
	.write = s_write,
	.readdir = s_readdir,
	.statfs = s_statfs,
	.release = s_release,
	.destroy = s_destroy,
};

struct boxfs_synth *boxfs_synth_new(unsigned flags)
{
	if (flags & ~(unsigned)BOXFS_SYNTH_BLOCKING) {
		errno = EINVAL;
		return NULL;
	}
	struct boxfs_synth *t = calloc(1, sizeof *t);
	struct boxfs_fs *fs = malloc(sizeof *fs);
	if (t)
		atomic_init(&t->next_ino, 1);
	if (!t || !fs || !(t->root = node_new(t, K_DIR, 0555))) {
		free(t);
		free(fs);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	t->fs = fs;
	*fs = (struct boxfs_fs){
		.ops = &synth_ops,
		.aux = t,
		/* callbacks run where the request is read, unless they may
		 * block; event reads wait as deferred answers either way */
		.flags = BOXFS_FS_DEFER | (flags & BOXFS_SYNTH_BLOCKING ? 0 : BOXFS_FS_INLINE),
		.name = "synth",
	};
	return t;
}

struct boxfs_fs *boxfs_synth_fs(struct boxfs_synth *t)
{
	return t->fs;
}
