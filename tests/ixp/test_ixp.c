/*
 * test_ixp.c — libixp's API on boxfs: the message codec, dial strings,
 * errors, timers and hang-ups of the server loop, and a libixp-style server
 * (testsrv.c) on unix! and tcp! driven by the ixp client calls and by
 * boxfs's own client library in 9P2000.L, .u and 9P2000 (bxside.c).
 */
#include <ixp.h>

typedef union IxpFileIdU IxpFileIdU;
union IxpFileIdU {
	void *ref;
};

#include <ixp_srvutil.h>

#include "bxside.h"
#include "testsrv.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64], unix_addr[160], unix_path[128], tcp_addr[64];

/* ---- the codec ---- */

static IxpFcall roundtrip(IxpFcall *f, uint *size)
{
	char buf[8192];
	IxpMsg m = ixp_message(buf, sizeof buf, MsgPack);
	*size = ixp_fcall2msg(&m, f);
	assert_true(*size > 0);
	IxpFcall g;
	IxpMsg u = ixp_message(buf, *size, MsgUnpack);
	assert_int_equal(ixp_msg2fcall(&u, &g), *size);
	assert_int_equal(g.hdr.type, f->hdr.type);
	assert_int_equal(g.hdr.tag, f->hdr.tag);
	/* one byte short never decodes */
	IxpFcall h;
	IxpMsg s = ixp_message(buf, *size - 1, MsgUnpack);
	assert_int_equal(ixp_msg2fcall(&s, &h), 0);
	return g;
}

static void test_codec(void **state)
{
	(void)state;
	uint n;
	IxpFcall f, g;
	IxpQid q = { .type = P9_QTDIR, .version = 7, .path = 0x123456789abcull };

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TVersion;
	f.hdr.tag = IXP_NOTAG;
	f.version.msize = 8192;
	f.version.version = "9P2000";
	g = roundtrip(&f, &n);
	assert_int_equal(n, 4 + 1 + 2 + 4 + 2 + 6);
	assert_int_equal(g.version.msize, 8192);
	assert_string_equal(g.version.version, "9P2000");
	ixp_freefcall(&g);
	/* golden bytes of that Tversion */
	{
		char buf[64];
		IxpMsg m = ixp_message(buf, sizeof buf, MsgPack);
		assert_int_equal(ixp_fcall2msg(&m, &f), 19);
		assert_memory_equal(buf,
				    "\x13\0\0\0\x64\xff\xff\0\x20\0\0\x06\0"
				    "9P2000",
				    19);
	}
	f.hdr.type = P9_RVersion;
	g = roundtrip(&f, &n);
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TAuth;
	f.hdr.tag = 1;
	f.tauth.afid = 5;
	f.tauth.uname = "glenda";
	f.tauth.aname = "";
	g = roundtrip(&f, &n);
	assert_int_equal(g.tauth.afid, 5);
	assert_string_equal(g.tauth.uname, "glenda");
	assert_string_equal(g.tauth.aname, "");
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RAuth;
	f.rauth.aqid = q;
	g = roundtrip(&f, &n);
	assert_int_equal(g.rauth.aqid.path, q.path);
	assert_int_equal(g.rauth.aqid.version, 7);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TAttach;
	f.hdr.tag = 2;
	f.hdr.fid = 9;
	f.tattach.afid = IXP_NOFID;
	f.tattach.uname = "u";
	f.tattach.aname = "a";
	g = roundtrip(&f, &n);
	assert_int_equal(g.hdr.fid, 9);
	assert_int_equal(g.tattach.afid, IXP_NOFID);
	assert_string_equal(g.tattach.aname, "a");
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RAttach;
	f.rattach.qid = q;
	g = roundtrip(&f, &n);
	assert_int_equal(g.rattach.qid.type, P9_QTDIR);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RError;
	f.error.ename = "file not found";
	g = roundtrip(&f, &n);
	assert_string_equal(g.error.ename, "file not found");
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TFlush;
	f.tflush.oldtag = 77;
	g = roundtrip(&f, &n);
	assert_int_equal(g.tflush.oldtag, 77);
	f.hdr.type = P9_RFlush;
	g = roundtrip(&f, &n);
	assert_int_equal(n, 7);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TWalk;
	f.hdr.fid = 1;
	f.twalk.newfid = 2;
	f.twalk.nwname = 3;
	f.twalk.wname[0] = "a";
	f.twalk.wname[1] = "bc";
	f.twalk.wname[2] = "def";
	g = roundtrip(&f, &n);
	assert_int_equal(g.twalk.newfid, 2);
	assert_int_equal(g.twalk.nwname, 3);
	assert_string_equal(g.twalk.wname[0], "a");
	assert_string_equal(g.twalk.wname[2], "def");
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RWalk;
	f.rwalk.nwqid = 2;
	f.rwalk.wqid[0] = q;
	f.rwalk.wqid[1] = q;
	f.rwalk.wqid[1].path = 42;
	g = roundtrip(&f, &n);
	assert_int_equal(g.rwalk.nwqid, 2);
	assert_int_equal(g.rwalk.wqid[1].path, 42);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TOpen;
	f.hdr.fid = 3;
	f.topen.mode = P9_ORDWR | P9_OTRUNC;
	g = roundtrip(&f, &n);
	assert_int_equal(g.topen.mode, P9_ORDWR | P9_OTRUNC);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_ROpen;
	f.ropen.qid = q;
	f.ropen.iounit = 8168;
	g = roundtrip(&f, &n);
	assert_int_equal(g.ropen.iounit, 8168);
	f.hdr.type = P9_RCreate;
	g = roundtrip(&f, &n);
	assert_int_equal(g.rcreate.qid.path, q.path);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TCreate;
	f.hdr.fid = 4;
	f.tcreate.name = "new";
	f.tcreate.perm = P9_DMDIR | 0755;
	f.tcreate.mode = P9_OREAD;
	g = roundtrip(&f, &n);
	assert_string_equal(g.tcreate.name, "new");
	assert_int_equal(g.tcreate.perm, P9_DMDIR | 0755);
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TRead;
	f.hdr.fid = 5;
	f.tread.offset = 1ull << 40;
	f.tread.count = 4096;
	g = roundtrip(&f, &n);
	assert_true(g.tread.offset == 1ull << 40);
	assert_int_equal(g.tread.count, 4096);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RRead;
	f.rread.count = 5;
	f.rread.data = "hello";
	g = roundtrip(&f, &n);
	assert_int_equal(g.rread.count, 5);
	assert_memory_equal(g.rread.data, "hello", 5);
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TWrite;
	f.hdr.fid = 6;
	f.twrite.offset = 3;
	f.twrite.count = 3;
	f.twrite.data = "abc";
	g = roundtrip(&f, &n);
	assert_int_equal(g.twrite.offset, 3);
	assert_memory_equal(g.twrite.data, "abc", 3);
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RWrite;
	f.rwrite.count = 3;
	g = roundtrip(&f, &n);
	assert_int_equal(g.rwrite.count, 3);

	uint8_t types[] = { P9_TClunk, P9_TRemove, P9_TStat };
	for (size_t i = 0; i < sizeof types; i++) {
		memset(&f, 0, sizeof f);
		f.hdr.type = types[i];
		f.hdr.fid = 11;
		g = roundtrip(&f, &n);
		assert_int_equal(g.hdr.fid, 11);
		assert_int_equal(n, 11);
	}
	uint8_t empty[] = { P9_RClunk, P9_RRemove, P9_RWStat };
	for (size_t i = 0; i < sizeof empty; i++) {
		memset(&f, 0, sizeof f);
		f.hdr.type = empty[i];
		char buf[16];
		IxpMsg m = ixp_message(buf, sizeof buf, MsgPack);
		assert_int_equal(ixp_fcall2msg(&m, &f), 7);
	}

	/* a stat record, alone and in Rstat and Twstat */
	IxpStat st = { .type = 1,
		       .dev = 2,
		       .qid = q,
		       .mode = P9_DMDIR | 0755,
		       .atime = 10,
		       .mtime = 20,
		       .length = 30,
		       .name = "n",
		       .uid = "uu",
		       .gid = "ggg",
		       .muid = "" };
	uint16_t ss = ixp_sizeof_stat(&st);
	assert_int_equal(ss, 2 + 2 + 4 + 13 + 4 + 4 + 4 + 8 + 3 + 4 + 5 + 2);
	char sbuf[256];
	IxpMsg sm = ixp_message(sbuf, ss, MsgPack);
	ixp_pstat(&sm, &st);
	assert_true(sm.pos == sm.end);
	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RStat;
	f.rstat.nstat = ss;
	f.rstat.stat = (uint8_t *)sbuf;
	g = roundtrip(&f, &n);
	assert_int_equal(g.rstat.nstat, ss);
	IxpStat back;
	IxpMsg bm = ixp_message((char *)g.rstat.stat, g.rstat.nstat, MsgUnpack);
	ixp_pstat(&bm, &back);
	assert_true(bm.pos == bm.end);
	assert_string_equal(back.gid, "ggg");
	assert_int_equal(back.length, 30);
	assert_int_equal(back.mode, P9_DMDIR | 0755);
	ixp_freestat(&back);
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TWStat;
	f.hdr.fid = 12;
	f.twstat.stat = st;
	g = roundtrip(&f, &n);
	assert_int_equal(g.hdr.fid, 12);
	assert_string_equal(g.twstat.stat.name, "n");
	assert_int_equal(g.twstat.stat.mtime, 20);
	ixp_freefcall(&g);

	/* more than 16 walk names do not pack */
	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TWalk;
	f.twalk.nwname = 17;
	for (int i = 0; i < 16; i++)
		f.twalk.wname[i] = "x";
	char buf[256];
	IxpMsg m = ixp_message(buf, sizeof buf, MsgPack);
	assert_int_equal(ixp_fcall2msg(&m, &f), 0);
	/* a message that does not fit the buffer does not pack */
	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RError;
	f.error.ename = "a long error that will not fit in a tiny buffer";
	m = ixp_message(buf, 20, MsgPack);
	assert_int_equal(ixp_fcall2msg(&m, &f), 0);

	/* the field functions */
	char fb[16];
	IxpMsg pm = ixp_message(fb, sizeof fb, MsgPack);
	uint8_t a8 = 0xab;
	uint16_t a16 = 0xbeef;
	uint32_t a32 = 0xdeadbeef;
	uint64_t a64 = 0x0102030405060708ull;
	ixp_pu8(&pm, &a8);
	ixp_pu16(&pm, &a16);
	ixp_pu32(&pm, &a32);
	ixp_pu64(&pm, &a64);
	assert_int_equal(pm.pos - pm.data, 15);
	assert_memory_equal(fb, "\xab\xef\xbe\xef\xbe\xad\xde\x08\x07\x06\x05\x04\x03\x02\x01", 15);
	IxpMsg um = ixp_message(fb, 15, MsgUnpack);
	uint8_t b8;
	uint16_t b16;
	uint32_t b32;
	uint64_t b64;
	ixp_pu8(&um, &b8);
	ixp_pu16(&um, &b16);
	ixp_pu32(&um, &b32);
	ixp_pu64(&um, &b64);
	assert_int_equal(b8, a8);
	assert_int_equal(b16, a16);
	assert_int_equal(b32, a32);
	assert_true(b64 == a64);
	assert_true(um.pos == um.end);
	ixp_pu8(&um, &b8); /* past the end: pos passes end, nothing read */
	assert_true(um.pos > um.end);
}

/* ---- the codec's parts, one at a time ---- */

static void test_codec_parts(void **state)
{
	(void)state;
	char buf[512];

	/* data: raw bytes, no count */
	char *d = "a\0b\xff";
	IxpMsg m = ixp_message(buf, sizeof buf, MsgPack);
	ixp_pdata(&m, &d, 4);
	assert_int_equal(m.pos - m.data, 4);
	assert_memory_equal(buf, "a\0b\xff", 4);
	char *back = NULL;
	IxpMsg u = ixp_message(buf, 4, MsgUnpack);
	ixp_pdata(&u, &back, 4);
	assert_true(u.pos == u.end);
	assert_non_null(back);
	assert_memory_equal(back, "a\0b\xff", 4);
	free(back);
	u = ixp_message(buf, 3, MsgUnpack); /* one byte short */
	back = (char *)1;
	ixp_pdata(&u, &back, 4);
	assert_null(back);
	assert_true(u.pos > u.end);

	/* string: a 16-bit count, then the bytes without the NUL */
	char *str = "hello";
	m = ixp_message(buf, sizeof buf, MsgPack);
	ixp_pstring(&m, &str);
	assert_int_equal(m.pos - m.data, 2 + 5);
	assert_memory_equal(buf, "\x05\0hello", 7);
	char *sb = NULL;
	u = ixp_message(buf, 7, MsgUnpack);
	ixp_pstring(&u, &sb);
	assert_true(u.pos == u.end);
	assert_string_equal(sb, "hello");
	free(sb);
	u = ixp_message(buf, 6, MsgUnpack);
	ixp_pstring(&u, &sb);
	assert_true(u.pos > u.end);
	free(sb);

	/* strings: a 16-bit count, then that many strings; unpacked into one
	 * block, strings[0] */
	char *in[3] = { "x", "", "yz" };
	uint16_t n = 3;
	m = ixp_message(buf, sizeof buf, MsgPack);
	ixp_pstrings(&m, &n, in, 3);
	assert_int_equal(m.pos - m.data, 2 + 3 + 2 + 4);
	assert_memory_equal(buf, "\x03\0\x01\0x\0\0\x02\0yz", 11);
	char *out[4] = { NULL };
	uint16_t got = 0;
	u = ixp_message(buf, 11, MsgUnpack);
	ixp_pstrings(&u, &got, out, 4);
	assert_true(u.pos == u.end);
	assert_int_equal(got, 3);
	assert_string_equal(out[0], "x");
	assert_string_equal(out[1], "");
	assert_string_equal(out[2], "yz");
	free(out[0]);
	u = ixp_message(buf, 11, MsgUnpack); /* more than max fails */
	ixp_pstrings(&u, &got, out, 2);
	assert_true(u.pos > u.end);

	/* qid: type[1] version[4] path[8] */
	IxpQid q = { .type = P9_QTAPPEND, .version = 0x01020304, .path = 0x1122334455667788ull };
	m = ixp_message(buf, sizeof buf, MsgPack);
	ixp_pqid(&m, &q);
	assert_int_equal(m.pos - m.data, 13);
	assert_memory_equal(buf, "\x40\x04\x03\x02\x01\x88\x77\x66\x55\x44\x33\x22\x11", 13);
	IxpQid r;
	memset(&r, 0, sizeof r);
	u = ixp_message(buf, 13, MsgUnpack);
	ixp_pqid(&u, &r);
	assert_true(u.pos == u.end);
	assert_int_equal(r.type, q.type);
	assert_int_equal(r.version, q.version);
	assert_true(r.path == q.path);

	/* qids: a 16-bit count, then 13 bytes each */
	IxpQid qs[2] = { q, { .type = P9_QTDIR, .version = 9, .path = 42 } };
	n = 2;
	m = ixp_message(buf, sizeof buf, MsgPack);
	ixp_pqids(&m, &n, qs, 2);
	assert_int_equal(m.pos - m.data, 2 + 2 * 13);
	IxpQid rs[3];
	memset(rs, 0, sizeof rs);
	got = 0;
	u = ixp_message(buf, 28, MsgUnpack);
	ixp_pqids(&u, &got, rs, 3);
	assert_true(u.pos == u.end);
	assert_int_equal(got, 2);
	assert_true(rs[0].path == q.path);
	assert_int_equal(rs[1].type, P9_QTDIR);
	assert_int_equal(rs[1].version, 9);
	assert_true(rs[1].path == 42);
	u = ixp_message(buf, 28, MsgUnpack);
	ixp_pqids(&u, &got, rs, 1);
	assert_true(u.pos > u.end);

	/* fcall: type, tag and body, without the size that fcall2msg adds */
	IxpFcall f, g;
	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TWalk;
	f.hdr.tag = 0x1234;
	f.hdr.fid = 3;
	f.twalk.newfid = 4;
	f.twalk.nwname = 2;
	f.twalk.wname[0] = "usr";
	f.twalk.wname[1] = "glenda";
	m = ixp_message(buf, sizeof buf, MsgPack);
	ixp_pfcall(&m, &f);
	uint len = (uint)(m.pos - m.data);
	assert_int_equal(len, 1 + 2 + 4 + 4 + 2 + 5 + 8);
	char full[512];
	IxpMsg fm = ixp_message(full, sizeof full, MsgPack);
	assert_int_equal(ixp_fcall2msg(&fm, &f), len + 4);
	assert_memory_equal(full + 4, buf, len);
	memset(&g, 0, sizeof g);
	u = ixp_message(buf, len, MsgUnpack);
	ixp_pfcall(&u, &g);
	assert_true(u.pos == u.end);
	assert_int_equal(g.hdr.type, P9_TWalk);
	assert_int_equal(g.hdr.tag, 0x1234);
	assert_int_equal(g.hdr.fid, 3);
	assert_int_equal(g.twalk.newfid, 4);
	assert_int_equal(g.twalk.nwname, 2);
	assert_string_equal(g.twalk.wname[0], "usr");
	assert_string_equal(g.twalk.wname[1], "glenda");
	ixp_freefcall(&g);

	memset(&f, 0, sizeof f);
	f.hdr.type = P9_RWalk;
	f.hdr.tag = 7;
	f.rwalk.nwqid = 2;
	f.rwalk.wqid[0] = qs[0];
	f.rwalk.wqid[1] = qs[1];
	m = ixp_message(buf, sizeof buf, MsgPack);
	ixp_pfcall(&m, &f);
	len = (uint)(m.pos - m.data);
	assert_int_equal(len, 1 + 2 + 2 + 2 * 13);
	memset(&g, 0, sizeof g);
	u = ixp_message(buf, len, MsgUnpack);
	ixp_pfcall(&u, &g);
	assert_true(u.pos == u.end);
	assert_int_equal(g.rwalk.nwqid, 2);
	assert_true(g.rwalk.wqid[0].path == qs[0].path);
	assert_true(g.rwalk.wqid[1].path == 42);
}

/* ---- whole messages over a descriptor ---- */

static void test_sendrecv(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	IxpFcall f, g;
	memset(&f, 0, sizeof f);
	f.hdr.type = P9_TVersion;
	f.hdr.tag = IXP_NOTAG;
	f.version.msize = 4096;
	f.version.version = "9P2000";
	char out[256], in[256];
	IxpMsg m = ixp_message(out, sizeof out, MsgPack);
	uint n = ixp_fcall2msg(&m, &f);
	assert_int_equal(n, 19);
	m.end = m.data + n;
	assert_int_equal(ixp_sendmsg(sv[0], &m), 19);
	IxpMsg r = ixp_message(in, sizeof in, MsgUnpack);
	assert_int_equal(ixp_recvmsg(sv[1], &r), 19);
	assert_true(r.pos == r.data);
	assert_true(r.end == r.data + 19);
	assert_memory_equal(in, out, 19);
	assert_int_equal(ixp_msg2fcall(&r, &g), 19);
	assert_int_equal(g.version.msize, 4096);
	assert_string_equal(g.version.version, "9P2000");
	ixp_freefcall(&g);

	/* larger than the receiving buffer: refused */
	assert_int_equal(ixp_sendmsg(sv[0], &m), 19);
	r = ixp_message(in, 10, MsgUnpack);
	assert_int_equal(ixp_recvmsg(sv[1], &r), 0);
	assert_string_equal(ixp_errbuf(), "message too large");
	/* the peer gone: nothing to read, nothing to write */
	close(sv[0]);
	char rest[32];
	while (read(sv[1], rest, sizeof rest) > 0)
		;
	r = ixp_message(in, sizeof in, MsgUnpack);
	assert_int_equal(ixp_recvmsg(sv[1], &r), 0);
	close(sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(ixp_sendmsg(sv[0], &m), 0);
	close(sv[0]);
}

/* ---- the srvutil helpers, outside a server ---- */

static void data2cstring(const char *data, uint len, const char *want)
{
	Ixp9Req req;
	memset(&req, 0, sizeof req);
	req.ifcall.io.count = len;
	req.ifcall.io.data = ixp_emalloc(len ? len : 1);
	memcpy(req.ifcall.io.data, data, len);
	ixp_srv_data2cstring(&req);
	assert_string_equal(req.ifcall.io.data, want);
	free(req.ifcall.io.data);
}

static int lookups;
static char *lookup_gone;

/* Every name exists but lookup_gone. */
static IxpFileId *fake_lookup(IxpFileId *parent, char *name)
{
	(void)parent;
	lookups++;
	if (lookup_gone && strcmp(name, lookup_gone) == 0)
		return NULL;
	IxpFileId *f = ixp_srv_getfile();
	f->tab.name = ixp_estrdup(name);
	return f;
}

static void test_srvutil(void **state)
{
	(void)state;
	data2cstring("ctl line\n", 9, "ctl line");
	data2cstring("ctl line", 8, "ctl line");
	data2cstring("two\nlines\n", 10, "two\nlines");
	data2cstring("\n", 1, "");
	data2cstring("", 0, "");

	/* a chain /a/b: b -> a -> root */
	IxpFileId *root = ixp_srv_getfile(), *a = ixp_srv_getfile(), *b = ixp_srv_getfile();
	root->tab.name = ixp_estrdup("/");
	a->tab.name = ixp_estrdup("a");
	a->next = root;
	b->tab.name = ixp_estrdup("b");
	b->next = a;
	b->id = 17;
	assert_int_equal(root->nref, 1);
	IxpFileId *c = ixp_srv_clonefiles(b);
	assert_non_null(c);
	assert_ptr_not_equal(c, b);
	assert_int_equal(c->nref, 1);
	assert_int_equal(c->id, 17);
	assert_string_equal(c->tab.name, "b");
	assert_ptr_not_equal(c->tab.name, b->tab.name);
	assert_ptr_equal(c->next, a);
	assert_int_equal(a->nref, 2);
	assert_int_equal(root->nref, 2);

	lookups = 0;
	lookup_gone = NULL;
	assert_true(ixp_srv_verifyfile(c, fake_lookup));
	assert_int_equal(lookups, 2); /* b in a, a in the root */
	lookup_gone = "a";
	assert_false(ixp_srv_verifyfile(c, fake_lookup));
	lookup_gone = "b";
	assert_false(ixp_srv_verifyfile(c, fake_lookup));
	assert_true(ixp_srv_verifyfile(root, fake_lookup)); /* the root is always there */

	/* drop the clone's chain, then the original's */
	for (IxpFileId *p = c, *next; p; p = next) {
		next = p->next;
		ixp_srv_freefile(p);
	}
	assert_int_equal(a->nref, 1);
	assert_int_equal(root->nref, 1);
	for (IxpFileId *p = b, *next; p; p = next) {
		next = p->next;
		ixp_srv_freefile(p);
	}
}

/* ---- no other threading packages ---- */

static void test_other_threads(void **state)
{
	(void)state;
	ixp_werrstr("before");
	assert_int_equal(ixp_taskinit(), -1);
	assert_string_not_equal(ixp_errbuf(), "before");
	ixp_werrstr("before");
	assert_int_equal(ixp_rubyinit(), -1);
	assert_string_not_equal(ixp_errbuf(), "before");
	ixp_werrstr("still pthreads");
	assert_string_equal(ixp_errbuf(), "still pthreads");
}

/* ---- dial strings ---- */

static void test_addresses(void **state)
{
	(void)state;
	assert_int_equal(ixp_dial("nothing"), -1);
	assert_string_equal(ixp_errbuf(), "no address type defined");
	assert_int_equal(ixp_announce("smoke!signal"), -1);
	assert_string_equal(ixp_errbuf(), "unsupported address type");
	assert_int_equal(ixp_dial("tcp!127.0.0.1"), -1);
	assert_string_equal(ixp_errbuf(), "no port provided");
	assert_int_equal(ixp_dial("tcp!127.0.0.1!"), -1);
	assert_string_equal(ixp_errbuf(), "invalid port number");
	assert_int_equal(ixp_dial("tcp!no-such-host.invalid!1"), -1);
	assert_non_null(strstr(ixp_errbuf(), "getaddrinfo"));
	assert_int_equal(ixp_dial("unix!/nonexistent-dir/sock"), -1);
	assert_string_equal(ixp_errbuf(), strerror(ENOENT));

	char a[160];
	snprintf(a, sizeof a, "unix!%s/extra", dir);
	int l = ixp_announce(a);
	assert_true(l >= 0);
	struct stat st;
	snprintf(a, sizeof a, "%s/extra", dir);
	assert_int_equal(stat(a, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(a, sizeof a, "unix!%s/extra", dir);
	int d = ixp_dial(a);
	assert_true(d >= 0);
	close(d);
	close(l);
	/* tcp: announce on any port, dial it */
	l = ixp_announce("tcp!127.0.0.1!0");
	assert_true(l >= 0);
	close(l);
	d = ixp_dial(tcp_addr);
	assert_true(d >= 0);
	close(d);
}

/* ---- errors and utilities ---- */

static void test_errors_utils(void **state)
{
	(void)state;
	ixp_werrstr("code %d", 42);
	assert_string_equal(ixp_errbuf(), "code 42");
	char buf[IXP_ERRMAX] = "mine";
	ixp_errstr(buf, sizeof buf);
	assert_string_equal(buf, "code 42");
	assert_string_equal(ixp_errbuf(), "mine");
	char copy[4];
	ixp_rerrstr(copy, sizeof copy);
	assert_string_equal(copy, "min");
	/* a failed system call since: errno's text */
	assert_int_equal(close(-1), -1);
	assert_string_equal(ixp_errbuf(), strerror(EBADF));

	char *s = ixp_smprint("%s-%d", "a", 7);
	assert_string_equal(s, "a-7");
	free(s);
	char str[] = "//a//bb/c/";
	char *tok[8];
	assert_int_equal(ixp_tokenize(tok, 8, str, '/'), 3);
	assert_string_equal(tok[1], "bb");
	char small[] = "x/y/z";
	assert_int_equal(ixp_tokenize(tok, 2, small, '/'), 2);
	char cat[8] = "ab";
	assert_int_equal(ixp_strlcat(cat, "cdefghij", sizeof cat), 10);
	assert_string_equal(cat, "abcdefg");
	char p1[] = "/a/./b/../c//d/";
	ixp_cleanname(p1);
	assert_string_equal(p1, "/a/c/d");
	char p2[] = "x/..";
	ixp_cleanname(p2);
	assert_string_equal(p2, ".");
	char *z = ixp_emallocz(10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(z[i], 0);
	z = ixp_erealloc(z, 100);
	free(z);
	assert_true(ixp_msec() > 1600000000000ull);
	/* the namespace comes from $NAMESPACE */
	assert_string_equal(ixp_namespace(), dir);
	assert_int_equal(ixp_pthread_init(), 0);
	ixp_werrstr("after pthreads");
	assert_string_equal(ixp_errbuf(), "after pthreads");
}

/* ---- the server loop: timers and hang-ups ---- */

static int fired[4], reads, closes;

static void timer_cb(long id, void *aux)
{
	(void)id;
	fired[(int)(intptr_t)aux]++;
}

static void stop_cb(long id, void *aux)
{
	(void)id;
	((IxpServer *)aux)->running = 0;
}

static void pipe_read(IxpConn *c)
{
	char b;
	assert_int_equal(read(c->fd, &b, 1), 1);
	reads++;
	ixp_hangup(c); /* a read callback may hang itself up */
}

static void pipe_close(IxpConn *c)
{
	assert_true(c->closed);
	closes++;
}

static void test_timers_hangup(void **state)
{
	(void)state;
	IxpServer s;
	memset(&s, 0, sizeof s);
	int p[2];
	assert_int_equal(pipe(p), 0);
	IxpConn *c = ixp_listen(&s, p[0], NULL, pipe_read, pipe_close);
	assert_non_null(c);
	assert_int_equal(write(p[1], "x", 1), 1);
	uint64_t t0 = ixp_msec();
	long a = ixp_settimer(&s, 30, timer_cb, (void *)1);
	long b = ixp_settimer(&s, 10, timer_cb, (void *)2);
	long late_id = ixp_settimer(&s, 60, timer_cb, (void *)3);
	assert_true(a > 0 && b > 0 && a != b);
	assert_int_equal(ixp_unsettimer(&s, late_id), 1);
	assert_int_equal(ixp_unsettimer(&s, late_id), 0);
	ixp_settimer(&s, 80, stop_cb, &s);
	assert_int_equal(ixp_serverloop(&s), 0);
	assert_true(ixp_msec() - t0 >= 80);
	assert_int_equal(fired[1], 1);
	assert_int_equal(fired[2], 1);
	assert_int_equal(fired[3], 0);
	assert_int_equal(ixp_unsettimer(&s, a), 0); /* already fired */
	assert_int_equal(reads, 1);
	assert_int_equal(closes, 1);
	assert_null(s.conn);
	errno = 0; /* hang-up closed the reading end */
	assert_int_equal(write(p[1], "y", 1), -1);
	assert_int_equal(errno, EPIPE);
	/* ixp_server_close hangs up every connection */
	int q[2];
	assert_int_equal(pipe(q), 0);
	ixp_listen(&s, q[0], NULL, pipe_read, pipe_close);
	ixp_server_close(&s);
	assert_int_equal(closes, 2);
	assert_null(s.conn);
	close(p[1]);
	close(q[1]);
}

/* ---- the libixp-style server ---- */

static void trigger(void)
{
	IxpClient *c = ixp_mount(unix_addr);
	assert_non_null(c);
	IxpCFid *f = ixp_open(c, "/ctl", P9_OWRITE);
	assert_non_null(f);
	assert_int_equal(ixp_print(f, "event %s", "hello"), 11);
	assert_int_equal(ixp_close(f), 1);
	ixp_unmount(c);
}

static void client_checks(const char *addr)
{
	IxpClient *c = ixp_mount(addr);
	assert_non_null(c);
	assert_int_equal(c->msize, (1 << 20) + 24); /* beyond libixp's 8 KiB */

	IxpCFid *f = ixp_open(c, "/data", P9_OREAD);
	assert_non_null(f);
	assert_true(f->open);
	assert_int_equal(f->mode, P9_OREAD);
	assert_int_equal(f->iounit, c->msize - 24);
	assert_int_equal(f->qid.type, P9_QTFILE);
	char *buf = malloc(DATA_SIZE + 10);
	long n = ixp_read(f, buf, 100000); /* one Tread of 100000 bytes */
	assert_int_equal(n, 100000);
	for (long i = 0; i < n; i++)
		assert_int_equal((unsigned char)buf[i], pattern_byte((size_t)i));
	assert_int_equal(f->offset, 100000);
	n = ixp_read(f, buf, DATA_SIZE); /* short: the file ends */
	assert_int_equal(n, DATA_SIZE - 100000);
	assert_int_equal((unsigned char)buf[0], pattern_byte(100000));
	assert_int_equal(ixp_read(f, buf, 10), 0);
	assert_int_equal(ixp_pread(f, buf, 3, 7), 3);
	assert_int_equal((unsigned char)buf[2], pattern_byte(9));
	assert_int_equal(f->offset, DATA_SIZE);
	IxpStat *st = ixp_fstat(f);
	assert_non_null(st);
	assert_string_equal(st->name, "data");
	assert_int_equal(st->length, DATA_SIZE);
	ixp_freestat(st);
	free(st);
	assert_int_equal(ixp_close(f), 1);

	st = ixp_stat(c, "/");
	assert_non_null(st);
	assert_true(st->mode & P9_DMDIR);
	assert_true(st->qid.type & P9_QTDIR);
	ixp_freestat(st);
	free(st);

	/* the directory, as 9P2000 stat records */
	f = ixp_open(c, "/", P9_OREAD);
	assert_non_null(f);
	n = ixp_read(f, buf, 65536);
	assert_true(n > 0);
	int found = 0;
	IxpMsg m = ixp_message(buf, (uint)n, MsgUnpack);
	while (m.pos < m.end) {
		IxpStat e;
		ixp_pstat(&m, &e);
		assert_false(m.pos > m.end);
		found +=
			!strcmp(e.name, "data") + !strcmp(e.name, "ctl") + !strcmp(e.name, "event");
		ixp_freestat(&e);
	}
	assert_int_equal(found, 3);
	ixp_close(f);

	/* create, write, read back, remove */
	f = ixp_create(c, "/made", 0644, P9_ORDWR);
	assert_non_null(f);
	assert_int_equal(ixp_print(f, "%s %d", "line", 1), 6);
	assert_int_equal(ixp_write(f, "", 0), 0);
	assert_int_equal(ixp_pwrite(f, "!", 1, 6), 1);
	assert_int_equal(f->offset, 6);
	assert_int_equal(ixp_pread(f, buf, 100, 0), 7);
	assert_memory_equal(buf, "line 1!", 7);
	assert_int_equal(ixp_close(f), 1);
	assert_null(ixp_create(c, "/made", 0644, P9_OWRITE));
	assert_string_equal(ixp_errbuf(), "file already exists");
	assert_int_equal(ixp_remove(c, "/made"), 1);
	assert_null(ixp_open(c, "/made", P9_OREAD));
	assert_string_equal(ixp_errbuf(), "file does not exist");
	assert_int_equal(ixp_remove(c, "/data"), 0);
	assert_string_equal(ixp_errbuf(), "permission denied");
	assert_null(ixp_open(c, "/ctl", P9_OREAD));
	assert_string_equal(ixp_errbuf(), "permission denied");
	assert_null(ixp_open(c, "/", P9_OWRITE));
	assert_string_equal(ixp_errbuf(), "is a directory");
	assert_null(ixp_stat(c, "/no/such"));

	/* a control file: a bad line fails the write */
	f = ixp_open(c, "/ctl", P9_OWRITE);
	assert_non_null(f);
	assert_int_equal(ixp_write(f, "bad\n", 4), -1);
	assert_string_equal(ixp_errbuf(), "i/o error"); /* the program's text is not carried */
	ixp_close(f);

	/* an event file: the read waits, then answers short */
	f = ixp_open(c, "/event", P9_OREAD);
	assert_non_null(f);
	trigger();
	n = ixp_read(f, buf, 4096);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "hello\n", 6);
	ixp_close(f);
	free(buf);
	ixp_unmount(c);
}

static int vprintf_to(IxpCFid *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vprintf_to(IxpCFid *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = ixp_vprint(f, fmt, ap);
	va_end(ap);
	return n;
}

/* ixp_vprint, and the server's ixp_pending_write and ixp_pending_vprint. */
static void test_vprint_pending(void **state)
{
	(void)state;
	IxpClient *c = ixp_mount(unix_addr);
	assert_non_null(c);
	IxpCFid *f = ixp_create(c, "/vp", 0644, P9_ORDWR);
	assert_non_null(f);
	assert_int_equal(vprintf_to(f, "%s=%04d", "n", 42), 6);
	assert_int_equal(f->offset, 6);
	char buf[64];
	assert_int_equal(ixp_pread(f, buf, sizeof buf, 0), 6);
	assert_memory_equal(buf, "n=0042", 6);
	assert_int_equal(ixp_close(f), 1);
	assert_int_equal(ixp_remove(c, "/vp"), 1);

	IxpCFid *ev = ixp_open(c, "/event", P9_OREAD);
	assert_non_null(ev);
	IxpCFid *ctl = ixp_open(c, "/ctl", P9_OWRITE);
	assert_non_null(ctl);
	assert_int_equal(vprintf_to(ctl, "raw %s", "abc"), 7);
	assert_int_equal(ixp_read(ev, buf, sizeof buf), 3); /* no newline added */
	assert_memory_equal(buf, "abc", 3);
	assert_int_equal(ixp_print(ctl, "vevent %s\n", "hi"), 10);
	assert_int_equal(ixp_read(ev, buf, sizeof buf), 6);
	assert_memory_equal(buf, "<hi:2>", 6);
	ixp_close(ctl);
	ixp_close(ev);
	ixp_unmount(c);
}

/* ixp_serve9conn_fd: one end of a socketpair served, the other mounted. */
static void test_serve9conn_fd(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(testsrv_serve_fd(sv[0]), 0);
	IxpClient *c = ixp_mountfd(sv[1]);
	assert_non_null(c);
	IxpStat *st = ixp_stat(c, "/data");
	assert_non_null(st);
	assert_string_equal(st->name, "data");
	assert_int_equal(st->length, DATA_SIZE);
	ixp_freestat(st);
	free(st);
	IxpCFid *f = ixp_open(c, "/data", P9_OREAD);
	assert_non_null(f);
	unsigned char b[4];
	assert_int_equal(ixp_pread(f, b, 4, 1000), 4);
	assert_int_equal(b[3], pattern_byte(1003));
	ixp_close(f);
	ixp_unmount(c);
}

static void test_ixp_client_unix(void **state)
{
	(void)state;
	client_checks(unix_addr);
}

static void test_ixp_client_tcp(void **state)
{
	(void)state;
	client_checks(tcp_addr);
}

static void test_mountfd_nsmount(void **state)
{
	(void)state;
	int fd = ixp_dial(unix_addr);
	assert_true(fd >= 0);
	IxpClient *c = ixp_mountfd(fd);
	assert_non_null(c);
	assert_int_equal(c->fd, fd);
	IxpStat *st = ixp_stat(c, "stats");
	assert_non_null(st);
	ixp_freestat(st);
	free(st);
	ixp_unmount(c);
	c = ixp_nsmount("sock"); /* $NAMESPACE/sock */
	assert_non_null(c);
	ixp_unmount(c);
	assert_null(ixp_nsmount("missing"));
	assert_null(ixp_mount("unix!/nonexistent-dir/sock"));
}

static void test_boxfs_dialects(void **state)
{
	(void)state;
	const char *versions[] = { "9P2000.L", "9P2000.u", "9P2000" };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bx_big_read(unix_addr, versions[i], (256 << 10) + 24, 65536), 0);
		assert_int_equal(bx_big_read(tcp_addr, versions[i], (128 << 10) + 24, 65536), 0);
		char names[512];
		assert_int_equal(bx_list(unix_addr, versions[i], names, sizeof names), 0);
		assert_non_null(strstr(names, "data "));
		assert_non_null(strstr(names, "ctl "));
		assert_non_null(strstr(names, "event "));
		assert_non_null(strstr(names, "stats "));
	}
	assert_int_equal(bx_create_cycle(unix_addr, "9P2000.L", "lnew", "lnew2"), 0);
	assert_int_equal(bx_create_cycle(tcp_addr, "9P2000.u", "unew", "unew2"), 0);
}

/* Reads /stats into buf. */
static void read_stats(char *buf, size_t cap)
{
	IxpClient *c = ixp_mount(unix_addr);
	assert_non_null(c);
	IxpCFid *f = ixp_open(c, "/stats", P9_OREAD);
	assert_non_null(f);
	long n = ixp_read(f, buf, (long)cap - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	ixp_close(f);
	ixp_unmount(c);
}

static void test_event_flush_timer(void **state)
{
	(void)state;
	char before[128], after[128];
	read_stats(before, sizeof before);
	int f0, c0, a0, t0;
	assert_int_equal(sscanf(before, "flush %d clunk %d attach %d timer %d", &f0, &c0, &a0, &t0),
			 4);
	assert_int_equal(bx_event_and_flush(unix_path, trigger), 0);
	read_stats(after, sizeof after);
	int f1, c1, a1, t1;
	assert_int_equal(sscanf(after, "flush %d clunk %d attach %d timer %d", &f1, &c1, &a1, &t1),
			 4);
	assert_int_equal(f1, f0 + 1); /* the program's flush saw the Tflush */
	assert_true(c1 > c0);	      /* every fid came back through clunk */
	assert_int_equal(a1, 1);      /* one attach: the engine's root */
	assert_int_equal(t1, 1);      /* the server's timer fired once */
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/ixp-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(unix_path, sizeof unix_path, "%s/sock", dir);
	snprintf(unix_addr, sizeof unix_addr, "unix!%s", unix_path);
	setenv("NAMESPACE", dir, 1);
	return testsrv_start(unix_addr, tcp_addr);
}

static int teardown(void **state)
{
	(void)state;
	testsrv_stop();
	char p[200];
	snprintf(p, sizeof p, "%s/sock", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/extra", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_codec_parts),
		cmocka_unit_test(test_sendrecv),
		cmocka_unit_test(test_srvutil),
		cmocka_unit_test(test_other_threads),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_errors_utils),
		cmocka_unit_test(test_timers_hangup),
		cmocka_unit_test(test_ixp_client_unix),
		cmocka_unit_test(test_ixp_client_tcp),
		cmocka_unit_test(test_mountfd_nsmount),
		cmocka_unit_test(test_vprint_pending),
		cmocka_unit_test(test_serve9conn_fd),
		cmocka_unit_test(test_boxfs_dialects),
		cmocka_unit_test(test_event_flush_timer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
