/*
 * rio.c — the rio client (boxfs/rio_client.h): transactions on channel
 * descriptors, OPEN/CLONE with a fresh socket pair, and the per-op calls.
 * Called by the POSIX layer, tools, tests and benchmarks.
 */
#include <boxfs/rio_client.h>

#include "base/dial.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static atomic_uint next_txid = 1;

int boxfs_rio_dial(const char *dial)
{
	return bx_dial_type(dial, SOCK_SEQPACKET);
}

/* Sends one message with passfd (when >= 0). */
static int send_msg(int ch, const struct rio_msg *m, const void *data, int passfd)
{
	uint8_t hdr[RIO_HDRSZ];
	rio_hdr_pack(hdr, m);
	struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)data, m->datalen } };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	if (passfd >= 0) {
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof cm.b;
		struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &passfd, sizeof passfd);
	}
	ssize_t n;
	do
		n = sendmsg(ch, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

/* Receives one packet into buf (cap bytes) and at most one descriptor. */
static ssize_t recv_pkt(int ch, uint8_t *buf, size_t cap, int *fd, int flags)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(RIO_HANDLES * sizeof(int))];
	} cm;
	struct iovec iov = { buf, cap };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b
	};
	ssize_t n;
	do
		n = recvmsg(ch, &mh, MSG_CMSG_CLOEXEC | flags);
	while (n < 0 && errno == EINTR);
	*fd = -1;
	if (n < 0)
		return -errno;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;
			memcpy(&f, CMSG_DATA(h) + i * sizeof f, sizeof f);
			if (*fd < 0)
				*fd = f;
			else
				close(f);
		}
	}
	if (mh.msg_flags & MSG_TRUNC) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	return n;
}

int boxfs_rio_txn(int ch, struct rio_msg *req, const void *data, int passfd, struct rio_msg *rep,
		  uint8_t *rbuf, int *fdout)
{
	uint8_t pkt[RIO_MSGMAX];
	if (fdout)
		*fdout = -1;
	req->txid = atomic_fetch_add(&next_txid, 1);
	req->hcount = passfd >= 0;
	int r = send_msg(ch, req, data, passfd);
	if (r < 0)
		return r;
	for (;;) {
		int fd;
		ssize_t n = recv_pkt(ch, pkt, sizeof pkt, &fd, 0);
		if (n == 0)
			return -EPIPE;
		if (n < 0)
			return (int)n;
		if (rio_msg_unpack(rep, pkt, (size_t)n) < 0 || rep->op != RIO_STATUS) {
			if (fd >= 0)
				close(fd);
			return -EPROTO;
		}
		if (rep->txid != req->txid) { /* a stale answer */
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (rbuf)
			memcpy(rbuf, rep->data, rep->datalen);
		rep->data = rbuf;
		if (fdout)
			*fdout = fd;
		else if (fd >= 0)
			close(fd);
		return rep->arg;
	}
}

/* OPEN or CLONE: passes one end of a new pair, reads the description on the
 * other. An error answered on the asking channel instead is read there. */
static int open_common(int dir, uint32_t op, const char *path, int flags, mode_t mode,
		       struct boxfs_rio_object *o)
{
	size_t len = path ? strlen(path) : 0;
	if (len > RIO_CHUNK)
		return -ENAMETOOLONG;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	struct rio_msg m = { .txid = atomic_fetch_add(&next_txid, 1),
			     .op = op,
			     .datalen = (uint32_t)len,
			     .arg = flags,
			     .arg2 = mode,
			     .hcount = 1 };
	int r = send_msg(dir, &m, path, sv[1]);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	uint8_t buf[RIO_MSGMAX];
	int fd;
	ssize_t n = recv_pkt(sv[0], buf, sizeof buf, &fd, 0);
	struct rio_object ob;
	if (n == 0) { /* closed unanswered: the error came on dir, if at all */
		close(sv[0]);
		struct pollfd p = { .fd = dir, .events = POLLIN };
		if (poll(&p, 1, 1000) == 1 && (n = recv_pkt(dir, buf, sizeof buf, &fd, 0)) > 0) {
			struct rio_msg rep;
			if (fd >= 0)
				close(fd);
			if (rio_msg_unpack(&rep, buf, (size_t)n) == 0 && rep.txid == m.txid &&
			    rep.arg < 0)
				return rep.arg;
		}
		return -EIO;
	}
	if (n < 0 || rio_object_unpack(&ob, buf, (size_t)n) < 0) {
		if (fd >= 0)
			close(fd);
		close(sv[0]);
		return n < 0 ? (int)n : -EPROTO;
	}
	if (ob.status < 0) {
		if (fd >= 0)
			close(fd);
		close(sv[0]);
		return ob.status;
	}
	*o = (struct boxfs_rio_object){ .ch = sv[0], .type = ob.type, .vmo = -1 };
	if (ob.type == RIO_TYPE_VMOFILE) {
		if (fd < 0) {
			close(sv[0]);
			return -EPROTO;
		}
		o->vmo = fd;
		rio_vmo_unpack(&ob, &o->vmo_off, &o->vmo_len);
	} else if (fd >= 0) {
		close(fd);
	}
	return 0;
}

int boxfs_rio_open(int dir, const char *path, int flags, mode_t mode, struct boxfs_rio_object *o)
{
	return open_common(dir, RIO_OPEN, path, flags, mode, o);
}

int boxfs_rio_clone(int ch, struct boxfs_rio_object *o)
{
	return open_common(ch, RIO_CLONE, NULL, 0, 0, o);
}

/* A request with no data, answering status and arg2. */
static int simple(int ch, uint32_t op, int32_t arg, uint64_t arg2, const void *data, size_t len,
		  uint64_t *arg2_out)
{
	struct rio_msg m = { .op = op, .datalen = (uint32_t)len, .arg = arg, .arg2 = arg2 }, rep;
	int r = boxfs_rio_txn(ch, &m, data, -1, &rep, NULL, NULL);
	if (r >= 0 && arg2_out)
		*arg2_out = rep.arg2;
	return r;
}

static ssize_t rw(int ch, uint32_t op, void *rbuf, const void *wbuf, size_t n, off_t off)
{
	size_t done = 0;
	uint8_t buf[RIO_CHUNK];
	while (done < n) {
		size_t k = n - done < RIO_CHUNK ? n - done : RIO_CHUNK;
		bool rd = op == RIO_READ || op == RIO_READ_AT;
		struct rio_msg m = { .op = op,
				     .datalen = rd ? 0 : (uint32_t)k,
				     .arg = (int32_t)k,
				     .arg2 = (uint64_t)off + done },
			       rep;
		int r = boxfs_rio_txn(ch, &m, rd ? NULL : (const uint8_t *)wbuf + done, -1, &rep,
				      buf, NULL);
		if (r < 0)
			return done ? (ssize_t)done : r;
		if ((size_t)r > k || (rd && rep.datalen != (uint32_t)r))
			return -EPROTO;
		if (rd)
			memcpy((uint8_t *)rbuf + done, buf, (size_t)r);
		done += (size_t)r;
		if ((size_t)r < k)
			break;
	}
	return (ssize_t)done;
}

ssize_t boxfs_rio_read(int ch, void *buf, size_t n)
{
	return rw(ch, RIO_READ, buf, NULL, n, 0);
}

ssize_t boxfs_rio_write(int ch, const void *buf, size_t n)
{
	return rw(ch, RIO_WRITE, NULL, buf, n, 0);
}

ssize_t boxfs_rio_pread(int ch, void *buf, size_t n, off_t off)
{
	return off < 0 ? -EINVAL : rw(ch, RIO_READ_AT, buf, NULL, n, off);
}

ssize_t boxfs_rio_pwrite(int ch, const void *buf, size_t n, off_t off)
{
	return off < 0 ? -EINVAL : rw(ch, RIO_WRITE_AT, NULL, buf, n, off);
}

off_t boxfs_rio_seek(int ch, off_t off, int whence)
{
	uint64_t pos;
	int r = simple(ch, RIO_SEEK, whence, (uint64_t)off, NULL, 0, &pos);
	return r < 0 ? r : (off_t)pos;
}

int boxfs_rio_stat(int ch, struct rio_attr *a)
{
	struct rio_msg m = { .op = RIO_STAT }, rep;
	uint8_t buf[RIO_CHUNK];
	int r = boxfs_rio_txn(ch, &m, NULL, -1, &rep, buf, NULL);
	if (r < 0)
		return r;
	return rio_attr_unpack(a, buf, rep.datalen) < 0 ? -EPROTO : 0;
}

ssize_t boxfs_rio_readdir(int ch, void *buf, size_t cap, bool reset)
{
	if (cap > RIO_CHUNK)
		cap = RIO_CHUNK;
	struct rio_msg m = { .op = RIO_READDIR, .arg = (int32_t)cap, .arg2 = reset }, rep;
	uint8_t tmp[RIO_CHUNK];
	int r = boxfs_rio_txn(ch, &m, NULL, -1, &rep, tmp, NULL);
	if (r < 0)
		return r;
	if (rep.datalen > cap)
		return -EPROTO;
	memcpy(buf, tmp, rep.datalen);
	return rep.datalen;
}

int boxfs_rio_unlink(int dir, const char *name, int how)
{
	return simple(dir, RIO_UNLINK, how, 0, name, strlen(name), NULL);
}

int boxfs_rio_truncate(int ch, off_t len)
{
	return len < 0 ? -EINVAL : simple(ch, RIO_TRUNCATE, 0, (uint64_t)len, NULL, 0, NULL);
}

int boxfs_rio_token(int dir, uint64_t *token)
{
	return simple(dir, RIO_IOCTL, 0, RIO_IOCTL_GET_TOKEN, NULL, 0, token);
}

static int two_names(int dir, uint32_t op, const char *from, uint64_t to_dir, const char *to)
{
	size_t a = strlen(from), b = strlen(to);
	uint8_t buf[RIO_CHUNK];
	if (a + b + 2 > sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, from, a + 1);
	memcpy(buf + a + 1, to, b + 1);
	return simple(dir, op, 0, to_dir, buf, a + b + 2, NULL);
}

int boxfs_rio_rename(int dir, const char *from, uint64_t to_dir, const char *to)
{
	return two_names(dir, RIO_RENAME, from, to_dir, to);
}

int boxfs_rio_link(int dir, const char *from, uint64_t to_dir, const char *to)
{
	return two_names(dir, RIO_LINK, from, to_dir, to);
}

int boxfs_rio_setattr(int ch, const struct rio_setattr *s)
{
	uint8_t buf[RIO_SETATTRSZ];
	rio_setattr_pack(buf, s);
	return simple(ch, RIO_SETATTR, 0, 0, buf, sizeof buf, NULL);
}

int boxfs_rio_sync(int ch)
{
	return simple(ch, RIO_SYNC, 0, 0, NULL, 0, NULL);
}

int boxfs_rio_mmap(int ch, const struct rio_mmap *mm)
{
	uint8_t buf[RIO_MMAPSZ];
	rio_mmap_pack(buf, mm);
	struct rio_msg m = { .op = RIO_MMAP, .datalen = sizeof buf }, rep;
	int fd;
	int r = boxfs_rio_txn(ch, &m, buf, -1, &rep, NULL, &fd);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd >= 0 ? fd : -EPROTO;
}

int boxfs_rio_fcntl(int ch, int cmd, int flags)
{
	return simple(ch, RIO_FCNTL, cmd, (uint64_t)flags, NULL, 0, NULL);
}

int boxfs_rio_close(int ch)
{
	int r = simple(ch, RIO_CLOSE, 0, 0, NULL, 0, NULL);
	close(ch);
	return r;
}
