/*
 * bench.h — what the files of boxfs-bench share: the clock, summaries of
 * samples, whole-buffer socket I/O, peers (a function run on a thread or in a
 * child process at the other end of a socket), the raw floors (floor.c) and
 * the boxfs side (ninep.c: servers, a hand-rolled 9P loop, the client
 * library). main.c runs them and prints the table.
 *
 * Every measurement is one of two shapes: a round trip timed one at a time
 * (bench_rtt: mean and median in µs), or 1 MiB chunks moved for a fixed time
 * (bench_stream: MB/s, 10^6 bytes a second).
 */
#ifndef BOXFS_BENCH_H
#define BOXFS_BENCH_H

#include <boxfs/9p.h>
#include <boxfs/client.h>
#include <boxfs/server.h>

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
	BENCH_CHUNK = 1 << 20,			    /* payload of one streamed chunk */
	BENCH_MSIZE = BENCH_CHUNK + P9_IOHDRSZ,	    /* the 9P msize benchmarked */
	BENCH_RREAD = P9_RREAD_HDRSZ + BENCH_CHUNK, /* one whole Rread frame */
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* ---- summaries ---- */

struct bench_lat {
	double mean_us, median_us;
};

/* The mean and median of n samples in ns (sorts ns in place). */
struct bench_lat bench_lat_of(uint64_t *ns, size_t n);

/* The median of n values (sorts v in place); 0 when n is 0. */
double bench_median(double *v, size_t n);

/*
 * Times n round trips of op(ctx) one by one, after warm round trips not
 * counted. Answers 0 with *out, or op's -errno.
 */
int bench_rtt(int (*op)(void *ctx), void *ctx, size_t warm, size_t n, struct bench_lat *out);

/*
 * Calls chunk(ctx, i) for i = 0, 1, ... (each moves BENCH_CHUNK bytes of
 * payload) for at least secs seconds, after warm calls not counted. Answers
 * 0 with *mbps in 10^6 bytes a second, or chunk's -errno.
 */
int bench_stream(int (*chunk)(void *ctx, uint64_t i), void *ctx, unsigned warm, double secs,
		 double *mbps);

/* ---- whole-buffer I/O on blocking descriptors: 0, or -errno (-EPIPE at EOF) ---- */

int bench_write_full(int fd, const void *buf, size_t n);
int bench_read_full(int fd, void *buf, size_t n);

/* ---- peers ---- */

/*
 * The other end of a socket: fn(fd, arg) on a thread of this process, or in
 * a child process made by fork (which then calls only read, write, send,
 * recv, epoll, clock_gettime and _exit, and uses buffers allocated before the
 * fork). The peer owns fd: the thread closes it when fn returns, the child
 * exits.
 */
struct bench_peer {
	bool proc;
	pid_t pid;
	pthread_t thread;
	void (*fn)(int fd, void *arg);
	int fd;
	void *arg;
};

int bench_peer_start(struct bench_peer *p, bool proc, int fd, void (*fn)(int fd, void *arg),
		     void *arg);
/* Waits for the peer to finish (its end of the socket must see EOF or EPIPE). */
void bench_peer_join(struct bench_peer *p);

/* The boxfs command: $BOXFS, else ../tools/boxfs beside this program. Writes
 * its path to out (cap bytes); false when it is not there. */
bool bench_find_boxfs(char *out, size_t cap);

/* ---- floors (floor.c) ---- */

/* Ping-pong: the client writes req bytes and reads rep bytes back. */
struct floor_pp;
struct floor_pp *floor_pp_new(bool proc, bool epoll_echo, size_t req, size_t rep);
/*
 * Two ping-pongs in a row, the second of req2 and rep2 bytes (none when req2
 * is 0), are one op: a memfile's lock and unlock. A blocking echo whose
 * socket has a send buffer of sndbuf bytes when not 0 (as the server asks for
 * its own), and which polls for a request for up to poll_us before it
 * blocks when not 0 (as the server's loop does).
 */
struct floor_pp *floor_pp2_new(bool proc, size_t req, size_t rep, size_t req2, size_t rep2,
			       int sndbuf, unsigned poll_us);
int floor_pp_op(void *ctx);
void floor_pp_free(struct floor_pp *f);

/*
 * A process-shared pthread mutex in a shared anonymous mapping, uncontended:
 * lock, change one byte, unlock, timed in nbatch batches of batch (after one
 * untimed). 0 with the mean and median per op in *out, or -errno.
 */
int floor_mutex(size_t batch, size_t nbatch, struct bench_lat *out);

/*
 * Streaming: the peer writes BENCH_RREAD-byte chunks; the client reads each
 * whole into one buffer. src (FLOOR_COPY only) is a file of src_len bytes.
 */
enum floor_mode {
	FLOOR_STREAM, /* chunks back to back */
	FLOOR_REQREP, /* one chunk for each req-byte request */
	FLOOR_COPY,   /* the same, and each chunk first copied from the next MiB of src */
};
struct floor_stream;
struct floor_stream *floor_stream_new(bool proc, enum floor_mode mode, size_t req,
				      const uint8_t *src, size_t src_len);
int floor_stream_chunk(void *ctx, uint64_t i);
void floor_stream_free(struct floor_stream *f);

/* ---- boxfs (ninep.c) ---- */

/* A RAM server on a Unix socket: a thread of this process, or a child. */
struct bench_server {
	bool proc;
	pid_t pid;
	struct boxfs_server *srv;
	char dial[160]; /* "unix!/tmp/.../sock" */
};

/* Starts a server at "unix!<dir>/<name>"; call with proc only before
 * starting any thread. 0 or -errno. */
int bench_server_start(struct bench_server *s, bool proc, const char *dir, const char *name);
void bench_server_stop(struct bench_server *s);

/* Creates the file BENCH_FILE of mib MiB through the client library; answers
 * 0 with the Twrite throughput in *mbps, or -errno. */
#define BENCH_FILE "bench.dat"
int bench_fill_file(const char *dial, unsigned mib, double *mbps);

/* The hand-rolled loop: a socket, the codec, write and read. */
struct raw9p;
/* Connects, Tversion 9P2000.L at BENCH_MSIZE, attaches fid 0 and opens
 * BENCH_FILE as fid 1 for reading. NULL+errno on failure. */
struct raw9p *raw9p_open(const char *dial, unsigned file_mib);
int raw9p_getattr_op(void *ctx);	     /* Tgetattr on fid 0 */
int raw9p_read_chunk(void *ctx, uint64_t i); /* Tread of chunk i mod file size */
void raw9p_close(struct raw9p *r);
/* The sizes of the Tgetattr and Rgetattr the raw loop exchanges. */
void raw9p_getattr_sizes(size_t *req, size_t *rep);

/* The client library. */
struct lib9p;
struct lib9p *lib9p_open(const char *dial, unsigned file_mib);
int lib9p_getattr_op(void *ctx);	      /* boxfs_rpc(Tgetattr) on the root fid */
int lib9p_stat_op(void *ctx);		      /* boxfs_stat("/" BENCH_FILE) */
int lib9p_pread_chunk(void *ctx, uint64_t i); /* boxfs_pread of one chunk */
void lib9p_close(struct lib9p *l);

/* Stops the child *pid (SIGTERM, SIGKILL after 2 s), reaps it, sets *pid 0. */
void bench_child_stop(pid_t *pid);

/* Copies a server's log file to stderr. */
void bench_show_log(const char *log);

#endif
