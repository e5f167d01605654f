/*
 * test_op_client.c — the op client (boxfs/op.h), in two groups:
 *
 *   - fake: a server thread in the test that answers with the codec as a
 *     script says — hostile replies (garbage, short, wrong serial, missing
 *     reply flag, oversized size fields, lengths that lie) break the
 *     connection and are retried until retry_ms; STATUS texts map onto
 *     errno and are not retried; a make/delete/link whose first attempt
 *     was lost reads EEXIST/ENOENT as success; put and get series restart
 *     from offset 0 on the new connection; selectors are split on unescaped
 *     spaces and keep their escapes.
 *   - server: every call against `boxfs serve` with a RAM root and with a
 *     host directory exported: put/get of 0, 1, 65535, 65536, 65537 and
 *     5 MiB, selectors with escaped names, error mapping, copy between two
 *     servers; and a client that keeps working while its server is killed
 *     and restarted five times during a 200-operation sequence, after
 *     which the directory holds exactly what the sequence implies.
 *
 * The server's path is argv[1] (or $BOXFS_EXE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <boxfs/op.h>

#include "../lib/served.h"
#include "../lib/testlib.h"

static const char *boxfs_exe;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r <= 0)
			return;
		p = (const uint8_t *)p + r;
		n -= (size_t)r;
	}
}

static bool read_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return false;
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
	return true;
}

/* Bytes that differ with seed and position. */
static void fill(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* ---- the fake server ---- */

struct fake;
/* Answers one request on fd; false closes the connection. */
typedef bool handler_fn(struct fake *f, int fd, const struct op_msg *req);

struct fake {
	char dir[64];
	char addr[128];
	int lfd;
	pthread_t th;
	atomic_bool stop;
	handler_fn *handle;
	atomic_int conns; /* connections accepted */
	atomic_int reqs;  /* requests read, all connections */
	int conn_reqs;	  /* requests read on this connection */
	/* script parameters and records */
	const char *text;
	const char *kind;
	int lose_after; /* on connection 1, requests answered before one is lost */
	uint8_t *content;
	size_t clen;
	uint64_t offs[256];
	uint32_t lens[256];
	int conn_of[256];
	unsigned nput;
};

static void send_reply(int fd, struct op_msg *m)
{
	static uint8_t buf[OP_MAXBYTES + 16384];
	m->reply = true;
	m->user = "fake";
	ssize_t n = op_pack(buf, sizeof buf, m);
	if (n > 0)
		write_all(fd, buf, (size_t)n);
}

static void send_status(int fd, uint32_t serial, const char *err)
{
	struct op_msg m = { .serial = serial, .type = OP_STATUS, .err = err };
	send_reply(fd, &m);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	uint8_t *buf = malloc(OP_MAXMSG);
	while (!f->stop) {
		struct pollfd p = { f->lfd, POLLIN, 0 };
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		f->conns++;
		f->conn_reqs = 0;
		for (;;) {
			struct op_msg m;
			if (!read_all(fd, buf, 8))
				break;
			ssize_t n = op_frame_size(buf, OP_MAXMSG);
			if (n < 0 || !read_all(fd, buf + 8, (size_t)n - 8) ||
			    op_unpack(&m, buf, (size_t)n) < 0)
				break;
			f->reqs++;
			f->conn_reqs++;
			if (!f->handle(f, fd, &m))
				break;
		}
		close(fd);
	}
	free(buf);
	return NULL;
}

static void fake_start(struct fake *f, handler_fn *h)
{
	memset(f, 0, sizeof *f);
	f->handle = h;
	f->lose_after = -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/boxfs-opfake-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s/op", f->dir);
	snprintf(f->addr, sizeof f->addr, "unix!%s", sa.sun_path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->lfd, 16), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	f->stop = true;
	pthread_join(f->th, NULL);
	close(f->lfd);
	rm_tree(f->dir);
}

static struct boxfs_op *open_fast(const char *addr, unsigned retry_ms)
{
	struct boxfs_op_opts o = { .user = "tester", .retry_ms = retry_ms };
	struct boxfs_op *op = boxfs_op_open(addr, &o);
	assert_non_null(op);
	return op;
}

/* ---- hostile replies ---- */

static bool h_garbage(struct fake *f, int fd, const struct op_msg *req)
{
	(void)f, (void)req;
	write_all(fd, "this is no op reply, not at all", 31);
	return false;
}

static bool h_short(struct fake *f, int fd, const struct op_msg *req)
{
	(void)f;
	uint8_t buf[512];
	struct op_msg m = { .serial = req->serial, .type = OP_KIND, .reply = true, .box = "x" };
	m.st.kind = "file";
	if (op_pack(buf, sizeof buf, &m) > 20)
		write_all(fd, buf, 20);
	return false;
}

static bool h_serial(struct fake *f, int fd, const struct op_msg *req)
{
	(void)f;
	struct op_msg m = { .serial = req->serial + 1, .type = OP_KIND, .box = req->box };
	m.st.kind = "file";
	send_reply(fd, &m);
	return true;
}

static bool h_noflag(struct fake *f, int fd, const struct op_msg *req)
{
	(void)f;
	uint8_t buf[512];
	struct op_msg m = {
		.serial = req->serial, .type = OP_KIND, .reply = true, .box = req->box
	};
	m.st.kind = "file";
	ssize_t n = op_pack(buf, sizeof buf, &m);
	buf[15] &= 0x7f; /* OP_FREPLY is bit 15 of the flags at 14..15 */
	if (n > 16)
		write_all(fd, buf, (size_t)n);
	return true;
}

static bool h_oversize(struct fake *f, int fd, const struct op_msg *req)
{
	(void)f, (void)req;
	uint8_t hdr[16] = { 0xff, 0xff, 0xff, 0x7f, 0x4f, 0x70, 0x42, 0x31 };
	write_all(fd, hdr, sizeof hdr);
	return true;
}

static bool h_wrongtype(struct fake *f, int fd, const struct op_msg *req)
{
	(void)f;
	struct op_msg m = { .serial = req->serial, .type = OP_COPY, .box = req->box };
	send_reply(fd, &m);
	return true;
}

/* An empty STATUS where a KIND reply belongs. */
static bool h_emptystatus(struct fake *f, int fd, const struct op_msg *req)
{
	(void)f;
	send_status(fd, req->serial, "");
	return true;
}

/* A GETMEM reply with more than was asked, or another offset. */
static bool h_getmem_lies(struct fake *f, int fd, const struct op_msg *req)
{
	static uint8_t data[OP_MAXBYTES + 1];
	struct op_msg m = { .serial = req->serial, .type = OP_GETMEM, .box = req->box };
	m.off = req->off + (f->kind ? 1 : 0);
	m.len = f->kind ? req->len : req->len + 1;
	m.data = data;
	send_reply(fd, &m);
	return true;
}

static bool h_sel_text(struct fake *f, int fd, const struct op_msg *req)
{
	struct op_msg m = { .serial = req->serial, .type = OP_SELECTORS, .box = req->box };
	m.len = (uint32_t)strlen(f->text);
	m.data = f->text;
	send_reply(fd, &m);
	return true;
}

/* Runs one KIND against handler h with a 300 ms budget; answers its
 * result and checks that it was retried for the whole budget. */
static int hostile_kind(handler_fn *h, const char *kind)
{
	struct fake f;
	fake_start(&f, h);
	f.kind = kind;
	struct boxfs_op *op = open_fast(f.addr, 300);
	uint64_t t0 = now_ms();
	struct op_stat st;
	int r = boxfs_op_kind(op, "/x", &st);
	uint64_t spent = now_ms() - t0;
	boxfs_op_close(op);
	fake_stop(&f);
	assert_true(f.conns >= 3);
	assert_true(spent >= 300 && spent < 3000);
	return r;
}

static void t_hostile(void **state)
{
	(void)state;
	assert_int_equal(hostile_kind(h_garbage, NULL), -EPROTO);
	assert_int_equal(hostile_kind(h_short, NULL), -ECONNRESET);
	assert_int_equal(hostile_kind(h_serial, NULL), -EPROTO);
	assert_int_equal(hostile_kind(h_noflag, NULL), -EPROTO);
	assert_int_equal(hostile_kind(h_oversize, NULL), -EPROTO);
	assert_int_equal(hostile_kind(h_wrongtype, NULL), -EPROTO);
	assert_int_equal(hostile_kind(h_emptystatus, NULL), -EPROTO);
}

static void t_hostile_data(void **state)
{
	(void)state;
	uint8_t buf[64];
	const char *lies[] = { NULL, "off" }; /* a longer reply; a moved offset */
	for (int i = 0; i < 2; i++) {
		struct fake f;
		fake_start(&f, h_getmem_lies);
		f.kind = lies[i];
		struct boxfs_op *op = open_fast(f.addr, 200);
		assert_int_equal(boxfs_op_getmem(op, "/x", 0, buf, 10), -EPROTO);
		if (lies[i]) { /* a whole-box get asks for all a packet holds */
			void *data = (void *)1;
			size_t len = 1;
			assert_int_equal(boxfs_op_get(op, "/x", &data, &len), -EPROTO);
			assert_null(data);
			assert_int_equal(len, 0);
		}
		boxfs_op_close(op);
		fake_stop(&f);
		assert_true(f.conns >= 2);
	}
	const char *bad[] = { "a\\", "x y\\" }; /* a dangling escape */
	for (int i = 0; i < 2; i++) {
		struct fake f;
		fake_start(&f, h_sel_text);
		f.text = bad[i];
		struct boxfs_op *op = open_fast(f.addr, 200);
		char **names = (char **)1;
		size_t n = 7;
		assert_int_equal(boxfs_op_selectors(op, "/", &names, &n), -EPROTO);
		assert_null(names);
		assert_int_equal(n, 0);
		boxfs_op_close(op);
		fake_stop(&f);
	}
}

/* No server at all: the last transport error, after retry_ms. */
static void t_no_server(void **state)
{
	(void)state;
	struct boxfs_op *op = open_fast("unix!/tmp/boxfs-op-nobody-here/op", 300);
	uint64_t t0 = now_ms();
	struct op_stat st;
	int r = boxfs_op_kind(op, "/x", &st);
	uint64_t spent = now_ms() - t0;
	assert_true(r == -ENOENT || r == -ECONNREFUSED);
	assert_true(spent >= 300 && spent < 3000);
	assert_string_equal(boxfs_op_error(op), "");
	boxfs_op_close(op);
	errno = 0;
	assert_null(boxfs_op_open("no-such-syntax", NULL));
	assert_int_equal(errno, EINVAL);
}

/* ---- errors and idempotence ---- */

/* Answers every request with STATUS f->text, after losing request
 * lose_after on the first connection; KIND answers kind f->kind. */
static bool h_status(struct fake *f, int fd, const struct op_msg *req)
{
	if (f->conns == 1 && f->conn_reqs == f->lose_after + 1)
		return false;
	if (req->type == OP_KIND && f->kind) {
		struct op_msg m = { .serial = req->serial, .type = OP_KIND, .box = req->box };
		m.st.kind = f->kind;
		m.st.owner = "someone";
		send_reply(fd, &m);
		return true;
	}
	send_status(fd, req->serial, f->text);
	return true;
}

static void t_error_mapping(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int err;
	} cases[] = {
		{ "No such file or directory", ENOENT },
		{ "Permission denied", EACCES },
		{ "File exists", EEXIST },
		{ "Not a directory", ENOTDIR },
		{ "Directory not empty", ENOTEMPTY },
		{ "Is a directory", EISDIR },
		{ "No space left on device", ENOSPC },
		{ "the box is feeling unwell", EIO },
	};
	struct fake f;
	fake_start(&f, h_status);
	struct boxfs_op *op = open_fast(f.addr, 300);
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		f.text = cases[i].text;
		assert_int_equal(boxfs_op_delete(op, "/x"), -cases[i].err);
		assert_string_equal(boxfs_op_error(op), cases[i].text);
	}
	/* Not retried: one connection served them all. */
	assert_int_equal(f.conns, 1);
	/* Success clears the text. */
	f.text = "";
	assert_int_equal(boxfs_op_delete(op, "/x"), 0);
	assert_string_equal(boxfs_op_error(op), "");
	boxfs_op_close(op);
	fake_stop(&f);
}

/* The first attempt is lost after being sent; the retry is told EEXIST or
 * ENOENT, which means the first one did its work. */
static void t_idempotent(void **state)
{
	(void)state;
	struct op_stat mk = { .kind = "file", .operm = OP_PGET | OP_PPUT };
	struct fake f;

	fake_start(&f, h_status);
	f.text = "File exists", f.kind = "file", f.lose_after = 0;
	struct boxfs_op *op = open_fast(f.addr, 2000);
	assert_int_equal(boxfs_op_make(op, "/m", &mk), 0);
	assert_int_equal(f.reqs, 3); /* MAKE lost, MAKE, KIND */
	boxfs_op_close(op);
	fake_stop(&f);

	fake_start(&f, h_status); /* a box of another kind is there */
	f.text = "File exists", f.kind = "dir", f.lose_after = 0;
	op = open_fast(f.addr, 2000);
	assert_int_equal(boxfs_op_make(op, "/m", &mk), -EEXIST);
	assert_string_equal(boxfs_op_error(op), "File exists");
	boxfs_op_close(op);
	fake_stop(&f);

	fake_start(&f, h_status); /* nothing lost: EEXIST is EEXIST */
	f.text = "File exists", f.kind = "file";
	op = open_fast(f.addr, 2000);
	assert_int_equal(boxfs_op_make(op, "/m", &mk), -EEXIST);
	assert_int_equal(boxfs_op_link(op, "/l", "/m"), -EEXIST);
	assert_int_equal(f.reqs, 2);
	boxfs_op_close(op);
	fake_stop(&f);

	fake_start(&f, h_status);
	f.text = "File exists", f.lose_after = 0;
	op = open_fast(f.addr, 2000);
	assert_int_equal(boxfs_op_link(op, "/l", "/m"), 0);
	assert_int_equal(f.conns, 2);
	boxfs_op_close(op);
	fake_stop(&f);

	fake_start(&f, h_status);
	f.text = "No such file or directory", f.lose_after = 1;
	op = open_fast(f.addr, 2000);
	assert_int_equal(boxfs_op_delete(op, "/d"), -ENOENT); /* not lost */
	assert_int_equal(boxfs_op_delete(op, "/d"), 0);	      /* lost, then ENOENT */
	assert_int_equal(boxfs_op_delete(op, "/d"), -ENOENT);
	assert_int_equal(f.conns, 2);
	boxfs_op_close(op);
	fake_stop(&f);
}

/* ---- put and get series ---- */

/* Records PUTMEM packets and assembles them in f->content; serves GETMEM
 * from it. On connection 1, request lose_after + 1 is lost. */
static bool h_mem(struct fake *f, int fd, const struct op_msg *req)
{
	if (f->conns == 1 && f->conn_reqs == f->lose_after + 1)
		return false;
	if (req->type == OP_PUTMEM) {
		if (f->nput < 256) {
			f->offs[f->nput] = req->off;
			f->lens[f->nput] = req->len;
			f->conn_of[f->nput++] = f->conns;
		}
		if (req->off + req->len > f->clen) {
			f->content = realloc(f->content, req->off + req->len);
			f->clen = req->off + req->len;
		}
		if (req->len)
			memcpy(f->content + req->off, req->data, req->len);
		send_status(fd, req->serial, "");
		return true;
	}
	if (req->type == OP_GETMEM) {
		struct op_msg m = { .serial = req->serial, .type = OP_GETMEM, .box = req->box };
		m.off = req->off;
		m.len = req->off >= f->clen			? 0
			: f->clen - req->off < (size_t)req->len ? (uint32_t)(f->clen - req->off)
								: req->len;
		m.data = f->content + (m.len ? req->off : 0);
		if (f->nput < 256) {
			f->offs[f->nput] = req->off;
			f->conn_of[f->nput++] = f->conns;
		}
		send_reply(fd, &m);
		return true;
	}
	send_status(fd, req->serial, "Operation not supported");
	return true;
}

/* The packets a put of len bytes sends. */
static void put_packets(size_t len, unsigned want)
{
	struct fake f;
	fake_start(&f, h_mem);
	struct boxfs_op *op = open_fast(f.addr, 1000);
	uint8_t *data = malloc(len + 1);
	fill(data, len, (unsigned)len);
	assert_int_equal(boxfs_op_put(op, "/p", data, len), 0);
	assert_int_equal(f.nput, want);
	for (unsigned i = 0; i < want; i++) {
		assert_int_equal(f.offs[i], (uint64_t)i * OP_MAXBYTES);
		assert_int_equal(f.lens[i], i + 1 < want ? OP_MAXBYTES : len % OP_MAXBYTES);
	}
	assert_int_equal(f.clen, len);
	if (len)
		assert_memory_equal(f.content, data, len);
	boxfs_op_close(op);
	fake_stop(&f);
	free(f.content);
	free(data);
}

static void t_put_packets(void **state)
{
	(void)state;
	put_packets(0, 1);
	put_packets(1, 1);
	put_packets(65535, 1);
	put_packets(65536, 2);
	put_packets(65537, 2);
	put_packets(3 * 65536, 4);
}

static void t_put_restarts(void **state)
{
	(void)state;
	enum { LEN = 200000 };
	struct fake f;
	fake_start(&f, h_mem);
	f.lose_after = 2; /* the third packet is lost */
	struct boxfs_op *op = open_fast(f.addr, 2000);
	uint8_t *data = malloc(LEN);
	fill(data, LEN, 7);
	assert_int_equal(boxfs_op_put(op, "/p", data, LEN), 0);
	/* 2 packets answered on connection 1, then 4 from 0 on connection 2 */
	assert_int_equal(f.nput, 6);
	assert_int_equal(f.conn_of[1], 1);
	assert_int_equal(f.offs[2], 0);
	assert_int_equal(f.conn_of[2], 2);
	for (unsigned i = 2; i < 6; i++)
		assert_int_equal(f.offs[i], (uint64_t)(i - 2) * OP_MAXBYTES);
	assert_int_equal(f.lens[5], LEN - 3 * OP_MAXBYTES);
	assert_memory_equal(f.content, data, LEN);

	/* get, with its second packet lost, restarts from 0 as well */
	fill(data, LEN, 8);
	memcpy(f.content, data, LEN);
	f.nput = 0;
	f.lose_after = 1;
	f.conns = 0;
	boxfs_op_close(op); /* a new connection: number 1 again */
	op = open_fast(f.addr, 2000);
	void *got;
	size_t len;
	assert_int_equal(boxfs_op_get(op, "/p", &got, &len), 0);
	assert_int_equal(len, LEN);
	assert_memory_equal(got, data, LEN);
	free(got);
	assert_int_equal(f.offs[0], 0);
	assert_int_equal(f.conn_of[0], 1);
	assert_int_equal(f.offs[1], 0);
	assert_int_equal(f.conn_of[1], 2);
	assert_int_equal(f.nput, 5);

	/* one GETMEM packet */
	uint8_t buf[100];
	assert_int_equal(boxfs_op_getmem(op, "/p", 1000, buf, sizeof buf), (ssize_t)sizeof buf);
	assert_memory_equal(buf, data + 1000, sizeof buf);
	assert_int_equal(boxfs_op_getmem(op, "/p", LEN - 10, buf, sizeof buf), 10);
	assert_int_equal(boxfs_op_getmem(op, "/p", 0, buf, OP_MAXBYTES + 1), -EINVAL);
	boxfs_op_close(op);
	fake_stop(&f);
	free(f.content);
	free(data);
}

static void t_selectors_escapes(void **state)
{
	(void)state;
	struct fake f;
	fake_start(&f, h_sel_text);
	f.text = "a b\\ c d\\\\e \\  last";
	struct boxfs_op *op = open_fast(f.addr, 500);
	char **names;
	size_t n;
	assert_int_equal(boxfs_op_selectors(op, "/", &names, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b\\ c");
	assert_string_equal(names[2], "d\\\\e");
	assert_string_equal(names[3], "\\ ");
	assert_string_equal(names[4], "last");
	assert_null(names[5]);
	free(names);
	f.text = "";
	assert_int_equal(boxfs_op_selectors(op, "/", &names, &n), 0);
	assert_int_equal(n, 0);
	assert_null(names[0]);
	free(names);
	boxfs_op_close(op);
	fake_stop(&f);
}

/* ---- against boxfs serve ---- */

static struct served srv, srv2;
static char hostdir[64];
static const char *op_ram, *op_host, *op_two;

static struct boxfs_op *open_real(const char *addr)
{
	struct boxfs_op *op = boxfs_op_open(addr, NULL);
	assert_non_null(op);
	return op;
}

static void t_kind_make_delete(void **state)
{
	(void)state;
	struct boxfs_op *op = open_real(op_ram);
	struct op_stat st;
	assert_int_equal(boxfs_op_kind(op, "/", &st), 0);
	assert_string_equal(st.kind, "dir");
	assert_int_equal(boxfs_op_kind(op, "/nobox", &st), -ENOENT);
	assert_string_not_equal(boxfs_op_error(op), "");
	struct op_stat mk = { .kind = "dir", .operm = 0x3f, .wperm = OP_PGET | OP_PSEL };
	assert_int_equal(boxfs_op_make(op, "/d", &mk), 0);
	assert_int_equal(boxfs_op_make(op, "/d", &mk), -EEXIST);
	mk.kind = "file";
	assert_int_equal(boxfs_op_make(op, "/d/f", &mk), 0);
	assert_int_equal(boxfs_op_kind(op, "/d/f", &st), 0);
	assert_string_equal(st.kind, "file");
	assert_int_equal(st.size, 0);
	assert_int_equal(boxfs_op_make(op, "/nodir/f", &mk), -ENOENT);
	assert_int_equal(boxfs_op_delete(op, "/d/f"), 0);
	assert_int_equal(boxfs_op_delete(op, "/d/f"), -ENOENT);
	assert_int_equal(boxfs_op_kind(op, "/d/f", &st), -ENOENT);
	assert_int_equal(boxfs_op_delete(op, "/d"), 0);
	boxfs_op_close(op);
}

static void round_trip(struct boxfs_op *op, const char *box, size_t len)
{
	uint8_t *data = malloc(len + 1);
	fill(data, len, (unsigned)len + 3);
	assert_int_equal(boxfs_op_put(op, box, data, len), 0);
	struct op_stat st;
	assert_int_equal(boxfs_op_kind(op, box, &st), 0);
	assert_int_equal(st.size, len);
	void *got;
	size_t glen;
	assert_int_equal(boxfs_op_get(op, box, &got, &glen), 0);
	assert_int_equal(glen, len);
	if (len)
		assert_memory_equal(got, data, len);
	free(got);
	free(data);
}

static void sizes(const char *addr)
{
	static const size_t lens[] = { 0, 1, 65535, 65536, 65537, 5 << 20, 3 };
	struct boxfs_op *op = open_real(addr);
	struct op_stat mk = { .kind = "file", .operm = 0x3f };
	assert_int_equal(boxfs_op_make(op, "/sized", &mk), 0);
	for (unsigned i = 0; i < sizeof lens / sizeof lens[0]; i++)
		round_trip(op, "/sized", lens[i]);
	assert_int_equal(boxfs_op_delete(op, "/sized"), 0);
	boxfs_op_close(op);
}

static void t_sizes_ram(void **state)
{
	(void)state;
	sizes(op_ram);
}

static void t_sizes_host(void **state)
{
	(void)state;
	sizes(op_host);
	/* and the host file holds the last put's bytes */
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void t_selectors(void **state)
{
	(void)state;
	/*
	 * SELECTORS answers whole selectors, escaped: a space, backslash, '!'
	 * or '*' in a name comes with a backslash, which the client keeps, so
	 * each one names its box as it is.
	 */
	static const char *const make[] = { "/sel/a b", "/sel/back\\\\slash", "/sel/bang\\!x",
					    "/sel/plain", "/sel/two  spaces" };
	static const char *const want[] = { "/sel/a\\ b", "/sel/back\\\\slash", "/sel/bang\\!x",
					    "/sel/plain", "/sel/two\\ \\ spaces" };
	enum { N = 5 };
	struct boxfs_op *op = open_real(op_host);
	struct op_stat mk = { .kind = "dir", .operm = 0x3f };
	assert_int_equal(boxfs_op_make(op, "/sel", &mk), 0);
	mk.kind = "file";
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(boxfs_op_make(op, make[i], &mk), 0);
	char **names;
	size_t n;
	assert_int_equal(boxfs_op_selectors(op, "/sel", &names, &n), 0);
	assert_int_equal(n, N);
	qsort(names, n, sizeof *names, cmp_str);
	for (unsigned i = 0; i < N; i++)
		assert_string_equal(names[i], want[i]);
	free(names);
	assert_int_equal(boxfs_op_selectors(op, "/nosuch", &names, &n), -ENOENT);
	assert_null(names);
	char path[128];
	snprintf(path, sizeof path, "%s/sel/back\\slash", hostdir);
	assert_int_equal(access(path, F_OK), 0);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(boxfs_op_delete(op, make[i]), 0);
	assert_int_equal(boxfs_op_selectors(op, "/sel", &names, &n), 0);
	assert_int_equal(n, 0);
	free(names);
	assert_int_equal(boxfs_op_delete(op, "/sel"), 0);
	boxfs_op_close(op);
}

static void t_chinfo_link(void **state)
{
	(void)state;
	struct boxfs_op *op = open_real(op_host);
	struct op_stat mk = { .kind = "file", .operm = 0x3f, .wperm = 0 };
	assert_int_equal(boxfs_op_make(op, "/ci", &mk), 0);
	assert_int_equal(boxfs_op_put(op, "/ci", "linked", 6), 0);
	struct op_stat before, after;
	assert_int_equal(boxfs_op_kind(op, "/ci", &before), 0);
	uint32_t operm = before.operm, wperm = before.wperm;
	struct op_stat ch = { .vers = OP_KEEP32,
			      .ptime = OP_KEEP64,
			      .gtime = OP_KEEP64,
			      .size = OP_KEEP64,
			      .operm = OP_KEEP32,
			      .wperm = OP_PGET };
	assert_int_equal(boxfs_op_chinfo(op, "/ci", &ch), 0);
	assert_int_equal(boxfs_op_kind(op, "/ci", &after), 0);
	assert_int_equal(after.operm, operm);
	assert_true(after.wperm & OP_PGET);
	assert_true(after.wperm != wperm);
	assert_int_equal(boxfs_op_chinfo(op, "/nosuch", &ch), -ENOENT);

	assert_int_equal(boxfs_op_link(op, "/ci2", "/ci"), 0);
	assert_int_equal(boxfs_op_link(op, "/ci2", "/ci"), -EEXIST);
	void *got;
	size_t len;
	assert_int_equal(boxfs_op_get(op, "/ci2", &got, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(got, "linked", 6);
	free(got);
	char path[128];
	struct stat s1, s2;
	snprintf(path, sizeof path, "%s/ci", hostdir);
	assert_int_equal(stat(path, &s1), 0);
	snprintf(path, sizeof path, "%s/ci2", hostdir);
	assert_int_equal(stat(path, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(boxfs_op_delete(op, "/ci"), 0);
	assert_int_equal(boxfs_op_delete(op, "/ci2"), 0);
	boxfs_op_close(op);
}

static void t_copy(void **state)
{
	(void)state;
	enum { LEN = 300000 };
	/* a: the RAM server over TCP; b: the host server, which pulls from a */
	struct boxfs_op *a = open_real(op_two), *b = open_real(op_host);
	uint8_t *data = malloc(LEN);
	fill(data, LEN, 99);
	struct op_stat mk = { .kind = "file", .operm = 0x3f, .wperm = OP_PGET };
	assert_int_equal(boxfs_op_make(a, "/src", &mk), 0);
	assert_int_equal(boxfs_op_put(a, "/src", data, LEN), 0);
	assert_int_equal(boxfs_op_make(b, "/dst", &mk), 0);
	uint64_t copied = 0;
	assert_int_equal(boxfs_op_copy(b, "/dst", op_ram, "/src", &copied), 0);
	assert_int_equal(copied, LEN);
	void *got;
	size_t len;
	assert_int_equal(boxfs_op_get(b, "/dst", &got, &len), 0);
	assert_int_equal(len, LEN);
	assert_memory_equal(got, data, LEN);
	free(got);
	assert_true(boxfs_op_copy(b, "/dst", op_ram, "/nosuch", NULL) < 0);
	assert_int_equal(boxfs_op_delete(a, "/src"), 0);
	assert_int_equal(boxfs_op_delete(b, "/dst"), 0);
	free(data);
	boxfs_op_close(a);
	boxfs_op_close(b);
}

/* ---- acceptance: a client across server restarts ---- */

enum { GROUPS = 40, OPS = 5 * GROUPS, RESTARTS = 5 };

struct sequence {
	const char *addr;
	atomic_int done; /* operations completed */
	int failed_at;	 /* -1, or the operation that failed */
	int err;
};

static size_t seq_len(int k)
{
	return (size_t)(k * 7919) % 200000 + (k % 3 == 0 ? OP_MAXBYTES : 0);
}

/* Group k: make f<k>, put its bytes, chinfo, link l<k> to it, then delete
 * f<k> (k odd) or l<k> (k even). */
static void *run_sequence(void *arg)
{
	struct sequence *s = arg;
	struct boxfs_op *op = boxfs_op_open(s->addr, NULL);
	uint8_t *data = malloc(300000);
	s->failed_at = -1;
	for (int i = 0; op && data && i < OPS; i++) {
		int k = i / 5, r = 0;
		char f[32], l[32];
		snprintf(f, sizeof f, "/f%d", k);
		snprintf(l, sizeof l, "/l%d", k);
		struct op_stat mk = { .kind = "file", .operm = 0x3f };
		struct op_stat ch = { .vers = OP_KEEP32,
				      .ptime = OP_KEEP64,
				      .gtime = OP_KEEP64,
				      .size = OP_KEEP64,
				      .operm = OP_KEEP32,
				      .wperm = OP_PGET };
		switch (i % 5) {
		case 0:
			r = boxfs_op_make(op, f, &mk);
			break;
		case 1:
			fill(data, seq_len(k), (unsigned)k + 1000);
			r = boxfs_op_put(op, f, data, seq_len(k));
			break;
		case 2:
			r = boxfs_op_chinfo(op, f, &ch);
			break;
		case 3:
			r = boxfs_op_link(op, l, f);
			break;
		case 4:
			r = boxfs_op_delete(op, k % 2 ? f : l);
			break;
		}
		if (r < 0) {
			s->failed_at = i;
			s->err = -r;
			break;
		}
		s->done++;
	}
	free(data);
	boxfs_op_close(op);
	return NULL;
}

static int start_host_server(struct served *s, const char *dir, const char *sock)
{
	char listen[200];
	snprintf(listen, sizeof listen, "op=unix!%s", sock);
	return served_start(s, boxfs_exe, 1, "-e", dir, "-l", listen, (char *)NULL);
}

static void t_restarts(void **state)
{
	(void)state;
	char root[64], dir[128], sock[128];
	snprintf(root, sizeof root, "/tmp/boxfs-oprestart-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof dir, "%s/tree", root);
	snprintf(sock, sizeof sock, "%s/op", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	static struct served s; /* tracked by served.c until exit */
	assert_int_equal(start_host_server(&s, dir, sock), 0);

	char addr[160];
	snprintf(addr, sizeof addr, "unix!%s", sock);
	struct sequence seq = { .addr = addr, .failed_at = -1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, run_sequence, &seq), 0);
	/* Five kills, at random operations, at a random moment within one. */
	srand((unsigned)time(NULL));
	int at[RESTARTS];
	for (int i = 0; i < RESTARTS; i++)
		at[i] = (i * OPS) / RESTARTS + rand() % (OPS / RESTARTS - 2) + 1;
	int restarts = 0;
	for (int i = 0; i < RESTARTS; i++) {
		while (seq.done < at[i] && seq.failed_at < 0 && seq.done < OPS)
			usleep(200);
		if (seq.failed_at >= 0 || seq.done >= OPS)
			break;
		usleep((useconds_t)(rand() % 3000));
		kill(s.pid, SIGKILL);
		waitpid(s.pid, NULL, 0);
		s.pid = -1;
		served_stop(&s);
		usleep((useconds_t)(rand() % 50000));
		assert_int_equal(start_host_server(&s, dir, sock), 0);
		restarts++;
	}
	pthread_join(th, NULL);
	if (seq.failed_at >= 0)
		print_error("operation %d failed: %s\n", seq.failed_at, strerror(seq.err));
	assert_int_equal(seq.failed_at, -1);
	assert_int_equal(seq.done, OPS);
	if (restarts < RESTARTS)
		print_error("%d restarts of %d\n", restarts, RESTARTS);
	assert_int_equal(restarts, RESTARTS);
	served_stop(&s);

	/* What the sequence implies: f<k> for even k, l<k> for odd k. */
	uint8_t *want = malloc(300000), *got = malloc(300001);
	for (int k = 0; k < GROUPS; k++) {
		char path[200];
		snprintf(path, sizeof path, "%s/%c%d", dir, k % 2 ? 'l' : 'f', k);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			print_error("%s: %s\n", path, strerror(errno));
		assert_true(fd >= 0);
		ssize_t n = read(fd, got, 300001);
		close(fd);
		fill(want, seq_len(k), (unsigned)k + 1000);
		assert_int_equal(n, seq_len(k));
		assert_memory_equal(got, want, seq_len(k));
	}
	free(want);
	free(got);
	DIR *d = opendir(dir);
	assert_non_null(d);
	int entries = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		/* a server killed mid-rename may leave its documented temporary */
		if (strncmp(e->d_name, ".op-", 4) == 0)
			continue;
		char c = e->d_name[0];
		int k = atoi(e->d_name + 1);
		bool expected = (c == 'f' || c == 'l') && k >= 0 && k < GROUPS &&
				(c == 'l') == (k % 2 == 1);
		if (!expected)
			print_error("unexpected entry %s\n", e->d_name);
		assert_true(expected);
		entries++;
	}
	closedir(d);
	assert_int_equal(entries, GROUPS);
	rm_tree(root);
}

static void t_servers_exit_cleanly(void **state)
{
	(void)state;
	assert_true(served_stop(&srv));
	assert_true(served_stop(&srv2));
}

static int server_setup(void **state)
{
	(void)state;
	snprintf(hostdir, sizeof hostdir, "/tmp/boxfs-ophost-XXXXXX");
	if (!mkdtemp(hostdir))
		return -1;
	if (served_start(&srv, boxfs_exe, 2, "-l", "op=unix!{dir}/op", "-l", "op=tcp!127.0.0.1!0",
			 (char *)NULL) < 0)
		return -1;
	if (served_start(&srv2, boxfs_exe, 1, "-e", hostdir, "-l", "op=unix!{dir}/op",
			 (char *)NULL) < 0)
		return -1;
	op_ram = served_addr(&srv, "op", "unix!");
	op_two = served_addr(&srv, "op", "tcp!");
	op_host = served_addr(&srv2, "op", "unix!");
	return op_ram && op_two && op_host ? 0 : -1;
}

static int server_teardown(void **state)
{
	(void)state;
	served_stop(&srv);
	served_stop(&srv2);
	rm_tree(hostdir);
	return 0;
}

int main(int argc, char **argv)
{
	boxfs_exe = argc > 1 ? argv[1] : getenv("BOXFS_EXE");
	if (!boxfs_exe || access(boxfs_exe, X_OK) != 0) {
		fprintf(stderr, "usage: test_op_client PATH-TO-boxfs (or $BOXFS_EXE)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_hostile),	      cmocka_unit_test(t_hostile_data),
		cmocka_unit_test(t_no_server),	      cmocka_unit_test(t_error_mapping),
		cmocka_unit_test(t_idempotent),	      cmocka_unit_test(t_put_packets),
		cmocka_unit_test(t_put_restarts),     cmocka_unit_test(t_selectors_escapes),
		cmocka_unit_test(t_kind_make_delete), cmocka_unit_test(t_sizes_ram),
		cmocka_unit_test(t_sizes_host),	      cmocka_unit_test(t_selectors),
		cmocka_unit_test(t_chinfo_link),      cmocka_unit_test(t_copy),
		cmocka_unit_test(t_restarts),	      cmocka_unit_test(t_servers_exit_cleanly),
	};
	/* OP_FAKE_ONLY=1: the fake-server cases (the first 8) alone. */
	if (getenv("OP_FAKE_ONLY"))
		return _cmocka_run_group_tests("op_fake", tests, 8, NULL, NULL);
	return cmocka_run_group_tests_name("op_client", tests, server_setup, server_teardown);
}
