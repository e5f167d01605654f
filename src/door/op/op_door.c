/*
 * op_door.c — Plan B's boxes (docs/protocols/op.md): every request names its
 * box by selector and carries its user; the door keeps no state for a
 * connection beyond the requests in flight on it.
 *
 * Requests run on the worker pool (several may be in flight on one
 * connection; replies carry the request's serial). The one state the door
 * keeps is the server's, not a connection's: PUTMEM series and copies being
 * received, in memory (srv->op_stage), each replacing its box only when it
 * is complete — through a temporary name renamed over the box where the
 * backend can rename, so a reader sees the old box or the new one.
 */
#include "core/call_impl.h"
#include "core/cred_impl.h"
#include "core/server_impl.h"

#include <boxfs/op.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Staged bytes the whole server may hold, and how long an idle series lives. */
enum { STAGE_MAX = 1u << 30, STAGE_IDLE_S = 120 };
/* SELECTORS answers at most this many bytes of names. */
enum { SEL_MAX = 1u << 20 };
/* Attempts of a copy whose source changed while it was pulled. */
enum { COPY_TRIES = 3 };
/* Names that stand for the server's temporary boxes. */
#define TEMP_PREFIX  ".op-"
#define PUTTER_XATTR "user.boxfs.putter"

/* ---- staging: PUTMEM series, server-wide ---- */

struct series {
	struct series *next;
	char *box; /* the selector, as the series named it */
	uid_t uid;
	uint8_t *buf;
	size_t len, cap;
	time_t used;
};

struct bx_op_stage {
	pthread_mutex_t mu;
	struct series *list;
	size_t bytes; /* held by every series and copy */
};

static void series_free(struct bx_op_stage *st, struct series *s)
{
	st->bytes -= s->cap;
	free(s->box);
	free(s->buf);
	free(s);
}

void bx_op_stage_free(struct bx_server *srv)
{
	struct bx_op_stage *st = srv->op_stage;
	if (!st)
		return;
	for (struct series *s = st->list, *next; s; s = next) {
		next = s->next;
		series_free(st, s);
	}
	pthread_mutex_destroy(&st->mu);
	free(st);
	srv->op_stage = NULL;
}

/* Grows buf to hold need bytes, counting them against the server's limit. */
static int reserve(struct bx_op_stage *st, uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : OP_MAXBYTES;
	while (ncap < need)
		ncap *= 2;
	pthread_mutex_lock(&st->mu);
	bool room = st->bytes - *cap + ncap <= STAGE_MAX;
	if (room)
		st->bytes += ncap - *cap;
	pthread_mutex_unlock(&st->mu);
	if (!room)
		return -ENOSPC;
	uint8_t *nb = realloc(*buf, ncap);
	if (!nb) {
		pthread_mutex_lock(&st->mu);
		st->bytes -= ncap - *cap;
		pthread_mutex_unlock(&st->mu);
		return -ENOMEM;
	}
	*buf = nb;
	*cap = ncap;
	return 0;
}

static void unreserve(struct bx_op_stage *st, size_t cap)
{
	pthread_mutex_lock(&st->mu);
	st->bytes -= cap;
	pthread_mutex_unlock(&st->mu);
}

/* ---- connections and requests ---- */

/* Strings of a Stat being answered. */
struct statbuf {
	char owner[64], putter[OP_MAXUSER + 1];
};

struct oconn {
	struct bx_conn *c;
	pthread_mutex_t mu;
	struct job *jobs; /* in flight, for hang-up */
	unsigned njobs;
	char server[256]; /* the name replies carry */
};

struct job {
	struct job *next, *prev;
	struct oconn *oc;
	struct bx_conn *c; /* a reference */
	struct boxfs_call call;
	struct bx_user user;
	struct op_msg m;
	struct statbuf sb; /* the strings of a KIND reply */
	size_t len;
	uint8_t frame[];
};

static void trace(const struct oconn *oc, const char *dir, const struct op_msg *m, const char *what)
{
	FILE *out = oc->c->srv->opts.debug;
	if (!out)
		return;
	flockfile(out);
	fprintf(out, "op %u %s %s serial %" PRIu32 " %s%s%s\n", oc->c->id, dir,
		op_type_name(m->type), m->serial, m->box ? m->box : "", what ? " " : "",
		what ? what : "");
	funlockfile(out);
}

/* Sends m as the reply to serial, with the server's name. */
static void send_msg(struct oconn *oc, struct op_msg *m, uint32_t serial)
{
	m->serial = serial;
	m->reply = true;
	m->user = oc->server;
	m->ticket = "";
	size_t cap = OP_HDRSZ + 2 * (OP_MAXUSER + 1) + 3 * (OP_MAXSTR + 1) + 64 +
		     ((m->type == OP_GETMEM || m->type == OP_SELECTORS) ? m->len : 0);
	uint8_t *buf = malloc(cap);
	ssize_t n = buf ? op_pack(buf, cap, m) : -ENOMEM;
	if (n < 0) { /* cannot happen for what the door builds; say so anyway */
		struct op_msg e = { .type = OP_STATUS,
				    .reply = true,
				    .serial = serial,
				    .user = oc->server,
				    .err = strerror((int)-n) };
		uint8_t small[512];
		n = op_pack(small, sizeof small, &e);
		if (n > 0)
			bx_conn_send(oc->c, small, (size_t)n);
	} else {
		trace(oc, "<-", m, m->type == OP_STATUS ? (*m->err ? m->err : "ok") : NULL);
		bx_conn_send(oc->c, buf, (size_t)n);
	}
	free(buf);
}

static void send_status(struct oconn *oc, uint32_t serial, int err)
{
	struct op_msg m = { .type = OP_STATUS, .err = err ? strerror(-err) : "" };
	send_msg(oc, &m, serial);
}

/* ---- selectors ---- */

enum { MAX_CONS = 8, MAX_DEPTH = 64 };

/* One element of a selector: a name (or "*") and its constraints. */
struct elem {
	char name[256];
	bool any;
	unsigned ncons;
	char cons[MAX_CONS][64];
};

struct sel {
	struct elem e[MAX_DEPTH];
	unsigned n;
	bool pattern; /* some element has "*" or constraints */
};

/*
 * Parses "/a/b!file/ *" into elements. A backslash takes the next character
 * as it is ("\!", "\*", "\\", "\ "). Empty elements (doubled or trailing
 * slashes) are skipped; "." and ".." are not selectors (-EINVAL).
 */
static int sel_parse(const char *s, struct sel *sel)
{
	sel->n = 0;
	sel->pattern = false;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		if (sel->n == MAX_DEPTH)
			return -ENAMETOOLONG;
		struct elem *e = &sel->e[sel->n];
		memset(e, 0, sizeof *e);
		char *out = e->name;
		size_t room = sizeof e->name - 1;
		bool literal_star = false;
		while (*s && *s != '/') {
			char ch = *s++;
			if (ch == '\\' && *s) {
				ch = *s++;
				if (ch == '*')
					literal_star = true;
			} else if (ch == '!') {
				if (e->ncons == MAX_CONS)
					return -EINVAL;
				*out = '\0';
				out = e->cons[e->ncons++];
				room = sizeof e->cons[0] - 1;
				continue;
			}
			if (!room)
				return -ENAMETOOLONG;
			*out++ = ch;
			room--;
		}
		*out = '\0';
		e->any = !literal_star && strcmp(e->name, "*") == 0;
		if (!e->name[0] || strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0)
			return -EINVAL;
		for (unsigned i = 0; i < e->ncons; i++)
			if (!e->cons[i][0])
				return -EINVAL;
		if (e->any || e->ncons)
			sel->pattern = true;
		sel->n++;
	}
	return 0;
}

/* Appends name to a selector being built, escaped so it parses back. */
static bool put_name(char *buf, size_t cap, size_t *len, const char *name)
{
	for (const char *p = name; *p; p++) {
		bool esc = *p == '\\' || *p == ' ' || *p == '!' || *p == '*' || *p == '/';
		if (*len + 2 >= cap)
			return false;
		if (esc)
			buf[(*len)++] = '\\';
		buf[(*len)++] = *p;
	}
	buf[*len] = '\0';
	return true;
}

/* ---- boxes ---- */

static const char *kind_of(const struct bx_vnode *v, const char *parent_name)
{
	const char *fs = v->mnt->fs->name;
	if (S_ISDIR(v->mode))
		return "dir";
	if (S_ISLNK(v->mode))
		return "link";
	if (strcmp(fs, "mem") == 0)
		return "mem";
	if (strcmp(fs, "srv") == 0)
		return "srv";
	if (strcmp(fs, "task") == 0)
		return "task";
	if (strcmp(fs, "dev") == 0)
		return parent_name && strcmp(parent_name, "blk") == 0 ? "blk" : "dev";
	return S_ISREG(v->mode) ? "file" : "dev";
}

static uint64_t ns_of(struct timespec t)
{
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Permission bits of one rwx triple, and back. */
static uint32_t perm_of(unsigned rwx, bool dir)
{
	uint32_t p = 0;
	if (rwx & 4)
		p |= dir ? OP_PSEL : OP_PGET;
	if (rwx & 2)
		p |= dir ? OP_PMK | OP_PLNK | OP_PDEL : OP_PPUT | OP_PDEL;
	return p;
}

static unsigned rwx_of(uint32_t p, bool dir)
{
	unsigned rwx = 0;
	if (p & (OP_PGET | OP_PSEL))
		rwx |= dir ? 5 : 4;
	if (p & (OP_PPUT | OP_PMK | OP_PLNK | OP_PDEL))
		rwx |= 2;
	return rwx;
}

static void stat_of(struct job *j, struct bx_vnode *v, const char *parent_name,
		    const struct boxfs_attr *a, struct op_stat *st, struct statbuf *sb)
{
	bool dir = S_ISDIR(a->mode);
	bx_cred_name(a->uid, sb->owner, sizeof sb->owner);
	ssize_t n = bx_fs_getxattr(&j->call, v, PUTTER_XATTR, sb->putter, sizeof sb->putter - 1);
	if (n > 0)
		sb->putter[n] = '\0';
	else
		snprintf(sb->putter, sizeof sb->putter, "%s", sb->owner);
	*st = (struct op_stat){
		.kind = kind_of(v, parent_name),
		.owner = sb->owner,
		.putter = sb->putter,
		.vers = (uint32_t)a->version,
		.ptime = ns_of(a->mtime),
		.gtime = ns_of(a->atime),
		.size = a->size,
		.operm = perm_of((a->mode >> 6) & 7, dir),
		.wperm = perm_of(a->mode & 7, dir),
	};
}

/* Whether the box v (named name, in parent_name) satisfies e. */
static bool satisfies(struct job *j, const struct elem *e, struct bx_vnode *v,
		      const char *parent_name)
{
	if (!e->ncons)
		return true;
	struct boxfs_attr a;
	if (bx_fs_getattr(&j->call, v, NULL, &a) < 0)
		return false;
	struct op_stat st;
	struct statbuf sb;
	stat_of(j, v, parent_name, &a, &st, &sb);
	for (unsigned i = 0; i < e->ncons; i++) {
		const char *c = e->cons[i];
		bool ok;
		if (strncmp(c, "owner=", 6) == 0)
			ok = strcmp(c + 6, st.owner) == 0;
		else if (strncmp(c, "putter=", 7) == 0)
			ok = strcmp(c + 7, st.putter) == 0;
		else
			ok = strcmp(c, st.kind) == 0;
		if (!ok)
			return false;
	}
	return true;
}

/* Checks constraint words before any walking: kinds and key=value forms. */
static int cons_check(const struct sel *sel)
{
	static const char *const kinds[] = { "file", "dir", "link", "mem",
					     "blk",  "srv", "task", "dev" };
	for (unsigned i = 0; i < sel->n; i++)
		for (unsigned k = 0; k < sel->e[i].ncons; k++) {
			const char *c = sel->e[i].cons[k];
			bool ok = strncmp(c, "owner=", 6) == 0 || strncmp(c, "putter=", 7) == 0;
			for (size_t n = 0; !ok && n < sizeof kinds / sizeof *kinds; n++)
				ok = strcmp(c, kinds[n]) == 0;
			if (!ok)
				return -EINVAL;
		}
	return 0;
}

/* A box found: the vnode, its parent directory, and its name there. */
struct found {
	struct bx_vnode *v, *dir; /* dir NULL for the root */
	char name[256];
	char parent_name[256];
	char path[OP_MAXSTR + 1]; /* its selector, escaped, from the root */
};

static void found_put(struct found *f)
{
	bx_vnode_put(&f->v);
	if (f->dir)
		bx_vnode_put(&f->dir);
}

/* Called for every match; answers 0 to go on, 1 to stop, or -errno. */
typedef int (*match_fn)(void *ctx, struct found *f);

struct names {
	char **v;
	size_t n, cap;
	bool oom;
};

static int names_fill(void *ctx, const char *name, uint64_t ino, uint32_t dtype, uint64_t next)
{
	(void)ino;
	(void)dtype;
	(void)next;
	struct names *ns = ctx;
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? 2 * ns->cap : 64;
		char **v = realloc(ns->v, cap * sizeof *v);
		if (!v)
			goto oom;
		ns->v = v;
		ns->cap = cap;
	}
	if (!(ns->v[ns->n] = strdup(name)))
		goto oom;
	ns->n++;
	return 0;
oom:
	ns->oom = true;
	return 1;
}

static void names_free(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

/* The names in directory v (without "." and ".."), in its order. */
static int list_dir(struct job *j, struct bx_vnode *v, struct names *ns)
{
	void *fh = NULL;
	int rc = bx_fs_open(&j->call, v, O_RDONLY | O_DIRECTORY, &fh);
	if (rc < 0)
		return rc;
	rc = bx_fs_readdir(&j->call, v, fh, 0, names_fill, ns);
	bx_fs_release(v, fh);
	return rc < 0 ? rc : ns->oom ? -ENOMEM : 0;
}

struct walk {
	struct job *j;
	const struct sel *sel;
	match_fn fn;
	void *ctx;
	unsigned visited;   /* boxes looked at, bounded */
	unsigned first_any; /* the first "*" element (sel->n when none) */
};

enum { MAX_VISITS = 1 << 20 };

static int walk_from(struct walk *w, struct bx_vnode *dir, const char *dir_name, unsigned i,
		     char *path, size_t plen);

/* Steps into name inside dir at element i. */
static int step(struct walk *w, struct bx_vnode *dir, const char *dir_name, unsigned i,
		const char *name, char *path, size_t plen)
{
	if (++w->visited > MAX_VISITS)
		return -E2BIG;
	if (strncmp(name, TEMP_PREFIX, sizeof TEMP_PREFIX - 1) == 0 && w->sel->e[i].any)
		return 0; /* the server's own temporary names match no pattern */
	/* Below a "*", a branch that does not match is no error: the other
	 * branches may; above it, the miss is the answer. */
	bool branch = i >= w->first_any;
	struct bx_vnode *v;
	struct bx_ns *ns = w->j->c->srv->ns;
	int rc = bx_ns_walk(ns, &w->j->call, dir, name, &v, NULL);
	if (rc < 0)
		return rc == -ENOENT && branch ? 0 : rc;
	size_t len = plen;
	path[len++] = '/';
	path[len] = '\0';
	if (!put_name(path, OP_MAXSTR + 1, &len, name)) {
		bx_vnode_put(&v);
		return -ENAMETOOLONG;
	}
	if (!satisfies(w->j, &w->sel->e[i], v, dir_name)) {
		bx_vnode_put(&v);
		path[plen] = '\0';
		return branch ? 0 : -ENOENT;
	}
	if (i + 1 == w->sel->n) {
		struct found f = { .v = v, .dir = bx_vnode_get(dir) };
		snprintf(f.name, sizeof f.name, "%s", name);
		snprintf(f.parent_name, sizeof f.parent_name, "%s", dir_name);
		memcpy(f.path, path, len + 1);
		rc = w->fn(w->ctx, &f);
		found_put(&f);
	} else {
		rc = S_ISDIR(v->mode) ? walk_from(w, v, name, i + 1, path, len)
				      : (branch ? 0 : -ENOTDIR);
		bx_vnode_put(&v);
	}
	path[plen] = '\0';
	return rc;
}

static int walk_from(struct walk *w, struct bx_vnode *dir, const char *dir_name, unsigned i,
		     char *path, size_t plen)
{
	const struct elem *e = &w->sel->e[i];
	if (!e->any)
		return step(w, dir, dir_name, i, e->name, path, plen);
	struct names ns = { 0 };
	int rc = list_dir(w->j, dir, &ns);
	for (size_t k = 0; rc >= 0 && k < ns.n; k++) {
		rc = step(w, dir, dir_name, i, ns.v[k], path, plen);
		if (rc == 1)
			break;
	}
	names_free(&ns);
	return rc;
}

/*
 * Calls fn for each box sel matches, in directory order. The root itself
 * (an empty selector) is one match with no parent.
 */
static int sel_each(struct job *j, const struct sel *sel, match_fn fn, void *ctx)
{
	struct bx_vnode *root = bx_ns_root(j->c->srv->ns);
	int rc;
	if (sel->n == 0) {
		struct found f = { .v = bx_vnode_get(root) };
		rc = fn(ctx, &f);
		found_put(&f);
	} else {
		struct walk w = { .j = j, .sel = sel, .fn = fn, .ctx = ctx, .first_any = sel->n };
		for (unsigned i = sel->n; i-- > 0;)
			if (sel->e[i].any)
				w.first_any = i;
		char path[OP_MAXSTR + 1] = "";
		rc = walk_from(&w, root, "", 0, path, 0);
	}
	bx_vnode_put(&root);
	return rc < 0 ? rc : 0;
}

static int take_first(void *ctx, struct found *f)
{
	struct found *out = ctx;
	*out = *f;
	out->v = bx_vnode_get(f->v);
	out->dir = f->dir ? bx_vnode_get(f->dir) : NULL;
	return 1;
}

/* The first box a selector matches; -ENOENT when none. */
static int find_box(struct job *j, const char *box, struct found *f)
{
	struct sel sel;
	int rc = sel_parse(box, &sel);
	if (rc == 0)
		rc = cons_check(&sel);
	if (rc < 0)
		return rc;
	memset(f, 0, sizeof *f);
	rc = sel_each(j, &sel, take_first, f);
	if (rc == 0 && !f->v)
		rc = -ENOENT;
	if (rc < 0 && f->v)
		found_put(f);
	return rc;
}

/*
 * The directory a new box goes in and its name: every element but the last
 * may be a pattern (the first match is taken); the last must be a plain name.
 */
static int find_parent(struct job *j, const char *box, struct found *dir, char name[256])
{
	struct sel sel;
	int rc = sel_parse(box, &sel);
	if (rc == 0)
		rc = cons_check(&sel);
	if (rc < 0)
		return rc;
	if (sel.n == 0)
		return -EEXIST; /* the root */
	const struct elem *last = &sel.e[sel.n - 1];
	if (last->any || last->ncons)
		return -EINVAL;
	memcpy(name, last->name, 256);
	sel.n--;
	memset(dir, 0, sizeof *dir);
	rc = sel_each(j, &sel, take_first, dir);
	if (rc == 0 && !dir->v)
		rc = -ENOENT;
	if (rc == 0 && !S_ISDIR(dir->v->mode))
		rc = -ENOTDIR;
	if (rc < 0 && dir->v)
		found_put(dir);
	return rc;
}

/* ---- replacing a box's data ---- */

static ssize_t write_all(struct job *j, struct bx_vnode *v, void *fh, const uint8_t *data,
			 size_t len)
{
	size_t done = 0;
	while (done < len) {
		if (boxfs_call_cancelled(&j->call))
			return -EINTR;
		size_t n = len - done < (1u << 20) ? len - done : 1u << 20;
		ssize_t w = bx_fs_write(&j->call, v, fh, data + done, n, done);
		if (w <= 0)
			return w < 0 ? w : -EIO;
		done += (size_t)w;
	}
	return (ssize_t)done;
}

/* Records who put the box last, where the backend keeps extended attributes. */
static void set_putter(struct job *j, struct bx_vnode *v)
{
	char name[64];
	bx_cred_name(j->user.cred.uid, name, sizeof name);
	bx_fs_setxattr(&j->call, v, PUTTER_XATTR, name, strlen(name), 0);
}

/*
 * Replaces (or, with may_create, makes) the file box named name in dir with
 * len bytes: written under a temporary name and renamed over the box, so it
 * changes all at once; where the backend cannot do that (memfiles, files
 * that are not regular), written in place.
 */
static int replace(struct job *j, struct bx_vnode *dir, const char *name, const uint8_t *data,
		   size_t len, bool may_create)
{
	struct bx_ns *ns = j->c->srv->ns;
	struct bx_vnode *old = NULL;
	struct boxfs_attr oa;
	int rc = bx_ns_walk(ns, &j->call, dir, name, &old, &oa);
	if (rc == -ENOENT && !may_create)
		return rc;
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (old && S_ISDIR(oa.mode)) {
		bx_vnode_put(&old);
		return -EISDIR;
	}
	if (old) { /* the putter must be allowed to write the box itself */
		void *fh = NULL;
		if ((rc = bx_fs_open(&j->call, old, O_WRONLY, &fh)) < 0) {
			bx_vnode_put(&old);
			return rc;
		}
		bx_fs_release(old, fh);
	}
	if (old &&
	    (!S_ISREG(oa.mode) || old->mnt != dir->mnt || strcmp(old->mnt->fs->name, "mem") == 0)) {
		/* in place: memfiles, devices, boxes mounted over */
		void *fh = NULL;
		rc = bx_fs_open(&j->call, old, O_WRONLY | O_TRUNC, &fh);
		if (rc == -EINVAL) /* a memfile's segment keeps its size */
			rc = bx_fs_open(&j->call, old, O_WRONLY, &fh);
		ssize_t w = rc < 0 ? rc : write_all(j, old, fh, data, len);
		if (rc == 0)
			bx_fs_release(old, fh);
		if (w >= 0)
			set_putter(j, old);
		bx_vnode_put(&old);
		return w < 0 ? (int)w : 0;
	}

	char tmp[32];
	uint64_t rnd;
	if (getrandom(&rnd, sizeof rnd, 0) != sizeof rnd)
		rnd = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)j;
	snprintf(tmp, sizeof tmp, TEMP_PREFIX "%016" PRIx64, rnd);
	/* new data lose set-id bits, as a write by another user would */
	uint32_t mode = old ? oa.mode & 0777 : 0644;
	struct bx_vnode *nv = NULL;
	void *fh = NULL;
	struct boxfs_attr na;
	rc = bx_fs_create(&j->call, dir, tmp, O_WRONLY | O_EXCL, mode, &nv, &na, &fh);
	if (rc < 0) {
		bx_vnode_put(&old);
		return rc;
	}
	ssize_t w = write_all(j, nv, fh, data, len);
	if (w >= 0) {
		set_putter(j, nv);
		if (old && (oa.uid != na.uid || oa.gid != na.gid)) {
			/* keep the box's owner where the server may */
			struct boxfs_setattr sa = { .valid = BOXFS_SET_UID | BOXFS_SET_GID |
							     BOXFS_SET_MODE,
						    .uid = oa.uid,
						    .gid = oa.gid,
						    .mode = mode };
			struct boxfs_call root;
			bx_call_init(&root, &(struct boxfs_cred){ 0 });
			bx_fs_setattr(&root, nv, fh, &sa, &na);
			bx_call_destroy(&root);
		}
	}
	bx_fs_release(nv, fh);
	bx_vnode_put(&nv);
	if (w >= 0)
		rc = bx_fs_rename(&j->call, dir, tmp, dir, name, 0);
	if (w < 0 || rc < 0)
		bx_fs_unlink(&j->call, dir, tmp, 0);
	bx_vnode_put(&old);
	return w < 0 ? (int)w : rc;
}

/* ---- the ops ---- */

static int h_kind(struct job *j, struct op_msg *r)
{
	struct found f;
	int rc = find_box(j, j->m.box, &f);
	if (rc < 0)
		return rc;
	struct boxfs_attr a;
	rc = bx_fs_getattr(&j->call, f.v, NULL, &a);
	if (rc == 0) {
		stat_of(j, f.v, f.parent_name, &a, &r->st, &j->sb);
		r->type = OP_KIND;
		r->box = j->m.box;
	}
	found_put(&f);
	return rc;
}

static uint32_t mode_of(const struct op_stat *st, bool dir)
{
	if (!st->operm && !st->wperm)
		return dir ? 0755 : 0644;
	unsigned o = rwx_of(st->operm, dir), w = rwx_of(st->wperm, dir);
	return o << 6 | (w & 5) << 3 | w;
}

static int h_make(struct job *j, struct op_msg *r)
{
	(void)r;
	const struct op_stat *st = &j->m.st;
	const char *kind = *st->kind ? st->kind : "file";
	bool dir = strcmp(kind, "dir") == 0;
	if (strcmp(kind, "link") == 0)
		return -EINVAL; /* links are made with LINK */
	struct found d;
	char name[256];
	int rc = find_parent(j, j->m.box, &d, name);
	if (rc < 0)
		return rc;
	struct bx_vnode *v = NULL;
	struct boxfs_attr a;
	uint32_t mode = mode_of(st, dir);
	if (dir) {
		rc = bx_fs_mkdir(&j->call, d.v, name, mode, &v, &a);
	} else {
		void *fh = NULL;
		rc = bx_fs_create(&j->call, d.v, name, O_WRONLY | O_EXCL, mode, &v, &a, &fh);
		if (rc == 0 && st->size && st->size != OP_KEEP64) {
			struct boxfs_setattr sa = { .valid = BOXFS_SET_SIZE, .size = st->size };
			rc = bx_fs_setattr(&j->call, v, fh, &sa, &a);
		}
		if (v)
			bx_fs_release(v, fh);
		if (rc == 0 && strcmp(kind_of(v, d.name), kind) != 0)
			rc = -EINVAL; /* a box of that kind cannot be made here */
		if (rc < 0 && v)
			bx_fs_unlink(&j->call, d.v, name, 0);
	}
	if (v)
		bx_vnode_put(&v);
	found_put(&d);
	return rc;
}

static int h_delete(struct job *j, struct op_msg *r)
{
	(void)r;
	struct found f;
	int rc = find_box(j, j->m.box, &f);
	if (rc < 0)
		return rc;
	if (!f.dir)
		rc = -EBUSY; /* the root */
	else if (f.v->mnt != f.dir->mnt)
		rc = -EBUSY; /* a mount point */
	else
		rc = bx_fs_unlink(&j->call, f.dir, f.name, S_ISDIR(f.v->mode) ? AT_REMOVEDIR : 0);
	found_put(&f);
	return rc;
}

static int h_link(struct job *j, struct op_msg *r)
{
	(void)r;
	struct found t, d;
	char name[256];
	int rc = find_box(j, j->m.target, &t);
	if (rc < 0)
		return rc;
	if ((rc = find_parent(j, j->m.box, &d, name)) == 0) {
		rc = t.v->mnt != d.v->mnt ? -EXDEV : bx_fs_link(&j->call, t.v, d.v, name);
		found_put(&d);
	}
	found_put(&t);
	return rc;
}

static int h_chinfo(struct job *j, struct op_msg *r)
{
	(void)r;
	const struct op_stat *st = &j->m.st;
	struct found f;
	int rc = find_box(j, j->m.box, &f);
	if (rc < 0)
		return rc;
	struct boxfs_attr a;
	if ((rc = bx_fs_getattr(&j->call, f.v, NULL, &a)) < 0)
		goto out;
	bool dir = S_ISDIR(a.mode);
	if (*st->kind && strcmp(st->kind, kind_of(f.v, f.parent_name)) != 0) {
		rc = -EINVAL; /* a box does not change kind */
		goto out;
	}
	struct boxfs_setattr sa = { 0 };
	if (st->operm != OP_KEEP32 || st->wperm != OP_KEEP32) {
		unsigned o = st->operm != OP_KEEP32 ? rwx_of(st->operm, dir) : (a.mode >> 6) & 7;
		unsigned w = st->wperm != OP_KEEP32 ? rwx_of(st->wperm, dir) : a.mode & 7;
		sa.valid |= BOXFS_SET_MODE;
		sa.mode = (a.mode & 07000) | o << 6 | (w & 5) << 3 | w;
	}
	if (*st->owner) {
		uid_t uid;
		if (!bx_cred_lookup(st->owner, &uid)) {
			rc = -EINVAL;
			goto out;
		}
		sa.valid |= BOXFS_SET_UID;
		sa.uid = (uint32_t)uid;
	}
	if (st->size != OP_KEEP64) {
		sa.valid |= BOXFS_SET_SIZE;
		sa.size = st->size;
	}
	if (st->ptime != OP_KEEP64) {
		sa.valid |= BOXFS_SET_MTIME;
		sa.mtime = (struct timespec){ (time_t)(st->ptime / 1000000000u),
					      (long)(st->ptime % 1000000000u) };
	}
	if (st->gtime != OP_KEEP64) {
		sa.valid |= BOXFS_SET_ATIME;
		sa.atime = (struct timespec){ (time_t)(st->gtime / 1000000000u),
					      (long)(st->gtime % 1000000000u) };
	}
	if (st->vers != OP_KEEP32) {
		rc = -EINVAL; /* versions are the server's */
		goto out;
	}
	if (sa.valid && (rc = bx_fs_setattr(&j->call, f.v, NULL, &sa, &a)) < 0)
		goto out;
	if (*st->putter)
		rc = bx_fs_setxattr(&j->call, f.v, PUTTER_XATTR, st->putter, strlen(st->putter), 0);
out:
	found_put(&f);
	return rc;
}

static int h_getmem(struct job *j, struct op_msg *r)
{
	struct found f;
	int rc = find_box(j, j->m.box, &f);
	if (rc < 0)
		return rc;
	uint8_t *buf = malloc(j->m.len ? j->m.len : 1);
	ssize_t n = buf ? 0 : -ENOMEM;
	if (!buf) {
	} else if (S_ISDIR(f.v->mode)) {
		n = -EISDIR;
	} else if (S_ISLNK(f.v->mode)) {
		char target[4096];
		n = bx_fs_readlink(&j->call, f.v, target, sizeof target);
		if (n >= 0) { /* a link's data is its target */
			size_t len = (size_t)n;
			size_t from = j->m.off < len ? (size_t)j->m.off : len;
			n = (ssize_t)(len - from < j->m.len ? len - from : j->m.len);
			memcpy(buf, target + from, (size_t)n);
		}
	} else {
		void *fh = NULL;
		int orc = bx_fs_open(&j->call, f.v, O_RDONLY, &fh);
		size_t done = 0;
		n = orc;
		while (n == 0 && done < j->m.len) {
			ssize_t got = bx_fs_read(&j->call, f.v, fh, buf + done, j->m.len - done,
						 j->m.off + done);
			if (got <= 0) {
				n = got;
				break;
			}
			done += (size_t)got;
		}
		if (orc == 0)
			bx_fs_release(f.v, fh);
		n = n < 0 ? n : (ssize_t)done;
	}
	found_put(&f);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	r->type = OP_GETMEM;
	r->box = j->m.box;
	r->off = j->m.off;
	r->len = (uint32_t)n;
	r->data = buf; /* freed after sending, see run_job */
	return 0;
}

static int h_putmem(struct job *j, struct op_msg *r)
{
	(void)r;
	struct bx_op_stage *st = j->c->srv->op_stage;
	const struct op_msg *m = &j->m;
	uid_t uid = j->user.cred.uid;
	time_t now = time(NULL);
	bool last = m->len < OP_MAXBYTES;

	/* The series this packet belongs to: offset 0 starts one (dropping an
	 * unfinished one of the same box and user); later packets continue it
	 * exactly where it stands. Series idle too long are dropped. */
	struct series *s = NULL;
	pthread_mutex_lock(&st->mu);
	for (struct series **p = &st->list; *p;) {
		struct series *x = *p;
		bool mine = strcmp(x->box, m->box) == 0 && x->uid == uid;
		if (mine && m->off != 0 && !s) {
			*p = x->next;
			s = x;
			continue;
		}
		if (mine || now - x->used > STAGE_IDLE_S) {
			*p = x->next;
			series_free(st, x);
			continue;
		}
		p = &x->next;
	}
	pthread_mutex_unlock(&st->mu);
	if (m->off != 0 && (!s || s->len != m->off)) {
		if (s) {
			pthread_mutex_lock(&st->mu);
			series_free(st, s);
			pthread_mutex_unlock(&st->mu);
		}
		return -ESPIPE; /* not where the series stands: start again from 0 */
	}
	struct found d;
	char name[256];
	int rc = 0;
	if (!s) { /* check the box can take it before staging anything */
		if ((rc = find_parent(j, m->box, &d, name)) < 0)
			return rc;
		struct bx_vnode *v = NULL;
		rc = bx_ns_walk(j->c->srv->ns, &j->call, d.v, name, &v, NULL);
		if (rc == 0 && S_ISDIR(v->mode))
			rc = -EISDIR;
		if (v)
			bx_vnode_put(&v);
		found_put(&d);
		if (rc < 0)
			return rc;
		if (!(s = calloc(1, sizeof *s)) || !(s->box = strdup(m->box))) {
			free(s);
			return -ENOMEM;
		}
		s->uid = uid;
	}
	if ((rc = reserve(st, &s->buf, &s->cap, s->len + m->len)) == 0) {
		if (m->len)
			memcpy(s->buf + s->len, m->data, m->len);
		s->len += m->len;
		s->used = now;
	}
	if (rc == 0 && last) {
		if ((rc = find_parent(j, m->box, &d, name)) == 0) {
			rc = replace(j, d.v, name, s->buf, s->len, false);
			found_put(&d);
		}
	}
	pthread_mutex_lock(&st->mu);
	if (rc == 0 && !last) {
		s->next = st->list;
		st->list = s;
	} else {
		series_free(st, s);
	}
	pthread_mutex_unlock(&st->mu);
	return rc;
}

struct sel_out {
	char *buf;
	size_t len, cap;
	bool list_dir; /* a plain directory box: its entries */
};

static int sel_add(void *ctx, struct found *f)
{
	struct sel_out *o = ctx;
	size_t need = strlen(f->path) + 2;
	if (o->len + need > SEL_MAX)
		return -E2BIG;
	if (o->len + need > o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 4096;
		while (cap < o->len + need)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b)
			return -ENOMEM;
		o->buf = b;
		o->cap = cap;
	}
	if (o->len)
		o->buf[o->len++] = ' ';
	/* the path is escaped already (put_name) */
	memcpy(o->buf + o->len, f->path, need - 2);
	o->len += need - 2;
	return 0;
}

static int h_selectors(struct job *j, struct op_msg *r)
{
	struct sel sel;
	int rc = sel_parse(j->m.box, &sel);
	if (rc == 0)
		rc = cons_check(&sel);
	if (rc < 0)
		return rc;
	if (!sel.pattern) {
		/* a plain box: a directory lists its entries, anything else itself */
		struct found f;
		if ((rc = find_box(j, j->m.box, &f)) < 0)
			return rc;
		bool dir = S_ISDIR(f.v->mode);
		found_put(&f);
		if (dir) {
			if (sel.n == MAX_DEPTH)
				return -ENAMETOOLONG;
			memset(&sel.e[sel.n], 0, sizeof sel.e[0]);
			strcpy(sel.e[sel.n].name, "*");
			sel.e[sel.n++].any = true;
		}
	}
	struct sel_out o = { 0 };
	rc = sel_each(j, &sel, sel_add, &o);
	if (rc < 0) {
		free(o.buf);
		return rc;
	}
	r->type = OP_SELECTORS;
	r->box = j->m.box;
	r->len = (uint32_t)o.len;
	r->data = o.buf;
	return 0;
}

/* Pulls sbox from the server at saddr into memory; *vers is the source's
 * version at the start, checked again at the end by the caller. */
static int pull(struct job *j, struct boxfs_op *src, struct bx_op_stage *st, uint8_t **buf,
		size_t *len, size_t *cap)
{
	*len = 0;
	for (;;) {
		if (boxfs_call_cancelled(&j->call))
			return -EINTR;
		int rc = reserve(st, buf, cap, *len + OP_MAXBYTES);
		if (rc < 0)
			return rc;
		ssize_t n = boxfs_op_getmem(src, j->m.target, *len, *buf + *len, OP_MAXBYTES);
		if (n < 0)
			return (int)n;
		*len += (size_t)n;
		if (n < OP_MAXBYTES)
			return 0;
	}
}

static int h_copy(struct job *j, struct op_msg *r)
{
	struct bx_op_stage *st = j->c->srv->op_stage;
	struct found d;
	char name[256];
	int rc = find_parent(j, j->m.box, &d, name);
	if (rc < 0)
		return rc;
	char user[64];
	bx_cred_name(j->user.cred.uid, user, sizeof user);
	struct boxfs_op *src =
		boxfs_op_open(j->m.addr, &(struct boxfs_op_opts){ .user = user, .retry_ms = 2000 });
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	if (!src)
		rc = errno ? -errno : -ECONNREFUSED;
	for (int t = 0; rc == 0; t++) {
		struct op_stat a, b;
		uint32_t vers;
		if ((rc = boxfs_op_kind(src, j->m.target, &a)) < 0)
			break;
		if (strcmp(a.kind, "dir") == 0) {
			rc = -EISDIR;
			break;
		}
		vers = a.vers;
		if ((rc = pull(j, src, st, &buf, &len, &cap)) < 0)
			break;
		if ((rc = boxfs_op_kind(src, j->m.target, &b)) < 0)
			break;
		if (b.vers == vers)
			break;
		if (t + 1 == COPY_TRIES)
			rc = -EAGAIN; /* the source keeps changing */
	}
	boxfs_op_close(src);
	if (rc == 0)
		rc = replace(j, d.v, name, buf, len, true);
	found_put(&d);
	free(buf);
	unreserve(st, cap);
	if (rc < 0)
		return rc;
	r->type = OP_COPY;
	r->box = j->m.box;
	r->off = len;
	return 0;
}

/* ---- running requests ---- */

typedef int (*handler_fn)(struct job *j, struct op_msg *r);

static const handler_fn handlers[OP_NTYPES] = {
	[OP_KIND] = h_kind,	      [OP_MAKE] = h_make,     [OP_DELETE] = h_delete,
	[OP_COPY] = h_copy,	      [OP_GETMEM] = h_getmem, [OP_PUTMEM] = h_putmem,
	[OP_SELECTORS] = h_selectors, [OP_CHINFO] = h_chinfo, [OP_LINK] = h_link,
};

static void job_end(struct job *j)
{
	struct oconn *oc = j->oc;
	pthread_mutex_lock(&oc->mu);
	if (j->prev)
		j->prev->next = j->next;
	else
		oc->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	oc->njobs--;
	pthread_mutex_unlock(&oc->mu);
	bx_call_destroy(&j->call);
	bx_conn_put(&j->c);
	free(j);
}

static void run_job(void *arg)
{
	struct job *j = arg;
	struct op_msg r = { .type = OP_STATUS, .err = "" };
	int rc = handlers[j->m.type](j, &r);
	if (rc < 0) {
		free((void *)(r.type == OP_GETMEM || r.type == OP_SELECTORS ? r.data : NULL));
		r = (struct op_msg){ .type = OP_STATUS, .err = strerror(-rc) };
	}
	send_msg(j->oc, &r, j->m.serial);
	if (r.type == OP_GETMEM || r.type == OP_SELECTORS)
		free((void *)r.data);
	job_end(j);
}

static void door_frame(struct bx_conn *c, const uint8_t *frame, size_t len)
{
	struct oconn *oc = c->door_state;
	struct op_msg m;
	int rc = op_unpack(&m, frame, len);
	trace(oc, "->", &m, rc < 0 ? "(malformed)" : NULL);
	if (rc == 0 && m.reply)
		rc = -EPROTO; /* a reply sent to a server */
	if (rc < 0) {
		/* framing is sound (frame_size passed): answer and go on */
		send_status(oc, m.serial, rc == -EOPNOTSUPP ? -EOPNOTSUPP : -EPROTO);
		return;
	}
	bool other;
	uid_t uid = bx_cred_uid(c, m.user, &other);
	if (other) {
		send_status(oc, m.serial, -EACCES); /* a user this peer may not act as */
		return;
	}
	if (*m.ticket) {
		send_status(oc, m.serial, -EACCES); /* no ticket scheme is configured */
		return;
	}
	pthread_mutex_lock(&oc->mu);
	bool full = oc->njobs >= c->srv->opts.max_requests;
	pthread_mutex_unlock(&oc->mu);
	struct job *j = full ? NULL : malloc(sizeof *j + len);
	if (!j) {
		send_status(oc, m.serial, full ? -EAGAIN : -ENOMEM);
		return;
	}
	memset(j, 0, sizeof *j);
	memcpy(j->frame, frame, len);
	j->len = len;
	op_unpack(&j->m, j->frame, len); /* the same bytes: cannot fail */
	j->oc = oc;
	bx_cred_fill(c, uid, &j->user);
	bx_call_init(&j->call, &j->user.cred);
	j->call.cred.groups = j->user.groups;
	j->c = bx_conn_get(c);
	pthread_mutex_lock(&oc->mu);
	j->next = oc->jobs;
	if (oc->jobs)
		oc->jobs->prev = j;
	oc->jobs = j;
	oc->njobs++;
	pthread_mutex_unlock(&oc->mu);
	if (bx_pool_submit(c->srv, run_job, j) < 0)
		run_job(j);
}

/* ---- the door's connection life ---- */

static ssize_t door_frame_size(struct bx_conn *c, const uint8_t *hdr)
{
	return op_frame_size(hdr, c->max_frame < OP_MAXMSG ? c->max_frame : OP_MAXMSG);
}

static int door_open(struct bx_conn *c)
{
	struct bx_server *srv = c->srv;
	if (!__atomic_load_n(&srv->op_stage, __ATOMIC_ACQUIRE)) {
		/* the first connection makes the server's staging; connections
		 * may open on several threads (serve_fds), so the first one in wins */
		struct bx_op_stage *st = calloc(1, sizeof *st), *none = NULL;
		if (!st)
			return -ENOMEM;
		pthread_mutex_init(&st->mu, NULL);
		if (!__atomic_compare_exchange_n(&srv->op_stage, &none, st, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			pthread_mutex_destroy(&st->mu);
			free(st);
		}
	}
	struct oconn *oc = calloc(1, sizeof *oc);
	if (!oc)
		return -ENOMEM;
	oc->c = c;
	pthread_mutex_init(&oc->mu, NULL);
	if (gethostname(oc->server, sizeof oc->server - 1) < 0 || !oc->server[0])
		strcpy(oc->server, "boxfs");
	c->door_state = oc;
	c->max_frame = OP_MAXMSG;
	return 0;
}

static void door_hangup(struct bx_conn *c)
{
	struct oconn *oc = c->door_state;
	pthread_mutex_lock(&oc->mu);
	for (struct job *j = oc->jobs; j; j = j->next)
		bx_call_cancel(&j->call);
	pthread_mutex_unlock(&oc->mu);
}

static void door_free(struct bx_conn *c)
{
	struct oconn *oc = c->door_state;
	if (!oc)
		return;
	pthread_mutex_destroy(&oc->mu);
	free(oc);
}

const struct bx_door bx_door_op = {
	.name = "op",
	.hdr_size = 8,
	.frame_size = door_frame_size,
	.open = door_open,
	.frame = door_frame,
	.hangup = door_hangup,
	.free = door_free,
};
