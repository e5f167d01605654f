/*
 * client.c — the 9P client: connecting (dial, Tversion with dialect
 * fall-back, Tattach), sending messages through the tag multiplexer, the fid
 * pool, and walks. The POSIX-like layer (posix.c) and tools call it.
 *
 * Tversion is exchanged on the bare descriptors before the multiplexer
 * exists (it alone uses NOTAG); every later message goes through bx_mux, so
 * all of this is safe to use from many threads at once.
 */
#include "client/client_impl.h"

#include <errno.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/dial.h"

#define DEFAULT_MSIZE (1048576u + P9_IOHDRSZ)

/* ---- the multiplexer's view of 9P: size[4] type[1] tag[2] ---- */

static ssize_t p9_mux_frame_size(const void *hdr, void *aux)
{
	(void)aux;
	return p9_frame_size(hdr, 0);
}

static uint32_t p9_mux_get_tag(const void *hdr, void *aux)
{
	(void)aux;
	const uint8_t *p = hdr;
	return (uint32_t)(p[5] | p[6] << 8);
}

static void p9_mux_set_tag(void *hdr, uint32_t tag, void *aux)
{
	(void)aux;
	uint8_t *p = hdr;
	p[5] = (uint8_t)tag;
	p[6] = (uint8_t)(tag >> 8);
}

static const struct bx_mux_proto p9_mux_proto = {
	.hdr_len = P9_HDRSZ,
	.frame_size = p9_mux_frame_size,
	.get_tag = p9_mux_get_tag,
	.set_tag = p9_mux_set_tag,
	.tag_min = 0,
	.tag_max = P9_NOTAG - 1,
};

/* ---- replies ---- */

int boxfs_reply_errno(const struct p9_fcall *f)
{
	int e;
	if (f->type == P9_Rlerror)
		e = (int)f->rlerror.ecode;
	else if (f->type == P9_Rerror)
		e = f->rerror.errnum ? (int)f->rerror.errnum : p9_errno(f->rerror.ename);
	else
		return 0;
	return e > 0 && e < 4096 ? e : EIO;
}

void p9c_reply_done(struct p9c_reply *r)
{
	if (r->buf != r->small)
		free(r->buf);
	r->buf = NULL;
}

/* Sends tx, waits and decodes whatever comes back into r. */
static int rpc_raw(struct boxfs_client *c, const struct p9_fcall *tx, struct p9c_reply *r)
{
	uint8_t small[P9C_SMALL];
	r->buf = NULL;
	size_t n = p9_size(tx, c->d);
	if (n == 0)
		return -EINVAL;
	if (n > c->msize)
		return tx->type == P9_Twalk || tx->type == P9_Tlcreate ? -ENAMETOOLONG : -EMSGSIZE;
	uint8_t *tb = n <= sizeof small ? small : malloc(n);
	if (!tb)
		return -ENOMEM;
	ssize_t k = p9_pack(tb, n, tx, c->d);
	if (k < 0) {
		if (tb != small)
			free(tb);
		return (int)k;
	}
	struct iovec iov = { tb, (size_t)k };
	struct bx_mux_msg msg = {
		.iov = &iov, .iovcnt = 1, .rbuf = r->small, .rcap = sizeof r->small
	};
	int rc = bx_mux_call(c->mux, &msg);
	if (tb != small)
		free(tb);
	if (rc < 0)
		return rc;
	r->buf = msg.reply;
	rc = p9_unpack(&r->f, msg.reply, msg.rlen, c->d);
	return rc < 0 ? -EPROTO : 0;
}

int p9c_rpc(struct boxfs_client *c, const struct p9_fcall *tx, struct p9c_reply *r, uint8_t want)
{
	int rc = rpc_raw(c, tx, r);
	if (rc < 0)
		return rc;
	int e = boxfs_reply_errno(&r->f);
	if (e)
		return -e;
	return r->f.type == want ? 0 : -EPROTO;
}

ssize_t p9c_write(struct boxfs_client *c, uint32_t fid, uint64_t off, const void *data, uint32_t n)
{
	/* the header of a Twrite with no data, then patched: the data go out as is */
	struct p9_fcall tx = { .type = P9_Twrite,
			       .twrite = { .fid = fid, .offset = off, .count = 0, .data = NULL } };
	uint8_t hdr[32];
	ssize_t k = p9_pack(hdr, sizeof hdr, &tx, c->d);
	if (k != 23)
		return k < 0 ? k : -EPROTO;
	uint32_t size = 23 + n;
	for (int i = 0; i < 4; i++) {
		hdr[i] = (uint8_t)(size >> (8 * i));
		hdr[19 + i] = (uint8_t)(n >> (8 * i));
	}
	struct p9c_reply r;
	struct iovec iov[2] = { { hdr, 23 }, { (void *)data, n } };
	struct bx_mux_msg msg = {
		.iov = iov, .iovcnt = n ? 2 : 1, .rbuf = r.small, .rcap = sizeof r.small
	};
	int rc = bx_mux_call(c->mux, &msg);
	if (rc < 0)
		return rc;
	r.buf = msg.reply;
	rc = p9_unpack(&r.f, msg.reply, msg.rlen, c->d);
	if (rc == 0)
		rc = -boxfs_reply_errno(&r.f);
	if (rc == 0 && r.f.type != P9_Rwrite)
		rc = -EPROTO;
	ssize_t got = rc < 0 ? rc : (ssize_t)r.f.rwrite.count;
	p9c_reply_done(&r);
	if (got > (ssize_t)n)
		return -EPROTO;
	return got;
}

uint32_t p9c_iomax(const struct boxfs_client *c, uint32_t iounit)
{
	uint32_t m = p9_iocount(c->msize, UINT32_MAX);
	return iounit && iounit < m ? iounit : m;
}

/* ---- fids ---- */

uint32_t p9c_fid_get(struct boxfs_client *c)
{
	uint32_t fid = P9_NOFID;
	pthread_mutex_lock(&c->fidlk);
	if (c->nfree)
		fid = c->freefids[--c->nfree];
	else if (c->nextfid < P9_NOFID)
		fid = c->nextfid++;
	pthread_mutex_unlock(&c->fidlk);
	return fid;
}

void p9c_fid_put(struct boxfs_client *c, uint32_t fid)
{
	if (fid == P9_NOFID)
		return;
	pthread_mutex_lock(&c->fidlk);
	if (c->nfree == c->capfree) {
		uint32_t cap = c->capfree ? c->capfree * 2 : 64;
		uint32_t *p = realloc(c->freefids, cap * sizeof *p);
		if (!p) {
			/* leak the number rather than fail: fids are plentiful */
			pthread_mutex_unlock(&c->fidlk);
			return;
		}
		c->freefids = p;
		c->capfree = cap;
	}
	c->freefids[c->nfree++] = fid;
	pthread_mutex_unlock(&c->fidlk);
}

int p9c_clunk(struct boxfs_client *c, uint32_t fid)
{
	struct p9_fcall tx = { .type = P9_Tclunk, .tclunk = { fid } };
	struct p9c_reply r;
	int rc = p9c_rpc(c, &tx, &r, P9_Rclunk);
	p9c_reply_done(&r);
	p9c_fid_put(c, fid); /* clunk(5): the fid is gone even on error */
	return rc;
}

/* ---- paths and walks ---- */

int p9c_path_split(const char *path, struct p9c_path *p)
{
	size_t len = strlen(path);
	p->buf = malloc(len + 1);
	p->names = malloc((len / 2 + 2) * sizeof p->names[0]);
	p->n = 0;
	if (!p->buf || !p->names) {
		p9c_path_free(p);
		return -ENOMEM;
	}
	memcpy(p->buf, path, len + 1);
	for (char *s = p->buf; *s;) {
		while (*s == '/')
			*s++ = '\0';
		if (!*s)
			break;
		p->names[p->n++] = s;
		while (*s && *s != '/')
			s++;
	}
	for (int i = 0; i < p->n; i++)
		if (strlen(p->names[i]) > UINT16_MAX)
			return p9c_path_free(p), -ENAMETOOLONG;
	return 0;
}

void p9c_path_free(struct p9c_path *p)
{
	free(p->buf);
	free(p->names);
	p->buf = NULL;
	p->names = NULL;
	p->n = 0;
}

int p9c_walk(struct boxfs_client *c, const char *const *names, int n, uint32_t *fidp,
	     struct p9_qid *qid)
{
	uint32_t fid = p9c_fid_get(c);
	if (fid == P9_NOFID)
		return -EMFILE;
	uint32_t from = c->root;
	*qid = c->rootqid;
	int i = 0;
	do {
		int k = n - i > P9_MAXWELEM ? P9_MAXWELEM : n - i;
		struct p9_fcall tx = {
			.type = P9_Twalk,
			.twalk = { .fid = from, .newfid = fid, .nwname = (uint16_t)k }
		};
		for (int j = 0; j < k; j++)
			tx.twalk.wname[j] = p9_cstr(names[i + j]);
		struct p9c_reply r;
		int rc = p9c_rpc(c, &tx, &r, P9_Rwalk);
		if (rc == 0 && r.f.rwalk.nwqid != k) {
			/* walk(5): a short walk did not create newfid */
			if (r.f.rwalk.nwqid > k)
				rc = -EPROTO;
			else if (r.f.rwalk.nwqid > 0)
				*qid = r.f.rwalk.wqid[r.f.rwalk.nwqid - 1];
			if (rc == 0)
				rc = -ENOENT;
		} else if (rc == 0 && k > 0) {
			*qid = r.f.rwalk.wqid[k - 1];
		}
		/* a name under something that is not a directory */
		if (rc == -ENOENT && !(qid->type & P9_QTDIR))
			rc = -ENOTDIR;
		p9c_reply_done(&r);
		if (rc < 0) {
			if (from == fid)
				p9c_clunk(c, fid); /* it still names the earlier piece's end */
			else
				p9c_fid_put(c, fid);
			return rc;
		}
		from = fid;
		i += k;
	} while (i < n);
	*fidp = fid;
	return 0;
}

/* ---- connecting ---- */

static int read_exact(int fd, uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t k = read(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ECONNRESET;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_exact(int fd, const uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == ENOTSOCK)
			k = write(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * One Tversion for dialect d on the bare descriptors: 1 with *got and *msize
 * when the server agrees to d or an older dialect, 0 when it refuses, -errno
 * when the connection fails.
 */
static int version_try(int rfd, int wfd, enum p9_dialect d, uint32_t *msize, enum p9_dialect *got)
{
	uint8_t buf[256];
	struct p9_fcall tx = { .type = P9_Tversion,
			       .tag = P9_NOTAG,
			       .tversion = { *msize, p9_cstr(p9_dialect_name(d)) } };
	ssize_t n = p9_pack(buf, sizeof buf, &tx, d);
	if (n < 0)
		return (int)n;
	int rc = write_exact(wfd, buf, (size_t)n);
	if (rc == 0)
		rc = read_exact(rfd, buf, 4);
	if (rc < 0)
		return rc;
	ssize_t size = p9_frame_size(buf, sizeof buf);
	if (size < 0)
		return -EPROTO;
	rc = read_exact(rfd, buf + 4, (size_t)size - 4);
	if (rc < 0)
		return rc;
	struct p9_fcall rx;
	if (p9_unpack(&rx, buf, (size_t)size, d) < 0 || rx.type != P9_Rversion)
		return 0; /* Rerror, Rlerror, or garbage: try an older dialect */
	enum p9_dialect v;
	if (rx.tag != P9_NOTAG || p9_version_parse(rx.rversion.version, &v) < 0 || v > d)
		return 0; /* "unknown", or not something we asked for */
	if (rx.rversion.msize < P9_MIN_MSIZE)
		return -EPROTO;
	if (rx.rversion.msize < *msize)
		*msize = rx.rversion.msize;
	*got = v;
	return 1;
}

static int attach(struct boxfs_client *c, const struct boxfs_opts *o)
{
	char namebuf[256];
	const char *uname = o->uname;
	if (!uname) {
		struct passwd pw, *pp = NULL;
		char tmp[1024];
		uname = "nobody";
		if (getpwuid_r(geteuid(), &pw, tmp, sizeof tmp, &pp) == 0 && pp) {
			snprintf(namebuf, sizeof namebuf, "%s", pp->pw_name);
			uname = namebuf;
		}
	}
	c->root = p9c_fid_get(c);
	struct p9_fcall tx = {
		.type = P9_Tattach,
		.tattach = { .fid = c->root,
			     .afid = P9_NOFID,
			     .uname = p9_cstr(uname),
			     .aname = p9_cstr(o->aname ? o->aname : ""),
			     .n_uname = o->has_n_uname ? o->n_uname : (uint32_t)geteuid() },
	};
	struct p9c_reply r;
	int rc = p9c_rpc(c, &tx, &r, P9_Rattach);
	if (rc == 0)
		c->rootqid = r.f.rattach.qid;
	p9c_reply_done(&r);
	return rc;
}

struct boxfs_client *boxfs_connect_fd(int rfd, int wfd, const struct boxfs_opts *o)
{
	static const struct boxfs_opts defaults;
	static atomic_uint serial;
	if (!o)
		o = &defaults;
	int rc = -ENOMEM;
	struct boxfs_client *c = calloc(1, sizeof *c);
	if (!c)
		goto fail_fds;
	pthread_mutex_init(&c->fidlk, NULL);

	enum p9_dialect want = P9_2000L;
	if (o->version) {
		struct p9_str v = p9_cstr(o->version);
		rc = p9_version_parse(v, &want);
		if (rc < 0)
			goto fail_fds;
	}
	c->msize = o->msize ? o->msize : DEFAULT_MSIZE;
	if (c->msize < P9_MIN_MSIZE) {
		rc = -EINVAL;
		goto fail_fds;
	}
	rc = 0;
	for (int d = (int)want; d >= 0 && rc == 0; d--)
		rc = version_try(rfd, wfd, (enum p9_dialect)d, &c->msize, &c->d);
	if (rc <= 0) {
		rc = rc < 0 ? rc : -EPROTONOSUPPORT;
		goto fail_fds;
	}
	c->mux = bx_mux_new(rfd, wfd, &p9_mux_proto, c->msize);
	if (!c->mux) {
		rc = -errno;
		goto fail; /* the fds are closed */
	}
	snprintf(c->client_id, sizeof c->client_id, "boxfs-%ld-%u", (long)getpid(),
		 atomic_fetch_add(&serial, 1));
	rc = attach(c, o);
	if (rc < 0)
		goto fail;
	return c;

fail_fds:
	close(rfd);
	if (wfd != rfd)
		close(wfd);
fail:
	if (c) {
		bx_mux_free(c->mux);
		free(c->freefids);
		pthread_mutex_destroy(&c->fidlk);
		free(c);
	}
	errno = -rc;
	return NULL;
}

struct boxfs_client *boxfs_connect(const char *dial, const struct boxfs_opts *o)
{
	struct bx_addr a;
	int rc = bx_addr_parse(&a, dial);
	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	if (a.net == BX_NET_FD)
		return boxfs_connect_fd(a.rfd, a.wfd, o);
	int fd = bx_dial(dial);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	return boxfs_connect_fd(fd, fd, o);
}

void boxfs_disconnect(struct boxfs_client *c)
{
	if (!c)
		return;
	p9c_clunk(c, c->root);
	bx_mux_free(c->mux);
	free(c->freefids);
	pthread_mutex_destroy(&c->fidlk);
	free(c);
}

enum p9_dialect boxfs_dialect(const struct boxfs_client *c)
{
	return c->d;
}

uint32_t boxfs_msize(const struct boxfs_client *c)
{
	return c->msize;
}

int boxfs_conn_error(struct boxfs_client *c)
{
	return bx_mux_error(c->mux);
}

/* ---- raw access ---- */

uint32_t boxfs_root_fid(const struct boxfs_client *c)
{
	return c->root;
}

uint32_t boxfs_fid_get(struct boxfs_client *c)
{
	return p9c_fid_get(c);
}

void boxfs_fid_put(struct boxfs_client *c, uint32_t fid)
{
	p9c_fid_put(c, fid);
}

int boxfs_rpc(struct boxfs_client *c, const struct p9_fcall *tx, struct p9_fcall *rx, void **rbuf)
{
	struct p9c_reply r;
	*rbuf = NULL;
	int rc = rpc_raw(c, tx, &r);
	if (rc < 0) {
		p9c_reply_done(&r);
		return rc;
	}
	if (r.buf == r.small) {
		/* give the caller a buffer of its own, and repoint the views */
		size_t len = p9_frame_size(r.small, 0) > 0 ? (size_t)p9_frame_size(r.small, 0) : 0;
		void *copy = malloc(len ? len : 1);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, r.small, len);
		if (p9_unpack(&r.f, copy, len, c->d) < 0) {
			free(copy);
			return -EPROTO;
		}
		r.buf = copy;
	}
	*rx = r.f;
	*rbuf = r.buf;
	return 0;
}

struct async_ctx {
	boxfs_rpc_cb cb;
	void *arg;
	enum p9_dialect d;
};

static void async_done(void *arg, int err, void *reply, size_t len)
{
	struct async_ctx ctx = *(struct async_ctx *)arg;
	free(arg);
	struct p9_fcall rx;
	if (err == 0 && p9_unpack(&rx, reply, len, ctx.d) < 0)
		err = -EPROTO;
	if (err < 0) {
		free(reply);
		ctx.cb(ctx.arg, err, NULL, NULL);
		return;
	}
	ctx.cb(ctx.arg, 0, &rx, reply);
}

int boxfs_rpc_async(struct boxfs_client *c, const struct p9_fcall *tx, boxfs_rpc_cb cb, void *arg)
{
	size_t n = p9_size(tx, c->d);
	if (n == 0 || !cb)
		return -EINVAL;
	if (n > c->msize)
		return -EMSGSIZE;
	struct async_ctx *ctx = malloc(sizeof *ctx);
	uint8_t *tb = malloc(n);
	if (!ctx || !tb) {
		free(ctx);
		free(tb);
		return -ENOMEM;
	}
	*ctx = (struct async_ctx){ cb, arg, c->d };
	ssize_t k = p9_pack(tb, n, tx, c->d);
	int rc = (int)k;
	if (k >= 0) {
		struct iovec iov = { tb, (size_t)k };
		rc = bx_mux_call_async(c->mux, &iov, 1, async_done, ctx);
	}
	free(tb);
	if (rc < 0) {
		free(ctx);
		return rc;
	}
	return 0;
}
