/*
 * boxfs/smdish.h — the smdish codec: the memfile protocol of Phoenix's
 * memory server.
 *
 * Every message is an 8-byte header, `u32 code, u32 body_size`, then the
 * body; everything is big-endian. In a request `code` is the op, in a reply
 * it is the status: 0 or a positive Linux errno. The layouts are fixed in
 * docs/protocols/smdish.md. Like the 9P codec this does no I/O, never
 * allocates, and decodes into views of the caller's buffer.
 */
#ifndef BOXFS_SMDISH_H
#define BOXFS_SMDISH_H

#include <boxfs/common.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum smd_op {
	SMD_OPEN = 0,
	SMD_CLOSE = 1,
	SMD_LOCK = 2,
	SMD_UNLOCK = 3,
	SMD_MMAP = 4,
	SMD_MUNMAP = 5,
	SMD_NEW_FDTABLE = 6,
	SMD_FORK = 7,
	SMD_CHILD_ATTACH = 8,
	/* boxfs extensions (docs/protocols/smdish.md) */
	SMD_XLOCK = 16,	      /* u32 fd, u32 flags -> as lock */
	SMD_MMAP_SHARED = 17, /* u32 fd, u32 size -> u32 mapfd, and the segment's memfd */
	SMD_LIST = 18,	      /* empty -> the memfiles, as smd_list_next reads them */
};

/* xlock flags. */
enum {
	SMD_XLOCK_WAIT = 1 << 0,   /* wait for the lock, in FIFO order, instead of EAGAIN */
	SMD_XLOCK_NODATA = 1 << 1, /* answer an empty body even with a segment */
};

enum { SMD_HDRSZ = 8 };

/* Bytes on the wire: a view into the decoded buffer. */
struct smd_bytes {
	const uint8_t *p;
	uint32_t len;
};

/* One memfile of a list reply: `u32 name_len, name, u32 seg_size, u32 flags`. */
struct smd_list_ent {
	struct smd_bytes name;
	uint32_t seg_size; /* 0: a pure lock */
	uint32_t flags;	   /* SMD_LIST_LOCKED */
};

enum { SMD_LIST_LOCKED = 1 << 0 };

struct smd_hdr {
	uint32_t code; /* op in a request, status in a reply */
	uint32_t body_size;
};

/* A request; `op` selects the member used. */
struct smd_req {
	uint32_t op;
	union {
		struct smd_bytes name; /* open */
		uint32_t fd;	       /* close, lock, munmap (the mapfd) */
		struct {
			uint32_t fd;
			bool has_data;
			struct smd_bytes data;
		} unlock;
		struct {
			uint32_t fd;
			uint32_t size;
		} mmap; /* and mmap_shared */
		struct {
			uint32_t fd;
			uint32_t flags;
		} xlock;
		uint64_t ident; /* child_attach */
	};
};

/*
 * A reply to a request of op `op`. A failure (status != 0) has an empty body.
 * On success: open answers fd, mmap and mmap_shared answer mapfd (in `fd`),
 * lock and xlock answer the segment when has_data, fork answers ident, list
 * answers its entries as `data` (has_data set); the others nothing.
 */
struct smd_rep {
	uint32_t status;
	uint32_t fd;
	bool has_data;
	struct smd_bytes data;
	uint64_t ident;
};

/* Reads the 8-byte header at buf. */
BOXFS_API void smd_hdr_unpack(struct smd_hdr *h, const void *buf);

/*
 * Decodes the body of a request with op `op`. Answers 0; -ENOSYS for an op
 * this codec does not know; -EPROTO when the body does not have exactly the
 * op's layout (a name overrunning, bytes left over, a non-empty body for
 * new_fdtable or fork ...).
 */
BOXFS_API int smd_req_unpack(struct smd_req *r, uint32_t op, const void *body, size_t len);

/* Encodes a whole request (header and body); the size written, -EINVAL for
 * an unknown op, or -EMSGSIZE when it does not fit in cap. */
BOXFS_API ssize_t smd_req_pack(void *buf, size_t cap, const struct smd_req *r);

/* Decodes the body of a reply to op `op` whose header said `status`; 0 or
 * -EPROTO (a failure with a body, or a success with the wrong layout). */
BOXFS_API int smd_rep_unpack(struct smd_rep *rep, uint32_t op, uint32_t status, const void *body,
			     size_t len);

/* Encodes a whole reply to op `op`; the size written, or -EMSGSIZE. */
BOXFS_API ssize_t smd_rep_pack(void *buf, size_t cap, uint32_t op, const struct smd_rep *rep);

/*
 * Reads the entry at *pos of a list reply's data and advances *pos. Answers 1
 * for an entry, 0 at the end, -EPROTO for a truncated entry.
 */
BOXFS_API int smd_list_next(struct smd_bytes list, size_t *pos, struct smd_list_ent *e);

/* Appends an entry to a list reply being built in buf (cap bytes, *len used);
 * -EMSGSIZE when it does not fit. */
BOXFS_API int smd_list_put(void *buf, size_t cap, size_t *len, const struct smd_list_ent *e);

/* "open", "lock" ..., or NULL for an unknown op. */
BOXFS_API const char *smd_op_name(uint32_t op);

#ifdef __cplusplus
}
#endif
#endif
