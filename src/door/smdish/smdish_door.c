/*
 * smdish_door.c — the smdish door: memfiles over a byte stream
 * (docs/protocols/smdish.md), served from the memfs instance mounted in the
 * server's namespace.
 *
 * Each connection has at most one descriptor table: two arrays, of fds and
 * of mapfds, each handing out its lowest free number. Every entry holds a
 * reference to its memfile. Locks belong to the connection (the owner is
 * this door's state for the connection), so a table adopted through fork
 * and child_attach brings no lock with it.
 *
 * Every request is answered on the loop thread: the memfile operations never
 * wait. The one exception is xlock with SMD_XLOCK_WAIT, which queues the
 * connection on the memfile; whoever releases the lock (another connection's
 * unlock or close, a 9P unlock, a hang-up) sends the reply, from its own
 * thread. A request that arrives while a wait is pending breaks the rule of
 * one request at a time and closes the connection.
 */
#include "core/server_impl.h"
#include "fs/mem/memfs_impl.h"

#include <boxfs/smdish.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Descriptors handed out per table, each kind. */
enum { MAX_SLOTS = 65536 };

/* A table of memfile references indexed by number. */
struct slots {
	struct memfile **v;
	uint32_t len, cap; /* v[0..len) are in use or free (NULL) */
	uint32_t low;	   /* no free slot below this */
};

struct table {
	struct slots fd, map;
};

struct sconn {
	struct bx_conn *c;
	struct mf_store *st;
	struct table *t; /* NULL until new_fdtable or child_attach */
	bool nodata;	 /* the lock being answered carries no segment */
	/* A blocking lock: queued on wait_mf while waiting is true. */
	struct mf_waiter w;
	struct memfile *wait_mf;
	atomic_bool waiting;
};

/* ---- tables ---- */

static int slot_put(struct slots *s, struct memfile *m)
{
	uint32_t i = s->low;
	while (i < s->len && s->v[i])
		i++;
	if (i == s->len) {
		if (s->len == MAX_SLOTS)
			return -EMFILE;
		if (s->len == s->cap) {
			uint32_t cap = s->cap ? 2 * s->cap : 16;
			struct memfile **v = realloc(s->v, cap * sizeof *v);
			if (!v)
				return -ENOMEM;
			s->v = v;
			s->cap = cap;
		}
		s->len++;
	}
	s->v[i] = m;
	s->low = i + 1;
	return (int)i;
}

static struct memfile *slot_get(const struct slots *s, uint32_t i)
{
	return i < s->len ? s->v[i] : NULL;
}

/* Removes entry i; answers its memfile (the reference goes to the caller). */
static struct memfile *slot_take(struct slots *s, uint32_t i)
{
	struct memfile *m = slot_get(s, i);
	if (m) {
		s->v[i] = NULL;
		if (i < s->low)
			s->low = i;
		while (s->len && !s->v[s->len - 1])
			s->len--;
	}
	return m;
}

static bool slots_copy(struct slots *to, const struct slots *from)
{
	*to = (struct slots){ .len = from->len, .cap = from->len, .low = from->low };
	if (!from->len)
		return true;
	if (!(to->v = malloc(from->len * sizeof *to->v)))
		return false;
	for (uint32_t i = 0; i < from->len; i++)
		if ((to->v[i] = from->v[i]))
			mf_ref(to->v[i]);
	return true;
}

/* Puts every reference; when o is set, first releases o's locks. */
static void slots_clear(struct slots *s, const struct mf_owner *o)
{
	for (uint32_t i = 0; i < s->len; i++) {
		if (!s->v[i])
			continue;
		if (o)
			mf_release(s->v[i], o);
		mf_put(s->v[i]);
	}
	free(s->v);
	*s = (struct slots){ 0 };
}

static void table_free(struct table *t, const struct mf_owner *o)
{
	if (!t)
		return;
	slots_clear(&t->fd, o);
	slots_clear(&t->map, NULL);
	free(t);
}

/* The drop function of a fork record: it holds references, never locks. */
static void record_drop(void *rec)
{
	table_free(rec, NULL);
}

static struct mf_owner owner_of(const struct sconn *sc)
{
	return (struct mf_owner){ .session = sc, .proc = 0 };
}

/* Closes the connection's table, releasing its locks. */
static void drop_table(struct sconn *sc)
{
	struct mf_owner o = owner_of(sc);
	table_free(sc->t, &o);
	sc->t = NULL;
}

/* ---- replies ---- */

static void trace(const struct sconn *sc, const char *dir, uint32_t code, uint32_t size)
{
	FILE *out = sc->c->srv->opts.debug;
	if (!out)
		return;
	const char *name = dir[0] == '<' ? smd_op_name(code) : NULL;
	if (name)
		fprintf(out, "%u smdish %s %s (%u bytes)\n", sc->c->id, dir, name, size);
	else
		fprintf(out, "%u smdish %s %s %u (%u bytes)\n", sc->c->id, dir,
			dir[0] == '<' ? "op" : "status", code, size);
}

/* A reply of a header and up to two pieces of body; fd (>= 0) passed along. */
static void send_reply(struct sconn *sc, uint32_t status, const void *a, size_t alen, const void *b,
		       size_t blen, int fd)
{
	uint8_t hdr[SMD_HDRSZ];
	uint32_t size = (uint32_t)(alen + blen);
	uint32_t w[2] = { htobe32(status), htobe32(size) };
	memcpy(hdr, w, sizeof hdr);
	struct iovec iov[3] = { { hdr, sizeof hdr }, { (void *)a, alen }, { (void *)b, blen } };
	trace(sc, "->", status, size);
	if (fd >= 0)
		bx_conn_sendv_fd(sc->c, iov, 3, fd);
	else
		bx_conn_sendv(sc->c, iov, 3);
}

static void reply_status(struct sconn *sc, int err)
{
	send_reply(sc, (uint32_t)(err < 0 ? -err : err), NULL, 0, NULL, 0, -1);
}

static void reply_u32(struct sconn *sc, uint32_t v)
{
	uint32_t be = htobe32(v);
	send_reply(sc, 0, &be, sizeof be, NULL, 0, -1);
}

/* mf_send_fn: answers a lock, with the segment unless sc->nodata. Runs
 * under the memfile's mutex, on whichever thread granted the lock. */
static void lock_granted(void *ctx, const uint8_t *seg, uint32_t size)
{
	struct sconn *sc = ctx;
	atomic_store(&sc->waiting, false);
	if (!seg || sc->nodata) {
		send_reply(sc, 0, NULL, 0, NULL, 0, -1);
		return;
	}
	uint32_t be = htobe32(size);
	send_reply(sc, 0, &be, sizeof be, seg, size, -1);
}

/* ---- the operations ---- */

static int do_open(struct sconn *sc, const struct smd_req *r)
{
	struct memfile *m;
	int rc = mf_open(sc->st, (const char *)r->name.p, r->name.len, &m);
	if (rc < 0)
		return rc;
	int fd = slot_put(&sc->t->fd, m);
	if (fd < 0) {
		mf_put(m);
		return fd == -ENOMEM ? -ENOMEM : -EMFILE;
	}
	reply_u32(sc, (uint32_t)fd);
	return 0;
}

static int do_close(struct sconn *sc, uint32_t fd)
{
	struct memfile *m = slot_take(&sc->t->fd, fd);
	if (!m)
		return -EBADF;
	struct mf_owner o = owner_of(sc);
	mf_release(m, &o);
	mf_put(m);
	reply_status(sc, 0);
	return 0;
}

static int do_lock(struct sconn *sc, uint32_t fd, uint32_t flags)
{
	struct memfile *m = slot_get(&sc->t->fd, fd);
	if (!m)
		return -EBADF;
	if (flags & ~(uint32_t)(SMD_XLOCK_WAIT | SMD_XLOCK_NODATA))
		return -EINVAL;
	struct mf_owner o = owner_of(sc);
	sc->nodata = flags & SMD_XLOCK_NODATA;
	if (!(flags & SMD_XLOCK_WAIT))
		return mf_lock(m, &o, lock_granted, sc, NULL);
	sc->wait_mf = m;
	atomic_store(&sc->waiting, true);
	mf_lock(m, &o, lock_granted, sc, &sc->w); /* answered now or when granted */
	return 0;
}

static int do_unlock(struct sconn *sc, const struct smd_req *r)
{
	struct memfile *m = slot_get(&sc->t->fd, r->unlock.fd);
	if (!m)
		return -EBADF;
	struct mf_owner o = owner_of(sc);
	int rc = mf_unlock(m, &o, r->unlock.has_data, r->unlock.data.p, r->unlock.data.len);
	if (rc == 0)
		reply_status(sc, 0);
	return rc;
}

static int do_mmap(struct sconn *sc, const struct smd_req *r, bool shared)
{
	struct memfile *m = slot_get(&sc->t->fd, r->mmap.fd);
	if (!m)
		return -EBADF;
	if (shared && !bx_conn_unix(sc->c))
		return -EOPNOTSUPP; /* a descriptor travels only on a Unix socket */
	/* The number first: an mmap refused for want of one makes no segment. */
	int mapfd = slot_put(&sc->t->map, m);
	if (mapfd < 0)
		return mapfd;
	int rc = mf_map(m, r->mmap.size);
	int segfd = rc == 0 && shared ? mf_segment_fd(m) : -1;
	if (rc < 0 || (shared && segfd < 0)) {
		slot_take(&sc->t->map, (uint32_t)mapfd);
		return rc < 0 ? rc : segfd;
	}
	mf_ref(m);
	uint32_t be = htobe32((uint32_t)mapfd);
	send_reply(sc, 0, &be, sizeof be, NULL, 0, segfd);
	if (segfd >= 0)
		close(segfd);
	return 0;
}

static int do_munmap(struct sconn *sc, uint32_t mapfd)
{
	struct memfile *m = slot_take(&sc->t->map, mapfd);
	if (!m)
		return -EBADF;
	mf_put(m);
	reply_status(sc, 0);
	return 0;
}

static int do_new_fdtable(struct sconn *sc)
{
	struct table *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	drop_table(sc);
	sc->t = t;
	reply_status(sc, 0);
	return 0;
}

static int do_fork(struct sconn *sc)
{
	struct table *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	if (!slots_copy(&t->fd, &sc->t->fd) || !slots_copy(&t->map, &sc->t->map)) {
		table_free(t, NULL);
		return -ENOMEM;
	}
	uint64_t token;
	int rc = bx_token_put(sc->c->srv, &bx_door_smdish, t, record_drop, &token);
	if (rc < 0) {
		table_free(t, NULL);
		return rc;
	}
	uint64_t be = htobe64(token);
	send_reply(sc, 0, &be, sizeof be, NULL, 0, -1);
	return 0;
}

static int do_child_attach(struct sconn *sc, uint64_t token)
{
	struct table *t = bx_token_take(sc->c->srv, &bx_door_smdish, token);
	if (!t)
		return -EINVAL;
	drop_table(sc);
	sc->t = t;
	reply_status(sc, 0);
	return 0;
}

static int do_list(struct sconn *sc)
{
	size_t cap = mf_list_size(sc->st);
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return -ENOMEM;
	size_t len = mf_list(sc->st, buf, cap); /* memfiles opened meanwhile are left out */
	send_reply(sc, 0, buf, len, NULL, 0, -1);
	free(buf);
	return 0;
}

/* Serves one decoded request; a negative answer is sent as the status. */
static int serve(struct sconn *sc, const struct smd_req *r)
{
	switch (r->op) {
	case SMD_OPEN:
		return do_open(sc, r);
	case SMD_CLOSE:
		return do_close(sc, r->fd);
	case SMD_LOCK:
		return do_lock(sc, r->fd, 0);
	case SMD_XLOCK:
		return do_lock(sc, r->xlock.fd, r->xlock.flags);
	case SMD_UNLOCK:
		return do_unlock(sc, r);
	case SMD_MMAP:
	case SMD_MMAP_SHARED:
		return do_mmap(sc, r, r->op == SMD_MMAP_SHARED);
	case SMD_MUNMAP:
		return do_munmap(sc, r->fd);
	case SMD_NEW_FDTABLE:
		return do_new_fdtable(sc);
	case SMD_FORK:
		return do_fork(sc);
	case SMD_CHILD_ATTACH:
		return do_child_attach(sc, r->ident);
	case SMD_LIST:
		return do_list(sc);
	}
	return -ENOSYS;
}

/* ---- the door ---- */

static uint64_t max_body(const struct sconn *sc)
{
	return (uint64_t)mf_max_segment(sc->st) + 8; /* unlock: fd, data_size, data */
}

static ssize_t door_frame_size(struct bx_conn *c, const uint8_t *hdr)
{
	struct sconn *sc = c->door_state;
	struct smd_hdr h;
	smd_hdr_unpack(&h, hdr);
	if (h.body_size > max_body(sc)) {
		trace(sc, "<-", h.code, h.body_size);
		reply_status(sc, -EPROTO); /* and the connection closes */
		return -EPROTO;
	}
	return SMD_HDRSZ + (ssize_t)h.body_size;
}

static void door_frame(struct bx_conn *c, const uint8_t *frame, size_t len)
{
	struct sconn *sc = c->door_state;
	if (atomic_load(&sc->waiting)) {
		bx_conn_close(c); /* a second request while a lock waits */
		return;
	}
	sc->wait_mf = NULL;
	bx_tokens_sweep(c->srv);
	struct smd_hdr h;
	smd_hdr_unpack(&h, frame);
	trace(sc, "<-", h.code, h.body_size);
	struct smd_req r;
	int rc;
	if (!smd_op_name(h.code))
		rc = -ENOSYS;
	else if (!sc->t && h.code != SMD_NEW_FDTABLE && h.code != SMD_CHILD_ATTACH)
		rc = -EPERM;
	else if (smd_req_unpack(&r, h.code, frame + SMD_HDRSZ, len - SMD_HDRSZ) < 0)
		rc = -EPROTO;
	else
		rc = serve(sc, &r);
	if (rc < 0)
		reply_status(sc, rc);
}

static bool store_mount(const struct boxfs_fs *fs)
{
	return mf_is_memfs(fs);
}

static int door_usable(struct bx_server *srv)
{
	return bx_ns_find(srv->ns, store_mount) ? 0 : -ENOENT;
}

static int door_open(struct bx_conn *c)
{
	struct bx_mount *m = bx_ns_find(c->srv->ns, store_mount);
	if (!m)
		return -ENOENT;
	struct sconn *sc = calloc(1, sizeof *sc);
	if (!sc)
		return -ENOMEM;
	sc->c = c;
	sc->st = mf_store_of(m->fs);
	atomic_init(&sc->waiting, false);
	c->door_state = sc;
	c->max_frame = SMD_HDRSZ + (size_t)max_body(sc);
	return 0;
}

static void door_hangup(struct bx_conn *c)
{
	struct sconn *sc = c->door_state;
	if (sc->wait_mf)
		mf_cancel(sc->wait_mf, &sc->w); /* if granted, the lock goes with the table */
	sc->wait_mf = NULL;
	drop_table(sc);
}

static void door_free(struct bx_conn *c)
{
	struct sconn *sc = c->door_state;
	if (sc)
		drop_table(sc); /* a connection that never hung up (a failed open) */
	free(sc);
}

const struct bx_door bx_door_smdish = {
	.name = "smdish",
	.hdr_size = SMD_HDRSZ,
	.frame_size = door_frame_size,
	.open = door_open,
	.frame = door_frame,
	.hangup = door_hangup,
	.free = door_free,
	.usable = door_usable,
};
