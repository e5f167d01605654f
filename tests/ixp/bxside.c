/*
 * bxside.c — the tests' side that speaks boxfs's client library and raw
 * 9P (see bxside.h).
 */
#include "bxside.h"
#include "testsrv.h"

#include <boxfs/9p.h>
#include <boxfs/client.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define FAIL(code, ...)                                                                            \
	do {                                                                                       \
		fprintf(stderr, "# " __VA_ARGS__);                                                 \
		fputc('\n', stderr);                                                               \
		rc = (code);                                                                       \
		goto out;                                                                          \
	} while (0)

static struct boxfs_client *connect_v(const char *addr, const char *version, uint32_t msize)
{
	struct boxfs_opts o = { .version = version, .msize = msize };
	return boxfs_connect(addr, &o);
}

static enum p9_dialect dialect_of(const char *v)
{
	return strcmp(v, "9P2000.L") == 0   ? P9_2000L
	       : strcmp(v, "9P2000.u") == 0 ? P9_2000U
					    : P9_2000;
}

int bx_big_read(const char *addr, const char *version, uint32_t msize, uint32_t min_msize)
{
	int rc = 0;
	struct boxfs_file *f = NULL;
	unsigned char *buf = malloc(150000);
	struct boxfs_client *c = connect_v(addr, version, msize);
	if (!c)
		FAIL(-1, "connect %s %s: %s", addr, version, strerror(errno));
	if (boxfs_dialect(c) != dialect_of(version))
		FAIL(-2, "dialect %d", boxfs_dialect(c));
	if (boxfs_msize(c) < min_msize)
		FAIL(-3, "msize %u below %u", boxfs_msize(c), min_msize);
	if (!(f = boxfs_open(c, "/data", O_RDONLY, 0)))
		FAIL(-4, "open /data: %s", strerror(errno));
	uint32_t want = boxfs_msize(c) - P9_IOHDRSZ < 150000 ? boxfs_msize(c) - P9_IOHDRSZ : 150000;
	ssize_t n = boxfs_pread(f, buf, want, 1000);
	if (n != (ssize_t)want || n <= 8192)
		FAIL(-5, "pread %zd of %u", n, want);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != pattern_byte((size_t)i + 1000))
			FAIL(-6, "byte %zd", i);
	struct stat st;
	if (boxfs_fstat(f, &st) < 0 || st.st_size != DATA_SIZE || !S_ISREG(st.st_mode))
		FAIL(-7, "fstat size %lld", (long long)st.st_size);
	/* the end of the file: a short read, then 0 */
	n = boxfs_pread(f, buf, 5000, DATA_SIZE - 100);
	if (n != 100)
		FAIL(-8, "pread at the end: %zd", n);
	if (boxfs_pread(f, buf, 10, DATA_SIZE) != 0)
		FAIL(-9, "pread past the end");
out:
	if (f)
		boxfs_close(f);
	if (c)
		boxfs_disconnect(c);
	free(buf);
	return rc;
}

int bx_list(const char *addr, const char *version, char *names, size_t cap)
{
	int rc = 0;
	struct boxfs_dir *d = NULL;
	struct boxfs_client *c = connect_v(addr, version, 65536 + 24);
	names[0] = '\0';
	if (!c)
		FAIL(-1, "connect: %s", strerror(errno));
	if (!(d = boxfs_opendir(c, "/")))
		FAIL(-2, "opendir: %s", strerror(errno));
	struct boxfs_dirent de;
	int r;
	while ((r = boxfs_readdir(d, &de)) == 1) {
		if (strcmp(de.name, ".") == 0 || strcmp(de.name, "..") == 0)
			continue;
		size_t l = strlen(names);
		snprintf(names + l, cap - l, "%s ", de.name);
	}
	if (r < 0)
		FAIL(-3, "readdir: %s", strerror(-r));
out:
	if (d)
		boxfs_closedir(d);
	if (c)
		boxfs_disconnect(c);
	return rc;
}

int bx_create_cycle(const char *addr, const char *version, const char *name, const char *name2)
{
	int rc = 0;
	char p1[64], p2[64];
	snprintf(p1, sizeof p1, "/%s", name);
	snprintf(p2, sizeof p2, "/%s", name2);
	struct boxfs_file *f = NULL;
	unsigned char *buf = malloc(20000), *back = malloc(20000);
	for (int i = 0; i < 20000; i++)
		buf[i] = (unsigned char)(i * 13);
	struct boxfs_client *c = connect_v(addr, version, 65536 + 24);
	if (!c)
		FAIL(-1, "connect: %s", strerror(errno));
	if (!(f = boxfs_open(c, p1, O_RDWR | O_CREAT | O_EXCL, 0644)))
		FAIL(-2, "create %s: %s", p1, strerror(errno));
	if (boxfs_write(f, buf, 20000) != 20000)
		FAIL(-3, "write: %s", strerror(errno));
	if (boxfs_pread(f, back, 20000, 0) != 20000 || memcmp(buf, back, 20000) != 0)
		FAIL(-4, "read back");
	boxfs_close(f);
	f = NULL;
	if (boxfs_open(c, p1, O_RDWR | O_CREAT | O_EXCL, 0644) != NULL || errno != EEXIST)
		FAIL(-5, "second exclusive create: %s", strerror(errno));
	struct stat st;
	if (boxfs_stat(c, p1, &st) < 0 || st.st_size != 20000)
		FAIL(-6, "stat size %lld", (long long)st.st_size);
	int r = boxfs_rename(c, p1, p2);
	if (r < 0)
		FAIL(-7, "rename: %s", strerror(-r));
	if (boxfs_stat(c, p1, &st) != -ENOENT)
		FAIL(-8, "old name still there");
	if ((r = boxfs_truncate(c, p2, 100)) < 0)
		FAIL(-9, "truncate: %s", strerror(-r));
	if (boxfs_stat(c, p2, &st) < 0 || st.st_size != 100)
		FAIL(-10, "size after truncate %lld", (long long)st.st_size);
	if ((r = boxfs_unlink(c, p2)) < 0)
		FAIL(-11, "unlink: %s", strerror(-r));
	if (boxfs_stat(c, p2, &st) != -ENOENT)
		FAIL(-12, "still there after unlink");
	if (boxfs_unlink(c, "/data") != -EACCES)
		FAIL(-13, "unlink of a file the program refuses");
	if (boxfs_mkdir(c, "/sub", 0755) != -EACCES)
		FAIL(-14, "mkdir the program refuses");
out:
	if (f)
		boxfs_close(f);
	if (c)
		boxfs_disconnect(c);
	free(buf);
	free(back);
	return rc;
}

/* ---- raw 9P ---- */

static int sendf(int fd, struct p9_fcall *f)
{
	uint8_t buf[8192];
	ssize_t n = p9_pack(buf, sizeof buf, f, P9_2000);
	return n > 0 && write(fd, buf, (size_t)n) == n ? 0 : -1;
}

/* Receives one message within ms milliseconds: 1 with *f (views into buf),
 * 0 on timeout, -1 on error. */
static int recvf(int fd, uint8_t *buf, size_t cap, struct p9_fcall *f, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, ms) <= 0)
		return 0;
	size_t got = 0;
	while (got < 4) {
		ssize_t r = read(fd, buf + got, 4 - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	ssize_t size = p9_frame_size(buf, (uint32_t)cap);
	if (size < 0)
		return -1;
	while (got < (size_t)size) {
		ssize_t r = read(fd, buf + got, (size_t)size - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return p9_unpack(f, buf, got, P9_2000) == 0 ? 1 : -1;
}

static int rpc(int fd, struct p9_fcall *t, struct p9_fcall *r, uint8_t *buf, size_t cap)
{
	if (sendf(fd, t) < 0 || recvf(fd, buf, cap, r, 5000) != 1)
		return -1;
	return r->tag == t->tag && r->type == t->type + 1 ? 0 : -1;
}

int bx_event_and_flush(const char *path, void (*trigger)(void))
{
	int rc = 0;
	uint8_t buf[70000];
	struct p9_fcall t, r;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		FAIL(-1, "connect: %s", strerror(errno));
	memset(&t, 0, sizeof t);
	t.type = P9_Tversion;
	t.tag = P9_NOTAG;
	t.tversion.msize = 65536;
	t.tversion.version = p9_cstr("9P2000");
	if (rpc(fd, &t, &r, buf, sizeof buf) < 0 || r.rversion.msize != 65536)
		FAIL(-2, "version");
	memset(&t, 0, sizeof t);
	t.type = P9_Tattach;
	t.tag = 1;
	t.tattach.fid = 1;
	t.tattach.afid = P9_NOFID;
	t.tattach.uname = p9_cstr("test");
	t.tattach.aname = p9_cstr("");
	if (rpc(fd, &t, &r, buf, sizeof buf) < 0)
		FAIL(-3, "attach");
	memset(&t, 0, sizeof t);
	t.type = P9_Twalk;
	t.tag = 2;
	t.twalk.fid = 1;
	t.twalk.newfid = 2;
	t.twalk.nwname = 1;
	t.twalk.wname[0] = p9_cstr("event");
	if (rpc(fd, &t, &r, buf, sizeof buf) < 0 || r.rwalk.nwqid != 1)
		FAIL(-4, "walk");
	memset(&t, 0, sizeof t);
	t.type = P9_Topen;
	t.tag = 3;
	t.topen.fid = 2;
	t.topen.mode = P9_OREAD;
	if (rpc(fd, &t, &r, buf, sizeof buf) < 0)
		FAIL(-5, "open");

	/* A read that waits for an event. */
	memset(&t, 0, sizeof t);
	t.type = P9_Tread;
	t.tag = 7;
	t.tread.fid = 2;
	t.tread.count = 1000;
	if (sendf(fd, &t) < 0)
		FAIL(-6, "send Tread");
	if (recvf(fd, buf, sizeof buf, &r, 300) != 0)
		FAIL(-7, "the read was answered before any event (type %u)", r.type);
	trigger();
	if (recvf(fd, buf, sizeof buf, &r, 5000) != 1 || r.tag != 7 || r.type != P9_Rread)
		FAIL(-8, "no Rread after the event");
	if (r.rread.count != 6 || memcmp(r.rread.data, "hello\n", 6) != 0)
		FAIL(-9, "event data '%.*s'", (int)r.rread.count, r.rread.data);

	/* A waiting read flushed: the program's flush sees it, Rflush comes. */
	t.tag = 8;
	if (sendf(fd, &t) < 0)
		FAIL(-10, "send Tread");
	if (recvf(fd, buf, sizeof buf, &r, 200) != 0)
		FAIL(-11, "the second read was answered early");
	memset(&t, 0, sizeof t);
	t.type = P9_Tflush;
	t.tag = 9;
	t.tflush.oldtag = 8;
	if (sendf(fd, &t) < 0)
		FAIL(-12, "send Tflush");
	bool flushed = false;
	for (int i = 0; i < 2 && !flushed; i++) {
		int k = recvf(fd, buf, sizeof buf, &r, 5000);
		if (k != 1)
			FAIL(-13, "no Rflush");
		if (r.tag == 9 && r.type == P9_Rflush)
			flushed = true;
		else if (r.tag != 8)
			FAIL(-14, "unexpected reply tag %u type %u", r.tag, r.type);
	}
	if (!flushed)
		FAIL(-15, "no Rflush");
	/* the flushed read is gone: a new event reaches a new read only */
	memset(&t, 0, sizeof t);
	t.type = P9_Tread;
	t.tag = 10;
	t.tread.fid = 2;
	t.tread.count = 1000;
	if (sendf(fd, &t) < 0)
		FAIL(-16, "send Tread");
	trigger();
	if (recvf(fd, buf, sizeof buf, &r, 5000) != 1 || r.tag != 10 || r.type != P9_Rread ||
	    r.rread.count != 6)
		FAIL(-17, "read after the flush: tag %u type %u", r.tag, r.type);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
