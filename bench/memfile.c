/*
 * memfile.c — boxfs-bench -o memfile: the memfile critical section "lock,
 * change one byte, unlock" through the client library (boxfs/memfile.h),
 * beside raw floors measured in the same run.
 *
 * Server. `boxfs serve -l smdish=unix!DIR/mem.sock` (the boxfs command beside
 * this program, or $BOXFS) started as a process of its own with its default
 * options, as it would be deployed; -x ADDR uses a running smdish server
 * instead. A second one with --poll-us 0 (its loop sleeps as soon as it is
 * idle) is measured as a diagnostic. The bench has one connection to each
 * and takes waiting locks (flags 0) throughout.
 *
 * Rows:
 *   1. the critical section, timed one at a time: a pure lock (no segment);
 *      segments of 1 KiB, 64 KiB and 1 MiB in ship mode (the mapping is a
 *      replica: lock downloads the segment, unlock uploads it) and in shared
 *      mode (BOXFS_MEM_SHARED: the server's memfd; lock and unlock move no
 *      data). Floors: for ship mode and the pure lock, two ping-pongs of
 *      exactly the bytes the section moves (lock: 16 B answered by 8 + 4 +
 *      size B; unlock: 16 + size B answered by 8 B; a pure lock's 16 -> 8 and
 *      12 -> 8 B) with a forked child doing blocking read and write, its send
 *      buffer the size the server sets for its own connections; for shared
 *      mode, a process-shared pthread mutex in a shared anonymous mapping,
 *      uncontended, locked, one byte changed, unlocked (timed in batches).
 *      A shared section moves a pure lock's bytes, so the pure lock's floor
 *      is the socket bound of shared mode, printed with it.
 *   2. one round trip, beside the figures published for Phoenix's memory
 *      server (5.4 µs empty, 26.3 µs for 100 KiB, on its authors' machine):
 *      a lock of a pure lock this connection holds already (16 -> 8 B), and a
 *      ship-mode lock of a 100 KiB segment it holds already (16 -> 12 +
 *      100 KiB); floors: one ping-pong of the same bytes.
 *   3. diagnostics for rows 1 and 2: the --poll-us 0 server, and a floor
 *      whose echo polls for the next request for 50 µs before it blocks, as
 *      the server's loop does by default.
 *   4. contention: 1, 2 and 4 forked processes, each with a connection of
 *      its own, doing critical sections on one 1 KiB memfile (waiting lock,
 *      a u64 counter in the segment incremented, unlock) for cfg->secs, in
 *      ship and in shared mode: critical sections a second, all processes
 *      together. The counter is checked afterwards; a wrong count (the lock
 *      did not exclude) fails the run.
 *
 * Placement decides much on a machine of two virtual CPUs: two processes
 * that take turns on one CPU hand a message over in a few µs, waking one on
 * the other CPU costs tens of µs, and what ran just before moves both. So
 * boxfs and its ping-pong floors take turns every M_BLOCK sections within a
 * row, in a random order each time, and all see the same moments of the
 * machine; and the processes are pinned, because left to itself the
 * scheduler settles each pair of processes one way or the other for
 * minutes, and boxfs and its floor were then often measured in different
 * ways. The group runs twice: with every process on CPU 0, then with this
 * one on CPU 0 and the servers and the floors' echoes on CPU 1. The
 * contention part runs with the clients unpinned. A row's figure
 * is the median over runs of each run's median; a ratio is the median of
 * the per-run ratios. Targets (pure lock and ship mode within 1.5x of their
 * floors) are printed, never enforced.
 */
#include "memfile.h"

#include "bench.h"

#include <boxfs/memfile.h>
#include <boxfs/smdish.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	M_MAX_RUNS = 15,
	M_RTT_BIG = 100 * 1024,		      /* the Phoenix figure's large round trip */
	M_CONT_SIZE = 1024,		      /* the contended memfile's segment */
	M_MAX_PROCS = 4,		      /* the most contending processes */
	M_MUTEX_BATCH = 1000,		      /* mutex sections timed together */
	M_MUTEX_BATCHES = 200,		      /* and how many batches a run */
	M_ECHO_SNDBUF = 2 * ((1 << 20) + 24), /* the server's send buffer: 2 x its msize */
	M_POLL_US = 50,			      /* how long the server's loop polls (its default) */
	M_BLOCK = 100,			      /* sections timed before the next one's turn */
};

/* The figures published for Phoenix's memory server (its authors' machine). */
static const double phoenix_empty_us = 5.4, phoenix_100k_us = 26.3;

/* ---- the rows ---- */

enum mode { PURE, SHIP, SHARED };

enum row {
	R_PURE,
	R_SHIP_1K,
	R_SHIP_64K,
	R_SHIP_1M,
	R_SHARED_1K,
	R_SHARED_64K,
	R_SHARED_1M,
	R_RTT_EMPTY,
	R_RTT_100K,
	NROWS
};

static const struct {
	const char *label;
	const char *name; /* of its memfile, and in the diagnostics */
	enum mode mode;
	uint32_t size;
	bool rtt; /* one round trip (a lock held already), not a critical section */
} rowdef[NROWS] = {
	[R_PURE] = { "pure lock (no segment)", "pure", PURE, 0, false },
	[R_SHIP_1K] = { "ship, 1 KiB", "ship-1k", SHIP, 1024, false },
	[R_SHIP_64K] = { "ship, 64 KiB", "ship-64k", SHIP, 64 * 1024, false },
	[R_SHIP_1M] = { "ship, 1 MiB", "ship-1m", SHIP, 1 << 20, false },
	[R_SHARED_1K] = { "shared, 1 KiB", "shared-1k", SHARED, 1024, false },
	[R_SHARED_64K] = { "shared, 64 KiB", "shared-64k", SHARED, 64 * 1024, false },
	[R_SHARED_1M] = { "shared, 1 MiB", "shared-1m", SHARED, 1 << 20, false },
	[R_RTT_EMPTY] = { "empty: relock, pure (16 -> 8 B)", "relock-empty", PURE, 0, true },
	[R_RTT_100K] = { "100 KiB: relock, ship (16 -> 102412 B)", "relock-100k", SHIP, M_RTT_BIG,
			 true },
};

/* What a row times, taking turns. */
enum meter { T_BOXFS, T_NOPOLL, T_FLOOR, T_POLL, NMETERS };
static const char *const meter_name[NMETERS] = { "boxfs", "boxfs --poll-us 0", "floor",
						 "polling floor" };

/* One row's memfile on one server's connection. */
struct sect {
	struct boxfs_mem *m;
	int fd;
	uint8_t *p; /* the mapping; NULL for a pure lock */
	size_t size, i;
};

/* A server: started (pid), or the one at -x ADDR (pid 0); m NULL when absent. */
struct msrv {
	pid_t pid;
	char dial[160];
	char log[64];
	struct boxfs_mem *m;
	struct sect s[NROWS];
};

/* Contention: ship or shared, with 1, 2 or 4 processes. */
static const unsigned nprocs[] = { 1, 2, M_MAX_PROCS };
enum { NPROCS = sizeof nprocs / sizeof nprocs[0] };

struct menv {
	const struct memfile_cfg *cfg;
	char dir[32];	    /* the temporary directory: sockets and the servers' logs */
	char prefix[32];    /* of every memfile name: this bench's own */
	struct msrv srv[2]; /* the default server, and the one with --poll-us 0 */
	double us[NMETERS][NROWS][M_MAX_RUNS]; /* each run's median, µs */
	double cps[2][NPROCS][M_MAX_RUNS];     /* contention: [ship, shared][procs][run] */
};

/* The lock request (xlock: fd, flags), its reply, and the unlock request and
 * reply, on the wire, for a segment of size bytes (0: a pure lock). */
static size_t lock_req(void)
{
	return SMD_HDRSZ + 8;
}

static size_t lock_rep(uint32_t size)
{
	return SMD_HDRSZ + (size ? 4 + (size_t)size : 0);
}

static size_t unlock_req(uint32_t size)
{
	return SMD_HDRSZ + 4 + (size ? 4 + (size_t)size : 0);
}

static size_t unlock_rep(void)
{
	return SMD_HDRSZ;
}

/* Critical sections timed per meter and run: fewer of the large segments, so
 * that a meter moves at most about 1 GiB each way in a run. */
static size_t row_count(const struct menv *x, enum row w)
{
	size_t n = x->cfg->sections, size = rowdef[w].size;
	if (rowdef[w].mode == SHIP && size) {
		size_t cap = ((size_t)1 << 30) / size;
		if (cap < 10 * M_BLOCK)
			cap = 10 * M_BLOCK;
		if (n > cap)
			n = cap;
	}
	return n;
}

/* ---- the boxfs side ---- */

/* Lock (waiting), change one byte of the mapping, unlock. */
static int sect_op(void *ctx)
{
	struct sect *s = ctx;
	int rc = boxfs_mem_lock(s->m, s->fd, 0);
	if (rc < 0)
		return rc;
	if (s->p)
		s->p[s->i++ % s->size]++;
	return boxfs_mem_unlock(s->m, s->fd);
}

/* Locks again a lock this connection holds: one round trip. */
static int relock_op(void *ctx)
{
	struct sect *s = ctx;
	return boxfs_mem_lock(s->m, s->fd, 0);
}

/* Opens (and maps) every row's memfile on the server's connection. */
static int rows_open(struct menv *x, struct msrv *v)
{
	for (int w = 0; w < NROWS; w++) {
		struct sect *s = &v->s[w];
		char name[64];
		snprintf(name, sizeof name, "%s-%s", x->prefix, rowdef[w].name);
		*s = (struct sect){ .m = v->m, .size = rowdef[w].size };
		s->fd = boxfs_mem_open(v->m, name);
		if (s->fd < 0) {
			fprintf(stderr, "boxfs-bench: memfile: open %s on %s: %s\n", name, v->dial,
				strerror(-s->fd));
			return s->fd;
		}
		if (!s->size)
			continue;
		int mapfd;
		s->p = boxfs_mem_mmap(v->m, s->fd, s->size,
				      rowdef[w].mode == SHARED ? BOXFS_MEM_SHARED : 0, &mapfd);
		if (!s->p) {
			int rc = -errno;
			fprintf(stderr, "boxfs-bench: memfile: mmap %s (%zu B) on %s: %s\n", name,
				s->size, v->dial, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* ---- placement ---- */

/* The CPU the servers and the floors' echoes run on; this process runs on 0. */
static int side_cpu;

/* Pins the calling thread, and what it forks from now on, to cpu. */
static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof set, &set);
}

/* fork(), the child on side_cpu. */
static pid_t fork_side(void)
{
	pin(side_cpu);
	pid_t pid = fork();
	if (pid != 0)
		pin(0);
	return pid;
}

/* ---- one row ---- */

/* A row's ping-pong floor; with poll_us, the one whose echo polls first. */
static struct floor_pp *row_floor(enum row w, unsigned poll_us)
{
	uint32_t size = rowdef[w].size;
	if (rowdef[w].mode == SHARED)
		size = 0; /* a shared section moves a pure lock's bytes */
	if (rowdef[w].rtt)
		return floor_pp2_new(true, lock_req(), lock_rep(size), 0, 0, M_ECHO_SNDBUF,
				     poll_us);
	return floor_pp2_new(true, lock_req(), lock_rep(size), unlock_req(size), unlock_rep(),
			     M_ECHO_SNDBUF, poll_us);
}

/* Times n calls of op one at a time into ns. */
static int time_ops(int (*op)(void *), void *ctx, uint64_t *ns, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = bench_now_ns();
		int rc = op(ctx);
		if (rc < 0)
			return rc;
		ns[i] = bench_now_ns() - t0;
	}
	return 0;
}

/* The meters in a random order (a fixed rotation would have each follow
 * the same other one, and what runs before a meter moves its figures). */
static void shuffle(unsigned order[NMETERS], uint64_t *rng)
{
	for (unsigned i = 0; i < NMETERS; i++)
		order[i] = i;
	for (unsigned i = NMETERS - 1; i > 0; i--) {
		uint64_t x = *rng;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*rng = x;
		unsigned j = (unsigned)(x % (i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

/*
 * Row w in run r. Every meter present times row_count() sections, taking
 * turns in blocks of M_BLOCK (each meter's first block untimed), in a new
 * random order for every block. A shared row has no ping-pong floors of its
 * own (the pure lock's are its socket bound); its floor, the mutex, is timed
 * after.
 */
static int measure_row(struct menv *x, enum row w, unsigned r)
{
	size_t n = row_count(x, w);
	bool shared = rowdef[w].mode == SHARED;
	bool on[NMETERS] = { true, x->srv[1].m != NULL, !shared, !shared };
	struct floor_pp *f[NMETERS] = { NULL };
	uint64_t *ns[NMETERS] = { NULL };
	int (*op[NMETERS])(void *) = { rowdef[w].rtt ? relock_op : sect_op,
				       rowdef[w].rtt ? relock_op : sect_op, floor_pp_op,
				       floor_pp_op };
	void *ctx[NMETERS] = { &x->srv[0].s[w], &x->srv[1].s[w] };
	int rc = 0;
	enum meter failed = T_BOXFS;
	/* A round-trip row holds its lock from here on: each lock is a relock. */
	for (unsigned i = 0; i < NMETERS && rc == 0; i++) {
		if (!on[i])
			continue;
		failed = (enum meter)i;
		unsigned poll_us = i == T_POLL ? M_POLL_US : 0;
		if (!(ns[i] = malloc(n * sizeof *ns[i])))
			rc = -ENOMEM;
		else if (i >= T_FLOOR &&
			 (pin(side_cpu), ctx[i] = f[i] = row_floor(w, poll_us), pin(0), !f[i]))
			rc = -ENOMEM;
		else if (i <= T_NOPOLL && rowdef[w].rtt)
			rc = boxfs_mem_lock(x->srv[i].m, x->srv[i].s[w].fd, 0);
	}
	uint64_t warm[M_BLOCK], rng = 0x9e3779b97f4a7c15ull * (r * NROWS + (unsigned)w + 1);
	for (size_t done = 0, b = 0; rc == 0 && done < n; b++) {
		size_t k = n - done < M_BLOCK ? n - done : M_BLOCK;
		unsigned order[NMETERS];
		shuffle(order, &rng);
		for (unsigned j = 0; j < NMETERS && rc == 0; j++) {
			unsigned i = order[j];
			if (!on[i])
				continue;
			failed = (enum meter)i;
			rc = b == 0 ? time_ops(op[i], ctx[i], warm, M_BLOCK)
				    : time_ops(op[i], ctx[i], ns[i] + done, k);
		}
		if (b > 0)
			done += k;
	}
	for (unsigned i = T_BOXFS; i <= T_NOPOLL && rowdef[w].rtt; i++) {
		int urc = on[i] && ns[i] ? boxfs_mem_unlock(x->srv[i].m, x->srv[i].s[w].fd) : 0;
		if (rc == 0 && urc < 0) {
			rc = urc;
			failed = (enum meter)i;
		}
	}
	struct bench_lat lat[NMETERS] = { { 0, 0 } };
	for (unsigned i = 0; i < NMETERS && rc == 0; i++)
		if (on[i])
			lat[i] = bench_lat_of(ns[i], n);
	if (rc == 0 && shared) {
		failed = T_FLOOR;
		rc = floor_mutex(M_MUTEX_BATCH, M_MUTEX_BATCHES, &lat[T_FLOOR]);
	}
	for (unsigned i = 0; i < NMETERS; i++) {
		floor_pp_free(f[i]);
		free(ns[i]);
	}
	if (rc < 0) {
		fprintf(stderr, "boxfs-bench: memfile: %s, %s: %s\n", rowdef[w].label,
			meter_name[failed], strerror(-rc));
		return rc;
	}
	for (unsigned i = 0; i < NMETERS; i++)
		x->us[i][w][r] = lat[i].median_us;
	if (x->cfg->verbose) {
		fprintf(stderr, "  %-13s", rowdef[w].name);
		for (unsigned i = 0; i < NMETERS; i++)
			fprintf(stderr, "  %s %.3f/%.3f", meter_name[i], lat[i].mean_us,
				lat[i].median_us);
		fprintf(stderr, "\n");
	}
	return 0;
}

/* ---- contention ---- */

struct cont_res {
	uint64_t count, t1; /* sections done; when the last ended */
	int rc;
};

/* Closes every descriptor but stdio and the three given. */
static void keep_only(int a, int b, int c)
{
	int k[3] = { a, b, c };
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (k[j] < k[i]) {
				int t = k[i];
				k[i] = k[j];
				k[j] = t;
			}
	unsigned lo = 3;
	for (int i = 0; i < 3; i++) {
		if ((unsigned)k[i] > lo)
			close_range(lo, (unsigned)k[i] - 1, 0);
		lo = (unsigned)k[i] + 1;
	}
	close_range(lo, ~0u, 0);
}

/* One contending process: a connection of its own; ready, then wait for the
 * deadline on go, run critical sections until it, report on res. */
static void cont_child(const char *dial, const char *name, enum mode mode, int ready, int go,
		       int res)
{
	struct cont_res out = { 0 };
	int fd = -1, mapfd;
	uint8_t *p = NULL;
	struct boxfs_mem *m = boxfs_mem_connect(dial);
	if (!m)
		out.rc = -errno;
	else if ((fd = boxfs_mem_open(m, name)) < 0)
		out.rc = fd;
	else if (!(p = boxfs_mem_mmap(m, fd, M_CONT_SIZE, mode == SHARED ? BOXFS_MEM_SHARED : 0,
				      &mapfd)))
		out.rc = -errno;
	uint64_t end = 0;
	if (bench_write_full(ready, "r", 1) < 0 || bench_read_full(go, &end, sizeof end) < 0)
		_exit(1);
	while (out.rc == 0 && bench_now_ns() < end) {
		uint64_t v;
		if ((out.rc = boxfs_mem_lock(m, fd, 0)) < 0)
			break;
		memcpy(&v, p, sizeof v);
		v++;
		memcpy(p, &v, sizeof v);
		if ((out.rc = boxfs_mem_unlock(m, fd)) < 0)
			break;
		out.count++;
	}
	out.t1 = bench_now_ns();
	bench_write_full(res, &out, sizeof out);
	boxfs_mem_disconnect(m);
	_exit(0);
}

/* Reads n records of size bytes from fd, waiting at most ms for each. */
static int read_records(int fd, void *buf, size_t size, unsigned n, int ms)
{
	for (unsigned i = 0; i < n;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int k = poll(&pf, 1, ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ETIMEDOUT;
		int rc = bench_read_full(fd, (uint8_t *)buf + i * size, size);
		if (rc < 0)
			return rc;
		i++;
	}
	return 0;
}

/* np processes contending in mode for cfg->secs; *cps their sections a second. */
static int contend(struct menv *x, enum mode mode, unsigned np, unsigned r, double *cps)
{
	struct msrv *v = &x->srv[0];
	char name[64];
	snprintf(name, sizeof name, "%s-cont-%s-%u-%u", x->prefix, mode == SHIP ? "ship" : "shared",
		 np, r);
	/* The bench's own descriptor and replica keep the memfile alive and read
	 * the counter at the end. */
	int fd = boxfs_mem_open(v->m, name), mapfd = -1;
	if (fd < 0)
		return fd;
	uint8_t *p = boxfs_mem_mmap(v->m, fd, M_CONT_SIZE, 0, &mapfd);
	int rc = p ? 0 : -errno;
	int ready[2] = { -1, -1 }, go[2] = { -1, -1 }, res[2] = { -1, -1 };
	pid_t pid[M_MAX_PROCS];
	unsigned started = 0;
	if (rc == 0 &&
	    (pipe2(ready, O_CLOEXEC) < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0))
		rc = -errno;
	for (; rc == 0 && started < np; started++) {
		pid[started] = fork();
		if (pid[started] < 0) {
			rc = -errno;
			break;
		}
		if (pid[started] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			keep_only(ready[1], go[0], res[1]);
			cont_child(v->dial, name, mode, ready[1], go[0], res[1]);
		}
	}
	char junk[M_MAX_PROCS];
	struct cont_res out[M_MAX_PROCS];
	uint64_t t0 = 0, end[M_MAX_PROCS];
	if (rc == 0)
		rc = read_records(ready[0], junk, 1, np, 10000);
	if (rc == 0) {
		t0 = bench_now_ns();
		for (unsigned i = 0; i < np; i++)
			end[i] = t0 + (uint64_t)(x->cfg->secs * 1e9);
		rc = bench_write_full(go[1], end, np * sizeof end[0]); /* atomic: < PIPE_BUF */
	}
	if (rc == 0)
		rc = read_records(res[0], out, sizeof out[0], np,
				  (int)(x->cfg->secs * 1000) + 30000);
	for (unsigned i = 0; i < started; i++) {
		if (rc < 0)
			kill(pid[i], SIGKILL);
		while (waitpid(pid[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	uint64_t total = 0, t1 = t0;
	for (unsigned i = 0; rc == 0 && i < np; i++) {
		if (out[i].rc < 0)
			rc = out[i].rc;
		total += out[i].count;
		if (out[i].t1 > t1)
			t1 = out[i].t1;
	}
	uint64_t counter = 0;
	if (rc == 0 && (rc = boxfs_mem_lock(v->m, fd, 0)) == 0) {
		memcpy(&counter, p, sizeof counter);
		rc = boxfs_mem_unlock(v->m, fd);
	}
	if (rc == 0 && counter != total) {
		fprintf(stderr,
			"boxfs-bench: memfile: %s, %u processes: the counter is %llu after %llu "
			"critical sections: the lock did not exclude\n",
			mode == SHIP ? "ship" : "shared", np, (unsigned long long)counter,
			(unsigned long long)total);
		rc = -EIO;
	}
	*cps = t1 > t0 ? (double)total / ((double)(t1 - t0) / 1e9) : 0;
	int *pipes[3] = { ready, go, res };
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 2; i++)
			if (pipes[k][i] >= 0)
				close(pipes[k][i]);
	if (p)
		boxfs_mem_munmap(v->m, mapfd);
	boxfs_mem_close(v->m, fd);
	return rc;
}

static int measure_contention(struct menv *x, unsigned r)
{
	int rc = 0;
	for (int md = 0; md < 2 && rc == 0; md++) {
		for (unsigned i = 0; i < NPROCS && rc == 0; i++) {
			rc = contend(x, md ? SHARED : SHIP, nprocs[i], r, &x->cps[md][i][r]);
			if (rc < 0)
				fprintf(stderr,
					"boxfs-bench: memfile: contention, %s, %u processes: %s\n",
					md ? "shared" : "ship", nprocs[i], strerror(-rc));
			else if (x->cfg->verbose)
				fprintf(stderr, "  contention %-6s %u processes %10.0f /s\n",
					md ? "shared" : "ship", nprocs[i], x->cps[md][i][r]);
		}
	}
	return rc;
}

/* ---- the servers ---- */

static bool socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* Starts `boxfs serve -l smdish=unix!DIR/NAME.sock [--poll-us 0]` and waits
 * until it answers. */
static int server_start(struct menv *x, struct msrv *v, const char *name, bool nopoll)
{
	char boxfs[PATH_MAX], listen[192];
	if (!bench_find_boxfs(boxfs, sizeof boxfs)) {
		fprintf(stderr, "boxfs-bench: memfile: no boxfs command beside this program "
				"(build tools/boxfs, or set $BOXFS)\n");
		return -ENOENT;
	}
	snprintf(v->dial, sizeof v->dial, "unix!%s/%s.sock", x->dir, name);
	snprintf(listen, sizeof listen, "smdish=%s", v->dial);
	snprintf(v->log, sizeof v->log, "%s/%s.log", x->dir, name);
	char *argv[7] = { boxfs, "serve", "-l", listen };
	if (nopoll) {
		argv[4] = "--poll-us";
		argv[5] = "0";
	}
	v->pid = fork_side();
	if (v->pid < 0)
		return -errno;
	if (v->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int log = open(v->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (nul < 0 || log < 0 || dup2(nul, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) { /* 10 s */
		int st;
		if (waitpid(v->pid, &st, WNOHANG) == v->pid) {
			v->pid = 0;
			fprintf(stderr,
				"boxfs-bench: memfile: %s exited (%s %d) before listening\n", boxfs,
				WIFEXITED(st) ? "status" : "signal",
				WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			bench_show_log(v->log);
			return -ECHILD;
		}
		if (socket_answers(v->dial + 5))
			return 0;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	fprintf(stderr, "boxfs-bench: memfile: %s does not answer on %s\n", boxfs, v->dial);
	bench_child_stop(&v->pid);
	bench_show_log(v->log);
	return -ETIMEDOUT;
}

/* Connects to v and opens every row's memfile there. */
static int server_open(struct menv *x, struct msrv *v)
{
	if (!(v->m = boxfs_mem_connect(v->dial))) {
		int rc = -errno;
		fprintf(stderr, "boxfs-bench: memfile: connecting to %s: %s\n", v->dial,
			strerror(-rc));
		return rc;
	}
	return rows_open(x, v);
}

/* ---- the table ---- */

/* The median over the runs of v[0..runs). */
static double med(const double *v, unsigned runs)
{
	double tmp[M_MAX_RUNS];
	memcpy(tmp, v, runs * sizeof *v);
	return bench_median(tmp, runs);
}

static double ratio(double a, double b)
{
	return a > 0 && b > 0 ? a / b : 0;
}

/*
 * The median over the runs of meter a on row wa over meter b on row wb, run
 * by run (each pairs figures taken close in time); the lowest and highest
 * in *lo and *hi when given.
 */
static double run_ratio(const struct menv *x, enum meter a, enum row wa, enum meter b, enum row wb,
			double *lo, double *hi)
{
	double q[M_MAX_RUNS];
	unsigned runs = x->cfg->runs;
	for (unsigned r = 0; r < runs; r++)
		q[r] = ratio(x->us[a][wa][r], x->us[b][wb][r]);
	double m = bench_median(q, runs); /* sorts q */
	if (lo)
		*lo = q[0];
	if (hi)
		*hi = q[runs - 1];
	return m;
}

/* A row: label, boxfs and floor in µs, their ratio and its range, the target. */
static void row(const struct menv *x, enum row w, const char *label, const char *target)
{
	double lo, hi, q = run_ratio(x, T_BOXFS, w, T_FLOOR, w, &lo, &hi);
	char range[32];
	snprintf(range, sizeof range, lo >= 100 ? "%.0f-%.0f" : "%.2f-%.2f", lo, hi);
	/* "µs" is padded by hand: printf counts the two bytes of µ as two columns */
	printf("%-40s %9.2f µs %10.3f µs %8.2fx %12s   %s\n", label,
	       med(x->us[T_BOXFS][w], x->cfg->runs), med(x->us[T_FLOOR][w], x->cfg->runs), q, range,
	       target);
}

/* A diagnostic figure, or "-" when it was not measured. */
static void diag_cell(double v)
{
	if (v > 0)
		printf(" %13.2f", v);
	else
		printf(" %13s", "-");
}

static void print_table(struct menv *x, double elapsed)
{
	const struct memfile_cfg *cfg = x->cfg;
	unsigned runs = cfg->runs;
	double t[NMETERS][NROWS];
	for (int i = 0; i < NMETERS; i++)
		for (int w = 0; w < NROWS; w++)
			t[i][w] = med(x->us[i][w], runs);
	const double *b = t[T_BOXFS], *f = t[T_FLOOR];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("\nmemfile bench: %ld CPU%s online, nothing pinned; Unix stream sockets; smdish "
	       "through the\nmemfile client library, waiting locks. Server: %s\n",
	       ncpu, ncpu == 1 ? "" : "s",
	       cfg->external ? "the one at -x ADDR."
			     : "`boxfs serve -l smdish=unix!PATH`,\na process of its own with its "
			       "default options (its loop polls 50 µs after bulk data\nbefore "
			       "it sleeps).");
	printf("Floors: ping-pong with a forked child doing blocking read and write (its send "
	       "buffer\n%d B, as the server sets its own); a process-shared pthread mutex, in "
	       "batches of %d.\nA run times %zu critical sections a row (%zu of 1 MiB) one at a "
	       "time, boxfs and its\nfloors taking turns every %d in a random order. Figures: the "
	       "median over %u run%s of\neach run's median; ratio: the median of the per-run "
	       "ratios; range: the lowest and\nhighest of them. Processes are pinned as the "
	       "heading above says.\n\n",
	       M_ECHO_SNDBUF, M_MUTEX_BATCH, row_count(x, R_PURE), row_count(x, R_SHIP_1M), M_BLOCK,
	       runs, runs == 1 ? "" : "s");

	printf("%-40s %12s %13s %9s %12s   %s\n", "lock, change 1 byte, unlock", "boxfs", "floor",
	       "ratio", "range", "target");
	int met = 0;
	double q[NROWS];
	for (int w = 0; w < NROWS; w++)
		q[w] = run_ratio(x, T_BOXFS, w, T_FLOOR, w, NULL, NULL);
	for (int w = R_PURE; w <= R_SHIP_1M; w++) {
		bool ok = q[w] > 0 && q[w] <= 1.5;
		met += ok;
		row(x, w, rowdef[w].label, ok ? "<= 1.5x: met" : "<= 1.5x: missed");
	}
	for (int w = R_SHARED_1K; w <= R_SHARED_1M; w++) {
		char label[64];
		snprintf(label, sizeof label, "%s (floor: mutex)", rowdef[w].label);
		row(x, w, label, "info");
	}
	printf("(ping-pong floors: a pure lock's %zu -> %zu B and %zu -> %zu B; ship's %zu -> %zu "
	       "+ size B and\n%zu + size -> %zu B. Mutex: process-shared, uncontended.)\n",
	       lock_req(), lock_rep(0), unlock_req(0), unlock_rep(), lock_req(), lock_rep(0) + 4,
	       unlock_req(0) + 4, unlock_rep());

	double sock1 = f[R_RTT_EMPTY], sock2 = f[R_PURE], mutex = f[R_SHARED_1K];
	double s2[3];
	for (int i = 0; i < 3; i++)
		s2[i] = run_ratio(x, T_BOXFS, R_SHARED_1K + i, T_FLOOR, R_PURE, NULL, NULL);
	printf("\nWhat bounds shared mode: its lock and unlock move no data, but each is still a "
	       "Unix-socket\nround trip of a few bytes (%zu -> %zu B, %zu -> %zu B) where the "
	       "mutex is a userspace atomic.\nSmall-message round trip floor %.2f µs, two of them "
	       "%.2f µs, the mutex %.3f µs: shared\nmode cannot come nearer the mutex than about "
	       "%.0fx here. It takes %.2fx / %.2fx / %.2fx of\nthose two round trips (1 KiB / "
	       "64 KiB / 1 MiB).\n",
	       lock_req(), lock_rep(0), unlock_req(0), unlock_rep(), sock1, sock2, mutex,
	       ratio(sock2, mutex), s2[0], s2[1], s2[2]);

	printf("\n%-40s %12s %13s %9s %12s   %s\n", "one round trip", "boxfs", "floor", "ratio",
	       "range", "Phoenix*");
	char ph[32];
	snprintf(ph, sizeof ph, "%.1f µs", phoenix_empty_us);
	row(x, R_RTT_EMPTY, rowdef[R_RTT_EMPTY].label, ph);
	snprintf(ph, sizeof ph, "%.1f µs", phoenix_100k_us);
	row(x, R_RTT_100K, rowdef[R_RTT_100K].label, ph);
	printf("* as published for Phoenix's memory server, measured on its authors' machine: a "
	       "reference,\n  not a measurement of this one. Floor: one ping-pong of the same "
	       "bytes.\n");

	printf("\n%-24s %13s %13s %13s %13s   (medians, µs)\n", "diag: where time goes", "boxfs",
	       "--poll-us 0", "floor", "polling floor");
	for (int w = 0; w < NROWS; w++) {
		enum row fw = rowdef[w].mode == SHARED ? R_PURE : (enum row)w;
		printf("%-24s", rowdef[w].name);
		diag_cell(b[w]);
		diag_cell(t[T_NOPOLL][w]);
		diag_cell(t[T_FLOOR][fw]);
		diag_cell(t[T_POLL][fw]);
		printf("\n");
	}
	printf("(--poll-us 0: a second boxfs serve, whose loop sleeps as soon as it is idle; "
	       "polling floor:\nthe echo polls %d µs for the next request before it blocks, as "
	       "the server's loop does;\nshared rows show the pure lock's floors, the same "
	       "bytes)\n",
	       M_POLL_US);

	double c[2][NPROCS];
	for (int md = 0; md < 2; md++)
		for (unsigned i = 0; i < NPROCS; i++)
			c[md][i] = med(x->cps[md][i], runs);
	printf("\ncontention: processes with a connection each, on one %u B memfile (lock, "
	       "increment a u64,\nunlock) for %.1f s; critical sections a second, all of them "
	       "together\n%-37s %13s %13s %13s\n",
	       M_CONT_SIZE, cfg->secs, "", "1 process", "2 processes", "4 processes");
	for (int md = 0; md < 2; md++)
		printf("%-37s %10.0f /s %10.0f /s %10.0f /s\n",
		       md ? "shared, 1 KiB" : "ship, 1 KiB", c[md][0], c[md][1], c[md][2]);

	printf("\nmemfile summary: %d/4 targets met (pure lock %.2fx, ship 1K/64K/1M "
	       "%.2fx/%.2fx/%.2fx of their floors) -- shared %.1f/%.1f/%.1f µs: %.0fx a shared "
	       "mutex, %.2fx two socket round trips -- one round trip %.1f µs empty, %.1f µs "
	       "100 KiB (Phoenix: %.1f, %.1f) -- 4 processes %.0f/%.0f sections/s ship/shared -- "
	       "%ld CPUs, %.0f s\n",
	       met, q[R_PURE], q[R_SHIP_1K], q[R_SHIP_64K], q[R_SHIP_1M], b[R_SHARED_1K],
	       b[R_SHARED_64K], b[R_SHARED_1M], q[R_SHARED_1K], s2[0], b[R_RTT_EMPTY],
	       b[R_RTT_100K], phoenix_empty_us, phoenix_100k_us, c[0][2], c[1][2], ncpu, elapsed);
}

/* ---- the group ---- */

static int memfile_group(const struct memfile_cfg *cfg)
{
	cpu_set_t unpinned;
	sched_getaffinity(0, sizeof unpinned, &unpinned);
	pin(0);
	uint64_t t_start = bench_now_ns();
	struct menv *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	x->cfg = cfg;
	snprintf(x->prefix, sizeof x->prefix, "bench-%ld", (long)getpid());
	snprintf(x->dir, sizeof x->dir, "/tmp/boxfs-bench.XXXXXX");
	int rc = 0;
	if (!mkdtemp(x->dir)) {
		rc = -errno;
		fprintf(stderr, "boxfs-bench: memfile: mkdtemp: %s\n", strerror(-rc));
		x->dir[0] = '\0';
	} else if (cfg->external) {
		snprintf(x->srv[0].dial, sizeof x->srv[0].dial, "%s", cfg->external);
	} else {
		rc = server_start(x, &x->srv[0], "mem", false);
		if (rc == 0)
			rc = server_start(x, &x->srv[1], "mem-nopoll", true);
	}
	for (int i = 0; i < 2 && rc == 0; i++)
		if (x->srv[i].dial[0])
			rc = server_open(x, &x->srv[i]);
	for (unsigned r = 0; r < cfg->runs && rc == 0; r++) {
		fprintf(stderr, "boxfs-bench: memfile run %u of %u ...\n", r + 1, cfg->runs);
		for (int w = 0; w < NROWS && rc == 0; w++)
			rc = measure_row(x, (enum row)w, r);
		sched_setaffinity(0, sizeof unpinned, &unpinned);
		if (rc == 0)
			rc = measure_contention(x, r);
		pin(0);
	}
	sched_setaffinity(0, sizeof unpinned, &unpinned);
	if (rc == 0)
		print_table(x, (double)(bench_now_ns() - t_start) / 1e9);
	for (int i = 0; i < 2; i++) {
		boxfs_mem_disconnect(x->srv[i].m); /* the server drops its memfiles */
		bench_child_stop(&x->srv[i].pid);
		if (x->srv[i].pid == 0 && !cfg->external) {
			if (x->srv[i].dial[0])
				unlink(x->srv[i].dial + 5);
			if (x->srv[i].log[0])
				unlink(x->srv[i].log);
		}
	}
	if (x->dir[0])
		rmdir(x->dir);
	free(x);
	return rc;
}

int memfile_bench(const struct memfile_cfg *cfg)
{
	if (cfg->runs < 1 || cfg->runs > M_MAX_RUNS || cfg->sections < 1 || cfg->secs <= 0)
		return -EINVAL;
	cpu_set_t unpinned;
	sched_getaffinity(0, sizeof unpinned, &unpinned);
	printf("\n== placement: one CPU (every process on CPU 0) ==\n");
	side_cpu = 0;
	int rc = memfile_group(cfg);
	if (rc == 0 && sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		printf("\n== placement: two CPUs (this client on CPU 0, servers and echoes on "
		       "CPU 1) ==\n");
		side_cpu = 1;
		rc = memfile_group(cfg);
	}
	sched_setaffinity(0, sizeof unpinned, &unpinned);
	return rc;
}
