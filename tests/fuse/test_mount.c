/*
 * test_mount.c — `boxfs mount` against the local file system: one POSIX
 * operation sequence runs on a local temporary directory and on a FUSE
 * mount of `boxfs serve`, each step logged as "line: call = result errno
 * [data]", and the two logs must be equal line for line. The sequence also
 * checks its own results (data read back, sizes, listings) and logs "BAD"
 * when one is wrong, so a fault both sides share still fails.
 *
 * Mounts: the RAM tree with each cache mode (attr, none, full) and in each
 * dialect (9P2000.u and 9P2000 run the parts those dialects can say, and
 * must answer the rest with the right errno), and a host export. Then a
 * server that goes away: calls must fail with EIO at once, and the mount
 * must still unmount. Skips when /dev/fuse or fusermount3 is missing.
 *
 * argv[1] is the boxfs executable.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "../lib/served.h"
#include "../lib/testlib.h"
#include "mnt.h"

static const char *boxfs_exe;
static const char *skip_why;

/* What a run may use: the parts of the sequence a dialect or cache mode has. */
enum {
	S_LINKS = 1,  /* symbolic and hard links */
	S_L = 2,      /* 9P2000.L: xattrs, locks, mknod, chown, ns times, nlink */
	S_MMAP = 4,   /* shared writable mmap (not under --cache none) */
	S_EXPORT = 8, /* a host export: names of special files need --allow-special */
	S_NOSTATFS = 16,
};

/* ---- the log ---- */

struct log {
	char *buf;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) lg(struct log *l, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	if (l->len + (size_t)n + 2 > l->cap) {
		l->cap = (l->cap + (size_t)n + 2) * 2;
		l->buf = realloc(l->buf, l->cap);
		assert_non_null(l->buf);
	}
	memcpy(l->buf + l->len, line, (size_t)n);
	l->len += (size_t)n;
	l->buf[l->len++] = '\n';
	l->buf[l->len] = '\0';
}

static const char *ename(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "E?";
}

/* Logs a call's result: its value, and errno when it failed. */
#define R(expr)                                                                                    \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(expr);                                                            \
		lg(L, "%d: %s = %ld %s", __LINE__, #expr, r_ < 0 ? -1L : r_,                       \
		   r_ < 0 ? ename(errno) : "");                                                    \
	} while (0)

/* Logs a check of the sequence's own. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			lg(L, "%d: BAD %s", __LINE__, #cond);                                      \
	} while (0)

static void log_stat(struct log *L, int line, int dfd, const char *name, int flags, int parts)
{
	struct stat st;
	if (fstatat(dfd, name, &st, flags) < 0) {
		lg(L, "%d: stat %s: %s", line, name, ename(errno));
		return;
	}
	char extra[128] = "";
	if (!S_ISDIR(st.st_mode) && (parts & S_L))
		snprintf(extra, sizeof extra, " nlink %lu", (unsigned long)st.st_nlink);
	lg(L, "%d: stat %s: mode %o size %lld%s", line, name, (unsigned)st.st_mode,
	   S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size, extra);
}
#define STAT(name, flags) log_stat(L, __LINE__, dfd, name, flags, parts)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Logs a directory's sorted names with their d_type. */
static void log_list(struct log *L, int line, int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		lg(L, "%d: list %s: %s", line, name, ename(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	char *names[2048];
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 2048) {
		char *s;
		if (asprintf(&s, "%s/%d", e->d_name, e->d_type) < 0)
			break;
		names[n++] = s;
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp_str);
	char buf[4096];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (n <= 40)
			len += (size_t)snprintf(buf + len, len < sizeof buf ? sizeof buf - len : 0,
						" %s", names[i]);
		free(names[i]);
	}
	lg(L, "%d: list %s: %zu entries%s", line, name, n, n <= 40 ? buf : "");
}
#define LIST(name) log_list(L, __LINE__, dfd, name)

static void fill(char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (char)(seed >> 16);
	}
}

/* ---- the sequence ---- */

static void seq_files(struct log *L, int dfd, int parts)
{
	char buf[8192], back[8192];
	fill(buf, sizeof buf, 1);
	int fd;
	R(fd = openat(dfd, "f", O_CREAT | O_EXCL | O_RDWR, 0644));
	R(openat(dfd, "f", O_CREAT | O_EXCL | O_RDWR, 0644));
	R(write(fd, buf, 5000));
	R(pwrite(fd, buf + 100, 300, 7000));
	R(lseek(fd, 0, SEEK_END));
	R(lseek(fd, 0, SEEK_CUR));
	memset(back, 'x', sizeof back);
	R(pread(fd, back, sizeof back, 0));
	CHECK(memcmp(back, buf, 5000) == 0);
	CHECK(back[5000] == 0 && back[6999] == 0); /* the hole */
	CHECK(memcmp(back + 7000, buf + 100, 300) == 0);
	R(pread(fd, back, 100, 7300));
	R(pread(fd, back, 100, 1 << 20));
	R(ftruncate(fd, 2000));
	STAT("f", 0);
	R(ftruncate(fd, 10000));
	R(pread(fd, back, sizeof back, 0));
	CHECK(memcmp(back, buf, 2000) == 0 && back[2000] == 0 && back[8191] == 0);
	R(fsync(fd));
	R(fdatasync(fd));
	R(close(fd));
	R(truncate("f", 3));
	STAT("f", 0);

	/* O_APPEND, O_TRUNC, access modes */
	R(fd = openat(dfd, "f", O_WRONLY | O_APPEND));
	R(write(fd, "abc", 3));
	R(pwrite(fd, "Z", 1, 0)); /* Linux: O_APPEND wins over the offset */
	R(read(fd, back, 1));
	R(close(fd));
	R(fd = openat(dfd, "f", O_RDONLY));
	R(read(fd, back, sizeof back));
	CHECK(memcmp(back, buf, 3) == 0 && memcmp(back + 3, "abcZ", 4) == 0);
	R(write(fd, "x", 1));
	R(close(fd));
	R(fd = openat(dfd, "f", O_RDWR | O_TRUNC));
	STAT("f", 0);
	R(close(fd));

	/* a big file, in and out in pieces larger than one message */
	size_t big = 3 << 20;
	char *a = malloc(big), *b = malloc(big);
	assert_non_null(a);
	assert_non_null(b);
	fill(a, big, 7);
	R(fd = openat(dfd, "big", O_CREAT | O_RDWR | O_TRUNC, 0600));
	R(write(fd, a, big));
	R(pread(fd, b, big, 0));
	CHECK(memcmp(a, b, big) == 0);
	R(close(fd));
	STAT("big", 0);
	R(fd = openat(dfd, "big", O_RDONLY));
	memset(b, 0, big);
	size_t got = 0;
	ssize_t k;
	while ((k = read(fd, b + got, 65536 + 17)) > 0)
		got += (size_t)k;
	CHECK(got == big && memcmp(a, b, big) == 0);
	R(close(fd));
	free(a);
	free(b);

	/* errors */
	R(openat(dfd, "missing", O_RDONLY));
	R(openat(dfd, "f/x", O_RDONLY));
	R(openat(dfd, "f", O_RDONLY | O_DIRECTORY));
	R(mkdirat(dfd, "f", 0755));
	R(unlinkat(dfd, "missing", 0));
	R(faccessat(dfd, "f", R_OK | W_OK, 0));
	R(faccessat(dfd, "missing", F_OK, 0));
	STAT("missing", 0);

	/* an unlinked file stays usable while open */
	R(fd = openat(dfd, "gone", O_CREAT | O_RDWR, 0600));
	R(write(fd, "still here", 10));
	R(unlinkat(dfd, "gone", 0));
	R(pread(fd, back, 10, 0));
	CHECK(memcmp(back, "still here", 10) == 0);
	R(close(fd));
	STAT("gone", 0);

	/* modes and times */
	R(fchmodat(dfd, "f", 0600, 0));
	STAT("f", 0);
	R(fchmodat(dfd, "f", (parts & (S_L | S_LINKS)) ? 04751 : 0751, 0));
	STAT("f", 0);
	struct timespec ts[2] = { { 1000000000, (parts & S_L) ? 123456789 : 0 },
				  { 1200000000, (parts & S_L) ? 987654321 : 0 } };
	R(utimensat(dfd, "f", ts, 0));
	struct stat st;
	R(fstatat(dfd, "f", &st, 0));
	lg(L, "%d: times %lld.%09ld %lld.%09ld", __LINE__, (long long)st.st_atim.tv_sec,
	   st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	time_t before = time(NULL);
	R(utimensat(dfd, "f", NULL, 0));
	R(fstatat(dfd, "f", &st, 0));
	CHECK(st.st_mtim.tv_sec >= before - 1 && st.st_mtim.tv_sec <= time(NULL) + 1);
	if (parts & S_L) {
		R(fchownat(dfd, "f", 1234, 5678, 0));
		R(fstatat(dfd, "f", &st, 0));
		lg(L, "%d: owner %u %u", __LINE__, (unsigned)st.st_uid, (unsigned)st.st_gid);
		R(fchownat(dfd, "f", 0, 0, 0));
	}
}

static void seq_dirs(struct log *L, int dfd, int parts)
{
	(void)parts;
	R(mkdirat(dfd, "d", 0755));
	R(mkdirat(dfd, "d", 0755));
	R(mkdirat(dfd, "d/e", 0700));
	R(mkdirat(dfd, "missing/e", 0700));
	STAT("d/e", 0);
	int fd;
	R(fd = openat(dfd, "d/file", O_CREAT | O_WRONLY, 0644));
	R(close(fd));
	R(unlinkat(dfd, "d", AT_REMOVEDIR));
	R(unlinkat(dfd, "d", 0));
	R(unlinkat(dfd, "d/file", AT_REMOVEDIR));
	R(openat(dfd, "d", O_WRONLY));
	LIST("d");
	/* many entries: directory reads continue across replies */
	R(mkdirat(dfd, "many", 0755));
	for (int i = 0; i < 300; i++) {
		char name[64];
		snprintf(name, sizeof name, "many/a-rather-long-file-name-to-fill-replies-%03d", i);
		int f = openat(dfd, name, O_CREAT | O_WRONLY, 0644);
		CHECK(f >= 0);
		if (f >= 0)
			close(f);
	}
	LIST("many");
	for (int i = 0; i < 300; i += 2) {
		char name[64];
		snprintf(name, sizeof name, "many/a-rather-long-file-name-to-fill-replies-%03d", i);
		CHECK(unlinkat(dfd, name, 0) == 0);
	}
	LIST("many");
	LIST(".");
}

static void seq_rename(struct log *L, int dfd, int parts)
{
	int fd;
	R(fd = openat(dfd, "r1", O_CREAT | O_WRONLY, 0644));
	R(write(fd, "one", 3));
	R(renameat(dfd, "r1", dfd, "r2")); /* while open */
	R(write(fd, "more", 4));
	R(close(fd));
	STAT("r1", 0);
	STAT("r2", 0);
	R(fd = openat(dfd, "r3", O_CREAT | O_WRONLY, 0644));
	R(close(fd));
	R(renameat(dfd, "r2", dfd, "r3")); /* over a file */
	STAT("r3", 0);
	if (parts & S_L) {
		R(renameat(dfd, "r3", dfd, "d/e/r4")); /* across directories */
		STAT("d/e/r4", 0);
		R(renameat(dfd, "d", dfd, "d/e/x"));  /* into itself */
		R(renameat(dfd, "d/e/r4", dfd, "d")); /* a file over a directory */
	} else {				      /* 9P2000 renames within a directory */
		R(renameat(dfd, "r3", dfd, "r4"));
		STAT("r4", 0);
		R(unlinkat(dfd, "r4", 0));
	}
	R(mkdirat(dfd, "d2", 0755));
	R(renameat(dfd, "d2", dfd, "d")); /* over a non-empty directory */
	R(renameat(dfd, "missing", dfd, "x"));
	if (parts & S_L) {
		R(renameat(dfd, "d2", dfd, "d3"));
		R(renameat2(dfd, "d3", dfd, "d", RENAME_NOREPLACE));
		R(renameat2(dfd, "d3", dfd, "d4", RENAME_NOREPLACE));
		STAT("d4", 0);
	}
	LIST(".");
}

static void seq_links(struct log *L, int dfd, int parts)
{
	char buf[256];
	R(symlinkat("f", dfd, "s"));
	R(symlinkat("nowhere", dfd, "dangling"));
	R(symlinkat("x", dfd, "s"));
	ssize_t n;
	R(n = readlinkat(dfd, "s", buf, sizeof buf));
	if (n > 0)
		lg(L, "%d: target '%.*s'", __LINE__, (int)n, buf);
	R(readlinkat(dfd, "f", buf, sizeof buf));
	STAT("s", AT_SYMLINK_NOFOLLOW);
	STAT("s", 0);
	STAT("dangling", 0);
	int fd;
	R(fd = openat(dfd, "s", O_RDONLY));
	R(close(fd));
	R(openat(dfd, "s", O_RDONLY | O_NOFOLLOW));
	R(linkat(dfd, "f", dfd, "hard", 0));
	R(linkat(dfd, "f", dfd, "hard", 0));
	struct stat a, b;
	R(fstatat(dfd, "f", &a, 0));
	R(fstatat(dfd, "hard", &b, 0));
	CHECK(a.st_ino == b.st_ino);
	if (parts & S_L)
		CHECK(a.st_nlink == 2);
	R(fd = openat(dfd, "hard", O_WRONLY | O_TRUNC));
	R(write(fd, "via hard", 8));
	R(close(fd));
	STAT("f", 0);
	R(unlinkat(dfd, "hard", 0));
	STAT("f", 0);
	R(linkat(dfd, "d", dfd, "dlink", 0));
	LIST(".");
}

static void seq_mmap(struct log *L, int dfd, int parts)
{
	(void)parts;
	int fd;
	R(fd = openat(dfd, "m", O_CREAT | O_RDWR | O_TRUNC, 0644));
	R(ftruncate(fd, 3 * 4096));
	char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	lg(L, "%d: mmap shared %s", __LINE__, p == MAP_FAILED ? ename(errno) : "ok");
	if (p == MAP_FAILED) {
		close(fd);
		return;
	}
	memcpy(p + 4000, "across a page boundary", 23);
	R(msync(p, 3 * 4096, MS_SYNC));
	char back[64] = "";
	R(pread(fd, back, 23, 4000));
	CHECK(memcmp(back, "across a page boundary", 23) == 0);
	R(pwrite(fd, "written", 7, 8192));
	CHECK(memcmp(p + 8192, "written", 7) == 0);
	R(munmap(p, 3 * 4096));
	R(close(fd));
	R(fd = openat(dfd, "m", O_RDONLY));
	R(pread(fd, back, 23, 4000));
	CHECK(memcmp(back, "across a page boundary", 23) == 0);
	R(close(fd));
	STAT("m", 0);
}

static void seq_xattr(struct log *L, const char *root)
{
	char p[512], buf[256];
	snprintf(p, sizeof p, "%s/f", root);
	R(setxattr(p, "user.a", "value-a", 7, 0));
	R(setxattr(p, "user.b", "", 0, 0));
	R(setxattr(p, "user.a", "x", 1, XATTR_CREATE));
	R(setxattr(p, "user.c", "x", 1, XATTR_REPLACE));
	R(getxattr(p, "user.a", NULL, 0));
	ssize_t n;
	R(n = getxattr(p, "user.a", buf, sizeof buf));
	if (n > 0)
		lg(L, "%d: value '%.*s'", __LINE__, (int)n, buf);
	R(getxattr(p, "user.a", buf, 3));
	R(getxattr(p, "user.missing", buf, sizeof buf));
	R(n = listxattr(p, buf, sizeof buf));
	if (n > 0) { /* the names, sorted */
		char *names[16];
		int k = 0;
		for (char *s = buf; s < buf + n && k < 16; s += strlen(s) + 1)
			names[k++] = s;
		qsort(names, (size_t)k, sizeof names[0], cmp_str);
		for (int i = 0; i < k; i++)
			lg(L, "%d: xattr name %s", __LINE__, names[i]);
	}
	R(removexattr(p, "user.a"));
	R(removexattr(p, "user.a"));
	R(getxattr(p, "user.a", buf, sizeof buf));
	char big[4000];
	fill(big, sizeof big, 3);
	R(setxattr(p, "user.big", big, sizeof big, 0));
	char bigb[4000];
	R(getxattr(p, "user.big", bigb, sizeof bigb));
	CHECK(memcmp(big, bigb, sizeof big) == 0);
}

static void *unlock_later(void *arg)
{
	usleep(200000);
	int fd = *(int *)arg;
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
	fcntl(fd, F_SETLK, &fl);
	return NULL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void seq_locks(struct log *L, int dfd, int parts)
{
	int fd;
	R(fd = openat(dfd, "lk", O_CREAT | O_RDWR, 0644));
	R(ftruncate(fd, 100));
	int go[2], done[2];
	if (pipe(go) < 0 || pipe(done) < 0)
		return;
	pid_t child = fork();
	if (child == 0) {
		/* holds a write lock on [0,10) until told */
		int cfd = openat(dfd, "lk", O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 10 };
		char c = fcntl(cfd, F_SETLK, &fl) == 0 ? 'y' : 'n';
		if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	char c = 0;
	R(read(go[0], &c, 1));
	CHECK(c == 'y');
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 2 };
	R(fcntl(fd, F_GETLK, &fl));
	lg(L, "%d: getlk type %d start %lld len %lld", __LINE__, fl.l_type, (long long)fl.l_start,
	   (long long)fl.l_len);
	if (!(parts & S_EXPORT)) /* the host's own locks do not say who holds them */
		lg(L, "%d: getlk pid is the holder's: %d", __LINE__, fl.l_pid == child);
	fl = (struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 5 };
	R(fcntl(fd, F_GETLK, &fl));
	lg(L, "%d: getlk type %d", __LINE__, fl.l_type);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1 };
	R(fcntl(fd, F_SETLK, &fl));
	fl.l_start = 50;
	R(fcntl(fd, F_SETLK, &fl));
	/* a waiting lock is interrupted by a signal */
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, &old);
	ualarm(300000, 0);
	fl = (struct flock){ .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 10 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	R(fcntl(fd, F_SETLKW, &fl));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	sigaction(SIGALRM, &old, NULL);
	double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(waited > 0.2 && waited < 5);
	/* the child lets go: a waiting lock is granted */
	R(write(done[1], "x", 1));
	int ws;
	R(waitpid(child, &ws, 0) == child);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	R(fcntl(fd, F_SETLKW, &fl));
	/* a thread of this process: the same owner, no conflict */
	R(fcntl(fd, F_SETLK, &fl));
	pthread_t th;
	pthread_create(&th, NULL, unlock_later, &fd);
	pthread_join(th, NULL);
	fl.l_type = F_WRLCK;
	R(fcntl(fd, F_GETLK, &fl));
	lg(L, "%d: getlk type %d", __LINE__, fl.l_type);
	/* flock: whole-file locks of open files (on the server, in the same
	 * lock space as POSIX locks: none may be held here) */
	int fd2, fd3;
	R(fd2 = openat(dfd, "lk", O_RDWR));
	R(fd3 = openat(dfd, "lk", O_RDONLY));
	R(flock(fd2, LOCK_EX | LOCK_NB));
	R(flock(fd3, LOCK_SH | LOCK_NB));
	R(flock(fd2, LOCK_SH | LOCK_NB));
	R(flock(fd3, LOCK_SH | LOCK_NB));
	R(flock(fd3, LOCK_EX | LOCK_NB));
	R(flock(fd2, LOCK_UN));
	R(flock(fd3, LOCK_EX | LOCK_NB));
	R(close(fd3));
	/* closing fd3 lets go; through FUSE when the kernel releases the file,
	 * which it does in the background, just after close returns */
	int r = -1;
	for (int i = 0; i < 200 && (r = flock(fd2, LOCK_EX | LOCK_NB)) < 0; i++)
		usleep(10000);
	R(r);
	R(close(fd2));
	R(close(fd));
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

static void seq_special(struct log *L, int dfd, int parts)
{
	if (!(parts & S_EXPORT)) {
		R(mknodat(dfd, "fifo", S_IFIFO | 0644, 0));
		STAT("fifo", 0);
	}
	struct statvfs sv;
	R(fstatvfs(dfd, &sv));
	CHECK(sv.f_bsize > 0 && sv.f_namemax >= 255);
}

/* The whole sequence under root (a fresh empty directory). */
static void sequence(struct log *L, const char *root, int parts)
{
	int dfd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(root), 0); /* truncate(2) takes a path */
	seq_files(L, dfd, parts);
	seq_dirs(L, dfd, parts);
	seq_rename(L, dfd, parts);
	if (parts & S_LINKS)
		seq_links(L, dfd, parts);
	if (parts & S_MMAP)
		seq_mmap(L, dfd, parts);
	if (parts & S_L) {
		seq_xattr(L, root);
		seq_locks(L, dfd, parts);
		seq_special(L, dfd, parts);
	}
	assert_int_equal(chdir(cwd), 0);
	close(dfd);
}

/* Compares two logs; prints the first differences. */
static int compare(const struct log *want, const struct log *got)
{
	const char *a = want->buf, *b = got->buf;
	int bad = 0;
	while (*a || *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		size_t la = ea ? (size_t)(ea - a) : strlen(a),
		       lb = eb ? (size_t)(eb - b) : strlen(b);
		if (la != lb || memcmp(a, b, la) != 0) {
			if (bad++ < 20)
				fprintf(stderr, "# local: %.*s\n#  mount: %.*s\n", (int)la, a,
					(int)lb, b);
		}
		a += la + (ea ? 1 : 0);
		b += lb + (eb ? 1 : 0);
	}
	for (const char *p = want->buf; (p = strstr(p, ": BAD ")); p++)
		fprintf(stderr, "# local: %.*s\n", (int)strcspn(p, "\n"), p), bad++;
	for (const char *p = got->buf; (p = strstr(p, ": BAD ")); p++)
		fprintf(stderr, "#  mount: %.*s\n", (int)strcspn(p, "\n"), p), bad++;
	return bad;
}

/* Runs the sequence locally and under mnt/sub; the logs must agree. */
static void run_compare(const char *mroot, int parts)
{
	char local[] = "/tmp/boxfs-local-XXXXXX";
	assert_non_null(mkdtemp(local));
	struct log want = { 0 }, got = { 0 };
	sequence(&want, local, parts);
	rm_tree(local);
	char sub[256];
	snprintf(sub, sizeof sub, "%s/suite", mroot);
	assert_int_equal(mkdir(sub, 0755), 0);
	sequence(&got, sub, parts);
	int bad = compare(&want, &got);
	size_t lines = 0;
	for (const char *p = want.buf; p && *p; p++)
		lines += *p == '\n';
	fprintf(stderr, "# %zu steps compared, %d differences\n", lines, bad);
	assert_true(lines > 100);
	free(want.buf);
	free(got.buf);
	rm_tree(sub);
	assert_int_equal(bad, 0);
}

/* ---- the mounts ---- */

static void with_ram_mount(int parts, const char *a1, const char *a2, const char *a3)
{
	if (skip_why)
		skip();
	struct served s;
	assert_int_equal(served_start(&s, boxfs_exe, 1, "-l", "unix!{dir}/sock", (char *)NULL), 0);
	struct mnt m;
	int rc = mnt_start(&m, boxfs_exe, served_addr(&s, "9p", "unix!"), a1, a2, a3, (char *)NULL);
	if (rc < 0)
		served_stop(&s);
	assert_int_equal(rc, 0);
	run_compare(m.dir, parts);
	assert_true(mnt_stop(&m));
	assert_true(served_stop(&s));
}

static void test_ram_attr(void **state)
{
	(void)state;
	with_ram_mount(S_LINKS | S_L | S_MMAP, NULL, NULL, NULL);
}

static void test_ram_none(void **state)
{
	(void)state;
	with_ram_mount(S_LINKS | S_L, "--cache", "none", NULL);
}

static void test_ram_full(void **state)
{
	(void)state;
	with_ram_mount(S_LINKS | S_L | S_MMAP, "--cache", "full", NULL);
}

static void test_ram_9p2000u(void **state)
{
	(void)state;
	with_ram_mount(S_LINKS | S_MMAP, "--dialect", "9P2000.u", NULL);
}

static void test_ram_9p2000(void **state)
{
	(void)state;
	with_ram_mount(S_MMAP, "--dialect", "9P2000", NULL);
}

/* What 9P2000.u and 9P2000 cannot say answers an errno. */
static void test_dialect_errors(void **state)
{
	(void)state;
	if (skip_why)
		skip();
	struct served s;
	assert_int_equal(served_start(&s, boxfs_exe, 1, "-l", "unix!{dir}/sock", (char *)NULL), 0);
	static const char *const dialects[] = { "9P2000.u", "9P2000" };
	for (int i = 0; i < 2; i++) {
		struct mnt m;
		assert_int_equal(mnt_start(&m, boxfs_exe, served_addr(&s, "9p", "unix!"),
					   "--dialect", dialects[i], (char *)NULL),
				 0);
		char p[256];
		snprintf(p, sizeof p, "%s/x%d", m.dir, i);
		int fd = open(p, O_CREAT | O_RDWR, 0644);
		assert_true(fd >= 0);
		errno = 0;
		assert_int_equal(setxattr(p, "user.a", "1", 1, 0), -1);
		assert_int_equal(errno, EOPNOTSUPP);
		errno = 0;
		assert_int_equal(getxattr(p, "user.a", NULL, 0), -1);
		assert_int_equal(errno, EOPNOTSUPP);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		errno = 0;
		assert_int_equal(fcntl(fd, F_SETLK, &fl), -1);
		assert_int_equal(errno, EOPNOTSUPP);
		close(fd);
		snprintf(p, sizeof p, "%s/fifo%d", m.dir, i);
		errno = 0;
		assert_int_equal(mknod(p, S_IFIFO | 0644, 0), -1);
		assert_int_equal(errno, EPERM);
		char q[256];
		snprintf(p, sizeof p, "%s/dir%d", m.dir, i);
		assert_int_equal(mkdir(p, 0755), 0);
		snprintf(p, sizeof p, "%s/x%d", m.dir, i);
		snprintf(q, sizeof q, "%s/dir%d/x", m.dir, i);
		errno = 0;
		assert_int_equal(rename(p, q), -1);
		assert_int_equal(errno, EXDEV);
		if (i == 1) {
			snprintf(q, sizeof q, "%s/s", m.dir);
			errno = 0;
			assert_int_equal(symlink("x", q), -1);
			assert_int_equal(errno, EPERM);
		}
		assert_true(mnt_stop(&m));
	}
	assert_true(served_stop(&s));
}

static void test_export(void **state)
{
	(void)state;
	if (skip_why)
		skip();
	char dir[] = "/tmp/boxfs-export-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char earg[64];
	snprintf(earg, sizeof earg, "%s", dir);
	struct served s;
	int rc = served_start(&s, boxfs_exe, 1, "-l", "unix!{dir}/sock", "--export", earg,
			      (char *)NULL);
	if (rc < 0)
		rm_tree(dir);
	assert_int_equal(rc, 0);
	struct mnt m;
	rc = mnt_start(&m, boxfs_exe, served_addr(&s, "9p", "unix!"), (char *)NULL);
	if (rc == 0) {
		run_compare(m.dir, S_LINKS | S_L | S_MMAP | S_EXPORT);
		/* what the mount wrote is in the exported directory */
		char p[256];
		snprintf(p, sizeof p, "%s/marker", m.dir);
		int fd = open(p, O_CREAT | O_WRONLY, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "exported", 8), 8);
		close(fd);
		snprintf(p, sizeof p, "%s/marker", dir);
		char buf[16] = "";
		fd = open(p, O_RDONLY);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, sizeof buf), 8);
		close(fd);
		assert_memory_equal(buf, "exported", 8);
		assert_true(mnt_stop(&m));
	}
	served_stop(&s);
	rm_tree(dir);
	assert_int_equal(rc, 0);
}

/* A server that goes away: EIO at once, and the mount still unmounts. */
static void test_server_gone(void **state)
{
	(void)state;
	if (skip_why)
		skip();
	struct served s;
	assert_int_equal(served_start(&s, boxfs_exe, 1, "-l", "unix!{dir}/sock", (char *)NULL), 0);
	struct mnt m;
	assert_int_equal(mnt_start(&m, boxfs_exe, served_addr(&s, "9p", "unix!"), "--cache", "none",
				   (char *)NULL),
			 0);
	char p[256];
	snprintf(p, sizeof p, "%s/f", m.dir);
	int fd = open(p, O_CREAT | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_true(served_stop(&s));
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char buf[4];
	errno = 0;
	assert_int_equal(pread(fd, buf, 1, 0), -1);
	assert_int_equal(errno, EIO);
	struct stat st;
	errno = 0;
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(errno, EIO);
	snprintf(p, sizeof p, "%s/new", m.dir);
	errno = 0;
	assert_int_equal(open(p, O_CREAT | O_RDWR, 0644), -1);
	assert_int_equal(errno, EIO);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	close(fd);
	assert_true(mnt_stop(&m));
}

/* The command's own errors: said, status 1 or 2, nothing mounted. */
static void test_cli_errors(void **state)
{
	(void)state;
	if (skip_why)
		skip();
	char cmd[1024];
	char tmp[] = "/tmp/boxfs-cli-XXXXXX";
	assert_non_null(mkdtemp(tmp));
	snprintf(cmd, sizeof cmd,
		 "cd %s && touch file && out=$(%s mount unix!%s/nosock file 2>&1); "
		 "[ $? = 1 ] && [ \"$out\" = \"boxfs mount: file: not a directory\" ]",
		 tmp, boxfs_exe, tmp);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd,
		 "cd %s && mkdir -p m && out=$(%s mount unix!%s/nosock m 2>&1); "
		 "[ $? = 1 ] && echo \"$out\" | grep -q 'boxfs mount: unix!.*/nosock: ' && "
		 "! grep -q ' %s/m ' /proc/mounts",
		 tmp, boxfs_exe, tmp, tmp);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof cmd,
		 "cd %s && %s mount --cache sometimes x m 2>/dev/null; [ $? = 2 ] && "
		 "%s umount %s/m 2>/dev/null; [ $? = 1 ] && %s mount --help | grep -q -- --cache",
		 tmp, boxfs_exe, boxfs_exe, tmp, boxfs_exe);
	assert_int_equal(system(cmd), 0);
	rm_tree(tmp);
}

int main(int argc, char **argv)
{
	boxfs_exe = argc > 1 ? argv[1] : getenv("BOXFS_EXE");
	if (!boxfs_exe) {
		fprintf(stderr, "usage: test_mount BOXFS_EXE\n");
		return 2;
	}
	static char exe[4096];
	if (realpath(boxfs_exe, exe)) /* test_cli_errors runs it from elsewhere */
		boxfs_exe = exe;
	if (!mnt_available(&skip_why))
		fprintf(stderr, "# skipping: %s\n", skip_why);
	else
		skip_why = NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_attr),   cmocka_unit_test(test_ram_none),
		cmocka_unit_test(test_ram_full),   cmocka_unit_test(test_ram_9p2000u),
		cmocka_unit_test(test_ram_9p2000), cmocka_unit_test(test_dialect_errors),
		cmocka_unit_test(test_export),	   cmocka_unit_test(test_server_gone),
		cmocka_unit_test(test_cli_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
