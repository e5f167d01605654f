/*
 * boxfs/rio.h — the rio codec: Magenta's remote I/O messages (mxrio) on
 * AF_UNIX/SOCK_SEQPACKET channels, one packet per message, descriptors in
 * SCM_RIGHTS ancillary data of the same packet.
 *
 * Every message is a 48-byte little-endian header,
 *	u32 txid, u32 op, u32 datalen, i32 arg, u64 arg2, i32 reserved,
 *	u32 hcount, u32 handle[4]
 * followed by datalen bytes, at most RIO_CHUNK. An OPEN or CLONE is answered
 * on the channel it passed with an object description (RIO_OBJSZ bytes).
 * The layouts of every op are in docs/protocols/rio.md. Like the other
 * codecs this does no I/O, never allocates, and decodes into views of the
 * caller's buffer.
 */
#ifndef BOXFS_RIO_H
#define BOXFS_RIO_H

#include <boxfs/common.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	RIO_HDRSZ = 48,
	RIO_CHUNK = 8192, /* the most data one message carries */
	RIO_MSGMAX = RIO_HDRSZ + RIO_CHUNK,
	RIO_OBJSZ = 48,	 /* an object description */
	RIO_EXTRA = 32,	 /* its extra bytes */
	RIO_HANDLES = 4, /* descriptors one message may carry */
	RIO_ATTRSZ = 44, /* a STAT answer */
	RIO_SETATTRSZ = 16,
	RIO_MMAPSZ = 20,
};

/* Op codes; the 0x100 bit marks ops that carry one descriptor. */
enum rio_op {
	RIO_STATUS = 0x00, /* every reply */
	RIO_CLOSE = 0x01,
	RIO_CLONE = 0x102,
	RIO_OPEN = 0x103,
	RIO_MISC = 0x04,
	RIO_READ = 0x05,
	RIO_WRITE = 0x06,
	RIO_SEEK = 0x07,
	RIO_STAT = 0x08,
	RIO_READDIR = 0x09,
	RIO_IOCTL = 0x0a,
	RIO_IOCTL_1H = 0x10a,
	RIO_UNLINK = 0x0b,
	RIO_READ_AT = 0x0c,
	RIO_WRITE_AT = 0x0d,
	RIO_TRUNCATE = 0x0e,
	RIO_RENAME = 0x10f, /* boxfs: no descriptor; a token in arg2 */
	RIO_SETATTR = 0x18,
	RIO_SYNC = 0x19,
	RIO_LINK = 0x11a, /* boxfs: no descriptor; a token in arg2 */
	RIO_MMAP = 0x1b,
	RIO_FCNTL = 0x1c,
};

/* IOCTL ops (in arg2). */
enum { RIO_IOCTL_GET_TOKEN = 0x7278746b /* "rxtk" */ };

/* Object types of an OPEN/CLONE answer. */
enum { RIO_TYPE_PIPE = 1, RIO_TYPE_REMOTE = 2, RIO_TYPE_VMOFILE = 3, RIO_TYPE_SOCKET = 4 };

/* SETATTR valid bits, and MMAP flags. */
enum { RIO_SETATTR_MODE = 1, RIO_SETATTR_MTIME = 2 };
enum {
	RIO_MMAP_READ = 1,
	RIO_MMAP_WRITE = 2,
	RIO_MMAP_EXEC = 4,
	RIO_MMAP_PRIVATE = 1 << 16,
};

/* One message: the header's fields, and a view of its data. */
struct rio_msg {
	uint32_t txid;
	uint32_t op;
	uint32_t datalen;
	int32_t arg;   /* requests: an argument; replies: the status */
	uint64_t arg2; /* an offset, a mode, an ioctl op ... */
	int32_t reserved;
	uint32_t hcount;
	int32_t handle[RIO_HANDLES]; /* no meaning on the wire */
	const uint8_t *data;
};

/*
 * Decodes one whole packet. Answers 0, or -EPROTO when the packet is shorter
 * than a header, its datalen is not exactly the bytes that follow, datalen
 * exceeds RIO_CHUNK, or hcount exceeds RIO_HANDLES. m->data points into buf.
 */
BOXFS_API int rio_msg_unpack(struct rio_msg *m, const uint8_t *buf, size_t len);

/* Writes m's header (datalen as given; handle[] as zeros) into out. */
BOXFS_API void rio_hdr_pack(uint8_t out[RIO_HDRSZ], const struct rio_msg *m);

/* An object description: the answer of OPEN and CLONE. */
struct rio_object {
	int32_t status; /* 0 or -errno */
	uint32_t type;	/* RIO_TYPE_* */
	uint8_t extra[RIO_EXTRA];
	uint32_t esize;
	uint32_t hcount;
};

BOXFS_API void rio_object_pack(uint8_t out[RIO_OBJSZ], const struct rio_object *o);
/* 0, or -EPROTO when len is not RIO_OBJSZ or hcount exceeds RIO_HANDLES. */
BOXFS_API int rio_object_unpack(struct rio_object *o, const uint8_t *buf, size_t len);

/* VMOFILE extra: u64 offset, u64 length. */
BOXFS_API void rio_vmo_pack(struct rio_object *o, uint64_t offset, uint64_t length);
BOXFS_API void rio_vmo_unpack(const struct rio_object *o, uint64_t *offset, uint64_t *length);

/* A STAT answer (boxfs): u32 mode, u64 inode, u64 size, u64 nlink,
 * u64 ctime_ns, u64 mtime_ns. */
struct rio_attr {
	uint32_t mode;
	uint64_t inode;
	uint64_t size;
	uint64_t nlink;
	uint64_t ctime_ns;
	uint64_t mtime_ns;
};

BOXFS_API void rio_attr_pack(uint8_t out[RIO_ATTRSZ], const struct rio_attr *a);
BOXFS_API int rio_attr_unpack(struct rio_attr *a, const uint8_t *buf, size_t len);

/* SETATTR data (boxfs): u32 valid, u32 mode, u64 mtime_ns. */
struct rio_setattr {
	uint32_t valid;
	uint32_t mode;
	uint64_t mtime_ns;
};

BOXFS_API void rio_setattr_pack(uint8_t out[RIO_SETATTRSZ], const struct rio_setattr *s);
BOXFS_API int rio_setattr_unpack(struct rio_setattr *s, const uint8_t *buf, size_t len);

/* MMAP data: u64 offset, u64 length, u32 flags. */
struct rio_mmap {
	uint64_t offset;
	uint64_t length;
	uint32_t flags;
};

BOXFS_API void rio_mmap_pack(uint8_t out[RIO_MMAPSZ], const struct rio_mmap *m);
BOXFS_API int rio_mmap_unpack(struct rio_mmap *m, const uint8_t *buf, size_t len);

/*
 * READDIR records: u32 reclen, u32 type (DT_*), name, NUL, padded to 4 bytes.
 * rio_dirent_size is the record size for a name of namelen bytes;
 * rio_dirent_pack writes one (answers its size, or 0 when cap is short).
 */
BOXFS_API size_t rio_dirent_size(size_t namelen);
BOXFS_API size_t rio_dirent_pack(uint8_t *out, size_t cap, uint32_t type, const char *name,
				 size_t namelen);

/* One record read back: name is a view, not NUL-terminated in the count. */
struct rio_dirent {
	uint32_t type;
	const char *name;
	size_t namelen;
};

/* Reads the record at *pos of a READDIR answer and advances *pos: 1, 0 at
 * the end, or -EPROTO for a record that does not fit or lacks its NUL. */
BOXFS_API int rio_dirent_next(const uint8_t *buf, size_t len, size_t *pos, struct rio_dirent *d);

/* RENAME/LINK data: `old NUL new NUL`. 0 with views, or -EPROTO. */
BOXFS_API int rio_names_unpack(const uint8_t *buf, size_t len, const char **old, size_t *oldlen,
			       const char **new_, size_t *newlen);

/* The op's name ("OPEN"), or NULL for an unknown op. */
BOXFS_API const char *rio_op_name(uint32_t op);

#ifdef __cplusplus
}
#endif
#endif
