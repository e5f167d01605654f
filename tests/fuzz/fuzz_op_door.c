/*
 * fuzz_op_door.c — the op door in-process, with no listener: a fresh server
 * per input (a RAM root with a few boxes, memfiles at /mem), two op
 * connections fed by hand.
 *
 * Input: records, each a control byte and its bytes. ctl & 1 names the
 * connection; ctl >> 1 & 3: 0 feeds the next u16 big-endian count of bytes,
 * 1 hangs up and reconnects, 2 feeds one well-formed request built from the
 * next bytes (type, then a NUL-terminated selector), 3 feeds the rest of
 * the input.
 *
 * The replies are read back once the server is freed, and checked: whole
 * frames, each decoding as a reply. Crashes, sanitizer reports, leaks and
 * hangs are what it looks for. Built requests are never COPY, which retries
 * the address it dials for two seconds (raw bytes still may be).
 */
#include <boxfs/memfs.h>
#include <boxfs/op.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>

#include "core/server_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct peer {
	struct bx_conn *c;
	int fd; /* ours: the replies */
};

static void peer_open(struct bx_server *srv, struct peer *p)
{
	int sv[2];
	p->c = NULL;
	p->fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	/* room for every reply: nothing reads until the end */
	int big = 8 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	p->c = bx_conn_detached(srv, "op", sv[0]);
	if (!p->c) {
		close(sv[1]);
		return;
	}
	p->fd = sv[1];
	fcntl(p->fd, F_SETFL, O_NONBLOCK);
}

/* Reads every reply the peer got and checks each is a whole reply frame. */
static void peer_check(struct peer *p)
{
	static uint8_t buf[16 << 20];
	size_t len = 0;
	for (ssize_t n; len < sizeof buf && (n = read(p->fd, buf + len, sizeof buf - len)) > 0;)
		len += (size_t)n;
	size_t off = 0;
	while (len - off >= 8) {
		ssize_t size = op_frame_size(buf + off, 0);
		struct op_msg m;
		if (size < 0 || (size_t)size > len - off)
			break; /* a reply cut short by the socket's room: fine */
		if (op_unpack(&m, buf + off, (size_t)size) != 0 || !m.reply) {
			fprintf(stderr, "bad reply frame at %zu\n", off);
			abort();
		}
		off += (size_t)size;
	}
	close(p->fd);
}

static void feed_request(struct bx_conn *c, const uint8_t *d, size_t n)
{
	if (!n)
		return;
	static uint8_t buf[8192];
	char box[256];
	size_t k = 0;
	for (; k + 1 < n && k < sizeof box - 1 && d[k + 1]; k++)
		box[k] = (char)d[k + 1];
	box[k] = '\0';
	static const char *const addrs[] = { "unix!/nonexistent/op", "bogus" };
	struct op_msg m = { .type = d[0] % OP_NTYPES,
			    .user = "root",
			    .box = box,
			    .target = "/a",
			    .addr = addrs[d[0] & 1],
			    .len = d[0] % 7 * 1000,
			    .data = buf,
			    .st = { .kind = d[0] & 8 ? "dir" : "file" } };
	if (m.type == OP_STATUS)
		m.type = OP_KIND;
	if (m.type == OP_COPY)
		m.type = OP_SELECTORS; /* a COPY retries its dial for 2 s: too slow here */
	ssize_t len = op_pack(buf + 4096, sizeof buf - 4096, &m);
	if (len > 0)
		bx_conn_feed(c, buf + 4096, (size_t)len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	signal(SIGPIPE, SIG_IGN);
	struct boxfs_server *s = boxfs_server_new(&(struct boxfs_server_opts){ .workers = 2 });
	if (!s)
		return 0;
	struct bx_server *srv = (struct bx_server *)s;
	struct boxfs_ramfs_opts ro = { .max_bytes = 1 << 20 };
	if (boxfs_server_mount(s, "/", boxfs_ramfs_new(&ro)) < 0 ||
	    boxfs_server_mount(s, "/mem", boxfs_memfs_new(NULL)) < 0) {
		boxfs_server_free(s);
		return 0;
	}
	struct peer p[2];
	for (int i = 0; i < 2; i++)
		peer_open(srv, &p[i]);
	/* a few boxes to find */
	static const uint8_t setup[][8] = { { 2, '/', 'a' }, { 2 | 8, '/', 'd' } };
	for (size_t i = 0; i < 2 && p[0].c; i++)
		feed_request(p[0].c, setup[i], 3);
	size_t i = 0;
	while (i < size) {
		uint8_t ctl = data[i++];
		struct peer *q = &p[ctl & 1];
		unsigned act = ctl >> 1 & 3;
		size_t n = 0;
		if (act == 0 && i + 2 <= size) {
			n = (size_t)data[i] << 8 | data[i + 1];
			i += 2;
		} else if (act == 2 && i < size) {
			n = data[i++] % 64;
		} else if (act == 3) {
			n = size - i;
		}
		if (n > size - i)
			n = size - i;
		if (act == 1) {
			if (q->c) {
				bx_conn_hangup(q->c);
				peer_check(q);
			}
			peer_open(srv, q);
		} else if (q->c) {
			if (act == 2)
				feed_request(q->c, data + i, n);
			else
				bx_conn_feed(q->c, data + i, n);
		}
		i += n;
	}
	for (int k = 0; k < 2; k++)
		if (p[k].c)
			bx_conn_hangup(p[k].c);
	boxfs_server_free(s);
	for (int k = 0; k < 2; k++)
		if (p[k].fd >= 0)
			peer_check(&p[k]);
	return 0;
}
