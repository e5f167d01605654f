/*
 * floor.c — the raw floors boxfs is measured against: what a Unix stream
 * socket costs with no 9P at all, between the same two parties (two threads
 * of this process, or this process and a forked child).
 *
 *   ping-pong: the client writes a request of the Tgetattr's size and reads
 *     back a reply of the Rgetattr's size; the echo side does blocking read
 *     and write (or, as a diagnostic, waits in epoll_wait on a non-blocking
 *     socket and answers with send(MSG_DONTWAIT), the way the server's loop
 *     does).
 *   streaming: one side writes Rread-sized chunks (11 + 1 MiB) back to back,
 *     the other reads each whole into one buffer; or, as diagnostics, each
 *     chunk answers a small request (a synchronous Tread's shape, no 9P), and
 *     that plus a memcpy of the chunk from a file-sized buffer into the
 *     reply first (what the RAM backend's read does).
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- ping-pong ---- */

struct floor_pp {
	int fd;
	size_t req, rep;
	bool epoll_echo;
	uint8_t *cbuf, *ebuf; /* the client's and the echo side's */
	struct bench_peer peer;
};

/* Blocking echo: read a whole request, write a whole reply, until EOF. */
static void pp_echo(int fd, void *arg)
{
	struct floor_pp *f = arg;
	while (bench_read_full(fd, f->ebuf, f->req) == 0)
		if (bench_write_full(fd, f->ebuf, f->rep) < 0)
			break;
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

struct floor_pp *floor_pp_new(bool proc, bool epoll_echo, size_t req, size_t rep)
{
	struct floor_pp *f = calloc(1, sizeof *f);
	int sv[2];
	if (!f)
		return NULL;
	f->req = req;
	f->rep = rep;
	f->epoll_echo = epoll_echo;
	size_t n = req > rep ? req : rep;
	f->cbuf = calloc(1, n);
	f->ebuf = calloc(1, n);
	if (!f->cbuf || !f->ebuf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto fail;
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

int floor_pp_op(void *ctx)
{
	struct floor_pp *f = ctx;
	int rc = bench_write_full(f->fd, f->cbuf, f->req);
	return rc ? rc : bench_read_full(f->fd, f->cbuf, f->rep);
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
