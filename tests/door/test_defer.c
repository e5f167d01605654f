/*
 * test_defer.c — deferred answers (BOXFS_EDEFERRED, boxfs_call_done) through
 * the 9P door, and a server without threads driven from the test's own loop
 * (boxfs_server_fd, boxfs_server_dispatch).
 *
 * The "dfs" backend below defers: reads of "ev" and writes of "wr" wait in a
 * list until the test answers them from its own thread; a read of "now"
 * answers before it returns; a read of "block" waits in boxfs_call_wait. Its
 * cancel hook takes the call off the list and answers -EINTR, so every call
 * is answered exactly once, by whoever takes it off the list. It is mounted
 * three ways: /d declares BOXFS_FS_DEFER (and is inline), /p has no flags
 * (it runs on the pool), /i is inline without BOXFS_FS_DEFER (the core
 * cancels the first try and runs it again on a worker). Clients are raw 9P
 * on a socketpair served with boxfs_server_serve_fds, in every dialect.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../lib/tc9p.h"

#include <boxfs/9p.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the deferring backend ---- */

struct pend {
	struct pend *next;
	struct dfs *fs;
	struct boxfs_call *c;
	void *buf;	  /* a read's */
	const void *wbuf; /* a write's */
	size_t count;
};

struct dfs {
	pthread_mutex_t mu;
	struct pend *head;
	int npend;
	atomic_int hooks;    /* cancel hooks that ran */
	atomic_int releases; /* open files given back */
	atomic_int reads;    /* reads that reached the backend */
	pthread_cond_t block_cv;
};

enum { ROOT = 1, EV, NOW, WR, BLOCK };
static const char *const names[] = { [EV] = "ev", [NOW] = "now", [WR] = "wr", [BLOCK] = "block" };

static int dattr(uintptr_t n, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = n;
	a->version = 1;
	a->nlink = 1;
	a->mode = n == ROOT ? S_IFDIR | 0755 : S_IFREG | 0666;
	return 0;
}

static int d_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *a)
{
	(void)aux, (void)c;
	*node = (void *)(uintptr_t)ROOT;
	return dattr(ROOT, a);
}

static int d_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		    struct boxfs_attr *a)
{
	(void)aux, (void)c, (void)dir;
	uintptr_t n = strcmp(name, "..") == 0 ? ROOT : 0;
	for (uintptr_t i = EV; i <= BLOCK; i++)
		if (strcmp(name, names[i]) == 0)
			n = i;
	if (!n)
		return -ENOENT;
	*node = (void *)n;
	return dattr(n, a);
}

static int d_getattr(void *aux, struct boxfs_call *c, void *node, void *fh, struct boxfs_attr *a)
{
	(void)aux, (void)c, (void)fh;
	return dattr((uintptr_t)node, a);
}

static int d_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	(void)aux, (void)c, (void)node, (void)flags;
	*fh = (void *)(uintptr_t)0x1234;
	return 0;
}

static void d_release(void *aux, void *node, void *fh)
{
	(void)node;
	struct dfs *fs = aux;
	assert_ptr_equal(fh, (void *)(uintptr_t)0x1234);
	fs->releases++;
}

/* The cancel hook: whoever takes p off the list answers it. */
static void d_cancel(void *arg, struct boxfs_call *c)
{
	struct pend *p = arg;
	struct dfs *fs = p->fs;
	bool mine = false;
	pthread_mutex_lock(&fs->mu);
	for (struct pend **pp = &fs->head; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			fs->npend--;
			mine = true;
			break;
		}
	}
	pthread_mutex_unlock(&fs->mu);
	fs->hooks++;
	if (mine) {
		free(p);
		boxfs_call_done(c, -EINTR);
	}
}

static ssize_t d_defer(struct dfs *fs, struct boxfs_call *c, void *buf, const void *wbuf,
		       size_t count)
{
	struct pend *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	*p = (struct pend){ .fs = fs, .c = c, .buf = buf, .wbuf = wbuf, .count = count };
	pthread_mutex_lock(&fs->mu);
	struct pend **pp = &fs->head;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;
	fs->npend++;
	pthread_mutex_unlock(&fs->mu);
	boxfs_call_on_cancel(c, d_cancel, p); /* runs at once if cancelled already */
	return BOXFS_EDEFERRED;
}

static ssize_t d_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
		      size_t count, uint64_t off)
{
	(void)fh, (void)off;
	struct dfs *fs = aux;
	fs->reads++;
	switch ((uintptr_t)node) {
	case EV:
		return d_defer(fs, c, buf, NULL, count);
	case NOW: /* answered before the operation returns */
		memcpy(buf, "early", count < 5 ? count : 5);
		boxfs_call_done(c, count < 5 ? (ssize_t)count : 5);
		return BOXFS_EDEFERRED;
	case BLOCK: {
		pthread_mutex_lock(&fs->mu);
		int r = boxfs_call_wait(c, &fs->block_cv, &fs->mu);
		pthread_mutex_unlock(&fs->mu);
		return r < 0 ? r : 0;
	}
	default:
		return -EINVAL;
	}
}

static ssize_t d_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
		       size_t count, uint64_t off)
{
	(void)fh, (void)off;
	if ((uintptr_t)node != WR)
		return -EROFS;
	return d_defer(aux, c, NULL, buf, count);
}

static void d_destroy(void *aux)
{
	struct dfs *fs = aux;
	assert_int_equal(fs->npend, 0); /* every call was answered */
	pthread_mutex_destroy(&fs->mu);
	pthread_cond_destroy(&fs->block_cv);
	free(fs);
}

static const struct boxfs_fs_ops d_ops = {
	.root = d_root,
	.lookup = d_lookup,
	.getattr = d_getattr,
	.open = d_open,
	.read = d_read,
	.write = d_write,
	.release = d_release,
	.destroy = d_destroy,
};

static struct boxfs_fs *dfs_new(unsigned flags, struct dfs **out)
{
	struct dfs *d = calloc(1, sizeof *d);
	struct boxfs_fs *fs = malloc(sizeof *fs);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->block_cv, NULL);
	*fs = (struct boxfs_fs){ .ops = &d_ops, .aux = d, .flags = flags, .name = "dfs" };
	*out = d;
	return fs;
}

static int npend(struct dfs *fs)
{
	pthread_mutex_lock(&fs->mu);
	int n = fs->npend;
	pthread_mutex_unlock(&fs->mu);
	return n;
}

/* Waits (5 s at most) until fs has n calls waiting. */
static void wait_pend(struct dfs *fs, int n)
{
	for (int i = 0; i < 5000 && npend(fs) != n; i++)
		usleep(1000);
	assert_int_equal(npend(fs), n);
}

static void wait_count(atomic_int *v, int n)
{
	for (int i = 0; i < 5000 && atomic_load(v) != n; i++)
		usleep(1000);
	assert_int_equal(atomic_load(v), n);
}

/* Takes the oldest waiting call off the list (NULL when there is none). */
static struct pend *take(struct dfs *fs)
{
	pthread_mutex_lock(&fs->mu);
	struct pend *p = fs->head;
	if (p) {
		fs->head = p->next;
		fs->npend--;
	}
	pthread_mutex_unlock(&fs->mu);
	return p;
}

/* Answers the oldest waiting read with data. */
static bool answer_read(struct dfs *fs, const void *data, size_t len)
{
	struct pend *p = take(fs);
	if (!p)
		return false;
	assert_non_null(p->buf);
	size_t n = len < p->count ? len : p->count;
	memcpy(p->buf, data, n);
	struct boxfs_call *c = p->c;
	free(p);
	boxfs_call_done(c, (ssize_t)n);
	return true;
}

/* Checks the oldest waiting write carries data, and answers it with n. */
static void answer_write(struct dfs *fs, const char *data, ssize_t n)
{
	struct pend *p = take(fs);
	assert_non_null(p);
	assert_non_null(p->wbuf);
	assert_int_equal(p->count, strlen(data));
	assert_memory_equal(p->wbuf, data, p->count);
	struct boxfs_call *c = p->c;
	free(p);
	boxfs_call_done(c, n);
}

/* ---- a raw 9P client on one end of a socketpair ---- */

enum { MSIZE = TC_MSIZE };

static struct boxfs_server *srv; /* threaded: /d, /p, /i */
static struct dfs *dd, *dp, *di;

/* Walks fid 0 to path's names (a/b) as fid and opens it read-write. */
static void open_path(struct tc *t, uint32_t fid, const char *dir, const char *name)
{
	struct p9_fcall tx = { .type = P9_Twalk, .tag = 2 }, rx;
	tx.twalk = (struct p9_twalk){ .fid = 0, .newfid = fid, .nwname = 2 };
	tx.twalk.wname[0] = p9_cstr(dir);
	tx.twalk.wname[1] = p9_cstr(name);
	rpc(t, &tx, &rx);
	expect(t, &rx, P9_Rwalk);
	assert_int_equal(rx.rwalk.nwqid, 2);
	if (t->d == P9_2000L) {
		tx = (struct p9_fcall){ .type = P9_Tlopen, .tag = 3 };
		tx.tlopen = (struct p9_tlopen){ .fid = fid, .flags = O_RDWR };
		rpc(t, &tx, &rx);
		expect(t, &rx, P9_Rlopen);
	} else {
		tx = (struct p9_fcall){ .type = P9_Topen, .tag = 3 };
		tx.topen = (struct p9_topen){ .fid = fid, .mode = P9_ORDWR };
		rpc(t, &tx, &rx);
		expect(t, &rx, P9_Ropen);
	}
}

/* ---- the threaded server ---- */

static int setup(void **state)
{
	(void)state;
	srv = boxfs_server_new(&(struct boxfs_server_opts){
		.max_msize = MSIZE, .max_requests = 32, .workers = 2, .trust_uname = true });
	if (!srv || boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(srv, "/d", dfs_new(BOXFS_FS_INLINE | BOXFS_FS_DEFER, &dd)) < 0 ||
	    boxfs_server_mount(srv, "/p", dfs_new(0, &dp)) < 0 ||
	    boxfs_server_mount(srv, "/i", dfs_new(BOXFS_FS_INLINE, &di)) < 0 ||
	    boxfs_server_start(srv) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	boxfs_server_free(srv);
	return 0;
}

struct later {
	struct dfs *fs;
	const char *data;
	int delay_us;
};

static void *answer_later(void *arg)
{
	struct later *l = arg;
	wait_pend(l->fs, 1);
	if (l->delay_us)
		usleep((useconds_t)l->delay_us);
	answer_read(l->fs, l->data, strlen(l->data));
	return NULL;
}

/* A read answered later, from another thread, in each dialect and mount. */
static void test_answered_later(void **state)
{
	(void)state;
	struct dfs *fss[] = { dd, dp, di };
	const char *dirs[] = { "d", "p", "i" };
	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < 3; i++) {
			struct tc t = session(srv, tc_dialects[i], false);
			int hooks = fss[k]->hooks;
			open_path(&t, 1, dirs[k], "ev");
			send_read(&t, 10, 1, 100);
			wait_pend(fss[k], 1);
			no_reply(&t, 30);
			/* /i: the loop thread's try was cancelled, the worker defers */
			assert_int_equal(fss[k]->hooks - hooks, fss[k] == di ? 1 : 0);
			pthread_t th;
			struct later l = { fss[k], "later", 1000 };
			pthread_create(&th, NULL, answer_later, &l);
			expect_rread(&t, 10, "later");
			pthread_join(th, NULL);
			clunk(&t, 1);
			tc_close(&t);
		}
	}
}

/* boxfs_call_done before the operation returned. */
static void test_answered_before_return(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		open_path(&t, 1, "d", "now");
		open_path(&t, 2, "p", "now");
		open_path(&t, 3, "i", "now");
		for (uint32_t fid = 1; fid <= 3; fid++) {
			send_read(&t, 11, fid, 100);
			expect_rread(&t, 11, "early");
		}
		send_read(&t, 12, 1, 3); /* no more than asked */
		expect_rread(&t, 12, "ear");
		tc_close(&t);
	}
}

/* A deferred write: the data stays valid until the answer; an answer above
 * the count asked is the backend's error. */
static void test_write_deferred(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		open_path(&t, 1, "d", "wr");
		open_path(&t, 2, "p", "wr");
		struct dfs *fss[] = { dd, dp };
		for (uint32_t fid = 1; fid <= 2; fid++) {
			struct dfs *fs = fss[fid - 1];
			struct p9_fcall rx, tx = { .type = P9_Twrite, .tag = 13 };
			tx.twrite = (struct p9_twrite){ .fid = fid,
							.offset = 0,
							.count = 6,
							.data = (const uint8_t *)"abcdef" };
			tc_send(&t, &tx);
			wait_pend(fs, 1);
			no_reply(&t, 20);
			answer_write(fs, "abcdef", 4);
			tc_recv(&t, &rx);
			expect(&t, &rx, P9_Rwrite);
			assert_int_equal(rx.rwrite.count, 4);
			tc_send(&t, &tx);
			wait_pend(fs, 1);
			answer_write(fs, "abcdef", 7);
			tc_recv(&t, &rx);
			assert_int_equal(rerr(&t, &rx), EIO);
		}
		tc_close(&t);
	}
}

/* Tflush of a deferred read: the hook runs, Rflush comes, no Rread. */
static void test_flush_deferred(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		open_path(&t, 1, "d", "ev");
		open_path(&t, 2, "p", "ev");
		struct dfs *fss[] = { dd, dp };
		for (uint32_t fid = 1; fid <= 2; fid++) {
			struct dfs *fs = fss[fid - 1];
			int hooks = fs->hooks;
			send_read(&t, 20, fid, 100);
			wait_pend(fs, 1);
			send_flush(&t, 21, 20);
			struct p9_fcall rx;
			tc_recv(&t, &rx);
			expect(&t, &rx, P9_Rflush);
			assert_int_equal(rx.tag, 21);
			assert_int_equal(fs->hooks - hooks, 1);
			assert_int_equal(npend(fs), 0);
			/* the tag is free again, and nothing else was sent */
			send_read(&t, 20, fid, 100);
			wait_pend(fs, 1);
			assert_true(answer_read(fs, "again", 5));
			expect_rread(&t, 20, "again");
		}
		tc_close(&t);
	}
}

struct racer {
	struct dfs *fs;
	int delay_ns;
	bool answered;
};

static void *race_answer(void *arg)
{
	struct racer *r = arg;
	struct timespec ts = { 0, r->delay_ns };
	nanosleep(&ts, NULL);
	r->answered = answer_read(r->fs, "x", 1);
	return NULL;
}

/* A flush racing a completion: Rread then Rflush, or Rflush alone, never
 * the other way round, and every call answered once. */
static void test_flush_races_done(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		open_path(&t, 1, "d", "ev");
		int hooks = dd->hooks, answered = 0, rreads = 0;
		for (int k = 0; k < 150; k++) {
			uint16_t tag = (uint16_t)(100 + 2 * k);
			send_read(&t, tag, 1, 10);
			wait_pend(dd, 1);
			/* half the time the answer starts first, half the flush */
			struct racer r = { dd, k % 2 ? (k % 10) * 10000 : 0, false };
			pthread_t th;
			pthread_create(&th, NULL, race_answer, &r);
			if (k % 2 == 0) {
				struct timespec ts = { 0, (k % 10) * 10000 };
				nanosleep(&ts, NULL);
			}
			send_flush(&t, (uint16_t)(tag + 1), tag);
			struct p9_fcall rx;
			tc_recv(&t, &rx);
			if (rx.type == P9_Rread) {
				assert_int_equal(rx.tag, tag);
				assert_int_equal(rx.rread.count, 1);
				rreads++;
				tc_recv(&t, &rx);
			}
			expect(&t, &rx, P9_Rflush);
			assert_int_equal(rx.tag, tag + 1);
			pthread_join(th, NULL);
			answered += r.answered;
		}
		no_reply(&t, 20);
		assert_int_equal(npend(dd), 0);
		assert_int_equal(rreads, answered); /* data went out exactly when answered */
		/* the hook ran for every flush that got through before the answer */
		assert_true(dd->hooks - hooks >= 150 - answered);
		tc_close(&t);
	}
}

/* Hang-up: every deferred call is cancelled, and the fids and connection
 * go once they are answered (ASan checks nothing leaks). */
static void test_hangup(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		int hd = dd->hooks, hp = dp->hooks, rd = dd->releases, rp = dp->releases;
		open_path(&t, 1, "d", "ev");
		open_path(&t, 2, "d", "ev");
		open_path(&t, 3, "d", "wr");
		open_path(&t, 4, "p", "ev");
		send_read(&t, 30, 1, 100);
		send_read(&t, 31, 2, 100);
		tc_send(&t, &(struct p9_fcall){ .type = P9_Twrite,
						.tag = 32,
						.twrite = { .fid = 3,
							    .count = 2,
							    .data = (const uint8_t *)"hi" } });
		send_read(&t, 33, 4, 100);
		wait_pend(dd, 3);
		wait_pend(dp, 1);
		assert_int_equal(dd->releases, rd); /* the open files wait for the answers */
		tc_close(&t);
		wait_count(&dd->hooks, hd + 3);
		wait_count(&dp->hooks, hp + 1);
		wait_count(&dd->releases, rd + 3);
		wait_count(&dp->releases, rp + 1);
		assert_int_equal(npend(dd), 0);
		assert_int_equal(npend(dp), 0);
	}
}

/* Tversion cancels deferred calls: Rversion alone comes back. */
static void test_version_resets(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		int hooks = dd->hooks, rel = dd->releases;
		open_path(&t, 1, "d", "ev");
		send_read(&t, 40, 1, 100);
		wait_pend(dd, 1);
		version(&t, tc_dialects[i]); /* the next message must be Rversion */
		assert_int_equal(dd->hooks - hooks, 1);
		wait_count(&dd->releases, rel + 1);
		no_reply(&t, 20);
		attach(&t);
		open_path(&t, 1, "d", "now");
		send_read(&t, 40, 1, 100);
		expect_rread(&t, 40, "early");
		tc_close(&t);
	}
}

/* A clunk while a read waits: the open file stays until the answer, which
 * is still sent. */
static void test_clunk_while_deferred(void **state)
{
	(void)state;
	struct tc t = session(srv, P9_2000L, false);
	int rel = dd->releases;
	open_path(&t, 5, "d", "ev");
	send_read(&t, 50, 5, 100);
	wait_pend(dd, 1);
	clunk(&t, 5);
	assert_int_equal(dd->releases, rel);
	assert_true(answer_read(dd, "late", 4));
	expect_rread(&t, 50, "late");
	wait_count(&dd->releases, rel + 1);
	tc_close(&t);
}

/* Deferred reads hold no worker: with 2 workers and 6 reads waiting on the
 * pool backends, other pool requests are still served. */
static void test_no_worker_pinned(void **state)
{
	(void)state;
	struct tc t = session(srv, P9_2000L, false);
	open_path(&t, 1, "p", "ev");
	open_path(&t, 2, "i", "ev");
	open_path(&t, 3, "p", "now");
	for (uint16_t k = 0; k < 3; k++) {
		send_read(&t, (uint16_t)(60 + k), 1, 100);
		send_read(&t, (uint16_t)(70 + k), 2, 100);
	}
	wait_pend(dp, 3);
	wait_pend(di, 3);
	send_read(&t, 80, 3, 100);
	expect_rread(&t, 80, "early");
	for (uint16_t k = 0; k < 3; k++) {
		assert_true(answer_read(dp, "p", 1));
		expect_rread(&t, (uint16_t)(60 + k), "p");
		assert_true(answer_read(di, "i", 1));
		expect_rread(&t, (uint16_t)(70 + k), "i");
	}
	tc_close(&t);
}

/* ---- a server without threads, driven from this test's loop ---- */

struct bulk {
	struct dfs *fs;
	int n;
	size_t len;
};

static void *answer_bulk(void *arg)
{
	struct bulk *b = arg;
	wait_pend(b->fs, b->n);
	uint8_t *data = malloc(b->len);
	for (int k = 0; k < b->n; k++) {
		for (size_t j = 0; j < b->len; j++)
			data[j] = (uint8_t)(k + j % 251);
		assert_true(answer_read(b->fs, data, b->len));
	}
	free(data);
	return NULL;
}

static void test_no_threads(void **state)
{
	(void)state;
	int tasks = ntasks();
	struct dfs *nd, *np;
	struct boxfs_server *s = boxfs_server_new(&(struct boxfs_server_opts){
		.max_msize = 16384, .trust_uname = true, .no_threads = true });
	assert_non_null(s);
	assert_int_equal(boxfs_server_mount(s, "/", boxfs_ramfs_new(NULL)), 0);
	assert_int_equal(
		boxfs_server_mount(s, "/d", dfs_new(BOXFS_FS_INLINE | BOXFS_FS_DEFER, &nd)), 0);
	assert_int_equal(boxfs_server_mount(s, "/p", dfs_new(0, &np)), 0);
	assert_int_equal(boxfs_server_start(s), -EINVAL);
	assert_int_equal(boxfs_server_listen(s, "9p", "tls!127.0.0.1!0"), -EOPNOTSUPP);
	assert_true(boxfs_server_fd(s) >= 0);
	assert_int_equal(boxfs_server_dispatch(s), 0); /* nothing to do */

	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(s, tc_dialects[i], true);
		/* the RAM tree: create, write, read back */
		struct p9_fcall tx = { .type = P9_Twalk, .tag = 2 }, rx;
		tx.twalk = (struct p9_twalk){ .fid = 0, .newfid = 1 };
		rpc(&t, &tx, &rx);
		expect(&t, &rx, P9_Rwalk);
		char name[16];
		snprintf(name, sizeof name, "f%zu", i);
		if (t.d == P9_2000L) {
			tx = (struct p9_fcall){ .type = P9_Tlcreate, .tag = 3 };
			tx.tlcreate = (struct p9_tlcreate){
				.fid = 1, .name = p9_cstr(name), .flags = O_RDWR, .mode = 0644
			};
		} else {
			tx = (struct p9_fcall){ .type = P9_Tcreate, .tag = 3 };
			tx.tcreate = (struct p9_tcreate){
				.fid = 1, .name = p9_cstr(name), .perm = 0644, .mode = P9_ORDWR
			};
		}
		rpc(&t, &tx, &rx);
		assert_int_equal(rerr(&t, &rx), 0);
		tx = (struct p9_fcall){ .type = P9_Twrite, .tag = 4 };
		tx.twrite = (struct p9_twrite){ .fid = 1,
						.count = 5,
						.data = (const uint8_t *)"hello" };
		rpc(&t, &tx, &rx);
		expect(&t, &rx, P9_Rwrite);
		send_read(&t, 5, 1, 100);
		expect_rread(&t, 5, "hello");

		/* a deferred read, answered by another thread of the application */
		open_path(&t, 2, "d", "ev");
		open_path(&t, 3, "p", "ev");
		open_path(&t, 4, "p", "block");
		assert_int_equal(ntasks(), tasks); /* no thread was made */
		send_read(&t, 6, 2, 100);
		send_read(&t, 7, 3, 100);
		no_reply(&t, 20);
		wait_pend(nd, 1);
		wait_pend(np, 1);
		pthread_t th;
		struct later l = { nd, "wake", 5000 };
		pthread_create(&th, NULL, answer_later, &l);
		expect_rread(&t, 6, "wake");
		pthread_join(th, NULL);
		assert_true(answer_read(np, "pool", 4));
		expect_rread(&t, 7, "pool");
		/* an operation that would wait cannot: EAGAIN */
		send_read(&t, 8, 4, 100);
		tc_recv(&t, &rx);
		assert_int_equal(rerr(&t, &rx), EAGAIN);
		/* a flush of a deferred read */
		int hooks = nd->hooks;
		send_read(&t, 9, 2, 100);
		no_reply(&t, 10);
		send_flush(&t, 10, 9);
		tc_recv(&t, &rx);
		expect(&t, &rx, P9_Rflush);
		assert_int_equal(nd->hooks - hooks, 1);
		tc_close(&t);
	}

	/* Answers from another thread that overflow the socket: the rest is
	 * queued, and the epoll descriptor wakes this loop to send it. */
	struct tc t = session(s, P9_2000L, true);
	open_path(&t, 1, "d", "ev");
	enum { N = 12, LEN = 16000 };
	for (uint16_t k = 0; k < N; k++)
		send_read(&t, (uint16_t)(100 + k), 1, LEN);
	no_reply(&t, 10); /* let the loop read them all */
	struct bulk b = { nd, N, LEN };
	pthread_t th;
	pthread_create(&th, NULL, answer_bulk, &b);
	pthread_join(th, NULL);
	for (int k = 0; k < N; k++) {
		struct p9_fcall rx;
		tc_recv(&t, &rx);
		expect(&t, &rx, P9_Rread);
		assert_int_equal(rx.tag, 100 + k);
		assert_int_equal(rx.rread.count, LEN);
		for (size_t j = 0; j < LEN; j += 997)
			assert_int_equal(rx.rread.data[j], (uint8_t)(k + j % 251));
	}
	assert_int_equal(ntasks(), tasks);

	/* hang-up with a deferred read, handled by dispatch */
	send_read(&t, 200, 1, 10);
	no_reply(&t, 10);
	int hooks = nd->hooks;
	tc_close(&t);
	for (int k = 0; k < 100 && nd->hooks == hooks; k++) {
		struct pollfd p = { .fd = boxfs_server_fd(s), .events = POLLIN };
		poll(&p, 1, 10);
		assert_int_equal(boxfs_server_dispatch(s), 0);
	}
	assert_int_equal(nd->hooks - hooks, 1);
	assert_int_equal(ntasks(), tasks);
	boxfs_server_free(s);
	assert_int_equal(ntasks(), tasks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answered_later),
		cmocka_unit_test(test_answered_before_return),
		cmocka_unit_test(test_write_deferred),
		cmocka_unit_test(test_flush_deferred),
		cmocka_unit_test(test_flush_races_done),
		cmocka_unit_test(test_hangup),
		cmocka_unit_test(test_version_resets),
		cmocka_unit_test(test_clunk_while_deferred),
		cmocka_unit_test(test_no_worker_pinned),
		cmocka_unit_test(test_no_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
