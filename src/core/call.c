/*
 * call.c — credentials, cancellation and deferred answers of a backend call.
 *
 * Waiting. A backend that must wait does so in boxfs_call_wait, on its own
 * condition variable and mutex; the core cancels a call (Tflush, disconnect)
 * with bx_call_cancel from another thread. The race between "the waiter
 * checks the flag" and "the canceller broadcasts" is closed by two facts: the
 * canceller sets the flag before it looks for a registered waiter, and the
 * waiter registers before it looks at the flag, both under c->lock; and the
 * broadcast is made holding the waiter's mutex, which the waiter holds from
 * its check until pthread_cond_wait releases it atomically. The waiter holds
 * its mutex when it takes c->lock, so the canceller, which holds c->lock,
 * only tries the waiter's mutex and backs off when that fails.
 *
 * Deferring. A backend that answers BOXFS_EDEFERRED answers later with
 * boxfs_call_done, from any thread, possibly before the operation returned.
 * c->state, under c->lock, says where that answer goes: RUNNING records it
 * (the door finds it when the operation returns, bx_call_defer), DEFERRED
 * hands it to the door's on_done, SETTLING wakes bx_call_settle. The cancel
 * hook is claimed under c->lock by exactly one of boxfs_call_on_cancel (the
 * call was cancelled already) and a canceller, and never once the call is
 * answered; whoever claims it runs it outside every lock of the core.
 */
#include "core/call_impl.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local enum bx_thread_role thread_role;

enum bx_thread_role bx_thread_role_set(enum bx_thread_role role)
{
	enum bx_thread_role old = thread_role;
	thread_role = role;
	return old;
}

void bx_call_init(struct boxfs_call *c, const struct boxfs_cred *cred)
{
	c->cred = *cred;
	c->nowait = false;
	atomic_init(&c->cancelled, false);
	pthread_mutex_init(&c->lock, NULL);
	c->wait_cond = NULL;
	c->wait_mu = NULL;
	c->state = CALL_RUNNING;
	c->result = 0;
	c->cancel_fn = NULL;
	c->cancel_arg = NULL;
	c->cancel_claimed = false;
	c->settle_cv = NULL;
	c->settled = false;
	c->errmsg = NULL;
	c->on_done = NULL;
}

void bx_call_destroy(struct boxfs_call *c)
{
	pthread_mutex_destroy(&c->lock);
	free(c->errmsg);
	c->errmsg = NULL;
}

void boxfs_call_errmsg(struct boxfs_call *c, const char *msg)
{
	char *m = msg ? strndup(msg, 200) : NULL;
	pthread_mutex_lock(&c->lock);
	char *old = c->errmsg;
	c->errmsg = m;
	pthread_mutex_unlock(&c->lock);
	free(old);
}

bool bx_call_cancel_mark(struct boxfs_call *c, struct bx_cancel_hook *hook)
{
	atomic_store(&c->cancelled, true);
	for (;;) {
		pthread_mutex_lock(&c->lock);
		if (c->wait_cond) {
			/* The waiter takes its mutex before c->lock; we take them
			 * the other way round, so only try, and let go of c->lock
			 * on failure. */
			if (pthread_mutex_trylock(c->wait_mu) != 0) {
				pthread_mutex_unlock(&c->lock);
				sched_yield();
				continue;
			}
			pthread_cond_broadcast(c->wait_cond);
			pthread_mutex_unlock(c->wait_mu);
		}
		bool claim = c->cancel_fn && !c->cancel_claimed && c->state != CALL_DONE;
		if (claim) {
			c->cancel_claimed = true;
			hook->fn = c->cancel_fn;
			hook->arg = c->cancel_arg;
		}
		pthread_mutex_unlock(&c->lock);
		return claim;
	}
}

void bx_call_cancel(struct boxfs_call *c)
{
	struct bx_cancel_hook hook;
	if (bx_call_cancel_mark(c, &hook))
		hook.fn(hook.arg, c);
}

void boxfs_call_on_cancel(struct boxfs_call *c, void (*fn)(void *arg, struct boxfs_call *c),
			  void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->cancel_fn = fn;
	c->cancel_arg = arg;
	bool now = fn && atomic_load(&c->cancelled) && !c->cancel_claimed && c->state != CALL_DONE;
	if (now)
		c->cancel_claimed = true;
	pthread_mutex_unlock(&c->lock);
	if (now)
		fn(arg, c);
}

void boxfs_call_done(struct boxfs_call *c, ssize_t result)
{
	pthread_mutex_lock(&c->lock);
	enum call_state was = c->state;
	if (was == CALL_DONE) { /* a second answer: the first one stands */
		pthread_mutex_unlock(&c->lock);
		return;
	}
	c->state = CALL_DONE;
	c->result = result;
	if (was == CALL_SETTLING)
		pthread_cond_broadcast(c->settle_cv); /* under c->lock: the waiter needs it to go */
	pthread_mutex_unlock(&c->lock);
	if (was == CALL_DEFERRED)
		c->on_done(c, result); /* may free c */
}

bool bx_call_defer(struct boxfs_call *c, ssize_t *result)
{
	pthread_mutex_lock(&c->lock);
	bool deferred = c->state == CALL_RUNNING;
	if (deferred)
		c->state = CALL_DEFERRED;
	else
		*result = c->result;
	pthread_mutex_unlock(&c->lock);
	return deferred;
}

ssize_t bx_call_settle(struct boxfs_call *c)
{
	enum bx_thread_role role = thread_role;
	c->settled = true;
	if (role != BX_THREAD_WORKER)
		bx_call_cancel(c); /* this thread must not wait for an event */
	pthread_cond_t cv;
	pthread_cond_init(&cv, NULL);
	pthread_mutex_lock(&c->lock);
	if (c->state == CALL_RUNNING) {
		c->state = CALL_SETTLING;
		c->settle_cv = &cv;
		while (c->state != CALL_DONE)
			pthread_cond_wait(&cv, &c->lock);
		c->settle_cv = NULL;
	}
	ssize_t r = c->result;
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&cv);
	if (role != BX_THREAD_WORKER && r == -EINTR)
		return c->nowait ? BOXFS_EWOULDWAIT : -EAGAIN;
	return r;
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
