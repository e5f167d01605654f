/*
 * tc9p.h — a raw 9P client for tests: one end of a socketpair served by
 * boxfs_server_serve_fds, messages packed and unpacked with boxfs/9p.h, and
 * every failure a cmocka assertion. A server without threads is dispatched
 * from the client's own wait loop.
 */
#ifndef BOXFS_TESTS_TC9P_H
#define BOXFS_TESTS_TC9P_H

#include <stdbool.h>
#include <stdint.h>

#include <boxfs/9p.h>
#include <boxfs/server.h>

/* The msize tc_connect asks for. */
enum { TC_MSIZE = 65536 };

struct tc {
	int fd;
	enum p9_dialect d;
	uint8_t *buf; /* the last reply */
	struct boxfs_server *srv;
	bool own_loop;	   /* a server without threads: tc_recv dispatches */
	uint32_t msize;	   /* asked for in Tversion; buf holds msize + 64 */
	const char *uname; /* sent in Tattach */
};

/* Serves one end of a new socketpair on s's "9p" door and returns a client
 * on the other, in 9P2000.L until version; own_loop says s has no threads
 * and the client dispatches it while it waits. It asks for msize and
 * attaches as uname. */
struct tc tc_connect_as(struct boxfs_server *s, bool own_loop, uint32_t msize, const char *uname);

/* tc_connect_as with TC_MSIZE and user "root". */
struct tc tc_connect(struct boxfs_server *s, bool own_loop);

/* Closes the client's end and frees its buffer. */
void tc_close(struct tc *t);

/* Packs f in the client's dialect and writes it whole. */
void tc_send(struct tc *t, const struct p9_fcall *f);

/* Waits up to ms for the client's socket to read ready; a server without
 * threads is dispatched meanwhile, from this loop. False when time ran out. */
bool tc_wait(struct tc *t, int ms);

/* Reads exactly n bytes into p, waiting at most 5 s for each piece. */
void read_full(struct tc *t, uint8_t *p, size_t n);

/* Reads one message into t->buf and unpacks it into rx (which points into
 * t->buf until the next tc_recv). */
void tc_recv(struct tc *t, struct p9_fcall *rx);

/* Checks that nothing arrives for ms. */
void no_reply(struct tc *t, int ms);

/* Sends tx and receives rx, which must carry tx's tag. */
void rpc(struct tc *t, struct p9_fcall *tx, struct p9_fcall *rx);

/* The errno an Rlerror or Rerror carries (a 9P2000 ename mapped back), or 0
 * for any other reply. */
int rerr(const struct tc *t, const struct p9_fcall *rx);

/* Fails the test unless rx is of type rtype, naming both and the error. */
void expect(const struct tc *t, const struct p9_fcall *rx, uint8_t rtype);

/* Tversion for dialect d with t->msize; the client speaks d from here on. */
void version(struct tc *t, enum p9_dialect d);

/* Tattach of fid 0 to aname "" as t->uname, no auth. */
void attach(struct tc *t);

/* tc_connect, version in d and attach: fid 0 is the root. */
struct tc session(struct boxfs_server *s, enum p9_dialect d, bool own_loop);

/* Sends a Tread of count bytes at offset 0 of fid, without waiting. */
void send_read(struct tc *t, uint16_t tag, uint32_t fid, uint32_t count);

/* Sends a Tflush of oldtag, without waiting. */
void send_flush(struct tc *t, uint16_t tag, uint16_t oldtag);

/* Receives an Rread of tag carrying exactly data. */
void expect_rread(struct tc *t, uint16_t tag, const char *data);

/* Clunks fid (tag 4) and checks the Rclunk. */
void clunk(struct tc *t, uint32_t fid);

/* The threads of this process now. */
int ntasks(void);

/* The three dialects, for tests that run in each. */
extern const enum p9_dialect tc_dialects[3];

#endif
