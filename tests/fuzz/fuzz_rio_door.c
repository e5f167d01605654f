/*
 * fuzz_rio_door.c — the rio codec and door in-process: a fresh server per
 * input (a RAM root, memfiles at /mem), with two detached rio channels fed
 * packet by packet.
 *
 * Input: records, each a control byte and its bytes. ctl & 1 names the
 * channel; ctl >> 1 & 3 is the action: 0 feeds the next u16 big-endian
 * count of bytes as one packet, 1 hangs the channel up and makes a new
 * one, 2 feeds the rest of the input as one packet, 3 feeds an OPEN of the
 * next byte's count of bytes as path with flags from the byte after (no
 * descriptor comes with a detached packet: the door must refuse it).
 *
 * Every reply is read back and checked: a whole STATUS packet that the
 * codec decodes, with a status that is 0, positive, or a Linux errno.
 * Crashes, sanitizer reports, leaks (the server is freed after every input)
 * and hangs are what it looks for.
 */
#include <boxfs/memfs.h>
#include <boxfs/ramfs.h>
#include <boxfs/rio.h>
#include <boxfs/server.h>

#include "core/server_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct chan {
	struct bx_conn *c;
	int fd; /* ours */
};

static void drain(struct chan *p)
{
	if (p->fd < 0)
		return;
	for (;;) {
		uint8_t buf[RIO_MSGMAX + 1];
		ssize_t n = recv(p->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0)
			return;
		struct rio_msg m;
		if (rio_msg_unpack(&m, buf, (size_t)n) < 0 || m.op != RIO_STATUS || m.arg < -4095 ||
		    m.hcount != 0)
			abort();
	}
}

static void connect_chan(struct bx_server *srv, struct chan *p)
{
	int sv[2];
	p->c = NULL;
	p->fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	p->c = bx_conn_detached(srv, "rio", sv[0]);
	if (!p->c) {
		close(sv[1]);
		return;
	}
	p->c->is_socket = true;
	p->fd = sv[1];
}

static void hangup(struct chan *p)
{
	drain(p);
	if (p->c)
		bx_conn_hangup(p->c);
	if (p->fd >= 0)
		close(p->fd);
	p->c = NULL;
	p->fd = -1;
}

static void feed(struct chan *p, const uint8_t *b, size_t n)
{
	if (!p->c)
		return;
	bx_conn_feed(p->c, b, n);
	drain(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boxfs_server_opts so = { .workers = 1 };
	struct boxfs_server *srv = boxfs_server_new(&so);
	if (!srv)
		abort();
	struct boxfs_memfs_opts mo = { .max_segment = 4096, .max_files = 16 };
	if (boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(srv, "/mem", boxfs_memfs_new(&mo)) < 0)
		abort();
	struct chan ch[2];
	for (int i = 0; i < 2; i++)
		connect_chan((struct bx_server *)srv, &ch[i]);
	while (size) {
		uint8_t ctl = data[0];
		struct chan *p = &ch[ctl & 1];
		data++, size--;
		switch (ctl >> 1 & 3) {
		case 0: {
			if (size < 2) {
				size = 0;
				break;
			}
			size_t n = (size_t)data[0] << 8 | data[1];
			data += 2, size -= 2;
			if (n > size)
				n = size;
			feed(p, data, n);
			data += n, size -= n;
			break;
		}
		case 1:
			hangup(p);
			connect_chan((struct bx_server *)srv, p);
			break;
		case 2:
			feed(p, data, size);
			size = 0;
			break;
		case 3: {
			if (size < 2) {
				size = 0;
				break;
			}
			size_t n = data[0];
			int flags = data[1];
			data += 2, size -= 2;
			if (n > size)
				n = size;
			uint8_t pkt[RIO_HDRSZ + 256];
			struct rio_msg m = {
				.op = RIO_OPEN, .datalen = (uint32_t)n, .arg = flags, .arg2 = 0644
			};
			rio_hdr_pack(pkt, &m);
			memcpy(pkt + RIO_HDRSZ, data, n);
			feed(p, pkt, RIO_HDRSZ + n);
			data += n, size -= n;
			break;
		}
		}
	}
	for (int i = 0; i < 2; i++)
		hangup(&ch[i]);
	boxfs_server_free(srv);
	return 0;
}
