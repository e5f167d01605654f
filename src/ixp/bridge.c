/*
 * bridge.c — the side of libboxfs-ixp that speaks boxfs's 9P codec and
 * client library: IxpClient's messages go through boxfs_rpc (tags, many
 * threads on one connection), in 9P2000, and 9P2000 error strings become
 * errnos for the server side. Called by client.c and srv9p.c through
 * bridge.h.
 */
#include "bridge.h"

#include <boxfs/9p.h>
#include <boxfs/client.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ixb_errno(const char *ename)
{
	return p9_errno(p9_cstr(ename));
}

struct ixb_client {
	struct boxfs_client *bc;
};

static void seterr(char *err, const char *s)
{
	if (err)
		snprintf(err, IXB_ERRMAX, "%s", s);
}

static void seterrno(char *err, int e)
{
	seterr(err, p9_errstr(e));
}

struct ixb_client *ixb_connect(int fd, const char *uname, uint32_t *msize, struct ixb_qid *rootqid,
			       char *err)
{
	struct boxfs_opts o = { .uname = uname, .aname = "", .version = "9P2000" };
	struct ixb_client *c = calloc(1, sizeof *c);
	if (!c) {
		seterrno(err, ENOMEM);
		close(fd);
		return NULL;
	}
	c->bc = boxfs_connect_fd(fd, fd, &o);
	if (!c->bc) {
		seterr(err, errno == EPROTONOSUPPORT ? "bad 9P version response" : strerror(errno));
		free(c);
		return NULL;
	}
	*msize = boxfs_msize(c->bc);
	/* the root's qid: a Tstat answers it without a walk */
	struct p9_fcall tx = { .type = P9_Tstat }, rx;
	tx.tstat.fid = boxfs_root_fid(c->bc);
	void *rb = NULL;
	memset(rootqid, 0, sizeof *rootqid);
	rootqid->type = P9_QTDIR;
	if (boxfs_rpc(c->bc, &tx, &rx, &rb) == 0 && rx.type == P9_Rstat) {
		rootqid->type = rx.rstat.stat.qid.type;
		rootqid->version = rx.rstat.stat.qid.version;
		rootqid->path = rx.rstat.stat.qid.path;
	}
	free(rb);
	return c;
}

uint32_t ixb_root_fid(struct ixb_client *c)
{
	return boxfs_root_fid(c->bc);
}

uint32_t ixb_fid_get(struct ixb_client *c)
{
	return boxfs_fid_get(c->bc);
}

void ixb_fid_put(struct ixb_client *c, uint32_t fid)
{
	boxfs_fid_put(c->bc, fid);
}

void ixb_disconnect(struct ixb_client *c)
{
	if (!c)
		return;
	boxfs_disconnect(c->bc);
	free(c);
}

/* Sends tx; on a reply of type want answers 0 with *rx and *rb (free it), on
 * an error reply its errno (negative) with its text in err. */
static int rpc(struct ixb_client *c, struct p9_fcall *tx, uint8_t want, struct p9_fcall *rx,
	       void **rb, char *err)
{
	*rb = NULL;
	int r = boxfs_rpc(c->bc, tx, rx, rb);
	if (r < 0) {
		seterr(err, r == -EPIPE || r == -ECONNRESET ? "broken pipe" : strerror(-r));
		return r;
	}
	if (rx->type == P9_Rerror) {
		char s[IXB_ERRMAX];
		size_t n =
			rx->rerror.ename.len < sizeof s - 1 ? rx->rerror.ename.len : sizeof s - 1;
		memcpy(s, rx->rerror.ename.s, n);
		s[n] = '\0';
		seterr(err, s);
		r = -p9_errno(rx->rerror.ename);
	} else if (rx->type != want) {
		seterr(err, "received mismatched fcall");
		r = -EPROTO;
	}
	if (r < 0) {
		free(*rb);
		*rb = NULL;
	}
	return r;
}

static void qid_out(struct ixb_qid *q, const struct p9_qid *p)
{
	q->type = p->type;
	q->version = p->version;
	q->path = p->path;
}

int ixb_walk(struct ixb_client *c, uint32_t fid, uint32_t newfid, unsigned nwname, char **wname,
	     struct ixb_qid *wqid, char *err)
{
	if (nwname > P9_MAXWELEM) {
		seterrno(err, ENAMETOOLONG);
		return -ENAMETOOLONG;
	}
	struct p9_fcall tx = { .type = P9_Twalk }, rx;
	tx.twalk.fid = fid;
	tx.twalk.newfid = newfid;
	tx.twalk.nwname = (uint16_t)nwname;
	for (unsigned i = 0; i < nwname; i++) {
		if (strlen(wname[i]) > 65535) {
			seterrno(err, ENAMETOOLONG);
			return -ENAMETOOLONG;
		}
		tx.twalk.wname[i] = p9_cstr(wname[i]);
	}
	void *rb;
	int r = rpc(c, &tx, P9_Rwalk, &rx, &rb, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < rx.rwalk.nwqid; i++)
		qid_out(&wqid[i], &rx.rwalk.wqid[i]);
	r = rx.rwalk.nwqid;
	free(rb);
	return r;
}

int ixb_open(struct ixb_client *c, uint32_t fid, const char *name, uint32_t perm, uint8_t mode,
	     struct ixb_qid *qid, uint32_t *iounit, char *err)
{
	struct p9_fcall tx, rx;
	memset(&tx, 0, sizeof tx);
	if (name) {
		if (strlen(name) > 65535) {
			seterrno(err, ENAMETOOLONG);
			return -ENAMETOOLONG;
		}
		tx.type = P9_Tcreate;
		tx.tcreate.fid = fid;
		tx.tcreate.name = p9_cstr(name);
		tx.tcreate.perm = perm;
		tx.tcreate.mode = mode;
	} else {
		tx.type = P9_Topen;
		tx.topen.fid = fid;
		tx.topen.mode = mode;
	}
	void *rb;
	int r = rpc(c, &tx, name ? P9_Rcreate : P9_Ropen, &rx, &rb, err);
	if (r < 0)
		return r;
	qid_out(qid, &rx.ropen.qid);
	*iounit = rx.ropen.iounit;
	free(rb);
	return 0;
}

static int fidcall(struct ixb_client *c, uint8_t type, uint32_t fid, char *err)
{
	struct p9_fcall tx = { .type = type }, rx;
	tx.tclunk.fid = fid;
	void *rb;
	int r = rpc(c, &tx, type + 1, &rx, &rb, err);
	free(rb);
	return r;
}

int ixb_clunk(struct ixb_client *c, uint32_t fid, char *err)
{
	return fidcall(c, P9_Tclunk, fid, err);
}

int ixb_remove(struct ixb_client *c, uint32_t fid, char *err)
{
	return fidcall(c, P9_Tremove, fid, err);
}

ssize_t ixb_read(struct ixb_client *c, uint32_t fid, uint64_t off, void *buf, uint32_t count,
		 char *err)
{
	struct p9_fcall tx = { .type = P9_Tread }, rx;
	tx.tread.fid = fid;
	tx.tread.offset = off;
	tx.tread.count = count;
	void *rb;
	int r = rpc(c, &tx, P9_Rread, &rx, &rb, err);
	if (r < 0)
		return r;
	if (rx.rread.count > count) {
		free(rb);
		seterr(err, "server answered more than asked");
		return -EPROTO;
	}
	memcpy(buf, rx.rread.data, rx.rread.count);
	free(rb);
	return rx.rread.count;
}

ssize_t ixb_write(struct ixb_client *c, uint32_t fid, uint64_t off, const void *buf, uint32_t count,
		  char *err)
{
	struct p9_fcall tx = { .type = P9_Twrite }, rx;
	tx.twrite.fid = fid;
	tx.twrite.offset = off;
	tx.twrite.count = count;
	tx.twrite.data = buf;
	void *rb;
	int r = rpc(c, &tx, P9_Rwrite, &rx, &rb, err);
	if (r < 0)
		return r;
	free(rb);
	return rx.rwrite.count;
}

int ixb_stat(struct ixb_client *c, uint32_t fid, void **buf, size_t *len, char *err)
{
	struct p9_fcall tx = { .type = P9_Tstat }, rx;
	tx.tstat.fid = fid;
	void *rb;
	int r = rpc(c, &tx, P9_Rstat, &rx, &rb, err);
	if (r < 0)
		return r;
	size_t n = p9_stat_size(&rx.rstat.stat, P9_2000);
	void *out = malloc(n);
	ssize_t k = out ? p9_stat_pack(out, n, &rx.rstat.stat, P9_2000) : -ENOMEM;
	free(rb);
	if (k < 0) {
		free(out);
		seterrno(err, (int)-k);
		return (int)k;
	}
	*buf = out;
	*len = (size_t)k;
	return 0;
}
