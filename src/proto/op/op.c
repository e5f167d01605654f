/*
 * op.c — the op codec (Plan B's boxes): one description of every message's
 * fields, used by both directions of both sides.
 */
#include <boxfs/op.h>

#include "base/cursor.h"

#include <errno.h>
#include <string.h>

/* The fields a message carries, in wire order. */
enum {
	F_ERR = 1 << 0,
	F_BOX = 1 << 1,
	F_ADDR = 1 << 2,
	F_TARGET = 1 << 3,
	F_STAT = 1 << 4,
	F_OFF = 1 << 5,
	F_LEN = 1 << 6,
	F_DATA = 1 << 7, /* len bytes */
};

static unsigned fields(unsigned type, bool reply)
{
	static const unsigned req[OP_NTYPES] = {
		[OP_STATUS] = F_ERR,
		[OP_KIND] = F_BOX,
		[OP_MAKE] = F_BOX | F_STAT,
		[OP_DELETE] = F_BOX,
		[OP_COPY] = F_BOX | F_ADDR | F_TARGET,
		[OP_GETMEM] = F_BOX | F_OFF | F_LEN,
		[OP_PUTMEM] = F_BOX | F_OFF | F_LEN | F_DATA,
		[OP_SELECTORS] = F_BOX,
		[OP_CHINFO] = F_BOX | F_STAT,
		[OP_LINK] = F_BOX | F_TARGET,
	};
	static const unsigned rep[OP_NTYPES] = {
		[OP_STATUS] = F_ERR,
		[OP_KIND] = F_BOX | F_STAT,
		[OP_COPY] = F_BOX | F_OFF,
		[OP_GETMEM] = F_BOX | F_OFF | F_LEN | F_DATA,
		[OP_SELECTORS] = F_BOX | F_LEN | F_DATA,
	};
	return reply ? rep[type] : req[type];
}

const char *op_type_name(unsigned type)
{
	static const char *const names[OP_NTYPES] = {
		"STATUS", "KIND",   "MAKE",	 "DELETE", "COPY",
		"GETMEM", "PUTMEM", "SELECTORS", "CHINFO", "LINK",
	};
	return type < OP_NTYPES ? names[type] : "?";
}

/* The largest len a message of this kind may carry. */
static uint32_t max_len(unsigned type)
{
	return type == OP_SELECTORS ? 1u << 20 : OP_MAXBYTES;
}

ssize_t op_frame_size(const void *hdr, size_t max)
{
	struct bx_rcur c = bx_rcur(hdr, 8);
	uint32_t size = bx_get32le(&c);
	uint32_t magic = bx_get32le(&c);
	if (!max)
		max = OP_MAXMSG;
	if (magic != OP_MAGIC || size < OP_HDRSZ + 2 || size > max)
		return -EPROTO;
	return size;
}

/* ---- encoding ---- */

static bool str_ok(const char *s, size_t max)
{
	return !s || strnlen(s, max + 1) <= max;
}

static void put_str(struct bx_wcur *w, const char *s)
{
	if (!s)
		s = "";
	bx_putbytes(w, s, strlen(s) + 1);
}

ssize_t op_pack(void *buf, size_t cap, const struct op_msg *m)
{
	if (m->type >= OP_NTYPES || (m->type == OP_STATUS && !m->reply) ||
	    (m->reply && m->type != OP_STATUS && !fields(m->type, true)))
		return -EINVAL;
	unsigned f = fields(m->type, m->reply);
	if ((f & F_LEN) && m->len > max_len(m->type))
		return -EINVAL;
	if ((f & F_DATA) && m->len && !m->data)
		return -EINVAL;
	if (!str_ok(m->user, OP_MAXUSER) || !str_ok(m->ticket, OP_MAXUSER) ||
	    ((f & F_ERR) && !str_ok(m->err, OP_MAXSTR)) ||
	    ((f & F_BOX) && !str_ok(m->box, OP_MAXSTR)) ||
	    ((f & F_ADDR) && !str_ok(m->addr, OP_MAXSTR)) ||
	    ((f & F_TARGET) && !str_ok(m->target, OP_MAXSTR)) ||
	    ((f & F_STAT) && (!str_ok(m->st.kind, OP_MAXUSER) || !str_ok(m->st.owner, OP_MAXUSER) ||
			      !str_ok(m->st.putter, OP_MAXUSER))))
		return -EINVAL;

	struct bx_wcur w = bx_wcur(buf, cap);
	bx_put32le(&w, 0); /* the size, filled in at the end */
	bx_put32le(&w, OP_MAGIC);
	bx_put32le(&w, m->serial);
	bx_put16le(&w, m->type);
	bx_put16le(&w, (uint16_t)(m->reply ? m->flags | OP_FREPLY : m->flags & ~OP_FREPLY));
	put_str(&w, m->user);
	put_str(&w, m->ticket);
	if (f & F_ERR)
		put_str(&w, m->err);
	if (f & F_BOX)
		put_str(&w, m->box);
	if (f & F_ADDR)
		put_str(&w, m->addr);
	if (f & F_TARGET)
		put_str(&w, m->target);
	if (f & F_STAT) {
		put_str(&w, m->st.kind);
		put_str(&w, m->st.owner);
		put_str(&w, m->st.putter);
		bx_put32le(&w, m->st.vers);
		bx_put64le(&w, m->st.ptime);
		bx_put64le(&w, m->st.gtime);
		bx_put64le(&w, m->st.size);
		bx_put32le(&w, m->st.operm);
		bx_put32le(&w, m->st.wperm);
	}
	if (f & F_OFF)
		bx_put64le(&w, m->off);
	if (f & F_LEN)
		bx_put32le(&w, m->len);
	if (f & F_DATA)
		bx_putbytes(&w, m->data, m->len);
	if (w.bad)
		return -EMSGSIZE;
	struct bx_wcur size = bx_wcur(buf, 4);
	bx_put32le(&size, (uint32_t)w.pos);
	return (ssize_t)w.pos;
}

/* ---- decoding ---- */

/* A NUL-terminated string of at most max bytes, in place. */
static const char *get_str(struct bx_rcur *c, size_t max)
{
	if (c->bad)
		return "";
	size_t left = c->len - c->pos;
	const uint8_t *s = c->buf + c->pos;
	const uint8_t *nul = memchr(s, '\0', left < max + 1 ? left : max + 1);
	if (!nul) {
		c->bad = true;
		return "";
	}
	c->pos += (size_t)(nul - s) + 1;
	return (const char *)s;
}

int op_unpack(struct op_msg *m, const void *buf, size_t len)
{
	memset(m, 0, sizeof *m);
	m->user = m->ticket = m->err = m->box = m->addr = m->target = "";
	m->st.kind = m->st.owner = m->st.putter = "";
	if (len < 8 || op_frame_size(buf, OP_MAXMSG) != (ssize_t)len)
		return -EPROTO;
	struct bx_rcur c = bx_rcur(buf, len);
	bx_take(&c, 8);
	m->serial = bx_get32le(&c);
	m->type = bx_get16le(&c);
	m->flags = bx_get16le(&c);
	m->reply = m->flags & OP_FREPLY;
	m->user = get_str(&c, OP_MAXUSER);
	m->ticket = get_str(&c, OP_MAXUSER);
	if (c.bad)
		return -EPROTO;
	if (m->type >= OP_NTYPES || (m->type == OP_STATUS && !m->reply) ||
	    (m->reply && m->type != OP_STATUS && !fields(m->type, true)))
		return -EOPNOTSUPP;

	unsigned f = fields(m->type, m->reply);
	if (f & F_ERR)
		m->err = get_str(&c, OP_MAXSTR);
	if (f & F_BOX)
		m->box = get_str(&c, OP_MAXSTR);
	if (f & F_ADDR)
		m->addr = get_str(&c, OP_MAXSTR);
	if (f & F_TARGET)
		m->target = get_str(&c, OP_MAXSTR);
	if (f & F_STAT) {
		m->st.kind = get_str(&c, OP_MAXUSER);
		m->st.owner = get_str(&c, OP_MAXUSER);
		m->st.putter = get_str(&c, OP_MAXUSER);
		m->st.vers = bx_get32le(&c);
		m->st.ptime = bx_get64le(&c);
		m->st.gtime = bx_get64le(&c);
		m->st.size = bx_get64le(&c);
		m->st.operm = bx_get32le(&c);
		m->st.wperm = bx_get32le(&c);
	}
	if (f & F_OFF)
		m->off = bx_get64le(&c);
	if (f & F_LEN) {
		m->len = bx_get32le(&c);
		if (m->len > max_len(m->type))
			c.bad = true;
	}
	if (f & F_DATA)
		m->data = bx_take(&c, m->len);
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}
