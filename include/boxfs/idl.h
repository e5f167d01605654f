/*
 * boxfs/idl.h — Resea's interfaces over a byte stream: the wire codec that
 * the IDL compiler's tables drive, and the client of a boxfs server's idl
 * door (docs/protocols/idl.md).
 *
 *	struct boxfs_idl *cl = boxfs_idl_connect("unix!/run/user/1000/boxfs/idl");
 *	struct benchmark_nop_reply_fields r;
 *	int err = idl_call_benchmark_nop(cl, &(struct benchmark_nop_fields){ .value = 7 }, &r);
 *
 * Every message of the interface file has, in the generated "idl_gen.h"
 * (included at the end of this header): its ids (BENCHMARK_NOP_MSG,
 * BENCHMARK_NOP_REPLY_MSG), one struct per direction (struct
 * benchmark_nop_fields, struct benchmark_nop_reply_fields), a descriptor
 * (IDL_BENCHMARK_NOP), a client stub (idl_call_benchmark_nop, or
 * idl_send_NAME for a oneway), typed encoders and decoders, and a slot in
 * the server dispatch table (struct idl_server_ops, idl_dispatch).
 *
 * A str or bytes field is a struct boxfs_idl_buf, a view: in a request the
 * caller's bytes, in a reply bytes inside the client's receive buffer, valid
 * until the next call on that client. A client carries one call at a time;
 * calls from several threads are serialized. Errors: the stubs answer 0, a
 * Resea error code the server sent (BOXFS_IDL_NOT_FOUND ...), or a negative
 * Linux errno below -4096 - see boxfs_idl_errno - for transport failures.
 */
#ifndef BOXFS_IDL_H
#define BOXFS_IDL_H

#include <boxfs/common.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Resea's error codes, as sent in a reply's type. */
enum {
	BOXFS_IDL_OK = 0,
	BOXFS_IDL_NO_MEMORY = -1,
	BOXFS_IDL_NOT_PERMITTED = -2,
	BOXFS_IDL_WOULD_BLOCK = -3,
	BOXFS_IDL_ABORTED = -4,
	BOXFS_IDL_TOO_LARGE = -5,
	BOXFS_IDL_TOO_SMALL = -6,
	BOXFS_IDL_NOT_FOUND = -7,
	BOXFS_IDL_INVALID_ARG = -8,
	BOXFS_IDL_INVALID_TASK = -9,
	BOXFS_IDL_ALREADY_EXISTS = -10,
	BOXFS_IDL_UNAVAILABLE = -11,
	BOXFS_IDL_NOT_ACCEPTABLE = -12,
	BOXFS_IDL_EMPTY = -13,
	BOXFS_IDL_IN_USE = -15,
	BOXFS_IDL_TRY_AGAIN = -16,
	BOXFS_IDL_END = -17,
};

/* Transport failures answered by the client are -(4096 + errno). */
#define BOXFS_IDL_ERRNO_BASE 4096
static inline int boxfs_idl_errno(int err)
{
	return err <= -BOXFS_IDL_ERRNO_BASE ? -(-err - BOXFS_IDL_ERRNO_BASE) : 0;
}

/* The id bits of a direction carrying a str/bytes field, and a str. */
#define BOXFS_IDL_MSG_OOL (1 << 29)
#define BOXFS_IDL_MSG_STR (1 << 30)

/* The frame: u32 len (bytes after it), i32 type, i32 src, then the body. */
enum {
	BOXFS_IDL_HDRSZ = 12,
	BOXFS_IDL_MAX_FIXED = 256,
	BOXFS_IDL_MAX_OOL = 1 << 20, /* the largest str/bytes field this side accepts */
};

struct boxfs_idl_buf {
	const void *ptr;
	uint32_t len;
};

enum boxfs_idl_kind {
	BOXFS_IDL_INT,
	BOXFS_IDL_UINT,
	BOXFS_IDL_BOOL,
	BOXFS_IDL_STR,
	BOXFS_IDL_BYTES
};

/* One field: its name, its type's name, how it is carried, the size of one
 * element (0 for str/bytes), the element count, its offset in the struct. */
struct boxfs_idl_field {
	const char *name;
	const char *type;
	uint8_t kind;
	uint8_t size;
	uint16_t count;
	uint16_t off;
};

/* One direction of a message. */
struct boxfs_idl_fields {
	const struct boxfs_idl_field *v;
	uint8_t n;
	uint16_t fixed; /* bytes of the fixed part */
	int8_t ool;	/* the str/bytes field's index, or -1 */
	uint16_t size;	/* sizeof the struct */
};

struct boxfs_idl_msg {
	const char *name; /* "benchmark.nop"; NULL ends boxfs_idl_msgs */
	int32_t id;
	int32_t reply_id; /* 0 for a oneway */
	bool rpc;
	bool async;
	struct boxfs_idl_fields args, rets;
	const char *doc;
};

/* Every message of the interface file, in id order, then { NULL }. */
BOXFS_API extern const struct boxfs_idl_msg boxfs_idl_msgs[];

/* The message named "ns.name", or whose request or reply id is id (*reply
 * set when it is the reply); NULL when none. */
BOXFS_API const struct boxfs_idl_msg *boxfs_idl_msg_by_name(const char *name);
BOXFS_API const struct boxfs_idl_msg *boxfs_idl_msg_by_id(int32_t id, bool *reply);

/* The Resea error code for a negative Linux errno (0 for 0). */
BOXFS_API int boxfs_idl_from_errno(int err);

/* Resea's name of an error code ("NOT_FOUND"), or NULL. */
BOXFS_API const char *boxfs_idl_strerror(int err);

/* The body size of the fields in s (a struct of that direction). */
BOXFS_API size_t boxfs_idl_size(const struct boxfs_idl_fields *f, const void *s);
/* Packs s into body (boxfs_idl_size bytes); answers that size. */
BOXFS_API size_t boxfs_idl_pack(const struct boxfs_idl_fields *f, const void *s, void *body);
/* Unpacks a body, which must hold exactly the fields (a str/bytes at most
 * BOXFS_IDL_MAX_OOL bytes), into s; views point into body. 0 or -EPROTO. */
BOXFS_API int boxfs_idl_unpack(const struct boxfs_idl_fields *f, void *s, const void *body,
			       size_t len);
/* Writes a frame header. */
BOXFS_API void boxfs_idl_hdr_pack(void *hdr, uint32_t body, int32_t type, int32_t src);

/* ---- the client ---- */

struct boxfs_idl;

/* Dials an idl door ("unix!/path", "unix!@name", "tcp!host!port"). NULL
 * with errno on failure. */
BOXFS_API struct boxfs_idl *boxfs_idl_connect(const char *dial);

/* Closes the connection and frees cl. */
BOXFS_API void boxfs_idl_close(struct boxfs_idl *cl);

/* The task id the server gave this connection (the src of its requests),
 * learnt from the first reply; 0 before. */
BOXFS_API int32_t boxfs_idl_task(const struct boxfs_idl *cl);

/* Sends the request m with the fields in, waits for its reply and decodes it
 * into out (views valid until the next call). Messages from the server that
 * are no reply (task.exited) are kept for boxfs_idl_recv. */
BOXFS_API int boxfs_idl_call(struct boxfs_idl *cl, const struct boxfs_idl_msg *m, const void *in,
			     void *out);

/* Sends a oneway message. */
BOXFS_API int boxfs_idl_send(struct boxfs_idl *cl, const struct boxfs_idl_msg *m, const void *in);

/* Waits up to timeout_ms (-1: for ever) for a message the server sent on its
 * own (task.exited), and decodes it into out, which must be big enough for
 * any such message (struct task_exited_fields). Answers its descriptor
 * through *m. 0, -(4096 + ETIMEDOUT), or another error. */
BOXFS_API int boxfs_idl_recv(struct boxfs_idl *cl, const struct boxfs_idl_msg **m, void *out,
			     size_t outsize, int timeout_ms);

/* The descriptor that came with the last reply (shm.map), now the
 * caller's, or -1. */
BOXFS_API int boxfs_idl_take_fd(struct boxfs_idl *cl);

/* shm.map and mmap of the descriptor: *size gets the segment's size. NULL
 * with errno (EPROTO for a Resea error, whose code goes to *err). */
BOXFS_API void *boxfs_idl_shm_map(struct boxfs_idl *cl, int32_t shm_id, bool writable, size_t *size,
				  int *err);

#ifdef __cplusplus
}
#endif

#include "idl_gen.h"

#endif
