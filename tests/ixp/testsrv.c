/*
 * testsrv.c — the tests' libixp-style server (see testsrv.h): attach,
 * walk, open, read, write, create, remove, stat, wstat, clunk, flush and
 * freefid, on the srvutil helpers as wmii uses them.
 */
#include <ixp.h>

typedef union IxpFileIdU IxpFileIdU;
union IxpFileIdU {
	struct IxpPendingLink *pending;
	void *ref;
};

#include <ixp_srvutil.h>

#include "testsrv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { K_ROOT, K_DATA, K_CTL, K_EVENT, K_STATS, K_USER };
enum { NFILES = 64 };

struct tfile {
	char *name;
	char *buf;
	uint len;
	int kind;
};

static struct tfile files[NFILES];
static IxpServer server;
static IxpPending events;
static pthread_t thread;
static int stop_pipe[2] = { -1, -1 };
static int hand_pipe[2] = { -1, -1 };
static int nflush, nclunk, nattach, ntimer;

#define QID(t, i) (((uint64_t)((t)&0xff) << 32) | ((i)&0xffffffffu))

static IxpFileId *file_of(int i)
{
	IxpFileId *f = ixp_srv_getfile();
	f->id = (uint)i;
	f->index = (uint)i;
	f->tab.name = ixp_estrdup(i ? files[i].name : "/");
	f->tab.type = (uint)(i ? files[i].kind : K_ROOT);
	f->tab.qtype = i ? P9_QTFILE : P9_QTDIR;
	f->tab.perm = i ? 0644 : (P9_DMDIR | 0755);
	if (files[i].kind == K_CTL)
		f->tab.perm = 0200;
	f->p.ref = &files[i];
	return f;
}

static IxpFileId *lookup(IxpFileId *parent, char *name)
{
	if (!parent || parent->tab.type != K_ROOT)
		return NULL;
	if (!name) { /* ".", then every file */
		IxpFileId *head = file_of(0), **tail = &head->next;
		for (int i = 1; i < NFILES; i++) {
			if (!files[i].name)
				continue;
			*tail = file_of(i);
			tail = &(*tail)->next;
		}
		return head;
	}
	for (int i = 1; i < NFILES; i++)
		if (files[i].name && strcmp(files[i].name, name) == 0)
			return file_of(i);
	return NULL;
}

static void dostat(IxpStat *s, IxpFileId *f)
{
	struct tfile *t = f->p.ref;
	memset(s, 0, sizeof *s);
	s->qid.type = f->tab.qtype;
	s->qid.path = QID(f->tab.type, f->id);
	s->mode = f->tab.perm;
	s->atime = s->mtime = 1000000000;
	s->length = f->tab.type == K_ROOT ? 0 : t->len;
	s->name = f->tab.name;
	s->uid = s->gid = s->muid = "root";
}

static void fs_attach(Ixp9Req *r)
{
	nattach++;
	r->fid->qid.type = P9_QTDIR;
	r->fid->qid.path = QID(K_ROOT, 0);
	r->fid->aux = file_of(0);
	r->ofcall.rattach.qid = r->fid->qid;
	ixp_respond(r, NULL);
}

static void fs_walk(Ixp9Req *r)
{
	ixp_srv_walkandclone(r, lookup);
}

static void fs_open(Ixp9Req *r)
{
	IxpFileId *f = r->fid->aux;
	struct tfile *t = f->p.ref;
	if (f->tab.type == K_EVENT)
		ixp_pending_pushfid(&events, r->fid);
	if (f->tab.type == K_CTL && (r->ifcall.topen.mode & 3) != P9_OWRITE) {
		ixp_respond(r, "permission denied");
		return;
	}
	if ((f->tab.type == K_DATA || f->tab.type == K_USER) && (r->ifcall.topen.mode & P9_OTRUNC))
		t->len = 0;
	ixp_respond(r, NULL);
}

static void fs_read(Ixp9Req *r)
{
	IxpFileId *f = r->fid->aux;
	struct tfile *t = f->p.ref;
	char buf[128];
	switch (f->tab.type) {
	case K_ROOT:
		ixp_srv_readdir(r, lookup, dostat);
		return;
	case K_EVENT:
		ixp_pending_respond(r);
		return;
	case K_STATS:
		snprintf(buf, sizeof buf, "flush %d clunk %d attach %d timer %d\n", nflush, nclunk,
			 nattach, ntimer);
		ixp_srv_readbuf(r, buf, (uint)strlen(buf));
		break;
	default:
		ixp_srv_readbuf(r, t->buf, t->len);
		break;
	}
	ixp_respond(r, NULL);
}

/* Queues printf-formatted text on /event through ixp_pending_vprint. */
static int event_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int event_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = ixp_pending_vprint(&events, fmt, ap);
	va_end(ap);
	return n;
}

static char *ctl_line(void *p, IxpMsg *m)
{
	(void)p;
	if (strncmp(m->pos, "event ", 6) == 0) {
		ixp_pending_print(&events, "%s\n", m->pos + 6);
		return NULL;
	}
	if (strncmp(m->pos, "raw ", 4) == 0) { /* the bytes as they are, no newline */
		ixp_pending_write(&events, m->pos + 4, (long)strlen(m->pos + 4));
		return NULL;
	}
	if (strncmp(m->pos, "vevent ", 7) == 0) {
		const char *t = m->pos + 7;
		char want[128];
		int len = snprintf(want, sizeof want, "<%s:%zu>", t, strlen(t));
		return event_printf("<%s:%zu>", t, strlen(t)) == len ? NULL : "bad count";
	}
	return "bad command";
}

static void fs_write(Ixp9Req *r)
{
	IxpFileId *f = r->fid->aux;
	struct tfile *t = f->p.ref;
	switch (f->tab.type) {
	case K_CTL: {
		uint32_t n = r->ifcall.io.count;
		char *err = ixp_srv_writectl(r, ctl_line);
		r->ofcall.io.count = n;
		ixp_respond(r, err);
		return;
	}
	case K_DATA:
	case K_USER:
		ixp_srv_writebuf(r, &t->buf, &t->len, 0);
		ixp_respond(r, NULL);
		return;
	default:
		ixp_respond(r, "permission denied");
	}
}

static void fs_create(Ixp9Req *r)
{
	IxpFileId *dir = r->fid->aux;
	if (dir->tab.type != K_ROOT || (r->ifcall.tcreate.perm & P9_DMDIR)) {
		ixp_respond(r, "permission denied");
		return;
	}
	for (int i = 1; i < NFILES; i++)
		if (files[i].name && strcmp(files[i].name, r->ifcall.tcreate.name) == 0) {
			ixp_respond(r, "file exists");
			return;
		}
	for (int i = 1; i < NFILES; i++) {
		if (files[i].name)
			continue;
		files[i] = (struct tfile){ ixp_estrdup(r->ifcall.tcreate.name), NULL, 0, K_USER };
		IxpFileId *f = file_of(i);
		f->next = dir; /* the fid now stands for the new file */
		r->fid->aux = f;
		r->ofcall.rcreate.qid.type = P9_QTFILE;
		r->ofcall.rcreate.qid.path = QID(K_USER, i);
		ixp_respond(r, NULL);
		return;
	}
	ixp_respond(r, "no space left on device");
}

static void fs_remove(Ixp9Req *r)
{
	IxpFileId *f = r->fid->aux;
	struct tfile *t = f->p.ref;
	if (f->tab.type != K_USER) {
		ixp_respond(r, "permission denied");
		return;
	}
	free(t->name);
	free(t->buf);
	memset(t, 0, sizeof *t);
	ixp_respond(r, NULL);
}

static void fs_stat(Ixp9Req *r)
{
	IxpStat s;
	dostat(&s, r->fid->aux);
	uint16_t n = ixp_sizeof_stat(&s);
	char *buf = ixp_emallocz(n);
	IxpMsg m = ixp_message(buf, n, MsgPack);
	ixp_pstat(&m, &s);
	r->ofcall.rstat.nstat = n;
	r->ofcall.rstat.stat = (uint8_t *)buf;
	ixp_respond(r, NULL);
}

static void fs_wstat(Ixp9Req *r)
{
	IxpFileId *f = r->fid->aux;
	struct tfile *t = f->p.ref;
	IxpStat *s = &r->ifcall.twstat.stat;
	if (f->tab.type != K_USER && f->tab.type != K_DATA) {
		ixp_respond(r, "permission denied");
		return;
	}
	if (s->length != ~(uint64_t)0 && s->length <= t->len)
		t->len = (uint)s->length;
	if (s->name && s->name[0]) {
		free(t->name);
		t->name = ixp_estrdup(s->name);
	}
	ixp_respond(r, NULL);
}

static void fs_clunk(Ixp9Req *r)
{
	IxpFileId *f = r->fid->aux;
	nclunk++;
	if (f && f->pending) {
		ixp_pending_clunk(r);
		return;
	}
	ixp_respond(r, NULL);
}

static void fs_flush(Ixp9Req *r)
{
	nflush++;
	ixp_pending_flush(r);
	ixp_respond(r, NULL);
}

static void fs_freefid(IxpFid *fid)
{
	IxpFileId *f = fid->aux;
	while (f) {
		IxpFileId *next = f->next;
		ixp_srv_freefile(f);
		f = next;
	}
}

static Ixp9Srv p9srv = {
	.attach = fs_attach,
	.walk = fs_walk,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.create = fs_create,
	.remove = fs_remove,
	.stat = fs_stat,
	.wstat = fs_wstat,
	.clunk = fs_clunk,
	.flush = fs_flush,
	.freefid = fs_freefid,
};

static void on_stop(IxpConn *c)
{
	char b;
	if (read(c->fd, &b, 1) <= 0 || b == 'q')
		c->srv->running = 0;
}

/* Takes a descriptor handed over by testsrv_serve_fd and serves it. */
static void on_hand(IxpConn *c)
{
	int fd;
	if (read(c->fd, &fd, sizeof fd) != (ssize_t)sizeof fd)
		return;
	ixp_serve9conn_fd(c->srv, fd, &p9srv);
}

static void on_timer(long id, void *aux)
{
	(void)id;
	(void)aux;
	ntimer++;
}

static void *loop(void *arg)
{
	(void)arg;
	ixp_serverloop(&server);
	ixp_server_close(&server);
	return NULL;
}

int testsrv_start(const char *unix_addr, char *tcp_addr)
{
	static const char *names[] = { NULL, "data", "ctl", "event", "stats" };
	for (int i = 1; i < K_USER; i++)
		files[i] = (struct tfile){ ixp_estrdup(names[i]), NULL, 0, i };
	files[K_DATA].buf = ixp_emalloc(DATA_SIZE + 1);
	for (size_t i = 0; i < DATA_SIZE; i++)
		files[K_DATA].buf[i] = (char)pattern_byte(i);
	files[K_DATA].len = DATA_SIZE;

	int ufd = ixp_announce(unix_addr);
	int tfd = ixp_announce("tcp!127.0.0.1!0");
	if (ufd < 0 || tfd < 0 || pipe(stop_pipe) < 0 || pipe(hand_pipe) < 0)
		return -1;
	struct sockaddr_in sin;
	socklen_t sl = sizeof sin;
	if (getsockname(tfd, (struct sockaddr *)&sin, &sl) < 0)
		return -1;
	snprintf(tcp_addr, 64, "tcp!127.0.0.1!%u", ntohs(sin.sin_port));
	ixp_listen(&server, ufd, &p9srv, ixp_serve9conn, NULL);
	ixp_listen(&server, tfd, &p9srv, ixp_serve9conn, NULL);
	ixp_listen(&server, stop_pipe[0], NULL, on_stop, NULL);
	ixp_listen(&server, hand_pipe[0], NULL, on_hand, NULL);
	ixp_settimer(&server, 20, on_timer, NULL);
	return pthread_create(&thread, NULL, loop, NULL) == 0 ? 0 : -1;
}

int testsrv_serve_fd(int fd)
{
	return write(hand_pipe[1], &fd, sizeof fd) == (ssize_t)sizeof fd ? 0 : -1;
}

void testsrv_stop(void)
{
	if (write(stop_pipe[1], "q", 1) != 1)
		return;
	pthread_join(thread, NULL);
	close(stop_pipe[1]);
	close(hand_pipe[1]);
	for (int i = 1; i < NFILES; i++) {
		free(files[i].name);
		free(files[i].buf);
		memset(&files[i], 0, sizeof files[i]);
	}
}
