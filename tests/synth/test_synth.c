/*
 * test_synth.c — synthetic trees (boxfs/synth.h) through the 9P door: every
 * kind of node in the three tc_dialects, event reads cancelled by Tflush and by
 * hang-up, events posted from four threads while readers read, control
 * errors reaching the writer, permissions, generated directories, and both
 * ways of running the server (its own thread, the application's loop).
 * Clients are raw 9P on socketpairs (boxfs_server_serve_fds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../lib/tc9p.h"

#include <boxfs/9p.h>
#include <boxfs/server.h>
#include <boxfs/synth.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- a raw 9P client on one end of a socketpair ---- */

enum { MSIZE = TC_MSIZE };

static struct boxfs_server *srv;

/* ---- the tree: /value, /ctl, /stream, /sink, /event, /gen/<name>, /secret ---- */

static struct boxfs_synth *tree;
static struct boxfs_synth_node *event;
static atomic_int counter, destroyed;
static char sink[256];
static size_t sinklen;

static int show(struct boxfs_synth_ctx *x, struct boxfs_synth_buf *out)
{
	return boxfs_synth_printf(out, "%d\n", atomic_load((atomic_int *)boxfs_synth_ud(x)));
}

static int cmd_inc(struct boxfs_synth_ctx *x, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return boxfs_synth_error(x, -EINVAL, "inc takes no argument");
	atomic_fetch_add((atomic_int *)boxfs_synth_ud(x), 1);
	return 0;
}

static int cmd_set(struct boxfs_synth_ctx *x, int argc, char **argv)
{
	char *end;
	long v = argc == 2 ? strtol(argv[1], &end, 10) : 0;
	if (argc != 2 || *end)
		return boxfs_synth_error(x, -ERANGE, "set needs a number");
	atomic_store((atomic_int *)boxfs_synth_ud(x), (int)v);
	return 0;
}

static const struct boxfs_synth_cmd cmds[] = { { "inc", cmd_inc },
					       { "set", cmd_set },
					       { NULL, NULL } };

static ssize_t stream_read(struct boxfs_synth_ctx *x, void *buf, size_t count, uint64_t off)
{
	(void)x;
	/* 1000 bytes made as they are read: byte i is 'a' + i % 26 */
	size_t n = off >= 1000 ? 0 : 1000 - off < count ? 1000 - off : count;
	for (size_t i = 0; i < n; i++)
		((char *)buf)[i] = (char)('a' + (off + i) % 26);
	return (ssize_t)n;
}

static int sink_commit(struct boxfs_synth_ctx *x, const void *data, size_t len)
{
	(void)x;
	sinklen = len < sizeof sink ? len : sizeof sink;
	memcpy(sink, data, sinklen);
	return 0;
}

static void count_destroy(void *ud)
{
	(void)ud;
	destroyed++;
}

static const struct boxfs_synth_file value_ops = { .snapshot = show };
static const struct boxfs_synth_file ctl_ops = { .snapshot = show, .cmds = cmds };
static const struct boxfs_synth_file stream_ops = { .read = stream_read };
static const struct boxfs_synth_file sink_ops = { .commit = sink_commit };
static const struct boxfs_synth_file gone_ops = { .snapshot = show, .destroy = count_destroy };

static int name_show(struct boxfs_synth_ctx *x, struct boxfs_synth_buf *out)
{
	return boxfs_synth_printf(out, "%s\n", (const char *)boxfs_synth_ud(x));
}

static const struct boxfs_synth_file name_ops = { .snapshot = name_show, .destroy = free };

static int gen_list(struct boxfs_synth_ctx *x, struct boxfs_synth_names *out)
{
	(void)x;
	int r = 0;
	for (const char *const *n = (const char *const[]){ "a", "b", "c", NULL }; *n && !r; n++)
		r = boxfs_synth_add(out, *n);
	return r;
}

static int gen_lookup(struct boxfs_synth_ctx *x, const char *name, struct boxfs_synth_node **node)
{
	(void)x;
	if (strlen(name) != 1 || name[0] < 'a' || name[0] > 'c')
		return -ENOENT;
	char *ud = strdup(name);
	*node = boxfs_synth_new_file(tree, 0444, &name_ops, ud);
	return *node ? 0 : -ENOMEM;
}

static const struct boxfs_synth_dir gen_ops = { .list = gen_list, .lookup = gen_lookup };

static struct boxfs_synth *make_tree(struct boxfs_synth_node **ev)
{
	struct boxfs_synth *t = boxfs_synth_new(0);
	assert_non_null(t);
	assert_non_null(boxfs_synth_file(t, "/value", 0444, &value_ops, &counter));
	assert_non_null(boxfs_synth_file(t, "/ctl", 0666, &ctl_ops, &counter));
	assert_non_null(boxfs_synth_file(t, "/stream", 0444, &stream_ops, NULL));
	assert_non_null(boxfs_synth_file(t, "/sink", 0222, &sink_ops, NULL));
	assert_non_null(*ev = boxfs_synth_events(t, "/event", 0444, 0));
	assert_non_null(boxfs_synth_mkdir(t, "/dir", 0755));
	assert_non_null(boxfs_synth_gendir(t, "/dir/gen", 0555, &gen_ops, NULL));
	struct boxfs_synth_node *s = boxfs_synth_file(t, "/secret", 0600, &value_ops, &counter);
	assert_non_null(s);
	boxfs_synth_chown(s, 0, 0);
	/* bad paths */
	assert_null(boxfs_synth_mkdir(t, "/dir", 0755));
	assert_int_equal(errno, EEXIST);
	assert_null(boxfs_synth_mkdir(t, "/nope/x", 0755));
	assert_int_equal(errno, ENOENT);
	assert_null(boxfs_synth_mkdir(t, "/value/x", 0755));
	assert_int_equal(errno, ENOTDIR);
	assert_null(boxfs_synth_mkdir(t, "relative", 0755));
	assert_int_equal(errno, EINVAL);
	assert_null(boxfs_synth_mkdir(t, "/dir/../x", 0755));
	assert_int_equal(errno, EINVAL);
	assert_ptr_equal(boxfs_synth_find(t, "/dir/gen"), boxfs_synth_find(t, "/dir//gen/"));
	return t;
}

static int setup(void **state)
{
	(void)state;
	srv = boxfs_server_new(
		&(struct boxfs_server_opts){ .max_msize = MSIZE,
					     .trust_uname = true,
					     .debug = getenv("SYNTH_DEBUG") ? stderr : NULL });
	if (!srv)
		return -1;
	tree = make_tree(&event);
	if (boxfs_server_mount(srv, "/", boxfs_synth_fs(tree)) < 0 || boxfs_server_start(srv) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	boxfs_server_free(srv);
	return 0;
}

/* Walks fid 0 to path (names split at '/') as fid; the reply's type. */
static uint8_t walk_path(struct tc *t, uint32_t fid, const char *path, struct p9_fcall *rx)
{
	struct p9_fcall tx = { .type = P9_Twalk, .tag = 2 };
	tx.twalk = (struct p9_twalk){ .fid = 0, .newfid = fid };
	static char copy[256];
	snprintf(copy, sizeof copy, "%s", path);
	for (char *save = NULL, *w = strtok_r(copy, "/", &save); w; w = strtok_r(NULL, "/", &save))
		tx.twalk.wname[tx.twalk.nwname++] = p9_cstr(w);
	rpc(t, &tx, rx);
	return rx->type;
}

/* Opens path as fid with Linux flags; 0 or the error. */
static int open_as(struct tc *t, uint32_t fid, const char *path, int flags)
{
	struct p9_fcall rx, tx;
	if (walk_path(t, fid, path, &rx) != P9_Rwalk)
		return rerr(t, &rx);
	if (t->d == P9_2000L) {
		tx = (struct p9_fcall){ .type = P9_Tlopen, .tag = 3 };
		tx.tlopen = (struct p9_tlopen){ .fid = fid, .flags = (uint32_t)flags };
	} else {
		tx = (struct p9_fcall){ .type = P9_Topen, .tag = 3 };
		tx.topen =
			(struct p9_topen){ .fid = fid,
					   .mode = (flags & O_ACCMODE) == O_RDONLY   ? P9_OREAD
						   : (flags & O_ACCMODE) == O_WRONLY ? P9_OWRITE
										     : P9_ORDWR };
	}
	rpc(t, &tx, &rx);
	int e = rerr(t, &rx);
	if (e) {
		clunk(t, fid);
	}
	return e;
}

static ssize_t read_at(struct tc *t, uint32_t fid, uint64_t off, char *out, size_t cap)
{
	struct p9_fcall rx;
	tc_send(t, &(struct p9_fcall){
			   .type = P9_Tread,
			   .tag = 6,
			   .tread = { .fid = fid, .offset = off, .count = (uint32_t)cap } });
	tc_recv(t, &rx);
	if (rx.type != P9_Rread)
		return -rerr(t, &rx);
	memcpy(out, rx.rread.data, rx.rread.count);
	return rx.rread.count;
}

/* Reads path whole into out (NUL-terminated); the length or -errno. */
static ssize_t cat(struct tc *t, const char *path, char *out, size_t cap)
{
	int e = open_as(t, 9, path, O_RDONLY);
	if (e)
		return -e;
	size_t len = 0;
	ssize_t n;
	while ((n = read_at(t, 9, len, out + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	clunk(t, 9);
	return n < 0 ? n : (ssize_t)len;
}

/* Writes text to fid at 0; the count, or -errno with the message in msg. */
static ssize_t write_text(struct tc *t, uint32_t fid, const char *text, char *msg, size_t cap)
{
	struct p9_fcall rx, tx = { .type = P9_Twrite, .tag = 7 };
	tx.twrite = (struct p9_twrite){ .fid = fid,
					.count = (uint32_t)strlen(text),
					.data = (const uint8_t *)text };
	rpc(t, &tx, &rx);
	if (msg)
		msg[0] = '\0';
	if (rx.type == P9_Rerror && msg)
		snprintf(msg, cap, "%.*s", (int)rx.rerror.ename.len, rx.rerror.ename.s);
	return rx.type == P9_Rwrite ? (ssize_t)rx.rwrite.count : -rerr(t, &rx);
}

/* Files made by callbacks, in every dialect: snapshot, stream, control,
 * commit; control errors reach the writer. */
static void test_files(void **state)
{
	(void)state;
	char buf[2048], msg[256];
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		atomic_store(&counter, 0);
		assert_int_equal(cat(&t, "value", buf, sizeof buf), 2);
		assert_string_equal(buf, "0\n");
		assert_int_equal(open_as(&t, 1, "ctl", O_RDWR), 0);
		assert_int_equal(write_text(&t, 1, "inc\ninc\n\nset 41\ninc", msg, sizeof msg), 19);
		assert_int_equal(cat(&t, "value", buf, sizeof buf), 3);
		assert_string_equal(buf, "42\n");
		/* a snapshot per open: the value at open time */
		assert_int_equal(open_as(&t, 2, "value", O_RDONLY), 0);
		assert_int_equal(write_text(&t, 1, "set 7", NULL, 0), 5);
		assert_int_equal(read_at(&t, 2, 0, buf, sizeof buf), 3);
		assert_memory_equal(buf, "42\n", 3);
		clunk(&t, 2);
		/* errors: the handler's, and an unknown command (9P2000 carries
		 * the message alone, 9P2000.u both, 9P2000.L the errno) */
		bool plain = tc_dialects[i] == P9_2000;
		ssize_t r = write_text(&t, 1, "set x", msg, sizeof msg);
		assert_int_equal(r, plain ? -EIO : -ERANGE);
		if (tc_dialects[i] != P9_2000L)
			assert_string_equal(msg, "set needs a number");
		r = write_text(&t, 1, "inc\nfrob 1\ninc\n", msg, sizeof msg);
		assert_int_equal(r, plain ? -EIO : -EINVAL);
		if (tc_dialects[i] != P9_2000L)
			assert_string_equal(msg, "unknown command 'frob'");
		assert_int_equal(atomic_load(&counter), 8); /* the first inc ran, not the last */
		clunk(&t, 1);
		/* a stream: each read its offset and count */
		assert_int_equal(cat(&t, "stream", buf, sizeof buf), 1000);
		assert_int_equal(buf[0], 'a');
		assert_int_equal(buf[27], 'b');
		assert_int_equal(buf[999], 'a' + 999 % 26);
		/* commit: everything written, at close */
		assert_int_equal(open_as(&t, 3, "sink", O_WRONLY), 0);
		assert_int_equal(write_text(&t, 3, "hello, ", NULL, 0), 7);
		struct p9_fcall rx, tx = { .type = P9_Twrite, .tag = 7 };
		tx.twrite = (struct p9_twrite){
			.fid = 3, .offset = 7, .count = 5, .data = (const uint8_t *)"world"
		};
		rpc(&t, &tx, &rx);
		expect(&t, &rx, P9_Rwrite);
		sinklen = 0;
		clunk(&t, 3);
		assert_int_equal(sinklen, 12);
		assert_memory_equal(sink, "hello, world", 12);
		/* what a file cannot do is refused at open */
		assert_int_equal(open_as(&t, 4, "value", O_WRONLY), EACCES);
		assert_int_equal(open_as(&t, 4, "sink", O_RDONLY), EACCES);
		assert_int_equal(open_as(&t, 4, "event", O_RDWR), EACCES);
		tc_close(&t);
	}
}

/* Permissions are checked against the attaching user. */
static void test_permissions(void **state)
{
	(void)state;
	for (size_t i = 1; i < 3; i++) { /* tc_dialects with n_uname */
		struct tc t = tc_connect(srv, false);
		version(&t, tc_dialects[i]);
		struct p9_fcall tx = { .type = P9_Tattach, .tag = 1 }, rx;
		tx.tattach = (struct p9_tattach){ .fid = 0,
						  .afid = P9_NOFID,
						  .uname = p9_cstr("nobody"),
						  .aname = p9_cstr(""),
						  .n_uname = 1000 };
		rpc(&t, &tx, &rx);
		expect(&t, &rx, P9_Rattach);
		char buf[64];
		assert_int_equal(cat(&t, "secret", buf, sizeof buf), -EACCES);
		assert_true(cat(&t, "value", buf, sizeof buf) > 0);
		assert_int_equal(open_as(&t, 1, "sink", O_WRONLY), 0); /* 0222 */
		clunk(&t, 1);
		boxfs_synth_chmod(boxfs_synth_find(tree, "/dir"), 0700);
		walk_path(&t, 1, "dir/gen", &rx); /* "dir" is walked to, not into */
		assert_int_equal(rerr(&t, &rx), rx.type == P9_Rwalk ? 0 : EACCES);
		if (rx.type == P9_Rwalk)
			assert_int_equal(rx.rwalk.nwqid, 1); /* partial: no fid made */
		boxfs_synth_chmod(boxfs_synth_find(tree, "/dir"), 0755);
		tc_close(&t);
	}
}

/* A generated directory: listing and lookups come from the application. */
static void test_generated(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		char buf[64];
		assert_int_equal(cat(&t, "dir/gen/b", buf, sizeof buf), 2);
		assert_string_equal(buf, "b\n");
		struct p9_fcall rx;
		assert_int_equal(walk_path(&t, 1, "dir/gen/zz", &rx), P9_Rwalk);
		assert_int_equal(rx.rwalk.nwqid, 2); /* a partial walk: no "zz" */
		if (tc_dialects[i] == P9_2000L) {
			assert_int_equal(open_as(&t, 2, "dir/gen", O_RDONLY | O_DIRECTORY), 0);
			struct p9_fcall tx = { .type = P9_Treaddir, .tag = 8 };
			tx.tread = (struct p9_tread){ .fid = 2, .offset = 0, .count = 4096 };
			rpc(&t, &tx, &rx);
			expect(&t, &rx, P9_Rreaddir);
			/* ".", "..", then a, b, c */
			const uint8_t *p = rx.rread.data, *end = p + rx.rread.count;
			char names[8][8];
			int n = 0;
			while (p < end && n < 8) {
				uint16_t len = (uint16_t)(p[22] | p[23] << 8);
				snprintf(names[n++], sizeof names[0], "%.*s", (int)len, p + 24);
				p += 24 + len;
			}
			assert_int_equal(n, 5);
			assert_string_equal(names[2], "a");
			assert_string_equal(names[4], "c");
			clunk(&t, 2);
		}
		tc_close(&t);
	}
}

/* Removal: open files answer ENOENT, and destroy runs once nothing uses
 * the node. */
static void test_remove(void **state)
{
	(void)state;
	struct tc t = session(srv, P9_2000L, false);
	int before = destroyed;
	struct boxfs_synth_node *n = boxfs_synth_file(tree, "/dir/tmp", 0444, &gone_ops, &counter);
	assert_non_null(n);
	assert_int_equal(open_as(&t, 1, "dir/tmp", O_RDONLY), 0);
	assert_int_equal(boxfs_synth_remove(n), 0);
	char buf[16];
	assert_int_equal(read_at(&t, 1, 0, buf, sizeof buf), -ENOENT);
	assert_int_equal(destroyed, before);
	struct p9_fcall rx;
	assert_int_equal(walk_path(&t, 2, "dir/tmp", &rx), P9_Rwalk);
	assert_int_equal(rx.rwalk.nwqid, 1);
	clunk(&t, 1);
	assert_int_equal(destroyed, before + 1);
	assert_int_equal(boxfs_synth_remove(boxfs_synth_root(tree)), -EBUSY);
	tc_close(&t);
}

static void expect_event(struct tc *t, uint16_t tag, const char *data)
{
	expect_rread(t, tag, data);
}

/* Events: one queue per open; a waiting read is answered by a post,
 * cancelled by Tflush (no Rread) and by hang-up. */
static void test_events(void **state)
{
	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(srv, tc_dialects[i], false);
		assert_int_equal(open_as(&t, 1, "event", O_RDONLY), 0);
		assert_int_equal(open_as(&t, 2, "event", O_RDONLY), 0);
		assert_int_equal(boxfs_synth_post(event, "one\n", 4), 0);
		assert_int_equal(boxfs_synth_post(event, "two\n", 4), 0);
		send_read(&t, 10, 1, 100);
		expect_event(&t, 10, "one\ntwo\n");
		send_read(&t, 11, 2, 6); /* whole events first, a long one split */
		expect_event(&t, 11, "one\n");
		send_read(&t, 11, 2, 2);
		expect_event(&t, 11, "tw");
		send_read(&t, 11, 2, 100);
		expect_event(&t, 11, "o\n");
		/* waiting reads */
		send_read(&t, 12, 1, 100);
		send_read(&t, 13, 2, 100);
		no_reply(&t, 20);
		assert_int_equal(boxfs_synth_post(event, "three\n", 6), 0);
		struct p9_fcall rx;
		int seen = 0;
		for (int k = 0; k < 2; k++) {
			tc_recv(&t, &rx);
			expect(&t, &rx, P9_Rread);
			seen |= rx.tag == 12 ? 1 : rx.tag == 13 ? 2 : 4;
			assert_memory_equal(rx.rread.data, "three\n", 6);
		}
		assert_int_equal(seen, 3);
		/* flushed */
		send_read(&t, 14, 1, 100);
		no_reply(&t, 10);
		send_flush(&t, 15, 14);
		tc_recv(&t, &rx);
		expect(&t, &rx, P9_Rflush);
		assert_int_equal(rx.tag, 15);
		/* the open's queue is intact: the next post is read */
		assert_int_equal(boxfs_synth_post(event, "four\n", 5), 0);
		send_read(&t, 16, 1, 100);
		expect_event(&t, 16, "four\n");
		send_read(&t, 16, 2, 100);
		expect_event(&t, 16, "four\n");
		/* hang-up with reads waiting */
		send_read(&t, 17, 1, 100);
		send_read(&t, 18, 2, 100);
		no_reply(&t, 10);
		tc_close(&t);
	}
	usleep(20000);
	assert_int_equal(boxfs_synth_post(event, "after\n", 6), 0); /* no open left to feed */
}

/* Bounded queues: a reader that does not read loses the oldest events. */
static void test_event_bound(void **state)
{
	(void)state;
	struct boxfs_synth_node *small = boxfs_synth_events(tree, "/small", 0444, 10);
	assert_non_null(small);
	struct tc t = session(srv, P9_2000L, false);
	assert_int_equal(open_as(&t, 1, "small", O_RDONLY), 0);
	for (char c = 'a'; c <= 'f'; c++)
		assert_int_equal(boxfs_synth_post(small, (char[]){ c, c, c, '\n' }, 4), 0);
	send_read(&t, 10, 1, 100);
	expect_event(&t, 10, "eee\nfff\n");
	/* removal ends waiting reads with end of file */
	send_read(&t, 11, 1, 100);
	no_reply(&t, 10);
	assert_int_equal(boxfs_synth_remove(small), 0);
	expect_event(&t, 11, "");
	assert_int_equal(boxfs_synth_post(event, "x", 1), 0);
	tc_close(&t);
}

enum { POSTERS = 4, PER_POSTER = 400, READERS = 3 };

static void *poster(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int k = 0; k < PER_POSTER; k++) {
		char line[32];
		int n = snprintf(line, sizeof line, "%d %d\n", id, k);
		assert_int_equal(boxfs_synth_post(event, line, (size_t)n), 0);
		if (k % 50 == 0)
			usleep(100);
	}
	return NULL;
}

struct reader {
	struct tc t;
	int got[POSTERS];
	bool ok;
};

static void *reader(void *arg)
{
	struct reader *r = arg;
	char carry[512] = "";
	int total = 0;
	r->ok = true;
	while (total < POSTERS * PER_POSTER && r->ok) {
		struct p9_fcall rx;
		send_read(&r->t, 20, 1, 200);
		tc_recv(&r->t, &rx);
		if (rx.type != P9_Rread || rx.rread.count == 0) {
			r->ok = false;
			break;
		}
		char text[1024];
		size_t cl = strlen(carry);
		memcpy(text, carry, cl);
		memcpy(text + cl, rx.rread.data, rx.rread.count);
		text[cl + rx.rread.count] = '\0';
		char *p = text, *nl;
		while ((nl = strchr(p, '\n'))) {
			int id, k;
			if (sscanf(p, "%d %d", &id, &k) != 2 || id < 0 || id >= POSTERS ||
			    k != r->got[id]) {
				r->ok = false; /* lost, repeated or out of order */
				break;
			}
			r->got[id]++;
			total++;
			p = nl + 1;
		}
		size_t rest = strlen(p) < sizeof carry - 1 ? strlen(p) : sizeof carry - 1;
		memcpy(carry, p, rest);
		carry[rest] = '\0';
	}
	return NULL;
}

/* Four threads post while three connections read: each open sees every
 * event exactly once, each poster's in order. */
static void test_concurrent_posts(void **state)
{
	(void)state;
	struct reader rd[READERS];
	pthread_t rt[READERS], pt[POSTERS];
	for (int i = 0; i < READERS; i++) {
		memset(&rd[i], 0, sizeof rd[i]);
		rd[i].t = session(srv, tc_dialects[i], false);
		assert_int_equal(open_as(&rd[i].t, 1, "event", O_RDONLY), 0);
	}
	for (int i = 0; i < READERS; i++)
		pthread_create(&rt[i], NULL, reader, &rd[i]);
	for (int i = 0; i < POSTERS; i++)
		pthread_create(&pt[i], NULL, poster, (void *)(intptr_t)i);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(pt[i], NULL);
	for (int i = 0; i < READERS; i++) {
		pthread_join(rt[i], NULL);
		assert_true(rd[i].ok);
		for (int k = 0; k < POSTERS; k++)
			assert_int_equal(rd[i].got[k], PER_POSTER);
		tc_close(&rd[i].t);
	}
}

static void *post_later(void *arg)
{
	usleep(20000);
	assert_int_equal(boxfs_synth_post(arg, "late\n", 5), 0);
	return NULL;
}

/* The application's loop: no thread at all, events from another thread. */
static void test_own_loop(void **state)
{
	(void)state;
	int tasks = ntasks();
	struct boxfs_server *s = boxfs_server_new(
		&(struct boxfs_server_opts){ .max_msize = MSIZE, .no_threads = true });
	assert_non_null(s);
	struct boxfs_synth_node *ev;
	static atomic_int c2;
	struct boxfs_synth *t2 = boxfs_synth_new(0);
	assert_non_null(t2);
	assert_non_null(ev = boxfs_synth_events(t2, "/event", 0444, 0));
	assert_non_null(boxfs_synth_file(t2, "/ctl", 0666, &ctl_ops, &c2));
	assert_int_equal(boxfs_server_mount(s, "/", boxfs_synth_fs(t2)), 0);
	for (size_t i = 0; i < 3; i++) {
		struct tc t = session(s, tc_dialects[i], true);
		assert_int_equal(open_as(&t, 1, "ctl", O_RDWR), 0);
		assert_int_equal(write_text(&t, 1, "set 5\ninc", NULL, 0), 9);
		assert_int_equal(atomic_load(&c2), 6);
		assert_int_equal(write_text(&t, 1, "nope", NULL, 0),
				 tc_dialects[i] == P9_2000 ? -EIO : -EINVAL);
		assert_int_equal(open_as(&t, 2, "event", O_RDONLY), 0);
		send_read(&t, 10, 2, 100);
		no_reply(&t, 10);
		assert_int_equal(ntasks(), tasks);
		pthread_t th;
		pthread_create(&th, NULL, post_later, ev);
		expect_event(&t, 10, "late\n");
		pthread_join(th, NULL);
		send_read(&t, 11, 2, 100);
		no_reply(&t, 10);
		send_flush(&t, 12, 11);
		struct p9_fcall rx;
		tc_recv(&t, &rx);
		expect(&t, &rx, P9_Rflush);
		tc_close(&t);
	}
	assert_int_equal(ntasks(), tasks);
	boxfs_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_generated),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_event_bound),
		cmocka_unit_test(test_concurrent_posts),
		cmocka_unit_test(test_own_loop),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
