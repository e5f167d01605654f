/*
 * idl.c — boxfs-bench -o idl: Resea's benchmark interface through the idl
 * door, each row beside the raw floor of the same sizes measured in the
 * same run.
 *
 * Server. `boxfs serve -l idl=unix!DIR/idl.sock` (the boxfs command beside
 * this program), a process of its own as deployed; -x ADDR uses a running
 * one. Client: the generated stubs (boxfs/idl.h).
 *
 * Rows: benchmark.nop (a 16-byte request and reply), nop_with_ool with 1 KiB
 * and 64 KiB (12 + 4 + N bytes each way). Floor: a forked child echoing
 * exactly those byte counts over a Unix stream socket pair with blocking
 * read and write. The two meters take turns in blocks of BLOCK round trips,
 * in a random order for every block, and each round trip is timed on its
 * own. A row's figure is the median over the runs of (median boxfs round
 * trip / median floor round trip).
 *
 * Placement. A hand-over between two processes costs a few µs when they
 * share a CPU and several times that when a sleeper on the other CPU must
 * be woken, and left to itself the scheduler settles each pair of
 * processes in one way or the other for minutes: unpinned, boxfs and its
 * floor were often measured in different ways. So the table is measured
 * twice, pinned: every process on one CPU, then the client on one CPU and
 * the server (and the floor's echo) on the other.
 */
#include "idl.h"
#include "bench.h"

#include <boxfs/idl.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { BLOCK = 200, MAX_RUNS_ = 64 };

struct row {
	const char *name;
	size_t ool; /* bytes of data, or (size_t)-1 for nop */
};

static const struct row rows[] = {
	{ "benchmark.nop", (size_t)-1 },
	{ "nop_with_ool 1 KiB", 1024 },
	{ "nop_with_ool 64 KiB", 65536 },
};

struct ictx {
	struct boxfs_idl *cl;
	size_t ool;
	uint8_t *data;
};

static int idl_op(void *arg)
{
	struct ictx *x = arg;
	if (x->ool == (size_t)-1) {
		struct benchmark_nop_reply_fields r;
		int e = idl_call_benchmark_nop(x->cl, &(struct benchmark_nop_fields){ 7 }, &r);
		return e < 0 ? -EIO : r.value == 7 ? 0 : -EPROTO;
	}
	struct benchmark_nop_with_ool_reply_fields r;
	struct benchmark_nop_with_ool_fields in = { { x->data, (uint32_t)x->ool } };
	int e = idl_call_benchmark_nop_with_ool(x->cl, &in, &r);
	return e < 0 ? -EIO : r.data.len == x->ool ? 0 : -EPROTO;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double median_us(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_u64);
	return n ? (double)v[n / 2] / 1000.0 : 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median_d(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_d);
	return n ? v[n / 2] : 0;
}

/* One run of one row: both meters, interleaved; medians in us. */
static int measure(struct ictx *x, struct floor_pp *f, size_t rtts, uint64_t *rng, double *idl_us,
		   double *floor_us)
{
	uint64_t *a = calloc(rtts, sizeof *a), *b = calloc(rtts, sizeof *b);
	if (!a || !b) {
		free(a);
		free(b);
		return -ENOMEM;
	}
	int rc = 0;
	for (unsigned i = 0; i < 50 && rc == 0; i++) /* warm both */
		rc = idl_op(x) ? -EIO : floor_pp_op(f);
	size_t na = 0, nb = 0;
	while (rc == 0 && (na < rtts || nb < rtts)) {
		bool idl_first = rng_next(rng) & 1;
		for (int turn = 0; turn < 2 && rc == 0; turn++) {
			bool idl = (turn == 0) == idl_first;
			size_t *n = idl ? &na : &nb;
			uint64_t *v = idl ? a : b;
			for (unsigned k = 0; k < BLOCK && *n < rtts && rc == 0; k++) {
				uint64_t t0 = bench_now_ns();
				rc = idl ? idl_op(x) : floor_pp_op(f);
				v[(*n)++] = bench_now_ns() - t0;
			}
		}
	}
	if (rc == 0) {
		*idl_us = median_us(a, na);
		*floor_us = median_us(b, nb);
	}
	free(a);
	free(b);
	return rc;
}

static bool answers(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) {
		close(fd);
		return false;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static pid_t start_server(const char *dir, char *dial, size_t cap)
{
	char boxfs[PATH_MAX], listen[256];
	if (!bench_find_boxfs(boxfs, sizeof boxfs)) {
		fprintf(stderr, "boxfs-bench: idl: no boxfs command beside this program\n");
		return -1;
	}
	snprintf(dial, cap, "unix!%s/idl.sock", dir);
	snprintf(listen, sizeof listen, "idl=%s", dial);
	char *argv[] = { boxfs, "serve", "-l", listen, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 1000; i++) {
		if (answers(dial + 5))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

/* Pins the calling thread (and what it forks from now on) to cpu. */
static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

/* The table in one placement: the client on CPU 0, the server and the
 * floor's echo on server_cpu. */
static int idl_table(const struct idl_cfg *cfg, int server_cpu)
{
	char dir[] = "/tmp/boxfs-bench-idl.XXXXXX";
	if (!mkdtemp(dir))
		return -errno;
	char dial[200];
	pid_t pid = 0;
	const char *addr = cfg->external;
	pin(server_cpu);
	if (!addr) {
		if ((pid = start_server(dir, dial, sizeof dial)) < 0) {
			rmdir(dir);
			pin(0);
			return -ECHILD;
		}
		addr = dial;
	}
	pin(0);
	unsigned runs = cfg->runs < MAX_RUNS_ ? cfg->runs : MAX_RUNS_;
	struct ictx x = { .data = malloc(65536) };
	x.cl = boxfs_idl_connect(addr);
	int rc = x.cl && x.data ? 0 : -errno;
	if (x.data)
		memset(x.data, 0x5a, 65536);
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)bench_now_ns();
	printf("\n%s:\n", server_cpu == 0 ? "one CPU (client, server and echo pinned to CPU 0)"
					  : "two CPUs (client on CPU 0, server and echo on CPU 1)");
	printf("%-22s %10s %10s %8s   %s\n", "row", "boxfs us", "floor us", "ratio", "target");
	for (size_t w = 0; rc == 0 && w < sizeof rows / sizeof rows[0]; w++) {
		x.ool = rows[w].ool;
		size_t sz = x.ool == (size_t)-1 ? 16 : 12 + 4 + x.ool;
		pin(server_cpu); /* the echo process inherits it */
		struct floor_pp *f = floor_pp_new(true, false, sz, sz);
		pin(0);
		if (!f) {
			rc = -errno;
			break;
		}
		double ratio[MAX_RUNS_], ius[MAX_RUNS_], fus[MAX_RUNS_];
		size_t rtts = x.ool == 65536 ? cfg->rtts / 4 : cfg->rtts;
		for (unsigned r = 0; r < runs && rc == 0; r++) {
			rc = measure(&x, f, rtts, &rng, &ius[r], &fus[r]);
			ratio[r] = fus[r] > 0 ? ius[r] / fus[r] : 0;
			if (rc == 0 && cfg->verbose)
				fprintf(stderr, "idl %s run %u: %.2f / %.2f us\n", rows[w].name, r,
					ius[r], fus[r]);
		}
		floor_pp_free(f);
		double rm = median_d(ratio, runs);
		if (rc == 0)
			printf("%-22s %10.2f %10.2f %7.2fx   %s\n", rows[w].name,
			       median_d(ius, runs), median_d(fus, runs), rm,
			       w == 0 ? (rm <= 1.3 ? "<= 1.3x: met" : "<= 1.3x: missed") : "info");
	}
	fflush(stdout);
	boxfs_idl_close(x.cl);
	free(x.data);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	char sock[300];
	snprintf(sock, sizeof sock, "%s/idl.sock", dir);
	unlink(sock);
	rmdir(dir);
	return rc;
}

int idl_bench(const struct idl_cfg *cfg)
{
	cpu_set_t old;
	sched_getaffinity(0, sizeof old, &old);
	printf("idl door: Resea's benchmark interface, round trips (median us) against a raw\n"
	       "Unix-socket ping-pong of the same sizes, interleaved; ratio = median of %u runs\n",
	       cfg->runs < MAX_RUNS_ ? cfg->runs : MAX_RUNS_);
	int rc = idl_table(cfg, 0);
	if (rc == 0 && sysconf(_SC_NPROCESSORS_ONLN) > 1)
		rc = idl_table(cfg, 1);
	sched_setaffinity(0, sizeof old, &old);
	return rc;
}
