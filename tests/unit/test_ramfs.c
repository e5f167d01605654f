/*
 * test_ramfs.c — the RAM file server, called directly through its ops table:
 * data, names, links, renames, readdir cookies, permissions, times, xattrs,
 * the byte limit, lifetime of unlinked nodes, and a concurrent smoke test.
 *
 * Every test starts from a fresh instance (setup) and must forget every node
 * and release every handle it gets; teardown frees the instance, so an ASan
 * build reports any leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/ramfs.h>

#include "core/call_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static struct boxfs_fs *fs;
static const struct boxfs_fs_ops *ops;
static void *aux;
static void *root;
static struct boxfs_call rc; /* root */
static struct boxfs_call uc; /* uid 1000, gid 1000, groups 1000 2000 */
static struct boxfs_call oc; /* uid 1001, gid 1001 */

static const uint32_t ugroups[] = { 1000, 2000 };

static int start(const struct boxfs_ramfs_opts *opts)
{
	fs = boxfs_ramfs_new(opts);
	if (!fs)
		return -1;
	ops = fs->ops;
	aux = fs->aux;
	bx_call_init(&rc, &(struct boxfs_cred){ .uid = 0, .gid = 0 });
	bx_call_init(&uc, &(struct boxfs_cred){ 1000, 1000, 2, ugroups });
	bx_call_init(&oc, &(struct boxfs_cred){ .uid = 1001, .gid = 1001 });
	struct boxfs_attr a;
	return ops->root(aux, &rc, &root, &a);
}

static int setup(void **state)
{
	(void)state;
	return start(NULL);
}

static int teardown(void **state)
{
	(void)state;
	ops->forget(aux, root);
	bx_call_destroy(&rc);
	bx_call_destroy(&uc);
	bx_call_destroy(&oc);
	boxfs_fs_free(fs);
	fs = NULL;
	return 0;
}

/* ---- Helpers: each asserts success unless it answers an error ---- */

static struct boxfs_attr getattr(void *n)
{
	struct boxfs_attr a;
	assert_int_equal(ops->getattr(aux, &rc, n, NULL, &a), 0);
	return a;
}

static void forget(void *n)
{
	ops->forget(aux, n);
}

/* Creates a regular file as c; answers the node (to forget). */
static void *mkfile_as(struct boxfs_call *c, void *dir, const char *name, uint32_t mode)
{
	void *n, *fh;
	struct boxfs_attr a;
	assert_int_equal(ops->create(aux, c, dir, name, O_RDWR | O_EXCL, mode, &n, &a, &fh), 0);
	ops->release(aux, n, fh);
	return n;
}

static void *mkfile(void *dir, const char *name)
{
	return mkfile_as(&rc, dir, name, 0644);
}

static void *mkdir_as(struct boxfs_call *c, void *dir, const char *name, uint32_t mode)
{
	void *n;
	struct boxfs_attr a;
	assert_int_equal(ops->mkdir(aux, c, dir, name, mode, &n, &a), 0);
	return n;
}

static void *mkdir_(void *dir, const char *name)
{
	return mkdir_as(&rc, dir, name, 0755);
}

static void *lookup(void *dir, const char *name)
{
	void *n;
	struct boxfs_attr a;
	assert_int_equal(ops->lookup(aux, &rc, dir, name, &n, &a), 0);
	return n;
}

/* Looks up as c; answers 0 or the error; forgets what it found. */
static int try_lookup(struct boxfs_call *c, void *dir, const char *name)
{
	void *n;
	struct boxfs_attr a;
	int r = ops->lookup(aux, c, dir, name, &n, &a);
	if (r == 0)
		forget(n);
	return r;
}

static void *open_(void *n, int flags)
{
	void *fh;
	assert_int_equal(ops->open(aux, &rc, n, flags, &fh), 0);
	return fh;
}

/* Opens as c; answers 0 or the error; releases the handle. */
static int try_open(struct boxfs_call *c, void *n, int flags)
{
	void *fh;
	int r = ops->open(aux, c, n, flags, &fh);
	if (r == 0)
		ops->release(aux, n, fh);
	return r;
}

static void put(void *n, uint64_t off, const char *s)
{
	void *fh = open_(n, O_WRONLY);
	assert_int_equal(ops->write(aux, &rc, n, fh, s, strlen(s), off), (ssize_t)strlen(s));
	ops->release(aux, n, fh);
}

/* Reads the whole file into a static buffer as a string. */
static const char *get(void *n)
{
	static char buf[4096];
	void *fh = open_(n, O_RDONLY);
	ssize_t r = ops->read(aux, &rc, n, fh, buf, sizeof buf - 1, 0);
	ops->release(aux, n, fh);
	assert_true(r >= 0);
	buf[r] = 0;
	return buf;
}

static int set_size(struct boxfs_call *c, void *n, uint64_t size)
{
	struct boxfs_setattr sa = { .valid = BOXFS_SET_SIZE, .size = size };
	struct boxfs_attr a;
	return ops->setattr(aux, c, n, NULL, &sa, &a);
}

static int chmod_(struct boxfs_call *c, void *n, uint32_t mode)
{
	struct boxfs_setattr sa = { .valid = BOXFS_SET_MODE, .mode = mode };
	struct boxfs_attr a;
	return ops->setattr(aux, c, n, NULL, &sa, &a);
}

static int chown_(struct boxfs_call *c, void *n, uint32_t valid, uint32_t uid, uint32_t gid)
{
	struct boxfs_setattr sa = { .valid = valid, .uid = uid, .gid = gid };
	struct boxfs_attr a;
	return ops->setattr(aux, c, n, NULL, &sa, &a);
}

static int rename_(void *od, const char *on, void *nd, const char *nn, unsigned flags)
{
	return ops->rename(aux, &rc, od, on, nd, nn, flags);
}

static int unlink_(void *dir, const char *name, int flags)
{
	return ops->unlink(aux, &rc, dir, name, flags);
}

static uint64_t ino_of(void *dir, const char *name)
{
	void *n = lookup(dir, name);
	uint64_t ino = getattr(n).ino;
	forget(n);
	return ino;
}

static uint64_t ffree(void)
{
	struct boxfs_statfs st;
	assert_int_equal(ops->statfs(aux, &rc, root, &st), 0);
	return st.ffree;
}

static bool ts_after(struct timespec a, struct timespec b)
{
	return a.tv_sec > b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec > b.tv_nsec);
}

/* Lets CLOCK_REALTIME move on so that a time change is visible. */
static void tick(void)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_REALTIME, &t0);
	do
		clock_gettime(CLOCK_REALTIME, &t);
	while (!ts_after(t, t0));
}

/* readdir collector: takes at most `limit` entries per call. */
struct listing {
	int limit, taken;
	uint64_t cookie;
	int n;
	char names[64][32];
	uint64_t inos[64];
	uint32_t types[64];
};

static int collect(void *ctx, const char *name, uint64_t ino, uint32_t dtype, uint64_t next)
{
	struct listing *l = ctx;
	if (l->taken == l->limit || l->n == 64)
		return 1;
	snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
	l->inos[l->n] = ino;
	l->types[l->n] = dtype;
	l->n++;
	l->taken++;
	l->cookie = next;
	return 0;
}

/* Lists the whole directory in one go. */
static void list_all(void *dir, struct listing *l)
{
	memset(l, 0, sizeof *l);
	l->limit = 64;
	assert_int_equal(ops->readdir(aux, &rc, dir, NULL, 0, collect, l), 0);
}

static int find_name(const struct listing *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return i;
	return -1;
}

/* ---- Instance ---- */

static void test_new_defaults(void **state)
{
	(void)state;
	assert_string_equal(fs->name, "ram");
	assert_int_equal(fs->flags & BOXFS_FS_INLINE, BOXFS_FS_INLINE);
	assert_int_equal(fs->flags & BOXFS_FS_OWN_LOCKS, 0);
	assert_null(ops->lock);
	assert_null(ops->export_fd);
	struct boxfs_attr a = getattr(root);
	assert_int_equal(a.mode, S_IFDIR | 0755);
	assert_int_equal(a.uid, 0);
	assert_int_equal(a.gid, 0);
	assert_int_equal(a.nlink, 2);
	assert_true(a.ino != 0);
	assert_true(a.version != 0);
	assert_int_equal(a.blksize, 4096);
}

static void test_new_with_opts(void **state)
{
	(void)state;
	teardown(NULL);
	struct boxfs_ramfs_opts o = { .root_mode = 01777, .root_uid = 5, .root_gid = 6 };
	assert_int_equal(start(&o), 0);
	struct boxfs_attr a = getattr(root);
	assert_int_equal(a.mode, S_IFDIR | 01777);
	assert_int_equal(a.uid, 5);
	assert_int_equal(a.gid, 6);
}

static void test_statfs(void **state)
{
	(void)state;
	struct boxfs_statfs st;
	assert_int_equal(ops->statfs(aux, &rc, root, &st), 0);
	assert_int_equal(st.bsize, 4096);
	assert_int_equal(st.namelen, 255);
	assert_int_equal(st.type, 0x01021994);
	assert_true(st.blocks > 0 && st.bfree <= st.blocks);
	assert_true(st.files > 0 && st.ffree < st.files);
}

/* ---- Data ---- */

static void test_write_read_back(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	put(f, 0, "hello, world");
	assert_string_equal(get(f), "hello, world");
	put(f, 7, "there");
	assert_string_equal(get(f), "hello, there");
	char buf[8];
	void *fh = open_(f, O_RDONLY);
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, 5, 7), 5);
	assert_memory_equal(buf, "there", 5);
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, sizeof buf, 12), 0);
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, sizeof buf, 1000), 0);
	ops->release(aux, f, fh);
	struct boxfs_attr a = getattr(f);
	assert_int_equal(a.size, 12);
	assert_int_equal(a.blocks, 1);
	assert_int_equal(a.blksize, 4096);
	forget(f);
}

static void test_holes_read_zeros(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	put(f, 0, "ab");
	put(f, 10000, "z");
	assert_int_equal(getattr(f).size, 10001);
	assert_int_equal(getattr(f).blocks, (10001 + 511) / 512);
	char buf[10001];
	void *fh = open_(f, O_RDONLY);
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, sizeof buf, 0), 10001);
	ops->release(aux, f, fh);
	assert_memory_equal(buf, "ab", 2);
	for (int i = 2; i < 10000; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(buf[10000], 'z');
	forget(f);
}

static void test_append(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	put(f, 0, "abc");
	void *fh = open_(f, O_WRONLY | O_APPEND);
	assert_int_equal(ops->write(aux, &rc, f, fh, "de", 2, 0), 2);
	assert_int_equal(ops->write(aux, &rc, f, fh, "f", 1, 1), 1);
	ops->release(aux, f, fh);
	assert_string_equal(get(f), "abcdef");
	forget(f);
}

static void test_open_trunc(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	put(f, 0, "abcdef");
	uint64_t v = getattr(f).version;
	void *fh = open_(f, O_WRONLY | O_TRUNC);
	ops->release(aux, f, fh);
	assert_int_equal(getattr(f).size, 0);
	assert_true(getattr(f).version > v);
	assert_string_equal(get(f), "");
	forget(f);
}

static void test_truncate_grow_shrink(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	put(f, 0, "abcdef");
	assert_int_equal(set_size(&rc, f, 3), 0);
	assert_string_equal(get(f), "abc");
	assert_int_equal(set_size(&rc, f, 2000), 0);
	struct boxfs_attr a = getattr(f);
	assert_int_equal(a.size, 2000);
	assert_int_equal(a.blocks, 4);
	char buf[2000];
	void *fh = open_(f, O_RDONLY);
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, sizeof buf, 0), 2000);
	ops->release(aux, f, fh);
	assert_memory_equal(buf, "abc", 3);
	for (int i = 3; i < 2000; i++)
		assert_int_equal(buf[i], 0);
	/* shrink then grow: the cut bytes come back as zeros */
	assert_int_equal(set_size(&rc, f, 1), 0);
	assert_int_equal(set_size(&rc, f, 3), 0);
	fh = open_(f, O_RDONLY);
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, sizeof buf, 0), 3);
	ops->release(aux, f, fh);
	assert_memory_equal(buf, "a\0\0", 3);
	forget(f);
}

static void test_io_wrong_kind(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	void *f = mkfile(root, "f");
	char buf[4];
	assert_int_equal(ops->read(aux, &rc, d, NULL, buf, 4, 0), -EISDIR);
	assert_int_equal(ops->write(aux, &rc, d, NULL, "x", 1, 0), -EISDIR);
	assert_int_equal(try_open(&rc, d, O_WRONLY), -EISDIR);
	assert_int_equal(try_open(&rc, f, O_RDONLY | O_DIRECTORY), -ENOTDIR);
	assert_int_equal(set_size(&rc, d, 0), -EISDIR);
	void *fh = open_(f, O_RDONLY);
	assert_int_equal(ops->write(aux, &rc, f, fh, "x", 1, 0), -EBADF);
	ops->release(aux, f, fh);
	fh = open_(f, O_WRONLY);
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, 4, 0), -EBADF);
	ops->release(aux, f, fh);
	forget(d);
	forget(f);
}

static void test_create_existing(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	put(f, 0, "keep");
	void *d = mkdir_(root, "d");
	void *n, *fh;
	struct boxfs_attr a;
	assert_int_equal(ops->create(aux, &rc, root, "f", O_RDWR | O_EXCL, 0644, &n, &a, &fh),
			 -EEXIST);
	assert_int_equal(ops->create(aux, &rc, root, "f", O_RDWR, 0600, &n, &a, &fh), 0);
	assert_ptr_equal(n, f);
	assert_int_equal(a.mode, S_IFREG | 0644); /* mode of the existing file */
	assert_int_equal(a.size, 4);
	ops->release(aux, n, fh);
	forget(n);
	assert_int_equal(ops->create(aux, &rc, root, "d", O_RDWR, 0644, &n, &a, &fh), -EISDIR);
	assert_int_equal(ops->create(aux, &rc, f, "x", O_RDWR, 0644, &n, &a, &fh), -ENOTDIR);
	forget(f);
	forget(d);
}

/* ---- Names ---- */

static void test_mkdir_lookup(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	struct boxfs_attr a = getattr(d);
	assert_int_equal(a.mode, S_IFDIR | 0755);
	assert_int_equal(a.nlink, 2);
	void *n = lookup(root, "d");
	assert_ptr_equal(n, d);
	forget(n);
	assert_int_equal(try_lookup(&rc, root, "nope"), -ENOENT);
	void *x;
	assert_int_equal(ops->mkdir(aux, &rc, root, "d", 0755, &x, &a), -EEXIST);
	assert_int_equal(try_lookup(&rc, root, "d"), 0);
	forget(d);
}

static void test_lookup_dotdot(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	void *e = mkdir_(d, "e");
	void *p = lookup(e, "..");
	assert_ptr_equal(p, d);
	forget(p);
	p = lookup(root, "..");
	assert_ptr_equal(p, root);
	forget(p);
	void *f = mkfile(root, "f");
	assert_int_equal(try_lookup(&rc, f, "x"), -ENOTDIR);
	forget(f);
	forget(e);
	forget(d);
}

static void test_dir_nlink(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	assert_int_equal(getattr(root).nlink, 3);
	void *e = mkdir_(d, "e");
	void *f = mkfile(d, "f");
	assert_int_equal(getattr(d).nlink, 3);
	assert_int_equal(unlink_(d, "e", AT_REMOVEDIR), 0);
	assert_int_equal(getattr(d).nlink, 2);
	assert_int_equal(getattr(e).nlink, 0);
	forget(e);
	forget(f);
	forget(d);
}

static void test_symlink_readlink(void **state)
{
	(void)state;
	void *s;
	struct boxfs_attr a;
	assert_int_equal(ops->symlink(aux, &rc, root, "s", "some/target", &s, &a), 0);
	assert_int_equal(a.mode & S_IFMT, S_IFLNK);
	assert_int_equal(a.size, 11);
	char buf[32];
	assert_int_equal(ops->readlink(aux, &rc, s, buf, sizeof buf), 11);
	assert_memory_equal(buf, "some/target", 11);
	assert_int_equal(ops->readlink(aux, &rc, s, buf, 4), 4);
	assert_memory_equal(buf, "some", 4);
	void *f = mkfile(root, "f");
	assert_int_equal(ops->readlink(aux, &rc, f, buf, sizeof buf), -EINVAL);
	void *x;
	assert_int_equal(ops->symlink(aux, &rc, root, "s", "t", &x, &a), -EEXIST);
	forget(f);
	forget(s);
}

static void test_hard_links(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	put(f, 0, "shared");
	uint64_t ct = getattr(f).version;
	assert_int_equal(ops->link(aux, &rc, f, root, "g"), 0);
	assert_int_equal(getattr(f).nlink, 2);
	assert_true(getattr(f).version > ct);
	void *g = lookup(root, "g");
	assert_ptr_equal(g, f);
	assert_string_equal(get(g), "shared");
	assert_int_equal(ops->link(aux, &rc, f, root, "g"), -EEXIST);
	assert_int_equal(unlink_(root, "f", 0), 0);
	assert_int_equal(getattr(g).nlink, 1);
	assert_string_equal(get(g), "shared");
	assert_int_equal(unlink_(root, "g", 0), 0);
	assert_int_equal(getattr(g).nlink, 0);
	/* an unlinked file cannot get a name again */
	assert_int_equal(ops->link(aux, &rc, f, root, "h"), -ENOENT);
	forget(g);
	forget(f);
}

static void test_link_dir_eperm(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	assert_int_equal(ops->link(aux, &rc, d, root, "d2"), -EPERM);
	forget(d);
}

static void test_mknod(void **state)
{
	(void)state;
	void *p, *cdev;
	struct boxfs_attr a;
	assert_int_equal(ops->mknod(aux, &rc, root, "p", S_IFIFO | 0640, 0, &p, &a), 0);
	assert_int_equal(a.mode, S_IFIFO | 0640);
	assert_int_equal(ops->mknod(aux, &rc, root, "c", S_IFCHR | 0600, 0x0103, &cdev, &a), 0);
	assert_int_equal(a.mode, S_IFCHR | 0600);
	assert_int_equal(a.rdev, 0x0103);
	assert_int_equal(getattr(cdev).rdev, 0x0103);
	void *fh;
	char buf[4];
	assert_int_equal(ops->open(aux, &rc, p, O_RDWR, &fh), 0);
	assert_int_equal(ops->read(aux, &rc, p, fh, buf, 4, 0), -EINVAL);
	assert_int_equal(ops->write(aux, &rc, p, fh, "x", 1, 0), -EINVAL);
	ops->release(aux, p, fh);
	void *x;
	assert_int_equal(ops->mknod(aux, &rc, root, "d", S_IFDIR | 0755, 0, &x, &a), -EPERM);
	assert_int_equal(ops->mknod(aux, &rc, root, "p", S_IFIFO | 0640, 0, &x, &a), -EEXIST);
	forget(p);
	forget(cdev);
}

static void test_unlink_errors(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	void *f = mkfile(d, "f");
	assert_int_equal(unlink_(root, "d", 0), -EISDIR);
	assert_int_equal(unlink_(root, "d", AT_REMOVEDIR), -ENOTEMPTY);
	assert_int_equal(unlink_(d, "f", AT_REMOVEDIR), -ENOTDIR);
	assert_int_equal(unlink_(root, "nope", 0), -ENOENT);
	assert_int_equal(unlink_(f, "x", 0), -ENOTDIR);
	assert_int_equal(unlink_(d, "f", 0), 0);
	assert_int_equal(try_lookup(&rc, d, "f"), -ENOENT);
	assert_int_equal(unlink_(root, "d", AT_REMOVEDIR), 0);
	assert_int_equal(try_lookup(&rc, root, "d"), -ENOENT);
	forget(f);
	forget(d);
}

static void test_removed_dir_takes_no_names(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	assert_int_equal(unlink_(root, "d", AT_REMOVEDIR), 0);
	void *n, *fh;
	struct boxfs_attr a;
	assert_int_equal(ops->create(aux, &rc, d, "f", O_RDWR, 0644, &n, &a, &fh), -ENOENT);
	assert_int_equal(ops->mkdir(aux, &rc, d, "e", 0755, &n, &a), -ENOENT);
	assert_int_equal(try_lookup(&rc, d, ".."), -ENOENT);
	struct listing l;
	list_all(d, &l);
	assert_int_equal(l.n, 0);
	forget(d);
}

/* ---- Rename ---- */

static void test_rename_file(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	void *f = mkfile(root, "f");
	put(f, 0, "data");
	assert_int_equal(rename_(root, "f", root, "g", 0), 0);
	assert_int_equal(try_lookup(&rc, root, "f"), -ENOENT);
	assert_int_equal(rename_(root, "g", d, "h", 0), 0);
	void *h = lookup(d, "h");
	assert_ptr_equal(h, f);
	assert_string_equal(get(h), "data");
	assert_int_equal(getattr(h).nlink, 1);
	assert_int_equal(rename_(root, "nope", d, "x", 0), -ENOENT);
	forget(h);
	forget(f);
	forget(d);
}

static void test_rename_replaces_file(void **state)
{
	(void)state;
	void *a = mkfile(root, "a");
	void *b = mkfile(root, "b");
	put(a, 0, "A");
	put(b, 0, "B");
	assert_int_equal(rename_(root, "a", root, "b", 0), 0);
	void *n = lookup(root, "b");
	assert_ptr_equal(n, a);
	assert_string_equal(get(n), "A");
	forget(n);
	assert_int_equal(try_lookup(&rc, root, "a"), -ENOENT);
	/* the replaced file lives on while referenced */
	assert_int_equal(getattr(b).nlink, 0);
	assert_string_equal(get(b), "B");
	forget(a);
	forget(b);
}

static void test_rename_dir_errors(void **state)
{
	(void)state;
	void *a = mkdir_(root, "a");
	void *b = mkdir_(root, "b");
	void *bx = mkfile(b, "x");
	void *f = mkfile(root, "f");
	void *sub = mkdir_(a, "sub");
	assert_int_equal(rename_(root, "a", root, "b", 0), -ENOTEMPTY);
	assert_int_equal(rename_(root, "a", root, "f", 0), -ENOTDIR);
	assert_int_equal(rename_(root, "f", root, "a", 0), -EISDIR);
	assert_int_equal(rename_(root, "a", sub, "a2", 0), -EINVAL);
	assert_int_equal(rename_(root, "a", a, "a2", 0), -EINVAL);
	/* onto an ancestor: that one is not empty */
	assert_int_equal(rename_(a, "sub", root, "a", 0), -ENOTEMPTY);
	forget(a);
	forget(b);
	forget(bx);
	forget(f);
	forget(sub);
}

static void test_rename_dir_over_empty_dir(void **state)
{
	(void)state;
	void *a = mkdir_(root, "a");
	void *b = mkdir_(root, "b");
	void *c = mkdir_(a, "c");
	void *x = mkfile(a, "x");
	assert_int_equal(getattr(root).nlink, 4);
	assert_int_equal(rename_(root, "a", root, "b", 0), 0);
	assert_int_equal(getattr(root).nlink, 3);
	assert_int_equal(getattr(b).nlink, 0);
	void *n = lookup(root, "b");
	assert_ptr_equal(n, a);
	forget(n);
	n = lookup(c, "..");
	assert_ptr_equal(n, a);
	forget(n);
	forget(a);
	forget(b);
	forget(c);
	forget(x);
}

static void test_rename_noreplace(void **state)
{
	(void)state;
	void *a = mkfile(root, "a");
	void *b = mkfile(root, "b");
	assert_int_equal(rename_(root, "a", root, "b", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(ino_of(root, "a"), getattr(a).ino);
	assert_int_equal(rename_(root, "a", root, "c", RENAME_NOREPLACE), 0);
	assert_int_equal(ino_of(root, "c"), getattr(a).ino);
	assert_int_equal(rename_(root, "c", root, "d", RENAME_NOREPLACE | RENAME_EXCHANGE),
			 -EINVAL);
	forget(a);
	forget(b);
}

static void test_rename_exchange(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	void *e = mkdir_(d, "e");
	void *f = mkfile(root, "f");
	assert_int_equal(rename_(root, "f", d, "e", RENAME_EXCHANGE), 0);
	assert_int_equal(ino_of(root, "f"), getattr(e).ino);
	assert_int_equal(ino_of(d, "e"), getattr(f).ino);
	void *p = lookup(e, "..");
	assert_ptr_equal(p, root);
	forget(p);
	assert_int_equal(getattr(root).nlink, 4);
	assert_int_equal(getattr(d).nlink, 2);
	assert_int_equal(getattr(f).nlink, 1);
	assert_int_equal(rename_(root, "f", root, "missing", RENAME_EXCHANGE), -ENOENT);
	/* a directory cannot be swapped into its own subtree */
	void *g = mkfile(e, "g");
	assert_int_equal(rename_(e, "g", root, "f", RENAME_EXCHANGE), -EINVAL);
	forget(g);
	forget(d);
	forget(e);
	forget(f);
}

static void test_rename_same_inode_noop(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	assert_int_equal(ops->link(aux, &rc, f, root, "g"), 0);
	uint64_t v = getattr(root).version;
	assert_int_equal(rename_(root, "f", root, "f", 0), 0);
	assert_int_equal(rename_(root, "f", root, "g", 0), 0);
	assert_int_equal(getattr(root).version, v);
	assert_int_equal(ino_of(root, "f"), getattr(f).ino);
	assert_int_equal(ino_of(root, "g"), getattr(f).ino);
	assert_int_equal(getattr(f).nlink, 2);
	void *d = mkdir_(root, "d");
	assert_int_equal(rename_(root, "d", root, "d", 0), 0);
	forget(d);
	forget(f);
}

static void test_rename_dir_with_referenced_child(void **state)
{
	(void)state;
	void *a = mkdir_(root, "a");
	void *b = mkdir_(root, "b");
	void *sub = mkdir_(a, "sub");
	void *f = mkfile(sub, "f");
	void *fh = open_(f, O_RDWR);
	assert_int_equal(rename_(root, "a", b, "moved", 0), 0);
	assert_int_equal(ops->write(aux, &rc, f, fh, "still", 5, 0), 5);
	ops->release(aux, f, fh);
	void *m = lookup(b, "moved");
	assert_ptr_equal(m, a);
	void *p = lookup(a, "..");
	assert_ptr_equal(p, b);
	forget(p);
	void *n = lookup(sub, "f");
	assert_string_equal(get(n), "still");
	forget(n);
	/* and the child can still make names */
	void *g = mkfile(sub, "g");
	forget(g);
	assert_int_equal(getattr(root).nlink, 3);
	assert_int_equal(getattr(b).nlink, 3);
	forget(m);
	forget(a);
	forget(b);
	forget(sub);
	forget(f);
}

/* ---- Lifetime and identity ---- */

static void test_open_unlinked_keeps_working(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	void *fh = open_(f, O_RDWR);
	assert_int_equal(ops->write(aux, &rc, f, fh, "before", 6, 0), 6);
	assert_int_equal(unlink_(root, "f", 0), 0);
	forget(f); /* only the open handle holds it now */
	assert_int_equal(ops->write(aux, &rc, f, fh, "-after", 6, 6), 6);
	char buf[16];
	assert_int_equal(ops->read(aux, &rc, f, fh, buf, sizeof buf, 0), 12);
	assert_memory_equal(buf, "before-after", 12);
	struct boxfs_attr a;
	assert_int_equal(ops->getattr(aux, &rc, f, fh, &a), 0);
	assert_int_equal(a.nlink, 0);
	assert_int_equal(a.size, 12);
	struct boxfs_setattr sa = { .valid = BOXFS_SET_SIZE, .size = 3 };
	assert_int_equal(ops->setattr(aux, &rc, f, fh, &sa, &a), 0);
	assert_int_equal(a.size, 3);
	ops->release(aux, f, fh);
}

static void test_referenced_unlinked_keeps_working(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	assert_int_equal(unlink_(root, "f", 0), 0);
	put(f, 0, "ghost");
	assert_string_equal(get(f), "ghost");
	assert_int_equal(set_size(&rc, f, 2), 0);
	assert_int_equal(getattr(f).size, 2);
	assert_int_equal(getattr(f).nlink, 0);
	forget(f);
}

static void test_forget_frees(void **state)
{
	(void)state;
	uint64_t before = ffree();
	void *f = mkfile(root, "f");
	void *g = lookup(root, "f");
	assert_int_equal(ffree(), before - 1);
	assert_int_equal(unlink_(root, "f", 0), 0);
	forget(f);
	assert_int_equal(ffree(), before - 1); /* g still refers to it */
	void *fh = open_(g, O_RDONLY);
	forget(g);
	assert_int_equal(ffree(), before - 1); /* the open handle still does */
	ops->release(aux, g, fh);
	assert_int_equal(ffree(), before);
	/* a named node stays after forget */
	void *h = mkfile(root, "h");
	forget(h);
	assert_int_equal(ffree(), before - 1);
	assert_int_equal(unlink_(root, "h", 0), 0);
	assert_int_equal(ffree(), before);
}

static void test_ino_unique_and_stable(void **state)
{
	(void)state;
	enum { N = 200 };
	uint64_t inos[N + 1];
	inos[N] = getattr(root).ino;
	char name[16];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "n%d", i);
		void *n = i % 2 ? mkfile(root, name) : mkdir_(root, name);
		inos[i] = getattr(n).ino;
		assert_true(inos[i] != 0);
		forget(n);
	}
	for (int i = 0; i <= N; i++)
		for (int j = i + 1; j <= N; j++)
			assert_true(inos[i] != inos[j]);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "n%d", i);
		assert_int_equal(ino_of(root, name), inos[i]);
	}
	/* a referenced, unlinked node keeps its number; new ones do not get it */
	void *n = lookup(root, "n1");
	assert_int_equal(unlink_(root, "n1", 0), 0);
	void *m = mkfile(root, "new");
	assert_true(getattr(m).ino != inos[1]);
	assert_int_equal(getattr(n).ino, inos[1]);
	forget(m);
	forget(n);
}

static void test_version_changes(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	uint64_t v = getattr(f).version;
	assert_true(v >= 1);
	put(f, 0, "x");
	assert_true(getattr(f).version > v);
	v = getattr(f).version;
	assert_int_equal(chmod_(&rc, f, 0600), 0);
	assert_true(getattr(f).version > v);
	v = getattr(f).version;
	assert_int_equal(set_size(&rc, f, 0), 0);
	assert_true(getattr(f).version > v);
	v = getattr(f).version;
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", "1", 1, 0), 0);
	assert_true(getattr(f).version > v);
	v = getattr(f).version;
	(void)get(f); /* reading changes nothing */
	assert_int_equal(getattr(f).version, v);
	uint64_t dv = getattr(root).version;
	assert_true(dv >= 1);
	void *g = mkfile(root, "g");
	assert_true(getattr(root).version > dv);
	forget(g);
	forget(f);
}

/* ---- Times ---- */

static void test_times_on_write(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	struct boxfs_attr a = getattr(f);
	assert_true(a.btime.tv_sec > 0);
	tick();
	put(f, 0, "x");
	struct boxfs_attr b = getattr(f);
	assert_true(ts_after(b.mtime, a.mtime));
	assert_true(ts_after(b.ctime, a.ctime));
	assert_int_equal(b.btime.tv_sec, a.btime.tv_sec);
	assert_int_equal(b.btime.tv_nsec, a.btime.tv_nsec);
	tick();
	assert_int_equal(set_size(&rc, f, 10), 0);
	struct boxfs_attr c = getattr(f);
	assert_true(ts_after(c.mtime, b.mtime));
	tick();
	assert_int_equal(chmod_(&rc, f, 0600), 0);
	struct boxfs_attr d = getattr(f);
	assert_true(ts_after(d.ctime, c.ctime));
	assert_int_equal(d.mtime.tv_nsec, c.mtime.tv_nsec);
	forget(f);
}

static void test_times_of_dir_on_entry_change(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	struct boxfs_attr a = getattr(d);
	tick();
	void *f = mkfile(d, "f");
	struct boxfs_attr b = getattr(d);
	assert_true(ts_after(b.mtime, a.mtime));
	assert_true(ts_after(b.ctime, a.ctime));
	tick();
	assert_int_equal(rename_(d, "f", d, "g", 0), 0);
	struct boxfs_attr c = getattr(d);
	assert_true(ts_after(c.mtime, b.mtime));
	tick();
	assert_int_equal(unlink_(d, "g", 0), 0);
	assert_true(ts_after(getattr(d).mtime, c.mtime));
	forget(f);
	forget(d);
}

static void test_setattr_times(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	struct boxfs_setattr sa = {
		.valid = BOXFS_SET_ATIME | BOXFS_SET_MTIME,
		.atime = { 1000, 5 },
		.mtime = { 2000, 6 },
	};
	struct boxfs_attr a;
	assert_int_equal(ops->setattr(aux, &rc, f, NULL, &sa, &a), 0);
	assert_int_equal(a.atime.tv_sec, 1000);
	assert_int_equal(a.atime.tv_nsec, 5);
	assert_int_equal(a.mtime.tv_sec, 2000);
	assert_int_equal(a.mtime.tv_nsec, 6);
	assert_true(a.ctime.tv_sec > 2000);
	sa.valid = BOXFS_SET_ATIME_NOW | BOXFS_SET_MTIME_NOW;
	assert_int_equal(ops->setattr(aux, &rc, f, NULL, &sa, &a), 0);
	assert_true(a.atime.tv_sec > 1000);
	assert_true(a.mtime.tv_sec > 2000);
	struct timespec ct = a.ctime;
	tick();
	sa.valid = BOXFS_SET_CTIME;
	assert_int_equal(ops->setattr(aux, &rc, f, NULL, &sa, &a), 0);
	assert_true(ts_after(a.ctime, ct));
	forget(f);
}

/* ---- Permissions ---- */

static void test_perm_lookup_needs_search(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	void *f = mkfile(d, "f");
	assert_int_equal(try_lookup(&uc, d, "f"), 0);
	assert_int_equal(chmod_(&rc, d, 0744), 0);
	assert_int_equal(try_lookup(&uc, d, "f"), -EACCES);
	assert_int_equal(try_lookup(&uc, d, ".."), -EACCES);
	assert_int_equal(try_lookup(&rc, d, "f"), 0);
	forget(f);
	forget(d);
}

static void test_perm_create_needs_write(void **state)
{
	(void)state;
	void *n, *fh;
	struct boxfs_attr a;
	/* the root directory is 0755, owned by root */
	assert_int_equal(ops->create(aux, &uc, root, "f", O_RDWR, 0644, &n, &a, &fh), -EACCES);
	assert_int_equal(ops->mkdir(aux, &uc, root, "d", 0755, &n, &a), -EACCES);
	assert_int_equal(ops->symlink(aux, &uc, root, "s", "t", &n, &a), -EACCES);
	assert_int_equal(ops->mknod(aux, &uc, root, "p", S_IFIFO | 0644, 0, &n, &a), -EACCES);
	void *f = mkfile(root, "f");
	assert_int_equal(ops->link(aux, &uc, f, root, "g"), -EACCES);
	assert_int_equal(ops->unlink(aux, &uc, root, "f", 0), -EACCES);
	assert_int_equal(ops->rename(aux, &uc, root, "f", root, "g", 0), -EACCES);
	/* a world-writable directory lets it */
	void *d = mkdir_as(&rc, root, "d", 0777);
	void *mine = mkfile_as(&uc, d, "mine", 0600);
	assert_int_equal(ops->rename(aux, &uc, d, "mine", d, "ours", 0), 0);
	assert_int_equal(ops->unlink(aux, &uc, d, "ours", 0), 0);
	forget(mine);
	forget(d);
	forget(f);
}

static void test_perm_open_modes(void **state)
{
	(void)state;
	void *f = mkfile(root, "f"); /* 0644 root:0 */
	assert_int_equal(try_open(&uc, f, O_RDONLY), 0);
	assert_int_equal(try_open(&uc, f, O_WRONLY), -EACCES);
	assert_int_equal(try_open(&uc, f, O_RDWR), -EACCES);
	assert_int_equal(try_open(&uc, f, O_RDONLY | O_TRUNC), -EACCES);
	assert_int_equal(set_size(&uc, f, 0), -EACCES);
	assert_int_equal(chmod_(&rc, f, 0600), 0);
	assert_int_equal(try_open(&uc, f, O_RDONLY), -EACCES);
	/* group permission through the supplementary group list */
	assert_int_equal(chown_(&rc, f, BOXFS_SET_GID, 0, 2000), 0);
	assert_int_equal(chmod_(&rc, f, 0060), 0);
	assert_int_equal(try_open(&uc, f, O_RDWR), 0);
	assert_int_equal(try_open(&oc, f, O_RDONLY), -EACCES);
	/* the owner's bits win over the group's */
	assert_int_equal(chown_(&rc, f, BOXFS_SET_UID, 1000, 0), 0);
	assert_int_equal(try_open(&uc, f, O_RDONLY), -EACCES);
	forget(f);
}

static void test_perm_root_may_everything(void **state)
{
	(void)state;
	void *d = mkdir_as(&rc, root, "d", 0);
	void *f = mkfile_as(&rc, d, "f", 0);
	assert_int_equal(chown_(&rc, d, BOXFS_SET_UID | BOXFS_SET_GID, 1000, 1000), 0);
	assert_int_equal(chown_(&rc, f, BOXFS_SET_UID | BOXFS_SET_GID, 1000, 1000), 0);
	assert_int_equal(try_lookup(&rc, d, "f"), 0);
	assert_int_equal(try_open(&rc, f, O_RDWR), 0);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.x", "1", 1, 0), 0);
	assert_int_equal(chmod_(&rc, f, 0644), 0);
	assert_int_equal(unlink_(d, "f", 0), 0);
	forget(f);
	forget(d);
}

static void test_chmod_owner_only(void **state)
{
	(void)state;
	void *d = mkdir_as(&rc, root, "d", 0777);
	void *f = mkfile_as(&uc, d, "f", 0644);
	assert_int_equal(chmod_(&oc, f, 0777), -EPERM);
	assert_int_equal(chmod_(&uc, f, 04700), 0);
	assert_int_equal(getattr(f).mode, S_IFREG | 04700);
	forget(f);
	forget(d);
}

static void test_chown_rules(void **state)
{
	(void)state;
	void *d = mkdir_as(&rc, root, "d", 0777);
	void *f = mkfile_as(&uc, d, "f", 0644);
	assert_int_equal(getattr(f).uid, 1000);
	assert_int_equal(getattr(f).gid, 1000);
	assert_int_equal(chown_(&uc, f, BOXFS_SET_UID, 1001, 0), -EPERM);
	assert_int_equal(chown_(&uc, f, BOXFS_SET_UID, 1000, 0), 0); /* to itself */
	assert_int_equal(chown_(&uc, f, BOXFS_SET_GID, 0, 2000), 0);
	assert_int_equal(getattr(f).gid, 2000);
	assert_int_equal(chown_(&uc, f, BOXFS_SET_GID, 0, 1000), 0);
	assert_int_equal(chown_(&uc, f, BOXFS_SET_GID, 0, 3000), -EPERM);
	assert_int_equal(chown_(&oc, f, BOXFS_SET_GID, 0, 1001), -EPERM);
	assert_int_equal(chown_(&rc, f, BOXFS_SET_UID | BOXFS_SET_GID, 7, 8), 0);
	assert_int_equal(getattr(f).uid, 7);
	assert_int_equal(getattr(f).gid, 8);
	forget(f);
	forget(d);
}

static void test_utimes_rules(void **state)
{
	(void)state;
	void *f = mkfile(root, "f"); /* root's, 0644 */
	struct boxfs_setattr sa = { .valid = BOXFS_SET_MTIME, .mtime = { 1, 0 } };
	struct boxfs_attr a;
	assert_int_equal(ops->setattr(aux, &uc, f, NULL, &sa, &a), -EPERM);
	sa.valid = BOXFS_SET_MTIME_NOW;
	assert_int_equal(ops->setattr(aux, &uc, f, NULL, &sa, &a), -EACCES);
	assert_int_equal(chmod_(&rc, f, 0666), 0);
	assert_int_equal(ops->setattr(aux, &uc, f, NULL, &sa, &a), 0);
	sa.valid = BOXFS_SET_MTIME;
	assert_int_equal(ops->setattr(aux, &uc, f, NULL, &sa, &a), -EPERM);
	forget(f);
}

static void test_sticky_dir(void **state)
{
	(void)state;
	void *t = mkdir_as(&rc, root, "tmp", 01777);
	void *mine = mkfile_as(&uc, t, "mine", 0666);
	void *theirs = mkfile_as(&oc, t, "theirs", 0666);
	assert_int_equal(ops->unlink(aux, &uc, t, "theirs", 0), -EPERM);
	assert_int_equal(ops->rename(aux, &uc, t, "theirs", t, "x", 0), -EPERM);
	assert_int_equal(ops->rename(aux, &uc, t, "mine", t, "theirs", 0), -EPERM);
	assert_int_equal(ops->rename(aux, &uc, t, "mine", t, "mine2", 0), 0);
	assert_int_equal(ops->unlink(aux, &uc, t, "mine2", 0), 0);
	assert_int_equal(ops->unlink(aux, &rc, t, "theirs", 0), 0);
	forget(mine);
	forget(theirs);
	forget(t);
}

static void test_new_node_owner_and_setgid(void **state)
{
	(void)state;
	void *d = mkdir_as(&rc, root, "d", 0777);
	void *f = mkfile_as(&uc, d, "f", 06755);
	struct boxfs_attr a = getattr(f);
	assert_int_equal(a.uid, 1000);
	assert_int_equal(a.gid, 1000);
	assert_int_equal(a.mode, S_IFREG | 06755); /* no umask */
	assert_int_equal(chown_(&rc, d, BOXFS_SET_GID, 0, 77), 0);
	assert_int_equal(chmod_(&rc, d, 02777), 0);
	void *g = mkfile_as(&uc, d, "g", 0600);
	void *e = mkdir_as(&uc, d, "e", 0700);
	assert_int_equal(getattr(g).gid, 77);
	assert_int_equal(getattr(e).gid, 77);
	assert_int_equal(getattr(e).mode, S_IFDIR | 02700);
	forget(e);
	forget(g);
	forget(f);
	forget(d);
}

/* ---- readdir ---- */

static void test_readdir_basic(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	void *f = mkfile(root, "f");
	void *s;
	struct boxfs_attr a;
	assert_int_equal(ops->symlink(aux, &rc, root, "s", "t", &s, &a), 0);
	struct listing l;
	list_all(root, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(find_name(&l, "."), -1);
	assert_int_equal(find_name(&l, ".."), -1);
	int i = find_name(&l, "d");
	assert_true(i >= 0);
	assert_int_equal(l.types[i], DT_DIR);
	assert_int_equal(l.inos[i], getattr(d).ino);
	i = find_name(&l, "f");
	assert_true(i >= 0);
	assert_int_equal(l.types[i], DT_REG);
	i = find_name(&l, "s");
	assert_true(i >= 0);
	assert_int_equal(l.types[i], DT_LNK);
	void *x = mkfile(d, "x");
	assert_int_equal(ops->readdir(aux, &rc, x, NULL, 0, collect, &l), -ENOTDIR);
	forget(x);
	forget(d);
	forget(f);
	forget(s);
}

/* A refused entry comes first in the next call. */
static void test_readdir_refused_entry_repeats(void **state)
{
	(void)state;
	void *a = mkfile(root, "a");
	void *b = mkfile(root, "b");
	struct listing l = { .limit = 1 };
	assert_int_equal(ops->readdir(aux, &rc, root, NULL, 0, collect, &l), 0);
	assert_int_equal(l.n, 1);
	l.taken = 0;
	l.limit = 0; /* refuse everything */
	assert_int_equal(ops->readdir(aux, &rc, root, NULL, l.cookie, collect, &l), 0);
	assert_int_equal(l.n, 1);
	l.limit = 1;
	assert_int_equal(ops->readdir(aux, &rc, root, NULL, l.cookie, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_not_equal(l.names[0], l.names[1]);
	l.taken = 0;
	assert_int_equal(ops->readdir(aux, &rc, root, NULL, l.cookie, collect, &l), 0);
	assert_int_equal(l.n, 2); /* at the end */
	forget(a);
	forget(b);
}

struct counted {
	int limit, taken;
	uint64_t cookie;
	int *seen; /* by the number in the name */
	int nseen;
};

static int count_fill(void *ctx, const char *name, uint64_t ino, uint32_t dtype, uint64_t next)
{
	(void)ino;
	(void)dtype;
	struct counted *cd = ctx;
	if (cd->taken == cd->limit)
		return 1;
	int i = atoi(name + 1);
	cd->seen[i]++;
	cd->nseen++;
	cd->taken++;
	cd->cookie = next;
	return 0;
}

/* Lists one piece; answers how many entries it took. */
static int list_piece(void *dir, struct counted *cd)
{
	cd->taken = 0;
	assert_int_equal(ops->readdir(aux, &rc, dir, NULL, cd->cookie, count_fill, cd), 0);
	return cd->taken;
}

static void test_readdir_10000_in_pieces(void **state)
{
	(void)state;
	enum { N = 10000 };
	void *d = mkdir_(root, "big");
	char name[16];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "f%d", i);
		forget(mkfile(d, name));
	}
	int *seen = calloc(N, sizeof *seen);
	struct counted cd = { .limit = 7, .seen = seen };
	int calls = 0;
	while (list_piece(d, &cd) > 0)
		assert_true(++calls <= N);
	assert_int_equal(calls, (N + 6) / 7);
	assert_int_equal(cd.nseen, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	/* lookups in a big directory */
	for (int i = 0; i < N; i += 997) {
		snprintf(name, sizeof name, "f%d", i);
		assert_int_equal(try_lookup(&rc, d, name), 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "f%d", i);
		assert_int_equal(unlink_(d, name, 0), 0);
	}
	assert_int_equal(unlink_(root, "big", AT_REMOVEDIR), 0);
	free(seen);
	forget(d);
}

static void test_readdir_stable_under_changes(void **state)
{
	(void)state;
	enum { N = 300, NEW = 1000 };
	void *d = mkdir_(root, "d");
	char name[16];
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "f%d", i);
		forget(mkfile(d, name));
	}
	int *seen = calloc(NEW + N, sizeof *seen);
	bool removed[NEW + N] = { false };
	struct counted cd = { .limit = 7, .seen = seen };
	int piece = 0, added = 0;
	while (list_piece(d, &cd) > 0) {
		assert_true(++piece <= N);
		/* remove one entry already listed and one not yet listed */
		for (int k = 0; k < 2; k++) {
			int i = (piece * 37 + k * 151) % N;
			snprintf(name, sizeof name, "f%d", i);
			if (!removed[i]) {
				assert_int_equal(unlink_(d, name, 0), 0);
				removed[i] = true;
			}
		}
		/* and add new ones (listed or not: either is fine) */
		if (added < 100) {
			snprintf(name, sizeof name, "f%d", NEW + added++);
			forget(mkfile(d, name));
		}
	}
	for (int i = 0; i < N; i++) {
		assert_true(seen[i] <= 1);
		if (!removed[i])
			assert_int_equal(seen[i], 1);
	}
	for (int i = NEW; i < NEW + added; i++)
		assert_true(seen[i] <= 1);
	free(seen);
	/* empty the directory */
	struct listing l;
	do {
		list_all(d, &l);
		for (int i = 0; i < l.n; i++)
			assert_int_equal(unlink_(d, l.names[i], 0), 0);
	} while (l.n > 0);
	forget(d);
}

static void test_readdir_cookie_survives_compaction(void **state)
{
	(void)state;
	void *d = mkdir_(root, "d");
	char name[16];
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "f%d", i);
		forget(mkfile(d, name));
	}
	int seen[100] = { 0 };
	struct counted cd = { .limit = 50, .seen = seen };
	assert_int_equal(list_piece(d, &cd), 50);
	/* remove most of the listed ones, forcing the tombstones out */
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "f%d", i);
		if (seen[i] && i % 10)
			assert_int_equal(unlink_(d, name, 0), 0);
	}
	cd.limit = 100;
	assert_int_equal(list_piece(d, &cd), 50);
	for (int i = 0; i < 100; i++)
		assert_int_equal(seen[i], 1);
	struct listing l;
	list_all(d, &l);
	for (int i = 0; i < l.n; i++)
		assert_int_equal(unlink_(d, l.names[i], 0), 0);
	forget(d);
}

/* ---- xattrs ---- */

static void test_xattr_set_get_list_remove(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	char buf[64];
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.one", "1", 1, 0), 0);
	assert_int_equal(ops->setxattr(aux, &rc, f, "trusted.two", "22", 2, 0), 0);
	assert_int_equal(ops->setxattr(aux, &rc, f, "weird.empty", "", 0, 0), 0);
	assert_int_equal(ops->getxattr(aux, &rc, f, "trusted.two", buf, sizeof buf), 2);
	assert_memory_equal(buf, "22", 2);
	assert_int_equal(ops->getxattr(aux, &rc, f, "weird.empty", buf, sizeof buf), 0);
	ssize_t n = ops->listxattr(aux, &rc, f, buf, sizeof buf);
	assert_int_equal(n, sizeof "user.one" + sizeof "trusted.two" + sizeof "weird.empty");
	int found = 0;
	for (char *p = buf; p < buf + n; p += strlen(p) + 1)
		found += !strcmp(p, "user.one") + !strcmp(p, "trusted.two") +
			 !strcmp(p, "weird.empty");
	assert_int_equal(found, 3);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.one", "111", 3, 0), 0);
	assert_int_equal(ops->getxattr(aux, &rc, f, "user.one", buf, sizeof buf), 3);
	assert_memory_equal(buf, "111", 3);
	assert_int_equal(ops->removexattr(aux, &rc, f, "user.one"), 0);
	assert_int_equal(ops->getxattr(aux, &rc, f, "user.one", buf, sizeof buf), -ENODATA);
	assert_int_equal(ops->removexattr(aux, &rc, f, "user.one"), -ENODATA);
	forget(f);
}

static void test_xattr_create_replace(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", "x", 1, XATTR_REPLACE), -ENODATA);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", "x", 1, XATTR_CREATE), 0);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", "y", 1, XATTR_CREATE), -EEXIST);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", "z", 1, XATTR_REPLACE), 0);
	char c;
	assert_int_equal(ops->getxattr(aux, &rc, f, "user.a", &c, 1), 1);
	assert_int_equal(c, 'z');
	forget(f);
}

static void test_xattr_sizes(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	assert_int_equal(ops->listxattr(aux, &rc, f, NULL, 0), 0);
	assert_int_equal(ops->getxattr(aux, &rc, f, "user.none", NULL, 0), -ENODATA);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", "hello", 5, 0), 0);
	char buf[8];
	assert_int_equal(ops->getxattr(aux, &rc, f, "user.a", NULL, 0), 5);
	assert_int_equal(ops->getxattr(aux, &rc, f, "user.a", buf, 4), -ERANGE);
	assert_int_equal(ops->listxattr(aux, &rc, f, NULL, 0), 7);
	assert_int_equal(ops->listxattr(aux, &rc, f, buf, 6), -ERANGE);
	assert_int_equal(ops->listxattr(aux, &rc, f, buf, 7), 7);
	assert_memory_equal(buf, "user.a", 7);
	forget(f);
}

static void test_xattr_permissions(void **state)
{
	(void)state;
	void *f = mkfile(root, "f"); /* 0644 root */
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", "1", 1, 0), 0);
	char c;
	assert_int_equal(ops->getxattr(aux, &uc, f, "user.a", &c, 1), 1);
	assert_int_equal(ops->setxattr(aux, &uc, f, "user.a", "2", 1, 0), -EACCES);
	assert_int_equal(ops->removexattr(aux, &uc, f, "user.a"), -EACCES);
	forget(f);
}

/* ---- max_bytes ---- */

static int start_limited(void **state)
{
	(void)state;
	struct boxfs_ramfs_opts o = { .max_bytes = 8192 };
	return start(&o);
}

static void test_max_bytes_write(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	static char big[8192];
	void *fh = open_(f, O_RDWR);
	assert_int_equal(ops->write(aux, &rc, f, fh, big, 8000, 0), 8000);
	uint64_t v = getattr(f).version;
	assert_int_equal(ops->write(aux, &rc, f, fh, big, 500, 7900), -ENOSPC);
	assert_int_equal(getattr(f).size, 8000);
	assert_int_equal(getattr(f).version, v);
	/* overwriting inside the file needs no room */
	assert_int_equal(ops->write(aux, &rc, f, fh, big, 500, 7000), 500);
	assert_int_equal(ops->write(aux, &rc, f, fh, big, 192, 8000), 192);
	void *g = mkfile(root, "g");
	assert_int_equal(ops->write(aux, &rc, g, NULL, "x", 1, 0), -ENOSPC);
	struct boxfs_statfs st;
	assert_int_equal(ops->statfs(aux, &rc, root, &st), 0);
	assert_int_equal(st.blocks, 2);
	assert_int_equal(st.bfree, 0);
	ops->release(aux, f, fh);
	/* space comes back when the file goes */
	assert_int_equal(unlink_(root, "f", 0), 0);
	forget(f);
	assert_int_equal(ops->write(aux, &rc, g, NULL, "x", 1, 0), 1);
	forget(g);
}

static void test_max_bytes_truncate(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	assert_int_equal(set_size(&rc, f, 8192), 0);
	assert_int_equal(set_size(&rc, f, 8193), -ENOSPC);
	assert_int_equal(getattr(f).size, 8192);
	assert_int_equal(set_size(&rc, f, 100), 0);
	assert_int_equal(set_size(&rc, f, 8192), 0);
	forget(f);
}

static void test_max_bytes_xattr(void **state)
{
	(void)state;
	void *f = mkfile(root, "f");
	static char big[8192];
	assert_int_equal(set_size(&rc, f, 4096), 0);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", big, 4096, 0), 0);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.b", big, 1, 0), -ENOSPC);
	assert_int_equal(ops->getxattr(aux, &rc, f, "user.b", NULL, 0), -ENODATA);
	assert_int_equal(set_size(&rc, f, 4097), -ENOSPC);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.a", big, 4000, 0), 0);
	assert_int_equal(ops->setxattr(aux, &rc, f, "user.b", big, 96, 0), 0);
	assert_int_equal(ops->removexattr(aux, &rc, f, "user.a"), 0);
	assert_int_equal(set_size(&rc, f, 8000), 0);
	forget(f);
}

/* ---- Threads ---- */

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	struct boxfs_call c;
	bx_call_init(&c, &(struct boxfs_cred){ .uid = 0 });
	char name[32], buf[64];
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof name, "t%d-%d", id, i % 10);
		void *n, *fh;
		struct boxfs_attr a;
		if (ops->create(aux, &c, root, name, O_RDWR, 0644, &n, &a, &fh) == 0) {
			ops->write(aux, &c, n, fh, name, strlen(name), 0);
			ops->read(aux, &c, n, fh, buf, sizeof buf, 0);
			ops->unlink(aux, &c, root, name, 0);
			ops->write(aux, &c, n, fh, "x", 1, 100);
			ops->release(aux, n, fh);
			ops->forget(aux, n);
		}
		if (ops->lookup(aux, &c, root, "shared", &n, &a) == 0) {
			ops->getattr(aux, &c, n, NULL, &a);
			ops->forget(aux, n);
		}
	}
	bx_call_destroy(&c);
	return NULL;
}

static void test_concurrent_smoke(void **state)
{
	(void)state;
	void *s = mkfile(root, "shared");
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	struct listing l;
	list_all(root, &l);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.names[0], "shared");
	forget(s);
}

#define T(f)  cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TL(f) cmocka_unit_test_setup_teardown(f, start_limited, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_new_defaults),
		T(test_new_with_opts),
		T(test_statfs),
		T(test_write_read_back),
		T(test_holes_read_zeros),
		T(test_append),
		T(test_open_trunc),
		T(test_truncate_grow_shrink),
		T(test_io_wrong_kind),
		T(test_create_existing),
		T(test_mkdir_lookup),
		T(test_lookup_dotdot),
		T(test_dir_nlink),
		T(test_symlink_readlink),
		T(test_hard_links),
		T(test_link_dir_eperm),
		T(test_mknod),
		T(test_unlink_errors),
		T(test_removed_dir_takes_no_names),
		T(test_rename_file),
		T(test_rename_replaces_file),
		T(test_rename_dir_errors),
		T(test_rename_dir_over_empty_dir),
		T(test_rename_noreplace),
		T(test_rename_exchange),
		T(test_rename_same_inode_noop),
		T(test_rename_dir_with_referenced_child),
		T(test_open_unlinked_keeps_working),
		T(test_referenced_unlinked_keeps_working),
		T(test_forget_frees),
		T(test_ino_unique_and_stable),
		T(test_version_changes),
		T(test_times_on_write),
		T(test_times_of_dir_on_entry_change),
		T(test_setattr_times),
		T(test_perm_lookup_needs_search),
		T(test_perm_create_needs_write),
		T(test_perm_open_modes),
		T(test_perm_root_may_everything),
		T(test_chmod_owner_only),
		T(test_chown_rules),
		T(test_utimes_rules),
		T(test_sticky_dir),
		T(test_new_node_owner_and_setgid),
		T(test_readdir_basic),
		T(test_readdir_refused_entry_repeats),
		T(test_readdir_10000_in_pieces),
		T(test_readdir_stable_under_changes),
		T(test_readdir_cookie_survives_compaction),
		T(test_xattr_set_get_list_remove),
		T(test_xattr_create_replace),
		T(test_xattr_sizes),
		T(test_xattr_permissions),
		TL(test_max_bytes_write),
		TL(test_max_bytes_truncate),
		TL(test_max_bytes_xattr),
		T(test_concurrent_smoke),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
