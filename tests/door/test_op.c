/*
 * test_op.c — the op door (docs/protocols/op.md): every op and its errors,
 * malformed messages, the credential policy, and copies between servers —
 * a 100 MiB box, and a source that dies in the middle of a copy.
 *
 * Servers run in the test process, with a RAM root, memfiles at /mem and a
 * scratch host directory at /host; requests are made with the codec over
 * raw Unix sockets, so the test sees exactly what the door answers.
 */
#include <boxfs/hostfs.h>
#include <boxfs/memfs.h>
#include <boxfs/op.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "../lib/testlib.h"

static struct {
	char dir[64];
	char host[96]; /* exported at /host */
	struct boxfs_server *srv, *other;
	char addr[160], other_addr[160];
} fx;

static unsigned nservers;

static struct boxfs_server *server_new(char *addr)
{
	struct boxfs_server *s = boxfs_server_new(&(struct boxfs_server_opts){ .workers = 4 });
	if (!s)
		return NULL;
	char want[160];
	snprintf(want, sizeof want, "unix!%s/op%u", fx.dir, ++nservers);
	struct boxfs_hostfs_opts ho = { .root = fx.host };
	if (boxfs_server_mount(s, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(s, "/mem", boxfs_memfs_new(NULL)) < 0 ||
	    (nservers == 1 && boxfs_server_mount(s, "/host", boxfs_hostfs_new(&ho)) < 0) ||
	    boxfs_server_listen(s, "op", want) < 0 || boxfs_server_start(s) < 0) {
		boxfs_server_free(s);
		return NULL;
	}
	snprintf(addr, 160, "%s", boxfs_server_address(s, 0));
	return s;
}

static int setup(void **state)
{
	(void)state;
	nservers = 0;
	snprintf(fx.dir, sizeof fx.dir, "/tmp/boxfs-op-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.host, sizeof fx.host, "%s/host", fx.dir);
	if (mkdir(fx.host, 0755) < 0)
		return -1;
	fx.srv = server_new(fx.addr);
	fx.other = server_new(fx.other_addr);
	return fx.srv && fx.other ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	boxfs_server_free(fx.srv);
	boxfs_server_free(fx.other);
	fx.srv = fx.other = NULL;
	rm_tree(fx.dir);
	return 0;
}

/* ---- raw requests ---- */

static int dial(const char *addr)
{
	const char *path = addr + strlen("unix!");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&un, sizeof un), 0);
	return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads n bytes; false on EOF (or after 10 s with nothing). */
static bool recv_all(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 10000) != 1)
			return false;
		ssize_t r = recv(fd, p, n, 0);
		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

/* A reply: the message and the bytes it points into. */
struct reply {
	struct op_msg m;
	uint8_t *buf;
};

static void reply_free(struct reply *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Reads one reply; false when the server closed the connection. */
static bool recv_reply(int fd, struct reply *r)
{
	uint8_t hdr[8];
	if (!recv_all(fd, hdr, sizeof hdr))
		return false;
	ssize_t size = op_frame_size(hdr, 0);
	assert_true(size >= 8);
	r->buf = malloc((size_t)size);
	assert_non_null(r->buf);
	memcpy(r->buf, hdr, 8);
	assert_true(recv_all(fd, r->buf + 8, (size_t)size - 8));
	assert_int_equal(op_unpack(&r->m, r->buf, (size_t)size), 0);
	assert_true(r->m.reply);
	return true;
}

static uint32_t serial;

/*
 * With BOXFS_CORPUS_DIR set, every request the cases send is also written
 * as a seed for the fuzzers: DIR/fuzz_op/ (the message) and
 * DIR/fuzz_op_door/ (a record feeding the rest of the input).
 */
static void write_seed(const uint8_t *msg, size_t len)
{
	const char *dir = getenv("BOXFS_CORPUS_DIR");
	if (!dir)
		return;
	static unsigned n;
	char path[512];
	for (int door = 0; door < 2; door++) {
		snprintf(path, sizeof path, "%s/%s", dir, door ? "fuzz_op_door" : "fuzz_op");
		mkdir(path, 0755);
		snprintf(path, sizeof path, "%s/%s/test-%u", dir, door ? "fuzz_op_door" : "fuzz_op",
			 n);
		FILE *f = fopen(path, "w");
		if (!f)
			continue;
		if (door)
			fputc(3 << 1, f);
		fwrite(msg, 1, len, f);
		fclose(f);
	}
	n++;
}

/* Sends m (serial and user filled in) and reads its reply into r. */
static void rpc(int fd, struct op_msg *m, struct reply *r)
{
	m->serial = ++serial;
	if (!m->user)
		m->user = "root";
	static uint8_t buf[OP_MAXMSG];
	ssize_t n = op_pack(buf, sizeof buf, m);
	assert_true(n > 0);
	if (n < 2048)
		write_seed(buf, (size_t)n);
	send_all(fd, buf, (size_t)n);
	assert_true(recv_reply(fd, r));
	assert_int_equal(r->m.serial, m->serial);
}

/* One request on a new connection: the STATUS text ("" for success), or
 * the reply in r when r is given and the reply is not a STATUS. */
static char status_buf[512];

static const char *call(struct op_msg m, struct reply *out)
{
	int fd = dial(fx.addr);
	struct reply r;
	rpc(fd, &m, &r);
	close(fd);
	if (r.m.type == OP_STATUS) {
		snprintf(status_buf, sizeof status_buf, "%s", r.m.err);
		reply_free(&r);
		return status_buf;
	}
	assert_int_equal(r.m.type, m.type);
	if (out)
		*out = r;
	else
		reply_free(&r);
	return "";
}

#define ERR(e) strerror(e)

static const char *make(const char *box, const char *kind, uint32_t operm, uint32_t wperm)
{
	return call((struct op_msg){ .type = OP_MAKE,
				     .box = box,
				     .st = { .kind = kind, .operm = operm, .wperm = wperm } },
		    NULL);
}

static struct op_stat kind(const char *box, struct reply *r)
{
	assert_string_equal(call((struct op_msg){ .type = OP_KIND, .box = box }, r), "");
	return r->m.st;
}

static const char *kind_err(const char *box)
{
	return call((struct op_msg){ .type = OP_KIND, .box = box }, NULL);
}

/* Replaces box with len bytes through a PUTMEM series on one connection. */
static const char *put(const char *addr, const char *box, const uint8_t *data, size_t len)
{
	int fd = dial(addr);
	size_t off = 0;
	for (;;) {
		uint32_t n = len - off < OP_MAXBYTES ? (uint32_t)(len - off) : OP_MAXBYTES;
		struct reply r;
		rpc(fd,
		    &(struct op_msg){ .type = OP_PUTMEM,
				      .box = box,
				      .off = off,
				      .len = n,
				      .data = data + off },
		    &r);
		assert_int_equal(r.m.type, OP_STATUS);
		snprintf(status_buf, sizeof status_buf, "%s", r.m.err);
		reply_free(&r);
		off += n;
		if (*status_buf || n < OP_MAXBYTES)
			break;
	}
	close(fd);
	return status_buf;
}

/* The whole box through GETMEM packets; *len its size. */
static uint8_t *get(const char *addr, const char *box, size_t *len)
{
	int fd = dial(addr);
	size_t cap = OP_MAXBYTES, off = 0;
	uint8_t *data = malloc(cap);
	for (;;) {
		struct reply r;
		rpc(fd,
		    &(struct op_msg){
			    .type = OP_GETMEM, .box = box, .off = off, .len = OP_MAXBYTES },
		    &r);
		assert_int_equal(r.m.type, OP_GETMEM);
		assert_true(r.m.off == off);
		if (off + r.m.len > cap) {
			cap = 2 * (off + r.m.len);
			data = realloc(data, cap);
		}
		memcpy(data + off, r.m.data, r.m.len);
		off += r.m.len;
		uint32_t n = r.m.len;
		reply_free(&r);
		if (n < OP_MAXBYTES)
			break;
	}
	close(fd);
	*len = off;
	return data;
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

/* ---- the ops ---- */

static void test_kind(void **state)
{
	(void)state;
	struct reply r;
	struct op_stat st = kind("/", &r);
	assert_string_equal(st.kind, "dir");
	assert_string_equal(st.owner, "root");
	reply_free(&r);
	st = kind("", &r); /* the empty selector is the root too */
	assert_string_equal(st.kind, "dir");
	reply_free(&r);
	assert_string_equal(kind_err("/nothing"), ERR(ENOENT));
	assert_string_equal(kind_err("/nothing/below"), ERR(ENOENT));
	assert_string_equal(kind_err("/a/../b"), ERR(EINVAL));
	assert_string_equal(kind_err("/./a"), ERR(EINVAL));
	assert_string_equal(kind_err("/a!nokind"), ERR(EINVAL));

	assert_string_equal(make("/f", "file", OP_PGET | OP_PPUT | OP_PDEL, OP_PGET), "");
	st = kind("/f", &r);
	assert_string_equal(st.kind, "file");
	assert_string_equal(st.owner, "root");
	assert_string_equal(st.putter, "root");
	assert_true(st.size == 0);
	assert_int_equal(st.operm, OP_PGET | OP_PPUT | OP_PDEL);
	assert_int_equal(st.wperm, OP_PGET);
	uint32_t v0 = st.vers;
	uint64_t pt0 = st.ptime;
	reply_free(&r);
	assert_string_equal(put(fx.addr, "/f", (const uint8_t *)"hello", 5), "");
	st = kind("/f", &r);
	assert_true(st.size == 5);
	assert_int_not_equal(st.vers, v0);
	assert_true(st.ptime >= pt0);
	reply_free(&r);
	struct stat hs;
	assert_int_equal(stat(fx.host, &hs), 0);
	st = kind("/host", &r);
	assert_string_equal(st.kind, "dir");
	reply_free(&r);
	st = kind("/mem", &r);
	assert_string_equal(st.kind, "dir");
	reply_free(&r);
	/* constraints: a kind, an owner */
	st = kind("/f!file", &r);
	reply_free(&r);
	st = kind("/f!file!owner=root", &r);
	reply_free(&r);
	assert_string_equal(kind_err("/f!dir"), ERR(ENOENT));
	assert_string_equal(kind_err("/f!owner=nobody"), ERR(ENOENT));
	/* a pattern answers its first match */
	st = kind("/*!file", &r);
	assert_string_equal(st.kind, "file");
	reply_free(&r);
}

static void test_make_delete(void **state)
{
	(void)state;
	assert_string_equal(make("/d", "dir", 0, 0), "");
	assert_string_equal(make("/d", "dir", 0, 0), ERR(EEXIST));
	assert_string_equal(make("/d/f", "", 0, 0), ""); /* kind file by default */
	assert_string_equal(make("/d/f", "file", 0, 0), ERR(EEXIST));
	assert_string_equal(make("/d/l", "link", 0, 0), ERR(EINVAL));
	assert_string_equal(make("/d/*", "file", 0, 0), ERR(EINVAL));
	assert_string_equal(make("/none/f", "file", 0, 0), ERR(ENOENT));
	assert_string_equal(make("/d/f/g", "file", 0, 0), ERR(ENOTDIR));
	assert_string_equal(make("/", "dir", 0, 0), ERR(EEXIST));
	assert_string_equal(make("/host/hd", "dir", OP_PSEL | OP_PMK, 0), "");
	struct stat s;
	char path[160];
	snprintf(path, sizeof path, "%s/hd", fx.host);
	assert_int_equal(stat(path, &s), 0);
	assert_true(S_ISDIR(s.st_mode));
	assert_int_equal(s.st_mode & 0777, 0700);
	assert_string_equal(make("/host/hd/x", "file", OP_PGET | OP_PPUT, OP_PGET), "");
	snprintf(path, sizeof path, "%s/hd/x", fx.host);
	assert_int_equal(stat(path, &s), 0);
	assert_int_equal(s.st_mode & 0777, 0644);
	/* kinds a place cannot hold */
	assert_string_equal(make("/d/m", "mem", 0, 0), ERR(EINVAL));

	struct reply r;
	struct op_stat st = kind("/d", &r);
	assert_int_equal(st.operm, OP_PSEL | OP_PMK | OP_PLNK | OP_PDEL);
	reply_free(&r);

	assert_string_equal(call((struct op_msg){ .type = OP_DELETE, .box = "/d" }, NULL),
			    ERR(ENOTEMPTY));
	assert_string_equal(call((struct op_msg){ .type = OP_DELETE, .box = "/d/f" }, NULL), "");
	assert_string_equal(call((struct op_msg){ .type = OP_DELETE, .box = "/d/f" }, NULL),
			    ERR(ENOENT));
	assert_string_equal(call((struct op_msg){ .type = OP_DELETE, .box = "/d" }, NULL), "");
	assert_string_equal(call((struct op_msg){ .type = OP_DELETE, .box = "/" }, NULL),
			    ERR(EBUSY));
	assert_string_equal(call((struct op_msg){ .type = OP_DELETE, .box = "/host" }, NULL),
			    ERR(EBUSY)); /* a mount point */
	assert_string_equal(call((struct op_msg){ .type = OP_DELETE, .box = "/host/hd/x" }, NULL),
			    "");
	assert_int_equal(stat(path, &s), -1);
}

static void test_getmem_putmem(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 3 * 65536 + 17 };
	assert_string_equal(make("/host/b", "file", 0, 0), "");
	assert_string_equal(make("/b", "file", 0, 0), "");
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t n = sizes[i];
		uint8_t *data = malloc(n + 1);
		pattern(data, n, (unsigned)i);
		for (int where = 0; where < 2; where++) {
			const char *box = where ? "/host/b" : "/b";
			assert_string_equal(put(fx.addr, box, data, n), "");
			size_t got;
			uint8_t *back = get(fx.addr, box, &got);
			assert_true(got == n);
			assert_memory_equal(back, data, n);
			free(back);
		}
		char path[160];
		snprintf(path, sizeof path, "%s/b", fx.host);
		struct stat s;
		assert_int_equal(stat(path, &s), 0);
		assert_true((size_t)s.st_size == n);
		free(data);
	}

	/* a series that stops short leaves the box as it was */
	int fd = dial(fx.addr);
	uint8_t *big = malloc(3 * OP_MAXBYTES);
	pattern(big, 3 * OP_MAXBYTES, 99);
	struct reply r;
	for (uint64_t off = 0; off < 2 * OP_MAXBYTES; off += OP_MAXBYTES) {
		rpc(fd,
		    &(struct op_msg){ .type = OP_PUTMEM,
				      .box = "/host/b",
				      .off = off,
				      .len = OP_MAXBYTES,
				      .data = big + off },
		    &r);
		assert_string_equal(r.m.err, "");
		reply_free(&r);
	}
	size_t got;
	uint8_t *back = get(fx.addr, "/host/b", &got);
	assert_true(got == 3 * 65536 + 17); /* the last complete put */
	free(back);
	/* a packet out of its place: ESPIPE, and the series is gone */
	rpc(fd,
	    &(struct op_msg){
		    .type = OP_PUTMEM, .box = "/host/b", .off = 5, .len = 3, .data = "abc" },
	    &r);
	assert_string_equal(r.m.err, ERR(ESPIPE));
	reply_free(&r);
	rpc(fd,
	    &(struct op_msg){
		    .type = OP_PUTMEM, .box = "/host/b", .off = 2 * OP_MAXBYTES, .len = 0 },
	    &r);
	assert_string_equal(r.m.err, ERR(ESPIPE));
	reply_free(&r);
	close(fd);
	/* a series goes on from another connection (no per-connection state),
	 * and a new series from 0 replaces an unfinished one */
	fd = dial(fx.addr);
	rpc(fd,
	    &(struct op_msg){
		    .type = OP_PUTMEM, .box = "/b", .off = 0, .len = OP_MAXBYTES, .data = big },
	    &r);
	assert_string_equal(r.m.err, "");
	reply_free(&r);
	close(fd);
	fd = dial(fx.addr);
	rpc(fd,
	    &(struct op_msg){ .type = OP_PUTMEM,
			      .box = "/b",
			      .off = OP_MAXBYTES,
			      .len = 10,
			      .data = big + OP_MAXBYTES },
	    &r);
	assert_string_equal(r.m.err, "");
	reply_free(&r);
	close(fd);
	back = get(fx.addr, "/b", &got);
	assert_true(got == OP_MAXBYTES + 10);
	assert_memory_equal(back, big, got);
	free(back);
	free(big);

	/* GETMEM at and past the end, of a directory, of nothing */
	fd = dial(fx.addr);
	rpc(fd, &(struct op_msg){ .type = OP_GETMEM, .box = "/b", .off = 1u << 30, .len = 100 },
	    &r);
	assert_int_equal(r.m.type, OP_GETMEM);
	assert_int_equal(r.m.len, 0);
	reply_free(&r);
	rpc(fd, &(struct op_msg){ .type = OP_GETMEM, .box = "/b", .off = 65530, .len = 100 }, &r);
	assert_int_equal(r.m.len, 16);
	reply_free(&r);
	close(fd);
	assert_string_equal(call((struct op_msg){ .type = OP_GETMEM, .box = "/", .len = 10 }, NULL),
			    ERR(EISDIR));
	assert_string_equal(
		call((struct op_msg){ .type = OP_GETMEM, .box = "/zz", .len = 10 }, NULL),
		ERR(ENOENT));
	/* PUTMEM needs a box that is there and is not a directory */
	assert_string_equal(put(fx.addr, "/zz", (const uint8_t *)"x", 1), ERR(ENOENT));
	assert_string_equal(put(fx.addr, "/host", (const uint8_t *)"x", 1), ERR(EISDIR));
	/* new data drop set-id bits (the owner is kept) */
	char sbox[160];
	snprintf(sbox, sizeof sbox, "%s/b", fx.host);
	assert_int_equal(chmod(sbox, 04755), 0);
	assert_string_equal(put(fx.addr, "/host/b", (const uint8_t *)"new", 3), "");
	struct stat sst;
	assert_int_equal(stat(sbox, &sst), 0);
	assert_int_equal(sst.st_mode & 07777, 0755);
	/* no temporary name is left behind */
	DIR *d = opendir(fx.host);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		assert_false(strncmp(e->d_name, ".op-", 4) == 0);
	closedir(d);
}

static void test_selectors(void **state)
{
	(void)state;
	assert_string_equal(make("/s", "dir", 0, 0), "");
	assert_string_equal(make("/s/a b", "file", 0, 0), "");
	assert_string_equal(make("/s/x\\!y", "file", 0, 0), ""); /* a name with '!' */
	assert_string_equal(make("/s/sub", "dir", 0, 0), "");
	assert_string_equal(make("/s/sub/z", "file", 0, 0), "");
	struct reply r;
	struct op_stat st;
	assert_string_equal(call((struct op_msg){ .type = OP_SELECTORS, .box = "/s" }, &r), "");
	char *names = strndup(r.m.data, r.m.len);
	reply_free(&r);
	/* every name once, escaped, as a selector from the root */
	assert_non_null(strstr(names, "/s/a\\ b"));
	assert_non_null(strstr(names, "/s/x\\!y"));
	assert_non_null(strstr(names, "/s/sub"));
	assert_null(strstr(names, "/s/sub/z"));
	free(names);
	assert_string_equal(call((struct op_msg){ .type = OP_SELECTORS, .box = "/s/*!dir" }, &r),
			    "");
	assert_int_equal(r.m.len, strlen("/s/sub"));
	assert_memory_equal(r.m.data, "/s/sub", r.m.len);
	reply_free(&r);
	assert_string_equal(call((struct op_msg){ .type = OP_SELECTORS, .box = "/s/*/*" }, &r), "");
	assert_int_equal(r.m.len, strlen("/s/sub/z"));
	reply_free(&r);
	/* below a "*", branches without the name are no error: /host, /mem
	 * and /q0../q3 have no "sub", whatever order the root lists them in */
	for (int i = 0; i < 4; i++) {
		char q[8];
		snprintf(q, sizeof q, "/q%d", i);
		assert_string_equal(make(q, "dir", 0, 0), "");
	}
	assert_string_equal(call((struct op_msg){ .type = OP_SELECTORS, .box = "/*/sub" }, &r), "");
	assert_int_equal(r.m.len, strlen("/s/sub"));
	assert_memory_equal(r.m.data, "/s/sub", r.m.len);
	reply_free(&r);
	st = kind("/*/sub/z", &r);
	assert_string_equal(st.kind, "file");
	reply_free(&r);
	assert_string_equal(kind_err("/*/nothing"), ERR(ENOENT));
	/* a selector answered is a selector that works */
	st = kind("/s/x\\!y", &r);
	assert_string_equal(st.kind, "file");
	reply_free(&r);
	/* a plain file is itself; nothing matching is an empty list */
	assert_string_equal(call((struct op_msg){ .type = OP_SELECTORS, .box = "/s/a\\ b" }, &r),
			    "");
	assert_int_equal(r.m.len, strlen("/s/a\\ b"));
	reply_free(&r);
	assert_string_equal(call((struct op_msg){ .type = OP_SELECTORS, .box = "/s/*!mem" }, &r),
			    "");
	assert_int_equal(r.m.len, 0);
	reply_free(&r);
	assert_string_equal(call((struct op_msg){ .type = OP_SELECTORS, .box = "/nope" }, NULL),
			    ERR(ENOENT));
	assert_string_equal(
		call((struct op_msg){ .type = OP_SELECTORS, .box = "/s/*!bogus" }, NULL),
		ERR(EINVAL));
}

static void test_chinfo_link(void **state)
{
	(void)state;
	assert_string_equal(make("/c", "file", 0, 0), "");
	struct op_stat keep = { .vers = OP_KEEP32,
				.ptime = OP_KEEP64,
				.gtime = OP_KEEP64,
				.size = OP_KEEP64,
				.operm = OP_KEEP32,
				.wperm = OP_KEEP32 };
	struct op_stat ch = keep;
	ch.operm = OP_PGET;
	ch.wperm = 0;
	ch.ptime = 1000000000ull * 1234567;
	ch.size = 42;
	ch.putter = "someone";
	ch.owner = "nobody";
	assert_string_equal(call((struct op_msg){ .type = OP_CHINFO, .box = "/c", .st = ch }, NULL),
			    "");
	struct reply r;
	struct op_stat st = kind("/c", &r);
	assert_int_equal(st.operm, OP_PGET);
	assert_int_equal(st.wperm, 0);
	assert_true(st.size == 42);
	assert_true(st.ptime == 1000000000ull * 1234567);
	assert_string_equal(st.putter, "someone");
	assert_string_equal(st.owner, "nobody");
	reply_free(&r);
	/* all "leave": nothing changes */
	assert_string_equal(
		call((struct op_msg){ .type = OP_CHINFO, .box = "/c", .st = keep }, NULL), "");
	st = kind("/c", &r);
	assert_true(st.size == 42);
	reply_free(&r);
	ch = keep;
	ch.kind = "dir";
	assert_string_equal(call((struct op_msg){ .type = OP_CHINFO, .box = "/c", .st = ch }, NULL),
			    ERR(EINVAL));
	ch = keep;
	ch.vers = 7;
	assert_string_equal(call((struct op_msg){ .type = OP_CHINFO, .box = "/c", .st = ch }, NULL),
			    ERR(EINVAL));
	ch = keep;
	ch.owner = "no-such-user-here";
	assert_string_equal(call((struct op_msg){ .type = OP_CHINFO, .box = "/c", .st = ch }, NULL),
			    ERR(EINVAL));

	/* LINK: a second name of the same box */
	assert_string_equal(put(fx.addr, "/c", (const uint8_t *)"linked", 6), "");
	assert_string_equal(
		call((struct op_msg){ .type = OP_LINK, .box = "/c2", .target = "/c" }, NULL), "");
	size_t n;
	uint8_t *b = get(fx.addr, "/c2", &n);
	assert_true(n == 6);
	assert_memory_equal(b, "linked", 6);
	free(b);
	assert_string_equal(
		call((struct op_msg){ .type = OP_LINK, .box = "/c2", .target = "/c" }, NULL),
		ERR(EEXIST));
	assert_string_equal(
		call((struct op_msg){ .type = OP_LINK, .box = "/host/c", .target = "/c" }, NULL),
		ERR(EXDEV));
	assert_string_equal(
		call((struct op_msg){ .type = OP_LINK, .box = "/c3", .target = "/none" }, NULL),
		ERR(ENOENT));
}

/* ---- copies ---- */

static void test_copy(void **state)
{
	(void)state;
	size_t n = 3 * OP_MAXBYTES + 5;
	uint8_t *data = malloc(n);
	pattern(data, n, 7);
	int fd = dial(fx.other_addr);
	struct reply r;
	rpc(fd, &(struct op_msg){ .type = OP_MAKE, .box = "/src", .st = { .kind = "file" } }, &r);
	assert_string_equal(r.m.err, "");
	reply_free(&r);
	close(fd);
	assert_string_equal(put(fx.other_addr, "/src", data, n), "");
	/* the destination pulls: a new box, then over an existing one */
	for (int again = 0; again < 2; again++) {
		assert_string_equal(call((struct op_msg){ .type = OP_COPY,
							  .box = "/host/dst",
							  .addr = fx.other_addr,
							  .target = "/src" },
					 &r),
				    "");
		assert_true(r.m.off == n);
		assert_string_equal(r.m.box, "/host/dst");
		reply_free(&r);
		size_t got;
		uint8_t *back = get(fx.addr, "/host/dst", &got);
		assert_true(got == n);
		assert_memory_equal(back, data, n);
		free(back);
	}
	assert_string_equal(call((struct op_msg){ .type = OP_COPY,
						  .box = "/host/dst",
						  .addr = fx.other_addr,
						  .target = "/none" },
				 NULL),
			    ERR(ENOENT));
	assert_string_equal(call((struct op_msg){ .type = OP_COPY,
						  .box = "/host/dst",
						  .addr = fx.other_addr,
						  .target = "/" },
				 NULL),
			    ERR(EISDIR));
	assert_string_equal(call((struct op_msg){ .type = OP_COPY,
						  .box = "/nodir/dst",
						  .addr = fx.other_addr,
						  .target = "/src" },
				 NULL),
			    ERR(ENOENT));
	free(data);
}

/* A 100 MiB box from one server to another arrives intact. */
static void test_copy_100m(void **state)
{
	(void)state;
	size_t n = 100u << 20;
	uint8_t *data = malloc(n);
	pattern(data, n, 100);
	assert_string_equal(call((struct op_msg){ .type = OP_MAKE,
						  .box = "/host/big",
						  .st = { .kind = "file" } },
				 NULL),
			    "");
	assert_string_equal(put(fx.addr, "/host/big", data, n), "");
	struct reply r;
	int fd = dial(fx.other_addr);
	rpc(fd,
	    &(struct op_msg){
		    .type = OP_COPY, .box = "/big", .addr = fx.addr, .target = "/host/big" },
	    &r);
	assert_int_equal(r.m.type, OP_COPY);
	assert_true(r.m.off == n);
	reply_free(&r);
	close(fd);
	size_t got;
	uint8_t *back = get(fx.other_addr, "/big", &got);
	assert_true(got == n);
	assert_memory_equal(back, data, n);
	free(back);
	free(data);
}

/*
 * A source that dies in the middle of a copy: a fake op server that answers
 * KIND and GETMEM for a big box and, after `packets` GETMEMs, closes its
 * connection and listener without another word — as a killed server does.
 */
struct fake {
	int lfd;
	unsigned packets;
	char path[100];
};

static void *fake_source(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	static uint8_t in[OP_MAXMSG], out[OP_MAXMSG];
	uint8_t data[OP_MAXBYTES];
	memset(data, 'S', sizeof data);
	unsigned sent = 0;
	while (fd >= 0 && sent < f->packets) {
		if (!recv_all(fd, in, 8))
			break;
		ssize_t size = op_frame_size(in, 0);
		if (size < 8 || !recv_all(fd, in + 8, (size_t)size - 8))
			break;
		struct op_msg m, rep = { .reply = true };
		if (op_unpack(&m, in, (size_t)size) < 0)
			break;
		rep.serial = m.serial;
		rep.type = m.type;
		rep.box = m.box;
		if (m.type == OP_KIND) {
			rep.st = (struct op_stat){ .kind = "file", .size = 1u << 30, .vers = 1 };
		} else if (m.type == OP_GETMEM) {
			rep.off = m.off;
			rep.len = m.len;
			rep.data = data;
			sent++;
		} else {
			rep.type = OP_STATUS;
			rep.err = "unexpected";
		}
		ssize_t n = op_pack(out, sizeof out, &rep);
		send_all(fd, out, (size_t)n);
	}
	if (fd >= 0)
		close(fd);
	close(f->lfd); /* gone: no new connection either */
	unlink(f->path);
	return NULL;
}

static void test_copy_source_dies(void **state)
{
	(void)state;
	assert_string_equal(make("/host/keep", "file", 0, 0), "");
	assert_string_equal(put(fx.addr, "/host/keep", (const uint8_t *)"old box", 7), "");
	struct fake f = { .packets = 100 };
	snprintf(f.path, sizeof f.path, "%s/fake", fx.dir);
	f.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof un.sun_path, "%s", f.path);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&un, sizeof un), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	pthread_t t;
	pthread_create(&t, NULL, fake_source, &f);
	char src[160];
	snprintf(src, sizeof src, "unix!%s", f.path);
	const char *err = call(
		(struct op_msg){
			.type = OP_COPY, .box = "/host/keep", .addr = src, .target = "/big" },
		NULL);
	pthread_join(t, NULL);
	assert_string_not_equal(err, "");
	size_t got;
	uint8_t *back = get(fx.addr, "/host/keep", &got);
	assert_true(got == 7);
	assert_memory_equal(back, "old box", 7);
	free(back);
	/* the staged bytes were given back: the server takes new series */
	assert_string_equal(put(fx.addr, "/host/keep", (const uint8_t *)"new", 3), "");
	DIR *d = opendir(fx.host);
	for (struct dirent *e; (e = readdir(d));)
		assert_false(strncmp(e->d_name, ".op-", 4) == 0);
	closedir(d);
	/* an address nobody serves */
	err = call(
		(struct op_msg){
			.type = OP_COPY, .box = "/host/keep", .addr = src, .target = "/big" },
		NULL);
	assert_string_not_equal(err, "");
}

/* ---- malformed messages ---- */

/* Little-endian header bytes of a request. */
static size_t hdr(uint8_t *b, uint32_t size, uint32_t magic, uint32_t ser, uint16_t type,
		  uint16_t flags)
{
	uint32_t v[3] = { size, magic, ser };
	for (int i = 0; i < 3; i++)
		for (int k = 0; k < 4; k++)
			b[4 * i + k] = (uint8_t)(v[i] >> (8 * k));
	b[12] = (uint8_t)type;
	b[13] = (uint8_t)(type >> 8);
	b[14] = (uint8_t)flags;
	b[15] = (uint8_t)(flags >> 8);
	return 16;
}

/* The server is still there and answers. */
static void alive(void)
{
	struct reply r;
	kind("/", &r);
	reply_free(&r);
}

/* Sends raw bytes; answers the STATUS text, or NULL when the connection
 * was closed instead. */
static const char *raw(const uint8_t *b, size_t n)
{
	int fd = dial(fx.addr);
	send_all(fd, b, n);
	struct reply r;
	const char *res = NULL;
	if (recv_reply(fd, &r)) {
		assert_int_equal(r.m.type, OP_STATUS);
		snprintf(status_buf, sizeof status_buf, "%s", r.m.err);
		res = status_buf;
		reply_free(&r);
	}
	close(fd);
	alive();
	return res;
}

static void test_malformed(void **state)
{
	(void)state;
	uint8_t b[256];
	size_t n;
	/* wrong magic, sizes below the header or above the largest message:
	 * framing cannot be trusted, the connection is closed */
	n = hdr(b, 18, 0x12345678, 1, OP_KIND, 0);
	b[n++] = 0;
	b[n++] = 0;
	assert_null(raw(b, n));
	n = hdr(b, 10, OP_MAGIC, 1, OP_KIND, 0);
	assert_null(raw(b, n));
	n = hdr(b, OP_MAXMSG + 1, OP_MAGIC, 1, OP_KIND, 0);
	assert_null(raw(b, n));
	n = hdr(b, 0xffffffffu, OP_MAGIC, 1, OP_KIND, 0);
	assert_null(raw(b, n));

	/* sound framing, bad contents: a STATUS, and the connection goes on */
	n = hdr(b, 0, OP_MAGIC, 7, OP_KIND, 0);
	memcpy(b + n, "root", 4); /* unterminated user */
	n += 4;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EPROTO));
	n = hdr(b, 0, OP_MAGIC, 7, OP_KIND, 0);
	memcpy(b + n, "root\0\0/unterminated", 19);
	n += 19;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EPROTO));
	n = hdr(b, 0, OP_MAGIC, 7, OP_KIND, 0);
	memcpy(b + n, "root\0\0/\0extra", 13); /* bytes left over */
	n += 13;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EPROTO));
	/* a GETMEM asking for more than MAXBYTES, a PUTMEM whose length runs
	 * past the message */
	n = hdr(b, 0, OP_MAGIC, 7, OP_GETMEM, 0);
	memcpy(b + n, "root\0\0/f\0", 9);
	n += 9;
	memset(b + n, 0, 8);
	n += 8;
	uint32_t big = OP_MAXBYTES + 1;
	memcpy(b + n, &big, 4);
	n += 4;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EPROTO));
	n = hdr(b, 0, OP_MAGIC, 7, OP_PUTMEM, 0);
	memcpy(b + n, "root\0\0/f\0", 9);
	n += 9;
	memset(b + n, 0, 8);
	n += 8;
	uint32_t len = 100;
	memcpy(b + n, &len, 4);
	n += 4;
	memcpy(b + n, "short", 5);
	n += 5;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EPROTO));
	/* unknown ops, STATUS as a request, a reply sent to the server */
	n = hdr(b, 0, OP_MAGIC, 7, 77, 0);
	memcpy(b + n, "root\0\0", 6);
	n += 6;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EOPNOTSUPP));
	n = hdr(b, 0, OP_MAGIC, 7, OP_STATUS, 0);
	memcpy(b + n, "root\0\0\0", 7);
	n += 7;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EOPNOTSUPP));
	n = hdr(b, 0, OP_MAGIC, 7, OP_KIND, OP_FREPLY);
	memcpy(b + n, "root\0\0/\0", 8);
	n += 8;
	b[0] = (uint8_t)n;
	assert_string_equal(raw(b, n), ERR(EPROTO));
	/* a user string over its limit */
	uint8_t *lng = malloc(600);
	n = hdr(lng, 0, OP_MAGIC, 7, OP_KIND, 0);
	memset(lng + n, 'u', 300);
	n += 300;
	memcpy(lng + n, "\0\0/\0", 4);
	n += 4;
	lng[0] = (uint8_t)n;
	lng[1] = (uint8_t)(n >> 8);
	assert_string_equal(raw(lng, n), ERR(EPROTO));
	free(lng);

	/* a truncated message, then hang-up: nothing answered, server alive */
	n = hdr(b, 100, OP_MAGIC, 7, OP_KIND, 0);
	int fd = dial(fx.addr);
	send_all(fd, b, n);
	close(fd);
	alive();

	/* several requests in flight on one connection, answered by serial */
	fd = dial(fx.addr);
	static uint8_t many[16][256];
	for (uint32_t i = 0; i < 16; i++) {
		struct op_msg m = { .type = OP_KIND,
				    .serial = 1000 + i,
				    .user = "root",
				    .box = i % 2 ? "/" : "/missing" };
		ssize_t k = op_pack(many[i], sizeof many[i], &m);
		send_all(fd, many[i], (size_t)k);
	}
	unsigned seen = 0;
	for (int i = 0; i < 16; i++) {
		struct reply r;
		assert_true(recv_reply(fd, &r));
		uint32_t s = r.m.serial - 1000;
		assert_true(s < 16);
		assert_false(seen & 1u << s);
		seen |= 1u << s;
		assert_int_equal(r.m.type, s % 2 ? OP_KIND : OP_STATUS);
		reply_free(&r);
	}
	close(fd);
}

/* ---- who a request acts as ---- */

static void test_auth(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	/* let the unprivileged child reach the socket */
	assert_int_equal(chmod(fx.dir, 0755), 0);
	assert_int_equal(chmod(fx.addr + strlen("unix!"), 0777), 0);
	assert_string_equal(make("/secret", "file", OP_PGET | OP_PPUT, 0), "");
	assert_string_equal(put(fx.addr, "/secret", (const uint8_t *)"s", 1), "");
	/* a ticket where no scheme is configured */
	assert_string_equal(
		call((struct op_msg){ .type = OP_KIND, .box = "/", .ticket = "t" }, NULL),
		ERR(EACCES));
	/* a local peer that is not root acts as itself, and may not name
	 * another user */
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		int fd = dial(fx.addr);
		struct reply r;
		rpc(fd, &(struct op_msg){ .type = OP_KIND, .box = "/", .user = "root" }, &r);
		if (r.m.type != OP_STATUS || strcmp(r.m.err, ERR(EACCES)) != 0)
			_exit(11);
		reply_free(&r);
		rpc(fd,
		    &(struct op_msg){ .type = OP_GETMEM, .box = "/secret", .user = "", .len = 9 },
		    &r);
		if (r.m.type != OP_STATUS || strcmp(r.m.err, ERR(EACCES)) != 0)
			_exit(12);
		reply_free(&r);
		struct passwd *pw = getpwuid(65534);
		rpc(fd,
		    &(struct op_msg){
			    .type = OP_KIND, .box = "/secret", .user = pw ? pw->pw_name : "65534" },
		    &r);
		if (r.m.type != OP_KIND)
			_exit(13);
		reply_free(&r);
		rpc(fd,
		    &(struct op_msg){ .type = OP_PUTMEM,
				      .box = "/secret",
				      .user = "",
				      .len = 1,
				      .data = "x" },
		    &r);
		if (r.m.type != OP_STATUS || strcmp(r.m.err, ERR(EACCES)) != 0)
			_exit(14);
		reply_free(&r);
		close(fd);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	size_t n;
	uint8_t *b = get(fx.addr, "/secret", &n);
	assert_true(n == 1 && b[0] == 's');
	free(b);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_make_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getmem_putmem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chinfo_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_100m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_source_dies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
