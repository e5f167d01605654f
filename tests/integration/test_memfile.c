/*
 * test_memfile.c — memfiles through the client library (boxfs/memfile.h)
 * against the real `boxfs serve`, in separate processes as they are used:
 *
 *   - fork: a parent maps a 4 KiB segment and forks; parent and child each
 *     write their own byte pattern under the lock; afterwards both patterns
 *     are there, seen by the parent and through 9P at /mem. In ship mode
 *     and shared mode, through boxfs_mem_fork and through pthread_atfork.
 *   - contention: 8 processes each increment a counter in the segment
 *     10,000 times under the lock; the count is exact. Ship mode and shared
 *     mode on a Unix socket, ship mode over TCP, and with try-locks.
 *   - lock ownership is not inherited across fork.
 *
 * The server's path is argv[1] (or $BOXFS_EXE).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boxfs/client.h>
#include <boxfs/memfile.h>

#include "../lib/served.h"

static const char *boxfs_exe;
static struct served srv;
static const char *mem_unix, *mem_tcp, *ninep;

/* Waits for the n children in pids; true when all exited with 0. */
static bool reap(const pid_t *pids, int n)
{
	bool ok = true;
	for (int i = 0; i < n; i++) {
		int st;
		pid_t p;
		while ((p = waitpid(pids[i], &st, 0)) < 0 && errno == EINTR)
			;
		if (p < 0 || !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			ok = false;
	}
	return ok;
}

/* ---- fork ---- */

enum { SEG = 4096, HALF = SEG / 2 };

/* Writes pattern into [off, off+HALF) of the segment under the lock. */
static int write_half(struct boxfs_mem *m, int fd, uint8_t *seg, size_t off, uint8_t pattern)
{
	int r = boxfs_mem_lock(m, fd, 0);
	if (r < 0)
		return r;
	memset(seg + off, pattern, HALF);
	return boxfs_mem_unlock(m, fd);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* The segment as 9P shows it at /mem/name. */
static ssize_t read_9p(const char *name, void *buf, size_t cap)
{
	struct boxfs_client *c = boxfs_connect(ninep, NULL);
	if (!c)
		return -errno;
	char path[300];
	snprintf(path, sizeof path, "/mem/%s", name);
	struct boxfs_file *f = boxfs_open(c, path, O_RDONLY, 0);
	ssize_t n = f ? boxfs_pread(f, buf, cap, 0) : -errno;
	if (f)
		boxfs_close(f);
	boxfs_disconnect(c);
	return n;
}

static void fork_patterns(const char *name, int flags, bool atfork)
{
	struct boxfs_mem *m = boxfs_mem_connect(mem_unix);
	assert_non_null(m);
	if (atfork)
		assert_int_equal(boxfs_mem_atfork(m), 0);
	int fd = boxfs_mem_open(m, name);
	assert_true(fd >= 0);
	int mapfd;
	uint8_t *seg = boxfs_mem_mmap(m, fd, SEG, flags, &mapfd);
	assert_non_null(seg);
	pid_t pid = atfork ? fork() : boxfs_mem_fork(m);
	assert_true(pid >= 0);
	if (pid == 0) {
		int r = write_half(m, fd, seg, HALF, 0x55);
		boxfs_mem_disconnect(m);
		_exit(r == 0 ? 0 : 1);
	}
	assert_int_equal(write_half(m, fd, seg, 0, 0xaa), 0);
	assert_true(reap(&pid, 1));
	assert_int_equal(boxfs_mem_lock(m, fd, 0), 0);
	assert_true(all_bytes(seg, HALF, 0xaa));
	assert_true(all_bytes(seg + HALF, HALF, 0x55));
	assert_int_equal(boxfs_mem_unlock(m, fd), 0);
	uint8_t via9p[SEG + 1];
	assert_int_equal(read_9p(name, via9p, sizeof via9p), SEG);
	assert_memory_equal(via9p, seg, SEG);
	assert_int_equal(boxfs_mem_munmap(m, mapfd), 0);
	assert_int_equal(boxfs_mem_close(m, fd), 0);
	boxfs_mem_disconnect(m);
}

static void t_fork_ship(void **state)
{
	(void)state;
	fork_patterns("fork-ship", 0, false);
}

static void t_fork_shared(void **state)
{
	(void)state;
	fork_patterns("fork-shared", BOXFS_MEM_SHARED, false);
}

static void t_fork_atfork(void **state)
{
	(void)state;
	fork_patterns("fork-atfork", 0, true);
}

/* A lock the parent holds is not the child's. */
static void t_lock_not_inherited(void **state)
{
	(void)state;
	struct boxfs_mem *m = boxfs_mem_connect(mem_unix);
	assert_non_null(m);
	int fd = boxfs_mem_open(m, "inherit");
	assert_true(fd >= 0);
	assert_int_equal(boxfs_mem_lock(m, fd, 0), 0);
	pid_t pid = boxfs_mem_fork(m);
	assert_true(pid >= 0);
	if (pid == 0) {
		bool ok = boxfs_mem_lock(m, fd, BOXFS_MEM_TRY) == -EAGAIN &&
			  boxfs_mem_unlock(m, fd) == -EINVAL;
		boxfs_mem_disconnect(m);
		_exit(ok ? 0 : 1);
	}
	assert_true(reap(&pid, 1));
	assert_int_equal(boxfs_mem_unlock(m, fd), 0);
	boxfs_mem_disconnect(m);
}

/* ---- contention ---- */

enum { PROCS = 8 };

/* Each of PROCS children increments the counter `rounds` times; a child
 * with try set retries a refused try-lock. */
static void count_up(const char *addr, const char *name, int flags, unsigned rounds, bool try)
{
	struct boxfs_mem *m = boxfs_mem_connect(addr);
	assert_non_null(m);
	int fd = boxfs_mem_open(m, name);
	assert_true(fd >= 0);
	int mapfd;
	uint64_t *count = boxfs_mem_mmap(m, fd, 64, flags, &mapfd);
	assert_non_null(count);
	pid_t pids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = pids[p] = boxfs_mem_fork(m);
		assert_true(pid >= 0);
		if (pid)
			continue;
		for (unsigned i = 0; i < rounds; i++) {
			int r;
			while ((r = boxfs_mem_lock(m, fd, try ? BOXFS_MEM_TRY : 0)) == -EAGAIN)
				sched_yield();
			if (r < 0)
				_exit(2);
			++*count;
			if (boxfs_mem_unlock(m, fd) < 0)
				_exit(3);
		}
		boxfs_mem_disconnect(m);
		_exit(0);
	}
	assert_true(reap(pids, PROCS));
	assert_int_equal(boxfs_mem_lock(m, fd, 0), 0);
	assert_int_equal(*count, (uint64_t)PROCS * rounds);
	assert_int_equal(boxfs_mem_unlock(m, fd), 0);
	boxfs_mem_disconnect(m);
}

static void t_count_ship(void **state)
{
	(void)state;
	count_up(mem_unix, "count-ship", 0, 10000, false);
}

static void t_count_shared(void **state)
{
	(void)state;
	count_up(mem_unix, "count-shared", BOXFS_MEM_SHARED, 10000, false);
}

static void t_count_tcp(void **state)
{
	(void)state;
	count_up(mem_tcp, "count-tcp", 0, 2000, false);
}

static void t_count_try(void **state)
{
	(void)state;
	count_up(mem_unix, "count-try", 0, 2000, true);
}

/* Shared mode is refused where no descriptor can travel. */
static void t_shared_needs_unix(void **state)
{
	(void)state;
	struct boxfs_mem *m = boxfs_mem_connect(mem_tcp);
	assert_non_null(m);
	int fd = boxfs_mem_open(m, "tcp-shared");
	assert_true(fd >= 0);
	int mapfd;
	errno = 0;
	assert_null(boxfs_mem_mmap(m, fd, 64, BOXFS_MEM_SHARED, &mapfd));
	assert_int_equal(errno, EOPNOTSUPP);
	assert_non_null(boxfs_mem_mmap(m, fd, 64, 0, &mapfd));
	boxfs_mem_disconnect(m);
}

static void t_server_exits_cleanly(void **state)
{
	(void)state;
	assert_true(served_stop(&srv));
}

static int group_setup(void **state)
{
	(void)state;
	if (served_start(&srv, boxfs_exe, 3, "-l", "smdish=unix!{dir}/mem", "-l",
			 "smdish=tcp!127.0.0.1!0", "-l", "unix!{dir}/9p", (char *)NULL) < 0)
		return -1;
	mem_unix = served_addr(&srv, "smdish", "unix!");
	mem_tcp = served_addr(&srv, "smdish", "tcp!");
	ninep = served_addr(&srv, "9p", "unix!");
	return mem_unix && mem_tcp && ninep ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	served_stop(&srv);
	return 0;
}

int main(int argc, char **argv)
{
	boxfs_exe = argc > 1 ? argv[1] : getenv("BOXFS_EXE");
	if (!boxfs_exe || access(boxfs_exe, X_OK) != 0) {
		fprintf(stderr, "usage: test_memfile PATH-TO-boxfs (or $BOXFS_EXE)\n");
		return 2;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_fork_ship),	       cmocka_unit_test(t_fork_shared),
		cmocka_unit_test(t_fork_atfork),       cmocka_unit_test(t_lock_not_inherited),
		cmocka_unit_test(t_count_ship),	       cmocka_unit_test(t_count_shared),
		cmocka_unit_test(t_count_tcp),	       cmocka_unit_test(t_count_try),
		cmocka_unit_test(t_shared_needs_unix), cmocka_unit_test(t_server_exits_cleanly),
	};
	return cmocka_run_group_tests_name("memfile", tests, group_setup, group_teardown);
}
