/*
 * op.c — the client of Plan B's box protocol (boxfs/op.h).
 *
 * One handle holds at most one connection and sends one request at a time:
 * pack into tx, send, read one frame into rx, decode it in place. The reply
 * must carry the request's serial and OP_FREPLY, and be the request's type
 * or a STATUS; anything else breaks the connection.
 *
 * Retrying. op requests are self-contained, so when the transport fails
 * (the dial is refused, the connection ends, a reply is malformed) the
 * handle drops its connection and sends the request again on a new one,
 * after 50, 100, 200 ... ms (at most 1 s apart), until retry_ms have gone
 * by since the first failure; then it gives up with the last transport
 * error. A STATUS error from the server ends the request at once.
 *
 * A retry after a failure that happened once the request was sent cannot
 * know whether the first attempt took effect, so the non-idempotent
 * requests read a retried error with that in mind: MAKE's EEXIST is success
 * when the box has the kind asked, DELETE's ENOENT and LINK's EEXIST are
 * success. A put or get series restarts from offset 0 on the new
 * connection (the server replaces a box only when a PUTMEM series ends).
 */
#include <boxfs/op.h>

#include "base/dial.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The largest request: header, auth, three strings, a Stat, off, len and a
 * packet of data. */
enum {
	TX_MAX = OP_HDRSZ + 2 * (OP_MAXUSER + 1) + 3 * (OP_MAXSTR + 1) + 3 * (OP_MAXUSER + 1) + 44 +
		 12 + OP_MAXBYTES,
	BACKOFF_FIRST_MS = 50,
	BACKOFF_MAX_MS = 1000,
	DEFAULT_RETRY_MS = 10000,
};

struct boxfs_op {
	char *dial;
	char user[OP_MAXUSER + 1];
	char ticket[OP_MAXUSER + 1];
	unsigned retry_ms;
	int sock; /* -1: not connected */
	uint32_t serial;
	uint8_t *tx;
	uint8_t *rx;
	size_t rxcap;
	char err[OP_MAXSTR + 1]; /* the last STATUS error */
};

/* ---- errors ---- */

/* Texts a server may send that are not strerror()'s, read back as errno. */
static const struct {
	int err;
	const char *text;
} texts[] = {
	{ ENOENT, "box does not exist" },
	{ ENOENT, "file does not exist" },
	{ EEXIST, "box already exists" },
	{ EEXIST, "file already exists" },
	{ EACCES, "permission denied" },
	{ ENOTDIR, "not a directory" },
	{ EISDIR, "is a directory" },
	{ ENOTEMPTY, "directory not empty" },
	{ EINVAL, "bad request" },
	{ EINVAL, "invalid argument" },
	{ EOPNOTSUPP, "operation not supported" },
	{ EPROTO, "protocol botch" },
	{ EIO, "i/o error" },
};

/* The errno a STATUS text names: one of strerror()'s, one of texts[], else
 * EIO. */
static int text_errno(const char *s)
{
	for (unsigned i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (strcasecmp(texts[i].text, s) == 0)
			return texts[i].err;
	for (int e = 1; e < 200; e++) {
		const char *d = strerrordesc_np(e);
		if (d && strcmp(d, s) == 0)
			return e;
	}
	return EIO;
}

/* ---- the handle ---- */

struct boxfs_op *boxfs_op_open(const char *dial, const struct boxfs_op_opts *opts)
{
	struct boxfs_op_opts o = opts ? *opts : (struct boxfs_op_opts){ 0 };
	struct bx_addr a;
	int r;
	if (!dial) {
		errno = EINVAL;
		return NULL;
	}
	/* A name that does not resolve yet may later; bad syntax never will. */
	if ((r = bx_addr_parse(&a, dial)) == -EINVAL || r == -ENAMETOOLONG) {
		errno = -r;
		return NULL;
	}
	if (r == 0 && a.net == BX_NET_FD) {
		errno = EINVAL; /* a descriptor pair cannot be dialled again */
		return NULL;
	}
	char uidname[32];
	if (!o.user) {
		struct passwd *pw = getpwuid(geteuid());
		snprintf(uidname, sizeof uidname, "%u", (unsigned)geteuid());
		o.user = pw && pw->pw_name ? pw->pw_name : uidname;
	}
	if (!o.ticket)
		o.ticket = "";
	if (strlen(o.user) > OP_MAXUSER || strlen(o.ticket) > OP_MAXUSER) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	struct boxfs_op *op = calloc(1, sizeof *op);
	if (!op || !(op->dial = strdup(dial)) || !(op->tx = malloc(TX_MAX))) {
		if (op)
			free(op->dial);
		free(op);
		errno = ENOMEM;
		return NULL;
	}
	snprintf(op->user, sizeof op->user, "%s", o.user);
	snprintf(op->ticket, sizeof op->ticket, "%s", o.ticket);
	op->retry_ms = o.retry_ms ? o.retry_ms : DEFAULT_RETRY_MS;
	op->sock = -1;
	return op;
}

static void hang_up(struct boxfs_op *op)
{
	if (op->sock >= 0)
		close(op->sock);
	op->sock = -1;
}

void boxfs_op_close(struct boxfs_op *op)
{
	if (!op)
		return;
	hang_up(op);
	free(op->dial);
	free(op->tx);
	free(op->rx);
	free(op);
}

const char *boxfs_op_error(const struct boxfs_op *op)
{
	return op->err;
}

/* ---- one attempt ---- */

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int read_full(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Reads one frame into op->rx; its size in *len. */
static int read_frame(struct boxfs_op *op, size_t *len)
{
	uint8_t hdr[8];
	int r = read_full(op->sock, hdr, sizeof hdr);
	if (r < 0)
		return r;
	ssize_t n = op_frame_size(hdr, OP_MAXMSG);
	if (n < 0)
		return (int)n;
	if (op->rxcap < (size_t)n) {
		uint8_t *b = realloc(op->rx, (size_t)n);
		if (!b)
			return -ENOMEM;
		op->rx = b;
		op->rxcap = (size_t)n;
	}
	memcpy(op->rx, hdr, sizeof hdr);
	if ((r = read_full(op->sock, op->rx + sizeof hdr, (size_t)n - sizeof hdr)) < 0)
		return r;
	*len = (size_t)n;
	return 0;
}

/*
 * Sends req and reads its reply into *rep (views of op->rx). Answers 0 with
 * rep->type req->type (or STATUS with an empty err), a server's error as
 * -errno with its text in op->err, or a transport failure with *broke set
 * and the connection dropped.
 */
static int attempt(struct boxfs_op *op, struct op_msg *req, struct op_msg *rep, bool *broke)
{
	*broke = false;
	req->serial = ++op->serial;
	req->user = op->user;
	req->ticket = op->ticket;
	req->reply = false;
	req->flags = 0;
	ssize_t n = op_pack(op->tx, TX_MAX, req);
	if (n < 0)
		return n == -EMSGSIZE ? -ENAMETOOLONG : (int)n;
	int r = 0;
	if (op->sock < 0 && (r = op->sock = bx_dial(op->dial)) < 0) {
		op->sock = -1;
		/* A dial string that cannot work will not work later either. */
		*broke = r != -EINVAL && r != -ENAMETOOLONG && r != -EAFNOSUPPORT;
		return r;
	}
	size_t len = 0;
	if ((r = send_all(op->sock, op->tx, (size_t)n)) < 0 || (r = read_frame(op, &len)) < 0)
		goto broken;
	if (op_unpack(rep, op->rx, len) < 0 || !rep->reply || rep->serial != req->serial ||
	    (rep->type != req->type && rep->type != OP_STATUS)) {
		r = -EPROTO;
		goto broken;
	}
	if (rep->type == OP_STATUS && rep->err[0]) {
		snprintf(op->err, sizeof op->err, "%s", rep->err);
		return -text_errno(rep->err);
	}
	bool status_only = req->type == OP_MAKE || req->type == OP_DELETE ||
			   req->type == OP_PUTMEM || req->type == OP_CHINFO || req->type == OP_LINK;
	if (rep->type == OP_STATUS && !status_only) {
		r = -EPROTO;
		goto broken;
	}
	return 0;
broken:
	hang_up(op);
	*broke = true;
	return r == -ENOMEM ? -ENOMEM : r;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The back-off between attempts. */
struct retry {
	uint64_t start; /* of the first failure; 0 before it */
	unsigned delay;
	unsigned tries; /* failed attempts so far */
};

/* After a transport failure: waits for the next attempt and answers true,
 * or false when the time is up. */
static bool retry_wait(struct boxfs_op *op, struct retry *rt)
{
	uint64_t now = now_ms();
	if (!rt->tries++) {
		rt->start = now;
		rt->delay = BACKOFF_FIRST_MS;
	}
	uint64_t spent = now - rt->start;
	if (spent >= op->retry_ms)
		return false;
	uint64_t wait = rt->delay;
	if (wait > op->retry_ms - spent)
		wait = op->retry_ms - spent;
	struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	rt->delay = rt->delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rt->delay * 2;
	return true;
}

/*
 * One request with retries. *retried (may be NULL) tells whether the
 * answer came from an attempt after a transport failure.
 */
static int call(struct boxfs_op *op, struct op_msg *req, struct op_msg *rep, bool *retried)
{
	struct retry rt = { 0 };
	op->err[0] = '\0';
	for (;;) {
		bool broke;
		int r = attempt(op, req, rep, &broke);
		if (retried)
			*retried = rt.tries > 0;
		if (!broke || r == -ENOMEM || !retry_wait(op, &rt))
			return r;
	}
}

static bool name_ok(const char *s)
{
	return s && strlen(s) <= OP_MAXSTR;
}

/* ---- requests ---- */

int boxfs_op_kind(struct boxfs_op *op, const char *box, struct op_stat *st)
{
	if (!name_ok(box))
		return box ? -ENAMETOOLONG : -EINVAL;
	struct op_msg req = { .type = OP_KIND, .box = box }, rep;
	int r = call(op, &req, &rep, NULL);
	if (r == 0 && st)
		*st = rep.st;
	return r;
}

int boxfs_op_make(struct boxfs_op *op, const char *box, const struct op_stat *st)
{
	if (!name_ok(box) || !st || !st->kind)
		return box && st && st->kind ? -ENAMETOOLONG : -EINVAL;
	struct op_msg req = { .type = OP_MAKE, .box = box }, rep;
	req.st = (struct op_stat){
		.kind = st->kind, .size = st->size, .operm = st->operm, .wperm = st->wperm
	};
	/* Copied: st's strings may be views of op->rx (a kind's Stat). */
	char kind[OP_MAXUSER + 1];
	if (strlen(st->kind) > OP_MAXUSER)
		return -EINVAL;
	snprintf(kind, sizeof kind, "%s", st->kind);
	req.st.kind = kind;
	bool retried;
	int r = call(op, &req, &rep, &retried);
	if (r == -EEXIST && retried) {
		char err[sizeof op->err];
		memcpy(err, op->err, sizeof err);
		struct op_stat now;
		if (boxfs_op_kind(op, box, &now) == 0 && strcmp(now.kind, kind) == 0)
			return 0;
		memcpy(op->err, err, sizeof err);
	}
	return r;
}

int boxfs_op_delete(struct boxfs_op *op, const char *box)
{
	if (!name_ok(box))
		return box ? -ENAMETOOLONG : -EINVAL;
	struct op_msg req = { .type = OP_DELETE, .box = box }, rep;
	bool retried;
	int r = call(op, &req, &rep, &retried);
	return r == -ENOENT && retried ? 0 : r;
}

int boxfs_op_chinfo(struct boxfs_op *op, const char *box, const struct op_stat *st)
{
	if (!name_ok(box) || !st)
		return box && st ? -ENAMETOOLONG : -EINVAL;
	struct op_msg req = { .type = OP_CHINFO, .box = box, .st = *st }, rep;
	return call(op, &req, &rep, NULL);
}

int boxfs_op_link(struct boxfs_op *op, const char *box, const char *target)
{
	if (!name_ok(box) || !name_ok(target))
		return box && target ? -ENAMETOOLONG : -EINVAL;
	struct op_msg req = { .type = OP_LINK, .box = box, .target = target }, rep;
	bool retried;
	int r = call(op, &req, &rep, &retried);
	return r == -EEXIST && retried ? 0 : r;
}

int boxfs_op_copy(struct boxfs_op *op, const char *dbox, const char *saddr, const char *sbox,
		  uint64_t *copied)
{
	if (!name_ok(dbox) || !name_ok(saddr) || !name_ok(sbox))
		return dbox && saddr && sbox ? -ENAMETOOLONG : -EINVAL;
	struct op_msg req = { .type = OP_COPY, .box = dbox, .addr = saddr, .target = sbox }, rep;
	int r = call(op, &req, &rep, NULL);
	if (r == 0 && copied)
		*copied = rep.off;
	return r;
}

/*
 * Splits a SELECTORS reply (selectors separated by single spaces; inside
 * one, a backslash escapes the next character) into one malloc'd block.
 * The selectors keep their escapes, so each one names its box as it is.
 * -EPROTO for a dangling escape or a NUL.
 */
static int split_names(const char *s, size_t len, char ***names, size_t *n)
{
	size_t count = len ? 1 : 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0')
			return -EPROTO;
		if (s[i] == '\\') {
			if (++i == len || s[i] == '\0')
				return -EPROTO;
		} else if (s[i] == ' ') {
			count++;
		}
	}
	size_t vec = (count + 1) * sizeof(char *);
	char **v = malloc(vec + len + 1);
	if (!v)
		return -ENOMEM;
	char *out = (char *)v + vec;
	size_t k = 0;
	if (count)
		v[k++] = out;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\') {
			*out++ = s[i++];
			*out++ = s[i];
		} else if (s[i] == ' ') {
			*out++ = '\0';
			v[k++] = out;
		} else {
			*out++ = s[i];
		}
	}
	*out = '\0';
	v[k] = NULL;
	*names = v;
	*n = count;
	return 0;
}

int boxfs_op_selectors(struct boxfs_op *op, const char *box, char ***names, size_t *n)
{
	*names = NULL;
	*n = 0;
	if (!name_ok(box))
		return box ? -ENAMETOOLONG : -EINVAL;
	struct op_msg req = { .type = OP_SELECTORS, .box = box }, rep;
	struct retry rt = { 0 };
	op->err[0] = '\0';
	for (;;) {
		bool broke;
		int r = attempt(op, &req, &rep, &broke);
		if (r == 0 && (r = split_names(rep.data, rep.len, names, n)) == -EPROTO) {
			hang_up(op);
			broke = true;
		}
		if (!broke || r == -ENOMEM || !retry_wait(op, &rt))
			return r;
	}
}

/* One GETMEM attempt; the reply's data in *data, its count answered. */
static ssize_t getmem_once(struct boxfs_op *op, const char *box, uint64_t off, uint32_t len,
			   const void **data, bool *broke)
{
	struct op_msg req = { .type = OP_GETMEM, .box = box, .off = off, .len = len }, rep;
	int r = attempt(op, &req, &rep, broke);
	if (r < 0)
		return r;
	if (rep.off != off || rep.len > len) {
		hang_up(op);
		*broke = true;
		return -EPROTO;
	}
	*data = rep.data;
	return rep.len;
}

ssize_t boxfs_op_getmem(struct boxfs_op *op, const char *box, uint64_t off, void *buf, uint32_t len)
{
	if (!name_ok(box))
		return box ? -ENAMETOOLONG : -EINVAL;
	if (len > OP_MAXBYTES || (len && !buf))
		return -EINVAL;
	struct retry rt = { 0 };
	op->err[0] = '\0';
	for (;;) {
		bool broke;
		const void *data;
		ssize_t r = getmem_once(op, box, off, len, &data, &broke);
		if (r > 0)
			memcpy(buf, data, (size_t)r);
		if (!broke || r == -ENOMEM || !retry_wait(op, &rt))
			return r;
	}
}

int boxfs_op_get(struct boxfs_op *op, const char *box, void **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (!name_ok(box))
		return box ? -ENAMETOOLONG : -EINVAL;
	struct retry rt = { 0 };
	uint8_t *buf = NULL;
	size_t cap = 0;
	op->err[0] = '\0';
	for (;;) {
		size_t have = 0;
		bool broke = false;
		ssize_t r;
		for (;;) {
			if (cap - have < OP_MAXBYTES) {
				size_t ncap = cap ? cap * 2 : OP_MAXBYTES;
				uint8_t *b = ncap > cap ? realloc(buf, ncap) : NULL;
				if (!b) {
					free(buf);
					return -ENOMEM;
				}
				buf = b;
				cap = ncap;
			}
			const void *p;
			r = getmem_once(op, box, have, OP_MAXBYTES, &p, &broke);
			if (r < 0)
				break;
			memcpy(buf + have, p, (size_t)r);
			have += (size_t)r;
			if (r < OP_MAXBYTES) {
				*data = buf;
				*len = have;
				return 0;
			}
		}
		if (!broke || r == -ENOMEM || !retry_wait(op, &rt)) {
			free(buf);
			return (int)r;
		}
	}
}

int boxfs_op_put(struct boxfs_op *op, const char *box, const void *data, size_t len)
{
	if (!name_ok(box))
		return box ? -ENAMETOOLONG : -EINVAL;
	if (len && !data)
		return -EINVAL;
	struct retry rt = { 0 };
	op->err[0] = '\0';
	for (;;) {
		size_t off = 0;
		bool broke = false;
		int r;
		for (;;) {
			size_t n = len - off < OP_MAXBYTES ? len - off : OP_MAXBYTES;
			struct op_msg req = { .type = OP_PUTMEM,
					      .box = box,
					      .off = off,
					      .len = (uint32_t)n,
					      .data = (const uint8_t *)data + off },
				      rep;
			if ((r = attempt(op, &req, &rep, &broke)) < 0)
				break;
			off += n;
			if (n < OP_MAXBYTES)
				return 0;
		}
		if (!broke || r == -ENOMEM || !retry_wait(op, &rt))
			return r;
	}
}
