/*
 * tc9p.c — see tc9p.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tc9p.h"

#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tc tc_connect_as(struct boxfs_server *s, bool own_loop, uint32_t msize, const char *uname)
{
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(boxfs_server_serve_fds(s, "9p", sp[0], sp[0]), 0);
	struct tc t = { .fd = sp[1],
			.d = P9_2000L,
			.srv = s,
			.own_loop = own_loop,
			.msize = msize,
			.uname = uname };
	t.buf = malloc((size_t)msize + 64);
	assert_non_null(t.buf);
	return t;
}

struct tc tc_connect(struct boxfs_server *s, bool own_loop)
{
	return tc_connect_as(s, own_loop, TC_MSIZE, "root");
}

void tc_close(struct tc *t)
{
	close(t->fd);
	free(t->buf);
}

void tc_send(struct tc *t, const struct p9_fcall *f)
{
	uint8_t out[8192];
	ssize_t n = p9_pack(out, sizeof out, f, t->d);
	assert_true(n > 0);
	assert_int_equal(write(t->fd, out, (size_t)n), n);
}

bool tc_wait(struct tc *t, int ms)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[2] = { { .fd = t->fd, .events = POLLIN },
				       { .fd = t->own_loop ? boxfs_server_fd(t->srv) : -1,
					 .events = POLLIN } };
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = ms - ((now.tv_sec - t0.tv_sec) * 1000 +
				  (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left < 0)
			left = 0;
		int n = poll(p, 2, (int)left);
		assert_true(n >= 0);
		if (p[1].revents & POLLIN)
			assert_int_equal(boxfs_server_dispatch(t->srv), 0);
		if (p[0].revents & POLLIN)
			return true;
		if (n == 0 && left == 0)
			return false;
	}
}

void read_full(struct tc *t, uint8_t *p, size_t n)
{
	while (n) {
		assert_true(tc_wait(t, 5000));
		ssize_t r = read(t->fd, p, n);
		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

void tc_recv(struct tc *t, struct p9_fcall *rx)
{
	read_full(t, t->buf, 4);
	ssize_t size = p9_frame_size(t->buf, 0);
	assert_true(size >= 7 && size <= (ssize_t)t->msize + 64);
	read_full(t, t->buf + 4, (size_t)size - 4);
	assert_int_equal(p9_unpack(rx, t->buf, (size_t)size, t->d), 0);
}

void no_reply(struct tc *t, int ms)
{
	assert_false(tc_wait(t, ms));
}

void rpc(struct tc *t, struct p9_fcall *tx, struct p9_fcall *rx)
{
	tc_send(t, tx);
	tc_recv(t, rx);
	assert_int_equal(rx->tag, tx->tag);
}

int rerr(const struct tc *t, const struct p9_fcall *rx)
{
	if (rx->type == P9_Rlerror)
		return (int)rx->rlerror.ecode;
	if (rx->type == P9_Rerror)
		return t->d == P9_2000U ? (int)rx->rerror.errnum : p9_errno(rx->rerror.ename);
	return 0;
}

void expect(const struct tc *t, const struct p9_fcall *rx, uint8_t rtype)
{
	if (rx->type != rtype)
		fail_msg("wanted %s, got %s (error %d)", p9_type_name(rtype),
			 p9_type_name(rx->type), rerr(t, rx));
}

void version(struct tc *t, enum p9_dialect d)
{
	struct p9_fcall tx = { .type = P9_Tversion, .tag = P9_NOTAG }, rx;
	tx.tversion.msize = t->msize;
	tx.tversion.version = p9_cstr(p9_dialect_name(d));
	t->d = d;
	rpc(t, &tx, &rx);
	expect(t, &rx, P9_Rversion);
}

void attach(struct tc *t)
{
	struct p9_fcall tx = { .type = P9_Tattach, .tag = 1 }, rx;
	tx.tattach = (struct p9_tattach){
		.fid = 0, .afid = P9_NOFID, .uname = p9_cstr(t->uname), .aname = p9_cstr("")
	};
	rpc(t, &tx, &rx);
	expect(t, &rx, P9_Rattach);
}

struct tc session(struct boxfs_server *s, enum p9_dialect d, bool own_loop)
{
	struct tc t = tc_connect(s, own_loop);
	version(&t, d);
	attach(&t);
	return t;
}

void send_read(struct tc *t, uint16_t tag, uint32_t fid, uint32_t count)
{
	tc_send(t, &(struct p9_fcall){ .type = P9_Tread,
				       .tag = tag,
				       .tread = { .fid = fid, .offset = 0, .count = count } });
}

void send_flush(struct tc *t, uint16_t tag, uint16_t oldtag)
{
	tc_send(t, &(struct p9_fcall){
			   .type = P9_Tflush, .tag = tag, .tflush = { .oldtag = oldtag } });
}

void expect_rread(struct tc *t, uint16_t tag, const char *data)
{
	struct p9_fcall rx;
	tc_recv(t, &rx);
	expect(t, &rx, P9_Rread);
	assert_int_equal(rx.tag, tag);
	assert_int_equal(rx.rread.count, strlen(data));
	assert_memory_equal(rx.rread.data, data, rx.rread.count);
}

void clunk(struct tc *t, uint32_t fid)
{
	struct p9_fcall tx = { .type = P9_Tclunk, .tag = 4, .tclunk = { .fid = fid } }, rx;
	rpc(t, &tx, &rx);
	expect(t, &rx, P9_Rclunk);
}

int ntasks(void)
{
	DIR *d = opendir("/proc/self/task");
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

const enum p9_dialect tc_dialects[3] = { P9_2000, P9_2000U, P9_2000L };
