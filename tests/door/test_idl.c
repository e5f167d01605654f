/*
 * test_idl.c — the idl door and Resea's services (docs/protocols/idl.md,
 * docs/services.md) against a server in this process: a RAM root with the
 * registry at /srv, tasks at /task and devices at /dev (a 64-sector disk
 * image as /dev/blk/d0), the idl door and 9P on Unix sockets. Every rpc is
 * called through the client library (boxfs/idl.h); services with a file
 * form are checked through 9P too (boxfs/client.h). Malformed frames are
 * written by hand on a raw socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <boxfs/client.h>
#include <boxfs/idl.h>
#include <boxfs/ramfs.h>
#include <boxfs/server.h>
#include <boxfs/svcfs.h>

#include "base/dial.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SECTORS = 64 };

static struct {
	struct boxfs_server *srv;
	char dir[64];
	char idl[160], p9[160], img[160];
} S;

static int setup(void **state)
{
	(void)state;
	strcpy(S.dir, "/tmp/boxfs-idl-XXXXXX");
	if (!mkdtemp(S.dir))
		return -1;
	snprintf(S.idl, sizeof S.idl, "unix!%s/idl", S.dir);
	snprintf(S.p9, sizeof S.p9, "unix!%s/9p", S.dir);
	snprintf(S.img, sizeof S.img, "%s/disk.img", S.dir);
	int fd = open(S.img, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, SECTORS * 512) < 0)
		return -1;
	close(fd);
	struct boxfs_devfs_blk blk = { "d0", S.img };
	struct boxfs_devfs_opts dop = { .blk = &blk, .nblk = 1 };
	S.srv = boxfs_server_new(NULL);
	if (!S.srv || boxfs_server_mount(S.srv, "/", boxfs_ramfs_new(NULL)) < 0 ||
	    boxfs_server_mount(S.srv, "/srv", boxfs_srvfs_new()) < 0 ||
	    boxfs_server_mount(S.srv, "/task", boxfs_taskfs_new()) < 0 ||
	    boxfs_server_mount(S.srv, "/dev", boxfs_devfs_new(&dop)) < 0 ||
	    boxfs_server_listen(S.srv, "idl", S.idl) < 0 ||
	    boxfs_server_listen(S.srv, "9p", S.p9) < 0 || boxfs_server_start(S.srv) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	boxfs_server_free(S.srv);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf %s", S.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct boxfs_idl *conn(void)
{
	struct boxfs_idl *cl = boxfs_idl_connect(S.idl);
	assert_non_null(cl);
	return cl;
}

static struct boxfs_client *p9(void)
{
	struct boxfs_client *c = boxfs_connect(S.p9, NULL);
	assert_non_null(c);
	return c;
}

/* A whole file through 9P, NUL-terminated, into buf. */
static ssize_t p9_cat(struct boxfs_client *c, const char *path, char *buf, size_t cap)
{
	struct boxfs_file *f = boxfs_open(c, path, O_RDONLY, 0);
	if (!f)
		return -errno;
	ssize_t n = boxfs_read(f, buf, cap - 1);
	boxfs_close(f);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* ---- acceptance 1: the ids of Resea's interfaces ---- */

static void test_ids(void **state)
{
	(void)state;
	enum { OOL = BOXFS_IDL_MSG_OOL, STR = BOXFS_IDL_MSG_STR };
	static const struct {
		const char *name;
		int32_t id, reply;
	} want[] = {
		{ "notifications", 1, 0 },
		{ "page_fault", 5, 6 },
		{ "abi_hook", 7, 8 },
		{ "hv.x64_start", 9, 10 },
		{ "hv.inject_irq", 20, 0 },
		{ "benchmark.nop", 21, 22 },
		{ "benchmark.nop_with_ool", 23 | OOL, 24 | OOL },
		{ "vm.alloc_pages", 25, 26 },
		{ "discovery.serve", 27 | OOL | STR, 28 },
		{ "discovery.lookup", 29 | OOL | STR, 30 },
		{ "task.alloc", 31, 32 },
		{ "task.launch", 35 | OOL | STR, 36 },
		{ "task.exited", 41, 0 },
		{ "ool.verify", 46, 47 },
		{ "fs.open", 48 | OOL | STR, 49 },
		{ "fs.read", 54, 55 | OOL },
		{ "fs.write", 56 | OOL, 57 },
		{ "fs.stat", 58 | OOL | STR, 59 },
		{ "blk.read", 60, 61 | OOL },
		{ "net.tx", 65 | OOL, 0 },
		{ "rtc.read", 66, 67 },
		{ "time.gettimeofday", 68, 69 },
		{ "shm.create", 70, 71 },
		{ "shm.close", 74, 75 },
		{ "shm_test.read", 76, 77 },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const struct boxfs_idl_msg *m = boxfs_idl_msg_by_name(want[i].name);
		assert_non_null(m);
		assert_int_equal(m->id, want[i].id);
		assert_int_equal(m->reply_id, want[i].reply);
	}
	/* the generated macros agree */
	assert_int_equal(FS_OPEN_MSG, 48 | OOL | STR);
	assert_int_equal(FS_OPEN_REPLY_MSG, 49);
	assert_int_equal(BENCHMARK_NOP_MSG, 21);
	assert_int_equal(BENCHMARK_NOP_REPLY_MSG, 22);
	assert_int_equal(DISCOVERY_LOOKUP_REPLY_MSG, 30);
	assert_int_equal(SHM_CLOSE_MSG, 74);
	assert_int_equal(SHM_CLOSE_REPLY_MSG, 75);
	assert_int_equal(IDL_NMSGS, 43);
	assert_int_equal(ABI_HOOK_TYPE_INITIAL + 0, 1); /* enum members become constants */
}

/* ---- benchmark, time, rtc ---- */

static void test_benchmark(void **state)
{
	(void)state;
	struct boxfs_idl *cl = conn();
	struct benchmark_nop_reply_fields r;
	for (int v = -3; v < 300; v += 101) {
		assert_int_equal(
			idl_call_benchmark_nop(cl, &(struct benchmark_nop_fields){ v }, &r), 0);
		assert_int_equal(r.value, v);
	}
	assert_true(boxfs_idl_task(cl) > 0);
	static uint8_t big[65536];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)(i * 7);
	size_t sizes[] = { 0, 1, 1024, sizeof big };
	for (size_t i = 0; i < 4; i++) {
		struct benchmark_nop_with_ool_reply_fields o;
		struct benchmark_nop_with_ool_fields in = { { big, (uint32_t)sizes[i] } };
		assert_int_equal(idl_call_benchmark_nop_with_ool(cl, &in, &o), 0);
		assert_int_equal(o.data.len, sizes[i]);
		assert_memory_equal(o.data.ptr, big, sizes[i] ? sizes[i] : 1 * 0);
	}
	boxfs_idl_close(cl);
}

static void test_time_rtc(void **state)
{
	(void)state;
	struct boxfs_idl *cl = conn();
	struct time_gettimeofday_reply_fields t;
	/* time() reads a coarse clock that may lag the server's gettimeofday
	 * by a tick: allow a second either way */
	time_t before = time(NULL) - 1;
	assert_int_equal(
		idl_call_time_gettimeofday(cl, &(struct time_gettimeofday_fields){ 0 }, &t), 0);
	assert_true(t.unixtime >= (uint64_t)before && t.unixtime <= (uint64_t)time(NULL) + 1);
	struct rtc_read_reply_fields r;
	assert_int_equal(idl_call_rtc_read(cl, &(struct rtc_read_fields){ 0 }, &r), 0);
	struct tm tm;
	time_t now = time(NULL);
	gmtime_r(&now, &tm);
	assert_int_equal(r.year, tm.tm_year + 1900);
	assert_int_equal(r.month, tm.tm_mon + 1);
	assert_true(r.day >= 1 && r.day <= 31 && r.day_of_week <= 6 && r.hour < 24);
	boxfs_idl_close(cl);

	/* the file forms */
	struct boxfs_client *c = p9();
	char buf[128];
	assert_true(p9_cat(c, "/dev/time", buf, sizeof buf) > 0);
	long long secs = atoll(buf);
	assert_true(secs >= (long long)before && secs <= (long long)time(NULL) + 1);
	assert_true(p9_cat(c, "/dev/rtc", buf, sizeof buf) > 0);
	char want[16];
	snprintf(want, sizeof want, "%04d-", tm.tm_year + 1900);
	assert_memory_equal(buf, want, 5);
	boxfs_disconnect(c);
}

/* ---- discovery ---- */

struct looker {
	const char *name;
	int rc;
	int32_t task;
	atomic_bool done;
};

static void *look(void *arg)
{
	struct looker *l = arg;
	struct boxfs_idl *cl = boxfs_idl_connect(S.idl);
	struct discovery_lookup_reply_fields r = { 0 };
	struct discovery_lookup_fields in = { { l->name, (uint32_t)strlen(l->name) } };
	l->rc = cl ? idl_call_discovery_lookup(cl, &in, &r) : -1;
	l->task = r.task;
	atomic_store(&l->done, true);
	boxfs_idl_close(cl);
	return NULL;
}

static void test_discovery(void **state)
{
	(void)state;
	struct boxfs_idl *a = conn();
	/* a lookup of a name not yet served waits ... */
	struct looker l = { .name = "later" };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, look, &l), 0);
	usleep(200 * 1000);
	assert_false(atomic_load(&l.done));
	/* ... until it is served, and answers the server's task */
	struct discovery_serve_reply_fields sr;
	struct discovery_serve_fields sv = { { "later", 5 } };
	struct benchmark_nop_reply_fields nr;
	assert_int_equal(idl_call_benchmark_nop(a, &(struct benchmark_nop_fields){ 1 }, &nr), 0);
	assert_int_equal(idl_call_discovery_serve(a, &sv, &sr), 0);
	pthread_join(th, NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.task, boxfs_idl_task(a));
	/* served names answer at once; a second serve is ALREADY_EXISTS */
	l = (struct looker){ .name = "later" };
	look(&l);
	assert_int_equal(l.rc, 0);
	assert_int_equal(idl_call_discovery_serve(a, &sv, &sr), BOXFS_IDL_ALREADY_EXISTS);
	struct discovery_serve_fields bad = { { "a/b", 3 } };
	assert_int_equal(idl_call_discovery_serve(a, &bad, &sr), BOXFS_IDL_INVALID_ARG);

	/* the file form: /srv/later holds the address; a file made through 9P wakes a lookup */
	struct boxfs_client *c = p9();
	char buf[64];
	assert_true(p9_cat(c, "/srv/later", buf, sizeof buf) > 0);
	char want[32];
	snprintf(want, sizeof want, "task %d\n", (int)boxfs_idl_task(a));
	assert_string_equal(buf, want);
	l = (struct looker){ .name = "by9p" };
	assert_int_equal(pthread_create(&th, NULL, look, &l), 0);
	usleep(100 * 1000);
	assert_false(atomic_load(&l.done));
	struct boxfs_file *f = boxfs_open(c, "/srv/by9p", O_CREAT | O_WRONLY, 0644);
	assert_non_null(f);
	assert_int_equal(boxfs_write(f, "unix!/x", 7), 7);
	boxfs_close(f);
	pthread_join(th, NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.task, 0);
	assert_int_equal(boxfs_unlink(c, "/srv/by9p"), 0);

	/* the server's names go when it does */
	boxfs_idl_close(a);
	usleep(100 * 1000);
	assert_int_equal(p9_cat(c, "/srv/later", buf, sizeof buf), -ENOENT);
	boxfs_disconnect(c);
}

/* A lookup that waits is cancelled by its client's hang-up: nothing is left
 * queued (ASan would see a waiter used after its connection went). */
static void test_lookup_cancel(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++) {
		int fd = bx_dial(S.idl);
		assert_true(fd >= 0);
		uint8_t m[12 + 4 + 5];
		boxfs_idl_hdr_pack(m, 9, DISCOVERY_LOOKUP_MSG, 0);
		memcpy(m + 12, "\x05\0\0\0ghost", 9);
		assert_int_equal(write(fd, m, sizeof m), (ssize_t)sizeof m);
		struct pollfd p = { fd, POLLIN, 0 };
		assert_int_equal(poll(&p, 1, 50), 0); /* waiting */
		close(fd);
	}
	usleep(100 * 1000);
	struct boxfs_idl *a = conn();
	struct discovery_serve_reply_fields sr;
	assert_int_equal(idl_call_discovery_serve(
				 a, &(struct discovery_serve_fields){ { "ghost", 5 } }, &sr),
			 0);
	boxfs_idl_close(a);
}

/* ---- task ---- */

static void test_task(void **state)
{
	(void)state;
	struct boxfs_idl *cl = conn();
	char flag[200];
	snprintf(flag, sizeof flag, "%s/ran", S.dir);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "sleep 0.3; echo ok > %s; exit 3", flag);
	struct task_launch_reply_fields lr;
	assert_int_equal(
		idl_call_task_launch(
			cl, &(struct task_launch_fields){ { cmd, (uint32_t)strlen(cmd) } }, &lr),
		0);
	int32_t t = lr.task;
	assert_true(t > 0);
	struct task_watch_reply_fields wr;
	assert_int_equal(idl_call_task_watch(cl, &(struct task_watch_fields){ t }, &wr), 0);
	/* running: status says so */
	struct boxfs_client *c = p9();
	char path[64], buf[400];
	snprintf(path, sizeof path, "/task/%d/status", (int)t);
	assert_true(p9_cat(c, path, buf, sizeof buf) > 0);
	assert_memory_equal(buf, "running ", 8);
	/* the exit notification */
	const struct boxfs_idl_msg *m;
	struct task_exited_fields ex = { 0 };
	assert_int_equal(boxfs_idl_recv(cl, &m, &ex, sizeof ex, 5000), 0);
	assert_ptr_equal(m, IDL_TASK_EXITED);
	assert_int_equal(ex.task, t);
	assert_int_equal(access(flag, F_OK), 0);
	/* /task/N/wait reads the status once ended */
	snprintf(path, sizeof path, "/task/%d/wait", (int)t);
	assert_true(p9_cat(c, path, buf, sizeof buf) > 0);
	assert_string_equal(buf, "exited 3\n");
	/* watching an ended task tells at once; it stays known until freed */
	assert_int_equal(idl_call_task_watch(cl, &(struct task_watch_fields){ t }, &wr), 0);
	assert_int_equal(boxfs_idl_recv(cl, &m, &ex, sizeof ex, 5000), 0);
	assert_int_equal(ex.task, t);
	struct task_free_reply_fields fr;
	assert_int_equal(idl_call_task_free(cl, &(struct task_free_fields){ t }, &fr), 0);
	assert_int_equal(idl_call_task_free(cl, &(struct task_free_fields){ t }, &fr),
			 BOXFS_IDL_INVALID_TASK);
	assert_int_equal(idl_call_task_watch(cl, &(struct task_watch_fields){ t }, &wr),
			 BOXFS_IDL_INVALID_TASK);

	/* alloc/free, unwatch, a running task cannot be freed, ctl kills */
	struct task_alloc_reply_fields ar;
	assert_int_equal(idl_call_task_alloc(cl, &(struct task_alloc_fields){ 0 }, &ar), 0);
	assert_true(ar.task > t);
	snprintf(path, sizeof path, "/task/%d/status", (int)ar.task);
	assert_true(p9_cat(c, path, buf, sizeof buf) > 0);
	assert_string_equal(buf, "allocated\n");
	assert_int_equal(idl_call_task_free(cl, &(struct task_free_fields){ ar.task }, &fr), 0);
	assert_int_equal(
		idl_call_task_launch(cl, &(struct task_launch_fields){ { "sleep 30", 8 } }, &lr),
		0);
	assert_int_equal(idl_call_task_watch(cl, &(struct task_watch_fields){ lr.task }, &wr), 0);
	struct task_unwatch_reply_fields ur;
	assert_int_equal(idl_call_task_unwatch(cl, &(struct task_unwatch_fields){ lr.task }, &ur),
			 0);
	assert_int_equal(idl_call_task_free(cl, &(struct task_free_fields){ lr.task }, &fr),
			 BOXFS_IDL_IN_USE);
	snprintf(path, sizeof path, "/task/%d/ctl", (int)lr.task);
	struct boxfs_file *f = boxfs_open(c, path, O_WRONLY, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_write(f, "kill 9", 6), 6);
	boxfs_close(f);
	snprintf(path, sizeof path, "/task/%d/wait", (int)lr.task);
	assert_true(p9_cat(c, path, buf, sizeof buf) > 0);
	assert_string_equal(buf, "killed 9\n");
	/* unwatched: no exited message came */
	assert_int_equal(boxfs_idl_recv(cl, &m, &ex, sizeof ex, 100),
			 -(BOXFS_IDL_ERRNO_BASE + ETIMEDOUT));
	assert_int_equal(idl_call_task_free(cl, &(struct task_free_fields){ lr.task }, &fr), 0);
	boxfs_disconnect(c);
	boxfs_idl_close(cl);
}

/* A client's own task: another client watching it hears when it hangs up. */
static void test_task_client_exit(void **state)
{
	(void)state;
	struct boxfs_idl *a = conn(), *b = conn();
	struct benchmark_nop_reply_fields nr;
	assert_int_equal(idl_call_benchmark_nop(a, &(struct benchmark_nop_fields){ 1 }, &nr), 0);
	int32_t ta = boxfs_idl_task(a);
	struct task_watch_reply_fields wr;
	assert_int_equal(idl_call_task_watch(b, &(struct task_watch_fields){ ta }, &wr), 0);
	boxfs_idl_close(a);
	const struct boxfs_idl_msg *m;
	struct task_exited_fields ex;
	assert_int_equal(boxfs_idl_recv(b, &m, &ex, sizeof ex, 5000), 0);
	assert_int_equal(ex.task, ta);
	boxfs_idl_close(b);
}

/* A 9P read of /task/N/wait blocks on a worker and is cancelled by Tflush or
 * hang-up: the client disconnecting leaves the server working. */
static void test_task_wait_cancel(void **state)
{
	(void)state;
	struct boxfs_idl *cl = conn();
	struct task_launch_reply_fields lr;
	assert_int_equal(
		idl_call_task_launch(cl, &(struct task_launch_fields){ { "sleep 30", 8 } }, &lr),
		0);
	char path[64];
	snprintf(path, sizeof path, "/task/%d/wait", (int)lr.task);
	pid_t pid = fork();
	if (pid == 0) {
		struct boxfs_client *c = boxfs_connect(S.p9, NULL);
		char buf[64];
		if (c)
			p9_cat(c, path, buf, sizeof buf); /* blocks until killed */
		_exit(0);
	}
	usleep(200 * 1000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* the server still answers, and the task still runs */
	struct boxfs_client *c = p9();
	char buf[200];
	snprintf(path, sizeof path, "/task/%d/status", (int)lr.task);
	assert_true(p9_cat(c, path, buf, sizeof buf) > 0);
	assert_memory_equal(buf, "running", 7);
	snprintf(path, sizeof path, "/task/%d/ctl", (int)lr.task);
	struct boxfs_file *f = boxfs_open(c, path, O_WRONLY, 0);
	assert_non_null(f);
	assert_int_equal(boxfs_write(f, "kill", 4), 4);
	boxfs_close(f);
	boxfs_disconnect(c);
	boxfs_idl_close(cl);
}

/* ---- fs ---- */

static void test_fs(void **state)
{
	(void)state;
	struct boxfs_idl *cl = conn();
	struct fs_create_reply_fields cr;
	struct fs_create_fields cin = { { "/idlfile", 8 }, false };
	assert_int_equal(idl_call_fs_create(cl, &cin, &cr), 0);
	assert_true(cr.handle > 0);
	assert_int_equal(idl_call_fs_create(cl, &cin, &(struct fs_create_reply_fields){ 0 }),
			 BOXFS_IDL_ALREADY_EXISTS);
	cin.exist_ok = true;
	struct fs_create_reply_fields cr2;
	assert_int_equal(idl_call_fs_create(cl, &cin, &cr2), 0);
	assert_int_not_equal(cr2.handle, cr.handle);
	struct fs_write_reply_fields wr;
	assert_int_equal(
		idl_call_fs_write(cl, &(struct fs_write_fields){ cr.handle, 3, { "hello", 5 } },
				  &wr),
		0);
	struct fs_read_reply_fields rr;
	assert_int_equal(idl_call_fs_read(cl, &(struct fs_read_fields){ cr2.handle, 0, 100 }, &rr),
			 0);
	assert_int_equal(rr.data.len, 8);
	assert_memory_equal(rr.data.ptr, "\0\0\0hello", 8);
	struct fs_stat_reply_fields st;
	assert_int_equal(idl_call_fs_stat(cl, &(struct fs_stat_fields){ { "/idlfile", 8 } }, &st),
			 0);
	assert_int_equal(st.size, 8);
	assert_int_equal(idl_call_fs_stat(cl, &(struct fs_stat_fields){ { "/nope", 5 } }, &st),
			 BOXFS_IDL_NOT_FOUND);
	struct fs_close_reply_fields clr;
	assert_int_equal(idl_call_fs_close(cl, &(struct fs_close_fields){ cr.handle }, &clr), 0);
	assert_int_equal(idl_call_fs_close(cl, &(struct fs_close_fields){ cr.handle }, &clr),
			 BOXFS_IDL_INVALID_ARG);
	assert_int_equal(idl_call_fs_read(cl, &(struct fs_read_fields){ 999, 0, 1 }, &rr),
			 BOXFS_IDL_INVALID_ARG);
	/* the same file through 9P, and one written through 9P read by fs.open */
	struct boxfs_client *c = p9();
	char buf[64];
	assert_int_equal(p9_cat(c, "/idlfile", buf, sizeof buf), 8);
	assert_memory_equal(buf + 3, "hello", 5);
	struct boxfs_file *f = boxfs_open(c, "/from9p", O_CREAT | O_WRONLY, 0644);
	assert_non_null(f);
	assert_int_equal(boxfs_write(f, "ninep", 5), 5);
	boxfs_close(f);
	struct fs_open_reply_fields orr;
	assert_int_equal(idl_call_fs_open(cl, &(struct fs_open_fields){ { "/from9p", 7 } }, &orr),
			 0);
	assert_int_equal(idl_call_fs_read(cl, &(struct fs_read_fields){ orr.handle, 1, 3 }, &rr),
			 0);
	assert_int_equal(rr.data.len, 3);
	assert_memory_equal(rr.data.ptr, "ine", 3);
	/* the whole namespace: /dev/time through fs.open */
	assert_int_equal(idl_call_fs_open(cl, &(struct fs_open_fields){ { "/dev/time", 9 } }, &orr),
			 0);
	assert_int_equal(idl_call_fs_read(cl, &(struct fs_read_fields){ orr.handle, 0, 32 }, &rr),
			 0);
	assert_true(rr.data.len > 5);
	assert_int_equal(idl_call_fs_open(cl, &(struct fs_open_fields){ { "/missing", 8 } }, &orr),
			 BOXFS_IDL_NOT_FOUND);
	assert_int_equal(
		idl_call_fs_read(cl, &(struct fs_read_fields){ cr2.handle, 0, 2u << 20 }, &rr),
		BOXFS_IDL_TOO_LARGE);
	boxfs_disconnect(c);
	boxfs_idl_close(cl); /* handles still open are released */
}

/* ---- blk ---- */

static void test_blk(void **state)
{
	(void)state;
	struct boxfs_idl *cl = conn();
	uint8_t sec[1024];
	for (size_t i = 0; i < sizeof sec; i++)
		sec[i] = (uint8_t)(i + 1);
	struct blk_write_reply_fields wr;
	assert_int_equal(
		idl_call_blk_write(cl, &(struct blk_write_fields){ 2, { sec, 1024 } }, &wr), 0);
	struct blk_read_reply_fields rr;
	assert_int_equal(idl_call_blk_read(cl, &(struct blk_read_fields){ 2, 2 }, &rr), 0);
	assert_int_equal(rr.data.len, 1024);
	assert_memory_equal(rr.data.ptr, sec, 1024);
	assert_int_equal(idl_call_blk_read(cl, &(struct blk_read_fields){ 1, 1 }, &rr), 0);
	assert_int_equal(((const uint8_t *)rr.data.ptr)[0], 0);
	/* whole sectors inside the disk only */
	assert_int_equal(idl_call_blk_write(cl, &(struct blk_write_fields){ 0, { sec, 100 } }, &wr),
			 BOXFS_IDL_INVALID_ARG);
	assert_int_equal(idl_call_blk_write(
				 cl, &(struct blk_write_fields){ SECTORS - 1, { sec, 1024 } }, &wr),
			 BOXFS_IDL_INVALID_ARG);
	assert_int_equal(idl_call_blk_read(cl, &(struct blk_read_fields){ SECTORS, 1 }, &rr),
			 BOXFS_IDL_INVALID_ARG);
	assert_int_equal(idl_call_blk_read(cl, &(struct blk_read_fields){ 0, 1u << 20 }, &rr),
			 BOXFS_IDL_TOO_LARGE);
	/* the file form reads the same bytes, and writes reach blk.read */
	struct boxfs_client *c = p9();
	struct boxfs_file *f = boxfs_open(c, "/dev/blk/d0", O_RDWR, 0);
	assert_non_null(f);
	uint8_t buf[1024];
	assert_int_equal(boxfs_pread(f, buf, 1024, 1024), 1024);
	assert_memory_equal(buf, sec, 1024);
	assert_int_equal(boxfs_pwrite(f, "disk", 4, 5 * 512), 4);
	boxfs_close(f);
	assert_int_equal(idl_call_blk_read(cl, &(struct blk_read_fields){ 5, 1 }, &rr), 0);
	assert_memory_equal(rr.data.ptr, "disk", 4);
	struct stat st;
	assert_int_equal(boxfs_stat(c, "/dev/blk/d0", &st), 0);
	assert_int_equal(st.st_size, SECTORS * 512);
	boxfs_disconnect(c);
	boxfs_idl_close(cl);
}

/* ---- shm ---- */

static void test_shm(void **state)
{
	(void)state;
	struct boxfs_idl *a = conn(), *b = conn();
	struct shm_create_reply_fields cr;
	assert_int_equal(idl_call_shm_create(a, &(struct shm_create_fields){ 8192 }, &cr), 0);
	size_t size = 0;
	int err;
	char *p = boxfs_idl_shm_map(a, cr.shm_id, true, &size, &err);
	assert_non_null(p);
	assert_int_equal(size, 8192);
	strcpy(p + 4096, "shared");
	char *q = boxfs_idl_shm_map(b, cr.shm_id, false, &size, &err);
	assert_non_null(q);
	assert_string_equal(q + 4096, "shared");
	munmap(q, size);
	munmap(p, size);
	struct shm_close_reply_fields clr;
	assert_int_equal(idl_call_shm_close(a, &(struct shm_close_fields){ cr.shm_id }, &clr), 0);
	assert_int_equal(idl_call_shm_close(a, &(struct shm_close_fields){ cr.shm_id }, &clr),
			 BOXFS_IDL_NOT_FOUND);
	assert_null(boxfs_idl_shm_map(a, cr.shm_id, true, &size, &err));
	assert_int_equal(err, BOXFS_IDL_NOT_FOUND);
	assert_int_equal(idl_call_shm_create(a, &(struct shm_create_fields){ 0 }, &cr),
			 BOXFS_IDL_TOO_SMALL);
	assert_int_equal(idl_call_shm_create(a, &(struct shm_create_fields){ 1ull << 40 }, &cr),
			 BOXFS_IDL_TOO_LARGE);
	boxfs_idl_close(a);
	boxfs_idl_close(b);
}

/* ---- bad input ---- */

/* Writes a frame by hand and reads the reply's type; -1000 when the
 * connection closed instead. */
static int32_t raw(int fd, const void *frame, size_t len)
{
	if (write(fd, frame, len) != (ssize_t)len)
		return -1000;
	uint8_t h[12];
	size_t got = 0;
	while (got < sizeof h) {
		ssize_t r = read(fd, h + got, sizeof h - got);
		if (r <= 0)
			return -1000;
		got += (size_t)r;
	}
	uint32_t n =
		(uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
	uint8_t skip[4096];
	for (size_t left = n - 8; left;) {
		ssize_t r = read(fd, skip, left < sizeof skip ? left : sizeof skip);
		if (r <= 0)
			return -1000;
		left -= (size_t)r;
	}
	return (int32_t)((uint32_t)h[4] | (uint32_t)h[5] << 8 | (uint32_t)h[6] << 16 |
			 (uint32_t)h[7] << 24);
}

static void test_bad_messages(void **state)
{
	(void)state;
	int fd = bx_dial(S.idl);
	assert_true(fd >= 0);
	uint8_t m[64];
	/* an unknown type, a reply id, a kernel-only message: NOT_ACCEPTABLE */
	boxfs_idl_hdr_pack(m, 0, 9999, 0);
	assert_int_equal(raw(fd, m, 12), BOXFS_IDL_NOT_ACCEPTABLE);
	boxfs_idl_hdr_pack(m, 4, BENCHMARK_NOP_REPLY_MSG, 0);
	assert_int_equal(raw(fd, m, 16), BOXFS_IDL_NOT_ACCEPTABLE);
	boxfs_idl_hdr_pack(m, 16, VM_ALLOC_PAGES_MSG, 0);
	memset(m + 12, 0, 16);
	assert_int_equal(raw(fd, m, 28), BOXFS_IDL_NOT_ACCEPTABLE);
	/* a body too short, too long, an ool length past the frame: INVALID_ARG */
	boxfs_idl_hdr_pack(m, 3, BENCHMARK_NOP_MSG, 0);
	assert_int_equal(raw(fd, m, 15), BOXFS_IDL_INVALID_ARG);
	boxfs_idl_hdr_pack(m, 5, BENCHMARK_NOP_MSG, 0);
	assert_int_equal(raw(fd, m, 17), BOXFS_IDL_INVALID_ARG);
	boxfs_idl_hdr_pack(m, 6, DISCOVERY_LOOKUP_MSG, 0);
	memcpy(m + 12, "\x09\0\0\0ab", 6);
	assert_int_equal(raw(fd, m, 18), BOXFS_IDL_INVALID_ARG);
	/* a str holding a NUL */
	boxfs_idl_hdr_pack(m, 7, DISCOVERY_SERVE_MSG, 0);
	memcpy(m + 12, "\x03\0\0\0a\0b", 7);
	assert_int_equal(raw(fd, m, 19), BOXFS_IDL_INVALID_ARG);
	/* still usable */
	boxfs_idl_hdr_pack(m, 4, BENCHMARK_NOP_MSG, 0);
	memcpy(m + 12, "\x2a\0\0\0", 4);
	assert_int_equal(raw(fd, m, 16), BENCHMARK_NOP_REPLY_MSG);
	/* a frame shorter than its header closes the connection */
	memcpy(m, "\x04\0\0\0\x15\0\0\0", 8);
	assert_int_equal(raw(fd, m, 8), -1000);
	close(fd);
	/* so does one longer than any message */
	fd = bx_dial(S.idl);
	memcpy(m, "\xff\xff\xff\x7f", 4);
	assert_int_equal(raw(fd, m, 4), -1000);
	close(fd);
	/* and a second request before the first is answered (a waiting lookup) */
	fd = bx_dial(S.idl);
	uint8_t two[21 + 16];
	boxfs_idl_hdr_pack(two, 9, DISCOVERY_LOOKUP_MSG, 0);
	memcpy(two + 12, "\x05\0\0\0nobod", 9);
	boxfs_idl_hdr_pack(two + 21, 4, BENCHMARK_NOP_MSG, 0);
	memset(two + 33, 0, 4);
	assert_int_equal(raw(fd, two, sizeof two), -1000);
	close(fd);
}

/* launch is refused to clients of another user (run as root: setuid child). */
static void test_launch_permission(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char sock[200];
	snprintf(sock, sizeof sock, "%s/idl", S.dir);
	assert_int_equal(chmod(S.dir, 0755), 0);
	assert_int_equal(chmod(sock, 0777), 0);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		struct boxfs_idl *cl = boxfs_idl_connect(S.idl);
		struct task_launch_reply_fields lr;
		int r = cl ? idl_call_task_launch(cl, &(struct task_launch_fields){ { "true", 4 } },
						  &lr)
			   : -1;
		_exit(r == BOXFS_IDL_NOT_PERMITTED ? 0 : 1);
	}
	int ws;
	waitpid(pid, &ws, 0);
	chmod(S.dir, 0700);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_benchmark),
		cmocka_unit_test(test_time_rtc),
		cmocka_unit_test(test_discovery),
		cmocka_unit_test(test_lookup_cancel),
		cmocka_unit_test(test_task),
		cmocka_unit_test(test_task_client_exit),
		cmocka_unit_test(test_task_wait_cancel),
		cmocka_unit_test(test_fs),
		cmocka_unit_test(test_blk),
		cmocka_unit_test(test_shm),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_launch_permission),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
