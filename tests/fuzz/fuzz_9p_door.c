/*
 * fuzz_9p_door.c — the 9P door in-process, with no socket: a fresh server
 * with two RAM trees per input, a connection fed by hand whose replies go to
 * /dev/null. The first input byte picks the dialect; the harness sends
 * Tversion and Tattach (fid 0) itself, then feeds the rest of the input as
 * the byte stream a client would send. Crashes, sanitizer reports and leaks
 * (the server is freed after every input) are what it looks for.
 */
#include <boxfs/9p.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>

#include "core/server_impl.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void feed(struct bx_conn *c, const struct p9_fcall *f, enum p9_dialect d)
{
	uint8_t buf[256];
	ssize_t n = p9_pack(buf, sizeof buf, f, d);
	if (n > 0)
		bx_conn_feed(c, buf, (size_t)n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum p9_dialect d = (enum p9_dialect)(data[0] % 3);
	data++, size--;

	struct boxfs_server_opts so = { .max_msize = 65536, .trust_uname = true };
	struct boxfs_ramfs_opts ro = { .max_bytes = 1 << 20 };
	struct boxfs_server *srv = boxfs_server_new(&so);
	if (!srv)
		abort();
	if (boxfs_server_mount(srv, "/", boxfs_ramfs_new(&ro)) < 0 ||
	    boxfs_server_mount(srv, "/sub", boxfs_ramfs_new(&ro)) < 0)
		abort();
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct bx_conn *c = bx_conn_detached((struct bx_server *)srv, "9p", null);
	if (!c)
		abort();

	struct p9_fcall f = { .type = P9_Tversion, .tag = P9_NOTAG };
	f.tversion.msize = 65536;
	f.tversion.version = p9_cstr(p9_dialect_name(d));
	feed(c, &f, d);
	f = (struct p9_fcall){ .type = P9_Tattach, .tag = 0 };
	f.tattach = (struct p9_tattach){ .fid = 0,
					 .afid = P9_NOFID,
					 .uname = p9_cstr("root"),
					 .aname = p9_cstr(""),
					 .n_uname = 0 };
	feed(c, &f, d);
	bx_conn_feed(c, data, size);

	bx_conn_hangup(c);
	boxfs_server_free(srv);
	return 0;
}
