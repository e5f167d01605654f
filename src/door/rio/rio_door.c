/*
 * rio_door.c — the rio door: Magenta's remote I/O over SOCK_SEQPACKET
 * channels (docs/protocols/rio.md), one connection per channel.
 *
 * A channel is one connection of this door (BX_DOOR_PACKETS: the loop hands
 * over one packet per frame, with its descriptors). Its state is the object
 * it serves: a vnode, the backend's open handle, the open flags, its own
 * offset and directory position. A channel accepted from a listener serves
 * the namespace root as a directory, acting for the peer's SO_PEERCRED
 * credentials; OPEN and CLONE make new channels from the socket the client
 * passed (bx_conn_adopt), which inherit the credentials of the channel they
 * came through, and answer the object description there, never on the
 * asking channel. A request that brings the wrong descriptors, or none, is
 * answered on the channel it came on.
 *
 * Threads. When every mounted backend is inline a request is answered on
 * the loop thread. Otherwise it is tried there with boxfs_call_nowait()
 * (backends with BOXFS_FS_TRY_INLINE), and runs on the worker pool when it
 * would wait; nothing is committed before a backend call that may answer
 * BOXFS_EWOULDWAIT. While one request of a channel is on the pool the
 * channel's later requests queue behind it (ch->mu), so the requests of a
 * channel run and are answered in order and its offset needs no other lock.
 *
 * Forwarding: an OPEN whose path, resolved against the channel's absolute
 * path, crosses a prefix given to boxfs_server_forward is sent on, with the
 * client's channel, to the other server's root channel; that server answers
 * the client, and this one keeps nothing of it.
 *
 * Tokens (RENAME/LINK): IOCTL GET_TOKEN on a directory channel names that
 * directory by a random 64-bit number, valid while the channel lives, looked
 * up in a table of this file (tokens_mu).
 */
#include "core/call_impl.h"
#include "core/server_impl.h"

#include "base/dial.h"

#include <boxfs/rio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* UNLINK arg: what the name may be (0: either). */
enum { UNLINK_NOTDIR = 1, UNLINK_DIR = AT_REMOVEDIR };

struct rreq {
	struct rreq *next;
	struct rio_msg m;
	int fds[RIO_HANDLES];
	unsigned nfds;
	struct boxfs_call call;
	uint8_t data[]; /* m.data points here once copied */
};

struct rchan {
	struct bx_conn *c;
	struct boxfs_cred cred; /* groups points at groups below */
	uint32_t groups[32];
	bool cred_set;	    /* cred is final (the peer's is known after open) */
	struct bx_vnode *v; /* the object served */
	void *fh;	    /* the backend's open handle */
	bool opened;	    /* fh came from open/create (release it) */
	int flags;	    /* open flags */
	char *path;	    /* v's absolute path, for forwarding; NULL when unknown */
	uint64_t off;	    /* READ/WRITE/SEEK */
	uint64_t cookie;    /* READDIR: where the next one continues */
	bool dir_end;
	uint64_t token; /* 0: none handed out */
	struct rchan *tnext;

	pthread_mutex_t mu; /* the queue below */
	struct rreq *qhead, *qtail;
	unsigned nq; /* queued: at most opts.max_requests, then EAGAIN */
	bool busy;   /* a worker runs this channel's requests */
	bool closed; /* CLOSE answered or hung up: nothing more is served */
};

struct bx_rio_fwd {
	struct bx_rio_fwd *next;
	char *path; /* normalized, without trailing '/' */
	char *dial;
	pthread_mutex_t mu;
	int fd; /* the other server's root channel, or -1 */
};

static const struct boxfs_cred nobody = { .uid = 65534, .gid = 65534 };

static pthread_mutex_t tokens_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rchan *tokens;

/* ---- replies ---- */

static void trace_msg(struct rchan *ch, const char *dir, const struct rio_msg *m)
{
	FILE *out = ch->c->srv->opts.debug;
	if (!out)
		return;
	const char *name = rio_op_name(m->op);
	if (name)
		fprintf(out, "%u rio %s %s txid %u arg %d arg2 %llu len %u h %u\n", ch->c->id, dir,
			name, m->txid, m->arg, (unsigned long long)m->arg2, m->datalen, m->hcount);
	else
		fprintf(out, "%u rio %s op %#x txid %u len %u\n", ch->c->id, dir, m->op, m->txid,
			m->datalen);
}

/* A STATUS reply: status in arg, arg2, data, and fd (>= 0) passed along. */
static void reply(struct rchan *ch, uint32_t txid, int32_t status, uint64_t arg2, const void *data,
		  size_t len, int fd)
{
	struct rio_msg m = { .txid = txid,
			     .op = RIO_STATUS,
			     .datalen = (uint32_t)len,
			     .arg = status,
			     .arg2 = arg2,
			     .hcount = fd >= 0 };
	uint8_t hdr[RIO_HDRSZ];
	rio_hdr_pack(hdr, &m);
	trace_msg(ch, "->", &m);
	struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)data, len } };
	bx_conn_sendv_fd(ch->c, iov, 2, fd);
}

/* Sends an object description on a channel not served (yet): blocking, as
 * the socket is fresh and the description small. */
static void send_object(int fd, const struct rio_object *o, int passfd)
{
	uint8_t buf[RIO_OBJSZ];
	rio_object_pack(buf, o);
	struct iovec iov = { buf, sizeof buf };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (passfd >= 0) {
		m.msg_control = cm.b;
		m.msg_controllen = sizeof cm.b;
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &passfd, sizeof passfd);
	}
	while (sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EINTR)
		;
}

static void fail_object(int fd, int err)
{
	struct rio_object o = { .status = err };
	send_object(fd, &o, -1);
	close(fd);
}

/* ---- channels ---- */

/* An accepted channel acts for its peer: SO_PEERCRED, and the supplementary
 * groups the peer process had when it connected (from /proc). */
static void peer_cred(struct rchan *ch)
{
	struct ucred uc;
	socklen_t l = sizeof uc;
	ch->cred_set = true;
	if (!ch->c->has_peer || getsockopt(ch->c->rfd, SOL_SOCKET, SO_PEERCRED, &uc, &l) < 0)
		return;
	ch->cred = (struct boxfs_cred){ .uid = uc.uid, .gid = uc.gid, .groups = ch->groups };
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%d/status", (int)uc.pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		char *p = line + 7, *end;
		while (ch->cred.ngroups < 32) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			ch->groups[ch->cred.ngroups++] = (uint32_t)g;
			p = end;
		}
		break;
	}
	fclose(f);
}

static struct rchan *chan_new(struct bx_conn *c)
{
	struct rchan *ch = calloc(1, sizeof *ch);
	if (!ch)
		return NULL;
	ch->c = c;
	ch->cred = nobody;
	ch->cred.groups = ch->groups;
	pthread_mutex_init(&ch->mu, NULL);
	return ch;
}

/* Gives back what the channel holds of its object. */
static void chan_release(struct rchan *ch)
{
	if (ch->token) {
		pthread_mutex_lock(&tokens_mu);
		for (struct rchan **pp = &tokens; *pp; pp = &(*pp)->tnext)
			if (*pp == ch) {
				*pp = ch->tnext;
				break;
			}
		pthread_mutex_unlock(&tokens_mu);
		ch->token = 0;
	}
	if (ch->v && ch->opened)
		bx_fs_release(ch->v, ch->fh);
	ch->opened = false;
	ch->fh = NULL;
	if (ch->v)
		bx_vnode_put(&ch->v);
	free(ch->path);
	ch->path = NULL;
}

static void req_free(struct rreq *r)
{
	for (unsigned i = 0; i < r->nfds; i++)
		if (r->fds[i] >= 0)
			close(r->fds[i]);
	bx_call_destroy(&r->call);
	free(r);
}

/* ---- paths and names ---- */

static bool good_name(const char *name, size_t len)
{
	return len > 0 && len <= 255 && !memchr(name, '/', len) && !memchr(name, 0, len) &&
	       !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.');
}

/* Copies a name of the request into buf (NUL-terminated) after checking it. */
static int take_name(char buf[256], const char *name, size_t len)
{
	if (!good_name(name, len))
		return len > 255 ? -ENAMETOOLONG : -EINVAL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return 0;
}

/* Appends the component (len bytes) to the absolute path in p (cap bytes),
 * climbing for ".."; false when it does not fit. */
static bool path_push(char *p, size_t cap, const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return true;
	if (len == 2 && name[0] == '.' && name[1] == '.') {
		char *slash = strrchr(p, '/');
		if (slash == p)
			p[1] = '\0';
		else if (slash)
			*slash = '\0';
		return true;
	}
	size_t n = strlen(p);
	bool root = n == 1;
	if (n + !root + len + 1 > cap)
		return false;
	if (!root)
		p[n++] = '/';
	memcpy(p + n, name, len);
	p[n + len] = '\0';
	return true;
}

/* ---- forwarding ---- */

static void fwd_drop(struct bx_rio_fwd *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

void bx_rio_fwd_free(struct bx_server *srv)
{
	for (struct bx_rio_fwd *f = srv->rio_fwd, *next; f; f = next) {
		next = f->next;
		fwd_drop(f);
		pthread_mutex_destroy(&f->mu);
		free(f->path);
		free(f->dial);
		free(f);
	}
	srv->rio_fwd = NULL;
}

int boxfs_server_forward(struct boxfs_server *s, const char *path, const char *dial)
{
	struct bx_server *srv = (struct bx_server *)s;
	if (!path || path[0] != '/' || !dial)
		return -EINVAL;
	struct bx_addr a;
	int r = bx_addr_parse(&a, dial);
	if (r < 0)
		return r;
	if (a.net != BX_NET_UNIX)
		return -EPROTONOSUPPORT;
	char norm[4096] = "/";
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n && !path_push(norm, sizeof norm, p, n))
			return -ENAMETOOLONG;
		p += n;
	}
	if (strcmp(norm, "/") == 0)
		return -EINVAL;
	struct bx_rio_fwd *f = calloc(1, sizeof *f);
	if (!f || !(f->path = strdup(norm)) || !(f->dial = strdup(dial))) {
		if (f)
			free(f->path);
		free(f);
		return -ENOMEM;
	}
	f->fd = -1;
	pthread_mutex_init(&f->mu, NULL);
	f->next = srv->rio_fwd;
	srv->rio_fwd = f;
	return 0;
}

/* The forward whose prefix path (absolute, normalized) crosses, with *rest
 * pointing at what follows it in path. */
static struct bx_rio_fwd *fwd_find(struct bx_server *srv, const char *path, const char **rest)
{
	for (struct bx_rio_fwd *f = srv->rio_fwd; f; f = f->next) {
		size_t n = strlen(f->path);
		if (strncmp(path, f->path, n) == 0 && (path[n] == '\0' || path[n] == '/')) {
			*rest = path + n;
			return f;
		}
	}
	return NULL;
}

/* Passes an OPEN of rest with the client's channel chfd on to f's server. */
static int fwd_open(struct bx_rio_fwd *f, const struct rio_msg *m, const char *rest, int chfd)
{
	while (*rest == '/')
		rest++;
	size_t len = strlen(rest);
	if (len > RIO_CHUNK)
		return -ENAMETOOLONG;
	struct rio_msg out = { .txid = m->txid,
			       .op = RIO_OPEN,
			       .datalen = (uint32_t)len,
			       .arg = m->arg,
			       .arg2 = m->arg2,
			       .hcount = 1 };
	uint8_t hdr[RIO_HDRSZ];
	rio_hdr_pack(hdr, &out);
	struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)rest, len } };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = {
		.msg_iov = iov, .msg_iovlen = 2, .msg_control = cm.b, .msg_controllen = sizeof cm.b
	};
	struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &chfd, sizeof chfd);
	int r = -EHOSTUNREACH;
	pthread_mutex_lock(&f->mu);
	for (int tries = 0; tries < 2; tries++) {
		if (f->fd < 0 && (f->fd = bx_dial_type(f->dial, SOCK_SEQPACKET)) < 0) {
			r = f->fd;
			f->fd = -1;
			break;
		}
		/* Errors the other server answered on this channel: dropped. */
		uint8_t junk[RIO_MSGMAX];
		while (recv(f->fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
			;
		ssize_t n;
		do
			n = sendmsg(f->fd, &mh, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n >= 0) {
			r = 0;
			break;
		}
		fwd_drop(f); /* a server that went away: dial again once */
	}
	pthread_mutex_unlock(&f->mu);
	return r;
}

/* ---- the operations ---- */

static bool is_dir(const struct rchan *ch)
{
	return S_ISDIR(ch->v->mode);
}

static bool writable(const struct rchan *ch)
{
	return (ch->flags & O_ACCMODE) != O_RDONLY;
}

/* VMOFILE: a regular host file opened read-only is read directly. */
static bool vmo_wanted(const struct bx_vnode *v, int flags, bool opened)
{
	return S_ISREG(v->mode) && opened && (flags & O_ACCMODE) == O_RDONLY && v->mnt->fs->name &&
	       strcmp(v->mnt->fs->name, "host") == 0;
}

/* Answers the new channel for v (taking the vnode, fh and path) on chfd,
 * VMOFILE when it qualifies. On failure chfd is answered the error and
 * closed, and what was given is released. */
static void answer_open(struct rchan *ch, struct rreq *r, int chfd, struct bx_vnode *v, void *fh,
			bool opened, int flags, char *path)
{
	int err;
	struct bx_conn *nc = bx_conn_adopt(ch->c->srv, &bx_door_rio, chfd, &err);
	if (!nc) { /* chfd is closed: nobody to tell */
		if (opened)
			bx_fs_release(v, fh);
		bx_vnode_put(&v);
		free(path);
		return;
	}
	struct rchan *nch = nc->door_state;
	chan_release(nch); /* what door_open gave it */
	nch->cred = ch->cred;
	memcpy(nch->groups, ch->groups, sizeof nch->groups);
	nch->cred.groups = nch->groups;
	nch->cred_set = true;
	nch->v = v;
	nch->fh = fh;
	nch->opened = opened;
	nch->flags = flags;
	nch->path = path;

	struct rio_object o = { .status = 0, .type = RIO_TYPE_REMOTE };
	int vmo = -1;
	if (vmo_wanted(v, flags, opened)) {
		struct boxfs_attr a;
		if (bx_fs_getattr(&r->call, v, fh, &a) == 0 &&
		    (vmo = bx_fs_export_fd(&r->call, v, fh, O_RDONLY)) >= 0) {
			o.type = RIO_TYPE_VMOFILE;
			o.hcount = 1;
			rio_vmo_pack(&o, 0, a.size);
		}
	}
	uint8_t buf[RIO_OBJSZ];
	rio_object_pack(buf, &o);
	struct iovec iov = { buf, sizeof buf };
	bx_conn_sendv_fd(nc, &iov, 1, vmo);
	if (vmo >= 0)
		close(vmo);
	bx_conn_start(&nc);
}

/* The descriptor an OPEN/CLONE passed, if it is a SOCK_SEQPACKET Unix
 * socket; taken from r. */
static int take_channel(struct rreq *r, int *fd)
{
	if (r->nfds != 1)
		return -EINVAL;
	int type = 0, domain = 0;
	socklen_t l = sizeof type, l2 = sizeof domain;
	if (getsockopt(r->fds[0], SOL_SOCKET, SO_TYPE, &type, &l) < 0 ||
	    getsockopt(r->fds[0], SOL_SOCKET, SO_DOMAIN, &domain, &l2) < 0)
		return -ENOTSOCK;
	if (type != SOCK_SEQPACKET || domain != AF_UNIX)
		return -EPROTOTYPE;
	*fd = r->fds[0];
	r->fds[0] = -1;
	return 0;
}

/* Opens the backend handle of a non-directory. */
static int open_node(struct rreq *r, struct bx_vnode *v, int flags, void **fh, bool *opened)
{
	*fh = NULL;
	*opened = false;
	if (flags & O_PATH)
		return 0;
	if (S_ISDIR(v->mode))
		return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) ? -EISDIR : 0;
	if (flags & O_DIRECTORY)
		return -ENOTDIR;
	if (S_ISLNK(v->mode))
		return -ELOOP; /* the server never follows a link */
	int rc = bx_fs_open(&r->call, v, flags & (O_ACCMODE | O_TRUNC | O_APPEND), fh);
	*opened = rc == 0;
	return rc;
}

static int do_open(struct rchan *ch, struct rreq *r)
{
	const struct rio_msg *m = &r->m;
	int flags = m->arg;
	if (!is_dir(ch))
		return -ENOTDIR;
	if (r->nfds != 1)
		return -EINVAL;
	if (memchr(m->data, 0, m->datalen))
		return -EINVAL;
	char path[4096];
	bool known = ch->path != NULL;
	if (known) {
		if (strlen(ch->path) >= sizeof path)
			return -ENAMETOOLONG;
		strcpy(path, ch->path);
	}
	/* The components; the last is kept apart for O_CREAT. */
	const char *p = (const char *)m->data, *end = p + m->datalen;
	const char *comp[512];
	size_t clen[512];
	unsigned n = 0;
	while (p < end) {
		while (p < end && *p == '/')
			p++;
		if (p == end)
			break;
		const char *q = memchr(p, '/', (size_t)(end - p));
		size_t l = q ? (size_t)(q - p) : (size_t)(end - p);
		if (l > 255)
			return -ENAMETOOLONG;
		if (n == 512)
			return -ENAMETOOLONG;
		comp[n] = p, clen[n++] = l;
		if (known && !path_push(path, sizeof path, p, l))
			known = false;
		p += l;
	}
	if (known && ch->c->srv->rio_fwd) {
		const char *rest;
		struct bx_rio_fwd *f = fwd_find(ch->c->srv, path, &rest);
		if (f) {
			int chfd, rc = take_channel(r, &chfd);
			if (rc < 0)
				return rc;
			if ((rc = fwd_open(f, m, rest, chfd)) < 0)
				fail_object(chfd, rc);
			else
				close(chfd);
			return 1; /* answered elsewhere */
		}
	}
	struct bx_vnode *v = bx_vnode_get(ch->v), *nv = NULL;
	int rc = 0;
	for (unsigned i = 0; i + 1 < n && rc == 0; i++) {
		char name[256];
		memcpy(name, comp[i], clen[i]);
		name[clen[i]] = '\0';
		if ((rc = bx_ns_walk(ch->c->srv->ns, &r->call, v, name, &nv, NULL)) == 0) {
			bx_vnode_put(&v);
			v = nv;
		}
	}
	void *fh = NULL;
	bool opened = false;
	if (rc == 0 && n > 0) {
		char name[256];
		memcpy(name, comp[n - 1], clen[n - 1]);
		name[clen[n - 1]] = '\0';
		struct boxfs_attr a;
		rc = bx_ns_walk(ch->c->srv->ns, &r->call, v, name, &nv, &a);
		if (rc == 0 && (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
			bx_vnode_put(&nv);
			rc = -EEXIST;
		} else if (rc == -ENOENT && (flags & O_CREAT)) {
			nv = NULL;
			if (!good_name(name, clen[n - 1]))
				rc = -EINVAL;
			else if (flags & O_DIRECTORY)
				rc = bx_fs_mkdir(&r->call, v, name, (uint32_t)m->arg2 & 07777, &nv,
						 &a);
			else if ((rc = bx_fs_create(&r->call, v, name,
						    flags & (O_ACCMODE | O_EXCL | O_APPEND),
						    (uint32_t)m->arg2 & 07777, &nv, &a, &fh)) == 0)
				opened = true;
			if (rc == 0 && !opened)
				rc = open_node(r, nv, flags & ~O_TRUNC, &fh, &opened);
			if (rc < 0 && rc != BOXFS_EWOULDWAIT && nv) {
				if (opened)
					bx_fs_release(nv, fh);
				opened = false;
			}
			if (rc < 0 && nv)
				bx_vnode_put(&nv);
			if (rc == 0) {
				bx_vnode_put(&v);
				v = nv;
			}
			goto done;
		}
		if (rc == 0) {
			bx_vnode_put(&v);
			v = nv;
		}
	}
	if (rc == 0)
		rc = open_node(r, v, flags, &fh, &opened);
done:
	if (rc == 0 && r->call.nowait && vmo_wanted(v, flags, opened)) {
		bx_fs_release(v, fh); /* the descriptor is made where it may wait */
		rc = BOXFS_EWOULDWAIT;
	}
	if (rc == BOXFS_EWOULDWAIT) {
		bx_vnode_put(&v);
		return rc;
	}
	int chfd;
	int trc = take_channel(r, &chfd);
	if (trc < 0) {
		if (rc == 0 && opened)
			bx_fs_release(v, fh);
		bx_vnode_put(&v);
		return trc;
	}
	if (rc < 0) {
		bx_vnode_put(&v);
		fail_object(chfd, rc);
		return 1;
	}
	answer_open(ch, r, chfd, v, fh, opened, flags & ~(O_CREAT | O_EXCL | O_TRUNC),
		    known ? strdup(path) : NULL);
	return 1;
}

static int do_clone(struct rchan *ch, struct rreq *r)
{
	void *fh = NULL;
	bool opened = false;
	int rc = 0;
	if (!is_dir(ch))
		rc = open_node(r, ch->v, ch->flags, &fh, &opened);
	if (rc == BOXFS_EWOULDWAIT)
		return rc;
	int chfd;
	int trc = take_channel(r, &chfd);
	if (trc < 0) {
		if (opened)
			bx_fs_release(ch->v, fh);
		return trc;
	}
	if (rc < 0) {
		fail_object(chfd, rc);
		return 1;
	}
	answer_open(ch, r, chfd, bx_vnode_get(ch->v), fh, opened, ch->flags,
		    ch->path ? strdup(ch->path) : NULL);
	return 1;
}

static int check_io(const struct rchan *ch, bool write)
{
	if (is_dir(ch))
		return -EISDIR;
	if (!ch->opened)
		return -EBADF;
	int acc = ch->flags & O_ACCMODE;
	if (write ? acc == O_RDONLY : acc == O_WRONLY)
		return -EBADF;
	return 0;
}

static int do_read(struct rchan *ch, struct rreq *r, bool at)
{
	int rc = check_io(ch, false);
	if (rc < 0)
		return rc;
	if (r->m.arg < 0 || (at && r->m.arg2 > INT64_MAX))
		return -EINVAL;
	size_t n = r->m.arg > RIO_CHUNK ? RIO_CHUNK : (size_t)r->m.arg;
	uint64_t off = at ? r->m.arg2 : ch->off;
	uint8_t buf[RIO_CHUNK];
	ssize_t got = bx_fs_read(&r->call, ch->v, ch->fh, buf, n, off);
	if (got < 0)
		return (int)got;
	if (!at)
		ch->off = off + (uint64_t)got;
	reply(ch, r->m.txid, (int32_t)got, at ? off : ch->off, buf, (size_t)got, -1);
	return 1;
}

static int do_write(struct rchan *ch, struct rreq *r, bool at)
{
	int rc = check_io(ch, true);
	if (rc < 0)
		return rc;
	if (at && r->m.arg2 > INT64_MAX)
		return -EINVAL;
	uint64_t off = at ? r->m.arg2 : ch->off;
	ssize_t n = bx_fs_write(&r->call, ch->v, ch->fh, r->m.data, r->m.datalen, off);
	if (n < 0)
		return (int)n;
	if (!at) {
		struct boxfs_attr a;
		if ((ch->flags & O_APPEND) && bx_fs_getattr(&r->call, ch->v, ch->fh, &a) == 0)
			ch->off = a.size;
		else
			ch->off = off + (uint64_t)n;
	}
	reply(ch, r->m.txid, (int32_t)n, at ? off : ch->off, NULL, 0, -1);
	return 1;
}

static int do_seek(struct rchan *ch, struct rreq *r)
{
	int64_t base, off = (int64_t)r->m.arg2;
	switch (r->m.arg) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)ch->off;
		break;
	case SEEK_END: {
		struct boxfs_attr a;
		int rc = bx_fs_getattr(&r->call, ch->v, ch->fh, &a);
		if (rc < 0)
			return rc;
		base = (int64_t)a.size;
		break;
	}
	default:
		return -EINVAL;
	}
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
		return -EINVAL;
	ch->off = (uint64_t)(base + off);
	reply(ch, r->m.txid, 0, ch->off, NULL, 0, -1);
	return 1;
}

static uint64_t ns_of(struct timespec t)
{
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int do_stat(struct rchan *ch, struct rreq *r)
{
	struct boxfs_attr a;
	int rc = bx_fs_getattr(&r->call, ch->v, ch->fh, &a);
	if (rc < 0)
		return rc;
	struct rio_attr ra = { .mode = a.mode,
			       .inode = bx_ns_qid_path(ch->c->srv->ns, ch->v->mnt, a.ino),
			       .size = a.size,
			       .nlink = a.nlink,
			       .ctime_ns = ns_of(a.ctime),
			       .mtime_ns = ns_of(a.mtime) };
	uint8_t buf[RIO_ATTRSZ];
	rio_attr_pack(buf, &ra);
	reply(ch, r->m.txid, RIO_ATTRSZ, 0, buf, sizeof buf, -1);
	return 1;
}

struct dfill {
	uint8_t *buf;
	size_t len, cap;
	uint64_t cookie;
	bool full; /* an entry did not fit */
};

static int dir_fill(void *ctx, const char *name, uint64_t ino, uint32_t dtype, uint64_t next)
{
	(void)ino;
	struct dfill *d = ctx;
	size_t n = rio_dirent_pack(d->buf + d->len, d->cap - d->len, dtype, name, strlen(name));
	if (!n) {
		d->full = true;
		return 1;
	}
	d->len += n;
	d->cookie = next;
	return 0;
}

static int do_readdir(struct rchan *ch, struct rreq *r)
{
	if (!is_dir(ch))
		return -ENOTDIR;
	if (r->m.arg < 0)
		return -EINVAL;
	if (r->m.arg2 == 1) {
		ch->cookie = 0;
		ch->dir_end = false;
	} else if (r->m.arg2 != 0) {
		return -EINVAL;
	}
	if (!ch->opened) {
		int rc = bx_fs_open(&r->call, ch->v, O_RDONLY | O_DIRECTORY, &ch->fh);
		if (rc < 0)
			return rc;
		ch->opened = true;
	}
	uint8_t buf[RIO_CHUNK];
	struct dfill d = { .buf = buf,
			   .cap = r->m.arg > RIO_CHUNK ? RIO_CHUNK : (size_t)r->m.arg,
			   .cookie = ch->cookie };
	if (!ch->dir_end) {
		int rc = bx_fs_readdir(&r->call, ch->v, ch->fh, ch->cookie, dir_fill, &d);
		if (rc < 0)
			return rc;
		if (d.len == 0 && d.full)
			return -EINVAL; /* too small for the next name */
		if (d.len == 0)
			ch->dir_end = true;
	}
	ch->cookie = d.cookie;
	reply(ch, r->m.txid, (int32_t)d.len, 0, buf, d.len, -1);
	return 1;
}

static int do_unlink(struct rchan *ch, struct rreq *r)
{
	if (!is_dir(ch))
		return -ENOTDIR;
	char name[256];
	int rc = take_name(name, (const char *)r->m.data, r->m.datalen);
	if (rc < 0)
		return rc;
	if (r->m.arg & ~(UNLINK_NOTDIR | UNLINK_DIR))
		return -EINVAL;
	struct bx_vnode *v;
	if ((rc = bx_ns_walk(ch->c->srv->ns, &r->call, ch->v, name, &v, NULL)) < 0)
		return rc;
	bool dir = S_ISDIR(v->mode);
	bool mount = v->mnt != ch->v->mnt;
	bx_vnode_put(&v);
	if (mount)
		return -EBUSY;
	if (dir && (r->m.arg & UNLINK_NOTDIR))
		return -EISDIR;
	if (!dir && (r->m.arg & UNLINK_DIR))
		return -ENOTDIR;
	if ((rc = bx_fs_unlink(&r->call, ch->v, name, dir ? AT_REMOVEDIR : 0)) < 0)
		return rc;
	reply(ch, r->m.txid, 0, 0, NULL, 0, -1);
	return 1;
}

static int do_truncate(struct rchan *ch, struct rreq *r)
{
	if (is_dir(ch))
		return -EISDIR;
	if (r->m.arg2 > INT64_MAX)
		return -EINVAL;
	if (ch->opened && !writable(ch))
		return -EBADF;
	struct boxfs_setattr sa = { .valid = BOXFS_SET_SIZE, .size = r->m.arg2 };
	struct boxfs_attr a;
	int rc = bx_fs_setattr(&r->call, ch->v, ch->fh, &sa, &a);
	if (rc < 0)
		return rc;
	reply(ch, r->m.txid, 0, 0, NULL, 0, -1);
	return 1;
}

/* The directory a token names, with a new reference, or NULL. */
static struct bx_vnode *token_dir(struct bx_server *srv, uint64_t token)
{
	struct bx_vnode *v = NULL;
	pthread_mutex_lock(&tokens_mu);
	for (struct rchan *t = tokens; t; t = t->tnext)
		if (t->token == token && t->c->srv == srv) {
			v = bx_vnode_get(t->v);
			break;
		}
	pthread_mutex_unlock(&tokens_mu);
	return v;
}

static int do_rename_link(struct rchan *ch, struct rreq *r, bool link)
{
	if (!is_dir(ch))
		return -ENOTDIR;
	const char *o, *n;
	size_t ol, nl;
	if (rio_names_unpack(r->m.data, r->m.datalen, &o, &ol, &n, &nl) < 0)
		return -EINVAL;
	char oname[256], nname[256];
	int rc = take_name(oname, o, ol);
	if (rc < 0 || (rc = take_name(nname, n, nl)) < 0)
		return rc;
	struct bx_vnode *nd = token_dir(ch->c->srv, r->m.arg2);
	if (!nd)
		return -EXDEV; /* not a token this server handed out */
	if (nd->mnt != ch->v->mnt) {
		bx_vnode_put(&nd);
		return -EXDEV;
	}
	if (link) {
		struct bx_vnode *v;
		rc = bx_ns_walk(ch->c->srv->ns, &r->call, ch->v, oname, &v, NULL);
		if (rc == 0) {
			rc = S_ISDIR(v->mode) ? -EPERM : bx_fs_link(&r->call, v, nd, nname);
			bx_vnode_put(&v);
		}
	} else {
		rc = bx_fs_rename(&r->call, ch->v, oname, nd, nname, 0);
	}
	bx_vnode_put(&nd);
	if (rc < 0)
		return rc;
	reply(ch, r->m.txid, 0, 0, NULL, 0, -1);
	return 1;
}

static int do_setattr(struct rchan *ch, struct rreq *r)
{
	struct rio_setattr s;
	if (rio_setattr_unpack(&s, r->m.data, r->m.datalen) < 0)
		return -EINVAL;
	if (s.valid & ~(uint32_t)(RIO_SETATTR_MODE | RIO_SETATTR_MTIME))
		return -EINVAL;
	struct boxfs_setattr sa = { 0 };
	if (s.valid & RIO_SETATTR_MODE) {
		sa.valid |= BOXFS_SET_MODE;
		sa.mode = s.mode & 07777;
	}
	if (s.valid & RIO_SETATTR_MTIME) {
		sa.valid |= BOXFS_SET_MTIME;
		sa.mtime.tv_sec = (time_t)(s.mtime_ns / 1000000000u);
		sa.mtime.tv_nsec = (long)(s.mtime_ns % 1000000000u);
	}
	struct boxfs_attr a;
	int rc = sa.valid ? bx_fs_setattr(&r->call, ch->v, ch->fh, &sa, &a) : 0;
	if (rc < 0)
		return rc;
	reply(ch, r->m.txid, 0, 0, NULL, 0, -1);
	return 1;
}

static int do_sync(struct rchan *ch, struct rreq *r)
{
	int rc = bx_fs_fsync(&r->call, ch->v, ch->fh, false);
	if (rc < 0)
		return rc;
	reply(ch, r->m.txid, 0, 0, NULL, 0, -1);
	return 1;
}

static int do_mmap(struct rchan *ch, struct rreq *r)
{
	struct rio_mmap mm;
	if (rio_mmap_unpack(&mm, r->m.data, r->m.datalen) < 0)
		return -EINVAL;
	if (mm.flags &
	    ~(uint32_t)(RIO_MMAP_READ | RIO_MMAP_WRITE | RIO_MMAP_EXEC | RIO_MMAP_PRIVATE))
		return -EINVAL;
	if (!S_ISREG(ch->v->mode) || !ch->opened)
		return -ENODEV;
	int acc = ch->flags & O_ACCMODE;
	if (acc == O_WRONLY ||
	    ((mm.flags & RIO_MMAP_WRITE) && !(mm.flags & RIO_MMAP_PRIVATE) && acc != O_RDWR))
		return -EACCES;
	int fd = bx_fs_export_fd(&r->call, ch->v, ch->fh, ch->flags & O_ACCMODE);
	if (fd == -EOPNOTSUPP)
		return -ENODEV;
	if (fd < 0)
		return fd;
	int fl = fcntl(fd, F_GETFL);
	struct stat st;
	if (fl < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd); /* never a directory or anything but a file's data */
		return -ENODEV;
	}
	if (acc == O_RDONLY && (fl & O_ACCMODE) != O_RDONLY) {
		/* never writable through a read-only channel: reopen it so */
		char proc[32];
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		int ro = open(proc, O_RDONLY | O_CLOEXEC);
		close(fd);
		if (ro < 0)
			return -errno;
		fd = ro;
	}
	reply(ch, r->m.txid, 0, 0, NULL, 0, fd);
	close(fd);
	return 1;
}

static int do_fcntl(struct rchan *ch, struct rreq *r)
{
	if (r->m.arg == F_GETFL) {
		reply(ch, r->m.txid, ch->flags & (O_ACCMODE | O_APPEND | O_DIRECTORY | O_PATH), 0,
		      NULL, 0, -1);
		return 1;
	}
	if (r->m.arg != F_SETFL)
		return -EINVAL;
	/* O_APPEND is the backend's, fixed at open; O_NONBLOCK means nothing. */
	if (((int)r->m.arg2 ^ ch->flags) & O_APPEND)
		return -EINVAL;
	reply(ch, r->m.txid, 0, 0, NULL, 0, -1);
	return 1;
}

static int do_ioctl(struct rchan *ch, struct rreq *r)
{
	if (r->m.arg2 != RIO_IOCTL_GET_TOKEN)
		return -ENOTTY;
	if (!is_dir(ch))
		return -ENOTDIR;
	if (!ch->token) {
		uint64_t t = 0;
		while (t == 0)
			if (getrandom(&t, sizeof t, 0) != sizeof t)
				return -EIO;
		pthread_mutex_lock(&tokens_mu);
		ch->token = t;
		ch->tnext = tokens;
		tokens = ch;
		pthread_mutex_unlock(&tokens_mu);
	}
	reply(ch, r->m.txid, 0, ch->token, NULL, 0, -1);
	return 1;
}

/* Serves one request: 1 when answered, -errno to answer as the status,
 * BOXFS_EWOULDWAIT to run again where it may wait. */
static int serve(struct rchan *ch, struct rreq *r)
{
	/* Only OPEN and CLONE bring a descriptor (their channel). */
	bool one = r->m.op == RIO_OPEN || r->m.op == RIO_CLONE;
	if (r->nfds != r->m.hcount || r->nfds != (one ? 1u : 0u))
		return -EINVAL;
	switch (r->m.op) {
	case RIO_CLOSE:
		ch->closed = true;
		reply(ch, r->m.txid, 0, 0, NULL, 0, -1);
		return 1;
	case RIO_OPEN:
		return do_open(ch, r);
	case RIO_CLONE:
		return do_clone(ch, r);
	case RIO_READ:
	case RIO_READ_AT:
		return do_read(ch, r, r->m.op == RIO_READ_AT);
	case RIO_WRITE:
	case RIO_WRITE_AT:
		return do_write(ch, r, r->m.op == RIO_WRITE_AT);
	case RIO_SEEK:
		return do_seek(ch, r);
	case RIO_STAT:
		return do_stat(ch, r);
	case RIO_READDIR:
		return do_readdir(ch, r);
	case RIO_IOCTL:
		return do_ioctl(ch, r);
	case RIO_UNLINK:
		return do_unlink(ch, r);
	case RIO_TRUNCATE:
		return do_truncate(ch, r);
	case RIO_RENAME:
	case RIO_LINK:
		return do_rename_link(ch, r, r->m.op == RIO_LINK);
	case RIO_SETATTR:
		return do_setattr(ch, r);
	case RIO_SYNC:
		return do_sync(ch, r);
	case RIO_MMAP:
		return do_mmap(ch, r);
	case RIO_FCNTL:
		return do_fcntl(ch, r);
	case RIO_MISC:
	case RIO_IOCTL_1H:
		return -EOPNOTSUPP;
	}
	if (r->m.op >= 0x10 && r->m.op <= 0x17)
		return -EOPNOTSUPP; /* the socket ops */
	return -ENOSYS;
}

/* Runs r and answers it, unless it must run again on a worker (then
 * answers false and r is untouched). */
static bool run(struct rchan *ch, struct rreq *r)
{
	int rc = serve(ch, r);
	if (rc == BOXFS_EWOULDWAIT && r->call.nowait)
		return false;
	if (rc < 0)
		reply(ch, r->m.txid, rc == BOXFS_EWOULDWAIT ? -EIO : rc, 0, NULL, 0, -1);
	return true;
}

static void chan_work(void *arg)
{
	struct bx_conn *c = arg;
	struct rchan *ch = c->door_state;
	for (;;) {
		pthread_mutex_lock(&ch->mu);
		struct rreq *r = ch->qhead;
		if (r && !ch->closed) {
			ch->nq--;
			ch->qhead = r->next;
			if (!ch->qhead)
				ch->qtail = NULL;
		} else {
			ch->busy = false;
			r = NULL;
		}
		pthread_mutex_unlock(&ch->mu);
		if (!r)
			break;
		r->call.nowait = false;
		run(ch, r);
		req_free(r);
		if (ch->closed)
			shutdown(c->rfd, SHUT_RD); /* CLOSE: the loop sees the end, hangs up */
	}
	bx_conn_put(&c);
}

/* A copy of the request (and its descriptors) to run later. */
static struct rreq *req_copy(struct bx_conn *c, struct rchan *ch, const struct rio_msg *m)
{
	struct rreq *r = malloc(sizeof *r + m->datalen);
	if (!r)
		return NULL;
	r->next = NULL;
	r->m = *m;
	memcpy(r->data, m->data, m->datalen);
	r->m.data = r->data;
	r->nfds = c->nrxfds;
	for (unsigned i = 0; i < c->nrxfds; i++) {
		r->fds[i] = c->rxfds[i];
		c->rxfds[i] = -1;
	}
	bx_call_init(&r->call, &ch->cred);
	return r;
}

/* Queues r behind the channel's requests on the pool: 0, or -errno and r
 * stays the caller's. */
static int enqueue(struct rchan *ch, struct rreq *r)
{
	pthread_mutex_lock(&ch->mu);
	if (ch->nq >= ch->c->srv->opts.max_requests) {
		pthread_mutex_unlock(&ch->mu);
		return -EAGAIN; /* a client that does not wait for its answers */
	}
	ch->nq++;
	if (ch->qtail)
		ch->qtail->next = r;
	else
		ch->qhead = r;
	ch->qtail = r;
	bool start = !ch->busy;
	ch->busy = true;
	pthread_mutex_unlock(&ch->mu);
	if (start && bx_pool_submit(ch->c->srv, chan_work, bx_conn_get(ch->c)) < 0) {
		struct bx_conn *c = ch->c;
		bx_conn_put(&c);
		pthread_mutex_lock(&ch->mu);
		ch->busy = false;
		ch->nq--;
		if (ch->qtail == r) { /* still queued: take it back */
			ch->qhead = ch->qtail = NULL;
			pthread_mutex_unlock(&ch->mu);
			return -ENOMEM;
		}
		pthread_mutex_unlock(&ch->mu);
	}
	return 0;
}

/* ---- the door ---- */

static void door_frame(struct bx_conn *c, const uint8_t *frame, size_t len)
{
	struct rchan *ch = c->door_state;
	struct rio_msg m;
	if (len < RIO_HDRSZ) {
		bx_conn_close(c); /* not even a header */
		return;
	}
	int bad = rio_msg_unpack(&m, frame, len);
	trace_msg(ch, "<-", &m);
	if (ch->closed)
		return; /* after CLOSE: nothing more */
	if (!ch->cred_set)
		peer_cred(ch);
	if (bad == 0 && m.op == RIO_STATUS) {
		bx_conn_close(c); /* a reply sent to a server: never answered */
		return;
	}
	if (bad < 0) {
		reply(ch, m.txid, -EPROTO, 0, NULL, 0, -1);
		return;
	}
	for (unsigned i = 0; i < c->nrxfds && i < RIO_HANDLES; i++)
		m.handle[i] = c->rxfds[i];
	pthread_mutex_lock(&ch->mu);
	bool busy = ch->busy;
	pthread_mutex_unlock(&ch->mu);
	bool all_inline = bx_ns_all_flags(c->srv->ns, BOXFS_FS_INLINE);
	bool try = bx_ns_all_flags(c->srv->ns, BOXFS_FS_INLINE | BOXFS_FS_TRY_INLINE);
	if (!busy && (all_inline || try)) {
		/* On the loop thread, with the request where it lies. */
		struct rreq rs;
		struct rreq *r = &rs;
		r->m = m;
		r->nfds = c->nrxfds;
		for (unsigned i = 0; i < c->nrxfds; i++)
			r->fds[i] = c->rxfds[i];
		bx_call_init(&r->call, &ch->cred);
		r->call.nowait = !all_inline;
		bool done = run(ch, r);
		bx_call_destroy(&r->call);
		/* What it took is -1 in r->fds; give the rest back to the loop. */
		for (unsigned i = 0; i < c->nrxfds; i++)
			c->rxfds[i] = r->fds[i];
		if (done) {
			if (ch->closed)
				bx_conn_close(c); /* CLOSE answered */
			return;
		}
	}
	struct rreq *r = req_copy(c, ch, &m);
	int rc = r ? enqueue(ch, r) : -ENOMEM;
	if (rc < 0) {
		if (r)
			req_free(r);
		reply(ch, m.txid, rc, 0, NULL, 0, -1);
	}
}

static int door_open(struct bx_conn *c)
{
	struct rchan *ch = chan_new(c);
	if (!ch)
		return -ENOMEM;
	ch->v = bx_ns_root(c->srv->ns);
	ch->flags = O_RDONLY | O_DIRECTORY;
	ch->path = strdup("/");
	if (!ch->path) {
		chan_release(ch);
		pthread_mutex_destroy(&ch->mu);
		free(ch);
		return -ENOMEM;
	}
	c->door_state = ch;
	c->max_frame = RIO_MSGMAX;
	return 0;
}

static void door_hangup(struct bx_conn *c)
{
	struct rchan *ch = c->door_state;
	pthread_mutex_lock(&ch->mu);
	ch->closed = true;
	struct rreq *q = ch->qhead;
	ch->qhead = ch->qtail = NULL;
	ch->nq = 0;
	pthread_mutex_unlock(&ch->mu);
	while (q) {
		struct rreq *next = q->next;
		req_free(q);
		q = next;
	}
	if (ch->token) { /* the token dies with the channel */
		pthread_mutex_lock(&tokens_mu);
		for (struct rchan **pp = &tokens; *pp; pp = &(*pp)->tnext)
			if (*pp == ch) {
				*pp = ch->tnext;
				break;
			}
		ch->token = 0;
		pthread_mutex_unlock(&tokens_mu);
	}
}

static void door_free(struct bx_conn *c)
{
	struct rchan *ch = c->door_state;
	if (!ch)
		return;
	door_hangup(c); /* a connection that never started */
	chan_release(ch);
	pthread_mutex_destroy(&ch->mu);
	free(ch);
}

const struct bx_door bx_door_rio = {
	.name = "rio",
	.flags = BX_DOOR_PACKETS,
	.hdr_size = RIO_HDRSZ,
	.open = door_open,
	.frame = door_frame,
	.hangup = door_hangup,
	.free = door_free,
};
