/*
 * test_rio.c — conformance of the rio door (docs/protocols/rio.md) over real
 * SOCK_SEQPACKET channels, against servers running in this process.
 *
 * Each case gets a fresh server: a RAM root, a host export of a scratch
 * directory at /host and memfiles at /mem, with rio on a Unix socket. Cases
 * speak through the rio client (boxfs/rio_client.h) where a request is well
 * formed, and write raw packets where it is not on purpose. The descriptors
 * of this process are counted before each case and after its server is
 * freed: a case that leaks one fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/hostfs.h>
#include <boxfs/memfs.h>
#include <boxfs/ramfs.h>
#include <boxfs/rio.h>
#include <boxfs/rio_client.h>
#include <boxfs/server.h>

#include "../lib/testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
	char dir[64];	/* scratch: sockets, and host/ exported */
	char host[128]; /* the exported directory */
	struct boxfs_server *srv, *srv2;
	char addr[160], addr2[160];
	FILE *log; /* srv's debug trace (forwarding) */
	int nfds;  /* descriptors open before the case */
} fx;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static struct boxfs_server *server_new(const char *name, char *addr, FILE *log)
{
	struct boxfs_server_opts o = { .workers = 2, .debug = log };
	struct boxfs_server *s = boxfs_server_new(&o);
	if (!s)
		return NULL;
	struct boxfs_hostfs_opts ho = { .root = fx.host };
	char want[160];
	snprintf(want, sizeof want, "unix!%s/%s", fx.dir, name);
	if (boxfs_server_mount(s, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(s, "/host", boxfs_hostfs_new(&ho)) < 0 ||
	    boxfs_server_mount(s, "/mem", boxfs_memfs_new(NULL)) < 0 ||
	    boxfs_server_listen(s, "rio", want) < 0) {
		boxfs_server_free(s);
		return NULL;
	}
	snprintf(addr, 160, "%s", boxfs_server_address(s, 0));
	return s;
}

static int setup(void **state)
{
	(void)state;
	fx.nfds = count_fds();
	snprintf(fx.dir, sizeof fx.dir, "/tmp/boxfs-rio-XXXXXX");
	if (!mkdtemp(fx.dir))
		return -1;
	snprintf(fx.host, sizeof fx.host, "%s/host", fx.dir);
	mkdir(fx.host, 0755);
	fx.srv = server_new("rio", fx.addr, NULL);
	return fx.srv && boxfs_server_start(fx.srv) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	boxfs_server_free(fx.srv);
	boxfs_server_free(fx.srv2);
	fx.srv = fx.srv2 = NULL;
	if (fx.log)
		fclose(fx.log);
	fx.log = NULL;
	rm_tree(fx.dir);
	int n = count_fds();
	if (n != fx.nfds) {
		fprintf(stderr, "descriptors: %d before, %d after\n", fx.nfds, n);
		return -1;
	}
	return 0;
}

static int root(void)
{
	int ch = boxfs_rio_dial(fx.addr);
	assert_true(ch >= 0);
	return ch;
}

static struct boxfs_rio_object open_ok(int dir, const char *path, int flags, mode_t mode)
{
	struct boxfs_rio_object o;
	int r = boxfs_rio_open(dir, path, flags, mode, &o);
	if (r < 0)
		fprintf(stderr, "open %s: %s\n", path, strerror(-r));
	assert_int_equal(r, 0);
	return o;
}

static void obj_close(struct boxfs_rio_object *o)
{
	assert_int_equal(boxfs_rio_close(o->ch), 0);
	if (o->vmo >= 0)
		close(o->vmo);
}

/* Sends a raw packet (len bytes) with descriptors, answers the reply's
 * status, or 1 when the channel closed instead. */
static int raw(int ch, const void *pkt, size_t len, const int *fds, int nfds, struct rio_msg *rep)
{
	struct iovec iov = { (void *)pkt, len };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(8 * sizeof(int))];
	} cm;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		m.msg_control = cm.b;
		m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, (size_t)nfds * sizeof(int));
	}
	assert_true(sendmsg(ch, &m, MSG_NOSIGNAL) == (ssize_t)len);
	static uint8_t buf[RIO_MSGMAX];
	struct pollfd p = { .fd = ch, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	ssize_t n = recv(ch, buf, sizeof buf, 0);
	if (n <= 0)
		return 1;
	assert_int_equal(rio_msg_unpack(rep, buf, (size_t)n), 0);
	assert_int_equal(rep->op, RIO_STATUS);
	return rep->arg;
}

static size_t pack(uint8_t *buf, uint32_t op, int32_t arg, uint64_t arg2, uint32_t hcount,
		   const void *data, uint32_t len)
{
	struct rio_msg m = {
		.txid = 77, .op = op, .datalen = len, .arg = arg, .arg2 = arg2, .hcount = hcount
	};
	rio_hdr_pack(buf, &m);
	if (len)
		memcpy(buf + RIO_HDRSZ, data, len);
	return RIO_HDRSZ + len;
}

/* ---- the cases ---- */

static void test_codec_golden(void **state)
{
	(void)state;
	struct rio_msg m = { .txid = 1, .op = RIO_OPEN, .datalen = 2, .arg = -1, .arg2 = 0x0102 };
	uint8_t buf[RIO_HDRSZ + 2];
	rio_hdr_pack(buf, &m);
	memcpy(buf + RIO_HDRSZ, "ab", 2);
	static const uint8_t want[RIO_HDRSZ] = { 1, 0, 0, 0,	0x03, 0x01, 0,	  0,	2,
						 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01 };
	assert_memory_equal(buf, want, sizeof want);
	struct rio_msg d;
	assert_int_equal(rio_msg_unpack(&d, buf, sizeof buf), 0);
	assert_int_equal(d.arg, -1);
	assert_memory_equal(d.data, "ab", 2);
	assert_int_equal(rio_msg_unpack(&d, buf, sizeof buf - 1), -EPROTO); /* short */
	assert_int_equal(rio_msg_unpack(&d, buf, RIO_HDRSZ - 1), -EPROTO);
	buf[8] = 0, buf[9] = 0x21; /* datalen 8448 > RIO_CHUNK */
	assert_int_equal(rio_msg_unpack(&d, buf, sizeof buf), -EPROTO);
	uint8_t rec[64];
	size_t n = rio_dirent_pack(rec, sizeof rec, DT_REG, "abc", 3);
	assert_int_equal(n, 12);
	size_t pos = 0;
	struct rio_dirent de;
	assert_int_equal(rio_dirent_next(rec, n, &pos, &de), 1);
	assert_int_equal(de.namelen, 3);
	assert_int_equal(rio_dirent_next(rec, n, &pos, &de), 0);
	rec[11] = 'x'; /* no NUL */
	pos = 0;
	assert_int_equal(rio_dirent_next(rec, n, &pos, &de), -EPROTO);
}

static void test_rw_offsets(void **state)
{
	(void)state;
	int r = root();
	struct boxfs_rio_object f = open_ok(r, "a.txt", O_RDWR | O_CREAT | O_EXCL, 0644);
	assert_int_equal(f.type, RIO_TYPE_REMOTE);
	assert_int_equal(boxfs_rio_write(f.ch, "hello world", 11), 11);
	assert_int_equal(boxfs_rio_seek(f.ch, 0, SEEK_CUR), 11);
	char buf[64] = { 0 };
	assert_int_equal(boxfs_rio_read(f.ch, buf, sizeof buf), 0); /* at the end */
	assert_int_equal(boxfs_rio_seek(f.ch, 6, SEEK_SET), 6);
	assert_int_equal(boxfs_rio_read(f.ch, buf, 5), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(boxfs_rio_seek(f.ch, -5, SEEK_END), 6);
	assert_int_equal(boxfs_rio_seek(f.ch, -50, SEEK_CUR), -EINVAL);
	assert_int_equal(boxfs_rio_seek(f.ch, 0, 9), -EINVAL);
	/* READ_AT/WRITE_AT leave the offset alone */
	assert_int_equal(boxfs_rio_pwrite(f.ch, "HELLO", 5, 0), 5);
	assert_int_equal(boxfs_rio_pread(f.ch, buf, 11, 0), 11);
	assert_memory_equal(buf, "HELLO world", 11);
	assert_int_equal(boxfs_rio_seek(f.ch, 0, SEEK_CUR), 6);
	/* a CLONE has its own offset, from 0 */
	struct boxfs_rio_object c;
	assert_int_equal(boxfs_rio_clone(f.ch, &c), 0);
	assert_int_equal(boxfs_rio_read(c.ch, buf, 5), 5);
	assert_memory_equal(buf, "HELLO", 5);
	assert_int_equal(boxfs_rio_seek(f.ch, 0, SEEK_CUR), 6);
	obj_close(&c);
	/* more than one message's worth */
	static uint8_t big[3 * RIO_CHUNK + 100], back[sizeof big];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	assert_int_equal(boxfs_rio_pwrite(f.ch, big, sizeof big, 0), sizeof big);
	assert_int_equal(boxfs_rio_pread(f.ch, back, sizeof back, 0), sizeof back);
	assert_memory_equal(big, back, sizeof big);
	/* STAT */
	struct rio_attr a;
	assert_int_equal(boxfs_rio_stat(f.ch, &a), 0);
	assert_true(S_ISREG(a.mode));
	assert_int_equal(a.size, sizeof big);
	assert_int_equal(a.nlink, 1);
	/* FCNTL */
	assert_int_equal(boxfs_rio_fcntl(f.ch, F_GETFL, 0) & O_ACCMODE, O_RDWR);
	assert_int_equal(boxfs_rio_fcntl(f.ch, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(boxfs_rio_fcntl(f.ch, F_SETFL, O_APPEND), -EINVAL);
	assert_int_equal(boxfs_rio_fcntl(f.ch, F_GETLK, 0), -EINVAL);
	obj_close(&f);
	/* O_APPEND: every WRITE at the end, the offset after it */
	f = open_ok(r, "a.txt", O_WRONLY | O_APPEND, 0);
	assert_int_equal(boxfs_rio_write(f.ch, "!", 1), 1);
	assert_int_equal(boxfs_rio_seek(f.ch, 0, SEEK_CUR), sizeof big + 1);
	assert_int_equal(boxfs_rio_read(f.ch, buf, 1), -EBADF); /* write-only */
	obj_close(&f);
	f = open_ok(r, "a.txt", O_RDONLY | O_TRUNC, 0);
	assert_int_equal(boxfs_rio_write(f.ch, "x", 1), -EBADF); /* read-only */
	obj_close(&f);
	/* O_TRUNC, and TRUNCATE */
	f = open_ok(r, "a.txt", O_RDWR | O_TRUNC, 0);
	assert_int_equal(boxfs_rio_stat(f.ch, &a), 0);
	assert_int_equal(a.size, 0);
	assert_int_equal(boxfs_rio_truncate(f.ch, 4096), 0);
	assert_int_equal(boxfs_rio_stat(f.ch, &a), 0);
	assert_int_equal(a.size, 4096);
	assert_int_equal(boxfs_rio_sync(f.ch), 0);
	obj_close(&f);
	assert_int_equal(boxfs_rio_close(r), 0);
}

static void test_open_errors(void **state)
{
	(void)state;
	int r = root();
	struct boxfs_rio_object o;
	assert_int_equal(boxfs_rio_open(r, "nope", O_RDONLY, 0, &o), -ENOENT);
	o = open_ok(r, "f", O_RDWR | O_CREAT, 0600);
	obj_close(&o);
	assert_int_equal(boxfs_rio_open(r, "f", O_RDWR | O_CREAT | O_EXCL, 0600, &o), -EEXIST);
	assert_int_equal(boxfs_rio_open(r, "f/x", O_RDONLY, 0, &o), -ENOTDIR);
	assert_int_equal(boxfs_rio_open(r, "f", O_RDONLY | O_DIRECTORY, 0, &o), -ENOTDIR);
	assert_int_equal(boxfs_rio_open(r, "mem", O_RDWR, 0, &o), -EISDIR);
	/* O_CREAT|O_DIRECTORY makes a directory, and answers it */
	o = open_ok(r, "d/", O_RDONLY | O_CREAT | O_DIRECTORY, 0755);
	struct rio_attr a;
	assert_int_equal(boxfs_rio_stat(o.ch, &a), 0);
	assert_true(S_ISDIR(a.mode));
	/* a file channel is no directory */
	struct boxfs_rio_object f = open_ok(r, "f", O_RDONLY, 0);
	assert_int_equal(boxfs_rio_open(f.ch, "x", O_RDONLY, 0, &o), -ENOTDIR);
	assert_int_equal(boxfs_rio_readdir(f.ch, (char[64]){ 0 }, 64, true), -ENOTDIR);
	obj_close(&f);
	/* paths are relative to the channel, ".." included */
	struct boxfs_rio_object d = open_ok(r, "d", O_RDONLY | O_DIRECTORY, 0);
	f = open_ok(d.ch, "../f", O_RDONLY, 0);
	obj_close(&f);
	f = open_ok(d.ch, "g", O_WRONLY | O_CREAT, 0644);
	obj_close(&f);
	f = open_ok(r, "d//g", O_RDONLY, 0);
	obj_close(&f);
	/* an object's channel outlives the channel it came through */
	f = open_ok(d.ch, "g", O_RDWR, 0);
	obj_close(&d);
	obj_close(&o);
	assert_int_equal(boxfs_rio_write(f.ch, "ok", 2), 2);
	obj_close(&f);
	assert_int_equal(boxfs_rio_close(r), 0);
}

static bool listed(int dir, const char *want)
{
	uint8_t buf[RIO_CHUNK];
	bool found = false;
	bool reset = true;
	for (;;) {
		ssize_t n = boxfs_rio_readdir(dir, buf, 300, reset);
		reset = false;
		assert_true(n >= 0);
		if (n == 0)
			return found;
		size_t pos = 0;
		struct rio_dirent de;
		int k;
		while ((k = rio_dirent_next(buf, (size_t)n, &pos, &de)) == 1)
			if (strlen(want) == de.namelen && memcmp(de.name, want, de.namelen) == 0)
				found = true;
		assert_int_equal(k, 0);
	}
}

static void test_readdir_unlink_rename(void **state)
{
	(void)state;
	int r = root();
	struct boxfs_rio_object d = open_ok(r, "host", O_RDONLY | O_DIRECTORY, 0);
	char name[64];
	for (int i = 0; i < 40; i++) { /* several READDIRs of 300 bytes */
		snprintf(name, sizeof name, "file-with-a-longish-name-%02d", i);
		struct boxfs_rio_object f = open_ok(d.ch, name, O_WRONLY | O_CREAT, 0644);
		obj_close(&f);
	}
	assert_true(listed(d.ch, "file-with-a-longish-name-00"));
	assert_true(listed(d.ch, "file-with-a-longish-name-39"));
	assert_false(listed(d.ch, "file-with-a-longish-name-40"));
	uint8_t small[8];
	assert_int_equal(boxfs_rio_readdir(d.ch, small, sizeof small, true), -EINVAL);
	/* UNLINK */
	assert_int_equal(boxfs_rio_unlink(d.ch, "file-with-a-longish-name-00", 0), 0);
	assert_false(listed(d.ch, "file-with-a-longish-name-00"));
	assert_int_equal(boxfs_rio_unlink(d.ch, "file-with-a-longish-name-00", 0), -ENOENT);
	assert_int_equal(boxfs_rio_unlink(d.ch, "a/b", 0), -EINVAL);
	assert_int_equal(boxfs_rio_unlink(d.ch, "..", 0), -EINVAL);
	struct boxfs_rio_object sub = open_ok(d.ch, "sub", O_RDONLY | O_CREAT | O_DIRECTORY, 0755);
	assert_int_equal(boxfs_rio_unlink(d.ch, "sub", 1), -EISDIR);
	assert_int_equal(boxfs_rio_unlink(d.ch, "file-with-a-longish-name-01", AT_REMOVEDIR),
			 -ENOTDIR);
	/* RENAME and LINK name the target directory by token */
	uint64_t tsub, td;
	assert_int_equal(boxfs_rio_token(sub.ch, &tsub), 0);
	assert_int_equal(boxfs_rio_token(d.ch, &td), 0);
	assert_int_equal(boxfs_rio_rename(d.ch, "file-with-a-longish-name-01", tsub, "moved"), 0);
	assert_true(listed(sub.ch, "moved"));
	assert_false(listed(d.ch, "file-with-a-longish-name-01"));
	assert_int_equal(boxfs_rio_link(d.ch, "file-with-a-longish-name-02", td, "hard"), 0);
	struct boxfs_rio_object h = open_ok(d.ch, "hard", O_RDONLY, 0);
	struct rio_attr a;
	assert_int_equal(boxfs_rio_stat(h.ch, &a), 0);
	assert_int_equal(a.nlink, 2);
	obj_close(&h);
	assert_int_equal(boxfs_rio_rename(d.ch, "hard", td ^ 1, "x"), -EXDEV);
	uint64_t troot;
	assert_int_equal(boxfs_rio_token(r, &troot), 0);
	assert_int_equal(boxfs_rio_rename(d.ch, "hard", troot, "x"), -EXDEV); /* another mount */
	struct boxfs_rio_object f = open_ok(d.ch, "hard", O_RDONLY, 0);
	uint64_t t;
	assert_int_equal(boxfs_rio_token(f.ch, &t), -ENOTDIR);
	obj_close(&f);
	/* a token dies with its channel */
	obj_close(&sub);
	assert_int_equal(boxfs_rio_rename(d.ch, "hard", tsub, "y"), -EXDEV);
	assert_int_equal(boxfs_rio_unlink(d.ch, "sub", AT_REMOVEDIR), -ENOTEMPTY);
	/* the host sees it all */
	char path[256];
	snprintf(path, sizeof path, "%s/sub/moved", fx.host);
	assert_int_equal(access(path, F_OK), 0);
	/* SETATTR */
	f = open_ok(d.ch, "hard", O_RDWR, 0);
	struct rio_setattr s = { .valid = RIO_SETATTR_MODE | RIO_SETATTR_MTIME,
				 .mode = 0600,
				 .mtime_ns = 1000000000ull * 1234567 + 5 };
	assert_int_equal(boxfs_rio_setattr(f.ch, &s), 0);
	assert_int_equal(boxfs_rio_stat(f.ch, &a), 0);
	assert_int_equal(a.mode & 07777, 0600);
	assert_int_equal(a.mtime_ns, s.mtime_ns);
	s.valid = 8;
	assert_int_equal(boxfs_rio_setattr(f.ch, &s), -EINVAL);
	obj_close(&f);
	obj_close(&d);
	assert_int_equal(boxfs_rio_close(r), 0);
}

static void test_vmofile_mmap(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof path, "%s/data", fx.host);
	FILE *fp = fopen(path, "w");
	for (int i = 0; i < 10000; i++)
		fprintf(fp, "%d\n", i);
	fclose(fp);
	struct stat st;
	stat(path, &st);
	int r = root();
	/* read-only host file: VMOFILE with a read-only descriptor */
	struct boxfs_rio_object f = open_ok(r, "host/data", O_RDONLY, 0);
	assert_int_equal(f.type, RIO_TYPE_VMOFILE);
	assert_true(f.vmo >= 0);
	assert_int_equal(f.vmo_len, st.st_size);
	assert_int_equal(fcntl(f.vmo, F_GETFL) & O_ACCMODE, O_RDONLY);
	char buf[16];
	assert_int_equal(pread(f.vmo, buf, 4, 0), 4);
	assert_memory_equal(buf, "0\n1\n", 4);
	assert_int_equal(write(f.vmo, "x", 1), -1);
	/* the channel still serves the object */
	struct rio_attr a;
	assert_int_equal(boxfs_rio_stat(f.ch, &a), 0);
	assert_int_equal(a.size, st.st_size);
	/* MMAP: never writable through a read-only channel */
	struct rio_mmap mm = { .length = (uint64_t)st.st_size, .flags = RIO_MMAP_READ };
	int mfd = boxfs_rio_mmap(f.ch, &mm);
	assert_true(mfd >= 0);
	char *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, mfd, 0);
	assert_true(p != MAP_FAILED);
	assert_memory_equal(p, "0\n1\n2\n", 6);
	munmap(p, (size_t)st.st_size);
	assert_true(mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, mfd, 0) == MAP_FAILED);
	close(mfd);
	mm.flags = RIO_MMAP_READ | RIO_MMAP_WRITE;
	assert_int_equal(boxfs_rio_mmap(f.ch, &mm), -EACCES);
	mm.flags = 1 << 5;
	assert_int_equal(boxfs_rio_mmap(f.ch, &mm), -EINVAL);
	obj_close(&f);
	/* writable: REMOTE, and a shared writable mapping reaches the file */
	f = open_ok(r, "host/data", O_RDWR, 0);
	assert_int_equal(f.type, RIO_TYPE_REMOTE);
	mm.flags = RIO_MMAP_READ | RIO_MMAP_WRITE;
	mfd = boxfs_rio_mmap(f.ch, &mm);
	assert_true(mfd >= 0);
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(p != MAP_FAILED);
	p[0] = 'Z';
	munmap(p, 4096);
	close(mfd);
	assert_int_equal(boxfs_rio_pread(f.ch, buf, 1, 0), 1);
	assert_int_equal(buf[0], 'Z');
	obj_close(&f);
	/* a RAM file has no descriptor to give */
	f = open_ok(r, "ramfile", O_RDWR | O_CREAT, 0644);
	assert_int_equal(boxfs_rio_mmap(f.ch, &mm), -ENODEV);
	obj_close(&f);
	/* a directory never */
	f = open_ok(r, "host", O_RDONLY, 0);
	assert_int_equal(boxfs_rio_mmap(f.ch, &mm), -ENODEV);
	obj_close(&f);
	assert_int_equal(boxfs_rio_close(r), 0);
}

static void test_confinement(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof path, "%s/out", fx.host);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	int r = root();
	struct boxfs_rio_object o;
	assert_int_equal(boxfs_rio_open(r, "host/out", O_RDONLY, 0, &o), -ELOOP);
	assert_int_equal(boxfs_rio_open(r, "host/out/x", O_RDONLY, 0, &o), -ENOTDIR);
	/* ".." climbs the namespace, never the host */
	struct boxfs_rio_object d = open_ok(r, "host", O_RDONLY | O_DIRECTORY, 0);
	assert_int_equal(boxfs_rio_open(d.ch, "../../../etc/passwd", O_RDONLY, 0, &o), -ENOENT);
	obj_close(&d);
	assert_int_equal(boxfs_rio_close(r), 0);
}

static void test_bad_input(void **state)
{
	(void)state;
	int r = root();
	uint8_t pkt[RIO_MSGMAX + 64];
	struct rio_msg rep;
	/* OPEN without its channel, or with a wrong one: answered here */
	size_t n = pack(pkt, RIO_OPEN, O_RDONLY, 0, 1, "mem", 3);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EINVAL);
	int pp[2];
	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	assert_int_equal(raw(r, pkt, n, &pp[0], 1, &rep), -ENOTSOCK);
	int st[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st), 0);
	assert_int_equal(raw(r, pkt, n, &st[0], 1, &rep), -EPROTOTYPE);
	/* hcount must count what came */
	n = pack(pkt, RIO_STAT, 0, 0, 0, NULL, 0);
	assert_int_equal(raw(r, pkt, n, &pp[0], 1, &rep), -EINVAL);
	n = pack(pkt, RIO_STAT, 0, 0, 2, NULL, 0);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EINVAL);
	/* datalen that is not the bytes that came */
	n = pack(pkt, RIO_STAT, 0, 0, 0, "abcd", 4);
	assert_int_equal(raw(r, pkt, n - 1, NULL, 0, &rep), -EPROTO);
	assert_int_equal(rep.txid, 77);
	/* unknown ops, the socket ops, MISC */
	n = pack(pkt, 0x77, 0, 0, 0, NULL, 0);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -ENOSYS);
	n = pack(pkt, 0x12, 0, 0, 0, NULL, 0);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EOPNOTSUPP);
	n = pack(pkt, RIO_IOCTL, 0, 1234, 0, NULL, 0);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -ENOTTY);
	/* READ with a negative count; READDIR with a bad arg2; names with NUL */
	struct boxfs_rio_object f = open_ok(r, "f", O_RDWR | O_CREAT, 0644);
	n = pack(pkt, RIO_READ, -1, 0, 0, NULL, 0);
	assert_int_equal(raw(f.ch, pkt, n, NULL, 0, &rep), -EINVAL);
	n = pack(pkt, RIO_READ_AT, 10, 1ull << 63, 0, NULL, 0);
	assert_int_equal(raw(f.ch, pkt, n, NULL, 0, &rep), -EINVAL);
	n = pack(pkt, RIO_READ, 1 << 30, 0, 0, NULL, 0); /* clamped, not refused */
	assert_int_equal(raw(f.ch, pkt, n, NULL, 0, &rep), 0);
	obj_close(&f);
	n = pack(pkt, RIO_READDIR, 512, 7, 0, NULL, 0);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EINVAL);
	n = pack(pkt, RIO_UNLINK, 0, 0, 0, "f\0x", 3);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EINVAL);
	n = pack(pkt, RIO_RENAME, 0, 0, 0, "f\0", 2);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EINVAL);
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	n = pack(pkt, RIO_OPEN, O_RDONLY, 0, 1, "a\0b", 3);
	assert_int_equal(raw(r, pkt, n, &sp[1], 1, &rep), -EINVAL);
	close(sp[0]), close(sp[1]);
	n = pack(pkt, RIO_SETATTR, 0, 0, 0, "abc", 3);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EINVAL);
	n = pack(pkt, RIO_MMAP, 0, 0, 0, "abc", 3);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), -EINVAL);
	/* the channel still works */
	struct rio_attr a;
	assert_int_equal(boxfs_rio_stat(r, &a), 0);
	/* framing broken: too big, too many descriptors, a reply, too short */
	memset(pkt, 0, sizeof pkt);
	n = pack(pkt, RIO_STAT, 0, 0, 0, NULL, 0);
	assert_int_equal(raw(r, pkt, RIO_MSGMAX + 1, NULL, 0, &rep), 1);
	close(r);
	r = root();
	int five[5] = { pp[0], pp[0], pp[0], pp[0], pp[0] };
	assert_int_equal(raw(r, pkt, n, five, 5, &rep), 1);
	close(r);
	r = root();
	n = pack(pkt, RIO_STATUS, 0, 0, 0, NULL, 0);
	assert_int_equal(raw(r, pkt, n, NULL, 0, &rep), 1);
	close(r);
	r = root();
	assert_int_equal(raw(r, pkt, 10, NULL, 0, &rep), 1);
	close(r);
	close(pp[0]), close(pp[1]), close(st[0]), close(st[1]);
	/* the server still serves */
	r = root();
	assert_int_equal(boxfs_rio_stat(r, &a), 0);
	assert_int_equal(boxfs_rio_close(r), 0);
}

static void test_close_hangup(void **state)
{
	(void)state;
	int r = root();
	struct boxfs_rio_object f = open_ok(r, "host/h", O_RDWR | O_CREAT, 0644);
	/* CLOSE is answered, then the server closes the channel */
	struct rio_msg m = { .op = RIO_CLOSE }, rep;
	assert_int_equal(boxfs_rio_txn(f.ch, &m, NULL, -1, &rep, NULL, NULL), 0);
	char c;
	struct pollfd p = { .fd = f.ch, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(recv(f.ch, &c, 1, 0), 0);
	close(f.ch);
	/* hang-up counts as CLOSE: the server lets go of the open file */
	for (int i = 0; i < 50; i++) {
		f = open_ok(r, "host/h", O_RDWR, 0);
		close(f.ch);
	}
	/* a server that is freed with channels open leaks nothing either */
	f = open_ok(r, "host/h", O_RDONLY, 0);
	struct boxfs_rio_object g = open_ok(r, "mem", O_RDONLY, 0);
	boxfs_server_free(fx.srv);
	fx.srv = NULL;
	assert_int_equal(recv(f.ch, &c, 1, 0), 0);
	close(f.ch);
	close(f.vmo);
	close(g.ch);
	close(r);
}

/* Lines of the first server's trace so far. */
static int log_lines(void)
{
	fflush(fx.log);
	rewind(fx.log);
	int n = 0, ch;
	while ((ch = fgetc(fx.log)) != EOF)
		n += ch == '\n';
	return n;
}

static void test_forward(void **state)
{
	(void)state;
	/* a second server B; the first, A, forwards /fwd to B's door */
	boxfs_server_free(fx.srv);
	fx.log = tmpfile();
	fx.srv2 = server_new("rio2", fx.addr2, NULL);
	assert_non_null(fx.srv2);
	assert_int_equal(boxfs_server_start(fx.srv2), 0);
	fx.srv = server_new("rio", fx.addr, fx.log);
	assert_non_null(fx.srv);
	assert_int_equal(boxfs_server_forward(fx.srv, "/fwd", fx.addr2), 0);
	assert_int_equal(boxfs_server_forward(fx.srv, "/", fx.addr2), -EINVAL);
	assert_int_equal(boxfs_server_forward(fx.srv, "/x", "tcp!127.0.0.1!1"), -EPROTONOSUPPORT);
	assert_int_equal(boxfs_server_start(fx.srv), 0);

	int b = boxfs_rio_dial(fx.addr2);
	struct boxfs_rio_object f = open_ok(b, "on-b", O_RDWR | O_CREAT, 0644);
	assert_int_equal(boxfs_rio_write(f.ch, "from b", 6), 6);
	obj_close(&f);

	int a = root();
	f = open_ok(a, "fwd/on-b", O_RDWR, 0);
	int before = log_lines();
	assert_true(before > 0);
	char buf[16];
	assert_int_equal(boxfs_rio_read(f.ch, buf, sizeof buf), 6);
	assert_memory_equal(buf, "from b", 6);
	assert_int_equal(boxfs_rio_write(f.ch, "+", 1), 1);
	struct rio_attr at;
	assert_int_equal(boxfs_rio_stat(f.ch, &at), 0);
	assert_int_equal(at.size, 7);
	obj_close(&f);
	/* A saw none of it */
	assert_int_equal(log_lines(), before);
	/* a path that climbs into the forward from elsewhere, and errors from B */
	struct boxfs_rio_object d = open_ok(a, "mem", O_RDONLY | O_DIRECTORY, 0);
	f = open_ok(d.ch, "../fwd/on-b", O_RDONLY, 0);
	obj_close(&f);
	obj_close(&d);
	assert_int_equal(boxfs_rio_open(a, "fwd/none", O_RDONLY, 0, &f), -ENOENT);
	/* the forward's root itself */
	d = open_ok(a, "fwd", O_RDONLY | O_DIRECTORY, 0);
	assert_true(listed(d.ch, "on-b"));
	obj_close(&d);
	/* B gone: the client hears it */
	boxfs_server_free(fx.srv2);
	fx.srv2 = NULL;
	assert_int_equal(boxfs_rio_open(a, "fwd/on-b", O_RDONLY, 0, &f), -ECONNREFUSED);
	assert_int_equal(boxfs_rio_close(a), 0);
	assert_int_equal(boxfs_rio_close(b), -EPIPE);
}

static void test_memfile(void **state)
{
	(void)state;
	int r = root();
	/* memfiles are files through rio too */
	struct boxfs_rio_object d = open_ok(r, "mem", O_RDONLY | O_DIRECTORY, 0);
	struct rio_attr a;
	assert_int_equal(boxfs_rio_stat(d.ch, &a), 0);
	assert_true(S_ISDIR(a.mode));
	obj_close(&d);
	assert_int_equal(boxfs_rio_close(r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec_golden),
		cmocka_unit_test_setup_teardown(test_rw_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir_unlink_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vmofile_mmap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confinement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memfile, setup, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
