/*
 * client_impl.h — the 9P client's private structures and the helpers that
 * client.c (connection, messages, fids, walks) gives posix.c (the POSIX-like
 * layer). Nothing outside src/client includes this.
 */
#ifndef BOXFS_CLIENT_IMPL_H
#define BOXFS_CLIENT_IMPL_H

#include <boxfs/9p.h>
#include <boxfs/client.h>
#include <pthread.h>

#include "client/mux.h"

enum {
	P9C_SMALL = 512,   /* replies this small land on the caller's stack */
	P9C_MAXLINKS = 40, /* symbolic links followed in one resolution */
};

struct boxfs_client {
	struct bx_mux *mux;
	enum p9_dialect d;
	uint32_t msize;
	uint32_t root;
	struct p9_qid rootqid;
	char client_id[64]; /* Tlock's client_id: unique per connection */

	pthread_mutex_t fidlk; /* the fid pool */
	uint32_t *freefids;
	uint32_t nfree, capfree;
	uint32_t nextfid;
};

/* An open file; off is guarded by lk. */
struct boxfs_file {
	struct boxfs_client *c;
	uint32_t fid;
	struct p9_qid qid;
	uint32_t iounit;
	int flags;
	pthread_mutex_t lk;
	off_t off;
};

/* A decoded reply and the buffer it points into. */
struct p9c_reply {
	struct p9_fcall f;
	void *buf;
	uint8_t small[P9C_SMALL];
};

/* An open directory being listed; everything guarded by lk. */
struct boxfs_dir {
	struct boxfs_client *c;
	uint32_t fid;
	uint32_t iounit;
	pthread_mutex_t lk;
	struct p9c_reply rep; /* the last Rreaddir/Rread, when have_rep */
	bool have_rep, eof;
	size_t pos;	 /* next record in rep's data */
	uint64_t offset; /* next Treaddir cookie, or Tread offset */
	char *name;	 /* the last entry's name */
	size_t namecap;
};

/* A path split into names; names point into buf. */
struct p9c_path {
	char *buf;
	const char **names;
	int n;
};

int p9c_path_split(const char *path, struct p9c_path *p);
void p9c_path_free(struct p9c_path *p);

/*
 * Sends tx and waits for a reply of type want, decoded into r (release it
 * with p9c_reply_done, also on failure). Rerror/Rlerror become -errno.
 */
int p9c_rpc(struct boxfs_client *c, const struct p9_fcall *tx, struct p9c_reply *r, uint8_t want);
void p9c_reply_done(struct p9c_reply *r);

/* Twrite without copying data: the count written or -errno. */
ssize_t p9c_write(struct boxfs_client *c, uint32_t fid, uint64_t off, const void *data, uint32_t n);

uint32_t p9c_fid_get(struct boxfs_client *c);
void p9c_fid_put(struct boxfs_client *c, uint32_t fid);
/* Tclunk: the fid is free afterwards whatever the answer. */
int p9c_clunk(struct boxfs_client *c, uint32_t fid);

/*
 * Walks from the root along names[0..n) into a fresh fid, in pieces of at
 * most 16 names: 0 with *fid (the caller clunks it) and *qid, or -errno
 * (-ENOENT for a walk that came back short) with no fid held.
 */
int p9c_walk(struct boxfs_client *c, const char *const *names, int n, uint32_t *fid,
	     struct p9_qid *qid);

/* The largest read/write payload for a fid with this iounit. */
uint32_t p9c_iomax(const struct boxfs_client *c, uint32_t iounit);

struct boxfs_mem;
/* memfile.c: a new descriptor (close-on-exec) of the segment of the shared
 * mapping mapfd, for the POSIX layer's mmap; -ENODEV for a ship replica. */
int bx_mem_segfd(struct boxfs_mem *m, int mapfd);

#endif
