/*
 * door9p.c — the 9P door: 9P2000, 9P2000.u and 9P2000.L onto the core.
 *
 * The server's loop thread hands this door one whole frame at a time. The
 * door decodes it, applies the protocol's rules (version first, known fid,
 * open mode, counts within msize, valid names ...) so that a backend never
 * sees a request the protocol forbids, and then runs the message's handler:
 * on the loop thread when every backend it may touch is inline, else on the
 * worker pool with a copy of the frame. Each request is answered exactly
 * once, by respond(), from whichever thread finished it; fid state changes
 * only once a handler has succeeded.
 *
 * Flush (flush(5)): a Tflush for a request still running marks it cancelled
 * and waits in its list; when it finishes, respond() sends its reply (unless
 * the cancel stopped it, which needs no reply) and then every waiting
 * Rflush, all under pc->mu, so an Rflush never overtakes the reply of the
 * request it flushes. Tversion aborts everything in flight (no replies) and
 * clunks every fid.
 *
 * Deferred answers (BOXFS_EDEFERRED): a Tread or Twrite whose backend may
 * defer runs as a tracked request (door9p_impl.h) whose call carries
 * io_done. When the backend defers, the request stays in pc->tags holding
 * its fid and connection, and no thread waits for it: boxfs_call_done, from
 * any thread, runs io_done, which answers through respond() as a pool
 * request would. Tflush, Tversion and hang-up cancel such a request like
 * any other; the call's cancel hook, which the backend answers from
 * (usually at once, with -EINTR), runs after pc->mu is let go.
 *
 * The handlers of each dialect's own messages are in door9p_l.c (9P2000.L)
 * and door9p_u.c (9P2000 and 9P2000.u); this file has the shared machinery
 * and the messages all dialects have.
 */
#include "core/cred_impl.h"
#include "door/9p/door9p_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* ---- scratch reply buffers, one per thread ---- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

struct scratch {
	size_t cap;
	uint8_t buf[];
};

static void scratch_init(void)
{
	pthread_key_create(&scratch_key, free);
}

/* A buffer of at least n bytes belonging to the calling thread, or NULL. */
static uint8_t *scratch(size_t n)
{
	pthread_once(&scratch_once, scratch_init);
	struct scratch *s = pthread_getspecific(scratch_key);
	if (!s || s->cap < n) {
		free(s);
		s = malloc(sizeof *s + n);
		pthread_setspecific(scratch_key, s);
		if (!s)
			return NULL;
		s->cap = n;
	}
	return s->buf;
}

/* ---- tracing ---- */

static void trace(const struct p9conn *pc, const char *dir, const struct p9_fcall *f)
{
	FILE *out = pc->conn->srv->opts.debug;
	if (!out)
		return;
	char line[1024];
	p9_snprint(line, sizeof line, f);
	fprintf(out, "%u %s %s\n", pc->conn->id, dir, line);
}

/* ---- fids ---- */

struct fid *p9_fid_get(struct p9conn *pc, uint32_t num)
{
	pthread_mutex_lock(&pc->mu);
	struct fid *f = bx_intmap_get(&pc->fids, num);
	if (f)
		atomic_fetch_add(&f->ref, 1);
	pthread_mutex_unlock(&pc->mu);
	return f;
}

/* The last reference: gives back the open handle and the vnodes. */
static void fid_free(struct fid *f)
{
	if (f->open && f->kind == FID_FILE)
		bx_fs_release(f->v, f->fh);
	bx_vnode_put(&f->v);
	bx_vnode_put(&f->parent);
	free(f->name);
	free(f->xbuf);
	free(f->xname);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

void p9_fid_put(struct fid **fp)
{
	struct fid *f = *fp;
	*fp = NULL;
	if (f && atomic_fetch_sub(&f->ref, 1) == 1)
		fid_free(f);
}

/*
 * Enters a new fid num for user at v (taking over the reference to v, also
 * on failure). Answers it with a reference for the caller, or NULL with
 * *err set: -EBADF when num is in use or NOFID, -ENOMEM.
 */
struct fid *p9_fid_alloc(uint32_t num, const struct p9user *user, struct bx_vnode *v)
{
	struct fid *f = calloc(1, sizeof *f);
	if (!f) {
		bx_vnode_put(&v);
		return NULL;
	}
	atomic_init(&f->ref, 1);
	f->num = num;
	f->user = user;
	f->v = v;
	pthread_mutex_init(&f->mu, NULL);
	return f;
}

struct fid *p9_fid_new(struct p9conn *pc, uint32_t num, const struct p9user *user,
		       struct bx_vnode *v, int *err)
{
	struct fid *f = p9_fid_alloc(num, user, v);
	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	atomic_store(&f->ref, 2);
	pthread_mutex_lock(&pc->mu);
	int r = num == P9_NOFID || bx_intmap_get(&pc->fids, num) ? -EBADF
		: pc->fids.count >= pc->conn->srv->opts.max_fids ? -EMFILE
								 : bx_intmap_put(&pc->fids, num, f);
	pthread_mutex_unlock(&pc->mu);
	if (r < 0) {
		atomic_store(&f->ref, 1);
		p9_fid_put(&f);
		*err = r;
	}
	return f;
}

int p9_fid_replace(struct p9conn *pc, struct fid *old, struct fid *nf)
{
	pthread_mutex_lock(&pc->mu);
	bool mine = bx_intmap_get(&pc->fids, old->num) == old;
	if (mine)
		bx_intmap_replace(&pc->fids, old->num, nf);
	pthread_mutex_unlock(&pc->mu);
	if (!mine) {
		p9_fid_put(&nf);
		return -EBADF; /* clunked meanwhile */
	}
	p9_fid_put(&old); /* the table's reference */
	return 0;
}

void p9_fid_origin(struct fid *f, struct bx_vnode **parent, char name[256])
{
	pthread_mutex_lock(&f->mu);
	*parent = f->parent && f->name ? bx_vnode_get(f->parent) : NULL;
	snprintf(name, 256, "%s", *parent ? f->name : "");
	pthread_mutex_unlock(&f->mu);
}

/* Removes num from the table (the table's reference goes). */
void p9_fid_forget(struct p9conn *pc, struct fid *f)
{
	pthread_mutex_lock(&pc->mu);
	bool mine = bx_intmap_get(&pc->fids, f->num) == f;
	if (mine)
		bx_intmap_del(&pc->fids, f->num);
	pthread_mutex_unlock(&pc->mu);
	if (mine)
		p9_fid_put(&f);
}

void p9_fid_set_origin(struct fid *f, struct bx_vnode *parent, const char *name)
{
	bx_vnode_put(&f->parent);
	free(f->name);
	f->name = NULL;
	if (parent && name && (f->name = strdup(name)))
		f->parent = bx_vnode_get(parent);
}

/* ---- helpers shared by the handlers ---- */

struct p9_qid p9_qid_of(struct p9conn *pc, struct bx_vnode *v, const struct boxfs_attr *a)
{
	struct p9_qid q = { .version = (uint32_t)a->version ? (uint32_t)a->version : 1 };
	if (S_ISDIR(a->mode))
		q.type = P9_QTDIR;
	else if (S_ISLNK(a->mode))
		q.type = P9_QTSYMLINK;
	q.path = bx_ns_qid_path(pc->conn->srv->ns, v->mnt, a->ino);
	return q;
}

int p9_name(struct p9_str s, char out[256], bool walk)
{
	if (s.len == 0)
		return -EINVAL;
	if (s.len > 255)
		return -ENAMETOOLONG;
	if (memchr(s.s, '/', s.len) || memchr(s.s, '\0', s.len))
		return -EINVAL;
	memcpy(out, s.s, s.len);
	out[s.len] = '\0';
	if (!walk && (strcmp(out, ".") == 0 || strcmp(out, "..") == 0))
		return -EINVAL;
	return 0;
}

int p9_pack_now(struct req *r)
{
	r->out.tag = r->in.tag;
	ssize_t n = p9_pack(r->obuf, r->ocap, &r->out, r->pc->d);
	if (n < 0)
		return (int)n;
	r->raw = true;
	r->olen = (size_t)n;
	return p9_unpack(&r->out, r->obuf, r->olen, r->pc->d);
}

/* Sets the call's credentials to those of the fid's user. */
void p9_act_as(struct req *r, const struct fid *f)
{
	r->call.cred = f->user->cred;
}

struct fid *p9_use_fid(struct req *r, uint32_t num)
{
	struct fid *f = p9_fid_get(r->pc, num);
	if (f)
		p9_act_as(r, f);
	return f;
}

/* ---- replies ---- */

static void send_error(struct req *r, int err)
{
	struct p9_fcall e = { .tag = r->in.tag };
	err = -err;
	if (r->pc->d == P9_2000L && r->pc->versioned) {
		e.type = P9_Rlerror;
		e.rlerror.ecode = p9_lerror(err);
	} else {
		e.type = P9_Rerror;
		/* a backend's own message (boxfs_call_errmsg), read once the
		 * call is answered */
		e.rerror.ename = p9_cstr(r->call.errmsg ? r->call.errmsg : p9_errstr(err));
		e.rerror.errnum = p9_lerror(err);
	}
	uint8_t buf[256];
	enum p9_dialect d = r->pc->versioned ? r->pc->d : P9_2000;
	ssize_t n = p9_pack(buf, sizeof buf, &e, d);
	if (n > 0) {
		trace(r->pc, "<-", &e);
		bx_conn_send(r->conn, buf, (size_t)n);
	}
}

static void send_reply(struct req *r, int rc)
{
	if (rc == 0 && r->direct) { /* header and data in place, from a direct read */
		trace(r->pc, "<-", &r->out);
		bx_conn_sendv(r->conn, r->direct, r->ndirect);
		return;
	}
	if (rc < 0) {
		send_error(r, rc);
		return;
	}
	r->out.tag = r->in.tag;
	if (!r->raw) {
		ssize_t n = p9_pack(r->obuf, r->ocap, &r->out, r->pc->d);
		if (n < 0) {
			send_error(r, n == -EMSGSIZE ? -EMSGSIZE : -EIO);
			return;
		}
		r->olen = (size_t)n;
	}
	trace(r->pc, "<-", &r->out);
	bx_conn_send(r->conn, r->obuf, r->olen);
}

static void send_rflush(struct p9conn *pc, uint16_t tag)
{
	struct p9_fcall f = { .type = P9_Rflush, .tag = tag };
	uint8_t buf[P9_HDRSZ];
	if (p9_pack(buf, sizeof buf, &f, pc->d) == P9_HDRSZ) {
		trace(pc, "<-", &f);
		bx_conn_send(pc->conn, buf, sizeof buf);
	}
}

/* Answers r (rc: 0 with r->out ready, or -errno) exactly once. */
static void respond(struct req *r, int rc)
{
	struct p9conn *pc = r->pc;
	if (r->answered)
		return; /* a direct read answered while the handler ran */
	r->answered = true;
	if (!r->tracked) {
		send_reply(r, rc);
		return;
	}
	pthread_mutex_lock(&pc->mu);
	if (!r->detached) {
		bx_intmap_del(&pc->tags, r->in.tag);
		pc->inflight--;
		/* A request its flush stopped needs no reply; one that finished
		 * anyway gets its reply, before the Rflush. */
		if (!(rc == -EINTR && boxfs_call_cancelled(&r->call)))
			send_reply(r, rc);
	}
	for (struct flushwait *w = r->flushes, *next; w; w = next) {
		next = w->next;
		if (!r->detached)
			send_rflush(pc, w->tag);
		free(w);
	}
	r->flushes = NULL;
	pthread_mutex_unlock(&pc->mu);
}

/* ---- Tversion, Tauth, Tattach, Tflush ---- */

/* Drops a reference to a tracked request; the last one frees it. */
static void req_put(struct req *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	struct bx_conn *c = r->conn;
	p9_fid_put(&r->fid);
	bx_call_destroy(&r->call);
	free(r);
	bx_conn_put(&c);
}

/* Cancels r, holding pc->mu; a cancel hook it claims is queued on *hooks,
 * with a reference, for the caller to run once it lets go of pc->mu. */
static void cancel_req(struct req *r, struct req **hooks)
{
	if (bx_call_cancel_mark(&r->call, &r->hook)) {
		atomic_fetch_add(&r->refs, 1);
		r->cancel_next = *hooks;
		*hooks = r;
	}
}

/* Runs the cancel hooks cancel_req queued, without pc->mu. */
static void run_hooks(struct req *hooks)
{
	for (struct req *r = hooks, *next; r; r = next) {
		next = r->cancel_next;
		r->hook.fn(r->hook.arg, &r->call);
		req_put(r);
	}
}

static void abort_one(uint64_t tag, void *val, void *arg)
{
	(void)tag;
	struct req *r = val;
	r->detached = true;
	cancel_req(r, arg);
}

/* Clunks one fid of a connection going away: ORCLOSE files are removed. */
static void clunk_one(uint64_t num, void *val, void *arg)
{
	(void)num;
	struct fid *f = val;
	struct p9conn *pc = arg;
	if (f->rclose) {
		struct req r = { .conn = pc->conn, .pc = pc };
		bx_call_init(&r.call, &f->user->cred);
		p9_unlink_fid(&r, f);
		bx_call_destroy(&r.call);
	}
	p9_fid_put(&f);
}

/* Clunks every fid and aborts every request in flight (Tversion, hang-up). */
static void p9_reset(struct p9conn *pc)
{
	struct req *hooks = NULL;
	pthread_mutex_lock(&pc->mu);
	bx_intmap_each(&pc->tags, abort_one, &hooks);
	bx_intmap_clear(&pc->tags);
	pc->inflight = 0;
	struct bx_intmap fids = pc->fids; /* clunked outside pc->mu: they call backends */
	pc->fids = (struct bx_intmap){ 0 };
	pthread_mutex_unlock(&pc->mu);
	run_hooks(hooks);
	bx_intmap_each(&fids, clunk_one, pc);
	bx_intmap_clear(&fids);
	bx_locks_drop_session(pc->conn->srv->locks, pc, true, 0, 0);
	bx_ns_owner_gone(pc->conn->srv->ns, pc);
}

static int h_version(struct req *r)
{
	struct p9conn *pc = r->pc;
	const struct p9_version *t = &r->in.tversion;
	if (r->in.tag != P9_NOTAG && pc->conn->srv->opts.debug)
		fprintf(pc->conn->srv->opts.debug, "%u: Tversion with tag %u (not NOTAG)\n",
			pc->conn->id, r->in.tag);
	if (t->msize < P9_MIN_MSIZE)
		return -EMSGSIZE;
	p9_reset(pc);
	enum p9_dialect d;
	bool known = p9_version_parse(t->version, &d) == 0;
	uint32_t msize =
		t->msize < pc->conn->srv->opts.max_msize ? t->msize : pc->conn->srv->opts.max_msize;
	pthread_mutex_lock(&pc->mu);
	pc->versioned = known;
	if (known)
		pc->d = d;
	pc->msize = msize;
	pc->conn->max_frame = msize;
	pthread_mutex_unlock(&pc->mu);
	r->out.type = P9_Rversion;
	r->out.rversion.msize = msize;
	r->out.rversion.version = p9_cstr(known ? p9_dialect_name(d) : "unknown");
	return 0;
}

/* No authentication protocol: clients go on to Tattach with afid NOFID. */
static int h_auth(struct req *r)
{
	(void)r;
	return -ENOENT; /* what diod answers, and what its clients expect */
}

/* The user a Tattach names, under the server's policy (docs/9p.md). */
static const struct p9user *attach_user(struct p9conn *pc, struct p9_str uname, uint32_t n_uname)
{
	struct bx_conn *c = pc->conn;
	uid_t uid;
	if (c->has_peer && c->peer.uid != 0) {
		uid = c->peer.uid; /* a local peer is who the kernel says it is */
	} else if (!c->local && !c->srv->opts.trust_uname) {
		uid = 65534;
	} else if (n_uname != P9_NONUNAME) {
		uid = n_uname;
	} else {
		char name[256];
		size_t n = uname.len < sizeof name - 1 ? uname.len : sizeof name - 1;
		memcpy(name, uname.s, n);
		name[n] = '\0';
		struct passwd pw, *res = NULL;
		char buf[4096];
		char *end;
		unsigned long num = strtoul(name, &end, 10);
		if (n && !*end)
			uid = (uid_t)num;
		else if (getpwnam_r(name, &pw, buf, sizeof buf, &res) == 0 && res)
			uid = res->pw_uid;
		else
			uid = 65534;
	}

	pthread_mutex_lock(&pc->mu);
	for (struct p9user *u = pc->users; u; u = u->next) {
		if (u->cred.uid == uid) {
			pthread_mutex_unlock(&pc->mu);
			return u;
		}
	}
	pthread_mutex_unlock(&pc->mu);

	struct p9user *u = calloc(1, sizeof *u);
	if (!u)
		return NULL;
	struct bx_user who;
	bx_cred_fill(c, uid, &who);
	u->cred = who.cred;
	memcpy(u->groups, who.groups, sizeof u->groups);
	u->cred.groups = u->groups;
	pthread_mutex_lock(&pc->mu);
	u->next = pc->users;
	pc->users = u;
	pthread_mutex_unlock(&pc->mu);
	return u;
}

static int h_attach(struct req *r)
{
	struct p9conn *pc = r->pc;
	const struct p9_tattach *t = &r->in.tattach;
	if (t->afid != P9_NOFID)
		return -EINVAL;
	const struct p9user *u = attach_user(pc, t->uname, t->n_uname);
	if (!u)
		return -ENOMEM;
	r->call.cred = u->cred;
	char aname[4096];
	if (t->aname.len >= sizeof aname || memchr(t->aname.s, '\0', t->aname.len))
		return -ENAMETOOLONG;
	memcpy(aname, t->aname.s, t->aname.len);
	aname[t->aname.len] = '\0';
	struct bx_vnode *v;
	int rc = bx_ns_walk_path(pc->conn->srv->ns, &r->call, aname, &v);
	if (rc < 0)
		return rc;
	struct boxfs_attr a;
	if ((rc = bx_fs_getattr(&r->call, v, NULL, &a)) < 0) {
		bx_vnode_put(&v);
		return rc;
	}
	r->out.type = P9_Rattach;
	r->out.rattach.qid = p9_qid_of(pc, v, &a);
	struct fid *f = p9_fid_new(pc, t->fid, u, v, &rc);
	p9_fid_put(&f);
	return rc;
}

/*
 * Tflush: answered at once unless oldtag is still tracked (running on the
 * pool, or deferred). The cancel is marked holding pc->mu, which keeps the
 * old request from finishing (and being freed) meanwhile; bx_call_cancel_mark
 * never blocks on a lock. A cancel hook runs after pc->mu is let go, with a
 * reference to the request: the backend answers from it, and that answer
 * takes pc->mu to send the reply and then this Rflush.
 */
static void do_flush(struct p9conn *pc, const struct p9_fcall *in)
{
	struct req *hooks = NULL;
	pthread_mutex_lock(&pc->mu);
	struct req *old = bx_intmap_get(&pc->tags, in->tflush.oldtag);
	struct flushwait *w = old ? malloc(sizeof *w) : NULL;
	if (w) {
		w->tag = in->tag;
		w->next = old->flushes;
		old->flushes = w;
		cancel_req(old, &hooks);
	} else {
		send_rflush(pc, in->tag); /* under pc->mu: after any reply being sent */
	}
	pthread_mutex_unlock(&pc->mu);
	run_hooks(hooks);
}

/* ---- Twalk ---- */

static int h_walk(struct req *r)
{
	struct p9conn *pc = r->pc;
	const struct p9_twalk *t = &r->in.twalk;
	struct fid *f = p9_fid_get(pc, t->fid);
	if (!f)
		return -EBADF;
	p9_act_as(r, f);
	int rc = 0;
	if (f->kind != FID_FILE || (f->open && t->newfid == t->fid && t->nwname > 0))
		rc = -EBADF; /* walking an open fid in place; a clone of it is fine */
	struct bx_vnode *v = bx_vnode_get(f->v);
	struct bx_vnode *parent;
	char name[256];
	p9_fid_origin(f, &parent, name);
	r->out.type = P9_Rwalk;
	r->out.rwalk.nwqid = 0;
	for (unsigned i = 0; rc == 0 && i < t->nwname; i++) {
		char elem[256];
		struct bx_vnode *next;
		struct boxfs_attr a;
		rc = p9_name(t->wname[i], elem, true);
		if (rc == 0)
			rc = bx_ns_walk(pc->conn->srv->ns, &r->call, v, elem, &next, &a);
		if (rc < 0)
			break;
		r->out.rwalk.wqid[i] = p9_qid_of(pc, next, &a);
		r->out.rwalk.nwqid++;
		bx_vnode_put(&parent);
		if (strcmp(elem, "..") == 0 || strcmp(elem, ".") == 0) {
			name[0] = '\0';
			bx_vnode_put(&v);
		} else {
			memcpy(name, elem, sizeof name);
			parent = v;
		}
		v = next;
	}
	if (r->out.rwalk.nwqid > 0 && rc < 0 && rc != BOXFS_EWOULDWAIT)
		rc = 0; /* a partial walk: Rwalk with fewer qids, newfid untouched */
	else if (rc == 0) {
		bool in_place = t->newfid == t->fid;
		struct fid *nf = in_place ? p9_fid_alloc(t->fid, f->user, v)
					  : p9_fid_new(pc, t->newfid, f->user, v, &rc);
		v = NULL;
		if (nf)
			p9_fid_set_origin(nf, parent, name[0] ? name : NULL);
		if (in_place)
			rc = nf ? p9_fid_replace(pc, f, nf) : -ENOMEM;
		else
			p9_fid_put(&nf);
	}
	bx_vnode_put(&v);
	bx_vnode_put(&parent);
	p9_fid_put(&f);
	return rc;
}

/* ---- Tread, Twrite, Tclunk, Tremove (every dialect) ---- */

static bool can_read(const struct fid *f)
{
	return f->open && (f->oflags & O_ACCMODE) != O_WRONLY;
}

static bool can_write(const struct fid *f)
{
	return f->open && (f->oflags & O_ACCMODE) != O_RDONLY;
}

static int read_xattr(struct req *r, struct fid *f, uint64_t off, uint32_t count)
{
	pthread_mutex_lock(&f->mu);
	uint32_t n = 0;
	if (off < f->xlen) {
		n = f->xlen - off < count ? (uint32_t)(f->xlen - off) : count;
		memcpy(r->obuf + P9_RREAD_HDRSZ, f->xbuf + off, n);
	}
	pthread_mutex_unlock(&f->mu);
	return (int)n;
}

/*
 * Direct reads: the backend hands over the file's bytes and the request is
 * answered right there, an Rread header and the data going to the socket with
 * no copy. The lock order is the backend's lock, then pc->mu: nothing holds
 * pc->mu while calling a backend.
 */
static ssize_t give_rread(void *ctx, const void *data, size_t n)
{
	struct req *r = ctx;
	p9_pack_rread_hdr(r->obuf, P9_Rread, r->in.tag, (uint32_t)n);
	struct iovec iov[2] = { { r->obuf, P9_RREAD_HDRSZ }, { (void *)data, n } };
	r->out = (struct p9_fcall){ .type = P9_Rread,
				    .tag = r->in.tag,
				    .rread = { .count = (uint32_t)n, .data = data } };
	r->direct = iov;
	r->ndirect = n ? 2 : 1;
	respond(r, 0);
	r->direct = NULL;
	return (ssize_t)n;
}

/* Makes r's Rread of n bytes, which are in place after the header. */
static int read_reply(struct req *r, ssize_t n)
{
	if (n < 0)
		return (int)n;
	if ((size_t)n > p9_iocount(r->pc->msize, r->in.tread.count) ||
	    P9_RREAD_HDRSZ + (size_t)n > r->ocap)
		return -EIO; /* a backend answering more than it was asked */
	r->out.type = P9_Rread;
	r->out.rread.count = (uint32_t)n;
	r->raw = true;
	r->olen = P9_RREAD_HDRSZ + (size_t)n;
	p9_pack_rread_hdr(r->obuf, P9_Rread, r->in.tag, (uint32_t)n);
	return 0;
}

static int h_read(struct req *r)
{
	struct p9conn *pc = r->pc;
	const struct p9_tread *t = &r->in.tread;
	struct fid *f = p9_fid_get(pc, t->fid);
	if (!f)
		return -EBADF;
	p9_act_as(r, f);
	uint32_t count = p9_iocount(pc->msize, t->count);
	ssize_t n;
	if (f->kind == FID_XATTR_READ)
		n = read_xattr(r, f, t->offset, count);
	else if (f->kind != FID_FILE || !can_read(f))
		n = -EBADF;
	else if (S_ISDIR(f->v->mode))
		n = pc->d == P9_2000L
			    ? -EISDIR
			    : p9_dirread(r, f, t->offset, count, r->obuf + P9_RREAD_HDRSZ);
	else if ((n = bx_fs_read_direct(&r->call, f->v, f->fh, count, t->offset, give_rread, r)) ==
		 -EOPNOTSUPP) {
		n = bx_fs_read(&r->call, f->v, f->fh, r->obuf + P9_RREAD_HDRSZ, count, t->offset);
		if (n == BOXFS_EDEFERRED) { /* only where the call has io_done */
			r->fid = f;
			return BOXFS_EDEFERRED;
		}
	}
	p9_fid_put(&f);
	if (n < 0 || r->answered)
		return n < 0 ? (int)n : 0;
	return read_reply(r, n);
}

static int write_xattr(struct fid *f, uint64_t off, const uint8_t *data, uint32_t count)
{
	pthread_mutex_lock(&f->mu);
	int rc = (int)count;
	if (off != f->xlen || count > f->xsize - f->xlen) {
		rc = -EINVAL; /* xattr values are written in one sequential run */
	} else if (count) {
		memcpy(f->xbuf + f->xlen, data, count);
		f->xlen += count;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

/* Makes r's Rwrite for n bytes written. */
static int write_reply(struct req *r, ssize_t n)
{
	if (n < 0)
		return (int)n;
	if ((size_t)n > r->in.twrite.count)
		return -EIO;
	r->out.type = P9_Rwrite;
	r->out.rwrite.count = (uint32_t)n;
	return 0;
}

static int h_write(struct req *r)
{
	const struct p9_twrite *t = &r->in.twrite;
	struct fid *f = p9_fid_get(r->pc, t->fid);
	if (!f)
		return -EBADF;
	p9_act_as(r, f);
	ssize_t n;
	if (f->kind == FID_XATTR_WRITE)
		n = write_xattr(f, t->offset, t->data, t->count);
	else if (f->kind != FID_FILE || !can_write(f))
		n = -EBADF;
	else if (S_ISDIR(f->v->mode))
		n = -EISDIR;
	else if ((n = bx_fs_write(&r->call, f->v, f->fh, t->data, t->count, t->offset)) ==
		 BOXFS_EDEFERRED) { /* only where the call has io_done */
		r->fid = f;
		return BOXFS_EDEFERRED;
	}
	p9_fid_put(&f);
	return write_reply(r, n);
}

/* Removes the name a fid was walked to, making sure it still names that node. */
int p9_unlink_fid(struct req *r, struct fid *f)
{
	struct bx_vnode *parent, *now = NULL;
	char name[256];
	p9_fid_origin(f, &parent, name);
	int rc = parent ? 0 : -EBUSY; /* the root, or reached by "..": no name we trust */
	if (rc == 0)
		rc = bx_ns_walk(r->pc->conn->srv->ns, &r->call, parent, name, &now, NULL);
	if (rc == 0 && (now->mnt != f->v->mnt || now->ino != f->v->ino || now->mnt != parent->mnt))
		rc = parent->mnt != f->v->mnt ? -EBUSY : -ENOENT;
	if (rc == 0)
		rc = bx_fs_unlink(&r->call, parent, name, S_ISDIR(f->v->mode) ? AT_REMOVEDIR : 0);
	bx_vnode_put(&now);
	bx_vnode_put(&parent);
	return rc;
}

/* Does what a clunk does beyond dropping the fid: xattr commits, ORCLOSE,
 * and releasing the session's locks with its last open fid of a file. */
static int clunk_effects(struct req *r, struct fid *f)
{
	struct p9conn *pc = r->pc;
	int rc = 0;
	if (f->kind == FID_XATTR_WRITE) {
		if (f->xlen != f->xsize)
			rc = -EINVAL;
		else if (f->xsize == 0 && (f->xflags & XATTR_REPLACE))
			rc = bx_fs_removexattr(&r->call, f->v, f->xname); /* Linux's removexattr */
		else
			rc = bx_fs_setxattr(&r->call, f->v, f->xname, f->xbuf, f->xsize, f->xflags);
	}
	if (f->kind == FID_FILE && f->rclose)
		rc = p9_unlink_fid(r, f);
	if (f->kind == FID_FILE && f->open &&
	    bx_locks_held(pc->conn->srv->locks, pc, f->v->mnt->id, f->v->ino) &&
	    !p9_other_open(pc, f))
		bx_locks_drop_session(pc->conn->srv->locks, pc, false, f->v->mnt->id, f->v->ino);
	return rc;
}

struct other_open {
	const struct fid *f;
	bool found;
};

static void find_other_open(uint64_t num, void *val, void *arg)
{
	(void)num;
	struct other_open *o = arg;
	const struct fid *g = val;
	if (g != o->f && g->open && g->kind == FID_FILE && g->v->mnt == o->f->v->mnt &&
	    g->v->ino == o->f->v->ino)
		o->found = true;
}

bool p9_other_open(struct p9conn *pc, const struct fid *f)
{
	struct other_open o = { .f = f };
	pthread_mutex_lock(&pc->mu);
	bx_intmap_each(&pc->fids, find_other_open, &o);
	pthread_mutex_unlock(&pc->mu);
	return o.found;
}

static int h_clunk(struct req *r)
{
	struct fid *f = p9_fid_get(r->pc, r->in.tclunk.fid);
	if (!f)
		return -EBADF;
	p9_act_as(r, f);
	p9_fid_forget(r->pc, f); /* freed even when the effects fail */
	int rc = clunk_effects(r, f);
	p9_fid_put(&f);
	r->out.type = P9_Rclunk;
	return rc;
}

static int h_remove(struct req *r)
{
	struct fid *f = p9_fid_get(r->pc, r->in.tremove.fid);
	if (!f)
		return -EBADF;
	p9_act_as(r, f);
	p9_fid_forget(r->pc, f);
	int rc = f->kind == FID_FILE ? p9_unlink_fid(r, f) : -EINVAL;
	f->rclose = false;
	int crc = clunk_effects(r, f);
	p9_fid_put(&f);
	r->out.type = P9_Rremove;
	return rc < 0 ? rc : crc;
}

/* ---- dispatch ---- */

typedef int (*handler_fn)(struct req *r);

static handler_fn handler(uint8_t type)
{
	switch (type) {
	case P9_Tversion:
		return h_version;
	case P9_Tauth:
		return h_auth;
	case P9_Tattach:
		return h_attach;
	case P9_Twalk:
		return h_walk;
	case P9_Tread:
		return h_read;
	case P9_Twrite:
		return h_write;
	case P9_Tclunk:
		return h_clunk;
	case P9_Tremove:
		return h_remove;
	default:
		return p9_handler_u(type) ? p9_handler_u(type) : p9_handler_l(type);
	}
}

/* The fid a request works on first, to see whether its backend is inline. */
static bool first_fid(const struct p9_fcall *f, uint32_t *fid)
{
	switch (f->type) {
	case P9_Tversion:
	case P9_Tauth:
	case P9_Tattach:
	case P9_Tflush:
		return false;
	default:
		/* every other T-message starts with a fid (fid, dfid or dirfid) */
		*fid = f->tclunk.fid;
		return true;
	}
}

enum where { RUN_HERE, RUN_TRY, RUN_POOL };

static bool is_io(const struct p9_fcall *in)
{
	return in->type == P9_Tread || in->type == P9_Twrite;
}

/*
 * Where a request runs: on the reading thread when every backend it may touch
 * is inline; tried there first (reads, writes, getattr and walks of backends
 * that allow it, see BOXFS_FS_TRY_INLINE); else on the worker pool. *keep
 * says whether it is a Tread or Twrite to run tracked, ready to be deferred:
 * for backends that declare BOXFS_FS_DEFER, for those run on the pool that
 * are not tried inline (they may wait, so they may as well defer), and for
 * every backend in a server without threads.
 */
static enum where where_to_run(struct p9conn *pc, const struct p9_fcall *in, bool *keep)
{
	*keep = false;
	if ((pc->all_inline && !(pc->any_defer && is_io(in))) || in->type == P9_Tversion)
		return RUN_HERE;
	uint32_t num;
	if (!first_fid(in, &num))
		return in->type == P9_Tattach ? RUN_POOL : RUN_HERE;
	struct fid *f = p9_fid_get(pc, num);
	enum where w = RUN_HERE; /* an unknown fid is an error answered at once */
	if (f) {
		unsigned flags = f->v->mnt->fs->flags;
		bool tryable =
			in->type == P9_Tread || in->type == P9_Twrite || in->type == P9_Tgetattr;
		/* dropping a fid that was only walked gives back a node: never a wait */
		bool plain_clunk = in->type == P9_Tclunk && !f->open && f->kind == FID_FILE;
		if ((flags & BOXFS_FS_INLINE) && in->type != P9_Twalk)
			w = RUN_HERE;
		else if (in->type == P9_Twalk)
			/* a walk may cross into any mount: tried here when every
			 * backend allows that */
			w = pc->all_try ? RUN_TRY : RUN_POOL;
		else if ((flags & BOXFS_FS_TRY_INLINE) && plain_clunk)
			w = RUN_HERE;
		else if ((flags & BOXFS_FS_TRY_INLINE) && tryable)
			w = RUN_TRY;
		else
			w = RUN_POOL;
		*keep = is_io(in) && f->kind == FID_FILE &&
			((flags & BOXFS_FS_DEFER) || pc->no_threads ||
			 (w == RUN_POOL && !(flags & BOXFS_FS_TRY_INLINE)));
	}
	p9_fid_put(&f);
	return w;
}

/*
 * Runs r's handler and answers it. Answers BOXFS_EDEFERRED when the backend
 * deferred a tracked Tread or Twrite (io_done will answer it), and
 * BOXFS_EWOULDWAIT, unanswered, when it was tried on the loop thread of a
 * server with workers and must run again on one.
 */
static int run(struct req *r)
{
	handler_fn h = handler(r->in.type);
	if (!r->own_obuf) {
		r->ocap = r->pc->msize;
		r->obuf = scratch(r->ocap);
	}
	int rc = !r->obuf ? -ENOMEM : h ? h(r) : -EOPNOTSUPP;
	if (rc == BOXFS_EDEFERRED && r->fid) {
		ssize_t n;
		if (bx_call_defer(&r->call, &n))
			return BOXFS_EDEFERRED;
		/* boxfs_call_done came before the backend returned */
		rc = r->in.type == P9_Tread ? read_reply(r, n) : write_reply(r, n);
		p9_fid_put(&r->fid);
	}
	if (rc == BOXFS_EDEFERRED) { /* deferred where it may not be: wait, then fail */
		bx_call_settle(&r->call);
		rc = -EIO;
	}
	if (rc == BOXFS_EWOULDWAIT && r->call.nowait && !r->answered && !r->pc->no_threads)
		return rc;
	if (rc == BOXFS_EWOULDWAIT)
		rc = r->pc->no_threads ? -EAGAIN : -EIO;
	respond(r, rc);
	return 0;
}

/* boxfs_call_done of a deferred Tread or Twrite, on any thread. */
static void io_done(struct boxfs_call *c, ssize_t n)
{
	struct req *r = (struct req *)((char *)c - offsetof(struct req, call));
	int rc = r->in.type == P9_Tread ? read_reply(r, n) : write_reply(r, n);
	p9_fid_put(&r->fid);
	respond(r, rc);
	req_put(r);
}

static void run_on_pool(void *arg)
{
	struct req *r = arg;
	r->on_pool = true;
	if (run(r) != BOXFS_EDEFERRED)
		req_put(r);
}

static const struct boxfs_cred nobody = { .uid = 65534, .gid = 65534 };

/* Prepares a tracked request to run (again) from the start. */
static void req_rearm(struct req *r)
{
	r->out = (struct p9_fcall){ 0 }; /* whatever a try left */
	r->raw = false;
	r->direct = NULL;
	r->answered = false;
	if (!r->own_obuf)
		r->obuf = NULL;
	bx_call_destroy(&r->call);
	bx_call_init(&r->call, &nobody);
	if (r->own_obuf)
		r->call.on_done = io_done;
}

/*
 * The tracked copy of the request in local (frame, len), entered in
 * pc->tags with one reference; keep gives a Tread or Twrite its own reply
 * buffer and io_done, so that it may be deferred. NULL when out of memory.
 */
static struct req *req_track(struct req *local, const uint8_t *frame, size_t len, bool keep)
{
	struct p9conn *pc = local->pc;
	size_t own = 0;
	if (keep && local->in.type == P9_Tread)
		own = P9_RREAD_HDRSZ + p9_iocount(pc->msize, local->in.tread.count);
	else if (keep)
		own = P9_HDRSZ + 4; /* Rwrite */
	struct req *r = malloc(sizeof *r + len + own);
	if (!r)
		return NULL;
	*r = (struct req){ .conn = local->conn, .pc = pc, .tracked = true };
	r->frame = (uint8_t *)(r + 1);
	memcpy(r->frame, frame, len);
	p9_unpack(&r->in, r->frame, len, pc->d); /* the same bytes: cannot fail */
	if (own) {
		r->own_obuf = true;
		r->obuf = r->frame + len;
		r->ocap = (uint32_t)own;
	}
	atomic_init(&r->refs, 1);
	bx_call_init(&r->call, &nobody);
	req_rearm(r);
	pthread_mutex_lock(&pc->mu);
	bx_intmap_put(&pc->tags, r->in.tag, r);
	pc->inflight++;
	pthread_mutex_unlock(&pc->mu);
	bx_conn_get(r->conn);
	return r;
}

static void door_frame(struct bx_conn *c, const uint8_t *frame, size_t len)
{
	struct p9conn *pc = c->door_state;
	struct req local = { .conn = c, .pc = pc };
	struct req *r = &local;
	enum p9_dialect d = pc->versioned ? pc->d : P9_2000L;
	int rc = p9_unpack(&r->in, frame, len, d);
	if (rc == 0)
		trace(pc, "->", &r->in);
	if (rc == 0 && !p9_is_tmsg(r->in.type))
		rc = -EPROTO; /* an R-message from a client */
	else if (rc == 0 && !pc->versioned && r->in.type != P9_Tversion)
		rc = -EPROTO; /* Tversion must come first */
	if (rc < 0) {
		send_error(r, rc == -EOPNOTSUPP ? -EOPNOTSUPP : -EPROTO);
		return;
	}
	if (r->in.type == P9_Tflush) {
		do_flush(pc, &r->in);
		return;
	}
	bx_call_init(&r->call, &nobody);
	if (r->in.type != P9_Tversion) {
		pthread_mutex_lock(&pc->mu);
		if (bx_intmap_get(&pc->tags, r->in.tag))
			rc = -EBUSY; /* that tag is in flight already */
		else if (pc->inflight >= c->srv->opts.max_requests)
			rc = -EAGAIN;
		pthread_mutex_unlock(&pc->mu);
	}
	bool keep = false;
	enum where w = rc < 0 ? RUN_HERE : where_to_run(pc, &r->in, &keep);
	if (pc->no_threads && w == RUN_POOL)
		w = RUN_TRY; /* everything runs here */
	/* Nothing waits on this thread: a call that would answers
	 * BOXFS_EWOULDWAIT and runs again on a worker (or, without threads,
	 * answers EAGAIN). */
	r->call.nowait = w != RUN_POOL;
	if (rc < 0) {
		send_error(r, rc);
		goto out;
	}
	if (!keep && w != RUN_POOL && run(r) != BOXFS_EWOULDWAIT)
		goto out; /* answered */
	/* a backend that deferred here without BOXFS_FS_DEFER: tracked on the
	 * worker, where it may defer */
	keep = keep || (is_io(&local.in) && local.call.settled);
	if (!(r = req_track(&local, frame, len, keep))) {
		send_error(&local, -ENOMEM);
		goto out;
	}
	if (keep && w != RUN_POOL) {
		r->call.nowait = true;
		rc = run(r);
		if (rc != BOXFS_EWOULDWAIT) {
			if (rc != BOXFS_EDEFERRED)
				req_put(r); /* answered */
			goto out;
		}
		req_rearm(r); /* tried here first: a fresh call for the worker */
	}
	if (bx_pool_submit(c->srv, run_on_pool, r) < 0)
		run_on_pool(r);
out:
	bx_call_destroy(&local.call);
}

/* ---- the door's connection life ---- */

static ssize_t door_frame_size(struct bx_conn *c, const uint8_t *hdr)
{
	return p9_frame_size(hdr, (uint32_t)c->max_frame);
}

static bool defers(const struct boxfs_fs *fs)
{
	return (fs->flags & BOXFS_FS_DEFER) != 0;
}

static int door_open(struct bx_conn *c)
{
	struct p9conn *pc = calloc(1, sizeof *pc);
	if (!pc)
		return -ENOMEM;
	pthread_mutex_init(&pc->mu, NULL);
	pc->conn = c;
	pc->msize = P9_MIN_MSIZE;
	pc->all_inline = bx_ns_all_flags(c->srv->ns, BOXFS_FS_INLINE);
	pc->all_try = bx_ns_all_flags(c->srv->ns, BOXFS_FS_INLINE | BOXFS_FS_TRY_INLINE);
	pc->any_defer = bx_ns_find(c->srv->ns, defers) != NULL;
	pc->no_threads = c->srv->opts.no_threads;
	c->door_state = pc;
	return 0;
}

static void door_hangup(struct bx_conn *c)
{
	p9_reset(c->door_state);
}

static void door_free(struct bx_conn *c)
{
	struct p9conn *pc = c->door_state;
	if (!pc)
		return;
	p9_reset(pc);
	for (struct p9user *u = pc->users, *next; u; u = next) {
		next = u->next;
		free(u);
	}
	bx_intmap_clear(&pc->fids);
	bx_intmap_clear(&pc->tags);
	pthread_mutex_destroy(&pc->mu);
	free(pc);
}

const struct bx_door bx_door_9p = {
	.name = "9p",
	.hdr_size = 4,
	.frame_size = door_frame_size,
	.open = door_open,
	.frame = door_frame,
	.hangup = door_hangup,
	.free = door_free,
};
