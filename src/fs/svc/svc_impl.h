/*
 * svc_impl.h — what the idl door uses of the service backends (srvfs.c,
 * taskfs.c, devfs.c), and the small node helper they share.
 *
 * Callbacks (a lookup answered, a task's exit) run under the instance's
 * mutex on whichever thread caused them: they must only send, never call
 * back into the instance.
 */
#ifndef BOXFS_FS_SVC_IMPL_H
#define BOXFS_FS_SVC_IMPL_H

#include <boxfs/svcfs.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A node handed to the core: what it names, by number; one per reference. */
struct svc_node {
	unsigned kind;
	int64_t id;
	char name[]; /* srvfs entries and blk devices */
};

static inline struct svc_node *svc_node_new(unsigned kind, int64_t id, const char *name)
{
	size_t n = name ? strlen(name) + 1 : 1;
	struct svc_node *s = malloc(sizeof *s + n);
	if (!s)
		return NULL;
	s->kind = kind;
	s->id = id;
	memcpy(s->name, name ? name : "", n);
	return s;
}

/* A name a client may give: not empty, ".", "..", no '/' or NUL, <= 255. */
static inline bool svc_name_ok(const char *p, size_t n)
{
	return n && n <= 255 && !memchr(p, '/', n) && !memchr(p, 0, n) &&
	       !(n == 1 && p[0] == '.') && !(n == 2 && p[0] == '.' && p[1] == '.');
}

/* ---- srvfs ---- */

struct srvfs;
struct srv_waiter {
	struct srv_waiter *next;
	char name[256];
	void (*fn)(void *ctx, int32_t task);
	void *ctx;
	bool queued;
};

bool srvfs_is(const struct boxfs_fs *fs);
struct srvfs *srvfs_of(struct boxfs_fs *fs);
/* Registers name (served by task, reachable at addr); wakes its lookups.
 * 0, -EINVAL, -EEXIST, -ENOMEM. */
int srvfs_serve(struct srvfs *s, const char *name, int32_t task, const char *addr, uint32_t uid);
/* The task serving name (>= 0), or 1 after queueing w (w->name set by the
 * caller; w->fn runs when the name is served). */
int srvfs_lookup(struct srvfs *s, struct srv_waiter *w, int32_t *task);
/* Takes w off the queue; after this no callback for w runs. */
void srvfs_cancel(struct srvfs *s, struct srv_waiter *w);
/* Removes the names task served (its connection is gone). */
void srvfs_withdraw(struct srvfs *s, int32_t task);

/* ---- taskfs ---- */

struct taskfs;
typedef void (*task_exit_fn)(void *owner, int32_t task);

bool taskfs_is(const struct boxfs_fs *fs);
struct taskfs *taskfs_of(struct boxfs_fs *fs);
/* Starts `/bin/sh -c cmdline` (stdio on /dev/null); its id in *id. */
int taskfs_launch(struct taskfs *t, const char *cmdline, uint32_t uid, int32_t *id);
/* An id with no program (task.alloc), or one for a client connection. */
int taskfs_alloc(struct taskfs *t, bool client, uint32_t uid, int32_t *id);
/* Forgets an allocated or ended task: -ESRCH, -EBUSY (running), -EPERM. */
int taskfs_free(struct taskfs *t, int32_t id, uint32_t uid);
/* A client's connection ended: its watchers hear, and its id goes. */
void taskfs_client_gone(struct taskfs *t, int32_t id);
/* fn(owner, id) once when task id ends (at once if it has). -ESRCH. */
int taskfs_watch(struct taskfs *t, int32_t id, void *owner, task_exit_fn fn);
int taskfs_unwatch(struct taskfs *t, int32_t id, void *owner);
void taskfs_unwatch_all(struct taskfs *t, void *owner);

/* ---- devfs: blk and shm ---- */

struct devfs;
bool devfs_is(const struct boxfs_fs *fs);
struct devfs *devfs_of(struct boxfs_fs *fs);
/* The first disk image: its descriptor (the instance's) and size. -ENODEV. */
int devfs_blk(struct devfs *d, int *fd, uint64_t *size);
/* A new segment of size bytes: its id. -EINVAL, -ENOSPC, -ENOMEM. */
int devfs_shm_create(struct devfs *d, uint64_t size, int32_t *id);
/* A new descriptor on segment id (read-only unless writable); -ENOENT. */
int devfs_shm_fd(struct devfs *d, int32_t id, bool writable, uint64_t *size);
int devfs_shm_close(struct devfs *d, int32_t id);

#endif
