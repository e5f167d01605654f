/*
 * door9p_l.c — the messages of 9P2000.L (diod's protocol.md, Linux's
 * include/net/9p/9p.h), each mapped onto the file-server contract.
 * Called through p9_handler_l() by door9p.c, which has checked the version
 * and decoded the message.
 */
#include "door/9p/door9p_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

enum { XATTR_MAX = 65536 };

/* 9P2000.L open flags (P9_DOTL_*) to the host's, bit by bit. */
static int dotl_flags(uint32_t l)
{
	static const struct {
		uint32_t dotl;
		int host;
	} map[] = {
		{ 000000100, O_CREAT },	    { 000000200, O_EXCL },     { 000001000, O_TRUNC },
		{ 000002000, O_APPEND },    { 000010000, O_DSYNC },    { 000040000, O_DIRECT },
		{ 000200000, O_DIRECTORY }, { 000400000, O_NOFOLLOW }, { 001000000, O_NOATIME },
		{ 004000000, O_SYNC },
	};
	int flags = (int)(l & 3) == 3 ? O_RDWR : (int)(l & 3);
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (l & map[i].dotl)
			flags |= map[i].host;
	return flags;
}

/* The gid a client asks new nodes to get, when the user may ask for it. */
static void act_gid(struct req *r, uint32_t gid)
{
	struct boxfs_cred *c = &r->call.cred;
	bool member = c->uid == 0 || c->gid == gid;
	for (uint32_t i = 0; i < c->ngroups && !member; i++)
		member = c->groups[i] == gid;
	if (member)
		c->gid = gid;
}

static int h_statfs(struct req *r)
{
	struct fid *f = p9_use_fid(r, r->in.tstatfs.fid);
	if (!f)
		return -EBADF;
	struct boxfs_statfs st;
	int rc = bx_fs_statfs(&r->call, f->v, &st);
	p9_fid_put(&f);
	r->out.type = P9_Rstatfs;
	r->out.rstatfs = (struct p9_rstatfs){
		.type = st.type,
		.bsize = st.bsize,
		.blocks = st.blocks,
		.bfree = st.bfree,
		.bavail = st.bavail,
		.files = st.files,
		.ffree = st.ffree,
		.fsid = st.fsid,
		.namelen = st.namelen,
	};
	return rc;
}

/* Opens f with host flags; f->mu held. */
static int open_fid(struct req *r, struct fid *f, int flags)
{
	if (f->open || f->kind != FID_FILE)
		return -EBADF;
	if (S_ISDIR(f->v->mode) && (flags & O_ACCMODE) != O_RDONLY)
		return -EISDIR;
	if ((flags & O_DIRECTORY) && !S_ISDIR(f->v->mode))
		return -ENOTDIR;
	int rc = bx_fs_open(&r->call, f->v, flags, &f->fh);
	if (rc == 0) {
		f->open = true;
		f->oflags = flags;
	}
	return rc;
}

static int h_lopen(struct req *r)
{
	struct fid *f = p9_use_fid(r, r->in.tlopen.fid);
	if (!f)
		return -EBADF;
	struct boxfs_attr a;
	int rc = bx_fs_getattr(&r->call, f->v, NULL, &a);
	if (rc == 0) {
		pthread_mutex_lock(&f->mu);
		rc = open_fid(r, f, dotl_flags(r->in.tlopen.flags) & ~(O_CREAT | O_EXCL));
		pthread_mutex_unlock(&f->mu);
	}
	r->out.type = P9_Rlopen;
	r->out.rlopen.qid = p9_qid_of(r->pc, f->v, &a);
	r->out.rlopen.iounit = 0;
	p9_fid_put(&f);
	return rc;
}

static int h_lcreate(struct req *r)
{
	const struct p9_tlcreate *t = &r->in.tlcreate;
	char name[256];
	int rc = p9_name(t->name, name, false);
	if (rc < 0)
		return rc;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	act_gid(r, t->gid);
	struct bx_vnode *nv = NULL;
	struct boxfs_attr a;
	void *fh = NULL;
	int flags = dotl_flags(t->flags) | O_CREAT;
	if (f->open || f->kind != FID_FILE)
		rc = -EBADF;
	else
		rc = bx_fs_create(&r->call, f->v, name, flags, t->mode & 07777, &nv, &a, &fh);
	if (rc == 0) { /* the fid becomes the new file, open */
		struct fid *nf = p9_fid_alloc(f->num, f->user, bx_vnode_get(nv));
		if (nf) {
			p9_fid_set_origin(nf, f->v, name);
			nf->open = true;
			nf->oflags = flags & ~(O_CREAT | O_EXCL | O_TRUNC);
			nf->fh = fh;
			r->out.type = P9_Rlcreate;
			r->out.rlcreate.qid = p9_qid_of(r->pc, nv, &a);
			r->out.rlcreate.iounit = 0;
			rc = p9_fid_replace(r->pc, f, nf);
		} else {
			bx_fs_release(nv, fh);
			rc = -ENOMEM;
		}
		bx_vnode_put(&nv);
	}
	p9_fid_put(&f);
	return rc;
}

/* Tsymlink, Tmknod, Tmkdir: a new node in a directory, answered by its qid. */
static int make_node(struct req *r, uint32_t dfid, struct p9_str wname, uint32_t gid, uint8_t rtype,
		     int (*make)(struct req *r, struct bx_vnode *dir, const char *name,
				 struct bx_vnode **out, struct boxfs_attr *a))
{
	char name[256];
	int rc = p9_name(wname, name, false);
	if (rc < 0)
		return rc;
	struct fid *d = p9_use_fid(r, dfid);
	if (!d)
		return -EBADF;
	act_gid(r, gid);
	struct bx_vnode *nv = NULL;
	struct boxfs_attr a;
	rc = d->kind == FID_FILE ? make(r, d->v, name, &nv, &a) : -EBADF;
	if (rc == 0) {
		r->out.type = rtype;
		r->out.rmkdir.qid = p9_qid_of(r->pc, nv, &a);
		bx_vnode_put(&nv);
	}
	p9_fid_put(&d);
	return rc;
}

static int make_symlink(struct req *r, struct bx_vnode *dir, const char *name,
			struct bx_vnode **out, struct boxfs_attr *a)
{
	struct p9_str t = r->in.tsymlink.symtgt;
	char target[4097];
	if (t.len == 0 || t.len >= sizeof target || memchr(t.s, '\0', t.len))
		return t.len >= sizeof target ? -ENAMETOOLONG : -EINVAL;
	memcpy(target, t.s, t.len);
	target[t.len] = '\0';
	return bx_fs_symlink(&r->call, dir, name, target, out, a);
}

static int h_symlink(struct req *r)
{
	const struct p9_tsymlink *t = &r->in.tsymlink;
	return make_node(r, t->fid, t->name, t->gid, P9_Rsymlink, make_symlink);
}

static int make_mknod(struct req *r, struct bx_vnode *dir, const char *name, struct bx_vnode **out,
		      struct boxfs_attr *a)
{
	const struct p9_tmknod *t = &r->in.tmknod;
	if (S_ISDIR(t->mode) || S_ISLNK(t->mode))
		return -EINVAL;
	uint32_t mode = (t->mode & S_IFMT ? t->mode & S_IFMT : S_IFREG) | (t->mode & 07777);
	return bx_fs_mknod(&r->call, dir, name, mode, makedev(t->major, t->minor), out, a);
}

static int h_mknod(struct req *r)
{
	const struct p9_tmknod *t = &r->in.tmknod;
	return make_node(r, t->dfid, t->name, t->gid, P9_Rmknod, make_mknod);
}

static int make_dir(struct req *r, struct bx_vnode *dir, const char *name, struct bx_vnode **out,
		    struct boxfs_attr *a)
{
	return bx_fs_mkdir(&r->call, dir, name, r->in.tmkdir.mode & 07777, out, a);
}

static int h_mkdir(struct req *r)
{
	const struct p9_tmkdir *t = &r->in.tmkdir;
	return make_node(r, t->dfid, t->name, t->gid, P9_Rmkdir, make_dir);
}

static int h_rename(struct req *r)
{
	const struct p9_trename *t = &r->in.trename;
	char name[256], oname[256];
	int rc = p9_name(t->name, name, false);
	if (rc < 0)
		return rc;
	struct fid *f = p9_use_fid(r, t->fid);
	struct fid *d = p9_fid_get(r->pc, t->dfid);
	struct bx_vnode *parent = NULL;
	if (!f || !d || f->kind != FID_FILE || d->kind != FID_FILE)
		rc = -EBADF;
	else
		p9_fid_origin(f, &parent, oname);
	if (rc == 0)
		rc = parent ? bx_fs_rename(&r->call, parent, oname, d->v, name, 0) : -EBUSY;
	if (rc == 0) { /* the fid follows its file */
		pthread_mutex_lock(&f->mu);
		p9_fid_set_origin(f, d->v, name);
		pthread_mutex_unlock(&f->mu);
	}
	bx_vnode_put(&parent);
	p9_fid_put(&f);
	p9_fid_put(&d);
	r->out.type = P9_Rrename;
	return rc;
}

static int h_readlink(struct req *r)
{
	struct fid *f = p9_use_fid(r, r->in.treadlink.fid);
	if (!f)
		return -EBADF;
	char target[4096];
	ssize_t n = f->kind == FID_FILE ? bx_fs_readlink(&r->call, f->v, target, sizeof target)
					: -EBADF;
	p9_fid_put(&f);
	if (n < 0)
		return (int)n;
	if ((size_t)n >= sizeof target)
		return -ENAMETOOLONG;
	r->out.type = P9_Rreadlink;
	r->out.rreadlink.target = (struct p9_str){ .s = target, .len = (uint16_t)n };
	return p9_pack_now(r);
}

static void fill_getattr(struct req *r, struct bx_vnode *v, const struct boxfs_attr *a,
			 struct p9_rgetattr *g)
{
	*g = (struct p9_rgetattr){
		.valid = P9_GETATTR_BASIC | P9_GETATTR_BTIME | P9_GETATTR_GEN |
			 P9_GETATTR_DATA_VERSION,
		.qid = p9_qid_of(r->pc, v, a),
		.mode = a->mode,
		.uid = a->uid,
		.gid = a->gid,
		.nlink = a->nlink,
		.rdev = a->rdev,
		.size = a->size,
		.blksize = a->blksize ? a->blksize : 4096,
		.blocks = a->blocks,
		.atime_sec = (uint64_t)a->atime.tv_sec,
		.atime_nsec = (uint64_t)a->atime.tv_nsec,
		.mtime_sec = (uint64_t)a->mtime.tv_sec,
		.mtime_nsec = (uint64_t)a->mtime.tv_nsec,
		.ctime_sec = (uint64_t)a->ctime.tv_sec,
		.ctime_nsec = (uint64_t)a->ctime.tv_nsec,
		.btime_sec = (uint64_t)a->btime.tv_sec,
		.btime_nsec = (uint64_t)a->btime.tv_nsec,
		.gen = a->gen,
		.data_version = a->version,
	};
}

static int h_getattr(struct req *r)
{
	struct fid *f = p9_use_fid(r, r->in.tgetattr.fid);
	if (!f)
		return -EBADF;
	struct boxfs_attr a;
	int rc = f->kind == FID_FILE ? bx_fs_getattr(&r->call, f->v, f->open ? f->fh : NULL, &a)
				     : -EBADF;
	if (rc == 0) {
		r->out.type = P9_Rgetattr;
		fill_getattr(r, f->v, &a, &r->out.rgetattr);
	}
	p9_fid_put(&f);
	return rc;
}

static int h_setattr(struct req *r)
{
	const struct p9_tsetattr *t = &r->in.tsetattr;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	struct boxfs_setattr sa = {
		.mode = t->mode & 07777,
		.uid = t->uid,
		.gid = t->gid,
		.size = t->size,
		.atime = { (time_t)t->atime_sec, (long)t->atime_nsec },
		.mtime = { (time_t)t->mtime_sec, (long)t->mtime_nsec },
	};
	static const struct {
		uint32_t p9, bx;
	} map[] = {
		{ P9_SETATTR_MODE, BOXFS_SET_MODE },   { P9_SETATTR_UID, BOXFS_SET_UID },
		{ P9_SETATTR_GID, BOXFS_SET_GID },     { P9_SETATTR_SIZE, BOXFS_SET_SIZE },
		{ P9_SETATTR_CTIME, BOXFS_SET_CTIME },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (t->valid & map[i].p9)
			sa.valid |= map[i].bx;
	if (t->valid & P9_SETATTR_ATIME)
		sa.valid |= t->valid & P9_SETATTR_ATIME_SET ? BOXFS_SET_ATIME : BOXFS_SET_ATIME_NOW;
	if (t->valid & P9_SETATTR_MTIME)
		sa.valid |= t->valid & P9_SETATTR_MTIME_SET ? BOXFS_SET_MTIME : BOXFS_SET_MTIME_NOW;
	struct boxfs_attr a;
	int rc = f->kind != FID_FILE ? -EBADF
		 : sa.valid ? bx_fs_setattr(&r->call, f->v, f->open ? f->fh : NULL, &sa, &a)
			    : 0;
	p9_fid_put(&f);
	r->out.type = P9_Rsetattr;
	return rc;
}

static int h_xattrwalk(struct req *r)
{
	const struct p9_txattrwalk *t = &r->in.txattrwalk;
	char name[256] = "";
	if (t->name.len && (t->name.len > 255 || memchr(t->name.s, '\0', t->name.len)))
		return t->name.len > 255 ? -ENAMETOOLONG : -EINVAL;
	memcpy(name, t->name.s, t->name.len);
	name[t->name.len] = '\0';
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	uint8_t *buf = NULL;
	ssize_t n = f->kind != FID_FILE ? -EBADF
		    : name[0]		? bx_fs_getxattr(&r->call, f->v, name, NULL, 0)
					: bx_fs_listxattr(&r->call, f->v, NULL, 0);
	if (n > XATTR_MAX)
		n = -E2BIG;
	if (n >= 0 && !(buf = malloc(n ? (size_t)n : 1)))
		n = -ENOMEM;
	if (n > 0)
		n = name[0] ? bx_fs_getxattr(&r->call, f->v, name, buf, (size_t)n)
			    : bx_fs_listxattr(&r->call, f->v, (char *)buf, (size_t)n);
	int rc = n < 0 ? (int)n : 0;
	if (rc == 0) {
		struct fid *nf = p9_fid_new(r->pc, t->newfid, f->user, bx_vnode_get(f->v), &rc);
		if (nf) {
			nf->kind = FID_XATTR_READ;
			nf->xbuf = buf;
			nf->xlen = (size_t)n;
			buf = NULL;
			r->out.type = P9_Rxattrwalk;
			r->out.rxattrwalk.size = (uint64_t)n;
		}
		p9_fid_put(&nf);
	}
	free(buf);
	p9_fid_put(&f);
	return rc;
}

static int h_xattrcreate(struct req *r)
{
	const struct p9_txattrcreate *t = &r->in.txattrcreate;
	char name[256];
	if (t->name.len == 0 || t->name.len > 255 || memchr(t->name.s, '\0', t->name.len))
		return t->name.len > 255 ? -ENAMETOOLONG : -EINVAL;
	memcpy(name, t->name.s, t->name.len);
	name[t->name.len] = '\0';
	if (t->attr_size > XATTR_MAX)
		return -E2BIG;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	int rc = 0;
	pthread_mutex_lock(&f->mu);
	if (f->kind != FID_FILE || f->open)
		rc = -EBADF;
	else if (!(f->xname = strdup(name)) ||
		 !(f->xbuf = malloc(t->attr_size ? (size_t)t->attr_size : 1)))
		rc = -ENOMEM;
	if (rc == 0) {
		f->kind = FID_XATTR_WRITE;
		f->xsize = (size_t)t->attr_size;
		f->xlen = 0;
		f->xflags = (int)t->flags;
	}
	pthread_mutex_unlock(&f->mu);
	p9_fid_put(&f);
	r->out.type = P9_Rxattrcreate;
	return rc;
}

struct direntfill {
	struct req *r;
	struct bx_vnode *dir;
	uint8_t *buf;
	size_t len, cap;
};

static uint8_t dtype_qtype(uint32_t dtype)
{
	return dtype == DT_DIR ? P9_QTDIR : dtype == DT_LNK ? P9_QTSYMLINK : P9_QTFILE;
}

static int fill_dirent(void *ctx, const char *name, uint64_t ino, uint32_t dtype, uint64_t next)
{
	struct direntfill *df = ctx;
	struct bx_ns *ns = df->r->pc->conn->srv->ns;
	struct p9_dirent de = {
		.qid = { .type = dtype_qtype(dtype), .version = 1 },
		.offset = next,
		.type = (uint8_t)dtype,
		.name = p9_cstr(name),
	};
	struct bx_vnode *cover = bx_ns_covering(ns, df->dir->mnt, ino);
	de.qid.path = cover ? bx_ns_qid_path(ns, cover->mnt, cover->ino)
			    : bx_ns_qid_path(ns, df->dir->mnt, ino);
	bx_vnode_put(&cover);
	ssize_t n = p9_dirent_pack(df->buf + df->len, df->cap - df->len, &de);
	if (n < 0)
		return 1;
	df->len += (size_t)n;
	return 0;
}

/*
 * Treaddir offsets: 0 starts with ".", 1 continues with "..", and 2 + c
 * continues after the backend's cookie c (backend cookies stay below 2^63).
 */
enum { DOTS = 2 };

static int fill_shifted(void *ctx, const char *name, uint64_t ino, uint32_t dtype, uint64_t next)
{
	return fill_dirent(ctx, name, ino, dtype, next + DOTS);
}

/* "." and ".." for a listing that starts at offset (0 or 1). */
static int fill_dots(struct req *r, struct direntfill *df, uint64_t offset)
{
	static const char *const names[] = { ".", ".." };
	for (uint64_t i = offset; i < DOTS; i++) {
		struct bx_vnode *v;
		struct boxfs_attr a;
		int rc = bx_ns_walk(r->pc->conn->srv->ns, &r->call, df->dir, names[i], &v, &a);
		if (rc < 0)
			return rc;
		struct p9_dirent de = {
			.qid = p9_qid_of(r->pc, v, &a),
			.offset = i + 1,
			.type = DT_DIR,
			.name = p9_cstr(names[i]),
		};
		bx_vnode_put(&v);
		ssize_t n = p9_dirent_pack(df->buf + df->len, df->cap - df->len, &de);
		if (n < 0)
			return 1;
		df->len += (size_t)n;
	}
	return 0;
}

static int h_readdir(struct req *r)
{
	const struct p9_tread *t = &r->in.treaddir;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	struct direntfill df = {
		.r = r,
		.dir = f->v,
		.buf = r->obuf + P9_RREAD_HDRSZ,
		.cap = p9_iocount(r->pc->msize, t->count),
	};
	int rc = f->kind != FID_FILE || !f->open ? -EBADF : !S_ISDIR(f->v->mode) ? -ENOTDIR : 0;
	if (rc == 0 && t->offset < DOTS)
		rc = fill_dots(r, &df, t->offset);
	if (rc == 0)
		rc = bx_fs_readdir(&r->call, f->v, f->fh, t->offset < DOTS ? 0 : t->offset - DOTS,
				   fill_shifted, &df);
	p9_fid_put(&f);
	if (rc < 0)
		return rc;
	r->out.type = P9_Rreaddir;
	r->out.rreaddir.count = (uint32_t)df.len;
	r->raw = true;
	r->olen = P9_RREAD_HDRSZ + df.len;
	p9_pack_rread_hdr(r->obuf, P9_Rreaddir, r->in.tag, (uint32_t)df.len);
	return 0;
}

static int h_fsync(struct req *r)
{
	struct fid *f = p9_use_fid(r, r->in.tfsync.fid);
	if (!f)
		return -EBADF;
	int rc = f->kind == FID_FILE ? bx_fs_fsync(&r->call, f->v, f->open ? f->fh : NULL,
						   r->in.tfsync.datasync != 0)
				     : -EBADF;
	p9_fid_put(&f);
	r->out.type = P9_Rfsync;
	return rc;
}

static short lock_type(uint8_t t)
{
	return t == P9_LOCK_TYPE_RDLCK	 ? F_RDLCK
	       : t == P9_LOCK_TYPE_WRLCK ? F_WRLCK
	       : t == P9_LOCK_TYPE_UNLCK ? F_UNLCK
					 : -1;
}

static uint8_t p9_lock_type(short t)
{
	return t == F_RDLCK   ? P9_LOCK_TYPE_RDLCK
	       : t == F_WRLCK ? P9_LOCK_TYPE_WRLCK
			      : P9_LOCK_TYPE_UNLCK;
}

/* F_SETLK or F_GETLK on the file a fid has open, by the owner the message
 * names; through the backend's own locks or the core's lock manager. */
static int do_lock(struct req *r, struct fid *f, int cmd, struct bx_lock_range *lk,
		   struct p9_str client_id)
{
	if (f->kind != FID_FILE || !f->open)
		return -EBADF;
	if (f->v->mnt->fs->flags & BOXFS_FS_OWN_LOCKS) {
		struct boxfs_lock bl = { .type = lk->type,
					 .start = lk->start,
					 .length = lk->length,
					 .proc_id = lk->proc_id,
					 .owner = r->pc };
		int rc = bx_fs_lock(&r->call, f->v, f->fh, cmd, &bl);
		lk->type = bl.type;
		lk->start = bl.start;
		lk->length = bl.length;
		lk->proc_id = bl.proc_id;
		return rc;
	}
	struct bx_lock_owner o = { .session = r->pc,
				   .proc_id = lk->proc_id,
				   .client_id = client_id.s,
				   .client_id_len = client_id.len };
	struct bx_locks *lm = r->pc->conn->srv->locks;
	return cmd == F_SETLK ? bx_locks_set(lm, f->v->mnt->id, f->v->ino, &o, lk)
			      : bx_locks_get(lm, f->v->mnt->id, f->v->ino, &o, lk);
}

static int h_lock(struct req *r)
{
	const struct p9_tlock *t = &r->in.tlock;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	struct bx_lock_range lk = { .type = lock_type(t->type),
				    .start = t->start,
				    .length = t->length,
				    .proc_id = t->proc_id };
	int rc = lk.type < 0 ? -EINVAL : do_lock(r, f, F_SETLK, &lk, t->client_id);
	p9_fid_put(&f);
	r->out.type = P9_Rlock;
	if (rc == -EAGAIN) /* never wait: the client retries a blocking lock */
		r->out.rlock.status = P9_LOCK_BLOCKED;
	else if (rc == 0)
		r->out.rlock.status = P9_LOCK_SUCCESS;
	else
		return rc;
	return 0;
}

static int h_getlock(struct req *r)
{
	const struct p9_getlock *t = &r->in.tgetlock;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	struct bx_lock_range lk = { .type = lock_type(t->type),
				    .start = t->start,
				    .length = t->length,
				    .proc_id = t->proc_id };
	/* Linux asks with type UNLCK, meaning "any lock in my way": that is
	 * what a write lock would meet. */
	if (lk.type == F_UNLCK)
		lk.type = F_WRLCK;
	int rc = lk.type < 0 ? -EINVAL : do_lock(r, f, F_GETLK, &lk, t->client_id);
	p9_fid_put(&f);
	if (rc < 0)
		return rc;
	r->out.type = P9_Rgetlock;
	r->out.rgetlock = (struct p9_getlock){
		.type = p9_lock_type(lk.type),
		.start = lk.type == F_UNLCK ? t->start : lk.start,
		.length = lk.type == F_UNLCK ? t->length : lk.length,
		.proc_id = lk.type == F_UNLCK ? t->proc_id : lk.proc_id,
		.client_id = t->client_id,
	};
	return 0;
}

static int h_link(struct req *r)
{
	const struct p9_tlink *t = &r->in.tlink;
	char name[256];
	int rc = p9_name(t->name, name, false);
	if (rc < 0)
		return rc;
	struct fid *d = p9_use_fid(r, t->dfid);
	struct fid *f = p9_fid_get(r->pc, t->fid);
	if (!d || !f || d->kind != FID_FILE || f->kind != FID_FILE)
		rc = -EBADF;
	else
		rc = bx_fs_link(&r->call, f->v, d->v, name);
	p9_fid_put(&d);
	p9_fid_put(&f);
	r->out.type = P9_Rlink;
	return rc;
}

static int h_renameat(struct req *r)
{
	const struct p9_trenameat *t = &r->in.trenameat;
	char oname[256], nname[256];
	int rc = p9_name(t->oldname, oname, false);
	if (rc == 0)
		rc = p9_name(t->newname, nname, false);
	if (rc < 0)
		return rc;
	struct fid *od = p9_use_fid(r, t->olddirfid);
	struct fid *nd = p9_fid_get(r->pc, t->newdirfid);
	if (!od || !nd || od->kind != FID_FILE || nd->kind != FID_FILE)
		rc = -EBADF;
	else
		rc = bx_fs_rename(&r->call, od->v, oname, nd->v, nname, 0);
	p9_fid_put(&od);
	p9_fid_put(&nd);
	r->out.type = P9_Rrenameat;
	return rc;
}

static int h_unlinkat(struct req *r)
{
	const struct p9_tunlinkat *t = &r->in.tunlinkat;
	char name[256];
	int rc = p9_name(t->name, name, false);
	if (rc < 0)
		return rc;
	if (t->flags & ~(uint32_t)AT_REMOVEDIR)
		return -EINVAL;
	struct fid *d = p9_use_fid(r, t->dirfid);
	if (!d)
		return -EBADF;
	rc = d->kind == FID_FILE ? bx_fs_unlink(&r->call, d->v, name, (int)t->flags) : -EBADF;
	p9_fid_put(&d);
	r->out.type = P9_Runlinkat;
	return rc;
}

int (*p9_handler_l(uint8_t type))(struct req *r)
{
	switch (type) {
	case P9_Tstatfs:
		return h_statfs;
	case P9_Tlopen:
		return h_lopen;
	case P9_Tlcreate:
		return h_lcreate;
	case P9_Tsymlink:
		return h_symlink;
	case P9_Tmknod:
		return h_mknod;
	case P9_Trename:
		return h_rename;
	case P9_Treadlink:
		return h_readlink;
	case P9_Tgetattr:
		return h_getattr;
	case P9_Tsetattr:
		return h_setattr;
	case P9_Txattrwalk:
		return h_xattrwalk;
	case P9_Txattrcreate:
		return h_xattrcreate;
	case P9_Treaddir:
		return h_readdir;
	case P9_Tfsync:
		return h_fsync;
	case P9_Tlock:
		return h_lock;
	case P9_Tgetlock:
		return h_getlock;
	case P9_Tlink:
		return h_link;
	case P9_Tmkdir:
		return h_mkdir;
	case P9_Trenameat:
		return h_renameat;
	case P9_Tunlinkat:
		return h_unlinkat;
	default:
		return NULL;
	}
}
