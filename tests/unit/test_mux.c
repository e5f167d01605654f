/*
 * test_mux.c — the tag multiplexer of src/client/mux.c over a socketpair,
 * against a fake server thread speaking a trivial framing:
 *
 *	size[4] tag[2] op[1] arg[4] payload...
 *
 * Ops: 'E' echo at once; 'S' reply after arg milliseconds (from its own
 * thread, so replies come out of order); 'H' hold until an 'R'; 'R' answer
 * every held request (newest first), then itself; 'F' flush of tag arg
 * (a held request is dropped; with arg bit 16 set it is answered first);
 * 'D' drop the connection; 'G' answer with a malformed frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/mux.h"

enum { HDR = 6, MAXF = 1 << 20 };

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static ssize_t t_frame_size(const void *hdr, void *aux)
{
	(void)aux;
	uint32_t n = rd32(hdr);
	return n < HDR ? -EPROTO : (ssize_t)n;
}

static uint32_t t_get_tag(const void *hdr, void *aux)
{
	(void)aux;
	const uint8_t *p = hdr;
	return (uint32_t)(p[4] | p[5] << 8);
}

static void t_set_tag(void *hdr, uint32_t tag, void *aux)
{
	(void)aux;
	uint8_t *p = hdr;
	p[4] = (uint8_t)tag;
	p[5] = (uint8_t)(tag >> 8);
}

/* ---- the fake server ---- */

struct held {
	uint8_t *frame;
	struct held *next;
};

struct server {
	int fd;
	pthread_t thread;
	pthread_mutex_t lk; /* writes and the held list */
	struct held *held;
	atomic_int outstanding, max_outstanding;
	atomic_int delayed; /* delayed-reply threads still running */
};

static void srv_sendn(struct server *s, const uint8_t *f, size_t n)
{
	size_t off = 0;
	while (off < n) {
		ssize_t k = send(s->fd, f + off, n - off, MSG_NOSIGNAL);
		if (k <= 0)
			return;
		off += (size_t)k;
	}
}

static void srv_send(struct server *s, const uint8_t *f)
{
	srv_sendn(s, f, rd32(f));
}

/* Sends f as the reply (same bytes back) and frees it (lock held). */
static void srv_reply(struct server *s, uint8_t *f)
{
	atomic_fetch_sub(&s->outstanding, 1);
	srv_send(s, f);
	free(f);
}

struct delayed {
	struct server *s;
	uint8_t *f;
	unsigned ms;
};

static void *delay_main(void *arg)
{
	struct delayed *d = arg;
	struct timespec ts = { d->ms / 1000, (long)(d->ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&d->s->lk);
	srv_reply(d->s, d->f);
	pthread_mutex_unlock(&d->s->lk);
	atomic_fetch_sub(&d->s->delayed, 1);
	free(d);
	return NULL;
}

static int read_full(int fd, uint8_t *b, size_t n)
{
	while (n > 0) {
		ssize_t k = read(fd, b, n);
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	for (;;) {
		uint8_t hdr[4];
		if (read_full(s->fd, hdr, 4) < 0)
			break;
		uint32_t n = rd32(hdr);
		uint8_t *f = malloc(n);
		memcpy(f, hdr, 4);
		if (read_full(s->fd, f + 4, n - 4) < 0) {
			free(f);
			break;
		}
		int o = atomic_fetch_add(&s->outstanding, 1) + 1;
		if (o > atomic_load(&s->max_outstanding))
			atomic_store(&s->max_outstanding, o);
		uint8_t op = f[HDR];
		uint32_t a = rd32(f + HDR + 1);
		pthread_mutex_lock(&s->lk);
		if (op == 'S') {
			struct delayed *d = malloc(sizeof *d);
			*d = (struct delayed){ s, f, a };
			pthread_t t;
			atomic_fetch_add(&s->delayed, 1);
			pthread_create(&t, NULL, delay_main, d);
			pthread_detach(t);
		} else if (op == 'H') {
			struct held *h = malloc(sizeof *h);
			h->frame = f;
			h->next = s->held;
			s->held = h;
		} else if (op == 'R') {
			while (s->held) {
				struct held *h = s->held;
				s->held = h->next;
				srv_reply(s, h->frame);
				free(h);
			}
			srv_reply(s, f);
		} else if (op == 'F') {
			for (struct held **pp = &s->held; *pp; pp = &(*pp)->next) {
				struct held *h = *pp;
				if (t_get_tag(h->frame, NULL) == (a & 0xffff)) {
					*pp = h->next;
					if (a & 0x10000)
						srv_reply(s, h->frame);
					else
						free(h->frame),
							atomic_fetch_sub(&s->outstanding, 1);
					free(h);
					break;
				}
			}
			srv_reply(s, f);
		} else if (op == 'D') {
			free(f);
			shutdown(s->fd, SHUT_RDWR);
			pthread_mutex_unlock(&s->lk);
			break;
		} else if (op == 'G') {
			wr32(f, 3); /* below the header size */
			srv_sendn(s, f, n);
			free(f);
		} else {
			srv_reply(s, f);
		}
		pthread_mutex_unlock(&s->lk);
	}
	return NULL;
}

struct fixture {
	struct server srv;
	struct bx_mux *mux;
};

static struct fixture *fixture_new(uint32_t tag_min, uint32_t tag_max)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fx->srv.fd = sv[1];
	pthread_mutex_init(&fx->srv.lk, NULL);
	pthread_create(&fx->srv.thread, NULL, server_main, &fx->srv);
	struct bx_mux_proto p = {
		.hdr_len = HDR,
		.frame_size = t_frame_size,
		.get_tag = t_get_tag,
		.set_tag = t_set_tag,
		.tag_min = tag_min,
		.tag_max = tag_max,
	};
	fx->mux = bx_mux_new(sv[0], sv[0], &p, MAXF);
	assert_non_null(fx->mux);
	return fx;
}

static void fixture_free(struct fixture *fx)
{
	bx_mux_free(fx->mux); /* closes our end: the server reads EOF */
	pthread_join(fx->srv.thread, NULL);
	while (atomic_load(&fx->srv.delayed) > 0)
		usleep(1000);
	while (fx->srv.held) {
		struct held *h = fx->srv.held;
		fx->srv.held = h->next;
		free(h->frame);
		free(h);
	}
	close(fx->srv.fd);
	pthread_mutex_destroy(&fx->srv.lk);
	free(fx);
}

/* Builds a request frame (tag filled by the mux). */
static size_t mkframe(uint8_t *f, uint8_t op, uint32_t a, const void *pl, size_t n)
{
	wr32(f, (uint32_t)(HDR + 5 + n));
	f[4] = f[5] = 0xee;
	f[HDR] = op;
	wr32(f + HDR + 1, a);
	if (n)
		memcpy(f + HDR + 5, pl, n);
	return HDR + 5 + n;
}

/* One synchronous call; answers the status and checks the echo. */
static int call(struct bx_mux *m, uint8_t op, uint32_t a, const char *pl, struct bx_mux_cancel *c)
{
	uint8_t f[256], rb[256];
	size_t n = mkframe(f, op, a, pl, strlen(pl));
	struct iovec iov = { f, n };
	struct bx_mux_msg msg = {
		.iov = &iov, .iovcnt = 1, .rbuf = rb, .rcap = sizeof rb, .cancel = c
	};
	int rc = bx_mux_call(m, &msg);
	if (rc == 0) {
		assert_int_equal(msg.rlen, n);
		assert_memory_equal(msg.reply, f, n); /* same tag too */
		if (msg.reply != rb)
			free(msg.reply);
	}
	return rc;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tests ---- */

static void test_single_call(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0xfffe);
	for (int i = 0; i < 100; i++)
		assert_int_equal(call(fx->mux, 'E', 0, "hello", NULL), 0);
	/* a reply bigger than the receive buffer comes back malloc'd */
	static uint8_t big[200000], f[200100];
	memset(big, 'x', sizeof big);
	size_t n = mkframe(f, 'E', 0, big, sizeof big);
	struct iovec iov[2] = { { f, HDR + 5 }, { f + HDR + 5, n - HDR - 5 } };
	uint8_t rb[64];
	struct bx_mux_msg msg = { .iov = iov, .iovcnt = 2, .rbuf = rb, .rcap = sizeof rb };
	assert_int_equal(bx_mux_call(fx->mux, &msg), 0);
	assert_int_equal(msg.rlen, n);
	assert_ptr_not_equal(msg.reply, rb);
	assert_memory_equal(msg.reply, f, n);
	free(msg.reply);
	assert_int_equal(bx_mux_error(fx->mux), 0);
	fixture_free(fx);
}

struct worker {
	struct bx_mux *m;
	int id, calls, fails;
	char op;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < w->calls; i++) {
		char pl[64];
		snprintf(pl, sizeof pl, "thread %d call %d", w->id, i);
		if (call(w->m, (uint8_t)w->op, (unsigned)(i * 7 + w->id) % 3, pl, NULL) != 0)
			w->fails++;
	}
	return NULL;
}

static void run_workers(struct bx_mux *m, int nthreads, int calls, char op)
{
	pthread_t t[16];
	struct worker w[16];
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ m, i, calls, 0, op };
		pthread_create(&t[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].fails, 0);
	}
}

static void test_many_threads_out_of_order(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0xfffe);
	run_workers(fx->mux, 8, 200, 'E');
	/* delayed replies (0-2 ms, each from its own thread) overtake each other */
	run_workers(fx->mux, 12, 60, 'S');
	assert_true(atomic_load(&fx->srv.max_outstanding) > 1);
	fixture_free(fx);
}

struct async_state {
	pthread_mutex_t lk;
	pthread_cond_t cv;
	int done, ok, failed;
};

static void async_cb(void *arg, int err, void *reply, size_t len)
{
	struct async_state *as = arg;
	pthread_mutex_lock(&as->lk);
	if (err == 0 && len > HDR && ((uint8_t *)reply)[HDR] != 0)
		as->ok++;
	else
		as->failed++;
	as->done++;
	pthread_cond_broadcast(&as->cv);
	pthread_mutex_unlock(&as->lk);
	free(reply);
}

static void async_wait(struct async_state *as, int n)
{
	pthread_mutex_lock(&as->lk);
	while (as->done < n)
		pthread_cond_wait(&as->cv, &as->lk);
	pthread_mutex_unlock(&as->lk);
}

static void test_async(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0xfffe);
	struct async_state as = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	uint8_t f[64];
	/* no synchronous caller: the lazily started reader thread reads */
	for (int i = 0; i < 500; i++) {
		size_t n = mkframe(f, i % 2 ? 'E' : 'S', 1, "async", 5);
		struct iovec iov = { f, n };
		assert_int_equal(bx_mux_call_async(fx->mux, &iov, 1, async_cb, &as), 0);
	}
	async_wait(&as, 500);
	assert_int_equal(as.ok, 500);
	/* mixed with synchronous callers that read for everybody */
	for (int i = 0; i < 300; i++) {
		size_t n = mkframe(f, 'S', 2, "async", 5);
		struct iovec iov = { f, n };
		assert_int_equal(bx_mux_call_async(fx->mux, &iov, 1, async_cb, &as), 0);
	}
	run_workers(fx->mux, 4, 50, 'E');
	async_wait(&as, 800);
	assert_int_equal(as.ok, 800);
	fixture_free(fx);
}

struct held_call {
	struct bx_mux *m;
	char op;
	unsigned arg;
	int rc;
	double t;
	struct bx_mux_cancel *cancel;
};

static void *held_main(void *arg)
{
	struct held_call *h = arg;
	h->rc = call(h->m, (uint8_t)h->op, h->arg, "held", h->cancel);
	h->t = now();
	return NULL;
}

static void test_reader_handoff(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0xfffe);
	/* A reads first and gets its reply first; B must then take over reading. */
	struct held_call a = { fx->mux, 'S', 30, -1, 0, NULL };
	struct held_call b = { fx->mux, 'S', 150, -1, 0, NULL };
	pthread_t ta, tb;
	pthread_create(&ta, NULL, held_main, &a);
	usleep(5000);
	pthread_create(&tb, NULL, held_main, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_true(a.t < b.t);
	/* and the other way round: the reader's reply comes last */
	a.arg = 150, b.arg = 10;
	pthread_create(&ta, NULL, held_main, &a);
	usleep(5000);
	pthread_create(&tb, NULL, held_main, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_true(b.t < a.t);
	fixture_free(fx);
}

static void drop_with(char op)
{
	struct fixture *fx = fixture_new(0, 0xfffe);
	struct async_state as = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	struct held_call h[6];
	pthread_t t[6];
	for (int i = 0; i < 6; i++) {
		h[i] = (struct held_call){ fx->mux, 'H', 0, 1, 0, NULL };
		pthread_create(&t[i], NULL, held_main, &h[i]);
	}
	uint8_t f[64];
	for (int i = 0; i < 10; i++) {
		size_t n = mkframe(f, 'H', 0, "a", 1);
		struct iovec iov = { f, n };
		assert_int_equal(bx_mux_call_async(fx->mux, &iov, 1, async_cb, &as), 0);
	}
	usleep(50000);
	double t0 = now();
	assert_int_not_equal(call(fx->mux, (uint8_t)op, 0, "bye", NULL), 0);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_true(h[i].rc == -ECONNRESET || h[i].rc == -EPIPE);
	}
	async_wait(&as, 10);
	assert_int_equal(as.failed, 10);
	assert_true(now() - t0 < 2.0);
	/* later calls fail at once */
	assert_true(call(fx->mux, 'E', 0, "x", NULL) < 0);
	assert_true(bx_mux_error(fx->mux) < 0);
	uint8_t g[32];
	struct iovec iov = { g, mkframe(g, 'E', 0, "", 0) };
	assert_true(bx_mux_call_async(fx->mux, &iov, 1, async_cb, &as) < 0);
	fixture_free(fx);
}

static void test_connection_drop(void **state)
{
	(void)state;
	drop_with('D');
}

static void test_malformed_frame(void **state)
{
	(void)state;
	drop_with('G');
}

static void test_tag_exhaustion(void **state)
{
	(void)state;
	/* four tags, 10..13: sixteen threads must take turns */
	struct fixture *fx = fixture_new(10, 13);
	run_workers(fx->mux, 16, 20, 'S');
	assert_true(atomic_load(&fx->srv.max_outstanding) <= 4);
	fixture_free(fx);
}

static int flush_hook(struct bx_mux *m, uint32_t oldtag, void *arg)
{
	unsigned extra = *(unsigned *)arg;
	uint8_t f[64], rb[64];
	size_t n = mkframe(f, 'F', oldtag | extra, "", 0);
	struct iovec iov = { f, n };
	struct bx_mux_msg msg = { .iov = &iov,
				  .iovcnt = 1,
				  .rbuf = rb,
				  .rcap = sizeof rb,
				  .is_flush = true,
				  .oldtag = oldtag };
	int rc = bx_mux_call(m, &msg);
	if (rc == 0 && msg.reply != rb)
		free(msg.reply);
	return rc;
}

static void test_flush(void **state)
{
	(void)state;
	struct fixture *fx = fixture_new(0, 0xfffe);
	for (int round = 0; round < 2; round++) {
		/* round 0: the server drops the request; round 1: it answers it first */
		unsigned extra = round ? 0x10000 : 0;
		struct bx_mux_cancel c = { .flush = flush_hook, .arg = &extra };
		struct held_call h = { fx->mux, 'H', 0, 1, 0, &c };
		pthread_t t;
		pthread_create(&t, NULL, held_main, &h);
		usleep(30000);
		assert_int_equal(bx_mux_cancel(fx->mux, &c), 0);
		pthread_join(t, NULL);
		assert_int_equal(h.rc, round ? 0 : -EINTR);
		/* the tag is free again and the connection still works */
		assert_int_equal(call(fx->mux, 'E', 0, "after", NULL), 0);
	}
	/* a cancel before the call: nothing is sent */
	unsigned extra = 0;
	struct bx_mux_cancel c = { .flush = flush_hook, .arg = &extra };
	assert_int_equal(bx_mux_cancel(fx->mux, &c), 0);
	assert_int_equal(call(fx->mux, 'E', 0, "x", &c), -EINTR);
	fixture_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_call),
		cmocka_unit_test(test_many_threads_out_of_order),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_reader_handoff),
		cmocka_unit_test(test_connection_drop),
		cmocka_unit_test(test_malformed_frame),
		cmocka_unit_test(test_tag_exhaustion),
		cmocka_unit_test(test_flush),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
