/*
 * memfile.c — the memfile client (boxfs/memfile.h): one smdish connection,
 * the process's view of its descriptor table, and the mappings behind it.
 *
 * The client remembers the name behind each fd so that lock and unlock find
 * the memfile's mapping. A ship-mode lock reply is read straight into the
 * replica and an unlock is written straight from it, so each critical
 * section copies the segment once in each direction, in the kernel.
 */
#include <boxfs/memfile.h>
#include <boxfs/smdish.h>

#include "base/dial.h"
#include "client/client_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct fdent {
	struct fdent *next;
	int fd;
	char name[];
};

struct mapent {
	struct mapent *next;
	int mapfd;
	void *addr;
	size_t size;
	bool shared;
	int segfd; /* shared: the segment's memfd, kept for bx_mem_segfd; else -1 */
	char name[];
};

struct boxfs_mem {
	pthread_mutex_t mu; /* one request at a time; the lists */
	char *dial;
	int sock;
	int err; /* a broken connection's error, answered from then on */
	struct fdent *fds;
	struct mapent *maps;
	uint8_t *buf; /* reply bodies */
	size_t cap;
	/* pthread_atfork registration */
	struct boxfs_mem *at_next;
	bool at_registered;
	bool at_ok;
	uint64_t at_token;
};

/* ---- the wire ---- */

static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Reads exactly len bytes; a descriptor arriving with them goes to *rfd
 * (when rfd is given, else it is closed). */
static int read_all(int sock, void *buf, size_t len, int *rfd)
{
	size_t got = 0;
	while (got < len) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = { (uint8_t *)buf + got, len - got };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = cm.b,
				     .msg_controllen = sizeof cm.b };
		ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			int fd;
			memcpy(&fd, CMSG_DATA(h), sizeof fd);
			if (rfd && *rfd < 0)
				*rfd = fd;
			else
				close(fd);
		}
		if (r == 0)
			return -ECONNRESET;
		got += (size_t)r;
	}
	return 0;
}

/* Marks the connection broken; answers err. */
static int broken(struct boxfs_mem *m, int err)
{
	if (!m->err)
		m->err = err;
	return err;
}

/*
 * One request and its reply, under m->mu. `data` (unlock's) is sent after
 * the packed request without a copy. A lock reply whose segment is exactly
 * direct_len bytes is read into direct (and rep->data points there). A
 * descriptor passed with the reply goes to *rfd. Answers the reply's status
 * as -errno, 0, or a transport error (which breaks the connection).
 */
static int call(struct boxfs_mem *m, const struct smd_req *r, const void *data, size_t dlen,
		struct smd_rep *rep, void *direct, size_t direct_len, int *rfd)
{
	if (m->err)
		return m->err;
	uint8_t req[SMD_HDRSZ + 8 + 255 + 8];
	ssize_t n = smd_req_pack(req, sizeof req, r);
	if (n < 0)
		return (int)n;
	uint32_t extra[1];
	struct iovec iov[3] = { { req, (size_t)n } };
	int niov = 1;
	if (data) { /* unlock's `u32 data_size, data` */
		if (dlen > UINT32_MAX - 16)
			return -EINVAL;
		uint32_t body = (uint32_t)(n - SMD_HDRSZ + 4 + dlen);
		body = htobe32(body);
		memcpy(req + 4, &body, 4);
		extra[0] = htobe32((uint32_t)dlen);
		iov[niov++] = (struct iovec){ extra, 4 };
		iov[niov++] = (struct iovec){ (void *)data, dlen };
	}
	int rc = write_all(m->sock, iov, niov);
	if (rc < 0)
		return broken(m, rc == -EPIPE ? -EPIPE : rc);
	uint8_t hdr[SMD_HDRSZ];
	if (rfd)
		*rfd = -1;
	if ((rc = read_all(m->sock, hdr, sizeof hdr, rfd)) < 0)
		return broken(m, rc);
	struct smd_hdr h;
	smd_hdr_unpack(&h, hdr);
	const uint8_t *body = NULL;
	if (direct && h.code == 0 && h.body_size == 4 + direct_len) {
		uint8_t len[4];
		if ((rc = read_all(m->sock, len, 4, NULL)) < 0 ||
		    (rc = read_all(m->sock, direct, direct_len, NULL)) < 0)
			return broken(m, rc);
		*rep = (struct smd_rep){ .has_data = true,
					 .data = { .p = direct, .len = (uint32_t)direct_len } };
		return 0;
	}
	if (h.body_size > m->cap) {
		uint8_t *b = realloc(m->buf, h.body_size);
		if (!b)
			return broken(m, -ENOMEM);
		m->buf = b;
		m->cap = h.body_size;
	}
	if (h.body_size && (rc = read_all(m->sock, m->buf, h.body_size, NULL)) < 0)
		return broken(m, rc);
	body = m->buf;
	if (smd_rep_unpack(rep, r->op, h.code, body, h.body_size) < 0)
		return broken(m, -EPROTO);
	if (h.code > 4095)
		return broken(m, -EPROTO);
	if (h.code && rfd && *rfd >= 0) {
		close(*rfd);
		*rfd = -1;
	}
	return -(int)h.code;
}

/* ---- connections ---- */

static int new_table(struct boxfs_mem *m)
{
	struct smd_req r = { .op = SMD_NEW_FDTABLE };
	struct smd_rep rep;
	return call(m, &r, NULL, 0, &rep, NULL, 0, NULL);
}

struct boxfs_mem *boxfs_mem_connect(const char *dial)
{
	struct boxfs_mem *m = calloc(1, sizeof *m);
	if (!m || !(m->dial = strdup(dial))) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->sock = bx_dial(dial);
	int rc = m->sock < 0 ? m->sock : new_table(m);
	if (rc < 0) {
		if (m->sock >= 0)
			close(m->sock);
		free(m->buf);
		free(m->dial);
		pthread_mutex_destroy(&m->mu);
		free(m);
		errno = -rc;
		return NULL;
	}
	return m;
}

static pthread_mutex_t at_mu = PTHREAD_MUTEX_INITIALIZER;
static struct boxfs_mem *at_head;

void boxfs_mem_disconnect(struct boxfs_mem *m)
{
	if (!m)
		return;
	if (m->at_registered) {
		pthread_mutex_lock(&at_mu);
		struct boxfs_mem **pp = &at_head;
		while (*pp != m)
			pp = &(*pp)->at_next;
		*pp = m->at_next;
		pthread_mutex_unlock(&at_mu);
	}
	if (m->sock >= 0)
		close(m->sock);
	for (struct fdent *f = m->fds, *next; f; f = next) {
		next = f->next;
		free(f);
	}
	for (struct mapent *e = m->maps, *next; e; e = next) {
		next = e->next;
		munmap(e->addr, e->size);
		if (e->segfd >= 0)
			close(e->segfd);
		free(e);
	}
	free(m->buf);
	free(m->dial);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static struct fdent *find_fd(struct boxfs_mem *m, int fd)
{
	struct fdent *f = m->fds;
	while (f && f->fd != fd)
		f = f->next;
	return f;
}

/* The mapping of the memfile behind fd, if this connection has one. */
static struct mapent *map_of(struct boxfs_mem *m, int fd)
{
	struct fdent *f = find_fd(m, fd);
	if (!f)
		return NULL;
	struct mapent *e = m->maps;
	while (e && strcmp(e->name, f->name) != 0)
		e = e->next;
	return e;
}

int boxfs_mem_open(struct boxfs_mem *m, const char *name)
{
	size_t len = strlen(name);
	if (len > 255)
		return -ENAMETOOLONG;
	struct fdent *f = malloc(sizeof *f + len + 1);
	if (!f)
		return -ENOMEM;
	memcpy(f->name, name, len + 1);
	struct smd_req r = { .op = SMD_OPEN,
			     .name = { .p = (const uint8_t *)name, .len = (uint32_t)len } };
	struct smd_rep rep;
	pthread_mutex_lock(&m->mu);
	int rc = call(m, &r, NULL, 0, &rep, NULL, 0, NULL);
	if (rc == 0 && rep.fd > INT32_MAX)
		rc = broken(m, -EPROTO);
	if (rc == 0) {
		f->fd = (int)rep.fd;
		f->next = m->fds;
		m->fds = f;
		rc = f->fd;
	} else {
		free(f);
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int boxfs_mem_close(struct boxfs_mem *m, int fd)
{
	if (fd < 0)
		return -EBADF;
	struct smd_req r = { .op = SMD_CLOSE, .fd = (uint32_t)fd };
	struct smd_rep rep;
	pthread_mutex_lock(&m->mu);
	int rc = call(m, &r, NULL, 0, &rep, NULL, 0, NULL);
	if (rc == 0) {
		struct fdent **pp = &m->fds;
		while (*pp && (*pp)->fd != fd)
			pp = &(*pp)->next;
		struct fdent *f = *pp;
		if (f) {
			*pp = f->next;
			free(f);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void *boxfs_mem_mmap(struct boxfs_mem *m, int fd, size_t size, int flags, int *mapfd)
{
	bool shared = flags & BOXFS_MEM_SHARED;
	if (fd < 0 || size == 0 || size > UINT32_MAX || (flags & ~BOXFS_MEM_SHARED)) {
		errno = fd < 0 ? EBADF : EINVAL;
		return NULL;
	}
	pthread_mutex_lock(&m->mu);
	struct fdent *f = find_fd(m, fd);
	size_t nlen = f ? strlen(f->name) : 0;
	struct mapent *e = f ? malloc(sizeof *e + nlen + 1) : NULL;
	int rc = f ? (e ? 0 : -ENOMEM) : -EBADF;
	int segfd = -1;
	struct smd_rep rep;
	if (rc == 0) {
		struct smd_req r = { .op = shared ? SMD_MMAP_SHARED : SMD_MMAP,
				     .mmap = { .fd = (uint32_t)fd, .size = (uint32_t)size } };
		rc = call(m, &r, NULL, 0, &rep, NULL, 0, &segfd);
		if (rc == 0 && (rep.fd > INT32_MAX || (shared && segfd < 0)))
			rc = broken(m, -EPROTO);
	}
	void *addr = MAP_FAILED;
	if (rc == 0) {
		addr = shared ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, segfd, 0)
			      : mmap(NULL, size, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (addr == MAP_FAILED) {
			rc = -errno;
			struct smd_req u = { .op = SMD_MUNMAP, .fd = rep.fd };
			struct smd_rep urep;
			call(m, &u, NULL, 0, &urep, NULL, 0, NULL);
		}
	}
	if (rc < 0) {
		if (segfd >= 0)
			close(segfd);
		free(e);
		pthread_mutex_unlock(&m->mu);
		errno = -rc;
		return NULL;
	}
	*e = (struct mapent){
		.next = m->maps,
		.mapfd = (int)rep.fd,
		.addr = addr,
		.size = size,
		.shared = shared,
		.segfd = segfd,
	};
	memcpy(e->name, f->name, nlen + 1);
	m->maps = e;
	if (mapfd)
		*mapfd = e->mapfd;
	pthread_mutex_unlock(&m->mu);
	return addr;
}

int boxfs_mem_munmap(struct boxfs_mem *m, int mapfd)
{
	if (mapfd < 0)
		return -EBADF;
	struct smd_req r = { .op = SMD_MUNMAP, .fd = (uint32_t)mapfd };
	struct smd_rep rep;
	pthread_mutex_lock(&m->mu);
	int rc = call(m, &r, NULL, 0, &rep, NULL, 0, NULL);
	if (rc == 0) {
		struct mapent **pp = &m->maps;
		while (*pp && (*pp)->mapfd != mapfd)
			pp = &(*pp)->next;
		struct mapent *e = *pp;
		if (e) {
			*pp = e->next;
			munmap(e->addr, e->size);
			if (e->segfd >= 0)
				close(e->segfd);
			free(e);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* A new descriptor (close-on-exec) of a shared mapping's segment, for the
 * POSIX layer's mmap; -ENODEV for a ship replica, -EBADF for no mapping. */
int bx_mem_segfd(struct boxfs_mem *m, int mapfd)
{
	pthread_mutex_lock(&m->mu);
	struct mapent *e = m->maps;
	while (e && e->mapfd != mapfd)
		e = e->next;
	int r = !e ? -EBADF : e->segfd < 0 ? -ENODEV : fcntl(e->segfd, F_DUPFD_CLOEXEC, 0);
	if (r == -1 && e && e->segfd >= 0)
		r = -errno;
	pthread_mutex_unlock(&m->mu);
	return r;
}

/* ---- locks ---- */

int boxfs_mem_lock(struct boxfs_mem *m, int fd, int flags)
{
	if (fd < 0)
		return -EBADF;
	if (flags & ~BOXFS_MEM_TRY)
		return -EINVAL;
	pthread_mutex_lock(&m->mu);
	struct mapent *e = map_of(m, fd);
	uint32_t xf = (flags & BOXFS_MEM_TRY ? 0 : SMD_XLOCK_WAIT) |
		      (!e || e->shared ? SMD_XLOCK_NODATA : 0);
	/* The plain lock where it is all that is asked: any smdish server has it. */
	struct smd_req r =
		xf == 0 ? (struct smd_req){ .op = SMD_LOCK, .fd = (uint32_t)fd }
			: (struct smd_req){ .op = SMD_XLOCK,
					    .xlock = { .fd = (uint32_t)fd, .flags = xf } };
	struct smd_rep rep;
	bool ship = e && !e->shared;
	int rc = call(m, &r, NULL, 0, &rep, ship ? e->addr : NULL, ship ? e->size : 0, NULL);
	if (rc == 0 && ship && rep.has_data && rep.data.p != e->addr) {
		/* not read in place: the segment is another size than mapped */
		rc = broken(m, -EPROTO);
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int boxfs_mem_unlock(struct boxfs_mem *m, int fd)
{
	if (fd < 0)
		return -EBADF;
	pthread_mutex_lock(&m->mu);
	struct mapent *e = map_of(m, fd);
	struct smd_req r = { .op = SMD_UNLOCK, .unlock = { .fd = (uint32_t)fd } };
	struct smd_rep rep;
	bool ship = e && !e->shared;
	int rc = call(m, &r, ship ? e->addr : NULL, ship ? e->size : 0, &rep, NULL, 0, NULL);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ---- fork ---- */

static int fork_token(struct boxfs_mem *m, uint64_t *token)
{
	struct smd_req r = { .op = SMD_FORK };
	struct smd_rep rep;
	int rc = call(m, &r, NULL, 0, &rep, NULL, 0, NULL);
	if (rc == 0)
		*token = rep.ident;
	return rc;
}

/* In the child: a connection of its own, adopting the table. Under m->mu. */
static int reattach(struct boxfs_mem *m, uint64_t token)
{
	if (m->sock >= 0)
		close(m->sock); /* the parent's stays open in the parent */
	m->err = 0;
	m->sock = bx_dial(m->dial);
	if (m->sock < 0)
		return broken(m, m->sock);
	struct smd_req r = { .op = SMD_CHILD_ATTACH, .ident = token };
	struct smd_rep rep;
	int rc = call(m, &r, NULL, 0, &rep, NULL, 0, NULL);
	return rc < 0 ? broken(m, rc == -EINVAL ? -ENOTCONN : rc) : 0;
}

int boxfs_mem_fork_token(struct boxfs_mem *m, uint64_t *token)
{
	pthread_mutex_lock(&m->mu);
	int rc = fork_token(m, token);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int boxfs_mem_child_attach(struct boxfs_mem *m, uint64_t token)
{
	pthread_mutex_lock(&m->mu);
	int rc = reattach(m, token);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

pid_t boxfs_mem_fork(struct boxfs_mem *m)
{
	if (m->at_registered)
		return fork(); /* the handlers do it */
	pthread_mutex_lock(&m->mu);
	uint64_t token = 0;
	int rc = fork_token(m, &token);
	pid_t pid = fork();
	if (pid == 0) {
		if (rc == 0)
			reattach(m, token);
		else
			broken(m, -ENOTCONN);
	}
	pthread_mutex_unlock(&m->mu);
	return pid;
}

static void at_prepare(void)
{
	pthread_mutex_lock(&at_mu);
	for (struct boxfs_mem *m = at_head; m; m = m->at_next) {
		pthread_mutex_lock(&m->mu);
		m->at_ok = fork_token(m, &m->at_token) == 0;
	}
}

static void at_parent(void)
{
	for (struct boxfs_mem *m = at_head; m; m = m->at_next)
		pthread_mutex_unlock(&m->mu); /* an unclaimed token expires */
	pthread_mutex_unlock(&at_mu);
}

static void at_child(void)
{
	for (struct boxfs_mem *m = at_head; m; m = m->at_next) {
		if (m->at_ok)
			reattach(m, m->at_token);
		else
			broken(m, -ENOTCONN);
		pthread_mutex_unlock(&m->mu);
	}
	pthread_mutex_unlock(&at_mu);
}

static pthread_once_t at_once = PTHREAD_ONCE_INIT;
static int at_err;

static void at_install(void)
{
	at_err = pthread_atfork(at_prepare, at_parent, at_child);
}

int boxfs_mem_atfork(struct boxfs_mem *m)
{
	pthread_once(&at_once, at_install);
	if (at_err)
		return -at_err;
	pthread_mutex_lock(&at_mu);
	if (!m->at_registered) {
		m->at_next = at_head;
		at_head = m;
		m->at_registered = true;
	}
	pthread_mutex_unlock(&at_mu);
	return 0;
}

/* ---- listing ---- */

int boxfs_mem_list(struct boxfs_mem *m,
		   int (*fn)(void *ctx, const char *name, uint32_t seg_size, bool locked),
		   void *ctx)
{
	struct smd_req r = { .op = SMD_LIST };
	struct smd_rep rep;
	pthread_mutex_lock(&m->mu);
	int rc = call(m, &r, NULL, 0, &rep, NULL, 0, NULL);
	size_t pos = 0;
	struct smd_list_ent ent;
	while (rc == 0) {
		int more = smd_list_next(rep.data, &pos, &ent);
		if (more <= 0) {
			rc = more < 0 ? -EPROTO : 0;
			break;
		}
		char name[256];
		if (ent.name.len > 255) {
			rc = -EPROTO;
			break;
		}
		memcpy(name, ent.name.p, ent.name.len);
		name[ent.name.len] = '\0';
		rc = fn(ctx, name, ent.seg_size, ent.flags & SMD_LIST_LOCKED);
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}
