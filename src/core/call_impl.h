/*
 * call_impl.h — the core's side of struct boxfs_call: one per backend call
 * in flight, owned by the request that makes it.
 */
#ifndef BOXFS_CORE_CALL_IMPL_H
#define BOXFS_CORE_CALL_IMPL_H

#include <boxfs/fs.h>

#include <pthread.h>
#include <stdatomic.h>

/* Where a deferred answer goes (see boxfs_call_done), under lock. */
enum call_state {
	CALL_RUNNING,  /* not deferred (yet): done() only records the answer */
	CALL_DEFERRED, /* a door keeps the call: done() runs on_done */
	CALL_SETTLING, /* bx_call_settle waits: done() wakes it */
	CALL_DONE,     /* done() ran: result holds the answer */
};

struct boxfs_call {
	struct boxfs_cred cred;
	bool nowait; /* tried on the reading thread: answer BOXFS_EWOULDWAIT, never wait */
	atomic_bool cancelled;
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t *wait_cond;
	pthread_mutex_t *wait_mu;

	/* deferral */
	enum call_state state;
	ssize_t result;
	void (*cancel_fn)(void *arg, struct boxfs_call *c);
	void *cancel_arg;
	bool cancel_claimed;	   /* cancel_fn ran, or a canceller is about to run it */
	pthread_cond_t *settle_cv; /* CALL_SETTLING: the waiter's */
	bool settled;		   /* bx_call_settle ran: the backend defers here */
	char *errmsg;		   /* boxfs_call_errmsg's, or NULL */
	/* Set by a door that keeps deferred calls (before the backend runs):
	 * receives the answer of a call it deferred, on the thread calling
	 * boxfs_call_done, outside every core lock. NULL: the core settles
	 * deferrals itself (bx_call_settle). */
	void (*on_done)(struct boxfs_call *c, ssize_t result);
};

/* A cancel hook claimed by bx_call_cancel_mark, to run outside locks. */
struct bx_cancel_hook {
	void (*fn)(void *arg, struct boxfs_call *c);
	void *arg;
};

/* Prepares c for a call with a copy of *cred (groups are not copied). */
void bx_call_init(struct boxfs_call *c, const struct boxfs_cred *cred);
void bx_call_destroy(struct boxfs_call *c);

/* Marks the call cancelled, wakes it if it waits in boxfs_call_wait, and
 * runs its cancel hook if it has one (see boxfs_call_on_cancel). */
void bx_call_cancel(struct boxfs_call *c);

/*
 * bx_call_cancel for a caller holding locks the hook may need: marks and
 * wakes as bx_call_cancel does, never blocking on a lock, and answers true
 * with *hook filled when the caller must run hook->fn(hook->arg, c) once it
 * has let go of its locks (keeping c alive until then).
 */
bool bx_call_cancel_mark(struct boxfs_call *c, struct bx_cancel_hook *hook);

/*
 * A door that set c->on_done and whose backend answered BOXFS_EDEFERRED:
 * answers true when the call is now deferred (on_done will get the answer),
 * false with *result when boxfs_call_done came already.
 */
bool bx_call_defer(struct boxfs_call *c, ssize_t *result);

/*
 * Settles a deferral for a caller that cannot keep the call (c->on_done
 * NULL), after the backend answered BOXFS_EDEFERRED: on a thread that may
 * wait it waits for boxfs_call_done; on a loop thread it cancels the call
 * first. Answers the backend's answer, except that a loop thread's cancelled
 * call answers BOXFS_EWOULDWAIT when it is boxfs_call_nowait() (the door
 * runs it again on a worker) and -EAGAIN otherwise.
 */
ssize_t bx_call_settle(struct boxfs_call *c);

/* What the calling thread is, for bx_call_settle; server.c sets it around
 * its loop. */
enum bx_thread_role {
	BX_THREAD_WORKER, /* may wait (the default) */
	BX_THREAD_LOOP,	  /* a server's loop: must never wait for an event */
};
enum bx_thread_role bx_thread_role_set(enum bx_thread_role role); /* answers the old one */

#endif
