/*
 * call.c — credentials and cancellation of a backend call.
 *
 * A backend that must wait does so in boxfs_call_wait, on its own condition
 * variable and mutex; the core cancels a call (Tflush, disconnect) with
 * bx_call_cancel from another thread. The race between "the waiter checks the
 * flag" and "the canceller broadcasts" is closed by two facts: the canceller
 * sets the flag before it looks for a registered waiter, and the waiter
 * registers before it looks at the flag, both under c->lock; and the
 * broadcast is made holding the waiter's mutex, which the waiter holds from
 * its check until pthread_cond_wait releases it atomically. The waiter holds
 * its mutex when it takes c->lock, so the canceller, which holds c->lock,
 * only tries the waiter's mutex and backs off when that fails.
 */
#include "core/call_impl.h"

#include <errno.h>
#include <sched.h>

void bx_call_init(struct boxfs_call *c, const struct boxfs_cred *cred)
{
	c->cred = *cred;
	c->nowait = false;
	atomic_init(&c->cancelled, false);
	pthread_mutex_init(&c->lock, NULL);
	c->wait_cond = NULL;
	c->wait_mu = NULL;
}

void bx_call_destroy(struct boxfs_call *c)
{
	pthread_mutex_destroy(&c->lock);
}

void bx_call_cancel(struct boxfs_call *c)
{
	atomic_store(&c->cancelled, true);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		if (!c->wait_cond) {
			pthread_mutex_unlock(&c->lock);
			return;
		}
		/* The waiter takes its mutex before c->lock; we take them the
		 * other way round, so only try, and let go of c->lock on failure. */
		if (pthread_mutex_trylock(c->wait_mu) == 0) {
			pthread_cond_broadcast(c->wait_cond);
			pthread_mutex_unlock(c->wait_mu);
			pthread_mutex_unlock(&c->lock);
			return;
		}
		pthread_mutex_unlock(&c->lock);
		sched_yield();
	}
}

const struct boxfs_cred *boxfs_call_cred(const struct boxfs_call *c)
{
	return &c->cred;
}

bool boxfs_call_cancelled(const struct boxfs_call *c)
{
	return atomic_load(&c->cancelled);
}

bool boxfs_call_nowait(const struct boxfs_call *c)
{
	return c->nowait;
}

int boxfs_call_wait(struct boxfs_call *c, void *cond, void *mu)
{
	if (c->nowait)
		return BOXFS_EWOULDWAIT;
	pthread_mutex_lock(&c->lock);
	c->wait_cond = cond;
	c->wait_mu = mu;
	pthread_mutex_unlock(&c->lock);

	int r = 0;
	if (atomic_load(&c->cancelled))
		r = -EINTR;
	else
		pthread_cond_wait(cond, mu);
	if (r == 0 && atomic_load(&c->cancelled))
		r = -EINTR;

	pthread_mutex_lock(&c->lock);
	c->wait_cond = NULL;
	c->wait_mu = NULL;
	pthread_mutex_unlock(&c->lock);
	return r;
}
