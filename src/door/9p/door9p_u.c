/*
 * door9p_u.c — the messages of 9P2000 and 9P2000.u that 9P2000.L replaced:
 * Topen, Tcreate, Tstat, Twstat, and directory reads as runs of stat
 * records. Called through p9_handler_u() and p9_dirread() by door9p.c.
 *
 * 9P2000 names users by strings: boxfs sends the host's user and group names
 * (or the number when there is none) and reads back names or numbers.
 * 9P2000.u adds the numbers themselves and special files (symlinks, devices,
 * pipes, sockets, hard links) made by Tcreate with an extension string.
 */
#include "door/9p/door9p_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

/* Strings a stat record points at while it is being packed. */
struct statbuf {
	char uid[64];
	char gid[64];
	char ext[4200];
};

static void id_name(uint32_t id, bool group, char *buf, size_t cap)
{
	char tmp[4096];
	if (group) {
		struct group gr, *res = NULL;
		if (getgrgid_r(id, &gr, tmp, sizeof tmp, &res) == 0 && res &&
		    strlen(res->gr_name) < cap) {
			snprintf(buf, cap, "%s", res->gr_name);
			return;
		}
	} else {
		struct passwd pw, *res = NULL;
		if (getpwuid_r(id, &pw, tmp, sizeof tmp, &res) == 0 && res &&
		    strlen(res->pw_name) < cap) {
			snprintf(buf, cap, "%s", res->pw_name);
			return;
		}
	}
	snprintf(buf, cap, "%u", id);
}

/* A user or group name (or number) from the wire; -EINVAL when unknown. */
static int name_id(struct p9_str s, bool group, uint32_t *id)
{
	char name[256], tmp[4096];
	if (s.len == 0 || s.len >= sizeof name)
		return -EINVAL;
	memcpy(name, s.s, s.len);
	name[s.len] = '\0';
	char *end;
	unsigned long n = strtoul(name, &end, 10);
	if (!*end) {
		*id = (uint32_t)n;
		return 0;
	}
	if (group) {
		struct group gr, *res = NULL;
		if (getgrnam_r(name, &gr, tmp, sizeof tmp, &res) == 0 && res) {
			*id = res->gr_gid;
			return 0;
		}
	} else {
		struct passwd pw, *res = NULL;
		if (getpwnam_r(name, &pw, tmp, sizeof tmp, &res) == 0 && res) {
			*id = res->pw_uid;
			return 0;
		}
	}
	return -EINVAL;
}

static uint32_t p9_mode(const struct boxfs_attr *a, enum p9_dialect d)
{
	uint32_t m = a->mode & 0777;
	if (S_ISDIR(a->mode))
		m |= P9_DMDIR;
	if (d != P9_2000U)
		return m;
	if (S_ISLNK(a->mode))
		m |= P9_DMSYMLINK;
	else if (S_ISCHR(a->mode) || S_ISBLK(a->mode))
		m |= P9_DMDEVICE;
	else if (S_ISFIFO(a->mode))
		m |= P9_DMNAMEDPIPE;
	else if (S_ISSOCK(a->mode))
		m |= P9_DMSOCKET;
	if (a->mode & S_ISUID)
		m |= P9_DMSETUID;
	if (a->mode & S_ISGID)
		m |= P9_DMSETGID;
	if (a->mode & S_ISVTX)
		m |= P9_DMSETVTX;
	return m;
}

/* Fills a stat record for v; its strings point into sb and name. */
static void fill_stat(struct req *r, struct bx_vnode *v, const struct boxfs_attr *a,
		      const char *name, struct p9_stat *st, struct statbuf *sb)
{
	enum p9_dialect d = r->pc->d;
	id_name(a->uid, false, sb->uid, sizeof sb->uid);
	id_name(a->gid, true, sb->gid, sizeof sb->gid);
	sb->ext[0] = '\0';
	if (d == P9_2000U && S_ISLNK(a->mode)) {
		ssize_t n = bx_fs_readlink(&r->call, v, sb->ext, sizeof sb->ext - 1);
		sb->ext[n > 0 ? n : 0] = '\0';
	} else if (d == P9_2000U && (S_ISCHR(a->mode) || S_ISBLK(a->mode))) {
		snprintf(sb->ext, sizeof sb->ext, "%c %u %u", S_ISCHR(a->mode) ? 'c' : 'b',
			 major(a->rdev), minor(a->rdev));
	} else if (d == P9_2000U && (S_ISREG(a->mode) || S_ISDIR(a->mode))) {
		/* the link count, which 9P2000.u has no field for, as Linux reads it */
		snprintf(sb->ext, sizeof sb->ext, "HARDLINKCOUNT %llu",
			 (unsigned long long)a->nlink);
	}
	*st = (struct p9_stat){
		.qid = p9_qid_of(r->pc, v, a),
		.mode = p9_mode(a, d),
		.atime = (uint32_t)a->atime.tv_sec,
		.mtime = (uint32_t)a->mtime.tv_sec,
		.length = S_ISDIR(a->mode) ? 0 : a->size,
		.name = p9_cstr(name),
		.uid = p9_cstr(sb->uid),
		.gid = p9_cstr(sb->gid),
		.muid = p9_cstr(""),
		.extension = p9_cstr(sb->ext),
		.n_uid = a->uid,
		.n_gid = a->gid,
		.n_muid = P9_NONUNAME,
	};
}

/* 9P2000 open modes to host open flags. */
static int open_flags(uint8_t mode)
{
	static const int acc[] = { O_RDONLY, O_WRONLY, O_RDWR, O_RDONLY };
	return acc[mode & 3] | (mode & P9_OTRUNC ? O_TRUNC : 0);
}

static int h_open(struct req *r)
{
	const struct p9_topen *t = &r->in.topen;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	int flags = open_flags(t->mode);
	struct boxfs_attr a;
	int rc = bx_fs_getattr(&r->call, f->v, NULL, &a);
	pthread_mutex_lock(&f->mu);
	if (rc == 0 && (f->open || f->kind != FID_FILE))
		rc = -EBADF;
	else if (rc == 0 && S_ISDIR(a.mode) && (flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY)
		rc = -EISDIR;
	if (rc == 0)
		rc = bx_fs_open(&r->call, f->v, flags, &f->fh);
	if (rc == 0) {
		f->open = true;
		f->oflags = flags;
		f->rclose = t->mode & P9_ORCLOSE;
		f->dir_offset = 0;
		f->dir_cookie = 0;
		r->out.type = P9_Ropen;
		r->out.ropen.qid = p9_qid_of(r->pc, f->v, &a);
		r->out.ropen.iounit = 0;
	}
	pthread_mutex_unlock(&f->mu);
	p9_fid_put(&f);
	return rc;
}

/* Parses "b MAJOR MINOR" or "c MAJOR MINOR" (9P2000.u devices). */
static int device_ext(const char *ext, uint32_t *mode, uint64_t *rdev)
{
	char kind;
	unsigned maj, min;
	if (sscanf(ext, "%c %u %u", &kind, &maj, &min) != 3 || (kind != 'b' && kind != 'c'))
		return -EINVAL;
	*mode = kind == 'b' ? S_IFBLK : S_IFCHR;
	*rdev = makedev(maj, min);
	return 0;
}

/* 9P2000.u special files: the node Tcreate makes instead of a regular file. */
static int create_special(struct req *r, struct fid *dir, const char *name, uint32_t perm,
			  const char *ext, struct bx_vnode **nv, struct boxfs_attr *a)
{
	uint32_t mode = perm & 0777;
	uint64_t rdev = 0;
	if (perm & P9_DMSYMLINK)
		return bx_fs_symlink(&r->call, dir->v, name, ext, nv, a);
	if (perm & P9_DMLINK) {
		char *end;
		unsigned long num = strtoul(ext, &end, 10);
		if (end == ext || (*end && *end != '\n'))
			return -EINVAL;
		struct fid *target = p9_fid_get(r->pc, (uint32_t)num);
		int rc = target && target->kind == FID_FILE
				 ? bx_fs_link(&r->call, target->v, dir->v, name)
				 : -EBADF;
		if (rc == 0)
			rc = bx_ns_walk(r->pc->conn->srv->ns, &r->call, dir->v, name, nv, a);
		p9_fid_put(&target);
		return rc;
	}
	if (perm & P9_DMDEVICE) {
		int rc = device_ext(ext, &mode, &rdev);
		if (rc < 0)
			return rc;
		mode |= perm & 0777;
	} else {
		mode |= perm & P9_DMNAMEDPIPE ? S_IFIFO : S_IFSOCK;
	}
	return bx_fs_mknod(&r->call, dir->v, name, mode, rdev, nv, a);
}

static int h_create(struct req *r)
{
	const struct p9_tcreate *t = &r->in.tcreate;
	char name[256], ext[4096];
	int rc = p9_name(t->name, name, false);
	if (rc < 0)
		return rc;
	if (t->extension.len >= sizeof ext || memchr(t->extension.s, '\0', t->extension.len))
		return -EINVAL;
	memcpy(ext, t->extension.s, t->extension.len);
	ext[t->extension.len] = '\0';
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	struct boxfs_attr da, a;
	rc = bx_fs_getattr(&r->call, f->v, NULL, &da);
	struct bx_vnode *nv = NULL;
	void *fh = NULL;
	int flags = open_flags(t->mode);
	uint32_t special = P9_DMSYMLINK | P9_DMLINK | P9_DMDEVICE | P9_DMNAMEDPIPE | P9_DMSOCKET;
	if (rc == 0 && (f->open || f->kind != FID_FILE))
		rc = -EBADF;
	if (rc < 0) {
		/* nothing more */
	} else if (t->perm & P9_DMDIR) {
		/* create(5): a directory's permissions are masked by its parent's */
		uint32_t mode = t->perm & (~0777u | (da.mode & 0777));
		rc = (flags & (O_ACCMODE | O_TRUNC)) != O_RDONLY ? -EISDIR : 0;
		if (rc == 0)
			rc = bx_fs_mkdir(&r->call, f->v, name, mode & 0777, &nv, &a);
		if (rc == 0 && (rc = bx_fs_open(&r->call, nv, O_RDONLY, &fh)) < 0)
			bx_vnode_put(&nv);
	} else if (r->pc->d == P9_2000U && (t->perm & special)) {
		rc = create_special(r, f, name, t->perm, ext, &nv, &a);
		flags = -1; /* made, not opened */
	} else {
		uint32_t mode = t->perm & (~0666u | (da.mode & 0666));
		rc = bx_fs_create(&r->call, f->v, name, flags | O_CREAT | O_EXCL, mode & 0777, &nv,
				  &a, &fh);
	}
	if (rc == 0) { /* the fid becomes the new file, open unless special */
		struct fid *nf = p9_fid_alloc(f->num, f->user, bx_vnode_get(nv));
		if (nf) {
			p9_fid_set_origin(nf, f->v, name);
			nf->open = flags >= 0;
			nf->oflags = flags >= 0 ? flags & ~O_TRUNC : 0;
			nf->rclose = flags >= 0 && (t->mode & P9_ORCLOSE);
			nf->fh = fh;
			r->out.type = P9_Rcreate;
			r->out.rcreate.qid = p9_qid_of(r->pc, nv, &a);
			r->out.rcreate.iounit = 0;
			rc = p9_fid_replace(r->pc, f, nf);
		} else {
			if (flags >= 0)
				bx_fs_release(nv, fh);
			rc = -ENOMEM;
		}
		bx_vnode_put(&nv);
	}
	p9_fid_put(&f);
	return rc;
}

static int h_stat(struct req *r)
{
	struct fid *f = p9_use_fid(r, r->in.tstat.fid);
	if (!f)
		return -EBADF;
	struct boxfs_attr a;
	int rc = f->kind == FID_FILE ? bx_fs_getattr(&r->call, f->v, f->open ? f->fh : NULL, &a)
				     : -EBADF;
	struct statbuf *sb = malloc(sizeof *sb);
	if (rc == 0 && !sb)
		rc = -ENOMEM;
	if (rc == 0) {
		struct bx_vnode *parent;
		char name[256];
		p9_fid_origin(f, &parent, name);
		bx_vnode_put(&parent);
		r->out.type = P9_Rstat;
		fill_stat(r, f->v, &a, name[0] ? name : "/", &r->out.rstat.stat, sb);
		rc = p9_pack_now(r);
	}
	free(sb);
	p9_fid_put(&f);
	return rc;
}

/* Twstat: "don't touch" is all ones for numbers and "" for strings. */
static int h_wstat(struct req *r)
{
	const struct p9_twstat *t = &r->in.twstat;
	const struct p9_stat *st = &t->stat;
	bool u = r->pc->d == P9_2000U;
	struct fid *f = p9_use_fid(r, t->fid);
	if (!f)
		return -EBADF;
	struct boxfs_setattr sa = { 0 };
	int rc = f->kind == FID_FILE ? 0 : -EBADF;
	if (rc == 0 && st->mode != ~0u) {
		bool dir = S_ISDIR(f->v->mode);
		if (!!(st->mode & P9_DMDIR) != dir)
			rc = -EINVAL;
		sa.valid |= BOXFS_SET_MODE;
		sa.mode = st->mode & 0777;
		if (u)
			sa.mode |= (st->mode & P9_DMSETUID ? S_ISUID : 0) |
				   (st->mode & P9_DMSETGID ? S_ISGID : 0) |
				   (st->mode & P9_DMSETVTX ? S_ISVTX : 0);
	}
	if (st->length != ~0ull) {
		sa.valid |= BOXFS_SET_SIZE;
		sa.size = st->length;
	}
	if (st->mtime != ~0u) {
		sa.valid |= BOXFS_SET_MTIME;
		sa.mtime.tv_sec = st->mtime;
	}
	if (st->atime != ~0u) {
		sa.valid |= BOXFS_SET_ATIME;
		sa.atime.tv_sec = st->atime;
	}
	if (rc == 0 && u && st->n_uid != ~0u) {
		sa.valid |= BOXFS_SET_UID;
		sa.uid = st->n_uid;
	} else if (rc == 0 && st->uid.len) {
		sa.valid |= BOXFS_SET_UID;
		rc = name_id(st->uid, false, &sa.uid);
	}
	if (rc == 0 && u && st->n_gid != ~0u) {
		sa.valid |= BOXFS_SET_GID;
		sa.gid = st->n_gid;
	} else if (rc == 0 && st->gid.len) {
		sa.valid |= BOXFS_SET_GID;
		rc = name_id(st->gid, true, &sa.gid);
	}
	char name[256] = "", oname[256];
	struct bx_vnode *parent;
	p9_fid_origin(f, &parent, oname);
	if (rc == 0 && st->name.len)
		rc = p9_name(st->name, name, false);
	bool rename = name[0] && strcmp(name, oname) != 0;
	if (rc == 0 && rename && !parent)
		rc = -EBUSY;

	struct boxfs_attr a;
	void *fh = f->open ? f->fh : NULL;
	if (rc == 0 && sa.valid)
		rc = bx_fs_setattr(&r->call, f->v, fh, &sa, &a);
	if (rc == 0 && rename)
		rc = bx_fs_rename(&r->call, parent, oname, parent, name, 0);
	if (rc == 0 && rename) {
		pthread_mutex_lock(&f->mu);
		p9_fid_set_origin(f, parent, name);
		pthread_mutex_unlock(&f->mu);
	}
	if (rc == 0 && !sa.valid && !name[0])
		rc = bx_fs_fsync(&r->call, f->v, fh, false); /* all "don't touch": a sync */
	bx_vnode_put(&parent);
	p9_fid_put(&f);
	r->out.type = P9_Rwstat;
	return rc;
}

/* ---- directory reads ---- */

struct dentry {
	char *name;
	uint64_t next;
};

struct collect {
	struct dentry *e;
	size_t n, cap;
	size_t budget; /* estimated bytes still wanted */
	int err;
};

static int collect(void *ctx, const char *name, uint64_t ino, uint32_t dtype, uint64_t next)
{
	(void)ino;
	(void)dtype;
	struct collect *c = ctx;
	size_t est = 49 + 14 + 32 + strlen(name); /* a stat record with short user names */
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct dentry *e = realloc(c->e, cap * sizeof *e);
		if (!e) {
			c->err = -ENOMEM;
			return 1;
		}
		c->e = e;
		c->cap = cap;
	}
	if (!(c->e[c->n].name = strdup(name))) {
		c->err = -ENOMEM;
		return 1;
	}
	c->e[c->n++].next = next;
	if (est >= c->budget)
		return 1;
	c->budget -= est;
	return 0;
}

ssize_t p9_dirread(struct req *r, struct fid *f, uint64_t offset, uint32_t count, uint8_t *buf)
{
	pthread_mutex_lock(&f->mu);
	uint64_t cookie = 0;
	if (offset != 0 && offset != f->dir_offset) {
		pthread_mutex_unlock(&f->mu);
		return -EINVAL; /* read(5): a directory is read on from where it stopped */
	}
	if (offset != 0)
		cookie = f->dir_cookie;

	struct collect c = { .budget = count };
	int rc = bx_fs_readdir(&r->call, f->v, f->fh, cookie, collect, &c);
	if (rc == 0)
		rc = c.err;
	size_t len = 0;
	struct statbuf *sb = malloc(sizeof *sb);
	if (rc == 0 && !sb)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		struct bx_vnode *v;
		struct boxfs_attr a;
		int wr = bx_ns_walk(r->pc->conn->srv->ns, &r->call, f->v, c.e[i].name, &v, &a);
		if (wr < 0) { /* gone since it was listed: skip it */
			cookie = c.e[i].next;
			continue;
		}
		struct p9_stat st;
		fill_stat(r, v, &a, c.e[i].name, &st, sb);
		ssize_t n = p9_stat_pack(buf + len, count - len, &st, r->pc->d);
		bx_vnode_put(&v);
		if (n < 0) {
			if (len == 0)
				rc = -EMSGSIZE; /* not even one record fits in count */
			break;
		}
		len += (size_t)n;
		cookie = c.e[i].next;
	}
	for (size_t i = 0; i < c.n; i++)
		free(c.e[i].name);
	free(c.e);
	free(sb);
	if (rc == 0) {
		f->dir_offset = offset + len;
		f->dir_cookie = cookie;
	}
	pthread_mutex_unlock(&f->mu);
	return rc < 0 ? rc : (ssize_t)len;
}

int (*p9_handler_u(uint8_t type))(struct req *r)
{
	switch (type) {
	case P9_Topen:
		return h_open;
	case P9_Tcreate:
		return h_create;
	case P9_Tstat:
		return h_stat;
	case P9_Twstat:
		return h_wstat;
	default:
		return NULL;
	}
}
