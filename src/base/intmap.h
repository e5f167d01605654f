/*
 * intmap.h — a hash map from 64-bit keys to pointers (fid and tag tables).
 * Not synchronized: its owner holds a lock around it.
 */
#ifndef BOXFS_BASE_INTMAP_H
#define BOXFS_BASE_INTMAP_H

#include <stddef.h>
#include <stdint.h>

struct bx_intmap {
	struct bx_intent **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
};

/* Zero-initialised is an empty map. */
void bx_intmap_clear(struct bx_intmap *m);

/* The value for key, or NULL. */
void *bx_intmap_get(const struct bx_intmap *m, uint64_t key);

/* Inserts key (which must be absent). 0 or -ENOMEM. */
int bx_intmap_put(struct bx_intmap *m, uint64_t key, void *val);

/* Replaces the value of key (which must be present) without allocating;
 * answers the old value, or NULL when key is absent (nothing changes). */
void *bx_intmap_replace(struct bx_intmap *m, uint64_t key, void *val);

/* Removes key and answers its value, or NULL when absent. */
void *bx_intmap_del(struct bx_intmap *m, uint64_t key);

/* Calls fn for each entry; fn must not change the map. */
void bx_intmap_each(const struct bx_intmap *m, void (*fn)(uint64_t key, void *val, void *arg),
		    void *arg);

#endif
