/*
 * boxfs/server.h — running a boxfs server: a namespace of backends, served
 * through doors on transports.
 *
 *	struct boxfs_server *srv = boxfs_server_new(NULL);
 *	boxfs_server_mount(srv, "/", boxfs_ramfs_new(NULL));
 *	boxfs_server_listen(srv, "9p", "unix!/tmp/sock");
 *	boxfs_server_run(srv);            // until boxfs_server_stop()
 *	boxfs_server_free(srv);
 *
 * Addresses are Plan 9 dial strings: unix!/path, unix!@abstract,
 * tcp!host!port (tcp!*!port for every address), tls!host!port for TCP
 * carrying TLS 1.3 (needs tls_cert and tls_key; see boxfs/tls.h), fd!R!W for
 * an inherited pair.
 */
#ifndef BOXFS_SERVER_H
#define BOXFS_SERVER_H

#include <boxfs/common.h>
#include <boxfs/fs.h>
#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Limits and knobs; zero fields take the default shown. */
struct boxfs_server_opts {
	unsigned max_conns;    /* 1024 */
	unsigned max_requests; /* outstanding per connection: 256 */
	unsigned max_fids;     /* fids per connection: 65536 (each may hold a descriptor) */
	uint32_t max_msize;    /* 9P msize offered: 1 MiB + 24; never below 4096 */
	size_t max_conn_queue; /* reply bytes queued per connection before it
				* stops reading new requests: 4 * max_msize */
	unsigned workers;      /* threads for backends that may block: 16 */
	FILE *debug;	       /* when set, every message in and out, one line each */
	bool trust_uname;      /* act as the 9P uname/n_uname on TCP (default: true);
				* on Unix sockets a non-root peer is always itself */
	int poll_us;	       /* after bulk data and TCP requests, poll this long before
				* sleeping: 0 means 50 µs, negative means never */
	/* TLS listeners (tls!host!port): PEM files of the certificate chain and
	 * its key, and, when tls_ca is set, the CAs that must have signed every
	 * client's certificate (none is required otherwise). Read by the first
	 * TLS listen; TLS clients are remote, like TCP ones. */
	const char *tls_cert, *tls_key, *tls_ca;
	unsigned token_ttl_ms; /* an unclaimed session token (smdish fork) expires: 60000 */
	bool no_threads;       /* make no thread at all: every backend call runs on the
				* thread in boxfs_server_run or boxfs_server_dispatch;
				* a backend must then never wait (its calls are
				* boxfs_call_nowait(); waiting answers are deferred,
				* see BOXFS_EDEFERRED). TLS listeners are refused
				* (-EOPNOTSUPP) in this mode, and so is
				* boxfs_server_start (-EINVAL). */
};

struct boxfs_server;

/* A server with an empty namespace (opts may be NULL). NULL+errno on failure. */
BOXFS_API struct boxfs_server *boxfs_server_new(const struct boxfs_server_opts *opts);

/*
 * Mounts a backend instance at path; "/" must be mounted first. The server
 * takes ownership of fs, also when this fails. Answers 0 or -errno. Call before
 * boxfs_server_run/start.
 */
BOXFS_API int boxfs_server_mount(struct boxfs_server *srv, const char *path, struct boxfs_fs *fs);

/*
 * Serves door ("9p", or "smdish" for the memfiles of the first memfs
 * instance mounted) on a dial string. Answers 0 or -errno (-EADDRINUSE,
 * -EINVAL for a bad address or unknown door, -ENOENT for smdish without a
 * memfs mounted ...). May be called while running.
 * The first tls! listener loads opts' TLS files, and answers -ENOKEY without
 * tls_cert and tls_key, -EPROTONOSUPPORT in a build without TLS, and a file's
 * errno or -EINVAL when one cannot be used (boxfs_tls_check says why).
 */
BOXFS_API int boxfs_server_listen(struct boxfs_server *srv, const char *door, const char *dial);

/* Serves one already-connected transport (rfd may equal wfd); the server owns
 * the descriptors from then on. Answers 0 or -errno. */
BOXFS_API int boxfs_server_serve_fds(struct boxfs_server *srv, const char *door, int rfd, int wfd);

/*
 * rio forwarding: an OPEN through the rio door whose path crosses path goes,
 * with the client's channel, to the rio server at dial (a unix! address),
 * which answers the client directly (docs/protocols/rio.md). 0 or -errno.
 * Call before serving.
 */
BOXFS_API int boxfs_server_forward(struct boxfs_server *srv, const char *path, const char *dial);

/* The dial string of the i-th listener (port numbers resolved), or NULL. */
BOXFS_API const char *boxfs_server_address(struct boxfs_server *srv, unsigned i);

/* The door ("9p", "smdish") of the i-th listener, or NULL. */
BOXFS_API const char *boxfs_server_door(struct boxfs_server *srv, unsigned i);

/*
 * Serving from the application's own loop (opts.no_threads, typically):
 *
 *	struct pollfd p = { .fd = boxfs_server_fd(srv), .events = POLLIN };
 *	for (;;) {
 *		poll(&p, 1, timeout);   // beside the application's descriptors
 *		boxfs_server_dispatch(srv);
 *	}
 *
 * A descriptor that becomes readable (poll/epoll/select) whenever
 * boxfs_server_dispatch has work; owned by the server.
 */
BOXFS_API int boxfs_server_fd(struct boxfs_server *srv);

/* Does the work that is ready — accepts, reads and answers requests, sends
 * queued replies — without waiting, then returns: 0 or -errno. For
 * applications that run their own loop; do not mix with boxfs_server_run or
 * boxfs_server_start. */
BOXFS_API int boxfs_server_dispatch(struct boxfs_server *srv);

/* Runs the event loop on the calling thread until boxfs_server_stop. 0 or -errno. */
BOXFS_API int boxfs_server_run(struct boxfs_server *srv);

/* Runs the event loop on a thread of the server's own. 0 or -errno. */
BOXFS_API int boxfs_server_start(struct boxfs_server *srv);

/* Asks the loop to stop; safe from any thread and from a signal handler. */
BOXFS_API void boxfs_server_stop(struct boxfs_server *srv);

/* Stops (joining the server's thread if it started one), closes every
 * connection and listener, and frees everything, mounted backends included. */
BOXFS_API void boxfs_server_free(struct boxfs_server *srv);

#ifdef __cplusplus
}
#endif
#endif
