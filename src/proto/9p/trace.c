/*
 * trace.c — names of 9P messages and dialects, version negotiation, and the
 * one-line printer behind `--debug`.
 *
 * The printer writes one line per message in the manner of Plan 9's fcall
 * printer: the message name, its tag, then its fields by name, e.g.
 *	Twalk tag 3 fid 1 newfid 2 'a' 'b'
 */
#include "p9_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* clang-format off */
static const char *const names[256] = {
	[P9_Tlerror] = "Tlerror",	  [P9_Rlerror] = "Rlerror",
	[P9_Tstatfs] = "Tstatfs",	  [P9_Rstatfs] = "Rstatfs",
	[P9_Tlopen] = "Tlopen",		  [P9_Rlopen] = "Rlopen",
	[P9_Tlcreate] = "Tlcreate",	  [P9_Rlcreate] = "Rlcreate",
	[P9_Tsymlink] = "Tsymlink",	  [P9_Rsymlink] = "Rsymlink",
	[P9_Tmknod] = "Tmknod",		  [P9_Rmknod] = "Rmknod",
	[P9_Trename] = "Trename",	  [P9_Rrename] = "Rrename",
	[P9_Treadlink] = "Treadlink",	  [P9_Rreadlink] = "Rreadlink",
	[P9_Tgetattr] = "Tgetattr",	  [P9_Rgetattr] = "Rgetattr",
	[P9_Tsetattr] = "Tsetattr",	  [P9_Rsetattr] = "Rsetattr",
	[P9_Txattrwalk] = "Txattrwalk",	  [P9_Rxattrwalk] = "Rxattrwalk",
	[P9_Txattrcreate] = "Txattrcreate", [P9_Rxattrcreate] = "Rxattrcreate",
	[P9_Treaddir] = "Treaddir",	  [P9_Rreaddir] = "Rreaddir",
	[P9_Tfsync] = "Tfsync",		  [P9_Rfsync] = "Rfsync",
	[P9_Tlock] = "Tlock",		  [P9_Rlock] = "Rlock",
	[P9_Tgetlock] = "Tgetlock",	  [P9_Rgetlock] = "Rgetlock",
	[P9_Tlink] = "Tlink",		  [P9_Rlink] = "Rlink",
	[P9_Tmkdir] = "Tmkdir",		  [P9_Rmkdir] = "Rmkdir",
	[P9_Trenameat] = "Trenameat",	  [P9_Rrenameat] = "Rrenameat",
	[P9_Tunlinkat] = "Tunlinkat",	  [P9_Runlinkat] = "Runlinkat",
	[P9_Tversion] = "Tversion",	  [P9_Rversion] = "Rversion",
	[P9_Tauth] = "Tauth",		  [P9_Rauth] = "Rauth",
	[P9_Tattach] = "Tattach",	  [P9_Rattach] = "Rattach",
	[P9_Terror] = "Terror",		  [P9_Rerror] = "Rerror",
	[P9_Tflush] = "Tflush",		  [P9_Rflush] = "Rflush",
	[P9_Twalk] = "Twalk",		  [P9_Rwalk] = "Rwalk",
	[P9_Topen] = "Topen",		  [P9_Ropen] = "Ropen",
	[P9_Tcreate] = "Tcreate",	  [P9_Rcreate] = "Rcreate",
	[P9_Tread] = "Tread",		  [P9_Rread] = "Rread",
	[P9_Twrite] = "Twrite",		  [P9_Rwrite] = "Rwrite",
	[P9_Tclunk] = "Tclunk",		  [P9_Rclunk] = "Rclunk",
	[P9_Tremove] = "Tremove",	  [P9_Rremove] = "Rremove",
	[P9_Tstat] = "Tstat",		  [P9_Rstat] = "Rstat",
	[P9_Twstat] = "Twstat",		  [P9_Rwstat] = "Rwstat",
};
/* clang-format on */

const char *p9_type_name(uint8_t type)
{
	return names[type];
}

static const char *const dialect_names[] = {
	[P9_2000] = "9P2000",
	[P9_2000U] = "9P2000.u",
	[P9_2000L] = "9P2000.L",
};

const char *p9_dialect_name(enum p9_dialect d)
{
	return (unsigned)d <= P9_2000L ? dialect_names[d] : "unknown";
}

static bool str_is(struct p9_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len == n && memcmp(s.s, c, n) == 0;
}

int p9_version_parse(struct p9_str v, enum p9_dialect *d)
{
	for (int i = P9_2000L; i >= P9_2000; i--) {
		if (str_is(v, dialect_names[i])) {
			*d = (enum p9_dialect)i;
			return 0;
		}
	}
	if (v.len > 7 && memcmp(v.s, "9P2000.", 7) == 0) {
		*d = P9_2000;
		return 0;
	}
	return -EPROTONOSUPPORT;
}

/* A bounded line being written, snprintf-style: len counts even what did not fit. */
struct line {
	char *buf;
	size_t cap;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void out(struct line *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = l->len < l->cap ? l->cap - l->len : 0;
	int n = vsnprintf(room ? l->buf + l->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
}

/* A quoted string; bytes that are not printable ASCII print as \xNN. */
static void out_str(struct line *l, const char *label, struct p9_str s)
{
	out(l, label ? " %s '" : " '", label);
	for (unsigned i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\'' && ch != '\\')
			out(l, "%c", ch);
		else
			out(l, "\\x%02x", ch);
	}
	out(l, "'");
}

static void out_qid(struct line *l, const char *label, const struct p9_qid *q)
{
	if (label)
		out(l, " %s", label);
	out(l, " (%016llx %u %02x)", (unsigned long long)q->path, q->version, q->type);
}

static void out_stat(struct line *l, const struct p9_stat *st)
{
	out_str(l, "name", st->name);
	out_str(l, "uid", st->uid);
	out_str(l, "gid", st->gid);
	out_str(l, "muid", st->muid);
	out_qid(l, "qid", &st->qid);
	out(l, " mode %#o atime %u mtime %u length %llu type %u dev %u", st->mode, st->atime,
	    st->mtime, (unsigned long long)st->length, st->type, st->dev);
	if (st->extension.len || st->n_uid || st->n_gid || st->n_muid) {
		out_str(l, "ext", st->extension);
		out(l, " n_uid %u n_gid %u n_muid %u", st->n_uid, st->n_gid, st->n_muid);
	}
}

static void out_body(struct line *l, const struct p9_fcall *f)
{
	switch (f->type) {
	case P9_Tversion:
	case P9_Rversion:
		out(l, " msize %u", f->tversion.msize);
		out_str(l, "version", f->tversion.version);
		break;
	case P9_Tauth:
		out(l, " afid %u", f->tauth.afid);
		out_str(l, "uname", f->tauth.uname);
		out_str(l, "aname", f->tauth.aname);
		out(l, " n_uname %u", f->tauth.n_uname);
		break;
	case P9_Tattach:
		out(l, " fid %u afid %d", f->tattach.fid, (int)f->tattach.afid);
		out_str(l, "uname", f->tattach.uname);
		out_str(l, "aname", f->tattach.aname);
		out(l, " n_uname %d", (int)f->tattach.n_uname);
		break;
	case P9_Rauth:
	case P9_Rattach:
	case P9_Rsymlink:
	case P9_Rmknod:
	case P9_Rmkdir:
		out_qid(l, "qid", &f->rattach.qid);
		break;
	case P9_Rerror:
		out_str(l, "ename", f->rerror.ename);
		if (f->rerror.errnum)
			out(l, " errno %u", f->rerror.errnum);
		break;
	case P9_Rlerror:
		out(l, " ecode %u", f->rlerror.ecode);
		break;
	case P9_Tflush:
		out(l, " oldtag %u", f->tflush.oldtag);
		break;
	case P9_Twalk:
		out(l, " fid %u newfid %u", f->twalk.fid, f->twalk.newfid);
		for (unsigned i = 0; i < f->twalk.nwname && i < P9_MAXWELEM; i++)
			out_str(l, NULL, f->twalk.wname[i]);
		break;
	case P9_Rwalk:
		out(l, " nwqid %u", f->rwalk.nwqid);
		for (unsigned i = 0; i < f->rwalk.nwqid && i < P9_MAXWELEM; i++)
			out_qid(l, NULL, &f->rwalk.wqid[i]);
		break;
	case P9_Topen:
		out(l, " fid %u mode %u", f->topen.fid, f->topen.mode);
		break;
	case P9_Ropen:
	case P9_Rcreate:
	case P9_Rlopen:
	case P9_Rlcreate:
		out_qid(l, "qid", &f->ropen.qid);
		out(l, " iounit %u", f->ropen.iounit);
		break;
	case P9_Tcreate:
		out(l, " fid %u", f->tcreate.fid);
		out_str(l, "name", f->tcreate.name);
		out(l, " perm %#o mode %u", f->tcreate.perm, f->tcreate.mode);
		if (f->tcreate.extension.len)
			out_str(l, "ext", f->tcreate.extension);
		break;
	case P9_Tread:
	case P9_Treaddir:
		out(l, " fid %u offset %llu count %u", f->tread.fid,
		    (unsigned long long)f->tread.offset, f->tread.count);
		break;
	case P9_Rread:
	case P9_Rreaddir:
		out(l, " count %u", f->rread.count);
		break;
	case P9_Twrite:
		out(l, " fid %u offset %llu count %u", f->twrite.fid,
		    (unsigned long long)f->twrite.offset, f->twrite.count);
		break;
	case P9_Rwrite:
		out(l, " count %u", f->rwrite.count);
		break;
	case P9_Tclunk:
	case P9_Tremove:
	case P9_Tstat:
	case P9_Tstatfs:
	case P9_Treadlink:
		out(l, " fid %u", f->tclunk.fid);
		break;
	case P9_Rstat:
		out_stat(l, &f->rstat.stat);
		break;
	case P9_Twstat:
		out(l, " fid %u", f->twstat.fid);
		out_stat(l, &f->twstat.stat);
		break;
	case P9_Rstatfs: {
		const struct p9_rstatfs *s = &f->rstatfs;
		out(l,
		    " type %#x bsize %u blocks %llu bfree %llu bavail %llu files %llu ffree %llu "
		    "fsid %llx namelen %u",
		    s->type, s->bsize, (unsigned long long)s->blocks, (unsigned long long)s->bfree,
		    (unsigned long long)s->bavail, (unsigned long long)s->files,
		    (unsigned long long)s->ffree, (unsigned long long)s->fsid, s->namelen);
		break;
	}
	case P9_Tlopen:
		out(l, " fid %u flags %#o", f->tlopen.fid, f->tlopen.flags);
		break;
	case P9_Tlcreate:
		out(l, " fid %u", f->tlcreate.fid);
		out_str(l, "name", f->tlcreate.name);
		out(l, " flags %#o mode %#o gid %u", f->tlcreate.flags, f->tlcreate.mode,
		    f->tlcreate.gid);
		break;
	case P9_Tsymlink:
		out(l, " fid %u", f->tsymlink.fid);
		out_str(l, "name", f->tsymlink.name);
		out_str(l, "target", f->tsymlink.symtgt);
		out(l, " gid %u", f->tsymlink.gid);
		break;
	case P9_Tmknod:
		out(l, " dfid %u", f->tmknod.dfid);
		out_str(l, "name", f->tmknod.name);
		out(l, " mode %#o major %u minor %u gid %u", f->tmknod.mode, f->tmknod.major,
		    f->tmknod.minor, f->tmknod.gid);
		break;
	case P9_Trename:
		out(l, " fid %u dfid %u", f->trename.fid, f->trename.dfid);
		out_str(l, "name", f->trename.name);
		break;
	case P9_Rreadlink:
		out_str(l, "target", f->rreadlink.target);
		break;
	case P9_Tgetattr:
		out(l, " fid %u request_mask %#llx", f->tgetattr.fid,
		    (unsigned long long)f->tgetattr.request_mask);
		break;
	case P9_Rgetattr: {
		const struct p9_rgetattr *r = &f->rgetattr;
		out(l, " valid %#llx", (unsigned long long)r->valid);
		out_qid(l, "qid", &r->qid);
		out(l,
		    " mode %#o uid %u gid %u nlink %llu rdev %llu size %llu blksize %llu "
		    "blocks %llu atime %llu.%09llu mtime %llu.%09llu ctime %llu.%09llu "
		    "btime %llu.%09llu gen %llu data_version %llu",
		    r->mode, r->uid, r->gid, (unsigned long long)r->nlink,
		    (unsigned long long)r->rdev, (unsigned long long)r->size,
		    (unsigned long long)r->blksize, (unsigned long long)r->blocks,
		    (unsigned long long)r->atime_sec, (unsigned long long)r->atime_nsec,
		    (unsigned long long)r->mtime_sec, (unsigned long long)r->mtime_nsec,
		    (unsigned long long)r->ctime_sec, (unsigned long long)r->ctime_nsec,
		    (unsigned long long)r->btime_sec, (unsigned long long)r->btime_nsec,
		    (unsigned long long)r->gen, (unsigned long long)r->data_version);
		break;
	}
	case P9_Tsetattr: {
		const struct p9_tsetattr *t = &f->tsetattr;
		out(l,
		    " fid %u valid %#x mode %#o uid %u gid %u size %llu atime %llu.%09llu "
		    "mtime %llu.%09llu",
		    t->fid, t->valid, t->mode, t->uid, t->gid, (unsigned long long)t->size,
		    (unsigned long long)t->atime_sec, (unsigned long long)t->atime_nsec,
		    (unsigned long long)t->mtime_sec, (unsigned long long)t->mtime_nsec);
		break;
	}
	case P9_Txattrwalk:
		out(l, " fid %u newfid %u", f->txattrwalk.fid, f->txattrwalk.newfid);
		out_str(l, "name", f->txattrwalk.name);
		break;
	case P9_Rxattrwalk:
		out(l, " size %llu", (unsigned long long)f->rxattrwalk.size);
		break;
	case P9_Txattrcreate:
		out(l, " fid %u", f->txattrcreate.fid);
		out_str(l, "name", f->txattrcreate.name);
		out(l, " attr_size %llu flags %u", (unsigned long long)f->txattrcreate.attr_size,
		    f->txattrcreate.flags);
		break;
	case P9_Tfsync:
		out(l, " fid %u datasync %u", f->tfsync.fid, f->tfsync.datasync);
		break;
	case P9_Tlock:
		out(l, " fid %u type %u flags %u start %llu length %llu proc_id %u", f->tlock.fid,
		    f->tlock.type, f->tlock.flags, (unsigned long long)f->tlock.start,
		    (unsigned long long)f->tlock.length, f->tlock.proc_id);
		out_str(l, "client_id", f->tlock.client_id);
		break;
	case P9_Rlock:
		out(l, " status %u", f->rlock.status);
		break;
	case P9_Tgetlock:
	case P9_Rgetlock:
		if (f->type == P9_Tgetlock)
			out(l, " fid %u", f->tgetlock.fid);
		out(l, " type %u start %llu length %llu proc_id %u", f->tgetlock.type,
		    (unsigned long long)f->tgetlock.start, (unsigned long long)f->tgetlock.length,
		    f->tgetlock.proc_id);
		out_str(l, "client_id", f->tgetlock.client_id);
		break;
	case P9_Tlink:
		out(l, " dfid %u fid %u", f->tlink.dfid, f->tlink.fid);
		out_str(l, "name", f->tlink.name);
		break;
	case P9_Tmkdir:
		out(l, " dfid %u", f->tmkdir.dfid);
		out_str(l, "name", f->tmkdir.name);
		out(l, " mode %#o gid %u", f->tmkdir.mode, f->tmkdir.gid);
		break;
	case P9_Trenameat:
		out(l, " olddirfid %u", f->trenameat.olddirfid);
		out_str(l, "oldname", f->trenameat.oldname);
		out(l, " newdirfid %u", f->trenameat.newdirfid);
		out_str(l, "newname", f->trenameat.newname);
		break;
	case P9_Tunlinkat:
		out(l, " dirfid %u", f->tunlinkat.dirfid);
		out_str(l, "name", f->tunlinkat.name);
		out(l, " flags %#x", f->tunlinkat.flags);
		break;
	default: /* empty bodies */
		break;
	}
}

int p9_snprint(char *buf, size_t cap, const struct p9_fcall *f)
{
	struct line l = { .buf = buf, .cap = cap };
	if (cap)
		buf[0] = '\0';
	const char *name = p9_type_name(f->type);
	if (name)
		out(&l, "%s tag %u", name, f->tag);
	else
		out(&l, "type %u tag %u", f->type, f->tag);
	if (name)
		out_body(&l, f);
	return l.len > INT32_MAX ? INT32_MAX : (int)l.len;
}
