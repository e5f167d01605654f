/*
 * client.c — IxpClient: libixp's client calls on boxfs's client library
 * (through bridge.c). The connection speaks 9P2000 with the largest msize
 * the server grants (1 MiB from a boxfs server, 8 KiB from libixp's own);
 * requests from many threads share it, multiplexed by tag, and each IxpCFid
 * protects its offset with its own lock. Errors leave the server's text (or
 * the local failure's) in ixp_errbuf.
 */
#include "ixp_impl.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct client {
	struct ixb_client *b;
	IxpQid rootqid;
};

struct cfid {
	IxpCFid pub;
	pthread_mutex_t mu; /* pub.offset */
};

#define CL(c) ((struct client *)(c)->priv)

static struct cfid *cfid_of(IxpCFid *f)
{
	return (struct cfid *)((char *)f - offsetof(struct cfid, pub));
}

static void qid_in(IxpQid *q, const struct ixb_qid *b)
{
	memset(q, 0, sizeof *q);
	q->type = b->type;
	q->version = b->version;
	q->path = b->path;
}

/* Answers r, first copying a failure's text into the error buffer. */
static int failed(int r, const char *err)
{
	if (r < 0)
		ixp_seterr(err[0] ? err : strerror(-r));
	return r;
}

IxpClient *ixp_mountfd(int fd)
{
	char err[IXB_ERRMAX] = "";
	const char *user = getenv("USER");
	char name[256];
	if (!user || !*user) {
		struct passwd pw, *res = NULL;
		char buf[1024];
		user = getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res
			       ? strncpy(name, res->pw_name, sizeof name - 1)
			       : "none";
		name[sizeof name - 1] = '\0';
	}
	IxpClient *c = calloc(1, sizeof *c);
	struct client *cl = calloc(1, sizeof *cl);
	if (!c || !cl) {
		free(c);
		free(cl);
		close(fd);
		ixp_seterr("no memory");
		return NULL;
	}
	uint32_t msize = 0;
	struct ixb_qid rq;
	cl->b = ixb_connect(fd, user, &msize, &rq, err);
	if (!cl->b) {
		free(c);
		free(cl);
		ixp_seterr(err[0] ? err : "cannot connect");
		return NULL;
	}
	qid_in(&cl->rootqid, &rq);
	c->fd = fd;
	c->msize = msize;
	c->lastfid = ixb_root_fid(cl->b);
	c->priv = cl;
	return c;
}

IxpClient *ixp_mount(const char *address)
{
	int fd = ixp_dial(address);
	if (fd < 0) {
		ixp_errbuf(); /* a failed connect leaves errno's text */
		return NULL;
	}
	return ixp_mountfd(fd);
}

IxpClient *ixp_nsmount(const char *name)
{
	const char *ns = ixp_namespace();
	if (!ns)
		return NULL;
	char *address = ixp_smprint("unix!%s/%s", ns, name);
	if (!address)
		return NULL;
	IxpClient *c = ixp_mount(address);
	free(address);
	return c;
}

void ixp_unmount(IxpClient *c)
{
	if (!c)
		return;
	ixb_disconnect(CL(c)->b);
	free(c->priv);
	free(c);
}

static IxpCFid *fid_new(IxpClient *c)
{
	uint32_t num = ixb_fid_get(CL(c)->b);
	if (num == IXB_NOFID) {
		ixp_seterr("no free fid");
		return NULL;
	}
	struct cfid *f = calloc(1, sizeof *f);
	if (!f) {
		ixb_fid_put(CL(c)->b, num);
		ixp_seterr("no memory");
		return NULL;
	}
	pthread_mutex_init(&f->mu, NULL);
	f->pub.fid = num;
	f->pub.client = c;
	c->lastfid = num;
	return &f->pub;
}

/* Frees f and gives its number back (after its clunk or remove). */
static void fid_free(IxpCFid *f)
{
	struct cfid *cf = cfid_of(f);
	ixb_fid_put(CL(f->client)->b, f->fid);
	pthread_mutex_destroy(&cf->mu);
	free(cf);
}

/* Walks path from the root to a new fid, 16 names per Twalk. */
static IxpCFid *walk(IxpClient *c, const char *path)
{
	char err[IXB_ERRMAX] = "";
	char *p = ixp_estrdup(path);
	char *names[4096];
	uint n = ixp_tokenize(names, sizeof names / sizeof *names, p, '/');
	IxpCFid *f = fid_new(c);
	if (!f) {
		free(p);
		return NULL;
	}
	f->qid = CL(c)->rootqid;
	uint32_t from = ixb_root_fid(CL(c)->b);
	uint done = 0;
	bool made = false;
	do {
		uint k = n - done > IXP_MAX_WELEM ? IXP_MAX_WELEM : n - done;
		struct ixb_qid q[IXP_MAX_WELEM];
		int r = ixb_walk(CL(c)->b, from, f->fid, k, names + done, q, err);
		if (r < 0 || (uint)r < k) {
			if (r >= 0)
				ixp_seterr("file does not exist");
			else
				failed(r, err);
			if (made) {
				char e2[IXB_ERRMAX];
				ixb_clunk(CL(c)->b, f->fid, e2);
			}
			fid_free(f);
			free(p);
			return NULL;
		}
		made = true;
		if (k)
			qid_in(&f->qid, &q[k - 1]);
		from = f->fid;
		done += k;
	} while (done < n);
	free(p);
	return f;
}

static void opened(IxpCFid *f, const struct ixb_qid *q, uint32_t iounit, uint8_t mode)
{
	uint32_t max = f->client->msize - 24;
	f->open = 1;
	f->offset = 0;
	f->iounit = iounit == 0 || iounit > max ? max : iounit;
	qid_in(&f->qid, q);
	f->mode = mode;
}

/* Opens the walked fid f (creating name in it when name is set); on
 * failure clunks and frees f and answers NULL with the error set. */
static IxpCFid *open_walked(IxpClient *c, IxpCFid *f, const char *name, uint perm, uint8_t mode)
{
	char err[IXB_ERRMAX] = "";
	struct ixb_qid q;
	uint32_t iounit;
	int r = ixb_open(CL(c)->b, f->fid, name, perm, mode, &q, &iounit, err);
	if (r < 0) {
		failed(r, err);
		char e2[IXB_ERRMAX];
		ixb_clunk(CL(c)->b, f->fid, e2);
		fid_free(f);
		return NULL;
	}
	opened(f, &q, iounit, mode);
	return f;
}

IxpCFid *ixp_open(IxpClient *c, const char *path, uint8_t mode)
{
	IxpCFid *f = walk(c, path);
	if (!f)
		return NULL;
	return open_walked(c, f, NULL, 0, mode);
}

IxpCFid *ixp_create(IxpClient *c, const char *path, uint perm, uint8_t mode)
{
	char *dir = ixp_estrdup(path);
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	char *slash = strrchr(dir, '/');
	char *name = slash ? slash + 1 : dir;
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		ixp_seterr("bad path");
		free(dir);
		return NULL;
	}
	const char *parent = "";
	if (slash) {
		*slash = '\0';
		parent = dir;
	}
	IxpCFid *f = walk(c, parent);
	if (!f) {
		free(dir);
		return NULL;
	}
	f = open_walked(c, f, name, perm, mode);
	free(dir);
	return f;
}

int ixp_close(IxpCFid *f)
{
	char err[IXB_ERRMAX] = "";
	if (!f)
		return 0;
	int r = ixb_clunk(CL(f->client)->b, f->fid, err);
	fid_free(f); /* clunk(5): the fid is gone even when Tclunk fails */
	return failed(r, err) < 0 ? 0 : 1;
}

int ixp_remove(IxpClient *c, const char *path)
{
	char err[IXB_ERRMAX] = "";
	IxpCFid *f = walk(c, path);
	if (!f)
		return 0;
	int r = ixb_remove(CL(c)->b, f->fid, err);
	fid_free(f); /* remove(5): the fid is clunked whatever the outcome */
	return failed(r, err) < 0 ? 0 : 1;
}

static long pread_locked(IxpCFid *f, void *buf, long count, int64_t off)
{
	char err[IXB_ERRMAX] = "";
	long len = 0;
	if (count < 0 || off < 0) {
		ixp_seterr("bad count or offset");
		return -1;
	}
	while (len < count) {
		uint32_t n =
			(uint32_t)(count - len < (long)f->iounit ? count - len : (long)f->iounit);
		ssize_t r = ixb_read(CL(f->client)->b, f->fid, (uint64_t)off + (uint64_t)len,
				     (char *)buf + len, n, err);
		if (r < 0) {
			failed((int)r, err);
			return -1;
		}
		len += r;
		if ((uint32_t)r < n)
			break;
	}
	return len;
}

static long pwrite_locked(IxpCFid *f, const void *buf, long count, int64_t off)
{
	char err[IXB_ERRMAX] = "";
	long len = 0;
	if (count < 0 || off < 0) {
		ixp_seterr("bad count or offset");
		return -1;
	}
	do {
		uint32_t n =
			(uint32_t)(count - len < (long)f->iounit ? count - len : (long)f->iounit);
		ssize_t r = ixb_write(CL(f->client)->b, f->fid, (uint64_t)off + (uint64_t)len,
				      (const char *)buf + len, n, err);
		if (r < 0) {
			failed((int)r, err);
			return -1;
		}
		len += r;
		if ((uint32_t)r < n)
			break;
	} while (len < count);
	return len;
}

long ixp_read(IxpCFid *f, void *buf, long count)
{
	struct cfid *cf = cfid_of(f);
	pthread_mutex_lock(&cf->mu);
	long n = pread_locked(f, buf, count, (int64_t)f->offset);
	if (n > 0)
		f->offset += (uint64_t)n;
	pthread_mutex_unlock(&cf->mu);
	return n;
}

long ixp_pread(IxpCFid *f, void *buf, long count, int64_t off)
{
	return pread_locked(f, buf, count, off);
}

long ixp_write(IxpCFid *f, const void *buf, long count)
{
	struct cfid *cf = cfid_of(f);
	pthread_mutex_lock(&cf->mu);
	long n = pwrite_locked(f, buf, count, (int64_t)f->offset);
	if (n > 0)
		f->offset += (uint64_t)n;
	pthread_mutex_unlock(&cf->mu);
	return n;
}

long ixp_pwrite(IxpCFid *f, const void *buf, long count, int64_t off)
{
	return pwrite_locked(f, buf, count, off);
}

int ixp_vprint(IxpCFid *f, const char *fmt, va_list ap)
{
	char *s = ixp_vsmprint(fmt, ap);
	if (!s) {
		ixp_seterr("no memory");
		return -1;
	}
	long n = ixp_write(f, s, (long)strlen(s));
	free(s);
	return (int)n;
}

int ixp_print(IxpCFid *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = ixp_vprint(f, fmt, ap);
	va_end(ap);
	return n;
}

static IxpStat *stat_fid(IxpClient *c, uint32_t fid)
{
	char err[IXB_ERRMAX] = "";
	void *buf = NULL;
	size_t len = 0;
	int r = ixb_stat(CL(c)->b, fid, &buf, &len, err);
	if (r < 0) {
		failed(r, err);
		return NULL;
	}
	IxpMsg m = ixp_message(buf, (uint)len, MsgUnpack);
	IxpStat *st = ixp_emallocz(sizeof *st);
	ixp_pstat(&m, st);
	free(buf);
	if (m.pos > m.end) {
		ixp_freestat(st);
		free(st);
		ixp_seterr("bad stat record");
		return NULL;
	}
	return st;
}

IxpStat *ixp_stat(IxpClient *c, const char *path)
{
	IxpCFid *f = walk(c, path);
	if (!f)
		return NULL;
	IxpStat *st = stat_fid(c, f->fid);
	char err[IXB_ERRMAX];
	ixb_clunk(CL(c)->b, f->fid, err);
	fid_free(f);
	return st;
}

IxpStat *ixp_fstat(IxpCFid *f)
{
	return stat_fid(f->client, f->fid);
}
