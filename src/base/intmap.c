/*
 * intmap.c — chained hashing with a multiplicative hash; the table doubles
 * when it holds more entries than buckets.
 */
#include "base/intmap.h"

#include <errno.h>
#include <stdlib.h>

struct bx_intent {
	struct bx_intent *next;
	uint64_t key;
	void *val;
};

static size_t bucket(const struct bx_intmap *m, uint64_t key)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (m->nbuckets - 1);
}

void bx_intmap_clear(struct bx_intmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		for (struct bx_intent *e = m->buckets[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(m->buckets);
	*m = (struct bx_intmap){ 0 };
}

void *bx_intmap_get(const struct bx_intmap *m, uint64_t key)
{
	if (!m->nbuckets)
		return NULL;
	for (struct bx_intent *e = m->buckets[bucket(m, key)]; e; e = e->next)
		if (e->key == key)
			return e->val;
	return NULL;
}

static int grow(struct bx_intmap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
	struct bx_intent **b = calloc(n, sizeof *b);
	if (!b)
		return -ENOMEM;
	struct bx_intmap nm = { .buckets = b, .nbuckets = n, .count = m->count };
	for (size_t i = 0; i < m->nbuckets; i++) {
		for (struct bx_intent *e = m->buckets[i], *next; e; e = next) {
			next = e->next;
			size_t k = bucket(&nm, e->key);
			e->next = b[k];
			b[k] = e;
		}
	}
	free(m->buckets);
	*m = nm;
	return 0;
}

int bx_intmap_put(struct bx_intmap *m, uint64_t key, void *val)
{
	if (m->count >= m->nbuckets && grow(m) < 0 && !m->nbuckets)
		return -ENOMEM;
	struct bx_intent *e = malloc(sizeof *e);
	if (!e)
		return -ENOMEM;
	size_t k = bucket(m, key);
	*e = (struct bx_intent){ .next = m->buckets[k], .key = key, .val = val };
	m->buckets[k] = e;
	m->count++;
	return 0;
}

void *bx_intmap_replace(struct bx_intmap *m, uint64_t key, void *val)
{
	if (!m->nbuckets)
		return NULL;
	for (struct bx_intent *e = m->buckets[bucket(m, key)]; e; e = e->next) {
		if (e->key == key) {
			void *old = e->val;
			e->val = val;
			return old;
		}
	}
	return NULL;
}

void *bx_intmap_del(struct bx_intmap *m, uint64_t key)
{
	if (!m->nbuckets)
		return NULL;
	for (struct bx_intent **pp = &m->buckets[bucket(m, key)]; *pp; pp = &(*pp)->next) {
		struct bx_intent *e = *pp;
		if (e->key == key) {
			void *val = e->val;
			*pp = e->next;
			free(e);
			m->count--;
			return val;
		}
	}
	return NULL;
}

void bx_intmap_each(const struct bx_intmap *m, void (*fn)(uint64_t key, void *val, void *arg),
		    void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct bx_intent *e = m->buckets[i]; e; e = e->next)
			fn(e->key, e->val, arg);
}
