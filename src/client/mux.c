/*
 * mux.c — the tag multiplexer: requests from many threads share one
 * connection, each reply is handed to the request whose tag it carries.
 *
 * Called by the protocol clients (src/client/client.c); see mux.h.
 *
 * Threading model (the idea of Plan 9's libmux):
 *
 *  - One mutex, m->lk, guards everything below except the read-ahead buffer
 *    (owned by the current reader) and the socket writes (m->wlk: one frame's
 *    writev loop at a time, so frames never interleave).
 *  - There is no dedicated reader thread for synchronous calls. A caller that
 *    has sent its request and finds nobody reading becomes the reader
 *    (m->reading): it reads frames, hands each to the call that owns its tag
 *    (waking that thread, or running an asynchronous callback in place), and
 *    when its own reply has come it gives the reader role to the first
 *    sleeping synchronous caller (elect()). A lone caller so reads its own
 *    reply with no thread hand-off at all.
 *  - Asynchronous calls need a reader even when no synchronous caller waits:
 *    elect() then starts (once, lazily) or wakes a reader thread, which reads
 *    while asynchronous calls are outstanding and hands the role back to a
 *    sleeping synchronous caller, or goes back to sleep, when there are none.
 *  - Tags come from a free pool over [tag_min, tag_max]; a caller waits on
 *    m->tagcv for a free one. A synchronous call's tag is freed by its own
 *    thread when it returns, an asynchronous one's when its reply is handed
 *    out.
 *  - A broken connection (read error, EOF, a malformed frame or a reply for
 *    no outstanding tag, a write error) sets the sticky m->err: every
 *    outstanding call is completed with it, sleeping threads are woken, the
 *    socket is shut down so a blocked reader returns, and later calls fail at
 *    once.
 *  - Cancellation (flush(5)): bx_mux_cancel marks the victim flush_pending and
 *    sends the flush through the hook as an ordinary synchronous call linked
 *    to the victim. Replies arrive in order, so when the flush's reply is
 *    handed out the victim either already has its reply or never will: it is
 *    then completed with -EINTR. The victim keeps its tag until the flush is
 *    answered, so the tag is never reused too early.
 */
#include "client/mux.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	RA_CAP = 64 * 1024, /* read-ahead buffer */
	MAX_IOV = 8,	    /* pieces of one outgoing frame */
};

/* One outstanding call; on the caller's stack when synchronous. */
struct bx_mux_rpc {
	uint32_t tag;
	bool async;
	bool done;	    /* reply (or error) is in */
	bool filling;	    /* the reader is reading the reply into rbuf */
	bool flush_pending; /* a flush of this call is in flight */
	bool queued;	    /* in m->sleepq */
	int err;
	void *reply;
	size_t rlen;
	void *rbuf;
	size_t rcap;
	pthread_cond_t cv; /* synchronous: the owner sleeps here */
	bx_mux_cb cb;	   /* asynchronous */
	void *cbarg;
	struct bx_mux_rpc *victim;	/* a flush: the call it cancels */
	struct bx_mux_rpc *next, *prev; /* sleepq, or the list of callbacks to run */
};

struct bx_mux {
	pthread_mutex_t lk;
	pthread_mutex_t wlk;
	int rfd, wfd;
	bool wsock; /* wfd is a socket: send with MSG_NOSIGNAL */
	struct bx_mux_proto p;
	size_t max_frame;

	struct bx_mux_rpc **wait; /* by tag - tag_min */
	uint32_t *freetags;
	uint32_t ntags, nfree, nunused;
	uint32_t ntagwait;
	pthread_cond_t tagcv;

	bool reading;		  /* someone holds the reader role */
	struct bx_mux_rpc sleepq; /* synchronous callers waiting, not reading */
	uint32_t nasync;	  /* asynchronous calls outstanding */
	int err;		  /* sticky: the connection is broken */

	bool thread_started, closing;
	pthread_t thread;
	pthread_cond_t thread_cv;
	int wakefd; /* eventfd: wakes the reader thread's poll at close */

	/* read-ahead, owned by whoever is reading */
	uint8_t *ra;
	size_t ra_pos, ra_end;
};

static void q_remove(struct bx_mux_rpc *r)
{
	if (!r->queued)
		return;
	r->prev->next = r->next;
	r->next->prev = r->prev;
	r->queued = false;
}

static void q_append(struct bx_mux *m, struct bx_mux_rpc *r)
{
	r->prev = m->sleepq.prev;
	r->next = &m->sleepq;
	r->prev->next = r;
	m->sleepq.prev = r;
	r->queued = true;
}

static int tag_get(struct bx_mux *m, struct bx_mux_rpc *r)
{
	uint32_t t;
	for (;;) {
		if (m->err)
			return m->err;
		if (m->nfree) {
			t = m->freetags[--m->nfree];
			break;
		}
		if (m->nunused < m->ntags) {
			t = m->nunused++;
			break;
		}
		m->ntagwait++;
		pthread_cond_wait(&m->tagcv, &m->lk);
		m->ntagwait--;
	}
	m->wait[t] = r;
	r->tag = t + m->p.tag_min;
	return 0;
}

static void tag_put(struct bx_mux *m, struct bx_mux_rpc *r)
{
	uint32_t t = r->tag - m->p.tag_min;
	m->wait[t] = NULL;
	m->freetags[m->nfree++] = t;
	if (m->ntagwait)
		pthread_cond_signal(&m->tagcv);
}

static struct bx_mux_rpc *tag_lookup(struct bx_mux *m, uint32_t tag)
{
	if (tag < m->p.tag_min || tag > m->p.tag_max)
		return NULL;
	return m->wait[tag - m->p.tag_min];
}

/*
 * Finishes r (lock held). A synchronous owner is woken; an asynchronous call
 * gives back its tag and joins *todo, whose callbacks run after unlocking.
 */
static void complete(struct bx_mux *m, struct bx_mux_rpc *r, int err, void *reply, size_t len,
		     struct bx_mux_rpc **todo)
{
	r->done = true;
	r->err = err;
	r->reply = reply;
	r->rlen = len;
	if (r->victim) {
		struct bx_mux_rpc *v = r->victim;
		if (!v->done) {
			v->done = true;
			v->err = -EINTR;
			q_remove(v);
		}
		v->flush_pending = false;
		pthread_cond_signal(&v->cv);
		r->victim = NULL;
	}
	if (r->async) {
		tag_put(m, r);
		m->nasync--;
		r->next = *todo;
		*todo = r;
	} else {
		q_remove(r);
		pthread_cond_signal(&r->cv);
	}
}

static void run_todo(struct bx_mux_rpc *todo)
{
	while (todo) {
		struct bx_mux_rpc *r = todo;
		todo = r->next;
		r->cb(r->cbarg, r->err, r->reply, r->rlen);
		free(r);
	}
}

static void hangup_locked(struct bx_mux *m, int err, struct bx_mux_rpc **todo)
{
	if (m->err)
		return;
	m->err = err;
	for (uint32_t i = 0; i < m->ntags; i++) {
		struct bx_mux_rpc *r = m->wait[i];
		if (r && !r->done && !r->filling)
			complete(m, r, err, NULL, 0, todo);
	}
	pthread_cond_broadcast(&m->tagcv);
	pthread_cond_signal(&m->thread_cv);
	/* a reader blocked in read() returns */
	shutdown(m->rfd, SHUT_RDWR);
	if (m->wfd != m->rfd)
		shutdown(m->wfd, SHUT_RDWR);
	if (m->wakefd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(m->wakefd, &one, sizeof one);
		(void)n;
	}
}

static void *reader_main(void *arg);

/* Gives the reader role away (lock held, nobody reading). */
static void elect(struct bx_mux *m, struct bx_mux_rpc **todo)
{
	if (m->sleepq.next != &m->sleepq) {
		pthread_cond_signal(&m->sleepq.next->cv);
		return;
	}
	if (m->nasync == 0 || m->err)
		return;
	if (!m->thread_started) {
		if (pthread_create(&m->thread, NULL, reader_main, m) != 0) {
			hangup_locked(m, -ECONNRESET, todo);
			return;
		}
		m->thread_started = true;
	}
	pthread_cond_signal(&m->thread_cv);
}

/* Reads into the read-ahead buffer until it holds n bytes (reader only). */
static int ra_fill(struct bx_mux *m, size_t n, bool poll_wake)
{
	if (m->ra_end - m->ra_pos >= n)
		return 0;
	if (m->ra_pos > 0) {
		memmove(m->ra, m->ra + m->ra_pos, m->ra_end - m->ra_pos);
		m->ra_end -= m->ra_pos;
		m->ra_pos = 0;
	}
	while (m->ra_end < n) {
		if (poll_wake && m->wakefd >= 0) {
			struct pollfd pf[2] = { { .fd = m->rfd, .events = POLLIN },
						{ .fd = m->wakefd, .events = POLLIN } };
			if (poll(pf, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (pf[1].revents)
				return -ECONNRESET;
		}
		ssize_t k = read(m->rfd, m->ra + m->ra_end, RA_CAP - m->ra_end);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -ECONNRESET;
		m->ra_end += (size_t)k;
	}
	return 0;
}

/* Reads exactly n bytes straight into dst, after the read-ahead is drained. */
static int read_full(struct bx_mux *m, uint8_t *dst, size_t n, bool poll_wake)
{
	while (n > 0) {
		if (poll_wake && m->wakefd >= 0) {
			struct pollfd pf[2] = { { .fd = m->rfd, .events = POLLIN },
						{ .fd = m->wakefd, .events = POLLIN } };
			if (poll(pf, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (pf[1].revents)
				return -ECONNRESET;
		}
		ssize_t k = read(m->rfd, dst, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -ECONNRESET;
		dst += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Reads one frame and hands it to its owner (reader only; called and returns
 * without the lock). Any failure breaks the connection.
 */
static void read_one(struct bx_mux *m, bool poll_wake)
{
	struct bx_mux_rpc *todo = NULL;
	size_t hl = m->p.hdr_len;
	int rc = ra_fill(m, hl, poll_wake);
	if (rc < 0)
		goto broken_unlocked;
	const uint8_t *hdr = m->ra + m->ra_pos;
	ssize_t fsz = m->p.frame_size(hdr, m->p.aux);
	uint32_t tag = m->p.get_tag(hdr, m->p.aux);

	pthread_mutex_lock(&m->lk);
	struct bx_mux_rpc *r = tag_lookup(m, tag);
	if (fsz < (ssize_t)hl || (size_t)fsz > m->max_frame || !r || r->done)
		goto broken;
	size_t size = (size_t)fsz;
	uint8_t *dst;
	bool own = false;
	if (!r->async && r->rbuf && size <= r->rcap) {
		dst = r->rbuf;
	} else {
		dst = malloc(size);
		if (!dst)
			goto broken;
		own = true;
	}
	r->filling = true;
	pthread_mutex_unlock(&m->lk);

	if (size <= RA_CAP) {
		rc = ra_fill(m, size, poll_wake);
		if (rc == 0) {
			memcpy(dst, m->ra + m->ra_pos, size);
			m->ra_pos += size;
		}
	} else {
		size_t have = m->ra_end - m->ra_pos;
		memcpy(dst, m->ra + m->ra_pos, have);
		m->ra_pos = m->ra_end = 0;
		rc = read_full(m, dst + have, size - have, poll_wake);
	}

	pthread_mutex_lock(&m->lk);
	r->filling = false;
	if (rc < 0) {
		if (own)
			free(dst);
		complete(m, r, -ECONNRESET, NULL, 0, &todo);
		goto broken;
	}
	complete(m, r, 0, dst, size, &todo);
	pthread_mutex_unlock(&m->lk);
	run_todo(todo);
	return;

broken_unlocked:
	pthread_mutex_lock(&m->lk);
broken:
	hangup_locked(m, -ECONNRESET, &todo);
	pthread_mutex_unlock(&m->lk);
	run_todo(todo);
}

static void *reader_main(void *arg)
{
	struct bx_mux *m = arg;
	struct bx_mux_rpc *todo = NULL;
	pthread_mutex_lock(&m->lk);
	for (;;) {
		while (!m->closing && !m->err && (m->nasync == 0 || m->reading))
			pthread_cond_wait(&m->thread_cv, &m->lk);
		if (m->closing || m->err)
			break;
		m->reading = true;
		while (m->nasync > 0 && !m->err) {
			pthread_mutex_unlock(&m->lk);
			read_one(m, true);
			pthread_mutex_lock(&m->lk);
		}
		m->reading = false;
		elect(m, &todo);
		if (todo) {
			pthread_mutex_unlock(&m->lk);
			run_todo(todo);
			todo = NULL;
			pthread_mutex_lock(&m->lk);
		}
	}
	pthread_mutex_unlock(&m->lk);
	return NULL;
}

static int write_frame(struct bx_mux *m, const struct iovec *iov, int iovcnt)
{
	struct iovec v[MAX_IOV];
	if (iovcnt < 1 || iovcnt > MAX_IOV)
		return -EINVAL;
	memcpy(v, iov, sizeof v[0] * (size_t)iovcnt);
	struct iovec *p = v;
	int n = iovcnt;
	int rc = 0;
	pthread_mutex_lock(&m->wlk);
	while (n > 0) {
		ssize_t k;
		if (m->wsock) {
			struct msghdr mh = { .msg_iov = p, .msg_iovlen = (size_t)n };
			k = sendmsg(m->wfd, &mh, MSG_NOSIGNAL);
		} else {
			k = writev(m->wfd, p, n);
		}
		if (k < 0) {
			if (errno == EINTR)
				continue;
			rc = -EPIPE;
			break;
		}
		size_t done = (size_t)k;
		while (n > 0 && done >= p->iov_len) {
			done -= p->iov_len;
			p++;
			n--;
		}
		if (n > 0) {
			p->iov_base = (uint8_t *)p->iov_base + done;
			p->iov_len -= done;
		}
	}
	pthread_mutex_unlock(&m->wlk);
	return rc;
}

struct bx_mux *bx_mux_new(int rfd, int wfd, const struct bx_mux_proto *p, size_t max_frame)
{
	struct bx_mux *m = calloc(1, sizeof *m);
	if (!m || p->tag_max < p->tag_min || p->hdr_len == 0 || p->hdr_len > RA_CAP)
		goto fail;
	m->wakefd = -1;
	m->p = *p;
	m->rfd = rfd;
	m->wfd = wfd;
	m->max_frame = max_frame;
	m->ntags = p->tag_max - p->tag_min + 1;
	m->wait = calloc(m->ntags, sizeof m->wait[0]);
	m->freetags = malloc(m->ntags * sizeof m->freetags[0]);
	m->ra = malloc(RA_CAP);
	m->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!m->wait || !m->freetags || !m->ra || m->wakefd < 0)
		goto fail;
	struct stat st;
	m->wsock = fstat(wfd, &st) == 0 && S_ISSOCK(st.st_mode);
	pthread_mutex_init(&m->lk, NULL);
	pthread_mutex_init(&m->wlk, NULL);
	pthread_cond_init(&m->tagcv, NULL);
	pthread_cond_init(&m->thread_cv, NULL);
	m->sleepq.next = m->sleepq.prev = &m->sleepq;
	return m;
fail:
	if (m) {
		free(m->wait);
		free(m->freetags);
		free(m->ra);
		if (m->wakefd >= 0)
			close(m->wakefd);
		free(m);
	}
	close(rfd);
	if (wfd != rfd)
		close(wfd);
	errno = ENOMEM;
	return NULL;
}

void bx_mux_free(struct bx_mux *m)
{
	if (!m)
		return;
	struct bx_mux_rpc *todo = NULL;
	pthread_mutex_lock(&m->lk);
	hangup_locked(m, -ECONNRESET, &todo);
	m->closing = true;
	pthread_cond_signal(&m->thread_cv);
	pthread_mutex_unlock(&m->lk);
	run_todo(todo);
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	close(m->rfd);
	if (m->wfd != m->rfd)
		close(m->wfd);
	close(m->wakefd);
	pthread_mutex_destroy(&m->lk);
	pthread_mutex_destroy(&m->wlk);
	pthread_cond_destroy(&m->tagcv);
	pthread_cond_destroy(&m->thread_cv);
	free(m->wait);
	free(m->freetags);
	free(m->ra);
	free(m);
}

void bx_mux_set_max_frame(struct bx_mux *m, size_t max_frame)
{
	pthread_mutex_lock(&m->lk);
	m->max_frame = max_frame;
	pthread_mutex_unlock(&m->lk);
}

/* Waits until r is done, reading when nobody else is (lock held). */
static void wait_reply(struct bx_mux *m, struct bx_mux_rpc *r)
{
	while (!r->done) {
		if (!m->reading) {
			struct bx_mux_rpc *todo = NULL;
			m->reading = true;
			while (!r->done) {
				pthread_mutex_unlock(&m->lk);
				read_one(m, false);
				pthread_mutex_lock(&m->lk);
			}
			m->reading = false;
			elect(m, &todo);
			if (todo) {
				pthread_mutex_unlock(&m->lk);
				run_todo(todo);
				pthread_mutex_lock(&m->lk);
			}
			return;
		}
		q_append(m, r);
		pthread_cond_wait(&r->cv, &m->lk);
		q_remove(r);
	}
}

int bx_mux_call(struct bx_mux *m, struct bx_mux_msg *msg)
{
	struct bx_mux_rpc r = { .rbuf = msg->rbuf, .rcap = msg->rcap };
	struct bx_mux_rpc *todo = NULL;
	msg->reply = NULL;
	msg->rlen = 0;
	if (msg->iovcnt < 1 || msg->iovcnt > MAX_IOV || msg->iov[0].iov_len < m->p.hdr_len)
		return -EINVAL;
	pthread_cond_init(&r.cv, NULL);
	pthread_mutex_lock(&m->lk);
	int rc = msg->cancel && msg->cancel->requested ? -EINTR : tag_get(m, &r);
	if (rc < 0) {
		pthread_mutex_unlock(&m->lk);
		pthread_cond_destroy(&r.cv);
		return rc;
	}
	if (msg->is_flush) {
		struct bx_mux_rpc *v = tag_lookup(m, msg->oldtag);
		if (v && !v->async && v->flush_pending)
			r.victim = v;
	}
	pthread_mutex_unlock(&m->lk);

	m->p.set_tag(msg->iov[0].iov_base, r.tag, m->p.aux);
	rc = write_frame(m, msg->iov, msg->iovcnt);

	pthread_mutex_lock(&m->lk);
	if (rc < 0)
		hangup_locked(m, rc, &todo);
	if (msg->cancel && !r.done) {
		/*
		 * Cancellable only once sent: a flush must never reach the
		 * server before the request it cancels. A cancel that came
		 * while we were sending is carried out here.
		 */
		msg->cancel->rpc = &r;
		if (msg->cancel->requested) {
			pthread_mutex_unlock(&m->lk);
			bx_mux_cancel(m, msg->cancel);
			pthread_mutex_lock(&m->lk);
		}
	}
	wait_reply(m, &r);
	if (msg->cancel)
		msg->cancel->rpc = NULL;
	while (r.flush_pending)
		pthread_cond_wait(&r.cv, &m->lk);
	tag_put(m, &r);
	pthread_mutex_unlock(&m->lk);
	run_todo(todo);
	pthread_cond_destroy(&r.cv);
	if (r.err < 0) {
		if (r.reply && r.reply != msg->rbuf)
			free(r.reply);
		return r.err;
	}
	msg->reply = r.reply;
	msg->rlen = r.rlen;
	return 0;
}

int bx_mux_call_async(struct bx_mux *m, const struct iovec *iov, int iovcnt, bx_mux_cb cb,
		      void *arg)
{
	if (iovcnt < 1 || iovcnt > MAX_IOV || iov[0].iov_len < m->p.hdr_len || !cb)
		return -EINVAL;
	struct bx_mux_rpc *r = calloc(1, sizeof *r);
	struct bx_mux_rpc *todo = NULL;
	if (!r)
		return -ENOMEM;
	r->async = true;
	r->cb = cb;
	r->cbarg = arg;
	pthread_mutex_lock(&m->lk);
	int rc = tag_get(m, r);
	if (rc < 0) {
		pthread_mutex_unlock(&m->lk);
		free(r);
		return rc;
	}
	m->nasync++;
	pthread_mutex_unlock(&m->lk);

	m->p.set_tag(iov[0].iov_base, r->tag, m->p.aux);
	rc = write_frame(m, iov, iovcnt);

	/* r may be gone already: its reply can have been handed out. */
	pthread_mutex_lock(&m->lk);
	if (rc < 0)
		hangup_locked(m, -EPIPE, &todo);
	else if (!m->reading)
		elect(m, &todo);
	pthread_mutex_unlock(&m->lk);
	run_todo(todo);
	return 0;
}

int bx_mux_cancel(struct bx_mux *m, struct bx_mux_cancel *c)
{
	pthread_mutex_lock(&m->lk);
	c->requested = true;
	struct bx_mux_rpc *r = c->rpc; /* set only once the request is sent */
	if (!r || r->done || r->flush_pending || m->err) {
		pthread_mutex_unlock(&m->lk);
		return 0;
	}
	r->flush_pending = true;
	uint32_t tag = r->tag;
	pthread_mutex_unlock(&m->lk);

	int rc = c->flush(m, tag, c->arg);

	/* r waits for flush_pending to clear before it returns: still valid. */
	pthread_mutex_lock(&m->lk);
	if (r->flush_pending) {
		/* the flush never got linked or answered: let r go on waiting or return */
		r->flush_pending = false;
		pthread_cond_signal(&r->cv);
	}
	pthread_mutex_unlock(&m->lk);
	return rc;
}

void bx_mux_hangup(struct bx_mux *m, int err)
{
	struct bx_mux_rpc *todo = NULL;
	pthread_mutex_lock(&m->lk);
	hangup_locked(m, err < 0 ? err : -ECONNRESET, &todo);
	pthread_mutex_unlock(&m->lk);
	run_todo(todo);
}

int bx_mux_error(struct bx_mux *m)
{
	pthread_mutex_lock(&m->lk);
	int err = m->err;
	pthread_mutex_unlock(&m->lk);
	return err;
}
