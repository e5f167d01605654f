/*
 * rio.c — boxfs-bench -o rio: a host file of cfg->file_mib MiB (1 GiB by
 * default) read whole, in 1 MiB reads, three ways in every run, one after
 * the other so that the machine's fast and slow spells fall on all three:
 *
 *	native     pread on the file itself
 *	vmofile    pread on the descriptor a rio OPEN (read-only) answered
 *	messages   READ messages of 8 KiB on a channel opened read-write
 *		   (which the server answers REMOTE: every byte is a message)
 *
 * against a server in this process (a host export of a scratch directory,
 * rio on a Unix socket). The file is read once before timing, so every way
 * reads from the page cache. Figures are MB/s (10^6 bytes a second),
 * medians of cfg->runs runs, and the ratios to native.
 */
#include "rio.h"

#include "bench.h"

#include <boxfs/hostfs.h>
#include <boxfs/ramfs.h>
#include <boxfs/rio_client.h>
#include <boxfs/server.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CHUNK = 1 << 20 };

/* Reads size bytes of fd (pread, 1 MiB at a time); MB/s or -errno. */
static double read_fd(int fd, uint64_t size, uint8_t *buf)
{
	uint64_t t0 = bench_now_ns();
	for (uint64_t off = 0; off < size;) {
		ssize_t n = pread(fd, buf, CHUNK, (off_t)off);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (uint64_t)n;
	}
	return (double)size * 1e3 / (double)(bench_now_ns() - t0);
}

static double read_vmo(int root, uint64_t size, uint8_t *buf)
{
	struct boxfs_rio_object o;
	uint64_t t0 = bench_now_ns();
	int r = boxfs_rio_open(root, "host/big", O_RDONLY, 0, &o);
	if (r < 0)
		return r;
	double mbps = o.type == RIO_TYPE_VMOFILE ? 0 : -EPROTO;
	for (uint64_t off = 0; mbps == 0 && off < size;) {
		ssize_t n = pread(o.vmo, buf, CHUNK, (off_t)off);
		if (n <= 0)
			mbps = n < 0 ? -errno : -EIO;
		off += n > 0 ? (uint64_t)n : 0;
	}
	boxfs_rio_close(o.ch);
	close(o.vmo);
	return mbps < 0 ? mbps : (double)size * 1e3 / (double)(bench_now_ns() - t0);
}

static double read_msgs(int root, uint64_t size, uint8_t *buf)
{
	struct boxfs_rio_object o;
	uint64_t t0 = bench_now_ns();
	int r = boxfs_rio_open(root, "host/big", O_RDWR, 0, &o);
	if (r < 0)
		return r;
	double mbps = o.type == RIO_TYPE_REMOTE ? 0 : -EPROTO;
	for (uint64_t off = 0; mbps == 0 && off < size;) {
		ssize_t n = boxfs_rio_read(o.ch, buf, CHUNK);
		if (n <= 0)
			mbps = n < 0 ? (double)n : -EIO;
		off += n > 0 ? (uint64_t)n : 0;
	}
	boxfs_rio_close(o.ch);
	return mbps < 0 ? mbps : (double)size * 1e3 / (double)(bench_now_ns() - t0);
}

int rio_bench(const struct rio_cfg *cfg)
{
	char dir[] = "/var/tmp/boxfs-bench-rio-XXXXXX", host[64], path[96], sock[96];
	if (!mkdtemp(dir))
		return -errno;
	snprintf(host, sizeof host, "%s/host", dir);
	snprintf(path, sizeof path, "%s/big", host);
	snprintf(sock, sizeof sock, "unix!%s/rio", dir);
	mkdir(host, 0755);
	uint64_t size = (uint64_t)cfg->file_mib << 20;
	uint8_t *buf = malloc(CHUNK);
	int rc = 0, fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	struct boxfs_server *srv = NULL;
	int root = -1;
	if (!buf || fd < 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint64_t off = 0; off < size; off += CHUNK) { /* real data, not a hole */
		memset(buf, (int)(off >> 20), CHUNK);
		if (pwrite(fd, buf, CHUNK, (off_t)off) != CHUNK) {
			rc = -errno;
			goto out;
		}
	}
	struct boxfs_server_opts so = { .workers = 4 };
	struct boxfs_hostfs_opts ho = { .root = host };
	srv = boxfs_server_new(&so);
	if (!srv || boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(srv, "/host", boxfs_hostfs_new(&ho)) < 0 ||
	    boxfs_server_listen(srv, "rio", sock) < 0 || boxfs_server_start(srv) < 0 ||
	    (root = boxfs_rio_dial(sock)) < 0) {
		rc = -EIO;
		goto out;
	}
	read_fd(fd, size, buf); /* into the page cache */
	double *v[3];
	for (int k = 0; k < 3; k++)
		v[k] = calloc(cfg->runs, sizeof(double));
	static const char *const names[3] = { "native pread", "rio VMOFILE", "rio READ messages" };
	for (unsigned i = 0; i < cfg->runs && rc == 0; i++) {
		double f[3] = { read_fd(fd, size, buf), read_vmo(root, size, buf),
				read_msgs(root, size, buf) };
		for (int k = 0; k < 3; k++) {
			if (f[k] < 0)
				rc = (int)f[k];
			v[k][i] = f[k];
			if (cfg->verbose)
				fprintf(stderr, "rio run %u: %-18s %8.0f MB/s\n", i, names[k],
					f[k]);
		}
	}
	if (rc == 0) {
		double med[3];
		for (int k = 0; k < 3; k++)
			med[k] = bench_median(v[k], cfg->runs);
		printf("\nrio: a %u MiB host file read whole in 1 MiB reads (median of %u runs, "
		       "interleaved)\n",
		       cfg->file_mib, cfg->runs);
		for (int k = 0; k < 3; k++)
			printf("  %-18s %8.0f MB/s   %.2fx native\n", names[k], med[k],
			       med[k] / med[0]);
		printf("  VMOFILE target: >= 0.90x native: %s\n",
		       med[1] >= 0.9 * med[0] ? "met" : "NOT met");
	}
	for (int k = 0; k < 3; k++)
		free(v[k]);
out:
	if (root >= 0)
		close(root);
	boxfs_server_free(srv);
	if (fd >= 0)
		close(fd);
	unlink(path);
	rmdir(host);
	snprintf(path, sizeof path, "%s/rio", dir);
	unlink(path);
	rmdir(dir);
	free(buf);
	return rc;
}
