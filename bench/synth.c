/*
 * synth.c — boxfs-bench -o synth: what synthetic files cost over the RAM
 * backend, through the client library (one connection, 9P2000.L, msize
 * 1 MiB + 24) to a server in this process (a RAM root, a synthetic tree at
 * /synth, 9p on a Unix socket). Three round trips, each timed one at a time,
 * one figure after the other in every run so that the machine's fast and
 * slow spells fall on all three:
 *
 *	RAM read        boxfs_pread of 4 KiB at offset 0 of /ram4k, a RAM
 *			file of 4 KiB: the floor
 *	synthetic read  the same of /synth/gen, a file with a read callback
 *			(called for every read, with its offset and count) that
 *			copies from a 4 KiB buffer of the application's: the
 *			content is made on each read, not once per open as a
 *			snapshot would make it
 *	event           an event of 64 bytes through /synth/event: a thread
 *			holds the file open and loops { say it is about to read;
 *			boxfs_pread 64 bytes; say the read returned }; the timed
 *			round trip is boxfs_synth_post from this thread until
 *			the reader says its read returned
 *
 * The event's read must be waiting in the server when the event is posted,
 * which the client cannot see: this thread waits for the reader to say it is
 * about to read, then sleeps SETTLE_US (not timed) so its Tread reaches the
 * server and is deferred there. A read that still arrives after the post
 * finds the event queued and answers at once; that sample then also holds
 * the rest of the Tread's way, so races only add latency to the samples they
 * hit. The events are timed by this file's own loop rather than bench_rtt,
 * so that the wait and the sleep stay out of the figure. The reader lives
 * only for the event figure of each run: while it waits in a read it holds
 * the client's reader role, and the other reads' replies would be handed
 * over through it.
 *
 * Figures are µs, the medians over cfg->runs runs of each run's median, and
 * the ratios to the RAM read. Every thread of the group (this one, the
 * reader, the server's, which inherit it) is pinned to CPU 0, as main.c
 * pins its group: unpinned, on two CPUs, the scheduler keeps the threads on
 * one CPU or spreads them for seconds at a time, and the same read took
 * 12 µs in one run and 50 µs in the next.
 */
#include "synth.h"

#include "bench.h"

#include <boxfs/client.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>
#include <boxfs/synth.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { FILE_SIZE = 4096, EVENT_SIZE = 64, SETTLE_US = 50 };

/* The synthetic file's read callback: its content is the 4 KiB at ud. */
static ssize_t gen_read(struct boxfs_synth_ctx *x, void *buf, size_t count, uint64_t off)
{
	const uint8_t *src = boxfs_synth_ud(x);
	if (off >= FILE_SIZE)
		return 0;
	size_t n = FILE_SIZE - off < count ? FILE_SIZE - (size_t)off : count;
	memcpy(buf, src + off, n);
	return (ssize_t)n;
}

static const struct boxfs_synth_file gen_ops = { .read = gen_read };

/* One 4 KiB read at offset 0 (the floor and the synthetic file alike). */
struct rd {
	struct boxfs_file *f;
	uint8_t buf[FILE_SIZE];
};

static int read_op(void *ctx)
{
	struct rd *r = ctx;
	ssize_t n = boxfs_pread(r->f, r->buf, FILE_SIZE, 0);
	return n == FILE_SIZE ? 0 : n < 0 ? (int)n : -EIO;
}

/*
 * The event figure: the reader thread and what it says on sig, one byte
 * each: 'r' about to read, 'g' read the event, 'e' a read failed (and it
 * stops). The event quit, of the same size, stops it without a word, so
 * that no event is left queued for the next run's reader.
 */
struct ev {
	struct boxfs_file *f;	    /* /synth/event, open for reading */
	struct boxfs_synth_node *n; /* the event file */
	uint8_t msg[EVENT_SIZE], quit[EVENT_SIZE];
	int sig[2];
};

static void *reader(void *arg)
{
	struct ev *e = arg;
	uint8_t buf[EVENT_SIZE];
	for (;;) {
		if (bench_write_full(e->sig[1], "r", 1) < 0)
			break;
		ssize_t n = boxfs_pread(e->f, buf, sizeof buf, 0);
		if (n == EVENT_SIZE && memcmp(buf, e->quit, EVENT_SIZE) == 0)
			break;
		bool ok = n == EVENT_SIZE && memcmp(buf, e->msg, EVENT_SIZE) == 0;
		if (bench_write_full(e->sig[1], ok ? "g" : "e", 1) < 0 || !ok)
			break;
	}
	return NULL;
}

/* Reads the reader's next word: 0 when it is want, else -EIO (or -errno). */
static int expect(struct ev *e, char want)
{
	char b;
	int rc = bench_read_full(e->sig[0], &b, 1);
	return rc < 0 ? rc : b == want ? 0 : -EIO;
}

/* One event's round trip, in *ns. */
static int event_rtt(struct ev *e, uint64_t *ns)
{
	int rc = expect(e, 'r');
	if (rc < 0)
		return rc;
	nanosleep(&(struct timespec){ 0, SETTLE_US * 1000 }, NULL);
	uint64_t t0 = bench_now_ns();
	if ((rc = boxfs_synth_post(e->n, e->msg, EVENT_SIZE)) < 0 || (rc = expect(e, 'g')) < 0)
		return rc;
	*ns = bench_now_ns() - t0;
	return 0;
}

/* The event figure of one run: warm round trips, then n timed. */
static int events(struct ev *e, size_t warm, size_t n, struct bench_lat *out)
{
	uint64_t *ns = malloc(n * sizeof *ns), scratch;
	if (!ns)
		return -ENOMEM;
	if (pipe2(e->sig, O_CLOEXEC) < 0) {
		free(ns);
		return -errno;
	}
	pthread_t t;
	int rc = -pthread_create(&t, NULL, reader, e);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < warm && rc == 0; i++)
		rc = event_rtt(e, &scratch);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = event_rtt(e, &ns[i]);
	/* The reader's last read returns with quit, and it stops (if it stopped
	 * already on an error, quit waits unread in the queue). */
	int prc = boxfs_synth_post(e->n, e->quit, EVENT_SIZE);
	if (prc < 0 && rc == 0)
		rc = prc;
	if (prc == 0)
		pthread_join(t, NULL);
	else
		pthread_detach(t); /* cannot happen but for ENOMEM: leave it waiting */
	if (rc == 0)
		*out = bench_lat_of(ns, n);
out:
	close(e->sig[0]);
	close(e->sig[1]);
	free(ns);
	return rc;
}

int synth_bench(const struct synth_cfg *cfg)
{
	char dir[] = "/tmp/boxfs-bench-synth-XXXXXX", path[96], sock[128];
	if (!mkdtemp(dir))
		return -errno;
	cpu_set_t old, cpu0;
	sched_getaffinity(0, sizeof old, &old);
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	sched_setaffinity(0, sizeof cpu0, &cpu0); /* before the server makes its threads */
	snprintf(path, sizeof path, "%s/9p", dir);
	snprintf(sock, sizeof sock, "unix!%s", path);
	static uint8_t data[FILE_SIZE];
	for (size_t i = 0; i < FILE_SIZE; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	struct rd *ram = calloc(1, sizeof *ram), *gen = calloc(1, sizeof *gen);
	struct ev *ev = calloc(1, sizeof *ev);
	struct boxfs_server *srv = boxfs_server_new(&(struct boxfs_server_opts){ .workers = 4 });
	struct boxfs_synth *tree = boxfs_synth_new(0);
	struct boxfs_client *c = NULL;
	struct boxfs_file *w = NULL;
	int rc = 0;
	if (!ram || !gen || !ev || !srv || !tree) {
		rc = -ENOMEM;
		if (tree)
			boxfs_fs_free(boxfs_synth_fs(tree));
		goto out;
	}
	memset(ev->msg, 'e', EVENT_SIZE);
	memset(ev->quit, 'q', EVENT_SIZE);
	if (!boxfs_synth_file(tree, "/gen", 0444, &gen_ops, data) ||
	    !(ev->n = boxfs_synth_events(tree, "/event", 0444, 0))) {
		rc = -errno;
		boxfs_fs_free(boxfs_synth_fs(tree));
		goto out;
	}
	/* the server owns each backend from its mount on, also when it fails */
	int mrc = boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL));
	if (mrc < 0)
		boxfs_fs_free(boxfs_synth_fs(tree));
	if (mrc < 0 || boxfs_server_mount(srv, "/synth", boxfs_synth_fs(tree)) < 0 ||
	    boxfs_server_listen(srv, "9p", sock) < 0 || boxfs_server_start(srv) < 0 ||
	    !(c = boxfs_connect(sock, &(struct boxfs_opts){ .msize = BENCH_MSIZE })) ||
	    !(w = boxfs_open(c, "/ram4k", O_WRONLY | O_CREAT | O_TRUNC, 0644))) {
		rc = -EIO;
		goto out;
	}
	ssize_t n = boxfs_pwrite(w, data, FILE_SIZE, 0);
	boxfs_close(w);
	if (n != FILE_SIZE) {
		rc = n < 0 ? (int)n : -EIO;
		goto out;
	}
	if (!(ram->f = boxfs_open(c, "/ram4k", O_RDONLY, 0)) ||
	    !(gen->f = boxfs_open(c, "/synth/gen", O_RDONLY, 0)) ||
	    !(ev->f = boxfs_open(c, "/synth/event", O_RDONLY, 0))) {
		rc = -errno;
		goto out;
	}
	/* both files read what was meant, once before timing */
	if ((rc = read_op(ram)) < 0 || (rc = read_op(gen)) < 0)
		goto out;
	if (memcmp(ram->buf, data, FILE_SIZE) != 0 || memcmp(gen->buf, data, FILE_SIZE) != 0) {
		rc = -EIO;
		goto out;
	}
	static const char *const names[3] = { "RAM read 4 KiB", "synthetic read 4 KiB",
					      "event round trip" };
	double *v[3];
	for (int k = 0; k < 3; k++)
		v[k] = calloc(cfg->runs, sizeof(double));
	size_t warm = cfg->rtts / 20 + 10;
	for (unsigned i = 0; i < cfg->runs && rc == 0; i++) {
		struct bench_lat lat[3] = { { 0, 0 } };
		int r[3];
		r[0] = bench_rtt(read_op, ram, warm, cfg->rtts, &lat[0]);
		r[1] = r[0] < 0 ? 0 : bench_rtt(read_op, gen, warm, cfg->rtts, &lat[1]);
		r[2] = r[0] < 0 || r[1] < 0 ? 0 : events(ev, warm, cfg->rtts, &lat[2]);
		for (int k = 0; k < 3; k++) {
			if (r[k] < 0 && rc == 0)
				rc = r[k];
			v[k][i] = lat[k].median_us;
			if (cfg->verbose && r[k] == 0)
				fprintf(stderr, "synth run %u: %-20s %8.2f µs median, %8.2f mean\n",
					i, names[k], lat[k].median_us, lat[k].mean_us);
		}
	}
	if (rc == 0) {
		double med[3];
		for (int k = 0; k < 3; k++)
			med[k] = bench_median(v[k], cfg->runs);
		printf("\nsynth: 4 KiB reads and 64-byte events through the client library, "
		       "9P2000.L on a\nUnix socket, every thread on CPU 0; the synthetic file has "
		       "a "
		       "read callback\n(median of %u run%s of %zu round trips, interleaved)\n",
		       cfg->runs, cfg->runs == 1 ? "" : "s", cfg->rtts);
		for (int k = 0; k < 3; k++)
			printf("  %-20s %8.2f µs   %.2fx the RAM read\n", names[k], med[k],
			       med[k] / med[0]);
	}
	for (int k = 0; k < 3; k++)
		free(v[k]);
out:
	if (ram && ram->f)
		boxfs_close(ram->f);
	if (gen && gen->f)
		boxfs_close(gen->f);
	if (ev && ev->f)
		boxfs_close(ev->f);
	if (c)
		boxfs_disconnect(c);
	boxfs_server_free(srv);
	unlink(path);
	rmdir(dir);
	free(ram);
	free(gen);
	free(ev);
	sched_setaffinity(0, sizeof old, &old);
	return rc;
}
