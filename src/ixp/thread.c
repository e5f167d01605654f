/*
 * thread.c — libixp's threading hooks. ixp_thread starts as a set for
 * single-threaded programs (locks do nothing; each thread still has its own
 * error buffer); ixp_pthread_init replaces it with POSIX threads' locks,
 * read/write locks and condition variables. The library's client is
 * thread-safe without either: it multiplexes requests through boxfs's
 * client library.
 */
#include "ixp_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char *thread_errbuf(void)
{
	static _Thread_local char buf[IXP_ERRMAX];
	return buf;
}

static int nop_init_rw(IxpRWLock *l)
{
	(void)l;
	return 0;
}
static void nop_rw(IxpRWLock *l)
{
	(void)l;
}
static int yes_rw(IxpRWLock *l)
{
	(void)l;
	return 1;
}
static int nop_init_m(IxpMutex *m)
{
	(void)m;
	return 0;
}
static void nop_m(IxpMutex *m)
{
	(void)m;
}
static int yes_m(IxpMutex *m)
{
	(void)m;
	return 1;
}
static int nop_init_r(IxpRendez *r)
{
	(void)r;
	return 0;
}
static void nop_r(IxpRendez *r)
{
	(void)r;
}
static int no_r(IxpRendez *r)
{
	(void)r;
	return 0;
}
static void sleep_r(IxpRendez *r)
{
	(void)r;
	ixp_eprint("IxpRendez sleep without threads (call ixp_pthread_init first)");
}

static IxpThread nothread = {
	.initrwlock = nop_init_rw,
	.rlock = nop_rw,
	.canrlock = yes_rw,
	.runlock = nop_rw,
	.wlock = nop_rw,
	.canwlock = yes_rw,
	.wunlock = nop_rw,
	.rwdestroy = nop_rw,
	.initmutex = nop_init_m,
	.lock = nop_m,
	.canlock = yes_m,
	.unlock = nop_m,
	.mdestroy = nop_m,
	.initrendez = nop_init_r,
	.sleep = sleep_r,
	.wake = no_r,
	.wakeall = no_r,
	.rdestroy = nop_r,
	.errbuf = thread_errbuf,
	.read = read,
	.write = write,
	.select = select,
};

IxpThread *ixp_thread = &nothread;

/* ---- POSIX threads ---- */

static int pt_initmutex(IxpMutex *m)
{
	pthread_mutex_t *mu = malloc(sizeof *mu);
	if (!mu || pthread_mutex_init(mu, NULL) != 0) {
		free(mu);
		return 1;
	}
	m->aux = mu;
	return 0;
}
static void pt_lock(IxpMutex *m)
{
	pthread_mutex_lock(m->aux);
}
static int pt_canlock(IxpMutex *m)
{
	return pthread_mutex_trylock(m->aux) == 0;
}
static void pt_unlock(IxpMutex *m)
{
	pthread_mutex_unlock(m->aux);
}
static void pt_mdestroy(IxpMutex *m)
{
	if (m->aux) {
		pthread_mutex_destroy(m->aux);
		free(m->aux);
		m->aux = NULL;
	}
}

static int pt_initrwlock(IxpRWLock *l)
{
	pthread_rwlock_t *rw = malloc(sizeof *rw);
	if (!rw || pthread_rwlock_init(rw, NULL) != 0) {
		free(rw);
		return 1;
	}
	l->aux = rw;
	return 0;
}
static void pt_rlock(IxpRWLock *l)
{
	pthread_rwlock_rdlock(l->aux);
}
static int pt_canrlock(IxpRWLock *l)
{
	return pthread_rwlock_tryrdlock(l->aux) == 0;
}
static void pt_wlock(IxpRWLock *l)
{
	pthread_rwlock_wrlock(l->aux);
}
static int pt_canwlock(IxpRWLock *l)
{
	return pthread_rwlock_trywrlock(l->aux) == 0;
}
static void pt_rwunlock(IxpRWLock *l)
{
	pthread_rwlock_unlock(l->aux);
}
static void pt_rwdestroy(IxpRWLock *l)
{
	if (l->aux) {
		pthread_rwlock_destroy(l->aux);
		free(l->aux);
		l->aux = NULL;
	}
}

static int pt_initrendez(IxpRendez *r)
{
	pthread_cond_t *c = malloc(sizeof *c);
	if (!c || pthread_cond_init(c, NULL) != 0) {
		free(c);
		return 1;
	}
	r->aux = c;
	return 0;
}
/* Waits with r->mutex held, as pthread_cond_wait. */
static void pt_sleep(IxpRendez *r)
{
	pthread_cond_wait(r->aux, r->mutex->aux);
}
static int pt_wake(IxpRendez *r)
{
	pthread_cond_signal(r->aux);
	return 0;
}
static int pt_wakeall(IxpRendez *r)
{
	pthread_cond_broadcast(r->aux);
	return 0;
}
static void pt_rdestroy(IxpRendez *r)
{
	if (r->aux) {
		pthread_cond_destroy(r->aux);
		free(r->aux);
		r->aux = NULL;
	}
}

static IxpThread pthreads = {
	.initrwlock = pt_initrwlock,
	.rlock = pt_rlock,
	.canrlock = pt_canrlock,
	.runlock = pt_rwunlock,
	.wlock = pt_wlock,
	.canwlock = pt_canwlock,
	.wunlock = pt_rwunlock,
	.rwdestroy = pt_rwdestroy,
	.initmutex = pt_initmutex,
	.lock = pt_lock,
	.canlock = pt_canlock,
	.unlock = pt_unlock,
	.mdestroy = pt_mdestroy,
	.initrendez = pt_initrendez,
	.sleep = pt_sleep,
	.wake = pt_wake,
	.wakeall = pt_wakeall,
	.rdestroy = pt_rdestroy,
	.errbuf = thread_errbuf,
	.read = read,
	.write = write,
	.select = select,
};

int ixp_pthread_init(void)
{
	ixp_thread = &pthreads;
	return 0;
}

int ixp_taskinit(void)
{
	ixp_seterr("libtask threads are not offered by boxfs");
	return -1;
}

int ixp_rubyinit(void)
{
	ixp_seterr("Ruby threads are not offered by boxfs");
	return -1;
}
