/*
 * call_impl.h — the core's side of struct boxfs_call: one per backend call
 * in flight, owned by the request that makes it.
 */
#ifndef BOXFS_CORE_CALL_IMPL_H
#define BOXFS_CORE_CALL_IMPL_H

#include <boxfs/fs.h>

#include <pthread.h>
#include <stdatomic.h>

struct boxfs_call {
	struct boxfs_cred cred;
	bool nowait; /* tried on the reading thread: answer BOXFS_EWOULDWAIT, never wait */
	atomic_bool cancelled;
	pthread_mutex_t lock; /* guards wait_cond and wait_mu */
	pthread_cond_t *wait_cond;
	pthread_mutex_t *wait_mu;
};

/* Prepares c for a call with a copy of *cred (groups are not copied). */
void bx_call_init(struct boxfs_call *c, const struct boxfs_cred *cred);
void bx_call_destroy(struct boxfs_call *c);

/* Marks the call cancelled and wakes it if it waits in boxfs_call_wait. */
void bx_call_cancel(struct boxfs_call *c);

#endif
