/*
 * export.c — boxfs-bench -o export: boxfs serving a host directory against
 * diod serving the same directory, driven by the same client in the same run.
 *
 * Setup. A fresh directory under /var/tmp is filled directly on the host: a
 * large file (-s MiB, read once so it sits in the page cache), 16 per-client
 * files and a directory of many empty files. Two servers are started as
 * child processes exporting it on TCP 127.0.0.1: `boxfs serve -e DIR`
 * (aname "") and `diod -f -n -e DIR` (aname DIR, 16 worker threads). Both are
 * driven by the boxfs client library (9P2000.L) at msize 65536, diod's cap;
 * boxfs is driven a second time at its default msize, 1 MiB + 24, as an
 * extra column. Every measurement opens its own connection (not timed).
 *
 * Rows:
 *   1. sequential read of the large file (MB/s, 10^6 bytes a second) and
 *      sequential write of as many bytes to a new file; I/O size msize - 24,
 *      so one Tread or Twrite each; the fsync after the write is not timed;
 *   2. 4 KiB reads at random 4 KiB-aligned offsets in the large file for -t
 *      seconds, one client (ops/s);
 *   3. small files, each phase timed alone (ops/s): create + 1 KiB write +
 *      close; stat; open + 1 KiB read + close; unlink;
 *   4. `ls -l`: boxfs_readdir of the whole directory and boxfs_lstat of every
 *      entry (ms);
 *   5. 1, 4 and 16 clients, each a thread with its own connection and file,
 *      for -t seconds: sequential reads of 64 KiB (65512 B at msize 65536),
 *      total MB/s; 4 KiB random reads, total ops/s.
 * Each run measures every row on every server, rotating which server goes
 * first; figures are medians over the runs; a ratio is the median of the
 * per-run ratios (each pairs figures taken close in time), printed with
 * their range. Ratios are boxfs/diod for throughputs and diod/boxfs for
 * times, so above 1.0 means boxfs is ahead.
 *
 * The boxfs binary is ../tools/boxfs beside this program (or $BOXFS); diod
 * is looked up on $PATH and in /usr/sbin (or $DIOD). Without diod the
 * comparison prints why and is skipped.
 */
#include "export.h"

#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
	X_MAX_RUNS = 15,
	X_MSIZE = 65536,	 /* diod's cap, used for both servers */
	X_SMALL = 1024,		 /* bytes in a small file */
	X_BLOCK = 4096,		 /* a random read */
	X_PAR_IO = 64 * 1024,	 /* a concurrent client's sequential read */
	X_MAX_CLIENTS = 16,	 /* the most concurrent clients */
	X_HOST_IO = 1024 * 1024, /* host-side setup I/O */
};

/* Who is measured: a server and the msize its client asks for. */
enum conf { C_BOXFS, C_DIOD, C_BOXFS_1M, NCONF };
static const char *const conf_name[NCONF] = { "boxfs", "diod", "boxfs@1M" };

enum row {
	R_SEQ_READ,
	R_SEQ_WRITE,
	R_RAND,
	R_CREATE,
	R_STAT,
	R_READ,
	R_UNLINK,
	R_LS,
	R_PSEQ1,
	R_PSEQ4,
	R_PSEQ16,
	R_PRAND1,
	R_PRAND4,
	R_PRAND16,
	NROWS
};

static const struct {
	const char *label;
	const char *unit;
	bool time; /* lower is better */
} rowdef[NROWS] = {
	[R_SEQ_READ] = { "1 sequential read", "MB/s", false },
	[R_SEQ_WRITE] = { "1 sequential write (no fsync)", "MB/s", false },
	[R_RAND] = { "2 4 KiB random read, 1 client", "ops/s", false },
	[R_CREATE] = { "3 small: create+write 1K+close", "ops/s", false },
	[R_STAT] = { "3 small: stat", "ops/s", false },
	[R_READ] = { "3 small: open+read 1K+close", "ops/s", false },
	[R_UNLINK] = { "3 small: unlink", "ops/s", false },
	[R_LS] = { "4 ls -l (readdir + lstat each)", "ms", true },
	[R_PSEQ1] = { "5 seq 64K read,  1 client", "MB/s", false },
	[R_PSEQ4] = { "5 seq 64K read,  4 clients", "MB/s", false },
	[R_PSEQ16] = { "5 seq 64K read, 16 clients", "MB/s", false },
	[R_PRAND1] = { "5 4K random read,  1 client", "ops/s", false },
	[R_PRAND4] = { "5 4K random read,  4 clients", "ops/s", false },
	[R_PRAND16] = { "5 4K random read, 16 clients", "ops/s", false },
};

/* What one comparison works with. */
struct xenv {
	const struct export_cfg *cfg;
	char root[64];	      /* the temporary directory: logs, and the export */
	char dir[PATH_MAX];   /* the exported directory (absolute) */
	char dial[NCONF][48]; /* tcp!127.0.0.1!PORT */
	unsigned big_mib;     /* the large file */
	unsigned nsmall;      /* small files */
	unsigned nls;	      /* entries of the listed directory */
	unsigned client_mib;  /* each concurrent client's file */
	double secs;
	double v[NROWS][NCONF][X_MAX_RUNS];
	uint32_t msize[NCONF]; /* as negotiated */
};

/* A server child process. */
struct xserver {
	pid_t pid;
	unsigned port;
	char log[96];
};

/* ---- small helpers ---- */

static double secs_since(uint64_t t0)
{
	return (double)(bench_now_ns() - t0) / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* An executable named name: $env, else found in the directories of
 * $PATH and extra. Writes it to out (cap bytes); false when none is. */
static bool find_exe(const char *env, const char *name, const char *extra, char *out, size_t cap)
{
	const char *e = getenv(env);
	if (e && *e) {
		snprintf(out, cap, "%s", e);
		return access(out, X_OK) == 0;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s:%s", getenv("PATH") ? getenv("PATH") : "", extra);
	for (char *save = NULL, *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save))
		if ((size_t)snprintf(out, cap, "%s/%s", d, name) < cap && access(out, X_OK) == 0)
			return true;
	return false;
}

/* A TCP port on 127.0.0.1 nobody listens on now. */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	int rc = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		rc = -errno;
	close(fd);
	return rc < 0 ? rc : ntohs(sa.sin_port);
}

static bool port_answers(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* ---- servers ---- */

/*
 * Picks a free port, writes argv's listen address into listen (cap bytes: a
 * dial string "tcp!127.0.0.1!PORT" when dial, else "127.0.0.1:PORT"), starts
 * argv as a child process logging to s->log and waits until the port answers.
 */
static int server_start(struct xserver *s, char **argv, char *listen, size_t cap, bool dial)
{
	int port = free_port();
	if (port < 0)
		return port;
	s->port = (unsigned)port;
	if (dial)
		snprintf(listen, cap, "tcp!127.0.0.1!%u", s->port);
	else
		snprintf(listen, cap, "127.0.0.1:%u", s->port);
	s->pid = fork();
	if (s->pid < 0)
		return -errno;
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int log = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (nul < 0 || log < 0 || dup2(nul, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) { /* 10 s */
		int st;
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			fprintf(stderr, "boxfs-bench: %s exited (status %d) before listening\n",
				argv[0], st);
			return -ECHILD;
		}
		if (port_answers(s->port))
			return 0;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	fprintf(stderr, "boxfs-bench: %s does not answer on port %u\n", argv[0], s->port);
	bench_child_stop(&s->pid);
	return -ETIMEDOUT;
}

/* ---- host-side setup ---- */

static int host_write_file(const char *path, size_t bytes, uint8_t *buf)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = 0;
	for (size_t done = 0; done < bytes && rc == 0; done += X_HOST_IO) {
		size_t n = bytes - done < X_HOST_IO ? bytes - done : X_HOST_IO;
		rc = bench_write_full(fd, buf, n);
	}
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* Reads a file once, so its pages are cached. */
static int host_read_file(const char *path, uint8_t *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n;
	while ((n = read(fd, buf, X_HOST_IO)) > 0)
		;
	int rc = n < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int setup_tree(struct xenv *x)
{
	uint8_t *buf = malloc(X_HOST_IO);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < X_HOST_IO; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	char path[PATH_MAX + 32];
	int rc = 0;
	snprintf(path, sizeof path, "%s/big.dat", x->dir);
	rc = host_write_file(path, (size_t)x->big_mib << 20, buf);
	if (rc == 0)
		rc = host_read_file(path, buf);
	snprintf(path, sizeof path, "%s/c", x->dir);
	if (rc == 0 && mkdir(path, 0755) < 0)
		rc = -errno;
	for (unsigned i = 0; i < X_MAX_CLIENTS && rc == 0; i++) {
		snprintf(path, sizeof path, "%s/c/%02u.dat", x->dir, i);
		rc = host_write_file(path, (size_t)x->client_mib << 20, buf);
	}
	snprintf(path, sizeof path, "%s/ls", x->dir);
	if (rc == 0 && mkdir(path, 0755) < 0)
		rc = -errno;
	for (unsigned i = 0; i < x->nls && rc == 0; i++) {
		snprintf(path, sizeof path, "%s/ls/entry-%05u", x->dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			rc = -errno;
		else
			close(fd);
	}
	free(buf);
	return rc;
}

/* Removes the temporary tree (depth-first; a bench's own files only). */
static void remove_tree(int dfd)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (e->d_type == DT_DIR) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				remove_tree(sub);
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
		} else {
			unlinkat(dirfd(d), e->d_name, 0);
		}
	}
	closedir(d);
}

/* ---- clients ---- */

static struct boxfs_client *xconnect(const struct xenv *x, enum conf c)
{
	struct boxfs_opts o = { .msize = c == C_BOXFS_1M ? 0 : X_MSIZE,
				.aname = c == C_DIOD ? x->dir : NULL };
	return boxfs_connect(x->dial[c], &o);
}

/* The largest payload of one Tread or Twrite on c. */
static size_t io_size(struct boxfs_client *cl)
{
	return boxfs_msize(cl) - P9_IOHDRSZ;
}

static int seq_read(struct boxfs_client *cl, const struct xenv *x, double *out)
{
	struct boxfs_file *f = boxfs_open(cl, "/big.dat", O_RDONLY, 0);
	if (!f)
		return -errno;
	size_t io = io_size(cl), want = (size_t)x->big_mib << 20, done = 0;
	uint8_t *buf = malloc(io);
	int rc = buf ? 0 : -ENOMEM;
	uint64_t t0 = bench_now_ns();
	while (rc == 0 && done < want) {
		ssize_t n = boxfs_pread(f, buf, io, (off_t)done);
		if (n <= 0)
			rc = n < 0 ? (int)n : -EIO;
		else
			done += (size_t)n;
	}
	*out = (double)done / secs_since(t0) / 1e6;
	free(buf);
	boxfs_close(f);
	return rc;
}

static int seq_write(struct boxfs_client *cl, const struct xenv *x, double *out)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/write.dat", x->dir);
	unlink(path); /* the last run's, already synced */
	struct boxfs_file *f = boxfs_open(cl, "/write.dat", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!f)
		return -errno;
	size_t io = io_size(cl), want = (size_t)x->big_mib << 20, done = 0;
	uint8_t *buf = malloc(io);
	int rc = buf ? 0 : -ENOMEM;
	if (buf)
		memset(buf, 'w', io);
	uint64_t t0 = bench_now_ns();
	while (rc == 0 && done < want) {
		size_t k = want - done < io ? want - done : io;
		ssize_t n = boxfs_pwrite(f, buf, k, (off_t)done);
		if (n <= 0)
			rc = n < 0 ? (int)n : -EIO;
		else
			done += (size_t)n;
	}
	*out = (double)done / secs_since(t0) / 1e6;
	if (rc == 0)
		rc = boxfs_fsync(f, false); /* not timed: leaves no dirty pages behind */
	free(buf);
	boxfs_close(f);
	return rc;
}

/* 4 KiB reads at random aligned offsets of f (size bytes) until end_ns. */
static int rand_reads(struct boxfs_file *f, size_t size, uint64_t seed, uint64_t end_ns,
		      uint64_t *ops)
{
	uint8_t buf[X_BLOCK];
	uint64_t nblk = size / X_BLOCK, s = seed * 0x9e3779b97f4a7c15ull + 1;
	*ops = 0;
	do {
		off_t off = (off_t)(xorshift(&s) % nblk * X_BLOCK);
		ssize_t n = boxfs_pread(f, buf, X_BLOCK, off);
		if (n != X_BLOCK)
			return n < 0 ? (int)n : -EIO;
		++*ops;
	} while (bench_now_ns() < end_ns);
	return 0;
}

static int rand_read(struct boxfs_client *cl, const struct xenv *x, unsigned run, double *out)
{
	struct boxfs_file *f = boxfs_open(cl, "/big.dat", O_RDONLY, 0);
	if (!f)
		return -errno;
	size_t size = (size_t)x->big_mib << 20;
	uint64_t ops;
	int rc =
		rand_reads(f, size, 1000 + run, bench_now_ns() + 50 * 1000 * 1000, &ops); /* warm */
	uint64_t t0 = bench_now_ns();
	if (rc == 0)
		rc = rand_reads(f, size, run, t0 + (uint64_t)(x->secs * 1e9), &ops);
	*out = (double)ops / secs_since(t0);
	boxfs_close(f);
	return rc;
}

/* Row 3: the four phases over nsmall files in /small; out[0..3] in ops/s. */
static int small_files(struct boxfs_client *cl, const struct xenv *x, double out[4])
{
	char path[64];
	uint8_t buf[X_SMALL];
	memset(buf, 's', sizeof buf);
	int rc = boxfs_mkdir(cl, "/small", 0755);
	for (int phase = 0; phase < 4 && rc == 0; phase++) {
		uint64_t t0 = bench_now_ns();
		for (unsigned i = 0; i < x->nsmall && rc == 0; i++) {
			snprintf(path, sizeof path, "/small/f%05u", i);
			struct boxfs_file *f;
			struct stat st;
			ssize_t n;
			switch (phase) {
			case 0:
				f = boxfs_open(cl, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
				if (!f)
					rc = -errno;
				else if ((n = boxfs_write(f, buf, X_SMALL)) != X_SMALL)
					rc = n < 0 ? (int)n : -EIO;
				if (f && boxfs_close(f) < 0 && rc == 0)
					rc = -EIO;
				break;
			case 1:
				rc = boxfs_stat(cl, path, &st);
				if (rc == 0 && st.st_size != X_SMALL)
					rc = -EIO;
				break;
			case 2:
				f = boxfs_open(cl, path, O_RDONLY, 0);
				if (!f)
					rc = -errno;
				else if ((n = boxfs_read(f, buf, X_SMALL)) != X_SMALL)
					rc = n < 0 ? (int)n : -EIO;
				if (f && boxfs_close(f) < 0 && rc == 0)
					rc = -EIO;
				break;
			default:
				rc = boxfs_unlink(cl, path);
			}
		}
		out[phase] = x->nsmall / secs_since(t0);
	}
	if (rc == 0)
		rc = boxfs_rmdir(cl, "/small");
	return rc;
}

/* Row 4: readdir of /ls and lstat of each entry; out in ms. */
static int list_long(struct boxfs_client *cl, const struct xenv *x, double *out)
{
	char path[PATH_MAX];
	uint64_t t0 = bench_now_ns();
	struct boxfs_dir *d = boxfs_opendir(cl, "/ls");
	if (!d)
		return -errno;
	struct boxfs_dirent de;
	unsigned n = 0;
	int rc;
	while ((rc = boxfs_readdir(d, &de)) > 0) {
		if (!strcmp(de.name, ".") || !strcmp(de.name, ".."))
			continue;
		struct stat st;
		snprintf(path, sizeof path, "/ls/%s", de.name);
		if ((rc = boxfs_lstat(cl, path, &st)) < 0)
			break;
		n++;
	}
	boxfs_closedir(d);
	*out = secs_since(t0) * 1e3;
	return rc < 0 ? rc : n == x->nls ? 0 : -EIO;
}

/* Row 5: one concurrent client. */
struct par {
	const struct xenv *x;
	enum conf conf;
	unsigned idx, run;
	bool rand;
	pthread_barrier_t *bar;
	uint64_t end_ns; /* set by the main thread before the barrier releases */
	double amount;	 /* bytes or ops */
	int rc;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	const struct xenv *x = p->x;
	char path[32];
	snprintf(path, sizeof path, "/c/%02u.dat", p->idx);
	struct boxfs_client *cl = xconnect(x, p->conf);
	struct boxfs_file *f = cl ? boxfs_open(cl, path, O_RDONLY, 0) : NULL;
	size_t size = (size_t)x->client_mib << 20, io = X_PAR_IO;
	if (cl && io > io_size(cl))
		io = io_size(cl); /* 65512 at msize 65536: one Tread a read */
	uint8_t *buf = malloc(io);
	p->rc = !f ? (errno ? -errno : -EIO) : buf ? 0 : -ENOMEM;
	pthread_barrier_wait(p->bar); /* everyone connected */
	pthread_barrier_wait(p->bar); /* end_ns set: go */
	if (p->rc == 0 && p->rand) {
		uint64_t ops;
		p->rc = rand_reads(f, size, p->run * 100 + p->idx, p->end_ns, &ops);
		p->amount = (double)ops;
	} else if (p->rc == 0) {
		size_t off = 0;
		uint64_t bytes = 0;
		do {
			if (off + io > size)
				off = 0;
			ssize_t n = boxfs_pread(f, buf, io, (off_t)off);
			if (n != (ssize_t)io) {
				p->rc = n < 0 ? (int)n : -EIO;
				break;
			}
			off += io;
			bytes += io;
		} while (bench_now_ns() < p->end_ns);
		p->amount = (double)bytes;
	}
	free(buf);
	if (f)
		boxfs_close(f);
	if (cl)
		boxfs_disconnect(cl);
	return NULL;
}

static int parallel(const struct xenv *x, enum conf c, unsigned n, bool rand, unsigned run,
		    double *out)
{
	struct par p[X_MAX_CLIENTS];
	pthread_t th[X_MAX_CLIENTS];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, n + 1);
	unsigned started = 0;
	int rc = 0;
	for (; started < n; started++) {
		p[started] = (struct par){
			.x = x, .conf = c, .idx = started, .run = run, .rand = rand, .bar = &bar
		};
		if ((rc = -pthread_create(&th[started], NULL, par_main, &p[started])) < 0)
			break;
	}
	if (started < n) { /* cannot happen on Linux short of memory: no barrier to undo */
		fprintf(stderr, "boxfs-bench: pthread_create: %s\n", strerror(-rc));
		abort();
	}
	pthread_barrier_wait(&bar);
	uint64_t t0 = bench_now_ns();
	for (unsigned i = 0; i < n; i++)
		p[i].end_ns = t0 + (uint64_t)(x->secs * 1e9);
	pthread_barrier_wait(&bar);
	double total = 0;
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		total += p[i].amount;
		if (p[i].rc < 0 && rc == 0)
			rc = p[i].rc;
	}
	double secs = secs_since(t0); /* the slowest client's last read included */
	pthread_barrier_destroy(&bar);
	*out = rand ? total / secs : total / secs / 1e6;
	return rc;
}

/* ---- one run ---- */

enum group { G_SEQ_READ, G_SEQ_WRITE, G_RAND, G_SMALL, G_LS, G_PAR, NGROUPS };

static int measure(struct xenv *x, enum group g, enum conf c, unsigned r)
{
	if (g == G_PAR) {
		static const unsigned nclients[] = { 1, 4, 16 };
		int rc = 0;
		for (int i = 0; i < 3 && rc == 0; i++)
			rc = parallel(x, c, nclients[i], false, r, &x->v[R_PSEQ1 + i][c][r]);
		for (int i = 0; i < 3 && rc == 0; i++)
			rc = parallel(x, c, nclients[i], true, r, &x->v[R_PRAND1 + i][c][r]);
		return rc;
	}
	struct boxfs_client *cl = xconnect(x, c);
	if (!cl)
		return -errno;
	x->msize[c] = boxfs_msize(cl);
	int rc;
	double small[4];
	switch (g) {
	case G_SEQ_READ:
		rc = seq_read(cl, x, &x->v[R_SEQ_READ][c][r]);
		break;
	case G_SEQ_WRITE:
		rc = seq_write(cl, x, &x->v[R_SEQ_WRITE][c][r]);
		break;
	case G_RAND:
		rc = rand_read(cl, x, r, &x->v[R_RAND][c][r]);
		break;
	case G_SMALL:
		rc = small_files(cl, x, small);
		for (int i = 0; i < 4; i++)
			x->v[R_CREATE + i][c][r] = small[i];
		break;
	default:
		rc = list_long(cl, x, &x->v[R_LS][c][r]);
	}
	boxfs_disconnect(cl);
	return rc;
}

/* ---- the table ---- */

/* The ratio of run r's figures, > 1 when boxfs (column c) is ahead of diod. */
static double run_ratio(const struct xenv *x, int row, enum conf c, unsigned r)
{
	double b = x->v[row][c][r], d = x->v[row][C_DIOD][r];
	return rowdef[row].time ? (b > 0 ? d / b : 0) : (d > 0 ? b / d : 0);
}

static void print_table(struct xenv *x, double elapsed)
{
	const struct export_cfg *cfg = x->cfg;
	unsigned runs = cfg->runs;
	printf("\nexport comparison: boxfs serve -e DIR vs diod -t 16, one host directory (%s),\n"
	       "TCP 127.0.0.1, both driven by the boxfs client library (9P2000.L), msize %u for\n"
	       "both (negotiated: boxfs %u, diod %u); boxfs@1M: the same boxfs server at msize "
	       "%u.\n",
	       x->dir, X_MSIZE, x->msize[C_BOXFS], x->msize[C_DIOD], x->msize[C_BOXFS_1M]);
	printf("sizes: large file %u MiB (read once on the host first), I/O msize - 24 = %u B\n"
	       "(%u B at 1M); write to a new file, fsync after the timed part; random reads 4 KiB\n"
	       "for %.1f s; %u small files of %u B; a directory of %u entries; concurrent clients\n"
	       "read their own %u MiB file for %.1f s (seq: %u B reads; %u B at 1M).\n",
	       x->big_mib, x->msize[C_BOXFS] - P9_IOHDRSZ, x->msize[C_BOXFS_1M] - P9_IOHDRSZ,
	       x->secs, x->nsmall, X_SMALL, x->nls, x->client_mib, x->secs,
	       x->msize[C_BOXFS] - P9_IOHDRSZ, X_PAR_IO);
	printf("Figures are medians of %u run%s; ratio: the median of the per-run ratios, > 1\n"
	       "when boxfs is ahead (boxfs/diod for rates, diod/boxfs for times); range: the\n"
	       "lowest and highest per-run ratio.\n\n",
	       runs, runs == 1 ? "" : "s");
	printf("%-32s %5s %10s %10s %6s %-13s %-7s %10s %6s\n", "row", "unit", "boxfs", "diod",
	       "ratio", "range", "verdict", "boxfs@1M", "ratio");
	int ahead = 0;
	char behind[512] = "";
	size_t blen = 0;
	for (int row = 0; row < NROWS; row++) {
		double med[NCONF], rr[X_MAX_RUNS];
		for (int c = 0; c < NCONF; c++) {
			double tmp[X_MAX_RUNS];
			memcpy(tmp, x->v[row][c], sizeof tmp);
			med[c] = bench_median(tmp, runs);
		}
		for (unsigned r = 0; r < runs; r++)
			rr[r] = run_ratio(x, row, C_BOXFS_1M, r);
		double ratio1m = bench_median(rr, runs);
		for (unsigned r = 0; r < runs; r++)
			rr[r] = run_ratio(x, row, C_BOXFS, r);
		double ratio = bench_median(rr, runs); /* sorts rr */
		double lo = rr[0], hi = rr[runs - 1];
		char range[32];
		snprintf(range, sizeof range, "%.2f-%.2f", lo, hi);
		const char *verdict = ratio >= 1.0 ? (lo < 1.0 ? "ahead?" : "ahead")
						   : (hi >= 1.0 ? "behind?" : "behind");
		printf("%-32s %5s %10.1f %10.1f %5.2fx %-13s %-7s %10.1f %5.2fx\n",
		       rowdef[row].label, rowdef[row].unit, med[C_BOXFS], med[C_DIOD], ratio, range,
		       verdict, med[C_BOXFS_1M], ratio1m);
		if (ratio >= 1.0)
			ahead++;
		else if (blen < sizeof behind - 40)
			blen += (size_t)snprintf(behind + blen, sizeof behind - blen,
						 "%s%s (%.2fx)", blen ? ", " : "",
						 rowdef[row].label + 2, ratio);
	}
	printf("(\"?\": the per-run ratios fall on both sides of 1.0, so the verdict is within "
	       "noise)\n");
	printf("\nexport summary: boxfs ahead of diod on %d/%d rows at msize %u%s%s -- %.0f s\n",
	       ahead, NROWS, X_MSIZE, blen ? "; behind on: " : "", behind, elapsed);
}

/* ---- the comparison ---- */

int export_bench(const struct export_cfg *cfg)
{
	char boxfs[PATH_MAX], diod[PATH_MAX];
	if (!find_exe("DIOD", "diod", "/usr/sbin:/usr/local/sbin:/sbin", diod, sizeof diod)) {
		printf("\nexport comparison skipped: diod is not installed (not on $PATH nor in "
		       "/usr/sbin; set $DIOD to its path)\n");
		return 0;
	}
	if (!bench_find_boxfs(boxfs, sizeof boxfs)) {
		fprintf(stderr, "boxfs-bench: no boxfs command beside this program (build "
				"tools/boxfs, or set $BOXFS)\n");
		return -ENOENT;
	}
	uint64_t t_start = bench_now_ns();
	struct xenv *x = calloc(1, sizeof *x);
	if (!x)
		return -ENOMEM;
	x->cfg = cfg;
	x->big_mib = cfg->file_mib;
	x->nsmall = cfg->quick ? 200 : 2000;
	x->nls = cfg->quick ? 1000 : 10000;
	x->client_mib = cfg->quick ? 4 : 32;
	x->secs = cfg->secs;

	struct xserver sb = { 0 }, sd = { 0 };
	int rc = 0;
	snprintf(x->root, sizeof x->root, "/var/tmp/boxfs-export.XXXXXX");
	if (!mkdtemp(x->root)) {
		rc = -errno;
		fprintf(stderr, "boxfs-bench: mkdtemp %s: %s\n", x->root, strerror(-rc));
		free(x);
		return rc;
	}
	snprintf(x->dir, sizeof x->dir, "%s/export", x->root);
	snprintf(sb.log, sizeof sb.log, "%s/boxfs.log", x->root);
	snprintf(sd.log, sizeof sd.log, "%s/diod.log", x->root);
	if (mkdir(x->dir, 0755) < 0)
		rc = -errno;
	fprintf(stderr, "boxfs-bench: export: filling %s (%u + %u x %u MiB, %u entries) ...\n",
		x->dir, x->big_mib, X_MAX_CLIENTS, x->client_mib, x->nls);
	if (rc == 0)
		rc = setup_tree(x);
	if (rc < 0) {
		fprintf(stderr, "boxfs-bench: export: filling %s: %s\n", x->dir, strerror(-rc));
		goto out;
	}

	char lb[48], ld[48];
	/* -e, not --export: serve accepts only the short form, though its help lists both */
	char *argv_boxfs[] = { boxfs, "serve", "-e", x->dir, "-l", lb, NULL };
	char *argv_diod[] = { diod,   "-f", "-n",     "-l", ld,		 "-e",
			      x->dir, "-L", "stderr", "-c", "/dev/null", geteuid() ? "-N" : NULL,
			      NULL };
	rc = server_start(&sb, argv_boxfs, lb, sizeof lb, true);
	if (rc == 0)
		rc = server_start(&sd, argv_diod, ld, sizeof ld, false);
	if (rc < 0)
		goto out;
	snprintf(x->dial[C_BOXFS], sizeof x->dial[0], "tcp!127.0.0.1!%u", sb.port);
	snprintf(x->dial[C_BOXFS_1M], sizeof x->dial[0], "tcp!127.0.0.1!%u", sb.port);
	snprintf(x->dial[C_DIOD], sizeof x->dial[0], "tcp!127.0.0.1!%u", sd.port);

	static const char *const gname[NGROUPS] = { "seq read",	   "seq write", "random read",
						    "small files", "ls -l",	"concurrent" };
	for (unsigned r = 0; r < cfg->runs && rc == 0; r++) {
		fprintf(stderr, "boxfs-bench: export run %u of %u ...\n", r + 1, cfg->runs);
		for (int g = 0; g < NGROUPS && rc == 0; g++) {
			for (unsigned k = 0; k < NCONF && rc == 0; k++) {
				enum conf c =
					(enum conf)((k + r) % NCONF); /* rotate who is first */
				rc = measure(x, (enum group)g, c, r);
				if (rc < 0)
					fprintf(stderr, "boxfs-bench: export: %s on %s: %s\n",
						gname[g], conf_name[c], strerror(-rc));
			}
		}
		for (int row = 0; row < NROWS && rc == 0 && cfg->verbose; row++)
			fprintf(stderr, "  %-32s %10.1f %10.1f %10.1f\n", rowdef[row].label,
				x->v[row][C_BOXFS][r], x->v[row][C_DIOD][r],
				x->v[row][C_BOXFS_1M][r]);
	}
	if (rc == 0 && (x->msize[C_BOXFS] != X_MSIZE || x->msize[C_DIOD] != X_MSIZE)) {
		fprintf(stderr, "boxfs-bench: export: msize %u/%u negotiated, not %u\n",
			x->msize[C_BOXFS], x->msize[C_DIOD], X_MSIZE);
		rc = -EPROTO;
	}
	if (rc == 0)
		print_table(x, secs_since(t_start));
out:
	bench_child_stop(&sb.pid);
	bench_child_stop(&sd.pid);
	if (rc < 0) {
		bench_show_log(sb.log);
		bench_show_log(sd.log);
	}
	int fd = open(x->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		remove_tree(fd);
	rmdir(x->root);
	free(x);
	return rc;
}
