/*
 * boxfs/memfile.h — the memfile client: named locks with shared segments,
 * served by a boxfs server's smdish door (docs/protocols/smdish.md).
 *
 *	struct boxfs_mem *m = boxfs_mem_connect("unix!/run/user/1000/boxfs/mem");
 *	int fd = boxfs_mem_open(m, "counter");
 *	int mapfd;
 *	uint64_t *n = boxfs_mem_mmap(m, fd, sizeof *n, 0, &mapfd);
 *	boxfs_mem_lock(m, fd, 0);     // waits; the segment arrives in *n
 *	++*n;
 *	boxfs_mem_unlock(m, fd);      // the change goes back to the server
 *
 * Two ways to hold a segment:
 *   - ship (the default): the mapping is a private replica; lock downloads
 *     the server's copy into it and unlock uploads it. Works over any
 *     transport, TCP and TLS included.
 *   - shared (BOXFS_MEM_SHARED, Unix sockets only): the mapping is the
 *     server's own memory, a memfd passed over the socket; lock and unlock
 *     move no data. Change it only while holding the lock.
 * Map a memfile once per connection: lock and unlock use that mapping.
 *
 * A connection is one descriptor table on the server. Locks belong to the
 * connection; they are not inherited across fork. boxfs_mem_fork (or
 * boxfs_mem_atfork, for any fork) hands the table to the child over a
 * connection of its own, so parent and child share memfiles and contend for
 * their locks like any two clients.
 *
 * Every call is thread-safe; a connection carries one request at a time, so
 * a thread waiting for a lock holds up the connection's other threads (give
 * threads that wait their own connection). Errors are negative Linux errnos;
 * calls answering pointers answer NULL with errno set.
 */
#ifndef BOXFS_MEMFILE_H
#define BOXFS_MEMFILE_H

#include <boxfs/common.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boxfs_mem;

/* Dials an smdish server ("unix!/path", "unix!@name", "tcp!host!port", and
 * "tls!host!port" where built with TLS) and starts an empty descriptor
 * table. NULL with errno on failure. */
BOXFS_API struct boxfs_mem *boxfs_mem_connect(const char *dial);

/* Closes the connection (the server closes its descriptors and releases its
 * locks), unmaps every mapping and frees m. */
BOXFS_API void boxfs_mem_disconnect(struct boxfs_mem *m);

/* Opens (creating when new) a memfile; its fd, or -EINVAL, -ENAMETOOLONG,
 * -EMFILE, or a transport error (-EPIPE, -ECONNRESET ...). */
BOXFS_API int boxfs_mem_open(struct boxfs_mem *m, const char *name);

/* Closes fd; releases this connection's lock on the memfile. */
BOXFS_API int boxfs_mem_close(struct boxfs_mem *m, int fd);

enum { BOXFS_MEM_SHARED = 1 << 0 };

/*
 * Maps the memfile's segment of size bytes (created zero-filled by the first
 * mmap of any client; later ones must give the same size). Answers the
 * mapping and its map handle in *mapfd, or NULL with errno (EINVAL for
 * another size, EOPNOTSUPP for BOXFS_MEM_SHARED on a connection that is not
 * a Unix socket ...). A ship-mode replica starts zero-filled: lock to fetch
 * the segment.
 */
BOXFS_API void *boxfs_mem_mmap(struct boxfs_mem *m, int fd, size_t size, int flags, int *mapfd);

/* Unmaps; the memfile lives on while any descriptor or mapping names it. */
BOXFS_API int boxfs_mem_munmap(struct boxfs_mem *m, int mapfd);

enum { BOXFS_MEM_TRY = 1 << 0 };

/*
 * Takes the memfile's lock: waits for it in FIFO order, or with BOXFS_MEM_TRY
 * answers -EAGAIN at once when another holds it. Taking a lock this
 * connection holds succeeds. In ship mode the segment is copied into the
 * mapping.
 */
BOXFS_API int boxfs_mem_lock(struct boxfs_mem *m, int fd, int flags);

/* Releases the lock; in ship mode the mapping is copied to the server first.
 * -EINVAL when this connection does not hold it. */
BOXFS_API int boxfs_mem_unlock(struct boxfs_mem *m, int fd);

/*
 * fork(2), with m's descriptor table handed to the child: the child's m is
 * reconnected to the same server and has the same fds and mappings (ship
 * replicas are copied by fork like any memory; shared mappings stay shared).
 * Answers as fork does. If the hand-over fails in the child, its m answers
 * -ENOTCONN from then on.
 */
BOXFS_API pid_t boxfs_mem_fork(struct boxfs_mem *m);

/* Registers m so that every fork(2) of the process (through pthread_atfork)
 * does what boxfs_mem_fork does. 0 or -ENOMEM. */
BOXFS_API int boxfs_mem_atfork(struct boxfs_mem *m);

/* The two halves, for programs that fork their own way: a single-use token
 * naming a copy of the table (valid for the server's token lifetime, 60 s by
 * default), and adopting it on m in place of m's own table. */
BOXFS_API int boxfs_mem_fork_token(struct boxfs_mem *m, uint64_t *token);
BOXFS_API int boxfs_mem_child_attach(struct boxfs_mem *m, uint64_t token);

/* Calls fn for every memfile the server has, until fn answers non-zero
 * (which is then the answer). seg_size 0 is a pure lock. */
BOXFS_API int boxfs_mem_list(struct boxfs_mem *m,
			     int (*fn)(void *ctx, const char *name, uint32_t seg_size, bool locked),
			     void *ctx);

#ifdef __cplusplus
}
#endif
#endif
