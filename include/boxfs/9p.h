/*
 * boxfs/9p.h — the 9P codec: 9P2000, 9P2000.u and 9P2000.L messages.
 *
 * The codec turns bytes into message structs and back. It does no I/O, never
 * allocates and keeps no state; servers, clients and tools build on it.
 *
 * Decoding never copies: strings and data in a decoded message are views into
 * the buffer that was decoded, valid as long as that buffer is. A decoder
 * checks every length against the bytes present and must consume the message
 * exactly. Encoding computes the size first and refuses a message that does
 * not fit before it writes a byte.
 *
 * Wire format (intro(5)): size[4] type[1] tag[2] body, little-endian;
 * strings are len[2] followed by len bytes, without a NUL.
 */
#ifndef BOXFS_9P_H
#define BOXFS_9P_H

#include <boxfs/common.h>
#include <stdbool.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The three dialects; Tversion's string picks one. */
enum p9_dialect {
	P9_2000 = 0,  /* "9P2000"   */
	P9_2000U = 1, /* "9P2000.u" */
	P9_2000L = 2, /* "9P2000.L" */
};

/* Message types: 9P2000 (100-127) and 9P2000.L (6-77). */
enum p9_type {
	P9_Tlerror = 6, /* illegal */
	P9_Rlerror = 7,
	P9_Tstatfs = 8,
	P9_Rstatfs = 9,
	P9_Tlopen = 12,
	P9_Rlopen = 13,
	P9_Tlcreate = 14,
	P9_Rlcreate = 15,
	P9_Tsymlink = 16,
	P9_Rsymlink = 17,
	P9_Tmknod = 18,
	P9_Rmknod = 19,
	P9_Trename = 20,
	P9_Rrename = 21,
	P9_Treadlink = 22,
	P9_Rreadlink = 23,
	P9_Tgetattr = 24,
	P9_Rgetattr = 25,
	P9_Tsetattr = 26,
	P9_Rsetattr = 27,
	P9_Txattrwalk = 30,
	P9_Rxattrwalk = 31,
	P9_Txattrcreate = 32,
	P9_Rxattrcreate = 33,
	P9_Treaddir = 40,
	P9_Rreaddir = 41,
	P9_Tfsync = 50,
	P9_Rfsync = 51,
	P9_Tlock = 52,
	P9_Rlock = 53,
	P9_Tgetlock = 54,
	P9_Rgetlock = 55,
	P9_Tlink = 70,
	P9_Rlink = 71,
	P9_Tmkdir = 72,
	P9_Rmkdir = 73,
	P9_Trenameat = 74,
	P9_Rrenameat = 75,
	P9_Tunlinkat = 76,
	P9_Runlinkat = 77,
	P9_Tversion = 100,
	P9_Rversion = 101,
	P9_Tauth = 102,
	P9_Rauth = 103,
	P9_Tattach = 104,
	P9_Rattach = 105,
	P9_Terror = 106, /* illegal */
	P9_Rerror = 107,
	P9_Tflush = 108,
	P9_Rflush = 109,
	P9_Twalk = 110,
	P9_Rwalk = 111,
	P9_Topen = 112,
	P9_Ropen = 113,
	P9_Tcreate = 114,
	P9_Rcreate = 115,
	P9_Tread = 116,
	P9_Rread = 117,
	P9_Twrite = 118,
	P9_Rwrite = 119,
	P9_Tclunk = 120,
	P9_Rclunk = 121,
	P9_Tremove = 122,
	P9_Rremove = 123,
	P9_Tstat = 124,
	P9_Rstat = 125,
	P9_Twstat = 126,
	P9_Rwstat = 127,
};

enum {
	P9_HDRSZ = 7,	     /* size[4] type[1] tag[2] */
	P9_IOHDRSZ = 24,     /* room a client leaves for a read/write header */
	P9_MIN_MSIZE = 4096, /* the smallest msize boxfs accepts */
	P9_MAXWELEM = 16,    /* names in one Twalk */
	P9_QIDSZ = 13,
	P9_RREAD_HDRSZ = 11, /* size[4] type[1] tag[2] count[4] */
	P9_NOTAG = 0xffff,
};

#define P9_NOFID    0xffffffffu
#define P9_NONUNAME 0xffffffffu /* n_uname when the client sends none */

/* qid.type bits */
enum {
	P9_QTDIR = 0x80,
	P9_QTAPPEND = 0x40,
	P9_QTEXCL = 0x20,
	P9_QTMOUNT = 0x10,
	P9_QTAUTH = 0x08,
	P9_QTTMP = 0x04,
	P9_QTSYMLINK = 0x02,
	P9_QTLINK = 0x01,
	P9_QTFILE = 0x00,
};

/* 9P2000 stat.mode and Tcreate.perm bits */
#define P9_DMDIR       0x80000000u
#define P9_DMAPPEND    0x40000000u
#define P9_DMEXCL      0x20000000u
#define P9_DMMOUNT     0x10000000u
#define P9_DMAUTH      0x08000000u
#define P9_DMTMP       0x04000000u
#define P9_DMSYMLINK   0x02000000u /* 9P2000.u */
#define P9_DMDEVICE    0x00800000u /* 9P2000.u */
#define P9_DMNAMEDPIPE 0x00200000u /* 9P2000.u */
#define P9_DMSOCKET    0x00100000u /* 9P2000.u */
#define P9_DMSETUID    0x00080000u /* 9P2000.u */
#define P9_DMSETGID    0x00040000u /* 9P2000.u */
#define P9_DMSETVTX    0x00010000u /* 9P2000.u, sticky */
#define P9_DMLINK      0x01000000u /* 9P2000.u Tcreate: a hard link, extension "FID\n" */

/* Topen/Tcreate modes */
enum {
	P9_OREAD = 0,
	P9_OWRITE = 1,
	P9_ORDWR = 2,
	P9_OEXEC = 3,
	P9_OTRUNC = 0x10,
	P9_ORCLOSE = 0x40,
};

/* Tgetattr request_mask and Rgetattr valid */
#define P9_GETATTR_MODE		0x00000001ull
#define P9_GETATTR_NLINK	0x00000002ull
#define P9_GETATTR_UID		0x00000004ull
#define P9_GETATTR_GID		0x00000008ull
#define P9_GETATTR_RDEV		0x00000010ull
#define P9_GETATTR_ATIME	0x00000020ull
#define P9_GETATTR_MTIME	0x00000040ull
#define P9_GETATTR_CTIME	0x00000080ull
#define P9_GETATTR_INO		0x00000100ull
#define P9_GETATTR_SIZE		0x00000200ull
#define P9_GETATTR_BLOCKS	0x00000400ull
#define P9_GETATTR_BTIME	0x00000800ull
#define P9_GETATTR_GEN		0x00001000ull
#define P9_GETATTR_DATA_VERSION 0x00002000ull
#define P9_GETATTR_BASIC	0x000007ffull
#define P9_GETATTR_ALL		0x00003fffull

/* Tsetattr valid */
enum {
	P9_SETATTR_MODE = 0x001,
	P9_SETATTR_UID = 0x002,
	P9_SETATTR_GID = 0x004,
	P9_SETATTR_SIZE = 0x008,
	P9_SETATTR_ATIME = 0x010,
	P9_SETATTR_MTIME = 0x020,
	P9_SETATTR_CTIME = 0x040,
	P9_SETATTR_ATIME_SET = 0x080,
	P9_SETATTR_MTIME_SET = 0x100,
};

/* Tlock/Tgetlock type, Tlock flags, Rlock status */
enum {
	P9_LOCK_TYPE_RDLCK = 0,
	P9_LOCK_TYPE_WRLCK = 1,
	P9_LOCK_TYPE_UNLCK = 2,
	P9_LOCK_FLAGS_BLOCK = 1,
	P9_LOCK_FLAGS_RECLAIM = 2,
	P9_LOCK_SUCCESS = 0,
	P9_LOCK_BLOCKED = 1,
	P9_LOCK_ERROR = 2,
	P9_LOCK_GRACE = 3,
};

/* A string on the wire: not NUL-terminated, may hold any byte. */
struct p9_str {
	const char *s;
	uint16_t len;
};

struct p9_qid {
	uint8_t type;
	uint32_t version;
	uint64_t path;
};

/*
 * A stat record (stat(5)); the .u fields are on the wire only in 9P2000.u.
 * The record's own size[2] is computed when packing and checked when
 * unpacking, so it has no field here.
 */
struct p9_stat {
	uint16_t type;
	uint32_t dev;
	struct p9_qid qid;
	uint32_t mode;
	uint32_t atime;
	uint32_t mtime;
	uint64_t length;
	struct p9_str name;
	struct p9_str uid;
	struct p9_str gid;
	struct p9_str muid;
	struct p9_str extension; /* 9P2000.u */
	uint32_t n_uid;		 /* 9P2000.u */
	uint32_t n_gid;		 /* 9P2000.u */
	uint32_t n_muid;	 /* 9P2000.u */
};

/* One entry of an Rreaddir reply (9P2000.L). */
struct p9_dirent {
	struct p9_qid qid;
	uint64_t offset; /* the cookie to continue after this entry */
	uint8_t type;	 /* DT_* */
	struct p9_str name;
};

/* Tversion, Rversion */
struct p9_version {
	uint32_t msize;
	struct p9_str version;
};

/* Tauth; n_uname in 9P2000.u and .L only */
struct p9_tauth {
	uint32_t afid;
	struct p9_str uname;
	struct p9_str aname;
	uint32_t n_uname;
};

/* Tattach; n_uname in 9P2000.u and .L only */
struct p9_tattach {
	uint32_t fid;
	uint32_t afid;
	struct p9_str uname;
	struct p9_str aname;
	uint32_t n_uname;
};

/* Rauth, Rattach, Rsymlink, Rmknod, Rmkdir */
struct p9_rqid {
	struct p9_qid qid;
};

/* Rerror; errnum in 9P2000.u only */
struct p9_rerror {
	struct p9_str ename;
	uint32_t errnum;
};

struct p9_rlerror {
	uint32_t ecode;
};

struct p9_tflush {
	uint16_t oldtag;
};

struct p9_twalk {
	uint32_t fid;
	uint32_t newfid;
	uint16_t nwname;
	struct p9_str wname[P9_MAXWELEM];
};

struct p9_rwalk {
	uint16_t nwqid;
	struct p9_qid wqid[P9_MAXWELEM];
};

struct p9_topen {
	uint32_t fid;
	uint8_t mode;
};

/* Ropen, Rcreate, Rlopen, Rlcreate */
struct p9_ropen {
	struct p9_qid qid;
	uint32_t iounit;
};

/* Tcreate; extension in 9P2000.u only */
struct p9_tcreate {
	uint32_t fid;
	struct p9_str name;
	uint32_t perm;
	uint8_t mode;
	struct p9_str extension;
};

/* Tread, Treaddir */
struct p9_tread {
	uint32_t fid;
	uint64_t offset;
	uint32_t count;
};

/* Rread, Rreaddir: count bytes at data */
struct p9_rread {
	uint32_t count;
	const uint8_t *data;
};

struct p9_twrite {
	uint32_t fid;
	uint64_t offset;
	uint32_t count;
	const uint8_t *data;
};

struct p9_rwrite {
	uint32_t count;
};

/* Tclunk, Tremove, Tstat, Tstatfs, Treadlink */
struct p9_tfid {
	uint32_t fid;
};

struct p9_rstat {
	struct p9_stat stat;
};

struct p9_twstat {
	uint32_t fid;
	struct p9_stat stat;
};

struct p9_rstatfs {
	uint32_t type;
	uint32_t bsize;
	uint64_t blocks;
	uint64_t bfree;
	uint64_t bavail;
	uint64_t files;
	uint64_t ffree;
	uint64_t fsid;
	uint32_t namelen;
};

struct p9_tlopen {
	uint32_t fid;
	uint32_t flags;
};

struct p9_tlcreate {
	uint32_t fid;
	struct p9_str name;
	uint32_t flags;
	uint32_t mode;
	uint32_t gid;
};

struct p9_tsymlink {
	uint32_t fid;
	struct p9_str name;
	struct p9_str symtgt;
	uint32_t gid;
};

struct p9_tmknod {
	uint32_t dfid;
	struct p9_str name;
	uint32_t mode;
	uint32_t major;
	uint32_t minor;
	uint32_t gid;
};

struct p9_trename {
	uint32_t fid;
	uint32_t dfid;
	struct p9_str name;
};

struct p9_rreadlink {
	struct p9_str target;
};

struct p9_tgetattr {
	uint32_t fid;
	uint64_t request_mask;
};

struct p9_rgetattr {
	uint64_t valid;
	struct p9_qid qid;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint64_t nlink;
	uint64_t rdev;
	uint64_t size;
	uint64_t blksize;
	uint64_t blocks;
	uint64_t atime_sec;
	uint64_t atime_nsec;
	uint64_t mtime_sec;
	uint64_t mtime_nsec;
	uint64_t ctime_sec;
	uint64_t ctime_nsec;
	uint64_t btime_sec;
	uint64_t btime_nsec;
	uint64_t gen;
	uint64_t data_version;
};

struct p9_tsetattr {
	uint32_t fid;
	uint32_t valid;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	uint64_t atime_sec;
	uint64_t atime_nsec;
	uint64_t mtime_sec;
	uint64_t mtime_nsec;
};

struct p9_txattrwalk {
	uint32_t fid;
	uint32_t newfid;
	struct p9_str name;
};

struct p9_rxattrwalk {
	uint64_t size;
};

struct p9_txattrcreate {
	uint32_t fid;
	struct p9_str name;
	uint64_t attr_size;
	uint32_t flags;
};

struct p9_tfsync {
	uint32_t fid;
	uint32_t datasync;
};

struct p9_tlock {
	uint32_t fid;
	uint8_t type;
	uint32_t flags;
	uint64_t start;
	uint64_t length;
	uint32_t proc_id;
	struct p9_str client_id;
};

struct p9_rlock {
	uint8_t status;
};

/* Tgetlock (fid used) and Rgetlock (fid not on the wire) */
struct p9_getlock {
	uint32_t fid;
	uint8_t type;
	uint64_t start;
	uint64_t length;
	uint32_t proc_id;
	struct p9_str client_id;
};

struct p9_tlink {
	uint32_t dfid;
	uint32_t fid;
	struct p9_str name;
};

struct p9_tmkdir {
	uint32_t dfid;
	struct p9_str name;
	uint32_t mode;
	uint32_t gid;
};

struct p9_trenameat {
	uint32_t olddirfid;
	struct p9_str oldname;
	uint32_t newdirfid;
	struct p9_str newname;
};

struct p9_tunlinkat {
	uint32_t dirfid;
	struct p9_str name;
	uint32_t flags;
};

/*
 * One message. `type` selects the union member; messages whose body is empty
 * (Rflush, Rclunk, Rremove, Rwstat, Rrename, Rsetattr, Rxattrcreate, Rfsync,
 * Rlink, Rrenameat, Runlinkat) use none.
 */
struct p9_fcall {
	uint8_t type;
	uint16_t tag;
	union {
		struct p9_version tversion, rversion;
		struct p9_tauth tauth;
		struct p9_rqid rauth;
		struct p9_tattach tattach;
		struct p9_rqid rattach;
		struct p9_rerror rerror;
		struct p9_rlerror rlerror;
		struct p9_tflush tflush;
		struct p9_twalk twalk;
		struct p9_rwalk rwalk;
		struct p9_topen topen;
		struct p9_ropen ropen;
		struct p9_tcreate tcreate;
		struct p9_ropen rcreate;
		struct p9_tread tread;
		struct p9_rread rread;
		struct p9_twrite twrite;
		struct p9_rwrite rwrite;
		struct p9_tfid tclunk, tremove, tstat;
		struct p9_rstat rstat;
		struct p9_twstat twstat;
		struct p9_tfid tstatfs;
		struct p9_rstatfs rstatfs;
		struct p9_tlopen tlopen;
		struct p9_ropen rlopen;
		struct p9_tlcreate tlcreate;
		struct p9_ropen rlcreate;
		struct p9_tsymlink tsymlink;
		struct p9_rqid rsymlink;
		struct p9_tmknod tmknod;
		struct p9_rqid rmknod;
		struct p9_trename trename;
		struct p9_tfid treadlink;
		struct p9_rreadlink rreadlink;
		struct p9_tgetattr tgetattr;
		struct p9_rgetattr rgetattr;
		struct p9_tsetattr tsetattr;
		struct p9_txattrwalk txattrwalk;
		struct p9_rxattrwalk rxattrwalk;
		struct p9_txattrcreate txattrcreate;
		struct p9_tread treaddir;
		struct p9_rread rreaddir;
		struct p9_tfsync tfsync;
		struct p9_tlock tlock;
		struct p9_rlock rlock;
		struct p9_getlock tgetlock, rgetlock;
		struct p9_tlink tlink;
		struct p9_tmkdir tmkdir;
		struct p9_rqid rmkdir;
		struct p9_trenameat trenameat;
		struct p9_tunlinkat tunlinkat;
	};
};

/*
 * Framing. Reads the size[4] field of a message whose first 4 bytes are at
 * hdr and answers the whole message's size, or -EPROTO when it is below the
 * 7-byte header, or -EMSGSIZE when it exceeds msize (0: no limit).
 */
BOXFS_API ssize_t p9_frame_size(const void *hdr, uint32_t msize);

/*
 * Decodes the len bytes at buf, which must be exactly one message of a type
 * the dialect has. Returns 0; -EPROTO when the message is malformed (size
 * field disagreeing with len, truncated, a length overrunning, more than 16
 * walk elements, a nested stat size disagreeing, bytes left over); or
 * -EOPNOTSUPP when the type is unknown or not part of the dialect. Whenever
 * len >= 7, f->type and f->tag are set, even on failure, so a server can
 * answer the tag. Strings and data in *f point into buf.
 */
BOXFS_API int p9_unpack(struct p9_fcall *f, const void *buf, size_t len, enum p9_dialect d);

/*
 * The encoded size of *f in dialect d, header included; 0 when the type is
 * not part of the dialect or a count is out of range (nwname/nwqid > 16).
 */
BOXFS_API size_t p9_size(const struct p9_fcall *f, enum p9_dialect d);

/*
 * Encodes *f into buf. Returns the number of bytes written, -EINVAL when
 * p9_size() is 0, or -EMSGSIZE when the message is larger than cap; nothing
 * is written on failure.
 */
BOXFS_API ssize_t p9_pack(void *buf, size_t cap, const struct p9_fcall *f, enum p9_dialect d);

/*
 * Writes the 11-byte header of an Rread or Rreaddir (type) whose count bytes
 * of data already sit right after it in buf: a server reads file data
 * straight into its reply buffer and packs only the header.
 */
BOXFS_API void p9_pack_rread_hdr(void *buf, uint8_t type, uint16_t tag, uint32_t count);

/* True when type is a message of dialect d (T or R). */
BOXFS_API bool p9_type_valid(uint8_t type, enum p9_dialect d);

/* True for T-messages (even types), the ones a client may send. */
static inline bool p9_is_tmsg(uint8_t type)
{
	return (type & 1) == 0;
}

/* "Twalk", or NULL for an unknown type. */
BOXFS_API const char *p9_type_name(uint8_t type);

/*
 * Tversion negotiation (version(5)): the dialect a version string asks for.
 * "9P2000", "9P2000.u", "9P2000.L" map to themselves; any other string that
 * begins with "9P2000." maps to plain 9P2000. Returns 0, or -EPROTONOSUPPORT
 * for a string that is not 9P2000 at all (the reply is then "unknown").
 */
BOXFS_API int p9_version_parse(struct p9_str v, enum p9_dialect *d);

/* "9P2000", "9P2000.u" or "9P2000.L". */
BOXFS_API const char *p9_dialect_name(enum p9_dialect d);

/*
 * The largest data count a read, write or readdir may carry under msize
 * (msize - P9_IOHDRSZ, computed without overflow): min(count, that).
 */
BOXFS_API uint32_t p9_iocount(uint32_t msize, uint32_t count);

/* Stat records (stat(5)); the size includes the record's own size[2]. */
BOXFS_API size_t p9_stat_size(const struct p9_stat *st, enum p9_dialect d);
BOXFS_API ssize_t p9_stat_pack(void *buf, size_t cap, const struct p9_stat *st, enum p9_dialect d);
/*
 * Decodes the next stat record at buf + *off (a 9P2000 directory read is a
 * run of them) and advances *off past it. Returns 1 with a record, 0 at the
 * end of the buffer, -EPROTO for a malformed or truncated record.
 */
BOXFS_API int p9_stat_next(struct p9_stat *st, const void *buf, size_t len, size_t *off,
			   enum p9_dialect d);

/* Rreaddir entries: qid[13] offset[8] type[1] name[s]. */
BOXFS_API size_t p9_dirent_size(const struct p9_dirent *de);
BOXFS_API ssize_t p9_dirent_pack(void *buf, size_t cap, const struct p9_dirent *de);
/* Like p9_stat_next, for Rreaddir data. */
BOXFS_API int p9_dirent_next(struct p9_dirent *de, const void *buf, size_t len, size_t *off);

/*
 * Prints *f on one line, as "Twalk tag 3 fid 1 newfid 2 'a' 'b'", in the
 * manner of snprintf: answers the length the whole line needs and writes at
 * most cap bytes including the NUL.
 */
BOXFS_API int p9_snprint(char *buf, size_t cap, const struct p9_fcall *f);

/*
 * Errors. The 9P2000 Rerror string for a positive Linux errno (never NULL;
 * the string of an unknown errno is strerror's). p9_errno maps an Rerror
 * string back to a positive errno, EIO when it is unknown. In 9P2000.L (and
 * the errnum of 9P2000.u) numbers are Linux's; p9_lerror keeps a number in the
 * range the wire can carry meaningfully (1..4095, else EIO).
 */
BOXFS_API const char *p9_errstr(int errnum);
BOXFS_API int p9_errno(struct p9_str ename);
BOXFS_API uint32_t p9_lerror(int errnum);

/* A p9_str of a C string (strlen must be below 65536). */
BOXFS_API struct p9_str p9_cstr(const char *s);

/* A stat record whose every field says "don't touch" (stat(5), Twstat):
 * all ones for numbers, empty strings. */
BOXFS_API struct p9_stat p9_stat_dont_touch(void);

#ifdef __cplusplus
}
#endif
#endif
