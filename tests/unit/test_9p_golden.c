/*
 * test_9p_golden.c — golden byte vectors for the 9P codec (boxfs/9p.h).
 *
 * Every T- and R-message of every dialect (9P2000, 9P2000.u, 9P2000.L) is
 * written here as a byte array, by hand, from the manual pages: Plan 9
 * intro(5) and the per-message pages, the 9P2000.u draft, and 9P2000.L as
 * diod's protocol.md and Linux's include/net/9p/9p.h document it. Each vector
 * is one cmocka test that checks both directions: p9_unpack of the bytes
 * gives exactly the expected fields, and p9_pack of the expected struct gives
 * exactly the bytes. Stat records and Rreaddir entries get the same, and
 * types outside a dialect must be refused.
 */

/* The byte vectors are laid out field by field, to be read against the
 * protocol's pages; the formatter would put one byte on a line. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <boxfs/9p.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A p9_str of a string literal. */
#define S(x) { .s = (x), .len = sizeof(x) - 1 }
#define QID(t, v, p) { .type = (t), .version = (v), .path = (p) }

/* One golden vector: the bytes and the message they encode. */
struct golden {
	const char *name; /* "9P2000.L Tgetattr" */
	enum p9_dialect d;
	const uint8_t *buf;
	size_t len;
	struct p9_fcall f;
};

#define GOLDEN(nm, dia, vec, ...) \
	{ .name = (nm), .d = (dia), .buf = (vec), .len = sizeof(vec), .f = { __VA_ARGS__ } }

/*
 * ---- 9P2000 (intro(5), version(5), attach(5), ..., stat(5)) ----
 * These vectors are also the .u and .L vectors of the messages that do not
 * change between dialects.
 */

/* size[4] Tversion tag[2] msize[4] version[s] */
static const uint8_t v0_tversion[] = {
	/* size */ 19, 0, 0, 0, /* Tversion */ 100, /* tag */ 0xff, 0xff,
	/* msize 8192 */ 0x00, 0x20, 0x00, 0x00,
	/* version */ 6, 0, '9', 'P', '2', '0', '0', '0',
};

/* size[4] Rversion tag[2] msize[4] version[s] */
static const uint8_t v0_rversion[] = {
	/* size */ 19, 0, 0, 0, /* Rversion */ 101, /* tag */ 0xff, 0xff,
	/* msize 65560 */ 0x18, 0x00, 0x01, 0x00,
	/* version */ 6, 0, '9', 'P', '2', '0', '0', '0',
};

/* size[4] Tauth tag[2] afid[4] uname[s] aname[s] */
static const uint8_t v0_tauth[] = {
	/* size */ 21, 0, 0, 0, /* Tauth */ 102, /* tag */ 0x02, 0x01,
	/* afid */ 0x44, 0x33, 0x22, 0x11,
	/* uname */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* aname */ 0, 0,
};

/* size[4] Rauth tag[2] aqid[13] */
static const uint8_t v0_rauth[] = {
	/* size */ 20, 0, 0, 0, /* Rauth */ 103, /* tag */ 0x02, 0x01,
	/* aqid.type QTAUTH */ 0x08, /* .version */ 0x04, 0x03, 0x02, 0x01,
	/* .path */ 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
};

/* size[4] Tattach tag[2] fid[4] afid[4] uname[s] aname[s] */
static const uint8_t v0_tattach[] = {
	/* size */ 25, 0, 0, 0, /* Tattach */ 104, /* tag */ 0x03, 0x02,
	/* fid */ 1, 0, 0, 0, /* afid NOFID */ 0xff, 0xff, 0xff, 0xff,
	/* uname */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* aname */ 0, 0,
};

/* size[4] Rattach tag[2] qid[13] */
static const uint8_t v0_rattach[] = {
	/* size */ 20, 0, 0, 0, /* Rattach */ 105, /* tag */ 0x03, 0x02,
	/* qid.type QTDIR */ 0x80, /* .version */ 7, 0, 0, 0,
	/* .path */ 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
};

/* size[4] Rerror tag[2] ename[s] */
static const uint8_t v0_rerror[] = {
	/* size */ 28, 0, 0, 0, /* Rerror */ 107, /* tag */ 0x04, 0x03,
	/* ename */ 19, 0, 'f', 'i', 'l', 'e', ' ', 'd', 'o', 'e', 's', ' ',
	'n', 'o', 't', ' ', 'e', 'x', 'i', 's', 't',
};

/* size[4] Tflush tag[2] oldtag[2] */
static const uint8_t v0_tflush[] = {
	/* size */ 9, 0, 0, 0, /* Tflush */ 108, /* tag */ 0x05, 0x04,
	/* oldtag */ 0x03, 0x02,
};

/* size[4] Rflush tag[2] */
static const uint8_t v0_rflush[] = {
	/* size */ 7, 0, 0, 0, /* Rflush */ 109, /* tag */ 0x05, 0x04,
};

/* size[4] Twalk tag[2] fid[4] newfid[4] nwname[2] nwname*(wname[s]) */
static const uint8_t v0_twalk[] = {
	/* size */ 30, 0, 0, 0, /* Twalk */ 110, /* tag */ 0x06, 0x05,
	/* fid */ 0x10, 0, 0, 0, /* newfid */ 0x11, 0, 0, 0,
	/* nwname */ 2, 0,
	/* wname[0] */ 3, 0, 'u', 's', 'r',
	/* wname[1] */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
};

/* Twalk with nwname 0: clones fid to newfid (walk(5)) */
static const uint8_t v0_twalk_clone[] = {
	/* size */ 17, 0, 0, 0, /* Twalk */ 110, /* tag */ 0x07, 0x05,
	/* fid */ 0x10, 0, 0, 0, /* newfid */ 0x12, 0, 0, 0,
	/* nwname */ 0, 0,
};

/* Twalk with the most names a walk may carry, MAXWELEM 16 (walk(5)) */
static const uint8_t v0_twalk16[] = {
	/* size */ 65, 0, 0, 0, /* Twalk */ 110, /* tag */ 0x08, 0x05,
	/* fid */ 0x10, 0, 0, 0, /* newfid */ 0x13, 0, 0, 0,
	/* nwname */ 16, 0,
	/* wname[0..7] */ 1, 0, 'a', 1, 0, 'b', 1, 0, 'c', 1, 0, 'd',
	1, 0, 'e', 1, 0, 'f', 1, 0, 'g', 1, 0, 'h',
	/* wname[8..15] */ 1, 0, 'i', 1, 0, 'j', 1, 0, 'k', 1, 0, 'l',
	1, 0, 'm', 1, 0, 'n', 1, 0, 'o', 1, 0, 'p',
};

/* size[4] Rwalk tag[2] nwqid[2] nwqid*(wqid[13]) */
static const uint8_t v0_rwalk[] = {
	/* size */ 35, 0, 0, 0, /* Rwalk */ 111, /* tag */ 0x06, 0x05,
	/* nwqid */ 2, 0,
	/* wqid[0] */ 0x80, 1, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[1] */ 0x00, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

/* Rwalk of a clone: no qids */
static const uint8_t v0_rwalk_clone[] = {
	/* size */ 9, 0, 0, 0, /* Rwalk */ 111, /* tag */ 0x07, 0x05,
	/* nwqid */ 0, 0,
};

/* Rwalk with 16 qids */
static const uint8_t v0_rwalk16[] = {
	/* size */ 217, 0, 0, 0, /* Rwalk */ 111, /* tag */ 0x08, 0x05,
	/* nwqid */ 16, 0,
	/* wqid[0] */ 0x80, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[1] */ 0x80, 2, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[2] */ 0x80, 3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[3] */ 0x80, 4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[4] */ 0x80, 5, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[5] */ 0x80, 6, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[6] */ 0x80, 7, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[7] */ 0x80, 8, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[8] */ 0x80, 9, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[9] */ 0x80, 10, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[10] */ 0x80, 11, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[11] */ 0x80, 12, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[12] */ 0x80, 13, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[13] */ 0x80, 14, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[14] */ 0x80, 15, 0, 0, 0, 15, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[15] */ 0x00, 16, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0,
};

/* size[4] Topen tag[2] fid[4] mode[1] */
static const uint8_t v0_topen[] = {
	/* size */ 12, 0, 0, 0, /* Topen */ 112, /* tag */ 0x09, 0x06,
	/* fid */ 0x22, 0, 0, 0, /* mode ORDWR|OTRUNC */ 0x12,
};

/* size[4] Ropen tag[2] qid[13] iounit[4] */
static const uint8_t v0_ropen[] = {
	/* size */ 24, 0, 0, 0, /* Ropen */ 113, /* tag */ 0x09, 0x06,
	/* qid */ 0x00, 3, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0,
	/* iounit 8168 */ 0xe8, 0x1f, 0, 0,
};

/* size[4] Tcreate tag[2] fid[4] name[s] perm[4] mode[1] */
static const uint8_t v0_tcreate[] = {
	/* size */ 25, 0, 0, 0, /* Tcreate */ 114, /* tag */ 0x0a, 0x07,
	/* fid */ 0x22, 0, 0, 0,
	/* name */ 7, 0, 'n', 'e', 'w', '.', 't', 'x', 't',
	/* perm 0644 */ 0xa4, 0x01, 0, 0, /* mode OWRITE */ 1,
};

/* size[4] Rcreate tag[2] qid[13] iounit[4] */
static const uint8_t v0_rcreate[] = {
	/* size */ 24, 0, 0, 0, /* Rcreate */ 115, /* tag */ 0x0a, 0x07,
	/* qid */ 0x00, 1, 0, 0, 0, 0x2b, 0, 0, 0, 0, 0, 0, 0,
	/* iounit */ 0, 0, 0, 0,
};

/* size[4] Tread tag[2] fid[4] offset[8] count[4] */
static const uint8_t v0_tread[] = {
	/* size */ 23, 0, 0, 0, /* Tread */ 116, /* tag */ 0x0b, 0x08,
	/* fid */ 0x22, 0, 0, 0,
	/* offset 0x100000010 */ 0x10, 0, 0, 0, 1, 0, 0, 0,
	/* count 8168 */ 0xe8, 0x1f, 0, 0,
};

/* size[4] Rread tag[2] count[4] data[count] */
static const uint8_t v0_rread[] = {
	/* size */ 16, 0, 0, 0, /* Rread */ 117, /* tag */ 0x0b, 0x08,
	/* count */ 5, 0, 0, 0, /* data */ 'h', 'e', 'l', 'l', 'o',
};

/* Rread at end of file: count 0 */
static const uint8_t v0_rread_eof[] = {
	/* size */ 11, 0, 0, 0, /* Rread */ 117, /* tag */ 0x0c, 0x08,
	/* count */ 0, 0, 0, 0,
};

/* size[4] Twrite tag[2] fid[4] offset[8] count[4] data[count] */
static const uint8_t v0_twrite[] = {
	/* size */ 29, 0, 0, 0, /* Twrite */ 118, /* tag */ 0x0c, 0x09,
	/* fid */ 0x22, 0, 0, 0, /* offset */ 6, 0, 0, 0, 0, 0, 0, 0,
	/* count */ 6, 0, 0, 0, /* data */ 'h', 'e', 'l', 'l', 'o', '\n',
};

/* size[4] Rwrite tag[2] count[4] */
static const uint8_t v0_rwrite[] = {
	/* size */ 11, 0, 0, 0, /* Rwrite */ 119, /* tag */ 0x0c, 0x09,
	/* count */ 6, 0, 0, 0,
};

/* size[4] Tclunk tag[2] fid[4] */
static const uint8_t v0_tclunk[] = {
	/* size */ 11, 0, 0, 0, /* Tclunk */ 120, /* tag */ 0x0d, 0x0a,
	/* fid */ 0x22, 0, 0, 0,
};

/* size[4] Rclunk tag[2] */
static const uint8_t v0_rclunk[] = {
	/* size */ 7, 0, 0, 0, /* Rclunk */ 121, /* tag */ 0x0d, 0x0a,
};

/* size[4] Tremove tag[2] fid[4] */
static const uint8_t v0_tremove[] = {
	/* size */ 11, 0, 0, 0, /* Tremove */ 122, /* tag */ 0x0e, 0x0b,
	/* fid */ 0x23, 0, 0, 0,
};

/* size[4] Rremove tag[2] */
static const uint8_t v0_rremove[] = {
	/* size */ 7, 0, 0, 0, /* Rremove */ 123, /* tag */ 0x0e, 0x0b,
};

/* size[4] Tstat tag[2] fid[4] */
static const uint8_t v0_tstat[] = {
	/* size */ 11, 0, 0, 0, /* Tstat */ 124, /* tag */ 0x0f, 0x0c,
	/* fid */ 0x24, 0, 0, 0,
};

/*
 * size[4] Rstat tag[2] stat[n]: on the wire n[2] and then the stat record,
 * which begins with its own size[2] (stat(5)); n = size + 2.
 */
static const uint8_t v0_rstat[] = {
	/* size */ 73, 0, 0, 0, /* Rstat */ 125, /* tag */ 0x0f, 0x0c,
	/* nstat */ 64, 0,
	/* stat.size */ 62, 0, /* type */ 0x02, 0x01, /* dev */ 0x06, 0x05, 0x04, 0x03,
	/* qid */ 0x00, 0x0a, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* mode 0644 */ 0xa4, 0x01, 0, 0,
	/* atime */ 0x00, 0xf1, 0x53, 0x65, /* mtime */ 0x01, 0xf1, 0x53, 0x65,
	/* length */ 0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0,
	/* name */ 3, 0, 'f', 'o', 'o',
	/* uid */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* gid */ 3, 0, 's', 'y', 's',
	/* muid */ 3, 0, 'b', 'o', 'b',
};

/* size[4] Twstat tag[2] fid[4] stat[n]: "don't touch" values but name, mtime */
static const uint8_t v0_twstat[] = {
	/* size */ 65, 0, 0, 0, /* Twstat */ 126, /* tag */ 0x10, 0x0d,
	/* fid */ 0x25, 0, 0, 0,
	/* nstat */ 52, 0,
	/* stat.size */ 50, 0, /* type */ 0xff, 0xff, /* dev */ 0xff, 0xff, 0xff, 0xff,
	/* qid */ 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* mode */ 0xff, 0xff, 0xff, 0xff,
	/* atime */ 0xff, 0xff, 0xff, 0xff, /* mtime */ 0x02, 0xf1, 0x53, 0x65,
	/* length */ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* name */ 3, 0, 'b', 'a', 'r',
	/* uid */ 0, 0, /* gid */ 0, 0, /* muid */ 0, 0,
};

/* size[4] Rwstat tag[2] */
static const uint8_t v0_rwstat[] = {
	/* size */ 7, 0, 0, 0, /* Rwstat */ 127, /* tag */ 0x10, 0x0d,
};

/*
 * ---- 9P2000.u (the Unix extension draft) ----
 * Tauth/Tattach gain n_uname[4], Rerror gains errno[4], Tcreate gains
 * extension[s], stat gains extension[s] n_uid[4] n_gid[4] n_muid[4].
 */

static const uint8_t vu_tversion[] = {
	/* size */ 21, 0, 0, 0, /* Tversion */ 100, /* tag */ 0xff, 0xff,
	/* msize 8192 */ 0x00, 0x20, 0x00, 0x00,
	/* version */ 8, 0, '9', 'P', '2', '0', '0', '0', '.', 'u',
};

static const uint8_t vu_rversion[] = {
	/* size */ 21, 0, 0, 0, /* Rversion */ 101, /* tag */ 0xff, 0xff,
	/* msize 8192 */ 0x00, 0x20, 0x00, 0x00,
	/* version */ 8, 0, '9', 'P', '2', '0', '0', '0', '.', 'u',
};

/* size[4] Tauth tag[2] afid[4] uname[s] aname[s] n_uname[4] (also .L) */
static const uint8_t vu_tauth[] = {
	/* size */ 25, 0, 0, 0, /* Tauth */ 102, /* tag */ 0x02, 0x01,
	/* afid */ 0x44, 0x33, 0x22, 0x11,
	/* uname */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* aname */ 0, 0,
	/* n_uname 1000 */ 0xe8, 0x03, 0, 0,
};

/* size[4] Tattach tag[2] fid[4] afid[4] uname[s] aname[s] n_uname[4] */
static const uint8_t vu_tattach[] = {
	/* size */ 33, 0, 0, 0, /* Tattach */ 104, /* tag */ 0x03, 0x02,
	/* fid */ 1, 0, 0, 0, /* afid NOFID */ 0xff, 0xff, 0xff, 0xff,
	/* uname */ 4, 0, 'r', 'o', 'o', 't',
	/* aname */ 6, 0, '/', 't', 'm', 'p', '/', '9',
	/* n_uname NONUNAME */ 0xff, 0xff, 0xff, 0xff,
};

/* size[4] Rerror tag[2] ename[s] errno[4] */
static const uint8_t vu_rerror[] = {
	/* size */ 32, 0, 0, 0, /* Rerror */ 107, /* tag */ 0x04, 0x03,
	/* ename */ 19, 0, 'f', 'i', 'l', 'e', ' ', 'd', 'o', 'e', 's', ' ',
	'n', 'o', 't', ' ', 'e', 'x', 'i', 's', 't',
	/* errno ENOENT */ 2, 0, 0, 0,
};

/* size[4] Tcreate tag[2] fid[4] name[s] perm[4] mode[1] extension[s] */
static const uint8_t vu_tcreate[] = {
	/* size */ 29, 0, 0, 0, /* Tcreate */ 114, /* tag */ 0x0a, 0x07,
	/* fid */ 0x22, 0, 0, 0,
	/* name */ 3, 0, 'l', 'n', 'k',
	/* perm DMSYMLINK|0777 */ 0xff, 0x01, 0x00, 0x02, /* mode OREAD */ 0,
	/* extension */ 6, 0, 't', 'a', 'r', 'g', 'e', 't',
};

/* Rstat with a .u stat record: the 9P2000 one plus the four .u fields */
static const uint8_t vu_rstat[] = {
	/* size */ 93, 0, 0, 0, /* Rstat */ 125, /* tag */ 0x0f, 0x0c,
	/* nstat */ 84, 0,
	/* stat.size */ 82, 0, /* type */ 0x02, 0x01, /* dev */ 0x06, 0x05, 0x04, 0x03,
	/* qid */ 0x00, 0x0a, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* mode 0644 */ 0xa4, 0x01, 0, 0,
	/* atime */ 0x00, 0xf1, 0x53, 0x65, /* mtime */ 0x01, 0xf1, 0x53, 0x65,
	/* length */ 0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0,
	/* name */ 3, 0, 'f', 'o', 'o',
	/* uid */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* gid */ 3, 0, 's', 'y', 's',
	/* muid */ 3, 0, 'b', 'o', 'b',
	/* extension */ 6, 0, 't', 'a', 'r', 'g', 'e', 't',
	/* n_uid 1000 */ 0xe8, 0x03, 0, 0, /* n_gid 100 */ 0x64, 0, 0, 0,
	/* n_muid 1001 */ 0xe9, 0x03, 0, 0,
};

static const uint8_t vu_twstat[] = {
	/* size */ 79, 0, 0, 0, /* Twstat */ 126, /* tag */ 0x10, 0x0d,
	/* fid */ 0x25, 0, 0, 0,
	/* nstat */ 66, 0,
	/* stat.size */ 64, 0, /* type */ 0xff, 0xff, /* dev */ 0xff, 0xff, 0xff, 0xff,
	/* qid */ 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* mode */ 0xff, 0xff, 0xff, 0xff,
	/* atime */ 0xff, 0xff, 0xff, 0xff, /* mtime */ 0x02, 0xf1, 0x53, 0x65,
	/* length */ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* name */ 3, 0, 'b', 'a', 'r',
	/* uid */ 0, 0, /* gid */ 0, 0, /* muid */ 0, 0,
	/* extension */ 0, 0,
	/* n_uid */ 0xff, 0xff, 0xff, 0xff, /* n_gid */ 0xff, 0xff, 0xff, 0xff,
	/* n_muid */ 0xff, 0xff, 0xff, 0xff,
};

/* ---- 9P2000.L (diod protocol.md, Linux include/net/9p/9p.h) ---- */

static const uint8_t vl_tversion[] = {
	/* size */ 21, 0, 0, 0, /* Tversion */ 100, /* tag */ 0xff, 0xff,
	/* msize 1048600 */ 0x18, 0x00, 0x10, 0x00,
	/* version */ 8, 0, '9', 'P', '2', '0', '0', '0', '.', 'L',
};

static const uint8_t vl_rversion[] = {
	/* size */ 21, 0, 0, 0, /* Rversion */ 101, /* tag */ 0xff, 0xff,
	/* msize 524288 */ 0x00, 0x00, 0x08, 0x00,
	/* version */ 8, 0, '9', 'P', '2', '0', '0', '0', '.', 'L',
};

/* Tattach as the Linux client sends it for access=user: uname "", n_uname */
static const uint8_t vl_tattach[] = {
	/* size */ 29, 0, 0, 0, /* Tattach */ 104, /* tag */ 0x01, 0x00,
	/* fid */ 1, 0, 0, 0, /* afid NOFID */ 0xff, 0xff, 0xff, 0xff,
	/* uname */ 0, 0,
	/* aname */ 6, 0, '/', 't', 'm', 'p', '/', '9',
	/* n_uname 500 */ 0xf4, 0x01, 0, 0,
};

/* size[4] Rlerror tag[2] ecode[4] */
static const uint8_t vl_rlerror[] = {
	/* size */ 11, 0, 0, 0, /* Rlerror */ 7, /* tag */ 0x11, 0x0e,
	/* ecode ENOENT */ 2, 0, 0, 0,
};

/* size[4] Tstatfs tag[2] fid[4] */
static const uint8_t vl_tstatfs[] = {
	/* size */ 11, 0, 0, 0, /* Tstatfs */ 8, /* tag */ 0x12, 0x0f,
	/* fid */ 0x30, 0, 0, 0,
};

/*
 * size[4] Rstatfs tag[2] type[4] bsize[4] blocks[8] bfree[8] bavail[8]
 *		files[8] ffree[8] fsid[8] namelen[4]
 */
static const uint8_t vl_rstatfs[] = {
	/* size */ 67, 0, 0, 0, /* Rstatfs */ 9, /* tag */ 0x12, 0x0f,
	/* type TMPFS_MAGIC */ 0x94, 0x19, 0x02, 0x01, /* bsize */ 0x00, 0x10, 0, 0,
	/* blocks */ 0, 0, 0x10, 0, 0, 0, 0, 0,
	/* bfree */ 0, 0, 0x08, 0, 0, 0, 0, 0,
	/* bavail */ 0xff, 0xff, 0x07, 0, 0, 0, 0, 0,
	/* files */ 0, 0, 0x04, 0, 0, 0, 0, 0,
	/* ffree */ 0xff, 0xff, 0x03, 0, 0, 0, 0, 0,
	/* fsid */ 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
	/* namelen */ 0xff, 0, 0, 0,
};

/* size[4] Tlopen tag[2] fid[4] flags[4] */
static const uint8_t vl_tlopen[] = {
	/* size */ 15, 0, 0, 0, /* Tlopen */ 12, /* tag */ 0x13, 0x10,
	/* fid */ 0x31, 0, 0, 0, /* flags O_RDWR|O_LARGEFILE */ 0x02, 0x80, 0, 0,
};

/* size[4] Rlopen tag[2] qid[13] iounit[4] */
static const uint8_t vl_rlopen[] = {
	/* size */ 24, 0, 0, 0, /* Rlopen */ 13, /* tag */ 0x13, 0x10,
	/* qid */ 0x00, 1, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0,
	/* iounit */ 0, 0, 0, 0,
};

/* size[4] Tlcreate tag[2] fid[4] name[s] flags[4] mode[4] gid[4] */
static const uint8_t vl_tlcreate[] = {
	/* size */ 28, 0, 0, 0, /* Tlcreate */ 14, /* tag */ 0x14, 0x11,
	/* fid */ 0x32, 0, 0, 0,
	/* name */ 3, 0, 'f', 'o', 'o',
	/* flags */ 0x41, 0x82, 0, 0, /* mode 0100644 */ 0xa4, 0x81, 0, 0,
	/* gid 500 */ 0xf4, 0x01, 0, 0,
};

/* size[4] Rlcreate tag[2] qid[13] iounit[4] */
static const uint8_t vl_rlcreate[] = {
	/* size */ 24, 0, 0, 0, /* Rlcreate */ 15, /* tag */ 0x14, 0x11,
	/* qid */ 0x00, 1, 0, 0, 0, 0xd1, 0x1b, 0x2c, 0, 0, 0, 0, 0,
	/* iounit 4096 */ 0x00, 0x10, 0, 0,
};

/* size[4] Tsymlink tag[2] fid[4] name[s] symtgt[s] gid[4] */
static const uint8_t vl_tsymlink[] = {
	/* size */ 34, 0, 0, 0, /* Tsymlink */ 16, /* tag */ 0x15, 0x12,
	/* fid */ 0x33, 0, 0, 0,
	/* name */ 2, 0, 'l', 'n',
	/* symtgt */ 13, 0, '/', 't', 'm', 'p', '/', '9', '/', 'n', 'e', 'w', 'd', 'i', 'r',
	/* gid 500 */ 0xf4, 0x01, 0, 0,
};

/* size[4] Rsymlink tag[2] qid[13] */
static const uint8_t vl_rsymlink[] = {
	/* size */ 20, 0, 0, 0, /* Rsymlink */ 17, /* tag */ 0x15, 0x12,
	/* qid QTSYMLINK */ 0x02, 1, 0, 0, 0, 0xe3, 0x1d, 0x2c, 0, 0, 0, 0, 0,
};

/* size[4] Tmknod tag[2] dfid[4] name[s] mode[4] major[4] minor[4] gid[4] */
static const uint8_t vl_tmknod[] = {
	/* size */ 33, 0, 0, 0, /* Tmknod */ 18, /* tag */ 0x16, 0x13,
	/* dfid */ 0x34, 0, 0, 0,
	/* name */ 4, 0, 'n', 'u', 'l', 'l',
	/* mode 020666 */ 0xb6, 0x21, 0, 0, /* major */ 1, 0, 0, 0,
	/* minor */ 3, 0, 0, 0, /* gid */ 0, 0, 0, 0,
};

/* size[4] Rmknod tag[2] qid[13] */
static const uint8_t vl_rmknod[] = {
	/* size */ 20, 0, 0, 0, /* Rmknod */ 19, /* tag */ 0x16, 0x13,
	/* qid */ 0x00, 1, 0, 0, 0, 0x50, 0, 0, 0, 0, 0, 0, 0,
};

/* size[4] Trename tag[2] fid[4] dfid[4] name[s] */
static const uint8_t vl_trename[] = {
	/* size */ 18, 0, 0, 0, /* Trename */ 20, /* tag */ 0x17, 0x14,
	/* fid */ 0x35, 0, 0, 0, /* dfid */ 0x36, 0, 0, 0,
	/* name */ 1, 0, 'b',
};

/* size[4] Rrename tag[2] */
static const uint8_t vl_rrename[] = {
	/* size */ 7, 0, 0, 0, /* Rrename */ 21, /* tag */ 0x17, 0x14,
};

/* size[4] Treadlink tag[2] fid[4] */
static const uint8_t vl_treadlink[] = {
	/* size */ 11, 0, 0, 0, /* Treadlink */ 22, /* tag */ 0x18, 0x15,
	/* fid */ 0x37, 0, 0, 0,
};

/* size[4] Rreadlink tag[2] target[s] */
static const uint8_t vl_rreadlink[] = {
	/* size */ 22, 0, 0, 0, /* Rreadlink */ 23, /* tag */ 0x18, 0x15,
	/* target */ 13, 0, '/', 't', 'm', 'p', '/', '9', '/', 'n', 'e', 'w', 'd', 'i', 'r',
};

/* size[4] Tgetattr tag[2] fid[4] request_mask[8] */
static const uint8_t vl_tgetattr[] = {
	/* size */ 19, 0, 0, 0, /* Tgetattr */ 24, /* tag */ 0x19, 0x16,
	/* fid */ 0x38, 0, 0, 0,
	/* request_mask ALL */ 0xff, 0x3f, 0, 0, 0, 0, 0, 0,
};

/*
 * size[4] Rgetattr tag[2] valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8]
 *		rdev[8] size[8] blksize[8] blocks[8] atime_sec[8] atime_nsec[8]
 *		mtime_sec[8] mtime_nsec[8] ctime_sec[8] ctime_nsec[8]
 *		btime_sec[8] btime_nsec[8] gen[8] data_version[8]
 */
static const uint8_t vl_rgetattr[] = {
	/* size */ 160, 0, 0, 0, /* Rgetattr */ 25, /* tag */ 0x19, 0x16,
	/* valid */ 0xff, 0x3f, 0, 0, 0, 0, 0, 0,
	/* qid */ 0x80, 1, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* mode 040755 */ 0xed, 0x41, 0, 0,
	/* uid 500 */ 0xf4, 0x01, 0, 0, /* gid 501 */ 0xf5, 0x01, 0, 0,
	/* nlink */ 56, 0, 0, 0, 0, 0, 0, 0,
	/* rdev */ 0x02, 0x03, 0x01, 0, 0, 0, 0, 0,
	/* size */ 0x00, 0x10, 0, 0, 0, 0, 0, 0,
	/* blksize */ 0x00, 0x10, 0, 0, 0, 0, 0, 0,
	/* blocks */ 8, 0, 0, 0, 0, 0, 0, 0,
	/* atime_sec */ 0x01, 0x00, 0x4c, 0x4d, 0, 0, 0, 0,
	/* atime_nsec */ 0x15, 0xcd, 0x5b, 0x07, 0, 0, 0, 0,
	/* mtime_sec */ 0x02, 0x00, 0x4c, 0x4d, 0, 0, 0, 0,
	/* mtime_nsec */ 0xff, 0xc9, 0x9a, 0x3b, 0, 0, 0, 0,
	/* ctime_sec */ 0x03, 0x00, 0x4c, 0x4d, 0, 0, 0, 0,
	/* ctime_nsec */ 1, 0, 0, 0, 0, 0, 0, 0,
	/* btime_sec */ 0x00, 0x00, 0x4c, 0x4d, 0, 0, 0, 0,
	/* btime_nsec */ 0, 0, 0, 0, 0, 0, 0, 0,
	/* gen */ 7, 0, 0, 0, 0, 0, 0, 0,
	/* data_version */ 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
};

/*
 * size[4] Tsetattr tag[2] fid[4] valid[4] mode[4] uid[4] gid[4] size[8]
 *		atime_sec[8] atime_nsec[8] mtime_sec[8] mtime_nsec[8]
 */
static const uint8_t vl_tsetattr[] = {
	/* size */ 67, 0, 0, 0, /* Tsetattr */ 26, /* tag */ 0x1a, 0x17,
	/* fid */ 0x39, 0, 0, 0, /* valid */ 0xff, 0x01, 0, 0,
	/* mode 0100600 */ 0x80, 0x81, 0, 0,
	/* uid 1000 */ 0xe8, 0x03, 0, 0, /* gid 1001 */ 0xe9, 0x03, 0, 0,
	/* size */ 0, 0, 1, 0, 0, 0, 0, 0,
	/* atime_sec */ 1, 0, 0, 0, 0, 0, 0, 0,
	/* atime_nsec */ 2, 0, 0, 0, 0, 0, 0, 0,
	/* mtime_sec */ 3, 0, 0, 0, 0, 0, 0, 0,
	/* mtime_nsec */ 4, 0, 0, 0, 0, 0, 0, 0,
};

/* size[4] Rsetattr tag[2] */
static const uint8_t vl_rsetattr[] = {
	/* size */ 7, 0, 0, 0, /* Rsetattr */ 27, /* tag */ 0x1a, 0x17,
};

/* size[4] Txattrwalk tag[2] fid[4] newfid[4] name[s] */
static const uint8_t vl_txattrwalk[] = {
	/* size */ 25, 0, 0, 0, /* Txattrwalk */ 30, /* tag */ 0x1b, 0x18,
	/* fid */ 0x3a, 0, 0, 0, /* newfid */ 0x3b, 0, 0, 0,
	/* name */ 8, 0, 'u', 's', 'e', 'r', '.', 'f', 'o', 'o',
};

/* size[4] Rxattrwalk tag[2] size[8] */
static const uint8_t vl_rxattrwalk[] = {
	/* size */ 15, 0, 0, 0, /* Rxattrwalk */ 31, /* tag */ 0x1b, 0x18,
	/* size */ 0x20, 0, 0, 0, 0, 0, 0, 0,
};

/* size[4] Txattrcreate tag[2] fid[4] name[s] attr_size[8] flags[4] */
static const uint8_t vl_txattrcreate[] = {
	/* size */ 33, 0, 0, 0, /* Txattrcreate */ 32, /* tag */ 0x1c, 0x19,
	/* fid */ 0x3b, 0, 0, 0,
	/* name */ 8, 0, 'u', 's', 'e', 'r', '.', 'f', 'o', 'o',
	/* attr_size */ 3, 0, 0, 0, 0, 0, 0, 0,
	/* flags XATTR_CREATE */ 1, 0, 0, 0,
};

/* size[4] Rxattrcreate tag[2] */
static const uint8_t vl_rxattrcreate[] = {
	/* size */ 7, 0, 0, 0, /* Rxattrcreate */ 33, /* tag */ 0x1c, 0x19,
};

/* size[4] Treaddir tag[2] fid[4] offset[8] count[4] */
static const uint8_t vl_treaddir[] = {
	/* size */ 23, 0, 0, 0, /* Treaddir */ 40, /* tag */ 0x1d, 0x1a,
	/* fid */ 0x3c, 0, 0, 0,
	/* offset */ 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0,
	/* count 65488 */ 0xd0, 0xff, 0, 0,
};

/*
 * size[4] Rreaddir tag[2] count[4] data[count]; data is a run of
 * qid[13] offset[8] type[1] name[s] entries: "." and "..".
 */
static const uint8_t vl_rreaddir[] = {
	/* size */ 62, 0, 0, 0, /* Rreaddir */ 41, /* tag */ 0x1d, 0x1a,
	/* count */ 51, 0, 0, 0,
	/* [0].qid */ 0x80, 1, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* [0].offset */ 1, 0, 0, 0, 0, 0, 0, 0, /* [0].type DT_DIR */ 4,
	/* [0].name */ 1, 0, '.',
	/* [1].qid */ 0x80, 1, 0, 0, 0, 0x00, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* [1].offset */ 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, /* [1].type */ 4,
	/* [1].name */ 2, 0, '.', '.',
};

/* size[4] Tfsync tag[2] fid[4] datasync[4] */
static const uint8_t vl_tfsync[] = {
	/* size */ 15, 0, 0, 0, /* Tfsync */ 50, /* tag */ 0x1e, 0x1b,
	/* fid */ 0x3d, 0, 0, 0, /* datasync */ 1, 0, 0, 0,
};

/* size[4] Rfsync tag[2] */
static const uint8_t vl_rfsync[] = {
	/* size */ 7, 0, 0, 0, /* Rfsync */ 51, /* tag */ 0x1e, 0x1b,
};

/*
 * size[4] Tlock tag[2] fid[4] type[1] flags[4] start[8] length[8]
 *		proc_id[4] client_id[s]
 */
static const uint8_t vl_tlock[] = {
	/* size */ 42, 0, 0, 0, /* Tlock */ 52, /* tag */ 0x1f, 0x1c,
	/* fid */ 0x3e, 0, 0, 0, /* type WRLCK */ 1, /* flags BLOCK */ 1, 0, 0, 0,
	/* start */ 0x00, 0x01, 0, 0, 0, 0, 0, 0,
	/* length */ 0x00, 0x02, 0, 0, 0, 0, 0, 0,
	/* proc_id 4242 */ 0x92, 0x10, 0, 0,
	/* client_id */ 4, 0, 'h', 'o', 's', 't',
};

/* size[4] Rlock tag[2] status[1] */
static const uint8_t vl_rlock[] = {
	/* size */ 8, 0, 0, 0, /* Rlock */ 53, /* tag */ 0x1f, 0x1c,
	/* status BLOCKED */ 1,
};

/* size[4] Tgetlock tag[2] fid[4] type[1] start[8] length[8] proc_id[4] client_id[s] */
static const uint8_t vl_tgetlock[] = {
	/* size */ 38, 0, 0, 0, /* Tgetlock */ 54, /* tag */ 0x20, 0x1d,
	/* fid */ 0x3e, 0, 0, 0, /* type RDLCK */ 0,
	/* start */ 0x10, 0, 0, 0, 0, 0, 0, 0,
	/* length */ 0x20, 0, 0, 0, 0, 0, 0, 0,
	/* proc_id */ 7, 0, 0, 0,
	/* client_id */ 4, 0, 'h', 'o', 's', 't',
};

/* size[4] Rgetlock tag[2] type[1] start[8] length[8] proc_id[4] client_id[s] */
static const uint8_t vl_rgetlock[] = {
	/* size */ 34, 0, 0, 0, /* Rgetlock */ 55, /* tag */ 0x20, 0x1d,
	/* type UNLCK */ 2,
	/* start */ 0x10, 0, 0, 0, 0, 0, 0, 0,
	/* length */ 0x20, 0, 0, 0, 0, 0, 0, 0,
	/* proc_id */ 7, 0, 0, 0,
	/* client_id */ 4, 0, 'h', 'o', 's', 't',
};

/* size[4] Tlink tag[2] dfid[4] fid[4] name[s] */
static const uint8_t vl_tlink[] = {
	/* size */ 21, 0, 0, 0, /* Tlink */ 70, /* tag */ 0x21, 0x1e,
	/* dfid */ 0x40, 0, 0, 0, /* fid */ 0x41, 0, 0, 0,
	/* name */ 4, 0, 'h', 'a', 'r', 'd',
};

/* size[4] Rlink tag[2] */
static const uint8_t vl_rlink[] = {
	/* size */ 7, 0, 0, 0, /* Rlink */ 71, /* tag */ 0x21, 0x1e,
};

/* size[4] Tmkdir tag[2] dfid[4] name[s] mode[4] gid[4] */
static const uint8_t vl_tmkdir[] = {
	/* size */ 27, 0, 0, 0, /* Tmkdir */ 72, /* tag */ 0x22, 0x1f,
	/* dfid */ 0x40, 0, 0, 0,
	/* name */ 6, 0, 'n', 'e', 'w', 'd', 'i', 'r',
	/* mode 040755 */ 0xed, 0x41, 0, 0, /* gid 500 */ 0xf4, 0x01, 0, 0,
};

/* size[4] Rmkdir tag[2] qid[13] */
static const uint8_t vl_rmkdir[] = {
	/* size */ 20, 0, 0, 0, /* Rmkdir */ 73, /* tag */ 0x22, 0x1f,
	/* qid */ 0x80, 1, 0, 0, 0, 0xd1, 0x1b, 0x2c, 0, 0, 0, 0, 0,
};

/* size[4] Trenameat tag[2] olddirfid[4] oldname[s] newdirfid[4] newname[s] */
static const uint8_t vl_trenameat[] = {
	/* size */ 22, 0, 0, 0, /* Trenameat */ 74, /* tag */ 0x23, 0x20,
	/* olddirfid */ 0x40, 0, 0, 0, /* oldname */ 1, 0, 'a',
	/* newdirfid */ 0x42, 0, 0, 0, /* newname */ 2, 0, 'b', 'b',
};

/* size[4] Rrenameat tag[2] */
static const uint8_t vl_rrenameat[] = {
	/* size */ 7, 0, 0, 0, /* Rrenameat */ 75, /* tag */ 0x23, 0x20,
};

/* size[4] Tunlinkat tag[2] dirfid[4] name[s] flags[4] */
static const uint8_t vl_tunlinkat[] = {
	/* size */ 23, 0, 0, 0, /* Tunlinkat */ 76, /* tag */ 0x24, 0x21,
	/* dirfid */ 0x40, 0, 0, 0,
	/* name */ 6, 0, 'n', 'e', 'w', 'd', 'i', 'r',
	/* flags AT_REMOVEDIR */ 0x00, 0x02, 0, 0,
};

/* size[4] Runlinkat tag[2] */
static const uint8_t vl_runlinkat[] = {
	/* size */ 7, 0, 0, 0, /* Runlinkat */ 77, /* tag */ 0x24, 0x21,
};

/* ---- the expected structs ---- */

#define STAT_FOO_9P \
	.type = 0x0102, .dev = 0x03040506, .qid = QID(0x00, 0x0a, 0x2c1fac), \
	.mode = 0644, .atime = 0x6553f100, .mtime = 0x6553f101, .length = 0x123456789ull, \
	.name = S("foo"), .uid = S("glenda"), .gid = S("sys"), .muid = S("bob")
#define STAT_FOO_U STAT_FOO_9P, .extension = S("target"), .n_uid = 1000, .n_gid = 100, \
	.n_muid = 1001
#define STAT_WSTAT_9P \
	.type = 0xffff, .dev = 0xffffffffu, .qid = QID(0xff, 0xffffffffu, ~0ull), \
	.mode = 0xffffffffu, .atime = 0xffffffffu, .mtime = 0x6553f102, .length = ~0ull, \
	.name = S("bar"), .uid = S(""), .gid = S(""), .muid = S("")
#define STAT_WSTAT_U STAT_WSTAT_9P, .extension = S(""), .n_uid = 0xffffffffu, \
	.n_gid = 0xffffffffu, .n_muid = 0xffffffffu

/* Messages that are the same in every dialect that has them. */
#define F_RAUTH .type = P9_Rauth, .tag = 0x0102, \
	.rauth = { .qid = QID(P9_QTAUTH, 0x01020304, 0x1122334455667788ull) }
#define F_RATTACH .type = P9_Rattach, .tag = 0x0203, \
	.rattach = { .qid = QID(P9_QTDIR, 7, 0x2c1fac) }
#define F_TAUTH_U .type = P9_Tauth, .tag = 0x0102, \
	.tauth = { .afid = 0x11223344, .uname = S("glenda"), .aname = S(""), .n_uname = 1000 }
#define F_TFLUSH .type = P9_Tflush, .tag = 0x0405, .tflush = { .oldtag = 0x0203 }
#define F_RFLUSH .type = P9_Rflush, .tag = 0x0405
#define F_TWALK .type = P9_Twalk, .tag = 0x0506, \
	.twalk = { .fid = 0x10, .newfid = 0x11, .nwname = 2, \
		   .wname = { S("usr"), S("glenda") } }
#define F_TWALK_CLONE .type = P9_Twalk, .tag = 0x0507, \
	.twalk = { .fid = 0x10, .newfid = 0x12, .nwname = 0 }
#define F_TWALK16 .type = P9_Twalk, .tag = 0x0508, \
	.twalk = { .fid = 0x10, .newfid = 0x13, .nwname = 16, \
		   .wname = { S("a"), S("b"), S("c"), S("d"), S("e"), S("f"), S("g"), \
			      S("h"), S("i"), S("j"), S("k"), S("l"), S("m"), S("n"), \
			      S("o"), S("p") } }
#define F_RWALK .type = P9_Rwalk, .tag = 0x0506, \
	.rwalk = { .nwqid = 2, .wqid = { QID(P9_QTDIR, 1, 0x10), \
					 QID(P9_QTFILE, 2, 0x100000000ull) } }
#define F_RWALK_CLONE .type = P9_Rwalk, .tag = 0x0507, .rwalk = { .nwqid = 0 }
#define F_RWALK16 .type = P9_Rwalk, .tag = 0x0508, \
	.rwalk = { .nwqid = 16, .wqid = { \
		QID(0x80, 1, 1), QID(0x80, 2, 2), QID(0x80, 3, 3), QID(0x80, 4, 4), \
		QID(0x80, 5, 5), QID(0x80, 6, 6), QID(0x80, 7, 7), QID(0x80, 8, 8), \
		QID(0x80, 9, 9), QID(0x80, 10, 10), QID(0x80, 11, 11), QID(0x80, 12, 12), \
		QID(0x80, 13, 13), QID(0x80, 14, 14), QID(0x80, 15, 15), \
		QID(0x00, 16, 16) } }
#define F_TOPEN .type = P9_Topen, .tag = 0x0609, \
	.topen = { .fid = 0x22, .mode = P9_ORDWR | P9_OTRUNC }
#define F_ROPEN .type = P9_Ropen, .tag = 0x0609, \
	.ropen = { .qid = QID(P9_QTFILE, 3, 0x2a), .iounit = 8168 }
#define F_RCREATE .type = P9_Rcreate, .tag = 0x070a, \
	.rcreate = { .qid = QID(P9_QTFILE, 1, 0x2b), .iounit = 0 }
#define F_TREAD .type = P9_Tread, .tag = 0x080b, \
	.tread = { .fid = 0x22, .offset = 0x100000010ull, .count = 8168 }
#define F_RREAD .type = P9_Rread, .tag = 0x080b, \
	.rread = { .count = 5, .data = v0_rread + 11 }
#define F_RREAD_EOF .type = P9_Rread, .tag = 0x080c, .rread = { .count = 0 }
#define F_TWRITE .type = P9_Twrite, .tag = 0x090c, \
	.twrite = { .fid = 0x22, .offset = 6, .count = 6, .data = v0_twrite + 23 }
#define F_RWRITE .type = P9_Rwrite, .tag = 0x090c, .rwrite = { .count = 6 }
#define F_TCLUNK .type = P9_Tclunk, .tag = 0x0a0d, .tclunk = { .fid = 0x22 }
#define F_RCLUNK .type = P9_Rclunk, .tag = 0x0a0d
#define F_TREMOVE .type = P9_Tremove, .tag = 0x0b0e, .tremove = { .fid = 0x23 }
#define F_RREMOVE .type = P9_Rremove, .tag = 0x0b0e
#define F_TSTAT .type = P9_Tstat, .tag = 0x0c0f, .tstat = { .fid = 0x24 }
#define F_RWSTAT .type = P9_Rwstat, .tag = 0x0d10

static const struct golden golden[] = {
	/* 9P2000 */
	GOLDEN("9P2000 Tversion", P9_2000, v0_tversion,
	       .type = P9_Tversion, .tag = P9_NOTAG,
	       .tversion = { .msize = 8192, .version = S("9P2000") }),
	GOLDEN("9P2000 Rversion", P9_2000, v0_rversion,
	       .type = P9_Rversion, .tag = P9_NOTAG,
	       .rversion = { .msize = 65560, .version = S("9P2000") }),
	GOLDEN("9P2000 Tauth", P9_2000, v0_tauth,
	       .type = P9_Tauth, .tag = 0x0102,
	       .tauth = { .afid = 0x11223344, .uname = S("glenda"), .aname = S("") }),
	GOLDEN("9P2000 Rauth", P9_2000, v0_rauth, F_RAUTH),
	GOLDEN("9P2000 Tattach", P9_2000, v0_tattach,
	       .type = P9_Tattach, .tag = 0x0203,
	       .tattach = { .fid = 1, .afid = P9_NOFID, .uname = S("glenda"),
			    .aname = S("") }),
	GOLDEN("9P2000 Rattach", P9_2000, v0_rattach, F_RATTACH),
	GOLDEN("9P2000 Rerror", P9_2000, v0_rerror,
	       .type = P9_Rerror, .tag = 0x0304,
	       .rerror = { .ename = S("file does not exist") }),
	GOLDEN("9P2000 Tflush", P9_2000, v0_tflush, F_TFLUSH),
	GOLDEN("9P2000 Rflush", P9_2000, v0_rflush, F_RFLUSH),
	GOLDEN("9P2000 Twalk", P9_2000, v0_twalk, F_TWALK),
	GOLDEN("9P2000 Twalk clone (nwname 0)", P9_2000, v0_twalk_clone, F_TWALK_CLONE),
	GOLDEN("9P2000 Twalk nwname 16", P9_2000, v0_twalk16, F_TWALK16),
	GOLDEN("9P2000 Rwalk", P9_2000, v0_rwalk, F_RWALK),
	GOLDEN("9P2000 Rwalk nwqid 0", P9_2000, v0_rwalk_clone, F_RWALK_CLONE),
	GOLDEN("9P2000 Rwalk nwqid 16", P9_2000, v0_rwalk16, F_RWALK16),
	GOLDEN("9P2000 Topen", P9_2000, v0_topen, F_TOPEN),
	GOLDEN("9P2000 Ropen", P9_2000, v0_ropen, F_ROPEN),
	GOLDEN("9P2000 Tcreate", P9_2000, v0_tcreate,
	       .type = P9_Tcreate, .tag = 0x070a,
	       .tcreate = { .fid = 0x22, .name = S("new.txt"), .perm = 0644,
			    .mode = P9_OWRITE }),
	GOLDEN("9P2000 Rcreate", P9_2000, v0_rcreate, F_RCREATE),
	GOLDEN("9P2000 Tread", P9_2000, v0_tread, F_TREAD),
	GOLDEN("9P2000 Rread", P9_2000, v0_rread, F_RREAD),
	GOLDEN("9P2000 Rread count 0", P9_2000, v0_rread_eof, F_RREAD_EOF),
	GOLDEN("9P2000 Twrite", P9_2000, v0_twrite, F_TWRITE),
	GOLDEN("9P2000 Rwrite", P9_2000, v0_rwrite, F_RWRITE),
	GOLDEN("9P2000 Tclunk", P9_2000, v0_tclunk, F_TCLUNK),
	GOLDEN("9P2000 Rclunk", P9_2000, v0_rclunk, F_RCLUNK),
	GOLDEN("9P2000 Tremove", P9_2000, v0_tremove, F_TREMOVE),
	GOLDEN("9P2000 Rremove", P9_2000, v0_rremove, F_RREMOVE),
	GOLDEN("9P2000 Tstat", P9_2000, v0_tstat, F_TSTAT),
	GOLDEN("9P2000 Rstat", P9_2000, v0_rstat,
	       .type = P9_Rstat, .tag = 0x0c0f, .rstat = { .stat = { STAT_FOO_9P } }),
	GOLDEN("9P2000 Twstat", P9_2000, v0_twstat,
	       .type = P9_Twstat, .tag = 0x0d10,
	       .twstat = { .fid = 0x25, .stat = { STAT_WSTAT_9P } }),
	GOLDEN("9P2000 Rwstat", P9_2000, v0_rwstat, F_RWSTAT),

	/* 9P2000.u */
	GOLDEN("9P2000.u Tversion", P9_2000U, vu_tversion,
	       .type = P9_Tversion, .tag = P9_NOTAG,
	       .tversion = { .msize = 8192, .version = S("9P2000.u") }),
	GOLDEN("9P2000.u Rversion", P9_2000U, vu_rversion,
	       .type = P9_Rversion, .tag = P9_NOTAG,
	       .rversion = { .msize = 8192, .version = S("9P2000.u") }),
	GOLDEN("9P2000.u Tauth", P9_2000U, vu_tauth, F_TAUTH_U),
	GOLDEN("9P2000.u Rauth", P9_2000U, v0_rauth, F_RAUTH),
	GOLDEN("9P2000.u Tattach", P9_2000U, vu_tattach,
	       .type = P9_Tattach, .tag = 0x0203,
	       .tattach = { .fid = 1, .afid = P9_NOFID, .uname = S("root"),
			    .aname = S("/tmp/9"), .n_uname = P9_NONUNAME }),
	GOLDEN("9P2000.u Rattach", P9_2000U, v0_rattach, F_RATTACH),
	GOLDEN("9P2000.u Rerror", P9_2000U, vu_rerror,
	       .type = P9_Rerror, .tag = 0x0304,
	       .rerror = { .ename = S("file does not exist"), .errnum = 2 }),
	GOLDEN("9P2000.u Tflush", P9_2000U, v0_tflush, F_TFLUSH),
	GOLDEN("9P2000.u Rflush", P9_2000U, v0_rflush, F_RFLUSH),
	GOLDEN("9P2000.u Twalk", P9_2000U, v0_twalk, F_TWALK),
	GOLDEN("9P2000.u Rwalk", P9_2000U, v0_rwalk, F_RWALK),
	GOLDEN("9P2000.u Topen", P9_2000U, v0_topen, F_TOPEN),
	GOLDEN("9P2000.u Ropen", P9_2000U, v0_ropen, F_ROPEN),
	GOLDEN("9P2000.u Tcreate", P9_2000U, vu_tcreate,
	       .type = P9_Tcreate, .tag = 0x070a,
	       .tcreate = { .fid = 0x22, .name = S("lnk"), .perm = P9_DMSYMLINK | 0777,
			    .mode = P9_OREAD, .extension = S("target") }),
	GOLDEN("9P2000.u Rcreate", P9_2000U, v0_rcreate, F_RCREATE),
	GOLDEN("9P2000.u Tread", P9_2000U, v0_tread, F_TREAD),
	GOLDEN("9P2000.u Rread", P9_2000U, v0_rread, F_RREAD),
	GOLDEN("9P2000.u Twrite", P9_2000U, v0_twrite, F_TWRITE),
	GOLDEN("9P2000.u Rwrite", P9_2000U, v0_rwrite, F_RWRITE),
	GOLDEN("9P2000.u Tclunk", P9_2000U, v0_tclunk, F_TCLUNK),
	GOLDEN("9P2000.u Rclunk", P9_2000U, v0_rclunk, F_RCLUNK),
	GOLDEN("9P2000.u Tremove", P9_2000U, v0_tremove, F_TREMOVE),
	GOLDEN("9P2000.u Rremove", P9_2000U, v0_rremove, F_RREMOVE),
	GOLDEN("9P2000.u Tstat", P9_2000U, v0_tstat, F_TSTAT),
	GOLDEN("9P2000.u Rstat", P9_2000U, vu_rstat,
	       .type = P9_Rstat, .tag = 0x0c0f, .rstat = { .stat = { STAT_FOO_U } }),
	GOLDEN("9P2000.u Twstat", P9_2000U, vu_twstat,
	       .type = P9_Twstat, .tag = 0x0d10,
	       .twstat = { .fid = 0x25, .stat = { STAT_WSTAT_U } }),
	GOLDEN("9P2000.u Rwstat", P9_2000U, v0_rwstat, F_RWSTAT),

	/* 9P2000.L */
	GOLDEN("9P2000.L Tversion", P9_2000L, vl_tversion,
	       .type = P9_Tversion, .tag = P9_NOTAG,
	       .tversion = { .msize = 1048600, .version = S("9P2000.L") }),
	GOLDEN("9P2000.L Rversion", P9_2000L, vl_rversion,
	       .type = P9_Rversion, .tag = P9_NOTAG,
	       .rversion = { .msize = 524288, .version = S("9P2000.L") }),
	GOLDEN("9P2000.L Tauth", P9_2000L, vu_tauth, F_TAUTH_U),
	GOLDEN("9P2000.L Rauth", P9_2000L, v0_rauth, F_RAUTH),
	GOLDEN("9P2000.L Tattach", P9_2000L, vl_tattach,
	       .type = P9_Tattach, .tag = 0x0001,
	       .tattach = { .fid = 1, .afid = P9_NOFID, .uname = S(""),
			    .aname = S("/tmp/9"), .n_uname = 500 }),
	GOLDEN("9P2000.L Rattach", P9_2000L, v0_rattach, F_RATTACH),
	GOLDEN("9P2000.L Rlerror", P9_2000L, vl_rlerror,
	       .type = P9_Rlerror, .tag = 0x0e11, .rlerror = { .ecode = 2 }),
	GOLDEN("9P2000.L Tflush", P9_2000L, v0_tflush, F_TFLUSH),
	GOLDEN("9P2000.L Rflush", P9_2000L, v0_rflush, F_RFLUSH),
	GOLDEN("9P2000.L Twalk", P9_2000L, v0_twalk, F_TWALK),
	GOLDEN("9P2000.L Twalk clone (nwname 0)", P9_2000L, v0_twalk_clone, F_TWALK_CLONE),
	GOLDEN("9P2000.L Twalk nwname 16", P9_2000L, v0_twalk16, F_TWALK16),
	GOLDEN("9P2000.L Rwalk", P9_2000L, v0_rwalk, F_RWALK),
	GOLDEN("9P2000.L Rwalk nwqid 16", P9_2000L, v0_rwalk16, F_RWALK16),
	GOLDEN("9P2000.L Tread", P9_2000L, v0_tread, F_TREAD),
	GOLDEN("9P2000.L Rread", P9_2000L, v0_rread, F_RREAD),
	GOLDEN("9P2000.L Twrite", P9_2000L, v0_twrite, F_TWRITE),
	GOLDEN("9P2000.L Rwrite", P9_2000L, v0_rwrite, F_RWRITE),
	GOLDEN("9P2000.L Tclunk", P9_2000L, v0_tclunk, F_TCLUNK),
	GOLDEN("9P2000.L Rclunk", P9_2000L, v0_rclunk, F_RCLUNK),
	GOLDEN("9P2000.L Tremove", P9_2000L, v0_tremove, F_TREMOVE),
	GOLDEN("9P2000.L Rremove", P9_2000L, v0_rremove, F_RREMOVE),
	GOLDEN("9P2000.L Tstatfs", P9_2000L, vl_tstatfs,
	       .type = P9_Tstatfs, .tag = 0x0f12, .tstatfs = { .fid = 0x30 }),
	GOLDEN("9P2000.L Rstatfs", P9_2000L, vl_rstatfs,
	       .type = P9_Rstatfs, .tag = 0x0f12,
	       .rstatfs = { .type = 0x01021994, .bsize = 4096, .blocks = 0x100000,
			    .bfree = 0x80000, .bavail = 0x7ffff, .files = 0x40000,
			    .ffree = 0x3ffff, .fsid = 0x0123456789abcdefull,
			    .namelen = 255 }),
	GOLDEN("9P2000.L Tlopen", P9_2000L, vl_tlopen,
	       .type = P9_Tlopen, .tag = 0x1013,
	       .tlopen = { .fid = 0x31, .flags = 0x8002 }),
	GOLDEN("9P2000.L Rlopen", P9_2000L, vl_rlopen,
	       .type = P9_Rlopen, .tag = 0x1013,
	       .rlopen = { .qid = QID(P9_QTFILE, 1, 0x40), .iounit = 0 }),
	GOLDEN("9P2000.L Tlcreate", P9_2000L, vl_tlcreate,
	       .type = P9_Tlcreate, .tag = 0x1114,
	       .tlcreate = { .fid = 0x32, .name = S("foo"), .flags = 0x8241,
			     .mode = 0100644, .gid = 500 }),
	GOLDEN("9P2000.L Rlcreate", P9_2000L, vl_rlcreate,
	       .type = P9_Rlcreate, .tag = 0x1114,
	       .rlcreate = { .qid = QID(P9_QTFILE, 1, 0x2c1bd1), .iounit = 4096 }),
	GOLDEN("9P2000.L Tsymlink", P9_2000L, vl_tsymlink,
	       .type = P9_Tsymlink, .tag = 0x1215,
	       .tsymlink = { .fid = 0x33, .name = S("ln"), .symtgt = S("/tmp/9/newdir"),
			     .gid = 500 }),
	GOLDEN("9P2000.L Rsymlink", P9_2000L, vl_rsymlink,
	       .type = P9_Rsymlink, .tag = 0x1215,
	       .rsymlink = { .qid = QID(P9_QTSYMLINK, 1, 0x2c1de3) }),
	GOLDEN("9P2000.L Tmknod", P9_2000L, vl_tmknod,
	       .type = P9_Tmknod, .tag = 0x1316,
	       .tmknod = { .dfid = 0x34, .name = S("null"), .mode = 020666, .major = 1,
			   .minor = 3, .gid = 0 }),
	GOLDEN("9P2000.L Rmknod", P9_2000L, vl_rmknod,
	       .type = P9_Rmknod, .tag = 0x1316,
	       .rmknod = { .qid = QID(P9_QTFILE, 1, 0x50) }),
	GOLDEN("9P2000.L Trename", P9_2000L, vl_trename,
	       .type = P9_Trename, .tag = 0x1417,
	       .trename = { .fid = 0x35, .dfid = 0x36, .name = S("b") }),
	GOLDEN("9P2000.L Rrename", P9_2000L, vl_rrename, .type = P9_Rrename, .tag = 0x1417),
	GOLDEN("9P2000.L Treadlink", P9_2000L, vl_treadlink,
	       .type = P9_Treadlink, .tag = 0x1518, .treadlink = { .fid = 0x37 }),
	GOLDEN("9P2000.L Rreadlink", P9_2000L, vl_rreadlink,
	       .type = P9_Rreadlink, .tag = 0x1518,
	       .rreadlink = { .target = S("/tmp/9/newdir") }),
	GOLDEN("9P2000.L Tgetattr", P9_2000L, vl_tgetattr,
	       .type = P9_Tgetattr, .tag = 0x1619,
	       .tgetattr = { .fid = 0x38, .request_mask = P9_GETATTR_ALL }),
	GOLDEN("9P2000.L Rgetattr", P9_2000L, vl_rgetattr,
	       .type = P9_Rgetattr, .tag = 0x1619,
	       .rgetattr = { .valid = P9_GETATTR_ALL, .qid = QID(P9_QTDIR, 1, 0x2c1fac),
			     .mode = 040755, .uid = 500, .gid = 501, .nlink = 56,
			     .rdev = 0x10302, .size = 4096, .blksize = 4096, .blocks = 8,
			     .atime_sec = 0x4d4c0001, .atime_nsec = 123456789,
			     .mtime_sec = 0x4d4c0002, .mtime_nsec = 999999999,
			     .ctime_sec = 0x4d4c0003, .ctime_nsec = 1,
			     .btime_sec = 0x4d4c0000, .btime_nsec = 0, .gen = 7,
			     .data_version = 0x0102030405060708ull }),
	GOLDEN("9P2000.L Tsetattr", P9_2000L, vl_tsetattr,
	       .type = P9_Tsetattr, .tag = 0x171a,
	       .tsetattr = { .fid = 0x39, .valid = 0x1ff, .mode = 0100600, .uid = 1000,
			     .gid = 1001, .size = 0x10000, .atime_sec = 1,
			     .atime_nsec = 2, .mtime_sec = 3, .mtime_nsec = 4 }),
	GOLDEN("9P2000.L Rsetattr", P9_2000L, vl_rsetattr,
	       .type = P9_Rsetattr, .tag = 0x171a),
	GOLDEN("9P2000.L Txattrwalk", P9_2000L, vl_txattrwalk,
	       .type = P9_Txattrwalk, .tag = 0x181b,
	       .txattrwalk = { .fid = 0x3a, .newfid = 0x3b, .name = S("user.foo") }),
	GOLDEN("9P2000.L Rxattrwalk", P9_2000L, vl_rxattrwalk,
	       .type = P9_Rxattrwalk, .tag = 0x181b, .rxattrwalk = { .size = 0x20 }),
	GOLDEN("9P2000.L Txattrcreate", P9_2000L, vl_txattrcreate,
	       .type = P9_Txattrcreate, .tag = 0x191c,
	       .txattrcreate = { .fid = 0x3b, .name = S("user.foo"), .attr_size = 3,
				 .flags = 1 }),
	GOLDEN("9P2000.L Rxattrcreate", P9_2000L, vl_rxattrcreate,
	       .type = P9_Rxattrcreate, .tag = 0x191c),
	GOLDEN("9P2000.L Treaddir", P9_2000L, vl_treaddir,
	       .type = P9_Treaddir, .tag = 0x1a1d,
	       .treaddir = { .fid = 0x3c, .offset = 0x7fffffff, .count = 65488 }),
	GOLDEN("9P2000.L Rreaddir", P9_2000L, vl_rreaddir,
	       .type = P9_Rreaddir, .tag = 0x1a1d,
	       .rreaddir = { .count = 51, .data = vl_rreaddir + 11 }),
	GOLDEN("9P2000.L Tfsync", P9_2000L, vl_tfsync,
	       .type = P9_Tfsync, .tag = 0x1b1e, .tfsync = { .fid = 0x3d, .datasync = 1 }),
	GOLDEN("9P2000.L Rfsync", P9_2000L, vl_rfsync, .type = P9_Rfsync, .tag = 0x1b1e),
	GOLDEN("9P2000.L Tlock", P9_2000L, vl_tlock,
	       .type = P9_Tlock, .tag = 0x1c1f,
	       .tlock = { .fid = 0x3e, .type = P9_LOCK_TYPE_WRLCK,
			  .flags = P9_LOCK_FLAGS_BLOCK, .start = 0x100, .length = 0x200,
			  .proc_id = 4242, .client_id = S("host") }),
	GOLDEN("9P2000.L Rlock", P9_2000L, vl_rlock,
	       .type = P9_Rlock, .tag = 0x1c1f, .rlock = { .status = P9_LOCK_BLOCKED }),
	GOLDEN("9P2000.L Tgetlock", P9_2000L, vl_tgetlock,
	       .type = P9_Tgetlock, .tag = 0x1d20,
	       .tgetlock = { .fid = 0x3e, .type = P9_LOCK_TYPE_RDLCK, .start = 0x10,
			     .length = 0x20, .proc_id = 7, .client_id = S("host") }),
	GOLDEN("9P2000.L Rgetlock", P9_2000L, vl_rgetlock,
	       .type = P9_Rgetlock, .tag = 0x1d20,
	       .rgetlock = { .type = P9_LOCK_TYPE_UNLCK, .start = 0x10, .length = 0x20,
			     .proc_id = 7, .client_id = S("host") }),
	GOLDEN("9P2000.L Tlink", P9_2000L, vl_tlink,
	       .type = P9_Tlink, .tag = 0x1e21,
	       .tlink = { .dfid = 0x40, .fid = 0x41, .name = S("hard") }),
	GOLDEN("9P2000.L Rlink", P9_2000L, vl_rlink, .type = P9_Rlink, .tag = 0x1e21),
	GOLDEN("9P2000.L Tmkdir", P9_2000L, vl_tmkdir,
	       .type = P9_Tmkdir, .tag = 0x1f22,
	       .tmkdir = { .dfid = 0x40, .name = S("newdir"), .mode = 040755,
			   .gid = 500 }),
	GOLDEN("9P2000.L Rmkdir", P9_2000L, vl_rmkdir,
	       .type = P9_Rmkdir, .tag = 0x1f22,
	       .rmkdir = { .qid = QID(P9_QTDIR, 1, 0x2c1bd1) }),
	GOLDEN("9P2000.L Trenameat", P9_2000L, vl_trenameat,
	       .type = P9_Trenameat, .tag = 0x2023,
	       .trenameat = { .olddirfid = 0x40, .oldname = S("a"), .newdirfid = 0x42,
			      .newname = S("bb") }),
	GOLDEN("9P2000.L Rrenameat", P9_2000L, vl_rrenameat,
	       .type = P9_Rrenameat, .tag = 0x2023),
	GOLDEN("9P2000.L Tunlinkat", P9_2000L, vl_tunlinkat,
	       .type = P9_Tunlinkat, .tag = 0x2124,
	       .tunlinkat = { .dirfid = 0x40, .name = S("newdir"), .flags = 0x200 }),
	GOLDEN("9P2000.L Runlinkat", P9_2000L, vl_runlinkat,
	       .type = P9_Runlinkat, .tag = 0x2124),
};

/* ---- what each dialect has, from the specifications ---- */

static bool spec_valid(unsigned type, enum p9_dialect d)
{
	if (d == P9_2000 || d == P9_2000U)
		return type >= 100 && type <= 127 && type != 106;
	/* 9P2000.L: its own messages plus the 9P2000 subset diod lists */
	switch (type) {
	case 7: case 8: case 9:
	case 12: case 13: case 14: case 15: case 16: case 17: case 18: case 19:
	case 20: case 21: case 22: case 23: case 24: case 25: case 26: case 27:
	case 30: case 31: case 32: case 33:
	case 40: case 41:
	case 50: case 51: case 52: case 53: case 54: case 55:
	case 70: case 71: case 72: case 73: case 74: case 75: case 76: case 77:
	case 100: case 101: case 102: case 103: case 104: case 105:
	case 108: case 109: case 110: case 111:
	case 116: case 117: case 118: case 119: case 120: case 121: case 122: case 123:
		return true;
	default:
		return false;
	}
}

static const struct {
	uint8_t type;
	const char *name;
} type_names[] = {
	{ 7, "Rlerror" }, { 8, "Tstatfs" }, { 9, "Rstatfs" }, { 12, "Tlopen" },
	{ 13, "Rlopen" }, { 14, "Tlcreate" }, { 15, "Rlcreate" }, { 16, "Tsymlink" },
	{ 17, "Rsymlink" }, { 18, "Tmknod" }, { 19, "Rmknod" }, { 20, "Trename" },
	{ 21, "Rrename" }, { 22, "Treadlink" }, { 23, "Rreadlink" }, { 24, "Tgetattr" },
	{ 25, "Rgetattr" }, { 26, "Tsetattr" }, { 27, "Rsetattr" },
	{ 30, "Txattrwalk" }, { 31, "Rxattrwalk" }, { 32, "Txattrcreate" },
	{ 33, "Rxattrcreate" }, { 40, "Treaddir" }, { 41, "Rreaddir" },
	{ 50, "Tfsync" }, { 51, "Rfsync" }, { 52, "Tlock" }, { 53, "Rlock" },
	{ 54, "Tgetlock" }, { 55, "Rgetlock" }, { 70, "Tlink" }, { 71, "Rlink" },
	{ 72, "Tmkdir" }, { 73, "Rmkdir" }, { 74, "Trenameat" }, { 75, "Rrenameat" },
	{ 76, "Tunlinkat" }, { 77, "Runlinkat" },
	{ 100, "Tversion" }, { 101, "Rversion" }, { 102, "Tauth" }, { 103, "Rauth" },
	{ 104, "Tattach" }, { 105, "Rattach" }, { 107, "Rerror" },
	{ 108, "Tflush" }, { 109, "Rflush" }, { 110, "Twalk" }, { 111, "Rwalk" },
	{ 112, "Topen" }, { 113, "Ropen" }, { 114, "Tcreate" }, { 115, "Rcreate" },
	{ 116, "Tread" }, { 117, "Rread" }, { 118, "Twrite" }, { 119, "Rwrite" },
	{ 120, "Tclunk" }, { 121, "Rclunk" }, { 122, "Tremove" }, { 123, "Rremove" },
	{ 124, "Tstat" }, { 125, "Rstat" }, { 126, "Twstat" }, { 127, "Rwstat" },
};

static const char *const dialect_names[] = { "9P2000", "9P2000.u", "9P2000.L" };

/* ---- comparison helpers; every failure names the vector and the field ---- */

struct ctx {
	const char *who;    /* the vector's name */
	const uint8_t *buf; /* the bytes decoded */
	size_t len;
};

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void eq_num(const struct ctx *c, const char *field, uint64_t want, uint64_t got)
{
	if (want != got)
		fail_msg("%s: %s: expected %" PRIu64 " (0x%" PRIx64 "), got %" PRIu64
			 " (0x%" PRIx64 ")", c->who, field, want, want, got, got);
}

/* Checks a view: same length, same bytes, and it points into the buffer. */
static void eq_bytes(const struct ctx *c, const char *field, const void *want,
		     const void *got, size_t n)
{
	const uint8_t *g = got;

	if (n == 0)
		return;
	if (!g)
		fail_msg("%s: %s: NULL view of %zu bytes", c->who, field, n);
	if (g < c->buf || g + n > c->buf + c->len)
		fail_msg("%s: %s: view does not point into the decoded buffer", c->who,
			 field);
	if (memcmp(want, got, n) != 0)
		fail_msg("%s: %s: bytes differ", c->who, field);
}

static void eq_str(const struct ctx *c, const char *field, struct p9_str want,
		   struct p9_str got)
{
	if (want.len != got.len)
		fail_msg("%s: %s: expected length %u ('%.*s'), got %u", c->who, field,
			 want.len, (int)want.len, want.s, got.len);
	eq_bytes(c, field, want.s, got.s, want.len);
}

static void eq_qid(const struct ctx *c, const char *field, struct p9_qid want,
		   struct p9_qid got)
{
	char f[64];

	snprintf(f, sizeof(f), "%s.type", field);
	eq_num(c, f, want.type, got.type);
	snprintf(f, sizeof(f), "%s.version", field);
	eq_num(c, f, want.version, got.version);
	snprintf(f, sizeof(f), "%s.path", field);
	eq_num(c, f, want.path, got.path);
}

static void eq_stat(const struct ctx *c, const struct p9_stat *e, const struct p9_stat *a,
		    enum p9_dialect d)
{
	eq_num(c, "stat.type", e->type, a->type);
	eq_num(c, "stat.dev", e->dev, a->dev);
	eq_qid(c, "stat.qid", e->qid, a->qid);
	eq_num(c, "stat.mode", e->mode, a->mode);
	eq_num(c, "stat.atime", e->atime, a->atime);
	eq_num(c, "stat.mtime", e->mtime, a->mtime);
	eq_num(c, "stat.length", e->length, a->length);
	eq_str(c, "stat.name", e->name, a->name);
	eq_str(c, "stat.uid", e->uid, a->uid);
	eq_str(c, "stat.gid", e->gid, a->gid);
	eq_str(c, "stat.muid", e->muid, a->muid);
	if (d != P9_2000U)
		return;
	eq_str(c, "stat.extension", e->extension, a->extension);
	eq_num(c, "stat.n_uid", e->n_uid, a->n_uid);
	eq_num(c, "stat.n_gid", e->n_gid, a->n_gid);
	eq_num(c, "stat.n_muid", e->n_muid, a->n_muid);
}

static void eq_dirent(const struct ctx *c, const struct p9_dirent *e,
		      const struct p9_dirent *a)
{
	eq_qid(c, "dirent.qid", e->qid, a->qid);
	eq_num(c, "dirent.offset", e->offset, a->offset);
	eq_num(c, "dirent.type", e->type, a->type);
	eq_str(c, "dirent.name", e->name, a->name);
}

#define N(field) eq_num(c, #field, e->field, a->field)
#define STR(field) eq_str(c, #field, e->field, a->field)
#define Q(field) eq_qid(c, #field, e->field, a->field)

/* Compares every body field the type has in dialect d. */
static void eq_body(const struct ctx *c, const struct p9_fcall *e, const struct p9_fcall *a,
		    enum p9_dialect d)
{
	char f[32];

	switch (e->type) {
	case P9_Tversion:
		N(tversion.msize);
		STR(tversion.version);
		break;
	case P9_Rversion:
		N(rversion.msize);
		STR(rversion.version);
		break;
	case P9_Tauth:
		N(tauth.afid);
		STR(tauth.uname);
		STR(tauth.aname);
		if (d != P9_2000)
			N(tauth.n_uname);
		break;
	case P9_Tattach:
		N(tattach.fid);
		N(tattach.afid);
		STR(tattach.uname);
		STR(tattach.aname);
		if (d != P9_2000)
			N(tattach.n_uname);
		break;
	case P9_Rauth:
	case P9_Rattach:
	case P9_Rsymlink:
	case P9_Rmknod:
	case P9_Rmkdir:
		Q(rauth.qid);
		break;
	case P9_Rerror:
		STR(rerror.ename);
		if (d == P9_2000U)
			N(rerror.errnum);
		break;
	case P9_Rlerror:
		N(rlerror.ecode);
		break;
	case P9_Tflush:
		N(tflush.oldtag);
		break;
	case P9_Twalk:
		N(twalk.fid);
		N(twalk.newfid);
		N(twalk.nwname);
		for (unsigned i = 0; i < e->twalk.nwname; i++) {
			snprintf(f, sizeof(f), "twalk.wname[%u]", i);
			eq_str(c, f, e->twalk.wname[i], a->twalk.wname[i]);
		}
		break;
	case P9_Rwalk:
		N(rwalk.nwqid);
		for (unsigned i = 0; i < e->rwalk.nwqid; i++) {
			snprintf(f, sizeof(f), "rwalk.wqid[%u]", i);
			eq_qid(c, f, e->rwalk.wqid[i], a->rwalk.wqid[i]);
		}
		break;
	case P9_Topen:
		N(topen.fid);
		N(topen.mode);
		break;
	case P9_Ropen:
	case P9_Rcreate:
	case P9_Rlopen:
	case P9_Rlcreate:
		Q(ropen.qid);
		N(ropen.iounit);
		break;
	case P9_Tcreate:
		N(tcreate.fid);
		STR(tcreate.name);
		N(tcreate.perm);
		N(tcreate.mode);
		if (d == P9_2000U)
			STR(tcreate.extension);
		break;
	case P9_Tread:
	case P9_Treaddir:
		N(tread.fid);
		N(tread.offset);
		N(tread.count);
		break;
	case P9_Rread:
	case P9_Rreaddir:
		N(rread.count);
		eq_bytes(c, "rread.data", e->rread.data, a->rread.data, e->rread.count);
		break;
	case P9_Twrite:
		N(twrite.fid);
		N(twrite.offset);
		N(twrite.count);
		eq_bytes(c, "twrite.data", e->twrite.data, a->twrite.data, e->twrite.count);
		break;
	case P9_Rwrite:
		N(rwrite.count);
		break;
	case P9_Tclunk:
	case P9_Tremove:
	case P9_Tstat:
	case P9_Tstatfs:
	case P9_Treadlink:
		N(tclunk.fid);
		break;
	case P9_Rstat:
		eq_stat(c, &e->rstat.stat, &a->rstat.stat, d);
		break;
	case P9_Twstat:
		N(twstat.fid);
		eq_stat(c, &e->twstat.stat, &a->twstat.stat, d);
		break;
	case P9_Rstatfs:
		N(rstatfs.type);
		N(rstatfs.bsize);
		N(rstatfs.blocks);
		N(rstatfs.bfree);
		N(rstatfs.bavail);
		N(rstatfs.files);
		N(rstatfs.ffree);
		N(rstatfs.fsid);
		N(rstatfs.namelen);
		break;
	case P9_Tlopen:
		N(tlopen.fid);
		N(tlopen.flags);
		break;
	case P9_Tlcreate:
		N(tlcreate.fid);
		STR(tlcreate.name);
		N(tlcreate.flags);
		N(tlcreate.mode);
		N(tlcreate.gid);
		break;
	case P9_Tsymlink:
		N(tsymlink.fid);
		STR(tsymlink.name);
		STR(tsymlink.symtgt);
		N(tsymlink.gid);
		break;
	case P9_Tmknod:
		N(tmknod.dfid);
		STR(tmknod.name);
		N(tmknod.mode);
		N(tmknod.major);
		N(tmknod.minor);
		N(tmknod.gid);
		break;
	case P9_Trename:
		N(trename.fid);
		N(trename.dfid);
		STR(trename.name);
		break;
	case P9_Rreadlink:
		STR(rreadlink.target);
		break;
	case P9_Tgetattr:
		N(tgetattr.fid);
		N(tgetattr.request_mask);
		break;
	case P9_Rgetattr:
		N(rgetattr.valid);
		Q(rgetattr.qid);
		N(rgetattr.mode);
		N(rgetattr.uid);
		N(rgetattr.gid);
		N(rgetattr.nlink);
		N(rgetattr.rdev);
		N(rgetattr.size);
		N(rgetattr.blksize);
		N(rgetattr.blocks);
		N(rgetattr.atime_sec);
		N(rgetattr.atime_nsec);
		N(rgetattr.mtime_sec);
		N(rgetattr.mtime_nsec);
		N(rgetattr.ctime_sec);
		N(rgetattr.ctime_nsec);
		N(rgetattr.btime_sec);
		N(rgetattr.btime_nsec);
		N(rgetattr.gen);
		N(rgetattr.data_version);
		break;
	case P9_Tsetattr:
		N(tsetattr.fid);
		N(tsetattr.valid);
		N(tsetattr.mode);
		N(tsetattr.uid);
		N(tsetattr.gid);
		N(tsetattr.size);
		N(tsetattr.atime_sec);
		N(tsetattr.atime_nsec);
		N(tsetattr.mtime_sec);
		N(tsetattr.mtime_nsec);
		break;
	case P9_Txattrwalk:
		N(txattrwalk.fid);
		N(txattrwalk.newfid);
		STR(txattrwalk.name);
		break;
	case P9_Rxattrwalk:
		N(rxattrwalk.size);
		break;
	case P9_Txattrcreate:
		N(txattrcreate.fid);
		STR(txattrcreate.name);
		N(txattrcreate.attr_size);
		N(txattrcreate.flags);
		break;
	case P9_Tfsync:
		N(tfsync.fid);
		N(tfsync.datasync);
		break;
	case P9_Tlock:
		N(tlock.fid);
		N(tlock.type);
		N(tlock.flags);
		N(tlock.start);
		N(tlock.length);
		N(tlock.proc_id);
		STR(tlock.client_id);
		break;
	case P9_Rlock:
		N(rlock.status);
		break;
	case P9_Tgetlock:
		N(tgetlock.fid);
		__attribute__((fallthrough));
	case P9_Rgetlock:
		N(tgetlock.type);
		N(tgetlock.start);
		N(tgetlock.length);
		N(tgetlock.proc_id);
		STR(tgetlock.client_id);
		break;
	case P9_Tlink:
		N(tlink.dfid);
		N(tlink.fid);
		STR(tlink.name);
		break;
	case P9_Tmkdir:
		N(tmkdir.dfid);
		STR(tmkdir.name);
		N(tmkdir.mode);
		N(tmkdir.gid);
		break;
	case P9_Trenameat:
		N(trenameat.olddirfid);
		STR(trenameat.oldname);
		N(trenameat.newdirfid);
		STR(trenameat.newname);
		break;
	case P9_Tunlinkat:
		N(tunlinkat.dirfid);
		STR(tunlinkat.name);
		N(tunlinkat.flags);
		break;
	case P9_Rflush:
	case P9_Rclunk:
	case P9_Rremove:
	case P9_Rwstat:
	case P9_Rrename:
	case P9_Rsetattr:
	case P9_Rxattrcreate:
	case P9_Rfsync:
	case P9_Rlink:
	case P9_Rrenameat:
	case P9_Runlinkat:
		break; /* empty body */
	default:
		fail_msg("%s: the test has no comparison for type %u", c->who, e->type);
	}
}

#undef N
#undef STR
#undef Q

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	print_message("%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		print_message("%s%02x", i % 16 ? " " : "\n  ", p[i]);
	print_message("\n");
}

/* Fails, with both dumps, unless got[0..n) equals want[0..n). */
static void eq_wire(const char *who, const char *what, const uint8_t *want,
		    const uint8_t *got, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (want[i] == got[i])
			continue;
		hexdump("expected", want, n);
		hexdump("got", got, n);
		fail_msg("%s: %s: byte %zu is 0x%02x, expected 0x%02x", who, what, i,
			 got[i], want[i]);
	}
}

enum { OUTSZ = 1024, CANARY = 0xe5 };

/* Packs *f with capacity cap and checks the result is exactly want. */
static void check_pack(const char *who, const char *what, const struct p9_fcall *f,
		       enum p9_dialect d, const uint8_t *want, size_t len, size_t cap)
{
	uint8_t out[OUTSZ];
	ssize_t n;

	assert_true(cap <= sizeof(out));
	memset(out, CANARY, sizeof(out));
	n = p9_pack(out, cap, f, d);
	if (n != (ssize_t)len)
		fail_msg("%s: %s: p9_pack returned %zd, expected %zu", who, what, n, len);
	eq_wire(who, what, want, out, len);
	for (size_t i = len; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("%s: %s: p9_pack wrote byte %zu past the message", who,
				 what, i);
}

/* ---- the per-vector test ---- */

static void test_golden(void **state)
{
	const struct golden *g = *state;
	struct ctx c = { .who = g->name, .buf = g->buf, .len = g->len };
	struct p9_fcall got;
	int rc;

	/* the vector itself must be sound before it can judge the codec */
	if (g->len < P9_HDRSZ || get_le32(g->buf) != g->len || g->buf[4] != g->f.type)
		fail_msg("%s: broken vector (size field or type)", g->name);
	if (!spec_valid(g->f.type, g->d))
		fail_msg("%s: broken vector (type not in dialect)", g->name);

	if (!p9_type_valid(g->f.type, g->d))
		fail_msg("%s: p9_type_valid says no", g->name);
	if (p9_frame_size(g->buf, 0) != (ssize_t)g->len)
		fail_msg("%s: p9_frame_size(msize 0) = %zd", g->name,
			 p9_frame_size(g->buf, 0));
	if (p9_frame_size(g->buf, (uint32_t)g->len) != (ssize_t)g->len)
		fail_msg("%s: p9_frame_size(msize = size) = %zd", g->name,
			 p9_frame_size(g->buf, (uint32_t)g->len));

	/* bytes -> struct */
	memset(&got, 0xa5, sizeof(got));
	rc = p9_unpack(&got, g->buf, g->len, g->d);
	if (rc != 0)
		fail_msg("%s: p9_unpack returned %d (%s)", g->name, rc, strerror(-rc));
	eq_num(&c, "type", g->f.type, got.type);
	eq_num(&c, "tag", g->f.tag, got.tag);
	eq_body(&c, &g->f, &got, g->d);

	/* struct -> bytes */
	if (p9_size(&g->f, g->d) != g->len)
		fail_msg("%s: p9_size = %zu, expected %zu", g->name, p9_size(&g->f, g->d),
			 g->len);
	check_pack(g->name, "p9_pack (cap = size)", &g->f, g->d, g->buf, g->len, g->len);
	check_pack(g->name, "p9_pack (cap = size + 64)", &g->f, g->d, g->buf, g->len,
		   g->len + 64);

	/* and the decoded struct, whose views point into the buffer, packs back */
	if (p9_size(&got, g->d) != g->len)
		fail_msg("%s: p9_size of the decoded message = %zu", g->name,
			 p9_size(&got, g->d));
	check_pack(g->name, "p9_pack of the decoded message", &got, g->d, g->buf, g->len,
		   g->len);
}

static const struct golden *find_golden(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(golden); i++)
		if (strcmp(golden[i].name, name) == 0)
			return &golden[i];
	fail_msg("no golden vector '%s'", name);
	return NULL;
}

/* ---- types outside a dialect ---- */

/* The bytes of a message valid in one dialect, given to a dialect without it. */
static void check_refused(const struct golden *g, enum p9_dialect d)
{
	struct p9_fcall got;
	uint8_t out[OUTSZ];
	ssize_t n;
	int rc;

	memset(&got, 0xa5, sizeof(got));
	rc = p9_unpack(&got, g->buf, g->len, d);
	if (rc != -EOPNOTSUPP)
		fail_msg("%s given as %s: p9_unpack returned %d, expected -EOPNOTSUPP",
			 g->name, dialect_names[d], rc);
	if (got.type != g->f.type || got.tag != g->f.tag)
		fail_msg("%s given as %s: type/tag not filled in on refusal (%u/%u)",
			 g->name, dialect_names[d], got.type, got.tag);
	if (p9_type_valid(g->f.type, d))
		fail_msg("%s: p9_type_valid says yes in %s", g->name, dialect_names[d]);
	if (p9_size(&g->f, d) != 0)
		fail_msg("%s: p9_size in %s is %zu, expected 0", g->name, dialect_names[d],
			 p9_size(&g->f, d));
	memset(out, CANARY, sizeof(out));
	n = p9_pack(out, sizeof(out), &g->f, d);
	if (n != -EINVAL)
		fail_msg("%s: p9_pack in %s returned %zd, expected -EINVAL", g->name,
			 dialect_names[d], n);
	for (size_t i = 0; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("%s: refused p9_pack in %s wrote byte %zu", g->name,
				 dialect_names[d], i);
}

static void test_refuse_tlopen_in_9p2000(void **state)
{
	(void)state;
	check_refused(find_golden("9P2000.L Tlopen"), P9_2000);
	check_refused(find_golden("9P2000.L Tlopen"), P9_2000U);
}

static void test_refuse_topen_in_9p2000L(void **state)
{
	(void)state;
	check_refused(find_golden("9P2000 Topen"), P9_2000L);
}

static void test_refuse_rerror_in_9p2000L(void **state)
{
	(void)state;
	check_refused(find_golden("9P2000 Rerror"), P9_2000L);
	check_refused(find_golden("9P2000.u Rerror"), P9_2000L);
}

static void test_refuse_rlerror_in_9p2000(void **state)
{
	(void)state;
	check_refused(find_golden("9P2000.L Rlerror"), P9_2000);
	check_refused(find_golden("9P2000.L Rlerror"), P9_2000U);
}

/* Every vector against every dialect that lacks its type. */
static void test_refuse_all_foreign_types(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(golden); i++)
		for (int d = P9_2000; d <= P9_2000L; d++)
			if (!spec_valid(golden[i].f.type, (enum p9_dialect)d))
				check_refused(&golden[i], (enum p9_dialect)d);
}

/* p9_type_valid over all 256 types against the specifications. */
static void test_type_valid_table(void **state)
{
	(void)state;
	for (int d = P9_2000; d <= P9_2000L; d++)
		for (unsigned t = 0; t < 256; t++)
			if (p9_type_valid((uint8_t)t, (enum p9_dialect)d) !=
			    spec_valid(t, (enum p9_dialect)d))
				fail_msg("p9_type_valid(%u, %s) = %d, expected %d", t,
					 dialect_names[d],
					 p9_type_valid((uint8_t)t, (enum p9_dialect)d),
					 spec_valid(t, (enum p9_dialect)d));
}

/* Every vector's type is tested in every dialect that has it. */
static void test_coverage(void **state)
{
	(void)state;
	for (int d = P9_2000; d <= P9_2000L; d++) {
		for (unsigned t = 0; t < 256; t++) {
			bool seen = false;

			if (!spec_valid(t, (enum p9_dialect)d))
				continue;
			for (size_t i = 0; i < ARRAY_SIZE(golden); i++)
				if ((int)golden[i].d == d && golden[i].f.type == t)
					seen = true;
			if (!seen)
				fail_msg("no golden vector for type %u in %s", t,
					 dialect_names[d]);
		}
	}
}

static void test_type_names(void **state)
{
	(void)state;
	for (unsigned t = 0; t < 256; t++) {
		const char *want = NULL;
		const char *got = p9_type_name((uint8_t)t);

		for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
			if (type_names[i].type == t)
				want = type_names[i].name;
		if (t == P9_Tlerror || t == P9_Terror) {
			/* illegal types: no name, or their own */
			if (got && strcmp(got, t == P9_Tlerror ? "Tlerror" : "Terror") != 0)
				fail_msg("p9_type_name(%u) = '%s'", t, got);
			continue;
		}
		if (!want && got)
			fail_msg("p9_type_name(%u) = '%s', expected NULL", t, got);
		if (want && (!got || strcmp(want, got) != 0))
			fail_msg("p9_type_name(%u) = '%s', expected '%s'", t,
				 got ? got : "(null)", want);
	}
}

static void test_dialect_names(void **state)
{
	(void)state;
	assert_string_equal(p9_dialect_name(P9_2000), "9P2000");
	assert_string_equal(p9_dialect_name(P9_2000U), "9P2000.u");
	assert_string_equal(p9_dialect_name(P9_2000L), "9P2000.L");
}

/* ---- fields the wire lacks in a dialect are ignored when packing ---- */

static void test_9p2000_ignores_u_fields(void **state)
{
	const struct golden *g;
	struct p9_fcall f;

	(void)state;
	g = find_golden("9P2000 Tauth");
	f = g->f;
	f.tauth.n_uname = 1000;
	check_pack(g->name, "n_uname set", &f, P9_2000, g->buf, g->len, g->len);

	g = find_golden("9P2000 Tattach");
	f = g->f;
	f.tattach.n_uname = 500;
	check_pack(g->name, "n_uname set", &f, P9_2000, g->buf, g->len, g->len);

	g = find_golden("9P2000 Rerror");
	f = g->f;
	f.rerror.errnum = ENOENT;
	check_pack(g->name, "errnum set", &f, P9_2000, g->buf, g->len, g->len);

	g = find_golden("9P2000 Tcreate");
	f = g->f;
	f.tcreate.extension = p9_cstr("target");
	check_pack(g->name, "extension set", &f, P9_2000, g->buf, g->len, g->len);

	g = find_golden("9P2000 Rstat");
	f = g->f;
	f.rstat.stat.extension = p9_cstr("target");
	f.rstat.stat.n_uid = 1;
	f.rstat.stat.n_gid = 2;
	f.rstat.stat.n_muid = 3;
	check_pack(g->name, ".u stat fields set", &f, P9_2000, g->buf, g->len, g->len);
}

/* Rgetlock has no fid on the wire: a fid in the struct changes nothing. */
static void test_rgetlock_has_no_fid(void **state)
{
	const struct golden *g = find_golden("9P2000.L Rgetlock");
	struct p9_fcall f = g->f;

	(void)state;
	f.rgetlock.fid = 0xdeadbeef;
	check_pack(g->name, "fid set", &f, P9_2000L, g->buf, g->len, g->len);
}

/* ---- stat records (stat(5)) ---- */

/* The records are the ones inside the Rstat vectors, after nstat[2]. */
static const struct p9_stat stat_foo_9p = { STAT_FOO_9P };
static const struct p9_stat stat_foo_u = { STAT_FOO_U };

static void check_stat_golden(const char *who, const struct p9_stat *st, enum p9_dialect d,
			      const uint8_t *rec, size_t reclen)
{
	uint8_t run[2 * OUTSZ];
	uint8_t out[OUTSZ];
	struct ctx c = { .who = who, .buf = run, .len = 2 * reclen };
	struct p9_stat got;
	size_t off = 0;
	ssize_t n;
	int rc;

	if ((size_t)(rec[0] | rec[1] << 8) + 2 != reclen)
		fail_msg("%s: broken vector", who);
	if (p9_stat_size(st, d) != reclen)
		fail_msg("%s: p9_stat_size = %zu, expected %zu", who, p9_stat_size(st, d),
			 reclen);

	memset(out, CANARY, sizeof(out));
	n = p9_stat_pack(out, reclen, st, d);
	if (n != (ssize_t)reclen)
		fail_msg("%s: p9_stat_pack returned %zd, expected %zu", who, n, reclen);
	eq_wire(who, "p9_stat_pack", rec, out, reclen);
	for (size_t i = reclen; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("%s: p9_stat_pack wrote past the record", who);

	/* a directory read of 9P2000 is a run of records: two, then the end */
	assert_true(2 * reclen <= sizeof(run));
	memcpy(run, rec, reclen);
	memcpy(run + reclen, rec, reclen);
	for (int i = 0; i < 2; i++) {
		memset(&got, 0xa5, sizeof(got));
		rc = p9_stat_next(&got, run, 2 * reclen, &off, d);
		if (rc != 1)
			fail_msg("%s: p9_stat_next #%d returned %d, expected 1", who, i, rc);
		if (off != (size_t)(i + 1) * reclen)
			fail_msg("%s: p9_stat_next #%d left off at %zu, expected %zu", who,
				 i, off, (size_t)(i + 1) * reclen);
		eq_stat(&c, st, &got, d);
	}
	rc = p9_stat_next(&got, run, 2 * reclen, &off, d);
	if (rc != 0)
		fail_msg("%s: p9_stat_next at the end returned %d, expected 0", who, rc);
	if (off != 2 * reclen)
		fail_msg("%s: p9_stat_next at the end moved off to %zu", who, off);
}

static void test_stat_9p2000(void **state)
{
	(void)state;
	check_stat_golden("9P2000 stat", &stat_foo_9p, P9_2000, v0_rstat + 9,
			  sizeof(v0_rstat) - 9);
}

static void test_stat_9p2000u(void **state)
{
	(void)state;
	check_stat_golden("9P2000.u stat", &stat_foo_u, P9_2000U, vu_rstat + 9,
			  sizeof(vu_rstat) - 9);
}

static void test_stat_twstat_records(void **state)
{
	static const struct p9_stat w9 = { STAT_WSTAT_9P };
	static const struct p9_stat wu = { STAT_WSTAT_U };

	(void)state;
	check_stat_golden("9P2000 wstat record", &w9, P9_2000, v0_twstat + 13,
			  sizeof(v0_twstat) - 13);
	check_stat_golden("9P2000.u wstat record", &wu, P9_2000U, vu_twstat + 13,
			  sizeof(vu_twstat) - 13);
}

/* ---- Rreaddir entries: qid[13] offset[8] type[1] name[s] ---- */

static const struct p9_dirent dirents[] = {
	{ .qid = QID(P9_QTDIR, 1, 0x2c1fac), .offset = 1, .type = 4, .name = S(".") },
	{ .qid = QID(P9_QTDIR, 1, 0x2c1f00), .offset = 0x7fffffff, .type = 4,
	  .name = S("..") },
};

static void test_dirent(void **state)
{
	const uint8_t *data = vl_rreaddir + 11;
	const size_t len = sizeof(vl_rreaddir) - 11;
	struct ctx c = { .who = "9P2000.L dirent", .buf = data, .len = len };
	uint8_t out[OUTSZ];
	struct p9_dirent got;
	size_t off = 0, at = 0;
	ssize_t n;
	int rc;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(dirents); i++) {
		size_t sz = p9_dirent_size(&dirents[i]);

		if (sz != 24u + dirents[i].name.len)
			fail_msg("dirent %zu: p9_dirent_size = %zu, expected %u", i, sz,
				 24 + dirents[i].name.len);
		memset(out, CANARY, sizeof(out));
		n = p9_dirent_pack(out, sz, &dirents[i]);
		if (n != (ssize_t)sz)
			fail_msg("dirent %zu: p9_dirent_pack returned %zd", i, n);
		eq_wire(c.who, "p9_dirent_pack", data + at, out, sz);
		if (out[sz] != CANARY)
			fail_msg("dirent %zu: p9_dirent_pack wrote past the entry", i);

		memset(&got, 0xa5, sizeof(got));
		rc = p9_dirent_next(&got, data, len, &off);
		if (rc != 1)
			fail_msg("dirent %zu: p9_dirent_next returned %d, expected 1", i, rc);
		at += sz;
		if (off != at)
			fail_msg("dirent %zu: p9_dirent_next left off at %zu, expected %zu",
				 i, off, at);
		eq_dirent(&c, &dirents[i], &got);
	}
	if (at != len)
		fail_msg("dirent vector holds %zu bytes, entries %zu", len, at);
	rc = p9_dirent_next(&got, data, len, &off);
	if (rc != 0)
		fail_msg("p9_dirent_next at the end returned %d, expected 0", rc);
	assert_int_equal(off, len);
}

static void test_cstr(void **state)
{
	struct p9_str s;

	(void)state;
	s = p9_cstr("9P2000.L");
	assert_int_equal(s.len, 8);
	assert_memory_equal(s.s, "9P2000.L", 8);
	s = p9_cstr("");
	assert_int_equal(s.len, 0);
}

static const struct CMUnitTest fixed_tests[] = {
	cmocka_unit_test(test_refuse_tlopen_in_9p2000),
	cmocka_unit_test(test_refuse_topen_in_9p2000L),
	cmocka_unit_test(test_refuse_rerror_in_9p2000L),
	cmocka_unit_test(test_refuse_rlerror_in_9p2000),
	cmocka_unit_test(test_refuse_all_foreign_types),
	cmocka_unit_test(test_type_valid_table),
	cmocka_unit_test(test_coverage),
	cmocka_unit_test(test_type_names),
	cmocka_unit_test(test_dialect_names),
	cmocka_unit_test(test_9p2000_ignores_u_fields),
	cmocka_unit_test(test_rgetlock_has_no_fid),
	cmocka_unit_test(test_stat_9p2000),
	cmocka_unit_test(test_stat_9p2000u),
	cmocka_unit_test(test_stat_twstat_records),
	cmocka_unit_test(test_dirent),
	cmocka_unit_test(test_cstr),
};

/* One named test per golden vector, then the fixed ones. */
static struct CMUnitTest p9_golden[ARRAY_SIZE(golden) + ARRAY_SIZE(fixed_tests)];

/*
 * With BOXFS_CORPUS_DIR set, writes every vector as a seed for the fuzzers
 * (`make fuzz` does this): DIR/fuzz_9p_unpack/ gets each message behind its
 * dialect byte, DIR/fuzz_9p_stat/ and DIR/fuzz_9p_dirent/ the records held in
 * Rstat/Twstat and Rreaddir vectors.
 */
static void write_seed(const char *dir, const char *fuzzer, const char *name, uint8_t prefix,
		       bool use_prefix, const uint8_t *buf, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, fuzzer);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/%s/", dir, fuzzer);
	size_t at = strlen(path);
	for (const char *p = name; *p && at < sizeof path - 1; p++)
		path[at++] = isalnum((unsigned char)*p) ? *p : '_';
	path[at] = '\0';
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	if (use_prefix)
		fputc(prefix, f);
	fwrite(buf, 1, len, f);
	fclose(f);
}

static void write_corpus(const char *dir)
{
	/* One seed per dialect holding every T-message of that dialect, for the
	 * door fuzzer, which reads a stream of requests. */
	for (int d = P9_2000; d <= P9_2000L; d++) {
		uint8_t all[65536];
		size_t len = 0;
		for (size_t i = 0; i < ARRAY_SIZE(golden); i++)
			if (golden[i].d == (enum p9_dialect)d && p9_is_tmsg(golden[i].f.type) &&
			    len + golden[i].len <= sizeof all) {
				memcpy(all + len, golden[i].buf, golden[i].len);
				len += golden[i].len;
			}
		write_seed(dir, "fuzz_9p_door", p9_dialect_name((enum p9_dialect)d), (uint8_t)d,
			   true, all, len);
	}
	for (size_t i = 0; i < ARRAY_SIZE(golden); i++) {
		const struct golden *g = &golden[i];
		write_seed(dir, "fuzz_9p_unpack", g->name, (uint8_t)g->d, true, g->buf, g->len);
		if (p9_is_tmsg(g->f.type))
			write_seed(dir, "fuzz_9p_door", g->name, (uint8_t)g->d, true, g->buf,
				   g->len);
		/* Rstat: size[4] type[1] tag[2] nstat[2] stat; Twstat has fid[4] more. */
		size_t stat_at = g->f.type == P9_Rstat ? 9 : g->f.type == P9_Twstat ? 13 : 0;
		if (stat_at && g->len > stat_at)
			write_seed(dir, "fuzz_9p_stat", g->name, g->d == P9_2000U, true,
				   g->buf + stat_at, g->len - stat_at);
		if (g->f.type == P9_Rreaddir && g->len > P9_RREAD_HDRSZ)
			write_seed(dir, "fuzz_9p_dirent", g->name, 0, false,
				   g->buf + P9_RREAD_HDRSZ, g->len - P9_RREAD_HDRSZ);
	}
}

int main(void)
{
	size_t n = 0;

	const char *corpus = getenv("BOXFS_CORPUS_DIR");
	if (corpus) {
		write_corpus(corpus);
		return 0;
	}

	for (size_t i = 0; i < ARRAY_SIZE(golden); i++)
		p9_golden[n++] = (struct CMUnitTest){
			.name = golden[i].name,
			.test_func = test_golden,
			.initial_state = (void *)&golden[i],
		};
	for (size_t i = 0; i < ARRAY_SIZE(fixed_tests); i++)
		p9_golden[n++] = fixed_tests[i];
	return cmocka_run_group_tests(p9_golden, NULL, NULL);
}
/* clang-format on */
