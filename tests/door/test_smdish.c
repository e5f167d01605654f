/*
 * test_smdish.c — conformance of the smdish door (docs/protocols/smdish.md),
 * speaking raw bytes on sockets to a server running in this process.
 *
 * Every case runs on each transport the door serves: a Unix socket named by
 * a path, an abstract Unix socket, and TCP on 127.0.0.1; the test's name
 * says which ("unix/lock", "abstract/lock", "tcp/lock"). Each case gets a
 * fresh server (a RAM root, a memfs at /mem, smdish on the case's transport,
 * 9P on a Unix socket), so list replies (op 18) show exactly the memfiles
 * the case made. Requests are packed with the codec (boxfs/smdish.h), or
 * written by hand where a frame is malformed on purpose; every reply is
 * decoded with the layout its op must have (no byte more or less), and no
 * descriptor may travel with a reply but mmap_shared's.
 *
 * With BOXFS_CORPUS_DIR set, the program writes request streams for the door
 * fuzzer (fuzz_smdish_door) to DIR/fuzz_smdish_door/ instead of testing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/client.h>
#include <boxfs/memfs.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>
#include <boxfs/smdish.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum {
	MAX_SEGMENT = 64 << 20, /* the default */
	MAX_BODY = MAX_SEGMENT + 8,
	MAX_SLOTS = 65536, /* fds, and mapfds, per connection */
	WAIT_MS = 5000,	   /* for a reply that must come */
	QUIET_MS = 50,	   /* for one that must not */
};

/* ---- transports and the server of each case ---- */

enum tp_kind { TP_PATH, TP_ABSTRACT, TP_TCP };

struct transport {
	const char *name;
	enum tp_kind kind;
};

static const struct transport transports[] = {
	{ "unix", TP_PATH },
	{ "abstract", TP_ABSTRACT },
	{ "tcp", TP_TCP },
};

/* The case running now: its transport and servers. */
static struct {
	const struct transport *tp;
	struct boxfs_server *srv, *extra;
	char dir[64];
	char smd[160];	     /* smdish on the case's transport */
	char p9[160];	     /* 9P on a Unix socket */
	char extra_smd[160]; /* the second server's smdish, when a case makes one */
} fx;

static unsigned nservers; /* names each server's sockets apart */

/*
 * A server with a RAM root and a memfs at /mem (memfs options mo), serving
 * smdish on the case's transport (its address in smd) and, when p9 is set,
 * 9P on a Unix socket. NULL on failure.
 */
static struct boxfs_server *server_new(const struct boxfs_server_opts *so,
				       const struct boxfs_memfs_opts *mo, char *smd, char *p9)
{
	struct boxfs_server_opts o = so ? *so : (struct boxfs_server_opts){ 0 };
	o.workers = 2;
	struct boxfs_server *s = boxfs_server_new(&o);
	if (!s)
		return NULL;
	unsigned n = ++nservers;
	char want[160];
	switch (fx.tp->kind) {
	case TP_PATH:
		snprintf(want, sizeof want, "unix!%s/smdish%u", fx.dir, n);
		break;
	case TP_ABSTRACT:
		snprintf(want, sizeof want, "unix!@boxfs-smdish-test-%d-%u", (int)getpid(), n);
		break;
	case TP_TCP:
		snprintf(want, sizeof want, "tcp!127.0.0.1!0");
		break;
	}
	if (boxfs_server_mount(s, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(s, "/mem", boxfs_memfs_new(mo)) < 0 ||
	    boxfs_server_listen(s, "smdish", want) < 0)
		goto fail;
	snprintf(smd, 160, "%s", boxfs_server_address(s, 0));
	if (p9) {
		snprintf(want, sizeof want, "unix!%s/9p%u", fx.dir, n);
		if (boxfs_server_listen(s, "9p", want) < 0)
			goto fail;
		snprintf(p9, 160, "%s", boxfs_server_address(s, 1));
	}
	if (boxfs_server_start(s) < 0)
		goto fail;
	return s;
fail:
	boxfs_server_free(s);
	return NULL;
}

static int setup(void **state)
{
	fx.tp = *state;
	snprintf(fx.dir, sizeof fx.dir, "/tmp/boxfs-smdish-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	fx.srv = server_new(NULL, NULL, fx.smd, fx.p9);
	return fx.srv ? 0 : -1;
}

static void remove_dir(void)
{
	char path[256];
	for (unsigned i = 1; i <= nservers; i++) {
		snprintf(path, sizeof path, "%s/smdish%u", fx.dir, i);
		unlink(path);
		snprintf(path, sizeof path, "%s/9p%u", fx.dir, i);
		unlink(path);
	}
	rmdir(fx.dir);
}

static int teardown(void **state)
{
	(void)state;
	if (fx.extra)
		boxfs_server_free(fx.extra);
	if (fx.srv)
		boxfs_server_free(fx.srv);
	fx.extra = fx.srv = NULL;
	remove_dir();
	return 0;
}

/* A second server for a case that needs other limits; its smdish address is
 * fx.extra_smd. Freed by the teardown. */
static void extra_server(const struct boxfs_server_opts *so, const struct boxfs_memfs_opts *mo)
{
	assert_null(fx.extra);
	fx.extra = server_new(so, mo, fx.extra_smd, NULL);
	assert_non_null(fx.extra);
}

/* ---- raw connections ---- */

/* A client connection and the last reply read on it. */
struct sc {
	int fd;
	struct smd_hdr h;
	uint8_t *buf; /* the reply's body */
	size_t cap;
	int passed; /* the descriptor that came with the reply, or -1 */
	struct smd_rep rep;
};

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Connects to a dial string as the door prints it: unix!/path, unix!@name,
 * tcp!127.0.0.1!port. */
static int dial(const char *addr)
{
	int fd;
	if (strncmp(addr, "unix!", 5) == 0) {
		const char *p = addr + 5;
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		size_t n = strlen(p);
		assert_true(n < sizeof un.sun_path);
		memcpy(un.sun_path, p, n);
		socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		if (p[0] == '@') { /* abstract: no NUL counted */
			un.sun_path[0] = '\0';
			len--;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fd >= 0);
		assert_int_equal(connect(fd, (struct sockaddr *)&un, len), 0);
		return fd;
	}
	char host[64];
	unsigned port;
	assert_int_equal(sscanf(addr, "tcp!%63[^!]!%u", host, &port), 2);
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	assert_int_equal(inet_pton(AF_INET, host, &in.sin_addr), 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&in, sizeof in), 0);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static struct sc conn_at(const char *addr)
{
	return (struct sc){ .fd = dial(addr), .passed = -1 };
}

/* A connection to the case's server that has no descriptor table yet. */
static struct sc conn(void)
{
	return conn_at(fx.smd);
}

static void sc_close(struct sc *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->passed >= 0)
		close(s->passed);
	free(s->buf);
	*s = (struct sc){ .fd = -1, .passed = -1 };
}

static void send_all(struct sc *s, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(s->fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		assert_true(w > 0);
		b += w;
		n -= (size_t)w;
	}
}

static void send_req(struct sc *s, const struct smd_req *r)
{
	size_t cap = 64;
	if (r->op == SMD_OPEN)
		cap += r->name.len;
	if (r->op == SMD_UNLOCK)
		cap += r->unlock.data.len;
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	ssize_t n = smd_req_pack(buf, cap, r);
	assert_true(n >= SMD_HDRSZ);
	send_all(s, buf, (size_t)n);
	free(buf);
}

/* A frame written by hand: code, body_size = len, the body. */
static void send_raw(struct sc *s, uint32_t code, const void *body, size_t len)
{
	uint8_t hdr[SMD_HDRSZ];
	put_be32(hdr, code);
	put_be32(hdr + 4, (uint32_t)len);
	send_all(s, hdr, sizeof hdr);
	if (len)
		send_all(s, body, len);
}

/* Reads n bytes, keeping a descriptor passed along (one at most per reply). */
static void recv_all(struct sc *s, uint8_t *p, size_t n)
{
	while (n) {
		struct pollfd pf = { .fd = s->fd, .events = POLLIN };
		int pr = poll(&pf, 1, WAIT_MS);
		if (pr < 0 && errno == EINTR)
			continue;
		assert_int_equal(pr, 1); /* else no reply came */
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} cm;
		struct iovec iov = { .iov_base = p, .iov_len = n };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof cm.buf };
		ssize_t r = recvmsg(s->fd, &m, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0); /* else the server hung up */
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfd; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(h) + i * sizeof fd, sizeof fd);
				if (s->passed >= 0)
					close(fd);
				else
					s->passed = fd;
				assert_int_equal(i, 0);
			}
		}
		assert_false(m.msg_flags & MSG_CTRUNC);
		p += r;
		n -= (size_t)r;
	}
}

/* Reads one reply frame: its header into s->h, its body into s->buf. */
static void recv_frame(struct sc *s)
{
	if (s->passed >= 0)
		close(s->passed);
	s->passed = -1;
	uint8_t hdr[SMD_HDRSZ];
	recv_all(s, hdr, sizeof hdr);
	smd_hdr_unpack(&s->h, hdr);
	if (s->h.body_size > s->cap) {
		free(s->buf);
		s->cap = s->h.body_size;
		s->buf = malloc(s->cap);
		assert_non_null(s->buf);
	}
	recv_all(s, s->buf, s->h.body_size);
}

/* Reads the reply to a request of op: decoded with exactly its op's layout,
 * no descriptor unless it is mmap_shared's success. Answers the status. */
static uint32_t reply(struct sc *s, uint32_t op)
{
	recv_frame(s);
	assert_int_equal(smd_rep_unpack(&s->rep, op, s->h.code, s->buf, s->h.body_size), 0);
	if (op != SMD_MMAP_SHARED || s->h.code != 0)
		assert_int_equal(s->passed, -1);
	return s->h.code;
}

static uint32_t rpc(struct sc *s, const struct smd_req *r)
{
	send_req(s, r);
	return reply(s, r->op);
}

/* The next reply is status with an empty body and no descriptor. */
static void expect_status(struct sc *s, uint32_t status)
{
	recv_frame(s);
	assert_int_equal(s->h.code, status);
	assert_int_equal(s->h.body_size, 0);
	assert_int_equal(s->passed, -1);
}

/* The next bytes on s are exactly these. */
static void expect_bytes(struct sc *s, const uint8_t *want, size_t len)
{
	uint8_t got[64];
	assert_true(len <= sizeof got);
	recv_all(s, got, len);
	assert_memory_equal(got, want, len);
	assert_int_equal(s->passed, -1);
}

/* Nothing arrives for ms milliseconds (and the connection stays open). */
static void expect_quiet(struct sc *s, int ms)
{
	struct pollfd pf = { .fd = s->fd, .events = POLLIN };
	assert_int_equal(poll(&pf, 1, ms), 0);
}

/* The server closes the connection, sending nothing more. */
static void expect_closed(struct sc *s)
{
	struct pollfd pf = { .fd = s->fd, .events = POLLIN };
	assert_int_equal(poll(&pf, 1, WAIT_MS), 1);
	uint8_t b;
	ssize_t r = recv(s->fd, &b, 1, 0);
	assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
}

/* ---- the operations: a value >= 0 on success, else -status ---- */

static int result(uint32_t status, int value)
{
	return status ? -(int)status : value;
}

static int s_open_n(struct sc *s, const void *name, size_t len)
{
	struct smd_req r = { .op = SMD_OPEN, .name = { .p = name, .len = (uint32_t)len } };
	uint32_t st = rpc(s, &r);
	return result(st, (int)s->rep.fd);
}

static int s_open(struct sc *s, const char *name)
{
	return s_open_n(s, name, strlen(name));
}

static int s_fd_op(struct sc *s, uint32_t op, uint32_t fd)
{
	struct smd_req r = { .op = op, .fd = fd };
	return result(rpc(s, &r), 0);
}

static int s_close(struct sc *s, uint32_t fd)
{
	return s_fd_op(s, SMD_CLOSE, fd);
}

static int s_munmap(struct sc *s, uint32_t mapfd)
{
	return s_fd_op(s, SMD_MUNMAP, mapfd);
}

/* lock; on success s->rep.has_data and s->rep.data are the reply's. */
static int s_lock(struct sc *s, uint32_t fd)
{
	return s_fd_op(s, SMD_LOCK, fd);
}

static int s_xlock(struct sc *s, uint32_t fd, uint32_t flags)
{
	struct smd_req r = { .op = SMD_XLOCK, .xlock = { .fd = fd, .flags = flags } };
	return result(rpc(s, &r), 0);
}

static void send_xlock(struct sc *s, uint32_t fd, uint32_t flags)
{
	struct smd_req r = { .op = SMD_XLOCK, .xlock = { .fd = fd, .flags = flags } };
	send_req(s, &r);
}

static int s_unlock(struct sc *s, uint32_t fd)
{
	struct smd_req r = { .op = SMD_UNLOCK, .unlock = { .fd = fd } };
	return result(rpc(s, &r), 0);
}

static int s_unlock_data(struct sc *s, uint32_t fd, const void *data, size_t len)
{
	struct smd_req r = { .op = SMD_UNLOCK,
			     .unlock = { .fd = fd,
					 .has_data = true,
					 .data = { .p = data, .len = (uint32_t)len } } };
	return result(rpc(s, &r), 0);
}

static int s_mmap(struct sc *s, uint32_t fd, uint32_t size)
{
	struct smd_req r = { .op = SMD_MMAP, .mmap = { .fd = fd, .size = size } };
	uint32_t st = rpc(s, &r);
	return result(st, (int)s->rep.fd);
}

/* mmap_shared; on success the segment's descriptor is s->passed. */
static int s_mmap_shared(struct sc *s, uint32_t fd, uint32_t size)
{
	struct smd_req r = { .op = SMD_MMAP_SHARED, .mmap = { .fd = fd, .size = size } };
	uint32_t st = rpc(s, &r);
	if (st == 0)
		assert_true(s->passed >= 0);
	return result(st, (int)s->rep.fd);
}

static int s_new_fdtable(struct sc *s)
{
	struct smd_req r = { .op = SMD_NEW_FDTABLE };
	return result(rpc(s, &r), 0);
}

static int s_fork(struct sc *s, uint64_t *token)
{
	struct smd_req r = { .op = SMD_FORK };
	uint32_t st = rpc(s, &r);
	*token = s->rep.ident;
	return result(st, 0);
}

static int s_attach(struct sc *s, uint64_t token)
{
	struct smd_req r = { .op = SMD_CHILD_ATTACH, .ident = token };
	return result(rpc(s, &r), 0);
}

/* The list reply as "name:seg_size:flags" entries, space-separated. */
static const char *s_list(struct sc *s)
{
	static char out[16384];
	struct smd_req r = { .op = SMD_LIST };
	assert_int_equal(rpc(s, &r), 0);
	assert_true(s->rep.has_data);
	size_t pos = 0, at = 0;
	struct smd_list_ent e;
	int rc;
	out[0] = '\0';
	while ((rc = smd_list_next(s->rep.data, &pos, &e)) == 1 && at < sizeof out)
		at += (size_t)snprintf(out + at, sizeof out - at, "%s%.*s:%u:%u", at ? " " : "",
				       (int)e.name.len, (const char *)e.name.p, e.seg_size,
				       e.flags);
	assert_int_equal(rc, 0);
	return out;
}

/* A connection with a fresh descriptor table. */
static struct sc session_at(const char *addr)
{
	struct sc s = conn_at(addr);
	assert_int_equal(s_new_fdtable(&s), 0);
	return s;
}

static struct sc session(void)
{
	return session_at(fx.smd);
}

/* The lock is granted and its reply carries exactly these len bytes. */
static void expect_data(struct sc *s, const void *data, size_t len)
{
	assert_int_equal(s->h.code, 0);
	assert_true(s->rep.has_data);
	assert_int_equal(s->rep.data.len, len);
	assert_int_equal(s->h.body_size, 4 + len);
	assert_memory_equal(s->rep.data.p, data, len);
}

/* The lock is granted, a pure lock: an empty body. */
static void expect_pure(struct sc *s)
{
	assert_int_equal(s->h.code, 0);
	assert_int_equal(s->h.body_size, 0);
	assert_false(s->rep.has_data);
}

/* What the server does after another connection hangs up takes its own
 * time: these retry until it shows (5 s at most). */
static void wait_list(struct sc *s, const char *want)
{
	for (int i = 0; i < 2500 && strcmp(s_list(s), want) != 0; i++)
		usleep(2000);
	assert_string_equal(s_list(s), want);
}

static int wait_lock(struct sc *s, uint32_t fd)
{
	int r = s_lock(s, fd);
	for (int i = 0; i < 2500 && r == -EAGAIN; i++) {
		usleep(2000);
		r = s_lock(s, fd);
	}
	return r;
}

/* Lets the server take in what was sent on other connections before: one
 * round trip on s after a pause. */
static void settle(struct sc *s)
{
	usleep(20000);
	s_list(s);
}

/* ---- framing and the order of the checks ---- */

/* The header and bodies are big-endian, byte for byte as the table says. */
static void test_wire_bytes(void **state)
{
	(void)state;
	struct sc s = conn();
	static const uint8_t new_fdtable[] = { 0, 0, 0, 6, 0, 0, 0, 0 };
	static const uint8_t ok[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	send_all(&s, new_fdtable, sizeof new_fdtable);
	expect_bytes(&s, ok, sizeof ok);

	/* open "ab", one byte per write: the door reassembles frames */
	static const uint8_t open_ab[] = { 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 2, 'a', 'b' };
	for (size_t i = 0; i < sizeof open_ab; i++) {
		send_all(&s, &open_ab[i], 1);
		usleep(200);
	}
	static const uint8_t fd0[] = { 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0 };
	expect_bytes(&s, fd0, sizeof fd0);
	send_all(&s, open_ab, sizeof open_ab);
	static const uint8_t fd1[] = { 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1 };
	expect_bytes(&s, fd1, sizeof fd1);

	static const uint8_t lock0[] = { 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0 };
	send_all(&s, lock0, sizeof lock0); /* a pure lock: an empty body */
	expect_bytes(&s, ok, sizeof ok);
	static const uint8_t unlock0[] = { 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0 };
	send_all(&s, unlock0, sizeof unlock0);
	expect_bytes(&s, ok, sizeof ok);

	static const uint8_t mmap1[] = { 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 3 };
	send_all(&s, mmap1, sizeof mmap1);
	expect_bytes(&s, fd0, sizeof fd0); /* mapfd 0 */
	send_all(&s, lock0, sizeof lock0);
	static const uint8_t zeros3[] = { 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0 };
	expect_bytes(&s, zeros3, sizeof zeros3);
	/* clang-format off */
	static const uint8_t unlock_xyz[] = { 0, 0, 0, 3, 0, 0, 0, 11,
					      0, 0, 0, 0, /* fd */
					      0, 0, 0, 3, 'x', 'y', 'z' };
	/* clang-format on */
	send_all(&s, unlock_xyz, sizeof unlock_xyz);
	expect_bytes(&s, ok, sizeof ok);
	static const uint8_t lock1[] = { 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1 };
	send_all(&s, lock1, sizeof lock1);
	static const uint8_t xyz[] = { 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 3, 'x', 'y', 'z' };
	expect_bytes(&s, xyz, sizeof xyz);

	static const uint8_t list[] = { 0, 0, 0, 18, 0, 0, 0, 0 };
	send_all(&s, list, sizeof list);
	/* clang-format off */
	static const uint8_t one_entry[] = { 0, 0, 0, 0, 0, 0, 0, 14,
					     0, 0, 0, 2, 'a', 'b', /* name */
					     0, 0, 0, 3, /* seg_size */
					     0, 0, 0, 1 /* flags: locked */ };
	/* clang-format on */
	expect_bytes(&s, one_entry, sizeof one_entry);

	static const uint8_t close9[] = { 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 9 };
	send_all(&s, close9, sizeof close9);
	static const uint8_t ebadf[] = { 0, 0, 0, 9, 0, 0, 0, 0 };
	expect_bytes(&s, ebadf, sizeof ebadf);
	static const uint8_t munmap0[] = { 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 0 };
	send_all(&s, munmap0, sizeof munmap0);
	expect_bytes(&s, ok, sizeof ok);

	static const uint8_t fork[] = { 0, 0, 0, 7, 0, 0, 0, 0 };
	send_all(&s, fork, sizeof fork);
	static const uint8_t forked[] = { 0, 0, 0, 0, 0, 0, 0, 8 };
	expect_bytes(&s, forked, sizeof forked);
	uint8_t token[8];
	recv_all(&s, token, sizeof token);
	static const uint8_t none[8];
	assert_memory_not_equal(token, none, sizeof token);

	struct sc t = conn();
	send_raw(&t, SMD_CHILD_ATTACH, token, sizeof token); /* the same eight bytes back */
	expect_bytes(&t, ok, sizeof ok);
	send_all(&t, lock1, sizeof lock1); /* the child's fd 1: the same memfile, held by s */
	static const uint8_t eagain[] = { 0, 0, 0, 11, 0, 0, 0, 0 };
	expect_bytes(&t, eagain, sizeof eagain);
	sc_close(&t);
	sc_close(&s);
}

/* A body_size above the maximum (64 MiB + 8 by default) answers EPROTO and
 * closes the connection, before anything else is looked at; up to the
 * maximum a frame is read, whatever its op. */
static void test_body_size_limit(void **state)
{
	(void)state;
	/* no table, an op that exists: EPROTO, not EPERM */
	struct sc s = conn();
	send_raw(&s, SMD_OPEN, NULL, 0);
	expect_status(&s, EPERM);
	uint8_t hdr[8];
	put_be32(hdr, SMD_OPEN);
	put_be32(hdr + 4, MAX_BODY + 1);
	send_all(&s, hdr, sizeof hdr);
	expect_status(&s, EPROTO);
	expect_closed(&s);
	sc_close(&s);

	/* an unknown op: EPROTO, not ENOSYS */
	s = session();
	put_be32(hdr, 0xdeadbeef);
	put_be32(hdr + 4, UINT32_MAX);
	send_all(&s, hdr, sizeof hdr);
	expect_status(&s, EPROTO);
	expect_closed(&s);
	sc_close(&s);

	/* new_fdtable, whose only failure is EPROTO */
	s = conn();
	put_be32(hdr, SMD_NEW_FDTABLE);
	put_be32(hdr + 4, MAX_BODY + 1);
	send_all(&s, hdr, sizeof hdr);
	expect_status(&s, EPROTO);
	expect_closed(&s);
	sc_close(&s);

	/* exactly the maximum is read (and an unknown op's body discarded) */
	s = session();
	uint8_t *big = calloc(1, MAX_BODY);
	assert_non_null(big);
	send_raw(&s, 99, big, MAX_BODY);
	free(big);
	expect_status(&s, ENOSYS);
	assert_int_equal(s_open(&s, "after"), 0);
	assert_string_equal(s_list(&s), "after:0:0");
	sc_close(&s);
}

/* The maximum follows the configured segment size: max_segment + 8, which is
 * an unlock carrying a whole segment. */
static void test_body_size_configured(void **state)
{
	(void)state;
	extra_server(NULL, &(struct boxfs_memfs_opts){ .max_segment = 4096 });
	struct sc s = session_at(fx.extra_smd);
	assert_int_equal(s_open(&s, "m"), 0);
	assert_int_equal(s_mmap(&s, 0, 4097), -EINVAL);
	assert_int_equal(s_mmap(&s, 0, 4096), 0);
	assert_int_equal(s_lock(&s, 0), 0);
	uint8_t data[4096];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(s_unlock_data(&s, 0, data, sizeof data), 0); /* body 4104 */
	assert_int_equal(s_lock(&s, 0), 0);
	expect_data(&s, data, sizeof data);
	uint8_t hdr[SMD_HDRSZ]; /* the header is enough: the body is never read */
	put_be32(hdr, SMD_UNLOCK);
	put_be32(hdr + 4, 4105);
	send_all(&s, hdr, sizeof hdr);
	expect_status(&s, EPROTO);
	expect_closed(&s);
	sc_close(&s);
	s = session_at(fx.extra_smd); /* the memfile went with the connection */
	assert_string_equal(s_list(&s), "");
	sc_close(&s);
}

/* The largest segment a memfs allows does not wrap the frame limit around. */
static void test_body_size_no_wrap(void **state)
{
	(void)state;
	extra_server(NULL, &(struct boxfs_memfs_opts){ .max_segment = UINT32_MAX });
	struct sc s = session_at(fx.extra_smd);
	assert_int_equal(s_open(&s, "wide"), 0);
	assert_int_equal(s_lock(&s, 0), 0);
	assert_int_equal(s_unlock(&s, 0), 0);
	assert_string_equal(s_list(&s), "wide:0:0");
	sc_close(&s);
}

/* An op the server does not know answers ENOSYS, before EPERM; its body is
 * read and dropped, and the connection goes on. */
static void test_unknown_ops(void **state)
{
	(void)state;
	static const uint32_t codes[] = { 9,  10, 11,  12,  13,	     14,	 15,
					  19, 20, 255, 256, 0x10000, 0x80000000, 0xffffffff };
	static const size_t sizes[] = { 0, 1, 13, 70000 };
	/* bodies that hold a well-formed request: it must not be taken as one */
	uint8_t *body = malloc(70000);
	assert_non_null(body);
	struct smd_req open = { .op = SMD_OPEN, .name = { .p = (const uint8_t *)"zz", .len = 2 } };
	for (size_t at = 0; at + 14 <= 70000; at += 14)
		assert_int_equal(smd_req_pack(body + at, 14, &open), 14);

	struct sc s = conn(); /* no table yet */
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		send_raw(&s, codes[i], body, sizes[i % ARRAY_SIZE(sizes)]);
		expect_status(&s, ENOSYS);
	}
	send_raw(&s, SMD_OPEN, body, 14);
	expect_status(&s, EPERM); /* still without a table */
	assert_int_equal(s_new_fdtable(&s), 0);
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
		for (size_t j = 0; j < ARRAY_SIZE(sizes); j++) {
			send_raw(&s, codes[i], body, sizes[j]);
			expect_status(&s, ENOSYS);
		}
	assert_int_equal(s_open(&s, "x"), 0); /* fd 0: nothing was opened meanwhile */
	assert_string_equal(s_list(&s), "x:0:0");
	free(body);
	sc_close(&s);
}

/* Without a descriptor table every op but new_fdtable and child_attach
 * answers EPERM — a malformed body too — and changes nothing. */
static void test_eperm_before_table(void **state)
{
	(void)state;
	struct sc o = session(); /* an observer */
	assert_int_equal(s_open(&o, "held"), 0);
	assert_int_equal(s_lock(&o, 0), 0);

	struct sc s = conn();
	const struct smd_req reqs[] = {
		{ .op = SMD_OPEN, .name = { .p = (const uint8_t *)"new", .len = 3 } },
		{ .op = SMD_CLOSE, .fd = 0 },
		{ .op = SMD_LOCK, .fd = 0 },
		{ .op = SMD_UNLOCK, .unlock = { .fd = 0 } },
		{ .op = SMD_UNLOCK,
		  .unlock = { .fd = 0, .has_data = true, .data = { (const uint8_t *)"ab", 2 } } },
		{ .op = SMD_MMAP, .mmap = { .fd = 0, .size = 4 } },
		{ .op = SMD_MUNMAP, .fd = 0 },
		{ .op = SMD_FORK },
		{ .op = SMD_XLOCK, .xlock = { .fd = 0, .flags = SMD_XLOCK_WAIT } },
		{ .op = SMD_MMAP_SHARED, .mmap = { .fd = 0, .size = 4 } },
		{ .op = SMD_LIST },
	};
	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
		send_req(&s, &reqs[i]);
		expect_status(&s, EPERM);
	}
	static const uint32_t ops[] = {
		SMD_OPEN,   SMD_CLOSE, SMD_LOCK,  SMD_UNLOCK,	   SMD_MMAP,
		SMD_MUNMAP, SMD_FORK,  SMD_XLOCK, SMD_MMAP_SHARED, SMD_LIST
	};
	static const uint8_t junk[3] = { 1, 2, 3 };
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		send_raw(&s, ops[i], junk, sizeof junk);
		expect_status(&s, EPERM);
	}
	/* the two ops that may come first fail without making a table */
	send_raw(&s, SMD_NEW_FDTABLE, junk, 1);
	expect_status(&s, EPROTO);
	send_raw(&s, SMD_CHILD_ATTACH, junk, 3);
	expect_status(&s, EPROTO);
	assert_int_equal(s_attach(&s, 0x0123456789abcdefull), -EINVAL);
	assert_int_equal(s_open(&s, "held"), -EPERM);
	assert_string_equal(s_list(&o), "held:0:1");
	assert_int_equal(s_new_fdtable(&s), 0);
	assert_int_equal(s_open(&s, "held"), 0);
	assert_int_equal(s_lock(&s, 0), -EAGAIN);
	assert_string_equal(s_list(&s), "held:0:1");
	sc_close(&s);
	sc_close(&o);
}

struct bad {
	uint32_t op;
	uint8_t len;
	uint8_t body[16];
};

/* Bodies that are not exactly their op's layout answer EPROTO and change
 * nothing: no memfile, fd, mapfd, segment, lock, record or table. */
static void test_eproto_bodies(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	/* a: fd 0 "m" with a 4-byte segment "MMMM" (mapfd 0), fd 1 "n" a pure lock;
	 * a holds both locks */
	assert_int_equal(s_open(&a, "m"), 0);
	assert_int_equal(s_open(&a, "n"), 1);
	assert_int_equal(s_mmap(&a, 0, 4), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_unlock_data(&a, 0, "MMMM", 4), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_lock(&a, 1), 0);
	assert_string_equal(s_list(&a), "m:4:1 n:0:1");

	static const struct bad bad[] = {
		{ SMD_OPEN, 0, { 0 } },
		{ SMD_OPEN, 3, { 0, 0, 0 } },
		{ SMD_OPEN, 8, { 0, 0, 0, 5, 'a', 'b', 'c', 'd' } }, /* overruns */
		{ SMD_OPEN, 6, { 0, 0, 0, 1, 'a', 'b' } },	     /* a byte left over */
		{ SMD_OPEN, 5, { 0, 0, 0, 0, 'x' } },		     /* the same, empty name */
		{ SMD_OPEN, 5, { 0xff, 0xff, 0xff, 0xff, 'a' } },    /* a huge length */
		{ SMD_CLOSE, 0, { 0 } },
		{ SMD_CLOSE, 3, { 0, 0, 0 } },
		{ SMD_CLOSE, 5, { 0, 0, 0, 1, 0 } },
		{ SMD_CLOSE, 8, { 0 } },
		{ SMD_LOCK, 0, { 0 } },
		{ SMD_LOCK, 2, { 0, 0 } },
		{ SMD_LOCK, 5, { 0, 0, 0, 0, 0 } },
		{ SMD_UNLOCK, 0, { 0 } },
		{ SMD_UNLOCK, 3, { 0, 0, 0 } },
		{ SMD_UNLOCK, 5, { 0, 0, 0, 1, 0 } },
		{ SMD_UNLOCK, 7, { 0, 0, 0, 1, 0, 0, 0 } },
		{ SMD_UNLOCK, 11, { 0, 0, 0, 0, 0, 0, 0, 4, 'a', 'b', 'c' } }, /* short data */
		{ SMD_UNLOCK, 13, { 0, 0, 0, 0, 0, 0, 0, 4, 'a', 'b', 'c', 'd', 'e' } }, /* long */
		{ SMD_UNLOCK, 8, { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff } },
		{ SMD_MMAP, 0, { 0 } },
		{ SMD_MMAP, 4, { 0, 0, 0, 1 } },
		{ SMD_MMAP, 7, { 0, 0, 0, 1, 0, 0, 0 } },
		{ SMD_MMAP, 9, { 0, 0, 0, 1, 0, 0, 0, 8, 0 } },
		{ SMD_MMAP, 12, { 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 8 } },
		{ SMD_MUNMAP, 0, { 0 } },
		{ SMD_MUNMAP, 1, { 0 } },
		{ SMD_MUNMAP, 6, { 0 } },
		{ SMD_NEW_FDTABLE, 1, { 0 } },
		{ SMD_NEW_FDTABLE, 4, { 0 } },
		{ SMD_FORK, 1, { 0 } },
		{ SMD_FORK, 8, { 0 } },
		{ SMD_CHILD_ATTACH, 0, { 0 } },
		{ SMD_CHILD_ATTACH, 4, { 0 } },
		{ SMD_CHILD_ATTACH, 7, { 1, 2, 3, 4, 5, 6, 7 } },
		{ SMD_CHILD_ATTACH, 9, { 1, 2, 3, 4, 5, 6, 7, 8, 9 } },
		{ SMD_XLOCK, 0, { 0 } },
		{ SMD_XLOCK, 4, { 0, 0, 0, 1 } },
		{ SMD_XLOCK, 9, { 0, 0, 0, 1, 0, 0, 0, 0, 0 } },
		{ SMD_MMAP_SHARED, 4, { 0, 0, 0, 1 } },
		{ SMD_MMAP_SHARED, 10, { 0, 0, 0, 1, 0, 0, 0, 8, 0, 0 } },
		{ SMD_LIST, 1, { 0 } },
		{ SMD_LIST, 4, { 0 } },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		send_raw(&a, bad[i].op, bad[i].body, bad[i].len);
		expect_status(&a, EPROTO);
	}
	/* a's table is what it was: the same fds, mapfds, segment and locks */
	assert_string_equal(s_list(&b), "m:4:1 n:0:1");
	assert_int_equal(s_open(&a, "m"), 2);
	assert_int_equal(s_close(&a, 2), 0);
	assert_int_equal(s_munmap(&a, 1), -EBADF);
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "MMMM", 4);
	assert_int_equal(s_open(&b, "m"), 0);
	assert_int_equal(s_open(&b, "n"), 1);
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	assert_int_equal(s_lock(&b, 1), -EAGAIN);
	/* no fork record holds them: they die with a's table and b's fds */
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_int_equal(s_new_fdtable(&b), 0);
	assert_string_equal(s_list(&b), "");
	sc_close(&a);
	sc_close(&b);
}

/* ---- names, numbers, limits ---- */

static void test_names(void **state)
{
	(void)state;
	struct sc s = session();
	char name[4096];
	memset(name, 'n', sizeof name);
	assert_int_equal(s_open_n(&s, name, 256), -ENAMETOOLONG);
	assert_int_equal(s_open_n(&s, name, sizeof name), -ENAMETOOLONG);
	assert_int_equal(s_open_n(&s, "", 0), -EINVAL);
	assert_int_equal(s_open(&s, "/"), -EINVAL);
	assert_int_equal(s_open(&s, "a/b"), -EINVAL);
	assert_int_equal(s_open(&s, "ab/"), -EINVAL);
	assert_int_equal(s_open(&s, "/ab"), -EINVAL);
	assert_int_equal(s_open_n(&s, "a\0b", 3), -EINVAL);
	assert_int_equal(s_open_n(&s, "\0", 1), -EINVAL);
	assert_int_equal(s_open_n(&s, "ab\0", 3), -EINVAL);
	assert_string_equal(s_list(&s), ""); /* none of them made a memfile */

	/* 1 to 255 bytes of anything but '/' and NUL */
	assert_int_equal(s_open(&s, "a"), 0);
	assert_int_equal(s_open_n(&s, name, 255), 1);
	assert_int_equal(s_open(&s, "A"), 2); /* names are bytes: another memfile */
	assert_int_equal(s_open(&s, "."), 3);
	assert_int_equal(s_open(&s, ".."), 4);
	assert_int_equal(s_open(&s, "\x01 \xff~"), 5);
	assert_int_equal(s_open(&s, "a"), 6); /* the same memfile again */
	char want[1024];
	snprintf(want, sizeof want, "a:0:0 %.255s:0:0 A:0:0 .:0:0 ..:0:0 \x01 \xff~:0:0", name);
	assert_string_equal(s_list(&s), want);
	sc_close(&s);
}

/* fds and mapfds: two tables, each handing out its lowest free number from 0. */
static void test_lowest_free_numbers(void **state)
{
	(void)state;
	struct sc s = session();
	assert_int_equal(s_open(&s, "a"), 0);
	assert_int_equal(s_open(&s, "b"), 1);
	assert_int_equal(s_open(&s, "c"), 2);
	assert_int_equal(s_close(&s, 1), 0);
	assert_int_equal(s_open(&s, "d"), 1);
	assert_int_equal(s_close(&s, 0), 0);
	assert_int_equal(s_close(&s, 2), 0);
	assert_int_equal(s_open(&s, "e"), 0);
	assert_int_equal(s_open(&s, "f"), 2);
	assert_int_equal(s_open(&s, "g"), 3);
	assert_string_equal(s_list(&s), "d:0:0 e:0:0 f:0:0 g:0:0");

	/* the map table starts at 0 however many fds there are */
	assert_int_equal(s_mmap(&s, 3, 8), 0);
	assert_int_equal(s_mmap(&s, 0, 8), 1);
	assert_int_equal(s_mmap(&s, 3, 8), 2);
	assert_int_equal(s_munmap(&s, 0), 0);
	assert_int_equal(s_mmap(&s, 1, 16), 0);
	assert_int_equal(s_mmap(&s, 2, 8), 3);
	assert_int_equal(s_open(&s, "h"), 4); /* and the fd table goes on from its own */

	/* each number is looked up in its own table only */
	assert_int_equal(s_close(&s, 5), -EBADF);
	assert_int_equal(s_munmap(&s, 4), -EBADF);
	assert_int_equal(s_close(&s, 4), 0);
	assert_int_equal(s_close(&s, 4), -EBADF);
	assert_int_equal(s_munmap(&s, 3), 0);
	assert_int_equal(s_munmap(&s, 3), -EBADF);
	assert_int_equal(s_close(&s, 3), 0); /* g: its fd; mapfd 2 still maps it */
	assert_int_equal(s_munmap(&s, 2), 0);
	assert_string_equal(s_list(&s), "d:16:0 e:8:0 f:8:0");
	assert_int_equal(s_munmap(&s, 2), -EBADF);

	/* numbers that were never handed out */
	static const uint32_t never[] = { 7, 100, 65535, 65536, 0x7fffffff, 0xffffffff };
	for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
		assert_int_equal(s_close(&s, never[i]), -EBADF);
		assert_int_equal(s_lock(&s, never[i]), -EBADF);
		assert_int_equal(s_unlock(&s, never[i]), -EBADF);
		assert_int_equal(s_unlock_data(&s, never[i], "x", 1), -EBADF);
		assert_int_equal(s_mmap(&s, never[i], 8), -EBADF);
		assert_int_equal(s_munmap(&s, never[i]), -EBADF);
		assert_int_equal(s_xlock(&s, never[i], 0), -EBADF);
		assert_int_equal(s_xlock(&s, never[i], SMD_XLOCK_WAIT), -EBADF);
		assert_int_equal(s_mmap_shared(&s, never[i], 8), -EBADF);
	}
	/* and nothing was taken by them */
	assert_string_equal(s_list(&s), "d:16:0 e:8:0 f:8:0");
	assert_int_equal(s_open(&s, "i"), 3);
	assert_int_equal(s_mmap(&s, 3, 1), 2);
	sc_close(&s);
}

/* Sends request r n times back to back and checks the replies, in order:
 * success with the numbers first, first + 1 ... (open's fd, mmap's mapfd). */
static void pipeline(struct sc *s, const struct smd_req *r, unsigned n, unsigned first)
{
	uint8_t frame[64];
	ssize_t len = smd_req_pack(frame, sizeof frame, r);
	assert_true(len > 0);
	enum { BATCH = 4096, REPLY = SMD_HDRSZ + 4 };
	uint8_t *buf = malloc((size_t)len * BATCH), *in = malloc(REPLY * BATCH);
	assert_non_null(buf);
	assert_non_null(in);
	for (unsigned done = 0; done < n;) {
		unsigned k = n - done < BATCH ? n - done : BATCH;
		for (unsigned i = 0; i < k; i++)
			memcpy(buf + (size_t)i * (size_t)len, frame, (size_t)len);
		send_all(s, buf, (size_t)len * k);
		recv_all(s, in, (size_t)REPLY * k);
		for (unsigned i = 0; i < k; i++, done++) {
			struct smd_rep rep;
			const uint8_t *p = in + (size_t)i * REPLY;
			assert_memory_equal(p, "\0\0\0\0\0\0\0\4", SMD_HDRSZ);
			assert_int_equal(smd_rep_unpack(&rep, r->op, 0, p + SMD_HDRSZ, 4), 0);
			assert_int_equal(rep.fd, first + done);
		}
	}
	assert_int_equal(s->passed, -1);
	free(buf);
	free(in);
}

/* EMFILE: 65536 fds and 65536 mapfds per connection, and the memfs's limit
 * on memfiles alive at once. */
static void test_emfile(void **state)
{
	(void)state;
	struct sc s = session();
	struct smd_req open = { .op = SMD_OPEN, .name = { .p = (const uint8_t *)"x", .len = 1 } };
	pipeline(&s, &open, MAX_SLOTS, 0);
	assert_int_equal(s_open(&s, "x"), -EMFILE);
	assert_int_equal(s_open(&s, "y"), -EMFILE);
	assert_string_equal(s_list(&s), "x:0:0"); /* y was not made */
	assert_int_equal(s_close(&s, 1000), 0);
	assert_int_equal(s_open(&s, "y"), 1000);
	assert_int_equal(s_open(&s, "y"), -EMFILE);

	struct smd_req mmap = { .op = SMD_MMAP, .mmap = { .fd = 0, .size = 1 } };
	pipeline(&s, &mmap, MAX_SLOTS, 0);
	assert_int_equal(s_mmap(&s, 0, 1), -EMFILE);
	assert_int_equal(s_mmap(&s, 1000, 1), -EMFILE); /* and y got no segment */
	assert_int_equal(s_munmap(&s, 77), 0);
	assert_int_equal(s_mmap(&s, 1000, 2), 77);
	assert_string_equal(s_list(&s), "x:1:0 y:2:0");
	assert_int_equal(s_new_fdtable(&s), 0);
	assert_string_equal(s_list(&s), "");
	assert_int_equal(s_open(&s, "z"), 0);
	assert_int_equal(s_mmap(&s, 0, 1), 0);
	sc_close(&s);

	/* a memfs that keeps at most two memfiles */
	extra_server(NULL, &(struct boxfs_memfs_opts){ .max_files = 2 });
	s = session_at(fx.extra_smd);
	struct sc t = session_at(fx.extra_smd);
	assert_int_equal(s_open(&s, "a"), 0);
	assert_int_equal(s_open(&t, "b"), 0);
	assert_int_equal(s_open(&s, "c"), -EMFILE);
	assert_int_equal(s_open(&s, "b"), 1); /* an existing one opens */
	assert_int_equal(s_close(&t, 0), 0);
	assert_int_equal(s_open(&t, "c"), -EMFILE); /* s still has b */
	assert_int_equal(s_close(&s, 1), 0);
	assert_int_equal(s_open(&t, "c"), 0);
	assert_string_equal(s_list(&s), "a:0:0 c:0:0");
	sc_close(&s);
	sc_close(&t);
}

/* ---- locks, segments ---- */

static void test_lock_semantics(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	assert_int_equal(s_lock(&a, 0), 0); /* free: taken */
	expect_pure(&a);
	assert_int_equal(s_lock(&a, 0), 0); /* held by this connection: again */
	expect_pure(&a);
	assert_int_equal(s_open(&a, "x"), 1);
	assert_int_equal(s_lock(&a, 1), 0); /* through another of its fds too */
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	assert_int_equal(s_lock(&b, 0), -EAGAIN); /* never blocks */
	assert_string_equal(s_list(&b), "x:0:1");
	assert_int_equal(s_unlock(&a, 1), 0); /* one unlock frees it */
	assert_string_equal(s_list(&b), "x:0:0");
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	assert_int_equal(s_unlock(&b, 0), 0);

	/* once a segment exists, every fd's lock carries all of it */
	assert_int_equal(s_mmap(&b, 0, 5), 0);
	assert_int_equal(s_lock(&a, 1), 0); /* a never mapped it */
	expect_data(&a, "\0\0\0\0\0", 5);
	assert_int_equal(s_unlock_data(&a, 1, "hello", 5), 0);
	assert_int_equal(s_lock(&b, 0), 0);
	expect_data(&b, "hello", 5);
	assert_int_equal(s_lock(&b, 0), 0);
	expect_data(&b, "hello", 5);
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	assert_int_equal(s_unlock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "hello", 5);
	assert_string_equal(s_list(&b), "x:5:1");
	sc_close(&a);
	sc_close(&b);
}

static void test_unlock_rules(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&b, "x"), 0);

	/* not the holder: EINVAL, whether the lock is free or another's */
	assert_int_equal(s_unlock(&a, 0), -EINVAL);
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(s_unlock(&a, 0), -EINVAL);
	assert_int_equal(s_lock(&a, 0), -EAGAIN); /* b still holds it */
	assert_int_equal(s_unlock(&b, 0), 0);
	assert_int_equal(s_unlock(&b, 0), -EINVAL); /* not twice */

	/* data for a memfile without a segment: EINVAL, the lock stays held */
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_unlock_data(&a, 0, "ab", 2), -EINVAL);
	assert_int_equal(s_unlock_data(&a, 0, "", 0), -EINVAL);
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	assert_string_equal(s_list(&a), "x:0:1");

	/* a segment made while a holds the pure lock: a unlocks without data */
	assert_int_equal(s_mmap(&b, 0, 4), 0);
	assert_int_equal(s_unlock(&a, 0), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "\0\0\0\0", 4);

	/* data of the wrong size: EINVAL, the lock stays held, the segment as it was */
	assert_int_equal(s_unlock_data(&a, 0, "abc", 3), -EINVAL);
	assert_int_equal(s_unlock_data(&a, 0, "abcde", 5), -EINVAL);
	assert_int_equal(s_unlock_data(&a, 0, "", 0), -EINVAL);
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "\0\0\0\0", 4);

	/* data from one that does not hold it changes nothing */
	assert_int_equal(s_unlock_data(&b, 0, "bbbb", 4), -EINVAL);
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "\0\0\0\0", 4);

	/* the right size replaces the segment; no data leaves it */
	assert_int_equal(s_unlock_data(&a, 0, "abcd", 4), 0);
	assert_string_equal(s_list(&a), "x:4:0");
	assert_int_equal(s_lock(&b, 0), 0);
	expect_data(&b, "abcd", 4);
	assert_int_equal(s_unlock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "abcd", 4);
	assert_int_equal(s_unlock(&a, 0), 0);
	sc_close(&a);
	sc_close(&b);
}

static void test_mmap_rules(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_mmap(&a, 0, 0), -EINVAL);
	assert_int_equal(s_mmap(&a, 0, MAX_SEGMENT + 1), -EINVAL);
	assert_int_equal(s_mmap(&a, 0, UINT32_MAX), -EINVAL);
	assert_string_equal(s_list(&a), "x:0:0"); /* no segment, no mapfd */
	assert_int_equal(s_mmap(&a, 0, 16), 0);
	assert_int_equal(s_mmap(&a, 0, 16), 1); /* the same size again */
	assert_int_equal(s_mmap(&a, 0, 15), -EINVAL);
	assert_int_equal(s_mmap(&a, 0, 17), -EINVAL);
	assert_int_equal(s_mmap(&a, 0, 0), -EINVAL);
	assert_int_equal(s_open(&b, "x"), 0);
	assert_int_equal(s_mmap(&b, 0, 32), -EINVAL);
	assert_int_equal(s_mmap(&b, 0, 16), 0);
	assert_int_equal(s_open(&a, "one"), 1);
	assert_int_equal(s_mmap(&a, 1, 1), 2); /* the smallest */
	assert_int_equal(s_open(&a, "max"), 2);
	assert_int_equal(s_mmap(&a, 2, MAX_SEGMENT), 3); /* the largest */
	assert_int_equal(s_mmap(&a, 3, 16), -EBADF);
	assert_string_equal(s_list(&b), "x:16:0 one:1:0 max:67108864:0");
	/* a fresh segment is zero-filled */
	assert_int_equal(s_lock(&a, 1), 0);
	expect_data(&a, "\0", 1);
	sc_close(&a);
	sc_close(&b);
}

/* ---- lifetimes ---- */

/* A memfile lives from its first open until no fd, mapfd or fork record
 * refers to it, in whichever order they go. */
static void test_lifecycle(void **state)
{
	(void)state;
	struct sc a = session(), o = session();
	assert_string_equal(s_list(&o), "");
	assert_int_equal(s_open(&a, "x"), 0);
	assert_string_equal(s_list(&o), "x:0:0");

	/* close, then munmap */
	assert_int_equal(s_mmap(&a, 0, 4), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_unlock_data(&a, 0, "data", 4), 0);
	assert_int_equal(s_close(&a, 0), 0);
	assert_string_equal(s_list(&o), "x:4:0");
	assert_int_equal(s_munmap(&a, 0), 0);
	assert_string_equal(s_list(&o), "");
	/* the name makes a new memfile: no segment, then a zero-filled one */
	assert_int_equal(s_open(&a, "x"), 0);
	assert_string_equal(s_list(&o), "x:0:0");
	assert_int_equal(s_lock(&a, 0), 0);
	expect_pure(&a);
	assert_int_equal(s_unlock(&a, 0), 0);
	assert_int_equal(s_mmap(&a, 0, 4), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "\0\0\0\0", 4);
	assert_int_equal(s_unlock_data(&a, 0, "more", 4), 0);

	/* munmap, then close */
	assert_int_equal(s_munmap(&a, 0), 0);
	assert_string_equal(s_list(&o), "x:4:0");
	assert_int_equal(s_close(&a, 0), 0);
	assert_string_equal(s_list(&o), "");

	/* several fds of one connection, of two connections */
	assert_int_equal(s_open(&a, "y"), 0);
	assert_int_equal(s_open(&a, "y"), 1);
	assert_int_equal(s_open(&o, "y"), 0);
	assert_int_equal(s_close(&a, 0), 0);
	assert_int_equal(s_close(&o, 0), 0);
	assert_string_equal(s_list(&o), "y:0:0");
	assert_int_equal(s_close(&a, 1), 0);
	assert_string_equal(s_list(&o), "");

	/* a mapfd of another connection keeps it */
	assert_int_equal(s_open(&a, "z"), 0);
	assert_int_equal(s_open(&o, "z"), 0);
	assert_int_equal(s_mmap(&o, 0, 2), 0);
	assert_int_equal(s_close(&o, 0), 0);
	assert_int_equal(s_close(&a, 0), 0);
	assert_string_equal(s_list(&a), "z:2:0");
	assert_int_equal(s_munmap(&o, 0), 0);
	assert_string_equal(s_list(&a), "");
	sc_close(&a);
	sc_close(&o);
}

/* close of any fd of a memfile releases this connection's lock on it. */
static void test_close_releases_lock(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&a, "x"), 1);
	assert_int_equal(s_open(&a, "other"), 2);
	assert_int_equal(s_open(&b, "x"), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_close(&a, 2), 0); /* another memfile's fd: no effect */
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	assert_int_equal(s_close(&a, 1), 0); /* not the fd it locked through */
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	assert_int_equal(s_close(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_string_equal(s_list(&b), "x:0:1");
	assert_int_equal(s_close(&a, 0), 0);
	assert_string_equal(s_list(&b), "");
	sc_close(&a);
	sc_close(&b);
}

/* new_fdtable closes every fd and mapfd (releasing the locks) and starts
 * an empty table. */
static void test_new_fdtable(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&a, "y"), 1);
	assert_int_equal(s_mmap(&a, 1, 4), 0);
	assert_int_equal(s_close(&a, 1), 0); /* y lives on through mapfd 0 */
	assert_int_equal(s_open(&a, "z"), 1);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_lock(&a, 1), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	assert_string_equal(s_list(&b), "x:0:1 y:4:0 z:0:1");
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_string_equal(s_list(&b), "x:0:0");
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(s_close(&a, 0), -EBADF);
	assert_int_equal(s_close(&a, 1), -EBADF);
	assert_int_equal(s_munmap(&a, 0), -EBADF);
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	assert_int_equal(s_mmap(&a, 0, 8), 0);
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_string_equal(s_list(&a), "x:8:1");
	sc_close(&a);
	sc_close(&b);
}

/* Disconnecting closes everything: locks go free for others, memfiles die. */
static void test_disconnect(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&a, "y"), 1);
	assert_int_equal(s_mmap(&a, 0, 3), 0);
	assert_int_equal(s_mmap(&a, 1, 3), 1);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_lock(&a, 1), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	sc_close(&a);
	assert_int_equal(wait_lock(&b, 0), 0);
	expect_data(&b, "\0\0\0", 3);
	wait_list(&b, "x:3:1");
	/* and a connection that never made a table */
	a = conn();
	sc_close(&a);
	assert_string_equal(s_list(&b), "x:3:1");
	sc_close(&b);
}

/* ---- fork and child_attach ---- */

static void test_fork_copies_tables(void **state)
{
	(void)state;
	struct sc a = session(), b = conn(), o = session();
	/* a: fds {0: p, 2: r} (1 free), mapfds {1: r} (0 free) */
	assert_int_equal(s_open(&a, "p"), 0);
	assert_int_equal(s_open(&a, "q"), 1);
	assert_int_equal(s_open(&a, "r"), 2);
	assert_int_equal(s_mmap(&a, 0, 2), 0);
	assert_int_equal(s_mmap(&a, 2, 3), 1);
	assert_int_equal(s_munmap(&a, 0), 0);
	assert_int_equal(s_close(&a, 1), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_unlock_data(&a, 0, "pp", 2), 0);
	assert_int_equal(s_lock(&a, 2), 0);
	assert_int_equal(s_unlock_data(&a, 2, "rrr", 3), 0);
	uint64_t t1, t2;
	assert_int_equal(s_fork(&a, &t1), 0);
	assert_int_equal(s_fork(&a, &t2), 0);
	assert_true(t1 != 0 && t2 != 0 && t1 != t2);
	assert_int_equal(s_attach(&b, t1), 0); /* b had no table */
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_string_equal(s_list(&o), "p:2:0 r:3:0");

	/* b has a's numbers for the same memfiles */
	assert_int_equal(s_lock(&b, 0), 0);
	expect_data(&b, "pp", 2);
	assert_int_equal(s_lock(&b, 2), 0);
	expect_data(&b, "rrr", 3);
	assert_int_equal(s_close(&b, 1), -EBADF);
	assert_int_equal(s_munmap(&b, 0), -EBADF);
	assert_int_equal(s_open(&b, "s"), 1); /* the lowest free of the copy */
	assert_int_equal(s_open(&b, "s"), 3);
	assert_int_equal(s_mmap(&b, 1, 1), 0);
	assert_int_equal(s_mmap(&b, 1, 1), 2);
	assert_int_equal(s_close(&b, 2), 0);
	assert_int_equal(s_munmap(&b, 1), 0);
	assert_string_equal(s_list(&o), "p:2:1 r:3:0 s:1:0"); /* the second record has r */

	/* the second record is a's table as it was, not b's */
	struct sc c = conn();
	assert_int_equal(s_attach(&c, t2), 0);
	assert_int_equal(s_lock(&c, 2), 0);
	expect_data(&c, "rrr", 3);
	assert_int_equal(s_close(&c, 1), -EBADF);
	assert_int_equal(s_close(&c, 2), 0);
	assert_string_equal(s_list(&o), "p:2:1 r:3:0 s:1:0"); /* and its mapfd 1 */
	assert_int_equal(s_munmap(&c, 1), 0);
	assert_string_equal(s_list(&o), "p:2:1 s:1:0");
	sc_close(&a);
	sc_close(&b);
	sc_close(&c);
	sc_close(&o);
}

/* A token is single-use; tokens never issued are refused. */
static void test_tokens(void **state)
{
	(void)state;
	struct sc a = session(), b = conn(), c = conn();
	assert_int_equal(s_open(&a, "x"), 0);
	uint64_t t;
	assert_int_equal(s_fork(&a, &t), 0);
	assert_int_equal(s_attach(&c, t + 1), -EINVAL);
	assert_int_equal(s_attach(&c, ~t), -EINVAL);
	assert_int_equal(s_attach(&c, 0), -EINVAL);
	assert_int_equal(s_open(&c, "x"), -EPERM); /* no table came with them */
	assert_int_equal(s_attach(&b, t), 0);
	assert_int_equal(s_attach(&c, t), -EINVAL);
	assert_int_equal(s_attach(&b, t), -EINVAL);
	assert_int_equal(s_close(&b, 0), 0); /* b's table survived its refusal */
	assert_int_equal(s_open(&c, "x"), -EPERM);

	/* fork of an empty table: the child gets an empty table */
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_int_equal(s_fork(&a, &t), 0);
	assert_int_equal(s_attach(&c, t), 0);
	assert_int_equal(s_close(&c, 0), -EBADF);
	assert_int_equal(s_open(&c, "y"), 0);
	assert_string_equal(s_list(&c), "y:0:0");
	sc_close(&a);
	sc_close(&b);
	sc_close(&c);
}

/* An unclaimed record expires after the token lifetime, and with it what
 * only it kept alive. */
static void test_token_expiry(void **state)
{
	(void)state;
	extra_server(&(struct boxfs_server_opts){ .token_ttl_ms = 200 }, NULL);
	struct sc a = session_at(fx.extra_smd), b = conn_at(fx.extra_smd);
	assert_int_equal(s_open(&a, "kept"), 0);
	assert_int_equal(s_mmap(&a, 0, 4), 0);
	uint64_t t;
	assert_int_equal(s_fork(&a, &t), 0);
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_string_equal(s_list(&a), "kept:4:0"); /* the record holds it */
	usleep(450 * 1000);
	assert_string_equal(s_list(&a), "");
	assert_int_equal(s_attach(&b, t), -EINVAL);
	assert_int_equal(s_open(&b, "kept"), -EPERM);
	sc_close(&a);
	sc_close(&b);
}

/* A record keeps its memfiles alive until it is taken, whatever happens to
 * the connection that forked. */
static void test_record_keeps_memfiles(void **state)
{
	(void)state;
	struct sc a = session(), b = conn(), o = session();
	assert_int_equal(s_open(&a, "z"), 0);
	assert_int_equal(s_mmap(&a, 0, 8), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_unlock_data(&a, 0, "zzzzzzzz", 8), 0);
	uint64_t t;
	assert_int_equal(s_fork(&a, &t), 0);
	assert_int_equal(s_new_fdtable(&a), 0);
	assert_string_equal(s_list(&o), "z:8:0");
	sc_close(&a); /* the parent goes away altogether */
	usleep(20000);
	assert_string_equal(s_list(&o), "z:8:0");
	assert_int_equal(s_attach(&b, t), 0);
	assert_string_equal(s_list(&o), "z:8:0");
	assert_int_equal(s_lock(&b, 0), 0);
	expect_data(&b, "zzzzzzzz", 8);
	assert_int_equal(s_close(&b, 0), 0);
	assert_string_equal(s_list(&o), "z:8:0"); /* mapfd 0 came too */
	assert_int_equal(s_munmap(&b, 0), 0);
	assert_string_equal(s_list(&o), "");
	sc_close(&b);
	sc_close(&o);
}

/* Locks belong to the connection that took them: the child gets the fds,
 * not the lock. */
static void test_lock_not_inherited(void **state)
{
	(void)state;
	struct sc a = session(), b = conn();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&a, "x"), 1);
	assert_int_equal(s_lock(&a, 0), 0);
	uint64_t t;
	assert_int_equal(s_fork(&a, &t), 0);
	assert_int_equal(s_attach(&b, t), 0);
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	assert_int_equal(s_lock(&b, 1), -EAGAIN);
	assert_int_equal(s_unlock(&b, 0), -EINVAL);
	assert_string_equal(s_list(&b), "x:0:1");
	assert_int_equal(s_lock(&a, 1), 0); /* still a's */
	/* the child's close does not release the parent's lock */
	assert_int_equal(s_close(&b, 1), 0);
	assert_int_equal(s_lock(&b, 0), -EAGAIN);
	/* the parent's close does, and the child's fds stay */
	assert_int_equal(s_close(&a, 1), 0);
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	assert_int_equal(s_unlock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	sc_close(&a);
	sc_close(&b);
}

/* child_attach replaces the table the attaching connection had: its fds
 * close, its locks go, what only it kept dies. */
static void test_attach_replaces_table(void **state)
{
	(void)state;
	struct sc a = session(), b = session(), c = session();
	assert_int_equal(s_open(&b, "w"), 0);
	assert_int_equal(s_open(&b, "bonly"), 1);
	assert_int_equal(s_mmap(&b, 1, 2), 0);
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(s_open(&c, "w"), 0);
	assert_int_equal(s_lock(&c, 0), -EAGAIN);
	assert_int_equal(s_open(&a, "x"), 0);
	uint64_t t;
	assert_int_equal(s_fork(&a, &t), 0);
	assert_string_equal(s_list(&c), "w:0:1 bonly:2:0 x:0:0");
	assert_int_equal(s_attach(&b, t), 0);
	assert_string_equal(s_list(&c), "w:0:0 x:0:0");
	assert_int_equal(s_lock(&c, 0), 0);
	assert_int_equal(s_close(&b, 1), -EBADF);
	assert_int_equal(s_munmap(&b, 0), -EBADF);
	assert_int_equal(s_lock(&b, 0), 0); /* fd 0 is now x */
	expect_pure(&b);
	assert_string_equal(s_list(&c), "w:0:1 x:0:1");
	sc_close(&a);
	sc_close(&b);
	sc_close(&c);
}

/* ---- extensions: xlock ---- */

static void test_xlock_flags(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	static const uint32_t bad[] = { 4, 5, 7, 8, 0x80000000, 0xffffffff };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(s_xlock(&a, 0, bad[i]), -EINVAL);
	assert_string_equal(s_list(&a), "x:0:0"); /* not taken */
	assert_int_equal(s_xlock(&a, 0, 0), 0);	  /* flags 0: lock */
	expect_pure(&a);
	assert_int_equal(s_xlock(&b, 0, 0), -EAGAIN);
	assert_int_equal(s_xlock(&b, 0, SMD_XLOCK_NODATA), -EAGAIN);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) /* refused, not queued */
		assert_int_equal(s_xlock(&b, 0, bad[i]), -EINVAL);
	assert_int_equal(s_mmap(&a, 0, 3), 0);
	assert_int_equal(s_xlock(&a, 0, 0), 0);
	expect_data(&a, "\0\0\0", 3);
	assert_int_equal(s_xlock(&a, 0, SMD_XLOCK_NODATA), 0);
	expect_pure(&a);
	assert_int_equal(s_xlock(&a, 0, SMD_XLOCK_WAIT), 0); /* held by a: at once */
	expect_data(&a, "\0\0\0", 3);
	assert_int_equal(s_xlock(&a, 0, SMD_XLOCK_WAIT | SMD_XLOCK_NODATA), 0);
	expect_pure(&a);
	assert_int_equal(s_unlock_data(&a, 0, "abc", 3), 0);
	assert_int_equal(s_xlock(&b, 0, SMD_XLOCK_WAIT), 0); /* free: at once */
	expect_data(&b, "abc", 3);
	assert_int_equal(s_lock(&b, 0), 0);
	expect_data(&b, "abc", 3); /* the flag lasts one request */
	assert_int_equal(s_unlock(&b, 0), 0);
	assert_int_equal(s_xlock(&b, 0, SMD_XLOCK_NODATA), 0);
	expect_pure(&b);
	assert_string_equal(s_list(&a), "x:3:1");
	sc_close(&a);
	sc_close(&b);
}

/* Waiters get the lock in the order they asked, each from the one before;
 * nobody overtakes them. */
static void test_xlock_fifo(void **state)
{
	(void)state;
	struct sc a = session(), w[3], e = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_mmap(&a, 0, 1), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_open(&e, "x"), 0);
	for (int i = 0; i < 3; i++) {
		w[i] = session();
		assert_int_equal(s_open(&w[i], "x"), 0);
		send_xlock(&w[i], 0, i == 2 ? SMD_XLOCK_WAIT | SMD_XLOCK_NODATA : SMD_XLOCK_WAIT);
		settle(&a);
	}
	for (int i = 0; i < 3; i++)
		expect_quiet(&w[i], QUIET_MS);
	assert_int_equal(s_unlock_data(&a, 0, "0", 1), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(reply(&w[i], SMD_XLOCK), 0);
		char c = (char)('0' + i);
		if (i < 2)
			expect_data(&w[i], &c, 1);
		else
			expect_pure(&w[i]); /* NODATA when granted later too */
		for (int j = i + 1; j < 3; j++)
			expect_quiet(&w[j], 0);
		assert_int_equal(s_lock(&e, 0), -EAGAIN);
		assert_int_equal(s_lock(&a, 0), -EAGAIN);
		assert_string_equal(s_list(&e), "x:1:1");
		char next = (char)('1' + i);
		assert_int_equal(s_unlock_data(&w[i], 0, &next, 1), 0);
	}
	assert_int_equal(s_lock(&e, 0), 0);
	expect_data(&e, "3", 1);
	for (int i = 0; i < 3; i++)
		sc_close(&w[i]);
	sc_close(&a);
	sc_close(&e);
}

/* A waiter that hangs up leaves the queue. */
static void test_xlock_waiter_leaves(void **state)
{
	(void)state;
	struct sc a = session(), b = session(), c = session(), e = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	assert_int_equal(s_open(&b, "bonly"), 1);
	assert_int_equal(s_open(&c, "x"), 0);
	assert_int_equal(s_open(&e, "x"), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	send_xlock(&b, 0, SMD_XLOCK_WAIT);
	settle(&a);
	send_xlock(&c, 0, SMD_XLOCK_WAIT);
	settle(&a);
	sc_close(&b);
	wait_list(&a, "x:0:1"); /* b's table is gone */
	assert_int_equal(s_unlock(&a, 0), 0);
	assert_int_equal(reply(&c, SMD_XLOCK), 0);
	expect_pure(&c);
	assert_int_equal(s_lock(&e, 0), -EAGAIN);
	assert_int_equal(s_unlock(&c, 0), 0);
	assert_int_equal(s_lock(&e, 0), 0); /* b was not left holding it */
	sc_close(&a);
	sc_close(&c);
	sc_close(&e);
}

/* A request while a wait is pending breaks "one request at a time": the
 * connection is closed unanswered, and leaves the queue. */
static void test_xlock_request_while_waiting(void **state)
{
	(void)state;
	static const uint32_t ops[] = { SMD_LIST, SMD_LOCK, SMD_UNLOCK, 99 };
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
		struct sc a = session(), b = session(), e = session();
		assert_int_equal(s_open(&a, "x"), 0);
		assert_int_equal(s_open(&b, "x"), 0);
		assert_int_equal(s_open(&b, "bonly"), 1);
		assert_int_equal(s_open(&e, "x"), 0);
		assert_int_equal(s_lock(&a, 0), 0);
		send_xlock(&b, 0, SMD_XLOCK_WAIT);
		settle(&a);
		uint8_t body[4] = { 0 };
		send_raw(&b, ops[i], body, ops[i] == SMD_LIST ? 0 : 4);
		expect_closed(&b);
		assert_string_equal(s_list(&a), "x:0:1");
		assert_int_equal(s_unlock(&a, 0), 0);
		assert_int_equal(s_lock(&e, 0), 0);
		sc_close(&a);
		sc_close(&b);
		sc_close(&e);
	}
}

/* Whatever releases the lock hands it to the first waiter: an unlock, a
 * close, new_fdtable, a hang-up. */
static void test_xlock_granted_by_release(void **state)
{
	(void)state;
	struct sc a = session(), b = session(), c = session(), d = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	assert_int_equal(s_open(&c, "x"), 0);
	assert_int_equal(s_open(&d, "x"), 0);
	assert_int_equal(s_mmap(&a, 0, 2), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_unlock_data(&a, 0, "ab", 2), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	send_xlock(&b, 0, SMD_XLOCK_WAIT);
	settle(&a);
	assert_int_equal(s_close(&a, 0), 0); /* a close */
	assert_int_equal(reply(&b, SMD_XLOCK), 0);
	expect_data(&b, "ab", 2);
	send_xlock(&c, 0, SMD_XLOCK_WAIT);
	settle(&a);
	assert_int_equal(s_new_fdtable(&b), 0); /* new_fdtable */
	assert_int_equal(reply(&c, SMD_XLOCK), 0);
	expect_data(&c, "ab", 2);
	send_xlock(&d, 0, SMD_XLOCK_WAIT);
	settle(&a);
	sc_close(&c); /* a hang-up */
	assert_int_equal(reply(&d, SMD_XLOCK), 0);
	expect_data(&d, "ab", 2);
	assert_string_equal(s_list(&a), "x:2:1");
	sc_close(&a);
	sc_close(&b);
	sc_close(&d);
}

/* ---- extensions: mmap_shared, list ---- */

static void test_mmap_shared(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	if (fx.tp->kind == TP_TCP) { /* no descriptor can travel on TCP */
		assert_int_equal(s_mmap_shared(&a, 0, 4096), -EOPNOTSUPP);
		assert_int_equal(s_mmap_shared(&a, 0, 0), -EOPNOTSUPP);
		assert_int_equal(s_mmap_shared(&a, 9, 4096), -EBADF);
		assert_string_equal(s_list(&a), "x:0:0"); /* no segment made */
		assert_int_equal(s_mmap(&a, 0, 4096), 0); /* no mapfd taken */
		assert_int_equal(s_mmap_shared(&a, 0, 4096), -EOPNOTSUPP);
		sc_close(&a);
		sc_close(&b);
		return;
	}
	assert_int_equal(s_mmap_shared(&a, 0, 0), -EINVAL);
	assert_int_equal(s_mmap_shared(&a, 0, MAX_SEGMENT + 1), -EINVAL);
	assert_string_equal(s_list(&a), "x:0:0");
	assert_int_equal(s_mmap_shared(&a, 0, 4096), 0); /* makes the segment */
	int mfd = a.passed;
	a.passed = -1;
	struct stat st;
	assert_int_equal(fstat(mfd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4096);
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(p != MAP_FAILED);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(p[i], 0);

	/* written through the map, read in another connection's lock reply */
	assert_int_equal(s_lock(&a, 0), 0);
	memcpy(p, "shared!", 7);
	p[4095] = 0x5a;
	assert_int_equal(s_unlock(&a, 0), 0);
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(b.rep.data.len, 4096);
	assert_memory_equal(b.rep.data.p, "shared!", 7);
	assert_int_equal(b.rep.data.p[4095], 0x5a);
	/* and an unlock with data lands in the same memory */
	uint8_t data[4096];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i ^ 0xa5);
	assert_int_equal(s_unlock_data(&b, 0, data, sizeof data), 0);
	assert_memory_equal(p, data, sizeof data);

	/* sealed: its size cannot change */
	int seals = fcntl(mfd, F_GET_SEALS);
	assert_int_equal(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	errno = 0;
	assert_int_equal(ftruncate(mfd, 8192), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(ftruncate(mfd, 0), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(pwrite(mfd, "x", 1, 4096), -1);
	assert_int_equal(errno, EPERM);
	errno = 0;
	assert_int_equal(fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(b.rep.data.len, 4096);

	/* the same size again, from either connection; the map table is mmap's */
	assert_int_equal(s_mmap_shared(&b, 0, 4096), 0);
	int mfd2 = b.passed;
	b.passed = -1;
	uint8_t *q = mmap(NULL, 4096, PROT_READ, MAP_SHARED, mfd2, 0);
	assert_true(q != MAP_FAILED);
	assert_memory_equal(q, data, sizeof data);
	assert_int_equal(s_mmap_shared(&a, 0, 4095), -EINVAL);
	assert_int_equal(s_mmap(&a, 0, 4096), 1);
	assert_int_equal(s_mmap_shared(&a, 0, 4096), 2);
	close(a.passed);
	a.passed = -1;
	assert_int_equal(s_munmap(&a, 0), 0);
	assert_int_equal(s_munmap(&a, 0), -EBADF);
	assert_int_equal(s_mmap_shared(&a, 0, 4096), 0);
	assert_string_equal(s_list(&a), "x:4096:1");
	munmap(q, 4096);
	munmap(p, 4096);
	close(mfd);
	close(mfd2);
	sc_close(&a);
	sc_close(&b);
}

/* list: every memfile alive, in the order they were made, with its segment
 * size and whether anyone holds its lock. */
static void test_list(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_string_equal(s_list(&a), "");
	assert_int_equal(s_open(&a, "first"), 0);
	assert_int_equal(s_open(&b, "second"), 0);
	assert_int_equal(s_open(&a, "third"), 1);
	assert_int_equal(s_mmap(&b, 0, 100), 0);
	assert_int_equal(s_lock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 1), 0);
	assert_string_equal(s_list(&a), "first:0:0 second:100:1 third:0:1");
	assert_string_equal(s_list(&b), "first:0:0 second:100:1 third:0:1");
	assert_int_equal(s_close(&a, 0), 0);
	assert_int_equal(s_open(&a, "first"), 0); /* made again: last now */
	assert_string_equal(s_list(&b), "second:100:1 third:0:1 first:0:0");
	/* a list request with a body is malformed */
	send_raw(&a, SMD_LIST, "x", 1);
	expect_status(&a, EPROTO);
	sc_close(&a);
	sc_close(&b);
}

/* ---- 9P on the same server ---- */

static struct boxfs_file *open9(struct boxfs_client *c, const char *path)
{
	struct boxfs_file *f = boxfs_open(c, path, O_RDWR, 0);
	assert_non_null(f);
	return f;
}

static int lock9(struct boxfs_file *f, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	return boxfs_lock(f, F_SETLK, &fl);
}

/* A memfile at /mem/NAME reads as its segment, with its size. */
static void test_9p_reads_memfiles(void **state)
{
	(void)state;
	struct sc a = session();
	assert_int_equal(s_open(&a, "seg"), 0);
	assert_int_equal(s_open(&a, "pure"), 1);
	assert_int_equal(s_mmap(&a, 0, 6), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(s_unlock_data(&a, 0, "sixsix", 6), 0);

	struct boxfs_client *c = boxfs_connect(fx.p9, NULL);
	assert_non_null(c);
	struct stat st;
	assert_int_equal(boxfs_stat(c, "/mem/seg", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 6);
	assert_int_equal(boxfs_stat(c, "/mem/pure", &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(boxfs_stat(c, "/mem/none", &st), -ENOENT);
	struct boxfs_dir *d = boxfs_opendir(c, "/mem");
	assert_non_null(d);
	struct boxfs_dirent de;
	char names[64] = "";
	while (boxfs_readdir(d, &de) > 0)
		if (strcmp(de.name, ".") != 0 && strcmp(de.name, "..") != 0)
			snprintf(names + strlen(names), sizeof names - strlen(names), "%s ",
				 de.name);
	assert_int_equal(boxfs_closedir(d), 0);
	assert_string_equal(names, "seg pure ");

	struct boxfs_file *f = open9(c, "/mem/seg");
	char buf[16] = { 0 };
	assert_int_equal(boxfs_pread(f, buf, sizeof buf, 0), 6);
	assert_memory_equal(buf, "sixsix", 6);
	assert_int_equal(boxfs_pread(f, buf, sizeof buf, 6), 0);
	assert_int_equal(boxfs_pwrite(f, "SIX", 3, 0), 3); /* in place */
	assert_int_equal(s_lock(&a, 0), 0);
	expect_data(&a, "SIXsix", 6);
	assert_int_equal(s_unlock_data(&a, 0, "abcdef", 6), 0);
	assert_int_equal(boxfs_pread(f, buf, sizeof buf, 0), 6);
	assert_memory_equal(buf, "abcdef", 6);
	assert_int_equal(boxfs_close(f), 0);
	f = open9(c, "/mem/pure");
	assert_int_equal(boxfs_pread(f, buf, sizeof buf, 0), 0);
	assert_int_equal(boxfs_close(f), 0);

	/* 9P keeps a memfile it has open alive */
	f = open9(c, "/mem/pure");
	assert_int_equal(s_close(&a, 1), 0);
	assert_string_equal(s_list(&a), "seg:6:0 pure:0:0");
	assert_int_equal(boxfs_close(f), 0);
	boxfs_disconnect(c);
	wait_list(&a, "seg:6:0");
	sc_close(&a);
}

/* A 9P2000.L lock of any range is the memfile's whole lock. */
static void test_9p_locks(void **state)
{
	(void)state;
	struct sc a = session(), b = session();
	assert_int_equal(s_open(&a, "x"), 0);
	assert_int_equal(s_open(&b, "x"), 0);
	struct boxfs_client *c = boxfs_connect(fx.p9, NULL);
	assert_non_null(c);
	struct boxfs_file *f = open9(c, "/mem/x");

	/* an smdish holder: 9P is refused, whatever the range or type */
	assert_int_equal(s_lock(&a, 0), 0);
	assert_int_equal(lock9(f, F_WRLCK, 0, 0), -EAGAIN);
	assert_int_equal(lock9(f, F_WRLCK, 1000, 10), -EAGAIN);
	assert_int_equal(lock9(f, F_RDLCK, 0, 1), -EAGAIN);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	assert_int_equal(boxfs_lock(f, F_GETLK, &fl), 0);
	assert_int_equal(fl.l_type, F_WRLCK);
	assert_int_equal(s_unlock(&a, 0), 0);

	/* a 9P holder: smdish is refused */
	assert_int_equal(lock9(f, F_WRLCK, 10, 1), 0);
	assert_string_equal(s_list(&a), "x:0:1");
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	assert_int_equal(s_xlock(&a, 0, 0), -EAGAIN);
	assert_int_equal(s_unlock(&a, 0), -EINVAL);
	/* and a waiting smdish client gets it when 9P unlocks */
	send_xlock(&b, 0, SMD_XLOCK_WAIT);
	settle(&a);
	expect_quiet(&b, QUIET_MS);
	assert_int_equal(lock9(f, F_UNLCK, 0, 0), 0);
	assert_int_equal(reply(&b, SMD_XLOCK), 0);
	expect_pure(&b);
	assert_int_equal(lock9(f, F_WRLCK, 0, 0), -EAGAIN);
	assert_int_equal(s_unlock(&b, 0), 0);

	/* or when the 9P session ends */
	assert_int_equal(lock9(f, F_RDLCK, 0, 0), 0);
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	send_xlock(&b, 0, SMD_XLOCK_WAIT);
	settle(&a);
	assert_int_equal(boxfs_close(f), 0);
	boxfs_disconnect(c);
	assert_int_equal(reply(&b, SMD_XLOCK), 0);
	expect_pure(&b);
	assert_int_equal(s_lock(&a, 0), -EAGAIN);
	assert_int_equal(s_unlock(&b, 0), 0);
	assert_int_equal(s_lock(&a, 0), 0);
	sc_close(&a);
	sc_close(&b);
}

/* ---- request streams for the door fuzzer ---- */

/*
 * The input format of fuzz_smdish_door: a byte of setup flags (1: the
 * connections are Unix sockets, 2: fork tokens expire at once), then
 * records, each a control byte — connection (ctl & 3: smdish 0-2, 9P 3) and
 * action (ctl >> 2 & 3: 0 feed the next u16 big-endian count of bytes, 1
 * hang up and reconnect, 2 child_attach with the last fork token seen, 3
 * feed the rest) — and its bytes.
 */
struct fz_input {
	uint8_t buf[16384];
	size_t len;
};

static void fz_feed(struct fz_input *s, unsigned conn, const struct smd_req *r)
{
	uint8_t frame[512];
	ssize_t n = smd_req_pack(frame, sizeof frame, r);
	if (n <= 0 || s->len + 3 + (size_t)n > sizeof s->buf)
		return;
	s->buf[s->len++] = (uint8_t)(conn & 3);
	s->buf[s->len++] = (uint8_t)(n >> 8);
	s->buf[s->len++] = (uint8_t)n;
	memcpy(s->buf + s->len, frame, (size_t)n);
	s->len += (size_t)n;
}

static void fz_ctl(struct fz_input *s, unsigned conn, unsigned action)
{
	if (s->len < sizeof s->buf)
		s->buf[s->len++] = (uint8_t)((conn & 3) | action << 2);
}

static void fz_write(const char *dir, const char *name, const struct fz_input *s)
{
	char path[512];
	snprintf(path, sizeof path, "%s/fuzz_smdish_door", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/fuzz_smdish_door/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	fwrite(s->buf, 1, s->len, f);
	fclose(f);
}

#define REQ(...) (&(struct smd_req){ __VA_ARGS__ })
#define NAME(s)	 .name = { .p = (const uint8_t *)(s), .len = sizeof(s) - 1 }

static void write_corpus(const char *dir)
{
	static struct fz_input s;
	for (unsigned flags = 0; flags < 4; flags++) {
		/* every op, two connections contending, a fork taken by a third */
		s.len = 0;
		s.buf[s.len++] = (uint8_t)flags;
		for (unsigned c = 0; c < 2; c++) {
			fz_feed(&s, c, REQ(.op = SMD_NEW_FDTABLE));
			fz_feed(&s, c, REQ(.op = SMD_OPEN, NAME("x")));
			fz_feed(&s, c, REQ(.op = SMD_OPEN, NAME("y")));
		}
		fz_feed(&s, 0, REQ(.op = SMD_MMAP, .mmap = { 0, 16 }));
		fz_feed(&s, 0, REQ(.op = SMD_LOCK, .fd = 0));
		fz_feed(&s, 1, REQ(.op = SMD_LOCK, .fd = 0));
		fz_feed(&s, 1, REQ(.op = SMD_XLOCK, .xlock = { 0, SMD_XLOCK_WAIT }));
		fz_feed(&s, 0,
			REQ(.op = SMD_UNLOCK,
			    .unlock = { 0, true, { (const uint8_t *)"0123456789abcdef", 16 } }));
		fz_feed(&s, 1, REQ(.op = SMD_MMAP_SHARED, .mmap = { 1, 8 }));
		fz_feed(&s, 1, REQ(.op = SMD_LIST));
		fz_feed(&s, 0, REQ(.op = SMD_FORK));
		fz_ctl(&s, 2, 2);
		fz_feed(&s, 2, REQ(.op = SMD_LOCK, .fd = 0));
		fz_feed(&s, 2,
			REQ(.op = SMD_XLOCK, .xlock = { 1, SMD_XLOCK_WAIT | SMD_XLOCK_NODATA }));
		fz_feed(&s, 1, REQ(.op = SMD_UNLOCK, .unlock = { 0 }));
		fz_feed(&s, 0, REQ(.op = SMD_MUNMAP, .fd = 0));
		fz_feed(&s, 0, REQ(.op = SMD_CLOSE, .fd = 1));
		fz_ctl(&s, 1, 1);
		fz_feed(&s, 0, REQ(.op = SMD_NEW_FDTABLE));
		fz_feed(&s, 2, REQ(.op = SMD_LIST));
		char name[32];
		snprintf(name, sizeof name, "ops_%u", flags);
		fz_write(dir, name, &s);
	}

	/* one request of each op on a single connection, then junk */
	s.len = 0;
	s.buf[s.len++] = 1;
	fz_ctl(&s, 0, 3);
	static const uint8_t stream[] = {
		0, 0, 0, 6,  0, 0, 0, 0,					  /* new_fdtable */
		0, 0, 0, 0,  0, 0, 0, 5,  0, 0, 0, 1, 'm',			  /* open */
		0, 0, 0, 4,  0, 0, 0, 8,  0, 0, 0, 0, 0,   0,	0, 4,		  /* mmap */
		0, 0, 0, 2,  0, 0, 0, 4,  0, 0, 0, 0,				  /* lock */
		0, 0, 0, 3,  0, 0, 0, 12, 0, 0, 0, 0, 0,   0,	0, 4, 1, 2, 3, 4, /* unlock */
		0, 0, 0, 16, 0, 0, 0, 8,  0, 0, 0, 0, 0,   0,	0, 3,		  /* xlock */
		0, 0, 0, 17, 0, 0, 0, 8,  0, 0, 0, 0, 0,   0,	0, 4,		  /* mmap_shared */
		0, 0, 0, 18, 0, 0, 0, 0,					  /* list */
		0, 0, 0, 7,  0, 0, 0, 0,					  /* fork */
		0, 0, 0, 8,  0, 0, 0, 8,  1, 2, 3, 4, 5,   6,	7, 8,		  /* child_attach */
		0, 0, 0, 5,  0, 0, 0, 4,  0, 0, 0, 0,				  /* munmap */
		0, 0, 0, 1,  0, 0, 0, 4,  0, 0, 0, 0,				  /* close */
		0, 0, 0, 9,  0, 0, 0, 3,  1, 2, 3,				  /* unknown */
		0, 0, 0, 0,  0, 0, 0, 9,  0, 0, 0, 5, 'a', 'b',			  /* overrun */
	};
	memcpy(s.buf + s.len, stream, sizeof stream);
	s.len += sizeof stream;
	fz_write(dir, "stream", &s);

	/* 9P on the memfile while an smdish connection waits for its lock */
	s.len = 0;
	s.buf[s.len++] = 0;
	fz_feed(&s, 0, REQ(.op = SMD_NEW_FDTABLE));
	fz_feed(&s, 0, REQ(.op = SMD_OPEN, NAME("x")));
	fz_feed(&s, 0, REQ(.op = SMD_MMAP, .mmap = { 0, 4 }));
	struct p9_fcall f[] = {
		{ .type = P9_Twalk, .tag = 1, .twalk = { .fid = 0, .newfid = 1, .nwname = 2 } },
		{ .type = P9_Tlopen, .tag = 1, .tlopen = { .fid = 1, .flags = O_RDWR } },
		{ .type = P9_Tlock,
		  .tag = 1,
		  .tlock = { .fid = 1, .type = P9_LOCK_TYPE_WRLCK, .client_id = p9_cstr("f") } },
		{ .type = P9_Tread, .tag = 1, .tread = { .fid = 1, .offset = 0, .count = 64 } },
		{ .type = P9_Twrite,
		  .tag = 1,
		  .twrite = { .fid = 1, .offset = 1, .count = 2, .data = (const uint8_t *)"ab" } },
	};
	f[0].twalk.wname[0] = p9_cstr("mem");
	f[0].twalk.wname[1] = p9_cstr("x");
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		uint8_t m[256];
		ssize_t n = p9_pack(m, sizeof m, &f[i], P9_2000L);
		if (n <= 0)
			continue;
		fz_ctl(&s, 3, 0);
		s.buf[s.len++] = 0;
		s.buf[s.len++] = (uint8_t)n;
		memcpy(s.buf + s.len, m, (size_t)n);
		s.len += (size_t)n;
		if (i == 2)
			fz_feed(&s, 0, REQ(.op = SMD_XLOCK, .xlock = { 0, SMD_XLOCK_WAIT }));
	}
	fz_ctl(&s, 3, 1); /* the 9P session ends: the waiter gets the lock */
	fz_feed(&s, 0, REQ(.op = SMD_LIST));
	fz_write(dir, "9p", &s);
}

/* ---- the cases, on each transport ---- */

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} cases[] = {
	{ "wire_bytes", test_wire_bytes },
	{ "body_size_limit", test_body_size_limit },
	{ "body_size_configured", test_body_size_configured },
	{ "body_size_no_wrap", test_body_size_no_wrap },
	{ "unknown_ops", test_unknown_ops },
	{ "eperm_before_table", test_eperm_before_table },
	{ "eproto_bodies", test_eproto_bodies },
	{ "names", test_names },
	{ "lowest_free_numbers", test_lowest_free_numbers },
	{ "emfile", test_emfile },
	{ "lock_semantics", test_lock_semantics },
	{ "unlock_rules", test_unlock_rules },
	{ "mmap_rules", test_mmap_rules },
	{ "lifecycle", test_lifecycle },
	{ "close_releases_lock", test_close_releases_lock },
	{ "new_fdtable", test_new_fdtable },
	{ "disconnect", test_disconnect },
	{ "fork_copies_tables", test_fork_copies_tables },
	{ "tokens", test_tokens },
	{ "token_expiry", test_token_expiry },
	{ "record_keeps_memfiles", test_record_keeps_memfiles },
	{ "lock_not_inherited", test_lock_not_inherited },
	{ "attach_replaces_table", test_attach_replaces_table },
	{ "xlock_flags", test_xlock_flags },
	{ "xlock_fifo", test_xlock_fifo },
	{ "xlock_waiter_leaves", test_xlock_waiter_leaves },
	{ "xlock_request_while_waiting", test_xlock_request_while_waiting },
	{ "xlock_granted_by_release", test_xlock_granted_by_release },
	{ "mmap_shared", test_mmap_shared },
	{ "list", test_list },
	{ "9p_reads_memfiles", test_9p_reads_memfiles },
	{ "9p_locks", test_9p_locks },
};

int main(void)
{
	const char *corpus = getenv("BOXFS_CORPUS_DIR");
	if (corpus) {
		write_corpus(corpus);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	enum { NCASES = ARRAY_SIZE(cases), NTP = ARRAY_SIZE(transports) };
	static struct CMUnitTest tests[NCASES * NTP];
	static char names[NCASES * NTP][64];
	size_t n = 0;
	for (size_t t = 0; t < NTP; t++)
		for (size_t i = 0; i < NCASES; i++, n++) {
			snprintf(names[n], sizeof names[n], "%s/%s", transports[t].name,
				 cases[i].name);
			tests[n] = (struct CMUnitTest){ names[n], cases[i].fn, setup, teardown,
							(void *)&transports[t] };
		}
	return _cmocka_run_group_tests("smdish", tests, n, NULL, NULL);
}
