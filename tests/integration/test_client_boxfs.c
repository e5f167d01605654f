/*
 * test_client_boxfs.c — the real `boxfs serve` program driven through the
 * client library: one server listening on a Unix socket and on TCP (port 0,
 * the real port read from the server's stdout), and the operation suite run
 * over each transport (unix, tcp) in each dialect (9P2000.L, 9P2000.u,
 * 9P2000), every (transport, dialect, operation) a test of its own named
 * "TRANSPORT/DIALECT/OPERATION".
 *
 * The server's path is argv[1] (or $BOXFS_EXE). The group setup starts it
 * (tests/lib/served.h); the last test stops it with SIGTERM and checks it
 * exits 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <boxfs/client.h>

#include "../lib/served.h"

static const char *boxfs_exe;
static struct served srv;
static char unix_addr[1024];
static char tcp_addr[1024];

/* One (transport, dialect) pair; every test gets one as its state. */
struct combo {
	const char *transport;
	const char *addr; /* unix_addr or tcp_addr */
	const char *version;
	enum p9_dialect dialect;
	char dir[32]; /* this pair's directory in the served tree */
};

static struct combo combos[6];
static struct boxfs_client *c1; /* the current test's connection */
static const struct combo *cur;

/* ---- the server process ---- */

static int start_server(void **state)
{
	(void)state;
	if (served_start(&srv, boxfs_exe, 2, "-l", "unix!{dir}/sock", "-l", "tcp!127.0.0.1!0",
			 (char *)NULL) < 0)
		return -1;
	const char *u = served_addr(&srv, "9p", "unix!");
	const char *t = served_addr(&srv, "9p", "tcp!127.0.0.1!");
	if (!u || !t || atoi(t + 14) <= 0) {
		fprintf(stderr, "# unexpected addresses\n");
		return -1;
	}
	snprintf(unix_addr, sizeof unix_addr, "%s", u);
	snprintf(tcp_addr, sizeof tcp_addr, "%s", t);
	return 0;
}

static int teardown_group(void **state)
{
	(void)state;
	served_stop(&srv);
	return 0;
}

/* ---- per test ---- */

static struct boxfs_client *connect_combo(const struct combo *cb, uint32_t msize)
{
	struct boxfs_opts o = { .version = cb->version, .msize = msize };
	return boxfs_connect(cb->addr, &o);
}

static int setup(void **state)
{
	cur = *state;
	if (srv.pid <= 0)
		return -1;
	c1 = connect_combo(cur, 0);
	if (!c1)
		return -1;
	int r = boxfs_mkdir(c1, cur->dir, 0755);
	return r == 0 || r == -EEXIST ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (c1)
		boxfs_disconnect(c1);
	c1 = NULL;
	return 0;
}

static bool is_L(void)
{
	return cur->dialect == P9_2000L;
}

static bool is_plain(void)
{
	return cur->dialect == P9_2000;
}

/* "/DIR/name" for the current pair; four results live at once. */
__attribute__((format(printf, 1, 2))) static const char *P(const char *fmt, ...)
{
	static char buf[4][512];
	static int i;
	char *b = buf[i++ % 4];
	int n = snprintf(b, 512, "%s/", cur->dir);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b + n, 512 - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

static void put_file(const char *path, const char *text)
{
	struct boxfs_file *f = boxfs_open(c1, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_non_null(f);
	assert_int_equal(boxfs_write(f, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(boxfs_close(f), 0);
}

static void check_file(const char *path, const char *text)
{
	char buf[256];
	struct boxfs_file *f = boxfs_open(c1, path, O_RDONLY, 0);
	assert_non_null(f);
	ssize_t n = boxfs_read(f, buf, sizeof buf - 1);
	assert_int_equal(boxfs_close(f), 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_string_equal(buf, text);
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

#define FNV0 0xcbf29ce484222325ull

/* ---- the operation suite ---- */

static void t_connect(void **state)
{
	(void)state;
	assert_int_equal(boxfs_dialect(c1), cur->dialect);
	assert_true(boxfs_msize(c1) >= 4096);
	assert_int_equal(boxfs_conn_error(c1), 0);
	struct stat st;
	assert_int_equal(boxfs_stat(c1, "/", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

/* Writes size bytes to path in pieces of the sizes in piece[] (cycled). */
static void write_pieces(const char *path, const uint8_t *data, size_t size, const size_t *piece,
			 size_t npiece)
{
	struct boxfs_file *f = boxfs_open(c1, path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_non_null(f);
	size_t off = 0;
	for (size_t i = 0; off < size; i++) {
		size_t n = piece[i % npiece];
		if (n > size - off)
			n = size - off;
		assert_int_equal(boxfs_write(f, data + off, n), (ssize_t)n);
		off += n;
	}
	assert_int_equal(boxfs_lseek(f, 0, SEEK_CUR), (off_t)size);
	assert_int_equal(boxfs_close(f), 0);
}

/* Reads path in pieces of the sizes in piece[] and returns its checksum. */
static uint64_t read_pieces(const char *path, uint8_t *buf, size_t size, const size_t *piece,
			    size_t npiece)
{
	struct boxfs_file *f = boxfs_open(c1, path, O_RDONLY, 0);
	assert_non_null(f);
	size_t off = 0;
	uint64_t h = FNV0;
	for (size_t i = 0;; i++) {
		size_t want = piece[i % npiece];
		ssize_t n = boxfs_read(f, buf + off, off + want > size ? size - off + 1 : want);
		assert_true(n >= 0);
		if (n == 0)
			break;
		h = fnv1a(h, buf + off, (size_t)n);
		off += (size_t)n;
		assert_true(off <= size);
	}
	assert_int_equal(off, size);
	assert_int_equal(boxfs_close(f), 0);
	return h;
}

static void t_write_read_3mib(void **state)
{
	(void)state;
	enum { N = 3 << 20 };
	uint8_t *w = malloc(N), *r = malloc(N + 1);
	assert_non_null(w);
	assert_non_null(r);
	uint32_t x = 12345;
	for (size_t i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		w[i] = (uint8_t)(x >> 16);
	}
	uint64_t sum = fnv1a(FNV0, w, N);
	static const size_t mib[] = { 1 << 20 };
	static const size_t odd[] = { 1, 4093, 65537, 333331, 7, 1048577, 24 };

	write_pieces(P("big1"), w, N, mib, 1);
	assert_true(read_pieces(P("big1"), r, N, odd, 7) == sum);
	assert_memory_equal(w, r, N);

	write_pieces(P("big2"), w, N, odd, 7);
	memset(r, 0, N);
	assert_true(read_pieces(P("big2"), r, N, mib, 1) == sum);
	assert_memory_equal(w, r, N);

	struct stat st;
	assert_int_equal(boxfs_stat(c1, P("big2"), &st), 0);
	assert_int_equal(st.st_size, N);
	/* pread at odd places, and past the end */
	struct boxfs_file *f = boxfs_open(c1, P("big2"), O_RDONLY, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_pread(f, r, 1000, 1048575), 1000);
	assert_memory_equal(r, w + 1048575, 1000);
	assert_int_equal(boxfs_pread(f, r, 100, N - 33), 33);
	assert_memory_equal(r, w + N - 33, 33);
	assert_int_equal(boxfs_pread(f, r, 100, N + 5), 0);
	assert_int_equal(boxfs_write(f, "x", 1), -EBADF);
	assert_int_equal(boxfs_close(f), 0);
	/* pwrite in the middle, seen by a read through the other transport */
	f = boxfs_open(c1, P("big2"), O_WRONLY, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_pwrite(f, "middle", 6, 1500000), 6);
	assert_int_equal(boxfs_close(f), 0);
	struct combo other = *cur;
	other.addr = cur->addr == unix_addr ? tcp_addr : unix_addr;
	struct boxfs_client *c2 = connect_combo(&other, 0);
	assert_non_null(c2);
	f = boxfs_open(c2, P("big2"), O_RDONLY, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_pread(f, r, 8, 1499999), 8);
	assert_memory_equal(r + 1, "middle", 6);
	assert_int_equal(r[0], w[1499999]);
	assert_int_equal(r[7], w[1500006]);
	assert_int_equal(boxfs_close(f), 0);
	boxfs_disconnect(c2);
	assert_int_equal(boxfs_unlink(c1, P("big1")), 0);
	assert_int_equal(boxfs_unlink(c1, P("big2")), 0);
	free(w);
	free(r);
}

static void t_stat(void **state)
{
	(void)state;
	put_file(P("st"), "12345");
	assert_int_equal(boxfs_mkdir(c1, P("stdir"), 0750), 0);
	struct stat st, st2;
	time_t now = time(NULL);
	assert_int_equal(boxfs_stat(c1, P("st"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(st.st_nlink, 1);
	assert_true(st.st_mtim.tv_sec >= now - 60 && st.st_mtim.tv_sec <= now + 60);
	if (!is_plain()) {
		assert_int_equal(st.st_uid, geteuid());
	}
	/* through an open file, the same */
	struct boxfs_file *f = boxfs_open(c1, P("st"), O_RDONLY, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_fstat(f, &st2), 0);
	assert_int_equal(boxfs_close(f), 0);
	assert_int_equal(st2.st_ino, st.st_ino);
	assert_int_equal(st2.st_size, 5);
	assert_int_equal(boxfs_stat(c1, P("stdir"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0750);
	assert_true(st.st_ino != st2.st_ino);
	assert_int_equal(boxfs_stat(c1, P("nope"), &st), -ENOENT);
	assert_int_equal(boxfs_stat(c1, P("st/x"), &st), -ENOTDIR);
	assert_int_equal(boxfs_stat(c1, "/", &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	if (is_L()) {
		struct statvfs sv;
		assert_int_equal(boxfs_statfs(c1, "/", &sv), 0);
		assert_true(sv.f_bsize > 0);
	}
}

enum { NDIR = 10000, NTHREAD = 4 };

struct maker {
	int from, to;
	int errors;
};

static void *make_entries(void *arg)
{
	struct maker *m = arg;
	for (int i = m->from; i < m->to; i++) {
		char p[128];
		snprintf(p, sizeof p, "%s/many/f%05d", cur->dir, i);
		struct boxfs_file *f = boxfs_open(c1, p, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (!f || boxfs_close(f) != 0)
			m->errors++;
	}
	return NULL;
}

static void t_readdir_10000(void **state)
{
	(void)state;
	assert_int_equal(boxfs_mkdir(c1, P("many"), 0755), 0);
	/* several threads share the connection: requests are pipelined */
	pthread_t t[NTHREAD];
	struct maker m[NTHREAD];
	for (int i = 0; i < NTHREAD; i++) {
		m[i] = (struct maker){ i * NDIR / NTHREAD, (i + 1) * NDIR / NTHREAD, 0 };
		assert_int_equal(pthread_create(&t[i], NULL, make_entries, &m[i]), 0);
	}
	int errors = 0;
	for (int i = 0; i < NTHREAD; i++) {
		pthread_join(t[i], NULL);
		errors += m[i].errors;
	}
	assert_int_equal(errors, 0);
	assert_int_equal(boxfs_mkdir(c1, P("many/sub"), 0755), 0);

	/* small messages: many replies */
	struct boxfs_client *c = connect_combo(cur, 4096 + 24);
	assert_non_null(c);
	assert_int_equal(boxfs_msize(c), 4096 + 24);
	uint8_t *seen = calloc(NDIR, 1);
	assert_non_null(seen);
	struct boxfs_dir *d = boxfs_opendir(c, P("many"));
	assert_non_null(d);
	struct boxfs_dirent de;
	int n = 0, dots = 0, sub = 0, rc;
	while ((rc = boxfs_readdir(d, &de)) == 1) {
		int k;
		char extra;
		if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0) {
			dots++;
		} else if (strcmp(de.name, "sub") == 0) {
			assert_int_equal(de.d_type, DT_DIR);
			sub++;
		} else {
			assert_int_equal(sscanf(de.name, "f%5d%c", &k, &extra), 1);
			assert_true(k >= 0 && k < NDIR);
			assert_int_equal(seen[k], 0);
			seen[k] = 1;
			assert_int_equal(de.d_type, DT_REG);
			n++;
		}
	}
	assert_int_equal(rc, 0);
	assert_int_equal(boxfs_readdir(d, &de), 0);
	assert_int_equal(boxfs_closedir(d), 0);
	boxfs_disconnect(c);
	free(seen);
	assert_int_equal(n, NDIR);
	assert_int_equal(sub, 1);
	assert_true(dots <= 2);
}

static void t_rename(void **state)
{
	(void)state;
	assert_int_equal(boxfs_mkdir(c1, P("ra"), 0755), 0);
	assert_int_equal(boxfs_mkdir(c1, P("rb"), 0755), 0);
	put_file(P("ra/f1"), "rename me");
	struct stat st, st2;
	assert_int_equal(boxfs_stat(c1, P("ra/f1"), &st), 0);
	/* a file, within its directory */
	assert_int_equal(boxfs_rename(c1, P("ra/f1"), P("ra/f2")), 0);
	assert_int_equal(boxfs_stat(c1, P("ra/f1"), &st2), -ENOENT);
	assert_int_equal(boxfs_stat(c1, P("ra/f2"), &st2), 0);
	assert_int_equal(st2.st_ino, st.st_ino);
	check_file(P("ra/f2"), "rename me");
	/* a directory, within its directory */
	assert_int_equal(boxfs_mkdir(c1, P("ra/d1"), 0755), 0);
	put_file(P("ra/d1/inner"), "inside");
	assert_int_equal(boxfs_rename(c1, P("ra/d1"), P("ra/d2")), 0);
	check_file(P("ra/d2/inner"), "inside");
	assert_int_equal(boxfs_stat(c1, P("ra/d1"), &st2), -ENOENT);
	assert_int_equal(boxfs_rename(c1, P("ra/nothere"), P("ra/x")), -ENOENT);
	if (!is_L()) {
		/* Twstat renames within a directory only */
		assert_int_equal(boxfs_rename(c1, P("ra/f2"), P("rb/f3")), -EXDEV);
		check_file(P("ra/f2"), "rename me");
		return;
	}
	/* a file across directories */
	assert_int_equal(boxfs_rename(c1, P("ra/f2"), P("rb/f3")), 0);
	assert_int_equal(boxfs_stat(c1, P("ra/f2"), &st2), -ENOENT);
	assert_int_equal(boxfs_stat(c1, P("rb/f3"), &st2), 0);
	assert_int_equal(st2.st_ino, st.st_ino);
	check_file(P("rb/f3"), "rename me");
	/* a directory across directories, its contents along */
	assert_int_equal(boxfs_rename(c1, P("ra/d2"), P("rb/d3")), 0);
	check_file(P("rb/d3/inner"), "inside");
	assert_int_equal(boxfs_stat(c1, P("ra/d2"), &st2), -ENOENT);
	/* over an existing file */
	put_file(P("ra/other"), "other");
	assert_int_equal(boxfs_rename(c1, P("rb/f3"), P("ra/other")), 0);
	check_file(P("ra/other"), "rename me");
	assert_int_equal(boxfs_stat(c1, P("rb/f3"), &st2), -ENOENT);
	/* a directory into itself */
	assert_int_equal(boxfs_rename(c1, P("rb"), P("rb/d3/rb")), -EINVAL);
}

static void t_remove(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(boxfs_mkdir(c1, P("rm"), 0755), 0);
	put_file(P("rm/f"), "x");
	assert_int_equal(boxfs_rmdir(c1, P("rm")), -ENOTEMPTY);
	assert_int_equal(boxfs_rmdir(c1, P("rm/f")), -ENOTDIR);
	assert_int_equal(boxfs_unlink(c1, P("rm")), -EISDIR);
	assert_int_equal(boxfs_unlink(c1, P("rm/f")), 0);
	assert_int_equal(boxfs_stat(c1, P("rm/f"), &st), -ENOENT);
	assert_int_equal(boxfs_unlink(c1, P("rm/f")), -ENOENT);
	assert_int_equal(boxfs_rmdir(c1, P("rm")), 0);
	assert_int_equal(boxfs_stat(c1, P("rm"), &st), -ENOENT);
	assert_int_equal(boxfs_rmdir(c1, P("rm")), -ENOENT);
	/* the name can be used again */
	put_file(P("rm"), "again");
	check_file(P("rm"), "again");
	assert_int_equal(boxfs_unlink(c1, P("rm")), 0);
}

static void t_symlink(void **state)
{
	(void)state;
	put_file(P("target"), "pointed at");
	char buf[64];
	struct stat st;
	if (is_plain()) {
		assert_int_equal(boxfs_symlink(c1, "target", P("lnk")), -EOPNOTSUPP);
		assert_int_equal(boxfs_readlink(c1, P("target"), buf, sizeof buf), -EOPNOTSUPP);
		assert_int_equal(boxfs_lstat(c1, P("lnk"), &st), -ENOENT);
		return;
	}
	assert_int_equal(boxfs_symlink(c1, "target", P("lnk")), 0);
	assert_int_equal(boxfs_readlink(c1, P("lnk"), buf, sizeof buf), 6);
	assert_memory_equal(buf, "target", 6);
	assert_int_equal(boxfs_readlink(c1, P("lnk"), buf, 3), 3);
	assert_int_equal(boxfs_readlink(c1, P("target"), buf, sizeof buf), -EINVAL);
	assert_int_equal(boxfs_lstat(c1, P("lnk"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 6);
	assert_int_equal(boxfs_stat(c1, P("lnk"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 10);
	check_file(P("lnk"), "pointed at");
	assert_null(boxfs_open(c1, P("lnk"), O_RDONLY | O_NOFOLLOW, 0));
	assert_int_equal(errno, ELOOP);
	/* a longer, absolute target */
	char abs[128];
	snprintf(abs, sizeof abs, "/%s/target", cur->dir);
	assert_int_equal(boxfs_symlink(c1, abs, P("abs")), 0);
	assert_int_equal(boxfs_readlink(c1, P("abs"), buf, sizeof buf), (ssize_t)strlen(abs));
	assert_memory_equal(buf, abs, strlen(abs));
	check_file(P("abs"), "pointed at");
	/* the link shows as a link in its directory */
	struct boxfs_dir *d = boxfs_opendir(c1, cur->dir);
	assert_non_null(d);
	struct boxfs_dirent de;
	int found = 0;
	while (boxfs_readdir(d, &de) == 1)
		if (strcmp(de.name, "lnk") == 0) {
			assert_int_equal(de.d_type, DT_LNK);
			found++;
		}
	assert_int_equal(boxfs_closedir(d), 0);
	assert_int_equal(found, 1);
	assert_int_equal(boxfs_symlink(c1, "x", P("lnk")), -EEXIST);
	/* a dangling link, a loop */
	assert_int_equal(boxfs_symlink(c1, "nowhere", P("dangling")), 0);
	assert_int_equal(boxfs_stat(c1, P("dangling"), &st), -ENOENT);
	assert_int_equal(boxfs_symlink(c1, "loop", P("loop")), 0);
	assert_int_equal(boxfs_stat(c1, P("loop"), &st), -ELOOP);
	/* removing the link leaves the target */
	assert_int_equal(boxfs_unlink(c1, P("lnk")), 0);
	check_file(P("target"), "pointed at");
}

static void t_link(void **state)
{
	(void)state;
	put_file(P("orig"), "linked");
	if (is_plain()) {
		assert_int_equal(boxfs_link(c1, P("orig"), P("hard")), -EOPNOTSUPP);
		return;
	}
	assert_int_equal(boxfs_link(c1, P("orig"), P("hard")), 0);
	struct stat a, b;
	assert_int_equal(boxfs_stat(c1, P("orig"), &a), 0);
	assert_int_equal(boxfs_stat(c1, P("hard"), &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(b.st_size, 6);
	if (is_L()) { /* 9P2000.u's stat has no link count */
		assert_int_equal(a.st_nlink, 2);
		assert_int_equal(b.st_nlink, 2);
	}
	/* one file: a write through one name is read through the other */
	put_file(P("hard"), "changed");
	check_file(P("orig"), "changed");
	assert_int_equal(boxfs_link(c1, P("orig"), P("hard")), -EEXIST);
	assert_int_equal(boxfs_unlink(c1, P("orig")), 0);
	check_file(P("hard"), "changed");
	assert_int_equal(boxfs_stat(c1, P("hard"), &b), 0);
	assert_int_equal(b.st_nlink, 1);
	/* no hard links to directories */
	assert_int_equal(boxfs_mkdir(c1, P("ldir"), 0755), 0);
	assert_int_equal(boxfs_link(c1, P("ldir"), P("ldir2")), -EPERM);
}

static void t_truncate(void **state)
{
	(void)state;
	put_file(P("tr"), "0123456789abcdef");
	struct stat st;
	char buf[64];
	assert_int_equal(boxfs_truncate(c1, P("tr"), 10), 0);
	assert_int_equal(boxfs_stat(c1, P("tr"), &st), 0);
	assert_int_equal(st.st_size, 10);
	check_file(P("tr"), "0123456789");
	/* growing reads back zeros */
	assert_int_equal(boxfs_truncate(c1, P("tr"), 100000), 0);
	assert_int_equal(boxfs_stat(c1, P("tr"), &st), 0);
	assert_int_equal(st.st_size, 100000);
	struct boxfs_file *f = boxfs_open(c1, P("tr"), O_RDWR, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_pread(f, buf, 20, 0), 20);
	assert_memory_equal(buf, "0123456789\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(boxfs_pread(f, buf, 64, 99990), 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(buf[i], 0);
	/* shrink through the open file, then grow again: the old bytes are gone */
	assert_int_equal(boxfs_ftruncate(f, 3), 0);
	assert_int_equal(boxfs_fstat(f, &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(boxfs_ftruncate(f, 8), 0);
	assert_int_equal(boxfs_pread(f, buf, 64, 0), 8);
	assert_memory_equal(buf, "012\0\0\0\0\0", 8);
	assert_int_equal(boxfs_ftruncate(f, 0), 0);
	assert_int_equal(boxfs_pread(f, buf, 64, 0), 0);
	assert_int_equal(boxfs_close(f), 0);
	/* O_TRUNC */
	put_file(P("tr"), "abc");
	f = boxfs_open(c1, P("tr"), O_WRONLY | O_TRUNC, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_close(f), 0);
	assert_int_equal(boxfs_stat(c1, P("tr"), &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(boxfs_truncate(c1, P("nothere"), 1), -ENOENT);
}

static void t_chmod(void **state)
{
	(void)state;
	put_file(P("cm"), "x");
	assert_int_equal(boxfs_mkdir(c1, P("cmdir"), 0755), 0);
	struct stat st;
	assert_int_equal(boxfs_chmod(c1, P("cm"), 0604), 0);
	assert_int_equal(boxfs_stat(c1, P("cm"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(boxfs_chmod(c1, P("cm"), 0), 0);
	assert_int_equal(boxfs_stat(c1, P("cm"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0);
	/* a directory stays a directory */
	assert_int_equal(boxfs_chmod(c1, P("cmdir"), 0700), 0);
	assert_int_equal(boxfs_stat(c1, P("cmdir"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(boxfs_chmod(c1, P("nothere"), 0600), -ENOENT);
}

static void t_utimens(void **state)
{
	(void)state;
	put_file(P("ut"), "x");
	struct stat st;
	struct timespec ts[2] = { { 1000000000, 5000 }, { 1200000000, 123456789 } };
	assert_int_equal(boxfs_utimens(c1, P("ut"), ts), 0);
	assert_int_equal(boxfs_stat(c1, P("ut"), &st), 0);
	assert_int_equal(st.st_atim.tv_sec, 1000000000);
	assert_int_equal(st.st_mtim.tv_sec, 1200000000);
	if (is_L()) {
		assert_int_equal(st.st_atim.tv_nsec, 5000);
		assert_int_equal(st.st_mtim.tv_nsec, 123456789);
	}
	/* UTIME_OMIT leaves atime, UTIME_NOW sets mtime */
	struct timespec ts2[2] = { { 0, UTIME_OMIT }, { 0, UTIME_NOW } };
	time_t before = time(NULL);
	assert_int_equal(boxfs_utimens(c1, P("ut"), ts2), 0);
	assert_int_equal(boxfs_stat(c1, P("ut"), &st), 0);
	assert_int_equal(st.st_atim.tv_sec, 1000000000);
	assert_true(st.st_mtim.tv_sec >= before && st.st_mtim.tv_sec <= time(NULL) + 1);
	/* a write moves mtime */
	assert_int_equal(boxfs_utimens(c1, P("ut"), ts), 0);
	put_file(P("ut"), "y");
	assert_int_equal(boxfs_stat(c1, P("ut"), &st), 0);
	assert_true(st.st_mtim.tv_sec >= before);
	assert_int_equal(boxfs_utimens(c1, P("nothere"), NULL), -ENOENT);
}

static void t_locks(void **state)
{
	(void)state;
	put_file(P("lockme"), "some bytes to lock");
	struct boxfs_client *c2 = connect_combo(cur, 0);
	assert_non_null(c2);
	struct boxfs_file *f1 = boxfs_open(c1, P("lockme"), O_RDWR, 0);
	struct boxfs_file *f2 = boxfs_open(c2, P("lockme"), O_RDWR, 0);
	assert_non_null(f1);
	assert_non_null(f2);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	struct flock want = fl, probe;
	if (!is_L()) {
		assert_int_equal(boxfs_lock(f1, F_SETLK, &fl), -EOPNOTSUPP);
		assert_int_equal(boxfs_lock(f2, F_GETLK, &want), -EOPNOTSUPP);
		goto out;
	}
	assert_int_equal(boxfs_lock(f1, F_SETLK, &fl), 0);
	/* the second connection conflicts */
	assert_int_equal(boxfs_lock(f2, F_SETLK, &want), -EAGAIN);
	probe = want;
	assert_int_equal(boxfs_lock(f2, F_GETLK, &probe), 0);
	assert_int_equal(probe.l_type, F_WRLCK);
	assert_int_equal(probe.l_start, 0);
	assert_int_equal(probe.l_pid, getpid());
	/* a read lock conflicts too; a range the holder does not cover would not */
	struct flock rd = { .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 2 };
	assert_int_equal(boxfs_lock(f2, F_SETLK, &rd), -EAGAIN);
	/* the holder sees no conflict with itself */
	probe = want;
	assert_int_equal(boxfs_lock(f1, F_GETLK, &probe), 0);
	assert_int_equal(probe.l_type, F_UNLCK);
	/* unlock lets the second one take it */
	fl.l_type = F_UNLCK;
	assert_int_equal(boxfs_lock(f1, F_SETLK, &fl), 0);
	assert_int_equal(boxfs_lock(f2, F_SETLK, &want), 0);
	probe = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET };
	assert_int_equal(boxfs_lock(f1, F_GETLK, &probe), 0);
	assert_int_equal(probe.l_type, F_WRLCK);
	fl.l_type = F_WRLCK;
	assert_int_equal(boxfs_lock(f1, F_SETLK, &fl), -EAGAIN);
	/* byte ranges: after unlocking, disjoint write locks coexist */
	want.l_type = F_UNLCK;
	assert_int_equal(boxfs_lock(f2, F_SETLK, &want), 0);
	struct flock lo = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 4 };
	struct flock hi = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 4, .l_len = 4 };
	assert_int_equal(boxfs_lock(f1, F_SETLK, &lo), 0);
	assert_int_equal(boxfs_lock(f2, F_SETLK, &hi), 0);
	/* closing the connection drops its locks */
	assert_int_equal(boxfs_close(f2), 0);
	f2 = NULL;
	boxfs_disconnect(c2);
	c2 = NULL;
	hi.l_type = F_WRLCK;
	assert_int_equal(boxfs_lock(f1, F_SETLK, &hi), 0);
out:
	if (f2)
		assert_int_equal(boxfs_close(f2), 0);
	assert_int_equal(boxfs_close(f1), 0);
	if (c2)
		boxfs_disconnect(c2);
}

static void t_open_unlinked(void **state)
{
	(void)state;
	struct boxfs_file *f = boxfs_open(c1, P("ghost"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_non_null(f);
	assert_int_equal(boxfs_write(f, "boo!", 4), 4);
	assert_int_equal(boxfs_unlink(c1, P("ghost")), 0);
	struct stat st;
	assert_int_equal(boxfs_stat(c1, P("ghost"), &st), -ENOENT);
	char buf[16];
	assert_int_equal(boxfs_pread(f, buf, sizeof buf, 0), 4);
	assert_memory_equal(buf, "boo!", 4);
	assert_int_equal(boxfs_pwrite(f, "more", 4, 4), 4);
	assert_int_equal(boxfs_pread(f, buf, sizeof buf, 0), 8);
	assert_memory_equal(buf, "boo!more", 8);
	assert_int_equal(boxfs_fstat(f, &st), 0);
	assert_int_equal(st.st_size, 8);
	if (is_L())
		assert_int_equal(st.st_nlink, 0);
	/* a new file of the same name is another file */
	put_file(P("ghost"), "new");
	assert_int_equal(boxfs_pread(f, buf, sizeof buf, 0), 8);
	assert_memory_equal(buf, "boo!more", 8);
	assert_int_equal(boxfs_close(f), 0);
	check_file(P("ghost"), "new");
}

/* The last test: SIGTERM stops the server, which exits 0. */
static void t_sigterm_exit_0(void **state)
{
	(void)state;
	assert_true(srv.pid > 0);
	assert_true(served_stop(&srv));
}

struct op {
	const char *name;
	CMUnitTestFunction fn;
};

static const struct op ops[] = {
	{ "connect", t_connect },
	{ "write_read_3MiB", t_write_read_3mib },
	{ "stat", t_stat },
	{ "readdir_10000", t_readdir_10000 },
	{ "rename", t_rename },
	{ "remove", t_remove },
	{ "symlink_readlink", t_symlink },
	{ "link_nlink", t_link },
	{ "truncate", t_truncate },
	{ "chmod", t_chmod },
	{ "utimens", t_utimens },
	{ "locks", t_locks },
	{ "open_unlinked", t_open_unlinked },
};

enum { NOPS = sizeof ops / sizeof ops[0] };

int main(int argc, char **argv)
{
	boxfs_exe = argc > 1 ? argv[1] : getenv("BOXFS_EXE");
	if (!boxfs_exe || access(boxfs_exe, X_OK) != 0) {
		fprintf(stderr, "usage: test_client_boxfs PATH-TO-boxfs (or $BOXFS_EXE)\n");
		return 2;
	}
	static const struct {
		const char *version;
		enum p9_dialect d;
	} dialects[] = { { "9P2000.L", P9_2000L },
			 { "9P2000.u", P9_2000U },
			 { "9P2000", P9_2000 } };
	static struct CMUnitTest tests[6 * NOPS + 1];
	static char names[6 * NOPS][64];
	size_t n = 0;
	for (int t = 0; t < 2; t++)
		for (int d = 0; d < 3; d++) {
			struct combo *cb = &combos[t * 3 + d];
			cb->transport = t == 0 ? "unix" : "tcp";
			cb->addr = t == 0 ? unix_addr : tcp_addr;
			cb->version = dialects[d].version;
			cb->dialect = dialects[d].d;
			snprintf(cb->dir, sizeof cb->dir, "%s-%s", cb->transport, cb->version);
			for (size_t i = 0; i < NOPS; i++, n++) {
				snprintf(names[n], sizeof names[n], "%s/%s/%s", cb->transport,
					 cb->version, ops[i].name);
				tests[n] = (struct CMUnitTest){ names[n], ops[i].fn, setup,
								teardown, cb };
			}
		}
	tests[n++] = (struct CMUnitTest){ "server_exits_0_on_SIGTERM", t_sigterm_exit_0, NULL, NULL,
					  NULL };
	return _cmocka_run_group_tests("boxfs", tests, n, start_server, teardown_group);
}
