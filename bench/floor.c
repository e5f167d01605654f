/*
 * floor.c — the raw floors boxfs is measured against: what a Unix stream
 * socket costs with no 9P at all, between the same two parties (two threads
 * of this process, or this process and a forked child).
 *
 *   ping-pong: the client writes a request of the Tgetattr's size and reads
 *     back a reply of the Rgetattr's size; the echo side does blocking read
 *     and write (or, as a diagnostic, waits in epoll_wait on a non-blocking
 *     socket and answers with send(MSG_DONTWAIT), the way the server's loop
 *     does). For memfiles (memfile.c), two exchanges of other sizes in a row,
 *     the bytes of a lock and an unlock, make one round of the floor.
 *   streaming: one side writes Rread-sized chunks (11 + 1 MiB) back to back,
 *     the other reads each whole into one buffer; or, as diagnostics, each
 *     chunk answers a small request (a synchronous Tread's shape, no 9P), and
 *     that plus a memcpy of the chunk from a file-sized buffer into the
 *     reply first (what the RAM backend's read does).
 *   mutex: a process-shared pthread mutex in a shared anonymous mapping,
 *     locked, one byte beside it changed, unlocked: what a memfile critical
 *     section costs when the lock is a userspace atomic instead of a server.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- ping-pong ---- */

struct floor_pp {
	int fd;
	size_t req, rep;
	size_t req2, rep2; /* a second exchange per op, when req2 is not 0 */
	bool epoll_echo;
	unsigned poll_us;     /* the blocking echo first polls this long for a request */
	uint8_t *cbuf, *ebuf; /* the client's and the echo side's */
	struct bench_peer peer;
};

/* Reads a whole request, after polling for its first bytes for up to poll_us
 * (what the server's loop does before it sleeps). */
static int echo_read(int fd, uint8_t *buf, size_t n, unsigned poll_us)
{
	uint64_t end = poll_us ? bench_now_ns() + poll_us * 1000ull : 0;
	while (end) {
		ssize_t k = recv(fd, buf, n, MSG_DONTWAIT);
		if (k == 0)
			return -EPIPE;
		if (k > 0) {
			buf += k;
			n -= (size_t)k;
			break;
		}
		if ((errno != EAGAIN && errno != EINTR) || bench_now_ns() >= end)
			break;
	}
	return bench_read_full(fd, buf, n);
}

/* Blocking echo: read a whole request, write a whole reply (and the same for
 * the second exchange), until EOF. */
static void pp_echo(int fd, void *arg)
{
	struct floor_pp *f = arg;
	while (echo_read(fd, f->ebuf, f->req, f->poll_us) == 0) {
		if (bench_write_full(fd, f->ebuf, f->rep) < 0)
			break;
		if (f->req2 && (echo_read(fd, f->ebuf, f->req2, f->poll_us) < 0 ||
				bench_write_full(fd, f->ebuf, f->rep2) < 0))
			break;
	}
}

/* Event-loop echo: epoll_wait, read what is there, answer each whole request
 * with one non-blocking send (the reply is small: it always fits). */
static void pp_echo_epoll(int fd, void *arg)
{
	struct floor_pp *f = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		return;
	size_t have = 0;
	for (;;) {
		if (epoll_wait(ep, &ev, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		size_t cap = f->req > f->rep ? f->req : f->rep;
		ssize_t k = read(fd, f->ebuf + have, cap - have);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0)
			break;
		have += (size_t)k;
		if (have >= f->req) {
			have = 0;
			if (send(fd, f->ebuf, f->rep, MSG_DONTWAIT | MSG_NOSIGNAL) !=
			    (ssize_t)f->rep)
				break;
		}
	}
	close(ep);
}

static size_t max2(size_t a, size_t b)
{
	return a > b ? a : b;
}

static struct floor_pp *pp_new(bool proc, bool epoll_echo, size_t req, size_t rep, size_t req2,
			       size_t rep2, int sndbuf, unsigned poll_us)
{
	struct floor_pp *f = calloc(1, sizeof *f);
	int sv[2];
	if (!f)
		return NULL;
	f->req = req;
	f->rep = rep;
	f->req2 = req2;
	f->rep2 = rep2;
	f->epoll_echo = epoll_echo;
	f->poll_us = poll_us;
	size_t n = max2(max2(req, rep), max2(req2, rep2));
	f->cbuf = calloc(1, n);
	f->ebuf = calloc(1, n);
	if (!f->cbuf || !f->ebuf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	if (sndbuf > 0 && setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	f->fd = sv[0];
	if (bench_peer_start(&f->peer, proc, sv[1], epoll_echo ? pp_echo_epoll : pp_echo, f) < 0) {
		close(sv[0]);
		goto fail;
	}
	return f;
fail:
	free(f->cbuf);
	free(f->ebuf);
	free(f);
	return NULL;
}

struct floor_pp *floor_pp_new(bool proc, bool epoll_echo, size_t req, size_t rep)
{
	return pp_new(proc, epoll_echo, req, rep, 0, 0, 0, 0);
}

struct floor_pp *floor_pp2_new(bool proc, size_t req, size_t rep, size_t req2, size_t rep2,
			       int sndbuf, unsigned poll_us)
{
	return pp_new(proc, false, req, rep, req2, rep2, sndbuf, poll_us);
}

int floor_pp_op(void *ctx)
{
	struct floor_pp *f = ctx;
	int rc = bench_write_full(f->fd, f->cbuf, f->req);
	if (rc == 0)
		rc = bench_read_full(f->fd, f->cbuf, f->rep);
	if (rc == 0 && f->req2)
		rc = bench_write_full(f->fd, f->cbuf, f->req2);
	if (rc == 0 && f->req2)
		rc = bench_read_full(f->fd, f->cbuf, f->rep2);
	return rc;
}

void floor_pp_free(struct floor_pp *f)
{
	if (!f)
		return;
	close(f->fd);
	bench_peer_join(&f->peer);
	free(f->cbuf);
	free(f->ebuf);
	free(f);
}

/* ---- streaming ---- */

struct floor_stream {
	int fd;
	enum floor_mode mode;
	size_t req;
	const uint8_t *src;   /* FLOOR_COPY: the file */
	uint64_t nsrc;	      /* its size in chunks */
	uint8_t *cbuf, *wbuf; /* the reader's and the writer's chunk */
	struct bench_peer peer;
};

/* Writes chunks until the reader hangs up. */
static void stream_writer(int fd, void *arg)
{
	struct floor_stream *f = arg;
	while (bench_write_full(fd, f->wbuf, BENCH_RREAD) == 0)
		;
}

/* Answers each request with one chunk. */
static void stream_server(int fd, void *arg)
{
	struct floor_stream *f = arg;
	uint8_t req[64];
	for (uint64_t i = 0; bench_read_full(fd, req, f->req) == 0; i++) {
		if (f->mode == FLOOR_COPY)
			memcpy(f->wbuf + P9_RREAD_HDRSZ, f->src + i % f->nsrc * BENCH_CHUNK,
			       BENCH_CHUNK);
		if (bench_write_full(fd, f->wbuf, BENCH_RREAD) < 0)
			break;
	}
}

struct floor_stream *floor_stream_new(bool proc, enum floor_mode mode, size_t req,
				      const uint8_t *src, size_t src_len)
{
	struct floor_stream *f = calloc(1, sizeof *f);
	int sv[2];
	if (!f)
		return NULL;
	f->mode = mode;
	f->src = src;
	f->nsrc = src_len / BENCH_CHUNK;
	if (mode == FLOOR_COPY && f->nsrc == 0) {
		free(f);
		return NULL;
	}
	f->req = req < 64 ? req : 64;
	f->cbuf = malloc(BENCH_RREAD);
	f->wbuf = malloc(BENCH_RREAD);
	if (!f->cbuf || !f->wbuf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
	memset(f->cbuf, 0, BENCH_RREAD);
	memset(f->wbuf, 'x', BENCH_RREAD);
	f->fd = sv[0];
	if (bench_peer_start(&f->peer, proc, sv[1],
			     mode != FLOOR_STREAM ? stream_server : stream_writer, f) < 0) {
		close(sv[0]);
		goto fail;
	}
	return f;
fail:
	free(f->cbuf);
	free(f->wbuf);
	free(f);
	return NULL;
}

int floor_stream_chunk(void *ctx, uint64_t i)
{
	(void)i;
	struct floor_stream *f = ctx;
	if (f->mode != FLOOR_STREAM) {
		int rc = bench_write_full(f->fd, f->cbuf, f->req);
		if (rc < 0)
			return rc;
	}
	return bench_read_full(f->fd, f->cbuf, BENCH_RREAD);
}

void floor_stream_free(struct floor_stream *f)
{
	if (!f)
		return;
	close(f->fd);
	bench_peer_join(&f->peer);
	free(f->cbuf);
	free(f->wbuf);
	free(f);
}

/* ---- a process-shared mutex ---- */

struct mutex_page {
	pthread_mutex_t mu;
	uint8_t data[256];
};

int floor_mutex(size_t batch, size_t nbatch, struct bench_lat *out)
{
	struct mutex_page *p =
		mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	int rc = -pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (rc == 0)
		rc = -pthread_mutex_init(&p->mu, &a);
	pthread_mutexattr_destroy(&a);
	uint64_t *ns = rc == 0 ? malloc((nbatch ? nbatch : 1) * sizeof *ns) : NULL;
	if (rc == 0 && !ns)
		rc = -ENOMEM;
	for (size_t b = 0; rc == 0 && b <= nbatch; b++) { /* batch 0 warms up, untimed */
		uint64_t t0 = bench_now_ns();
		for (size_t i = 0; i < batch; i++) {
			pthread_mutex_lock(&p->mu);
			p->data[i % sizeof p->data]++;
			pthread_mutex_unlock(&p->mu);
		}
		if (b)
			ns[b - 1] = bench_now_ns() - t0;
	}
	if (rc == 0) {
		*out = bench_lat_of(ns, nbatch);
		out->mean_us /= (double)batch;
		out->median_us /= (double)batch;
		pthread_mutex_destroy(&p->mu);
	}
	free(ns);
	munmap(p, sizeof *p);
	return rc;
}
