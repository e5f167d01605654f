/*
 * posix.c — the POSIX-like file API of boxfs/client.h over the 9P client:
 * open/read/write/stat/readdir and the namespace and attribute operations,
 * one dialect branch each (9P2000.L messages; Topen/Tcreate/Tstat/Twstat and
 * directory reads for 9P2000 and 9P2000.u). Programs, tools and the FUSE
 * bridge call it.
 *
 * Every operation walks from the attach root to a fid of its own and clunks
 * it before returning, so operations of many threads never share a fid
 * except an open file's, whose offset is guarded by the file's mutex.
 */
#include "client/client_impl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define P9_DMLINK	0x01000000u /* 9P2000.u: Tcreate of a hard link */
#define P9_AT_REMOVEDIR 0x200u

static bool is_L(const struct boxfs_client *c)
{
	return c->d == P9_2000L;
}

/* Falls back to an older message when the server lacks the newer one. */
static bool unsupported(int rc)
{
	return rc == -EOPNOTSUPP || rc == -ENOSYS;
}

static int simple_rpc(struct boxfs_client *c, const struct p9_fcall *tx, uint8_t want)
{
	struct p9c_reply r;
	int rc = p9c_rpc(c, tx, &r, want);
	p9c_reply_done(&r);
	return rc;
}

static int wstat(struct boxfs_client *c, uint32_t fid, const struct p9_stat *st)
{
	struct p9_fcall tx = { .type = P9_Twstat, .twstat = { .fid = fid, .stat = *st } };
	return simple_rpc(c, &tx, P9_Rwstat);
}

/* ---- attributes ---- */

void boxfs_getattr_to_stat(const struct p9_rgetattr *a, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_mode = a->mode;
	st->st_ino = a->qid.path;
	st->st_nlink = a->nlink;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_rdev = a->rdev;
	st->st_size = (off_t)a->size;
	st->st_blksize = (blksize_t)a->blksize;
	st->st_blocks = (blkcnt_t)a->blocks;
	st->st_atim.tv_sec = (time_t)a->atime_sec;
	st->st_atim.tv_nsec = (long)a->atime_nsec;
	st->st_mtim.tv_sec = (time_t)a->mtime_sec;
	st->st_mtim.tv_nsec = (long)a->mtime_nsec;
	st->st_ctim.tv_sec = (time_t)a->ctime_sec;
	st->st_ctim.tv_nsec = (long)a->ctime_nsec;
}

mode_t boxfs_p9_mode(const struct p9_stat *s, enum p9_dialect d)
{
	mode_t m = s->mode & 0777;
	if (s->mode & P9_DMDIR)
		return m | S_IFDIR;
	if (d == P9_2000U) {
		if (s->mode & P9_DMSETUID)
			m |= S_ISUID;
		if (s->mode & P9_DMSETGID)
			m |= S_ISGID;
		if (s->mode & P9_DMSETVTX)
			m |= S_ISVTX;
		if (s->mode & P9_DMSYMLINK)
			return m | S_IFLNK;
		if (s->mode & P9_DMSOCKET)
			return m | S_IFSOCK;
		if (s->mode & P9_DMNAMEDPIPE)
			return m | S_IFIFO;
		if (s->mode & P9_DMDEVICE)
			return m |
			       (s->extension.len && s->extension.s[0] == 'b' ? S_IFBLK : S_IFCHR);
	}
	return m | S_IFREG;
}

static void p9stat_to_stat(const struct boxfs_client *c, const struct p9_stat *s, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_mode = boxfs_p9_mode(s, c->d);
	st->st_ino = s->qid.path;
	st->st_nlink = 1;
	if (c->d == P9_2000U) {
		st->st_uid = s->n_uid != UINT32_MAX ? s->n_uid : 0;
		st->st_gid = s->n_gid != UINT32_MAX ? s->n_gid : 0;
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
	st->st_blksize = (blksize_t)p9c_iomax(c, 0);
	st->st_blocks = (blkcnt_t)((s->length + 511) / 512);
	st->st_atim.tv_sec = s->atime;
	st->st_mtim.tv_sec = s->mtime;
	st->st_ctim.tv_sec = s->mtime;
}

static int fid_stat(struct boxfs_client *c, uint32_t fid, struct stat *st)
{
	struct p9c_reply r;
	int rc;
	if (is_L(c)) {
		struct p9_fcall tx = { .type = P9_Tgetattr, .tgetattr = { fid, P9_GETATTR_BASIC } };
		rc = p9c_rpc(c, &tx, &r, P9_Rgetattr);
		if (rc == 0)
			boxfs_getattr_to_stat(&r.f.rgetattr, st);
	} else {
		struct p9_fcall tx = { .type = P9_Tstat, .tstat = { fid } };
		rc = p9c_rpc(c, &tx, &r, P9_Rstat);
		if (rc == 0)
			p9stat_to_stat(c, &r.f.rstat.stat, st);
	}
	p9c_reply_done(&r);
	return rc;
}

/* ---- path resolution ---- */

static int walk_path(struct boxfs_client *c, const struct p9c_path *p, int n, uint32_t *fid,
		     struct p9_qid *qid)
{
	return p9c_walk(c, (const char *const *)p->names, n, fid, qid);
}

/* Reads the target of the symbolic link fid names into a malloc'd string. */
static int fid_readlink(struct boxfs_client *c, uint32_t fid, char **target)
{
	struct p9c_reply r;
	int rc;
	struct p9_str t = { 0 };
	if (is_L(c)) {
		struct p9_fcall tx = { .type = P9_Treadlink, .treadlink = { fid } };
		rc = p9c_rpc(c, &tx, &r, P9_Rreadlink);
		if (rc == 0)
			t = r.f.rreadlink.target;
	} else if (c->d == P9_2000U) {
		struct p9_fcall tx = { .type = P9_Tstat, .tstat = { fid } };
		rc = p9c_rpc(c, &tx, &r, P9_Rstat);
		if (rc == 0 && !(r.f.rstat.stat.mode & P9_DMSYMLINK))
			rc = -EINVAL;
		if (rc == 0)
			t = r.f.rstat.stat.extension;
	} else {
		return -EOPNOTSUPP;
	}
	if (rc == 0) {
		*target = strndup(t.s ? t.s : "", t.len);
		if (!*target)
			rc = -ENOMEM;
	}
	p9c_reply_done(&r);
	return rc;
}

/*
 * Walks path into a fresh fid; with follow, a final symbolic link is
 * resolved (relative targets from the link's directory, absolute ones from
 * the attach root), at most P9C_MAXLINKS times.
 */
static int resolve(struct boxfs_client *c, const char *path, bool follow, uint32_t *fid,
		   struct p9_qid *qid)
{
	char *cur = strdup(path);
	if (!cur)
		return -ENOMEM;
	int rc;
	for (int links = 0;; links++) {
		struct p9c_path p;
		rc = p9c_path_split(cur, &p);
		if (rc < 0)
			break;
		rc = walk_path(c, &p, p.n, fid, qid);
		p9c_path_free(&p);
		if (rc < 0 || !follow || !(qid->type & P9_QTSYMLINK))
			break;
		char *target;
		rc = fid_readlink(c, *fid, &target);
		p9c_clunk(c, *fid);
		if (rc < 0)
			break;
		if (links >= P9C_MAXLINKS) {
			free(target);
			rc = -ELOOP;
			break;
		}
		char *next;
		if (target[0] == '/') {
			next = target;
		} else {
			char *slash = strrchr(cur, '/');
			if (slash)
				slash[1] = '\0';
			else
				cur[0] = '\0';
			if (asprintf(&next, "%s%s", cur, target) < 0)
				next = NULL;
			free(target);
		}
		free(cur);
		cur = next;
		if (!cur)
			return -ENOMEM;
	}
	free(cur);
	return rc;
}

/* Walks to the directory holding path's last name: *name points into p. */
static int resolve_parent(struct boxfs_client *c, const char *path, struct p9c_path *p,
			  uint32_t *dfid, const char **name)
{
	int rc = p9c_path_split(path, p);
	if (rc < 0)
		return rc;
	if (p->n == 0) {
		p9c_path_free(p);
		return -EBUSY; /* the root itself */
	}
	struct p9_qid qid;
	rc = walk_path(c, p, p->n - 1, dfid, &qid);
	if (rc == 0 && !(qid.type & P9_QTDIR)) {
		p9c_clunk(c, *dfid);
		rc = -ENOTDIR;
	}
	if (rc < 0) {
		p9c_path_free(p);
		return rc;
	}
	*name = p->names[p->n - 1];
	return 0;
}

/* ---- open files ---- */

static uint8_t omode(int flags)
{
	uint8_t m = (flags & O_ACCMODE) == O_WRONLY ? P9_OWRITE
		    : (flags & O_ACCMODE) == O_RDWR ? P9_ORDWR
						    : P9_OREAD;
	if (flags & O_TRUNC)
		m |= P9_OTRUNC;
	return m;
}

/* Opens the walked fid (Tlopen/Topen); *iounit from the reply. */
static int fid_open(struct boxfs_client *c, uint32_t fid, int flags, uint32_t *iounit)
{
	struct p9c_reply r;
	int rc;
	if (is_L(c)) {
		uint32_t lf = (uint32_t)(flags & (O_ACCMODE | O_TRUNC | O_APPEND | O_DIRECTORY));
		struct p9_fcall tx = { .type = P9_Tlopen, .tlopen = { fid, lf } };
		rc = p9c_rpc(c, &tx, &r, P9_Rlopen);
		if (rc == 0)
			*iounit = r.f.rlopen.iounit;
	} else {
		struct p9_fcall tx = { .type = P9_Topen, .topen = { fid, omode(flags) } };
		rc = p9c_rpc(c, &tx, &r, P9_Ropen);
		if (rc == 0)
			*iounit = r.f.ropen.iounit;
	}
	p9c_reply_done(&r);
	return rc;
}

/* Creates and opens name in directory dfid, which becomes the new file's fid. */
static int fid_create(struct boxfs_client *c, uint32_t dfid, const char *name, int flags,
		      mode_t mode, struct p9_qid *qid, uint32_t *iounit)
{
	struct p9c_reply r;
	int rc;
	if (is_L(c)) {
		uint32_t lf =
			(uint32_t)(flags & (O_ACCMODE | O_TRUNC | O_APPEND | O_CREAT | O_EXCL));
		struct p9_fcall tx = { .type = P9_Tlcreate,
				       .tlcreate = { dfid, p9_cstr(name), lf | O_CREAT,
						     (uint32_t)(mode & 07777),
						     (uint32_t)getegid() } };
		rc = p9c_rpc(c, &tx, &r, P9_Rlcreate);
		if (rc == 0) {
			*qid = r.f.rlcreate.qid;
			*iounit = r.f.rlcreate.iounit;
		}
	} else {
		struct p9_fcall tx = { .type = P9_Tcreate,
				       .tcreate = { dfid, p9_cstr(name), (uint32_t)(mode & 0777),
						    omode(flags), p9_cstr("") } };
		rc = p9c_rpc(c, &tx, &r, P9_Rcreate);
		if (rc == 0) {
			*qid = r.f.rcreate.qid;
			*iounit = r.f.rcreate.iounit;
		}
	}
	p9c_reply_done(&r);
	return rc;
}

static struct boxfs_file *file_new(struct boxfs_client *c, uint32_t fid, struct p9_qid qid,
				   uint32_t iounit, int flags)
{
	struct boxfs_file *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->c = c;
	f->fid = fid;
	f->qid = qid;
	f->iounit = iounit;
	f->flags = flags;
	pthread_mutex_init(&f->lk, NULL);
	return f;
}

static int open_fid(struct boxfs_client *c, const char *path, int flags, mode_t mode,
		    uint32_t *fidp, struct p9_qid *qid, uint32_t *iounit)
{
	int rc;
	for (int tries = 0; tries < 3; tries++) {
		uint32_t fid;
		rc = resolve(c, path, !(flags & O_NOFOLLOW), &fid, qid);
		if (rc == 0) {
			if ((flags & O_CREAT) && (flags & O_EXCL))
				rc = -EEXIST;
			else if ((flags & O_NOFOLLOW) && (qid->type & P9_QTSYMLINK))
				rc = -ELOOP;
			else if ((flags & O_DIRECTORY) && !(qid->type & P9_QTDIR))
				rc = -ENOTDIR;
			else if ((qid->type & P9_QTDIR) && (flags & O_ACCMODE) != O_RDONLY)
				rc = -EISDIR;
			else
				rc = fid_open(c, fid, flags, iounit);
			if (rc < 0) {
				p9c_clunk(c, fid);
				return rc;
			}
			*fidp = fid;
			return 0;
		}
		if (rc != -ENOENT || !(flags & O_CREAT))
			return rc;
		struct p9c_path p;
		const char *name;
		uint32_t dfid;
		rc = resolve_parent(c, path, &p, &dfid, &name);
		if (rc < 0)
			return rc;
		rc = fid_create(c, dfid, name, flags, mode, qid, iounit);
		p9c_path_free(&p);
		if (rc == 0) {
			*fidp = dfid;
			return 0;
		}
		p9c_clunk(c, dfid);
		if (rc != -EEXIST || (flags & O_EXCL))
			return rc;
		/* somebody created it meanwhile: open it */
	}
	return rc;
}

struct boxfs_file *boxfs_open(struct boxfs_client *c, const char *path, int flags, mode_t mode)
{
	uint32_t fid, iounit = 0;
	struct p9_qid qid;
	int rc = open_fid(c, path, flags, mode, &fid, &qid, &iounit);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	struct boxfs_file *f = file_new(c, fid, qid, iounit, flags);
	if (!f) {
		p9c_clunk(c, fid);
		errno = ENOMEM;
	}
	return f;
}

int boxfs_close(struct boxfs_file *f)
{
	if (!f)
		return -EBADF;
	int rc = p9c_clunk(f->c, f->fid);
	pthread_mutex_destroy(&f->lk);
	free(f);
	return rc;
}

ssize_t boxfs_pread(struct boxfs_file *f, void *buf, size_t n, off_t off)
{
	struct boxfs_client *c = f->c;
	if (off < 0)
		return -EINVAL;
	if ((f->flags & O_ACCMODE) == O_WRONLY)
		return -EBADF;
	uint32_t max = p9c_iomax(c, f->iounit);
	size_t done = 0;
	while (done < n) {
		uint32_t k = n - done > max ? max : (uint32_t)(n - done);
		struct p9_fcall tx = { .type = P9_Tread,
				       .tread = { f->fid, (uint64_t)off + done, k } };
		struct p9c_reply r;
		int rc = p9c_rpc(c, &tx, &r, P9_Rread);
		uint32_t got = rc == 0 ? r.f.rread.count : 0;
		if (rc == 0 && got > k)
			rc = -EPROTO;
		if (rc == 0)
			memcpy((uint8_t *)buf + done, r.f.rread.data, got);
		p9c_reply_done(&r);
		if (rc < 0)
			return done ? (ssize_t)done : rc;
		done += got;
		if (got < k)
			break;
	}
	return (ssize_t)done;
}

ssize_t boxfs_pwrite(struct boxfs_file *f, const void *buf, size_t n, off_t off)
{
	struct boxfs_client *c = f->c;
	if (off < 0)
		return -EINVAL;
	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	uint32_t max = p9c_iomax(c, f->iounit);
	size_t done = 0;
	while (done < n) {
		uint32_t k = n - done > max ? max : (uint32_t)(n - done);
		ssize_t got =
			p9c_write(c, f->fid, (uint64_t)off + done, (const uint8_t *)buf + done, k);
		if (got < 0)
			return done ? (ssize_t)done : got;
		if (got == 0)
			return done ? (ssize_t)done : -EIO;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

ssize_t boxfs_read(struct boxfs_file *f, void *buf, size_t n)
{
	pthread_mutex_lock(&f->lk);
	ssize_t k = boxfs_pread(f, buf, n, f->off);
	if (k > 0)
		f->off += k;
	pthread_mutex_unlock(&f->lk);
	return k;
}

ssize_t boxfs_write(struct boxfs_file *f, const void *buf, size_t n)
{
	pthread_mutex_lock(&f->lk);
	if (f->flags & O_APPEND) {
		struct stat st;
		int rc = fid_stat(f->c, f->fid, &st);
		if (rc < 0) {
			pthread_mutex_unlock(&f->lk);
			return rc;
		}
		f->off = st.st_size;
	}
	ssize_t k = boxfs_pwrite(f, buf, n, f->off);
	if (k > 0)
		f->off += k;
	pthread_mutex_unlock(&f->lk);
	return k;
}

off_t boxfs_lseek(struct boxfs_file *f, off_t off, int whence)
{
	off_t base;
	pthread_mutex_lock(&f->lk);
	if (whence == SEEK_SET) {
		base = 0;
	} else if (whence == SEEK_CUR) {
		base = f->off;
	} else if (whence == SEEK_END) {
		struct stat st;
		int rc = fid_stat(f->c, f->fid, &st);
		if (rc < 0) {
			pthread_mutex_unlock(&f->lk);
			return rc;
		}
		base = st.st_size;
	} else {
		pthread_mutex_unlock(&f->lk);
		return -EINVAL;
	}
	off_t n;
	if (__builtin_add_overflow(base, off, &n) || n < 0) {
		pthread_mutex_unlock(&f->lk);
		return -EINVAL;
	}
	f->off = n;
	pthread_mutex_unlock(&f->lk);
	return n;
}

int boxfs_fstat(struct boxfs_file *f, struct stat *st)
{
	return fid_stat(f->c, f->fid, st);
}

static int path_stat(struct boxfs_client *c, const char *path, bool follow, struct stat *st)
{
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, follow, &fid, &qid);
	if (rc < 0)
		return rc;
	rc = fid_stat(c, fid, st);
	p9c_clunk(c, fid);
	return rc;
}

int boxfs_stat(struct boxfs_client *c, const char *path, struct stat *st)
{
	return path_stat(c, path, true, st);
}

int boxfs_lstat(struct boxfs_client *c, const char *path, struct stat *st)
{
	return path_stat(c, path, false, st);
}

/* ---- directories ---- */

struct boxfs_dir *boxfs_opendir(struct boxfs_client *c, const char *path)
{
	uint32_t fid, iounit = 0;
	struct p9_qid qid;
	int rc = open_fid(c, path, O_RDONLY | O_DIRECTORY, 0, &fid, &qid, &iounit);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	struct boxfs_dir *d = calloc(1, sizeof *d);
	if (!d) {
		p9c_clunk(c, fid);
		errno = ENOMEM;
		return NULL;
	}
	d->c = c;
	d->fid = fid;
	d->iounit = iounit;
	pthread_mutex_init(&d->lk, NULL);
	return d;
}

/* Reads the next batch of records into d->rep (lock held): 0, or -errno. */
static int dir_fill(struct boxfs_dir *d)
{
	struct boxfs_client *c = d->c;
	if (d->have_rep) {
		p9c_reply_done(&d->rep);
		d->have_rep = false;
	}
	uint32_t count = p9c_iomax(c, d->iounit);
	struct p9_fcall tx = { .type = is_L(c) ? P9_Treaddir : P9_Tread,
			       .tread = { d->fid, d->offset, count } };
	int rc = p9c_rpc(c, &tx, &d->rep, is_L(c) ? P9_Rreaddir : P9_Rread);
	if (rc < 0) {
		p9c_reply_done(&d->rep);
		return rc;
	}
	d->have_rep = true;
	d->pos = 0;
	if (d->rep.f.rread.count == 0)
		d->eof = true;
	else if (!is_L(c))
		d->offset += d->rep.f.rread.count; /* 9P2000: offsets continue the byte stream */
	return 0;
}

static int set_name(struct boxfs_dir *d, struct p9_str s)
{
	if ((size_t)s.len + 1 > d->namecap) {
		char *p = realloc(d->name, (size_t)s.len + 1);
		if (!p)
			return -ENOMEM;
		d->name = p;
		d->namecap = (size_t)s.len + 1;
	}
	memcpy(d->name, s.s, s.len);
	d->name[s.len] = '\0';
	return 0;
}

static unsigned char stat_dtype(const struct p9_stat *s, enum p9_dialect dl)
{
	switch (boxfs_p9_mode(s, dl) & S_IFMT) {
	case S_IFDIR:
		return DT_DIR;
	case S_IFLNK:
		return DT_LNK;
	case S_IFSOCK:
		return DT_SOCK;
	case S_IFIFO:
		return DT_FIFO;
	case S_IFCHR:
		return DT_CHR;
	case S_IFBLK:
		return DT_BLK;
	default:
		return DT_REG;
	}
}

int boxfs_readdir(struct boxfs_dir *d, struct boxfs_dirent *de)
{
	struct boxfs_client *c = d->c;
	int rc;
	pthread_mutex_lock(&d->lk);
	for (;;) {
		if (!d->have_rep || d->pos >= d->rep.f.rread.count) {
			if (d->eof) {
				rc = 0;
				break;
			}
			rc = dir_fill(d);
			if (rc < 0)
				break;
			continue;
		}
		const uint8_t *data = d->rep.f.rread.data;
		size_t len = d->rep.f.rread.count;
		if (is_L(c)) {
			struct p9_dirent e;
			rc = p9_dirent_next(&e, data, len, &d->pos);
			if (rc <= 0) {
				rc = rc < 0 ? rc : -EPROTO;
				break;
			}
			d->offset = e.offset;
			rc = set_name(d, e.name);
			de->ino = e.qid.path;
			de->d_type = e.type;
		} else {
			struct p9_stat s;
			rc = p9_stat_next(&s, data, len, &d->pos, c->d);
			if (rc <= 0) {
				rc = rc < 0 ? rc : -EPROTO;
				break;
			}
			rc = set_name(d, s.name);
			de->ino = s.qid.path;
			de->d_type = stat_dtype(&s, c->d);
		}
		if (rc == 0) {
			de->name = d->name;
			rc = 1;
		}
		break;
	}
	pthread_mutex_unlock(&d->lk);
	return rc;
}

int boxfs_closedir(struct boxfs_dir *d)
{
	if (!d)
		return -EBADF;
	int rc = p9c_clunk(d->c, d->fid);
	if (d->have_rep)
		p9c_reply_done(&d->rep);
	pthread_mutex_destroy(&d->lk);
	free(d->name);
	free(d);
	return rc;
}

/* ---- namespace ---- */

int boxfs_mkdir(struct boxfs_client *c, const char *path, mode_t mode)
{
	struct p9c_path p;
	const char *name;
	uint32_t dfid;
	int rc = resolve_parent(c, path, &p, &dfid, &name);
	if (rc < 0)
		return rc == -EBUSY ? -EEXIST : rc;
	if (is_L(c)) {
		struct p9_fcall tx = { .type = P9_Tmkdir,
				       .tmkdir = { dfid, p9_cstr(name), (uint32_t)(mode & 07777),
						   (uint32_t)getegid() } };
		rc = simple_rpc(c, &tx, P9_Rmkdir);
	} else {
		/* Tcreate turns dfid into the new directory, opened; the clunk below frees it */
		struct p9_fcall tx = { .type = P9_Tcreate,
				       .tcreate = { dfid, p9_cstr(name), P9_DMDIR | (mode & 0777),
						    P9_OREAD, p9_cstr("") } };
		rc = simple_rpc(c, &tx, P9_Rcreate);
	}
	p9c_clunk(c, dfid);
	p9c_path_free(&p);
	return rc;
}

/* Tremove of path after checking its type against want_dir. */
static int remove_path(struct boxfs_client *c, const char *path, bool want_dir)
{
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, false, &fid, &qid);
	if (rc < 0)
		return rc;
	bool dir = qid.type & P9_QTDIR;
	if (dir != want_dir) {
		p9c_clunk(c, fid);
		return want_dir ? -ENOTDIR : -EISDIR;
	}
	struct p9_fcall tx = { .type = P9_Tremove, .tremove = { fid } };
	rc = simple_rpc(c, &tx, P9_Rremove);
	p9c_fid_put(c, fid); /* remove(5): the fid is clunked even when it fails */
	return rc;
}

static int unlink_common(struct boxfs_client *c, const char *path, bool dir)
{
	if (!is_L(c))
		return remove_path(c, path, dir);
	struct p9c_path p;
	const char *name;
	uint32_t dfid;
	int rc = resolve_parent(c, path, &p, &dfid, &name);
	if (rc < 0)
		return rc;
	struct p9_fcall tx = { .type = P9_Tunlinkat,
			       .tunlinkat = { dfid, p9_cstr(name), dir ? P9_AT_REMOVEDIR : 0 } };
	rc = simple_rpc(c, &tx, P9_Runlinkat);
	p9c_clunk(c, dfid);
	p9c_path_free(&p);
	if (unsupported(rc))
		rc = remove_path(c, path, dir);
	return rc;
}

int boxfs_unlink(struct boxfs_client *c, const char *path)
{
	return unlink_common(c, path, false);
}

int boxfs_rmdir(struct boxfs_client *c, const char *path)
{
	return unlink_common(c, path, true);
}

/* True when both paths have the same directory part. */
static bool same_parent(const struct p9c_path *a, const struct p9c_path *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i + 1 < a->n; i++)
		if (strcmp(a->names[i], b->names[i]) != 0)
			return false;
	return true;
}

int boxfs_rename(struct boxfs_client *c, const char *from, const char *to)
{
	struct p9c_path pf, pt;
	const char *oname, *nname;
	uint32_t ofid, nfid;
	int rc = resolve_parent(c, from, &pf, &ofid, &oname);
	if (rc < 0)
		return rc;
	rc = resolve_parent(c, to, &pt, &nfid, &nname);
	if (rc < 0) {
		p9c_clunk(c, ofid);
		p9c_path_free(&pf);
		return rc;
	}
	if (is_L(c)) {
		struct p9_fcall tx = { .type = P9_Trenameat,
				       .trenameat = { ofid, p9_cstr(oname), nfid,
						      p9_cstr(nname) } };
		rc = simple_rpc(c, &tx, P9_Rrenameat);
		if (unsupported(rc)) {
			uint32_t fid;
			struct p9_qid qid;
			rc = walk_path(c, &pf, pf.n, &fid, &qid);
			if (rc == 0) {
				struct p9_fcall t2 = { .type = P9_Trename,
						       .trename = { fid, nfid, p9_cstr(nname) } };
				rc = simple_rpc(c, &t2, P9_Rrename);
				p9c_clunk(c, fid);
			}
		}
	} else if (!same_parent(&pf, &pt)) {
		rc = -EXDEV; /* wstat renames within a directory only */
	} else {
		uint32_t fid;
		struct p9_qid qid;
		rc = walk_path(c, &pf, pf.n, &fid, &qid);
		if (rc == 0) {
			struct p9_stat st = p9_stat_dont_touch();
			st.name = p9_cstr(nname);
			rc = wstat(c, fid, &st);
			p9c_clunk(c, fid);
		}
	}
	p9c_clunk(c, ofid);
	p9c_clunk(c, nfid);
	p9c_path_free(&pf);
	p9c_path_free(&pt);
	return rc;
}

int boxfs_symlink(struct boxfs_client *c, const char *target, const char *path)
{
	if (c->d == P9_2000)
		return -EOPNOTSUPP;
	struct p9c_path p;
	const char *name;
	uint32_t dfid;
	int rc = resolve_parent(c, path, &p, &dfid, &name);
	if (rc < 0)
		return rc == -EBUSY ? -EEXIST : rc;
	if (is_L(c)) {
		struct p9_fcall tx = { .type = P9_Tsymlink,
				       .tsymlink = { dfid, p9_cstr(name), p9_cstr(target),
						     (uint32_t)getegid() } };
		rc = simple_rpc(c, &tx, P9_Rsymlink);
	} else {
		struct p9_fcall tx = { .type = P9_Tcreate,
				       .tcreate = { dfid, p9_cstr(name), P9_DMSYMLINK | 0777,
						    P9_OREAD, p9_cstr(target) } };
		rc = simple_rpc(c, &tx, P9_Rcreate);
	}
	p9c_clunk(c, dfid);
	p9c_path_free(&p);
	return rc;
}

ssize_t boxfs_readlink(struct boxfs_client *c, const char *path, char *buf, size_t n)
{
	if (c->d == P9_2000)
		return -EOPNOTSUPP;
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, false, &fid, &qid);
	if (rc < 0)
		return rc;
	char *t = NULL;
	rc = fid_readlink(c, fid, &t);
	p9c_clunk(c, fid);
	if (rc < 0)
		return rc;
	size_t len = strlen(t);
	if (len > n)
		len = n;
	memcpy(buf, t, len);
	free(t);
	return (ssize_t)len;
}

int boxfs_link(struct boxfs_client *c, const char *from, const char *to)
{
	if (c->d == P9_2000)
		return -EOPNOTSUPP;
	uint32_t ofid;
	struct p9_qid qid;
	int rc = resolve(c, from, false, &ofid, &qid);
	if (rc < 0)
		return rc;
	struct p9c_path p;
	const char *name;
	uint32_t dfid;
	rc = resolve_parent(c, to, &p, &dfid, &name);
	if (rc < 0) {
		p9c_clunk(c, ofid);
		return rc == -EBUSY ? -EEXIST : rc;
	}
	if (is_L(c)) {
		struct p9_fcall tx = { .type = P9_Tlink, .tlink = { dfid, ofid, p9_cstr(name) } };
		rc = simple_rpc(c, &tx, P9_Rlink);
	} else {
		/* the 9P2000.u draft: a Tcreate whose extension names the existing fid */
		char ext[32];
		snprintf(ext, sizeof ext, "%u\n", ofid); /* what Linux sends */
		struct p9_fcall tx = { .type = P9_Tcreate,
				       .tcreate = { dfid, p9_cstr(name), P9_DMLINK, P9_OREAD,
						    p9_cstr(ext) } };
		rc = simple_rpc(c, &tx, P9_Rcreate);
	}
	p9c_clunk(c, dfid);
	p9c_clunk(c, ofid);
	p9c_path_free(&p);
	return rc;
}

/* ---- attributes ---- */

static int fid_setattr(struct boxfs_client *c, uint32_t fid, const struct p9_tsetattr *sa)
{
	struct p9_fcall tx = { .type = P9_Tsetattr, .tsetattr = *sa };
	tx.tsetattr.fid = fid;
	return simple_rpc(c, &tx, P9_Rsetattr);
}

static int fid_truncate(struct boxfs_client *c, uint32_t fid, off_t len)
{
	if (len < 0)
		return -EINVAL;
	if (is_L(c)) {
		struct p9_tsetattr sa = { .valid = P9_SETATTR_SIZE, .size = (uint64_t)len };
		return fid_setattr(c, fid, &sa);
	}
	struct p9_stat st = p9_stat_dont_touch();
	st.length = (uint64_t)len;
	return wstat(c, fid, &st);
}

int boxfs_truncate(struct boxfs_client *c, const char *path, off_t len)
{
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, true, &fid, &qid);
	if (rc < 0)
		return rc;
	rc = fid_truncate(c, fid, len);
	p9c_clunk(c, fid);
	return rc;
}

int boxfs_ftruncate(struct boxfs_file *f, off_t len)
{
	return fid_truncate(f->c, f->fid, len);
}

int boxfs_chmod(struct boxfs_client *c, const char *path, mode_t mode)
{
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, true, &fid, &qid);
	if (rc < 0)
		return rc;
	if (is_L(c)) {
		struct p9_tsetattr sa = { .valid = P9_SETATTR_MODE,
					  .mode = (uint32_t)(mode & 07777) };
		rc = fid_setattr(c, fid, &sa);
	} else {
		/* the type bits may not change: start from the current mode */
		struct p9c_reply r;
		struct p9_fcall tx = { .type = P9_Tstat, .tstat = { fid } };
		rc = p9c_rpc(c, &tx, &r, P9_Rstat);
		uint32_t old = rc == 0 ? r.f.rstat.stat.mode : 0;
		p9c_reply_done(&r);
		if (rc == 0) {
			struct p9_stat st = p9_stat_dont_touch();
			st.mode = (old & ~(0777u | P9_DMSETUID | P9_DMSETGID)) | (mode & 0777);
			if (c->d == P9_2000U) {
				if (mode & S_ISUID)
					st.mode |= P9_DMSETUID;
				if (mode & S_ISGID)
					st.mode |= P9_DMSETGID;
			}
			rc = wstat(c, fid, &st);
		}
	}
	p9c_clunk(c, fid);
	return rc;
}

int boxfs_chown(struct boxfs_client *c, const char *path, uid_t uid, gid_t gid)
{
	if (c->d == P9_2000)
		return -EOPNOTSUPP; /* names only: numeric ids do not map */
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, true, &fid, &qid);
	if (rc < 0)
		return rc;
	if (is_L(c)) {
		struct p9_tsetattr sa = { 0 };
		if (uid != (uid_t)-1)
			sa.valid |= P9_SETATTR_UID, sa.uid = uid;
		if (gid != (gid_t)-1)
			sa.valid |= P9_SETATTR_GID, sa.gid = gid;
		rc = sa.valid ? fid_setattr(c, fid, &sa) : 0;
	} else {
		struct p9_stat st = p9_stat_dont_touch();
		st.n_uid = uid;
		st.n_gid = gid;
		rc = wstat(c, fid, &st);
	}
	p9c_clunk(c, fid);
	return rc;
}

int boxfs_utimens(struct boxfs_client *c, const char *path, const struct timespec ts[2])
{
	static const struct timespec now2[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
	if (!ts)
		ts = now2;
	for (int i = 0; i < 2; i++)
		if (ts[i].tv_nsec != UTIME_NOW && ts[i].tv_nsec != UTIME_OMIT &&
		    (ts[i].tv_nsec < 0 || ts[i].tv_nsec >= 1000000000))
			return -EINVAL;
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, true, &fid, &qid);
	if (rc < 0)
		return rc;
	if (is_L(c)) {
		struct p9_tsetattr sa = { 0 };
		if (ts[0].tv_nsec != UTIME_OMIT) {
			sa.valid |= P9_SETATTR_ATIME;
			if (ts[0].tv_nsec != UTIME_NOW) {
				sa.valid |= P9_SETATTR_ATIME_SET;
				sa.atime_sec = (uint64_t)ts[0].tv_sec;
				sa.atime_nsec = (uint64_t)ts[0].tv_nsec;
			}
		}
		if (ts[1].tv_nsec != UTIME_OMIT) {
			sa.valid |= P9_SETATTR_MTIME;
			if (ts[1].tv_nsec != UTIME_NOW) {
				sa.valid |= P9_SETATTR_MTIME_SET;
				sa.mtime_sec = (uint64_t)ts[1].tv_sec;
				sa.mtime_nsec = (uint64_t)ts[1].tv_nsec;
			}
		}
		rc = sa.valid ? fid_setattr(c, fid, &sa) : 0;
	} else {
		struct p9_stat st = p9_stat_dont_touch();
		uint32_t now = (uint32_t)time(NULL);
		if (ts[0].tv_nsec != UTIME_OMIT)
			st.atime = ts[0].tv_nsec == UTIME_NOW ? now : (uint32_t)ts[0].tv_sec;
		if (ts[1].tv_nsec != UTIME_OMIT)
			st.mtime = ts[1].tv_nsec == UTIME_NOW ? now : (uint32_t)ts[1].tv_sec;
		rc = wstat(c, fid, &st);
	}
	p9c_clunk(c, fid);
	return rc;
}

int boxfs_fsync(struct boxfs_file *f, bool datasync)
{
	struct boxfs_client *c = f->c;
	if (is_L(c)) {
		struct p9_fcall tx = { .type = P9_Tfsync, .tfsync = { f->fid, datasync ? 1 : 0 } };
		return simple_rpc(c, &tx, P9_Rfsync);
	}
	/* stat(5): a wstat that changes nothing asks the server to commit the file */
	struct p9_stat st = p9_stat_dont_touch();
	return wstat(c, f->fid, &st);
}

int boxfs_statfs(struct boxfs_client *c, const char *path, struct statvfs *sv)
{
	if (!is_L(c))
		return -EOPNOTSUPP;
	uint32_t fid;
	struct p9_qid qid;
	int rc = resolve(c, path, true, &fid, &qid);
	if (rc < 0)
		return rc;
	struct p9_fcall tx = { .type = P9_Tstatfs, .tstatfs = { fid } };
	struct p9c_reply r;
	rc = p9c_rpc(c, &tx, &r, P9_Rstatfs);
	if (rc == 0) {
		const struct p9_rstatfs *s = &r.f.rstatfs;
		memset(sv, 0, sizeof *sv);
		sv->f_bsize = s->bsize;
		sv->f_frsize = s->bsize;
		sv->f_blocks = s->blocks;
		sv->f_bfree = s->bfree;
		sv->f_bavail = s->bavail;
		sv->f_files = s->files;
		sv->f_ffree = s->ffree;
		sv->f_favail = s->ffree;
		sv->f_fsid = s->fsid;
		sv->f_namemax = s->namelen;
	}
	p9c_reply_done(&r);
	p9c_clunk(c, fid);
	return rc;
}

/* ---- locks ---- */

/* fl's range as an absolute start and a length (0: to the end). */
static int lock_range(struct boxfs_file *f, const struct flock *fl, uint64_t *start, uint64_t *len)
{
	off_t base = 0;
	if (fl->l_whence == SEEK_CUR) {
		pthread_mutex_lock(&f->lk);
		base = f->off;
		pthread_mutex_unlock(&f->lk);
	} else if (fl->l_whence == SEEK_END) {
		struct stat st;
		int rc = fid_stat(f->c, f->fid, &st);
		if (rc < 0)
			return rc;
		base = st.st_size;
	} else if (fl->l_whence != SEEK_SET) {
		return -EINVAL;
	}
	off_t s = base + fl->l_start, l = fl->l_len;
	if (l < 0) {
		s += l;
		l = -l;
	}
	if (s < 0)
		return -EINVAL;
	*start = (uint64_t)s;
	*len = (uint64_t)l;
	return 0;
}

static uint8_t lock_type(short t)
{
	return t == F_RDLCK   ? P9_LOCK_TYPE_RDLCK
	       : t == F_WRLCK ? P9_LOCK_TYPE_WRLCK
			      : P9_LOCK_TYPE_UNLCK;
}

int boxfs_lock(struct boxfs_file *f, int cmd, struct flock *fl)
{
	struct boxfs_client *c = f->c;
	if (!is_L(c))
		return -EOPNOTSUPP;
	if (fl->l_type != F_RDLCK && fl->l_type != F_WRLCK && fl->l_type != F_UNLCK)
		return -EINVAL;
	uint64_t start, len;
	int rc = lock_range(f, fl, &start, &len);
	if (rc < 0)
		return rc;
	if (cmd == F_GETLK) {
		struct p9_fcall tx = { .type = P9_Tgetlock,
				       .tgetlock = { f->fid, lock_type(fl->l_type), start, len,
						     (uint32_t)getpid(), p9_cstr(c->client_id) } };
		struct p9c_reply r;
		rc = p9c_rpc(c, &tx, &r, P9_Rgetlock);
		if (rc == 0) {
			const struct p9_getlock *g = &r.f.rgetlock;
			if (g->type == P9_LOCK_TYPE_UNLCK) {
				fl->l_type = F_UNLCK;
			} else {
				fl->l_type = g->type == P9_LOCK_TYPE_RDLCK ? F_RDLCK : F_WRLCK;
				fl->l_whence = SEEK_SET;
				fl->l_start = (off_t)g->start;
				fl->l_len = (off_t)g->length;
				fl->l_pid = (pid_t)g->proc_id;
			}
		}
		p9c_reply_done(&r);
		return rc;
	}
	if (cmd != F_SETLK && cmd != F_SETLKW)
		return -EINVAL;
	for (unsigned wait_us = 1000;; wait_us = wait_us < 100000 ? wait_us * 2 : wait_us) {
		struct p9_fcall tx = { .type = P9_Tlock,
				       .tlock = { f->fid, lock_type(fl->l_type), 0, start, len,
						  (uint32_t)getpid(), p9_cstr(c->client_id) } };
		struct p9c_reply r;
		rc = p9c_rpc(c, &tx, &r, P9_Rlock);
		uint8_t status = rc == 0 ? r.f.rlock.status : P9_LOCK_ERROR;
		p9c_reply_done(&r);
		if (rc < 0)
			return rc;
		if (status == P9_LOCK_SUCCESS)
			return 0;
		if (status != P9_LOCK_BLOCKED && status != P9_LOCK_GRACE)
			return -ENOLCK;
		if (cmd == F_SETLK)
			return -EAGAIN;
		usleep(wait_us); /* F_SETLKW: a blocking Tlock would pin a server worker */
	}
}
