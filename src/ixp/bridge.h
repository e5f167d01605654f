/*
 * bridge.h — the calls between libixp's side of libboxfs-ixp (files that
 * include <ixp.h>) and the side that uses boxfs's 9P codec and client
 * library (bridge.c), in plain C types only: neither header is included here.
 *
 * Errors are negative errnos; the client calls also leave the server's error
 * text in err (of IXB_ERRMAX bytes) when the server sent one.
 */
#ifndef IXP_BRIDGE_H
#define IXP_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IXB_HIDDEN __attribute__((visibility("hidden")))

enum { IXB_ERRMAX = 128, IXB_MAXWELEM = 16 };
#define IXB_NOFID 0xffffffffu

struct ixb_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

/* The positive errno a 9P2000 error string stands for (EIO when unknown). */
IXB_HIDDEN int ixb_errno(const char *ename);

/* ---- the client ---- */

struct ixb_client;

/*
 * Connects over fd (owned by the client from then on, also on failure) in
 * 9P2000 with the largest msize the server allows, and attaches uname to the
 * root. NULL with err filled on failure.
 */
IXB_HIDDEN struct ixb_client *ixb_connect(int fd, const char *uname, uint32_t *msize,
					  struct ixb_qid *rootqid, char *err);
/* The root's fid; a fid number no one else uses (IXB_NOFID when none is
 * left), given back with ixb_fid_put. */
IXB_HIDDEN uint32_t ixb_root_fid(struct ixb_client *c);
IXB_HIDDEN uint32_t ixb_fid_get(struct ixb_client *c);
IXB_HIDDEN void ixb_fid_put(struct ixb_client *c, uint32_t fid);
IXB_HIDDEN void ixb_disconnect(struct ixb_client *c);

/* Twalk: answers nwqid (which may be below nwname) or -errno. */
IXB_HIDDEN int ixb_walk(struct ixb_client *c, uint32_t fid, uint32_t newfid, unsigned nwname,
			char **wname, struct ixb_qid *wqid, char *err);
/* Topen, or Tcreate when name is not NULL: 0 or -errno. */
IXB_HIDDEN int ixb_open(struct ixb_client *c, uint32_t fid, const char *name, uint32_t perm,
			uint8_t mode, struct ixb_qid *qid, uint32_t *iounit, char *err);
/* Tclunk, Tremove: 0 or -errno. */
IXB_HIDDEN int ixb_clunk(struct ixb_client *c, uint32_t fid, char *err);
IXB_HIDDEN int ixb_remove(struct ixb_client *c, uint32_t fid, char *err);
/* Tread, Twrite: the count or -errno. */
IXB_HIDDEN ssize_t ixb_read(struct ixb_client *c, uint32_t fid, uint64_t off, void *buf,
			    uint32_t count, char *err);
IXB_HIDDEN ssize_t ixb_write(struct ixb_client *c, uint32_t fid, uint64_t off, const void *buf,
			     uint32_t count, char *err);
/* Tstat: the packed stat record in a malloc'd *buf of *len bytes; 0 or -errno. */
IXB_HIDDEN int ixb_stat(struct ixb_client *c, uint32_t fid, void **buf, size_t *len, char *err);

#endif
