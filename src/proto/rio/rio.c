/*
 * rio.c — pack and unpack of rio messages (boxfs/rio.h,
 * docs/protocols/rio.md). Called by the rio door and the rio client; no
 * I/O, no allocation, every length checked against the bytes present.
 */
#include <boxfs/rio.h>

#include "base/cursor.h"

#include <errno.h>
#include <string.h>

int rio_msg_unpack(struct rio_msg *m, const uint8_t *buf, size_t len)
{
	struct bx_rcur c = bx_rcur(buf, len);
	m->txid = bx_get32le(&c);
	m->op = bx_get32le(&c);
	m->datalen = bx_get32le(&c);
	m->arg = (int32_t)bx_get32le(&c);
	m->arg2 = bx_get64le(&c);
	m->reserved = (int32_t)bx_get32le(&c);
	m->hcount = bx_get32le(&c);
	for (int i = 0; i < RIO_HANDLES; i++)
		m->handle[i] = (int32_t)bx_get32le(&c);
	if (c.bad || m->datalen > RIO_CHUNK || m->hcount > RIO_HANDLES)
		return -EPROTO;
	m->data = bx_take(&c, m->datalen);
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}

void rio_hdr_pack(uint8_t out[RIO_HDRSZ], const struct rio_msg *m)
{
	struct bx_wcur c = bx_wcur(out, RIO_HDRSZ);
	bx_put32le(&c, m->txid);
	bx_put32le(&c, m->op);
	bx_put32le(&c, m->datalen);
	bx_put32le(&c, (uint32_t)m->arg);
	bx_put64le(&c, m->arg2);
	bx_put32le(&c, (uint32_t)m->reserved);
	bx_put32le(&c, m->hcount);
	for (int i = 0; i < RIO_HANDLES; i++)
		bx_put32le(&c, 0);
}

void rio_object_pack(uint8_t out[RIO_OBJSZ], const struct rio_object *o)
{
	struct bx_wcur c = bx_wcur(out, RIO_OBJSZ);
	bx_put32le(&c, (uint32_t)o->status);
	bx_put32le(&c, o->type);
	bx_putbytes(&c, o->extra, RIO_EXTRA);
	bx_put32le(&c, o->esize);
	bx_put32le(&c, o->hcount);
}

int rio_object_unpack(struct rio_object *o, const uint8_t *buf, size_t len)
{
	struct bx_rcur c = bx_rcur(buf, len);
	o->status = (int32_t)bx_get32le(&c);
	o->type = bx_get32le(&c);
	const uint8_t *e = bx_take(&c, RIO_EXTRA);
	if (e)
		memcpy(o->extra, e, RIO_EXTRA);
	o->esize = bx_get32le(&c);
	o->hcount = bx_get32le(&c);
	if (c.bad || c.pos != c.len || o->hcount > RIO_HANDLES || o->esize > RIO_EXTRA)
		return -EPROTO;
	return 0;
}

void rio_vmo_pack(struct rio_object *o, uint64_t offset, uint64_t length)
{
	struct bx_wcur c = bx_wcur(o->extra, RIO_EXTRA);
	memset(o->extra, 0, RIO_EXTRA);
	bx_put64le(&c, offset);
	bx_put64le(&c, length);
	o->esize = 16;
}

void rio_vmo_unpack(const struct rio_object *o, uint64_t *offset, uint64_t *length)
{
	struct bx_rcur c = bx_rcur(o->extra, RIO_EXTRA);
	*offset = bx_get64le(&c);
	*length = bx_get64le(&c);
}

void rio_attr_pack(uint8_t out[RIO_ATTRSZ], const struct rio_attr *a)
{
	struct bx_wcur c = bx_wcur(out, RIO_ATTRSZ);
	bx_put32le(&c, a->mode);
	bx_put64le(&c, a->inode);
	bx_put64le(&c, a->size);
	bx_put64le(&c, a->nlink);
	bx_put64le(&c, a->ctime_ns);
	bx_put64le(&c, a->mtime_ns);
}

int rio_attr_unpack(struct rio_attr *a, const uint8_t *buf, size_t len)
{
	struct bx_rcur c = bx_rcur(buf, len);
	a->mode = bx_get32le(&c);
	a->inode = bx_get64le(&c);
	a->size = bx_get64le(&c);
	a->nlink = bx_get64le(&c);
	a->ctime_ns = bx_get64le(&c);
	a->mtime_ns = bx_get64le(&c);
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}

void rio_setattr_pack(uint8_t out[RIO_SETATTRSZ], const struct rio_setattr *s)
{
	struct bx_wcur c = bx_wcur(out, RIO_SETATTRSZ);
	bx_put32le(&c, s->valid);
	bx_put32le(&c, s->mode);
	bx_put64le(&c, s->mtime_ns);
}

int rio_setattr_unpack(struct rio_setattr *s, const uint8_t *buf, size_t len)
{
	struct bx_rcur c = bx_rcur(buf, len);
	s->valid = bx_get32le(&c);
	s->mode = bx_get32le(&c);
	s->mtime_ns = bx_get64le(&c);
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}

void rio_mmap_pack(uint8_t out[RIO_MMAPSZ], const struct rio_mmap *m)
{
	struct bx_wcur c = bx_wcur(out, RIO_MMAPSZ);
	bx_put64le(&c, m->offset);
	bx_put64le(&c, m->length);
	bx_put32le(&c, m->flags);
}

int rio_mmap_unpack(struct rio_mmap *m, const uint8_t *buf, size_t len)
{
	struct bx_rcur c = bx_rcur(buf, len);
	m->offset = bx_get64le(&c);
	m->length = bx_get64le(&c);
	m->flags = bx_get32le(&c);
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}

size_t rio_dirent_size(size_t namelen)
{
	return (8 + namelen + 1 + 3) & ~(size_t)3;
}

size_t rio_dirent_pack(uint8_t *out, size_t cap, uint32_t type, const char *name, size_t namelen)
{
	size_t size = rio_dirent_size(namelen);
	if (size > cap || size > UINT32_MAX)
		return 0;
	struct bx_wcur c = bx_wcur(out, size);
	bx_put32le(&c, (uint32_t)size);
	bx_put32le(&c, type);
	bx_putbytes(&c, name, namelen);
	memset(out + 8 + namelen, 0, size - 8 - namelen);
	return size;
}

int rio_dirent_next(const uint8_t *buf, size_t len, size_t *pos, struct rio_dirent *d)
{
	if (*pos >= len)
		return 0;
	struct bx_rcur c = bx_rcur(buf + *pos, len - *pos);
	uint32_t reclen = bx_get32le(&c);
	d->type = bx_get32le(&c);
	if (c.bad || reclen < 12 || reclen % 4 || reclen > len - *pos)
		return -EPROTO;
	const char *name = (const char *)buf + *pos + 8;
	const char *nul = memchr(name, 0, reclen - 8);
	if (!nul || nul == name)
		return -EPROTO;
	d->name = name;
	d->namelen = (size_t)(nul - name);
	*pos += reclen;
	return 1;
}

int rio_names_unpack(const uint8_t *buf, size_t len, const char **old, size_t *oldlen,
		     const char **new_, size_t *newlen)
{
	const uint8_t *nul = memchr(buf, 0, len);
	if (!nul || nul == buf)
		return -EPROTO;
	*old = (const char *)buf;
	*oldlen = (size_t)(nul - buf);
	const uint8_t *n = nul + 1;
	size_t rest = len - (size_t)(n - buf);
	const uint8_t *nul2 = rest ? memchr(n, 0, rest) : NULL;
	if (!nul2 || nul2 == n || nul2 != buf + len - 1)
		return -EPROTO;
	*new_ = (const char *)n;
	*newlen = (size_t)(nul2 - n);
	return 0;
}

const char *rio_op_name(uint32_t op)
{
	switch (op) {
	case RIO_STATUS:
		return "STATUS";
	case RIO_CLOSE:
		return "CLOSE";
	case RIO_CLONE:
		return "CLONE";
	case RIO_OPEN:
		return "OPEN";
	case RIO_MISC:
		return "MISC";
	case RIO_READ:
		return "READ";
	case RIO_WRITE:
		return "WRITE";
	case RIO_SEEK:
		return "SEEK";
	case RIO_STAT:
		return "STAT";
	case RIO_READDIR:
		return "READDIR";
	case RIO_IOCTL:
		return "IOCTL";
	case RIO_IOCTL_1H:
		return "IOCTL_1H";
	case RIO_UNLINK:
		return "UNLINK";
	case RIO_READ_AT:
		return "READ_AT";
	case RIO_WRITE_AT:
		return "WRITE_AT";
	case RIO_TRUNCATE:
		return "TRUNCATE";
	case RIO_RENAME:
		return "RENAME";
	case RIO_SETATTR:
		return "SETATTR";
	case RIO_SYNC:
		return "SYNC";
	case RIO_LINK:
		return "LINK";
	case RIO_MMAP:
		return "MMAP";
	case RIO_FCNTL:
		return "FCNTL";
	}
	return NULL;
}
