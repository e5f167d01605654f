/*
 * token_impl.h — session hand-over: a door parks a copy of a connection's
 * descriptor tables under a random bearer token, and another connection of
 * the same server adopts it by presenting the token (smdish's fork and
 * child_attach; any door may offer the same).
 *
 * A token is 64 bits from the kernel's random source, single-use, and expires
 * after the server's token_ttl_ms; an expired record is dropped with the
 * door's drop function, at the latest when the server stops.
 */
#ifndef BOXFS_CORE_TOKEN_IMPL_H
#define BOXFS_CORE_TOKEN_IMPL_H

#include <stdint.h>

struct bx_server;
struct bx_door;
struct bx_tokens;

struct bx_tokens *bx_tokens_new(void);
/* Drops every record left. */
void bx_tokens_free(struct bx_tokens *t);

/*
 * Parks rec for door and answers its token in *token: 0, -ENOMEM, or -EAGAIN
 * when the random source fails. The store owns rec from then on and gives it
 * to drop when it expires unclaimed.
 */
int bx_token_put(struct bx_server *srv, const struct bx_door *door, void *rec,
		 void (*drop)(void *rec), uint64_t *token);

/* The record parked under token by door, removed from the store; NULL when
 * there is none (never issued, taken already, expired, another door's). */
void *bx_token_take(struct bx_server *srv, const struct bx_door *door, uint64_t token);

/* Drops expired records; cheap when none is due. */
void bx_tokens_sweep(struct bx_server *srv);

#endif
