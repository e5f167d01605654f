/*
 * ninep.c — the boxfs side of boxfs-bench: a RAM server on a Unix socket (a
 * thread of this process, or a forked child running the loop on its main
 * thread), the file every Tread reads, and two ways to talk to the server:
 *
 *   raw9p: a minimal synchronous loop on a blocking socket: p9_pack the
 *     T-message, write it, read the reply (one read for a small one), and
 *     p9_unpack it. No tags in flight, no threads: the least a 9P client
 *     can do, so it measures the server.
 *   lib9p: the client library (boxfs_rpc, boxfs_stat, boxfs_pread), which
 *     adds its tag multiplexer, its reply buffers and its copies.
 */
#include "bench.h"

#include <boxfs/ramfs.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- servers ---- */

/* A server listening on dial, or NULL with *err set. */
static struct boxfs_server *server_new(const char *dial, int *err)
{
	struct boxfs_server *srv = boxfs_server_new(NULL);
	if (!srv) {
		*err = -errno;
		return NULL;
	}
	*err = boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL));
	if (*err == 0)
		*err = boxfs_server_listen(srv, "9p", dial);
	if (*err < 0) {
		boxfs_server_free(srv);
		return NULL;
	}
	return srv;
}

int bench_server_start(struct bench_server *s, bool proc, const char *dir, const char *name)
{
	*s = (struct bench_server){ .proc = proc };
	if ((size_t)snprintf(s->dial, sizeof s->dial, "unix!%s/%s", dir, name) >= sizeof s->dial)
		return -ENAMETOOLONG;
	int rc;
	if (!proc) {
		s->srv = server_new(s->dial, &rc);
		if (s->srv && (rc = boxfs_server_start(s->srv)) < 0) {
			boxfs_server_free(s->srv);
			s->srv = NULL;
		}
		return rc;
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	s->pid = fork();
	if (s->pid < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pfd[0]);
		struct boxfs_server *srv = server_new(s->dial, &rc);
		int8_t status = (int8_t)rc;
		if (write(pfd[1], &status, 1) != 1 || !srv)
			_exit(1);
		close(pfd[1]);
		boxfs_server_run(srv); /* until the bench kills us */
		_exit(0);
	}
	close(pfd[1]);
	int8_t status = -EIO;
	if (read(pfd[0], &status, 1) != 1)
		status = -EIO;
	close(pfd[0]);
	if (status < 0) {
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	return status;
}

void bench_server_stop(struct bench_server *s)
{
	if (s->srv)
		boxfs_server_free(s->srv);
	s->srv = NULL;
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	s->pid = 0;
}

int bench_fill_file(const char *dial, unsigned mib, double *mbps)
{
	struct boxfs_client *c = boxfs_connect(dial, NULL);
	if (!c)
		return -errno;
	int rc = 0;
	uint8_t *buf = malloc(BENCH_CHUNK);
	struct boxfs_file *f = boxfs_open(c, "/" BENCH_FILE, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (!buf || !f) {
		rc = buf ? -errno : -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < BENCH_CHUNK; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < mib && rc == 0; i++) {
		ssize_t n = boxfs_pwrite(f, buf, BENCH_CHUNK, (off_t)i * BENCH_CHUNK);
		if (n != BENCH_CHUNK)
			rc = n < 0 ? (int)n : -EIO;
	}
	*mbps = (double)mib * BENCH_CHUNK / ((double)(bench_now_ns() - t0) / 1e9) / 1e6;
out:
	if (f)
		boxfs_close(f);
	free(buf);
	boxfs_disconnect(c);
	return rc;
}

/* ---- the hand-rolled loop ---- */

struct raw9p {
	int fd;
	uint32_t msize;
	uint64_t nchunks;
	uint8_t tbuf[512];
	uint8_t *rbuf; /* msize bytes: the largest reply */
};

static int unix_connect(const char *dial)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strncmp(dial, "unix!", 5) != 0 || strlen(dial + 5) >= sizeof sa.sun_path)
		return -EINVAL;
	strcpy(sa.sun_path, dial + 5);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* One synchronous exchange: 0 with *rx a view into r->rbuf, or -errno
 * (an Rlerror's number included). */
static int raw_rpc(struct raw9p *r, const struct p9_fcall *tx, struct p9_fcall *rx, uint8_t want)
{
	ssize_t n = p9_pack(r->tbuf, sizeof r->tbuf, tx, P9_2000L);
	if (n < 0)
		return (int)n;
	int rc = bench_write_full(r->fd, r->tbuf, (size_t)n);
	if (rc < 0)
		return rc;
	size_t have = 0;
	while (have < 4) {
		ssize_t k = read(r->fd, r->rbuf + have, r->msize - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		have += (size_t)k;
	}
	ssize_t size = p9_frame_size(r->rbuf, r->msize);
	if (size < 0)
		return (int)size;
	if (have > (size_t)size)
		return -EPROTO; /* one request in flight: one reply */
	if (have < (size_t)size &&
	    (rc = bench_read_full(r->fd, r->rbuf + have, (size_t)size - have)) < 0)
		return rc;
	if ((rc = p9_unpack(rx, r->rbuf, (size_t)size, P9_2000L)) < 0)
		return rc;
	if (rx->type == P9_Rlerror)
		return -(int)rx->rlerror.ecode;
	return rx->type == want && rx->tag == tx->tag ? 0 : -EPROTO;
}

struct raw9p *raw9p_open(const char *dial, unsigned file_mib)
{
	struct raw9p *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->msize = BENCH_MSIZE;
	r->nchunks = file_mib ? file_mib : 1;
	r->rbuf = malloc(r->msize);
	r->fd = r->rbuf ? unix_connect(dial) : -ENOMEM;
	int rc = r->fd;
	if (rc < 0)
		goto fail;
	struct p9_fcall tx = { .type = P9_Tversion, .tag = P9_NOTAG }, rx;
	tx.tversion = (struct p9_version){ r->msize, p9_cstr("9P2000.L") };
	if ((rc = raw_rpc(r, &tx, &rx, P9_Rversion)) < 0)
		goto fail;
	if (rx.rversion.msize < r->msize) {
		rc = -EMSGSIZE;
		goto fail;
	}
	tx = (struct p9_fcall){ .type = P9_Tattach, .tag = 1 };
	tx.tattach = (struct p9_tattach){ 0, P9_NOFID, p9_cstr(""), p9_cstr(""), getuid() };
	if ((rc = raw_rpc(r, &tx, &rx, P9_Rattach)) < 0)
		goto fail;
	tx = (struct p9_fcall){ .type = P9_Twalk, .tag = 1 };
	tx.twalk.fid = 0;
	tx.twalk.newfid = 1;
	tx.twalk.nwname = 1;
	tx.twalk.wname[0] = p9_cstr(BENCH_FILE);
	if ((rc = raw_rpc(r, &tx, &rx, P9_Rwalk)) < 0)
		goto fail;
	if (rx.rwalk.nwqid != 1) {
		rc = -ENOENT;
		goto fail;
	}
	tx = (struct p9_fcall){ .type = P9_Tlopen, .tag = 1, .tlopen = { 1, O_RDONLY } };
	if ((rc = raw_rpc(r, &tx, &rx, P9_Rlopen)) < 0)
		goto fail;
	return r;
fail:
	raw9p_close(r);
	errno = -rc;
	return NULL;
}

static const struct p9_fcall tgetattr = { .type = P9_Tgetattr,
					  .tag = 1,
					  .tgetattr = { 0, P9_GETATTR_BASIC } };

void raw9p_getattr_sizes(size_t *req, size_t *rep)
{
	struct p9_fcall r = { .type = P9_Rgetattr };
	*req = p9_size(&tgetattr, P9_2000L);
	*rep = p9_size(&r, P9_2000L);
}

int raw9p_getattr_op(void *ctx)
{
	struct p9_fcall rx;
	return raw_rpc(ctx, &tgetattr, &rx, P9_Rgetattr);
}

int raw9p_read_chunk(void *ctx, uint64_t i)
{
	struct raw9p *r = ctx;
	struct p9_fcall tx = { .type = P9_Tread, .tag = 1 }, rx;
	tx.tread = (struct p9_tread){ 1, i % r->nchunks * BENCH_CHUNK, BENCH_CHUNK };
	int rc = raw_rpc(r, &tx, &rx, P9_Rread);
	return rc < 0 ? rc : rx.rread.count == BENCH_CHUNK ? 0 : -EIO;
}

void raw9p_close(struct raw9p *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r->rbuf);
	free(r);
}

/* ---- the client library ---- */

struct lib9p {
	struct boxfs_client *c;
	struct boxfs_file *f;
	uint64_t nchunks;
	uint8_t *buf;
};

struct lib9p *lib9p_open(const char *dial, unsigned file_mib)
{
	struct lib9p *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->nchunks = file_mib ? file_mib : 1;
	l->buf = malloc(BENCH_CHUNK);
	struct boxfs_opts o = { .msize = BENCH_MSIZE };
	l->c = l->buf ? boxfs_connect(dial, &o) : NULL;
	if (l->c)
		l->f = boxfs_open(l->c, "/" BENCH_FILE, O_RDONLY, 0);
	if (!l->f) {
		int e = l->buf ? errno : ENOMEM;
		lib9p_close(l);
		errno = e;
		return NULL;
	}
	return l;
}

int lib9p_getattr_op(void *ctx)
{
	struct lib9p *l = ctx;
	struct p9_fcall tx = { .type = P9_Tgetattr }, rx;
	tx.tgetattr = (struct p9_tgetattr){ boxfs_root_fid(l->c), P9_GETATTR_BASIC };
	void *rbuf;
	int rc = boxfs_rpc(l->c, &tx, &rx, &rbuf);
	if (rc == 0 && rx.type != P9_Rgetattr)
		rc = rx.type == P9_Rlerror ? -(int)rx.rlerror.ecode : -EPROTO;
	free(rbuf);
	return rc;
}

int lib9p_stat_op(void *ctx)
{
	struct lib9p *l = ctx;
	struct stat st;
	return boxfs_stat(l->c, "/" BENCH_FILE, &st);
}

int lib9p_pread_chunk(void *ctx, uint64_t i)
{
	struct lib9p *l = ctx;
	ssize_t n = boxfs_pread(l->f, l->buf, BENCH_CHUNK, (off_t)(i % l->nchunks * BENCH_CHUNK));
	return n == BENCH_CHUNK ? 0 : n < 0 ? (int)n : -EIO;
}

void lib9p_close(struct lib9p *l)
{
	if (!l)
		return;
	if (l->f)
		boxfs_close(l->f);
	if (l->c)
		boxfs_disconnect(l->c);
	free(l->buf);
	free(l);
}
