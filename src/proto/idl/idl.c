/*
 * idl.c — the idl wire codec (docs/protocols/idl.md), driven by the tables
 * the IDL compiler generates: fixed fields packed little-endian in declared
 * order, then the one str/bytes field as u32 length + bytes. No I/O, no
 * allocation.
 */
#include <boxfs/idl.h>

#include "base/cursor.h"

#include <errno.h>
#include <string.h>

const struct boxfs_idl_msg *boxfs_idl_msg_by_name(const char *name)
{
	for (const struct boxfs_idl_msg *m = boxfs_idl_msgs; m->name; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

const struct boxfs_idl_msg *boxfs_idl_msg_by_id(int32_t id, bool *reply)
{
	for (const struct boxfs_idl_msg *m = boxfs_idl_msgs; m->name; m++) {
		if (m->id == id || (m->rpc && m->reply_id == id)) {
			if (reply)
				*reply = m->id != id;
			return m;
		}
	}
	return NULL;
}

const char *boxfs_idl_strerror(int err)
{
	static const char *const names[] = {
		[1] = "NO_MEMORY",    [2] = "NOT_PERMITTED",
		[3] = "WOULD_BLOCK",  [4] = "ABORTED",
		[5] = "TOO_LARGE",    [6] = "TOO_SMALL",
		[7] = "NOT_FOUND",    [8] = "INVALID_ARG",
		[9] = "INVALID_TASK", [10] = "ALREADY_EXISTS",
		[11] = "UNAVAILABLE", [12] = "NOT_ACCEPTABLE",
		[13] = "EMPTY",	      [15] = "IN_USE",
		[16] = "TRY_AGAIN",   [17] = "END",
	};
	if (err == 0)
		return "OK";
	if (err < 0 && -err < (int)(sizeof names / sizeof names[0]))
		return names[-err];
	return NULL;
}

static uint64_t get_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;
	for (unsigned i = size; i--;)
		v = v << 8 | p[i];
	return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* The struct member of an element, by its size and kind. */
static uint64_t load(const uint8_t *p, const struct boxfs_idl_field *f)
{
	switch (f->size) {
	case 1: {
		uint8_t v;
		memcpy(&v, p, 1);
		return f->kind == BOXFS_IDL_BOOL ? (v != 0) : v;
	}
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	default: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	}
}

static void store(uint8_t *p, const struct boxfs_idl_field *f, uint64_t v)
{
	switch (f->size) {
	case 1: {
		uint8_t b = (uint8_t)v;
		if (f->kind == BOXFS_IDL_BOOL) {
			bool x = v != 0;
			memcpy(p, &x, 1);
		} else {
			memcpy(p, &b, 1);
		}
		break;
	}
	case 2: {
		uint16_t h = (uint16_t)v;
		memcpy(p, &h, 2);
		break;
	}
	case 4: {
		uint32_t w = (uint32_t)v;
		memcpy(p, &w, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
	}
}

size_t boxfs_idl_size(const struct boxfs_idl_fields *f, const void *s)
{
	size_t n = f->fixed;
	if (f->ool >= 0) {
		struct boxfs_idl_buf b;
		memcpy(&b, (const uint8_t *)s + f->v[f->ool].off, sizeof b);
		n += 4 + b.len;
	}
	return n;
}

size_t boxfs_idl_pack(const struct boxfs_idl_fields *f, const void *s, void *body)
{
	const uint8_t *in = s;
	uint8_t *out = body;
	size_t pos = 0;
	for (unsigned i = 0; i < f->n; i++) {
		const struct boxfs_idl_field *d = &f->v[i];
		if (d->kind == BOXFS_IDL_STR || d->kind == BOXFS_IDL_BYTES)
			continue;
		for (unsigned k = 0; k < d->count; k++) {
			put_le(out + pos, load(in + d->off + (size_t)k * d->size, d), d->size);
			pos += d->size;
		}
	}
	if (f->ool >= 0) {
		struct boxfs_idl_buf b;
		memcpy(&b, in + f->v[f->ool].off, sizeof b);
		put_le(out + pos, b.len, 4);
		if (b.len)
			memcpy(out + pos + 4, b.ptr, b.len);
		pos += 4 + b.len;
	}
	return pos;
}

int boxfs_idl_unpack(const struct boxfs_idl_fields *f, void *s, const void *body, size_t len)
{
	uint8_t *out = s;
	struct bx_rcur c = bx_rcur(body, len);
	memset(s, 0, f->size);
	for (unsigned i = 0; i < f->n; i++) {
		const struct boxfs_idl_field *d = &f->v[i];
		if (d->kind == BOXFS_IDL_STR || d->kind == BOXFS_IDL_BYTES)
			continue;
		for (unsigned k = 0; k < d->count; k++) {
			const uint8_t *p = bx_take(&c, d->size);
			if (!p)
				return -EPROTO;
			store(out + d->off + (size_t)k * d->size, d, get_le(p, d->size));
		}
	}
	if (f->ool >= 0) {
		const uint8_t *p = bx_take(&c, 4);
		uint32_t n = p ? (uint32_t)get_le(p, 4) : 0;
		if (!p || n > BOXFS_IDL_MAX_OOL)
			return -EPROTO;
		const uint8_t *data = bx_take(&c, n);
		if (!data)
			return -EPROTO;
		struct boxfs_idl_buf b = { .ptr = data, .len = n };
		memcpy(out + f->v[f->ool].off, &b, sizeof b);
	}
	return c.bad || c.pos != c.len ? -EPROTO : 0;
}

void boxfs_idl_hdr_pack(void *hdr, uint32_t body, int32_t type, int32_t src)
{
	uint8_t *h = hdr;
	put_le(h, body + 8, 4);
	put_le(h + 4, (uint32_t)type, 4);
	put_le(h + 8, (uint32_t)src, 4);
}

int boxfs_idl_from_errno(int err)
{
	switch (-err) {
	case 0:
		return BOXFS_IDL_OK;
	case ENOMEM:
	case EMFILE:
	case ENFILE:
		return BOXFS_IDL_NO_MEMORY;
	case EPERM:
	case EACCES:
	case EROFS:
		return BOXFS_IDL_NOT_PERMITTED;
	case EAGAIN:
		return BOXFS_IDL_WOULD_BLOCK;
	case EINTR:
	case ECANCELED:
		return BOXFS_IDL_ABORTED;
	case EFBIG:
	case E2BIG:
	case EMSGSIZE:
	case ENAMETOOLONG:
		return BOXFS_IDL_TOO_LARGE;
	case ENOENT:
		return BOXFS_IDL_NOT_FOUND;
	case ESRCH:
		return BOXFS_IDL_INVALID_TASK;
	case EEXIST:
	case ENOTEMPTY:
		return BOXFS_IDL_ALREADY_EXISTS;
	case ENODEV:
	case ENXIO:
	case EOPNOTSUPP:
	case ENOSYS:
		return BOXFS_IDL_UNAVAILABLE;
	case EBUSY:
		return BOXFS_IDL_IN_USE;
	case ENOSPC:
	case EDQUOT:
		return BOXFS_IDL_NO_MEMORY;
	default:
		return BOXFS_IDL_INVALID_ARG;
	}
}
