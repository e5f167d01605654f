/*
 * server_impl.h — what doors see of the server: connections, sending, the
 * worker pool, and the door interface itself.
 */
#ifndef BOXFS_CORE_SERVER_IMPL_H
#define BOXFS_CORE_SERVER_IMPL_H

#include <boxfs/server.h>

#include "core/lock_impl.h"
#include "core/ns_impl.h"
#include "core/token_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/uio.h>

struct bx_conn;
struct bx_rio_fwd;
struct bx_op_stage;

/*
 * A door: one protocol's framing and request handling. All callbacks but
 * `frame_size` may be slow; all run on the loop thread.
 */
struct bx_door {
	const char *name;
	unsigned flags;	 /* BX_DOOR_* */
	size_t hdr_size; /* bytes needed before frame_size can answer */
	/* The size of the frame whose header is at hdr, or -errno to close. */
	ssize_t (*frame_size)(struct bx_conn *c, const uint8_t *hdr);
	/* Sets up c->door_state for a new connection; 0 or -errno. */
	int (*open)(struct bx_conn *c);
	/* Handles one whole frame. The bytes are valid only during the call: a
	 * door that keeps the request beyond it copies them. */
	void (*frame)(struct bx_conn *c, const uint8_t *frame, size_t len);
	/* The connection is going away: cancel what is in flight. Requests
	 * still running hold references and finish later. */
	void (*hangup)(struct bx_conn *c);
	/* Frees c->door_state, once nothing refers to the connection. */
	void (*free)(struct bx_conn *c);
	/* Optional: whether the server can serve this door at all (a backend
	 * it needs is mounted); 0 or -errno, asked before listening. */
	int (*usable)(struct bx_server *srv);
};

/* Door flags. */
enum {
	/* Packets, not a byte stream: the door's Unix listeners are
	 * SOCK_SEQPACKET, each message read is one frame (frame_size is not
	 * called; a truncated message closes the connection), and descriptors
	 * that came with it (SCM_RIGHTS) are in c->rxfds during the frame
	 * call. */
	BX_DOOR_PACKETS = 1 << 0,
};

/* Descriptors one packet may bring (more close the connection). */
enum { BX_RXFDS = 4 };

struct bx_obuf;

/* One transport connection. Reference counted: the loop holds one while the
 * connection is open, each request in flight holds one. */
struct bx_conn {
	atomic_uint ref;
	struct bx_server *srv;
	struct bx_conn *next, *prev; /* the server's list, under srv->mu */
	unsigned id;
	int rfd, wfd;
	bool is_socket; /* send with MSG_NOSIGNAL */
	bool closing;	/* loop thread: hung up, no more reading */
	const struct bx_door *door;
	void *door_state;
	struct boxfs_cred peer; /* SO_PEERCRED on Unix sockets */
	bool has_peer;
	bool local;	  /* a Unix socket or an inherited pair */
	size_t max_frame; /* frames above this close the connection */

	/* input, loop thread only */
	uint8_t *in;
	size_t inlen, incap;
	/* BX_DOOR_PACKETS: the descriptors that came with the frame being
	 * handled. A door that keeps one sets its slot to -1; the loop closes
	 * the others after the frame call. */
	int rxfds[BX_RXFDS];
	unsigned nrxfds;

	/* output, under wmu */
	pthread_mutex_t wmu;
	struct bx_obuf *qhead, *qtail;
	size_t qbytes;
	uint32_t events; /* the epoll mask now armed */
	bool dead;	 /* write failed or hung up: drop output */
};

struct bx_server {
	struct boxfs_server_opts opts;
	struct bx_ns *ns;
	struct bx_locks *locks;
	struct bx_tokens *tokens;
	struct bx_tls_server *tls;    /* made by the first TLS listener, under mu */
	struct bx_rio_fwd *rio_fwd;   /* rio forwards (door/rio), freed with the server */
	struct bx_op_stage *op_stage; /* op's PUTMEM series and copies (door/op), likewise */
	int epfd;
	int evfd; /* stop and wake-ups */
	atomic_bool stopping;
	pthread_t thread;
	bool threaded;

	pthread_mutex_t mu; /* listeners and connections */
	struct listener *listeners;
	unsigned nlisteners;
	struct bx_conn *conns;
	unsigned nconns;
	unsigned next_conn_id;
	pthread_cond_t idle_cv; /* signalled when nconns drops */

	/* worker pool, under pool_mu */
	pthread_mutex_t pool_mu;
	pthread_cond_t work_cv;
	struct work *work_head, *work_tail;
	pthread_t *workers;
	unsigned nworkers, idle_workers;
	atomic_uint pending;   /* submitted and not finished: the loop polls only at 0 */
	atomic_bool poll_hint; /* the loop should poll before sleeping (see wait_events) */
	bool pool_stop;
};

/* Takes a reference. */
static inline struct bx_conn *bx_conn_get(struct bx_conn *c)
{
	atomic_fetch_add_explicit(&c->ref, 1, memory_order_relaxed);
	return c;
}

/* Drops a reference; the last one frees the connection. *c becomes NULL. */
void bx_conn_put(struct bx_conn **c);

/*
 * Sends len bytes as one message, after everything sent before on c. Never
 * blocks: what the socket does not take at once is copied and queued. Safe
 * from any thread. A connection that died drops the bytes.
 */
void bx_conn_send(struct bx_conn *c, const void *buf, size_t len);

/* bx_conn_send of the n pieces of iov, back to back, as one message. */
void bx_conn_sendv(struct bx_conn *c, const struct iovec *iov, int n);

/* bx_conn_sendv with descriptor fd passed (SCM_RIGHTS) along with the first
 * byte; only on a Unix socket (bx_conn_unix). fd stays the caller's. */
void bx_conn_sendv_fd(struct bx_conn *c, const struct iovec *iov, int n, int fd);

/* True when c is a Unix stream socket, which can carry descriptors. */
static inline bool bx_conn_unix(const struct bx_conn *c)
{
	return c->local && c->is_socket;
}

/* Hangs up c as the peer's hang-up would (a door that meets a broken
 * protocol). Loop thread only, from within the door's frame callback. */
void bx_conn_close(struct bx_conn *c);

/*
 * A new connection of door on the connected socket fd (consumed, also on
 * failure), for a door that makes connections itself (rio's OPEN). It is
 * entered in the server's list and opened by the door, but not yet read:
 * the caller, holding the reference answered, finishes c->door_state and
 * calls bx_conn_start. NULL with *err (-ENOMEM, -EMFILE) on failure. Any
 * thread.
 */
struct bx_conn *bx_conn_adopt(struct bx_server *srv, const struct bx_door *door, int fd, int *err);

/* Starts reading c and drops the caller's reference (*c becomes NULL).
 * 0, or -errno and the connection is hung up. Any thread. */
int bx_conn_start(struct bx_conn **c);

/* Frees srv->rio_fwd (src/door/rio). */
void bx_rio_fwd_free(struct bx_server *srv);

/* Frees srv->op_stage (src/door/op). */
void bx_op_stage_free(struct bx_server *srv);

/* Runs fn(arg) on a worker thread. 0 or -ENOMEM. */
int bx_pool_submit(struct bx_server *srv, void (*fn)(void *), void *arg);

/*
 * For tests and fuzzers: a connection with no socket to read. Frames come
 * from bx_conn_feed, with the same framing checks the loop applies; output
 * goes to wfd (which the connection owns). bx_conn_hangup ends it like a
 * hang-up and drops the caller's reference.
 */
struct bx_conn *bx_conn_detached(struct bx_server *srv, const char *door, int wfd);
void bx_conn_feed(struct bx_conn *c, const uint8_t *buf, size_t len);
void bx_conn_hangup(struct bx_conn *c);

/* The doors. */
extern const struct bx_door bx_door_9p;
extern const struct bx_door bx_door_smdish;
extern const struct bx_door bx_door_idl;
extern const struct bx_door bx_door_rio;
extern const struct bx_door bx_door_op;

#endif
