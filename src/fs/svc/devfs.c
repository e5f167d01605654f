/*
 * devfs.c — devices, mounted at /dev: `time` (seconds since the epoch, one
 * line), `rtc` (the UTC date and time, "YYYY-MM-DD HH:MM:SS WDAY"), and
 * `blk/NAME` for each disk image the server was given, read and written
 * through to the image. It also keeps the shm segments of the idl door
 * (memfds, by id), which have no file form.
 *
 * Image I/O is pread/pwrite on a descriptor opened once; reads and writes
 * may be tried on the reading thread (BOXFS_FS_TRY_INLINE) and go to a
 * worker for images, which may have to wait for a disk.
 */
#include "fs/svc/svc_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { K_ROOT = 1, K_TIME, K_RTC, K_BLKDIR, K_BLK };
enum { MAX_SHM = 1024 };

struct blk {
	char *name;
	int fd;
	bool rdonly;
};

struct shm {
	int32_t id;
	int fd;
	uint64_t size;
};

struct devfs {
	struct blk *blk;
	unsigned nblk;
	pthread_mutex_t mu; /* shm */
	struct shm shm[MAX_SHM];
	unsigned nshm;
	int32_t next_shm;
	uint64_t max_shm;
	struct timespec born;
};

static const struct boxfs_fs_ops dev_ops;

bool devfs_is(const struct boxfs_fs *fs)
{
	return fs->ops == &dev_ops;
}

struct devfs *devfs_of(struct boxfs_fs *fs)
{
	return fs->aux;
}

int devfs_blk(struct devfs *d, int *fd, uint64_t *size)
{
	if (!d->nblk)
		return -ENODEV;
	struct stat st;
	if (fstat(d->blk[0].fd, &st) < 0)
		return -errno;
	*fd = d->blk[0].fd;
	*size = (uint64_t)st.st_size;
	return d->blk[0].rdonly ? 1 : 0;
}

int devfs_shm_create(struct devfs *d, uint64_t size, int32_t *id)
{
	if (size == 0 || size > d->max_shm)
		return -EINVAL;
	int fd = memfd_create("boxfs-shm", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	pthread_mutex_lock(&d->mu);
	int r = 0;
	if (d->nshm == MAX_SHM || d->next_shm == INT32_MAX) {
		r = -ENOSPC;
	} else {
		struct shm *s = &d->shm[d->nshm++];
		s->id = ++d->next_shm;
		s->fd = fd;
		s->size = size;
		*id = s->id;
	}
	pthread_mutex_unlock(&d->mu);
	if (r < 0)
		close(fd);
	return r;
}

int devfs_shm_fd(struct devfs *d, int32_t id, bool writable, uint64_t *size)
{
	int r = -ENOENT;
	pthread_mutex_lock(&d->mu);
	for (unsigned i = 0; i < d->nshm; i++) {
		if (d->shm[i].id != id)
			continue;
		char path[64];
		snprintf(path, sizeof path, "/proc/self/fd/%d", d->shm[i].fd);
		r = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (r < 0)
			r = -errno;
		*size = d->shm[i].size;
		break;
	}
	pthread_mutex_unlock(&d->mu);
	return r;
}

int devfs_shm_close(struct devfs *d, int32_t id)
{
	int r = -ENOENT;
	pthread_mutex_lock(&d->mu);
	for (unsigned i = 0; i < d->nshm; i++) {
		if (d->shm[i].id == id) {
			close(d->shm[i].fd);
			d->shm[i] = d->shm[--d->nshm];
			r = 0;
			break;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return r;
}

/* ---- the file tree ---- */

static int dev_attr(struct devfs *d, unsigned kind, int64_t id, struct boxfs_attr *a)
{
	memset(a, 0, sizeof *a);
	a->ino = (uint64_t)id << 3 | kind;
	a->version = 1;
	a->nlink = 1;
	a->blksize = 4096;
	a->atime = a->mtime = a->ctime = a->btime = d->born;
	switch (kind) {
	case K_ROOT:
	case K_BLKDIR:
		a->mode = S_IFDIR | 0555;
		a->nlink = 2;
		break;
	case K_TIME:
	case K_RTC:
		a->mode = S_IFREG | 0444;
		clock_gettime(CLOCK_REALTIME, &a->mtime);
		a->version = (uint64_t)a->mtime.tv_sec;
		break;
	case K_BLK: {
		struct stat st;
		if (id < 0 || (unsigned)id >= d->nblk || fstat(d->blk[id].fd, &st) < 0)
			return -ENOENT;
		a->mode = S_IFREG | (d->blk[id].rdonly ? 0444 : 0644);
		a->size = (uint64_t)st.st_size;
		a->blocks = (uint64_t)st.st_blocks;
		a->mtime = st.st_mtim;
		a->version =
			(uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
		if (!a->version)
			a->version = 1;
		break;
	}
	}
	return 0;
}

static int make(struct devfs *d, unsigned kind, int64_t id, void **node, struct boxfs_attr *attr)
{
	int r = dev_attr(d, kind, id, attr);
	if (r < 0)
		return r;
	struct svc_node *n = svc_node_new(kind, id, NULL);
	if (!n)
		return -ENOMEM;
	*node = n;
	return 0;
}

static int dev_root(void *aux, struct boxfs_call *c, void **node, struct boxfs_attr *attr)
{
	(void)c;
	return make(aux, K_ROOT, 0, node, attr);
}

static int dev_lookup(void *aux, struct boxfs_call *c, void *dir, const char *name, void **node,
		      struct boxfs_attr *attr)
{
	(void)c;
	struct devfs *d = aux;
	struct svc_node *p = dir;
	if (p->kind == K_ROOT) {
		if (strcmp(name, "..") == 0)
			return make(d, K_ROOT, 0, node, attr);
		if (strcmp(name, "time") == 0)
			return make(d, K_TIME, 0, node, attr);
		if (strcmp(name, "rtc") == 0)
			return make(d, K_RTC, 0, node, attr);
		if (strcmp(name, "blk") == 0)
			return make(d, K_BLKDIR, 0, node, attr);
		return -ENOENT;
	}
	if (p->kind == K_BLKDIR) {
		if (strcmp(name, "..") == 0)
			return make(d, K_ROOT, 0, node, attr);
		for (unsigned i = 0; i < d->nblk; i++)
			if (strcmp(d->blk[i].name, name) == 0)
				return make(d, K_BLK, i, node, attr);
		return -ENOENT;
	}
	return -ENOTDIR;
}

static void dev_forget(void *aux, void *node)
{
	(void)aux;
	free(node);
}

static int dev_getattr(void *aux, struct boxfs_call *c, void *node, void *fh,
		       struct boxfs_attr *attr)
{
	(void)c, (void)fh;
	struct svc_node *n = node;
	return dev_attr(aux, n->kind, n->id, attr);
}

static int dev_open(void *aux, struct boxfs_call *c, void *node, int flags, void **fh)
{
	(void)c, (void)fh;
	struct devfs *d = aux;
	struct svc_node *n = node;
	bool wr = (flags & O_ACCMODE) != O_RDONLY;
	if (n->kind == K_ROOT || n->kind == K_BLKDIR)
		return wr ? -EISDIR : 0;
	if (n->kind == K_BLK)
		return wr && d->blk[n->id].rdonly ? -EROFS : 0;
	return wr ? -EACCES : 0;
}

static ssize_t text(const char *s, size_t len, void *buf, size_t count, uint64_t off)
{
	if (off >= len)
		return 0;
	size_t m = len - off < count ? len - off : count;
	memcpy(buf, s + off, m);
	return (ssize_t)m;
}

static ssize_t dev_read(void *aux, struct boxfs_call *c, void *node, void *fh, void *buf,
			size_t count, uint64_t off)
{
	(void)fh;
	struct devfs *d = aux;
	struct svc_node *n = node;
	char line[96];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	switch (n->kind) {
	case K_TIME: {
		int len = snprintf(line, sizeof line, "%lld\n", (long long)now.tv_sec);
		return text(line, (size_t)len, buf, count, off);
	}
	case K_RTC: {
		static const char *const days[] = {
			"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
		};
		struct tm tm;
		gmtime_r(&now.tv_sec, &tm);
		int len = snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d %s\n",
				   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
				   tm.tm_min, tm.tm_sec, days[tm.tm_wday % 7]);
		return text(line, (size_t)len, buf, count, off);
	}
	case K_BLK: {
		if (boxfs_call_nowait(c))
			return BOXFS_EWOULDWAIT;
		if (off > INT64_MAX)
			return 0;
		ssize_t r = pread(d->blk[n->id].fd, buf, count, (off_t)off);
		return r < 0 ? -errno : r;
	}
	}
	return -EISDIR;
}

static ssize_t dev_write(void *aux, struct boxfs_call *c, void *node, void *fh, const void *buf,
			 size_t count, uint64_t off)
{
	(void)fh;
	struct devfs *d = aux;
	struct svc_node *n = node;
	if (n->kind != K_BLK)
		return n->kind == K_ROOT || n->kind == K_BLKDIR ? -EISDIR : -EACCES;
	if (boxfs_call_nowait(c))
		return BOXFS_EWOULDWAIT;
	struct stat st;
	if (fstat(d->blk[n->id].fd, &st) < 0)
		return -errno;
	/* a disk does not grow */
	if (off >= (uint64_t)st.st_size)
		return count ? -ENOSPC : 0;
	if (count > (uint64_t)st.st_size - off)
		count = (size_t)((uint64_t)st.st_size - off);
	ssize_t r = pwrite(d->blk[n->id].fd, buf, count, (off_t)off);
	return r < 0 ? -errno : r;
}

static int dev_readdir(void *aux, struct boxfs_call *c, void *dir, void *fh, uint64_t cookie,
		       boxfs_fill_fn fill, void *ctx)
{
	(void)c, (void)fh;
	struct devfs *d = aux;
	struct svc_node *p = dir;
	if (p->kind == K_ROOT) {
		static const struct {
			const char *name;
			unsigned kind, dt;
		} e[] = { { "time", K_TIME, DT_REG },
			  { "rtc", K_RTC, DT_REG },
			  { "blk", K_BLKDIR, DT_DIR } };
		for (uint64_t i = cookie; i < 3; i++)
			if (fill(ctx, e[i].name, e[i].kind, e[i].dt, i + 1) != 0)
				break;
		return 0;
	}
	if (p->kind != K_BLKDIR)
		return -ENOTDIR;
	for (uint64_t i = cookie; i < d->nblk; i++)
		if (fill(ctx, d->blk[i].name, i << 3 | K_BLK, DT_REG, i + 1) != 0)
			break;
	return 0;
}

static int dev_fsync(void *aux, struct boxfs_call *c, void *node, void *fh, bool datasync)
{
	(void)c, (void)fh;
	struct devfs *d = aux;
	struct svc_node *n = node;
	if (n->kind != K_BLK)
		return 0;
	return (datasync ? fdatasync(d->blk[n->id].fd) : fsync(d->blk[n->id].fd)) < 0 ? -errno : 0;
}

static void dev_destroy(void *aux)
{
	struct devfs *d = aux;
	for (unsigned i = 0; i < d->nblk; i++) {
		close(d->blk[i].fd);
		free(d->blk[i].name);
	}
	for (unsigned i = 0; i < d->nshm; i++)
		close(d->shm[i].fd);
	free(d->blk);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

static const struct boxfs_fs_ops dev_ops = {
	.root = dev_root,
	.lookup = dev_lookup,
	.forget = dev_forget,
	.getattr = dev_getattr,
	.open = dev_open,
	.read = dev_read,
	.write = dev_write,
	.readdir = dev_readdir,
	.fsync = dev_fsync,
	.destroy = dev_destroy,
};

struct boxfs_fs *boxfs_devfs_new(const struct boxfs_devfs_opts *opts)
{
	struct devfs *d = calloc(1, sizeof *d);
	struct boxfs_fs *fs = calloc(1, sizeof *fs);
	unsigned n = opts ? opts->nblk : 0;
	if (!d || !fs || (n && !(d->blk = calloc(n, sizeof *d->blk)))) {
		free(d);
		free(fs);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	clock_gettime(CLOCK_REALTIME, &d->born);
	d->max_shm = opts && opts->max_shm ? opts->max_shm : 64 << 20;
	for (unsigned i = 0; i < n; i++) {
		const struct boxfs_devfs_blk *b = &opts->blk[i];
		int e = 0;
		if (!svc_name_ok(b->name, strlen(b->name)))
			e = EINVAL;
		for (unsigned j = 0; !e && j < i; j++)
			if (strcmp(d->blk[j].name, b->name) == 0)
				e = EEXIST;
		int fd = e ? -1 : open(b->path, O_RDWR | O_CLOEXEC);
		bool ro = false;
		if (!e && fd < 0 && (errno == EACCES || errno == EROFS)) {
			fd = open(b->path, O_RDONLY | O_CLOEXEC);
			ro = true;
		}
		struct stat st;
		if (!e && fd < 0)
			e = errno;
		else if (!e &&
			 (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))))
			e = EINVAL;
		if (!e && !(d->blk[i].name = strdup(b->name)))
			e = ENOMEM;
		if (e) {
			if (fd >= 0)
				close(fd);
			d->nblk = i;
			dev_destroy(d);
			free(fs);
			errno = e;
			return NULL;
		}
		d->blk[i].fd = fd;
		d->blk[i].rdonly = ro;
		d->nblk = i + 1;
	}
	*fs = (struct boxfs_fs){
		.ops = &dev_ops, .aux = d, .flags = BOXFS_FS_TRY_INLINE, .name = "dev"
	};
	return fs;
}
