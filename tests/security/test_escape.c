/*
 * test_escape.c — the host export must never reach outside its directory.
 *
 * Two servers run in this process (boxfs_server_new + hostfs), one plain and
 * one with allow_special, both exporting BASE/export, which sits beside
 * BASE/outside: a canary file with known content, a canary directory and
 * marker names. Every attack goes through the protocol — raw 9P messages over
 * the Unix socket in each dialect where they apply, and the client library —
 * and after each one the canary is checked on the host: content, mode, owner,
 * times (its atime was set in the past, so any read would move it under
 * relatime), link count, xattrs, and the names in BASE, BASE/outside and the
 * canary directory. Every secret (canary content, outside names, a trusted
 * xattr value) carries the marker MARK, and every raw reply is scanned for it.
 *
 * A check that finds a backend or server bug is reported with skip() and a
 * message starting "KNOWN BUG:", so the suite stays green while the bug is
 * open; a test's last line is the server answering a fresh connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/9p.h>
#include <boxfs/client.h>
#include <boxfs/hostfs.h>
#include <boxfs/server.h>

#include "../lib/testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* Found in every secret; mkdtemp never makes a '~', so no path holds it. */
#define MARK	    "~5d1e8f~"
#define SECRET	    "canary " MARK " secret content\n"
#define OUT_NAME    "zz" MARK "out"
#define CDIR_NAME   "zz" MARK "cdir"
#define TRUSTED_VAL "trusted " MARK " value"
#define LINKED_DATA "a host hard link, the host's choice\n"
#define HARMLESS    "harmless inside file\n"
/* Reports a bug found (a TAP comment); the test then ends in skip(). */
#define KNOWN_BUG(...)                                                                             \
	do {                                                                                       \
		printf("# KNOWN BUG: " __VA_ARGS__);                                               \
		printf("\n");                                                                      \
		fflush(stdout);                                                                    \
		bugs++;                                                                            \
	} while (0)

static char base[64], export_dir[128], outside[128], canary[160], cdir[160];
static char sock_plain[128], sock_special[128];
static struct boxfs_server *srv_plain, *srv_special;
static bool as_root;
static int bugs; /* KNOWN BUG lines printed by the current test */

/* ---- the host side: building the tree and watching the canary ---- */

static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void xpath(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < cap);
}

/* The names of a directory, sorted and joined by '/', read without atime. */
static void names_of(const char *dir, char *out, size_t cap)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOATIME);
	assert_true(fd >= 0);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	char *names[64];
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 64)
		names[n++] = strdup(de->d_name);
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *tmp = names[i];
				names[i] = names[j];
				names[j] = tmp;
			}
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		strncat(out, names[i], cap - strlen(out) - 2);
		strcat(out, "/");
		free(names[i]);
	}
}

struct snap {
	struct stat canary, cdir, outside, base;
	char content[256];
	ssize_t xattrs;
	char names_outside[1024], names_cdir[1024], names_base[1024];
};

static void take_snap(struct snap *s)
{
	memset(s, 0, sizeof *s);
	assert_int_equal(lstat(canary, &s->canary), 0);
	assert_int_equal(lstat(cdir, &s->cdir), 0);
	assert_int_equal(lstat(outside, &s->outside), 0);
	assert_int_equal(lstat(base, &s->base), 0);
	int fd = open(canary, O_RDONLY | O_NOATIME);
	assert_true(fd >= 0);
	ssize_t n = read(fd, s->content, sizeof s->content - 1);
	close(fd);
	assert_true(n >= 0);
	s->xattrs = llistxattr(canary, NULL, 0);
	names_of(outside, s->names_outside, sizeof s->names_outside);
	names_of(cdir, s->names_cdir, sizeof s->names_cdir);
	names_of(base, s->names_base, sizeof s->names_base);
}

static struct snap baseline;

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_nlink == b->st_nlink &&
	       a->st_uid == b->st_uid && a->st_gid == b->st_gid && a->st_size == b->st_size &&
	       same_time(a->st_mtim, b->st_mtim) && same_time(a->st_ctim, b->st_ctim) &&
	       same_time(a->st_atim, b->st_atim);
}

/* Fails the test when anything outside the export changed or was read. */
static void check_canary_at(int line)
{
	struct snap now;
	take_snap(&now);
	const char *what = NULL;
	if (strcmp(now.content, SECRET) != 0)
		what = "the canary's content";
	else if (!same_stat(&now.canary, &baseline.canary))
		what = "the canary's attributes (mode, owner, size, times, links)";
	else if (now.xattrs != baseline.xattrs)
		what = "the canary's xattrs";
	else if (!same_stat(&now.cdir, &baseline.cdir))
		what = "the canary directory";
	else if (!same_stat(&now.outside, &baseline.outside))
		what = "the outside directory";
	else if (strcmp(now.names_outside, baseline.names_outside) != 0)
		what = "the names in the outside directory";
	else if (strcmp(now.names_cdir, baseline.names_cdir) != 0)
		what = "the names in the canary directory";
	else if (strcmp(now.names_base, baseline.names_base) != 0)
		what = "the names beside the export";
	if (what)
		fail_msg("line %d: %s changed or was read", line, what);
}
#define CHECK() check_canary_at(__LINE__)

static void make_socket_file(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	assert_true(strlen(path) < sizeof un.sun_path);
	memcpy(un.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof un), 0);
	close(fd);
}

static void build_tree(void)
{
	char p[256], t[256];
	xpath(export_dir, sizeof export_dir, base, "export");
	xpath(outside, sizeof outside, base, "outside");
	xpath(canary, sizeof canary, outside, "canary");
	xpath(cdir, sizeof cdir, outside, "cdir");
	assert_int_equal(mkdir(export_dir, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(mkdir(cdir, 0755), 0);
	put(canary, SECRET, 0640);
	xpath(p, sizeof p, outside, OUT_NAME);
	put(p, SECRET, 0644);
	xpath(p, sizeof p, cdir, CDIR_NAME);
	put(p, SECRET, 0644);
	xpath(p, sizeof p, outside, "linked");
	put(p, LINKED_DATA, 0644);

	/* symbolic links out: absolute, relative, chained, to directories */
	xpath(p, sizeof p, export_dir, "abs");
	assert_int_equal(symlink(canary, p), 0);
	xpath(p, sizeof p, export_dir, "rel");
	assert_int_equal(symlink("../outside/canary", p), 0);
	xpath(p, sizeof p, export_dir, "chain1");
	assert_int_equal(symlink("chain2", p), 0);
	xpath(p, sizeof p, export_dir, "chain2");
	assert_int_equal(symlink("./chain3", p), 0);
	xpath(p, sizeof p, export_dir, "chain3");
	assert_int_equal(symlink("../outside/canary", p), 0);
	xpath(p, sizeof p, export_dir, "dirlink");
	assert_int_equal(symlink(outside, p), 0);
	xpath(p, sizeof p, export_dir, "reldir");
	assert_int_equal(symlink("../outside", p), 0);
	xpath(p, sizeof p, export_dir, "mid");
	assert_int_equal(symlink("../outside/cdir", p), 0);
	xpath(p, sizeof p, export_dir, "dangle");
	assert_int_equal(symlink("../outside/newfile", p), 0);
	xpath(p, sizeof p, export_dir, "dangleabs");
	xpath(t, sizeof t, outside, "newfile2");
	assert_int_equal(symlink(t, p), 0);

	/* directories inside */
	xpath(p, sizeof p, export_dir, "sub");
	assert_int_equal(mkdir(p, 0755), 0);
	xpath(p, sizeof p, export_dir, "sub/deep");
	assert_int_equal(mkdir(p, 0755), 0);
	xpath(p, sizeof p, export_dir, "sub/up");
	assert_int_equal(symlink("../../outside/canary", p), 0);
	xpath(p, sizeof p, export_dir, "sub/deep/updir");
	assert_int_equal(symlink("../../../outside", p), 0);
	xpath(p, sizeof p, export_dir, "pub");
	assert_int_equal(mkdir(p, 0777), 0);
	assert_int_equal(chmod(p, 0777), 0);
	xpath(p, sizeof p, export_dir, "plain");
	put(p, HARMLESS, 0644);

	/* the race: d is a directory, s a link out, swapped while clients walk */
	xpath(p, sizeof p, export_dir, "d");
	assert_int_equal(mkdir(p, 0755), 0);
	xpath(p, sizeof p, export_dir, "d/canary");
	put(p, HARMLESS, 0644);
	xpath(p, sizeof p, export_dir, "s");
	assert_int_equal(symlink(outside, p), 0);

	/* a hard link made on the host to a file outside (not the canary) */
	xpath(p, sizeof p, outside, "linked");
	xpath(t, sizeof t, export_dir, "hl");
	assert_int_equal(link(p, t), 0);

	/* special files */
	xpath(p, sizeof p, export_dir, "fifo");
	assert_int_equal(mkfifo(p, 0666), 0);
	xpath(p, sizeof p, export_dir, "sock");
	make_socket_file(p);
	if (as_root) {
		xpath(p, sizeof p, export_dir, "null");
		assert_int_equal(mknod(p, S_IFCHR | 0666, makedev(1, 3)), 0);
		/* a trusted xattr only root can see */
		xpath(p, sizeof p, export_dir, "plain");
		assert_int_equal(setxattr(p, "trusted.hidden", TRUSTED_VAL, strlen(TRUSTED_VAL), 0),
				 0);
	}

	/* the canary's times in the past, so relatime would show any read */
	struct timespec old[2] = { { .tv_sec = 978307200 }, { .tv_sec = 1009843200 } };
	assert_int_equal(utimensat(AT_FDCWD, canary, old, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(utimensat(AT_FDCWD, cdir, old, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(utimensat(AT_FDCWD, outside, old, AT_SYMLINK_NOFOLLOW), 0);
}

static struct boxfs_server *start_server(const char *sock, bool special)
{
	struct boxfs_hostfs_opts o = { .root = export_dir, .allow_special = special };
	char addr[160];
	snprintf(addr, sizeof addr, "unix!%s", sock);
	return serve_root(
		boxfs_hostfs_new(&o), addr,
		&(struct boxfs_server_opts){ .max_msize = 65536 + 24, .trust_uname = true });
}

static int group_setup(void **state)
{
	(void)state;
	as_root = geteuid() == 0;
	snprintf(base, sizeof base, "/tmp/boxfs-esc-XXXXXX");
	if (!mkdtemp(base))
		return -1;
	chmod(base, 0755);
	build_tree();
	xpath(sock_plain, sizeof sock_plain, base, "sock-plain");
	xpath(sock_special, sizeof sock_special, base, "sock-special");
	srv_plain = start_server(sock_plain, false);
	srv_special = start_server(sock_special, true);
	if (!srv_plain || !srv_special)
		return -1;
	take_snap(&baseline);
	return strcmp(baseline.content, SECRET) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	boxfs_server_free(srv_plain);
	boxfs_server_free(srv_special);
	rm_tree(base);
	return 0;
}

/* ---- raw 9P connections ---- */

struct tc {
	int fd;
	enum p9_dialect d;
	uint8_t *buf; /* the last reply */
	uint32_t msize;
	uint16_t tag;
};

static const uint32_t MSIZE = 65536;

static struct tc tc_open(const char *sock)
{
	struct tc t = { .d = P9_2000L, .msize = MSIZE, .tag = 1 };
	t.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof un.sun_path, "%s", sock);
	assert_int_equal(connect(t.fd, (struct sockaddr *)&un, sizeof un), 0);
	t.buf = malloc(MSIZE + 64);
	assert_non_null(t.buf);
	return t;
}

static void tc_close(struct tc *t)
{
	close(t->fd);
	free(t->buf);
}

static void tc_send(struct tc *t, struct p9_fcall *f)
{
	uint8_t out[8192];
	if (f->type != P9_Tversion)
		f->tag = t->tag++ % 60000 + 1;
	ssize_t n = p9_pack(out, sizeof out, f, t->d);
	assert_true(n > 0);
	assert_int_equal(write(t->fd, out, (size_t)n), n);
}

static int read_full(int fd, uint8_t *p, size_t n, int timeout_ms)
{
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, timeout_ms);
		if (pr == 0)
			return -ETIMEDOUT;
		assert_true(pr > 0);
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			fail_msg("the server closed the connection (%s)",
				 r < 0 ? strerror(errno) : "EOF");
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Receives one reply (within timeout_ms), checks it holds no secret. */
static int tc_recv(struct tc *t, struct p9_fcall *rx, int timeout_ms)
{
	if (read_full(t->fd, t->buf, 4, timeout_ms) < 0)
		return -ETIMEDOUT;
	ssize_t size = p9_frame_size(t->buf, 0);
	assert_true(size >= 7 && size <= MSIZE + 64);
	assert_int_equal(read_full(t->fd, t->buf + 4, (size_t)size - 4, 5000), 0);
	assert_int_equal(p9_unpack(rx, t->buf, (size_t)size, t->d), 0);
	if (memmem(t->buf, (size_t)size, MARK, strlen(MARK)))
		fail_msg("a %s reply carries a secret from outside the export",
			 p9_type_name(rx->type));
	return 0;
}

static void rpc(struct tc *t, struct p9_fcall *tx, struct p9_fcall *rx)
{
	tc_send(t, tx);
	if (tc_recv(t, rx, 10000) < 0)
		fail_msg("no answer to %s within 10 s", p9_type_name(tx->type));
	assert_int_equal(rx->tag, tx->tag);
}

static int rerr(const struct tc *t, const struct p9_fcall *rx)
{
	if (rx->type == P9_Rlerror)
		return (int)rx->rlerror.ecode;
	if (rx->type == P9_Rerror)
		return t->d == P9_2000U ? (int)rx->rerror.errnum : p9_errno(rx->rerror.ename);
	return 0;
}

/* Sends tx; 0 when the answer is its R-message, else -errno. */
static int req(struct tc *t, struct p9_fcall *tx, struct p9_fcall *rx)
{
	rpc(t, tx, rx);
	if (rx->type == tx->type + 1)
		return 0;
	int e = rerr(t, rx);
	if (rx->type != P9_Rerror && rx->type != P9_Rlerror)
		fail_msg("%s answered by %s", p9_type_name(tx->type), p9_type_name(rx->type));
	return e ? -e : -EIO;
}

static void version(struct tc *t, enum p9_dialect d)
{
	struct p9_fcall tx = { .type = P9_Tversion, .tag = P9_NOTAG }, rx;
	tx.tversion.msize = MSIZE;
	tx.tversion.version = p9_cstr(p9_dialect_name(d));
	t->d = d;
	rpc(t, &tx, &rx);
	assert_int_equal(rx.type, P9_Rversion);
	t->msize = rx.rversion.msize;
}

static int attach_as(struct tc *t, uint32_t fid, const char *uname, uint32_t n_uname)
{
	struct p9_fcall tx = { .type = P9_Tattach }, rx;
	tx.tattach = (struct p9_tattach){ .fid = fid,
					  .afid = P9_NOFID,
					  .uname = p9_cstr(uname),
					  .aname = p9_cstr(""),
					  .n_uname = n_uname };
	return req(t, &tx, &rx);
}

/* A connection in dialect d to sock, attached as fid 0 (as root when we are). */
static struct tc session_on(const char *sock, enum p9_dialect d)
{
	struct tc t = tc_open(sock);
	version(&t, d);
	assert_int_equal(attach_as(&t, 0, "root", 0), 0);
	return t;
}

static struct tc session(enum p9_dialect d)
{
	return session_on(sock_plain, d);
}

/*
 * Walks fid to newfid through n names: n when newfid now stands there, the
 * count of names walked when the walk stopped early (newfid not made), or
 * -errno when the first name failed.
 */
static int walk(struct tc *t, uint32_t fid, uint32_t newfid, int n, const char *const *names)
{
	struct p9_fcall tx = { .type = P9_Twalk }, rx;
	tx.twalk.fid = fid;
	tx.twalk.newfid = newfid;
	tx.twalk.nwname = (uint16_t)n;
	for (int i = 0; i < n; i++)
		tx.twalk.wname[i] = p9_cstr(names[i]);
	int r = req(t, &tx, &rx);
	return r < 0 ? r : rx.rwalk.nwqid;
}
#define NAMES(...)                                                                                 \
	(int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)),                \
		(const char *const[])                                                              \
	{                                                                                          \
		__VA_ARGS__                                                                        \
	}
#define WALK(t, fid, newfid, ...) walk(t, fid, newfid, NAMES(__VA_ARGS__))

/* The qids of a walk (nwqid returned), for checking where ".." went. */
static int walk_qids(struct tc *t, uint32_t fid, uint32_t newfid, int n, const char *const *names,
		     struct p9_qid *qids)
{
	struct p9_fcall tx = { .type = P9_Twalk }, rx;
	tx.twalk.fid = fid;
	tx.twalk.newfid = newfid;
	tx.twalk.nwname = (uint16_t)n;
	for (int i = 0; i < n; i++)
		tx.twalk.wname[i] = p9_cstr(names[i]);
	int r = req(t, &tx, &rx);
	if (r < 0)
		return r;
	for (int i = 0; i < rx.rwalk.nwqid; i++)
		qids[i] = rx.rwalk.wqid[i];
	return rx.rwalk.nwqid;
}

static int clunk(struct tc *t, uint32_t fid)
{
	struct p9_fcall tx = { .type = P9_Tclunk, .tclunk = { .fid = fid } }, rx;
	return req(t, &tx, &rx);
}

/* Opens fid for reading (Tlopen or Topen as the dialect has it). */
static int open_fid(struct tc *t, uint32_t fid, bool write)
{
	struct p9_fcall tx = { 0 }, rx;
	if (t->d == P9_2000L) {
		tx.type = P9_Tlopen;
		tx.tlopen = (struct p9_tlopen){ .fid = fid, .flags = write ? O_RDWR : O_RDONLY };
	} else {
		tx.type = P9_Topen;
		tx.topen = (struct p9_topen){ .fid = fid, .mode = write ? P9_ORDWR : P9_OREAD };
	}
	return req(t, &tx, &rx);
}

/* Reads at 0 (the reply is scanned for secrets): the count or -errno. */
static int read_fid(struct tc *t, uint32_t fid, char *out, size_t cap)
{
	struct p9_fcall tx = { .type = P9_Tread }, rx;
	tx.tread = (struct p9_tread){ .fid = fid, .offset = 0, .count = 4096 };
	int r = req(t, &tx, &rx);
	if (r < 0)
		return r;
	if (out) {
		size_t n = rx.rread.count < cap - 1 ? rx.rread.count : cap - 1;
		memcpy(out, rx.rread.data, n);
		out[n] = '\0';
	}
	return (int)rx.rread.count;
}

/* Lists a directory fid to the end (Treaddir, or Tread of stat records). */
static int list_fid(struct tc *t, uint32_t fid)
{
	uint64_t off = 0;
	for (int i = 0; i < 1000; i++) {
		struct p9_fcall tx = { .type = t->d == P9_2000L ? P9_Treaddir : P9_Tread }, rx;
		tx.tread = (struct p9_tread){ .fid = fid, .offset = off, .count = 8192 };
		int r = req(t, &tx, &rx);
		if (r < 0)
			return r;
		if (rx.rread.count == 0)
			return 0;
		if (t->d == P9_2000L) {
			struct p9_dirent de;
			size_t pos = 0;
			while (p9_dirent_next(&de, rx.rread.data, rx.rread.count, &pos) == 1)
				off = de.offset;
		} else {
			off += rx.rread.count;
		}
	}
	return -E2BIG;
}

/* Whether a directory listing of fid (opened here) names name. */
static bool lists_name(struct tc *t, uint32_t dirfid, const char *name)
{
	assert_int_equal(WALK(t, dirfid, 90, ), 0);
	assert_int_equal(open_fid(t, 90, false), 0);
	bool found = false;
	uint64_t off = 0;
	for (int i = 0; i < 1000; i++) {
		struct p9_fcall tx = { .type = t->d == P9_2000L ? P9_Treaddir : P9_Tread }, rx;
		tx.tread = (struct p9_tread){ .fid = 90, .offset = off, .count = 8192 };
		assert_int_equal(req(t, &tx, &rx), 0);
		if (rx.rread.count == 0)
			break;
		size_t pos = 0;
		if (t->d == P9_2000L) {
			struct p9_dirent de;
			while (p9_dirent_next(&de, rx.rread.data, rx.rread.count, &pos) == 1) {
				off = de.offset;
				found |= de.name.len == strlen(name) &&
					 memcmp(de.name.s, name, de.name.len) == 0;
			}
		} else {
			struct p9_stat st;
			while (p9_stat_next(&st, rx.rread.data, rx.rread.count, &pos, t->d) == 1)
				found |= st.name.len == strlen(name) &&
					 memcmp(st.name.s, name, st.name.len) == 0;
			off += rx.rread.count;
		}
	}
	clunk(t, 90);
	return found;
}

/* The server still answers a fresh connection: walk and read a file. */
static void check_alive(const char *sock)
{
	struct tc t = session_on(sock, P9_2000L);
	assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
	assert_int_equal(open_fid(&t, 1, false), 0);
	char buf[64];
	assert_int_equal(read_fid(&t, 1, buf, sizeof buf), (int)strlen(HARMLESS));
	assert_string_equal(buf, HARMLESS);
	tc_close(&t);
}

static void end_test(void)
{
	CHECK();
	check_alive(sock_plain);
	check_alive(sock_special);
	CHECK();
	if (bugs) {
		bugs = 0;
		skip();
	}
}

static const enum p9_dialect dialects[] = { P9_2000L, P9_2000U, P9_2000 };

/* ---- symbolic links that point outside ---- */

static const char *const out_links[] = { "abs", "rel", "chain1", "chain2", "chain3", "dangle" };

static void test_symlinks_raw(void **state)
{
	(void)state;
	for (size_t di = 0; di < 3; di++) {
		struct tc t = session(dialects[di]);
		for (size_t i = 0; i < sizeof out_links / sizeof out_links[0]; i++) {
			/* the link itself is served, as a link */
			assert_int_equal(WALK(&t, 0, 1, out_links[i]), 1);
			assert_true(open_fid(&t, 1, false) < 0);
			CHECK();
			assert_true(read_fid(&t, 1, NULL, 0) < 0);
			assert_true(open_fid(&t, 1, true) < 0);
			CHECK();
			/* and never walked through */
			assert_true(WALK(&t, 1, 2, "..") < 0);
			assert_true(WALK(&t, 1, 2, "canary") < 0);
			CHECK();
			assert_int_equal(clunk(&t, 1), 0);
		}
		/* links to directories: nothing below them is reachable */
		const char *const dirlinks[] = { "dirlink", "reldir", "mid", "s" };
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(WALK(&t, 0, 1, dirlinks[i]), 1);
			assert_true(WALK(&t, 1, 2, "canary") < 0);
			assert_true(WALK(&t, 1, 2, "cdir") < 0);
			assert_true(WALK(&t, 1, 2, CDIR_NAME) < 0);
			assert_true(WALK(&t, 1, 2, OUT_NAME) < 0);
			assert_true(WALK(&t, 1, 2, ".") < 0);
			assert_true(open_fid(&t, 1, false) < 0);
			assert_true(list_fid(&t, 1) < 0);
			CHECK();
			assert_int_equal(clunk(&t, 1), 0);
			/* the same in one walk: it stops at the link */
			assert_true(WALK(&t, 0, 2, dirlinks[i], "canary") < 2);
			assert_true(WALK(&t, 0, 2, dirlinks[i], "cdir", CDIR_NAME) < 2);
			CHECK();
		}
		/* a link named like a directory in the middle of a walk */
		assert_true(WALK(&t, 0, 2, "sub", "deep", "updir", "canary") < 4);
		assert_true(WALK(&t, 0, 2, "sub", "..", "dirlink", "cdir") < 4);
		assert_true(WALK(&t, 0, 2, "mid", CDIR_NAME) < 2);
		assert_true(WALK(&t, 0, 2, "sub", "up", "..", "..") < 4);
		CHECK();
		tc_close(&t);
	}
	end_test();
}

/* What may be done to a link fid itself: all harmless to its target. */
static void test_symlink_fid_ops(void **state)
{
	(void)state;
	struct tc t = session(P9_2000L);
	struct p9_fcall tx, rx;
	const char *const links[] = { "abs", "rel", "chain1", "dirlink" };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(WALK(&t, 0, 1, links[i]), 1);
		/* Tsetattr: mode, size, times; each refused or done to the link */
		const uint32_t valids[] = {
			P9_SETATTR_MODE,
			P9_SETATTR_SIZE,
			P9_SETATTR_MTIME | P9_SETATTR_MTIME_SET,
			P9_SETATTR_ATIME | P9_SETATTR_MTIME,
			P9_SETATTR_CTIME,
		};
		for (size_t v = 0; v < sizeof valids / sizeof valids[0]; v++) {
			tx = (struct p9_fcall){ .type = P9_Tsetattr };
			tx.tsetattr = (struct p9_tsetattr){ .fid = 1,
							    .valid = valids[v],
							    .mode = 0777,
							    .size = 0,
							    .mtime_sec = 5 };
			int r = req(&t, &tx, &rx);
			/* times are set on the link itself; CHECK() sees the target */
			if (valids[v] == P9_SETATTR_MODE || valids[v] == P9_SETATTR_SIZE)
				assert_true(r < 0);
			CHECK();
		}
		/* xattrs through the link land on the link or nowhere */
		tx = (struct p9_fcall){ .type = P9_Txattrcreate };
		tx.txattrcreate = (struct p9_txattrcreate){ .fid = 1,
							    .name = p9_cstr("user.escape"),
							    .attr_size = 3 };
		assert_int_equal(WALK(&t, 1, 3, ), 0);
		tx.txattrcreate.fid = 3;
		if (req(&t, &tx, &rx) == 0) {
			tx = (struct p9_fcall){ .type = P9_Twrite };
			tx.twrite =
				(struct p9_twrite){ .fid = 3, .count = 3, .data = (void *)"abc" };
			req(&t, &tx, &rx);
		}
		clunk(&t, 3);
		CHECK();
		tx = (struct p9_fcall){ .type = P9_Txattrwalk };
		tx.txattrwalk =
			(struct p9_txattrwalk){ .fid = 1, .newfid = 3, .name = p9_cstr("") };
		if (req(&t, &tx, &rx) == 0)
			clunk(&t, 3);
		/* fsync, statfs, getattr answer about the link */
		tx = (struct p9_fcall){ .type = P9_Tfsync, .tfsync = { .fid = 1 } };
		req(&t, &tx, &rx);
		tx = (struct p9_fcall){ .type = P9_Tgetattr };
		tx.tgetattr = (struct p9_tgetattr){ .fid = 1, .request_mask = P9_GETATTR_ALL };
		assert_int_equal(req(&t, &tx, &rx), 0);
		assert_true(S_ISLNK(rx.rgetattr.mode));
		assert_true(rx.rgetattr.qid.path != baseline.canary.st_ino);
		/* Tlink of the link fid: a second name of the link, not of its target */
		tx = (struct p9_fcall){ .type = P9_Tlink };
		tx.tlink = (struct p9_tlink){ .dfid = 0, .fid = 1, .name = p9_cstr("linkcopy") };
		if (req(&t, &tx, &rx) == 0) {
			char p[256];
			struct stat st;
			xpath(p, sizeof p, export_dir, "linkcopy");
			assert_int_equal(lstat(p, &st), 0);
			assert_true(S_ISLNK(st.st_mode));
			assert_int_equal(unlink(p), 0);
		}
		CHECK();
		/* Tlock needs an open file: refused */
		tx = (struct p9_fcall){ .type = P9_Tlock };
		tx.tlock = (struct p9_tlock){ .fid = 1, .type = P9_LOCK_TYPE_WRLCK };
		assert_true(req(&t, &tx, &rx) < 0);
		assert_int_equal(clunk(&t, 1), 0);
		CHECK();
	}
	tc_close(&t);

	/* 9P2000.u and 9P2000: Twstat of a link fid */
	for (size_t di = 1; di < 3; di++) {
		t = session(dialects[di]);
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(WALK(&t, 0, 1, links[i]), 1);
			struct p9_stat st = { .type = 0xffff,
					      .dev = ~0u,
					      .qid = { 0xff, ~0u, ~0ull },
					      .mode = ~0u,
					      .atime = ~0u,
					      .mtime = ~0u,
					      .length = ~0ull,
					      .n_uid = ~0u,
					      .n_gid = ~0u,
					      .n_muid = ~0u };
			struct p9_stat s1 = st;
			s1.mode = 0777 | (dialects[di] == P9_2000U ? P9_DMSYMLINK : 0);
			tx = (struct p9_fcall){ .type = P9_Twstat,
						.twstat = { .fid = 1, .stat = s1 } };
			assert_true(req(&t, &tx, &rx) < 0);
			CHECK();
			s1 = st;
			s1.length = 0;
			tx = (struct p9_fcall){ .type = P9_Twstat,
						.twstat = { .fid = 1, .stat = s1 } };
			assert_true(req(&t, &tx, &rx) < 0);
			CHECK();
			s1 = st;
			s1.mtime = 5; /* set on the link itself, if at all */
			tx = (struct p9_fcall){ .type = P9_Twstat,
						.twstat = { .fid = 1, .stat = s1 } };
			req(&t, &tx, &rx);
			CHECK();
			/* Tstat: the .u extension is the link's text, nothing more */
			tx = (struct p9_fcall){ .type = P9_Tstat, .tstat = { .fid = 1 } };
			assert_int_equal(req(&t, &tx, &rx), 0);
			assert_true(rx.rstat.stat.qid.path != baseline.canary.st_ino);
			assert_int_equal(clunk(&t, 1), 0);
		}
		tc_close(&t);
	}
	end_test();
}

/* Creating anything through a link to a directory outside. */
static void test_create_through_links(void **state)
{
	(void)state;
	const char *const dirlinks[] = { "dirlink", "reldir", "mid", "s" };
	for (size_t di = 0; di < 3; di++) {
		struct tc t = session(dialects[di]);
		struct p9_fcall tx, rx;
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(WALK(&t, 0, 1, dirlinks[i]), 1);
			if (t.d == P9_2000L) {
				assert_int_equal(WALK(&t, 1, 2, ), 0);
				tx = (struct p9_fcall){ .type = P9_Tlcreate };
				tx.tlcreate = (struct p9_tlcreate){ .fid = 2,
								    .name = p9_cstr("planted"),
								    .flags = O_RDWR,
								    .mode = 0644 };
				assert_true(req(&t, &tx, &rx) < 0);
				clunk(&t, 2);
				tx = (struct p9_fcall){ .type = P9_Tmkdir };
				tx.tmkdir = (struct p9_tmkdir){ .dfid = 1,
								.name = p9_cstr("planted"),
								.mode = 0755 };
				assert_true(req(&t, &tx, &rx) < 0);
				tx = (struct p9_fcall){ .type = P9_Tsymlink };
				tx.tsymlink = (struct p9_tsymlink){ .fid = 1,
								    .name = p9_cstr("planted"),
								    .symtgt = p9_cstr("x") };
				assert_true(req(&t, &tx, &rx) < 0);
				tx = (struct p9_fcall){ .type = P9_Tmknod };
				tx.tmknod = (struct p9_tmknod){ .dfid = 1,
								.name = p9_cstr("planted"),
								.mode = S_IFREG | 0644 };
				assert_true(req(&t, &tx, &rx) < 0);
				assert_int_equal(WALK(&t, 0, 2, "plain"), 1);
				tx = (struct p9_fcall){ .type = P9_Tlink };
				tx.tlink = (struct p9_tlink){ .dfid = 1,
							      .fid = 2,
							      .name = p9_cstr("planted") };
				assert_true(req(&t, &tx, &rx) < 0);
				/* renames into and out of it */
				tx = (struct p9_fcall){ .type = P9_Trenameat };
				tx.trenameat =
					(struct p9_trenameat){ .olddirfid = 0,
							       .oldname = p9_cstr("plain"),
							       .newdirfid = 1,
							       .newname = p9_cstr("planted") };
				assert_true(req(&t, &tx, &rx) < 0);
				tx.trenameat =
					(struct p9_trenameat){ .olddirfid = 1,
							       .oldname = p9_cstr("canary"),
							       .newdirfid = 0,
							       .newname = p9_cstr("stolen") };
				assert_true(req(&t, &tx, &rx) < 0);
				tx.trenameat =
					(struct p9_trenameat){ .olddirfid = 1,
							       .oldname = p9_cstr("cdir"),
							       .newdirfid = 0,
							       .newname = p9_cstr("stolen") };
				assert_true(req(&t, &tx, &rx) < 0);
				tx = (struct p9_fcall){ .type = P9_Trename };
				tx.trename = (struct p9_trename){ .fid = 2,
								  .dfid = 1,
								  .name = p9_cstr("planted") };
				assert_true(req(&t, &tx, &rx) < 0);
				clunk(&t, 2);
				tx = (struct p9_fcall){ .type = P9_Tunlinkat };
				tx.tunlinkat = (struct p9_tunlinkat){ .dirfid = 1,
								      .name = p9_cstr("canary") };
				assert_true(req(&t, &tx, &rx) < 0);
				tx.tunlinkat = (struct p9_tunlinkat){ .dirfid = 1,
								      .name = p9_cstr("cdir"),
								      .flags = AT_REMOVEDIR };
				assert_true(req(&t, &tx, &rx) < 0);
				tx = (struct p9_fcall){ .type = P9_Tstatfs,
							.tstatfs = { .fid = 1 } };
				req(&t, &tx, &rx);
			} else {
				const uint32_t perms[] = { 0644, P9_DMDIR | 0755,
							   P9_DMSYMLINK | 0777,
							   P9_DMNAMEDPIPE | 0644 };
				for (size_t p = 0; p < 4; p++) {
					assert_int_equal(WALK(&t, 1, 2, ), 0);
					tx = (struct p9_fcall){ .type = P9_Tcreate };
					tx.tcreate = (struct p9_tcreate){
						.fid = 2,
						.name = p9_cstr("planted"),
						.perm = perms[p],
						.mode = perms[p] & P9_DMDIR ? P9_OREAD : P9_ORDWR,
						.extension = p9_cstr("x"),
					};
					assert_true(req(&t, &tx, &rx) < 0);
					clunk(&t, 2);
				}
				/* Tremove of a link fid removes the link only */
			}
			CHECK();
			assert_int_equal(clunk(&t, 1), 0);
		}
		/* Tremove of a fid at a link: the link goes, not its target */
		if (t.d != P9_2000L) {
			char p[256];
			xpath(p, sizeof p, export_dir, "tmplink");
			assert_int_equal(symlink("../outside/canary", p), 0);
			assert_int_equal(WALK(&t, 0, 1, "tmplink"), 1);
			tx = (struct p9_fcall){ .type = P9_Tremove, .tremove = { .fid = 1 } };
			assert_int_equal(req(&t, &tx, &rx), 0);
			struct stat st;
			assert_int_equal(lstat(p, &st), -1);
			CHECK();
		}
		tc_close(&t);
	}
	end_test();
}

/* Creating over a dangling link that points outside must not follow it. */
static void test_create_over_dangling(void **state)
{
	(void)state;
	char p[256], q[256];
	xpath(p, sizeof p, outside, "newfile");
	xpath(q, sizeof q, outside, "newfile2");
	for (size_t di = 0; di < 3; di++) {
		struct tc t = session(dialects[di]);
		struct p9_fcall tx, rx;
		const char *const names[] = { "dangle", "dangleabs" };
		for (size_t i = 0; i < 2; i++) {
			assert_int_equal(WALK(&t, 0, 1, ), 0);
			if (t.d == P9_2000L) {
				const uint32_t flags[] = { O_RDWR, O_WRONLY | O_TRUNC,
							   O_RDWR | O_EXCL, O_WRONLY | O_APPEND };
				for (size_t f = 0; f < 4; f++) {
					tx = (struct p9_fcall){ .type = P9_Tlcreate };
					tx.tlcreate =
						(struct p9_tlcreate){ .fid = 1,
								      .name = p9_cstr(names[i]),
								      .flags = flags[f],
								      .mode = 0644 };
					assert_true(req(&t, &tx, &rx) < 0);
				}
				tx = (struct p9_fcall){ .type = P9_Tmkdir };
				tx.tmkdir = (struct p9_tmkdir){ .dfid = 0,
								.name = p9_cstr(names[i]),
								.mode = 0755 };
				assert_true(req(&t, &tx, &rx) < 0);
				tx = (struct p9_fcall){ .type = P9_Tmknod };
				tx.tmknod = (struct p9_tmknod){ .dfid = 0,
								.name = p9_cstr(names[i]),
								.mode = S_IFREG | 0644 };
				assert_true(req(&t, &tx, &rx) < 0);
				tx = (struct p9_fcall){ .type = P9_Tsymlink };
				tx.tsymlink = (struct p9_tsymlink){ .fid = 0,
								    .name = p9_cstr(names[i]),
								    .symtgt = p9_cstr("x") };
				assert_true(req(&t, &tx, &rx) < 0);
			} else {
				tx = (struct p9_fcall){ .type = P9_Tcreate };
				tx.tcreate = (struct p9_tcreate){ .fid = 1,
								  .name = p9_cstr(names[i]),
								  .perm = 0644,
								  .mode = P9_OWRITE | P9_OTRUNC };
				assert_true(req(&t, &tx, &rx) < 0);
			}
			clunk(&t, 1);
			struct stat st;
			assert_int_equal(lstat(p, &st), -1);
			assert_int_equal(lstat(q, &st), -1);
			CHECK();
		}
		tc_close(&t);
	}
	end_test();
}

/* ---- ".." ---- */

static void test_dotdot(void **state)
{
	(void)state;
	char p[256];
	struct stat root_st, sub_st, deep_st;
	assert_int_equal(stat(export_dir, &root_st), 0);
	xpath(p, sizeof p, export_dir, "sub");
	assert_int_equal(stat(p, &sub_st), 0);
	xpath(p, sizeof p, export_dir, "sub/deep");
	assert_int_equal(stat(p, &deep_st), 0);
	const char *dd[16];
	for (int i = 0; i < 16; i++)
		dd[i] = "..";
	for (size_t di = 0; di < 3; di++) {
		struct tc t = session(dialects[di]);
		struct p9_qid q[16];
		/* 16 ".." from the root: the root every time */
		assert_int_equal(walk_qids(&t, 0, 1, 16, dd, q), 16);
		for (int i = 0; i < 16; i++)
			assert_int_equal(q[i].path, root_st.st_ino);
		assert_true(WALK(&t, 1, 2, "outside") < 0);
		assert_true(WALK(&t, 1, 2, "outside", "canary") < 0);
		assert_int_equal(WALK(&t, 1, 2, "plain"), 1);
		clunk(&t, 2);
		clunk(&t, 1);
		/* 15 ".." then "outside" in one message */
		const char *mix[16];
		for (int i = 0; i < 15; i++)
			mix[i] = "..";
		mix[15] = "outside";
		assert_int_equal(walk_qids(&t, 0, 1, 16, mix, q), 15);
		/* ".."x20 from sub/deep, in two walks, then "outside" */
		assert_int_equal(WALK(&t, 0, 1, "sub", "deep"), 2);
		assert_int_equal(walk_qids(&t, 1, 2, 16, dd, q), 16);
		assert_int_equal(q[0].path, sub_st.st_ino);
		for (int i = 1; i < 16; i++)
			assert_int_equal(q[i].path, root_st.st_ino);
		assert_int_equal(walk_qids(&t, 2, 3, 4, dd, q), 4);
		for (int i = 0; i < 4; i++)
			assert_int_equal(q[i].path, root_st.st_ino);
		assert_true(WALK(&t, 3, 4, "outside") < 0);
		assert_true(WALK(&t, 3, 4, "..", "outside", "canary") < 3);
		/* listing what ".." reached names nothing outside */
		assert_false(lists_name(&t, 3, OUT_NAME));
		assert_false(lists_name(&t, 3, "outside"));
		assert_true(lists_name(&t, 3, "plain"));
		clunk(&t, 3);
		clunk(&t, 2);
		/* ".." in place, on the fid itself */
		assert_int_equal(WALK(&t, 1, 1, "..", "..", "..", ".."), 4);
		assert_true(WALK(&t, 1, 5, "outside") < 0);
		clunk(&t, 1);
		/* a name holding "/" or ".." never walks */
		assert_true(WALK(&t, 0, 1, "../outside") < 0);
		assert_true(WALK(&t, 0, 1, "../outside/canary") < 0);
		assert_true(WALK(&t, 0, 1, "sub/../../outside") < 0);
		assert_true(WALK(&t, 0, 1, "/") < 0);
		assert_true(WALK(&t, 0, 1, "") < 0);
		assert_true(WALK(&t, 0, 1, "...") < 0);
		/* an embedded NUL */
		struct p9_fcall tx = { .type = P9_Twalk }, rx;
		tx.twalk = (struct p9_twalk){ .fid = 0, .newfid = 1, .nwname = 1 };
		tx.twalk.wname[0] = (struct p9_str){ .s = "..\0outside", .len = 10 };
		assert_true(req(&t, &tx, &rx) < 0);
		tx.twalk.wname[0] = (struct p9_str){ .s = "plain\0", .len = 6 };
		assert_true(req(&t, &tx, &rx) < 0);
		/* walking ".." off a file */
		assert_true(WALK(&t, 0, 1, "plain", "..") < 2);
		assert_true(WALK(&t, 0, 1, "hl", "..") < 2);
		CHECK();
		tc_close(&t);
	}
	/* a directory moved away on the host: ".." from it answers nothing */
	struct tc t = session(P9_2000L);
	char from[256], to[256];
	xpath(from, sizeof from, export_dir, "sub/movedir");
	assert_int_equal(mkdir(from, 0755), 0);
	assert_int_equal(WALK(&t, 0, 1, "sub", "movedir"), 2);
	xpath(to, sizeof to, base, "movedir");
	assert_int_equal(rename(from, to), 0);
	struct p9_qid q[4];
	const char *const up[] = { "..", "..", "outside" };
	int r = walk_qids(&t, 1, 2, 3, up, q);
	assert_int_equal(rename(to, from), 0);
	assert_int_equal(rmdir(from), 0);
	assert_true(r < 3);
	if (r > 0)
		assert_true(q[0].path != baseline.base.st_ino);
	clunk(&t, 1);
	tc_close(&t);
	end_test();
}

/* ---- names holding "/", NUL, ".", ".." or nothing ---- */

static const struct p9_str bad_names[] = {
	{ "", 0 },    { ".", 1 },  { "..", 2 }, { "../outside/x", 12 }, { "../x", 4 },
	{ "a/b", 3 }, { "/x", 2 }, { "x/", 2 }, { "x\0y", 3 },		{ "..\0", 3 },
};
enum { NBAD = sizeof bad_names / sizeof bad_names[0] };

static void test_bad_names(void **state)
{
	(void)state;
	struct p9_fcall tx, rx;
	struct tc t = session(P9_2000L);
	for (size_t i = 0; i < NBAD; i++) {
		struct p9_str n = bad_names[i];
		assert_int_equal(WALK(&t, 0, 1, ), 0);
		tx = (struct p9_fcall){ .type = P9_Tlcreate };
		tx.tlcreate =
			(struct p9_tlcreate){ .fid = 1, .name = n, .flags = O_RDWR, .mode = 0644 };
		assert_true(req(&t, &tx, &rx) < 0);
		clunk(&t, 1);
		tx = (struct p9_fcall){ .type = P9_Tmkdir };
		tx.tmkdir = (struct p9_tmkdir){ .dfid = 0, .name = n, .mode = 0755 };
		assert_true(req(&t, &tx, &rx) < 0);
		tx = (struct p9_fcall){ .type = P9_Tsymlink };
		tx.tsymlink =
			(struct p9_tsymlink){ .fid = 0, .name = n, .symtgt = p9_cstr("plain") };
		assert_true(req(&t, &tx, &rx) < 0);
		tx = (struct p9_fcall){ .type = P9_Tmknod };
		tx.tmknod = (struct p9_tmknod){ .dfid = 0, .name = n, .mode = S_IFREG | 0644 };
		assert_true(req(&t, &tx, &rx) < 0);
		assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
		tx = (struct p9_fcall){ .type = P9_Tlink };
		tx.tlink = (struct p9_tlink){ .dfid = 0, .fid = 1, .name = n };
		assert_true(req(&t, &tx, &rx) < 0);
		tx = (struct p9_fcall){ .type = P9_Trename };
		tx.trename = (struct p9_trename){ .fid = 1, .dfid = 0, .name = n };
		assert_true(req(&t, &tx, &rx) < 0);
		clunk(&t, 1);
		tx = (struct p9_fcall){ .type = P9_Trenameat };
		tx.trenameat = (struct p9_trenameat){
			.olddirfid = 0, .oldname = p9_cstr("plain"), .newdirfid = 0, .newname = n
		};
		assert_true(req(&t, &tx, &rx) < 0);
		tx.trenameat = (struct p9_trenameat){
			.olddirfid = 0, .oldname = n, .newdirfid = 0, .newname = p9_cstr("renamed")
		};
		assert_true(req(&t, &tx, &rx) < 0);
		tx = (struct p9_fcall){ .type = P9_Tunlinkat };
		tx.tunlinkat = (struct p9_tunlinkat){ .dirfid = 0, .name = n };
		assert_true(req(&t, &tx, &rx) < 0);
		tx.tunlinkat.flags = AT_REMOVEDIR;
		assert_true(req(&t, &tx, &rx) < 0);
		CHECK();
	}
	/* Tsymlink targets are only text: a target holding a NUL is refused */
	tx = (struct p9_fcall){ .type = P9_Tsymlink };
	tx.tsymlink = (struct p9_tsymlink){ .fid = 0,
					    .name = p9_cstr("nultarget"),
					    .symtgt = { "../outside\0/canary", 18 } };
	assert_true(req(&t, &tx, &rx) < 0);
	/* Txattrcreate/Txattrwalk names with NUL */
	tx = (struct p9_fcall){ .type = P9_Txattrwalk };
	tx.txattrwalk = (struct p9_txattrwalk){ .fid = 0,
						.newfid = 1,
						.name = { "user.a\0trusted.b", 16 } };
	assert_true(req(&t, &tx, &rx) < 0);
	tc_close(&t);

	for (size_t di = 1; di < 3; di++) {
		t = session(dialects[di]);
		for (size_t i = 0; i < NBAD; i++) {
			const uint32_t perms[] = { 0644, P9_DMDIR | 0755, P9_DMSYMLINK | 0777 };
			for (size_t p = 0; p < 3; p++) {
				assert_int_equal(WALK(&t, 0, 1, ), 0);
				tx = (struct p9_fcall){ .type = P9_Tcreate };
				tx.tcreate = (struct p9_tcreate){
					.fid = 1,
					.name = bad_names[i],
					.perm = perms[p],
					.mode = perms[p] & P9_DMDIR ? P9_OREAD : P9_ORDWR,
					.extension = p9_cstr("plain"),
				};
				assert_true(req(&t, &tx, &rx) < 0);
				clunk(&t, 1);
			}
			/* Twstat renames */
			assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
			struct p9_stat st = { .type = 0xffff,
					      .dev = ~0u,
					      .qid = { 0xff, ~0u, ~0ull },
					      .mode = ~0u,
					      .atime = ~0u,
					      .mtime = ~0u,
					      .length = ~0ull,
					      .name = bad_names[i],
					      .n_uid = ~0u,
					      .n_gid = ~0u,
					      .n_muid = ~0u };
			tx = (struct p9_fcall){ .type = P9_Twstat,
						.twstat = { .fid = 1, .stat = st } };
			int r = req(&t, &tx, &rx);
			clunk(&t, 1);
			if (bad_names[i].len > 0)
				assert_true(r < 0);
			CHECK();
		}
		tc_close(&t);
	}
	/* nothing new appeared in the export either */
	char p[256];
	struct stat st;
	xpath(p, sizeof p, export_dir, "renamed");
	assert_int_equal(lstat(p, &st), -1);
	xpath(p, sizeof p, export_dir, "plain");
	assert_int_equal(lstat(p, &st), 0);
	xpath(p, sizeof p, base, "x");
	assert_int_equal(lstat(p, &st), -1);
	end_test();
}

/* ---- renames ---- */

static void test_rename_tricks(void **state)
{
	(void)state;
	struct p9_fcall tx, rx;
	struct tc t = session(P9_2000L);
	/* a directory into its own subtree */
	assert_int_equal(WALK(&t, 0, 1, "sub", "deep"), 2);
	tx = (struct p9_fcall){ .type = P9_Trenameat };
	tx.trenameat = (struct p9_trenameat){ .olddirfid = 0,
					      .oldname = p9_cstr("sub"),
					      .newdirfid = 1,
					      .newname = p9_cstr("loop") };
	assert_int_equal(req(&t, &tx, &rx), -EINVAL);
	assert_int_equal(WALK(&t, 0, 2, "sub"), 1);
	tx = (struct p9_fcall){ .type = P9_Trename };
	tx.trename = (struct p9_trename){ .fid = 2, .dfid = 1, .name = p9_cstr("loop") };
	assert_int_equal(req(&t, &tx, &rx), -EINVAL);
	clunk(&t, 2);
	clunk(&t, 1);
	/* the root: it has no name to rename */
	tx = (struct p9_fcall){ .type = P9_Trename };
	tx.trename = (struct p9_trename){ .fid = 0, .dfid = 0, .name = p9_cstr("newroot") };
	assert_true(req(&t, &tx, &rx) < 0);
	assert_int_equal(WALK(&t, 0, 1, "sub", ".."), 2);
	tx.trename = (struct p9_trename){ .fid = 1, .dfid = 0, .name = p9_cstr("newroot") };
	assert_true(req(&t, &tx, &rx) < 0);
	tx = (struct p9_fcall){ .type = P9_Tunlinkat };
	tx.tunlinkat =
		(struct p9_tunlinkat){ .dirfid = 1, .name = p9_cstr(".."), .flags = AT_REMOVEDIR };
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 1);
	assert_int_equal(WALK(&t, 0, 1, ".."), 1);
	tx = (struct p9_fcall){ .type = P9_Trename };
	tx.trename = (struct p9_trename){ .fid = 1, .dfid = 0, .name = p9_cstr("newroot") };
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 1);
	/* a file over a directory link, a link over a directory */
	tx = (struct p9_fcall){ .type = P9_Trenameat };
	tx.trenameat = (struct p9_trenameat){
		.olddirfid = 0, .oldname = p9_cstr("rel"), .newdirfid = 0, .newname = p9_cstr("sub")
	};
	assert_true(req(&t, &tx, &rx) < 0);
	/* a link renamed inside is still only a link */
	tx.trenameat = (struct p9_trenameat){ .olddirfid = 0,
					      .oldname = p9_cstr("dirlink"),
					      .newdirfid = 0,
					      .newname = p9_cstr("dirlink2") };
	assert_int_equal(req(&t, &tx, &rx), 0);
	assert_true(WALK(&t, 0, 1, "dirlink2", "canary") < 2);
	tx.trenameat = (struct p9_trenameat){ .olddirfid = 0,
					      .oldname = p9_cstr("dirlink2"),
					      .newdirfid = 0,
					      .newname = p9_cstr("dirlink") };
	assert_int_equal(req(&t, &tx, &rx), 0);
	/* a directory moved under a link: refused, the link is no directory */
	assert_int_equal(WALK(&t, 0, 1, "dirlink"), 1);
	tx.trenameat = (struct p9_trenameat){
		.olddirfid = 0, .oldname = p9_cstr("sub"), .newdirfid = 1, .newname = p9_cstr("sub")
	};
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 1);
	CHECK();
	tc_close(&t);

	/* 9P2000.u and 9P2000: Twstat renames of the root and of ".." */
	for (size_t di = 1; di < 3; di++) {
		t = session(dialects[di]);
		struct p9_stat st = { .type = 0xffff,
				      .dev = ~0u,
				      .qid = { 0xff, ~0u, ~0ull },
				      .mode = ~0u,
				      .atime = ~0u,
				      .mtime = ~0u,
				      .length = ~0ull,
				      .name = p9_cstr("newroot"),
				      .n_uid = ~0u,
				      .n_gid = ~0u,
				      .n_muid = ~0u };
		tx = (struct p9_fcall){ .type = P9_Twstat, .twstat = { .fid = 0, .stat = st } };
		assert_true(req(&t, &tx, &rx) < 0);
		assert_int_equal(WALK(&t, 0, 1, "sub", ".."), 2);
		tx.twstat.fid = 1;
		assert_true(req(&t, &tx, &rx) < 0);
		tx = (struct p9_fcall){ .type = P9_Tremove, .tremove = { .fid = 1 } };
		assert_true(req(&t, &tx, &rx) < 0);
		tx = (struct p9_fcall){ .type = P9_Tremove, .tremove = { .fid = 0 } };
		assert_true(req(&t, &tx, &rx) < 0);
		CHECK();
		tc_close(&t);
	}
	struct stat st;
	assert_int_equal(stat(export_dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	end_test();
}

/* ---- hard links ---- */

static void test_hardlinks(void **state)
{
	(void)state;
	struct p9_fcall tx, rx;
	struct tc t = session(P9_2000L);
	/* a host hard link to a file outside is served as the regular file it is */
	assert_int_equal(WALK(&t, 0, 1, "hl"), 1);
	tx = (struct p9_fcall){ .type = P9_Tgetattr };
	tx.tgetattr = (struct p9_tgetattr){ .fid = 1, .request_mask = P9_GETATTR_ALL };
	assert_int_equal(req(&t, &tx, &rx), 0);
	assert_true(S_ISREG(rx.rgetattr.mode));
	assert_int_equal(rx.rgetattr.nlink, 2);
	assert_true(WALK(&t, 1, 2, "..") < 0);
	assert_true(WALK(&t, 1, 2, "canary") < 0);
	assert_int_equal(open_fid(&t, 1, false), 0);
	char buf[128];
	assert_int_equal(read_fid(&t, 1, buf, sizeof buf), (int)strlen(LINKED_DATA));
	assert_string_equal(buf, LINKED_DATA);
	clunk(&t, 1);
	/* Tlink of directories is refused; of the root too */
	assert_int_equal(WALK(&t, 0, 1, "sub"), 1);
	tx = (struct p9_fcall){ .type = P9_Tlink };
	tx.tlink = (struct p9_tlink){ .dfid = 0, .fid = 1, .name = p9_cstr("sublink") };
	assert_true(req(&t, &tx, &rx) < 0);
	tx.tlink = (struct p9_tlink){ .dfid = 1, .fid = 0, .name = p9_cstr("rootlink") };
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 1);
	/* Tlink of a fid reached by ".." from the root */
	assert_int_equal(WALK(&t, 0, 1, "..", ".."), 2);
	tx.tlink = (struct p9_tlink){ .dfid = 0, .fid = 1, .name = p9_cstr("uplink") };
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 1);
	/* Tlink with the directory fid and the file fid swapped */
	assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
	tx.tlink = (struct p9_tlink){ .dfid = 1, .fid = 0, .name = p9_cstr("x") };
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 1);
	CHECK();
	tc_close(&t);

	/* 9P2000.u Tcreate DMLINK: the same rules */
	t = session(P9_2000U);
	assert_int_equal(WALK(&t, 0, 1, "sub"), 1);
	assert_int_equal(WALK(&t, 0, 2, ), 0);
	tx = (struct p9_fcall){ .type = P9_Tcreate };
	tx.tcreate = (struct p9_tcreate){
		.fid = 2, .name = p9_cstr("sublink"), .perm = P9_DMLINK, .extension = p9_cstr("1")
	};
	assert_true(req(&t, &tx, &rx) < 0);
	tx.tcreate.extension = p9_cstr("0");
	assert_true(req(&t, &tx, &rx) < 0);
	tx.tcreate.extension = p9_cstr("../outside/canary");
	assert_true(req(&t, &tx, &rx) < 0);
	tx.tcreate.extension = p9_cstr("99");
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 2);
	/* a device made by Tcreate with .u extension, without allow_special */
	const char *const exts[] = { "c 1 3", "b 8 0" };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(WALK(&t, 0, 2, ), 0);
		tx.tcreate = (struct p9_tcreate){ .fid = 2,
						  .name = p9_cstr("dev"),
						  .perm = P9_DMDEVICE | 0666,
						  .extension = p9_cstr(exts[i]) };
		assert_true(req(&t, &tx, &rx) < 0);
		clunk(&t, 2);
	}
	const uint32_t specials[] = { P9_DMNAMEDPIPE, P9_DMSOCKET };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(WALK(&t, 0, 2, ), 0);
		tx.tcreate = (struct p9_tcreate){ .fid = 2,
						  .name = p9_cstr("spec"),
						  .perm = specials[i] | 0666 };
		assert_true(req(&t, &tx, &rx) < 0);
		clunk(&t, 2);
	}
	clunk(&t, 1);
	struct stat st;
	char p[256];
	xpath(p, sizeof p, export_dir, "dev");
	assert_int_equal(lstat(p, &st), -1);
	xpath(p, sizeof p, export_dir, "spec");
	assert_int_equal(lstat(p, &st), -1);
	CHECK();
	tc_close(&t);
	end_test();
}

/* ---- the race: a directory swapped for a link out while clients walk it ---- */

static atomic_bool race_stop;
static atomic_ulong race_swaps;

static void *swapper(void *arg)
{
	(void)arg;
	int dfd = open(export_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return NULL;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!atomic_load(&race_stop)) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) % 2 == 0) {
			/* the rename dance: d=dir, s=link -> d=link -> back */
			renameat(dfd, "d", dfd, "d.real");
			renameat(dfd, "s", dfd, "d");
			renameat(dfd, "d", dfd, "s");
			renameat(dfd, "d.real", dfd, "d");
		} else {
			renameat2(dfd, "s", dfd, "d", RENAME_EXCHANGE);
			renameat2(dfd, "s", dfd, "d", RENAME_EXCHANGE);
		}
		race_swaps++;
	}
	close(dfd);
	return NULL;
}

static void test_swap_race(void **state)
{
	(void)state;
	pthread_t th;
	atomic_store(&race_stop, false);
	race_swaps = 0;
	assert_int_equal(pthread_create(&th, NULL, swapper, NULL), 0);
	struct tc tl = session(P9_2000L), tu = session(P9_2000U);
	char addr[160];
	snprintf(addr, sizeof addr, "unix!%s", sock_plain);
	struct boxfs_client *c = boxfs_connect(addr, NULL);
	assert_non_null(c);
	unsigned reads = 0, tries = 0;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		tries++;
		char buf[128];
		/* raw 9P2000.L: one walk of both names, then open and read */
		if (WALK(&tl, 0, 1, "d", "canary") == 2) {
			if (open_fid(&tl, 1, false) == 0 &&
			    read_fid(&tl, 1, buf, sizeof buf) >= 0) {
				assert_string_equal(buf, HARMLESS);
				reads++;
			}
			clunk(&tl, 1);
		}
		/* the directory first, then the name in it */
		if (WALK(&tl, 0, 1, "d") == 1) {
			if (WALK(&tl, 1, 2, "canary") == 1) {
				if (open_fid(&tl, 2, false) == 0 &&
				    read_fid(&tl, 2, buf, sizeof buf) >= 0) {
					assert_string_equal(buf, HARMLESS);
					reads++;
				}
				clunk(&tl, 2);
			}
			if (open_fid(&tl, 1, false) == 0)
				list_fid(&tl, 1); /* scanned for outside names */
			clunk(&tl, 1);
		}
		/* raw 9P2000.u */
		if (WALK(&tu, 0, 1, "d", "canary") == 2) {
			if (open_fid(&tu, 1, false) == 0 &&
			    read_fid(&tu, 1, buf, sizeof buf) >= 0) {
				assert_string_equal(buf, HARMLESS);
				reads++;
			}
			clunk(&tu, 1);
		}
		/* the client library */
		struct boxfs_file *f = boxfs_open(c, "d/canary", O_RDONLY, 0);
		if (f) {
			ssize_t n = boxfs_read(f, buf, sizeof buf - 1);
			if (n >= 0) {
				buf[n] = '\0';
				assert_string_equal(buf, HARMLESS);
				reads++;
			}
			boxfs_close(f);
		}
		struct boxfs_dir *dir = boxfs_opendir(c, "d");
		if (dir) {
			struct boxfs_dirent de;
			while (boxfs_readdir(dir, &de) == 1)
				assert_null(strstr(de.name, MARK));
			boxfs_closedir(dir);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 2200);
	atomic_store(&race_stop, true);
	pthread_join(th, NULL);
	print_message("# %u attempts, %u harmless reads, %lu swaps\n", tries, reads,
		      (unsigned long)race_swaps);
	boxfs_disconnect(c);
	tc_close(&tl);
	tc_close(&tu);
	/* the tree is back as it was */
	char p[256];
	struct stat st;
	xpath(p, sizeof p, export_dir, "d");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	xpath(p, sizeof p, export_dir, "s");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_true(race_swaps > 10);
	end_test();
}

/* ---- special files ---- */

/* Sends tx and waits up to 5 s: 0, -errno, or -ETIMEDOUT when no answer came. */
static int req_timed(struct tc *t, struct p9_fcall *tx, struct p9_fcall *rx)
{
	tc_send(t, tx);
	int r = tc_recv(t, rx, 5000);
	if (r < 0)
		return r;
	if (rx->type == tx->type + 1)
		return 0;
	return -rerr(t, rx);
}

/* Unblocks a server thread stuck opening the FIFO, then reads its answer. */
static int unstick_fifo(struct tc *t, const char *fifo, struct p9_fcall *rx)
{
	int w = open(fifo, O_WRONLY | O_NONBLOCK);
	int r = open(fifo, O_RDONLY | O_NONBLOCK);
	int got = tc_recv(t, rx, 5000);
	if (w >= 0)
		close(w);
	if (r >= 0)
		close(r);
	return got;
}

/* Whether the inotify descriptor ino saw name opened. */
static bool opened_name(int ino, const char *name)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool seen = false;
	ssize_t n;
	while ((n = read(ino, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && strcmp(ev->name, name) == 0)
				seen = true;
			p += sizeof *ev + ev->len;
		}
	}
	return seen;
}

/* Tlcreate of an existing special file's name, without O_EXCL. */
static void lcreate_existing_special(struct tc *t, const char *name)
{
	char fifo[256];
	xpath(fifo, sizeof fifo, export_dir, name);
	const uint32_t flags[] = { O_RDONLY, O_WRONLY, O_RDWR | O_TRUNC };
	for (size_t i = 0; i < 3; i++) {
		struct p9_fcall tx = { .type = P9_Tlcreate }, rx;
		assert_int_equal(WALK(t, 0, 1, ), 0);
		tx.tlcreate = (struct p9_tlcreate){
			.fid = 1, .name = p9_cstr(name), .flags = flags[i], .mode = 0644
		};
		int r = req_timed(t, &tx, &rx);
		if (r == -ETIMEDOUT) {
			assert_int_equal(unstick_fifo(t, fifo, &rx), 0);
			fail_msg("Tlcreate '%s' flags %#o (no O_EXCL) on an existing FIFO hung "
				 "the server for 5 s: h_create opens it with openat() (answer "
				 "after unblocking: %s %d)",
				 name, flags[i], p9_type_name(rx.type), rerr(t, &rx));
		} else {
			assert_true(r < 0);
		}
		clunk(t, 1);
	}
	CHECK();
}

static void test_special_hidden(void **state)
{
	(void)state;
	char p[256];
	struct stat st;
	struct p9_fcall tx, rx;
	const char *const specials[] = { "fifo", "sock", "null" };
	size_t nspec = as_root ? 3 : 2;
	for (size_t di = 0; di < 3; di++) {
		struct tc t = session(dialects[di]);
		for (size_t i = 0; i < nspec; i++) {
			assert_false(lists_name(&t, 0, specials[i]));
			assert_int_equal(WALK(&t, 0, 1, specials[i]), -ENOENT);
			assert_true(WALK(&t, 0, 1, "sub", "..", specials[i]) < 3);
		}
		assert_true(lists_name(&t, 0, "plain"));
		tc_close(&t);
	}
	struct tc t = session(P9_2000L);
	/* Tmknod of special files is refused */
	const uint32_t modes[] = { S_IFCHR | 0666, S_IFBLK | 0666, S_IFIFO | 0666,
				   S_IFSOCK | 0666 };
	for (size_t i = 0; i < 4; i++) {
		tx = (struct p9_fcall){ .type = P9_Tmknod };
		tx.tmknod = (struct p9_tmknod){ .dfid = 0,
						.name = p9_cstr("newspecial"),
						.mode = modes[i],
						.major = 1,
						.minor = 3 };
		assert_int_equal(req(&t, &tx, &rx), -EPERM);
		xpath(p, sizeof p, export_dir, "newspecial");
		assert_int_equal(lstat(p, &st), -1);
	}
	/* creating over an existing special file never opens it */
	lcreate_existing_special(&t, "fifo");
	for (size_t i = 1; i < nspec; i++) {
		/* inotify sees real opens (not O_PATH ones) of the names in the export */
		int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		assert_true(ino >= 0);
		assert_true(inotify_add_watch(ino, export_dir, IN_OPEN) >= 0);
		assert_int_equal(WALK(&t, 0, 1, ), 0);
		tx = (struct p9_fcall){ .type = P9_Tlcreate };
		tx.tlcreate = (struct p9_tlcreate){
			.fid = 1, .name = p9_cstr(specials[i]), .flags = O_RDWR, .mode = 0644
		};
		int r = req_timed(&t, &tx, &rx);
		assert_true(r < 0);
		clunk(&t, 1);
		if (opened_name(ino, specials[i]))
			fail_msg("Tlcreate '%s' O_RDWR (no O_EXCL) on an existing device node "
				 "opened the device on the host (inotify IN_OPEN), answer %d; "
				 "h_create's openat() fallback opens whatever the name is before "
				 "checking it is a regular file",
				 specials[i], r);
		close(ino);
	}
	/* nor unlinks, renames or links them into view */
	tx = (struct p9_fcall){ .type = P9_Trenameat };
	tx.trenameat = (struct p9_trenameat){ .olddirfid = 0,
					      .oldname = p9_cstr("fifo"),
					      .newdirfid = 0,
					      .newname = p9_cstr("fifo2") };
	if (req(&t, &tx, &rx) == 0) {
		tx.trenameat.oldname = p9_cstr("fifo2");
		tx.trenameat.newname = p9_cstr("fifo");
		assert_int_equal(req(&t, &tx, &rx), 0);
	}
	assert_int_equal(WALK(&t, 0, 1, "fifo2"), -ENOENT);
	tc_close(&t);

	/* the client library sees nothing either */
	char addr[160];
	snprintf(addr, sizeof addr, "unix!%s", sock_plain);
	for (size_t di = 0; di < 3; di++) {
		struct boxfs_opts o = { .version = p9_dialect_name(dialects[di]) };
		struct boxfs_client *c = boxfs_connect(addr, &o);
		assert_non_null(c);
		for (size_t i = 0; i < nspec; i++) {
			assert_int_equal(boxfs_lstat(c, specials[i], &st), -ENOENT);
			assert_null(boxfs_open(c, specials[i], O_RDONLY, 0));
		}
		boxfs_disconnect(c);
	}
	end_test();
}

static void test_special_allowed(void **state)
{
	(void)state;
	char p[256];
	struct stat st;
	struct p9_fcall tx, rx;
	const char *const specials[] = { "fifo", "sock", "null" };
	const uint32_t types[] = { S_IFIFO, S_IFSOCK, S_IFCHR };
	size_t nspec = as_root ? 3 : 2;
	for (size_t di = 0; di < 3; di++) {
		struct tc t = session_on(sock_special, dialects[di]);
		for (size_t i = 0; i < nspec; i++) {
			assert_true(lists_name(&t, 0, specials[i]));
			assert_int_equal(WALK(&t, 0, 1, specials[i]), 1);
			if (t.d == P9_2000L) {
				tx = (struct p9_fcall){ .type = P9_Tgetattr };
				tx.tgetattr =
					(struct p9_tgetattr){ .fid = 1,
							      .request_mask = P9_GETATTR_ALL };
				assert_int_equal(req(&t, &tx, &rx), 0);
				assert_int_equal(rx.rgetattr.mode & S_IFMT, types[i]);
			}
			/* opens are refused at once, in every mode */
			for (int m = 0; m < 3; m++) {
				if (t.d == P9_2000L) {
					tx = (struct p9_fcall){ .type = P9_Tlopen };
					tx.tlopen = (struct p9_tlopen){ .fid = 1,
									.flags = (uint32_t)m };
				} else {
					tx = (struct p9_fcall){ .type = P9_Topen };
					tx.topen =
						(struct p9_topen){ .fid = 1, .mode = (uint8_t)m };
				}
				int r = req_timed(&t, &tx, &rx);
				if (r == -ETIMEDOUT) {
					xpath(p, sizeof p, export_dir, specials[i]);
					assert_int_equal(unstick_fifo(&t, p, &rx), 0);
					fail_msg("opening %s hung the server", specials[i]);
				}
				assert_true(r < 0);
			}
			clunk(&t, 1);
		}
		tc_close(&t);
	}
	struct tc t = session_on(sock_special, P9_2000L);
	/* made special files are never opened either */
	tx = (struct p9_fcall){ .type = P9_Tmknod };
	tx.tmknod =
		(struct p9_tmknod){ .dfid = 0, .name = p9_cstr("newfifo"), .mode = S_IFIFO | 0644 };
	assert_int_equal(req(&t, &tx, &rx), 0);
	xpath(p, sizeof p, export_dir, "newfifo");
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(WALK(&t, 0, 1, "newfifo"), 1);
	tx = (struct p9_fcall){ .type = P9_Tlopen, .tlopen = { .fid = 1, .flags = O_RDONLY } };
	int r = req_timed(&t, &tx, &rx);
	if (r == -ETIMEDOUT)
		unstick_fifo(&t, p, &rx);
	assert_true(r < 0 && r != -ETIMEDOUT);
	clunk(&t, 1);
	assert_int_equal(unlink(p), 0);
	tc_close(&t);

	/* a user that is not root may not make devices, allow_special or not */
	if (as_root) {
		t = tc_open(sock_special);
		version(&t, P9_2000L);
		assert_int_equal(attach_as(&t, 0, "", 1000), 0);
		assert_int_equal(WALK(&t, 0, 1, "pub"), 1);
		tx = (struct p9_fcall){ .type = P9_Tmknod };
		tx.tmknod = (struct p9_tmknod){ .dfid = 1,
						.name = p9_cstr("dev1000"),
						.mode = S_IFBLK | 0666,
						.major = 7,
						.minor = 0 };
		r = req(&t, &tx, &rx);
		xpath(p, sizeof p, export_dir, "pub/dev1000");
		if (r == 0) {
			assert_int_equal(lstat(p, &st), 0);
			fail_msg("with allow_special, a client attached as uid 1000 made block "
				 "device 7:0 (%s, mode %o, uid %u): hostfs keeps CAP_MKNOD "
				 "after setfsuid, so an unprivileged user gets device nodes "
				 "(expected EPERM as mknod(2) gives uid 1000)",
				 p, st.st_mode & 07777, st.st_uid);
			unlink(p);
		} else {
			assert_int_equal(lstat(p, &st), -1);
		}
		clunk(&t, 1);
		tc_close(&t);
	}
	end_test();
}

/* ---- xattrs outside the user. namespace ---- */

static void test_xattr_namespaces(void **state)
{
	(void)state;
	struct p9_fcall tx, rx;
	struct tc t = session(P9_2000L);
	const char *const names[] = { "trusted.hidden",
				      "trusted.escape",
				      "security.escape",
				      "security.capability",
				      "system.posix_acl_access",
				      "system.escape",
				      "TRUSTED.hidden",
				      "usr.x",
				      "user" };
	char p[256];
	xpath(p, sizeof p, export_dir, "plain");
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
		tx = (struct p9_fcall){ .type = P9_Txattrwalk };
		tx.txattrwalk =
			(struct p9_txattrwalk){ .fid = 1, .newfid = 2, .name = p9_cstr(names[i]) };
		assert_true(req(&t, &tx, &rx) < 0);
		tx = (struct p9_fcall){ .type = P9_Txattrcreate };
		tx.txattrcreate = (struct p9_txattrcreate){ .fid = 1,
							    .name = p9_cstr(names[i]),
							    .attr_size = 3 };
		if (req(&t, &tx, &rx) == 0) {
			tx = (struct p9_fcall){ .type = P9_Twrite };
			tx.twrite =
				(struct p9_twrite){ .fid = 1, .count = 3, .data = (void *)"abc" };
			assert_int_equal(req(&t, &tx, &rx), 0);
			assert_true(clunk(&t, 1) < 0);
		} else {
			clunk(&t, 1);
		}
		/* nothing set on the host */
		char v[64];
		if (strcmp(names[i], "trusted.hidden") != 0)
			assert_true(getxattr(p, names[i], v, sizeof v) < 0);
		/* removal through Txattrcreate with size 0 and XATTR_REPLACE */
		assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
		tx = (struct p9_fcall){ .type = P9_Txattrcreate };
		tx.txattrcreate = (struct p9_txattrcreate){
			.fid = 1, .name = p9_cstr(names[i]), .attr_size = 0, .flags = XATTR_REPLACE
		};
		if (req(&t, &tx, &rx) == 0)
			assert_true(clunk(&t, 1) < 0);
		else
			clunk(&t, 1);
	}
	if (as_root) {
		char v[64];
		assert_int_equal(getxattr(p, "trusted.hidden", v, sizeof v),
				 (ssize_t)strlen(TRUSTED_VAL));
	}
	/* the list leaves out other namespaces (the reply scan sees the value) */
	assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
	tx = (struct p9_fcall){ .type = P9_Txattrwalk };
	tx.txattrwalk = (struct p9_txattrwalk){ .fid = 1, .newfid = 2, .name = p9_cstr("") };
	assert_int_equal(req(&t, &tx, &rx), 0);
	uint64_t size = rx.rxattrwalk.size;
	tx = (struct p9_fcall){ .type = P9_Tread };
	tx.tread = (struct p9_tread){ .fid = 2, .offset = 0, .count = 4096 };
	assert_int_equal(req(&t, &tx, &rx), 0);
	assert_int_equal(rx.rread.count, size);
	assert_null(memmem(rx.rread.data, rx.rread.count, "trusted.", 8));
	assert_null(memmem(rx.rread.data, rx.rread.count, "security.", 9));
	clunk(&t, 2);
	clunk(&t, 1);
	/* user. works, so the refusals above are about the namespace */
	assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
	tx = (struct p9_fcall){ .type = P9_Txattrcreate };
	tx.txattrcreate =
		(struct p9_txattrcreate){ .fid = 1, .name = p9_cstr("user.fine"), .attr_size = 2 };
	assert_int_equal(req(&t, &tx, &rx), 0);
	tx = (struct p9_fcall){ .type = P9_Twrite };
	tx.twrite = (struct p9_twrite){ .fid = 1, .count = 2, .data = (void *)"ok" };
	assert_int_equal(req(&t, &tx, &rx), 0);
	assert_int_equal(clunk(&t, 1), 0);
	char v[8];
	assert_int_equal(getxattr(p, "user.fine", v, sizeof v), 2);
	assert_int_equal(removexattr(p, "user.fine"), 0);
	CHECK();
	tc_close(&t);
	end_test();
}

/* ---- readlink of a link out: its text, nothing more ---- */

static void test_readlink(void **state)
{
	(void)state;
	struct p9_fcall tx, rx;
	struct tc t = session(P9_2000L);
	const char *const links[] = { "abs", "rel", "chain1", "dirlink" };
	const char *texts[] = { canary, "../outside/canary", "chain2", outside };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(WALK(&t, 0, 1, links[i]), 1);
		tx = (struct p9_fcall){ .type = P9_Treadlink, .treadlink = { .fid = 1 } };
		assert_int_equal(req(&t, &tx, &rx), 0);
		assert_int_equal(rx.rreadlink.target.len, strlen(texts[i]));
		assert_memory_equal(rx.rreadlink.target.s, texts[i], strlen(texts[i]));
		clunk(&t, 1);
	}
	/* Treadlink of things that are not links */
	assert_int_equal(WALK(&t, 0, 1, "plain"), 1);
	tx = (struct p9_fcall){ .type = P9_Treadlink, .treadlink = { .fid = 1 } };
	assert_true(req(&t, &tx, &rx) < 0);
	clunk(&t, 1);
	tx.treadlink.fid = 0;
	assert_true(req(&t, &tx, &rx) < 0);
	tc_close(&t);

	t = session(P9_2000U);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(WALK(&t, 0, 1, links[i]), 1);
		tx = (struct p9_fcall){ .type = P9_Tstat, .tstat = { .fid = 1 } };
		assert_int_equal(req(&t, &tx, &rx), 0);
		assert_int_equal(rx.rstat.stat.extension.len, strlen(texts[i]));
		assert_memory_equal(rx.rstat.stat.extension.s, texts[i], strlen(texts[i]));
		assert_true(rx.rstat.stat.mode & P9_DMSYMLINK);
		clunk(&t, 1);
	}
	tc_close(&t);

	char addr[160], buf[256];
	snprintf(addr, sizeof addr, "unix!%s", sock_plain);
	struct boxfs_client *c = boxfs_connect(addr, NULL);
	assert_non_null(c);
	for (size_t i = 0; i < 4; i++) {
		ssize_t n = boxfs_readlink(c, links[i], buf, sizeof buf);
		assert_int_equal(n, (ssize_t)strlen(texts[i]));
		assert_memory_equal(buf, texts[i], (size_t)n);
	}
	boxfs_disconnect(c);
	end_test();
}

/* ---- the client library, every path trick ---- */

static void no_secret(const void *buf, size_t n)
{
	if (memmem(buf, n, MARK, strlen(MARK)))
		fail_msg("the client library returned a secret from outside the export");
}

static void test_client_paths(void **state)
{
	(void)state;
	static const char *const paths[] = {
		"abs",
		"rel",
		"chain1",
		"sub/up",
		"dirlink/canary",
		"reldir/canary",
		"mid/" CDIR_NAME,
		"s/canary",
		"../outside/canary",
		"/../../outside/canary",
		"sub/../../outside/canary",
		"sub/deep/updir/canary",
		"sub/deep/../../../outside/canary",
		"outside/canary",
		"dangle",
		"dangleabs",
	};
	char addr[160];
	snprintf(addr, sizeof addr, "unix!%s", sock_plain);
	for (size_t di = 0; di < 3; di++) {
		struct boxfs_opts o = { .version = p9_dialect_name(dialects[di]) };
		struct boxfs_client *c = boxfs_connect(addr, &o);
		assert_non_null(c);
		for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
			const char *path = paths[i];
			char buf[256];
			struct stat st;
			const int flags[] = { O_RDONLY, O_RDWR, O_WRONLY | O_TRUNC,
					      O_WRONLY | O_CREAT, O_RDWR | O_APPEND };
			for (size_t f = 0; f < 5; f++) {
				struct boxfs_file *fp = boxfs_open(c, path, flags[f], 0644);
				if (fp) {
					ssize_t n = boxfs_pread(fp, buf, sizeof buf, 0);
					if (n > 0)
						no_secret(buf, (size_t)n);
					fail_msg("boxfs_open(%s, %#o) reached something (read %zd)",
						 path, flags[f], n);
				}
				CHECK();
			}
			if (boxfs_stat(c, path, &st) == 0)
				assert_true(st.st_ino != baseline.canary.st_ino);
			assert_true(boxfs_truncate(c, path, 0) < 0);
			assert_true(boxfs_chmod(c, path, 0777) < 0);
			boxfs_chown(c, path, 0, 0);
			assert_true(boxfs_utimens(c, path, NULL) < 0);
			CHECK();
			assert_true(boxfs_rename(c, path, "stolen") < 0 ||
				    boxfs_rename(c, "stolen", path) == 0);
			assert_true(boxfs_link(c, path, "stolen") < 0 ||
				    boxfs_unlink(c, "stolen") == 0);
			CHECK();
			struct boxfs_dir *d = boxfs_opendir(c, path);
			if (d) {
				struct boxfs_dirent de;
				while (boxfs_readdir(d, &de) == 1)
					no_secret(de.name, strlen(de.name));
				boxfs_closedir(d);
			}
			CHECK();
		}
		/* operations whose parent is a link out */
		const char *const under[] = { "dirlink/x", "reldir/x", "s/x", "mid/x",
					      "../outside/x" };
		for (size_t i = 0; i < 5; i++) {
			assert_true(boxfs_mkdir(c, under[i], 0755) < 0);
			assert_true(boxfs_symlink(c, "plain", under[i]) < 0);
			assert_true(boxfs_unlink(c, under[i]) < 0);
			assert_true(boxfs_rmdir(c, under[i]) < 0);
			assert_true(boxfs_rename(c, "plain", under[i]) < 0);
			assert_true(boxfs_link(c, "plain", under[i]) < 0);
			struct boxfs_file *fp = boxfs_open(c, under[i], O_CREAT | O_WRONLY, 0644);
			assert_null(fp);
			CHECK();
		}
		assert_true(boxfs_unlink(c, "dirlink/canary") < 0);
		assert_true(boxfs_rmdir(c, "dirlink/cdir") < 0);
		assert_true(boxfs_rename(c, "dirlink/canary", "stolen") < 0);
		assert_true(boxfs_rename(c, "reldir/cdir", "stolen") < 0);
		/* listing ".." chains shows the export root */
		struct boxfs_dir *d = boxfs_opendir(c, "../../..");
		assert_non_null(d);
		struct boxfs_dirent de;
		bool plain = false;
		while (boxfs_readdir(d, &de) == 1) {
			no_secret(de.name, strlen(de.name));
			plain |= strcmp(de.name, "plain") == 0;
			assert_string_not_equal(de.name, "outside");
		}
		boxfs_closedir(d);
		assert_true(plain);
		struct statvfs sv;
		if (dialects[di] == P9_2000L)
			assert_int_equal(boxfs_statfs(c, "../..", &sv), 0);
		CHECK();
		boxfs_disconnect(c);
	}
	end_test();
}

/* Every reply scanned so far was clean; one more sweep of the whole tree. */
static void test_full_listing(void **state)
{
	(void)state;
	for (size_t di = 0; di < 3; di++) {
		struct tc t = session_on(sock_special, dialects[di]);
		const char *const dirs[][3] = {
			{ "sub", NULL }, { "sub", "deep" }, { "d", NULL }, { "pub", NULL }
		};
		for (size_t i = 0; i < 4; i++) {
			int n = dirs[i][1] ? 2 : 1;
			assert_int_equal(walk(&t, 0, 1, n, dirs[i]), n);
			assert_int_equal(open_fid(&t, 1, false), 0);
			assert_int_equal(list_fid(&t, 1), 0);
			clunk(&t, 1);
		}
		assert_int_equal(WALK(&t, 0, 1, ), 0);
		assert_int_equal(open_fid(&t, 1, false), 0);
		assert_int_equal(list_fid(&t, 1), 0);
		clunk(&t, 1);
		tc_close(&t);
	}
	end_test();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_symlinks_raw),
		cmocka_unit_test(test_symlink_fid_ops),
		cmocka_unit_test(test_create_through_links),
		cmocka_unit_test(test_create_over_dangling),
		cmocka_unit_test(test_dotdot),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_rename_tricks),
		cmocka_unit_test(test_hardlinks),
		cmocka_unit_test(test_swap_race),
		cmocka_unit_test(test_special_hidden),
		cmocka_unit_test(test_special_allowed),
		cmocka_unit_test(test_xattr_namespaces),
		cmocka_unit_test(test_readlink),
		cmocka_unit_test(test_client_paths),
		cmocka_unit_test(test_full_listing),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
