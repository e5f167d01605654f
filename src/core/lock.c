/*
 * lock.c — POSIX byte-range locks kept by the core (see lock_impl.h).
 *
 * Files with locks live in a hash table keyed by (mount, ino); each holds a
 * list of locks with inclusive [start, end] ranges. One mutex guards it all:
 * lock traffic is light next to reads and writes, and every operation is a
 * short walk over one file's locks.
 */
#include "core/lock_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct lk {
	struct lk *next;
	short type;
	uint64_t start, end; /* inclusive */
	const void *session;
	uint32_t proc_id;
	size_t idlen;
	char id[];
};

struct lfile {
	struct lfile *next;
	uint16_t mnt;
	uint64_t ino;
	struct lk *locks;
};

enum { NBUCKETS = 256 };

struct bx_locks {
	pthread_mutex_t mu;
	struct lfile *buckets[NBUCKETS];
};

struct bx_locks *bx_locks_new(void)
{
	struct bx_locks *lm = calloc(1, sizeof *lm);
	if (lm)
		pthread_mutex_init(&lm->mu, NULL);
	return lm;
}

static void free_locks(struct lk *l)
{
	while (l) {
		struct lk *next = l->next;
		free(l);
		l = next;
	}
}

void bx_locks_free(struct bx_locks *lm)
{
	if (!lm)
		return;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		for (struct lfile *f = lm->buckets[i], *next; f; f = next) {
			next = f->next;
			free_locks(f->locks);
			free(f);
		}
	}
	pthread_mutex_destroy(&lm->mu);
	free(lm);
}

static struct lfile **slot(struct bx_locks *lm, uint16_t mnt, uint64_t ino)
{
	uint64_t h = (ino ^ (uint64_t)mnt << 40) * 0x9e3779b97f4a7c15ull;
	struct lfile **pp = &lm->buckets[h >> 56];
	while (*pp && ((*pp)->mnt != mnt || (*pp)->ino != ino))
		pp = &(*pp)->next;
	return pp;
}

/* Frees a file's entry once it holds no lock. */
static void tidy(struct lfile **pp)
{
	struct lfile *f = *pp;
	if (f && !f->locks) {
		*pp = f->next;
		free(f);
	}
}

static bool same_owner(const struct lk *l, const struct bx_lock_owner *o)
{
	return l->session == o->session && l->proc_id == o->proc_id &&
	       l->idlen == o->client_id_len && memcmp(l->id, o->client_id, l->idlen) == 0;
}

static bool conflicts(const struct lk *l, short type, uint64_t start, uint64_t end)
{
	return l->start <= end && start <= l->end && (type == F_WRLCK || l->type == F_WRLCK);
}

static int range(const struct bx_lock_range *r, uint64_t *start, uint64_t *end)
{
	*start = r->start;
	if (r->length == 0) {
		*end = UINT64_MAX;
	} else {
		if (r->length - 1 > UINT64_MAX - r->start)
			return -EINVAL;
		*end = r->start + r->length - 1;
	}
	return 0;
}

static struct lk *new_lock(const struct bx_lock_owner *o, short type, uint64_t s, uint64_t e)
{
	struct lk *l = malloc(sizeof *l + o->client_id_len);
	if (!l)
		return NULL;
	*l = (struct lk){ .type = type,
			  .start = s,
			  .end = e,
			  .session = o->session,
			  .proc_id = o->proc_id,
			  .idlen = o->client_id_len };
	memcpy(l->id, o->client_id, o->client_id_len);
	return l;
}

int bx_locks_set(struct bx_locks *lm, uint16_t mnt, uint64_t ino, const struct bx_lock_owner *o,
		 const struct bx_lock_range *lk)
{
	uint64_t s, e;
	if (lk->type != F_RDLCK && lk->type != F_WRLCK && lk->type != F_UNLCK)
		return -EINVAL;
	if (range(lk, &s, &e) < 0)
		return -EINVAL;
	/* Allocate up front what a split may need, so failure changes nothing. */
	struct lk *fresh = lk->type != F_UNLCK ? new_lock(o, lk->type, s, e) : NULL;
	struct lk *tail = new_lock(o, 0, 0, 0);
	struct lfile *nf = calloc(1, sizeof *nf);
	int r = -ENOMEM;
	if ((lk->type != F_UNLCK && !fresh) || !tail || !nf)
		goto out;

	pthread_mutex_lock(&lm->mu);
	struct lfile **pp = slot(lm, mnt, ino);
	if (!*pp) {
		if (lk->type == F_UNLCK) {
			pthread_mutex_unlock(&lm->mu);
			r = 0;
			goto out;
		}
		*nf = (struct lfile){ .mnt = mnt, .ino = ino };
		*pp = nf;
		nf = NULL;
	}
	struct lfile *f = *pp;
	r = -EAGAIN;
	for (struct lk *l = f->locks; l; l = l->next)
		if (!same_owner(l, o) && lk->type != F_UNLCK && conflicts(l, lk->type, s, e))
			goto unlock;
	/* Cut [s, e] out of this owner's locks, splitting one that spans it. */
	for (struct lk **lp = &f->locks; *lp;) {
		struct lk *l = *lp;
		if (!same_owner(l, o) || l->end < s || l->start > e) {
			lp = &l->next;
			continue;
		}
		if (l->start < s && l->end > e) { /* the one split: keep both sides */
			*tail = *l;
			memcpy(tail->id, l->id, l->idlen);
			tail->start = e + 1;
			tail->next = l->next;
			l->end = s - 1;
			l->next = tail;
			tail = NULL;
			break;
		}
		if (l->start < s) {
			l->end = s - 1;
			lp = &l->next;
		} else if (l->end > e) {
			l->start = e + 1;
			lp = &l->next;
		} else {
			*lp = l->next;
			free(l);
		}
	}
	if (fresh) {
		fresh->next = f->locks;
		f->locks = fresh;
		fresh = NULL;
	}
	r = 0;
unlock:
	tidy(pp);
	pthread_mutex_unlock(&lm->mu);
out:
	free(fresh);
	free(tail);
	free(nf);
	return r;
}

int bx_locks_get(struct bx_locks *lm, uint16_t mnt, uint64_t ino, const struct bx_lock_owner *o,
		 struct bx_lock_range *lk)
{
	uint64_t s, e;
	if ((lk->type != F_RDLCK && lk->type != F_WRLCK) || range(lk, &s, &e) < 0)
		return -EINVAL;
	pthread_mutex_lock(&lm->mu);
	struct lfile *f = *slot(lm, mnt, ino);
	const struct lk *hit = NULL;
	for (const struct lk *l = f ? f->locks : NULL; l && !hit; l = l->next)
		if (!same_owner(l, o) && conflicts(l, lk->type, s, e))
			hit = l;
	if (hit) {
		lk->type = hit->type;
		lk->start = hit->start;
		lk->length = hit->end == UINT64_MAX ? 0 : hit->end - hit->start + 1;
		lk->proc_id = hit->proc_id;
	} else {
		lk->type = F_UNLCK;
	}
	pthread_mutex_unlock(&lm->mu);
	return 0;
}

static void drop_in(struct lfile **pp, const void *session)
{
	for (struct lk **lp = &(*pp)->locks; *lp;) {
		struct lk *l = *lp;
		if (l->session == session) {
			*lp = l->next;
			free(l);
		} else {
			lp = &l->next;
		}
	}
	tidy(pp);
}

void bx_locks_drop_session(struct bx_locks *lm, const void *session, bool all, uint16_t mnt,
			   uint64_t ino)
{
	pthread_mutex_lock(&lm->mu);
	if (!all) {
		struct lfile **pp = slot(lm, mnt, ino);
		if (*pp)
			drop_in(pp, session);
	} else {
		for (unsigned i = 0; i < NBUCKETS; i++) {
			for (struct lfile **pp = &lm->buckets[i]; *pp;) {
				struct lfile *before = *pp;
				drop_in(pp, session);
				if (*pp == before)
					pp = &(*pp)->next;
			}
		}
	}
	pthread_mutex_unlock(&lm->mu);
}

bool bx_locks_held(struct bx_locks *lm, const void *session, uint16_t mnt, uint64_t ino)
{
	pthread_mutex_lock(&lm->mu);
	struct lfile *f = *slot(lm, mnt, ino);
	bool held = false;
	for (const struct lk *l = f ? f->locks : NULL; l && !held; l = l->next)
		held = l->session == session;
	pthread_mutex_unlock(&lm->mu);
	return held;
}
