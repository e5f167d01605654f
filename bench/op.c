/*
 * op.c — boxfs-bench -o op: a box of cfg->box_mib MiB (64 by default) moved
 * whole three ways in every run, one after the other so that the machine's
 * fast and slow spells fall on all three:
 *
 *	stream   the bytes written to a Unix stream socket in 64 KiB writes by
 *		 a thread and read at the other end: the floor
 *	getmem   boxfs_op_get: GETMEM packets of 64 KiB until a short one
 *	putmem   boxfs_op_put: a PUTMEM series, replacing the box at its end
 *
 * against a server in this process (a RAM root, op on a Unix socket).
 * Figures are MB/s (10^6 bytes a second), medians of cfg->runs runs, and
 * the ratios to the stream.
 */
#include "op.h"

#include "bench.h"

#include <boxfs/op.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct feeder {
	int fd;
	const uint8_t *data;
	size_t size;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	for (size_t off = 0; off < f->size; off += OP_MAXBYTES) {
		size_t n = f->size - off < OP_MAXBYTES ? f->size - off : OP_MAXBYTES;
		if (bench_write_full(f->fd, f->data + off, n) < 0)
			break;
	}
	return NULL;
}

/* The floor: size bytes through a socket pair, into buf. MB/s or -errno. */
static double stream(const uint8_t *data, uint8_t *buf, size_t size)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	uint64_t t0 = bench_now_ns();
	struct feeder f = { sv[0], data, size };
	pthread_t t;
	pthread_create(&t, NULL, feed, &f);
	int rc = 0;
	for (size_t off = 0; rc == 0 && off < size; off += OP_MAXBYTES)
		rc = bench_read_full(sv[1], buf + off,
				     size - off < OP_MAXBYTES ? size - off : OP_MAXBYTES);
	pthread_join(t, NULL);
	double mbps = (double)size * 1e3 / (double)(bench_now_ns() - t0);
	close(sv[0]);
	close(sv[1]);
	return rc < 0 ? rc : mbps;
}

static double getmem(struct boxfs_op *op, const uint8_t *data, size_t size)
{
	void *got;
	size_t len;
	uint64_t t0 = bench_now_ns();
	int rc = boxfs_op_get(op, "/box", &got, &len);
	double mbps = (double)size * 1e3 / (double)(bench_now_ns() - t0);
	if (rc == 0 && (len != size || memcmp(got, data, size) != 0))
		rc = -EIO;
	if (rc == 0)
		free(got);
	return rc < 0 ? rc : mbps;
}

static double putmem(struct boxfs_op *op, const uint8_t *data, size_t size)
{
	uint64_t t0 = bench_now_ns();
	int rc = boxfs_op_put(op, "/box", data, size);
	return rc < 0 ? rc : (double)size * 1e3 / (double)(bench_now_ns() - t0);
}

int op_bench(const struct op_cfg *cfg)
{
	char dir[] = "/tmp/boxfs-bench-op-XXXXXX", sock[128], path[96];
	if (!mkdtemp(dir))
		return -errno;
	snprintf(path, sizeof path, "%s/op", dir);
	snprintf(sock, sizeof sock, "unix!%s", path);
	size_t size = (size_t)cfg->box_mib << 20;
	uint8_t *data = malloc(size), *buf = malloc(size);
	struct boxfs_server *srv = boxfs_server_new(&(struct boxfs_server_opts){ .workers = 4 });
	struct boxfs_op *op = NULL;
	int rc = 0;
	if (!data || !buf || !srv || boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_listen(srv, "op", sock) < 0 || boxfs_server_start(srv) < 0 ||
	    !(op = boxfs_op_open(sock, NULL))) {
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; i < size; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	if ((rc = boxfs_op_make(op, "/box", &(struct op_stat){ .kind = "file" })) < 0 ||
	    (rc = boxfs_op_put(op, "/box", data, size)) < 0)
		goto out;
	static const char *const names[3] = { "Unix stream", "GETMEM series", "PUTMEM series" };
	double *v[3];
	for (int k = 0; k < 3; k++)
		v[k] = calloc(cfg->runs, sizeof(double));
	for (unsigned i = 0; i < cfg->runs && rc == 0; i++) {
		double f[3] = { stream(data, buf, size), getmem(op, data, size),
				putmem(op, data, size) };
		for (int k = 0; k < 3; k++) {
			if (f[k] < 0)
				rc = (int)f[k];
			v[k][i] = f[k];
			if (cfg->verbose)
				fprintf(stderr, "op run %u: %-14s %8.0f MB/s\n", i, names[k], f[k]);
		}
	}
	if (rc == 0) {
		double med[3];
		for (int k = 0; k < 3; k++)
			med[k] = bench_median(v[k], cfg->runs);
		printf("\nop: a %u MiB box moved whole in 64 KiB packets (median of %u runs, "
		       "interleaved)\n",
		       cfg->box_mib, cfg->runs);
		for (int k = 0; k < 3; k++)
			printf("  %-14s %8.0f MB/s   %.2fx the stream\n", names[k], med[k],
			       med[k] / med[0]);
	}
	for (int k = 0; k < 3; k++)
		free(v[k]);
out:
	boxfs_op_close(op);
	boxfs_server_free(srv);
	unlink(path);
	rmdir(dir);
	free(data);
	free(buf);
	return rc;
}
