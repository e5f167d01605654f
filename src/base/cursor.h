/*
 * cursor.h — byte cursors with a sticky error flag, for every codec.
 *
 * A reading cursor walks a buffer of known length. Each getter checks that
 * its bytes are present; when they are not it sets `bad`, returns 0 (or an
 * empty view) and every later call does the same, so a decoder can read a
 * whole message and test once at the end:
 *
 *	return c.bad || c.pos != c.len ? -EPROTO : 0;
 *
 * Writing cursors work the same way over a buffer of known capacity. One
 * byte-assembly path serves every host: integers are put together byte by
 * byte, never by casting the buffer.
 */
#ifndef BOXFS_BASE_CURSOR_H
#define BOXFS_BASE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct bx_rcur {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	bool bad;
};

struct bx_wcur {
	uint8_t *buf;
	size_t cap;
	size_t pos;
	bool bad;
};

static inline struct bx_rcur bx_rcur(const void *buf, size_t len)
{
	return (struct bx_rcur){ .buf = buf, .len = len };
}

static inline struct bx_wcur bx_wcur(void *buf, size_t cap)
{
	return (struct bx_wcur){ .buf = buf, .cap = cap };
}

/* Bytes left to read. */
static inline size_t bx_left(const struct bx_rcur *c)
{
	return c->bad ? 0 : c->len - c->pos;
}

/* Claims n bytes and answers where they start, or NULL (and bad). */
static inline const uint8_t *bx_take(struct bx_rcur *c, size_t n)
{
	if (c->bad || n > c->len - c->pos) {
		c->bad = true;
		return NULL;
	}
	const uint8_t *p = c->buf + c->pos;
	c->pos += n;
	return p;
}

static inline uint8_t bx_get8(struct bx_rcur *c)
{
	const uint8_t *p = bx_take(c, 1);
	return p ? p[0] : 0;
}

static inline uint16_t bx_get16le(struct bx_rcur *c)
{
	const uint8_t *p = bx_take(c, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static inline uint32_t bx_get32le(struct bx_rcur *c)
{
	const uint8_t *p = bx_take(c, 4);
	return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			       (uint32_t)p[3] << 24
		 : 0;
}

static inline uint64_t bx_get64le(struct bx_rcur *c)
{
	uint64_t lo = bx_get32le(c);
	uint64_t hi = bx_get32le(c);
	return lo | hi << 32;
}

static inline uint32_t bx_get32be(struct bx_rcur *c)
{
	const uint8_t *p = bx_take(c, 4);
	return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
			       (uint32_t)p[3]
		 : 0;
}

static inline uint64_t bx_get64be(struct bx_rcur *c)
{
	uint64_t hi = bx_get32be(c);
	uint64_t lo = bx_get32be(c);
	return hi << 32 | lo;
}

/*
 * Claims n bytes in the output and answers where they start, or NULL. A
 * cursor over a NULL buffer only counts: its `pos` ends as the size the
 * writes would have taken, which lets one packing routine also size.
 */
static inline uint8_t *bx_room(struct bx_wcur *c, size_t n)
{
	if (!c->buf) {
		c->pos += n;
		return NULL;
	}
	if (c->bad || n > c->cap - c->pos) {
		c->bad = true;
		return NULL;
	}
	uint8_t *p = c->buf + c->pos;
	c->pos += n;
	return p;
}

static inline void bx_put8(struct bx_wcur *c, uint8_t v)
{
	uint8_t *p = bx_room(c, 1);
	if (p)
		p[0] = v;
}

static inline void bx_put16le(struct bx_wcur *c, uint16_t v)
{
	uint8_t *p = bx_room(c, 2);
	if (p) {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
	}
}

static inline void bx_put32le(struct bx_wcur *c, uint32_t v)
{
	uint8_t *p = bx_room(c, 4);
	if (p) {
		p[0] = (uint8_t)v;
		p[1] = (uint8_t)(v >> 8);
		p[2] = (uint8_t)(v >> 16);
		p[3] = (uint8_t)(v >> 24);
	}
}

static inline void bx_put64le(struct bx_wcur *c, uint64_t v)
{
	bx_put32le(c, (uint32_t)v);
	bx_put32le(c, (uint32_t)(v >> 32));
}

static inline void bx_put32be(struct bx_wcur *c, uint32_t v)
{
	uint8_t *p = bx_room(c, 4);
	if (p) {
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
	}
}

static inline void bx_put64be(struct bx_wcur *c, uint64_t v)
{
	bx_put32be(c, (uint32_t)(v >> 32));
	bx_put32be(c, (uint32_t)v);
}

static inline void bx_putbytes(struct bx_wcur *c, const void *src, size_t n)
{
	uint8_t *p = bx_room(c, n);
	if (p && n)
		memcpy(p, src, n);
}

#endif
