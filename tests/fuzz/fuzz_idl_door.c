/*
 * fuzz_idl_door.c — the idl door in-process, with no listener: a fresh
 * server per input (a RAM root, the registry at /srv, tasks at /task,
 * devices at /dev), two idl connections fed by hand over socket pairs whose
 * replies are read and dropped. The connections have no peer credentials,
 * so task.launch is refused and no program ever runs.
 *
 * Input: records of a control byte and its bytes. ctl & 1 names the
 * connection; ctl >> 1 & 3 is the action: 0 feeds the next u16 big-endian
 * count of bytes as they are, 1 hangs up and reconnects, 2 builds a
 * well-framed request (the next byte picks the message, then its fixed
 * fields and an ool field of up to 255 bytes come from the input), 3 feeds
 * the rest. Crashes, sanitizer reports, leaks and hangs are what it looks for.
 */
#include <boxfs/idl.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>
#include <boxfs/svcfs.h>

#include "core/server_impl.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct peer {
	struct bx_conn *c;
	int fd;
};

static void peer_connect(struct bx_server *srv, struct peer *p)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	p->fd = sv[0];
	p->c = bx_conn_detached(srv, "idl", sv[1]);
	if (!p->c)
		abort();
}

static void drain(struct peer *p)
{
	uint8_t buf[65536];
	while (read(p->fd, buf, sizeof buf) > 0)
		;
}

static void peer_hangup(struct peer *p)
{
	bx_conn_hangup(p->c);
	drain(p);
	close(p->fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct boxfs_server *srv = boxfs_server_new(NULL);
	if (!srv || boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(srv, "/srv", boxfs_srvfs_new()) < 0 ||
	    boxfs_server_mount(srv, "/task", boxfs_taskfs_new()) < 0 ||
	    boxfs_server_mount(srv, "/dev", boxfs_devfs_new(NULL)) < 0)
		abort();
	struct bx_server *s = (struct bx_server *)srv;
	struct peer p[2];
	peer_connect(s, &p[0]);
	peer_connect(s, &p[1]);
	while (size) {
		uint8_t ctl = data[0];
		struct peer *q = &p[ctl & 1];
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
			bx_conn_feed(q->c, data, n);
			data += n, size -= n;
			break;
		}
		case 1:
			peer_hangup(q);
			peer_connect(s, q);
			break;
		case 2: {
			if (!size)
				break;
			const struct boxfs_idl_msg *m = &boxfs_idl_msgs[data[0] % IDL_NMSGS];
			data++, size--;
			uint8_t frame[BOXFS_IDL_HDRSZ + BOXFS_IDL_MAX_FIXED + 4 + 255];
			size_t fixed = m->args.fixed < size ? m->args.fixed : size;
			memcpy(frame + BOXFS_IDL_HDRSZ, data, fixed);
			memset(frame + BOXFS_IDL_HDRSZ + fixed, 0, m->args.fixed - fixed);
			data += fixed, size -= fixed;
			size_t body = m->args.fixed;
			if (m->args.ool >= 0) {
				size_t n = size ? data[0] : 0;
				if (size)
					data++, size--;
				if (n > size)
					n = size;
				uint8_t *l = frame + BOXFS_IDL_HDRSZ + body;
				l[0] = (uint8_t)n, l[1] = l[2] = l[3] = 0;
				memcpy(l + 4, data, n);
				data += n, size -= n;
				body += 4 + n;
			}
			boxfs_idl_hdr_pack(frame, (uint32_t)body, m->id, 0);
			bx_conn_feed(q->c, frame, BOXFS_IDL_HDRSZ + body);
			break;
		}
		case 3:
			bx_conn_feed(q->c, data, size);
			size = 0;
			break;
		}
		drain(&p[0]);
		drain(&p[1]);
	}
	peer_hangup(&p[0]);
	peer_hangup(&p[1]);
	boxfs_server_free(srv);
	return 0;
}
