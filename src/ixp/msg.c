/*
 * msg.c — libixp's message codec: IxpMsg cursors and the ixp_p* functions,
 * which pack or unpack depending on the message's mode, whole 9P2000
 * messages (IxpFcall), and reading and writing them on a descriptor.
 *
 * Bounds: a field that does not fit between pos and end is neither read nor
 * written, but pos still moves past end, so one check of pos > end after a
 * run of fields tells whether the message fit (libixp's contract).
 * Unpacked strings and data are malloc'd (ixp_freefcall frees them).
 */
#include "ixp_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define nelem(a) (sizeof(a) / sizeof *(a))

IxpMsg ixp_message(char *data, uint len, uint mode)
{
	IxpMsg m;
	m.data = data;
	m.pos = data;
	m.end = data + len;
	m.size = len;
	m.mode = mode;
	return m;
}

/* True when n more bytes fit at pos (and pos has not already overrun). */
static bool fits(const IxpMsg *m, size_t n)
{
	return (uintptr_t)m->pos <= (uintptr_t)m->end &&
	       (size_t)((uintptr_t)m->end - (uintptr_t)m->pos) >= n;
}

/* Moves pos on by n; past end it stays "past end" without running away. */
static void advance(IxpMsg *m, size_t n)
{
	if (fits(m, n))
		m->pos += n;
	else
		m->pos = m->end + 1;
}

static void puint(IxpMsg *m, unsigned size, uint64_t *v)
{
	if (fits(m, size)) {
		unsigned char *p = (unsigned char *)m->pos;
		if (m->mode == MsgPack) {
			for (unsigned i = 0; i < size; i++)
				p[i] = (unsigned char)(*v >> (8 * i));
		} else {
			uint64_t x = 0;
			for (unsigned i = 0; i < size; i++)
				x |= (uint64_t)p[i] << (8 * i);
			*v = x;
		}
	}
	advance(m, size);
}

void ixp_pu8(IxpMsg *m, uint8_t *v)
{
	uint64_t x = *v;
	puint(m, 1, &x);
	*v = (uint8_t)x;
}

void ixp_pu16(IxpMsg *m, uint16_t *v)
{
	uint64_t x = *v;
	puint(m, 2, &x);
	*v = (uint16_t)x;
}

void ixp_pu32(IxpMsg *m, uint32_t *v)
{
	uint64_t x = *v;
	puint(m, 4, &x);
	*v = (uint32_t)x;
}

void ixp_pu64(IxpMsg *m, uint64_t *v)
{
	puint(m, 8, v);
}

void ixp_pdata(IxpMsg *m, char **data, uint len)
{
	if (fits(m, len)) {
		if (m->mode == MsgUnpack) {
			*data = ixp_emalloc(len);
			memcpy(*data, m->pos, len);
		} else if (len) {
			memcpy(m->pos, *data, len);
		}
	} else if (m->mode == MsgUnpack) {
		*data = NULL;
	}
	advance(m, len);
}

void ixp_pstring(IxpMsg *m, char **s)
{
	uint16_t len = 0;
	if (m->mode == MsgPack) {
		size_t n = *s ? strlen(*s) : 0;
		if (n > 0xffff) { /* cannot be said on the wire */
			m->pos = m->end + 1;
			return;
		}
		len = (uint16_t)n;
	}
	ixp_pu16(m, &len);
	if (m->mode == MsgUnpack) {
		bool ok = fits(m, len);
		*s = ixp_emalloc(ok ? len + 1u : 1u);
		if (ok)
			memcpy(*s, m->pos, len);
		(*s)[ok ? len : 0] = '\0';
	} else if (fits(m, len) && len) {
		memcpy(m->pos, *s, len);
	}
	advance(m, len);
}

void ixp_pstrings(IxpMsg *m, uint16_t *num, char **strings, uint max)
{
	ixp_pu16(m, num);
	if (*num > max || *num > IXP_MAX_WELEM) {
		m->pos = m->end + 1;
		return;
	}
	if (m->mode == MsgPack) {
		for (unsigned i = 0; i < *num; i++)
			ixp_pstring(m, &strings[i]);
		return;
	}
	/* Unpacking: every string in one allocation, strings[0] (libixp's
	 * layout: freeing strings[0] frees them all). */
	char *start = m->pos;
	size_t total = 0;
	for (unsigned i = 0; i < *num; i++) {
		uint16_t len = 0;
		ixp_pu16(m, &len);
		advance(m, len);
		total += len + 1u;
	}
	if (m->pos > m->end || *num == 0)
		return; /* nothing to hold: no block (none would be freed) */
	m->pos = start;
	char *block = ixp_emalloc((uint)total);
	for (unsigned i = 0; i < *num; i++) {
		uint16_t len = 0;
		ixp_pu16(m, &len);
		memcpy(block, m->pos, len);
		block[len] = '\0';
		strings[i] = block;
		block += len + 1u;
		advance(m, len);
	}
}

void ixp_pqid(IxpMsg *m, IxpQid *q)
{
	ixp_pu8(m, &q->type);
	ixp_pu32(m, &q->version);
	ixp_pu64(m, &q->path);
}

void ixp_pqids(IxpMsg *m, uint16_t *num, IxpQid *qids, uint max)
{
	ixp_pu16(m, num);
	if (*num > max || *num > IXP_MAX_WELEM) {
		m->pos = m->end + 1;
		return;
	}
	for (unsigned i = 0; i < *num; i++)
		ixp_pqid(m, &qids[i]);
}

static size_t strsize(const char *s)
{
	return 2 + (s ? strlen(s) : 0);
}

uint16_t ixp_sizeof_stat(IxpStat *st)
{
	size_t n = 2 + 2 + 4 + 13 + 4 + 4 + 4 + 8 + strsize(st->name) + strsize(st->uid) +
		   strsize(st->gid) + strsize(st->muid);
	return n > 0xffff ? 0xffff : (uint16_t)n;
}

void ixp_pstat(IxpMsg *m, IxpStat *st)
{
	uint16_t size = 0;
	if (m->mode == MsgPack)
		size = ixp_sizeof_stat(st) - 2;
	ixp_pu16(m, &size);
	char *body = m->pos;
	ixp_pu16(m, &st->type);
	ixp_pu32(m, &st->dev);
	ixp_pqid(m, &st->qid);
	ixp_pu32(m, &st->mode);
	ixp_pu32(m, &st->atime);
	ixp_pu32(m, &st->mtime);
	ixp_pu64(m, &st->length);
	ixp_pstring(m, &st->name);
	ixp_pstring(m, &st->uid);
	ixp_pstring(m, &st->gid);
	ixp_pstring(m, &st->muid);
	/* A record may carry more (9P2000.u's fields): skip what this one said. */
	if (m->mode == MsgUnpack && m->pos <= m->end && (size_t)(m->pos - body) < size)
		advance(m, size - (size_t)(m->pos - body));
}

void ixp_pfcall(IxpMsg *m, IxpFcall *f)
{
	ixp_pu8(m, &f->hdr.type);
	ixp_pu16(m, &f->hdr.tag);
	switch (f->hdr.type) {
	case P9_TVersion:
	case P9_RVersion:
		ixp_pu32(m, &f->version.msize);
		ixp_pstring(m, &f->version.version);
		break;
	case P9_TAuth:
		ixp_pu32(m, &f->tauth.afid);
		ixp_pstring(m, &f->tauth.uname);
		ixp_pstring(m, &f->tauth.aname);
		break;
	case P9_RAuth:
		ixp_pqid(m, &f->rauth.aqid);
		break;
	case P9_TAttach:
		ixp_pu32(m, &f->hdr.fid);
		ixp_pu32(m, &f->tattach.afid);
		ixp_pstring(m, &f->tattach.uname);
		ixp_pstring(m, &f->tattach.aname);
		break;
	case P9_RAttach:
		ixp_pqid(m, &f->rattach.qid);
		break;
	case P9_RError:
		ixp_pstring(m, &f->error.ename);
		break;
	case P9_TFlush:
		ixp_pu16(m, &f->tflush.oldtag);
		break;
	case P9_TWalk:
		ixp_pu32(m, &f->hdr.fid);
		ixp_pu32(m, &f->twalk.newfid);
		ixp_pstrings(m, &f->twalk.nwname, f->twalk.wname, nelem(f->twalk.wname));
		break;
	case P9_RWalk:
		ixp_pqids(m, &f->rwalk.nwqid, f->rwalk.wqid, nelem(f->rwalk.wqid));
		break;
	case P9_TOpen:
		ixp_pu32(m, &f->hdr.fid);
		ixp_pu8(m, &f->topen.mode);
		break;
	case P9_ROpen:
	case P9_RCreate:
		ixp_pqid(m, &f->ropen.qid);
		ixp_pu32(m, &f->ropen.iounit);
		break;
	case P9_TCreate:
		ixp_pu32(m, &f->hdr.fid);
		ixp_pstring(m, &f->tcreate.name);
		ixp_pu32(m, &f->tcreate.perm);
		ixp_pu8(m, &f->tcreate.mode);
		break;
	case P9_TRead:
		ixp_pu32(m, &f->hdr.fid);
		ixp_pu64(m, &f->tread.offset);
		ixp_pu32(m, &f->tread.count);
		break;
	case P9_RRead:
		ixp_pu32(m, &f->rread.count);
		ixp_pdata(m, &f->rread.data, f->rread.count);
		break;
	case P9_TWrite:
		ixp_pu32(m, &f->hdr.fid);
		ixp_pu64(m, &f->twrite.offset);
		ixp_pu32(m, &f->twrite.count);
		ixp_pdata(m, &f->twrite.data, f->twrite.count);
		break;
	case P9_RWrite:
		ixp_pu32(m, &f->rwrite.count);
		break;
	case P9_TClunk:
	case P9_TRemove:
	case P9_TStat:
		ixp_pu32(m, &f->hdr.fid);
		break;
	case P9_RStat:
		ixp_pu16(m, &f->rstat.nstat);
		ixp_pdata(m, (char **)&f->rstat.stat, f->rstat.nstat);
		break;
	case P9_TWStat: {
		uint16_t n = m->mode == MsgPack ? ixp_sizeof_stat(&f->twstat.stat) : 0;
		ixp_pu32(m, &f->hdr.fid);
		ixp_pu16(m, &n);
		ixp_pstat(m, &f->twstat.stat);
		break;
	}
	default: /* Rflush, Rclunk, Rremove, Rwstat: no body */
		break;
	}
}

uint ixp_fcall2msg(IxpMsg *m, IxpFcall *f)
{
	if (m->size < 4)
		return 0;
	m->end = m->data + m->size;
	m->pos = m->data + 4;
	m->mode = MsgPack;
	ixp_pfcall(m, f);
	if (m->pos > m->end)
		return 0;
	m->end = m->pos;
	uint32_t size = (uint32_t)(m->end - m->data);
	m->pos = m->data;
	ixp_pu32(m, &size);
	m->pos = m->data;
	return size;
}

uint ixp_msg2fcall(IxpMsg *m, IxpFcall *f)
{
	if (m->size < 4 || m->end < m->data + 4)
		return 0;
	memset(f, 0, sizeof *f);
	m->pos = m->data + 4;
	m->mode = MsgUnpack;
	ixp_pfcall(m, f);
	if (m->pos > m->end) {
		ixp_freefcall(f);
		return 0;
	}
	return (uint)(m->pos - m->data);
}

void ixp_freestat(IxpStat *s)
{
	free(s->name);
	free(s->uid);
	free(s->gid);
	free(s->muid);
	s->name = s->uid = s->gid = s->muid = NULL;
}

void ixp_freefcall(IxpFcall *f)
{
	switch (f->hdr.type) {
	case P9_TVersion:
	case P9_RVersion:
		free(f->version.version);
		f->version.version = NULL;
		break;
	case P9_TAuth:
	case P9_TAttach:
		free(f->tattach.uname);
		free(f->tattach.aname);
		f->tattach.uname = f->tattach.aname = NULL;
		break;
	case P9_TWalk:
		if (f->twalk.nwname)
			free(f->twalk.wname[0]);
		f->twalk.nwname = 0;
		break;
	case P9_TCreate:
		free(f->tcreate.name);
		f->tcreate.name = NULL;
		break;
	case P9_TWrite:
		free(f->twrite.data);
		f->twrite.data = NULL;
		break;
	case P9_TWStat:
		ixp_freestat(&f->twstat.stat);
		break;
	case P9_RStat:
		free(f->rstat.stat);
		f->rstat.stat = NULL;
		break;
	case P9_RRead:
		free(f->rread.data);
		f->rread.data = NULL;
		break;
	case P9_RError:
		free(f->error.ename);
		f->error.ename = NULL;
		break;
	default:
		break;
	}
}

/* Reads exactly n bytes to p: 0, or -1 with the error set. */
static int readn(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = ixp_thread->read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ixp_werrstr("broken pipe: %s", r == 0 ? "end of file" : strerror(errno));
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

uint ixp_sendmsg(int fd, IxpMsg *m)
{
	m->pos = m->data;
	while (m->pos < m->end) {
		ssize_t r = ixp_thread->write(fd, m->pos, (size_t)(m->end - m->pos));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ixp_werrstr("broken pipe: %s",
				    r == 0 ? "nothing written" : strerror(errno));
			return 0;
		}
		m->pos += r;
	}
	return (uint)(m->pos - m->data);
}

uint ixp_recvmsg(int fd, IxpMsg *m)
{
	m->mode = MsgUnpack;
	m->pos = m->data;
	m->end = m->data + m->size;
	if (m->size < 4 || readn(fd, m->data, 4) < 0)
		return 0;
	uint32_t msize = 0;
	ixp_pu32(m, &msize);
	if (msize < 4 + 3) {
		ixp_seterr("message too short");
		return 0;
	}
	if (msize > m->size) {
		ixp_seterr("message too large");
		return 0;
	}
	if (readn(fd, m->data + 4, msize - 4) < 0) {
		ixp_seterr("message incomplete");
		return 0;
	}
	m->pos = m->data;
	m->end = m->data + msize;
	return msize;
}
