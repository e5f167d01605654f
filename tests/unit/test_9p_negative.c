/*
 * test_9p_negative.c — the 9P codec (boxfs/9p.h) against bad input.
 *
 * Truncated and oversized messages, size fields and string lengths that lie,
 * walks longer than 16 names, counts that overrun, bytes left over, nested
 * stat sizes that disagree, types a dialect lacks or nobody has, framing and
 * count clamping limits, packing into a buffer too small, and the helpers
 * around the codec (version strings, error names, the trace line). Every
 * decode of a damaged message runs on an exactly sized heap copy, so a read
 * past the end shows under a sanitizer or valgrind.
 */

/* The byte vectors are laid out field by field, to be read against the
 * protocol's pages; the formatter would put one byte on a line. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <boxfs/9p.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum { MAXMSG = 512, CANARY = 0xe5 };

static const char *const dnames[] = { "9P2000", "9P2000.u", "9P2000.L" };

/* ---- valid messages to damage (see test_9p_golden.c for their fields) ---- */

static const uint8_t v_tversion[] = {
	/* size */ 19, 0, 0, 0, /* Tversion */ 100, /* tag */ 0xff, 0xff,
	/* msize 8192 */ 0x00, 0x20, 0x00, 0x00,
	/* version */ 6, 0, '9', 'P', '2', '0', '0', '0',
};

static const uint8_t v_rversion[] = {
	/* size */ 21, 0, 0, 0, /* Rversion */ 101, /* tag */ 0xff, 0xff,
	/* msize 8192 */ 0x00, 0x20, 0x00, 0x00,
	/* version */ 8, 0, '9', 'P', '2', '0', '0', '0', '.', 'L',
};

static const uint8_t v_tauth[] = {
	/* size */ 21, 0, 0, 0, /* Tauth */ 102, /* tag */ 0x02, 0x01,
	/* afid */ 0x44, 0x33, 0x22, 0x11,
	/* uname */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* aname */ 0, 0,
};

static const uint8_t vu_tauth[] = {
	/* size */ 25, 0, 0, 0, /* Tauth */ 102, /* tag */ 0x02, 0x01,
	/* afid */ 0x44, 0x33, 0x22, 0x11,
	/* uname */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* aname */ 0, 0,
	/* n_uname */ 0xe8, 0x03, 0, 0,
};

static const uint8_t vu_tattach[] = {
	/* size */ 33, 0, 0, 0, /* Tattach */ 104, /* tag */ 0x03, 0x02,
	/* fid */ 1, 0, 0, 0, /* afid NOFID */ 0xff, 0xff, 0xff, 0xff,
	/* uname */ 4, 0, 'r', 'o', 'o', 't',
	/* aname */ 6, 0, '/', 't', 'm', 'p', '/', '9',
	/* n_uname NONUNAME */ 0xff, 0xff, 0xff, 0xff,
};

static const uint8_t v_rerror[] = {
	/* size */ 28, 0, 0, 0, /* Rerror */ 107, /* tag */ 0x04, 0x03,
	/* ename */ 19, 0, 'f', 'i', 'l', 'e', ' ', 'd', 'o', 'e', 's', ' ',
	'n', 'o', 't', ' ', 'e', 'x', 'i', 's', 't',
};

static const uint8_t vu_rerror[] = {
	/* size */ 32, 0, 0, 0, /* Rerror */ 107, /* tag */ 0x04, 0x03,
	/* ename */ 19, 0, 'f', 'i', 'l', 'e', ' ', 'd', 'o', 'e', 's', ' ',
	'n', 'o', 't', ' ', 'e', 'x', 'i', 's', 't',
	/* errno */ 2, 0, 0, 0,
};

static const uint8_t v_rflush[] = {
	/* size */ 7, 0, 0, 0, /* Rflush */ 109, /* tag */ 0x05, 0x04,
};

static const uint8_t v_twalk[] = {
	/* size */ 30, 0, 0, 0, /* Twalk */ 110, /* tag */ 0x06, 0x05,
	/* fid */ 0x10, 0, 0, 0, /* newfid */ 0x11, 0, 0, 0,
	/* nwname */ 2, 0,
	/* wname[0] */ 3, 0, 'u', 's', 'r',
	/* wname[1] */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
};

/* Twalk with 17 names, one more than MAXWELEM (walk(5)) */
static const uint8_t v_twalk17[] = {
	/* size */ 68, 0, 0, 0, /* Twalk */ 110, /* tag */ 0x08, 0x05,
	/* fid */ 0x10, 0, 0, 0, /* newfid */ 0x13, 0, 0, 0,
	/* nwname */ 17, 0,
	/* wname[0..7] */ 1, 0, 'a', 1, 0, 'b', 1, 0, 'c', 1, 0, 'd',
	1, 0, 'e', 1, 0, 'f', 1, 0, 'g', 1, 0, 'h',
	/* wname[8..16] */ 1, 0, 'i', 1, 0, 'j', 1, 0, 'k', 1, 0, 'l',
	1, 0, 'm', 1, 0, 'n', 1, 0, 'o', 1, 0, 'p', 1, 0, 'q',
};

/* Twalk that claims 17 names and carries none */
static const uint8_t v_twalk17_empty[] = {
	/* size */ 17, 0, 0, 0, /* Twalk */ 110, /* tag */ 0x09, 0x05,
	/* fid */ 0x10, 0, 0, 0, /* newfid */ 0x13, 0, 0, 0,
	/* nwname */ 17, 0,
};

static const uint8_t v_rwalk[] = {
	/* size */ 35, 0, 0, 0, /* Rwalk */ 111, /* tag */ 0x06, 0x05,
	/* nwqid */ 2, 0,
	/* wqid[0] */ 0x80, 1, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[1] */ 0x00, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

/* Rwalk with 17 qids */
static const uint8_t v_rwalk17[] = {
	/* size */ 230, 0, 0, 0, /* Rwalk */ 111, /* tag */ 0x08, 0x05,
	/* nwqid */ 17, 0,
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
	/* wqid[15] */ 0x80, 16, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0,
	/* wqid[16] */ 0x00, 17, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0,
};

static const uint8_t vu_tcreate[] = {
	/* size */ 29, 0, 0, 0, /* Tcreate */ 114, /* tag */ 0x0a, 0x07,
	/* fid */ 0x22, 0, 0, 0,
	/* name */ 3, 0, 'l', 'n', 'k',
	/* perm */ 0xff, 0x01, 0x00, 0x02, /* mode */ 0,
	/* extension */ 6, 0, 't', 'a', 'r', 'g', 'e', 't',
};

static const uint8_t v_rread[] = {
	/* size */ 16, 0, 0, 0, /* Rread */ 117, /* tag */ 0x0b, 0x08,
	/* count */ 5, 0, 0, 0, /* data */ 'h', 'e', 'l', 'l', 'o',
};

static const uint8_t v_twrite[] = {
	/* size */ 29, 0, 0, 0, /* Twrite */ 118, /* tag */ 0x0c, 0x09,
	/* fid */ 0x22, 0, 0, 0, /* offset */ 6, 0, 0, 0, 0, 0, 0, 0,
	/* count */ 6, 0, 0, 0, /* data */ 'h', 'e', 'l', 'l', 'o', '\n',
};

static const uint8_t v_tclunk[] = {
	/* size */ 11, 0, 0, 0, /* Tclunk */ 120, /* tag */ 0x0d, 0x0a,
	/* fid */ 0x22, 0, 0, 0,
};

/* Rstat: nstat[2] = stat.size + 2, then the record (stat(5)) */
static const uint8_t v_rstat[] = {
	/* size */ 73, 0, 0, 0, /* Rstat */ 125, /* tag */ 0x0f, 0x0c,
	/* nstat */ 64, 0,
	/* stat.size */ 62, 0, /* type */ 0x02, 0x01, /* dev */ 0x06, 0x05, 0x04, 0x03,
	/* qid */ 0x00, 0x0a, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* mode */ 0xa4, 0x01, 0, 0,
	/* atime */ 0x00, 0xf1, 0x53, 0x65, /* mtime */ 0x01, 0xf1, 0x53, 0x65,
	/* length */ 0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0,
	/* name */ 3, 0, 'f', 'o', 'o',
	/* uid */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* gid */ 3, 0, 's', 'y', 's',
	/* muid */ 3, 0, 'b', 'o', 'b',
};

static const uint8_t vu_rstat[] = {
	/* size */ 93, 0, 0, 0, /* Rstat */ 125, /* tag */ 0x0f, 0x0c,
	/* nstat */ 84, 0,
	/* stat.size */ 82, 0, /* type */ 0x02, 0x01, /* dev */ 0x06, 0x05, 0x04, 0x03,
	/* qid */ 0x00, 0x0a, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* mode */ 0xa4, 0x01, 0, 0,
	/* atime */ 0x00, 0xf1, 0x53, 0x65, /* mtime */ 0x01, 0xf1, 0x53, 0x65,
	/* length */ 0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0,
	/* name */ 3, 0, 'f', 'o', 'o',
	/* uid */ 6, 0, 'g', 'l', 'e', 'n', 'd', 'a',
	/* gid */ 3, 0, 's', 'y', 's',
	/* muid */ 3, 0, 'b', 'o', 'b',
	/* extension */ 6, 0, 't', 'a', 'r', 'g', 'e', 't',
	/* n_uid */ 0xe8, 0x03, 0, 0, /* n_gid */ 0x64, 0, 0, 0,
	/* n_muid */ 0xe9, 0x03, 0, 0,
};

static const uint8_t v_twstat[] = {
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

static const uint8_t vl_rlerror[] = {
	/* size */ 11, 0, 0, 0, /* Rlerror */ 7, /* tag */ 0x11, 0x0e,
	/* ecode */ 2, 0, 0, 0,
};

static const uint8_t vl_tsymlink[] = {
	/* size */ 34, 0, 0, 0, /* Tsymlink */ 16, /* tag */ 0x15, 0x12,
	/* fid */ 0x33, 0, 0, 0,
	/* name */ 2, 0, 'l', 'n',
	/* symtgt */ 13, 0, '/', 't', 'm', 'p', '/', '9', '/', 'n', 'e', 'w', 'd', 'i', 'r',
	/* gid */ 0xf4, 0x01, 0, 0,
};

static const uint8_t vl_rreadlink[] = {
	/* size */ 22, 0, 0, 0, /* Rreadlink */ 23, /* tag */ 0x18, 0x15,
	/* target */ 13, 0, '/', 't', 'm', 'p', '/', '9', '/', 'n', 'e', 'w', 'd', 'i', 'r',
};

static const uint8_t vl_rgetattr[] = {
	/* size */ 160, 0, 0, 0, /* Rgetattr */ 25, /* tag */ 0x19, 0x16,
	/* valid */ 0xff, 0x3f, 0, 0, 0, 0, 0, 0,
	/* qid */ 0x80, 1, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* mode */ 0xed, 0x41, 0, 0,
	/* uid */ 0xf4, 0x01, 0, 0, /* gid */ 0xf5, 0x01, 0, 0,
	/* nlink */ 56, 0, 0, 0, 0, 0, 0, 0,
	/* rdev */ 0x02, 0x03, 0x01, 0, 0, 0, 0, 0,
	/* size */ 0x00, 0x10, 0, 0, 0, 0, 0, 0,
	/* blksize */ 0x00, 0x10, 0, 0, 0, 0, 0, 0,
	/* blocks */ 8, 0, 0, 0, 0, 0, 0, 0,
	/* atime */ 0x01, 0x00, 0x4c, 0x4d, 0, 0, 0, 0, 0x15, 0xcd, 0x5b, 0x07, 0, 0, 0, 0,
	/* mtime */ 0x02, 0x00, 0x4c, 0x4d, 0, 0, 0, 0, 0xff, 0xc9, 0x9a, 0x3b, 0, 0, 0, 0,
	/* ctime */ 0x03, 0x00, 0x4c, 0x4d, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
	/* btime */ 0x00, 0x00, 0x4c, 0x4d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* gen */ 7, 0, 0, 0, 0, 0, 0, 0,
	/* data_version */ 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
};

static const uint8_t vl_rreaddir[] = {
	/* size */ 62, 0, 0, 0, /* Rreaddir */ 41, /* tag */ 0x1d, 0x1a,
	/* count */ 51, 0, 0, 0,
	/* [0].qid */ 0x80, 1, 0, 0, 0, 0xac, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* [0].offset */ 1, 0, 0, 0, 0, 0, 0, 0, /* [0].type */ 4,
	/* [0].name */ 1, 0, '.',
	/* [1].qid */ 0x80, 1, 0, 0, 0, 0x00, 0x1f, 0x2c, 0, 0, 0, 0, 0,
	/* [1].offset */ 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, /* [1].type */ 4,
	/* [1].name */ 2, 0, '.', '.',
};

static const uint8_t vl_tlock[] = {
	/* size */ 42, 0, 0, 0, /* Tlock */ 52, /* tag */ 0x1f, 0x1c,
	/* fid */ 0x3e, 0, 0, 0, /* type */ 1, /* flags */ 1, 0, 0, 0,
	/* start */ 0x00, 0x01, 0, 0, 0, 0, 0, 0,
	/* length */ 0x00, 0x02, 0, 0, 0, 0, 0, 0,
	/* proc_id */ 0x92, 0x10, 0, 0,
	/* client_id */ 4, 0, 'h', 'o', 's', 't',
};

static const uint8_t vl_rlock[] = {
	/* size */ 8, 0, 0, 0, /* Rlock */ 53, /* tag */ 0x1f, 0x1c,
	/* status */ 1,
};

static const uint8_t vl_rgetlock[] = {
	/* size */ 34, 0, 0, 0, /* Rgetlock */ 55, /* tag */ 0x20, 0x1d,
	/* type */ 2,
	/* start */ 0x10, 0, 0, 0, 0, 0, 0, 0,
	/* length */ 0x20, 0, 0, 0, 0, 0, 0, 0,
	/* proc_id */ 7, 0, 0, 0,
	/* client_id */ 4, 0, 'h', 'o', 's', 't',
};

static const uint8_t vl_trenameat[] = {
	/* size */ 22, 0, 0, 0, /* Trenameat */ 74, /* tag */ 0x23, 0x20,
	/* olddirfid */ 0x40, 0, 0, 0, /* oldname */ 1, 0, 'a',
	/* newdirfid */ 0x42, 0, 0, 0, /* newname */ 2, 0, 'b', 'b',
};

struct vec {
	const char *name;
	enum p9_dialect d;
	const uint8_t *buf;
	size_t len;
};

#define VEC(nm, dia, v) { .name = (nm), .d = (dia), .buf = (v), .len = sizeof(v) }

static const struct vec vecs[] = {
	VEC("9P2000 Tversion", P9_2000, v_tversion),
	VEC("9P2000.L Rversion", P9_2000L, v_rversion),
	VEC("9P2000 Tauth", P9_2000, v_tauth),
	VEC("9P2000.u Tauth", P9_2000U, vu_tauth),
	VEC("9P2000.u Tattach", P9_2000U, vu_tattach),
	VEC("9P2000 Rerror", P9_2000, v_rerror),
	VEC("9P2000.u Rerror", P9_2000U, vu_rerror),
	VEC("9P2000 Twalk", P9_2000, v_twalk),
	VEC("9P2000 Rwalk", P9_2000, v_rwalk),
	VEC("9P2000.u Tcreate", P9_2000U, vu_tcreate),
	VEC("9P2000 Rread", P9_2000, v_rread),
	VEC("9P2000 Twrite", P9_2000, v_twrite),
	VEC("9P2000 Tclunk", P9_2000, v_tclunk),
	VEC("9P2000 Rstat", P9_2000, v_rstat),
	VEC("9P2000.u Rstat", P9_2000U, vu_rstat),
	VEC("9P2000 Twstat", P9_2000, v_twstat),
	VEC("9P2000.u Twstat", P9_2000U, vu_twstat),
	VEC("9P2000.L Rlerror", P9_2000L, vl_rlerror),
	VEC("9P2000.L Tsymlink", P9_2000L, vl_tsymlink),
	VEC("9P2000.L Rreadlink", P9_2000L, vl_rreadlink),
	VEC("9P2000.L Rgetattr", P9_2000L, vl_rgetattr),
	VEC("9P2000.L Rreaddir", P9_2000L, vl_rreaddir),
	VEC("9P2000.L Tlock", P9_2000L, vl_tlock),
	VEC("9P2000.L Rlock", P9_2000L, vl_rlock),
	VEC("9P2000.L Rgetlock", P9_2000L, vl_rgetlock),
	VEC("9P2000.L Trenameat", P9_2000L, vl_trenameat),
};

/* ---- helpers ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/*
 * Decodes n bytes from an exactly sized heap copy (so an overread is caught
 * by a sanitizer) into *f. Views in *f are dangling afterwards: only the
 * scalar fields may be looked at.
 */
static int unpack_exact(struct p9_fcall *f, const uint8_t *p, size_t n, enum p9_dialect d)
{
	uint8_t *copy = malloc(n ? n : 1);
	int rc;

	assert_non_null(copy);
	if (n)
		memcpy(copy, p, n);
	memset(f, 0xa5, sizeof(*f));
	rc = p9_unpack(f, copy, n, d);
	free(copy);
	return rc;
}

static void expect_unpack(const char *who, const uint8_t *p, size_t n, enum p9_dialect d,
			  int want)
{
	struct p9_fcall f;
	int rc = unpack_exact(&f, p, n, d);

	if (rc != want)
		fail_msg("%s (%s, %zu bytes): p9_unpack returned %d, expected %d", who,
			 dnames[d], n, rc, want);
}

/* A damaged copy of a message: the edit is made by the caller. */
struct msg {
	uint8_t b[MAXMSG];
	size_t n;
};

static void msg_init(struct msg *m, const uint8_t *v, size_t n)
{
	assert_true(n <= sizeof(m->b));
	memset(m->b, 0, sizeof(m->b));
	memcpy(m->b, v, n);
	m->n = n;
}

/* Resizes to n (zero-filled) and makes the size field agree. */
static void msg_resize(struct msg *m, size_t n)
{
	assert_true(n <= sizeof(m->b));
	if (n > m->n)
		memset(m->b + m->n, 0, n - m->n);
	m->n = n;
	if (n >= 4)
		put32(m->b, (uint32_t)n);
}

/* ---- sanity: the vectors here decode, so failures below mean the damage ---- */

static void test_vectors_are_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		if (vecs[i].len < 4 || (vecs[i].buf[0] | vecs[i].buf[1] << 8) != (int)vecs[i].len)
			fail_msg("%s: broken vector", vecs[i].name);
		expect_unpack(vecs[i].name, vecs[i].buf, vecs[i].len, vecs[i].d, 0);
	}
}

/* ---- truncation ---- */

/* Every prefix of each message, size field untouched: -EPROTO. */
static void test_truncated_prefixes(void **state)
{
	char who[96];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		for (size_t n = 0; n < vecs[i].len; n++) {
			snprintf(who, sizeof(who), "%s cut to %zu", vecs[i].name, n);
			expect_unpack(who, vecs[i].buf, n, vecs[i].d, -EPROTO);
		}
	}
}

/*
 * Every prefix of at least a header, with the size field rewritten to agree:
 * the framing is fine, the body is cut short. A strict decoder that consumes
 * the whole message can never accept a proper prefix of a valid message.
 */
static void test_truncated_bodies(void **state)
{
	char who[96];
	struct msg m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		for (size_t n = P9_HDRSZ; n < vecs[i].len; n++) {
			msg_init(&m, vecs[i].buf, vecs[i].len);
			msg_resize(&m, n);
			snprintf(who, sizeof(who), "%s body cut to %zu, size agreeing",
				 vecs[i].name, n);
			expect_unpack(who, m.b, m.n, vecs[i].d, -EPROTO);
		}
	}
}

/* Fewer than 7 bytes is not a message; type and tag cannot be read. */
static void test_shorter_than_header(void **state)
{
	uint8_t b[7];

	(void)state;
	for (size_t n = 0; n < P9_HDRSZ; n++) {
		memcpy(b, v_rflush, sizeof(b));
		put32(b, (uint32_t)n);
		for (int d = P9_2000; d <= P9_2000L; d++) {
			expect_unpack("short message, size = len", b, n, (enum p9_dialect)d,
				      -EPROTO);
			expect_unpack("short message, prefix of Rflush", v_rflush, n,
				      (enum p9_dialect)d, -EPROTO);
		}
	}
}

/* ---- size fields that lie ---- */

static void test_size_field_larger(void **state)
{
	static const uint32_t extra[] = { 1, 2, 7, 1000 };
	char who[96];
	struct msg m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		for (size_t k = 0; k < ARRAY_SIZE(extra); k++) {
			msg_init(&m, vecs[i].buf, vecs[i].len);
			put32(m.b, (uint32_t)vecs[i].len + extra[k]);
			snprintf(who, sizeof(who), "%s size field +%u", vecs[i].name,
				 extra[k]);
			expect_unpack(who, m.b, m.n, vecs[i].d, -EPROTO);
		}
		msg_init(&m, vecs[i].buf, vecs[i].len);
		put32(m.b, 0xffffffffu);
		expect_unpack(vecs[i].name, m.b, m.n, vecs[i].d, -EPROTO);
	}
}

static void test_size_field_smaller(void **state)
{
	char who[96];
	struct msg m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		static const uint32_t sizes[] = { 0, 4, 6, 7 };

		msg_init(&m, vecs[i].buf, vecs[i].len);
		put32(m.b, (uint32_t)vecs[i].len - 1);
		snprintf(who, sizeof(who), "%s size field -1", vecs[i].name);
		expect_unpack(who, m.b, m.n, vecs[i].d, -EPROTO);
		for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
			if (sizes[k] == vecs[i].len)
				continue;
			msg_init(&m, vecs[i].buf, vecs[i].len);
			put32(m.b, sizes[k]);
			snprintf(who, sizeof(who), "%s size field %u", vecs[i].name,
				 sizes[k]);
			expect_unpack(who, m.b, m.n, vecs[i].d, -EPROTO);
		}
	}
}

/* ---- string lengths that overrun the message ---- */

static void check_str_overrun(const char *who, const uint8_t *v, size_t n, size_t stroff,
			      enum p9_dialect d)
{
	static const uint16_t lens[] = { 0xffff, 0x8000, 0x0100 };
	struct msg m;
	uint16_t len;

	msg_init(&m, v, n);
	len = get16(m.b + stroff);
	/* the bytes after the string are not enough for one more */
	put16(m.b + stroff, (uint16_t)(len + (n - stroff - 2 - len) + 1));
	expect_unpack(who, m.b, m.n, d, -EPROTO);
	for (size_t k = 0; k < ARRAY_SIZE(lens); k++) {
		msg_init(&m, v, n);
		put16(m.b + stroff, lens[k]);
		expect_unpack(who, m.b, m.n, d, -EPROTO);
	}
}

static void test_string_overruns(void **state)
{
	(void)state;
	check_str_overrun("Tversion version", v_tversion, sizeof(v_tversion), 11, P9_2000);
	check_str_overrun("Tauth uname", v_tauth, sizeof(v_tauth), 11, P9_2000);
	check_str_overrun("Tauth aname", v_tauth, sizeof(v_tauth), 19, P9_2000);
	check_str_overrun("Tattach aname (.u)", vu_tattach, sizeof(vu_tattach), 21,
			  P9_2000U);
	check_str_overrun("Rerror ename", v_rerror, sizeof(v_rerror), 7, P9_2000);
	check_str_overrun("Twalk wname[0]", v_twalk, sizeof(v_twalk), 17, P9_2000);
	check_str_overrun("Twalk wname[1]", v_twalk, sizeof(v_twalk), 22, P9_2000);
	check_str_overrun("Tcreate extension (.u)", vu_tcreate, sizeof(vu_tcreate), 21,
			  P9_2000U);
	check_str_overrun("Rstat stat.name", v_rstat, sizeof(v_rstat), 50, P9_2000);
	check_str_overrun("Rstat stat.muid", v_rstat, sizeof(v_rstat), 68, P9_2000);
	check_str_overrun("Rstat stat.extension (.u)", vu_rstat, sizeof(vu_rstat), 73,
			  P9_2000U);
	check_str_overrun("Tsymlink name", vl_tsymlink, sizeof(vl_tsymlink), 11, P9_2000L);
	check_str_overrun("Tsymlink symtgt", vl_tsymlink, sizeof(vl_tsymlink), 15,
			  P9_2000L);
	check_str_overrun("Rreadlink target", vl_rreadlink, sizeof(vl_rreadlink), 7,
			  P9_2000L);
	check_str_overrun("Tlock client_id", vl_tlock, sizeof(vl_tlock), 36, P9_2000L);
	check_str_overrun("Rgetlock client_id", vl_rgetlock, sizeof(vl_rgetlock), 28,
			  P9_2000L);
	check_str_overrun("Trenameat oldname", vl_trenameat, sizeof(vl_trenameat), 11,
			  P9_2000L);
	check_str_overrun("Trenameat newname", vl_trenameat, sizeof(vl_trenameat), 18,
			  P9_2000L);
}

/* ---- walks: at most 16 elements (walk(5)) ---- */

static void test_twalk_nwname_17(void **state)
{
	struct p9_fcall f;

	(void)state;
	for (int d = P9_2000; d <= P9_2000L; d++) {
		int rc = unpack_exact(&f, v_twalk17, sizeof(v_twalk17), (enum p9_dialect)d);

		if (rc != -EPROTO)
			fail_msg("Twalk nwname 17 (%s): %d, expected -EPROTO", dnames[d], rc);
		assert_int_equal(f.type, P9_Twalk);
		assert_int_equal(f.tag, 0x0508);
		expect_unpack("Twalk nwname 17, no names", v_twalk17_empty,
			      sizeof(v_twalk17_empty), (enum p9_dialect)d, -EPROTO);
	}
}

static void test_rwalk_nwqid_17(void **state)
{
	(void)state;
	for (int d = P9_2000; d <= P9_2000L; d++)
		expect_unpack("Rwalk nwqid 17", v_rwalk17, sizeof(v_rwalk17),
			      (enum p9_dialect)d, -EPROTO);
}

static void check_pack_refused(const char *who, const struct p9_fcall *f, enum p9_dialect d)
{
	uint8_t out[MAXMSG];
	ssize_t n;

	if (p9_size(f, d) != 0)
		fail_msg("%s (%s): p9_size = %zu, expected 0", who, dnames[d], p9_size(f, d));
	memset(out, CANARY, sizeof(out));
	n = p9_pack(out, sizeof(out), f, d);
	if (n != -EINVAL)
		fail_msg("%s (%s): p9_pack returned %zd, expected -EINVAL", who, dnames[d], n);
	for (size_t i = 0; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("%s (%s): refused p9_pack wrote byte %zu", who, dnames[d], i);
}

static void test_pack_walk_17(void **state)
{
	static const char names[] = "abcdefghijklmnopq";
	struct p9_fcall f;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.type = P9_Twalk;
	f.tag = 1;
	f.twalk.fid = 1;
	f.twalk.newfid = 2;
	for (int i = 0; i < P9_MAXWELEM; i++)
		f.twalk.wname[i] = (struct p9_str){ .s = &names[i], .len = 1 };
	f.twalk.nwname = 17;
	for (int d = P9_2000; d <= P9_2000L; d++)
		check_pack_refused("Twalk nwname 17", &f, (enum p9_dialect)d);
	f.twalk.nwname = 0xffff;
	check_pack_refused("Twalk nwname 65535", &f, P9_2000);

	memset(&f, 0, sizeof(f));
	f.type = P9_Rwalk;
	f.tag = 1;
	f.rwalk.nwqid = 17;
	for (int d = P9_2000; d <= P9_2000L; d++)
		check_pack_refused("Rwalk nwqid 17", &f, (enum p9_dialect)d);
}

/* ---- data counts ---- */

static void test_count_overruns(void **state)
{
	struct msg m;

	(void)state;
	/* Twrite: count[4] at 19, 6 bytes present */
	msg_init(&m, v_twrite, sizeof(v_twrite));
	put32(m.b + 19, 7);
	expect_unpack("Twrite count 7 of 6", m.b, m.n, P9_2000, -EPROTO);
	put32(m.b + 19, 0xffffffffu);
	expect_unpack("Twrite count 0xffffffff", m.b, m.n, P9_2000, -EPROTO);
	put32(m.b + 19, 0x80000000u);
	expect_unpack("Twrite count 0x80000000", m.b, m.n, P9_2000L, -EPROTO);

	/* Rread: count[4] at 7, 5 bytes present */
	msg_init(&m, v_rread, sizeof(v_rread));
	put32(m.b + 7, 6);
	expect_unpack("Rread count 6 of 5", m.b, m.n, P9_2000, -EPROTO);
	put32(m.b + 7, 0xffffffffu);
	expect_unpack("Rread count 0xffffffff", m.b, m.n, P9_2000U, -EPROTO);

	/* Rreaddir: count[4] at 7, 51 bytes present */
	msg_init(&m, vl_rreaddir, sizeof(vl_rreaddir));
	put32(m.b + 7, 52);
	expect_unpack("Rreaddir count 52 of 51", m.b, m.n, P9_2000L, -EPROTO);
	put32(m.b + 7, 0xfffffff0u);
	expect_unpack("Rreaddir count 0xfffffff0", m.b, m.n, P9_2000L, -EPROTO);
}

/* A count smaller than the bytes present leaves bytes over. */
static void test_count_short(void **state)
{
	struct msg m;

	(void)state;
	msg_init(&m, v_twrite, sizeof(v_twrite));
	put32(m.b + 19, 5);
	expect_unpack("Twrite count 5 of 6", m.b, m.n, P9_2000, -EPROTO);
	msg_init(&m, v_rread, sizeof(v_rread));
	put32(m.b + 7, 0);
	expect_unpack("Rread count 0 of 5", m.b, m.n, P9_2000L, -EPROTO);
}

/* ---- bytes left over after a valid body ---- */

static void test_trailing_bytes(void **state)
{
	char who[96];
	struct msg m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		for (size_t extra = 1; extra <= 4; extra += 3) {
			msg_init(&m, vecs[i].buf, vecs[i].len);
			msg_resize(&m, vecs[i].len + extra);
			m.b[vecs[i].len] = 0x5a;
			snprintf(who, sizeof(who), "%s + %zu trailing", vecs[i].name, extra);
			expect_unpack(who, m.b, m.n, vecs[i].d, -EPROTO);
		}
	}
}

/* The .u additions are bytes over in 9P2000, and missing in .u. */
static void test_dialect_mismatch(void **state)
{
	(void)state;
	expect_unpack(".u Tauth as 9P2000", vu_tauth, sizeof(vu_tauth), P9_2000, -EPROTO);
	expect_unpack("9P2000 Tauth as .u", v_tauth, sizeof(v_tauth), P9_2000U, -EPROTO);
	expect_unpack("9P2000 Tauth as .L", v_tauth, sizeof(v_tauth), P9_2000L, -EPROTO);
	expect_unpack(".u Rerror as 9P2000", vu_rerror, sizeof(vu_rerror), P9_2000,
		      -EPROTO);
	expect_unpack("9P2000 Rerror as .u", v_rerror, sizeof(v_rerror), P9_2000U, -EPROTO);
	expect_unpack(".u Tcreate as 9P2000", vu_tcreate, sizeof(vu_tcreate), P9_2000,
		      -EPROTO);
	expect_unpack(".u Rstat as 9P2000", vu_rstat, sizeof(vu_rstat), P9_2000, -EPROTO);
	expect_unpack("9P2000 Rstat as .u", v_rstat, sizeof(v_rstat), P9_2000U, -EPROTO);
	expect_unpack(".u Twstat as 9P2000", vu_twstat, sizeof(vu_twstat), P9_2000,
		      -EPROTO);
	expect_unpack("9P2000 Twstat as .u", v_twstat, sizeof(v_twstat), P9_2000U, -EPROTO);
}

/* ---- nested stat sizes (stat(5): nstat[2] = the record's size[2] + 2) ---- */

struct statmsg {
	const char *name;
	const uint8_t *v;
	size_t n;
	size_t nstat_off; /* nstat[2]; the record's size[2] follows */
	enum p9_dialect d;
};

static const struct statmsg statmsgs[] = {
	{ "9P2000 Rstat", v_rstat, sizeof(v_rstat), 7, P9_2000 },
	{ "9P2000.u Rstat", vu_rstat, sizeof(vu_rstat), 7, P9_2000U },
	{ "9P2000 Twstat", v_twstat, sizeof(v_twstat), 11, P9_2000 },
	{ "9P2000.u Twstat", vu_twstat, sizeof(vu_twstat), 11, P9_2000U },
};

/*
 * One damage: add dn to nstat, ds to the record's size, dl to the message's
 * length (bytes added are zero, bytes removed come off the end).
 */
static void check_stat_damage(const struct statmsg *sm, int dn, int ds, int dl,
			      const char *what)
{
	char who[128];
	struct msg m;
	size_t o = sm->nstat_off;

	msg_init(&m, sm->v, sm->n);
	put16(m.b + o, (uint16_t)(get16(m.b + o) + dn));
	put16(m.b + o + 2, (uint16_t)(get16(m.b + o + 2) + ds));
	msg_resize(&m, (size_t)((long)sm->n + dl));
	snprintf(who, sizeof(who), "%s: %s", sm->name, what);
	expect_unpack(who, m.b, m.n, sm->d, -EPROTO);
}

static void test_stat_nstat_disagrees(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(statmsgs); i++) {
		const struct statmsg *sm = &statmsgs[i];
		struct msg m;

		check_stat_damage(sm, +1, 0, 0, "nstat + 1, overrunning");
		check_stat_damage(sm, +1, 0, +1, "nstat + 1, byte present");
		check_stat_damage(sm, -1, 0, 0, "nstat - 1, byte left over");
		check_stat_damage(sm, -1, 0, -1, "nstat - 1, record cut");
		check_stat_damage(sm, +2, +2, 0, "nstat and size + 2, overrunning");

		msg_init(&m, sm->v, sm->n);
		put16(m.b + sm->nstat_off, 0);
		expect_unpack("nstat 0", m.b, m.n, sm->d, -EPROTO);
		put16(m.b + sm->nstat_off, 0xffff);
		expect_unpack("nstat 0xffff", m.b, m.n, sm->d, -EPROTO);
	}
}

static void test_stat_size_disagrees(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(statmsgs); i++) {
		const struct statmsg *sm = &statmsgs[i];
		struct msg m;

		check_stat_damage(sm, 0, +1, 0, "stat.size + 1");
		check_stat_damage(sm, 0, -1, 0, "stat.size - 1");
		/* nstat and size agree, the fields do not fill the record */
		check_stat_damage(sm, +1, +1, +1, "record one byte longer than its fields");
		check_stat_damage(sm, +4, +4, +4, "record four bytes longer than its fields");
		/* nstat and size agree, the fields run past the record */
		check_stat_damage(sm, -1, -1, -1, "record one byte shorter than its fields");

		msg_init(&m, sm->v, sm->n);
		put16(m.b + sm->nstat_off + 2, 0);
		expect_unpack("stat.size 0", m.b, m.n, sm->d, -EPROTO);
	}
}

/* ---- R-messages and illegal or unknown types ---- */

static void test_r_where_t_expected(void **state)
{
	struct p9_fcall f;

	(void)state;
	/* a server must look at the type: an R-message decodes fine */
	assert_int_equal(unpack_exact(&f, v_rversion, sizeof(v_rversion), P9_2000L), 0);
	assert_int_equal(f.type, P9_Rversion);
	assert_false(p9_is_tmsg(f.type));
	assert_int_equal(unpack_exact(&f, v_tversion, sizeof(v_tversion), P9_2000), 0);
	assert_true(p9_is_tmsg(f.type));
	assert_int_equal(unpack_exact(&f, vl_rlerror, sizeof(vl_rlerror), P9_2000L), 0);
	assert_false(p9_is_tmsg(f.type));
	for (unsigned t = 0; t < 256; t++)
		if (p9_is_tmsg((uint8_t)t) != !(t & 1))
			fail_msg("p9_is_tmsg(%u) wrong", t);
}

/* A header plus body bytes with type t and tag 0x4321. */
static void check_type_refused(uint8_t t, size_t body)
{
	uint8_t b[7 + 16];
	struct p9_fcall f;
	int rc;

	assert_true(body <= 16);
	memset(b, 0, sizeof(b));
	put32(b, (uint32_t)(7 + body));
	b[4] = t;
	put16(b + 5, 0x4321);
	for (size_t i = 0; i < body; i++)
		b[7 + i] = (uint8_t)(i + 1);
	for (int d = P9_2000; d <= P9_2000L; d++) {
		rc = unpack_exact(&f, b, 7 + body, (enum p9_dialect)d);
		if (rc != -EOPNOTSUPP)
			fail_msg("type %u, %zu body bytes (%s): %d, expected -EOPNOTSUPP", t,
				 body, dnames[d], rc);
		if (f.type != t || f.tag != 0x4321)
			fail_msg("type %u (%s): type/tag not filled in (%u/0x%x)", t,
				 dnames[d], f.type, f.tag);
		if (p9_type_valid(t, (enum p9_dialect)d))
			fail_msg("p9_type_valid(%u, %s) is true", t, dnames[d]);
	}
}

static void test_terror_tlerror_refused(void **state)
{
	(void)state;
	check_type_refused(P9_Terror, 0);
	check_type_refused(P9_Terror, 2 + 5); /* shaped like an ename */
	check_type_refused(P9_Tlerror, 0);
	check_type_refused(P9_Tlerror, 4); /* shaped like an ecode */
}

static void test_unknown_types(void **state)
{
	static const uint8_t types[] = { 0, 1, 99, 128, 255 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		check_type_refused(types[i], 0);
		check_type_refused(types[i], 4);
		check_type_refused(types[i], 16);
	}
}

/* ---- framing and counts ---- */

static void test_frame_size(void **state)
{
	uint8_t h[4];

	(void)state;
	for (uint32_t s = 0; s < P9_HDRSZ; s++) {
		put32(h, s);
		assert_int_equal(p9_frame_size(h, 8192), -EPROTO);
		assert_int_equal(p9_frame_size(h, 0), -EPROTO);
	}
	put32(h, 7);
	assert_int_equal(p9_frame_size(h, 8192), 7);
	assert_int_equal(p9_frame_size(h, 7), 7);
	put32(h, 8192);
	assert_int_equal(p9_frame_size(h, 8192), 8192);
	assert_int_equal(p9_frame_size(h, 8191), -EMSGSIZE);
	put32(h, 8193);
	assert_int_equal(p9_frame_size(h, 8192), -EMSGSIZE);
	put32(h, 0xffffffffu);
	assert_int_equal(p9_frame_size(h, 8192), -EMSGSIZE);
	assert_int_equal(p9_frame_size(h, 0xffffffffu), (ssize_t)0xffffffffu);
	assert_int_equal(p9_frame_size(h, 0), (ssize_t)0xffffffffu);
	put32(h, 0x01000000u); /* little-endian: byte 3 is the high byte */
	assert_int_equal(p9_frame_size(h, 0), (ssize_t)0x01000000);
	assert_int_equal(p9_frame_size(h, 1u << 20), -EMSGSIZE);
}

static void test_iocount(void **state)
{
	(void)state;
	assert_int_equal(p9_iocount(8192, 0xffffffffu), 8168);
	assert_int_equal(p9_iocount(10, 5), 0);
	assert_int_equal(p9_iocount(0xffffffffu, 0xffffffffu), 0xffffffffu - 24);
	assert_int_equal(p9_iocount(8192, 100), 100);
	assert_int_equal(p9_iocount(8192, 8168), 8168);
	assert_int_equal(p9_iocount(8192, 8169), 8168);
	assert_int_equal(p9_iocount(24, 1), 0);
	assert_int_equal(p9_iocount(25, 100), 1);
	assert_int_equal(p9_iocount(0, 100), 0);
	assert_int_equal(p9_iocount(1u << 20, 0), 0);
}

/* ---- packing into a buffer one byte too small ---- */

static void check_pack_short(const char *who, const uint8_t *v, size_t len,
			     enum p9_dialect d)
{
	uint8_t out[MAXMSG];
	struct p9_fcall f;
	ssize_t n;
	int rc;

	/* decode from the vector itself: the views must stay valid */
	memset(&f, 0, sizeof(f));
	rc = p9_unpack(&f, v, len, d);
	if (rc != 0)
		fail_msg("%s: p9_unpack returned %d", who, rc);
	if (p9_size(&f, d) != len)
		fail_msg("%s: p9_size = %zu, expected %zu", who, p9_size(&f, d), len);

	memset(out, CANARY, sizeof(out));
	n = p9_pack(out, len - 1, &f, d);
	if (n != -EMSGSIZE)
		fail_msg("%s: p9_pack with cap %zu returned %zd, expected -EMSGSIZE", who,
			 len - 1, n);
	for (size_t i = 0; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("%s: failed p9_pack wrote byte %zu", who, i);
	n = p9_pack(out, 0, &f, d);
	if (n != -EMSGSIZE)
		fail_msg("%s: p9_pack with cap 0 returned %zd", who, n);
	n = p9_pack(out, P9_HDRSZ, &f, d);
	if (len > P9_HDRSZ && n != -EMSGSIZE)
		fail_msg("%s: p9_pack with cap 7 returned %zd", who, n);
	for (size_t i = 0; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("%s: failed p9_pack wrote byte %zu", who, i);
	n = p9_pack(out, len, &f, d);
	if (n != (ssize_t)len || memcmp(out, v, len) != 0)
		fail_msg("%s: p9_pack with cap = size failed (%zd)", who, n);
}

static void test_pack_one_byte_short(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++)
		check_pack_short(vecs[i].name, vecs[i].buf, vecs[i].len, vecs[i].d);
}

static void test_stat_dirent_pack_short(void **state)
{
	uint8_t out[MAXMSG];
	struct p9_stat st;
	struct p9_dirent de;
	size_t off = 0, sz;
	ssize_t n;

	(void)state;
	/* the stat record in the .u Rstat, after nstat[2] */
	assert_int_equal(p9_stat_next(&st, vu_rstat + 9, sizeof(vu_rstat) - 9, &off,
				      P9_2000U), 1);
	sz = p9_stat_size(&st, P9_2000U);
	assert_int_equal(sz, sizeof(vu_rstat) - 9);
	memset(out, CANARY, sizeof(out));
	n = p9_stat_pack(out, sz - 1, &st, P9_2000U);
	assert_int_equal(n, -EMSGSIZE);
	for (size_t i = 0; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("failed p9_stat_pack wrote byte %zu", i);

	off = 0;
	assert_int_equal(p9_dirent_next(&de, vl_rreaddir + 11, 51, &off), 1);
	sz = p9_dirent_size(&de);
	assert_int_equal(sz, 25);
	n = p9_dirent_pack(out, sz - 1, &de);
	assert_int_equal(n, -EMSGSIZE);
	n = p9_dirent_pack(out, 0, &de);
	assert_int_equal(n, -EMSGSIZE);
	for (size_t i = 0; i < sizeof(out); i++)
		if (out[i] != CANARY)
			fail_msg("failed p9_dirent_pack wrote byte %zu", i);
}

/* ---- stat records and dirents, cut short ---- */

static int stat_next_exact(const uint8_t *p, size_t n, size_t *off, enum p9_dialect d)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct p9_stat st;
	int rc;

	assert_non_null(copy);
	if (n)
		memcpy(copy, p, n);
	rc = p9_stat_next(&st, copy, n, off, d);
	free(copy);
	return rc;
}

static int dirent_next_exact(const uint8_t *p, size_t n, size_t *off)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct p9_dirent de;
	int rc;

	assert_non_null(copy);
	if (n)
		memcpy(copy, p, n);
	rc = p9_dirent_next(&de, copy, n, off);
	free(copy);
	return rc;
}

static void check_stat_truncated(const char *who, const uint8_t *rec, size_t reclen,
				 enum p9_dialect d)
{
	uint8_t two[2 * MAXMSG];
	size_t off;
	int rc;

	for (size_t n = 1; n < reclen; n++) {
		off = 0;
		rc = stat_next_exact(rec, n, &off, d);
		if (rc != -EPROTO)
			fail_msg("%s cut to %zu: p9_stat_next returned %d, expected -EPROTO",
				 who, n, rc);
	}
	/* a whole record, then a cut one */
	memcpy(two, rec, reclen);
	memcpy(two + reclen, rec, reclen);
	for (size_t n = reclen + 1; n < 2 * reclen; n++) {
		off = 0;
		assert_int_equal(stat_next_exact(two, n, &off, d), 1);
		assert_int_equal(off, reclen);
		rc = stat_next_exact(two, n, &off, d);
		if (rc != -EPROTO)
			fail_msg("%s: second record cut to %zu: %d, expected -EPROTO", who,
				 n - reclen, rc);
	}
}

static void test_stat_next_truncated(void **state)
{
	(void)state;
	check_stat_truncated("9P2000 stat", v_rstat + 9, sizeof(v_rstat) - 9, P9_2000);
	check_stat_truncated("9P2000.u stat", vu_rstat + 9, sizeof(vu_rstat) - 9, P9_2000U);
}

static void test_stat_next_bad_size(void **state)
{
	uint8_t rec[MAXMSG];
	size_t reclen = sizeof(vu_rstat) - 9;
	size_t off;

	(void)state;
	/* size[2] claiming more than the buffer holds */
	memcpy(rec, vu_rstat + 9, reclen);
	put16(rec, (uint16_t)(reclen - 2 + 1));
	off = 0;
	assert_int_equal(stat_next_exact(rec, reclen, &off, P9_2000U), -EPROTO);
	put16(rec, 0xffff);
	off = 0;
	assert_int_equal(stat_next_exact(rec, reclen, &off, P9_2000U), -EPROTO);
	/* size[2] claiming less than the fields need */
	put16(rec, (uint16_t)(reclen - 2 - 1));
	off = 0;
	assert_int_equal(stat_next_exact(rec, reclen, &off, P9_2000U), -EPROTO);
	put16(rec, 0);
	off = 0;
	assert_int_equal(stat_next_exact(rec, reclen, &off, P9_2000U), -EPROTO);
	/* a .u record read as 9P2000: its fields end before the record does */
	memcpy(rec, vu_rstat + 9, reclen);
	off = 0;
	assert_int_equal(stat_next_exact(rec, reclen, &off, P9_2000), -EPROTO);
	/* a 9P2000 record read as .u: the fields run past the record */
	off = 0;
	assert_int_equal(stat_next_exact(v_rstat + 9, sizeof(v_rstat) - 9, &off, P9_2000U),
			 -EPROTO);
}

static void test_dirent_next_truncated(void **state)
{
	const uint8_t *data = vl_rreaddir + 11;
	uint8_t bad[64];
	size_t off;
	int rc;

	(void)state;
	for (size_t n = 1; n < 25; n++) {
		off = 0;
		rc = dirent_next_exact(data, n, &off);
		if (rc != -EPROTO)
			fail_msg("dirent cut to %zu: %d, expected -EPROTO", n, rc);
	}
	for (size_t n = 26; n < 51; n++) {
		off = 0;
		assert_int_equal(dirent_next_exact(data, n, &off), 1);
		assert_int_equal(off, 25);
		rc = dirent_next_exact(data, n, &off);
		if (rc != -EPROTO)
			fail_msg("second dirent cut to %zu: %d, expected -EPROTO", n - 25, rc);
	}
	/* a name length overrunning the data */
	memcpy(bad, data, 25);
	put16(bad + 22, 2);
	off = 0;
	assert_int_equal(dirent_next_exact(bad, 25, &off), -EPROTO);
	put16(bad + 22, 0xffff);
	off = 0;
	assert_int_equal(dirent_next_exact(bad, 25, &off), -EPROTO);
	/* an offset past the end */
	off = 52;
	rc = dirent_next_exact(data, 51, &off);
	if (rc != -EPROTO && rc != 0)
		fail_msg("p9_dirent_next with off past the end: %d", rc);
}

/* ---- mutated messages never crash, and what decodes re-encodes the same ---- */

static void test_bit_flips(void **state)
{
	uint8_t out[MAXMSG];
	struct msg m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		const struct vec *v = &vecs[i];

		for (size_t byte = 0; byte < v->len; byte++) {
			for (int bit = 0; bit < 8; bit++) {
				uint8_t *copy = malloc(v->len);
				struct p9_fcall f;
				ssize_t n;
				int rc;

				assert_non_null(copy);
				msg_init(&m, v->buf, v->len);
				m.b[byte] ^= (uint8_t)(1u << bit);
				memcpy(copy, m.b, v->len);
				rc = p9_unpack(&f, copy, v->len, v->d);
				if (rc != 0 && rc != -EPROTO && rc != -EOPNOTSUPP)
					fail_msg("%s bit %zu.%d: p9_unpack returned %d", v->name,
						 byte, bit, rc);
				if (rc == 0) {
					n = p9_pack(out, sizeof(out), &f, v->d);
					if (n != (ssize_t)v->len || memcmp(out, m.b, v->len))
						fail_msg("%s bit %zu.%d: decoded, but packs "
							 "back differently (%zd)",
							 v->name, byte, bit, n);
				}
				free(copy);
			}
		}
	}
}

/* ---- version strings (version(5)) ---- */

static int parse(const char *s, enum p9_dialect *d)
{
	return p9_version_parse(p9_cstr(s), d);
}

static void test_version_parse(void **state)
{
	enum p9_dialect d;

	(void)state;
	d = P9_2000L;
	assert_int_equal(parse("9P2000", &d), 0);
	assert_int_equal(d, P9_2000);
	assert_int_equal(parse("9P2000.u", &d), 0);
	assert_int_equal(d, P9_2000U);
	assert_int_equal(parse("9P2000.L", &d), 0);
	assert_int_equal(d, P9_2000L);
	d = P9_2000L;
	assert_int_equal(parse("9P2000.x", &d), 0);
	assert_int_equal(d, P9_2000);
	d = P9_2000L;
	assert_int_equal(parse("9P2000.l", &d), 0);
	assert_int_equal(d, P9_2000);
	assert_int_equal(parse("9P2001", &d), -EPROTONOSUPPORT);
	assert_int_equal(parse("", &d), -EPROTONOSUPPORT);
	assert_int_equal(parse("9P", &d), -EPROTONOSUPPORT);
	assert_int_equal(parse("9P200", &d), -EPROTONOSUPPORT);
	assert_int_equal(parse("9P2000L", &d), -EPROTONOSUPPORT);
	assert_int_equal(parse("unknown", &d), -EPROTONOSUPPORT);
}

/* A version string is a view: only len bytes count, no NUL is looked for. */
static void test_version_parse_views(void **state)
{
	static const char buf[] = "9P2000.Lxyz";
	enum p9_dialect d;

	(void)state;
	d = P9_2000;
	assert_int_equal(p9_version_parse((struct p9_str){ .s = buf, .len = 8 }, &d), 0);
	assert_int_equal(d, P9_2000L);
	d = P9_2000L;
	assert_int_equal(p9_version_parse((struct p9_str){ .s = buf, .len = 6 }, &d), 0);
	assert_int_equal(d, P9_2000);
	assert_int_equal(p9_version_parse((struct p9_str){ .s = buf, .len = 5 }, &d),
			 -EPROTONOSUPPORT);
	assert_int_equal(p9_version_parse((struct p9_str){ .s = buf, .len = 0 }, &d),
			 -EPROTONOSUPPORT);
}

/* ---- error names ---- */

static void test_errstr_round_trip(void **state)
{
	static const int errs[] = { ENOENT, EACCES, EEXIST, ENOTDIR, EISDIR, EINVAL,
				    ENOTEMPTY };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(errs); i++) {
		const char *s = p9_errstr(errs[i]);

		if (!s)
			fail_msg("p9_errstr(%d) is NULL", errs[i]);
		if (p9_errno(p9_cstr(s)) != errs[i])
			fail_msg("p9_errno('%s') = %d, expected %d", s, p9_errno(p9_cstr(s)),
				 errs[i]);
	}
	assert_int_equal(p9_errno(p9_cstr("the cat ate the file server")), EIO);
	assert_int_equal(p9_errno(p9_cstr("")), EIO);
	assert_non_null(p9_errstr(99999));
}

/* An Rerror string is a view: it need not be NUL-terminated. */
static void test_errno_view(void **state)
{
	char buf[128];
	const char *s = p9_errstr(ENOENT);
	size_t n = strlen(s);

	(void)state;
	assert_true(n + 8 < sizeof(buf));
	memcpy(buf, s, n);
	memset(buf + n, 'x', 8);
	assert_int_equal(p9_errno((struct p9_str){ .s = buf, .len = (uint16_t)n }), ENOENT);
}

static void test_lerror(void **state)
{
	(void)state;
	assert_int_equal(p9_lerror(0), EIO);
	assert_int_equal(p9_lerror(5000), EIO);
	assert_int_equal(p9_lerror(4096), EIO);
	assert_int_equal(p9_lerror(-2), EIO);
	assert_int_equal(p9_lerror(ENOENT), ENOENT);
	assert_int_equal(p9_lerror(1), 1);
	assert_int_equal(p9_lerror(4095), 4095);
	assert_int_equal(EIO, 5);
}

/* ---- the trace line ---- */

static struct p9_fcall twalk_ab(void)
{
	struct p9_fcall f;

	memset(&f, 0, sizeof(f));
	f.type = P9_Twalk;
	f.tag = 3;
	f.twalk.fid = 1;
	f.twalk.newfid = 2;
	f.twalk.nwname = 2;
	f.twalk.wname[0] = p9_cstr("a");
	f.twalk.wname[1] = p9_cstr("b");
	return f;
}

static void test_snprint_twalk(void **state)
{
	static const char want[] = "Twalk tag 3 fid 1 newfid 2 'a' 'b'";
	struct p9_fcall f = twalk_ab();
	char buf[128];
	int n;

	(void)state;
	n = p9_snprint(buf, sizeof(buf), &f);
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
}

static void test_snprint_small_buffer(void **state)
{
	static const char want[] = "Twalk tag 3 fid 1 newfid 2 'a' 'b'";
	struct p9_fcall f = twalk_ab();
	char buf[64];
	int n;

	(void)state;
	memset(buf, CANARY, sizeof(buf));
	n = p9_snprint(buf, 8, &f);
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, 7);
	assert_int_equal(buf[7], '\0');
	for (size_t i = 8; i < sizeof(buf); i++)
		if ((uint8_t)buf[i] != CANARY)
			fail_msg("p9_snprint with cap 8 wrote byte %zu", i);

	memset(buf, CANARY, sizeof(buf));
	n = p9_snprint(buf, 1, &f);
	assert_int_equal(n, (int)strlen(want));
	assert_int_equal(buf[0], '\0');
	assert_int_equal((uint8_t)buf[1], CANARY);

	memset(buf, CANARY, sizeof(buf));
	n = p9_snprint(buf, 0, &f);
	assert_int_equal(n, (int)strlen(want));
	assert_int_equal((uint8_t)buf[0], CANARY);
}

/* Every vector here, printed into every buffer size: never past cap. */
static void test_snprint_bounded(void **state)
{
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(vecs); i++) {
		struct p9_fcall f;
		int full;

		assert_int_equal(p9_unpack(&f, vecs[i].buf, vecs[i].len, vecs[i].d), 0);
		full = p9_snprint(buf, sizeof(buf), &f);
		if (full <= 0 || (size_t)full >= sizeof(buf) || strlen(buf) != (size_t)full)
			fail_msg("%s: p9_snprint returned %d", vecs[i].name, full);
		for (size_t cap = 0; cap <= (size_t)full + 1; cap++) {
			memset(buf, CANARY, sizeof(buf));
			if (p9_snprint(buf, cap, &f) != full)
				fail_msg("%s: cap %zu changes the length", vecs[i].name, cap);
			for (size_t k = cap; k < sizeof(buf); k++)
				if ((uint8_t)buf[k] != CANARY)
					fail_msg("%s: cap %zu, wrote byte %zu", vecs[i].name,
						 cap, k);
			if (cap && memchr(buf, '\0', cap) == NULL)
				fail_msg("%s: cap %zu, not terminated", vecs[i].name, cap);
		}
	}
}

int main(void)
{
	static const struct CMUnitTest p9_negative[] = {
		cmocka_unit_test(test_vectors_are_valid),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_truncated_bodies),
		cmocka_unit_test(test_shorter_than_header),
		cmocka_unit_test(test_size_field_larger),
		cmocka_unit_test(test_size_field_smaller),
		cmocka_unit_test(test_string_overruns),
		cmocka_unit_test(test_twalk_nwname_17),
		cmocka_unit_test(test_rwalk_nwqid_17),
		cmocka_unit_test(test_pack_walk_17),
		cmocka_unit_test(test_count_overruns),
		cmocka_unit_test(test_count_short),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_dialect_mismatch),
		cmocka_unit_test(test_stat_nstat_disagrees),
		cmocka_unit_test(test_stat_size_disagrees),
		cmocka_unit_test(test_r_where_t_expected),
		cmocka_unit_test(test_terror_tlerror_refused),
		cmocka_unit_test(test_unknown_types),
		cmocka_unit_test(test_frame_size),
		cmocka_unit_test(test_iocount),
		cmocka_unit_test(test_pack_one_byte_short),
		cmocka_unit_test(test_stat_dirent_pack_short),
		cmocka_unit_test(test_stat_next_truncated),
		cmocka_unit_test(test_stat_next_bad_size),
		cmocka_unit_test(test_dirent_next_truncated),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_version_parse_views),
		cmocka_unit_test(test_errstr_round_trip),
		cmocka_unit_test(test_errno_view),
		cmocka_unit_test(test_lerror),
		cmocka_unit_test(test_snprint_twalk),
		cmocka_unit_test(test_snprint_small_buffer),
		cmocka_unit_test(test_snprint_bounded),
	};

	return cmocka_run_group_tests(p9_negative, NULL, NULL);
}
/* clang-format on */
