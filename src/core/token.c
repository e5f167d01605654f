/*
 * token.c — parked session records named by bearer tokens (token_impl.h).
 * Few records live at once (one per fork in progress), so a list will do.
 */
#include "core/token_impl.h"

#include "core/server_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

struct rec {
	struct rec *next;
	uint64_t token;
	int64_t deadline_ns; /* CLOCK_MONOTONIC */
	const struct bx_door *door;
	void *rec;
	void (*drop)(void *rec);
};

struct bx_tokens {
	pthread_mutex_t mu;
	struct rec *head;
	_Atomic int64_t next_deadline; /* the earliest deadline, INT64_MAX when none */
};

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

struct bx_tokens *bx_tokens_new(void)
{
	struct bx_tokens *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	pthread_mutex_init(&t->mu, NULL);
	atomic_init(&t->next_deadline, INT64_MAX);
	return t;
}

static void drop_list(struct rec *r)
{
	for (struct rec *next; r; r = next) {
		next = r->next;
		r->drop(r->rec);
		free(r);
	}
}

void bx_tokens_free(struct bx_tokens *t)
{
	if (!t)
		return;
	drop_list(t->head);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

/* Unlinks the records expired at now; answers them as a list. Under mu. */
static struct rec *take_expired(struct bx_tokens *t, int64_t now)
{
	struct rec *gone = NULL;
	int64_t next = INT64_MAX;
	for (struct rec **pp = &t->head; *pp;) {
		struct rec *r = *pp;
		if (r->deadline_ns <= now) {
			*pp = r->next;
			r->next = gone;
			gone = r;
			continue;
		}
		if (r->deadline_ns < next)
			next = r->deadline_ns;
		pp = &r->next;
	}
	atomic_store(&t->next_deadline, next);
	return gone;
}

void bx_tokens_sweep(struct bx_server *srv)
{
	struct bx_tokens *t = srv->tokens;
	int64_t now = now_ns();
	if (atomic_load_explicit(&t->next_deadline, memory_order_relaxed) > now)
		return;
	pthread_mutex_lock(&t->mu);
	struct rec *gone = take_expired(t, now);
	pthread_mutex_unlock(&t->mu);
	drop_list(gone);
}

int bx_token_put(struct bx_server *srv, const struct bx_door *door, void *rec,
		 void (*drop)(void *rec), uint64_t *token)
{
	struct bx_tokens *t = srv->tokens;
	struct rec *r = malloc(sizeof *r);
	if (!r)
		return -ENOMEM;
	/* A zero token is never issued, so a client's zeroed field finds nothing. */
	do {
		if (getrandom(&r->token, sizeof r->token, 0) != sizeof r->token) {
			free(r);
			return -EAGAIN;
		}
	} while (r->token == 0);
	int64_t now = now_ns();
	r->deadline_ns = now + (int64_t)srv->opts.token_ttl_ms * 1000000;
	r->door = door;
	r->rec = rec;
	r->drop = drop;
	pthread_mutex_lock(&t->mu);
	struct rec *gone = take_expired(t, now);
	r->next = t->head;
	t->head = r;
	if (r->deadline_ns < atomic_load(&t->next_deadline))
		atomic_store(&t->next_deadline, r->deadline_ns);
	pthread_mutex_unlock(&t->mu);
	drop_list(gone);
	*token = r->token;
	return 0;
}

void *bx_token_take(struct bx_server *srv, const struct bx_door *door, uint64_t token)
{
	struct bx_tokens *t = srv->tokens;
	void *found = NULL;
	pthread_mutex_lock(&t->mu);
	struct rec *gone = take_expired(t, now_ns());
	for (struct rec **pp = &t->head; *pp; pp = &(*pp)->next) {
		struct rec *r = *pp;
		if (r->token == token && r->door == door) {
			*pp = r->next;
			found = r->rec;
			free(r);
			break;
		}
	}
	pthread_mutex_unlock(&t->mu);
	drop_list(gone);
	return found;
}
