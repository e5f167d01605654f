/*
 * guest-helper.c — the few checks of the Linux-guest interoperability test
 * (tests/interop) that busybox cannot do: POSIX byte-range locks, a shared
 * writable mmap, extended attributes and reading a file after unlinking it.
 *
 * The harness (run.sh) compiles it on the host with `gcc -static -O2` and puts
 * it in the guest's initramfs as /bin/guest-helper. It runs inside the QEMU
 * guest on files of a 9P mount.
 *
 * Usage: guest-helper COMMAND ARGS...
 *   lock PATH [PATH2]   take a write lock with F_SETLK on PATH; a second open
 *                       file description of PATH in a child process must see
 *                       the conflict (F_SETLK of a write or a read lock fails
 *                       with EAGAIN/EACCES, at once) and must get the lock
 *                       once the parent unlocks. With PATH2 (the same file
 *                       through a second mount, i.e. a second 9P connection)
 *                       the child uses PATH2 instead, so the conflict is
 *                       decided by the server (Tlock) rather than by the
 *                       guest's own lock table.
 *   getlk PATH [PATH2]  the same set-up; the child's F_GETLK must report the
 *                       parent's write lock (through PATH2: Tgetlock).
 *   mmap PATH SIZE      create PATH of SIZE bytes, map it MAP_SHARED read-write,
 *                       fill it with the test pattern, msync, munmap, close,
 *                       then read it back with read(2) and check the pattern.
 *   pattern PATH SIZE   write the test pattern with write(2).
 *   verify PATH SIZE    check that PATH holds exactly SIZE bytes of the pattern.
 *   xattr PATH          set, get, list and remove user.* attributes.
 *   unlinked PATH       open PATH, unlink it, then read and write through the
 *                       descriptor.
 *   unlinked-fstat PATH [NLINK]  the same, then fstat the descriptor: the size,
 *                       and st_nlink == NLINK when given.
 *
 * Exit status: 0 the check passed; 1 it failed (the reason is on stderr);
 * 77 the operation is not supported here (EOPNOTSUPP for xattrs, EINVAL/ENODEV
 * for a shared writable mapping), which the guest script turns into a SKIP
 * where the dialect or cache mode is known not to have it. Every command arms
 * alarm(20) so that a call that hangs fails instead of blocking the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define UNSUPPORTED 77

static const char *cmd = "guest-helper";

static int fail(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (errno %d: %s)\n", e, strerror(e));
	return 1;
}

static void on_alarm(int sig)
{
	static const char msg[] = "guest-helper: timed out (a call hung)\n";

	(void)sig;
	if (write(2, msg, sizeof msg - 1) < 0) {
	}
	_exit(1);
}

/* The test pattern: byte i of the file is a function of i that is not
 * periodic in any power of two below 2^32, so misplaced pages show. */
static unsigned char pat(size_t i)
{
	unsigned long x = (unsigned long)i * 2654435761UL;

	return (unsigned char)((x >> 13) ^ (x >> 24) ^ i);
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_pattern(const char *path, size_t size)
{
	unsigned char buf[65536];
	size_t off = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return fail("open %s", path);
	while (off < size) {
		size_t n = size - off < sizeof buf ? size - off : sizeof buf;

		for (size_t i = 0; i < n; i++)
			buf[i] = pat(off + i);
		if (write_all(fd, buf, n) < 0)
			return fail("write %s at %zu", path, off);
		off += n;
	}
	if (close(fd) < 0)
		return fail("close %s", path);
	return 0;
}

static int cmd_verify(const char *path, size_t size)
{
	unsigned char buf[65536];
	size_t off = 0;
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return fail("open %s", path);
	if (fstat(fd, &st) < 0)
		return fail("fstat %s", path);
	if ((size_t)st.st_size != size) {
		errno = 0;
		return fail("%s: size %lld, expected %zu", path, (long long)st.st_size, size);
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail("read %s at %zu", path, off);
		}
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pat(off + (size_t)i)) {
				errno = 0;
				return fail("%s: byte %zu is 0x%02x, expected 0x%02x", path,
					    off + (size_t)i, buf[i], pat(off + (size_t)i));
			}
		off += (size_t)r;
	}
	close(fd);
	if (off != size) {
		errno = 0;
		return fail("%s: read %zu bytes, expected %zu", path, off, size);
	}
	return 0;
}

static int cmd_mmap(const char *path, size_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	unsigned char *p;

	if (fd < 0)
		return fail("open %s", path);
	if (ftruncate(fd, (off_t)size) < 0)
		return fail("ftruncate %s to %zu", path, size);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;

		fail("mmap MAP_SHARED PROT_WRITE %s", path);
		return e == EINVAL || e == ENODEV || e == EACCES ? UNSUPPORTED : 1;
	}
	for (size_t i = 0; i < size; i++)
		p[i] = pat(i);
	if (msync(p, size, MS_SYNC) < 0)
		return fail("msync %s", path);
	if (munmap(p, size) < 0)
		return fail("munmap %s", path);
	if (close(fd) < 0)
		return fail("close %s", path);
	return cmd_verify(path, size);
}

static int cmd_xattr(const char *path)
{
	static const char v1[] = "boxfs interop value";
	static const char v2[] = "a second, longer value for the same attribute name";
	char buf[4096];
	ssize_t n;

	if (setxattr(path, "user.interop", v1, sizeof v1 - 1, XATTR_CREATE) < 0) {
		int e = errno;

		fail("setxattr %s user.interop", path);
		return e == EOPNOTSUPP || e == ENOTSUP ? UNSUPPORTED : 1;
	}
	n = getxattr(path, "user.interop", buf, sizeof buf);
	if (n < 0)
		return fail("getxattr %s user.interop", path);
	if ((size_t)n != sizeof v1 - 1 || memcmp(buf, v1, (size_t)n) != 0) {
		errno = 0;
		return fail("getxattr %s user.interop: got %zd bytes '%.*s'", path, n, (int)n, buf);
	}
	n = getxattr(path, "user.interop", NULL, 0);
	if (n != (ssize_t)(sizeof v1 - 1))
		return fail("getxattr size query %s gave %zd", path, n);
	if (setxattr(path, "user.interop", v1, sizeof v1 - 1, XATTR_CREATE) == 0 || errno != EEXIST)
		return fail("setxattr XATTR_CREATE of an existing name did not fail with EEXIST");
	if (setxattr(path, "user.interop", v2, sizeof v2 - 1, XATTR_REPLACE) < 0)
		return fail("setxattr XATTR_REPLACE %s", path);
	n = getxattr(path, "user.interop", buf, sizeof buf);
	if (n != (ssize_t)(sizeof v2 - 1) || memcmp(buf, v2, sizeof v2 - 1) != 0)
		return fail("getxattr after replace gave %zd bytes", n);
	if (setxattr(path, "user.second", "2", 1, 0) < 0)
		return fail("setxattr %s user.second", path);
	n = listxattr(path, buf, sizeof buf);
	if (n < 0)
		return fail("listxattr %s", path);
	{
		int seen1 = 0, seen2 = 0;

		for (char *s = buf; s < buf + n; s += strlen(s) + 1) {
			seen1 |= strcmp(s, "user.interop") == 0;
			seen2 |= strcmp(s, "user.second") == 0;
		}
		if (!seen1 || !seen2) {
			errno = 0;
			return fail("listxattr %s lacks user.interop or user.second", path);
		}
	}
	if (removexattr(path, "user.interop") < 0)
		return fail("removexattr %s user.interop", path);
	if (getxattr(path, "user.interop", buf, sizeof buf) >= 0 || errno != ENODATA)
		return fail("getxattr after removexattr did not fail with ENODATA");
	if (getxattr(path, "user.never-set", buf, sizeof buf) >= 0 || errno != ENODATA)
		return fail("getxattr of a name never set did not fail with ENODATA");
	return 0;
}

static int cmd_unlinked(const char *path, int with_fstat, long want_nlink)
{
	static const char text[] = "data still readable after unlink\n";
	char buf[256];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return fail("open %s", path);
	if (write_all(fd, text, sizeof text - 1) < 0)
		return fail("write %s", path);
	if (unlink(path) < 0)
		return fail("unlink %s", path);
	if (stat(path, &st) == 0 || errno != ENOENT)
		return fail("stat after unlink did not fail with ENOENT");
	n = pread(fd, buf, sizeof buf, 0);
	if (n != (ssize_t)(sizeof text - 1) || memcmp(buf, text, sizeof text - 1) != 0)
		return fail("pread of the unlinked file gave %zd bytes", n);
	if (pwrite(fd, "X", 1, 0) != 1)
		return fail("pwrite to the unlinked file");
	n = pread(fd, buf, sizeof buf, 0);
	if (n != (ssize_t)(sizeof text - 1) || buf[0] != 'X' ||
	    memcmp(buf + 1, text + 1, sizeof text - 2) != 0)
		return fail("pread after pwrite to the unlinked file gave %zd bytes", n);
	if (with_fstat) {
		if (fstat(fd, &st) < 0)
			return fail("fstat of the unlinked file");
		if (st.st_size != (off_t)(sizeof text - 1)) {
			errno = 0;
			return fail("fstat of the unlinked file: size %lld", (long long)st.st_size);
		}
		if (want_nlink >= 0 && st.st_nlink != (nlink_t)want_nlink) {
			errno = 0;
			return fail("fstat of the unlinked file: nlink %lu, expected %ld",
				    (unsigned long)st.st_nlink, want_nlink);
		}
	}
	if (close(fd) < 0)
		return fail("close of the unlinked file");
	return 0;
}

static int setlk(int fd, int cmdno, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };

	return fcntl(fd, cmdno, &fl);
}

static int cmd_lock(int getlk, const char *path, const char *path2)
{
	int fd, down[2], up[2], status;
	pid_t child;
	char c;

	fd = open(path, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return fail("open %s", path);
	if (setlk(fd, F_SETLK, F_WRLCK) < 0)
		return fail("F_SETLK F_WRLCK on %s", path);
	/* down: parent -> child "unlocked"; up: child -> parent "checked". */
	if (pipe(down) < 0 || pipe(up) < 0)
		return fail("pipe");
	child = fork();
	if (child < 0)
		return fail("fork");
	if (child == 0) {
		/* A second process with its own open file description. */
		const char *p = path2 ? path2 : path;
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
		int fd2 = open(p, O_RDWR);

		cmd = path2 ? "guest-helper lock (child, second mount)"
			    : "guest-helper lock (child)";
		alarm(20); /* a pending alarm is not inherited across fork */
		close(down[1]);
		close(up[0]);
		if (fd2 < 0)
			_exit(fail("open %s", p));
		if (getlk) {
			/* Only F_GETLK: does the other side see the parent's lock? */
			if (fcntl(fd2, F_GETLK, &fl) < 0)
				_exit(fail("F_GETLK"));
			if (fl.l_type != F_WRLCK) {
				errno = 0;
				_exit(fail("F_GETLK reports type %d, expected F_WRLCK (%d)",
					   fl.l_type, F_WRLCK));
			}
			_exit(0);
		}
		if (setlk(fd2, F_SETLK, F_WRLCK) == 0) {
			errno = 0;
			_exit(fail(
				"F_SETLK F_WRLCK succeeded while the parent holds a write lock"));
		}
		if (errno != EAGAIN && errno != EACCES)
			_exit(fail("F_SETLK on a locked file failed, but not with EAGAIN/EACCES"));
		if (setlk(fd2, F_SETLK, F_RDLCK) == 0) {
			errno = 0;
			_exit(fail(
				"F_SETLK F_RDLCK succeeded while the parent holds a write lock"));
		}
		if (write(up[1], "c", 1) != 1)
			_exit(fail("write to pipe"));
		/* Wait for the parent to unlock, then the lock must be free. */
		if (read(down[0], &c, 1) != 1)
			_exit(fail("read from pipe"));
		if (setlk(fd2, F_SETLK, F_WRLCK) < 0)
			_exit(fail("F_SETLK after the parent unlocked"));
		if (setlk(fd2, F_SETLK, F_UNLCK) < 0)
			_exit(fail("F_UNLCK"));
		/* A blocking lock on a free file must not block. */
		if (setlk(fd2, F_SETLKW, F_WRLCK) < 0)
			_exit(fail("F_SETLKW on a free file"));
		close(fd2);
		_exit(0);
	}
	close(down[0]);
	close(up[1]);
	/* The child reports its conflict checks done, or exits (EOF) on failure. */
	if (read(up[0], &c, 1) == 1) {
		if (setlk(fd, F_SETLK, F_UNLCK) < 0)
			return fail("F_UNLCK on %s", path);
		if (write(down[1], "u", 1) != 1)
			return fail("write to pipe");
	}
	if (waitpid(child, &status, 0) != child)
		return fail("waitpid");
	close(fd);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = 0;
		return fail("the child's checks failed (status 0x%x)", status);
	}
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGALRM, on_alarm);
	alarm(20);
	if (argc >= 3 && strcmp(argv[1], "lock") == 0)
		return cmd_lock(0, argv[2], argc >= 4 ? argv[3] : NULL);
	if (argc >= 3 && strcmp(argv[1], "getlk") == 0)
		return cmd_lock(1, argv[2], argc >= 4 ? argv[3] : NULL);
	if (argc == 4 && strcmp(argv[1], "mmap") == 0)
		return cmd_mmap(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "pattern") == 0)
		return cmd_pattern(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 4 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], strtoul(argv[3], NULL, 0));
	if (argc == 3 && strcmp(argv[1], "xattr") == 0)
		return cmd_xattr(argv[2]);
	if (argc == 3 && strcmp(argv[1], "unlinked") == 0)
		return cmd_unlinked(argv[2], 0, -1);
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "unlinked-fstat") == 0)
		return cmd_unlinked(argv[2], 1, argc == 4 ? strtol(argv[3], NULL, 0) : -1);
	fprintf(stderr, "usage: guest-helper lock PATH [PATH2] | getlk PATH [PATH2] | mmap PATH "
			"SIZE | pattern PATH SIZE |\n"
			"       verify PATH SIZE | xattr PATH | unlinked PATH | unlinked-fstat "
			"PATH [NLINK]\n");
	return 2;
}
