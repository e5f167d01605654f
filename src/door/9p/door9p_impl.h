/*
 * door9p_impl.h — the 9P door's private state: connections, fids, requests.
 *
 * Locking: pc->mu guards the fid and tag tables, the users list and the
 * negotiated version; fid->mu guards one fid's open state, directory-read
 * position and xattr buffer. Order: pc->mu before fid->mu. No lock is held
 * across a backend call except fid->mu during directory reads and xattr
 * writes, which only that fid's requests contend for.
 */
#ifndef BOXFS_DOOR9P_IMPL_H
#define BOXFS_DOOR9P_IMPL_H

#include <boxfs/9p.h>

#include "base/intmap.h"
#include "core/call_impl.h"
#include "core/server_impl.h"

/* A user a client attached as: the credentials its fids act with. */
struct p9user {
	struct p9user *next;
	struct boxfs_cred cred;
	uint32_t groups[64];
};

enum fid_kind {
	FID_FILE,	 /* a node */
	FID_XATTR_READ,	 /* Txattrwalk: a value (or name list) to read */
	FID_XATTR_WRITE, /* Txattrcreate: a value being written */
};

struct fid {
	atomic_uint ref; /* the table's, plus one per request using it */
	uint32_t num;
	const struct p9user *user;
	struct bx_vnode *v;

	/* where it was walked from, for Tremove, Trename and Twstat names;
	 * NULL when unknown (the attach root, after a walk of "..") */
	struct bx_vnode *parent;
	char *name;

	pthread_mutex_t mu;
	enum fid_kind kind;
	bool open;
	int oflags;  /* Linux open flags it was opened with */
	bool rclose; /* 9P2000 ORCLOSE: remove on clunk */
	void *fh;
	uint64_t dir_offset; /* 9P2000 directory reads: the offset that continues, */
	uint64_t dir_cookie; /* and the cookie it stands for */

	/* xattr fids */
	uint8_t *xbuf;
	size_t xlen;  /* bytes held */
	size_t xsize; /* the size Txattrcreate announced */
	char *xname;
	int xflags;
};

struct p9conn {
	pthread_mutex_t mu;
	struct bx_conn *conn;
	bool versioned;
	enum p9_dialect d;
	uint32_t msize;
	struct bx_intmap fids;
	struct bx_intmap tags; /* requests running on the pool, by tag */
	unsigned inflight;
	struct p9user *users;
	bool all_inline; /* every mount is inline: no request needs the pool */
	bool all_try;	 /* every mount is inline or may be tried inline */
	bool any_defer;	 /* some mount declares BOXFS_FS_DEFER */
	bool no_threads; /* the server has no threads: everything runs here */
};

/* A Tflush that waits for the request it flushes to answer first. */
struct flushwait {
	struct flushwait *next;
	uint16_t tag;
};

/*
 * A request. One read on the loop thread lives on its stack and is answered
 * before the frame call returns. A request that may outlive that — one run
 * on the pool, or a Tread/Twrite that may be deferred (see BOXFS_EDEFERRED) —
 * is "tracked": a heap copy with the frame after it, entered in pc->tags
 * (so a Tflush finds it), answered under pc->mu, holding a reference to the
 * connection, and freed when its last reference goes (the run's, which a
 * deferral takes over until boxfs_call_done, and one per canceller running
 * the call's cancel hook outside pc->mu).
 */
struct req {
	struct bx_conn *conn;
	struct p9conn *pc;
	struct p9_fcall in;
	uint8_t *frame; /* the copy of the request, when tracked */
	struct boxfs_call call;
	bool tracked;
	bool on_pool;		   /* running on a worker */
	bool detached;		   /* aborted by Tversion or hang-up: no reply */
	struct flushwait *flushes; /* Tflush requests waiting for this one */
	atomic_uint refs;	   /* tracked requests */
	bool own_obuf;		   /* obuf is the request's own (a deferrable Tread/Twrite) */
	struct fid *fid;	   /* a deferred Tread/Twrite's fid, held until the answer */
	struct req *cancel_next;   /* p9_reset: requests whose cancel hook it runs */
	struct bx_cancel_hook hook;

	/* the reply */
	struct p9_fcall out;
	uint8_t *obuf; /* msize bytes of the replying thread's scratch, or own_obuf */
	uint32_t ocap;
	bool raw; /* out is already packed in obuf (Rread, Rreaddir): olen bytes */
	const struct iovec *direct; /* or out is these pieces (a direct read) */
	int ndirect;
	bool answered; /* respond() has run */
	size_t olen;
};

/* door9p.c: fids */
struct fid *p9_fid_get(struct p9conn *pc, uint32_t num);
void p9_fid_put(struct fid **f);
struct fid *p9_fid_new(struct p9conn *pc, uint32_t num, const struct p9user *user,
		       struct bx_vnode *v, int *err);
void p9_fid_forget(struct p9conn *pc, struct fid *f);
/*
 * Fids change by replacement, never in place: a walk of a fid onto itself and
 * the creates that turn a directory fid into the new file make a new fid
 * object (p9_fid_alloc, one reference, not in the table) and put it in the
 * old one's place, so requests still using the old object keep a consistent
 * one. Consumes nf's reference; -EBADF (nf freed) when old was clunked.
 */
struct fid *p9_fid_alloc(uint32_t num, const struct p9user *user, struct bx_vnode *v);
int p9_fid_replace(struct p9conn *pc, struct fid *old, struct fid *nf);
/* The directory and name a fid was walked to (parent NULL and name "" when
 * unknown), read consistently; the caller puts *parent. */
void p9_fid_origin(struct fid *f, struct bx_vnode **parent, char name[256]);
void p9_fid_set_origin(struct fid *f, struct bx_vnode *parent, const char *name);
bool p9_other_open(struct p9conn *pc, const struct fid *f);

/* door9p.c: helpers for handlers */
struct p9_qid p9_qid_of(struct p9conn *pc, struct bx_vnode *v, const struct boxfs_attr *a);
/* Checks a name from the wire and copies it, NUL-terminated, into out:
 * -EINVAL for "", a '/' or a NUL, and "." and ".." unless walking;
 * -ENAMETOOLONG above 255 bytes. */
int p9_name(struct p9_str s, char out[256], bool walk);
void p9_act_as(struct req *r, const struct fid *f);
/* The fid num with a reference, and the call acting as its user; or NULL. */
struct fid *p9_use_fid(struct req *r, uint32_t num);
int p9_unlink_fid(struct req *r, struct fid *f);
/* Packs r->out into r->obuf now, for replies whose strings live on the
 * handler's stack; r->out is then re-read from the packed bytes. */
int p9_pack_now(struct req *r);

/* door9p_u.c: 9P2000 and 9P2000.u */
int (*p9_handler_u(uint8_t type))(struct req *r);
/* A 9P2000 directory read of up to count bytes of stat records into buf. */
ssize_t p9_dirread(struct req *r, struct fid *f, uint64_t offset, uint32_t count, uint8_t *buf);

/* door9p_l.c: 9P2000.L */
int (*p9_handler_l(uint8_t type))(struct req *r);

#endif
