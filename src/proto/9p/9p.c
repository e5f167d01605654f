/*
 * 9p.c — unpack and pack of every 9P message, in all three dialects.
 *
 * Called by the 9P door (requests in, replies out) and the 9P client (the
 * reverse). One switch per direction, one case per message, fields in the
 * order of the manual pages. Decoding reads through a bx_rcur and never
 * allocates; packing writes through a bx_wcur, and the same routine run over
 * a counting cursor gives the size, so size and layout cannot drift apart.
 */
#include "p9_impl.h"

#include <errno.h>
#include <string.h>

/* Which dialects have each message type: bit (1 << enum p9_dialect). */
enum { D0 = 1 << P9_2000, DU = 1 << P9_2000U, DL = 1 << P9_2000L };

/* clang-format off */
static const uint8_t dialects[256] = {
	[P9_Rlerror] = DL,
	[P9_Tstatfs] = DL, [P9_Rstatfs] = DL,
	[P9_Tlopen] = DL, [P9_Rlopen] = DL,
	[P9_Tlcreate] = DL, [P9_Rlcreate] = DL,
	[P9_Tsymlink] = DL, [P9_Rsymlink] = DL,
	[P9_Tmknod] = DL, [P9_Rmknod] = DL,
	[P9_Trename] = DL, [P9_Rrename] = DL,
	[P9_Treadlink] = DL, [P9_Rreadlink] = DL,
	[P9_Tgetattr] = DL, [P9_Rgetattr] = DL,
	[P9_Tsetattr] = DL, [P9_Rsetattr] = DL,
	[P9_Txattrwalk] = DL, [P9_Rxattrwalk] = DL,
	[P9_Txattrcreate] = DL, [P9_Rxattrcreate] = DL,
	[P9_Treaddir] = DL, [P9_Rreaddir] = DL,
	[P9_Tfsync] = DL, [P9_Rfsync] = DL,
	[P9_Tlock] = DL, [P9_Rlock] = DL,
	[P9_Tgetlock] = DL, [P9_Rgetlock] = DL,
	[P9_Tlink] = DL, [P9_Rlink] = DL,
	[P9_Tmkdir] = DL, [P9_Rmkdir] = DL,
	[P9_Trenameat] = DL, [P9_Rrenameat] = DL,
	[P9_Tunlinkat] = DL, [P9_Runlinkat] = DL,
	[P9_Tversion] = D0 | DU | DL, [P9_Rversion] = D0 | DU | DL,
	[P9_Tauth] = D0 | DU | DL, [P9_Rauth] = D0 | DU | DL,
	[P9_Tattach] = D0 | DU | DL, [P9_Rattach] = D0 | DU | DL,
	[P9_Rerror] = D0 | DU,
	[P9_Tflush] = D0 | DU | DL, [P9_Rflush] = D0 | DU | DL,
	[P9_Twalk] = D0 | DU | DL, [P9_Rwalk] = D0 | DU | DL,
	[P9_Topen] = D0 | DU, [P9_Ropen] = D0 | DU,
	[P9_Tcreate] = D0 | DU, [P9_Rcreate] = D0 | DU,
	[P9_Tread] = D0 | DU | DL, [P9_Rread] = D0 | DU | DL,
	[P9_Twrite] = D0 | DU | DL, [P9_Rwrite] = D0 | DU | DL,
	[P9_Tclunk] = D0 | DU | DL, [P9_Rclunk] = D0 | DU | DL,
	[P9_Tremove] = D0 | DU | DL, [P9_Rremove] = D0 | DU | DL,
	[P9_Tstat] = D0 | DU, [P9_Rstat] = D0 | DU,
	[P9_Twstat] = D0 | DU, [P9_Rwstat] = D0 | DU,
};
/* clang-format on */

bool p9_type_valid(uint8_t type, enum p9_dialect d)
{
	return (unsigned)d <= P9_2000L && (dialects[type] & (1u << d));
}

uint32_t p9_iocount(uint32_t msize, uint32_t count)
{
	uint64_t room = msize > P9_IOHDRSZ ? (uint64_t)msize - P9_IOHDRSZ : 0;
	return (uint64_t)count < room ? count : (uint32_t)room;
}

ssize_t p9_frame_size(const void *hdr, uint32_t msize)
{
	struct bx_rcur c = bx_rcur(hdr, 4);
	uint32_t size = bx_get32le(&c);
	if (size < P9_HDRSZ)
		return -EPROTO;
	if (msize && size > msize)
		return -EMSGSIZE;
	return size;
}

struct p9_str p9_cstr(const char *s)
{
	size_t n = strlen(s);
	return (struct p9_str){ .s = s, .len = (uint16_t)(n > UINT16_MAX ? UINT16_MAX : n) };
}

/* ---- decoding ---- */

static struct p9_str get_str(struct bx_rcur *c)
{
	uint16_t n = bx_get16le(c);
	const uint8_t *p = bx_take(c, n);
	return p ? (struct p9_str){ .s = (const char *)p, .len = n } : (struct p9_str){ .s = "" };
}

static struct p9_qid get_qid(struct bx_rcur *c)
{
	struct p9_qid q;
	q.type = bx_get8(c);
	q.version = bx_get32le(c);
	q.path = bx_get64le(c);
	return q;
}

static const uint8_t *get_data(struct bx_rcur *c, uint32_t *count)
{
	*count = bx_get32le(c);
	return bx_take(c, *count);
}

/* The fields of a stat record after its size[2], which must fill c exactly. */
static int get_stat_body(struct bx_rcur *c, struct p9_stat *st, enum p9_dialect d)
{
	memset(st, 0, sizeof *st);
	st->type = bx_get16le(c);
	st->dev = bx_get32le(c);
	st->qid = get_qid(c);
	st->mode = bx_get32le(c);
	st->atime = bx_get32le(c);
	st->mtime = bx_get32le(c);
	st->length = bx_get64le(c);
	st->name = get_str(c);
	st->uid = get_str(c);
	st->gid = get_str(c);
	st->muid = get_str(c);
	if (d == P9_2000U) {
		st->extension = get_str(c);
		st->n_uid = bx_get32le(c);
		st->n_gid = bx_get32le(c);
		st->n_muid = bx_get32le(c);
	}
	return c->bad || c->pos != c->len ? -EPROTO : 0;
}

/* A whole stat record, size[2] first; its size must match its content. */
static void get_stat(struct bx_rcur *c, struct p9_stat *st, enum p9_dialect d)
{
	uint16_t size = bx_get16le(c);
	const uint8_t *p = bx_take(c, size);
	struct bx_rcur sub = bx_rcur(p, size);
	if (!p || get_stat_body(&sub, st, d) < 0)
		c->bad = true;
}

/* Rstat and Twstat wrap the record in nstat[2], which must equal its size. */
static void get_nstat(struct bx_rcur *c, struct p9_stat *st, enum p9_dialect d)
{
	uint16_t nstat = bx_get16le(c);
	const uint8_t *p = bx_take(c, nstat);
	if (!p)
		return;
	struct bx_rcur sub = bx_rcur(p, nstat);
	get_stat(&sub, st, d);
	if (sub.bad || sub.pos != sub.len)
		c->bad = true;
}

static int unpack_body(struct bx_rcur *c, struct p9_fcall *f, enum p9_dialect d)
{
	switch (f->type) {
	case P9_Tversion:
	case P9_Rversion:
		f->tversion.msize = bx_get32le(c);
		f->tversion.version = get_str(c);
		break;
	case P9_Tauth:
		f->tauth.afid = bx_get32le(c);
		f->tauth.uname = get_str(c);
		f->tauth.aname = get_str(c);
		f->tauth.n_uname = d == P9_2000 ? P9_NONUNAME : bx_get32le(c);
		break;
	case P9_Tattach:
		f->tattach.fid = bx_get32le(c);
		f->tattach.afid = bx_get32le(c);
		f->tattach.uname = get_str(c);
		f->tattach.aname = get_str(c);
		f->tattach.n_uname = d == P9_2000 ? P9_NONUNAME : bx_get32le(c);
		break;
	case P9_Rauth:
	case P9_Rattach:
	case P9_Rsymlink:
	case P9_Rmknod:
	case P9_Rmkdir:
		f->rattach.qid = get_qid(c);
		break;
	case P9_Rerror:
		f->rerror.ename = get_str(c);
		f->rerror.errnum = d == P9_2000U ? bx_get32le(c) : 0;
		break;
	case P9_Rlerror:
		f->rlerror.ecode = bx_get32le(c);
		break;
	case P9_Tflush:
		f->tflush.oldtag = bx_get16le(c);
		break;
	case P9_Twalk:
		f->twalk.fid = bx_get32le(c);
		f->twalk.newfid = bx_get32le(c);
		f->twalk.nwname = bx_get16le(c);
		if (f->twalk.nwname > P9_MAXWELEM)
			return -EPROTO;
		for (unsigned i = 0; i < f->twalk.nwname; i++)
			f->twalk.wname[i] = get_str(c);
		break;
	case P9_Rwalk:
		f->rwalk.nwqid = bx_get16le(c);
		if (f->rwalk.nwqid > P9_MAXWELEM)
			return -EPROTO;
		for (unsigned i = 0; i < f->rwalk.nwqid; i++)
			f->rwalk.wqid[i] = get_qid(c);
		break;
	case P9_Topen:
		f->topen.fid = bx_get32le(c);
		f->topen.mode = bx_get8(c);
		break;
	case P9_Ropen:
	case P9_Rcreate:
	case P9_Rlopen:
	case P9_Rlcreate:
		f->ropen.qid = get_qid(c);
		f->ropen.iounit = bx_get32le(c);
		break;
	case P9_Tcreate:
		f->tcreate.fid = bx_get32le(c);
		f->tcreate.name = get_str(c);
		f->tcreate.perm = bx_get32le(c);
		f->tcreate.mode = bx_get8(c);
		f->tcreate.extension = d == P9_2000U ? get_str(c) : (struct p9_str){ .s = "" };
		break;
	case P9_Tread:
	case P9_Treaddir:
		f->tread.fid = bx_get32le(c);
		f->tread.offset = bx_get64le(c);
		f->tread.count = bx_get32le(c);
		break;
	case P9_Rread:
	case P9_Rreaddir:
		f->rread.data = get_data(c, &f->rread.count);
		break;
	case P9_Twrite:
		f->twrite.fid = bx_get32le(c);
		f->twrite.offset = bx_get64le(c);
		f->twrite.data = get_data(c, &f->twrite.count);
		break;
	case P9_Rwrite:
		f->rwrite.count = bx_get32le(c);
		break;
	case P9_Tclunk:
	case P9_Tremove:
	case P9_Tstat:
	case P9_Tstatfs:
	case P9_Treadlink:
		f->tclunk.fid = bx_get32le(c);
		break;
	case P9_Rstat:
		get_nstat(c, &f->rstat.stat, d);
		break;
	case P9_Twstat:
		f->twstat.fid = bx_get32le(c);
		get_nstat(c, &f->twstat.stat, d);
		break;
	case P9_Rflush:
	case P9_Rclunk:
	case P9_Rremove:
	case P9_Rwstat:
	case P9_Rrename:
	case P9_Rsetattr:
	case P9_Rxattrcreate:
	case P9_Rfsync:
	case P9_Rlink:
	case P9_Rrenameat:
	case P9_Runlinkat:
		break;
	case P9_Rstatfs:
		f->rstatfs.type = bx_get32le(c);
		f->rstatfs.bsize = bx_get32le(c);
		f->rstatfs.blocks = bx_get64le(c);
		f->rstatfs.bfree = bx_get64le(c);
		f->rstatfs.bavail = bx_get64le(c);
		f->rstatfs.files = bx_get64le(c);
		f->rstatfs.ffree = bx_get64le(c);
		f->rstatfs.fsid = bx_get64le(c);
		f->rstatfs.namelen = bx_get32le(c);
		break;
	case P9_Tlopen:
		f->tlopen.fid = bx_get32le(c);
		f->tlopen.flags = bx_get32le(c);
		break;
	case P9_Tlcreate:
		f->tlcreate.fid = bx_get32le(c);
		f->tlcreate.name = get_str(c);
		f->tlcreate.flags = bx_get32le(c);
		f->tlcreate.mode = bx_get32le(c);
		f->tlcreate.gid = bx_get32le(c);
		break;
	case P9_Tsymlink:
		f->tsymlink.fid = bx_get32le(c);
		f->tsymlink.name = get_str(c);
		f->tsymlink.symtgt = get_str(c);
		f->tsymlink.gid = bx_get32le(c);
		break;
	case P9_Tmknod:
		f->tmknod.dfid = bx_get32le(c);
		f->tmknod.name = get_str(c);
		f->tmknod.mode = bx_get32le(c);
		f->tmknod.major = bx_get32le(c);
		f->tmknod.minor = bx_get32le(c);
		f->tmknod.gid = bx_get32le(c);
		break;
	case P9_Trename:
		f->trename.fid = bx_get32le(c);
		f->trename.dfid = bx_get32le(c);
		f->trename.name = get_str(c);
		break;
	case P9_Rreadlink:
		f->rreadlink.target = get_str(c);
		break;
	case P9_Tgetattr:
		f->tgetattr.fid = bx_get32le(c);
		f->tgetattr.request_mask = bx_get64le(c);
		break;
	case P9_Rgetattr: {
		struct p9_rgetattr *r = &f->rgetattr;
		r->valid = bx_get64le(c);
		r->qid = get_qid(c);
		r->mode = bx_get32le(c);
		r->uid = bx_get32le(c);
		r->gid = bx_get32le(c);
		r->nlink = bx_get64le(c);
		r->rdev = bx_get64le(c);
		r->size = bx_get64le(c);
		r->blksize = bx_get64le(c);
		r->blocks = bx_get64le(c);
		r->atime_sec = bx_get64le(c);
		r->atime_nsec = bx_get64le(c);
		r->mtime_sec = bx_get64le(c);
		r->mtime_nsec = bx_get64le(c);
		r->ctime_sec = bx_get64le(c);
		r->ctime_nsec = bx_get64le(c);
		r->btime_sec = bx_get64le(c);
		r->btime_nsec = bx_get64le(c);
		r->gen = bx_get64le(c);
		r->data_version = bx_get64le(c);
		break;
	}
	case P9_Tsetattr: {
		struct p9_tsetattr *t = &f->tsetattr;
		t->fid = bx_get32le(c);
		t->valid = bx_get32le(c);
		t->mode = bx_get32le(c);
		t->uid = bx_get32le(c);
		t->gid = bx_get32le(c);
		t->size = bx_get64le(c);
		t->atime_sec = bx_get64le(c);
		t->atime_nsec = bx_get64le(c);
		t->mtime_sec = bx_get64le(c);
		t->mtime_nsec = bx_get64le(c);
		break;
	}
	case P9_Txattrwalk:
		f->txattrwalk.fid = bx_get32le(c);
		f->txattrwalk.newfid = bx_get32le(c);
		f->txattrwalk.name = get_str(c);
		break;
	case P9_Rxattrwalk:
		f->rxattrwalk.size = bx_get64le(c);
		break;
	case P9_Txattrcreate:
		f->txattrcreate.fid = bx_get32le(c);
		f->txattrcreate.name = get_str(c);
		f->txattrcreate.attr_size = bx_get64le(c);
		f->txattrcreate.flags = bx_get32le(c);
		break;
	case P9_Tfsync:
		f->tfsync.fid = bx_get32le(c);
		f->tfsync.datasync = bx_get32le(c);
		break;
	case P9_Tlock:
		f->tlock.fid = bx_get32le(c);
		f->tlock.type = bx_get8(c);
		f->tlock.flags = bx_get32le(c);
		f->tlock.start = bx_get64le(c);
		f->tlock.length = bx_get64le(c);
		f->tlock.proc_id = bx_get32le(c);
		f->tlock.client_id = get_str(c);
		break;
	case P9_Rlock:
		f->rlock.status = bx_get8(c);
		break;
	case P9_Tgetlock:
	case P9_Rgetlock:
		f->tgetlock.fid = f->type == P9_Tgetlock ? bx_get32le(c) : P9_NOFID;
		f->tgetlock.type = bx_get8(c);
		f->tgetlock.start = bx_get64le(c);
		f->tgetlock.length = bx_get64le(c);
		f->tgetlock.proc_id = bx_get32le(c);
		f->tgetlock.client_id = get_str(c);
		break;
	case P9_Tlink:
		f->tlink.dfid = bx_get32le(c);
		f->tlink.fid = bx_get32le(c);
		f->tlink.name = get_str(c);
		break;
	case P9_Tmkdir:
		f->tmkdir.dfid = bx_get32le(c);
		f->tmkdir.name = get_str(c);
		f->tmkdir.mode = bx_get32le(c);
		f->tmkdir.gid = bx_get32le(c);
		break;
	case P9_Trenameat:
		f->trenameat.olddirfid = bx_get32le(c);
		f->trenameat.oldname = get_str(c);
		f->trenameat.newdirfid = bx_get32le(c);
		f->trenameat.newname = get_str(c);
		break;
	case P9_Tunlinkat:
		f->tunlinkat.dirfid = bx_get32le(c);
		f->tunlinkat.name = get_str(c);
		f->tunlinkat.flags = bx_get32le(c);
		break;
	default:
		return -EOPNOTSUPP;
	}
	return c->bad || c->pos != c->len ? -EPROTO : 0;
}

int p9_unpack(struct p9_fcall *f, const void *buf, size_t len, enum p9_dialect d)
{
	struct bx_rcur c = bx_rcur(buf, len);
	memset(f, 0, sizeof *f);
	uint32_t size = bx_get32le(&c);
	f->type = bx_get8(&c);
	f->tag = bx_get16le(&c);
	if (c.bad)
		return -EPROTO;
	if (size != len)
		return -EPROTO;
	if (!p9_type_valid(f->type, d))
		return -EOPNOTSUPP;
	return unpack_body(&c, f, d);
}

/* ---- encoding ---- */

static void put_str(struct bx_wcur *c, struct p9_str s)
{
	bx_put16le(c, s.len);
	bx_putbytes(c, s.s, s.len);
}

static void put_qid(struct bx_wcur *c, const struct p9_qid *q)
{
	bx_put8(c, q->type);
	bx_put32le(c, q->version);
	bx_put64le(c, q->path);
}

static void put_data(struct bx_wcur *c, uint32_t count, const uint8_t *data)
{
	bx_put32le(c, count);
	bx_putbytes(c, data, count);
}

/* The record's fields after size[2]. */
static void put_stat_body(struct bx_wcur *c, const struct p9_stat *st, enum p9_dialect d)
{
	bx_put16le(c, st->type);
	bx_put32le(c, st->dev);
	put_qid(c, &st->qid);
	bx_put32le(c, st->mode);
	bx_put32le(c, st->atime);
	bx_put32le(c, st->mtime);
	bx_put64le(c, st->length);
	put_str(c, st->name);
	put_str(c, st->uid);
	put_str(c, st->gid);
	put_str(c, st->muid);
	if (d == P9_2000U) {
		put_str(c, st->extension);
		bx_put32le(c, st->n_uid);
		bx_put32le(c, st->n_gid);
		bx_put32le(c, st->n_muid);
	}
}

static size_t stat_body_size(const struct p9_stat *st, enum p9_dialect d)
{
	struct bx_wcur n = bx_wcur(NULL, 0);
	put_stat_body(&n, st, d);
	return n.pos;
}

size_t p9_stat_size(const struct p9_stat *st, enum p9_dialect d)
{
	size_t body = stat_body_size(st, d);
	return body > UINT16_MAX ? 0 : 2 + body;
}

/* A stat record, size[2] first; with nstat, wrapped as Rstat/Twstat want. */
static void put_stat(struct bx_wcur *c, const struct p9_stat *st, enum p9_dialect d, bool nstat)
{
	size_t body = stat_body_size(st, d);
	if (nstat)
		bx_put16le(c, (uint16_t)(body + 2));
	bx_put16le(c, (uint16_t)body);
	put_stat_body(c, st, d);
}

static void pack_body(struct bx_wcur *c, const struct p9_fcall *f, enum p9_dialect d)
{
	switch (f->type) {
	case P9_Tversion:
	case P9_Rversion:
		bx_put32le(c, f->tversion.msize);
		put_str(c, f->tversion.version);
		break;
	case P9_Tauth:
		bx_put32le(c, f->tauth.afid);
		put_str(c, f->tauth.uname);
		put_str(c, f->tauth.aname);
		if (d != P9_2000)
			bx_put32le(c, f->tauth.n_uname);
		break;
	case P9_Tattach:
		bx_put32le(c, f->tattach.fid);
		bx_put32le(c, f->tattach.afid);
		put_str(c, f->tattach.uname);
		put_str(c, f->tattach.aname);
		if (d != P9_2000)
			bx_put32le(c, f->tattach.n_uname);
		break;
	case P9_Rauth:
	case P9_Rattach:
	case P9_Rsymlink:
	case P9_Rmknod:
	case P9_Rmkdir:
		put_qid(c, &f->rattach.qid);
		break;
	case P9_Rerror:
		put_str(c, f->rerror.ename);
		if (d == P9_2000U)
			bx_put32le(c, f->rerror.errnum);
		break;
	case P9_Rlerror:
		bx_put32le(c, f->rlerror.ecode);
		break;
	case P9_Tflush:
		bx_put16le(c, f->tflush.oldtag);
		break;
	case P9_Twalk:
		bx_put32le(c, f->twalk.fid);
		bx_put32le(c, f->twalk.newfid);
		bx_put16le(c, f->twalk.nwname);
		for (unsigned i = 0; i < f->twalk.nwname; i++)
			put_str(c, f->twalk.wname[i]);
		break;
	case P9_Rwalk:
		bx_put16le(c, f->rwalk.nwqid);
		for (unsigned i = 0; i < f->rwalk.nwqid; i++)
			put_qid(c, &f->rwalk.wqid[i]);
		break;
	case P9_Topen:
		bx_put32le(c, f->topen.fid);
		bx_put8(c, f->topen.mode);
		break;
	case P9_Ropen:
	case P9_Rcreate:
	case P9_Rlopen:
	case P9_Rlcreate:
		put_qid(c, &f->ropen.qid);
		bx_put32le(c, f->ropen.iounit);
		break;
	case P9_Tcreate:
		bx_put32le(c, f->tcreate.fid);
		put_str(c, f->tcreate.name);
		bx_put32le(c, f->tcreate.perm);
		bx_put8(c, f->tcreate.mode);
		if (d == P9_2000U)
			put_str(c, f->tcreate.extension);
		break;
	case P9_Tread:
	case P9_Treaddir:
		bx_put32le(c, f->tread.fid);
		bx_put64le(c, f->tread.offset);
		bx_put32le(c, f->tread.count);
		break;
	case P9_Rread:
	case P9_Rreaddir:
		put_data(c, f->rread.count, f->rread.data);
		break;
	case P9_Twrite:
		bx_put32le(c, f->twrite.fid);
		bx_put64le(c, f->twrite.offset);
		put_data(c, f->twrite.count, f->twrite.data);
		break;
	case P9_Rwrite:
		bx_put32le(c, f->rwrite.count);
		break;
	case P9_Tclunk:
	case P9_Tremove:
	case P9_Tstat:
	case P9_Tstatfs:
	case P9_Treadlink:
		bx_put32le(c, f->tclunk.fid);
		break;
	case P9_Rstat:
		put_stat(c, &f->rstat.stat, d, true);
		break;
	case P9_Twstat:
		bx_put32le(c, f->twstat.fid);
		put_stat(c, &f->twstat.stat, d, true);
		break;
	case P9_Rstatfs:
		bx_put32le(c, f->rstatfs.type);
		bx_put32le(c, f->rstatfs.bsize);
		bx_put64le(c, f->rstatfs.blocks);
		bx_put64le(c, f->rstatfs.bfree);
		bx_put64le(c, f->rstatfs.bavail);
		bx_put64le(c, f->rstatfs.files);
		bx_put64le(c, f->rstatfs.ffree);
		bx_put64le(c, f->rstatfs.fsid);
		bx_put32le(c, f->rstatfs.namelen);
		break;
	case P9_Tlopen:
		bx_put32le(c, f->tlopen.fid);
		bx_put32le(c, f->tlopen.flags);
		break;
	case P9_Tlcreate:
		bx_put32le(c, f->tlcreate.fid);
		put_str(c, f->tlcreate.name);
		bx_put32le(c, f->tlcreate.flags);
		bx_put32le(c, f->tlcreate.mode);
		bx_put32le(c, f->tlcreate.gid);
		break;
	case P9_Tsymlink:
		bx_put32le(c, f->tsymlink.fid);
		put_str(c, f->tsymlink.name);
		put_str(c, f->tsymlink.symtgt);
		bx_put32le(c, f->tsymlink.gid);
		break;
	case P9_Tmknod:
		bx_put32le(c, f->tmknod.dfid);
		put_str(c, f->tmknod.name);
		bx_put32le(c, f->tmknod.mode);
		bx_put32le(c, f->tmknod.major);
		bx_put32le(c, f->tmknod.minor);
		bx_put32le(c, f->tmknod.gid);
		break;
	case P9_Trename:
		bx_put32le(c, f->trename.fid);
		bx_put32le(c, f->trename.dfid);
		put_str(c, f->trename.name);
		break;
	case P9_Rreadlink:
		put_str(c, f->rreadlink.target);
		break;
	case P9_Tgetattr:
		bx_put32le(c, f->tgetattr.fid);
		bx_put64le(c, f->tgetattr.request_mask);
		break;
	case P9_Rgetattr: {
		const struct p9_rgetattr *r = &f->rgetattr;
		bx_put64le(c, r->valid);
		put_qid(c, &r->qid);
		bx_put32le(c, r->mode);
		bx_put32le(c, r->uid);
		bx_put32le(c, r->gid);
		bx_put64le(c, r->nlink);
		bx_put64le(c, r->rdev);
		bx_put64le(c, r->size);
		bx_put64le(c, r->blksize);
		bx_put64le(c, r->blocks);
		bx_put64le(c, r->atime_sec);
		bx_put64le(c, r->atime_nsec);
		bx_put64le(c, r->mtime_sec);
		bx_put64le(c, r->mtime_nsec);
		bx_put64le(c, r->ctime_sec);
		bx_put64le(c, r->ctime_nsec);
		bx_put64le(c, r->btime_sec);
		bx_put64le(c, r->btime_nsec);
		bx_put64le(c, r->gen);
		bx_put64le(c, r->data_version);
		break;
	}
	case P9_Tsetattr: {
		const struct p9_tsetattr *t = &f->tsetattr;
		bx_put32le(c, t->fid);
		bx_put32le(c, t->valid);
		bx_put32le(c, t->mode);
		bx_put32le(c, t->uid);
		bx_put32le(c, t->gid);
		bx_put64le(c, t->size);
		bx_put64le(c, t->atime_sec);
		bx_put64le(c, t->atime_nsec);
		bx_put64le(c, t->mtime_sec);
		bx_put64le(c, t->mtime_nsec);
		break;
	}
	case P9_Txattrwalk:
		bx_put32le(c, f->txattrwalk.fid);
		bx_put32le(c, f->txattrwalk.newfid);
		put_str(c, f->txattrwalk.name);
		break;
	case P9_Rxattrwalk:
		bx_put64le(c, f->rxattrwalk.size);
		break;
	case P9_Txattrcreate:
		bx_put32le(c, f->txattrcreate.fid);
		put_str(c, f->txattrcreate.name);
		bx_put64le(c, f->txattrcreate.attr_size);
		bx_put32le(c, f->txattrcreate.flags);
		break;
	case P9_Tfsync:
		bx_put32le(c, f->tfsync.fid);
		bx_put32le(c, f->tfsync.datasync);
		break;
	case P9_Tlock:
		bx_put32le(c, f->tlock.fid);
		bx_put8(c, f->tlock.type);
		bx_put32le(c, f->tlock.flags);
		bx_put64le(c, f->tlock.start);
		bx_put64le(c, f->tlock.length);
		bx_put32le(c, f->tlock.proc_id);
		put_str(c, f->tlock.client_id);
		break;
	case P9_Rlock:
		bx_put8(c, f->rlock.status);
		break;
	case P9_Tgetlock:
	case P9_Rgetlock:
		if (f->type == P9_Tgetlock)
			bx_put32le(c, f->tgetlock.fid);
		bx_put8(c, f->tgetlock.type);
		bx_put64le(c, f->tgetlock.start);
		bx_put64le(c, f->tgetlock.length);
		bx_put32le(c, f->tgetlock.proc_id);
		put_str(c, f->tgetlock.client_id);
		break;
	case P9_Tlink:
		bx_put32le(c, f->tlink.dfid);
		bx_put32le(c, f->tlink.fid);
		put_str(c, f->tlink.name);
		break;
	case P9_Tmkdir:
		bx_put32le(c, f->tmkdir.dfid);
		put_str(c, f->tmkdir.name);
		bx_put32le(c, f->tmkdir.mode);
		bx_put32le(c, f->tmkdir.gid);
		break;
	case P9_Trenameat:
		bx_put32le(c, f->trenameat.olddirfid);
		put_str(c, f->trenameat.oldname);
		bx_put32le(c, f->trenameat.newdirfid);
		put_str(c, f->trenameat.newname);
		break;
	case P9_Tunlinkat:
		bx_put32le(c, f->tunlinkat.dirfid);
		put_str(c, f->tunlinkat.name);
		bx_put32le(c, f->tunlinkat.flags);
		break;
	default: /* empty bodies */
		break;
	}
}

static void pack_msg(struct bx_wcur *c, const struct p9_fcall *f, enum p9_dialect d, uint32_t size)
{
	bx_put32le(c, size);
	bx_put8(c, f->type);
	bx_put16le(c, f->tag);
	pack_body(c, f, d);
}

size_t p9_size(const struct p9_fcall *f, enum p9_dialect d)
{
	if (!p9_type_valid(f->type, d))
		return 0;
	if ((f->type == P9_Twalk && f->twalk.nwname > P9_MAXWELEM) ||
	    (f->type == P9_Rwalk && f->rwalk.nwqid > P9_MAXWELEM))
		return 0;
	if ((f->type == P9_Rstat && p9_stat_size(&f->rstat.stat, d) == 0) ||
	    (f->type == P9_Twstat && p9_stat_size(&f->twstat.stat, d) == 0))
		return 0;
	struct bx_wcur n = bx_wcur(NULL, 0);
	pack_msg(&n, f, d, 0);
	return n.pos > UINT32_MAX ? 0 : n.pos;
}

ssize_t p9_pack(void *buf, size_t cap, const struct p9_fcall *f, enum p9_dialect d)
{
	size_t size = p9_size(f, d);
	if (size == 0)
		return -EINVAL;
	if (size > cap)
		return -EMSGSIZE;
	struct bx_wcur c = bx_wcur(buf, cap);
	pack_msg(&c, f, d, (uint32_t)size);
	return c.bad ? -EMSGSIZE : (ssize_t)c.pos;
}

void p9_pack_rread_hdr(void *buf, uint8_t type, uint16_t tag, uint32_t count)
{
	struct bx_wcur c = bx_wcur(buf, P9_RREAD_HDRSZ);
	bx_put32le(&c, P9_RREAD_HDRSZ + count);
	bx_put8(&c, type);
	bx_put16le(&c, tag);
	bx_put32le(&c, count);
}

/* ---- stat records and directory entries ---- */

ssize_t p9_stat_pack(void *buf, size_t cap, const struct p9_stat *st, enum p9_dialect d)
{
	size_t size = p9_stat_size(st, d);
	if (size == 0)
		return -EINVAL;
	if (size > cap)
		return -EMSGSIZE;
	struct bx_wcur c = bx_wcur(buf, cap);
	put_stat(&c, st, d, false);
	return (ssize_t)c.pos;
}

int p9_stat_next(struct p9_stat *st, const void *buf, size_t len, size_t *off, enum p9_dialect d)
{
	if (*off >= len)
		return 0;
	struct bx_rcur c = bx_rcur((const uint8_t *)buf + *off, len - *off);
	get_stat(&c, st, d);
	if (c.bad)
		return -EPROTO;
	*off += c.pos;
	return 1;
}

static void put_dirent(struct bx_wcur *c, const struct p9_dirent *de)
{
	put_qid(c, &de->qid);
	bx_put64le(c, de->offset);
	bx_put8(c, de->type);
	put_str(c, de->name);
}

size_t p9_dirent_size(const struct p9_dirent *de)
{
	return P9_QIDSZ + 8 + 1 + 2 + (size_t)de->name.len;
}

ssize_t p9_dirent_pack(void *buf, size_t cap, const struct p9_dirent *de)
{
	if (p9_dirent_size(de) > cap)
		return -EMSGSIZE;
	struct bx_wcur c = bx_wcur(buf, cap);
	put_dirent(&c, de);
	return (ssize_t)c.pos;
}

int p9_dirent_next(struct p9_dirent *de, const void *buf, size_t len, size_t *off)
{
	if (*off >= len)
		return 0;
	struct bx_rcur c = bx_rcur((const uint8_t *)buf + *off, len - *off);
	de->qid = get_qid(&c);
	de->offset = bx_get64le(&c);
	de->type = bx_get8(&c);
	de->name = get_str(&c);
	if (c.bad)
		return -EPROTO;
	*off += c.pos;
	return 1;
}

struct p9_stat p9_stat_dont_touch(void)
{
	struct p9_stat st;
	memset(&st, 0, sizeof st);
	st.type = UINT16_MAX;
	st.dev = UINT32_MAX;
	st.qid.type = UINT8_MAX;
	st.qid.version = UINT32_MAX;
	st.qid.path = UINT64_MAX;
	st.mode = UINT32_MAX;
	st.atime = UINT32_MAX;
	st.mtime = UINT32_MAX;
	st.length = UINT64_MAX;
	st.n_uid = st.n_gid = st.n_muid = UINT32_MAX;
	return st;
}
