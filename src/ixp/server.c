/*
 * server.c — IxpServer: libixp's select loop over the program's
 * connections (ixp_listen) and timers (ixp_settimer). boxfs's 9P engine
 * joins the same loop as one more connection (srv9p.c), so every callback
 * runs on the thread inside ixp_serverloop.
 *
 * A read callback may hang up any connection, itself included: the loop
 * calls a ready connection only while it is still listed, recognising it by
 * a serial number rather than by its address, which malloc may reuse.
 */
#include "ixp_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	IxpConn pub;
	uint64_t serial;
};

struct IxpTimer {
	IxpTimer *link;
	long id;
	uint64_t msec; /* when it fires (ixp_msec) */
	void (*fn)(long, void *);
	void *aux;
};

/* Timers of every server: ids are unique across them. */
static pthread_mutex_t timer_mu = PTHREAD_MUTEX_INITIALIZER;
static long last_timer_id;
static uint64_t last_serial;

IxpConn *ixp_listen(IxpServer *s, int fd, void *aux, void (*read)(IxpConn *),
		    void (*close)(IxpConn *))
{
	if (fd < 0 || fd >= FD_SETSIZE) {
		ixp_seterr("descriptor out of select's range");
		return NULL;
	}
	struct conn *c = ixp_emallocz(sizeof *c);
	c->pub.srv = s;
	c->pub.aux = aux;
	c->pub.fd = fd;
	c->pub.read = read;
	c->pub.close = close;
	c->serial = __atomic_add_fetch(&last_serial, 1, __ATOMIC_RELAXED);
	c->pub.next = s->conn;
	s->conn = &c->pub;
	return &c->pub;
}

void ixp_conn_unlink(IxpConn *c)
{
	for (IxpConn **p = &c->srv->conn; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	c->next = NULL;
}

void ixp_hangup(IxpConn *c)
{
	ixp_conn_unlink(c);
	c->closed = 1;
	if (c->close)
		c->close(c);
	else
		shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	free((struct conn *)c);
}

void ixp_server_close(IxpServer *s)
{
	while (s->conn)
		ixp_hangup(s->conn);
}

long ixp_settimer(IxpServer *s, long msec, void (*fn)(long, void *), void *aux)
{
	IxpTimer *t = ixp_emallocz(sizeof *t);
	t->msec = ixp_msec() + (uint64_t)(msec > 0 ? msec : 0);
	t->fn = fn;
	t->aux = aux;
	pthread_mutex_lock(&timer_mu);
	t->id = ++last_timer_id;
	IxpTimer **p = &s->timer;
	while (*p && (*p)->msec <= t->msec) /* in firing order; equal times in setting order */
		p = &(*p)->link;
	t->link = *p;
	*p = t;
	pthread_mutex_unlock(&timer_mu);
	return t->id;
}

int ixp_unsettimer(IxpServer *s, long id)
{
	pthread_mutex_lock(&timer_mu);
	IxpTimer **p = &s->timer, *t;
	while ((t = *p) && t->id != id)
		p = &t->link;
	if (t)
		*p = t->link;
	pthread_mutex_unlock(&timer_mu);
	free(t);
	return t != NULL;
}

/* Fires the timers that are due: milliseconds until the next one, or -1. */
static long run_timers(IxpServer *s)
{
	for (;;) {
		pthread_mutex_lock(&timer_mu);
		IxpTimer *t = s->timer;
		uint64_t now = ixp_msec();
		if (!t || t->msec > now) {
			long wait = t ? (long)(t->msec - now) : -1;
			pthread_mutex_unlock(&timer_mu);
			return wait;
		}
		s->timer = t->link;
		pthread_mutex_unlock(&timer_mu);
		t->fn(t->id, t->aux);
		free(t);
	}
}

/* Is c (with this serial) still one of s's connections? */
static bool listed(IxpServer *s, IxpConn *c, uint64_t serial)
{
	for (IxpConn *x = s->conn; x; x = x->next)
		if (x == c)
			return ((struct conn *)x)->serial == serial;
	return false;
}

int ixp_serverloop(IxpServer *s)
{
	s->running = 1;
	while (s->running) {
		if (s->preselect)
			s->preselect(s);
		long wait = run_timers(s);
		if (!s->running)
			break;
		FD_ZERO(&s->rd);
		s->maxfd = 0;
		size_t n = 0;
		for (IxpConn *c = s->conn; c; c = c->next) {
			if (!c->read)
				continue;
			FD_SET(c->fd, &s->rd);
			if (c->fd > s->maxfd)
				s->maxfd = c->fd;
			n++;
		}
		struct timeval tv, *tvp = NULL;
		if (wait >= 0) {
			tv.tv_sec = wait / 1000;
			tv.tv_usec = (wait % 1000) * 1000;
			tvp = &tv;
		}
		int r = ixp_thread->select(s->maxfd + 1, &s->rd, NULL, NULL, tvp);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ixp_werrstr("select: %s", strerror(errno));
			return 1;
		}
		if (r == 0)
			continue;
		/* The ready ones, noted before any callback changes the list. */
		struct ready {
			IxpConn *c;
			uint64_t serial;
		} *ready = ixp_emalloc((uint)((n ? n : 1) * sizeof *ready));
		size_t k = 0;
		for (IxpConn *c = s->conn; c && k < n; c = c->next)
			if (c->read && FD_ISSET(c->fd, &s->rd))
				ready[k++] = (struct ready){ c, ((struct conn *)c)->serial };
		for (size_t i = 0; i < k; i++)
			if (listed(s, ready[i].c, ready[i].serial) && ready[i].c->read)
				ready[i].c->read(ready[i].c);
		free(ready);
	}
	return 0;
}
