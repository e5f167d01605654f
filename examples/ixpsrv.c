/* ixpsrv — a small libixp file server: /hello to read, /note to write. Build:
 * cc ixpsrv.c $(pkg-config --cflags --libs libixp); run: ./ixpsrv 'tcp!127.0.0.1!5640' */
#include <ixp.h>
typedef void *IxpFileIdU;
#include <ixp_srvutil.h>
#include <string.h>

static char *names[] = { "/", "hello", "note" };
static char *data[] = { "", "hello from a libixp program\n", NULL };
static uint len[] = { 0, 28, 0 };

#define ID(fid) ((int)(intptr_t)(fid)->aux) /* a fid's file: 0 is the root */

/* The size of file id's stat record, packed at m unless m is NULL. */
static uint16_t dostat(int id, IxpMsg *m)
{
	IxpStat s = { .qid = { id ? P9_QTFILE : P9_QTDIR, 0, (uint64_t)id }, .length = len[id] };
	s.mode = id ? 0644 : P9_DMDIR | 0755;
	s.name = names[id];
	s.uid = s.gid = s.muid = "ixpsrv";
	if (m)
		ixp_pstat(m, &s);
	return ixp_sizeof_stat(&s);
}

static void fs_attach(Ixp9Req *r)
{
	r->ofcall.rattach.qid = r->fid->qid = (IxpQid){ .type = P9_QTDIR };
	ixp_respond(r, NULL);
}

static void fs_walk(Ixp9Req *r)
{
	int id = ID(r->fid), i;
	for (i = 0; i < r->ifcall.twalk.nwname && id >= 0; i++) {
		char *n = r->ifcall.twalk.wname[i];
		int k = 1;
		while (k < 3 && strcmp(n, names[k]))
			k++;
		id = !strcmp(n, "..") ? 0 : !strcmp(n, ".") ? id : id || k == 3 ? -1 : k;
		r->ofcall.rwalk.wqid[i] = (IxpQid){ id ? P9_QTFILE : P9_QTDIR, 0, (uint64_t)id };
	}
	if (id < 0)
		return ixp_respond(r, "file not found");
	r->newfid->aux = (void *)(intptr_t)id;
	r->ofcall.rwalk.nwqid = (uint16_t)i;
	ixp_respond(r, NULL);
}

static void fs_open(Ixp9Req *r)
{
	if (ID(r->fid) == 2 && (r->ifcall.topen.mode & P9_OTRUNC))
		len[2] = 0;
	ixp_respond(r, ID(r->fid) == 1 && (r->ifcall.topen.mode & 3) ? "permission denied" : NULL);
}

static void fs_read(Ixp9Req *r)
{
	char dir[512];
	IxpMsg m = ixp_message(dir, sizeof dir, MsgPack);
	int id = ID(r->fid); /* the directory is read as its entries' stat records */
	ixp_srv_readbuf(r, id ? data[id] : dir, id ? len[id] : dostat(1, &m) + dostat(2, &m));
	ixp_respond(r, NULL);
}

static void fs_write(Ixp9Req *r)
{
	uint end = (uint)r->ifcall.io.offset + r->ifcall.io.count;
	memcpy((data[2] = ixp_erealloc(data[2], end)) + r->ifcall.io.offset, r->ifcall.io.data,
	       r->ofcall.io.count = r->ifcall.io.count);
	len[2] = end > len[2] ? end : len[2];
	ixp_respond(r, NULL);
}

static void fs_stat(Ixp9Req *r)
{
	r->ofcall.rstat.nstat = dostat(ID(r->fid), NULL);
	IxpMsg m = ixp_message(ixp_emalloc(r->ofcall.rstat.nstat), r->ofcall.rstat.nstat, MsgPack);
	dostat(ID(r->fid), &m);
	r->ofcall.rstat.stat = (uint8_t *)m.data;
	ixp_respond(r, NULL);
}

static Ixp9Srv srv = { .attach = fs_attach,
		       .walk = fs_walk,
		       .open = fs_open,
		       .read = fs_read,
		       .write = fs_write,
		       .stat = fs_stat };

int main(int argc, char **argv)
{
	IxpServer server = { 0 };
	int fd = ixp_announce(argc > 1 ? argv[1] : "unix!/tmp/ixpsrv.sock");
	if (fd < 0)
		ixp_eprint("ixpsrv: cannot listen: %s", ixp_errbuf());
	ixp_listen(&server, fd, &srv, ixp_serve9conn, NULL);
	return ixp_serverloop(&server);
}
