/*
 * boxfs/rio_client.h — the rio client: channels to a rio door
 * (docs/protocols/rio.md) as plain descriptors.
 *
 * A channel is the caller's SOCK_SEQPACKET descriptor; each call is one
 * transaction (a request and its STATUS reply) and must not run on the same
 * channel from two threads at once. Reads and writes larger than one
 * message are cut into RIO_CHUNK pieces. Returns: 0, a count, or -errno
 * (the server's status, or the transport's).
 */
#ifndef BOXFS_RIO_CLIENT_H
#define BOXFS_RIO_CLIENT_H

#include <boxfs/common.h>
#include <boxfs/rio.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Dials a rio door ("unix!/path"): the root directory's channel, or -errno. */
BOXFS_API int boxfs_rio_dial(const char *dial);

/*
 * One transaction: sends *req with data (req->datalen bytes) and passfd
 * (>= 0: passed along, staying the caller's), and waits for the reply with
 * req's txid (chosen here). The reply's data lands in rbuf (RIO_CHUNK bytes)
 * and a descriptor that came with it in *fdout (-1 if none; fdout may be
 * NULL, the descriptor is then closed). Answers the reply's status.
 */
BOXFS_API int boxfs_rio_txn(int ch, struct rio_msg *req, const void *data, int passfd,
			    struct rio_msg *rep, uint8_t *rbuf, int *fdout);

/* An opened object: its channel, and for VMOFILE the descriptor to read. */
struct boxfs_rio_object {
	int ch;
	uint32_t type; /* RIO_TYPE_* */
	int vmo;       /* VMOFILE: a read-only descriptor of the file; else -1 */
	uint64_t vmo_off, vmo_len;
};

/* OPEN of path relative to the directory channel dir; *o on success. */
BOXFS_API int boxfs_rio_open(int dir, const char *path, int flags, mode_t mode,
			     struct boxfs_rio_object *o);
/* CLONE: a second channel on ch's object, with its own offset. */
BOXFS_API int boxfs_rio_clone(int ch, struct boxfs_rio_object *o);

BOXFS_API ssize_t boxfs_rio_read(int ch, void *buf, size_t n);
BOXFS_API ssize_t boxfs_rio_write(int ch, const void *buf, size_t n);
BOXFS_API ssize_t boxfs_rio_pread(int ch, void *buf, size_t n, off_t off);
BOXFS_API ssize_t boxfs_rio_pwrite(int ch, const void *buf, size_t n, off_t off);
/* The new offset. */
BOXFS_API off_t boxfs_rio_seek(int ch, off_t off, int whence);
BOXFS_API int boxfs_rio_stat(int ch, struct rio_attr *a);
/* Records into buf (at most cap, RIO_CHUNK at most): their bytes, 0 at the end. */
BOXFS_API ssize_t boxfs_rio_readdir(int ch, void *buf, size_t cap, bool reset);
/* how: 0 anything, AT_REMOVEDIR a directory only, 1 a non-directory only. */
BOXFS_API int boxfs_rio_unlink(int dir, const char *name, int how);
BOXFS_API int boxfs_rio_truncate(int ch, off_t len);
/* The token naming directory channel dir, for RENAME and LINK. */
BOXFS_API int boxfs_rio_token(int dir, uint64_t *token);
BOXFS_API int boxfs_rio_rename(int dir, const char *from, uint64_t to_dir, const char *to);
BOXFS_API int boxfs_rio_link(int dir, const char *from, uint64_t to_dir, const char *to);
BOXFS_API int boxfs_rio_setattr(int ch, const struct rio_setattr *s);
BOXFS_API int boxfs_rio_sync(int ch);
/* MMAP: a descriptor of the whole file to map (the caller's), or -errno. */
BOXFS_API int boxfs_rio_mmap(int ch, const struct rio_mmap *m);
/* F_GETFL (answers the flags) or F_SETFL. */
BOXFS_API int boxfs_rio_fcntl(int ch, int cmd, int flags);
/* CLOSE, answered, then the descriptor is closed (also on failure). */
BOXFS_API int boxfs_rio_close(int ch);

#ifdef __cplusplus
}
#endif
#endif
