/*
 * boxfs/op.h — Plan B's box protocol (op): the codec, and a client that
 * retries.
 *
 * There are no descriptors in op: every request names its box and carries
 * its own authentication, so any request can be answered without earlier
 * state, and a client that loses its connection simply sends the request
 * again on a new one. Boxes move whole, as a series of packets of at most
 * OP_MAXBYTES from offset 0 that ends with a shorter (possibly empty)
 * packet. A copy is asked of the destination server, which pulls the box
 * from the source itself. The layout is in docs/protocols/op.md.
 *
 * Every message: `u32 size, u32 magic, u32 serial, u16 op, u16 flags, user
 * NUL, ticket NUL`, then the op's fields; little-endian, strings
 * NUL-terminated. Like the other codecs, this one does no I/O, never
 * allocates, and decodes into views of the caller's buffer (strings are
 * pointers to their NUL-terminated bytes in place).
 */
#ifndef BOXFS_OP_H
#define BOXFS_OP_H

#include <boxfs/common.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	OP_MAGIC = 0x3142704F, /* "OpB1" */
	OP_HDRSZ = 16,	       /* the fixed part, before the auth block */
	OP_MAXBYTES = 65536,   /* data in one GETMEM/PUTMEM packet */
	OP_MAXSTR = 4095,      /* bytes in one string (without its NUL) */
	OP_MAXUSER = 255,      /* bytes in the user and ticket strings */
	/* The largest message: a SELECTORS reply of 1 MiB of names. */
	OP_MAXMSG = (1 << 20) + 2 * (OP_MAXSTR + 1) + OP_HDRSZ + 64,
};

enum op_type {
	OP_STATUS = 0,
	OP_KIND = 1,
	OP_MAKE = 2,
	OP_DELETE = 3,
	OP_COPY = 4,
	OP_GETMEM = 5,
	OP_PUTMEM = 6,
	OP_SELECTORS = 7,
	OP_CHINFO = 8,
	OP_LINK = 9,
	OP_NTYPES
};

/* Header flags. */
enum {
	OP_FREPLY = 1 << 15, /* set in every reply, never in a request */
};

/* Permission bits of a box (operm: its owner's; wperm: everyone's). */
enum {
	OP_PGET = 1 << 0,    /* read the data */
	OP_PPUT = 1 << 1,    /* replace the data */
	OP_PSEL = 1 << 2,    /* list the selectors inside */
	OP_PLNK = 1 << 3,    /* link boxes into it */
	OP_PMK = 1 << 4,     /* make boxes inside */
	OP_PDEL = 1 << 5,    /* delete it */
	OP_PDELDIE = 1 << 6, /* deleted when its maker goes away */
	OP_PDELTMP = 1 << 7, /* deleted when its server restarts */
	OP_PNCACHE = 1 << 8, /* must not be cached */
};

/* "Leave this field as it is", in a CHINFO Stat. */
#define OP_KEEP32 0xffffffffu
#define OP_KEEP64 0xffffffffffffffffull

/*
 * A box's description. kind is one of "file", "dir", "link", "mem",
 * "blk", "srv", "task", "dev". Times are nanoseconds since the epoch:
 * ptime of the last put, gtime of the last get. vers changes with every
 * change of the box.
 */
struct op_stat {
	const char *kind;
	const char *owner;
	const char *putter; /* the user who last replaced the data */
	uint32_t vers;
	uint64_t ptime;
	uint64_t gtime;
	uint64_t size;
	uint32_t operm;
	uint32_t wperm;
};

/*
 * One message, request or reply; `type` and `reply` select the fields used:
 *
 *	STATUS     reply: err ("" is success)
 *	KIND       box                        reply: box, st
 *	MAKE       box, st                    reply: STATUS
 *	DELETE     box                        reply: STATUS
 *	COPY       box, addr, target          reply: box, off (the bytes copied)
 *	GETMEM     box, off, len              reply: box, off, len, data
 *	PUTMEM     box, off, len, data        reply: STATUS
 *	SELECTORS  box                        reply: box, len, data (names)
 *	CHINFO     box, st                    reply: STATUS
 *	LINK       box, target                reply: STATUS
 *
 * In COPY, box is the destination, addr the source server's address and
 * target the source box.
 */
struct op_msg {
	uint32_t serial;
	uint16_t type;	/* enum op_type */
	uint16_t flags; /* OP_F* */
	bool reply;	/* flags & OP_FREPLY */
	const char *user;
	const char *ticket;

	const char *err;
	const char *box;
	const char *addr;
	const char *target;
	struct op_stat st;
	uint64_t off;
	uint32_t len;
	const void *data;
};

/*
 * The size of the message whose first 8 bytes are at hdr, or -EPROTO for a
 * wrong magic or a size below the header or above max (OP_MAXMSG when 0).
 */
BOXFS_API ssize_t op_frame_size(const void *hdr, size_t max);

/*
 * Encodes m into buf; answers the size, -EMSGSIZE when cap is too small, or
 * -EINVAL for a message that cannot be sent (unknown type, a string longer
 * than OP_MAXSTR or holding no NUL where expected, len above OP_MAXBYTES in
 * GETMEM/PUTMEM). NULL strings are sent as "".
 */
BOXFS_API ssize_t op_pack(void *buf, size_t cap, const struct op_msg *m);

/*
 * Decodes the whole message in buf (len bytes, its size field included);
 * the strings and data of m point into buf. Answers 0; -EPROTO for a
 * message that is malformed (wrong magic or size, an unterminated or
 * overlong string, a length running past the end, bytes left over);
 * -EOPNOTSUPP for an unknown type with a sound header (m->serial, type and
 * the auth block are then valid, so the reply can say so).
 */
BOXFS_API int op_unpack(struct op_msg *m, const void *buf, size_t len);

/* The name of an op ("KIND"), or "?". */
BOXFS_API const char *op_type_name(unsigned type);

/*
 * The client. A connection to one server, by dial string (unix!PATH,
 * tcp!HOST!PORT, tls!HOST!PORT). A request that fails on the transport is
 * sent again on a new connection (after 50 ms, 100 ms ... up to `retry_ms`
 * in all), so a server restart is invisible but for the delay. Errors are
 * -errno; a STATUS error from the server is mapped onto an errno where one
 * fits (boxfs servers use errno texts) and its text kept for
 * boxfs_op_error. Requests are one at a time per handle; use one handle
 * per thread.
 */
struct boxfs_op;

struct boxfs_op_opts {
	const char *user;   /* default: the process's user name */
	const char *ticket; /* default: "" */
	unsigned retry_ms;  /* give up after: 10000; 0 takes the default */
};

BOXFS_API struct boxfs_op *boxfs_op_open(const char *dial, const struct boxfs_op_opts *opts);
BOXFS_API void boxfs_op_close(struct boxfs_op *op);

/* The text of the last STATUS error, or "". */
BOXFS_API const char *boxfs_op_error(const struct boxfs_op *op);

/*
 * A box's Stat. The strings point into storage of op, valid until its next
 * request.
 */
BOXFS_API int boxfs_op_kind(struct boxfs_op *op, const char *box, struct op_stat *st);

/* Makes a box of st->kind ("file", "dir", "mem" ...) with st's permission
 * bits (and st->size for a memfile's segment); other fields are ignored. */
BOXFS_API int boxfs_op_make(struct boxfs_op *op, const char *box, const struct op_stat *st);

BOXFS_API int boxfs_op_delete(struct boxfs_op *op, const char *box);

/* Changes what st names (OP_KEEP32/OP_KEEP64 and "" or NULL leave a field). */
BOXFS_API int boxfs_op_chinfo(struct boxfs_op *op, const char *box, const struct op_stat *st);

BOXFS_API int boxfs_op_link(struct boxfs_op *op, const char *box, const char *target);

/*
 * The selectors SELECTORS answers for box, one per element of a
 * NULL-terminated array allocated with malloc (free with free(); the
 * strings are in the same block). *n gets the count.
 */
BOXFS_API int boxfs_op_selectors(struct boxfs_op *op, const char *box, char ***names, size_t *n);

/* One GETMEM packet: up to len (at most OP_MAXBYTES) bytes at off. Answers
 * the count. */
BOXFS_API ssize_t boxfs_op_getmem(struct boxfs_op *op, const char *box, uint64_t off, void *buf,
				  uint32_t len);

/*
 * The whole box, into a malloc'd buffer (*data, *len). A series that
 * breaks on the transport starts again from offset 0 on the new
 * connection.
 */
BOXFS_API int boxfs_op_get(struct boxfs_op *op, const char *box, void **data, size_t *len);

/* Replaces the whole box with len bytes, atomically: a series of PUTMEM
 * packets, started again from 0 after a transport failure. */
BOXFS_API int boxfs_op_put(struct boxfs_op *op, const char *box, const void *data, size_t len);

/* Asks this server to copy box sbox of the server at saddr into dbox;
 * answers 0 with *copied the size copied (copied may be NULL). */
BOXFS_API int boxfs_op_copy(struct boxfs_op *op, const char *dbox, const char *saddr,
			    const char *sbox, uint64_t *copied);

#ifdef __cplusplus
}
#endif
#endif
