/*
 * test_stress9p.c — many connections at once, with flushes and hang-ups.
 *
 * 64 threads each make 1,000 requests to a server in this process, several in
 * flight at a time, over their own connections. Some requests are flushed,
 * some connections are dropped with requests still outstanding and made
 * again. Every reply is checked against its request: the right tag, type and
 * content, no reply to a flushed tag after its Rflush, no reply twice. The
 * RAM tree is mounted as a backend that is not inline, so requests run on
 * the worker pool and flushes really race them. At the end the server is
 * freed and the process has as many descriptors open as before (leaks of
 * memory are ASan's to find, in `make test-asan`).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/9p.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { THREADS = 64, REQUESTS = 1000, DEPTH = 8, MSIZE = 8192 };

static char sock[100];
static atomic_int failures, flushes_sent, hangups, replies;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

struct conn {
	int fd;
	uint8_t buf[MSIZE];
	uint32_t seed;
};

static uint32_t rnd(struct conn *c)
{
	c->seed = c->seed * 1103515245u + 12345u;
	return c->seed >> 8;
}

static bool send_msg(struct conn *c, const struct p9_fcall *f)
{
	uint8_t out[512];
	ssize_t n = p9_pack(out, sizeof out, f, P9_2000L);
	return n > 0 && write(c->fd, out, (size_t)n) == n;
}

static bool recv_msg(struct conn *c, struct p9_fcall *f)
{
	size_t got = 0, need = 4;
	while (got < need) {
		ssize_t r = read(c->fd, c->buf + got, need - got);
		if (r <= 0)
			return false;
		got += (size_t)r;
		if (got == 4) {
			ssize_t size = p9_frame_size(c->buf, MSIZE);
			if (size < 0)
				return false;
			need = (size_t)size;
		}
	}
	return p9_unpack(f, c->buf, need, P9_2000L) == 0;
}

static void bad(const char *what, int tid)
{
	fprintf(stderr, "thread %d: %s\n", tid, what);
	atomic_fetch_add(&failures, 1);
}

/* Connects, negotiates, attaches fid 0 and makes fid 1 an open file of its own
 * holding `content`. */
static bool setup(struct conn *c, int tid, const char *content)
{
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof un.sun_path, "%s", sock);
	if (connect(c->fd, (struct sockaddr *)&un, sizeof un) < 0)
		return false;
	struct p9_fcall f = { .type = P9_Tversion, .tag = P9_NOTAG }, r;
	f.tversion = (struct p9_version){ .msize = MSIZE, .version = p9_cstr("9P2000.L") };
	if (!send_msg(c, &f) || !recv_msg(c, &r) || r.type != P9_Rversion)
		return false;
	f = (struct p9_fcall){ .type = P9_Tattach, .tag = 1 };
	f.tattach = (struct p9_tattach){
		.fid = 0, .afid = P9_NOFID, .uname = p9_cstr("root"), .aname = p9_cstr("")
	};
	if (!send_msg(c, &f) || !recv_msg(c, &r) || r.type != P9_Rattach)
		return false;
	f = (struct p9_fcall){ .type = P9_Twalk, .tag = 1 };
	f.twalk = (struct p9_twalk){ .fid = 0, .newfid = 1 };
	if (!send_msg(c, &f) || !recv_msg(c, &r) || r.type != P9_Rwalk)
		return false;
	char name[32];
	snprintf(name, sizeof name, "t%d", tid);
	f = (struct p9_fcall){ .type = P9_Tlcreate, .tag = 1 };
	f.tlcreate = (struct p9_tlcreate){
		.fid = 1, .name = p9_cstr(name), .flags = O_RDWR | O_TRUNC, .mode = 0644
	};
	if (!send_msg(c, &f) || !recv_msg(c, &r) || r.type != P9_Rlcreate) {
		/* made on an earlier connection: open it instead */
		f = (struct p9_fcall){ .type = P9_Twalk, .tag = 1 };
		f.twalk = (struct p9_twalk){ .fid = 0, .newfid = 1, .nwname = 1 };
		f.twalk.wname[0] = p9_cstr(name);
		if (!send_msg(c, &f) || !recv_msg(c, &r) || r.type != P9_Rwalk)
			return false;
		f = (struct p9_fcall){ .type = P9_Tlopen, .tag = 1 };
		f.tlopen = (struct p9_tlopen){ .fid = 1, .flags = O_RDWR };
		if (!send_msg(c, &f) || !recv_msg(c, &r) || r.type != P9_Rlopen)
			return false;
	}
	f = (struct p9_fcall){ .type = P9_Twrite, .tag = 1 };
	f.twrite = (struct p9_twrite){ .fid = 1,
				       .count = (uint32_t)strlen(content),
				       .data = (const uint8_t *)content };
	return send_msg(c, &f) && recv_msg(c, &r) && r.type == P9_Rwrite;
}

enum kind { K_READ, K_GETATTR, K_WALKCLUNK };

struct pending {
	bool used;
	enum kind kind;
	bool flushed;	 /* a Tflush was sent for it */
	uint16_t ftag;	 /* that Tflush's tag */
	bool answered;	 /* its own reply came */
	bool flush_done; /* the Rflush came */
	bool clone;	 /* a walk that made fid 100 + tag */
};

static void *worker(void *arg)
{
	int tid = (int)(intptr_t)arg;
	struct conn *c = calloc(1, sizeof *c);
	c->seed = (uint32_t)tid * 7919u + 1;
	char content[64];
	snprintf(content, sizeof content, "content of thread %d", tid);
	size_t clen = strlen(content);
	int done = 0;
	while (done < REQUESTS) {
		if (!setup(c, tid, content)) {
			bad("setup failed", tid);
			break;
		}
		struct pending p[256] = { 0 };
		bool drop = false;
		while (done < REQUESTS && !drop) {
			/* a batch of requests in flight, some flushed */
			int n = 1 + (int)(rnd(c) % DEPTH), sent = 0, expect = 0;
			for (int i = 0; i < n && done < REQUESTS; i++, done++) {
				uint16_t tag = (uint16_t)(10 + i);
				struct p9_fcall f = { .tag = tag };
				enum kind k = (enum kind)(rnd(c) % 3);
				if (k == K_READ) {
					f.type = P9_Tread;
					f.tread = (struct p9_tread){ .fid = 1, .count = 64 };
				} else if (k == K_GETATTR) {
					f.type = P9_Tgetattr;
					f.tgetattr = (struct p9_tgetattr){ .fid = 1,
									   .request_mask =
										   P9_GETATTR_ALL };
				} else {
					f.type = P9_Twalk;
					f.twalk =
						(struct p9_twalk){ .fid = 0, .newfid = 100u + tag };
				}
				p[tag] = (struct pending){ .used = true, .kind = k };
				if (!send_msg(c, &f))
					bad("send", tid);
				sent++;
				expect++;
			}
			for (int i = 0; i < sent; i++) {
				if (rnd(c) % 4 == 0) {
					uint16_t tag = (uint16_t)(10 + i);
					struct p9_fcall f = { .type = P9_Tflush,
							      .tag = (uint16_t)(60 + i) };
					f.tflush.oldtag = tag;
					p[tag].flushed = true;
					p[tag].ftag = f.tag;
					send_msg(c, &f);
					atomic_fetch_add(&flushes_sent, 1);
					expect++;
				}
			}
			if (rnd(c) % 50 == 0) { /* hang up with everything in flight */
				atomic_fetch_add(&hangups, 1);
				drop = true;
				break;
			}
			/* every request gets its reply or, when flushed, maybe
			 * only the Rflush, which then comes last for that tag */
			int got = 0;
			while (got < expect) {
				struct p9_fcall r;
				if (!recv_msg(c, &r)) {
					bad("connection lost", tid);
					drop = true;
					break;
				}
				atomic_fetch_add(&replies, 1);
				if (r.type == P9_Rflush) {
					uint16_t old = (uint16_t)(r.tag - 50);
					if (r.tag < 60 || r.tag >= 60 + DEPTH || !p[old].flushed ||
					    p[old].flush_done)
						bad("unexpected Rflush", tid);
					p[old].flush_done = true;
					got++;
					if (!p[old].answered)
						got++; /* it will not be answered now */
					continue;
				}
				struct pending *q = r.tag < 256 ? &p[r.tag] : NULL;
				if (!q || !q->used || q->answered || q->flush_done) {
					bad("reply to a tag not in flight (or after its Rflush)",
					    tid);
					continue;
				}
				q->answered = true;
				got++;
				if (q->kind == K_READ &&
				    (r.type != P9_Rread || r.rread.count != clen ||
				     memcmp(r.rread.data, content, clen) != 0))
					bad("wrong Rread", tid);
				else if (q->kind == K_GETATTR &&
					 (r.type != P9_Rgetattr || r.rgetattr.size != clen))
					bad("wrong Rgetattr", tid);
				else if (q->kind == K_WALKCLUNK && r.type != P9_Rwalk)
					bad("wrong Rwalk", tid);
				else if (q->kind == K_WALKCLUNK)
					q->clone = true;
			}
			/* clunk the clones the batch made, one at a time */
			for (int t = 0; t < 256 && !drop; t++) {
				if (!p[t].clone)
					continue;
				struct p9_fcall f = { .type = P9_Tclunk, .tag = 200 }, cr;
				f.tclunk.fid = 100u + (uint32_t)t;
				if (!send_msg(c, &f) || !recv_msg(c, &cr) || cr.type != P9_Rclunk ||
				    cr.tag != 200)
					bad("clunk", tid);
			}
			memset(p, 0, sizeof p);
		}
		close(c->fd);
	}
	free(c);
	return NULL;
}

static void test_stress(void **state)
{
	(void)state;
	int fds = count_fds();
	char dir[] = "/tmp/boxfs-stress-XXXXXX";
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/sock", dir);
	char addr[160];
	snprintf(addr, sizeof addr, "unix!%s", sock);

	struct boxfs_server *srv = boxfs_server_new(&(struct boxfs_server_opts){
		.max_msize = MSIZE, .workers = 4, .trust_uname = true });
	assert_non_null(srv);
	struct boxfs_fs *ram = boxfs_ramfs_new(NULL);
	ram->flags &= ~(unsigned)BOXFS_FS_INLINE; /* run everything on the pool */
	assert_int_equal(boxfs_server_mount(srv, "/", ram), 0);
	assert_int_equal(boxfs_server_listen(srv, "9p", addr), 0);
	assert_int_equal(boxfs_server_start(srv), 0);

	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	boxfs_server_free(srv);
	unlink(sock);
	rmdir(dir);

	printf("# %d replies, %d flushes, %d hang-ups\n", replies, flushes_sent, hangups);
	assert_int_equal(failures, 0);
	assert_true(flushes_sent > 1000 && hangups > 50);
	assert_int_equal(count_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
