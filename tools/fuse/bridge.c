/*
 * bridge.c — FUSE's low-level operations answered by a 9P server: each
 * request becomes one or a few 9P messages through the client library
 * (boxfs_rpc), from whichever FUSE worker thread runs it; the library
 * multiplexes them by tag on the one connection.
 *
 * Shapes:
 *  - An inode is a struct node holding a walked, never opened fid (so new
 *    walks can start from it); nodes are found by qid.path, created by
 *    lookups (lookup, create, mkdir, symlink, mknod, link, readdirplus) and
 *    freed, their fid clunked, when the kernel forgets the last lookup.
 *  - An open file or directory is a struct handle with a fid of its own, a
 *    clone of the node's fid that Tlopen (Topen) opened; release clunks it.
 *  - 9P2000.L is the native dialect. Under 9P2000.u and 9P2000 the bridge
 *    uses Tstat/Twstat/Topen/Tcreate/Tremove and stat-record directory
 *    reads; what those dialects cannot say answers an errno: EOPNOTSUPP for
 *    locks and xattrs, EPERM for mknod (and links and symlinks in 9P2000),
 *    EXDEV for a rename across directories.
 *  - Errors: Rlerror carries a Linux errno, passed on as is; Rerror's
 *    number or string is mapped; a broken connection answers EIO, at once
 *    and for every later request (the library fails every call).
 */
#include "bridge.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define P9_AT_REMOVEDIR 0x200u

/* An open file or directory. */
struct handle {
	uint32_t fid;
	bool dir;
	/* 9P2000 and .u directories: the listing, read whole at offset 0 */
	pthread_mutex_t lk;
	struct dent *ents;
	size_t nents;
};

struct dent {
	char *name;
	uint64_t qpath;
	mode_t type; /* S_IF* */
};

static struct bridge *bridge_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static bool is_L(const struct bridge *b)
{
	return b->d == P9_2000L;
}

/* ---- messages ---- */

/*
 * Sends tx and waits for a reply of type want: 0 with *rx and *rbuf (free
 * it), or -errno with *rbuf NULL. A dead connection is -EIO.
 */
static int rpc(struct bridge *b, const struct p9_fcall *tx, uint8_t want, struct p9_fcall *rx,
	       void **rbuf)
{
	int rc = boxfs_rpc(b->c, tx, rx, rbuf);
	if (rc < 0)
		return boxfs_conn_error(b->c) || rc == -ECONNRESET || rc == -EPIPE ? -EIO : rc;
	int e = boxfs_reply_errno(rx);
	if (!e && rx->type != want)
		e = EIO;
	if (e) {
		free(*rbuf);
		*rbuf = NULL;
		return -e;
	}
	return 0;
}

/* rpc() for replies whose body does not matter. */
static int rpc0(struct bridge *b, const struct p9_fcall *tx, uint8_t want)
{
	struct p9_fcall rx;
	void *rbuf;
	int rc = rpc(b, tx, want, &rx, &rbuf);
	free(rbuf);
	return rc;
}

/* Tclunk, waiting for the answer; the fid is free afterwards either way. */
static int clunk(struct bridge *b, uint32_t fid)
{
	struct p9_fcall tx = { .type = P9_Tclunk, .tclunk = { fid } };
	int rc = rpc0(b, &tx, P9_Rclunk);
	boxfs_fid_put(b->c, fid);
	return rc;
}

struct clunk_ctx {
	struct boxfs_client *c;
	uint32_t fid;
};

static void clunk_done(void *arg, int err, struct p9_fcall *rx, void *rbuf)
{
	struct clunk_ctx *x = arg;
	(void)err;
	(void)rx;
	free(rbuf);
	boxfs_fid_put(x->c, x->fid); /* only now may the number be reused */
	free(x);
}

/* Tclunk without waiting: for forget and release, whose answer is no one's. */
static void clunk_async(struct bridge *b, uint32_t fid)
{
	struct clunk_ctx *x = malloc(sizeof *x);
	struct p9_fcall tx = { .type = P9_Tclunk, .tclunk = { fid } };
	if (x) {
		*x = (struct clunk_ctx){ b->c, fid };
		if (boxfs_rpc_async(b->c, &tx, clunk_done, x) == 0)
			return;
		free(x);
	}
	clunk(b, fid);
}

/*
 * Twalk from fid `from` to name (NULL: a clone) into a fresh fid: 0 with
 * *fid and (for a name) *qid, or -errno (-ENOENT for a short walk).
 */
static int walk(struct bridge *b, uint32_t from, const char *name, uint32_t *fid,
		struct p9_qid *qid)
{
	uint32_t nf = boxfs_fid_get(b->c);
	if (nf == P9_NOFID)
		return -EMFILE;
	struct p9_fcall tx = { .type = P9_Twalk,
			       .twalk = { .fid = from, .newfid = nf, .nwname = name ? 1 : 0 } };
	if (name)
		tx.twalk.wname[0] = p9_cstr(name);
	struct p9_fcall rx;
	void *rbuf;
	int rc = rpc(b, &tx, P9_Rwalk, &rx, &rbuf);
	if (rc == 0 && rx.rwalk.nwqid != tx.twalk.nwname)
		rc = -ENOENT; /* walk(5): a short walk made no fid */
	if (rc == 0 && name && qid)
		*qid = rx.rwalk.wqid[0];
	free(rbuf);
	if (rc < 0) {
		boxfs_fid_put(b->c, nf);
		return rc;
	}
	*fid = nf;
	return 0;
}

/* ---- attributes ---- */

static void p9stat_to_stat(const struct bridge *b, const struct p9_stat *s, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_mode = boxfs_p9_mode(s, b->d);
	st->st_ino = s->qid.path;
	st->st_nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	st->st_uid = b->uid;
	st->st_gid = b->gid;
	if (b->d == P9_2000U) {
		if (s->n_uid != UINT32_MAX)
			st->st_uid = s->n_uid;
		if (s->n_gid != UINT32_MAX)
			st->st_gid = s->n_gid;
		if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) {
			char ext[64];
			unsigned maj = 0, min = 0;
			char t;
			snprintf(ext, sizeof ext, "%.*s", (int)s->extension.len, s->extension.s);
			if (sscanf(ext, "%c %u %u", &t, &maj, &min) == 3)
				st->st_rdev = makedev(maj, min);
		}
	}
	st->st_size = (off_t)s->length;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((s->length + 511) / 512);
	st->st_atim.tv_sec = s->atime;
	st->st_mtim.tv_sec = s->mtime;
	st->st_ctim.tv_sec = s->mtime;
}

/* Tgetattr (Tstat) of fid into *st, and its qid when qid is not NULL. */
static int fid_getattr(struct bridge *b, uint32_t fid, struct stat *st, struct p9_qid *qid)
{
	struct p9_fcall rx;
	void *rbuf;
	int rc;
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tgetattr, .tgetattr = { fid, P9_GETATTR_BASIC } };
		rc = rpc(b, &tx, P9_Rgetattr, &rx, &rbuf);
		if (rc == 0) {
			boxfs_getattr_to_stat(&rx.rgetattr, st);
			if (qid)
				*qid = rx.rgetattr.qid;
		}
	} else {
		struct p9_fcall tx = { .type = P9_Tstat, .tstat = { fid } };
		rc = rpc(b, &tx, P9_Rstat, &rx, &rbuf);
		if (rc == 0) {
			p9stat_to_stat(b, &rx.rstat.stat, st);
			if (qid)
				*qid = rx.rstat.stat.qid;
		}
	}
	free(rbuf);
	return rc;
}

static int wstat(struct bridge *b, uint32_t fid, const struct p9_stat *st)
{
	struct p9_fcall tx = { .type = P9_Twstat, .twstat = { .fid = fid, .stat = *st } };
	return rpc0(b, &tx, P9_Rwstat);
}

/* ---- the node table ---- */

static struct node *node_of(struct bridge *b, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? b->root : (struct node *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct bridge *b, struct node *n)
{
	return n == b->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

static size_t slot(const struct bridge *b, uint64_t qpath)
{
	return (size_t)((qpath * 0x9e3779b97f4a7c15ull) >> 20) & (b->tabcap - 1);
}

static void table_grow(struct bridge *b)
{
	size_t cap = b->tabcap * 2;
	struct node **t = calloc(cap, sizeof *t);
	if (!t)
		return; /* longer chains, still correct */
	struct node **old = b->tab;
	size_t oldcap = b->tabcap;
	b->tab = t;
	b->tabcap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		struct node *n, *next;
		for (n = old[i]; n; n = next) {
			next = n->next;
			size_t s = slot(b, n->qpath);
			n->next = t[s];
			t[s] = n;
		}
	}
	free(old);
}

/*
 * One more lookup of the file whose walked fid is fid: the node that already
 * holds qid.path (fid is then clunked), or a new node taking fid. NULL when
 * out of memory (fid clunked too).
 */
static struct node *node_enter(struct bridge *b, uint32_t fid, struct p9_qid qid)
{
	pthread_mutex_lock(&b->lk);
	struct node *n;
	for (n = b->tab[slot(b, qid.path)]; n; n = n->next)
		if (n->qpath == qid.path)
			break;
	if (n) {
		n->nlookup++;
		pthread_mutex_unlock(&b->lk);
		clunk_async(b, fid);
		return n;
	}
	n = calloc(1, sizeof *n);
	if (!n) {
		pthread_mutex_unlock(&b->lk);
		clunk_async(b, fid);
		return NULL;
	}
	n->qpath = qid.path;
	n->qtype = qid.type;
	n->fid = fid;
	n->nlookup = 1;
	size_t s = slot(b, qid.path);
	n->next = b->tab[s];
	b->tab[s] = n;
	if (++b->count > b->tabcap)
		table_grow(b);
	pthread_mutex_unlock(&b->lk);
	return n;
}

static void lockers_free(struct node *n)
{
	struct locker *l, *next;
	for (l = n->lockers; l; l = next) {
		next = l->next;
		free(l);
	}
	n->lockers = NULL;
}

/* True with *pid when owner locked n; with take, forgets it. */
static bool locker_pid(struct bridge *b, struct node *n, uint64_t owner, bool take, uint32_t *pid)
{
	bool found = false;
	*pid = 0;
	pthread_mutex_lock(&b->lk);
	for (struct locker **p = &n->lockers; *p; p = &(*p)->next) {
		if ((*p)->owner == owner) {
			struct locker *l = *p;
			*pid = l->pid;
			found = true;
			if (take) {
				*p = l->next;
				free(l);
			}
			break;
		}
	}
	pthread_mutex_unlock(&b->lk);
	return found;
}

/* Records that owner locks n as pid: 0 or -ENOMEM. */
static int locker_set(struct bridge *b, struct node *n, uint64_t owner, uint32_t pid)
{
	int rc = 0;
	pthread_mutex_lock(&b->lk);
	struct locker *l;
	for (l = n->lockers; l; l = l->next)
		if (l->owner == owner)
			break;
	if (!l && (l = malloc(sizeof *l))) {
		l->owner = owner;
		l->next = n->lockers;
		n->lockers = l;
	}
	if (l)
		l->pid = pid;
	else
		rc = -ENOMEM;
	pthread_mutex_unlock(&b->lk);
	return rc;
}

/* The kernel drops k lookups of n; the last one frees it. */
static void node_forget(struct bridge *b, struct node *n, uint64_t k)
{
	pthread_mutex_lock(&b->lk);
	if (n == b->root || n->nlookup > k) {
		n->nlookup = n->nlookup > k ? n->nlookup - k : 0;
		pthread_mutex_unlock(&b->lk);
		return;
	}
	struct node **p = &b->tab[slot(b, n->qpath)];
	while (*p && *p != n)
		p = &(*p)->next;
	if (*p)
		*p = n->next;
	b->count--;
	pthread_mutex_unlock(&b->lk);
	clunk_async(b, n->fid);
	lockers_free(n);
	free(n);
}

int bridge_init(struct bridge *b, struct boxfs_client *c)
{
	b->c = c;
	b->d = boxfs_dialect(c);
	b->iomax = p9_iocount(boxfs_msize(c), UINT32_MAX);
	pthread_mutex_init(&b->lk, NULL);
	b->tabcap = 1024;
	b->tab = calloc(b->tabcap, sizeof *b->tab);
	b->root = calloc(1, sizeof *b->root);
	if (!b->tab || !b->root) {
		free(b->tab);
		free(b->root);
		return -ENOMEM;
	}
	struct stat st;
	struct p9_qid qid = { 0 };
	int rc = fid_getattr(b, boxfs_root_fid(c), &st, &qid);
	if (rc < 0) {
		free(b->tab);
		free(b->root);
		return rc;
	}
	b->root->fid = boxfs_root_fid(c); /* boxfs_disconnect clunks it */
	b->root->qpath = qid.path;
	b->root->qtype = qid.type;
	b->root->nlookup = 1;
	b->tab[slot(b, qid.path)] = b->root;
	b->count = 1;
	return 0;
}

void bridge_fini(struct bridge *b)
{
	for (size_t i = 0; i < b->tabcap; i++) {
		struct node *n, *next;
		for (n = b->tab[i]; n; n = next) {
			next = n->next;
			lockers_free(n);
			if (n != b->root) {
				clunk(b, n->fid);
				free(n);
			}
		}
	}
	free(b->root);
	free(b->tab);
	b->tab = NULL;
	b->root = NULL;
	pthread_mutex_destroy(&b->lk);
}

/* ---- replies ---- */

static void reply_err(fuse_req_t req, int rc)
{
	int e = rc < 0 ? -rc : rc;
	if (e == ENOSYS)
		e = EOPNOTSUPP; /* ENOSYS would make the kernel stop asking */
	fuse_reply_err(req, e);
}

static void fill_entry(struct bridge *b, struct fuse_entry_param *e, struct node *n,
		       const struct stat *st)
{
	memset(e, 0, sizeof *e);
	e->ino = ino_of(b, n);
	e->attr = *st;
	e->attr_timeout = b->attr_timeout;
	e->entry_timeout = b->entry_timeout;
}

/* Walks from dir to name and enters the result: 0 with *e, or -errno. */
static int lookup_entry(struct bridge *b, struct node *dir, const char *name,
			struct fuse_entry_param *e)
{
	uint32_t fid;
	struct p9_qid qid;
	int rc = walk(b, dir->fid, name, &fid, &qid);
	if (rc < 0)
		return rc;
	struct stat st;
	rc = fid_getattr(b, fid, &st, &qid);
	if (rc < 0) {
		clunk_async(b, fid);
		return rc;
	}
	struct node *n = node_enter(b, fid, qid);
	if (!n)
		return -ENOMEM;
	fill_entry(b, e, n, &st);
	return 0;
}

/* Answers a request that made name in dir with the new entry. */
static void reply_made(fuse_req_t req, struct node *dir, const char *name)
{
	struct bridge *b = bridge_of(req);
	struct fuse_entry_param e;
	int rc = lookup_entry(b, dir, name, &e);
	if (rc < 0)
		reply_err(req, rc);
	else if (fuse_reply_entry(req, &e) != 0)
		node_forget(b, node_of(b, e.ino), 1);
}

/* ---- operations ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct bridge *b = userdata;
	unsigned mw = b->iomax < (1u << 20) ? b->iomax : (1u << 20);
	conn->max_write = mw;
	conn->max_readahead = mw;
	if (b->cache == CACHE_FULL && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	if (b->cache == CACHE_NONE || !is_L(b))
		conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	if (is_L(b) && (conn->capable & FUSE_CAP_FLOCK_LOCKS))
		conn->want |= FUSE_CAP_FLOCK_LOCKS;
	if (is_L(b) && (conn->capable & FUSE_CAP_POSIX_LOCKS))
		conn->want |= FUSE_CAP_POSIX_LOCKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct bridge *b = bridge_of(req);
	struct fuse_entry_param e;
	int rc = lookup_entry(b, node_of(b, parent), name, &e);
	if (rc == -ENOENT && b->cache == CACHE_FULL) {
		memset(&e, 0, sizeof e); /* a negative entry, kept for entry_timeout */
		e.entry_timeout = b->entry_timeout;
		fuse_reply_entry(req, &e);
	} else if (rc < 0) {
		reply_err(req, rc);
	} else if (fuse_reply_entry(req, &e) != 0) {
		node_forget(b, node_of(b, e.ino), 1);
	}
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct bridge *b = bridge_of(req);
	node_forget(b, node_of(b, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct bridge *b = bridge_of(req);
	for (size_t i = 0; i < count; i++)
		node_forget(b, node_of(b, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	struct stat st;
	int rc = fid_getattr(b, h ? h->fid : node_of(b, ino)->fid, &st, NULL);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, b->attr_timeout);
}

static int setattr_L(struct bridge *b, uint32_t fid, const struct stat *a, int set)
{
	struct p9_fcall tx = { .type = P9_Tsetattr, .tsetattr = { .fid = fid } };
	struct p9_tsetattr *s = &tx.tsetattr;
	if (set & FUSE_SET_ATTR_MODE) {
		s->valid |= P9_SETATTR_MODE;
		s->mode = a->st_mode & 07777;
	}
	if (set & FUSE_SET_ATTR_UID) {
		s->valid |= P9_SETATTR_UID;
		s->uid = a->st_uid;
	}
	if (set & FUSE_SET_ATTR_GID) {
		s->valid |= P9_SETATTR_GID;
		s->gid = a->st_gid;
	}
	if (set & FUSE_SET_ATTR_SIZE) {
		s->valid |= P9_SETATTR_SIZE;
		s->size = (uint64_t)a->st_size;
	}
	if (set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW)) {
		s->valid |= P9_SETATTR_ATIME;
		if (!(set & FUSE_SET_ATTR_ATIME_NOW)) {
			s->valid |= P9_SETATTR_ATIME_SET;
			s->atime_sec = (uint64_t)a->st_atim.tv_sec;
			s->atime_nsec = (uint64_t)a->st_atim.tv_nsec;
		}
	}
	if (set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		s->valid |= P9_SETATTR_MTIME;
		if (!(set & FUSE_SET_ATTR_MTIME_NOW)) {
			s->valid |= P9_SETATTR_MTIME_SET;
			s->mtime_sec = (uint64_t)a->st_mtim.tv_sec;
			s->mtime_nsec = (uint64_t)a->st_mtim.tv_nsec;
		}
	}
	if (set & FUSE_SET_ATTR_CTIME)
		s->valid |= P9_SETATTR_CTIME;
	return rpc0(b, &tx, P9_Rsetattr);
}

/* Twstat can change mode, length and times; ids only by name, so not here. */
static int setattr_u(struct bridge *b, uint32_t fid, const struct stat *a, int set)
{
	struct stat cur;
	int rc = 0;
	if (set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MODE)) {
		rc = fid_getattr(b, fid, &cur, NULL);
		if (rc < 0)
			return rc;
		if (((set & FUSE_SET_ATTR_UID) && a->st_uid != cur.st_uid) ||
		    ((set & FUSE_SET_ATTR_GID) && a->st_gid != cur.st_gid))
			return -EPERM;
	}
	struct p9_stat st = p9_stat_dont_touch();
	if (set & FUSE_SET_ATTR_MODE) {
		uint32_t m = a->st_mode & 0777;
		if (S_ISDIR(cur.st_mode))
			m |= P9_DMDIR;
		if (b->d == P9_2000U) {
			m |= a->st_mode & S_ISUID ? P9_DMSETUID : 0;
			m |= a->st_mode & S_ISGID ? P9_DMSETGID : 0;
			m |= a->st_mode & S_ISVTX ? P9_DMSETVTX : 0;
			m |= S_ISLNK(cur.st_mode) ? P9_DMSYMLINK : 0;
		}
		st.mode = m;
	}
	if (set & FUSE_SET_ATTR_SIZE)
		st.length = (uint64_t)a->st_size;
	time_t now = time(NULL);
	if (set & FUSE_SET_ATTR_ATIME_NOW)
		st.atime = (uint32_t)now;
	else if (set & FUSE_SET_ATTR_ATIME)
		st.atime = (uint32_t)a->st_atim.tv_sec;
	if (set & FUSE_SET_ATTR_MTIME_NOW)
		st.mtime = (uint32_t)now;
	else if (set & FUSE_SET_ATTR_MTIME)
		st.mtime = (uint32_t)a->st_mtim.tv_sec;
	return wstat(b, fid, &st);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	uint32_t fid = h ? h->fid : node_of(b, ino)->fid;
	int rc = is_L(b) ? setattr_L(b, fid, attr, to_set) : setattr_u(b, fid, attr, to_set);
	struct stat st;
	if (rc == 0)
		rc = fid_getattr(b, fid, &st, NULL);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_attr(req, &st, b->attr_timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct bridge *b = bridge_of(req);
	uint32_t fid = node_of(b, ino)->fid;
	struct p9_fcall rx;
	void *rbuf = NULL;
	char *target = NULL;
	int rc;
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Treadlink, .treadlink = { fid } };
		rc = rpc(b, &tx, P9_Rreadlink, &rx, &rbuf);
		if (rc == 0)
			target = strndup(rx.rreadlink.target.s, rx.rreadlink.target.len);
	} else if (b->d == P9_2000U) {
		struct p9_fcall tx = { .type = P9_Tstat, .tstat = { fid } };
		rc = rpc(b, &tx, P9_Rstat, &rx, &rbuf);
		if (rc == 0 && !(rx.rstat.stat.mode & P9_DMSYMLINK))
			rc = -EINVAL;
		if (rc == 0)
			target = strndup(rx.rstat.stat.extension.s, rx.rstat.stat.extension.len);
	} else {
		rc = -EINVAL;
	}
	free(rbuf);
	if (rc == 0 && !target)
		rc = -ENOMEM;
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct bridge *b = bridge_of(req);
	struct node *dir = node_of(b, parent);
	if (!is_L(b)) {
		reply_err(req, -EPERM);
		return;
	}
	struct p9_fcall tx = { .type = P9_Tmknod,
			       .tmknod = { dir->fid, p9_cstr(name), (uint32_t)mode, major(rdev),
					   minor(rdev), fuse_req_ctx(req)->gid } };
	int rc = rpc0(b, &tx, P9_Rmknod);
	if (rc < 0)
		reply_err(req, rc);
	else
		reply_made(req, dir, name);
}

/* Tcreate of name in a clone of dir's fid, clunked at once (not opened for I/O). */
static int create_u(struct bridge *b, struct node *dir, const char *name, uint32_t perm,
		    const char *ext)
{
	uint32_t fid;
	int rc = walk(b, dir->fid, NULL, &fid, NULL);
	if (rc < 0)
		return rc;
	struct p9_fcall tx = { .type = P9_Tcreate,
			       .tcreate = { fid, p9_cstr(name), perm, P9_OREAD, p9_cstr(ext) } };
	rc = rpc0(b, &tx, P9_Rcreate);
	clunk_async(b, fid); /* the clone, opened or not */
	return rc;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct bridge *b = bridge_of(req);
	struct node *dir = node_of(b, parent);
	int rc;
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tmkdir,
				       .tmkdir = { dir->fid, p9_cstr(name),
						   (uint32_t)(mode & 07777),
						   fuse_req_ctx(req)->gid } };
		rc = rpc0(b, &tx, P9_Rmkdir);
	} else {
		rc = create_u(b, dir, name, P9_DMDIR | (mode & 0777), "");
	}
	if (rc < 0)
		reply_err(req, rc);
	else
		reply_made(req, dir, name);
}

static int remove_u(struct bridge *b, struct node *dir, const char *name, bool want_dir)
{
	uint32_t fid;
	struct p9_qid qid;
	int rc = walk(b, dir->fid, name, &fid, &qid);
	if (rc < 0)
		return rc;
	if (!want_dir != !(qid.type & P9_QTDIR)) {
		clunk_async(b, fid);
		return want_dir ? -ENOTDIR : -EISDIR;
	}
	struct p9_fcall tx = { .type = P9_Tremove, .tremove = { fid } };
	rc = rpc0(b, &tx, P9_Rremove);
	boxfs_fid_put(b->c, fid); /* remove(5) clunks, whatever the answer */
	return rc;
}

static void unlink_common(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct bridge *b = bridge_of(req);
	struct node *d = node_of(b, parent);
	int rc;
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tunlinkat,
				       .tunlinkat = { d->fid, p9_cstr(name),
						      dir ? P9_AT_REMOVEDIR : 0 } };
		rc = rpc0(b, &tx, P9_Runlinkat);
	} else {
		rc = remove_u(b, d, name, dir);
	}
	reply_err(req, rc);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	unlink_common(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	unlink_common(req, parent, name, true);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct bridge *b = bridge_of(req);
	struct node *dir = node_of(b, parent);
	int rc;
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tsymlink,
				       .tsymlink = { dir->fid, p9_cstr(name), p9_cstr(link),
						     fuse_req_ctx(req)->gid } };
		rc = rpc0(b, &tx, P9_Rsymlink);
	} else if (b->d == P9_2000U) {
		rc = create_u(b, dir, name, P9_DMSYMLINK | 0777, link);
	} else {
		rc = -EPERM;
	}
	if (rc < 0)
		reply_err(req, rc);
	else
		reply_made(req, dir, name);
}

/*
 * 9P has no renameat2 flags. RENAME_NOREPLACE is checked here before the
 * rename (so it is not atomic against other clients of the server);
 * RENAME_EXCHANGE cannot be done and answers EINVAL, as Linux file systems
 * without it do.
 */
static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct bridge *b = bridge_of(req);
	struct node *od = node_of(b, parent), *nd = node_of(b, newparent);
	int rc = 0;
	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		reply_err(req, -EINVAL);
		return;
	}
	if (flags & RENAME_NOREPLACE) {
		uint32_t fid;
		struct p9_qid qid;
		rc = walk(b, nd->fid, newname, &fid, &qid);
		if (rc == 0) {
			clunk_async(b, fid);
			rc = -EEXIST;
		} else if (rc == -ENOENT) {
			rc = 0;
		}
	}
	if (rc == 0 && is_L(b)) {
		struct p9_fcall tx = { .type = P9_Trenameat,
				       .trenameat = { od->fid, p9_cstr(name), nd->fid,
						      p9_cstr(newname) } };
		rc = rpc0(b, &tx, P9_Rrenameat);
	} else if (rc == 0) {
		uint32_t fid;
		if (od->qpath != nd->qpath) {
			rc = -EXDEV; /* wstat renames within a directory only */
		} else if ((rc = walk(b, od->fid, name, &fid, NULL)) == 0) {
			struct p9_stat st = p9_stat_dont_touch();
			st.name = p9_cstr(newname);
			rc = wstat(b, fid, &st);
			clunk_async(b, fid);
		}
	}
	reply_err(req, rc);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct bridge *b = bridge_of(req);
	struct node *n = node_of(b, ino), *dir = node_of(b, newparent);
	int rc;
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tlink,
				       .tlink = { dir->fid, n->fid, p9_cstr(newname) } };
		rc = rpc0(b, &tx, P9_Rlink);
	} else if (b->d == P9_2000U) {
		char ext[32];
		snprintf(ext, sizeof ext, "%u\n", n->fid); /* the 9P2000.u draft, as Linux */
		rc = create_u(b, dir, newname, P9_DMLINK, ext);
	} else {
		rc = -EPERM;
	}
	if (rc < 0)
		reply_err(req, rc);
	else
		reply_made(req, dir, newname);
}

/* ---- open files ---- */

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

static uint8_t omode(int flags)
{
	uint8_t m = (flags & O_ACCMODE) == O_WRONLY ? P9_OWRITE
		    : (flags & O_ACCMODE) == O_RDWR ? P9_ORDWR
						    : P9_OREAD;
	if (flags & O_TRUNC)
		m |= P9_OTRUNC;
	return m;
}

/* The open(2) flags the server sees: writeback caching reads pages of a file
 * opened write-only and does its own appending. */
static int server_flags(const struct bridge *b, int flags)
{
	flags &= O_ACCMODE | O_TRUNC | O_APPEND | O_SYNC | O_DSYNC;
	if (b->cache == CACHE_FULL) {
		if ((flags & O_ACCMODE) == O_WRONLY)
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		flags &= ~O_APPEND;
	}
	return flags;
}

static void set_open_flags(const struct bridge *b, struct fuse_file_info *fi)
{
	fi->direct_io = b->cache == CACHE_NONE;
	fi->keep_cache = b->cache == CACHE_FULL;
}

static struct handle *handle_new(uint32_t fid, bool dir)
{
	struct handle *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->fid = fid;
	h->dir = dir;
	pthread_mutex_init(&h->lk, NULL);
	return h;
}

static void handle_free(struct bridge *b, struct handle *h)
{
	clunk_async(b, h->fid);
	for (size_t i = 0; i < h->nents; i++)
		free(h->ents[i].name);
	free(h->ents);
	pthread_mutex_destroy(&h->lk);
	free(h);
}

/* Clones n's fid and opens the clone: 0 with *fid, or -errno. */
static int open_fid(struct bridge *b, struct node *n, int flags, uint32_t *fidp)
{
	uint32_t fid;
	int rc = walk(b, n->fid, NULL, &fid, NULL);
	if (rc < 0)
		return rc;
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tlopen, .tlopen = { fid, (uint32_t)flags } };
		rc = rpc0(b, &tx, P9_Rlopen);
	} else {
		struct p9_fcall tx = { .type = P9_Topen, .topen = { fid, omode(flags) } };
		rc = rpc0(b, &tx, P9_Ropen);
	}
	if (rc < 0) {
		clunk_async(b, fid);
		return rc;
	}
	*fidp = fid;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	uint32_t fid;
	int rc = open_fid(b, node_of(b, ino), server_flags(b, fi->flags), &fid);
	struct handle *h = rc == 0 ? handle_new(fid, false) : NULL;
	if (rc == 0 && !h) {
		clunk_async(b, fid);
		rc = -ENOMEM;
	}
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	set_open_flags(b, fi);
	if (fuse_reply_open(req, fi) != 0)
		handle_free(b, h); /* interrupted: the kernel will not release it */
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	struct node *dir = node_of(b, parent);
	int flags = server_flags(b, fi->flags);
	uint32_t fid;
	int rc = walk(b, dir->fid, NULL, &fid, NULL);
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tlcreate,
				       .tlcreate = {
					       fid, p9_cstr(name),
					       (uint32_t)(flags | O_CREAT | (fi->flags & O_EXCL)),
					       (uint32_t)(mode & 07777), fuse_req_ctx(req)->gid } };
		rc = rpc0(b, &tx, P9_Rlcreate);
	} else {
		struct p9_fcall tx = { .type = P9_Tcreate,
				       .tcreate = { fid, p9_cstr(name), (uint32_t)(mode & 0777),
						    omode(flags), p9_cstr("") } };
		rc = rpc0(b, &tx, P9_Rcreate);
	}
	if (rc < 0) {
		clunk_async(b, fid);
		reply_err(req, rc);
		return;
	}
	struct handle *h = handle_new(fid, false); /* the created fid is open */
	struct fuse_entry_param e;
	if (!h) {
		clunk_async(b, fid);
		rc = -ENOMEM;
	} else {
		rc = lookup_entry(b, dir, name, &e);
	}
	if (rc < 0) {
		if (h)
			handle_free(b, h);
		reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	set_open_flags(b, fi);
	if (fuse_reply_create(req, &e, fi) != 0) {
		handle_free(b, h);
		node_forget(b, node_of(b, e.ino), 1);
	}
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	struct handle *h = handle_of(fi);
	(void)ino;
	char *buf = NULL;
	size_t got = 0;
	int rc = 0;
	while (got < size) {
		uint32_t want = p9_iocount(boxfs_msize(b->c), (uint32_t)(size - got));
		struct p9_fcall tx = { .type = P9_Tread,
				       .tread = { h->fid, (uint64_t)off + got, want } };
		struct p9_fcall rx;
		void *rbuf;
		rc = rpc(b, &tx, P9_Rread, &rx, &rbuf);
		if (rc < 0)
			break;
		uint32_t n = rx.rread.count < want ? rx.rread.count : want;
		if (got == 0 && (n < want || n == size)) {
			/* the common case, one message: answer from its buffer */
			fuse_reply_buf(req, (const char *)rx.rread.data, n);
			free(rbuf);
			return;
		}
		if (!buf && !(buf = malloc(size))) {
			free(rbuf);
			rc = -ENOMEM;
			break;
		}
		memcpy(buf + got, rx.rread.data, n);
		free(rbuf);
		got += n;
		if (n < want)
			break;
	}
	if (rc < 0 && got == 0)
		reply_err(req, rc);
	else
		fuse_reply_buf(req, buf, got);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	struct handle *h = handle_of(fi);
	(void)ino;
	size_t done = 0;
	int rc = 0;
	do {
		uint32_t n = p9_iocount(boxfs_msize(b->c), (uint32_t)(size - done));
		struct p9_fcall tx = { .type = P9_Twrite,
				       .twrite = { h->fid, (uint64_t)off + done, n,
						   (const uint8_t *)data + done } };
		struct p9_fcall rx;
		void *rbuf;
		rc = rpc(b, &tx, P9_Rwrite, &rx, &rbuf);
		if (rc < 0)
			break;
		uint32_t k = rx.rwrite.count;
		free(rbuf);
		if (k > n) {
			rc = -EIO;
			break;
		}
		done += k;
		if (k < n)
			break;
	} while (done < size);
	if (rc < 0 && done == 0)
		reply_err(req, rc);
	else
		fuse_reply_write(req, done);
}

static int do_fsync(struct bridge *b, uint32_t fid, int datasync)
{
	if (is_L(b)) {
		struct p9_fcall tx = { .type = P9_Tfsync, .tfsync = { fid, datasync ? 1 : 0 } };
		return rpc0(b, &tx, P9_Rfsync);
	}
	struct p9_stat st = p9_stat_dont_touch(); /* stat(5): a wstat that changes nothing syncs */
	return wstat(b, fid, &st);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	reply_err(req, do_fsync(bridge_of(req), handle_of(fi)->fid, datasync));
}

/* ---- locks ---- */

/* Tlock by owner (client_id key, proc_id pid) on fid; sleep: retry a BLOCKED
 * answer, with backoff, until granted or the request is interrupted. */
static int lock_rpc(fuse_req_t req, uint32_t fid, uint8_t type, uint64_t start, uint64_t len,
		    uint32_t pid, const char *key, bool sleep)
{
	struct bridge *b = bridge_of(req);
	for (unsigned wait_us = 1000;; wait_us = wait_us < 64000 ? wait_us * 2 : 100000) {
		struct p9_fcall tx = { .type = P9_Tlock,
				       .tlock = { fid, type, 0, start, len, pid, p9_cstr(key) } };
		struct p9_fcall rx;
		void *rbuf;
		int rc = rpc(b, &tx, P9_Rlock, &rx, &rbuf);
		if (rc < 0)
			return rc;
		uint8_t status = rx.rlock.status;
		free(rbuf);
		if (status == P9_LOCK_SUCCESS)
			return 0;
		if (status != P9_LOCK_BLOCKED && status != P9_LOCK_GRACE)
			return -ENOLCK;
		if (!sleep)
			return -EAGAIN;
		if (fuse_req_interrupted(req))
			return -EINTR;
		usleep(wait_us);
		if (fuse_req_interrupted(req))
			return -EINTR;
	}
}

static void posix_key(char *buf, size_t cap, uint64_t owner)
{
	snprintf(buf, cap, "posix-%016llx", (unsigned long long)owner);
}

static uint8_t p9_lock_type(short t)
{
	return t == F_RDLCK   ? P9_LOCK_TYPE_RDLCK
	       : t == F_WRLCK ? P9_LOCK_TYPE_WRLCK
			      : P9_LOCK_TYPE_UNLCK;
}

static void op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	struct bridge *b = bridge_of(req);
	if (!is_L(b)) {
		reply_err(req, -EOPNOTSUPP);
		return;
	}
	char key[40];
	posix_key(key, sizeof key, fi->lock_owner);
	uint32_t pid;
	locker_pid(b, node_of(b, ino), fi->lock_owner, false, &pid);
	struct p9_fcall tx = { .type = P9_Tgetlock,
			       .tgetlock = { handle_of(fi)->fid, p9_lock_type(lock->l_type),
					     (uint64_t)lock->l_start, (uint64_t)lock->l_len, pid,
					     p9_cstr(key) } };
	struct p9_fcall rx;
	void *rbuf;
	int rc = rpc(b, &tx, P9_Rgetlock, &rx, &rbuf);
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	const struct p9_getlock *g = &rx.rgetlock;
	if (g->type == P9_LOCK_TYPE_UNLCK) {
		lock->l_type = F_UNLCK;
	} else {
		lock->l_type = g->type == P9_LOCK_TYPE_RDLCK ? F_RDLCK : F_WRLCK;
		lock->l_whence = SEEK_SET;
		lock->l_start = (off_t)g->start;
		lock->l_len = (off_t)g->length;
		lock->l_pid = (pid_t)g->proc_id;
	}
	free(rbuf);
	fuse_reply_lock(req, lock);
}

static void op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
		     int sleep)
{
	struct bridge *b = bridge_of(req);
	if (!is_L(b)) {
		reply_err(req, -EOPNOTSUPP);
		return;
	}
	if (lock->l_start < 0 || lock->l_len < 0) {
		reply_err(req, -EINVAL);
		return;
	}
	char key[40];
	posix_key(key, sizeof key, fi->lock_owner);
	struct node *n = node_of(b, ino);
	uint32_t pid;
	if (lock->l_type == F_UNLCK) {
		if (!locker_pid(b, n, fi->lock_owner, false, &pid)) {
			/* this owner never locked the file */
			reply_err(req, 0);
			return;
		}
	} else {
		pid = (uint32_t)lock->l_pid;
		int rc = locker_set(b, n, fi->lock_owner, pid);
		if (rc < 0) {
			reply_err(req, rc);
			return;
		}
	}
	reply_err(req,
		  lock_rpc(req, handle_of(fi)->fid, p9_lock_type(lock->l_type),
			   (uint64_t)lock->l_start, (uint64_t)lock->l_len, pid, key, sleep != 0));
}

/* flock(2) locks: whole-file locks owned by the open file. */
static void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	struct bridge *b = bridge_of(req);
	(void)ino;
	if (!is_L(b)) {
		reply_err(req, -EOPNOTSUPP);
		return;
	}
	int kind = op & (LOCK_SH | LOCK_EX | LOCK_UN);
	uint8_t type = kind == LOCK_SH	 ? P9_LOCK_TYPE_RDLCK
		       : kind == LOCK_EX ? P9_LOCK_TYPE_WRLCK
					 : P9_LOCK_TYPE_UNLCK;
	char key[40];
	snprintf(key, sizeof key, "flock-%016llx", (unsigned long long)fi->lock_owner);
	/* proc_id too tells owners apart: backends with locks of their own
	 * (the host export) key on it, not on client_id */
	uint32_t id = (uint32_t)(fi->lock_owner ^ (fi->lock_owner >> 32)) | 0x80000000u;
	reply_err(req, lock_rpc(req, handle_of(fi)->fid, type, 0, 0, id, key, !(op & LOCK_NB)));
}

/* close(2) of a descriptor: the closing owner's POSIX locks on the file go
 * (the kernel has written dirty pages before it asks). */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	int rc = 0;
	uint32_t pid;
	if (is_L(b) && locker_pid(b, node_of(b, ino), fi->lock_owner, true, &pid)) {
		char key[40];
		posix_key(key, sizeof key, fi->lock_owner);
		rc = lock_rpc(req, handle_of(fi)->fid, P9_LOCK_TYPE_UNLCK, 0, 0, pid, key, false);
	}
	reply_err(req, rc);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	struct handle *h = handle_of(fi);
	(void)ino;
	if (fi->flock_release && is_L(b)) {
		char key[40];
		snprintf(key, sizeof key, "flock-%016llx", (unsigned long long)fi->lock_owner);
		uint32_t id = (uint32_t)(fi->lock_owner ^ (fi->lock_owner >> 32)) | 0x80000000u;
		lock_rpc(req, h->fid, P9_LOCK_TYPE_UNLCK, 0, 0, id, key, false);
	}
	handle_free(b, h);
	reply_err(req, 0);
}

/* ---- directories ---- */

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	uint32_t fid;
	int rc = open_fid(b, node_of(b, ino), O_RDONLY | (is_L(b) ? O_DIRECTORY : 0), &fid);
	struct handle *h = rc == 0 ? handle_new(fid, true) : NULL;
	if (rc == 0 && !h) {
		clunk_async(b, fid);
		rc = -ENOMEM;
	}
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->cache_readdir = b->cache == CACHE_FULL;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(b, h);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_free(bridge_of(req), handle_of(fi));
	reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	reply_err(req, do_fsync(bridge_of(req), handle_of(fi)->fid, datasync));
}

static void readdir_L(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi, bool plus)
{
	struct bridge *b = bridge_of(req);
	struct node *dir = node_of(b, ino);
	/* a direntplus takes about five times the room of a 9P dirent */
	uint32_t count = (uint32_t)(plus ? size / 4 : size);
	if (count < 512)
		count = 512;
	count = p9_iocount(boxfs_msize(b->c), count);
	struct p9_fcall tx = { .type = P9_Treaddir,
			       .treaddir = { handle_of(fi)->fid, (uint64_t)off, count } };
	struct p9_fcall rx;
	void *rbuf;
	int rc = rpc(b, &tx, P9_Rreaddir, &rx, &rbuf);
	char *buf = rc == 0 ? malloc(size) : NULL;
	if (rc == 0 && !buf) {
		free(rbuf);
		rc = -ENOMEM;
	}
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	size_t pos = 0, dpos = 0;
	struct p9_dirent de;
	while (p9_dirent_next(&de, rx.rreaddir.data, rx.rreaddir.count, &dpos) == 1) {
		char name[256];
		if (de.name.len == 0 || de.name.len > 255 || memchr(de.name.s, '\0', de.name.len))
			continue; /* nothing the kernel could name */
		memcpy(name, de.name.s, de.name.len);
		name[de.name.len] = '\0';
		size_t need;
		if (plus) {
			struct fuse_entry_param e;
			bool dot = strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
			if (dot || lookup_entry(b, dir, name, &e) < 0) {
				memset(&e, 0, sizeof e); /* listed, not looked up */
				e.attr.st_ino = de.qid.path;
				e.attr.st_mode = (mode_t)de.type << 12;
			}
			need = fuse_add_direntry_plus(req, buf + pos, size - pos, name, &e,
						      (off_t)de.offset);
			if (need > size - pos && e.ino)
				node_forget(b, node_of(b, e.ino), 1);
		} else {
			struct stat st = { .st_ino = de.qid.path,
					   .st_mode = (mode_t)de.type << 12 };
			need = fuse_add_direntry(req, buf + pos, size - pos, name, &st,
						 (off_t)de.offset);
		}
		if (need > size - pos)
			break;
		pos += need;
	}
	free(rbuf);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

/* 9P2000 and .u: reads the whole directory (stat records) into h->ents,
 * with "." and ".." first. */
static int list_u(struct bridge *b, struct handle *h, struct node *dir)
{
	for (size_t i = 0; i < h->nents; i++)
		free(h->ents[i].name);
	h->nents = 0;
	size_t cap = 16;
	struct dent *ents = realloc(h->ents, cap * sizeof *ents);
	if (!ents)
		return -ENOMEM;
	h->ents = ents;
	h->ents[h->nents++] = (struct dent){ strdup("."), dir->qpath, S_IFDIR };
	h->ents[h->nents++] =
		(struct dent){ strdup(".."), dir->qpath, S_IFDIR }; /* not 0: hidden */
	uint64_t off = 0;
	for (;;) {
		struct p9_fcall tx = { .type = P9_Tread,
				       .tread = { h->fid, off,
						  b->iomax < 65536 ? b->iomax : 65536 } };
		struct p9_fcall rx;
		void *rbuf;
		int rc = rpc(b, &tx, P9_Rread, &rx, &rbuf);
		if (rc < 0)
			return rc;
		if (rx.rread.count == 0) {
			free(rbuf);
			break;
		}
		off += rx.rread.count;
		size_t spos = 0;
		struct p9_stat s;
		while ((rc = p9_stat_next(&s, rx.rread.data, rx.rread.count, &spos, b->d)) == 1) {
			if (h->nents == cap) {
				ents = realloc(h->ents, cap * 2 * sizeof *ents);
				if (!ents) {
					free(rbuf);
					return -ENOMEM;
				}
				h->ents = ents;
				cap *= 2;
			}
			h->ents[h->nents++] =
				(struct dent){ strndup(s.name.s, s.name.len), s.qid.path,
					       boxfs_p9_mode(&s, b->d) & S_IFMT };
		}
		free(rbuf);
		if (rc < 0)
			return -EIO;
	}
	for (size_t i = 0; i < h->nents; i++)
		if (!h->ents[i].name)
			return -ENOMEM;
	return 0;
}

static void readdir_u(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct bridge *b = bridge_of(req);
	struct handle *h = handle_of(fi);
	char *buf = malloc(size);
	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	pthread_mutex_lock(&h->lk);
	int rc = off == 0 || !h->ents ? list_u(b, h, node_of(b, ino)) : 0;
	size_t pos = 0;
	for (size_t i = (size_t)off; rc == 0 && i < h->nents; i++) {
		struct stat st = { .st_ino = h->ents[i].qpath, .st_mode = h->ents[i].type };
		size_t need = fuse_add_direntry(req, buf + pos, size - pos, h->ents[i].name, &st,
						(off_t)(i + 1));
		if (need > size - pos)
			break;
		pos += need;
	}
	pthread_mutex_unlock(&h->lk);
	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	if (is_L(bridge_of(req)))
		readdir_L(req, ino, size, off, fi, false);
	else
		readdir_u(req, ino, size, off, fi);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	if (is_L(bridge_of(req)))
		readdir_L(req, ino, size, off, fi, true);
	else
		reply_err(req, -EOPNOTSUPP); /* not offered: init turns it off */
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct bridge *b = bridge_of(req);
	struct statvfs sv;
	memset(&sv, 0, sizeof sv);
	if (!is_L(b)) {
		sv.f_bsize = sv.f_frsize = 4096; /* 9P2000 has no statfs: nothing known */
		sv.f_namemax = 255;
		fuse_reply_statfs(req, &sv);
		return;
	}
	struct p9_fcall tx = { .type = P9_Tstatfs, .tstatfs = { node_of(b, ino)->fid } };
	struct p9_fcall rx;
	void *rbuf;
	int rc = rpc(b, &tx, P9_Rstatfs, &rx, &rbuf);
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	const struct p9_rstatfs *s = &rx.rstatfs;
	sv.f_bsize = s->bsize;
	sv.f_frsize = s->bsize;
	sv.f_blocks = s->blocks;
	sv.f_bfree = s->bfree;
	sv.f_bavail = s->bavail;
	sv.f_files = s->files;
	sv.f_ffree = s->ffree;
	sv.f_favail = s->ffree;
	sv.f_fsid = s->fsid;
	sv.f_namemax = s->namelen;
	free(rbuf);
	fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes ---- */

/* POSIX ACLs are not offered: a server would keep them as opaque bytes and
 * never apply them, so programs must fall back to the mode bits. */
static bool is_acl(const char *name)
{
	return strncmp(name, "system.posix_acl_", 17) == 0;
}

/* getxattr (name) or listxattr (name ""): size 0 asks for the length. */
static void xattr_get(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct bridge *b = bridge_of(req);
	if (!is_L(b) || is_acl(name)) {
		reply_err(req, -EOPNOTSUPP);
		return;
	}
	uint32_t nf = boxfs_fid_get(b->c);
	if (nf == P9_NOFID) {
		reply_err(req, -EMFILE);
		return;
	}
	struct p9_fcall tx = { .type = P9_Txattrwalk,
			       .txattrwalk = { node_of(b, ino)->fid, nf, p9_cstr(name) } };
	struct p9_fcall rx;
	void *rbuf;
	int rc = rpc(b, &tx, P9_Rxattrwalk, &rx, &rbuf);
	if (rc < 0) {
		boxfs_fid_put(b->c, nf);
		reply_err(req, rc);
		return;
	}
	uint64_t len = rx.rxattrwalk.size;
	free(rbuf);
	char *val = NULL;
	if (size == 0) {
		fuse_reply_xattr(req, (size_t)len);
	} else if (len > size) {
		reply_err(req, -ERANGE);
	} else if (!(val = malloc(len ? (size_t)len : 1))) {
		reply_err(req, -ENOMEM);
	} else {
		uint64_t got = 0;
		while (rc == 0 && got < len) {
			struct p9_fcall rt = { .type = P9_Tread,
					       .tread = { nf, got,
							  p9_iocount(boxfs_msize(b->c),
								     (uint32_t)(len - got)) } };
			rc = rpc(b, &rt, P9_Rread, &rx, &rbuf);
			if (rc == 0) {
				uint32_t n = rx.rread.count;
				if (n == 0 || n > len - got)
					rc = -EIO;
				else
					memcpy(val + got, rx.rread.data, n);
				got += n;
				free(rbuf);
			}
		}
		if (rc < 0)
			reply_err(req, rc);
		else
			fuse_reply_buf(req, val, (size_t)len);
	}
	free(val);
	clunk_async(b, nf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (!*name) {
		reply_err(req, -ENODATA);
		return;
	}
	xattr_get(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_get(req, ino, "", size);
}

/* Txattrcreate on a clone of ino's fid, the value written, committed by the
 * clunk (whose answer is the result). */
static int xattr_set(struct bridge *b, fuse_ino_t ino, const char *name, const char *value,
		     size_t size, int flags)
{
	uint32_t fid;
	int rc = walk(b, node_of(b, ino)->fid, NULL, &fid, NULL);
	if (rc < 0)
		return rc;
	struct p9_fcall tx = { .type = P9_Txattrcreate,
			       .txattrcreate = { fid, p9_cstr(name), size, (uint32_t)flags } };
	rc = rpc0(b, &tx, P9_Rxattrcreate);
	for (size_t done = 0; rc == 0 && done < size;) {
		uint32_t n = p9_iocount(boxfs_msize(b->c), (uint32_t)(size - done));
		struct p9_fcall tw = { .type = P9_Twrite,
				       .twrite = { fid, done, n, (const uint8_t *)value + done } };
		struct p9_fcall rx;
		void *rbuf;
		rc = rpc(b, &tw, P9_Rwrite, &rx, &rbuf);
		if (rc == 0) {
			if (rx.rwrite.count == 0 || rx.rwrite.count > n)
				rc = -EIO;
			done += rx.rwrite.count;
			free(rbuf);
		}
	}
	int crc = clunk(b, fid);
	return rc < 0 ? rc : crc;
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct bridge *b = bridge_of(req);
	if (!is_L(b) || is_acl(name))
		reply_err(req, -EOPNOTSUPP);
	else if (!*name)
		reply_err(req, -EINVAL);
	else
		reply_err(req, xattr_set(b, ino, name, value, size, flags));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct bridge *b = bridge_of(req);
	/* Linux's convention: an empty value with XATTR_REPLACE removes */
	if (!is_L(b) || is_acl(name))
		reply_err(req, -EOPNOTSUPP);
	else
		reply_err(req, xattr_set(b, ino, name, "", 0, XATTR_REPLACE));
}

const struct fuse_lowlevel_ops bridge_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.getlk = op_getlk,
	.setlk = op_setlk,
	.flock = op_flock,
};
