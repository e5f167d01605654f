/*
 * test_smdish_codec.c — the smdish codec (boxfs/smdish.h) against byte
 * vectors written from the protocol's description (docs/protocols/smdish.md:
 * big-endian `u32 code, u32 body_size`, then the body), both directions, and
 * its refusals: bodies of the wrong length, names that overrun, unknown ops,
 * failures that carry a body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/smdish.h>

#include <errno.h>
#include <string.h>

#define B(s) ((struct smd_bytes){ .p = (const uint8_t *)(s), .len = sizeof(s) - 1 })

struct req_vec {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	struct smd_req r;
};

static const uint8_t v_open[] = { 0,   0,  0, 0, /* op open */ 0,
				  0,   0,  7, /* body */
				  0,   0,  0, 3, 'f',
				  'o', 'o' };
static const uint8_t v_close[] = { 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 5 };
static const uint8_t v_lock[] = { 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 1, 0 };
static const uint8_t v_unlock[] = { 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 2 };
static const uint8_t v_unlock_data[] = { 0,
					 0,
					 0,
					 3,
					 0,
					 0,
					 0,
					 10,
					 /* fd */ 0,
					 0,
					 0,
					 2,
					 /* data_size */ 0,
					 0,
					 0,
					 2,
					 0xab,
					 0xcd };
static const uint8_t v_mmap[] = { 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0x10, 0 };
static const uint8_t v_munmap[] = { 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0, 9 };
static const uint8_t v_new_fdtable[] = { 0, 0, 0, 6, 0, 0, 0, 0 };
static const uint8_t v_fork[] = { 0, 0, 0, 7, 0, 0, 0, 0 };
static const uint8_t v_child_attach[] = { 0, 0, 0, 8, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
/* the extensions */
static const uint8_t v_xlock[] = { 0, 0, 0, 16, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 3 };
static const uint8_t v_mmap_shared[] = { 0, 0, 0, 17, 0, 0, 0, 8, 0, 0, 0, 2, 0, 1, 0, 0 };
static const uint8_t v_list[] = { 0, 0, 0, 18, 0, 0, 0, 0 };

#define REQ(n, v, ...)                                                                             \
	{                                                                                          \
		.name = (n), .bytes = (v), .len = sizeof(v), .r = { __VA_ARGS__ }                  \
	}

static const struct req_vec reqs[] = {
	REQ("open", v_open, .op = SMD_OPEN, .name = B("foo")),
	REQ("close", v_close, .op = SMD_CLOSE, .fd = 5),
	REQ("lock", v_lock, .op = SMD_LOCK, .fd = 256),
	REQ("unlock", v_unlock, .op = SMD_UNLOCK, .unlock = { .fd = 2 }),
	REQ("unlock with data", v_unlock_data, .op = SMD_UNLOCK,
	    .unlock = { .fd = 2, .has_data = true, .data = B("\xab\xcd") }),
	REQ("mmap", v_mmap, .op = SMD_MMAP, .mmap = { .fd = 1, .size = 4096 }),
	REQ("munmap", v_munmap, .op = SMD_MUNMAP, .fd = 9),
	REQ("new_fdtable", v_new_fdtable, .op = SMD_NEW_FDTABLE),
	REQ("fork", v_fork, .op = SMD_FORK),
	REQ("child_attach", v_child_attach, .op = SMD_CHILD_ATTACH, .ident = 0x0102030405060708ull),
	REQ("xlock", v_xlock, .op = SMD_XLOCK,
	    .xlock = { .fd = 7, .flags = SMD_XLOCK_WAIT | SMD_XLOCK_NODATA }),
	REQ("mmap_shared", v_mmap_shared, .op = SMD_MMAP_SHARED,
	    .mmap = { .fd = 2, .size = 65536 }),
	REQ("list", v_list, .op = SMD_LIST),
};

static void same_bytes(struct smd_bytes a, struct smd_bytes b)
{
	assert_int_equal(a.len, b.len);
	if (a.len)
		assert_memory_equal(a.p, b.p, a.len);
}

static void test_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		const struct req_vec *v = &reqs[i];
		struct smd_hdr h;
		smd_hdr_unpack(&h, v->bytes);
		assert_int_equal(h.code, v->r.op);
		assert_int_equal(h.body_size, v->len - SMD_HDRSZ);
		struct smd_req r;
		assert_int_equal(smd_req_unpack(&r, h.code, v->bytes + SMD_HDRSZ, h.body_size), 0);
		assert_int_equal(r.op, v->r.op);
		switch (r.op) {
		case SMD_OPEN:
			same_bytes(r.name, v->r.name);
			break;
		case SMD_UNLOCK:
			assert_int_equal(r.unlock.fd, v->r.unlock.fd);
			assert_int_equal(r.unlock.has_data, v->r.unlock.has_data);
			same_bytes(r.unlock.data, v->r.unlock.data);
			break;
		case SMD_MMAP:
		case SMD_MMAP_SHARED:
			assert_int_equal(r.mmap.fd, v->r.mmap.fd);
			assert_int_equal(r.mmap.size, v->r.mmap.size);
			break;
		case SMD_CHILD_ATTACH:
			assert_true(r.ident == v->r.ident);
			break;
		case SMD_XLOCK:
			assert_int_equal(r.xlock.fd, v->r.xlock.fd);
			assert_int_equal(r.xlock.flags, v->r.xlock.flags);
			break;
		case SMD_NEW_FDTABLE:
		case SMD_FORK:
		case SMD_LIST:
			break;
		default:
			assert_int_equal(r.fd, v->r.fd);
		}
		uint8_t out[64];
		memset(out, 0xee, sizeof out);
		assert_int_equal(smd_req_pack(out, sizeof out, &v->r), (ssize_t)v->len);
		assert_memory_equal(out, v->bytes, v->len);
		assert_int_equal(out[v->len], 0xee);
		assert_int_equal(smd_req_pack(out, v->len - 1, &v->r), -EMSGSIZE);
		assert_non_null(smd_op_name(v->r.op));
	}
}

struct rep_vec {
	uint32_t op;
	const uint8_t *bytes;
	size_t len;
	struct smd_rep rep;
};

static const uint8_t r_open[] = { 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3 };
static const uint8_t r_fail[] = { 0, 0, 0, 11, 0, 0, 0, 0 }; /* EAGAIN */
static const uint8_t r_lock_pure[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t r_lock_seg[] = { 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 3, 'a', 'b', 'c' };
static const uint8_t r_mmap[] = { 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0 };
static const uint8_t r_fork[] = { 0, 0, 0, 0, 0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1 };
static const uint8_t r_close[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
/* clang-format off */
static const uint8_t r_list[] = {
	0, 0, 0, 0, 0, 0, 0, 25,			/* status 0, 25 bytes */
	0, 0, 0, 1, 'a', 0, 0, 0, 16, 0, 0, 0, 1,	/* "a": 16 bytes, locked */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,		/* "": a pure lock, free */
};
/* clang-format on */

#define REP(o, v, ...)                                                                             \
	{                                                                                          \
		.op = (o), .bytes = (v), .len = sizeof(v), .rep = { __VA_ARGS__ }                  \
	}

static const struct rep_vec reps[] = {
	REP(SMD_OPEN, r_open, .fd = 3),
	REP(SMD_LOCK, r_fail, .status = 11),
	REP(SMD_LOCK, r_lock_pure, .status = 0),
	REP(SMD_LOCK, r_lock_seg, .has_data = true, .data = B("abc")),
	REP(SMD_MMAP, r_mmap, .fd = 0),
	REP(SMD_FORK, r_fork, .ident = 0xdeadbeef00000001ull),
	REP(SMD_CLOSE, r_close, .status = 0),
	REP(SMD_NEW_FDTABLE, r_close, .status = 0),
	REP(SMD_XLOCK, r_lock_seg, .has_data = true, .data = B("abc")),
	REP(SMD_XLOCK, r_lock_pure, .status = 0),
	REP(SMD_MMAP_SHARED, r_open, .fd = 3),
	REP(SMD_LIST, r_list, .has_data = true,
	    .data = { .p = r_list + SMD_HDRSZ, .len = sizeof r_list - SMD_HDRSZ }),
};

static void test_replies(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof reps / sizeof reps[0]; i++) {
		const struct rep_vec *v = &reps[i];
		struct smd_hdr h;
		smd_hdr_unpack(&h, v->bytes);
		struct smd_rep rep;
		assert_int_equal(
			smd_rep_unpack(&rep, v->op, h.code, v->bytes + SMD_HDRSZ, h.body_size), 0);
		assert_int_equal(rep.status, v->rep.status);
		assert_int_equal(rep.fd, v->rep.fd);
		assert_int_equal(rep.has_data, v->rep.has_data);
		same_bytes(rep.data, v->rep.data);
		assert_true(rep.ident == v->rep.ident);
		uint8_t out[64];
		assert_int_equal(smd_rep_pack(out, sizeof out, v->op, &v->rep), (ssize_t)v->len);
		assert_memory_equal(out, v->bytes, v->len);
	}
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct smd_req r;
	static const uint8_t name_overrun[] = { 0, 0, 0, 9, 'a', 'b' };
	assert_int_equal(smd_req_unpack(&r, SMD_OPEN, name_overrun, sizeof name_overrun), -EPROTO);
	static const uint8_t huge_name[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	assert_int_equal(smd_req_unpack(&r, SMD_OPEN, huge_name, sizeof huge_name), -EPROTO);
	static const uint8_t fd_short[] = { 0, 0, 1 };
	assert_int_equal(smd_req_unpack(&r, SMD_CLOSE, fd_short, sizeof fd_short), -EPROTO);
	static const uint8_t fd_long[] = { 0, 0, 0, 1, 0 };
	assert_int_equal(smd_req_unpack(&r, SMD_LOCK, fd_long, sizeof fd_long), -EPROTO);
	static const uint8_t one[] = { 0 };
	assert_int_equal(smd_req_unpack(&r, SMD_NEW_FDTABLE, one, 1), -EPROTO);
	assert_int_equal(smd_req_unpack(&r, SMD_FORK, one, 1), -EPROTO);
	static const uint8_t unlock_short_data[] = { 0, 0, 0, 1, 0, 0, 0, 5, 1, 2 };
	assert_int_equal(
		smd_req_unpack(&r, SMD_UNLOCK, unlock_short_data, sizeof unlock_short_data),
		-EPROTO);
	static const uint8_t unlock_stub[] = { 0, 0, 0, 1, 0, 0 };
	assert_int_equal(smd_req_unpack(&r, SMD_UNLOCK, unlock_stub, sizeof unlock_stub), -EPROTO);
	static const uint8_t mmap_short[] = { 0, 0, 0, 1, 0, 0, 1 };
	assert_int_equal(smd_req_unpack(&r, SMD_MMAP, mmap_short, sizeof mmap_short), -EPROTO);
	static const uint8_t attach_short[] = { 1, 2, 3, 4, 5, 6, 7 };
	assert_int_equal(smd_req_unpack(&r, SMD_CHILD_ATTACH, attach_short, sizeof attach_short),
			 -EPROTO);
	assert_int_equal(smd_req_unpack(&r, 9, NULL, 0), -ENOSYS);
	assert_int_equal(smd_req_unpack(&r, 15, NULL, 0), -ENOSYS);
	assert_int_equal(smd_req_unpack(&r, 19, NULL, 0), -ENOSYS);
	assert_int_equal(smd_req_unpack(&r, SMD_LIST, one, 1), -EPROTO);
	static const uint8_t xlock_short[] = { 0, 0, 0, 1, 0, 0, 0 };
	assert_int_equal(smd_req_unpack(&r, SMD_XLOCK, xlock_short, sizeof xlock_short), -EPROTO);
	assert_int_equal(smd_req_unpack(&r, 0xffffffff, NULL, 0), -ENOSYS);
	assert_null(smd_op_name(9));
	struct smd_req unknown = { .op = 42 };
	uint8_t out[16];
	assert_int_equal(smd_req_pack(out, sizeof out, &unknown), -EINVAL);
}

static void test_bad_replies(void **state)
{
	(void)state;
	struct smd_rep rep;
	static const uint8_t body[] = { 0, 0, 0, 1 };
	assert_int_equal(smd_rep_unpack(&rep, SMD_OPEN, 2, body, sizeof body), -EPROTO);
	assert_int_equal(smd_rep_unpack(&rep, SMD_OPEN, 0, body, 3), -EPROTO);
	assert_int_equal(smd_rep_unpack(&rep, SMD_CLOSE, 0, body, sizeof body), -EPROTO);
	static const uint8_t seg_overrun[] = { 0, 0, 0, 4, 'a' };
	assert_int_equal(smd_rep_unpack(&rep, SMD_LOCK, 0, seg_overrun, sizeof seg_overrun),
			 -EPROTO);
	assert_int_equal(smd_rep_unpack(&rep, SMD_FORK, 0, body, sizeof body), -EPROTO);
}

/* List entries: what smd_list_put writes, smd_list_next reads back. */
static void test_list_entries(void **state)
{
	(void)state;
	struct smd_bytes list = { .p = r_list + SMD_HDRSZ, .len = sizeof r_list - SMD_HDRSZ };
	size_t pos = 0;
	struct smd_list_ent e;
	assert_int_equal(smd_list_next(list, &pos, &e), 1);
	same_bytes(e.name, B("a"));
	assert_int_equal(e.seg_size, 16);
	assert_int_equal(e.flags, SMD_LIST_LOCKED);
	assert_int_equal(smd_list_next(list, &pos, &e), 1);
	assert_int_equal(e.name.len, 0);
	assert_int_equal(e.seg_size, 0);
	assert_int_equal(e.flags, 0);
	assert_int_equal(smd_list_next(list, &pos, &e), 0);
	assert_int_equal(pos, list.len);

	uint8_t out[sizeof r_list];
	size_t len = 0;
	struct smd_list_ent a = { .name = B("a"), .seg_size = 16, .flags = SMD_LIST_LOCKED };
	struct smd_list_ent empty = { 0 };
	assert_int_equal(smd_list_put(out, list.len, &len, &a), 0);
	assert_int_equal(smd_list_put(out, list.len, &len, &empty), 0);
	assert_int_equal(len, list.len);
	assert_memory_equal(out, list.p, list.len);
	assert_int_equal(smd_list_put(out, list.len, &len, &empty), -EMSGSIZE);

	/* a truncated entry */
	struct smd_bytes cut = { .p = list.p, .len = 12 };
	pos = 0;
	assert_int_equal(smd_list_next(cut, &pos, &e), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requests),     cmocka_unit_test(test_replies),
		cmocka_unit_test(test_bad_requests), cmocka_unit_test(test_bad_replies),
		cmocka_unit_test(test_list_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
