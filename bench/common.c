/*
 * common.c — the measuring machinery of boxfs-bench: the clock, the two
 * timing loops (round trips one by one, chunks for a fixed time), their
 * summaries, whole-buffer I/O, peers on a thread or in a child process, and
 * where the boxfs command is.
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct bench_lat bench_lat_of(uint64_t *ns, size_t n)
{
	struct bench_lat l = { 0, 0 };
	if (n == 0)
		return l;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)ns[i];
	qsort(ns, n, sizeof *ns, cmp_u64);
	double med = n % 2 ? (double)ns[n / 2] : ((double)ns[n / 2 - 1] + (double)ns[n / 2]) / 2;
	l.mean_us = sum / (double)n / 1e3;
	l.median_us = med / 1e3;
	return l;
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bench_rtt(int (*op)(void *ctx), void *ctx, size_t warm, size_t n, struct bench_lat *out)
{
	uint64_t *ns = malloc((n ? n : 1) * sizeof *ns);
	if (!ns)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < warm && rc == 0; i++)
		rc = op(ctx);
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint64_t t0 = bench_now_ns();
		rc = op(ctx);
		ns[i] = bench_now_ns() - t0;
	}
	if (rc == 0)
		*out = bench_lat_of(ns, n);
	free(ns);
	return rc;
}

int bench_stream(int (*chunk)(void *ctx, uint64_t i), void *ctx, unsigned warm, double secs,
		 double *mbps)
{
	uint64_t i = 0;
	int rc = 0;
	for (; i < warm && rc == 0; i++)
		rc = chunk(ctx, i);
	uint64_t t0 = bench_now_ns(), t1 = t0, end = t0 + (uint64_t)(secs * 1e9), n = 0;
	while (rc == 0 && t1 < end) {
		rc = chunk(ctx, i++);
		n++;
		t1 = bench_now_ns();
	}
	if (rc == 0)
		*mbps = (double)n * BENCH_CHUNK / ((double)(t1 - t0) / 1e9) / 1e6;
	return rc;
}

int bench_write_full(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == ENOTSOCK)
			k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int bench_read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EPIPE;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void *peer_main(void *arg)
{
	struct bench_peer *p = arg;
	p->fn(p->fd, p->arg);
	close(p->fd);
	return NULL;
}

int bench_peer_start(struct bench_peer *p, bool proc, int fd, void (*fn)(int fd, void *arg),
		     void *arg)
{
	*p = (struct bench_peer){ .proc = proc, .fn = fn, .fd = fd, .arg = arg };
	if (!proc) {
		int r = pthread_create(&p->thread, NULL, peer_main, p);
		if (r)
			close(fd);
		return -r;
	}
	p->pid = fork();
	if (p->pid < 0) {
		close(fd);
		return -errno;
	}
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* Only fd: an inherited copy of the other end would hide its EOF. */
		if (fd > 3)
			close_range(3, (unsigned)fd - 1, 0);
		close_range((unsigned)fd + 1, ~0u, 0);
		fn(fd, arg);
		_exit(0);
	}
	close(fd);
	return 0;
}

void bench_peer_join(struct bench_peer *p)
{
	if (!p->proc) {
		pthread_join(p->thread, NULL);
		return;
	}
	while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- the boxfs command ---- */

bool bench_find_boxfs(char *out, size_t cap)
{
	const char *e = getenv("BOXFS");
	if (e && *e) {
		snprintf(out, cap, "%s", e);
		return access(out, X_OK) == 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return (size_t)snprintf(out, cap, "%s/../tools/boxfs", exe) < cap && access(out, X_OK) == 0;
}

void bench_child_stop(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 200; i++) { /* 2 s, then SIGKILL */
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	kill(*pid, SIGKILL);
	while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
		;
	*pid = 0;
}

void bench_show_log(const char *log)
{
	FILE *f = fopen(log, "r");
	if (!f)
		return;
	char line[512];
	fprintf(stderr, "boxfs-bench: --- %s ---\n", log);
	while (fgets(line, sizeof line, f))
		fputs(line, stderr);
	fclose(f);
}
