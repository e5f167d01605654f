/*
 * smdish.c — pack and unpack of the smdish memfile protocol (Phoenix's
 * memory-file server, with the layouts of docs/protocols/smdish.md), for the
 * smdish door and the memfile client. One switch per direction, one case per
 * op.
 */
#include <boxfs/smdish.h>

#include "base/cursor.h"

#include <errno.h>
#include <string.h>

static const char *const names[] = {
	[SMD_OPEN] = "open",
	[SMD_CLOSE] = "close",
	[SMD_LOCK] = "lock",
	[SMD_UNLOCK] = "unlock",
	[SMD_MMAP] = "mmap",
	[SMD_MUNMAP] = "munmap",
	[SMD_NEW_FDTABLE] = "new_fdtable",
	[SMD_FORK] = "fork",
	[SMD_CHILD_ATTACH] = "child_attach",
	[SMD_XLOCK] = "xlock",
	[SMD_MMAP_SHARED] = "mmap_shared",
	[SMD_LIST] = "list",
};

const char *smd_op_name(uint32_t op)
{
	return op < sizeof names / sizeof names[0] ? names[op] : NULL;
}

void smd_hdr_unpack(struct smd_hdr *h, const void *buf)
{
	struct bx_rcur c = bx_rcur(buf, SMD_HDRSZ);
	h->code = bx_get32be(&c);
	h->body_size = bx_get32be(&c);
}

/* u32 length, then the bytes. */
static struct smd_bytes get_bytes(struct bx_rcur *c)
{
	uint32_t n = bx_get32be(c);
	const uint8_t *p = bx_take(c, n);
	return (struct smd_bytes){ .p = p, .len = p ? n : 0 };
}

static void put_bytes(struct bx_wcur *c, struct smd_bytes b)
{
	bx_put32be(c, b.len);
	bx_putbytes(c, b.p, b.len);
}

int smd_req_unpack(struct smd_req *r, uint32_t op, const void *body, size_t len)
{
	struct bx_rcur c = bx_rcur(body, len);
	memset(r, 0, sizeof *r);
	r->op = op;
	switch (op) {
	case SMD_OPEN:
		r->name = get_bytes(&c);
		break;
	case SMD_CLOSE:
	case SMD_LOCK:
	case SMD_MUNMAP:
		r->fd = bx_get32be(&c);
		break;
	case SMD_UNLOCK:
		r->unlock.fd = bx_get32be(&c);
		if (bx_left(&c)) { /* the data is optional */
			r->unlock.has_data = true;
			r->unlock.data = get_bytes(&c);
		}
		break;
	case SMD_MMAP:
	case SMD_MMAP_SHARED:
		r->mmap.fd = bx_get32be(&c);
		r->mmap.size = bx_get32be(&c);
		break;
	case SMD_XLOCK:
		r->xlock.fd = bx_get32be(&c);
		r->xlock.flags = bx_get32be(&c);
		break;
	case SMD_NEW_FDTABLE:
	case SMD_FORK:
	case SMD_LIST:
		break; /* an empty body */
	case SMD_CHILD_ATTACH:
		r->ident = bx_get64be(&c);
		break;
	default:
		return -ENOSYS;
	}
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}

static void req_body(struct bx_wcur *c, const struct smd_req *r)
{
	switch (r->op) {
	case SMD_OPEN:
		put_bytes(c, r->name);
		break;
	case SMD_CLOSE:
	case SMD_LOCK:
	case SMD_MUNMAP:
		bx_put32be(c, r->fd);
		break;
	case SMD_UNLOCK:
		bx_put32be(c, r->unlock.fd);
		if (r->unlock.has_data)
			put_bytes(c, r->unlock.data);
		break;
	case SMD_MMAP:
	case SMD_MMAP_SHARED:
		bx_put32be(c, r->mmap.fd);
		bx_put32be(c, r->mmap.size);
		break;
	case SMD_XLOCK:
		bx_put32be(c, r->xlock.fd);
		bx_put32be(c, r->xlock.flags);
		break;
	case SMD_CHILD_ATTACH:
		bx_put64be(c, r->ident);
		break;
	default: /* new_fdtable, fork, list: empty */
		break;
	}
}

/* Size first, then the header and body in one pass. */
static ssize_t pack(void *buf, size_t cap, uint32_t code, const void *arg,
		    void (*body)(struct bx_wcur *c, const void *arg))
{
	struct bx_wcur n = bx_wcur(NULL, 0);
	body(&n, arg);
	if (n.pos > UINT32_MAX - SMD_HDRSZ)
		return -EMSGSIZE;
	if (SMD_HDRSZ + n.pos > cap)
		return -EMSGSIZE;
	struct bx_wcur c = bx_wcur(buf, cap);
	bx_put32be(&c, code);
	bx_put32be(&c, (uint32_t)n.pos);
	body(&c, arg);
	return c.bad ? -EMSGSIZE : (ssize_t)c.pos;
}

static void req_body_fn(struct bx_wcur *c, const void *arg)
{
	req_body(c, arg);
}

ssize_t smd_req_pack(void *buf, size_t cap, const struct smd_req *r)
{
	if (!smd_op_name(r->op))
		return -EINVAL;
	return pack(buf, cap, r->op, r, req_body_fn);
}

int smd_rep_unpack(struct smd_rep *rep, uint32_t op, uint32_t status, const void *body, size_t len)
{
	struct bx_rcur c = bx_rcur(body, len);
	memset(rep, 0, sizeof *rep);
	rep->status = status;
	if (status != 0)
		return len ? -EPROTO : 0;
	switch (op) {
	case SMD_OPEN:
	case SMD_MMAP:
	case SMD_MMAP_SHARED:
		rep->fd = bx_get32be(&c);
		break;
	case SMD_LOCK:
	case SMD_XLOCK:
		if (len) { /* a lock with a segment answers it */
			rep->has_data = true;
			rep->data = get_bytes(&c);
		}
		break;
	case SMD_LIST: /* the entries, checked by smd_list_next */
		rep->has_data = true;
		rep->data.len = (uint32_t)len;
		if (len) /* an empty list may come with no buffer at all */
			rep->data.p = bx_take(&c, len);
		break;
	case SMD_FORK:
		rep->ident = bx_get64be(&c);
		break;
	default:
		break;
	}
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}

struct rep_arg {
	uint32_t op;
	const struct smd_rep *rep;
};

static void rep_body_fn(struct bx_wcur *c, const void *arg)
{
	const struct rep_arg *a = arg;
	if (a->rep->status != 0)
		return;
	switch (a->op) {
	case SMD_OPEN:
	case SMD_MMAP:
	case SMD_MMAP_SHARED:
		bx_put32be(c, a->rep->fd);
		break;
	case SMD_LOCK:
	case SMD_XLOCK:
		if (a->rep->has_data)
			put_bytes(c, a->rep->data);
		break;
	case SMD_LIST:
		bx_putbytes(c, a->rep->data.p, a->rep->data.len);
		break;
	case SMD_FORK:
		bx_put64be(c, a->rep->ident);
		break;
	default:
		break;
	}
}

ssize_t smd_rep_pack(void *buf, size_t cap, uint32_t op, const struct smd_rep *rep)
{
	struct rep_arg a = { .op = op, .rep = rep };
	return pack(buf, cap, rep->status, &a, rep_body_fn);
}

int smd_list_next(struct smd_bytes list, size_t *pos, struct smd_list_ent *e)
{
	if (*pos >= list.len)
		return 0;
	struct bx_rcur c = bx_rcur(list.p + *pos, list.len - *pos);
	e->name = get_bytes(&c);
	e->seg_size = bx_get32be(&c);
	e->flags = bx_get32be(&c);
	if (c.bad)
		return -EPROTO;
	*pos += c.pos;
	return 1;
}

int smd_list_put(void *buf, size_t cap, size_t *len, const struct smd_list_ent *e)
{
	if (*len > cap)
		return -EMSGSIZE;
	struct bx_wcur c = bx_wcur((uint8_t *)buf + *len, cap - *len);
	put_bytes(&c, e->name);
	bx_put32be(&c, e->seg_size);
	bx_put32be(&c, e->flags);
	if (c.bad)
		return -EMSGSIZE;
	*len += c.pos;
	return 0;
}
