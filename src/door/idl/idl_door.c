/*
 * idl_door.c — the idl door: Resea's interfaces over a byte stream
 * (docs/protocols/idl.md), served by the backends mounted in the namespace
 * (docs/services.md): the registry at /srv, the task table at /task, the
 * devices (blk, shm) at /dev, and the whole namespace for fs.*.
 *
 * Framing: u32 len, i32 type, i32 src, body. A frame shorter than its header
 * or longer than the largest message closes the connection; a body that does
 * not match its type is answered INVALID_ARG, a type that is no request this
 * door serves NOT_ACCEPTABLE. The server fills src with the connection's
 * task id (an entry in /task while the connection lasts), and puts the
 * same id in src of what it sends, so a client learns its own id.
 *
 * One request at a time, as Resea's IPC: a request arriving before the
 * previous one is answered closes the connection. Most requests are answered
 * on the loop thread. fs.* and blk.* run on a worker (a backend may wait);
 * discovery.lookup of a name not yet served queues a waiter that
 * discovery.serve (or a file created in /srv) answers from its own thread.
 * A hang-up cancels both: the worker's backend call and the waiter.
 * task.watch registers the connection with the task table, which sends
 * task.exited (an unsolicited message, src 0) when the task ends.
 */
#include "core/call_impl.h"
#include "core/server_impl.h"
#include "fs/svc/svc_impl.h"

#include <boxfs/idl.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	MAX_FRAME = BOXFS_IDL_HDRSZ + BOXFS_IDL_MAX_FIXED + 4 + BOXFS_IDL_MAX_OOL,
	MAX_HANDLES = 4096,
	SECTOR = 512,
};

struct handle {
	struct bx_vnode *v; /* NULL: a free slot */
	void *fh;
};

struct job;

struct iconn {
	struct bx_conn *c;
	struct srvfs *srv;
	struct taskfs *tasks;
	struct devfs *dev;
	int32_t task;
	atomic_bool busy;   /* a request is not answered yet */
	pthread_mutex_t mu; /* job, handles */
	struct job *job;
	struct handle *h;
	uint32_t nh;
	struct srv_waiter w;
	bool waiting; /* w may be queued */
};

/* A request on a worker. */
struct job {
	struct iconn *ic;
	struct bx_conn *c; /* a reference */
	struct boxfs_call call;
	int32_t type;
	size_t len;
	uint8_t body[];
};

/* ---- sending ---- */

static void trace(const struct iconn *ic, const char *dir, int32_t type, size_t size)
{
	FILE *out = ic->c->srv->opts.debug;
	if (!out)
		return;
	bool reply;
	const struct boxfs_idl_msg *m = type > 0 ? boxfs_idl_msg_by_id(type, &reply) : NULL;
	if (m)
		fprintf(out, "%u idl %s %s%s (%zu bytes)\n", ic->c->id, dir, m->name,
			reply ? " reply" : "", size);
	else
		fprintf(out, "%u idl %s %d %s (%zu bytes)\n", ic->c->id, dir, type,
			type <= 0 && boxfs_idl_strerror(type) ? boxfs_idl_strerror(type) : "",
			size);
}

/* Sends type with the fields of f in s (s NULL: no body); fd (>= 0) goes along. */
static void send_msg(struct iconn *ic, int32_t type, const struct boxfs_idl_fields *f,
		     const void *s, int fd)
{
	uint8_t buf[BOXFS_IDL_HDRSZ + BOXFS_IDL_MAX_FIXED + 4];
	struct iovec iov[2] = { { buf, BOXFS_IDL_HDRSZ }, { NULL, 0 } };
	size_t body = 0;
	if (s) {
		/* the fixed part and the ool length here, the ool bytes in place */
		uint8_t tmp[BOXFS_IDL_MAX_FIXED + 64];
		struct boxfs_idl_buf ool = { 0 };
		const void *src = s;
		if (f->ool >= 0 && f->size <= sizeof tmp) {
			memcpy(tmp, s, f->size);
			memcpy(&ool, tmp + f->v[f->ool].off, sizeof ool);
			struct boxfs_idl_buf none = { 0 };
			memcpy(tmp + f->v[f->ool].off, &none, sizeof none);
			src = tmp;
		}
		body = boxfs_idl_pack(f, src, buf + BOXFS_IDL_HDRSZ);
		if (f->ool >= 0) {
			uint8_t *lp = buf + BOXFS_IDL_HDRSZ + body - 4;
			lp[0] = (uint8_t)ool.len;
			lp[1] = (uint8_t)(ool.len >> 8);
			lp[2] = (uint8_t)(ool.len >> 16);
			lp[3] = (uint8_t)(ool.len >> 24);
			iov[1] = (struct iovec){ (void *)ool.ptr, ool.len };
		}
		iov[0].iov_len += body;
		body += ool.len;
	}
	boxfs_idl_hdr_pack(buf, (uint32_t)body, type, ic->task); /* the receiver's own id */
	trace(ic, "->", type, body);
	if (fd >= 0)
		bx_conn_sendv_fd(ic->c, iov, iov[1].iov_len ? 2 : 1, fd);
	else
		bx_conn_sendv(ic->c, iov, iov[1].iov_len ? 2 : 1);
}

/* The request is answered: the next one may come as soon as this is sent. */
static void done(struct iconn *ic)
{
	pthread_mutex_lock(&ic->mu);
	ic->job = NULL;
	pthread_mutex_unlock(&ic->mu);
	atomic_store(&ic->busy, false);
}

static int reply_fd(struct iconn *ic, const struct boxfs_idl_msg *m, const void *rets, int fd)
{
	done(ic);
	send_msg(ic, m->reply_id, &m->rets, rets, fd);
	return 0;
}

static int reply(struct iconn *ic, const struct boxfs_idl_msg *m, const void *rets)
{
	return reply_fd(ic, m, rets, -1);
}

static void reply_err(struct iconn *ic, int err)
{
	done(ic);
	send_msg(ic, err, NULL, NULL, -1);
}

/* An errno answer as Resea's; 0 stays 0 (the handler replied). */
static int rerr(int err)
{
	return err < 0 ? boxfs_idl_from_errno(err) : 0;
}

/* A str field as a C string: NULL when it holds a NUL (or on ENOMEM). */
static char *cstr(struct boxfs_idl_buf b, char *small, size_t cap)
{
	if (memchr(b.ptr, 0, b.len))
		return NULL;
	char *s = b.len < cap ? small : malloc(b.len + 1);
	if (!s)
		return NULL;
	if (b.len)
		memcpy(s, b.ptr, b.len);
	s[b.len] = 0;
	return s;
}

/* ---- benchmark, time, rtc ---- */

static int h_nop(void *ctx, int32_t src, const struct benchmark_nop_fields *m)
{
	(void)src;
	struct benchmark_nop_reply_fields r = { .value = m->value };
	return reply(ctx, IDL_BENCHMARK_NOP, &r);
}

static int h_nop_with_ool(void *ctx, int32_t src, const struct benchmark_nop_with_ool_fields *m)
{
	(void)src;
	struct benchmark_nop_with_ool_reply_fields r = { .data = m->data };
	return reply(ctx, IDL_BENCHMARK_NOP_WITH_OOL, &r);
}

static int h_gettimeofday(void *ctx, int32_t src, const struct time_gettimeofday_fields *m)
{
	(void)src, (void)m;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct time_gettimeofday_reply_fields r = { .unixtime = (uint64_t)now.tv_sec };
	return reply(ctx, IDL_TIME_GETTIMEOFDAY, &r);
}

static int h_rtc_read(void *ctx, int32_t src, const struct rtc_read_fields *m)
{
	(void)src, (void)m;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	struct rtc_read_reply_fields r = {
		.year = (uint32_t)tm.tm_year + 1900,
		.month = (uint8_t)(tm.tm_mon + 1),
		.day = (uint8_t)tm.tm_mday,
		.day_of_week = (uint8_t)tm.tm_wday,
		.hour = (uint8_t)tm.tm_hour,
		.minute = (uint8_t)tm.tm_min,
		.second = (uint8_t)tm.tm_sec,
	};
	return reply(ctx, IDL_RTC_READ, &r);
}

/* ---- discovery ---- */

static int h_serve(void *ctx, int32_t src, const struct discovery_serve_fields *m)
{
	struct iconn *ic = ctx;
	if (!ic->srv)
		return BOXFS_IDL_UNAVAILABLE;
	char name[256];
	if (m->name.len >= sizeof name || !cstr(m->name, name, sizeof name))
		return BOXFS_IDL_INVALID_ARG;
	char addr[32];
	snprintf(addr, sizeof addr, "task %d\n", (int)src);
	int r = srvfs_serve(ic->srv, name, src, addr, ic->c->has_peer ? ic->c->peer.uid : 65534);
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_DISCOVERY_SERVE, &(struct discovery_serve_reply_fields){ 0 });
}

/* srv_waiter callback: the name is served. Under the registry's mutex. */
static void lookup_answer(void *ctx, int32_t task)
{
	struct iconn *ic = ctx;
	reply(ic, IDL_DISCOVERY_LOOKUP, &(struct discovery_lookup_reply_fields){ .task = task });
}

static int h_lookup(void *ctx, int32_t src, const struct discovery_lookup_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->srv)
		return BOXFS_IDL_UNAVAILABLE;
	if (m->name.len >= sizeof ic->w.name || !cstr(m->name, ic->w.name, sizeof ic->w.name))
		return BOXFS_IDL_INVALID_ARG;
	ic->w.fn = lookup_answer;
	ic->w.ctx = ic;
	ic->waiting = true;
	int32_t task;
	int r = srvfs_lookup(ic->srv, &ic->w, &task);
	if (r < 0)
		return rerr(r);
	if (r == 0)
		return reply(ic, IDL_DISCOVERY_LOOKUP,
			     &(struct discovery_lookup_reply_fields){ .task = task });
	return 0; /* answered by lookup_answer */
}

/* ---- task ---- */

/* Whether the peer may run programs as the server: the same user, or root,
 * on a local connection. */
static bool may_launch(const struct iconn *ic)
{
	return ic->c->local && ic->c->has_peer &&
	       (ic->c->peer.uid == 0 || ic->c->peer.uid == geteuid());
}

static uint32_t peer_uid(const struct iconn *ic)
{
	return ic->c->has_peer ? ic->c->peer.uid : 65534;
}

static int h_launch(void *ctx, int32_t src, const struct task_launch_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->tasks)
		return BOXFS_IDL_UNAVAILABLE;
	if (!may_launch(ic))
		return BOXFS_IDL_NOT_PERMITTED;
	char small[256];
	char *cmd = cstr(m->name_and_cmdline, small, sizeof small);
	if (!cmd)
		return BOXFS_IDL_INVALID_ARG;
	int32_t id = 0;
	int r = taskfs_launch(ic->tasks, cmd, peer_uid(ic), &id);
	if (cmd != small)
		free(cmd);
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_TASK_LAUNCH, &(struct task_launch_reply_fields){ .task = id });
}

static int h_alloc(void *ctx, int32_t src, const struct task_alloc_fields *m)
{
	(void)src, (void)m;
	struct iconn *ic = ctx;
	if (!ic->tasks)
		return BOXFS_IDL_UNAVAILABLE;
	int32_t id;
	int r = taskfs_alloc(ic->tasks, false, peer_uid(ic), &id);
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_TASK_ALLOC, &(struct task_alloc_reply_fields){ .task = id });
}

static int h_free(void *ctx, int32_t src, const struct task_free_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->tasks)
		return BOXFS_IDL_UNAVAILABLE;
	int r = taskfs_free(ic->tasks, m->task, peer_uid(ic));
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_TASK_FREE, &(struct task_free_reply_fields){ 0 });
}

/* task_exit_fn: sends task.exited. Under the task table's mutex. */
static void task_exited(void *owner, int32_t task)
{
	struct iconn *ic = owner;
	struct task_exited_fields f = { .task = task };
	send_msg(ic, TASK_EXITED_MSG, &IDL_TASK_EXITED->args, &f, -1);
}

static int h_watch(void *ctx, int32_t src, const struct task_watch_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->tasks)
		return BOXFS_IDL_UNAVAILABLE;
	int r = taskfs_watch(ic->tasks, m->task, ic, task_exited);
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_TASK_WATCH, &(struct task_watch_reply_fields){ 0 });
}

static int h_unwatch(void *ctx, int32_t src, const struct task_unwatch_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->tasks)
		return BOXFS_IDL_UNAVAILABLE;
	int r = taskfs_unwatch(ic->tasks, m->task, ic);
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_TASK_UNWATCH, &(struct task_unwatch_reply_fields){ 0 });
}

/* ---- shm ---- */

static int h_shm_create(void *ctx, int32_t src, const struct shm_create_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->dev)
		return BOXFS_IDL_UNAVAILABLE;
	int32_t id;
	int r = devfs_shm_create(ic->dev, m->size, &id);
	if (r == -EINVAL)
		return m->size ? BOXFS_IDL_TOO_LARGE : BOXFS_IDL_TOO_SMALL;
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_SHM_CREATE, &(struct shm_create_reply_fields){ .shm_id = id });
}

static int h_shm_map(void *ctx, int32_t src, const struct shm_map_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->dev || !bx_conn_unix(ic->c))
		return BOXFS_IDL_UNAVAILABLE; /* a descriptor travels only on a Unix socket */
	uint64_t size = 0;
	int fd = devfs_shm_fd(ic->dev, m->shm_id, m->writable, &size);
	if (fd < 0)
		return rerr(fd);
	/* vaddr carries the size: the client maps the descriptor where it likes */
	reply_fd(ic, IDL_SHM_MAP, &(struct shm_map_reply_fields){ .vaddr = size }, fd);
	close(fd);
	return 0;
}

static int h_shm_close(void *ctx, int32_t src, const struct shm_close_fields *m)
{
	(void)src;
	struct iconn *ic = ctx;
	if (!ic->dev)
		return BOXFS_IDL_UNAVAILABLE;
	int r = devfs_shm_close(ic->dev, m->shm_id);
	if (r < 0)
		return rerr(r);
	return reply(ic, IDL_SHM_CLOSE, &(struct shm_close_reply_fields){ 0 });
}

/* ---- fs and blk, on a worker ---- */

static struct iconn *ic_of(void *ctx)
{
	return ((struct job *)ctx)->ic;
}

static int walk(struct job *j, const struct boxfs_idl_buf *path, struct bx_vnode **v)
{
	char small[256];
	char *p = cstr(*path, small, sizeof small);
	if (!p || !path->len)
		return -EINVAL;
	int r = bx_ns_walk_path(j->ic->c->srv->ns, &j->call, p, v);
	if (p != small)
		free(p);
	return r;
}

/* A new handle for (v, fh), consuming both; its number (>= 1) or -errno. */
static int handle_put(struct iconn *ic, struct bx_vnode *v, void *fh)
{
	pthread_mutex_lock(&ic->mu);
	uint32_t i = 0;
	while (i < ic->nh && ic->h[i].v)
		i++;
	int r = (int)i + 1;
	if (i == ic->nh) {
		struct handle *h = NULL;
		if (ic->nh < MAX_HANDLES)
			h = realloc(ic->h, (ic->nh + 1) * sizeof *h);
		if (!h)
			r = ic->nh < MAX_HANDLES ? -ENOMEM : -EMFILE;
		else {
			ic->h = h;
			ic->nh++;
		}
	}
	if (r > 0)
		ic->h[i] = (struct handle){ v, fh };
	pthread_mutex_unlock(&ic->mu);
	if (r < 0) {
		bx_fs_release(v, fh);
		bx_vnode_put(&v);
	}
	return r;
}

/* The vnode (a new reference) and fh of handle n; NULL when there is none. */
static struct bx_vnode *handle_get(struct iconn *ic, int32_t n, void **fh)
{
	struct bx_vnode *v = NULL;
	pthread_mutex_lock(&ic->mu);
	if (n >= 1 && (uint32_t)n <= ic->nh && ic->h[n - 1].v) {
		v = bx_vnode_get(ic->h[n - 1].v);
		*fh = ic->h[n - 1].fh;
	}
	pthread_mutex_unlock(&ic->mu);
	return v;
}

static int open_vnode(struct job *j, struct bx_vnode *v)
{
	void *fh = NULL;
	int r = S_ISDIR(v->mode) ? -EISDIR : bx_fs_open(&j->call, v, O_RDWR, &fh);
	if (r == -EACCES || r == -EROFS || r == -EPERM || r == -EISDIR)
		r = bx_fs_open(&j->call, v, O_RDONLY, &fh);
	if (r < 0) {
		bx_vnode_put(&v);
		return r;
	}
	return handle_put(j->ic, v, fh);
}

static int h_fs_open(void *ctx, int32_t src, const struct fs_open_fields *m)
{
	(void)src;
	struct job *j = ctx;
	struct bx_vnode *v;
	int r = walk(j, &m->path, &v);
	if (r == 0)
		r = open_vnode(j, v);
	if (r < 0)
		return rerr(r);
	return reply(j->ic, IDL_FS_OPEN, &(struct fs_open_reply_fields){ .handle = r });
}

static int h_fs_create(void *ctx, int32_t src, const struct fs_create_fields *m)
{
	(void)src;
	struct job *j = ctx;
	char small[256];
	char *p = cstr(m->path, small, sizeof small);
	if (!p || !m->path.len)
		return BOXFS_IDL_INVALID_ARG;
	char *slash = strrchr(p, '/');
	const char *name = slash ? slash + 1 : p;
	int r;
	struct bx_vnode *dir = NULL, *v = NULL;
	if (slash)
		*slash = 0;
	if (!svc_name_ok(name, strlen(name)))
		r = -EINVAL;
	else
		r = bx_ns_walk_path(j->ic->c->srv->ns, &j->call, slash ? p : "", &dir);
	if (r == 0) {
		struct boxfs_attr a;
		void *fh = NULL;
		r = bx_fs_create(&j->call, dir, name, O_RDWR | (m->exist_ok ? 0 : O_EXCL), 0644, &v,
				 &a, &fh);
		if (r == 0)
			r = handle_put(j->ic, v, fh);
		bx_vnode_put(&dir);
	}
	if (p != small)
		free(p);
	if (r < 0)
		return rerr(r);
	return reply(j->ic, IDL_FS_CREATE, &(struct fs_create_reply_fields){ .handle = r });
}

static int h_fs_close(void *ctx, int32_t src, const struct fs_close_fields *m)
{
	(void)src;
	struct iconn *ic = ic_of(ctx);
	struct handle h = { 0 };
	pthread_mutex_lock(&ic->mu);
	if (m->handle >= 1 && (uint32_t)m->handle <= ic->nh) {
		h = ic->h[m->handle - 1];
		ic->h[m->handle - 1] = (struct handle){ 0 };
	}
	pthread_mutex_unlock(&ic->mu);
	if (!h.v)
		return BOXFS_IDL_INVALID_ARG;
	bx_fs_release(h.v, h.fh);
	bx_vnode_put(&h.v);
	return reply(ic, IDL_FS_CLOSE, &(struct fs_close_reply_fields){ 0 });
}

static int h_fs_read(void *ctx, int32_t src, const struct fs_read_fields *m)
{
	(void)src;
	struct job *j = ctx;
	void *fh;
	struct bx_vnode *v = handle_get(j->ic, m->handle, &fh);
	if (!v)
		return BOXFS_IDL_INVALID_ARG;
	if (m->len > BOXFS_IDL_MAX_OOL) {
		bx_vnode_put(&v);
		return BOXFS_IDL_TOO_LARGE;
	}
	void *buf = malloc(m->len ? m->len : 1);
	ssize_t n = buf ? bx_fs_read(&j->call, v, fh, buf, m->len, m->offset) : -ENOMEM;
	bx_vnode_put(&v);
	if (n >= 0)
		reply(j->ic, IDL_FS_READ,
		      &(struct fs_read_reply_fields){ .data = { buf, (uint32_t)n } });
	free(buf);
	return n < 0 ? rerr((int)n) : 0;
}

static int h_fs_write(void *ctx, int32_t src, const struct fs_write_fields *m)
{
	(void)src;
	struct job *j = ctx;
	void *fh;
	struct bx_vnode *v = handle_get(j->ic, m->handle, &fh);
	if (!v)
		return BOXFS_IDL_INVALID_ARG;
	ssize_t r = 0;
	for (size_t done_ = 0; r >= 0 && done_ < m->data.len;) {
		r = bx_fs_write(&j->call, v, fh, (const uint8_t *)m->data.ptr + done_,
				m->data.len - done_, m->offset + done_);
		if (r == 0)
			r = -EIO;
		if (r > 0)
			done_ += (size_t)r;
	}
	bx_vnode_put(&v);
	if (r < 0)
		return rerr((int)r);
	return reply(j->ic, IDL_FS_WRITE, &(struct fs_write_reply_fields){ 0 });
}

static int h_fs_stat(void *ctx, int32_t src, const struct fs_stat_fields *m)
{
	(void)src;
	struct job *j = ctx;
	struct bx_vnode *v;
	struct boxfs_attr a;
	int r = walk(j, &m->path, &v);
	if (r == 0) {
		r = bx_fs_getattr(&j->call, v, NULL, &a);
		bx_vnode_put(&v);
	}
	if (r < 0)
		return rerr(r);
	return reply(j->ic, IDL_FS_STAT, &(struct fs_stat_reply_fields){ .size = a.size });
}

static int h_blk_read(void *ctx, int32_t src, const struct blk_read_fields *m)
{
	(void)src;
	struct iconn *ic = ic_of(ctx);
	int fd;
	uint64_t size;
	int r = ic->dev ? devfs_blk(ic->dev, &fd, &size) : -ENODEV;
	if (r < 0)
		return rerr(r);
	if (m->num_sectors > BOXFS_IDL_MAX_OOL / SECTOR)
		return BOXFS_IDL_TOO_LARGE;
	uint64_t nsec = size / SECTOR;
	if (m->sector > nsec || m->num_sectors > nsec - m->sector)
		return BOXFS_IDL_INVALID_ARG;
	size_t len = (size_t)m->num_sectors * SECTOR;
	void *buf = malloc(len ? len : 1);
	if (!buf)
		return BOXFS_IDL_NO_MEMORY;
	ssize_t n = pread(fd, buf, len, (off_t)(m->sector * SECTOR));
	if (n >= 0 && (size_t)n < len)
		memset((uint8_t *)buf + n, 0, len - (size_t)n);
	if (n >= 0)
		reply(ic, IDL_BLK_READ,
		      &(struct blk_read_reply_fields){ .data = { buf, (uint32_t)len } });
	free(buf);
	return n < 0 ? rerr(-errno) : 0;
}

static int h_blk_write(void *ctx, int32_t src, const struct blk_write_fields *m)
{
	(void)src;
	struct iconn *ic = ic_of(ctx);
	int fd;
	uint64_t size;
	int r = ic->dev ? devfs_blk(ic->dev, &fd, &size) : -ENODEV;
	if (r < 0)
		return rerr(r);
	if (r == 1)
		return BOXFS_IDL_NOT_PERMITTED; /* a read-only image */
	uint64_t nsec = size / SECTOR, n = m->data.len / SECTOR;
	if (m->data.len % SECTOR || m->sector > nsec || n > nsec - m->sector)
		return BOXFS_IDL_INVALID_ARG;
	ssize_t w = pwrite(fd, m->data.ptr, m->data.len, (off_t)(m->sector * SECTOR));
	if (w < 0)
		return rerr(-errno);
	if ((size_t)w != m->data.len)
		return BOXFS_IDL_NO_MEMORY;
	return reply(ic, IDL_BLK_WRITE, &(struct blk_write_reply_fields){ 0 });
}

/* ---- dispatch ---- */

static const struct idl_server_ops loop_ops = {
	.benchmark_nop = h_nop,
	.benchmark_nop_with_ool = h_nop_with_ool,
	.time_gettimeofday = h_gettimeofday,
	.rtc_read = h_rtc_read,
	.discovery_serve = h_serve,
	.discovery_lookup = h_lookup,
	.task_alloc = h_alloc,
	.task_free = h_free,
	.task_launch = h_launch,
	.task_watch = h_watch,
	.task_unwatch = h_unwatch,
	.shm_create = h_shm_create,
	.shm_map = h_shm_map,
	.shm_close = h_shm_close,
};

static const struct idl_server_ops worker_ops = {
	.fs_open = h_fs_open,
	.fs_create = h_fs_create,
	.fs_close = h_fs_close,
	.fs_read = h_fs_read,
	.fs_write = h_fs_write,
	.fs_stat = h_fs_stat,
	.blk_read = h_blk_read,
	.blk_write = h_blk_write,
};

static bool on_worker(int32_t type)
{
	switch (type) {
	case FS_OPEN_MSG:
	case FS_CREATE_MSG:
	case FS_CLOSE_MSG:
	case FS_READ_MSG:
	case FS_WRITE_MSG:
	case FS_STAT_MSG:
	case BLK_READ_MSG:
	case BLK_WRITE_MSG:
		return true;
	}
	return false;
}

static void run_job(void *arg)
{
	struct job *j = arg;
	int r = idl_dispatch(&worker_ops, j, j->type, j->ic->task, j->body, j->len);
	if (r < 0)
		reply_err(j->ic, r);
	pthread_mutex_lock(&j->ic->mu);
	if (j->ic->job == j)
		j->ic->job = NULL;
	pthread_mutex_unlock(&j->ic->mu);
	bx_call_destroy(&j->call);
	bx_conn_put(&j->c);
	free(j);
}

static int submit(struct iconn *ic, int32_t type, const uint8_t *body, size_t len)
{
	struct job *j = malloc(sizeof *j + len);
	if (!j)
		return BOXFS_IDL_NO_MEMORY;
	j->ic = ic;
	j->type = type;
	j->len = len;
	memcpy(j->body, body, len);
	static const struct boxfs_cred nobody = { .uid = 65534, .gid = 65534 };
	bx_call_init(&j->call, ic->c->has_peer ? &ic->c->peer : &nobody);
	j->c = bx_conn_get(ic->c);
	pthread_mutex_lock(&ic->mu);
	ic->job = j;
	pthread_mutex_unlock(&ic->mu);
	if (bx_pool_submit(ic->c->srv, run_job, j) < 0) {
		pthread_mutex_lock(&ic->mu);
		ic->job = NULL;
		pthread_mutex_unlock(&ic->mu);
		bx_call_destroy(&j->call);
		bx_conn_put(&j->c);
		free(j);
		return BOXFS_IDL_NO_MEMORY;
	}
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static ssize_t door_frame_size(struct bx_conn *c, const uint8_t *hdr)
{
	uint32_t len = le32(hdr);
	if (len < 8 || len > MAX_FRAME - 4) {
		trace(c->door_state, "<-", 0, len);
		return -EPROTO;
	}
	return 4 + (ssize_t)len;
}

static void door_frame(struct bx_conn *c, const uint8_t *frame, size_t len)
{
	struct iconn *ic = c->door_state;
	if (atomic_exchange(&ic->busy, true)) {
		bx_conn_close(c); /* a second request before the first is answered */
		return;
	}
	int32_t type = (int32_t)le32(frame + 4);
	const uint8_t *body = frame + BOXFS_IDL_HDRSZ;
	size_t blen = len - BOXFS_IDL_HDRSZ;
	trace(ic, "<-", type, blen);
	int r;
	if (on_worker(type))
		r = submit(ic, type, body, blen);
	else
		r = idl_dispatch(&loop_ops, ic, type, ic->task, body, blen);
	if (r < 0)
		reply_err(ic, r);
}

static bool is_srv(const struct boxfs_fs *fs)
{
	return srvfs_is(fs);
}

static bool is_task(const struct boxfs_fs *fs)
{
	return taskfs_is(fs);
}

static bool is_dev(const struct boxfs_fs *fs)
{
	return devfs_is(fs);
}

static int door_open(struct bx_conn *c)
{
	struct iconn *ic = calloc(1, sizeof *ic);
	if (!ic)
		return -ENOMEM;
	ic->c = c;
	struct bx_mount *m;
	if ((m = bx_ns_find(c->srv->ns, is_srv)))
		ic->srv = srvfs_of(m->fs);
	if ((m = bx_ns_find(c->srv->ns, is_task)))
		ic->tasks = taskfs_of(m->fs);
	if ((m = bx_ns_find(c->srv->ns, is_dev)))
		ic->dev = devfs_of(m->fs);
	ic->task = (int32_t)(c->id & 0x3fffffff) + 1;
	if (ic->tasks &&
	    taskfs_alloc(ic->tasks, true, c->has_peer ? c->peer.uid : 65534, &ic->task) < 0) {
		free(ic);
		return -ENOMEM;
	}
	pthread_mutex_init(&ic->mu, NULL);
	atomic_init(&ic->busy, false);
	c->door_state = ic;
	c->max_frame = MAX_FRAME;
	return 0;
}

static void door_hangup(struct bx_conn *c)
{
	struct iconn *ic = c->door_state;
	if (ic->waiting && ic->srv)
		srvfs_cancel(ic->srv, &ic->w);
	pthread_mutex_lock(&ic->mu);
	if (ic->job)
		bx_call_cancel(&ic->job->call);
	pthread_mutex_unlock(&ic->mu);
	if (ic->tasks) {
		taskfs_unwatch_all(ic->tasks, ic);
		taskfs_client_gone(ic->tasks, ic->task);
	}
	if (ic->srv)
		srvfs_withdraw(ic->srv, ic->task);
}

static void door_free(struct bx_conn *c)
{
	struct iconn *ic = c->door_state;
	if (!ic)
		return;
	for (uint32_t i = 0; i < ic->nh; i++) {
		if (ic->h[i].v) {
			bx_fs_release(ic->h[i].v, ic->h[i].fh);
			bx_vnode_put(&ic->h[i].v);
		}
	}
	free(ic->h);
	pthread_mutex_destroy(&ic->mu);
	free(ic);
}

const struct bx_door bx_door_idl = {
	.name = "idl",
	.hdr_size = 4,
	.frame_size = door_frame_size,
	.open = door_open,
	.frame = door_frame,
	.hangup = door_hangup,
	.free = door_free,
};
