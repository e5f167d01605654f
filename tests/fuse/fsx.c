/*
 * fsx.c — a random-operation file checker in the manner of fsx: reads,
 * writes, truncates, shared mmap reads and writes, fsyncs and reopens on one
 * file, each checked against an in-memory copy of what the file must hold;
 * after every operation the file's size and whole contents are compared
 * with the copy. The first mismatch prints the operations before it and
 * exits 1.
 *
 * usage: fsx [-N OPS] [-S SEED] [-l MAXLEN] FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { OP_READ, OP_WRITE, OP_TRUNC, OP_MAPREAD, OP_MAPWRITE, OP_FSYNC, OP_REOPEN, NOPS };
static const char *const opname[NOPS] = { "read",     "write", "truncate", "mapread",
					  "mapwrite", "fsync", "reopen" };

static uint64_t rng;
static const char *path;
static int fd = -1;
static size_t maxlen = 256 * 1024;
static char *model, *buf;
static size_t size;
static long pagesz;

struct rec {
	unsigned long n;
	int op;
	size_t off, len;
};
static struct rec hist[32];
static unsigned long nop;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fsx: op %lu: ", nop);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fprintf(stderr, "fsx: the last operations:\n");
	for (unsigned i = 0; i < 32; i++) {
		const struct rec *r = &hist[(nop + 1 + i) % 32];
		if (r->n || r == &hist[0])
			fprintf(stderr, "  %lu %s off %zu len %zu\n", r->n, opname[r->op], r->off,
				r->len);
	}
	exit(1);
}

static void check_bytes(const char *got, size_t off, size_t len, const char *what)
{
	if (memcmp(got, model + off, len) == 0)
		return;
	size_t i = 0;
	while (got[i] == model[off + i])
		i++;
	fail("%s: byte %zu is 0x%02x, want 0x%02x", what, off + i, (unsigned char)got[i],
	     (unsigned char)model[off + i]);
}

/* The whole file against the model. */
static void verify(void)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail("fstat: %s", strerror(errno));
	if ((size_t)st.st_size != size)
		fail("size is %lld, want %zu", (long long)st.st_size, size);
	size_t got = 0;
	while (got < size) {
		ssize_t k = pread(fd, buf + got, size - got, (off_t)got);
		if (k <= 0)
			fail("verify pread at %zu: %s", got, k < 0 ? strerror(errno) : "EOF");
		got += (size_t)k;
	}
	check_bytes(buf, 0, size, "verify");
}

static void set_size(size_t n)
{
	if (n > size)
		memset(model + size, 0, n - size);
	size = n;
}

static void do_op(int op, size_t off, size_t len)
{
	switch (op) {
	case OP_READ: {
		if (off >= size)
			off = size ? rnd() % size : 0;
		if (off + len > size)
			len = size - off;
		ssize_t k = pread(fd, buf, len, (off_t)off);
		if (k != (ssize_t)len)
			fail("pread %zu at %zu: %zd (%s)", len, off, k, strerror(errno));
		check_bytes(buf, off, len, "read");
		break;
	}
	case OP_WRITE:
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(rnd() % 255 + 1);
		if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
			fail("pwrite %zu at %zu: %s", len, off, strerror(errno));
		if (off + len > size)
			set_size(off + len);
		memcpy(model + off, buf, len);
		break;
	case OP_TRUNC:
		if (ftruncate(fd, (off_t)off) < 0)
			fail("ftruncate %zu: %s", off, strerror(errno));
		if (off < size)
			memset(model + off, 0, size - off);
		set_size(off);
		break;
	case OP_MAPREAD: {
		if (size == 0)
			break;
		if (off >= size)
			off = rnd() % size;
		if (off + len > size)
			len = size - off;
		size_t pg = off & ~(size_t)(pagesz - 1);
		char *p = mmap(NULL, off + len - pg, PROT_READ, MAP_SHARED, fd, (off_t)pg);
		if (p == MAP_FAILED)
			fail("mmap read: %s", strerror(errno));
		check_bytes(p + (off - pg), off, len, "mapread");
		munmap(p, off + len - pg);
		break;
	}
	case OP_MAPWRITE: {
		if (len == 0)
			break;
		if (off + len > size) {
			if (ftruncate(fd, (off_t)(off + len)) < 0)
				fail("ftruncate for mapwrite: %s", strerror(errno));
			set_size(off + len);
		}
		size_t pg = off & ~(size_t)(pagesz - 1);
		char *p = mmap(NULL, off + len - pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			       (off_t)pg);
		if (p == MAP_FAILED)
			fail("mmap write: %s", strerror(errno));
		for (size_t i = 0; i < len; i++)
			model[off + i] = (char)(rnd() % 255 + 1);
		memcpy(p + (off - pg), model + off, len);
		if (rnd() % 2 && msync(p, off + len - pg, MS_SYNC) < 0)
			fail("msync: %s", strerror(errno));
		munmap(p, off + len - pg);
		break;
	}
	case OP_FSYNC:
		if ((rnd() % 2 ? fdatasync(fd) : fsync(fd)) < 0)
			fail("fsync: %s", strerror(errno));
		break;
	case OP_REOPEN:
		if (close(fd) < 0)
			fail("close: %s", strerror(errno));
		fd = open(path, O_RDWR);
		if (fd < 0)
			fail("reopen: %s", strerror(errno));
		break;
	}
}

int main(int argc, char **argv)
{
	unsigned long ops = 10000;
	unsigned long long seed = (unsigned long long)time(NULL);
	int o;
	while ((o = getopt(argc, argv, "N:S:l:")) != -1) {
		switch (o) {
		case 'N':
			ops = strtoul(optarg, NULL, 10);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'l':
			maxlen = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: fsx [-N OPS] [-S SEED] [-l MAXLEN] FILE\n");
			return 2;
		}
	}
	if (optind != argc - 1 || maxlen < 4096) {
		fprintf(stderr, "usage: fsx [-N OPS] [-S SEED] [-l MAXLEN] FILE\n");
		return 2;
	}
	path = argv[optind];
	pagesz = sysconf(_SC_PAGESIZE);
	rng = seed * 2654435761u + 1;
	model = calloc(1, maxlen);
	buf = malloc(maxlen);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!model || !buf || fd < 0) {
		fprintf(stderr, "fsx: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	unsigned long count[NOPS] = { 0 };
	for (nop = 1; nop <= ops; nop++) {
		unsigned r = (unsigned)(rnd() % 100);
		int op = r < 25	  ? OP_READ
			 : r < 50 ? OP_WRITE
			 : r < 60 ? OP_TRUNC
			 : r < 75 ? OP_MAPREAD
			 : r < 90 ? OP_MAPWRITE
			 : r < 97 ? OP_FSYNC
				  : OP_REOPEN;
		size_t off = rnd() % maxlen;
		size_t len = rnd() % 4 == 0 ? rnd() % (maxlen / 4) + 1 : rnd() % 4096 + 1;
		if (off + len > maxlen)
			len = maxlen - off;
		hist[nop % 32] = (struct rec){ nop, op, off, len };
		do_op(op, off, len);
		count[op]++;
		verify();
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("fsx: %lu operations (seed %llu) without a mismatch in %.1f s:", ops, seed, s);
	for (int i = 0; i < NOPS; i++)
		printf(" %s %lu", opname[i], count[i]);
	printf("\n");
	close(fd);
	return 0;
}
