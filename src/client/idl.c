/*
 * idl.c — the client of the idl door (boxfs/idl.h): one connection, one
 * call at a time (a mutex serializes callers), replies decoded in place in a
 * receive buffer that lives until the next call. Messages the server sends
 * on its own (task.exited) may arrive before a reply; they are queued for
 * boxfs_idl_recv. A descriptor passed with a reply (shm.map) is kept until
 * boxfs_idl_take_fd or the next one.
 */
#include <boxfs/idl.h>

#include "base/dial.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

struct queued {
	struct queued *next;
	size_t len;
	uint8_t frame[];
};

struct boxfs_idl {
	int sock;
	pthread_mutex_t mu;
	int32_t task;
	uint8_t *rx;
	size_t rxcap;
	int fd;
	int err;
	struct queued *head, **tail;
	struct queued *held; /* the last message boxfs_idl_recv answered */
};

static int terr(int e)
{
	return -(BOXFS_IDL_ERRNO_BASE + e);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

struct boxfs_idl *boxfs_idl_connect(const char *dial)
{
	struct boxfs_idl *cl = calloc(1, sizeof *cl);
	if (!cl) {
		errno = ENOMEM;
		return NULL;
	}
	cl->sock = bx_dial(dial);
	if (cl->sock < 0) {
		int e = -cl->sock;
		free(cl);
		errno = e;
		return NULL;
	}
	pthread_mutex_init(&cl->mu, NULL);
	cl->fd = -1;
	cl->tail = &cl->head;
	return cl;
}

void boxfs_idl_close(struct boxfs_idl *cl)
{
	if (!cl)
		return;
	close(cl->sock);
	if (cl->fd >= 0)
		close(cl->fd);
	while (cl->head) {
		struct queued *q = cl->head;
		cl->head = q->next;
		free(q);
	}
	free(cl->held);
	free(cl->rx);
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

int32_t boxfs_idl_task(const struct boxfs_idl *cl)
{
	return cl->task;
}

/* Reads exactly n bytes into p, keeping a passed descriptor. */
static int read_full(struct boxfs_idl *cl, uint8_t *p, size_t n)
{
	while (n) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int))];
		} u;
		struct iovec iov = { p, n };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof u.buf };
		ssize_t r = recvmsg(cl->sock, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return terr(errno);
		if (r == 0)
			return terr(ECONNRESET);
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
			    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
				int fd;
				memcpy(&fd, CMSG_DATA(c), sizeof fd);
				if (cl->fd >= 0)
					close(cl->fd);
				cl->fd = fd;
			}
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads one frame into cl->rx; its length in *len. */
static int read_frame(struct boxfs_idl *cl, size_t *len)
{
	uint8_t h[4];
	int r = read_full(cl, h, 4);
	if (r < 0)
		return r;
	uint32_t n = le32(h);
	if (n < 8 || n > 8 + BOXFS_IDL_MAX_FIXED + 4 + BOXFS_IDL_MAX_OOL)
		return terr(EPROTO);
	if (cl->rxcap < 4 + (size_t)n) {
		uint8_t *b = realloc(cl->rx, 4 + (size_t)n);
		if (!b)
			return terr(ENOMEM);
		cl->rx = b;
		cl->rxcap = 4 + (size_t)n;
	}
	memcpy(cl->rx, h, 4);
	if ((r = read_full(cl, cl->rx + 4, n)) < 0)
		return r;
	*len = 4 + (size_t)n;
	return 0;
}

static int send_all(struct boxfs_idl *cl, const struct iovec *iov0, int n)
{
	struct iovec iov[2];
	memcpy(iov, iov0, (size_t)n * sizeof *iov);
	struct iovec *v = iov;
	while (n) {
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)n };
		ssize_t r = sendmsg(cl->sock, &mh, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return terr(errno);
		while (n && (size_t)r >= v->iov_len) {
			r -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n) {
			v->iov_base = (uint8_t *)v->iov_base + r;
			v->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int send_req(struct boxfs_idl *cl, const struct boxfs_idl_msg *m, const void *in)
{
	const struct boxfs_idl_fields *f = &m->args;
	uint8_t buf[BOXFS_IDL_HDRSZ + BOXFS_IDL_MAX_FIXED + 4];
	uint8_t tmp[BOXFS_IDL_MAX_FIXED + 64];
	struct boxfs_idl_buf ool = { 0 };
	const void *src = in;
	if (f->ool >= 0) {
		if (f->size > sizeof tmp)
			return terr(EINVAL);
		memcpy(tmp, in, f->size);
		memcpy(&ool, tmp + f->v[f->ool].off, sizeof ool);
		if (ool.len > BOXFS_IDL_MAX_OOL)
			return BOXFS_IDL_TOO_LARGE;
		struct boxfs_idl_buf none = { 0 };
		memcpy(tmp + f->v[f->ool].off, &none, sizeof none);
		src = tmp;
	}
	size_t fixed = boxfs_idl_pack(f, src, buf + BOXFS_IDL_HDRSZ);
	if (f->ool >= 0) {
		uint8_t *lp = buf + BOXFS_IDL_HDRSZ + fixed - 4;
		for (int i = 0; i < 4; i++)
			lp[i] = (uint8_t)(ool.len >> (8 * i));
	}
	boxfs_idl_hdr_pack(buf, (uint32_t)(fixed + ool.len), m->id, cl->task);
	struct iovec iov[2] = { { buf, BOXFS_IDL_HDRSZ + fixed }, { (void *)ool.ptr, ool.len } };
	return send_all(cl, iov, ool.len ? 2 : 1);
}

/* Keeps a frame the server sent on its own. */
static int enqueue(struct boxfs_idl *cl, size_t len)
{
	struct queued *q = malloc(sizeof *q + len);
	if (!q)
		return terr(ENOMEM);
	q->next = NULL;
	q->len = len;
	memcpy(q->frame, cl->rx, len);
	*cl->tail = q;
	cl->tail = &q->next;
	return 0;
}

static bool unsolicited(int32_t type)
{
	bool reply;
	const struct boxfs_idl_msg *m = type > 0 ? boxfs_idl_msg_by_id(type, &reply) : NULL;
	return m && !reply && !m->rpc;
}

int boxfs_idl_call(struct boxfs_idl *cl, const struct boxfs_idl_msg *m, const void *in, void *out)
{
	if (!m->rpc)
		return BOXFS_IDL_INVALID_ARG;
	pthread_mutex_lock(&cl->mu);
	int r = cl->err ? cl->err : send_req(cl, m, in);
	while (r == 0) {
		size_t len;
		if ((r = read_frame(cl, &len)) < 0)
			break;
		int32_t type = (int32_t)le32(cl->rx + 4);
		if (type == m->reply_id) {
			if (!cl->task)
				cl->task = (int32_t)le32(cl->rx + 8);
			if (boxfs_idl_unpack(&m->rets, out, cl->rx + BOXFS_IDL_HDRSZ,
					     len - BOXFS_IDL_HDRSZ) < 0)
				r = terr(EPROTO);
			break;
		}
		if (type < 0 && len == BOXFS_IDL_HDRSZ) {
			r = type;
			break;
		}
		if (!unsolicited(type)) {
			r = terr(EPROTO);
			break;
		}
		r = enqueue(cl, len);
	}
	if (r <= -BOXFS_IDL_ERRNO_BASE && r != -(BOXFS_IDL_ERRNO_BASE + EINVAL))
		cl->err = r; /* the stream is out of step from here on */
	pthread_mutex_unlock(&cl->mu);
	return r;
}

int boxfs_idl_send(struct boxfs_idl *cl, const struct boxfs_idl_msg *m, const void *in)
{
	pthread_mutex_lock(&cl->mu);
	int r = cl->err ? cl->err : send_req(cl, m, in);
	pthread_mutex_unlock(&cl->mu);
	return r;
}

int boxfs_idl_recv(struct boxfs_idl *cl, const struct boxfs_idl_msg **mp, void *out, size_t outsize,
		   int timeout_ms)
{
	pthread_mutex_lock(&cl->mu);
	int r = 0;
	free(cl->held);
	cl->held = NULL;
	while (!cl->head && r == 0) {
		if (cl->err) {
			r = cl->err;
			break;
		}
		struct pollfd p = { .fd = cl->sock, .events = POLLIN };
		int n = poll(&p, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = terr(n == 0 ? ETIMEDOUT : errno);
			break;
		}
		size_t len;
		if ((r = read_frame(cl, &len)) < 0) {
			cl->err = r;
			break;
		}
		if (!unsolicited((int32_t)le32(cl->rx + 4))) {
			r = cl->err = terr(EPROTO);
			break;
		}
		r = enqueue(cl, len);
	}
	if (r == 0) {
		struct queued *q = cl->head;
		cl->head = q->next;
		if (!cl->head)
			cl->tail = &cl->head;
		cl->held = q;
		bool reply;
		const struct boxfs_idl_msg *m =
			boxfs_idl_msg_by_id((int32_t)le32(q->frame + 4), &reply);
		if (m->args.size > outsize ||
		    boxfs_idl_unpack(&m->args, out, q->frame + BOXFS_IDL_HDRSZ,
				     q->len - BOXFS_IDL_HDRSZ) < 0)
			r = terr(EPROTO);
		else
			*mp = m;
	}
	pthread_mutex_unlock(&cl->mu);
	return r;
}

int boxfs_idl_take_fd(struct boxfs_idl *cl)
{
	pthread_mutex_lock(&cl->mu);
	int fd = cl->fd;
	cl->fd = -1;
	pthread_mutex_unlock(&cl->mu);
	return fd;
}

void *boxfs_idl_shm_map(struct boxfs_idl *cl, int32_t shm_id, bool writable, size_t *size, int *err)
{
	struct shm_map_reply_fields r;
	int e = idl_call_shm_map(
		cl, &(struct shm_map_fields){ .shm_id = shm_id, .writable = writable }, &r);
	*err = e;
	int fd = boxfs_idl_take_fd(cl);
	if (e < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		errno = e <= -BOXFS_IDL_ERRNO_BASE ? boxfs_idl_errno(e) : EPROTO;
		return NULL;
	}
	void *p = mmap(NULL, r.vaddr, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
	int me = errno;
	close(fd);
	if (p == MAP_FAILED) {
		errno = me;
		return NULL;
	}
	*size = r.vaddr;
	return p;
}
