/*
 * test_door9p.c — conformance of the 9P door, message by message, over a
 * real Unix socket to a server running in this process.
 *
 * Every rule of docs/protocols/9p.md has a test here, and so do the door's own
 * checks: the "slow" backend mounted at /slow counts the calls that reach it,
 * which proves the door refuses bad requests before a backend runs, and its
 * reads block until flushed, which exercises Tflush and duplicate tags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/9p.h>
#include <boxfs/client.h>
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
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- the slow backend: /slow/file, whose reads wait to be flushed ---- */

static atomic_int slow_reads, slow_opens;
static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static bool slow_release;

enum { SLOW_ROOT = 1, SLOW_FILE = 2 };

static int slow_attr(uintptr_t n, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = n;
	a->version = 1;
	a->nlink = 1;
	a->mode = n == SLOW_ROOT ? S_IFDIR | 0755 : S_IFREG | 0666;
	a->size = n == SLOW_ROOT ? 0 : 5;
	return 0;
}

static int slow_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *a)
{
	(void)aux, (void)c;
	*node = (void *)(uintptr_t)SLOW_ROOT;
	return slow_attr(SLOW_ROOT, a);
}

static int slow_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		       struct boxfs_attr *a)
{
	(void)aux, (void)c, (void)dir;
	uintptr_t n = strcmp(name, "file") == 0 ? SLOW_FILE
		      : strcmp(name, "..") == 0 ? SLOW_ROOT
						: 0;
	if (!n)
		return -ENOENT;
	*node = (void *)n;
	return slow_attr(n, a);
}

static int slow_getattr(void *aux, struct boxfs_call *c, void *node, void *fh, struct boxfs_attr *a)
{
	(void)aux, (void)c, (void)fh;
	return slow_attr((uintptr_t)node, a);
}

static int slow_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	(void)aux, (void)c, (void)node, (void)flags, (void)fh;
	slow_opens++;
	return 0;
}

static ssize_t slow_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
			 size_t count, uint64_t off)
{
	(void)aux, (void)node, (void)fh;
	slow_reads++;
	int r = 0;
	pthread_mutex_lock(&slow_mu);
	while (!slow_release && r == 0)
		r = boxfs_call_wait(c, &slow_cv, &slow_mu);
	pthread_mutex_unlock(&slow_mu);
	if (r < 0)
		return r;
	size_t n = off < 5 ? 5 - off : 0;
	n = n < count ? n : count;
	static const char hello[] = "hello";
	memcpy(buf, &hello[off < 5 ? off : 5], n);
	return (ssize_t)n;
}

static ssize_t slow_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
			  size_t count, uint64_t off)
{
	(void)aux, (void)c, (void)node, (void)fh, (void)buf, (void)off;
	slow_reads += 1000; /* must never happen in these tests */
	return (ssize_t)count;
}

static const struct boxfs_fs_ops slow_ops = {
	.root = slow_root,
	.lookup = slow_lookup,
	.getattr = slow_getattr,
	.open = slow_open,
	.read = slow_read,
	.write = slow_write,
};

static struct boxfs_fs *slow_new(void)
{
	struct boxfs_fs *fs = malloc(sizeof *fs);
	*fs = (struct boxfs_fs){ .ops = &slow_ops, .name = "slow" };
	return fs;
}

/* ---- the server and raw connections ---- */

static struct boxfs_server *srv;
static char sockdir[64], addr[128];
static const uint32_t MSIZE = 65536;

static int setup(void **state)
{
	(void)state;
	snprintf(sockdir, sizeof sockdir, "/tmp/boxfs-door-XXXXXX");
	if (!mkdtemp(sockdir))
		return -1;
	snprintf(addr, sizeof addr, "unix!%s/sock", sockdir);
	srv = boxfs_server_new(&(struct boxfs_server_opts){
		.max_msize = 1 << 20, .max_requests = 8, .max_fids = 64, .trust_uname = true });
	if (!srv || boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(srv, "/sub", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(srv, "/slow", slow_new()) < 0 ||
	    boxfs_server_listen(srv, "9p", addr) < 0 || boxfs_server_start(srv) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	boxfs_server_free(srv);
	char path[128];
	snprintf(path, sizeof path, "%s/sock", sockdir);
	unlink(path);
	rmdir(sockdir);
	return 0;
}

struct tc {
	int fd;
	enum p9_dialect d;
	uint8_t *buf; /* the last reply */
	uint32_t msize;
};

static struct tc tc_open(void)
{
	struct tc t = { .d = P9_2000L, .msize = MSIZE };
	t.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof un.sun_path, "%s/sock", sockdir);
	assert_int_equal(connect(t.fd, (struct sockaddr *)&un, sizeof un), 0);
	t.buf = malloc((1 << 20) + 64);
	return t;
}

static void tc_close(struct tc *t)
{
	close(t->fd);
	free(t->buf);
}

static void tc_send(struct tc *t, const struct p9_fcall *f)
{
	uint8_t out[8192];
	ssize_t n = p9_pack(out, sizeof out, f, t->d);
	assert_true(n > 0);
	assert_int_equal(write(t->fd, out, (size_t)n), n);
}

static void read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

/* Receives one reply into t->buf and decodes it into *rx. */
static void tc_recv(struct tc *t, struct p9_fcall *rx)
{
	read_full(t->fd, t->buf, 4);
	ssize_t size = p9_frame_size(t->buf, 0);
	assert_true(size >= 7 && size <= (1 << 20) + 64);
	read_full(t->fd, t->buf + 4, (size_t)size - 4);
	assert_int_equal(p9_unpack(rx, t->buf, (size_t)size, t->d), 0);
}

static void rpc(struct tc *t, struct p9_fcall *tx, struct p9_fcall *rx)
{
	tc_send(t, tx);
	tc_recv(t, rx);
	assert_int_equal(rx->tag, tx->tag);
}

/* The error a reply carries (0 when it is not an error). */
static int rerr(const struct tc *t, const struct p9_fcall *rx)
{
	if (rx->type == P9_Rlerror)
		return (int)rx->rlerror.ecode;
	if (rx->type == P9_Rerror)
		return t->d == P9_2000U ? (int)rx->rerror.errnum : p9_errno(rx->rerror.ename);
	return 0;
}

/* Expects reply type rtype; fails with the error otherwise. */
static void expect(const struct tc *t, const struct p9_fcall *rx, uint8_t rtype)
{
	if (rx->type != rtype)
		fail_msg("wanted %s, got %s (error %d)", p9_type_name(rtype),
			 p9_type_name(rx->type), rerr(t, rx));
}

static void version(struct tc *t, enum p9_dialect d, uint32_t msize)
{
	struct p9_fcall tx = { .type = P9_Tversion, .tag = P9_NOTAG }, rx;
	tx.tversion.msize = msize;
	tx.tversion.version = p9_cstr(p9_dialect_name(d));
	rpc(t, &tx, &rx);
	expect(t, &rx, P9_Rversion);
	t->d = d;
	t->msize = rx.rversion.msize;
}

static struct p9_qid attach(struct tc *t, uint32_t fid, const char *aname)
{
	struct p9_fcall tx = { .type = P9_Tattach, .tag = 1 }, rx;
	tx.tattach = (struct p9_tattach){ .fid = fid,
					  .afid = P9_NOFID,
					  .uname = p9_cstr("root"),
					  .aname = p9_cstr(aname),
					  .n_uname = 0 };
	rpc(t, &tx, &rx);
	expect(t, &rx, P9_Rattach);
	return rx.rattach.qid;
}

/* A connection in dialect d attached as fid 0 to "/". */
static struct tc session(enum p9_dialect d)
{
	struct tc t = tc_open();
	version(&t, d, MSIZE);
	attach(&t, 0, "");
	return t;
}

/* Walks names (NULL-terminated) from fid to newfid; answers the reply type. */
static uint8_t walk(struct tc *t, uint32_t fid, uint32_t newfid, struct p9_fcall *rx, ...)
{
	struct p9_fcall tx = { .type = P9_Twalk, .tag = 2 };
	tx.twalk.fid = fid;
	tx.twalk.newfid = newfid;
	va_list ap;
	va_start(ap, rx);
	const char *name;
	while ((name = va_arg(ap, const char *)) && tx.twalk.nwname < P9_MAXWELEM)
		tx.twalk.wname[tx.twalk.nwname++] = p9_cstr(name);
	va_end(ap);
	rpc(t, &tx, rx);
	return rx->type;
}

static int simple(struct tc *t, struct p9_fcall *tx)
{
	struct p9_fcall rx;
	tx->tag = 3;
	rpc(t, tx, &rx);
	return rx.type == tx->type + 1 ? 0 : -rerr(t, &rx);
}

static int clunk(struct tc *t, uint32_t fid)
{
	struct p9_fcall tx = { .type = P9_Tclunk };
	tx.tclunk.fid = fid;
	return simple(t, &tx);
}

/* Creates and opens dir/name (fid dirfid is cloned into fid). */
static void lcreate(struct tc *t, uint32_t dirfid, uint32_t fid, const char *name)
{
	struct p9_fcall rx;
	assert_int_equal(walk(t, dirfid, fid, &rx, NULL), P9_Rwalk);
	struct p9_fcall tx = { .type = P9_Tlcreate, .tag = 4 };
	tx.tlcreate = (struct p9_tlcreate){
		.fid = fid, .name = p9_cstr(name), .flags = O_RDWR, .mode = 0644
	};
	rpc(t, &tx, &rx);
	expect(t, &rx, P9_Rlcreate);
}

static ssize_t pwrite9(struct tc *t, uint32_t fid, uint64_t off, const void *data, uint32_t n)
{
	struct p9_fcall tx = { .type = P9_Twrite, .tag = 5 }, rx;
	tx.twrite = (struct p9_twrite){ .fid = fid, .offset = off, .count = n, .data = data };
	rpc(t, &tx, &rx);
	return rx.type == P9_Rwrite ? (ssize_t)rx.rwrite.count : -rerr(t, &rx);
}

/* Reads into out (up to cap); answers the count or -errno. */
static ssize_t pread9(struct tc *t, uint32_t fid, uint64_t off, uint32_t count, void *out,
		      size_t cap)
{
	struct p9_fcall tx = { .type = P9_Tread, .tag = 6 }, rx;
	tx.tread = (struct p9_tread){ .fid = fid, .offset = off, .count = count };
	rpc(t, &tx, &rx);
	if (rx.type != P9_Rread)
		return -rerr(t, &rx);
	if (out)
		memcpy(out, rx.rread.data, rx.rread.count < cap ? rx.rread.count : cap);
	return rx.rread.count;
}

static int getattr(struct tc *t, uint32_t fid, struct p9_rgetattr *ga)
{
	struct p9_fcall tx = { .type = P9_Tgetattr, .tag = 7 }, rx;
	tx.tgetattr = (struct p9_tgetattr){ .fid = fid, .request_mask = P9_GETATTR_ALL };
	rpc(t, &tx, &rx);
	if (rx.type != P9_Rgetattr)
		return -rerr(t, &rx);
	*ga = rx.rgetattr;
	return 0;
}

static int lopen(struct tc *t, uint32_t fid, uint32_t flags)
{
	struct p9_fcall tx = { .type = P9_Tlopen };
	tx.tlopen = (struct p9_tlopen){ .fid = fid, .flags = flags };
	return simple(t, &tx);
}

/* ---- version and framing ---- */

static void test_version_first(void **state)
{
	(void)state;
	struct tc t = tc_open();
	struct p9_fcall rx;
	t.d = P9_2000; /* before Tversion the server answers in plain 9P2000 */
	tc_send(&t, &(struct p9_fcall){ .type = P9_Tclunk, .tag = 9, .tclunk = { .fid = 0 } });
	tc_recv(&t, &rx);
	assert_int_equal(rx.type, P9_Rerror);
	version(&t, P9_2000L, MSIZE);
	attach(&t, 0, "");
	tc_close(&t);
}

static void test_version_msize(void **state)
{
	(void)state;
	struct tc t = tc_open();
	struct p9_fcall tx = { .type = P9_Tversion, .tag = P9_NOTAG }, rx;
	tx.tversion.msize = 1024; /* rule 6: below 4096 is refused */
	tx.tversion.version = p9_cstr("9P2000.L");
	t.d = P9_2000;
	rpc(&t, &tx, &rx);
	assert_int_equal(rx.type, P9_Rerror);
	t.d = P9_2000L;
	version(&t, P9_2000L, 0xffffffff); /* rule 13: never taken blindly */
	assert_int_equal(t.msize, 1 << 20);
	tc_close(&t);

	t = tc_open();
	tx.tversion.msize = 8192;
	tx.tversion.version = p9_cstr("9P3000");
	rpc(&t, &tx, &rx);
	expect(&t, &rx, P9_Rversion);
	assert_int_equal(rx.rversion.version.len, 7);
	assert_memory_equal(rx.rversion.version.s, "unknown", 7);
	tx.tversion.version = p9_cstr("9P2000.x"); /* an unknown suffix means 9P2000 */
	t.d = P9_2000;
	rpc(&t, &tx, &rx);
	assert_memory_equal(rx.rversion.version.s, "9P2000", 6);
	assert_int_equal(rx.rversion.version.len, 6);
	tc_close(&t);
}

static void test_version_resets(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 12 */
	struct p9_fcall rx;
	assert_int_equal(walk(&t, 0, 1, &rx, NULL), P9_Rwalk);
	version(&t, P9_2000L, MSIZE);
	assert_int_equal(clunk(&t, 0), -EBADF);
	assert_int_equal(clunk(&t, 1), -EBADF);
	attach(&t, 0, "");
	assert_int_equal(clunk(&t, 0), 0);
	tc_close(&t);
}

static void test_rmessage_and_unknown(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 14 */
	struct p9_fcall rx;
	tc_send(&t, &(struct p9_fcall){ .type = P9_Rclunk, .tag = 11 });
	tc_recv(&t, &rx);
	assert_int_equal(rx.type, P9_Rlerror);
	assert_int_equal(rx.tag, 11);
	uint8_t unknown[] = { 7, 0, 0, 0, 99, 12, 0 };
	assert_int_equal(write(t.fd, unknown, sizeof unknown), 7);
	tc_recv(&t, &rx);
	assert_int_equal(rx.type, P9_Rlerror);
	assert_int_equal(rx.tag, 12);
	/* a body that does not match its type: answered, connection kept */
	uint8_t bad[] = { 9, 0, 0, 0, P9_Tclunk, 13, 0, 1, 2 };
	assert_int_equal(write(t.fd, bad, sizeof bad), 9);
	tc_recv(&t, &rx);
	assert_int_equal(rerr(&t, &rx), EPROTO);
	/* a message of another dialect */
	uint8_t topen[] = { 12, 0, 0, 0, P9_Topen, 14, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(write(t.fd, topen, sizeof topen), 12);
	tc_recv(&t, &rx);
	assert_int_equal(rx.tag, 14);
	assert_int_equal(rx.type, P9_Rlerror);
	assert_int_equal(clunk(&t, 0), 0);
	tc_close(&t);
}

static void test_broken_framing_closes(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L);
	uint8_t huge[] = { 0xff, 0xff, 0xff, 0x7f, P9_Tclunk, 1, 0 }; /* size above msize */
	assert_int_equal(write(t.fd, huge, sizeof huge), 7);
	uint8_t b;
	assert_int_equal(read(t.fd, &b, 1), 0); /* closed */
	tc_close(&t);
	t = session(P9_2000L);
	uint8_t tiny[] = { 3, 0, 0, 0 };
	assert_int_equal(write(t.fd, tiny, sizeof tiny), 4);
	assert_int_equal(read(t.fd, &b, 1), 0);
	tc_close(&t);
	t = session(P9_2000L); /* the server is alive */
	tc_close(&t);
}

/* ---- attach and walk ---- */

static void test_walk_rules(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L);
	struct p9_fcall rx;
	struct p9_rgetattr ga;
	/* rule 11: ".." at the root stays at the root */
	assert_int_equal(walk(&t, 0, 1, &rx, "..", "..", NULL), P9_Rwalk);
	assert_int_equal(getattr(&t, 0, &ga), 0);
	assert_true(rx.rwalk.wqid[1].path == ga.qid.path);
	/* a partial walk: fewer qids, newfid not made */
	assert_int_equal(walk(&t, 0, 2, &rx, "sub", "nope", NULL), P9_Rwalk);
	assert_int_equal(rx.rwalk.nwqid, 1);
	assert_int_equal(clunk(&t, 2), -EBADF);
	/* the first name failing is an error */
	assert_int_equal(walk(&t, 0, 2, &rx, "nope", NULL), P9_Rlerror);
	assert_int_equal(rx.rlerror.ecode, ENOENT);
	/* names with '/' or empty are refused */
	assert_int_equal(walk(&t, 0, 2, &rx, "a/b", NULL), P9_Rlerror);
	assert_int_equal(walk(&t, 0, 2, &rx, "", NULL), P9_Rlerror);
	/* newfid in use */
	assert_int_equal(walk(&t, 0, 1, &rx, NULL), P9_Rlerror);
	/* walking from a file */
	lcreate(&t, 0, 3, "wf");
	assert_int_equal(walk(&t, 3, 4, &rx, "x", NULL), P9_Rlerror);
	assert_int_equal(rx.rlerror.ecode, ENOTDIR);
	/* a walk onto the same fid moves it */
	struct p9_rgetattr sub, moved;
	assert_int_equal(walk(&t, 0, 5, &rx, "sub", NULL), P9_Rwalk);
	assert_int_equal(getattr(&t, 5, &sub), 0);
	assert_int_equal(walk(&t, 1, 1, &rx, "sub", NULL), P9_Rwalk);
	assert_int_equal(getattr(&t, 1, &moved), 0);
	assert_true(moved.qid.path == sub.qid.path);
	assert_int_equal(walk(&t, 1, 1, &rx, "..", NULL), P9_Rwalk);
	assert_int_equal(clunk(&t, 5), 0);
	/* rule 2: a walk from an opened fid to another newfid */
	assert_int_equal(walk(&t, 3, 4, &rx, NULL), P9_Rwalk);
	assert_int_equal(clunk(&t, 4), 0);
	assert_int_equal(clunk(&t, 3), 0);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_walk_sixteen(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 18 */
	struct p9_fcall rx;
	assert_int_equal(walk(&t, 0, 1, &rx, "..", "..", "..", "..", "..", "..", "..", "..", "..",
			      "..", "..", "..", "..", "..", "..", "..", NULL),
			 P9_Rwalk);
	assert_int_equal(rx.rwalk.nwqid, 16);
	/* 17 names: the codec cannot even write it; send the bytes by hand */
	uint8_t msg[7 + 10 + 17 * 4];
	struct p9_fcall tx = { .type = P9_Twalk, .tag = 20 };
	tx.twalk = (struct p9_twalk){ .fid = 0, .newfid = 2, .nwname = 16 };
	for (int i = 0; i < 16; i++)
		tx.twalk.wname[i] = p9_cstr("..");
	ssize_t n = p9_pack(msg, sizeof msg, &tx, P9_2000L);
	assert_true(n > 0);
	msg[15] = 17; /* nwname */
	memcpy(msg + n, "\2\0..", 4);
	msg[0] = (uint8_t)(n + 4);
	assert_int_equal(write(t.fd, msg, (size_t)n + 4), n + 4);
	tc_recv(&t, &rx);
	assert_int_equal(rx.type, P9_Rlerror);
	assert_int_equal(clunk(&t, 2), -EBADF);
	tc_close(&t);
}

static void test_mounts_and_qids(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rules 3 and 4 */
	struct p9_fcall rx;
	struct p9_rgetattr root, sub, a, b;
	assert_int_equal(getattr(&t, 0, &root), 0);
	assert_int_equal(walk(&t, 0, 1, &rx, "sub", NULL), P9_Rwalk);
	assert_int_equal(getattr(&t, 1, &sub), 0);
	assert_true(root.qid.path != sub.qid.path); /* both RAM roots have ino 1 */
	lcreate(&t, 0, 2, "qa");
	lcreate(&t, 1, 3, "qa");
	assert_int_equal(getattr(&t, 2, &a), 0);
	assert_int_equal(getattr(&t, 3, &b), 0);
	assert_true(a.qid.path != b.qid.path);
	assert_true(a.qid.version != 0 && b.qid.version != 0 && root.qid.version != 0);
	assert_int_equal(pwrite9(&t, 2, 0, "x", 1), 1);
	struct p9_rgetattr a2;
	assert_int_equal(getattr(&t, 2, &a2), 0);
	assert_true(a2.qid.version != a.qid.version);
	/* ".." out of a mount comes back to its parent */
	assert_int_equal(walk(&t, 1, 4, &rx, "..", NULL), P9_Rwalk);
	assert_true(rx.rwalk.wqid[0].path == root.qid.path);
	/* attach by aname to a mount */
	struct qid_holder {
		struct p9_qid q;
	} h = { attach(&t, 5, "/sub") };
	assert_true(h.q.path == sub.qid.path);
	for (uint32_t f = 1; f <= 5; f++)
		assert_int_equal(clunk(&t, f), 0);
	tc_close(&t);
}

/* ---- open, read, write ---- */

static void test_open_modes_checked_before_backend(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* the backend never sees a rule violation */
	struct p9_fcall rx;
	int reads = slow_reads, opens = slow_opens;
	assert_int_equal(walk(&t, 0, 1, &rx, "slow", "file", NULL), P9_Rwalk);
	assert_int_equal(pread9(&t, 1, 0, 10, NULL, 0), -EBADF); /* not open */
	assert_int_equal(pwrite9(&t, 1, 0, "x", 1), -EBADF);
	assert_int_equal(lopen(&t, 1, O_RDONLY), 0);
	assert_int_equal(pwrite9(&t, 1, 0, "x", 1), -EBADF);	  /* opened read-only */
	assert_int_equal(lopen(&t, 1, O_RDONLY), -EBADF);	  /* already open */
	assert_int_equal(pread9(&t, 77, 0, 10, NULL, 0), -EBADF); /* unknown fid */
	assert_int_equal(slow_reads, reads);
	assert_int_equal(slow_opens, opens + 1);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_read_fits_count_and_msize(void **state)
{
	(void)state;
	struct tc t = tc_open(); /* rules 5, 6 and 13 */
	version(&t, P9_2000L, 8192);
	attach(&t, 0, "");
	lcreate(&t, 0, 1, "big");
	static uint8_t data[20000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 7);
	for (uint32_t off = 0; off < sizeof data; off += 8000)
		assert_int_equal(pwrite9(&t, 1, off, data + off,
					 sizeof data - off < 8000 ? sizeof data - off : 8000),
				 sizeof data - off < 8000 ? sizeof data - off : 8000);
	uint8_t back[8192];
	assert_int_equal(pread9(&t, 1, 0, 0xffffffff, back, sizeof back), 8192 - 24);
	assert_memory_equal(back, data, 8192 - 24);
	assert_int_equal(pread9(&t, 1, 0, 100, back, sizeof back), 100);
	assert_int_equal(pread9(&t, 1, sizeof data, 100, NULL, 0), 0);
	assert_int_equal(clunk(&t, 1), 0);
	/* Rlopen's iounit is 0: use msize - 24 */
	struct p9_fcall rx, tx = { .type = P9_Tlopen, .tag = 3 };
	assert_int_equal(walk(&t, 0, 2, &rx, "big", NULL), P9_Rwalk);
	tx.tlopen = (struct p9_tlopen){ .fid = 2, .flags = O_RDONLY };
	rpc(&t, &tx, &rx);
	expect(&t, &rx, P9_Rlopen);
	assert_int_equal(rx.rlopen.iounit, 0);
	assert_int_equal(clunk(&t, 2), 0);
	tc_close(&t);
}

static void test_fsync_and_statfs(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 1: Tfsync carries datasync */
	lcreate(&t, 0, 1, "sync");
	struct p9_fcall tx = { .type = P9_Tfsync };
	tx.tfsync = (struct p9_tfsync){ .fid = 1, .datasync = 1 };
	assert_int_equal(simple(&t, &tx), 0);
	struct p9_fcall rx, st = { .type = P9_Tstatfs, .tag = 3, .tstatfs = { .fid = 0 } };
	rpc(&t, &st, &rx);
	expect(&t, &rx, P9_Rstatfs);
	assert_true(rx.rstatfs.bsize > 0 && rx.rstatfs.namelen == 255);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_open_unlinked(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 7 */
	lcreate(&t, 0, 1, "ghost");
	assert_int_equal(pwrite9(&t, 1, 0, "boo!", 4), 4);
	struct p9_fcall tx = { .type = P9_Tunlinkat };
	tx.tunlinkat = (struct p9_tunlinkat){ .dirfid = 0, .name = p9_cstr("ghost") };
	assert_int_equal(simple(&t, &tx), 0);
	struct p9_fcall rx;
	assert_int_equal(walk(&t, 0, 2, &rx, "ghost", NULL), P9_Rlerror);
	struct p9_rgetattr ga;
	assert_int_equal(getattr(&t, 1, &ga), 0);
	assert_int_equal(ga.size, 4);
	assert_int_equal(ga.nlink, 0);
	struct p9_fcall sa = { .type = P9_Tsetattr };
	sa.tsetattr = (struct p9_tsetattr){ .fid = 1, .valid = P9_SETATTR_SIZE, .size = 2 };
	assert_int_equal(simple(&t, &sa), 0);
	assert_int_equal(pwrite9(&t, 1, 2, "!!", 2), 2);
	char buf[8];
	assert_int_equal(pread9(&t, 1, 0, 8, buf, sizeof buf), 4);
	assert_memory_equal(buf, "bo!!", 4);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

/* ---- directories ---- */

static void test_readdir_cookies(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 8 */
	struct p9_fcall rx;
	struct p9_fcall mk = { .type = P9_Tmkdir };
	mk.tmkdir = (struct p9_tmkdir){ .dfid = 0, .name = p9_cstr("many"), .mode = 0755 };
	assert_int_equal(simple(&t, &mk), 0);
	assert_int_equal(walk(&t, 0, 1, &rx, "many", NULL), P9_Rwalk);
	enum { N = 10000 };
	for (int i = 0; i < N; i++) {
		char name[16];
		snprintf(name, sizeof name, "e%05d", i);
		struct p9_fcall tx = { .type = P9_Tmknod };
		tx.tmknod = (struct p9_tmknod){ .dfid = 1,
						.name = p9_cstr(name),
						.mode = S_IFREG | 0644 };
		assert_int_equal(simple(&t, &tx), 0);
	}
	assert_int_equal(walk(&t, 1, 2, &rx, NULL), P9_Rwalk);
	assert_int_equal(lopen(&t, 2, O_RDONLY | O_DIRECTORY), 0);
	static uint8_t seen[N];
	memset(seen, 0, sizeof seen);
	uint64_t off = 0;
	int dots = 0, calls = 0;
	for (;;) {
		struct p9_fcall tx = { .type = P9_Treaddir, .tag = 8 };
		tx.treaddir = (struct p9_tread){ .fid = 2, .offset = off, .count = 200 };
		rpc(&t, &tx, &rx);
		expect(&t, &rx, P9_Rreaddir);
		assert_true(rx.rreaddir.count <= 200);
		if (rx.rreaddir.count == 0)
			break;
		calls++;
		size_t pos = 0;
		struct p9_dirent de;
		int got;
		while ((got = p9_dirent_next(&de, rx.rreaddir.data, rx.rreaddir.count, &pos)) ==
		       1) {
			off = de.offset;
			if (de.name.len <= 2 && de.name.s[0] == '.') {
				dots++;
				continue;
			}
			/* names are not NUL-terminated: a bounded copy */
			char nm[16] = { 0 };
			assert_true(de.name.len < sizeof nm);
			memcpy(nm, de.name.s, de.name.len);
			int i = atoi(nm + 1);
			assert_true(i >= 0 && i < N);
			assert_int_equal(seen[i], 0);
			seen[i] = 1;
		}
		assert_int_equal(got, 0); /* records are never split */
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(dots, 2);
	assert_true(calls > 100);
	assert_int_equal(clunk(&t, 2), 0);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_unlinkat_opened_dir(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 9 */
	struct p9_fcall rx;
	struct p9_fcall mk = { .type = P9_Tmkdir };
	mk.tmkdir = (struct p9_tmkdir){ .dfid = 0, .name = p9_cstr("ud"), .mode = 0755 };
	assert_int_equal(simple(&t, &mk), 0);
	assert_int_equal(walk(&t, 0, 1, &rx, "ud", NULL), P9_Rwalk);
	lcreate(&t, 1, 2, "f");
	assert_int_equal(lopen(&t, 1, O_RDONLY), 0);
	struct p9_fcall ul = { .type = P9_Tunlinkat };
	ul.tunlinkat = (struct p9_tunlinkat){ .dirfid = 1, .name = p9_cstr("f") };
	assert_int_equal(simple(&t, &ul), 0);
	ul.tunlinkat = (struct p9_tunlinkat){ .dirfid = 0, .name = p9_cstr("ud"), .flags = 0x200 };
	assert_int_equal(simple(&t, &ul), 0);
	assert_int_equal(clunk(&t, 2), 0);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_remove_and_clunk_free_fid(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 10 */
	struct p9_fcall rx;
	assert_int_equal(walk(&t, 0, 1, &rx, NULL), P9_Rwalk);
	struct p9_fcall rm = { .type = P9_Tremove, .tremove = { .fid = 1 } };
	assert_true(simple(&t, &rm) < 0);	/* the root cannot be removed */
	assert_int_equal(clunk(&t, 1), -EBADF); /* but the fid is gone */
	/* a clunk that fails (an xattr of the wrong length) still frees */
	lcreate(&t, 0, 2, "xa");
	assert_int_equal(walk(&t, 0, 3, &rx, "xa", NULL), P9_Rwalk);
	struct p9_fcall xc = { .type = P9_Txattrcreate };
	xc.txattrcreate =
		(struct p9_txattrcreate){ .fid = 3, .name = p9_cstr("user.k"), .attr_size = 10 };
	assert_int_equal(simple(&t, &xc), 0);
	assert_int_equal(pwrite9(&t, 3, 0, "abc", 3), 3);
	assert_int_equal(clunk(&t, 3), -EINVAL);
	assert_int_equal(clunk(&t, 3), -EBADF);
	/* Tremove of a file works and frees the fid */
	assert_int_equal(walk(&t, 0, 4, &rx, "xa", NULL), P9_Rwalk);
	rm.tremove.fid = 4;
	assert_int_equal(simple(&t, &rm), 0);
	assert_int_equal(clunk(&t, 4), -EBADF);
	assert_int_equal(walk(&t, 0, 5, &rx, "xa", NULL), P9_Rlerror);
	assert_int_equal(clunk(&t, 2), 0);
	tc_close(&t);
}

static void test_bad_names(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 11 */
	const char *bad[] = { "", ".", "..", "a/b", "/" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct p9_fcall mk = { .type = P9_Tmkdir };
		mk.tmkdir = (struct p9_tmkdir){ .dfid = 0, .name = p9_cstr(bad[i]), .mode = 0755 };
		assert_int_equal(simple(&t, &mk), -EINVAL);
		struct p9_fcall rx;
		assert_int_equal(walk(&t, 0, 1, &rx, NULL), P9_Rwalk);
		struct p9_fcall tx = { .type = P9_Tlcreate };
		tx.tlcreate = (struct p9_tlcreate){
			.fid = 1, .name = p9_cstr(bad[i]), .flags = O_RDWR, .mode = 0644
		};
		assert_int_equal(simple(&t, &tx), -EINVAL);
		assert_int_equal(clunk(&t, 1), 0);
	}
	char longname[300];
	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	struct p9_fcall mk = { .type = P9_Tmkdir };
	mk.tmkdir = (struct p9_tmkdir){ .dfid = 0, .name = p9_cstr(longname), .mode = 0755 };
	assert_int_equal(simple(&t, &mk), -ENAMETOOLONG);
	tc_close(&t);
}

/* ---- flush and tags ---- */

static void open_slow(struct tc *t, uint32_t fid)
{
	struct p9_fcall rx;
	assert_int_equal(walk(t, 0, fid, &rx, "slow", "file", NULL), P9_Rwalk);
	assert_int_equal(lopen(t, fid, O_RDONLY), 0);
}

static void test_flush_cancels(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rules 15 and 16 */
	open_slow(&t, 1);
	struct p9_fcall rd = { .type = P9_Tread, .tag = 40 };
	rd.tread = (struct p9_tread){ .fid = 1, .offset = 0, .count = 5 };
	tc_send(&t, &rd);
	usleep(20000);
	/* rule 15: the same tag while it is in flight is refused */
	struct p9_fcall rx;
	struct p9_fcall dup = { .type = P9_Tclunk, .tag = 40, .tclunk = { .fid = 99 } };
	tc_send(&t, &dup);
	tc_recv(&t, &rx);
	assert_int_equal(rx.tag, 40);
	assert_int_equal(rx.type, P9_Rlerror);
	assert_int_equal(rx.rlerror.ecode, EBUSY);
	/* flush it: the read is cancelled and only Rflush comes */
	struct p9_fcall fl = { .type = P9_Tflush, .tag = 41, .tflush = { .oldtag = 40 } };
	tc_send(&t, &fl);
	tc_recv(&t, &rx);
	assert_int_equal(rx.type, P9_Rflush);
	assert_int_equal(rx.tag, 41);
	/* a flush of a tag not in flight is answered at once */
	fl.tag = 42;
	fl.tflush.oldtag = 999;
	rpc(&t, &fl, &rx);
	assert_int_equal(rx.type, P9_Rflush);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_flush_after_reply(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* rule 16: the reply comes before Rflush */
	open_slow(&t, 1);
	struct p9_fcall rd = { .type = P9_Tread, .tag = 50 };
	rd.tread = (struct p9_tread){ .fid = 1, .offset = 0, .count = 5 };
	tc_send(&t, &rd);
	usleep(20000);
	pthread_mutex_lock(&slow_mu);
	slow_release = true; /* the read finishes as the flush arrives */
	pthread_cond_broadcast(&slow_cv);
	pthread_mutex_unlock(&slow_mu);
	struct p9_fcall fl = { .type = P9_Tflush, .tag = 51, .tflush = { .oldtag = 50 } };
	tc_send(&t, &fl);
	struct p9_fcall rx;
	tc_recv(&t, &rx);
	if (rx.type == P9_Rread) {
		assert_int_equal(rx.tag, 50);
		tc_recv(&t, &rx);
	}
	assert_int_equal(rx.type, P9_Rflush);
	assert_int_equal(rx.tag, 51);
	pthread_mutex_lock(&slow_mu);
	slow_release = false;
	pthread_mutex_unlock(&slow_mu);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_disconnect_cancels(void **state)
{
	(void)state;
	for (int i = 0; i < 5; i++) {
		struct tc t = session(P9_2000L);
		open_slow(&t, 1);
		struct p9_fcall rd = { .type = P9_Tread, .tag = 60 };
		rd.tread = (struct p9_tread){ .fid = 1, .offset = 0, .count = 5 };
		tc_send(&t, &rd);
		tc_close(&t); /* hang up with the read waiting */
	}
	usleep(50000);
	struct tc t = session(P9_2000L);
	assert_int_equal(clunk(&t, 0), 0);
	tc_close(&t);
}

static void test_request_limit(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* max_requests is 8 here */
	open_slow(&t, 1);
	for (uint16_t tag = 100; tag < 108; tag++) {
		struct p9_fcall rd = { .type = P9_Tread, .tag = tag };
		rd.tread = (struct p9_tread){ .fid = 1, .offset = 0, .count = 5 };
		tc_send(&t, &rd);
	}
	usleep(50000);
	struct p9_fcall rx, rd = { .type = P9_Tread, .tag = 108 };
	rd.tread = (struct p9_tread){ .fid = 1, .offset = 0, .count = 5 };
	rpc(&t, &rd, &rx);
	assert_int_equal(rx.type, P9_Rlerror);
	assert_int_equal(rx.rlerror.ecode, EAGAIN);
	for (uint16_t tag = 100; tag < 108; tag++) {
		struct p9_fcall fl = { .type = P9_Tflush, .tag = (uint16_t)(tag + 100) };
		fl.tflush.oldtag = tag;
		tc_send(&t, &fl);
		tc_recv(&t, &rx);
		assert_int_equal(rx.type, P9_Rflush);
	}
	tc_close(&t);
}

static void test_fid_limit(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L); /* max_fids is 64 here; fid 0 is one */
	struct p9_fcall rx;
	for (uint32_t f = 1; f < 64; f++)
		assert_int_equal(walk(&t, 0, f, &rx, NULL), P9_Rwalk);
	assert_int_equal(walk(&t, 0, 64, &rx, NULL), P9_Rlerror);
	assert_int_equal(rx.rlerror.ecode, EMFILE);
	assert_int_equal(clunk(&t, 63), 0);
	assert_int_equal(walk(&t, 0, 64, &rx, NULL), P9_Rwalk);
	tc_close(&t);
}

/* ---- locks ---- */

static int tlock(struct tc *t, uint32_t fid, uint8_t type, uint64_t start, uint64_t len,
		 uint32_t pid)
{
	struct p9_fcall tx = { .type = P9_Tlock, .tag = 70 }, rx;
	tx.tlock = (struct p9_tlock){ .fid = fid,
				      .type = type,
				      .start = start,
				      .length = len,
				      .proc_id = pid,
				      .client_id = p9_cstr("test") };
	rpc(t, &tx, &rx);
	return rx.type == P9_Rlock ? rx.rlock.status : -rerr(t, &rx);
}

static void test_locks(void **state)
{
	(void)state;
	struct tc a = session(P9_2000L), b = session(P9_2000L); /* rule 17 */
	struct p9_fcall rx;
	lcreate(&a, 0, 1, "locked");
	assert_int_equal(walk(&b, 0, 1, &rx, "locked", NULL), P9_Rwalk);
	assert_int_equal(lopen(&b, 1, O_RDWR), 0);
	assert_int_equal(tlock(&a, 1, P9_LOCK_TYPE_WRLCK, 0, 10, 1), P9_LOCK_SUCCESS);
	assert_int_equal(tlock(&b, 1, P9_LOCK_TYPE_WRLCK, 5, 10, 2), P9_LOCK_BLOCKED);
	assert_int_equal(tlock(&b, 1, P9_LOCK_TYPE_RDLCK, 10, 10, 2), P9_LOCK_SUCCESS);
	struct p9_fcall gl = { .type = P9_Tgetlock, .tag = 71 };
	gl.tgetlock = (struct p9_getlock){ .fid = 1,
					   .type = P9_LOCK_TYPE_WRLCK,
					   .start = 0,
					   .length = 0,
					   .proc_id = 2,
					   .client_id = p9_cstr("test") };
	rpc(&b, &gl, &rx);
	expect(&b, &rx, P9_Rgetlock);
	assert_int_equal(rx.rgetlock.type, P9_LOCK_TYPE_WRLCK);
	assert_int_equal(rx.rgetlock.start, 0);
	assert_int_equal(rx.rgetlock.length, 10);
	assert_int_equal(rx.rgetlock.proc_id, 1);
	/* Linux's F_GETLK asks with type UNLCK: any lock in the way */
	gl.tgetlock.type = P9_LOCK_TYPE_UNLCK;
	rpc(&b, &gl, &rx);
	expect(&b, &rx, P9_Rgetlock);
	assert_int_equal(rx.rgetlock.type, P9_LOCK_TYPE_WRLCK);
	assert_int_equal(rx.rgetlock.proc_id, 1);
	assert_int_equal(tlock(&a, 1, P9_LOCK_TYPE_UNLCK, 0, 0, 1), P9_LOCK_SUCCESS);
	assert_int_equal(tlock(&b, 1, P9_LOCK_TYPE_WRLCK, 0, 10, 2), P9_LOCK_SUCCESS);
	/* a lock dies with its connection */
	assert_int_equal(tlock(&a, 1, P9_LOCK_TYPE_WRLCK, 0, 10, 1), P9_LOCK_BLOCKED);
	tc_close(&b);
	usleep(20000);
	assert_int_equal(tlock(&a, 1, P9_LOCK_TYPE_WRLCK, 0, 10, 1), P9_LOCK_SUCCESS);
	assert_int_equal(tlock(&a, 1, 9, 0, 10, 1), -EINVAL);
	assert_int_equal(clunk(&a, 1), 0);
	tc_close(&a);
}

/* ---- xattrs, symlinks, links, renames (9P2000.L) ---- */

static void test_xattrs(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L);
	struct p9_fcall rx;
	lcreate(&t, 0, 1, "xf");
	assert_int_equal(walk(&t, 0, 2, &rx, "xf", NULL), P9_Rwalk);
	struct p9_fcall xc = { .type = P9_Txattrcreate };
	xc.txattrcreate =
		(struct p9_txattrcreate){ .fid = 2, .name = p9_cstr("user.color"), .attr_size = 4 };
	assert_int_equal(simple(&t, &xc), 0);
	assert_int_equal(pwrite9(&t, 2, 0, "blue", 4), 4);
	assert_int_equal(clunk(&t, 2), 0);
	struct p9_fcall xw = { .type = P9_Txattrwalk, .tag = 9 };
	xw.txattrwalk =
		(struct p9_txattrwalk){ .fid = 1, .newfid = 3, .name = p9_cstr("user.color") };
	rpc(&t, &xw, &rx);
	expect(&t, &rx, P9_Rxattrwalk);
	assert_int_equal(rx.rxattrwalk.size, 4);
	char buf[16];
	assert_int_equal(pread9(&t, 3, 0, 16, buf, sizeof buf), 4);
	assert_memory_equal(buf, "blue", 4);
	assert_int_equal(clunk(&t, 3), 0);
	xw.txattrwalk.name = p9_cstr(""); /* the list */
	rpc(&t, &xw, &rx);
	expect(&t, &rx, P9_Rxattrwalk);
	assert_int_equal(rx.rxattrwalk.size, 11);
	assert_int_equal(clunk(&t, 3), 0);
	xw.txattrwalk.name = p9_cstr("user.none");
	rpc(&t, &xw, &rx);
	assert_int_equal(rx.type, P9_Rlerror);
	assert_int_equal(rx.rlerror.ecode, ENODATA);
	assert_int_equal(clunk(&t, 1), 0);
	tc_close(&t);
}

static void test_links_and_renames(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L);
	struct p9_fcall rx;
	lcreate(&t, 0, 1, "orig");
	assert_int_equal(pwrite9(&t, 1, 0, "data", 4), 4);
	struct p9_fcall sl = { .type = P9_Tsymlink };
	sl.tsymlink =
		(struct p9_tsymlink){ .fid = 0, .name = p9_cstr("sym"), .symtgt = p9_cstr("orig") };
	assert_int_equal(simple(&t, &sl), 0);
	assert_int_equal(walk(&t, 0, 2, &rx, "sym", NULL), P9_Rwalk);
	assert_int_equal(rx.rwalk.wqid[0].type, P9_QTSYMLINK);
	struct p9_fcall rl = { .type = P9_Treadlink, .tag = 9, .treadlink = { .fid = 2 } };
	rpc(&t, &rl, &rx);
	expect(&t, &rx, P9_Rreadlink);
	assert_int_equal(rx.rreadlink.target.len, 4);
	assert_memory_equal(rx.rreadlink.target.s, "orig", 4);
	struct p9_fcall ln = { .type = P9_Tlink };
	ln.tlink = (struct p9_tlink){ .dfid = 0, .fid = 1, .name = p9_cstr("hard") };
	assert_int_equal(simple(&t, &ln), 0);
	struct p9_rgetattr ga;
	assert_int_equal(getattr(&t, 1, &ga), 0);
	assert_int_equal(ga.nlink, 2);
	struct p9_fcall rn = { .type = P9_Trenameat };
	rn.trenameat = (struct p9_trenameat){ .olddirfid = 0,
					      .oldname = p9_cstr("hard"),
					      .newdirfid = 0,
					      .newname = p9_cstr("moved") };
	assert_int_equal(simple(&t, &rn), 0);
	assert_int_equal(walk(&t, 0, 3, &rx, "moved", NULL), P9_Rwalk);
	/* Trename moves the name a fid was walked to, and the fid follows */
	struct p9_fcall tr = { .type = P9_Trename };
	tr.trename = (struct p9_trename){ .fid = 3, .dfid = 0, .name = p9_cstr("again") };
	assert_int_equal(simple(&t, &tr), 0);
	struct p9_fcall rm = { .type = P9_Tremove, .tremove = { .fid = 3 } };
	assert_int_equal(simple(&t, &rm), 0);
	assert_int_equal(walk(&t, 0, 4, &rx, "again", NULL), P9_Rlerror);
	assert_int_equal(getattr(&t, 1, &ga), 0);
	assert_int_equal(ga.nlink, 1);
	/* renames across mounts are EXDEV */
	rn.trenameat = (struct p9_trenameat){ .olddirfid = 0,
					      .oldname = p9_cstr("orig"),
					      .newdirfid = 0,
					      .newname = p9_cstr("sub") };
	assert_int_equal(walk(&t, 0, 5, &rx, "sub", NULL), P9_Rwalk);
	rn.trenameat.newdirfid = 5;
	rn.trenameat.newname = p9_cstr("x");
	assert_int_equal(simple(&t, &rn), -EXDEV);
	for (uint32_t f = 1; f <= 5; f++)
		if (f != 3 && f != 4)
			assert_int_equal(clunk(&t, f), 0);
	tc_close(&t);
}

/* ---- 9P2000 and 9P2000.u ---- */

static void test_9p2000_flow(void **state)
{
	(void)state;
	for (enum p9_dialect d = P9_2000; d <= P9_2000U; d++) {
		struct tc t = session(d);
		struct p9_fcall rx;
		const char *name = d == P9_2000 ? "plain" : "dotu";
		assert_int_equal(walk(&t, 0, 1, &rx, NULL), P9_Rwalk);
		struct p9_fcall cr = { .type = P9_Tcreate, .tag = 3 };
		cr.tcreate = (struct p9_tcreate){
			.fid = 1, .name = p9_cstr(name), .perm = 0644, .mode = P9_ORDWR
		};
		rpc(&t, &cr, &rx);
		expect(&t, &rx, P9_Rcreate);
		assert_int_equal(rx.rcreate.iounit, 0);
		assert_int_equal(pwrite9(&t, 1, 0, "hello", 5), 5);
		struct p9_fcall st = { .type = P9_Tstat, .tag = 4, .tstat = { .fid = 1 } };
		rpc(&t, &st, &rx);
		expect(&t, &rx, P9_Rstat);
		assert_int_equal(rx.rstat.stat.length, 5);
		assert_int_equal(rx.rstat.stat.name.len, strlen(name));
		assert_int_equal(rx.rstat.stat.mode & 0777, 0644);
		/* Twstat: rename and truncate, the rest "don't touch" */
		struct p9_fcall ws = { .type = P9_Twstat };
		ws.twstat.fid = 1;
		memset(&ws.twstat.stat, 0xff, sizeof ws.twstat.stat);
		ws.twstat.stat.name = p9_cstr(d == P9_2000 ? "plain2" : "dotu2");
		ws.twstat.stat.uid = ws.twstat.stat.gid = ws.twstat.stat.muid = p9_cstr("");
		ws.twstat.stat.extension = p9_cstr("");
		ws.twstat.stat.length = 2;
		assert_int_equal(simple(&t, &ws), 0);
		rpc(&t, &st, &rx);
		expect(&t, &rx, P9_Rstat);
		assert_int_equal(rx.rstat.stat.length, 2);
		assert_int_equal(clunk(&t, 1), 0);
		/* the directory read sees it, as stat records */
		assert_int_equal(walk(&t, 0, 2, &rx, NULL), P9_Rwalk);
		struct p9_fcall op = { .type = P9_Topen,
				       .tag = 5,
				       .topen = { .fid = 2, .mode = P9_OREAD } };
		rpc(&t, &op, &rx);
		expect(&t, &rx, P9_Ropen);
		uint64_t off = 0;
		bool found = false;
		for (;;) {
			struct p9_fcall rd = { .type = P9_Tread, .tag = 6 };
			rd.tread = (struct p9_tread){ .fid = 2, .offset = off, .count = 300 };
			rpc(&t, &rd, &rx);
			expect(&t, &rx, P9_Rread);
			if (rx.rread.count == 0)
				break;
			size_t pos = 0;
			struct p9_stat s;
			while (p9_stat_next(&s, rx.rread.data, rx.rread.count, &pos, d) == 1)
				if (s.name.len == strlen(name) + 1 &&
				    memcmp(s.name.s, name, s.name.len - 1) == 0)
					found = true;
			assert_int_equal(pos, rx.rread.count);
			off += rx.rread.count;
		}
		assert_true(found);
		/* a directory read at an offset that is not where it stopped */
		struct p9_fcall rd = { .type = P9_Tread, .tag = 6 };
		rd.tread = (struct p9_tread){ .fid = 2, .offset = 3, .count = 300 };
		rpc(&t, &rd, &rx);
		assert_int_equal(rx.type, P9_Rerror);
		assert_int_equal(clunk(&t, 2), 0);
		/* Tremove */
		assert_int_equal(walk(&t, 0, 3, &rx, d == P9_2000 ? "plain2" : "dotu2", NULL),
				 P9_Rwalk);
		struct p9_fcall rm = { .type = P9_Tremove, .tremove = { .fid = 3 } };
		assert_int_equal(simple(&t, &rm), 0);
		/* errors: 9P2000.u carries the errno too */
		assert_int_equal(walk(&t, 0, 4, &rx, "nothing", NULL), P9_Rerror);
		if (d == P9_2000U)
			assert_int_equal(rx.rerror.errnum, ENOENT);
		else
			assert_int_equal(p9_errno(rx.rerror.ename), ENOENT);
		tc_close(&t);
	}
}

static void test_9p2000u_special(void **state)
{
	(void)state;
	struct tc t = session(P9_2000U);
	struct p9_fcall rx;
	assert_int_equal(walk(&t, 0, 1, &rx, NULL), P9_Rwalk);
	struct p9_fcall cr = { .type = P9_Tcreate, .tag = 3 };
	cr.tcreate = (struct p9_tcreate){ .fid = 1,
					  .name = p9_cstr("ulink"),
					  .perm = P9_DMSYMLINK | 0777,
					  .mode = P9_OREAD,
					  .extension = p9_cstr("target/path") };
	rpc(&t, &cr, &rx);
	expect(&t, &rx, P9_Rcreate);
	struct p9_fcall st = { .type = P9_Tstat, .tag = 4, .tstat = { .fid = 1 } };
	rpc(&t, &st, &rx);
	expect(&t, &rx, P9_Rstat);
	assert_true(rx.rstat.stat.mode & P9_DMSYMLINK);
	assert_int_equal(rx.rstat.stat.extension.len, 11);
	assert_memory_equal(rx.rstat.stat.extension.s, "target/path", 11);
	assert_int_equal(clunk(&t, 1), 0);
	/* mkdir through Tcreate */
	assert_int_equal(walk(&t, 0, 2, &rx, NULL), P9_Rwalk);
	cr.tcreate = (struct p9_tcreate){ .fid = 2,
					  .name = p9_cstr("udir"),
					  .perm = P9_DMDIR | 0755,
					  .mode = P9_OREAD,
					  .extension = p9_cstr("") };
	rpc(&t, &cr, &rx);
	expect(&t, &rx, P9_Rcreate);
	assert_int_equal(rx.rcreate.qid.type, P9_QTDIR);
	assert_int_equal(clunk(&t, 2), 0);
	tc_close(&t);
}

static void test_orclose(void **state)
{
	(void)state;
	for (int hangup = 0; hangup < 2; hangup++) {
		struct tc t = session(P9_2000);
		struct p9_fcall rx;
		assert_int_equal(walk(&t, 0, 1, &rx, NULL), P9_Rwalk);
		struct p9_fcall cr = { .type = P9_Tcreate, .tag = 3 };
		cr.tcreate = (struct p9_tcreate){ .fid = 1,
						  .name = p9_cstr("tmpfile"),
						  .perm = 0600,
						  .mode = P9_ORDWR | P9_ORCLOSE };
		rpc(&t, &cr, &rx);
		expect(&t, &rx, P9_Rcreate);
		if (hangup) /* a connection that goes away clunks its fids */
			tc_close(&t);
		else
			assert_int_equal(clunk(&t, 1), 0);
		if (hangup) {
			usleep(20000);
			t = session(P9_2000);
		}
		assert_int_equal(walk(&t, 0, 2, &rx, "tmpfile", NULL), P9_Rerror);
		tc_close(&t);
	}
}

/* ---- transports and credentials ---- */

static void stat_through(struct boxfs_client *c)
{
	assert_non_null(c);
	struct stat st;
	assert_int_equal(boxfs_stat(c, "/sub", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	boxfs_disconnect(c);
}

static void test_transports(void **state)
{
	(void)state;
	char abs[64];
	snprintf(abs, sizeof abs, "unix!@boxfs-door-test-%d", (int)getpid());
	assert_int_equal(boxfs_server_listen(srv, "9p", abs), 0);
	assert_int_equal(boxfs_server_listen(srv, "9p", "tcp!127.0.0.1!0"), 0);
	int v6 = boxfs_server_listen(srv, "9p", "tcp![::1]!0");
	assert_int_equal(boxfs_server_listen(srv, "nodoor", "tcp!127.0.0.1!0"), -EINVAL);
	assert_int_equal(boxfs_server_listen(srv, "9p", "bogus"), -EINVAL);
	for (unsigned i = 1; boxfs_server_address(srv, i); i++)
		stat_through(boxfs_connect(boxfs_server_address(srv, i), NULL));
	assert_true(v6 == 0 || v6 == -EADDRNOTAVAIL || v6 == -EAFNOSUPPORT);
	/* an inherited descriptor pair, like Linux's trans=fd */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(boxfs_server_serve_fds(srv, "9p", sv[0], sv[0]), 0);
	stat_through(boxfs_connect_fd(sv[1], sv[1], NULL));
}

/* Creates a file attached as n_uname and answers its owner. */
static uint32_t owner_of_new_file(const char *name, uint32_t n_uname)
{
	struct tc t = tc_open();
	version(&t, P9_2000L, MSIZE);
	struct p9_fcall tx = { .type = P9_Tattach, .tag = 1 }, rx;
	tx.tattach = (struct p9_tattach){ .fid = 0,
					  .afid = P9_NOFID,
					  .uname = p9_cstr(""),
					  .aname = p9_cstr("/sub"),
					  .n_uname = n_uname };
	rpc(&t, &tx, &rx);
	expect(&t, &rx, P9_Rattach);
	lcreate(&t, 0, 1, name);
	struct p9_rgetattr ga;
	assert_int_equal(getattr(&t, 1, &ga), 0);
	tc_close(&t);
	return ga.uid;
}

static void test_credentials(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct tc t = tc_open(); /* let anyone create in /sub */
	version(&t, P9_2000L, MSIZE);
	attach(&t, 0, "/sub");
	struct p9_fcall sa = { .type = P9_Tsetattr };
	sa.tsetattr = (struct p9_tsetattr){ .fid = 0, .valid = P9_SETATTR_MODE, .mode = 01777 };
	assert_int_equal(simple(&t, &sa), 0);
	tc_close(&t);
	/* a root peer acts as the user it attaches as */
	assert_int_equal(owner_of_new_file("as1000", 1000), 1000);
	/* a peer that is not root is itself, whatever it claims */
	char sockpath[128];
	snprintf(sockpath, sizeof sockpath, "%s/sock", sockdir);
	assert_int_equal(chmod(sockdir, 0755), 0);
	assert_int_equal(chmod(sockpath, 0777), 0);
	pid_t pid = fork();
	if (pid == 0) { /* no cmocka in here: plain checks and an exit status */
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		struct boxfs_opts o = { .aname = "/sub", .has_n_uname = true, .n_uname = 0 };
		struct boxfs_client *c = boxfs_connect(addr, &o);
		if (!c)
			_exit(3);
		struct boxfs_file *f = boxfs_open(c, "asnobody", O_CREAT | O_RDWR, 0644);
		struct stat st;
		int ok = f && boxfs_fstat(f, &st) == 0 && st.st_uid == 65534;
		if (f)
			boxfs_close(f);
		boxfs_disconnect(c);
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_first),
		cmocka_unit_test(test_version_msize),
		cmocka_unit_test(test_version_resets),
		cmocka_unit_test(test_rmessage_and_unknown),
		cmocka_unit_test(test_broken_framing_closes),
		cmocka_unit_test(test_walk_rules),
		cmocka_unit_test(test_walk_sixteen),
		cmocka_unit_test(test_mounts_and_qids),
		cmocka_unit_test(test_open_modes_checked_before_backend),
		cmocka_unit_test(test_read_fits_count_and_msize),
		cmocka_unit_test(test_fsync_and_statfs),
		cmocka_unit_test(test_open_unlinked),
		cmocka_unit_test(test_readdir_cookies),
		cmocka_unit_test(test_unlinkat_opened_dir),
		cmocka_unit_test(test_remove_and_clunk_free_fid),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_flush_cancels),
		cmocka_unit_test(test_flush_after_reply),
		cmocka_unit_test(test_disconnect_cancels),
		cmocka_unit_test(test_request_limit),
		cmocka_unit_test(test_fid_limit),
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_xattrs),
		cmocka_unit_test(test_links_and_renames),
		cmocka_unit_test(test_9p2000_flow),
		cmocka_unit_test(test_9p2000u_special),
		cmocka_unit_test(test_orclose),
		cmocka_unit_test(test_transports),
		cmocka_unit_test(test_credentials),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
