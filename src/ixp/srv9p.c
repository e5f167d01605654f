/*
 * srv9p.c — an Ixp9Srv served by boxfs's 9P door.
 *
 * The first ixp_serve9conn for a (IxpServer, Ixp9Srv) pair makes an engine:
 * a boxfs server without threads (opts.no_threads) whose namespace is one
 * backend, this file's adapter, mounted at "/". The engine joins the
 * program's IxpServer as one more IxpConn (a duplicate of boxfs_server_fd,
 * read by boxfs_server_dispatch), and every client connection is handed to
 * it with boxfs_server_serve_fds. So the door does the protocol — 9P2000,
 * .u and .L, msize up to 1 MiB, tags, fids, flush — and every callback of
 * the program runs on the thread inside ixp_serverloop, as libixp promises.
 *
 * The adapter turns the door's backend calls into the program's callbacks,
 * building Ixp9Req, IxpFid and IxpFcall as libixp would:
 *   - a node is an IxpFid walked to the file and never opened: the root is
 *     the fid of one Tattach made when the engine starts; lookup is a Twalk
 *     of one name to a new fid (then a Tstat for the attributes); forget is
 *     a Tclunk;
 *   - an open file (fh) is a clone of the node (Twalk of no name) opened with
 *     Topen (or made by Tcreate); release is its Tclunk;
 *   - getattr is Tstat, setattr and rename are Twstat, unlink is a Twalk and
 *     a Tremove, mkdir a Tcreate with DMDIR, readdir reads the opened
 *     directory's stat records (a cookie is the byte offset after a record);
 *   - read and write are Tread and Twrite on the open fid.
 *
 * Answers. ixp_respond does libixp's bookkeeping (fid qids, open modes,
 * freefid after Tclunk, Tremove or a failed walk) and hands the answer to
 * whoever waits: the backend call still inside the callback, or — for a
 * read or write the program keeps to answer later (an event file) — the
 * boxfs call it deferred (BOXFS_EDEFERRED), answered by boxfs_call_done. A
 * deferred call that is cancelled (Tflush, hang-up) becomes a Tflush to the
 * program's flush callback with oldreq set, as in libixp; the call is then
 * answered -EINTR at once whatever the program does, and an answer that
 * comes later is dropped. Any other request the program does not answer
 * before its callback returns fails with EIO; its later answer is dropped
 * (and a fid it made is clunked).
 *
 * Everything here runs on the serverloop's thread: the engine is made with
 * no_threads, so the door calls the adapter only inside
 * boxfs_server_dispatch (or boxfs_server_free).
 */
#include "ixp_impl.h"

#include <boxfs/fs.h>
#include <boxfs/server.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void (*ixp_printfcall)(IxpFcall *);

enum {
	MAX_MSIZE = (1 << 20) + 24,
	IOUNIT = MAX_MSIZE - 24,
	DIRREAD = 64 * 1024, /* bytes asked of the program per directory read */
};

static const char Enofunc[] = "function not implemented";

struct sreq;

/* One Ixp9Srv served on one IxpServer. */
struct engine {
	IxpServer *isrv;
	Ixp9Srv *p9;
	struct boxfs_server *bs;
	IxpConn *conn; /* ours in isrv */
	char *uname;   /* the attaching user (this process's) */
	uint32_t nextfid;
	uint16_t nexttag;
	uint64_t nextserial;
	struct sreq *live; /* requests not yet freed */
	bool closed;	   /* the IxpConn was hung up: free once live is empty */
};

/* An IxpFid and what the adapter keeps beside it. */
struct sfid {
	IxpFid pub;
	struct engine *eng;
	/* directory reads: stat records for offsets [doff, doff + dlen) */
	char *dbuf;
	uint64_t doff;
	size_t dlen;
};

enum sreq_state {
	RQ_RUNNING,  /* a backend call waits for the answer inside the callback */
	RQ_DONE,     /* answered while RQ_RUNNING: the backend call reads ofcall */
	RQ_DEFERRED, /* a read or write answered through boxfs_call_done */
	RQ_ORPHAN,   /* nobody waits: an answer is dropped */
};

/* An Ixp9Req and what the adapter keeps beside it. */
struct sreq {
	Ixp9Req pub;
	struct engine *eng;
	struct sreq *next, *prev; /* eng->live */
	uint64_t serial;
	enum sreq_state state;
	bool answered;
	char *err; /* the answer's error (a copy), or NULL */
	/* RQ_DEFERRED */
	struct boxfs_call *call;
	void *buf;
	size_t count;
	/* Tflush: the request flushed, recognised by its serial */
	uint64_t oldserial;
	/* an orphan's fid to clunk once it is answered */
	IxpFid *drop;
};

static struct sfid *sfid_of(IxpFid *f)
{
	return (struct sfid *)((char *)f - offsetof(struct sfid, pub));
}

static struct sreq *sreq_of(Ixp9Req *r)
{
	return (struct sreq *)((char *)r - offsetof(struct sreq, pub));
}

static void engine_maybe_free(struct engine *e);

/* ---- fids ---- */

static IxpFid *fid_new(struct engine *e)
{
	struct sfid *f = ixp_emallocz(sizeof *f);
	f->eng = e;
	f->pub.fid = ++e->nextfid;
	if (f->pub.fid == IXP_NOFID)
		f->pub.fid = ++e->nextfid;
	f->pub.omode = -1;
	f->pub.uid = ixp_estrdup(e->uname);
	return &f->pub;
}

/* The end of a fid: the program's freefid, then the memory. */
static void fid_destroy(IxpFid *f)
{
	if (!f)
		return;
	struct sfid *sf = sfid_of(f);
	if (sf->eng->p9->freefid)
		sf->eng->p9->freefid(f);
	free(sf->dbuf);
	free(f->uid);
	free(sf);
}

/* ---- requests ---- */

static struct sreq *req_new(struct engine *e, uint8_t type, IxpFid *fid)
{
	struct sreq *r = ixp_emallocz(sizeof *r);
	r->eng = e;
	r->serial = ++e->nextserial;
	r->pub.srv = e->p9;
	r->pub.fid = fid;
	r->pub.ifcall.hdr.type = type;
	r->pub.ifcall.hdr.tag = e->nexttag++;
	if (r->pub.ifcall.hdr.tag == IXP_NOTAG)
		r->pub.ifcall.hdr.tag = e->nexttag++;
	r->pub.ifcall.hdr.fid = fid ? fid->fid : IXP_NOFID;
	r->next = e->live;
	if (e->live)
		e->live->prev = r;
	e->live = r;
	return r;
}

/* The live request with this serial, or NULL. */
static struct sreq *req_find(struct engine *e, Ixp9Req *p, uint64_t serial)
{
	for (struct sreq *r = e->live; r; r = r->next)
		if (&r->pub == p && r->serial == serial)
			return r;
	return NULL;
}

static void req_free(struct sreq *r)
{
	struct engine *e = r->eng;
	if (r->prev)
		r->prev->next = r->next;
	else
		e->live = r->next;
	if (r->next)
		r->next->prev = r->prev;
	/* What the program allocated for the answer (an error's text, which
	 * shares the union, was cleared by ixp_respond). */
	switch (r->pub.ifcall.hdr.type) {
	case P9_TRead:
		free(r->pub.ofcall.rread.data);
		break;
	case P9_TStat:
		free(r->pub.ofcall.rstat.stat);
		break;
	default:
		break;
	}
	ixp_freefcall(&r->pub.ifcall);
	free(r->err);
	free(r);
	engine_maybe_free(e);
}

static void fid_clunk(IxpFid *f);

/* The errno of an answer's error text. */
static int err_of(const char *s)
{
	return -ixb_errno(s);
}

void ixp_respond(Ixp9Req *req, const char *error)
{
	struct sreq *r = sreq_of(req);
	struct engine *e = r->eng;
	IxpFcall *in = &req->ifcall, *out = &req->ofcall;
	if (r->answered)
		ixp_eprint("ixp_respond called twice for one request");
	r->answered = true;

	switch (in->hdr.type) {
	case P9_TAttach:
		if (error && req->fid) {
			fid_destroy(req->fid);
			req->fid = NULL;
		}
		break;
	case P9_TOpen:
	case P9_TCreate:
		if (!error) {
			out->ropen.iounit = IOUNIT;
			req->fid->iounit = IOUNIT;
			req->fid->omode = (signed char)in->topen.mode;
			req->fid->qid = out->ropen.qid;
		}
		break;
	case P9_TWalk:
		if (error || out->rwalk.nwqid < in->twalk.nwname) {
			if (req->newfid && req->newfid != req->fid) {
				fid_destroy(req->newfid);
				req->newfid = NULL;
			}
			if (!error)
				error = "file does not exist";
		} else if (out->rwalk.nwqid == 0) {
			req->newfid->qid = req->fid->qid;
		} else {
			req->newfid->qid = out->rwalk.wqid[out->rwalk.nwqid - 1];
		}
		break;
	case P9_TClunk:
	case P9_TRemove:
		fid_destroy(req->fid);
		req->fid = NULL;
		break;
	default:
		break;
	}

	out->hdr.tag = in->hdr.tag;
	if (error) {
		out->hdr.type = P9_RError;
		out->error.ename = (char *)error;
		r->err = ixp_estrdup(error);
	} else {
		out->hdr.type = in->hdr.type + 1;
	}
	if (ixp_printfcall)
		ixp_printfcall(out);
	if (error)
		out->error.ename = NULL; /* not ours to free */

	/* Tflush answered: the request it flushes is interrupted, if still waiting. */
	if (in->hdr.type == P9_TFlush && req->oldreq) {
		struct sreq *old = req_find(e, req->oldreq, r->oldserial);
		if (old && !old->answered)
			ixp_respond(&old->pub, "interrupted");
	}

	switch (r->state) {
	case RQ_RUNNING:
		r->state = RQ_DONE;
		return;
	case RQ_DEFERRED: {
		ssize_t n;
		if (r->err)
			n = err_of(r->err);
		else if (in->hdr.type == P9_TRead) {
			n = out->rread.count < r->count ? out->rread.count : (ssize_t)r->count;
			if (n > 0)
				memcpy(r->buf, out->rread.data, (size_t)n);
		} else {
			n = out->rwrite.count < r->count ? out->rwrite.count : (ssize_t)r->count;
		}
		boxfs_call_done(r->call, n);
		req_free(r);
		return;
	}
	case RQ_ORPHAN:
		if (r->drop) {
			if (in->hdr.type == P9_TWalk && r->err)
				r->drop = NULL; /* destroyed above */
			else if (in->hdr.type == P9_TAttach && r->err)
				r->drop = NULL;
			if (r->drop)
				fid_clunk(r->drop);
		}
		req_free(r);
		return;
	case RQ_DONE:
		break;
	}
}

/*
 * Runs the program's callback cb for r (libixp's checks done by the
 * caller); a NULL cb answers "function not implemented". Answers 0 when
 * the request was answered inside (then r->err or ofcall tell how), or
 * -EINPROGRESS when the program kept it.
 */
static int call(struct sreq *r, void (*cb)(Ixp9Req *))
{
	if (ixp_printfcall)
		ixp_printfcall(&r->pub.ifcall);
	if (!cb)
		ixp_respond(&r->pub, Enofunc);
	else
		cb(&r->pub);
	return r->state == RQ_DONE ? 0 : -EINPROGRESS;
}

/* Gives up waiting for r: its answer, whenever it comes, is dropped, and
 * drop (a fid the request was making) is clunked then. */
static int orphan(struct sreq *r, IxpFid *drop)
{
	r->state = RQ_ORPHAN;
	r->drop = drop;
	return -EIO;
}

/* Answers r's outcome (0 or the error's errno) and frees it. */
static int finish(struct sreq *r)
{
	int rc = r->err ? err_of(r->err) : 0;
	req_free(r);
	return rc;
}

/* Tclunk of f (f is gone afterwards, now or once the program answers). */
static void fid_clunk(IxpFid *f)
{
	struct engine *e = sfid_of(f)->eng;
	struct sreq *r = req_new(e, P9_TClunk, f);
	if (!e->p9->clunk) {
		ixp_respond(&r->pub, NULL);
		req_free(r);
		return;
	}
	if (call(r, e->p9->clunk) < 0)
		orphan(r, NULL);
	else
		req_free(r);
}

/* Twalk of nwname names (none: a clone) from f to a new fid: 0 with *out,
 * or -errno. */
static int walk(IxpFid *f, unsigned nwname, const char *const *names, IxpFid **out)
{
	struct engine *e = sfid_of(f)->eng;
	if (f->omode != -1)
		return -EBADF; /* "cannot walk from an open fid" */
	if (nwname && !(f->qid.type & P9_QTDIR))
		return -ENOTDIR;
	struct sreq *r = req_new(e, P9_TWalk, f);
	IxpFcall *in = &r->pub.ifcall;
	size_t total = 0;
	for (unsigned i = 0; i < nwname; i++)
		total += strlen(names[i]) + 1;
	char *block = nwname ? ixp_emalloc((uint)total) : NULL;
	for (unsigned i = 0; i < nwname; i++) { /* one block, as ixp_pstrings makes */
		size_t l = strlen(names[i]) + 1;
		memcpy(block, names[i], l);
		in->twalk.wname[i] = block;
		block += l;
	}
	in->twalk.nwname = (uint16_t)nwname;
	IxpFid *nf = fid_new(e);
	in->twalk.newfid = nf->fid;
	r->pub.newfid = nf;
	if (call(r, e->p9->walk) < 0)
		return orphan(r, nf);
	int rc = finish(r);
	if (rc == 0)
		*out = nf;
	return rc;
}

/* Tstat of f into *st (strings malloc'd): 0 or -errno. */
static int stat_fid(IxpFid *f, IxpStat *st)
{
	struct engine *e = sfid_of(f)->eng;
	struct sreq *r = req_new(e, P9_TStat, f);
	if (call(r, e->p9->stat) < 0)
		return orphan(r, NULL);
	if (r->err)
		return finish(r);
	IxpFcall *out = &r->pub.ofcall;
	memset(st, 0, sizeof *st);
	IxpMsg m = ixp_message((char *)out->rstat.stat, out->rstat.stat ? out->rstat.nstat : 0,
			       MsgUnpack);
	ixp_pstat(&m, st);
	int rc = 0;
	if (m.pos > m.end) {
		ixp_freestat(st);
		rc = -EIO;
	}
	req_free(r);
	return rc;
}

/* ---- names and numbers of users ---- */

static uint32_t id_of(const char *name, bool group)
{
	if (!name || !*name)
		return group ? getegid() : geteuid();
	char *end;
	unsigned long v = strtoul(name, &end, 10);
	if (!*end)
		return (uint32_t)v;
	char buf[4096];
	if (group) {
		struct group g, *res = NULL;
		if (getgrnam_r(name, &g, buf, sizeof buf, &res) == 0 && res)
			return res->gr_gid;
		return getegid();
	}
	struct passwd p, *res = NULL;
	if (getpwnam_r(name, &p, buf, sizeof buf, &res) == 0 && res)
		return res->pw_uid;
	return geteuid();
}

static char *name_of(uint32_t id, bool group)
{
	char buf[4096];
	if (group) {
		struct group g, *res = NULL;
		if (getgrgid_r(id, &g, buf, sizeof buf, &res) == 0 && res)
			return ixp_estrdup(res->gr_name);
	} else {
		struct passwd p, *res = NULL;
		if (getpwuid_r(id, &p, buf, sizeof buf, &res) == 0 && res)
			return ixp_estrdup(res->pw_name);
	}
	return ixp_smprint("%u", id);
}

/* boxfs attributes from a 9P2000 stat record. qid.path + 1 is the ino
 * (never 0), qid.version + 1 the version. */
static void attr_of(const IxpStat *st, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = st->qid.path + 1;
	if (a->ino == 0)
		a->ino = st->qid.path;
	a->version = (uint64_t)st->qid.version + 1;
	bool dir = (st->mode & P9_DMDIR) || (st->qid.type & P9_QTDIR);
	a->mode = (st->mode & 0777) | (dir			   ? S_IFDIR
				       : (st->mode & P9_DMSYMLINK) ? S_IFLNK
								   : S_IFREG);
	a->uid = id_of(st->uid, false);
	a->gid = id_of(st->gid, true);
	a->nlink = dir ? 2 : 1;
	a->size = st->length;
	a->blksize = 4096;
	a->blocks = (st->length + 511) / 512;
	a->atime.tv_sec = st->atime;
	a->mtime.tv_sec = st->mtime;
	a->ctime.tv_sec = st->mtime;
}

static int getattr_fid(IxpFid *f, struct boxfs_attr *a)
{
	IxpStat st;
	int rc = stat_fid(f, &st);
	if (rc < 0)
		return rc;
	attr_of(&st, a);
	ixp_freestat(&st);
	return 0;
}

/* ---- the backend ---- */

static int a_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr)
{
	(void)c;
	struct engine *e = aux;
	if (!e->p9->attach)
		return -ENOSYS;
	IxpFid *f = fid_new(e);
	struct sreq *r = req_new(e, P9_TAttach, f);
	r->pub.ifcall.tattach.afid = IXP_NOFID;
	r->pub.ifcall.tattach.uname = ixp_estrdup(e->uname);
	r->pub.ifcall.tattach.aname = ixp_estrdup("");
	if (call(r, e->p9->attach) < 0)
		return orphan(r, f);
	IxpQid rq = r->pub.ofcall.rattach.qid;
	int rc = finish(r);
	if (rc < 0)
		return rc;
	if (!f->qid.type && !f->qid.path && !f->qid.version)
		f->qid = rq; /* a program that answered the qid without setting fid->qid */
	if ((rc = getattr_fid(f, attr)) < 0) {
		fid_clunk(f);
		return rc;
	}
	*node = f;
	return 0;
}

static int a_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		    struct boxfs_attr *attr)
{
	(void)aux;
	(void)c;
	IxpFid *nf;
	int rc = walk(dir, 1, &name, &nf);
	if (rc < 0)
		return rc;
	if ((rc = getattr_fid(nf, attr)) < 0) {
		fid_clunk(nf);
		return rc;
	}
	*node = nf;
	return 0;
}

static void a_forget(void *aux, void *node)
{
	(void)aux;
	fid_clunk(node);
}

static int a_getattr(void *aux, struct boxfs_call *c, void *node, void *fh, struct boxfs_attr *attr)
{
	(void)aux;
	(void)c;
	return getattr_fid(fh ? fh : node, attr);
}

static uint8_t omode_of(int flags)
{
	uint8_t m = (flags & O_ACCMODE) == O_WRONLY ? P9_OWRITE
		    : (flags & O_ACCMODE) == O_RDWR ? P9_ORDWR
						    : P9_OREAD;
	if (flags & O_TRUNC)
		m |= P9_OTRUNC;
	return m;
}

/* Topen of f with mode: 0 or -errno (libixp's check on directories first). */
static int open_fid(IxpFid *f, uint8_t mode)
{
	struct engine *e = sfid_of(f)->eng;
	if ((f->qid.type & P9_QTDIR) && (mode | P9_ORCLOSE) != (P9_OREAD | P9_ORCLOSE))
		return -EISDIR;
	struct sreq *r = req_new(e, P9_TOpen, f);
	r->pub.ifcall.topen.mode = mode;
	r->pub.ofcall.ropen.qid = f->qid;
	if (call(r, e->p9->open) < 0) {
		orphan(r, f); /* f is clunked once the program answers */
		return -EINPROGRESS;
	}
	return finish(r);
}

static int a_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	(void)aux;
	(void)c;
	IxpFid *nf;
	int rc = walk(node, 0, NULL, &nf);
	if (rc < 0)
		return rc;
	if ((rc = open_fid(nf, omode_of(flags))) < 0) {
		if (rc == -EINPROGRESS)
			return -EIO;
		fid_clunk(nf);
		return rc;
	}
	*fh = nf;
	return 0;
}

static void a_release(void *aux, void *node, void *fh)
{
	(void)aux;
	(void)node;
	if (fh)
		fid_clunk(fh);
}

/* Tcreate of name in a clone of dir: the new fid, open, or -errno. */
static int create_in(IxpFid *dir, const char *name, uint32_t perm, uint8_t mode, IxpFid **out)
{
	struct engine *e = sfid_of(dir)->eng;
	if (!(dir->qid.type & P9_QTDIR))
		return -ENOTDIR;
	IxpFid *nf;
	int rc = walk(dir, 0, NULL, &nf);
	if (rc < 0)
		return rc;
	struct sreq *r = req_new(e, P9_TCreate, nf);
	r->pub.ifcall.tcreate.name = ixp_estrdup(name);
	r->pub.ifcall.tcreate.perm = perm;
	r->pub.ifcall.tcreate.mode = mode;
	if (call(r, e->p9->create) < 0)
		return orphan(r, nf);
	if ((rc = finish(r)) < 0) {
		fid_clunk(nf);
		return rc;
	}
	*out = nf;
	return 0;
}

static int a_create(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags,
		    uint32_t mode, void **node, struct boxfs_attr *attr, void **fh)
{
	IxpFid *of;
	int rc = create_in(dir, name, mode & 0777, omode_of(flags), &of);
	if (rc == -EEXIST && !(flags & O_EXCL)) { /* open the one there */
		if ((rc = a_lookup(aux, c, dir, name, node, attr)) < 0)
			return rc;
		if ((rc = a_open(aux, c, *node, flags, fh)) < 0)
			fid_clunk(*node);
		return rc;
	}
	if (rc < 0)
		return rc;
	if ((rc = a_lookup(aux, c, dir, name, node, attr)) < 0) {
		fid_clunk(of);
		return rc;
	}
	*fh = of;
	return 0;
}

static int a_mkdir(void *aux, struct boxfs_call *c, void *dir, const char *name, uint32_t mode,
		   void **node, struct boxfs_attr *attr)
{
	IxpFid *of;
	int rc = create_in(dir, name, P9_DMDIR | (mode & 0777), P9_OREAD, &of);
	if (rc < 0)
		return rc;
	fid_clunk(of);
	return a_lookup(aux, c, dir, name, node, attr);
}

static int a_unlink(void *aux, struct boxfs_call *c, void *dir, const char *name, int flags)
{
	(void)aux;
	(void)c;
	IxpFid *f;
	int rc = walk(dir, 1, &name, &f);
	if (rc < 0)
		return rc;
	bool isdir = f->qid.type & P9_QTDIR;
	if (isdir != !!(flags & AT_REMOVEDIR)) {
		fid_clunk(f);
		return isdir ? -EISDIR : -ENOTDIR;
	}
	struct engine *e = sfid_of(f)->eng;
	struct sreq *r = req_new(e, P9_TRemove, f);
	if (call(r, e->p9->remove) < 0)
		return orphan(r, NULL);
	return finish(r);
}

/* Twstat of f with st (the fields to change; the rest "don't touch"). */
static int wstat_fid(IxpFid *f, IxpStat *st)
{
	struct engine *e = sfid_of(f)->eng;
	struct sreq *r = req_new(e, P9_TWStat, f);
	r->pub.ifcall.twstat.stat = *st; /* its strings now belong to r */
	if (call(r, e->p9->wstat) < 0)
		return orphan(r, NULL);
	return finish(r);
}

static void dont_touch(IxpStat *st)
{
	memset(st, 0xff, sizeof *st);
	st->name = ixp_estrdup("");
	st->uid = ixp_estrdup("");
	st->gid = ixp_estrdup("");
	st->muid = ixp_estrdup("");
}

static int a_setattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		     const struct boxfs_setattr *sa, struct boxfs_attr *attr)
{
	(void)aux;
	(void)c;
	IxpFid *f = node;
	IxpStat st;
	int rc;
	bool any = sa->valid &
		   (BOXFS_SET_MODE | BOXFS_SET_UID | BOXFS_SET_GID | BOXFS_SET_SIZE |
		    BOXFS_SET_ATIME | BOXFS_SET_MTIME | BOXFS_SET_ATIME_NOW | BOXFS_SET_MTIME_NOW);
	if (any) {
		uint32_t cur = 0;
		if (sa->valid & BOXFS_SET_MODE) {
			IxpStat now;
			if ((rc = stat_fid(f, &now)) < 0)
				return rc;
			cur = now.mode;
			ixp_freestat(&now);
		}
		dont_touch(&st);
		if (sa->valid & BOXFS_SET_MODE)
			st.mode = (cur & ~0777u) | (sa->mode & 0777);
		if (sa->valid & BOXFS_SET_SIZE)
			st.length = sa->size;
		time_t now = time(NULL);
		if (sa->valid & BOXFS_SET_ATIME)
			st.atime = (uint32_t)sa->atime.tv_sec;
		if (sa->valid & BOXFS_SET_ATIME_NOW)
			st.atime = (uint32_t)now;
		if (sa->valid & BOXFS_SET_MTIME)
			st.mtime = (uint32_t)sa->mtime.tv_sec;
		if (sa->valid & BOXFS_SET_MTIME_NOW)
			st.mtime = (uint32_t)now;
		if (sa->valid & BOXFS_SET_UID) {
			free(st.uid);
			st.uid = name_of(sa->uid, false);
		}
		if (sa->valid & BOXFS_SET_GID) {
			free(st.gid);
			st.gid = name_of(sa->gid, true);
		}
		if ((rc = wstat_fid(f, &st)) < 0)
			return rc;
	}
	return getattr_fid(fh ? fh : f, attr);
}

static int a_rename(void *aux, struct boxfs_call *c, void *olddir, const char *oldname,
		    void *newdir, const char *newname, unsigned flags)
{
	(void)aux;
	(void)c;
	IxpFid *od = olddir, *nd = newdir;
	if (flags)
		return -EINVAL;
	if (od != nd && od->qid.path != nd->qid.path)
		return -EXDEV; /* 9P2000 renames within a directory only */
	IxpFid *f;
	int rc = walk(od, 1, &oldname, &f);
	if (rc < 0)
		return rc;
	IxpStat st;
	dont_touch(&st);
	free(st.name);
	st.name = ixp_estrdup(newname);
	rc = wstat_fid(f, &st);
	fid_clunk(f);
	return rc;
}

/* Called by the core when a deferred read or write is cancelled. */
static void on_cancel(void *arg, struct boxfs_call *c)
{
	struct sreq *r = arg;
	struct engine *e = r->eng;
	uint64_t serial = r->serial;
	if (r->state != RQ_DEFERRED || r->answered)
		return;
	if (e->p9->flush) {
		struct sreq *fr = req_new(e, P9_TFlush, NULL);
		fr->pub.ifcall.tflush.oldtag = r->pub.ifcall.hdr.tag;
		fr->pub.oldreq = &r->pub;
		fr->oldserial = serial;
		fr->state = RQ_ORPHAN; /* no backend call waits for the flush */
		if (ixp_printfcall)
			ixp_printfcall(&fr->pub.ifcall);
		e->p9->flush(&fr->pub);
	}
	/* Still not answered: answer the call now, drop the program's answer. */
	if (req_find(e, &r->pub, serial) && r->state == RQ_DEFERRED && !r->answered) {
		r->state = RQ_ORPHAN;
		boxfs_call_done(c, -EINTR);
	}
}

/* Waits no more for r, a read or write the program kept: boxfs_call_done
 * answers it. */
static ssize_t defer(struct sreq *r, struct boxfs_call *c, void *buf, size_t count)
{
	r->state = RQ_DEFERRED;
	r->call = c;
	r->buf = buf;
	r->count = count;
	boxfs_call_on_cancel(c, on_cancel, r);
	return BOXFS_EDEFERRED;
}

static ssize_t a_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
		      size_t count, uint64_t off)
{
	(void)node;
	struct engine *e = aux;
	IxpFid *f = fh;
	if (!f || f->omode == -1 || (f->omode & 3) == P9_OWRITE)
		return -EBADF; /* "file not open for reading" */
	struct sreq *r = req_new(e, P9_TRead, f);
	r->pub.ifcall.tread.offset = off;
	r->pub.ifcall.tread.count = (uint32_t)(count < IOUNIT ? count : IOUNIT);
	if (call(r, e->p9->read) < 0)
		return defer(r, c, buf, count);
	if (r->err)
		return finish(r);
	IxpFcall *out = &r->pub.ofcall;
	size_t n = out->rread.count < count ? out->rread.count : count;
	if (n)
		memcpy(buf, out->rread.data, n);
	req_free(r);
	return (ssize_t)n;
}

static ssize_t a_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
		       size_t count, uint64_t off)
{
	(void)node;
	struct engine *e = aux;
	IxpFid *f = fh;
	if (!f || ((f->omode & 3) != P9_OWRITE && (f->omode & 3) != P9_ORDWR) || f->omode == -1)
		return -EBADF; /* "write on fid not opened for writing" */
	if (count > IOUNIT)
		count = IOUNIT;
	struct sreq *r = req_new(e, P9_TWrite, f);
	r->pub.ifcall.twrite.offset = off;
	r->pub.ifcall.twrite.count = (uint32_t)count;
	r->pub.ifcall.twrite.data = ixp_emalloc((uint)count + 1);
	memcpy(r->pub.ifcall.twrite.data, buf, count);
	if (call(r, e->p9->write) < 0)
		return defer(r, c, NULL, count);
	if (r->err)
		return finish(r);
	size_t n = r->pub.ofcall.rwrite.count < count ? r->pub.ofcall.rwrite.count : count;
	req_free(r);
	return (ssize_t)n;
}

/* Tread of a directory at off into f's cache: the bytes read, or -errno. */
static ssize_t dir_fill(struct engine *e, IxpFid *f, uint64_t off)
{
	struct sfid *sf = sfid_of(f);
	struct sreq *r = req_new(e, P9_TRead, f);
	r->pub.ifcall.tread.offset = off;
	r->pub.ifcall.tread.count = DIRREAD;
	if (call(r, e->p9->read) < 0)
		return orphan(r, NULL);
	if (r->err)
		return finish(r);
	IxpFcall *out = &r->pub.ofcall;
	size_t n = out->rread.count < DIRREAD ? out->rread.count : DIRREAD;
	free(sf->dbuf);
	sf->dbuf = NULL;
	sf->doff = off;
	sf->dlen = n;
	if (n) {
		sf->dbuf = out->rread.data; /* keep the program's buffer */
		out->rread.data = NULL;
	}
	req_free(r);
	return (ssize_t)n;
}

static int a_readdir(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
		     boxfs_fill_fn fill, void *ctx)
{
	(void)c;
	(void)dir;
	struct engine *e = aux;
	IxpFid *f = fh;
	if (!f || f->omode == -1)
		return -EBADF;
	struct sfid *sf = sfid_of(f);
	for (;;) {
		/* The cache answers when it holds cookie; a read brings more. */
		if (!(sf->dbuf && cookie >= sf->doff && cookie < sf->doff + sf->dlen)) {
			ssize_t n = dir_fill(e, f, cookie);
			if (n <= 0)
				return (int)n;
		}
		size_t pos = (size_t)(cookie - sf->doff);
		while (pos < sf->dlen) {
			IxpMsg m = ixp_message(sf->dbuf + pos, (uint)(sf->dlen - pos), MsgUnpack);
			IxpStat st;
			memset(&st, 0, sizeof st);
			ixp_pstat(&m, &st);
			if (m.pos > m.end) {
				ixp_freestat(&st);
				return -EIO;
			}
			pos += (size_t)(m.pos - m.data);
			uint64_t next = sf->doff + pos;
			int full = 0;
			if (strcmp(st.name, ".") != 0 && strcmp(st.name, "..") != 0 && st.name[0]) {
				uint32_t dt = (st.mode & P9_DMDIR)	 ? DT_DIR
					      : (st.mode & P9_DMSYMLINK) ? DT_LNK
									 : DT_REG;
				uint64_t ino = st.qid.path + 1 ? st.qid.path + 1 : st.qid.path;
				full = fill(ctx, st.name, ino, dt, next);
			}
			ixp_freestat(&st);
			if (full)
				return 0;
			cookie = next;
		}
	}
}

static const struct boxfs_fs_ops adapter_ops = {
	.root = a_root,
	.lookup = a_lookup,
	.forget = a_forget,
	.getattr = a_getattr,
	.setattr = a_setattr,
	.open = a_open,
	.create = a_create,
	.read = a_read,
	.write = a_write,
	.readdir = a_readdir,
	.mkdir = a_mkdir,
	.unlink = a_unlink,
	.rename = a_rename,
	.release = a_release,
};

/* ---- engines ---- */

static void engine_read(IxpConn *c)
{
	struct engine *e = c->aux;
	boxfs_server_dispatch(e->bs);
}

static void engine_maybe_free(struct engine *e)
{
	if (e->closed && !e->live) {
		free(e->uname);
		free(e);
	}
}

static void engine_close(IxpConn *c)
{
	struct engine *e = c->aux;
	e->conn = NULL;
	/* Frees the namespace: every fid is clunked, deferred calls cancelled. */
	boxfs_server_free(e->bs);
	e->bs = NULL;
	e->closed = true;
	/* Requests the program still keeps stay valid until it answers them. */
	engine_maybe_free(e);
}

static struct engine *engine_find(IxpServer *s, Ixp9Srv *p9)
{
	for (IxpConn *c = s->conn; c; c = c->next)
		if (c->read == engine_read && ((struct engine *)c->aux)->p9 == p9)
			return c->aux;
	return NULL;
}

static struct engine *engine_new(IxpServer *s, Ixp9Srv *p9)
{
	struct engine *e = ixp_emallocz(sizeof *e);
	e->isrv = s;
	e->p9 = p9;
	char buf[4096];
	struct passwd pw, *res = NULL;
	e->uname = getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res
			   ? ixp_estrdup(res->pw_name)
			   : ixp_smprint("%u", (unsigned)geteuid());
	struct boxfs_server_opts o = { .no_threads = true, .max_msize = MAX_MSIZE };
	e->bs = boxfs_server_new(&o);
	if (!e->bs) {
		ixp_werrstr("cannot make a 9P server: %s", strerror(errno));
		goto fail;
	}
	struct boxfs_fs *fs = calloc(1, sizeof *fs);
	if (!fs) {
		ixp_seterr("no memory");
		goto fail;
	}
	fs->ops = &adapter_ops;
	fs->aux = e;
	fs->flags = BOXFS_FS_DEFER;
	fs->name = "ixp";
	int rc = boxfs_server_mount(e->bs, "/", fs); /* attaches: runs the program's attach */
	if (rc < 0) {
		ixp_werrstr("attach: %s", strerror(-rc));
		goto fail;
	}
	int fd = dup(boxfs_server_fd(e->bs));
	if (fd < 0 || !(e->conn = ixp_listen(s, fd, e, engine_read, engine_close))) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	return e;
fail:
	if (e->bs)
		boxfs_server_free(e->bs);
	e->closed = true;
	e->bs = NULL;
	engine_maybe_free(e);
	return NULL;
}

void ixp_serve9conn_fd(IxpServer *s, int fd, Ixp9Srv *p9)
{
	struct engine *e = engine_find(s, p9);
	if (!e && !(e = engine_new(s, p9))) {
		close(fd);
		return;
	}
	int rc = boxfs_server_serve_fds(e->bs, "9p", fd, fd);
	if (rc < 0)
		ixp_werrstr("cannot serve: %s", strerror(-rc));
}

void ixp_serve9conn(IxpConn *c)
{
	int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	ixp_serve9conn_fd(c->srv, fd, c->aux);
}
