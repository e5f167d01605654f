/*
 * fuzz_smdish_door.c — the smdish door in-process, with no listener: a fresh
 * server per input (a RAM root, a memfs at /mem with small limits), three
 * smdish connections and one 9P connection fed by hand, so that locks,
 * waiters, fork records and the 9P side of memfiles meet.
 *
 * Input: a byte of setup flags (1: the smdish connections are Unix sockets,
 * so mmap_shared passes descriptors; 2: fork tokens expire after 1 ms), then
 * records, each a control byte and its bytes. The control byte names the
 * connection (ctl & 3: smdish 0-2, 9P 3) and the action (ctl >> 2 & 3):
 * 0 feeds the next u16 big-endian count of bytes, 1 hangs up and
 * reconnects, 2 sends child_attach with the last token a fork answered,
 * 3 feeds the rest of the input.
 *
 * The replies are read back and checked: each is a whole frame whose status
 * is 0 or an errno the door may answer, a failure has an empty body, and a
 * segment handed over stays sealed. Crashes, sanitizer reports, leaks (the
 * server is freed after every input) and hangs are what it looks for.
 */
#include <boxfs/9p.h>
#include <boxfs/memfs.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>
#include <boxfs/smdish.h>

#include "core/server_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { NSMD = 3, P9 = 3 };

/* The client's end of one smdish connection and the reply being read. */
struct peer {
	struct bx_conn *c;
	int fd;			/* ours; -1 when the connection is gone */
	uint8_t hdr[SMD_HDRSZ]; /* the reply's header, as far as read */
	size_t hlen;
	uint32_t status, left; /* body bytes still to come */
	uint8_t body[8];       /* a body of 8 bytes: maybe a fork token */
	size_t blen;
};

struct run {
	struct bx_server *srv;
	bool unix_sock;
	struct peer p[NSMD];
	struct bx_conn *p9;
	uint64_t token;
};

static bool door_errno(uint32_t s)
{
	switch (s) {
	case EPERM:
	case EBADF:
	case EAGAIN:
	case ENOMEM:
	case EINVAL:
	case EMFILE:
	case ENAMETOOLONG:
	case ENOSYS:
	case EPROTO:
	case EOPNOTSUPP:
		return true;
	}
	return false;
}

static void reply_done(struct run *r, struct peer *p)
{
	if (p->status == 0 && p->blen == sizeof p->body) {
		uint64_t t = 0;
		for (size_t i = 0; i < sizeof p->body; i++)
			t = t << 8 | p->body[i];
		r->token = t;
	}
	p->hlen = 0;
}

/* Walks the reply stream: whole frames, known statuses, empty failures. */
static void parse(struct run *r, struct peer *p, const uint8_t *b, size_t n)
{
	while (n) {
		if (p->hlen < SMD_HDRSZ) {
			p->hdr[p->hlen++] = *b++, n--;
			if (p->hlen < SMD_HDRSZ)
				continue;
			struct smd_hdr h;
			smd_hdr_unpack(&h, p->hdr);
			if (h.code != 0 && (!door_errno(h.code) || h.body_size != 0))
				abort();
			p->status = h.code;
			p->left = h.body_size;
			p->blen = 0;
			if (!p->left)
				reply_done(r, p);
			continue;
		}
		size_t k = n < p->left ? n : p->left;
		for (size_t i = 0; i < k && p->blen < sizeof p->body + 1; i++)
			if (p->blen++ < sizeof p->body)
				p->body[p->blen - 1] = b[i];
		b += k, n -= k, p->left -= k;
		if (!p->left)
			reply_done(r, p);
	}
}

/* A descriptor handed over with a reply: a segment no one can resize. */
static void check_segment(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || ftruncate(fd, size + 1) == 0 || ftruncate(fd, size - 1) == 0)
		abort();
	close(fd);
}

/* Reads what the server has sent on p so far. */
static void drain(struct run *r, struct peer *p)
{
	if (p->fd < 0)
		return;
	for (;;) {
		uint8_t buf[8192];
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} cm;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
		struct msghdr m = { .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cm.buf,
				    .msg_controllen = sizeof cm.buf };
		ssize_t n = recvmsg(p->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
			if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfd; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(h) + i * sizeof fd, sizeof fd);
				check_segment(fd);
			}
		}
		parse(r, p, buf, (size_t)n);
	}
}

static void p9_feed(struct bx_conn *c, const struct p9_fcall *f)
{
	uint8_t buf[256];
	ssize_t n = p9_pack(buf, sizeof buf, f, P9_2000L);
	if (n > 0)
		bx_conn_feed(c, buf, (size_t)n);
}

/* A 9P2000.L connection with fid 0 attached to the root. */
static struct bx_conn *p9_connect(struct bx_server *srv)
{
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct bx_conn *c = bx_conn_detached(srv, "9p", null);
	if (!c)
		return NULL;
	struct p9_fcall f = { .type = P9_Tversion, .tag = P9_NOTAG };
	f.tversion.msize = 65536;
	f.tversion.version = p9_cstr("9P2000.L");
	p9_feed(c, &f);
	f = (struct p9_fcall){ .type = P9_Tattach, .tag = 0 };
	f.tattach = (struct p9_tattach){ .fid = 0,
					 .afid = P9_NOFID,
					 .uname = p9_cstr("root"),
					 .aname = p9_cstr(""),
					 .n_uname = 0 };
	p9_feed(c, &f);
	return c;
}

static void smd_connect(struct run *r, struct peer *p)
{
	*p = (struct peer){ .fd = -1 };
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	p->c = bx_conn_detached(r->srv, "smdish", sv[0]);
	if (!p->c) {
		close(sv[1]);
		return;
	}
	p->c->is_socket = true;
	p->c->local = r->unix_sock; /* else it stands for TCP: no descriptors */
	p->fd = sv[1];
}

static void smd_hangup(struct run *r, struct peer *p)
{
	drain(r, p);
	if (p->c)
		bx_conn_hangup(p->c);
	if (p->fd >= 0)
		close(p->fd);
	*p = (struct peer){ .fd = -1 };
}

static void feed(struct run *r, unsigned conn, const uint8_t *b, size_t n)
{
	if (conn == P9) {
		if (r->p9)
			bx_conn_feed(r->p9, b, n);
		return;
	}
	struct peer *p = &r->p[conn];
	if (!p->c)
		return;
	bx_conn_feed(p->c, b, n);
	drain(r, p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++, size--;

	struct boxfs_server_opts so = { .max_msize = 65536,
					.trust_uname = true,
					.token_ttl_ms = flags & 2 ? 1 : 0 };
	struct boxfs_memfs_opts mo = { .max_segment = 4096, .max_files = 16 };
	struct run r = { .unix_sock = flags & 1 };
	r.srv = (struct bx_server *)boxfs_server_new(&so);
	if (!r.srv)
		abort();
	struct boxfs_server *srv = (struct boxfs_server *)r.srv;
	if (boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(srv, "/mem", boxfs_memfs_new(&mo)) < 0)
		abort();
	for (unsigned i = 0; i < NSMD; i++)
		smd_connect(&r, &r.p[i]);
	r.p9 = p9_connect(r.srv);

	while (size) {
		uint8_t ctl = data[0];
		unsigned conn = ctl & 3;
		data++, size--;
		switch (ctl >> 2 & 3) {
		case 0: {
			if (size < 2) {
				size = 0;
				break;
			}
			size_t n = (size_t)data[0] << 8 | data[1];
			data += 2, size -= 2;
			if (n > size)
				n = size;
			feed(&r, conn, data, n);
			data += n, size -= n;
			break;
		}
		case 1:
			if (conn == P9) {
				if (r.p9)
					bx_conn_hangup(r.p9);
				r.p9 = p9_connect(r.srv);
			} else {
				smd_hangup(&r, &r.p[conn]);
				smd_connect(&r, &r.p[conn]);
			}
			break;
		case 2: {
			struct smd_req req = { .op = SMD_CHILD_ATTACH, .ident = r.token };
			uint8_t buf[16];
			if (smd_req_pack(buf, sizeof buf, &req) == sizeof buf)
				feed(&r, conn, buf, sizeof buf);
			break;
		}
		case 3:
			feed(&r, conn, data, size);
			size = 0;
			break;
		}
		for (unsigned i = 0; i < NSMD; i++)
			drain(&r, &r.p[i]); /* a reply another connection caused */
	}

	for (unsigned i = 0; i < NSMD; i++)
		smd_hangup(&r, &r.p[i]);
	if (r.p9)
		bx_conn_hangup(r.p9);
	boxfs_server_free(srv);
	return 0;
}
