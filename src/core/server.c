/*
 * server.c — the server: listeners, connections, the event loop, the worker
 * pool and the ordered writer of each connection.
 *
 * Threading model.
 *   - One loop thread owns the epoll set. It accepts connections, reads
 *     every socket, cuts the input into frames and hands each frame to the
 *     connection's door, on the loop thread. A door answers cheap requests
 *     right there (an inline backend, a protocol error), which costs no
 *     thread hand-off at all; it copies a request that may block and submits
 *     it to the worker pool.
 *   - Worker threads are started on demand, up to opts.workers, and run the
 *     requests submitted to them; a server whose backends are all inline
 *     never starts one.
 *   - Replies go out through bx_conn_send from whichever thread finished the
 *     request. Each connection has one output queue under its own mutex:
 *     a reply is written straight to the non-blocking socket when nothing is
 *     queued, else appended, so replies leave in the order they were sent,
 *     and a door that sends a cancel reply after the reply it cancels gets
 *     that order on the wire. The loop thread drains the queue on EPOLLOUT.
 *   - Back-pressure: while more than opts.max_conn_queue bytes wait in a
 *     connection's queue, the loop stops reading from it.
 *   - Packet doors (BX_DOOR_PACKETS, rio): the loop reads each message
 *     with recvmsg, so one SOCK_SEQPACKET message is one frame, and the
 *     descriptors that came with it (SCM_RIGHTS) wait in c->rxfds during
 *     the door's frame call; what the door does not take is closed after
 *     it. A door may also make connections itself from descriptors it
 *     received (bx_conn_adopt, then bx_conn_start once its state is set),
 *     from any thread. Stream doors are read as before.
 *   - Lifetime: a connection is reference counted; the loop holds one while
 *     it is open and each request in flight holds one. Hang-up (EOF, error,
 *     broken framing) removes it from the epoll set and tells the door,
 *     which cancels its requests; the last reference closes the descriptors.
 *   - Without threads (opts.no_threads): the loop is boxfs_server_run on the
 *     caller's thread, or one boxfs_server_dispatch at a time from the
 *     application's own loop, which polls the epoll descriptor itself
 *     (boxfs_server_fd). Work submitted to the pool is queued and run by the
 *     loop once the events at hand are handled (submitting writes the event
 *     fd, so the epoll descriptor reads ready meanwhile); no thread is ever
 *     made. Replies sent from other threads (a deferred answer) need no
 *     wake-up: they go straight to the socket, and output that must wait is
 *     armed for EPOLLOUT, which makes the epoll descriptor ready.
 */
#include "core/server_impl.h"
#include "core/call_impl.h"

#include "base/dial.h"
#include "base/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct listener {
	struct listener *next;
	int fd;
	const struct bx_door *door;
	bool tls; /* what it accepts carries TLS: each goes through a pump */
	char addr[128];
};

struct bx_obuf {
	struct bx_obuf *next;
	size_t len, off;
	int fd; /* a descriptor to pass with the first byte, or -1; owned */
	uint8_t data[];
};

struct work {
	struct work *next;
	void (*fn)(void *);
	void *arg;
};

/* The input buffer: its first size, and the most it keeps between frames. */
enum { IN_START = 64 * 1024, IN_KEEP = 4 * 1024 * 1024 };

/* Reads and replies this large are bulk data: the loop polls after them. */
enum { BULK = 16 * 1024 };

/* epoll data: the event fd is 0, listeners are tagged with the low bit. */
#define EP_LISTENER 1u

static const struct bx_door *find_door(const char *name)
{
	static const struct bx_door *const doors[] = {
		&bx_door_9p, &bx_door_smdish, &bx_door_rio, &bx_door_idl, &bx_door_op,
	};
	for (size_t i = 0; i < sizeof doors / sizeof doors[0]; i++)
		if (strcmp(doors[i]->name, name) == 0)
			return doors[i];
	return NULL;
}

struct boxfs_server *boxfs_server_new(const struct boxfs_server_opts *opts)
{
	struct bx_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		return NULL;
	srv->epfd = srv->evfd = -1;
	if (opts)
		srv->opts = *opts;
	else
		srv->opts.trust_uname = true;
	struct boxfs_server_opts *o = &srv->opts;
	if (!o->max_conns)
		o->max_conns = 1024;
	if (!o->max_requests)
		o->max_requests = 256;
	if (!o->max_fids)
		o->max_fids = 65536;
	if (!o->max_msize)
		o->max_msize = (1u << 20) + 24;
	if (o->max_msize < 4096)
		o->max_msize = 4096;
	if (!o->max_conn_queue)
		o->max_conn_queue = 4 * (size_t)o->max_msize;
	if (!o->workers)
		o->workers = 16;
	if (!o->poll_us)
		o->poll_us = 50;
	else if (o->poll_us < 0)
		o->poll_us = 0;
	if (!o->token_ttl_ms)
		o->token_ttl_ms = 60000;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_mutex_init(&srv->pool_mu, NULL);
	pthread_cond_init(&srv->work_cv, NULL);
	pthread_cond_init(&srv->idle_cv, NULL);
	srv->ns = bx_ns_new();
	srv->locks = bx_locks_new();
	srv->tokens = bx_tokens_new();
	srv->workers = calloc(o->workers, sizeof *srv->workers);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	if (!srv->ns || !srv->locks || !srv->tokens || !srv->workers || srv->epfd < 0 ||
	    srv->evfd < 0 || epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->evfd, &ev) < 0) {
		int e = errno ? errno : ENOMEM;
		boxfs_server_free((struct boxfs_server *)srv);
		errno = e;
		return NULL;
	}
	return (struct boxfs_server *)srv;
}

int boxfs_server_mount(struct boxfs_server *s, const char *path, struct boxfs_fs *fs)
{
	struct bx_server *srv = (struct bx_server *)s;
	if (!fs)
		return -EINVAL;
	return bx_ns_mount(srv->ns, path, fs);
}

/* ---- connections ---- */

static void conn_free(struct bx_conn *c)
{
	struct bx_server *srv = c->srv;
	if (c->door->free)
		c->door->free(c);
	for (struct bx_obuf *b = c->qhead, *next; b; b = next) {
		next = b->next;
		if (b->fd >= 0)
			close(b->fd);
		free(b);
	}
	if (c->wfd != c->rfd && c->wfd >= 0)
		close(c->wfd);
	if (c->rfd >= 0)
		close(c->rfd);
	pthread_mutex_destroy(&c->wmu);
	free(c->in);
	pthread_mutex_lock(&srv->mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	pthread_cond_broadcast(&srv->idle_cv);
	pthread_mutex_unlock(&srv->mu);
	free(c);
}

void bx_conn_put(struct bx_conn **cp)
{
	struct bx_conn *c = *cp;
	*cp = NULL;
	if (c && atomic_fetch_sub_explicit(&c->ref, 1, memory_order_acq_rel) == 1)
		conn_free(c);
}

/* Re-arms epoll for what c needs now. Called with wmu held. */
static void rearm(struct bx_conn *c)
{
	if (c->closing || c->dead)
		return;
	uint32_t ev = EPOLLRDHUP;
	if (c->qbytes <= c->srv->opts.max_conn_queue)
		ev |= EPOLLIN;
	if (c->qhead)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->rfd, &e) == 0)
		c->events = ev;
}

/* Writes what the descriptor takes at once, passing fd (when >= 0) with the
 * first byte; 0 when it takes nothing, -1 when it is broken. */
static ssize_t put_iov(struct bx_conn *c, const struct iovec *iov, int n, int fd)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	if (fd >= 0) {
		m.msg_control = cm.buf;
		m.msg_controllen = sizeof cm.buf;
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &fd, sizeof fd);
	}
	ssize_t r;
	do
		r = c->is_socket ? sendmsg(c->wfd, &m, MSG_NOSIGNAL | MSG_DONTWAIT)
				 : writev(c->wfd, iov, n);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		r = 0;
	return r;
}

void bx_conn_sendv_fd(struct bx_conn *c, const struct iovec *iov, int n, int fd)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (len >= BULK)
		atomic_store_explicit(&c->srv->poll_hint, true, memory_order_relaxed);
	pthread_mutex_lock(&c->wmu);
	if (c->dead)
		goto out;
	size_t done = 0;
	if (!c->qhead) {
		ssize_t w = put_iov(c, iov, n, fd);
		if (w < 0) {
			c->dead = true;
			goto out;
		}
		done = (size_t)w;
		if (done)
			fd = -1; /* it went with the first byte */
	}
	if (done < len) { /* queue what the socket did not take */
		struct bx_obuf *b = malloc(sizeof *b + (len - done));
		if (!b) {
			c->dead = true; /* a reply we cannot deliver breaks the stream */
			shutdown(c->rfd, SHUT_RDWR);
			goto out;
		}
		b->next = NULL;
		b->len = len - done;
		b->off = 0;
		b->fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
		if (fd >= 0 && b->fd < 0) {
			free(b);
			c->dead = true;
			shutdown(c->rfd, SHUT_RDWR);
			goto out;
		}
		size_t at = 0, skip = done;
		for (int i = 0; i < n; i++) {
			size_t l = iov[i].iov_len;
			if (skip >= l) {
				skip -= l;
				continue;
			}
			memcpy(b->data + at, (const uint8_t *)iov[i].iov_base + skip, l - skip);
			at += l - skip;
			skip = 0;
		}
		if (c->qtail)
			c->qtail->next = b;
		else
			c->qhead = b;
		c->qtail = b;
		c->qbytes += b->len;
		rearm(c);
	}
out:
	pthread_mutex_unlock(&c->wmu);
}

void bx_conn_sendv(struct bx_conn *c, const struct iovec *iov, int n)
{
	bx_conn_sendv_fd(c, iov, n, -1);
}

void bx_conn_send(struct bx_conn *c, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	bx_conn_sendv(c, &iov, 1);
}

/* EPOLLOUT: writes what is queued. */
static void conn_flush(struct bx_conn *c)
{
	pthread_mutex_lock(&c->wmu);
	while (c->qhead && !c->dead) {
		struct bx_obuf *b = c->qhead;
		struct iovec iov = { .iov_base = b->data + b->off, .iov_len = b->len - b->off };
		ssize_t n = put_iov(c, &iov, 1, b->fd);
		if (n < 0) {
			c->dead = true;
			break;
		}
		if (n == 0)
			break;
		if (b->fd >= 0) {
			close(b->fd);
			b->fd = -1;
		}
		b->off += (size_t)n;
		c->qbytes -= (size_t)n;
		if (b->off == b->len) {
			c->qhead = b->next;
			if (!c->qhead)
				c->qtail = NULL;
			free(b);
		}
	}
	rearm(c);
	pthread_mutex_unlock(&c->wmu);
}

/* Hang-up, on the loop thread: stop reading, tell the door, drop the loop's
 * reference. The descriptors close with the last reference. */
static void conn_close(struct bx_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	epoll_ctl(c->srv->epfd, EPOLL_CTL_DEL, c->rfd, NULL);
	pthread_mutex_lock(&c->wmu);
	c->dead = true;
	pthread_mutex_unlock(&c->wmu);
	if (c->door->hangup)
		c->door->hangup(c);
	bx_conn_put(&c);
}

void bx_conn_close(struct bx_conn *c)
{
	conn_close(c);
}

/* Cuts the input into frames and hands them to the door. */
static void conn_frames(struct bx_conn *c)
{
	size_t pos = 0;
	while (!c->closing && c->inlen - pos >= c->door->hdr_size) {
		ssize_t size = c->door->frame_size(c, c->in + pos);
		if (size < 0 || (size_t)size > c->max_frame) {
			conn_close(c);
			return;
		}
		if ((size_t)size > c->inlen - pos) {
			if ((size_t)size > c->incap) { /* make room for this frame */
				uint8_t *in = realloc(c->in, (size_t)size);
				if (!in) {
					conn_close(c);
					return;
				}
				c->in = in;
				c->incap = (size_t)size;
			}
			break;
		}
		c->door->frame(c, c->in + pos, (size_t)size);
		pos += (size_t)size;
	}
	if (pos && !c->closing) {
		memmove(c->in, c->in + pos, c->inlen - pos);
		c->inlen -= pos;
		/* Give back a buffer grown for one very large frame. */
		if (c->incap > IN_KEEP && c->inlen <= IN_START) {
			uint8_t *in = realloc(c->in, IN_START);
			if (in) {
				c->in = in;
				c->incap = IN_START;
			}
		}
	}
}

/* Hands the packet in c->in to the door, then closes the descriptors it
 * left. */
static void packet_frame(struct bx_conn *c, size_t len)
{
	c->door->frame(c, c->in, len);
	for (unsigned i = 0; i < c->nrxfds; i++)
		if (c->rxfds[i] >= 0)
			close(c->rxfds[i]);
	c->nrxfds = 0;
}

/* A packet door's socket is readable: one frame per message, with its
 * descriptors. A truncated message, or one bringing too many descriptors,
 * breaks the framing and closes the connection. */
static void conn_read_packets(struct bx_conn *c)
{
	bx_conn_get(c);
	for (int i = 0; i < 32 && !c->closing; i++) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(BX_RXFDS * sizeof(int))];
		} cm;
		struct iovec iov = { .iov_base = c->in, .iov_len = c->incap };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof cm.buf };
		ssize_t n = recvmsg(c->rfd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		bool bad = n <= 0 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
			   (size_t)n > c->max_frame;
		c->nrxfds = 0;
		for (struct cmsghdr *h = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL; h;
		     h = CMSG_NXTHDR(&m, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t j = 0; j < k; j++) {
				int fd;
				memcpy(&fd, CMSG_DATA(h) + j * sizeof fd, sizeof fd);
				if (c->nrxfds < BX_RXFDS)
					c->rxfds[c->nrxfds++] = fd;
				else
					close(fd), bad = true;
			}
		}
		if (bad) {
			for (unsigned j = 0; j < c->nrxfds; j++)
				close(c->rxfds[j]);
			c->nrxfds = 0;
			conn_close(c);
			break;
		}
		packet_frame(c, (size_t)n);
	}
	if (!c->local)
		atomic_store_explicit(&c->srv->poll_hint, true, memory_order_relaxed);
	bx_conn_put(&c);
}

static void conn_read(struct bx_conn *c)
{
	if (c->door->flags & BX_DOOR_PACKETS) {
		conn_read_packets(c);
		return;
	}
	if (c->inlen == c->incap) { /* cannot happen after conn_frames; be safe */
		conn_close(c);
		return;
	}
	ssize_t n = read(c->rfd, c->in + c->inlen, c->incap - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	bx_conn_get(c);
	conn_frames(c);
	if (n >= BULK || c->inlen || !c->local)
		atomic_store_explicit(&c->srv->poll_hint, true, memory_order_relaxed);
	bx_conn_put(&c);
}

/* Enters c in the server's list, unless max_conns are there already. */
static bool conn_link(struct bx_server *srv, struct bx_conn *c)
{
	pthread_mutex_lock(&srv->mu);
	bool full = srv->nconns >= srv->opts.max_conns;
	if (!full) {
		c->id = ++srv->next_conn_id;
		c->next = srv->conns;
		if (c->next)
			c->next->prev = c;
		srv->conns = c;
		srv->nconns++;
	}
	pthread_mutex_unlock(&srv->mu);
	return !full;
}

/*
 * A new connection on rfd/wfd, opened by its door and entered in the list,
 * holding one reference. On failure the descriptors are closed and *err says
 * why (-ENOMEM, or -EMFILE when max_conns are served already).
 */
static struct bx_conn *conn_new(struct bx_server *srv, const struct bx_door *door, int rfd, int wfd,
				int *err)
{
	struct bx_conn *c = calloc(1, sizeof *c);
	*err = -ENOMEM;
	if (!c)
		goto fail;
	atomic_init(&c->ref, 1);
	c->srv = srv;
	c->rfd = rfd;
	c->wfd = wfd;
	c->door = door;
	c->max_frame = srv->opts.max_msize;
	c->incap = IN_START;
	pthread_mutex_init(&c->wmu, NULL);
	if (!(c->in = malloc(c->incap)) || door->open(c) < 0)
		goto fail_conn;
	if (conn_link(srv, c))
		return c;
	*err = -EMFILE;
	if (srv->opts.debug)
		fprintf(srv->opts.debug, "boxfs: too many connections (%u); refused\n",
			srv->opts.max_conns);
	if (door->free)
		door->free(c);
fail_conn:
	free(c->in);
	pthread_mutex_destroy(&c->wmu);
	free(c);
fail:
	close(rfd);
	if (wfd != rfd)
		close(wfd);
	return NULL;
}

/*
 * Serves rfd/wfd as a connection of door. A TLS session (tls) arrives on the
 * plaintext end of its pump's socketpair: it is remote, like TCP, and has no
 * peer credentials — SO_PEERCRED there would name this very process.
 */
static int conn_add_as(struct bx_server *srv, const struct bx_door *door, int rfd, int wfd,
		       bool tls)
{
	int err;
	struct bx_conn *c = conn_new(srv, door, rfd, wfd, &err);
	if (!c)
		return err;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (tls) {
		c->is_socket = true;
	} else if (getsockname(rfd, (struct sockaddr *)&ss, &sl) == 0) {
		c->is_socket = rfd == wfd;
		c->local = ss.ss_family == AF_UNIX;
		struct ucred uc;
		socklen_t ul = sizeof uc;
		if (c->local && getsockopt(rfd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0) {
			c->peer = (struct boxfs_cred){ .uid = uc.uid, .gid = uc.gid };
			c->has_peer = true;
		}
	} else {
		c->local = true; /* an inherited pipe pair */
	}
	fcntl(rfd, F_SETFL, fcntl(rfd, F_GETFL) | O_NONBLOCK);
	if (wfd != rfd)
		fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
	if (c->is_socket) {
		/* Room for two whole replies, so large reads rarely need the queue
		 * (the kernel caps this unless the server may force it). */
		int want = (int)(2 * (size_t)srv->opts.max_msize);
		if (setsockopt(wfd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0)
			setsockopt(wfd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
	}
	c->events = EPOLLIN | EPOLLRDHUP;
	struct epoll_event ev = { .events = c->events, .data.ptr = c };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, rfd, &ev) < 0) {
		err = -errno;
		conn_close(c);
		return err;
	}
	return 0;
}

static int conn_add(struct bx_server *srv, const struct bx_door *door, int rfd, int wfd)
{
	return conn_add_as(srv, door, rfd, wfd, false);
}

struct bx_conn *bx_conn_detached(struct bx_server *srv, const char *door_name, int wfd)
{
	const struct bx_door *door = find_door(door_name);
	int err;
	struct bx_conn *c = door ? conn_new(srv, door, wfd, wfd, &err) : NULL;
	if (!c)
		return NULL;
	bx_conn_get(c); /* the caller's; the first goes with the hang-up */
	c->local = true;
	c->events = EPOLLIN; /* never armed: rearm() must not touch epoll */
	return c;
}

void bx_conn_feed(struct bx_conn *c, const uint8_t *buf, size_t len)
{
	bx_conn_get(c);
	if (c->door->flags & BX_DOOR_PACKETS) { /* one packet, no descriptors */
		if (len > c->max_frame || len > c->incap || len == 0) {
			conn_close(c);
		} else if (!c->closing) {
			memcpy(c->in, buf, len);
			c->nrxfds = 0;
			packet_frame(c, len);
		}
		bx_conn_put(&c);
		return;
	}
	while (len && !c->closing) {
		size_t room = c->incap - c->inlen;
		size_t n = len < room ? len : room;
		memcpy(c->in + c->inlen, buf, n);
		c->inlen += n;
		buf += n;
		len -= n;
		conn_frames(c);
		if (n == 0 && c->inlen == c->incap)
			break; /* cannot happen: conn_frames makes room for a frame */
	}
	bx_conn_put(&c);
}

struct bx_conn *bx_conn_adopt(struct bx_server *srv, const struct bx_door *door, int fd, int *err)
{
	struct bx_conn *c = conn_new(srv, door, fd, fd, err);
	if (!c)
		return NULL;
	c->is_socket = true;
	c->local = true;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return bx_conn_get(c); /* the caller's; the first is the loop's */
}

int bx_conn_start(struct bx_conn **cp)
{
	struct bx_conn *c = *cp;
	int r = 0;
	pthread_mutex_lock(&c->wmu);
	c->events = EPOLLIN | EPOLLRDHUP | (c->qhead ? EPOLLOUT : 0);
	struct epoll_event ev = { .events = c->events, .data.ptr = c };
	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_ADD, c->rfd, &ev) < 0)
		r = -errno;
	pthread_mutex_unlock(&c->wmu);
	if (r < 0)
		conn_close(c);
	bx_conn_put(cp);
	return r;
}

void bx_conn_hangup(struct bx_conn *c)
{
	conn_close(c);
	bx_conn_put(&c);
}

int boxfs_server_serve_fds(struct boxfs_server *s, const char *door_name, int rfd, int wfd)
{
	struct bx_server *srv = (struct bx_server *)s;
	const struct bx_door *door = find_door(door_name ? door_name : "9p");
	if (!door)
		return -EINVAL;
	int r = door->usable ? door->usable(srv) : 0;
	return r < 0 ? r : conn_add(srv, door, rfd, wfd);
}

/* ---- listeners ---- */

/* Makes the server's TLS context from opts, once. 0 or -errno (see server.h). */
static int tls_ready(struct bx_server *srv)
{
	int r = 0;
	pthread_mutex_lock(&srv->mu);
	if (!srv->tls) {
		srv->tls = bx_tls_server_new(srv->opts.tls_cert, srv->opts.tls_key,
					     srv->opts.tls_ca, srv->opts.debug, NULL, 0);
		if (!srv->tls)
			r = -errno;
	}
	pthread_mutex_unlock(&srv->mu);
	return r;
}

int boxfs_server_listen(struct boxfs_server *s, const char *door_name, const char *dial)
{
	struct bx_server *srv = (struct bx_server *)s;
	const struct bx_door *door = find_door(door_name ? door_name : "9p");
	if (!door)
		return -EINVAL;
	int r = door->usable ? door->usable(srv) : 0;
	if (r < 0)
		return r;
	struct bx_addr a;
	r = bx_addr_parse(&a, dial);
	if (r < 0)
		return r;
	if (a.net == BX_NET_FD)
		return boxfs_server_serve_fds(s, door_name, a.rfd, a.wfd);
	if (a.net == BX_NET_TLS && srv->opts.no_threads)
		return -EOPNOTSUPP; /* TLS needs its pump threads */
	if (a.net == BX_NET_TLS && (r = tls_ready(srv)) < 0)
		return r;
	struct listener *l = calloc(1, sizeof *l);
	if (!l)
		return -ENOMEM;
	bool packets = (door->flags & BX_DOOR_PACKETS) != 0;
	if (packets && a.net != BX_NET_UNIX) {
		free(l);
		return -EPROTONOSUPPORT; /* packets and descriptors need a Unix socket */
	}
	l->fd = bx_announce_type(dial, packets ? SOCK_SEQPACKET : SOCK_STREAM);
	if (l->fd < 0) {
		r = l->fd;
		free(l);
		return r;
	}
	l->door = door;
	if (bx_sock_dialstr(l->fd, l->addr, sizeof l->addr) < 0)
		snprintf(l->addr, sizeof l->addr, "%s", dial);
	l->tls = a.net == BX_NET_TLS;
	if (l->tls && strncmp(l->addr, "tcp!", 4) == 0)
		memcpy(l->addr, "tls", 3); /* a TCP socket, serving TLS */
	fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL) | O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uintptr_t)l | EP_LISTENER };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
		r = -errno;
		close(l->fd);
		free(l);
		return r;
	}
	pthread_mutex_lock(&srv->mu);
	struct listener **pp = &srv->listeners;
	while (*pp)
		pp = &(*pp)->next;
	*pp = l;
	srv->nlisteners++;
	pthread_mutex_unlock(&srv->mu);
	return 0;
}

/* The i-th listener (listeners are never removed while the server lives). */
static struct listener *listener_at(struct bx_server *srv, unsigned i)
{
	pthread_mutex_lock(&srv->mu);
	struct listener *l = srv->listeners;
	while (l && i--)
		l = l->next;
	pthread_mutex_unlock(&srv->mu);
	return l;
}

const char *boxfs_server_address(struct boxfs_server *s, unsigned i)
{
	struct listener *l = listener_at((struct bx_server *)s, i);
	return l ? l->addr : NULL;
}

const char *boxfs_server_door(struct boxfs_server *s, unsigned i)
{
	struct listener *l = listener_at((struct bx_server *)s, i);
	return l ? l->door->name : NULL;
}

/*
 * A TLS connection on fd: the door serves one end of a socketpair, and a pump
 * thread joins the other to the session, handshake included, so the loop
 * never waits for it. The connection counts against max_conns from here on.
 */
static void accept_tls(struct bx_server *srv, const struct bx_door *door, int fd)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		close(fd);
		return;
	}
	if (conn_add_as(srv, door, sp[0], sp[0], true) < 0) {
		close(sp[1]);
		close(fd);
		return;
	}
	bx_tls_serve(srv->tls, fd, sp[1]); /* on failure, the connection sees EOF */
}

static void do_accept(struct bx_server *srv, struct listener *l)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return; /* EAGAIN, or EMFILE and friends: try again later */
		if (l->tls)
			accept_tls(srv, l->door, fd);
		else
			conn_add(srv, l->door, fd, fd);
	}
}

/* ---- the loop ---- */

/*
 * Waits for events. When the last ones asked for it (poll_hint) it polls
 * for up to opts.poll_us before it sleeps, so that what comes next finds the
 * loop awake, which saves the wake-up of a sleeping thread (tens of
 * microseconds on a virtual machine). It asks for it
 *   - after bulk data (a read that left a frame incomplete or took BULK
 *     bytes or more, a reply of BULK bytes or more): the rest of a large
 *     frame, or the next request of a client busy copying, comes soon;
 *   - after any request on TCP, whose loopback hand-overs wake the loop
 *     from another context.
 * After small exchanges on a Unix socket it sleeps at once: a client that
 * blocks for each reply and a loop that sleeps for each request then hand
 * over on one CPU (the kernel's synchronous wake-ups), the fastest way of
 * all, where a polling loop would push each of the client's wake-ups onto
 * another CPU. It does not poll while workers have requests to run: on a
 * machine of few cores they need the time more.
 */
static int wait_events(struct bx_server *srv, struct epoll_event *evs, int max, bool busy)
{
	if (busy && srv->opts.poll_us && atomic_load(&srv->pending) == 0) {
		struct timespec t0, now;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			int n = epoll_wait(srv->epfd, evs, max, 0);
			if (n != 0)
				return n;
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) <
			 (long)srv->opts.poll_us * 1000);
	}
	return epoll_wait(srv->epfd, evs, max, -1);
}

/* Handles n events of the epoll set; 0, or -errno when the event fd fails. */
static int handle_events(struct bx_server *srv, const struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64;
		if (d == 0) {
			uint64_t v;
			if (read(srv->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
				return -errno;
			continue;
		}
		if (d & EP_LISTENER) {
			do_accept(srv, (struct listener *)(uintptr_t)(d & ~(uint64_t)EP_LISTENER));
			continue;
		}
		struct bx_conn *c = evs[i].data.ptr;
		uint32_t e = evs[i].events;
		bx_conn_get(c);
		if (e & EPOLLOUT)
			conn_flush(c);
		if (e & EPOLLIN)
			conn_read(c);
		else if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
			conn_close(c);
		bx_conn_put(&c);
	}
	return 0;
}

static void run_queued(struct bx_server *srv);

int boxfs_server_run(struct boxfs_server *s)
{
	struct bx_server *srv = (struct bx_server *)s;
	struct epoll_event evs[64];
	bool busy = false;
	enum bx_thread_role role = bx_thread_role_set(BX_THREAD_LOOP);
	int r = 0;
	while (!atomic_load(&srv->stopping)) {
		int n = wait_events(srv, evs, 64, busy);
		busy = n > 0 &&
		       atomic_exchange_explicit(&srv->poll_hint, false, memory_order_relaxed);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if ((r = handle_events(srv, evs, n)) < 0)
			break;
		if (srv->opts.no_threads)
			run_queued(srv);
	}
	bx_thread_role_set(role);
	return r;
}

int boxfs_server_fd(struct boxfs_server *s)
{
	return ((struct bx_server *)s)->epfd;
}

int boxfs_server_dispatch(struct boxfs_server *s)
{
	struct bx_server *srv = (struct bx_server *)s;
	struct epoll_event evs[64];
	enum bx_thread_role role = bx_thread_role_set(BX_THREAD_LOOP);
	int r = 0;
	/* A few rounds at most: what arrives meanwhile waits for the next call,
	 * so an application's other work is never starved. */
	for (int round = 0; round < 4; round++) {
		int n = epoll_wait(srv->epfd, evs, 64, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if ((r = handle_events(srv, evs, n)) < 0)
			break;
		run_queued(srv);
		if (n < 64)
			break;
	}
	atomic_store_explicit(&srv->poll_hint, false, memory_order_relaxed);
	bx_thread_role_set(role);
	return r;
}

static void *run_thread(void *arg)
{
	boxfs_server_run(arg);
	return NULL;
}

int boxfs_server_start(struct boxfs_server *s)
{
	struct bx_server *srv = (struct bx_server *)s;
	if (srv->opts.no_threads)
		return -EINVAL;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int r = pthread_create(&srv->thread, NULL, run_thread, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	srv->threaded = true;
	return 0;
}

void boxfs_server_stop(struct boxfs_server *s)
{
	struct bx_server *srv = (struct bx_server *)s;
	atomic_store(&srv->stopping, true);
	uint64_t one = 1;
	ssize_t r = write(srv->evfd, &one, sizeof one);
	(void)r;
}

/* ---- the worker pool ---- */

static void *worker(void *arg)
{
	struct bx_server *srv = arg;
	pthread_mutex_lock(&srv->pool_mu);
	for (;;) {
		while (!srv->work_head && !srv->pool_stop) {
			srv->idle_workers++;
			pthread_cond_wait(&srv->work_cv, &srv->pool_mu);
			srv->idle_workers--;
		}
		struct work *w = srv->work_head;
		if (!w)
			break; /* stopping, and the queue is empty */
		srv->work_head = w->next;
		if (!srv->work_head)
			srv->work_tail = NULL;
		pthread_mutex_unlock(&srv->pool_mu);
		w->fn(w->arg);
		free(w);
		atomic_fetch_sub(&srv->pending, 1);
		pthread_mutex_lock(&srv->pool_mu);
	}
	pthread_mutex_unlock(&srv->pool_mu);
	return NULL;
}

int bx_pool_submit(struct bx_server *srv, void (*fn)(void *), void *arg)
{
	struct work *w = malloc(sizeof *w);
	if (!w)
		return -ENOMEM;
	*w = (struct work){ .fn = fn, .arg = arg };
	atomic_fetch_add(&srv->pending, 1);
	pthread_mutex_lock(&srv->pool_mu);
	if (srv->work_tail)
		srv->work_tail->next = w;
	else
		srv->work_head = w;
	srv->work_tail = w;
	if (srv->opts.no_threads) { /* the loop runs it (run_queued) */
		pthread_mutex_unlock(&srv->pool_mu);
		uint64_t one = 1;
		ssize_t r = write(srv->evfd, &one, sizeof one);
		(void)r;
		return 0;
	}
	bool wake = srv->idle_workers > 0;
	if (!wake && srv->nworkers < srv->opts.workers) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&srv->workers[srv->nworkers], NULL, worker, srv) == 0)
			srv->nworkers++;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	pthread_mutex_unlock(&srv->pool_mu);
	if (wake) /* after unlocking, so the woken worker does not wait for the lock */
		pthread_cond_signal(&srv->work_cv);
	return 0;
}

/* Without threads: runs the work queued so far, on the loop's thread. */
static void run_queued(struct bx_server *srv)
{
	pthread_mutex_lock(&srv->pool_mu);
	struct work *w = srv->work_head;
	srv->work_head = srv->work_tail = NULL;
	pthread_mutex_unlock(&srv->pool_mu);
	while (w) {
		struct work *next = w->next;
		w->fn(w->arg);
		free(w);
		atomic_fetch_sub(&srv->pending, 1);
		w = next;
	}
}

/* ---- shutting down ---- */

void boxfs_server_free(struct boxfs_server *s)
{
	struct bx_server *srv = (struct bx_server *)s;
	if (!srv)
		return;
	boxfs_server_stop(s);
	if (srv->threaded)
		pthread_join(srv->thread, NULL);

	/* Hang up every connection; requests in flight finish on the pool. */
	for (;;) {
		pthread_mutex_lock(&srv->mu);
		struct bx_conn *c = srv->conns;
		while (c && c->closing)
			c = c->next;
		if (c)
			bx_conn_get(c);
		pthread_mutex_unlock(&srv->mu);
		if (!c)
			break;
		conn_close(c);
		bx_conn_put(&c);
	}
	if (srv->opts.no_threads) { /* what the loop did not get to, then */
		enum bx_thread_role role = bx_thread_role_set(BX_THREAD_LOOP);
		run_queued(srv);
		bx_thread_role_set(role);
	}
	pthread_mutex_lock(&srv->pool_mu);
	srv->pool_stop = true;
	pthread_cond_broadcast(&srv->work_cv);
	pthread_mutex_unlock(&srv->pool_mu);
	for (unsigned i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i], NULL);
	pthread_mutex_lock(&srv->mu);
	while (srv->nconns)
		pthread_cond_wait(&srv->idle_cv, &srv->mu);
	pthread_mutex_unlock(&srv->mu);
	bx_tls_server_free(srv->tls); /* their connections closed, the pumps end */

	for (struct listener *l = srv->listeners, *next; l; l = next) {
		next = l->next;
		close(l->fd);
		free(l);
	}
	bx_rio_fwd_free(srv);
	bx_op_stage_free(srv);
	bx_tokens_free(srv->tokens); /* records may hold backend objects */
	bx_ns_free(srv->ns);
	bx_locks_free(srv->locks);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->evfd >= 0)
		close(srv->evfd);
	free(srv->workers);
	pthread_cond_destroy(&srv->work_cv);
	pthread_mutex_destroy(&srv->pool_mu);
	pthread_cond_destroy(&srv->idle_cv);
	pthread_mutex_destroy(&srv->mu);
	free(srv);
}
