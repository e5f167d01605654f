/*
 * mux.h — a protocol-neutral tag multiplexer: many outstanding requests on one
 * connection, from many threads, each reply routed to its request by tag.
 *
 * Used by the protocol clients (the 9P client in src/client/client.c) and by
 * nothing else. The multiplexer knows a protocol only through the callbacks of
 * struct bx_mux_proto: the size of a frame from its header, and where the tag
 * is. See the top of mux.c for the threading model.
 */
#ifndef BOXFS_CLIENT_MUX_H
#define BOXFS_CLIENT_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct bx_mux;
struct bx_mux_rpc;

/* What the multiplexer knows of a protocol. */
struct bx_mux_proto {
	/* Bytes of a frame's header; frame_size and get_tag read only these. */
	size_t hdr_len;
	/* The whole frame's size from its header, or -errno when malformed. */
	ssize_t (*frame_size)(const void *hdr, void *aux);
	uint32_t (*get_tag)(const void *hdr, void *aux);
	/* Writes tag into the header of an outgoing frame. */
	void (*set_tag)(void *hdr, uint32_t tag, void *aux);
	/* The tag space, inclusive; 9P uses 0..0xfffe (NOTAG is never handed out). */
	uint32_t tag_min, tag_max;
	void *aux;
};

/*
 * A cancellation token for one synchronous call. The caller fills flush and
 * arg, zeroes the rest, and passes it in bx_mux_msg.cancel; any thread may
 * then call bx_mux_cancel. The flush hook sends the protocol's cancel request
 * for oldtag (9P: Tflush) with bx_mux_call, setting msg.is_flush and
 * msg.oldtag, and returns its status.
 */
struct bx_mux_cancel {
	int (*flush)(struct bx_mux *m, uint32_t oldtag, void *arg);
	void *arg;
	/* private, under the multiplexer's lock */
	struct bx_mux_rpc *rpc;
	bool requested;
};

/* One synchronous call. */
struct bx_mux_msg {
	/* The request: iov[0] must hold at least hdr_len bytes (the tag is written there). */
	const struct iovec *iov;
	int iovcnt;
	/* Optional receive buffer: a reply that fits is read into it. */
	void *rbuf;
	size_t rcap;
	/* Optional cancellation token (see struct bx_mux_cancel). */
	struct bx_mux_cancel *cancel;
	/* For a flush request sent from a flush hook: the tag it cancels. */
	bool is_flush;
	uint32_t oldtag;
	/* Out: the reply frame, either rbuf or a malloc'd buffer the caller frees. */
	void *reply;
	size_t rlen;
};

/*
 * The reply callback of an asynchronous call: err is 0 and reply (len bytes,
 * malloc'd, now owned by the callback) the frame, or err is -errno and reply
 * NULL. Called exactly once, on whichever thread is reading, without the
 * multiplexer's lock; it must not wait on this multiplexer.
 */
typedef void (*bx_mux_cb)(void *arg, int err, void *reply, size_t len);

/*
 * A multiplexer over the connected descriptors rfd and wfd (which may be equal),
 * taking ownership of them (closed by bx_mux_free, or here on failure); frames
 * larger than max_frame break the connection. NULL with errno on failure.
 */
struct bx_mux *bx_mux_new(int rfd, int wfd, const struct bx_mux_proto *p, size_t max_frame);

/* Hangs up, waits for the reader thread, closes the descriptors and frees m;
 * no call may be in progress or start. */
void bx_mux_free(struct bx_mux *m);

/* Changes the largest frame accepted (after a protocol's negotiation). */
void bx_mux_set_max_frame(struct bx_mux *m, size_t max_frame);

/*
 * Sends msg's request with a fresh tag and waits for the reply with that tag:
 * 0 with msg->reply/rlen set (free msg->reply when it is not msg->rbuf), or
 * -ECONNRESET/-EPIPE when the connection is broken, -EINTR when the call was
 * cancelled and flushed before its reply came.
 */
int bx_mux_call(struct bx_mux *m, struct bx_mux_msg *msg);

/*
 * Sends a request with a fresh tag and returns without waiting: 0 when it was
 * sent (cb will be called exactly once, perhaps before this returns), or
 * -errno when it could not be (cb is not called). Waits for a free tag.
 */
int bx_mux_call_async(struct bx_mux *m, const struct iovec *iov, int iovcnt, bx_mux_cb cb,
		      void *arg);

/*
 * Cancels the synchronous call that holds c, if it is still waiting: calls
 * c->flush with its tag and returns when the flush has been answered. The
 * cancelled call returns its reply if that came first, else -EINTR. 0 or the
 * flush hook's error.
 */
int bx_mux_cancel(struct bx_mux *m, struct bx_mux_cancel *c);

/* Breaks the connection: every outstanding and future call fails with err. */
void bx_mux_hangup(struct bx_mux *m, int err);

/* 0 while the connection works, else the error calls fail with. */
int bx_mux_error(struct bx_mux *m);

#endif
