/*
 * srvutil.c — libixp's ixp_srvutil.h helpers: IxpFileId chains walked
 * through a program's lookup function, directory reads, control files and
 * event files (IxpPending) whose reads wait for data, as wmii uses them.
 * Everything runs on the serverloop's thread.
 *
 * An IxpPending holds two rings: the fids reading the event source (each
 * with its queue of data not yet read) and the reads waiting for data.
 * ixp_pending_write appends to every reader's queue, then answers every
 * waiting read it can.
 */
#include <ixp.h>

typedef void *IxpFileIdU; /* a program's union of pointers: same size and alignment */

#include <ixp_srvutil.h>

#include "ixp_impl.h"

#include <stdlib.h>
#include <string.h>

struct IxpQueue {
	IxpQueue *link;
	char *dat;
	long len;
};

/* A qid path from a file's type and id, as libixp's servers make it. */
#define QID_PATH(t, i) (((uint64_t)((t)&0xff) << 32) | ((i)&0xffffffffu))

IxpFileId *ixp_srv_getfile(void)
{
	IxpFileId *f = ixp_emallocz(sizeof *f);
	f->nref = 1;
	return f;
}

void ixp_srv_freefile(IxpFileId *f)
{
	if (!f || --f->nref > 0)
		return;
	free(f->tab.name);
	free(f);
}

IxpFileId *ixp_srv_clonefiles(IxpFileId *f)
{
	IxpFileId *c = ixp_emalloc(sizeof *c);
	*c = *f;
	c->tab.name = f->tab.name ? ixp_estrdup(f->tab.name) : NULL;
	c->nref = 1;
	for (IxpFileId *p = f->next; p; p = p->next)
		p->nref++;
	return c;
}

/* Drops one reference from every record of a chain. */
static void freechain(IxpFileId *f)
{
	while (f) {
		IxpFileId *next = f->next;
		ixp_srv_freefile(f);
		f = next;
	}
}

void ixp_srv_readbuf(Ixp9Req *req, char *buf, uint len)
{
	uint64_t off = req->ifcall.io.offset;
	if (off >= len)
		return;
	uint n = len - (uint)off;
	if (n > req->ifcall.io.count)
		n = req->ifcall.io.count;
	req->ofcall.io.data = ixp_emalloc(n);
	memcpy(req->ofcall.io.data, buf + off, n);
	req->ofcall.io.count = n;
}

void ixp_srv_writebuf(Ixp9Req *req, char **buf, uint *len, uint max)
{
	IxpFileId *file = req->fid->aux;
	uint64_t off = req->ifcall.io.offset;
	if (file && (file->tab.perm & P9_DMAPPEND))
		off = *len;
	if (off > *len || req->ifcall.io.count == 0) {
		req->ofcall.io.count = 0;
		return;
	}
	uint count = req->ifcall.io.count;
	if (max && off + count > max)
		count = off >= max ? 0 : max - (uint)off;
	*len = (uint)off + count;
	if (max == 0)
		*buf = ixp_erealloc(*buf, *len + 1);
	memcpy(*buf + off, req->ifcall.io.data, count);
	(*buf)[off + count] = '\0';
	req->ofcall.io.count = count;
}

void ixp_srv_data2cstring(Ixp9Req *req)
{
	uint n = req->ifcall.io.count;
	char *p = req->ifcall.io.data;
	if (n && p[n - 1] == '\n')
		n--;
	char *nul = n ? memchr(p, '\0', n) : NULL;
	if (nul)
		n = (uint)(nul - p);
	p = ixp_erealloc(p, n + 1);
	p[n] = '\0';
	req->ifcall.io.data = p;
}

char *ixp_srv_writectl(Ixp9Req *req, char *(*fn)(void *, IxpMsg *))
{
	IxpFileId *file = req->fid->aux;
	ixp_srv_data2cstring(req);
	char *s = req->ifcall.io.data, *err = NULL;
	while (*s) {
		char *end = strchr(s, '\n');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n) {
			char save = s[n];
			s[n] = '\0';
			IxpMsg m = ixp_message(s, (uint)n, 0);
			char *e = fn(file ? file->p : NULL, &m);
			if (e)
				err = e;
			s[n] = save;
		}
		s += n;
		while (*s == '\n')
			s++;
	}
	return err;
}

void ixp_srv_readdir(Ixp9Req *req, IxpLookupFn lookup, void (*dostat)(IxpStat *, IxpFileId *))
{
	IxpFileId *file = req->fid->aux;
	uint size = req->ifcall.io.count;
	if (req->fid->iounit && size > req->fid->iounit)
		size = req->fid->iounit;
	char *buf = ixp_emallocz(size ? size : 1);
	IxpMsg m = ixp_message(buf, size, MsgPack);
	IxpFileId *all = lookup(file, NULL);
	uint64_t off = 0;
	/* all is ".", then the entries: byte offsets count from the first entry */
	for (IxpFileId *f = all ? all->next : NULL; f; f = f->next) {
		IxpStat st;
		memset(&st, 0, sizeof st);
		dostat(&st, f);
		uint n = ixp_sizeof_stat(&st);
		if (off >= req->ifcall.io.offset) {
			if (n > size)
				break;
			ixp_pstat(&m, &st);
			size -= n;
		}
		off += n;
	}
	freechain(all);
	req->ofcall.io.count = (uint32_t)(m.pos - m.data);
	req->ofcall.io.data = m.data;
	ixp_respond(req, NULL);
}

bool ixp_srv_verifyfile(IxpFileId *f, IxpLookupFn lookup)
{
	if (!f->next)
		return true;
	if (!ixp_srv_verifyfile(f->next, lookup))
		return false;
	IxpFileId *now = lookup(f->next, f->tab.name);
	if (!now)
		return false;
	bool ok = !now->volatil || now->p == f->p;
	ixp_srv_freefile(now);
	return ok;
}

void ixp_srv_walkandclone(Ixp9Req *req, IxpLookupFn lookup)
{
	IxpFileId *file = ixp_srv_clonefiles(req->fid->aux);
	uint i;
	for (i = 0; i < req->ifcall.twalk.nwname; i++) {
		char *name = req->ifcall.twalk.wname[i];
		if (strcmp(name, "..") == 0) {
			if (file->next) {
				IxpFileId *up = file->next;
				ixp_srv_freefile(file);
				file = up;
			}
		} else if (strcmp(name, ".") != 0) {
			IxpFileId *child = lookup(file, name);
			if (!child)
				break;
			child->next = file;
			file = child;
		}
		req->ofcall.rwalk.wqid[i].type = file->tab.qtype;
		req->ofcall.rwalk.wqid[i].path = QID_PATH(file->tab.type, file->id);
		req->ofcall.rwalk.wqid[i].version = 0;
	}
	if (i < req->ifcall.twalk.nwname && i == 0) {
		freechain(file);
		ixp_respond(req, "file not found");
		return;
	}
	if (i < req->ifcall.twalk.nwname) { /* a partial walk: newfid is not made */
		freechain(file);
		req->ofcall.rwalk.nwqid = (uint16_t)i;
		ixp_respond(req, NULL);
		return;
	}
	if (req->ifcall.hdr.fid == req->ifcall.twalk.newfid) {
		freechain(req->fid->aux);
		req->fid->aux = file;
	} else {
		req->newfid->aux = file;
	}
	req->ofcall.rwalk.nwqid = (uint16_t)i;
	ixp_respond(req, NULL);
}

/* ---- event files ---- */

static void pending_init(IxpPending *p)
{
	if (!p->req.next) {
		p->req.next = p->req.prev = &p->req;
		p->fids.next = p->fids.prev = &p->fids;
	}
}

static void unlink_req(IxpRequestLink *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
}

void ixp_pending_respond(Ixp9Req *req)
{
	IxpFileId *file = req->fid->aux;
	IxpPendingLink *pl = file->p;
	IxpQueue *q = pl->queue;
	if (q) {
		pl->queue = q->link;
		req->ofcall.io.data = q->dat;
		req->ofcall.io.count = (uint32_t)q->len;
		free(q);
		if (req->aux) {
			IxpRequestLink *l = req->aux;
			unlink_req(l);
			free(l);
			req->aux = NULL;
		}
		ixp_respond(req, NULL);
		return;
	}
	if (req->aux) /* already waiting */
		return;
	IxpRequestLink *l = ixp_emallocz(sizeof *l);
	IxpRequestLink *head = &pl->pending->req;
	l->req = req;
	l->next = head;
	l->prev = head->prev;
	head->prev->next = l;
	head->prev = l;
	req->aux = l;
}

void ixp_pending_write(IxpPending *p, const char *dat, long n)
{
	if (n <= 0)
		return;
	pending_init(p);
	for (IxpPendingLink *pl = p->fids.next; pl != &p->fids; pl = pl->next) {
		IxpQueue **qp = &pl->queue;
		while (*qp)
			qp = &(*qp)->link;
		IxpQueue *q = ixp_emallocz(sizeof *q);
		q->dat = ixp_emalloc((uint)n);
		memcpy(q->dat, dat, (size_t)n);
		q->len = n;
		*qp = q;
	}
	/* Answer the waiting reads: take the ring over first, since answering
	 * may add (or flush) reads. */
	IxpRequestLink ring = { &ring, &ring, NULL };
	if (p->req.next != &p->req) {
		ring.next = p->req.next;
		ring.prev = p->req.prev;
		ring.next->prev = &ring;
		ring.prev->next = &ring;
		p->req.next = p->req.prev = &p->req;
	}
	while (ring.next != &ring) {
		IxpRequestLink *l = ring.next;
		Ixp9Req *req = l->req;
		unlink_req(l);
		free(l);
		req->aux = NULL;
		ixp_pending_respond(req);
	}
}

int ixp_pending_vprint(IxpPending *p, const char *fmt, va_list ap)
{
	char *s = ixp_vsmprint(fmt, ap);
	if (!s)
		return -1;
	long n = (long)strlen(s);
	ixp_pending_write(p, s, n);
	free(s);
	return (int)n;
}

int ixp_pending_print(IxpPending *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = ixp_pending_vprint(p, fmt, ap);
	va_end(ap);
	return n;
}

void ixp_pending_pushfid(IxpPending *p, IxpFid *fid)
{
	pending_init(p);
	IxpFileId *file = fid->aux;
	IxpPendingLink *pl = ixp_emallocz(sizeof *pl);
	pl->fid = fid;
	pl->pending = p;
	pl->next = &p->fids;
	pl->prev = p->fids.prev;
	p->fids.prev->next = pl;
	p->fids.prev = pl;
	file->pending = true;
	file->p = pl;
}

/* Forgets req if it waits on its fid's pending. */
static void pending_forget(Ixp9Req *req)
{
	IxpFileId *file = req->fid ? req->fid->aux : NULL;
	if (file && file->pending && req->aux) {
		IxpRequestLink *l = req->aux;
		unlink_req(l);
		free(l);
		req->aux = NULL;
	}
}

void ixp_pending_flush(Ixp9Req *req)
{
	if (req->oldreq)
		pending_forget(req->oldreq);
}

bool ixp_pending_clunk(Ixp9Req *req)
{
	IxpFileId *file = req->fid->aux;
	IxpPendingLink *pl = file->p;
	IxpPending *p = pl->pending;
	for (IxpRequestLink *l = p->req.next; l != &p->req;) {
		IxpRequestLink *next = l->next;
		Ixp9Req *r = l->req;
		if (r->fid == pl->fid) {
			pending_forget(r);
			ixp_respond(r, "interrupted");
		}
		l = next;
	}
	pl->prev->next = pl->next;
	pl->next->prev = pl->prev;
	while (pl->queue) {
		IxpQueue *q = pl->queue;
		pl->queue = q->link;
		free(q->dat);
		free(q);
	}
	bool none = p->fids.next == &p->fids;
	free(pl);
	file->pending = false;
	file->p = NULL;
	ixp_respond(req, NULL);
	return none;
}
