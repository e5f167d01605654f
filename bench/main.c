/*
 * main.c — boxfs-bench: the core 9P server's small-request latency and read
 * throughput, each printed beside a raw Unix-socket floor measured in the
 * same run, as a ratio.
 *
 *   Tgetattr round trip: a RAM server on a Unix socket, on a thread of this
 *     process and in a forked child; driven by a hand-rolled synchronous
 *     codec loop (raw9p) and by the client library (boxfs_rpc; boxfs_stat as
 *     information). Floor: write/read ping-pong of the same request and reply
 *     sizes between the same two parties. Mean and median in µs.
 *   Tread throughput: a file of -s MiB written through the client, read
 *     sequentially (cyclically) with Tread count = msize - 24 = 1 MiB. Floor:
 *     one side writes chunks of the Rread's size back to back, the other reads
 *     each whole into one buffer. MB/s (10^6 bytes a second).
 *
 * Each figure is the median of -r runs; the runs interleave floor and boxfs
 * so that drift of the machine hits both. Nothing is pinned. Diagnostic rows
 * say where time goes: a ping-pong floor whose echo waits in epoll like the
 * server's loop; streaming floors with a request per chunk, and with that
 * plus the memcpy from file data into the reply that the RAM backend does.
 * Targets are printed, never enforced: the exit status says only whether
 * every measurement ran.
 *
 * -o memfile runs, instead of all that, the memfile group (memfile.c): the
 * critical section "lock, change one byte, unlock" through the memfile client
 * library against `boxfs serve` speaking smdish, beside two-round-trip socket
 * floors and a process-shared mutex, plus contention between processes.
 * -o export runs the export comparison (export.c): boxfs serving a host
 * directory against diod serving the same one, over TCP, driven by the
 * client library. `make bench` runs both after the rest.
 *
 * Usage: boxfs-bench [-qv] [-r RUNS] [-n ROUNDTRIPS] [-s FILE_MIB] [-t SECONDS]
 *                    [-x ADDR] [-o NAME]          (-h explains them)
 */
#include "bench.h"
#include "export.h"
#include "idl.h"
#include "memfile.h"
#include "op.h"
#include "rio.h"
#include "synth.h"

#include <errno.h>
#include <sched.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_RUNS = 15 };

struct cfg {
	unsigned runs;
	size_t rtts;
	unsigned file_mib;
	double secs;
	const char *external;
	bool verbose;
	const char *only;
};

/* What is measured: a latency (two figures) or a throughput (one). */
enum kind { LAT, TPUT };

/* Who the other party is. */
enum party { THREAD, PROC };

enum what {
	W_FLOOR_PP,	/* floor: blocking ping-pong */
	W_FLOOR_EPOLL,	/* diag: ping-pong with an epoll echo */
	W_RAW_GETATTR,	/* raw9p Tgetattr */
	W_LIB_GETATTR,	/* boxfs_rpc Tgetattr */
	W_LIB_STAT,	/* boxfs_stat */
	W_FLOOR_STREAM, /* floor: one-way streaming */
	W_FLOOR_REQREP, /* diag: a small request per streamed chunk */
	W_FLOOR_COPY,	/* diag: the same plus a memcpy from a file-sized buffer */
	W_RAW_READ,	/* raw9p Tread */
	W_LIB_READ,	/* boxfs_pread */
};

static const char *const what_name[] = {
	[W_FLOOR_PP] = "floor-pingpong",   [W_FLOOR_EPOLL] = "floor-epoll",
	[W_RAW_GETATTR] = "raw-Tgetattr",  [W_LIB_GETATTR] = "lib-Tgetattr",
	[W_LIB_STAT] = "lib-stat",	   [W_FLOOR_STREAM] = "floor-stream",
	[W_FLOOR_REQREP] = "floor-reqrep", [W_FLOOR_COPY] = "floor-copy",
	[W_RAW_READ] = "raw-Tread",	   [W_LIB_READ] = "lib-pread",
};

struct meas {
	enum what what;
	enum party party;
	enum kind kind;
	double mean[MAX_RUNS], median[MAX_RUNS]; /* LAT: µs; TPUT: MB/s in mean */
	double m_mean, m_median;		 /* medians over the runs */
	bool on;				 /* selected by -o */
};

static struct meas meas[] = {
	{ W_FLOOR_PP, THREAD, LAT },	  { W_FLOOR_EPOLL, THREAD, LAT },
	{ W_RAW_GETATTR, THREAD, LAT },	  { W_LIB_GETATTR, THREAD, LAT },
	{ W_LIB_STAT, THREAD, LAT },	  { W_FLOOR_PP, PROC, LAT },
	{ W_RAW_GETATTR, PROC, LAT },	  { W_LIB_GETATTR, PROC, LAT },
	{ W_FLOOR_STREAM, THREAD, TPUT }, { W_FLOOR_REQREP, THREAD, TPUT },
	{ W_FLOOR_COPY, THREAD, TPUT },	  { W_RAW_READ, THREAD, TPUT },
	{ W_LIB_READ, THREAD, TPUT },	  { W_FLOOR_STREAM, PROC, TPUT },
	{ W_RAW_READ, PROC, TPUT },	  { W_LIB_READ, PROC, TPUT },
};
enum { NMEAS = sizeof meas / sizeof meas[0] };

static size_t req_size, rep_size; /* Tgetattr and Rgetattr on the wire */

static struct meas *find(enum what w, enum party p)
{
	for (size_t i = 0; i < NMEAS; i++)
		if (meas[i].what == w && meas[i].party == p)
			return &meas[i];
	return NULL;
}

/* Runs one measurement once against server dial; fills run r of m. */
static int measure(const struct cfg *cfg, struct meas *m, unsigned r, const char *dial)
{
	bool proc = m->party == PROC;
	struct bench_lat lat = { 0, 0 };
	double mbps = 0;
	int rc = -ENOMEM;
	size_t warm = cfg->rtts / 20 + 10;
	switch (m->what) {
	case W_FLOOR_PP:
	case W_FLOOR_EPOLL: {
		struct floor_pp *f =
			floor_pp_new(proc, m->what == W_FLOOR_EPOLL, req_size, rep_size);
		if (f)
			rc = bench_rtt(floor_pp_op, f, warm, cfg->rtts, &lat);
		floor_pp_free(f);
		break;
	}
	case W_RAW_GETATTR: {
		struct raw9p *x = raw9p_open(dial, cfg->file_mib);
		rc = x ? bench_rtt(raw9p_getattr_op, x, warm, cfg->rtts, &lat) : -errno;
		raw9p_close(x);
		break;
	}
	case W_LIB_GETATTR:
	case W_LIB_STAT: {
		struct lib9p *l = lib9p_open(dial, cfg->file_mib);
		size_t n = m->what == W_LIB_STAT ? cfg->rtts / 4 : cfg->rtts;
		rc = l ? bench_rtt(m->what == W_LIB_STAT ? lib9p_stat_op : lib9p_getattr_op, l,
				   warm, n, &lat)
		       : -errno;
		lib9p_close(l);
		break;
	}
	case W_FLOOR_STREAM:
	case W_FLOOR_REQREP:
	case W_FLOOR_COPY: {
		static const enum floor_mode mode[] = { [W_FLOOR_STREAM] = FLOOR_STREAM,
							[W_FLOOR_REQREP] = FLOOR_REQREP,
							[W_FLOOR_COPY] = FLOOR_COPY };
		static uint8_t *file; /* the copy floor's source, made once */
		size_t flen = (size_t)cfg->file_mib * BENCH_CHUNK;
		if (m->what == W_FLOOR_COPY && !file && (file = malloc(flen)))
			memset(file, 'f', flen);
		struct floor_stream *f = floor_stream_new(proc, mode[m->what], 23, file, flen);
		if (f)
			rc = bench_stream(floor_stream_chunk, f, 8, cfg->secs, &mbps);
		floor_stream_free(f);
		break;
	}
	case W_RAW_READ: {
		struct raw9p *x = raw9p_open(dial, cfg->file_mib);
		rc = x ? bench_stream(raw9p_read_chunk, x, 8, cfg->secs, &mbps) : -errno;
		raw9p_close(x);
		break;
	}
	case W_LIB_READ: {
		struct lib9p *l = lib9p_open(dial, cfg->file_mib);
		rc = l ? bench_stream(lib9p_pread_chunk, l, 8, cfg->secs, &mbps) : -errno;
		lib9p_close(l);
		break;
	}
	}
	if (m->kind == LAT) {
		m->mean[r] = lat.mean_us;
		m->median[r] = lat.median_us;
	} else {
		m->mean[r] = m->median[r] = mbps;
	}
	return rc;
}

/* ---- the table ---- */

static const char *party_name(const struct cfg *cfg, enum party p)
{
	return p == THREAD ? "thread" : cfg->external ? "external" : "process";
}

static void row(const char *label, double v, double floor, const char *unit, const char *target)
{
	/* units padded by hand: printf counts the two bytes of µ as two columns */
	const char *u = strcmp(unit, "us") == 0 ? "µs  " : unit;
	if (floor > 0)
		printf("%-50s %10.2f %s %10.2f %s %6.2fx   %s\n", label, v, u, floor, u, v / floor,
		       target);
	else
		printf("%-50s %10.2f %s %10s %s %7s   %s\n", label, v, u, "-", u, "-", target);
}

static void lat_rows(const struct cfg *cfg, enum what w, enum party p, const char *how,
		     const char *target)
{
	const struct meas *m = find(w, p), *f = find(W_FLOOR_PP, p);
	char label[96];
	if (!m->on)
		return;
	snprintf(label, sizeof label, "%s, %s, mean", how, party_name(cfg, p));
	row(label, m->m_mean, f->on ? f->m_mean : 0, "us", target);
	snprintf(label, sizeof label, "%s, %s, median", how, party_name(cfg, p));
	row(label, m->m_median, f->on ? f->m_median : 0, "us", target);
}

static void tput_row(const struct cfg *cfg, enum what w, enum party p, const char *how,
		     const char *target)
{
	const struct meas *m = find(w, p), *f = find(W_FLOOR_STREAM, p);
	char label[96];
	if (!m->on)
		return;
	snprintf(label, sizeof label, "%s, %s", how, party_name(cfg, p));
	row(label, m->m_mean, f->on ? f->m_mean : 0, "MB/s", target);
}

/* The ratio of w to its floor (by median or mean); 0 when either did not run. */
static double ratio(enum what w, enum party p, bool median)
{
	const struct meas *m = find(w, p);
	const struct meas *f = find(m->kind == LAT ? W_FLOOR_PP : W_FLOOR_STREAM, p);
	double a = median ? m->m_median : m->m_mean, b = median ? f->m_median : f->m_mean;
	return m->on && f->on && b > 0 ? a / b : 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: boxfs-bench [-qv] [-r RUNS] [-n ROUNDTRIPS] [-s FILE_MIB] [-t SECONDS] "
		"[-x ADDR] [-o NAME]\n"
		"  -q  quick: 1 run, 2000 round trips, 0.2 s, a 16 MiB file (a smoke test)\n"
		"  -r  runs of every measurement; figures are their median (3)\n"
		"  -n  Tgetattr round trips per run (20000)\n"
		"  -s  size of the file read, MiB (256)\n"
		"  -t  seconds of streaming per throughput run (1.0)\n"
		"  -x  use the server at ADDR (unix!/path) instead of a forked one (with\n"
		"      -o memfile: an smdish server instead of a started boxfs serve)\n"
		"  -o  only the measurements whose NAME/PARTY (as -v prints them, e.g.\n"
		"      raw-Tread/process) contains this string: for profiling the server;\n"
		"      -o memfile: only the memfile critical sections (lock, change a byte,\n"
		"      unlock; pure lock, ship and shared segments of 1K/64K/1M) against\n"
		"      socket floors and a shared mutex, and contention of 1, 2 and 4\n"
		"      processes (-r, default 5 here; -n / 8 sections a row; -t / 2 s a\n"
		"      contention run; -q and -x apply; about 45 s at the defaults)\n"
		"      -o op: only a 64 MiB box moved by GETMEM and PUTMEM series against\n"
		"      a Unix stream socket\n"
		"      -o synth: only 4 KiB reads of a synthetic file and 64-byte event\n"
		"      round trips against a 4 KiB RAM-file read (-r, default 5; -n / 4)\n"
		"      -o rio: only a 1 GiB host file read through rio, by VMOFILE and by\n"
		"      READ messages, against a native read (-r, default 5; -q: 16 MiB)\n"
		"      -o export: only boxfs serve -e DIR against diod (needs diod; -r, -s,\n"
		"      -t and -q apply; about 2 minutes at the defaults)\n"
		"  -v  print every run's figures (µs mean and median, or MB/s) on stderr\n");
}

int main(int argc, char **argv)
{
	struct cfg cfg = { .runs = 3, .rtts = 20000, .file_mib = 256, .secs = 1.0 };
	int opt;
	bool quick = false, runs_given = false;
	while ((opt = getopt(argc, argv, "qr:n:s:t:x:o:vh")) != -1) {
		switch (opt) {
		case 'q':
			cfg = (struct cfg){ 1, 2000, 16, 0.2, cfg.external, cfg.verbose, cfg.only };
			quick = true;
			break;
		case 'r':
			cfg.runs = (unsigned)atoi(optarg);
			runs_given = true;
			break;
		case 'n':
			cfg.rtts = (size_t)atol(optarg);
			break;
		case 's':
			cfg.file_mib = (unsigned)atoi(optarg);
			break;
		case 't':
			cfg.secs = atof(optarg);
			break;
		case 'x':
			cfg.external = optarg;
			break;
		case 'o':
			cfg.only = optarg;
			break;
		case 'v':
			cfg.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (cfg.runs < 1 || cfg.runs > MAX_RUNS || cfg.rtts < 100 || cfg.file_mib < 1 ||
	    cfg.secs <= 0) {
		usage(stderr);
		return 2;
	}
	uint64_t t_start = bench_now_ns();
	signal(SIGPIPE, SIG_IGN);
	if (cfg.only && strcmp(cfg.only, "export") == 0) {
		struct export_cfg ec = { cfg.runs, cfg.file_mib, cfg.secs, quick, cfg.verbose };
		int erc = export_bench(&ec);
		if (erc < 0)
			fprintf(stderr, "boxfs-bench: export comparison: %s\n", strerror(-erc));
		return erc < 0 ? 1 : 0;
	}
	if (cfg.only && strcmp(cfg.only, "idl") == 0) {
		struct idl_cfg ic = { runs_given || quick ? cfg.runs : 5, cfg.rtts / 4,
				      cfg.external, cfg.verbose };
		int irc = idl_bench(&ic);
		if (irc < 0)
			fprintf(stderr, "boxfs-bench: idl: %s\n", strerror(-irc));
		return irc < 0 ? 1 : 0;
	}
	if (cfg.only && strcmp(cfg.only, "op") == 0) {
		struct op_cfg oc = { runs_given || quick ? cfg.runs : 5, quick ? 8 : 64,
				     cfg.verbose };
		int orc = op_bench(&oc);
		if (orc < 0)
			fprintf(stderr, "boxfs-bench: op: %s\n", strerror(-orc));
		return orc < 0 ? 1 : 0;
	}
	if (cfg.only && strcmp(cfg.only, "synth") == 0) {
		struct synth_cfg sc = { runs_given || quick ? cfg.runs : 5, cfg.rtts / 4,
					cfg.verbose };
		int src = synth_bench(&sc);
		if (src < 0)
			fprintf(stderr, "boxfs-bench: synth: %s\n", strerror(-src));
		return src < 0 ? 1 : 0;
	}
	if (cfg.only && strcmp(cfg.only, "rio") == 0) {
		struct rio_cfg rc = { runs_given || quick ? cfg.runs : 5,
				      quick ? cfg.file_mib : 1024, cfg.verbose };
		int rrc = rio_bench(&rc);
		if (rrc < 0)
			fprintf(stderr, "boxfs-bench: rio: %s\n", strerror(-rrc));
		return rrc < 0 ? 1 : 0;
	}
	if (cfg.only && strcmp(cfg.only, "memfile") == 0) {
		/* More, shorter runs than the rest: placement drifts between them. */
		unsigned runs = runs_given || quick ? cfg.runs : 5;
		struct memfile_cfg mc = { runs, cfg.rtts / 8, cfg.secs / 2, cfg.external,
					  cfg.verbose };
		int mrc = memfile_bench(&mc);
		if (mrc < 0)
			fprintf(stderr, "boxfs-bench: memfile: %s\n", strerror(-mrc));
		return mrc < 0 ? 1 : 0;
	}
	raw9p_getattr_sizes(&req_size, &rep_size);

	char dir[] = "/tmp/boxfs-bench.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("boxfs-bench: mkdtemp");
		return 1;
	}
	/*
	 * Everything of this group on CPU 0: the servers, the floors' peers and
	 * this thread (threads and children inherit it). Unpinned, the
	 * scheduler settles each pair of processes on one CPU or on two for
	 * minutes at a time, hand-overs several times apart in cost, and boxfs
	 * and its floor were often measured in different ways.
	 */
	cpu_set_t cpu0;
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	sched_setaffinity(0, sizeof cpu0, &cpu0);
	/* The child server first, while this process has one thread. */
	struct bench_server sp = { 0 }, st = { 0 };
	int rc = 0;
	if (!cfg.external)
		rc = bench_server_start(&sp, true, dir, "proc.sock");
	if (rc == 0)
		rc = bench_server_start(&st, false, dir, "thread.sock");
	const char *dial[2] = { st.dial, cfg.external ? cfg.external : sp.dial };
	double fill[2] = { 0, 0 };
	for (int p = 0; p < 2 && rc == 0; p++)
		rc = bench_fill_file(dial[p], cfg.file_mib, &fill[p]);
	if (rc < 0) {
		fprintf(stderr, "boxfs-bench: starting the servers: %s\n", strerror(-rc));
		goto out;
	}

	for (size_t i = 0; i < NMEAS; i++) {
		char name[64];
		snprintf(name, sizeof name, "%s/%s", what_name[meas[i].what],
			 party_name(&cfg, meas[i].party));
		meas[i].on = !cfg.only || strstr(name, cfg.only);
	}
	for (unsigned r = 0; r < cfg.runs && rc == 0; r++) {
		fprintf(stderr, "boxfs-bench: run %u of %u ...\n", r + 1, cfg.runs);
		for (size_t i = 0; i < NMEAS && rc == 0; i++) {
			if (!meas[i].on)
				continue;
			rc = measure(&cfg, &meas[i], r, dial[meas[i].party]);
			if (rc < 0)
				fprintf(stderr, "boxfs-bench: measurement %zu (%s): %s\n", i,
					party_name(&cfg, meas[i].party), strerror(-rc));
			else if (cfg.verbose)
				fprintf(stderr, "  %s/%-10s %10.2f %10.2f\n",
					what_name[meas[i].what], party_name(&cfg, meas[i].party),
					meas[i].mean[r], meas[i].median[r]);
		}
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < NMEAS; i++) {
		meas[i].m_mean = bench_median(meas[i].mean, cfg.runs);
		meas[i].m_median = bench_median(meas[i].median, cfg.runs);
	}

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("\nboxfs bench: %ld CPU%s online, every process and thread pinned to CPU 0; Unix "
	       "stream sockets;\n9P2000.L, msize %u\n",
	       ncpu, ncpu == 1 ? "" : "s", (unsigned)BENCH_MSIZE);
	printf("each figure is the median of %u run%s; a run is %zu round trips, or %.1f s of\n"
	       "1 MiB Treads over a %u MiB file. thread: the server (or the floor's peer) is a\n"
	       "thread of the bench; %s. Tgetattr %zu B, Rgetattr %zu B.\n\n",
	       cfg.runs, cfg.runs == 1 ? "" : "s", cfg.rtts, cfg.secs, cfg.file_mib,
	       cfg.external ? "external: the server at -x ADDR, floor peer a forked child"
			    : "process: a forked child",
	       req_size, rep_size);
	printf("%-50s %15s %15s %7s   %s\n", "benchmark", "boxfs", "floor", "ratio", "target");
	for (int p = THREAD; p <= PROC; p++) {
		lat_rows(&cfg, W_RAW_GETATTR, p, "Tgetattr RTT, raw loop", "<= 1.5x");
		lat_rows(&cfg, W_LIB_GETATTR, p, "Tgetattr RTT, boxfs_rpc", "<= 1.5x");
	}
	lat_rows(&cfg, W_LIB_STAT, THREAD, "boxfs_stat (3 RPCs)", "info");
	lat_rows(&cfg, W_FLOOR_EPOLL, THREAD, "diag: floor with an epoll echo", "diag");
	for (int p = THREAD; p <= PROC; p++) {
		tput_row(&cfg, W_RAW_READ, p, "Tread throughput, raw loop", ">= 0.7x");
		tput_row(&cfg, W_LIB_READ, p, "Tread throughput, boxfs_pread", ">= 0.7x");
	}
	tput_row(&cfg, W_FLOOR_REQREP, THREAD, "diag: floor, a 23 B request per chunk", "diag");
	tput_row(&cfg, W_FLOOR_COPY, THREAD, "diag: floor, request + memcpy from the file", "diag");
	for (int p = THREAD; p <= PROC; p++) {
		char label[96];
		snprintf(label, sizeof label, "Twrite throughput (fill), boxfs_pwrite, %s",
			 party_name(&cfg, p));
		const struct meas *f = find(W_FLOOR_STREAM, p);
		row(label, fill[p], f->on ? f->m_mean : 0, "MB/s", "info");
	}

	int met = 0, total = 0;
	char line[512];
	size_t len = 0;
	for (int p = THREAD; p <= PROC; p++) {
		double rr = ratio(W_RAW_GETATTR, p, true), rl = ratio(W_LIB_GETATTR, p, true);
		double tr = ratio(W_RAW_READ, p, false), tl = ratio(W_LIB_READ, p, false);
		met += (rr > 0 && rr <= 1.5) + (rl > 0 && rl <= 1.5) + (tr >= 0.7) + (tl >= 0.7);
		total += (rr > 0) + (rl > 0) + (tr > 0) + (tl > 0);
		len += (size_t)snprintf(
			line + len, sizeof line - len, "%s%s: RTT %.2fx/%.2fx, Tread %.2fx/%.2fx",
			p == THREAD ? "" : "; ", party_name(&cfg, p), rr, rl, tr, tl);
	}
	printf("\nsummary: %d/%d targets met (raw loop/client library vs floor; RTT by median) -- "
	       "%s -- %ld CPUs, %.0f s\n",
	       met, total, line, ncpu, (double)(bench_now_ns() - t_start) / 1e9);
out:
	bench_server_stop(&st);
	bench_server_stop(&sp);
	char path[sizeof dir + 16];
	snprintf(path, sizeof path, "%s/thread.sock", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/proc.sock", dir);
	unlink(path);
	rmdir(dir);
	return rc < 0 ? 1 : 0;
}
